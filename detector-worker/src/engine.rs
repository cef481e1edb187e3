//! The model thread and its queue: dynamic batching with a bounded queue.
//!
//! NATS handlers [`Engine::submit`] a request's texts and await the scores on a
//! oneshot. One `std::thread` owns the forward passes (Candle's own matmul
//! threads run inside it): it takes the first waiting request, keeps collecting
//! for up to `batch_wait` or until `max_batch_segments` segments, scores all of
//! them together ([`Classifier::score_batched`] sorts the windows by length so a
//! padded batch holds similar lengths), and splits the scores back. The queue
//! is bounded: when it is full, `submit` fails at once with
//! [`SubmitError::Overloaded`] so the caller can answer "overloaded" instead of
//! letting requests wait without bound.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TryRecvError, TrySendError};
use std::time::{Duration, Instant};

use portcullis_telemetry::{LatencyHistogram, SizeHistogram};
use serde::Serialize;
use tokio::sync::oneshot;

use crate::config::BatchingConfig;
use crate::{Classifier, TextScore, WorkerError};

/// Batching knobs (see [`BatchingConfig`] for their meaning).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineSettings {
    pub batch_wait: Duration,
    pub max_batch_segments: usize,
    pub max_batch_windows: usize,
    pub queue_capacity: usize,
}

impl From<&BatchingConfig> for EngineSettings {
    fn from(config: &BatchingConfig) -> Self {
        EngineSettings {
            batch_wait: Duration::from_millis(config.batch_wait_ms),
            max_batch_segments: config.max_batch_segments.max(1),
            max_batch_windows: config.max_batch_windows.max(1),
            queue_capacity: config.queue_capacity.max(1),
        }
    }
}

impl Default for EngineSettings {
    fn default() -> Self {
        EngineSettings::from(&BatchingConfig::default())
    }
}

/// Scores of one submitted request.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    /// One per submitted text, in order.
    pub scores: Vec<TextScore>,
    /// Submit to start of the batch that scored it.
    pub queue_us: u64,
    /// Duration of that batch (tokenization and every forward pass).
    pub inference_us: u64,
    /// Segments in that batch (this request's and others').
    pub batch_segments: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    #[error("the model queue is full")]
    Overloaded,
    #[error("the model thread stopped")]
    Stopped,
}

/// What a request's oneshot delivers: scores, or why the batch failed.
pub type JobOutcome = Result<Scored, String>;

struct Job {
    texts: Vec<String>,
    submitted: Instant,
    reply: oneshot::Sender<JobOutcome>,
}

/// Counters since start; cheap to read from any thread.
#[derive(Debug, Default)]
struct EngineCounters {
    queue_depth: AtomicUsize,
    requests: AtomicU64,
    segments: AtomicU64,
    windows: AtomicU64,
    batches: AtomicU64,
    overloaded: AtomicU64,
    failed_batches: AtomicU64,
    abandoned: AtomicU64,
    inference_us_total: AtomicU64,
    inference_us_max: AtomicU64,
    last_inference_us: AtomicU64,
    batch_segments_max: AtomicU64,
    last_batch_segments: AtomicU64,
    histograms: EngineHistograms,
}

/// Distributions for `/metrics` (clones share their counts).
#[derive(Debug, Clone, Default)]
pub struct EngineHistograms {
    /// Segments per model batch.
    pub batch_segments: SizeHistogram,
    /// Duration of one batch (tokenization and every forward pass).
    pub inference: LatencyHistogram,
    /// Submit to the start of the batch that scored the request.
    pub queue_wait: LatencyHistogram,
}

/// A point-in-time copy of the engine's counters (the `detect.health` body).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EngineStats {
    pub queue_depth: usize,
    pub queue_capacity: usize,
    /// Requests scored (overloaded ones not included).
    pub requests: u64,
    pub segments: u64,
    pub windows: u64,
    pub batches: u64,
    /// Requests refused because the queue was full.
    pub overloaded: u64,
    pub failed_batches: u64,
    /// Requests whose caller was gone before their batch started (skipped).
    pub abandoned: u64,
    pub mean_batch_segments: f64,
    pub batch_segments_max: u64,
    pub last_batch_segments: u64,
    pub mean_inference_us: f64,
    pub inference_us_max: u64,
    pub last_inference_us: u64,
}

