//! The gateway's ML step: a project's segments go to the `detector-worker`s
//! (NATS request-reply, [`client`]) and come back as injection scores, which
//! become `ml.injection` findings judged by the same policy as the signature
//! findings (category `prompt_injection`, confidence = score).
//!
//! Per project ([`config::MlConfig`]):
//! - **block**: the request waits for the verdict up to `timeout_ms`. Without a
//!   verdict (timeout; no workers, reported at once by NATS; overload; worker
//!   error; NATS down) `on_failure` applies at once: `fail_open` forwards and
//!   records `ml.unavailable:<reason>`, `fail_closed` answers 503.
//! - **alert**: the request is forwarded at once; the verdict is classified in a
//!   background task and recorded as a follow-up event ([`follow_up`]).
//!
//! **Incremental**: scores are remembered per tenant in a bounded
//! [`SegmentCache`] (the detection crate's, keyed by tenant, source and text),
//! so the conversation prefix an agent resends every turn is sent once.
//! Segments repeated within one request are sent once too.

pub mod client;
pub mod config;
pub mod follow_up;
pub mod stats;
pub mod verdicts;

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Arc;
use std::time::{Duration, Instant};

use portcullis_detection::{CacheLimits, CacheWeight, Segment, SegmentCache, SegmentRef};
use portcullis_schemas::{DetectRequest, DetectSegment};
use tokio::sync::OnceCell;
use uuid::Uuid;

pub use client::{MlClient, MlError};
pub use config::{MlConfig, MlMode, MlSource, OnFailure, RawMlConfig};
pub use stats::{MlStats, MlStatsSnapshot};

/// How long startup waits for the ML NATS connection before serving anyway.
const INITIAL_CONNECT_WAIT: Duration = Duration::from_secs(1);

/// Which model produced a score.
#[derive(Debug, PartialEq, Eq)]
pub struct ModelTag {
    pub id: String,
    pub version: String,
}

/// A remembered score (the worker's answer for one segment text).
#[derive(Debug, Clone)]
struct CachedScore {
    score: f32,
    flagged: bool,
    label: Arc<str>,
    model: Arc<ModelTag>,
}

impl CacheWeight for CachedScore {
    fn cache_bytes(&self) -> usize {
        // The model tag is shared by every entry of one response.
        16 + self.label.len()
    }
}

/// The classifier's answer for one segment of the request.
#[derive(Debug, Clone)]
pub struct SegmentVerdict {
    pub origin: SegmentRef,
    /// Byte length of the segment's text (the span of its finding).
    pub text_len: usize,
    /// Injection probability.
    pub score: f32,
    /// The worker's own decision (the model's threshold).
    pub flagged: bool,
    pub label: Arc<str>,
    pub model: Arc<ModelTag>,
    /// Answered from the incremental cache, not by a worker for this request.
    pub cached: bool,
}

impl SegmentVerdict {
    fn from_cached(origin: SegmentRef, text_len: usize, hit: CachedScore) -> SegmentVerdict {
        SegmentVerdict {
            origin,
            text_len,
            score: hit.score,
            flagged: hit.flagged,
            label: hit.label,
            model: hit.model,
            cached: true,
        }
    }
}

/// What one request needs from the workers, after the cache answered what it could.
#[derive(Debug, Default)]
pub struct MlPlan {
    /// Verdicts already known (cache hits).
    pub known: Vec<SegmentVerdict>,
    /// Distinct texts to send; `DetectSegment::id` is the index here.
    wire: Vec<DetectSegment>,
    /// Cache key of each `wire` entry.
    keys: Vec<u64>,
    /// Segments waiting for a `wire` answer: (origin, text length, index into `wire`).
    pending: Vec<(SegmentRef, usize, usize)>,
}

impl MlPlan {
    /// Nothing to ask the workers.
    pub fn is_complete(&self) -> bool {
        self.wire.is_empty()
    }

    /// Segments that would be sent.
    pub fn to_send(&self) -> usize {
        self.wire.len()
    }
}

/// `/health` view of the ML step.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MlHealth {
    /// `off` (no project uses ML), `ok` (NATS connected) or `disconnected` (requests
    /// fall back to each project's `on_failure`).
    pub status: &'static str,
    pub projects: Vec<MlProjectHealth>,
    pub cached_segments: usize,
    pub stats: MlStatsSnapshot,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct MlProjectHealth {
    pub name: String,
    pub mode: &'static str,
    pub fail_closed: bool,
}

/// The ML step's shared state: the NATS client (connected on first need), the
/// incremental score cache and the counters.
pub struct MlRuntime {
    nats_url: Option<String>,
    client: OnceCell<MlClient>,
    cache: SegmentCache<CachedScore>,
    pub stats: MlStats,
}

impl MlRuntime {
    /// `nats_url`: the gateway's NATS URL (`audit.nats_url`). Nothing connects yet.
    pub fn new(nats_url: Option<String>) -> MlRuntime {
        // Scores are tiny: the scanner's entry bound with a small byte budget. Every
        // segment is worth caching (a hash costs far less than a round trip).
        let limits = CacheLimits { max_bytes: 16 * 1024 * 1024, min_segment_len: 0, ..CacheLimits::default() };
        MlRuntime { nats_url, client: OnceCell::new(), cache: SegmentCache::new(limits), stats: MlStats::default() }
    }

