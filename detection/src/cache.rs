//! Incremental scanning: a bounded, sharded cache of already-scanned segments.
//!
//! Agent clients resend the whole conversation every turn. The cache remembers, per tenant,
//! the findings of each segment it has scanned, keyed by a keyed 64-bit SipHash of
//! (tenant, source kind, text). Normalization is deterministic, so equal text means equal
//! normalized text: hashing the raw text is equivalent to hashing the normalized text and
//! avoids normalizing cached segments at all. The hash key is random per process, so a
//! tenant cannot craft collisions; the tenant is part of the key, so tenants never share
//! entries. A hit costs one hash pass over the text (several GB/s) instead of a scan.
//!
//! Bounds: a total entry count and a total byte budget (the stored findings), split over
//! 16 mutex-protected shards so concurrent requests rarely contend. Each shard keeps two
//! generations: lookups check the young one, then the old one (promoting the entry); when
//! the young generation reaches half the shard's budget the old generation is dropped and
//! the young one becomes old. That approximates LRU with O(1) work and bounded memory.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher, RandomState};
use std::ops::Range;
use std::sync::{Arc, Mutex};

use crate::finding::Transform;
use crate::segments::SourceKind;

const SHARDS: usize = 16;

/// Limits of the incremental cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheLimits {
    /// Maximum cached segments (all tenants together).
    pub max_entries: usize,
    /// Maximum bytes of stored findings plus per-entry overhead (all tenants together).
    pub max_bytes: usize,
    /// Segments shorter than this are scanned every time (cheaper than hashing and locking).
    pub min_segment_len: usize,
}

impl Default for CacheLimits {
    fn default() -> Self {
        CacheLimits { max_entries: 100_000, max_bytes: 32 * 1024 * 1024, min_segment_len: 32 }
    }
}

/// A finding relative to its segment, as stored in the cache.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CachedFinding {
    pub detector: usize,
    pub confidence: f32,
    pub span: Range<usize>,
    pub redacted: Box<str>,
    pub transform: Transform,
}

pub(crate) type CachedFindings = Arc<[CachedFinding]>;

const ENTRY_OVERHEAD: usize = 64;

fn entry_bytes(findings: &[CachedFinding]) -> usize {
    ENTRY_OVERHEAD + findings.iter().map(|f| 48 + f.redacted.len()).sum::<usize>()
}

#[derive(Default)]
struct Generation {
    map: HashMap<u64, CachedFindings>,
    bytes: usize,
}

#[derive(Default)]
struct Shard {
    young: Generation,
    old: Generation,
}

/// Cache hit/miss counters, for tests and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    pub entries: usize,
    pub bytes: usize,
}

pub(crate) struct ScanCache {
    shards: Vec<Mutex<Shard>>,
    hasher: RandomState,
    limits: CacheLimits,
}

impl ScanCache {
    pub(crate) fn new(limits: CacheLimits) -> Self {
        ScanCache {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            hasher: RandomState::new(),
            limits,
        }
    }

    pub(crate) fn limits(&self) -> CacheLimits {
        self.limits
    }

    pub(crate) fn key(&self, tenant: &str, kind: SourceKind, text: &str) -> u64 {
        let mut h = self.hasher.build_hasher();
        tenant.hash(&mut h);
        kind.hash(&mut h);
        text.hash(&mut h);
        h.finish()
    }

    fn shard(&self, key: u64) -> Option<&Mutex<Shard>> {
        // The top bits pick the shard; the map uses the whole key.
        self.shards.get((key >> 60) as usize % SHARDS)
    }

    pub(crate) fn get(&self, key: u64) -> Option<CachedFindings> {
        let shard = self.shard(key)?;
        // A poisoned lock only means another thread panicked mid-update of a cache; the
        // data is still a valid map, so keep using it.
        let mut s = shard.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(hit) = s.young.map.get(&key) {
            return Some(hit.clone());
        }
        let hit = s.old.map.remove(&key)?;
        let bytes = entry_bytes(&hit);
        s.old.bytes = s.old.bytes.saturating_sub(bytes);
        self.insert_locked(&mut s, key, hit.clone(), bytes);
        Some(hit)
    }

    pub(crate) fn insert(&self, key: u64, findings: CachedFindings) {
        let Some(shard) = self.shard(key) else { return };
        let bytes = entry_bytes(&findings);
        let mut s = shard.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        self.insert_locked(&mut s, key, findings, bytes);
    }

    fn insert_locked(&self, s: &mut Shard, key: u64, findings: CachedFindings, bytes: usize) {
        let max_entries = (self.limits.max_entries / SHARDS / 2).max(1);
        let max_bytes = (self.limits.max_bytes / SHARDS / 2).max(ENTRY_OVERHEAD);
        if bytes > max_bytes {
            return; // a pathological entry would flush everything else
        }
        if s.young.map.len() >= max_entries || s.young.bytes + bytes > max_bytes {
            s.old = std::mem::take(&mut s.young);
        }
        if let Some(prev) = s.young.map.insert(key, findings) {
            s.young.bytes = s.young.bytes.saturating_sub(entry_bytes(&prev));
        }
        s.young.bytes += bytes;
    }

    pub(crate) fn stats(&self) -> CacheStats {
        let mut st = CacheStats::default();
        for shard in &self.shards {
            let s = shard.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            st.entries += s.young.map.len() + s.old.map.len();
            st.bytes += s.young.bytes + s.old.bytes;
        }
        st
    }

    pub(crate) fn clear(&self) {
        for shard in &self.shards {
            let mut s = shard.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            *s = Shard::default();
        }
    }
}
