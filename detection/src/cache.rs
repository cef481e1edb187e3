//! Incremental scanning: a bounded, sharded cache of already-scanned segments.
//!
//! [`SegmentCache`] is generic over what it remembers per segment: the scanner stores
//! its findings, the gateway's ML step stores classifier scores (so a resent prefix is
//! not sent to the detector workers again). Both get the same keying and bounds.
//!
//! Agent clients resend the whole conversation every turn. The cache remembers, per tenant,
//! the findings of each segment it has scanned, keyed by a keyed 64-bit hash of
//! (tenant, source kind, text) ([`crate::keyed_hash`]: NH over 1 KiB blocks, folded by
//! SipHash-2-4). Normalization is deterministic, so equal text means equal normalized text:
//! hashing the raw text is equivalent to hashing the normalized text and avoids
//! normalizing cached segments at all. The hash key is random per cache, so a tenant
//! cannot craft collisions; the tenant is part of the key, so tenants never share
//! entries. A hit costs one hash pass over the text (~0.7 instructions a byte) instead of
//! a scan.
//!
//! Bounds: a total entry count and a total byte budget (the stored findings), split over
//! 16 mutex-protected shards so concurrent requests rarely contend. Each shard keeps two
//! generations: lookups check the young one, then the old one (promoting the entry); when
//! the young generation reaches half the shard's budget the old generation is dropped and
//! the young one becomes old. That approximates LRU with O(1) work and bounded memory.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::ops::Range;
use std::sync::{Arc, Mutex};

use crate::finding::Transform;
use crate::keyed_hash::{KeyedHash, TenantHash};
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

/// The scanner's cache: findings per segment.
pub(crate) type ScanCache = SegmentCache<CachedFindings>;

/// A value a [`SegmentCache`] can hold: cheap to clone (hits are returned by value) and
/// able to tell its heap size, which counts against [`CacheLimits::max_bytes`].
pub trait CacheWeight: Clone {
    /// Approximate heap bytes held by the value (the per-entry overhead is added).
    fn cache_bytes(&self) -> usize;
}

impl CacheWeight for CachedFindings {
    fn cache_bytes(&self) -> usize {
        self.iter().map(|f| 48 + f.redacted.len()).sum::<usize>()
    }
}

const ENTRY_OVERHEAD: usize = 64;

fn entry_bytes<V: CacheWeight>(value: &V) -> usize {
    ENTRY_OVERHEAD + value.cache_bytes()
}

/// The maps' hasher: their keys are already keyed hashes, uniform to anyone without the
/// key, so a second SipHash per lookup would buy nothing (not even HashDoS resistance).
#[derive(Default)]
struct KeyIsHash(u64);

impl Hasher for KeyIsHash {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used (the key is a `u64`); this keeps other input hashed.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, key: u64) {
        self.0 = key;
    }
}

struct Generation<V> {
    map: HashMap<u64, V, BuildHasherDefault<KeyIsHash>>,
    bytes: usize,
}

impl<V> Default for Generation<V> {
    fn default() -> Self {
        Generation { map: HashMap::default(), bytes: 0 }
    }
}

struct Shard<V> {
    young: Generation<V>,
    old: Generation<V>,
}

impl<V> Default for Shard<V> {
    fn default() -> Self {
        Shard { young: Generation::default(), old: Generation::default() }
    }
}

/// Cache hit/miss counters, for tests and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    pub entries: usize,
    pub bytes: usize,
}

/// The cache keys of one tenant's segments, from [`SegmentCache::tenant_keys`].
pub struct TenantKeys<'c>(TenantHash<'c>);

impl TenantKeys<'_> {
    /// The key of `text` as `kind`.
    pub fn key(&self, kind: SourceKind, text: &str) -> u64 {
        self.0.hash(kind, text.as_bytes())
    }
}

/// A bounded, sharded, per-tenant map from segment hash to `V` (see the module docs).
pub struct SegmentCache<V> {
    shards: Vec<Mutex<Shard<V>>>,
    hasher: KeyedHash,
    limits: CacheLimits,
}

impl<V: CacheWeight> SegmentCache<V> {
    pub fn new(limits: CacheLimits) -> Self {
        SegmentCache {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            hasher: KeyedHash::new(),
            limits,
        }
    }

    pub fn limits(&self) -> CacheLimits {
        self.limits
    }

    /// Keys of one tenant's segments: a keyed hash of (tenant, source kind, text), the
    /// key random per cache. Take it once per request and call [`TenantKeys::key`] per
    /// segment (the tenant is absorbed once).
    pub fn tenant_keys(&self, tenant: &str) -> TenantKeys<'_> {
        TenantKeys(self.hasher.for_tenant(tenant))
    }

    fn shard(&self, key: u64) -> Option<&Mutex<Shard<V>>> {
        // Bits 32-35 pick the shard: the map takes its bucket from the low bits and its
        // control byte from the top seven, which must not be the same in every entry.
        self.shards.get((key >> 32) as usize % SHARDS)
    }

    pub fn get(&self, key: u64) -> Option<V> {
        self.get_with(key, V::clone)
    }

    /// `read` applied to the entry of `key`, under the shard's lock: for a caller that
    /// only reads the value, this saves cloning it (for an `Arc`, two atomic operations,
    /// which were a quarter of a cached turn's time on a 2-vCPU VM).
    pub fn get_with<R>(&self, key: u64, read: impl FnOnce(&V) -> R) -> Option<R> {
        let shard = self.shard(key)?;
        // A poisoned lock only means another thread panicked mid-update of a cache; the
        // data is still a valid map, so keep using it.
        let mut s = shard.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(hit) = s.young.map.get(&key) {
            return Some(read(hit));
        }
        let hit = s.old.map.remove(&key)?;
        let bytes = entry_bytes(&hit);
        s.old.bytes = s.old.bytes.saturating_sub(bytes);
        let result = read(&hit);
        self.insert_locked(&mut s, key, hit, bytes);
        Some(result)
    }

    pub fn insert(&self, key: u64, value: V) {
        let Some(shard) = self.shard(key) else { return };
        let bytes = entry_bytes(&value);
        let mut s = shard.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        self.insert_locked(&mut s, key, value, bytes);
    }

    fn insert_locked(&self, s: &mut Shard<V>, key: u64, value: V, bytes: usize) {
        let max_entries = (self.limits.max_entries / SHARDS / 2).max(1);
        let max_bytes = (self.limits.max_bytes / SHARDS / 2).max(ENTRY_OVERHEAD);
        if bytes > max_bytes {
            return; // a pathological entry would flush everything else
        }
        if s.young.map.len() >= max_entries || s.young.bytes + bytes > max_bytes {
            s.old = std::mem::take(&mut s.young);
        }
        if let Some(prev) = s.young.map.insert(key, value) {
            s.young.bytes = s.young.bytes.saturating_sub(entry_bytes(&prev));
        }
        s.young.bytes += bytes;
    }

    pub fn stats(&self) -> CacheStats {
        let mut st = CacheStats::default();
        for shard in &self.shards {
            let s = shard.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            st.entries += s.young.map.len() + s.old.map.len();
            st.bytes += s.young.bytes + s.old.bytes;
        }
        st
    }

    pub fn clear(&self) {
        for shard in &self.shards {
            let mut s = shard.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            *s = Shard::default();
        }
    }
}