    /// Connects now (startup, when a project uses ML) rather than on the first
    /// request that needs it (a project switched to ML by a reload).
    pub async fn connect(&self) -> Result<(), MlError> {
        self.client().await.map(|_| ())
    }

    /// The client, connecting once. The first connection waits briefly for the
    /// server so the first requests do not find it still pending; while NATS stays
    /// down, requests fail at once (`Disconnected`) and the client keeps retrying.
    async fn client(&self) -> Result<&MlClient, MlError> {
        let url = self.nats_url.as_deref().ok_or(MlError::Disconnected)?;
        self.client
            .get_or_try_init(|| async {
                let nats = crate::nats::connect(url, "portcullis-gateway-ml")
                    .await
                    .map_err(|e| MlError::Transport(format!("connect {url}: {e}")))?;
                crate::nats::wait_for_first_connection(&nats, INITIAL_CONNECT_WAIT).await;
                Ok(MlClient::from_client(nats))
            })
            .await
    }

    /// Looks every segment the config sends up in the cache; the rest is to send.
    pub fn plan(&self, tenant: &str, segments: &[Segment], cfg: &MlConfig) -> MlPlan {
        let mut plan = MlPlan::default();
        let mut wire_index: HashMap<u64, usize> = HashMap::new();
        let keys = self.cache.tenant_keys(tenant);
        for segment in segments {
            if !cfg.sends(segment.origin.source) || segment.text.trim().is_empty() {
                continue;
            }
            let key = keys.key(segment.origin.source, &segment.text);
            if let Some(hit) = self.cache.get(key) {
                plan.known.push(SegmentVerdict::from_cached(segment.origin.clone(), segment.text.len(), hit));
                continue;
            }
            let index = match wire_index.entry(key) {
                Entry::Occupied(seen) => *seen.get(),
                Entry::Vacant(slot) => {
                    let index = plan.wire.len();
                    plan.wire.push(DetectSegment {
                        id: u32::try_from(index).unwrap_or(u32::MAX),
                        source: MlSource::of(segment.origin.source).as_str().to_owned(),
                        text: segment.text.clone(),
                    });
                    plan.keys.push(key);
                    slot.insert(index);
                    index
                }
            };
            plan.pending.push((segment.origin.clone(), segment.text.len(), index));
        }
        self.stats.cached(plan.known.len());
        plan
    }

    /// Sends what the cache did not know and returns every verdict of the plan
    /// (cached ones included), remembering the new scores. Failures are counted.
    pub async fn complete(
        &self,
        plan: MlPlan,
        tenant: &str,
        request_id: Uuid,
        timeout: Duration,
    ) -> Result<Vec<SegmentVerdict>, MlError> {
        let MlPlan { mut known, wire, keys, pending } = plan;
        if wire.is_empty() {
            return Ok(known);
        }
        let result = match self.client().await {
            Ok(client) => {
                self.stats.sent(wire.len());
                let started = Instant::now();
                let result = client.classify(&DetectRequest::new(request_id, tenant, wire), timeout).await;
                if result.is_ok() {
                    self.stats.verdict_latency(started.elapsed());
                }
                result
            }
            Err(error) => Err(error),
        };
        let response = result.inspect_err(|error| self.stats.failure(error))?;
        let model = Arc::new(ModelTag { id: response.model_id, version: response.model_version });
        // `decode_reply` checked one result per segment; results come in request order.
        let scores: Vec<CachedScore> = response
            .results
            .into_iter()
            .map(|r| CachedScore {
                score: r.score,
                flagged: r.flagged,
                label: Arc::from(r.label),
                model: model.clone(),
            })
            .collect();
        for (key, score) in keys.iter().zip(&scores) {
            self.cache.insert(*key, score.clone());
        }
        for (origin, text_len, index) in pending {
            if let Some(score) = scores.get(index) {
                let mut verdict = SegmentVerdict::from_cached(origin, text_len, score.clone());
                verdict.cached = false;
                known.push(verdict);
            }
        }
        Ok(known)
    }

    /// The ML step's state for `/health`: which projects use it, whether NATS is
    /// connected, the cache size and the counters.
    pub fn health(&self, config: &crate::config::Config) -> MlHealth {
        let projects: Vec<MlProjectHealth> = config
            .projects
            .values()
            .filter(|p| p.ml.mode != MlMode::Off)
            .map(|p| MlProjectHealth {
                name: p.name.clone(),
                mode: p.ml.mode.as_str(),
                fail_closed: p.ml.on_failure == OnFailure::FailClosed,
            })
            .collect();
        let connected =
            self.client.get().map(|c| c.nats().connection_state() == async_nats::connection::State::Connected);
        let status = match (projects.is_empty(), connected) {
            (true, _) => "off",
            (false, Some(true)) => "ok",
            (false, _) => "disconnected",
        };
        MlHealth { status, projects, cached_segments: self.cache.stats().entries, stats: self.stats.snapshot() }
    }

    /// Drops every remembered score (tests, model changes).
    pub fn clear_cache(&self) {
        self.cache.clear();
    }
}