/// Handle to the model thread; clones share it. The thread ends when the last
/// handle is dropped and the queue is empty.
#[derive(Clone)]
pub struct Engine {
    sender: SyncSender<Job>,
    counters: Arc<EngineCounters>,
    settings: EngineSettings,
}

impl Engine {
    /// Runs a warm-up inference on the calling thread (first passes allocate
    /// and are slow), then starts the model thread. Returns once the engine
    /// can serve at full speed.
    pub fn start(classifier: Arc<Classifier>, settings: EngineSettings) -> Result<Engine, WorkerError> {
        warm_up(&classifier)?;
        let (sender, receiver) = std::sync::mpsc::sync_channel(settings.queue_capacity.max(1));
        let counters = Arc::new(EngineCounters::default());
        let thread_counters = counters.clone();
        std::thread::Builder::new()
            .name("detector-model".to_owned())
            .spawn(move || model_loop(&classifier, &receiver, settings, &thread_counters))
            .map_err(|e| WorkerError::Config(format!("cannot start the model thread: {e}")))?;
        Ok(Engine { sender, counters, settings })
    }

    pub fn settings(&self) -> EngineSettings {
        self.settings
    }

    /// Queues `texts` for scoring; fails at once when the queue is full.
    pub fn submit(&self, texts: Vec<String>) -> Result<oneshot::Receiver<JobOutcome>, SubmitError> {
        let (reply, receiver) = oneshot::channel();
        let job = Job { texts, submitted: Instant::now(), reply };
        // Counted before sending so the model thread never decrements below 0.
        self.counters.queue_depth.fetch_add(1, Ordering::Relaxed);
        match self.sender.try_send(job) {
            Ok(()) => Ok(receiver),
            Err(err) => {
                self.counters.queue_depth.fetch_sub(1, Ordering::Relaxed);
                match err {
                    TrySendError::Full(_) => {
                        self.counters.overloaded.fetch_add(1, Ordering::Relaxed);
                        Err(SubmitError::Overloaded)
                    }
                    TrySendError::Disconnected(_) => Err(SubmitError::Stopped),
                }
            }
        }
    }

    /// Scores `texts` and waits for the result (convenience for callers that
    /// do not need the overload distinction as a separate step).
    pub async fn score(&self, texts: Vec<String>) -> Result<Scored, WorkerError> {
        let receiver = self.submit(texts).map_err(|e| match e {
            SubmitError::Overloaded => WorkerError::Overloaded,
            SubmitError::Stopped => WorkerError::EngineStopped,
        })?;
        receiver.await.map_err(|_| WorkerError::EngineStopped)?.map_err(WorkerError::Inference)
    }

    /// The batch size, inference time and queue wait distributions.
    pub fn histograms(&self) -> EngineHistograms {
        self.counters.histograms.clone()
    }

    pub fn stats(&self) -> EngineStats {
        let c = &self.counters;
        let load = |v: &AtomicU64| v.load(Ordering::Relaxed);
        let batches = load(&c.batches);
        let per_batch = |total: u64| {
            if batches == 0 { 0.0 } else { total as f64 / batches as f64 }
        };
        EngineStats {
            queue_depth: c.queue_depth.load(Ordering::Relaxed),
            queue_capacity: self.settings.queue_capacity,
            requests: load(&c.requests),
            segments: load(&c.segments),
            windows: load(&c.windows),
            batches,
            overloaded: load(&c.overloaded),
            failed_batches: load(&c.failed_batches),
            abandoned: load(&c.abandoned),
            mean_batch_segments: per_batch(load(&c.segments)),
            batch_segments_max: load(&c.batch_segments_max),
            last_batch_segments: load(&c.last_batch_segments),
            mean_inference_us: per_batch(load(&c.inference_us_total)),
            inference_us_max: load(&c.inference_us_max),
            last_inference_us: load(&c.last_inference_us),
        }
    }
}

fn warm_up(classifier: &Classifier) -> Result<(), WorkerError> {
    let long = "Please summarise the following report for the team. ".repeat(40);
    classifier.score(&["warm-up", long.as_str()])?;
    Ok(())
}

fn model_loop(classifier: &Classifier, receiver: &Receiver<Job>, settings: EngineSettings, counters: &EngineCounters) {
    while let Some(jobs) = collect_batch(receiver, settings, counters) {
        run_batch(classifier, jobs, settings, counters);
    }
    tracing::debug!("model thread stopped: no engine handle left");
}

/// Blocks for the first job, then gathers more until the wait is over or the
/// batch is full. `None` once every sender is gone.
fn collect_batch(receiver: &Receiver<Job>, settings: EngineSettings, counters: &EngineCounters) -> Option<Vec<Job>> {
    let first = receiver.recv().ok()?;
    counters.queue_depth.fetch_sub(1, Ordering::Relaxed);
    let deadline = Instant::now() + settings.batch_wait;
    let mut segments = first.texts.len();
    let mut jobs = vec![first];
    while segments < settings.max_batch_segments {
        let now = Instant::now();
        let next = if now >= deadline {
            // Past the wait, still take whatever is already queued.
            receiver.try_recv().map_err(|e| matches!(e, TryRecvError::Disconnected))
        } else {
            receiver.recv_timeout(deadline - now).map_err(|e| matches!(e, RecvTimeoutError::Disconnected))
        };
        match next {
            Ok(job) => {
                counters.queue_depth.fetch_sub(1, Ordering::Relaxed);
                segments += job.texts.len();
                jobs.push(job);
            }
            Err(_) => break,
        }
    }
    Some(jobs)
}

fn run_batch(classifier: &Classifier, jobs: Vec<Job>, settings: EngineSettings, counters: &EngineCounters) {
    // A caller that already gave up (timeout) does not need its scores.
    let (jobs, abandoned): (Vec<Job>, Vec<Job>) = jobs.into_iter().partition(|j| !j.reply.is_closed());
    counters.abandoned.fetch_add(abandoned.len() as u64, Ordering::Relaxed);
    if jobs.is_empty() {
        return;
    }
    let started = Instant::now();
    let texts: Vec<&str> = jobs.iter().flat_map(|j| j.texts.iter().map(String::as_str)).collect();
    let outcome = classifier.score_batched(&texts, settings.max_batch_windows);
    let inference_us = micros(started.elapsed());
    let batch_segments = texts.len();
    record_batch(counters, &jobs, batch_segments, started, inference_us, outcome.as_ref().ok());

    match outcome {
        Ok(scores) => {
            let mut scores = scores.into_iter();
            for job in jobs {
                let mine: Vec<TextScore> = scores.by_ref().take(job.texts.len()).collect();
                let _ = job.reply.send(Ok(Scored {
                    scores: mine,
                    queue_us: micros(started.saturating_duration_since(job.submitted)),
                    inference_us,
                    batch_segments,
                }));
            }
        }
        Err(err) => {
            counters.failed_batches.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(error = %err, batch_segments, "batch failed");
            let message = err.to_string();
            for job in jobs {
                let _ = job.reply.send(Err(message.clone()));
            }
        }
    }
}

fn record_batch(
    counters: &EngineCounters,
    jobs: &[Job],
    batch_segments: usize,
    started: Instant,
    inference_us: u64,
    scores: Option<&Vec<TextScore>>,
) {
    let segments = batch_segments as u64;
    counters.requests.fetch_add(jobs.len() as u64, Ordering::Relaxed);
    counters.segments.fetch_add(segments, Ordering::Relaxed);
    if let Some(scores) = scores {
        let windows: usize = scores.iter().map(|s| s.windows).sum();
        counters.windows.fetch_add(windows as u64, Ordering::Relaxed);
    }
    counters.batches.fetch_add(1, Ordering::Relaxed);
    counters.inference_us_total.fetch_add(inference_us, Ordering::Relaxed);
    counters.inference_us_max.fetch_max(inference_us, Ordering::Relaxed);
    counters.last_inference_us.store(inference_us, Ordering::Relaxed);
    counters.batch_segments_max.fetch_max(segments, Ordering::Relaxed);
    counters.last_batch_segments.store(segments, Ordering::Relaxed);
    let histograms = &counters.histograms;
    histograms.batch_segments.observe(batch_segments);
    histograms.inference.observe_micros(inference_us);
    for job in jobs {
        histograms.queue_wait.observe(started.saturating_duration_since(job.submitted));
    }
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}
