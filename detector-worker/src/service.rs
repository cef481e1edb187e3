//! The NATS side: a queue-group subscription on the request subject answering
//! [`DetectResponse`]s, a plain subscription on the health subject answering
//! JSON statistics, and a periodic statistics log line.
//!
//! Every request is handled on its own task so decoding and replying never wait
//! for the model; the [`Engine`] queue is the only place requests wait, and it
//! is bounded.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use portcullis_schemas::{
    DETECT_SCHEMA_VERSION, DetectRequest, DetectResponse, DetectStatus, DetectTimings, SegmentScore,
};
use serde::Serialize;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::config::NatsConfig;
use crate::engine::{Engine, EngineStats, SubmitError};
use crate::model_info::ModelInfo;
use crate::{Classifier, WorkerError};

/// How long start-up waits for the server to confirm the subscriptions; a
/// healthy local server answers in well under a millisecond.
const SUBSCRIPTION_CONFIRM_WAIT: Duration = Duration::from_secs(10);

/// What responses say about the model: identity and label names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedModel {
    pub info: ModelInfo,
    pub flagged_label: String,
    pub clean_label: String,
}

impl ServedModel {
    pub fn new(info: ModelInfo, classifier: &Classifier) -> ServedModel {
        ServedModel {
            info,
            flagged_label: classifier.config().label(true).to_owned(),
            clean_label: classifier.config().label(false).to_owned(),
        }
    }
}

/// The `detect.health` answer.
#[derive(Debug, Clone, Serialize)]
pub struct HealthReport<'a> {
    pub worker_id: &'a str,
    pub ready: bool,
    pub model_id: &'a str,
    pub model_version: &'a str,
    pub uptime_secs: u64,
    #[serde(flatten)]
    pub engine: EngineStats,
}

/// A running worker; dropping it does not stop it, [`WorkerHandle::stop`] does.
pub struct WorkerHandle {
    worker_id: String,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
    engine: Engine,
}

impl WorkerHandle {
    pub fn worker_id(&self) -> &str {
        &self.worker_id
    }

    pub fn stats(&self) -> EngineStats {
        self.engine.stats()
    }

    /// Unsubscribes and closes the connection; requests already taken finish.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = self.task.await;
    }

    /// Drops the subscriptions and the connection at once, like a crash of the
    /// process (requests in flight on this worker get no answer).
    pub fn kill(self) {
        self.task.abort();
    }

    /// Waits until the worker stops (connection closed for good).
    pub async fn wait(self) {
        let _ = self.task.await;
    }
}

/// Connects, subscribes (queue group on `nats.subject`, plain on
/// `nats.health_subject`) and confirms the subscriptions with the server before
/// returning: once this returns, the worker receives requests.
pub async fn start_worker(
    nats: &NatsConfig,
    engine: Engine,
    model: ServedModel,
    stats_interval: Option<Duration>,
) -> Result<WorkerHandle, WorkerError> {
    let client = async_nats::connect(nats.url.as_str())
        .await
        .map_err(|e| WorkerError::Nats(format!("connect {}: {e}", nats.url)))?;
    let requests = client
        .queue_subscribe(nats.subject.clone(), nats.queue_group.clone())
        .await
        .map_err(|e| WorkerError::Nats(format!("subscribe {}: {e}", nats.subject)))?;
    let health = client
        .subscribe(nats.health_subject.clone())
        .await
        .map_err(|e| WorkerError::Nats(format!("subscribe {}: {e}", nats.health_subject)))?;
    // `flush` alone does not mean the server has read the SUBs; a request
    // published meanwhile would get "no responders" (see `portcullis_schemas::nats`).
    portcullis_schemas::nats::server_has_subscriptions(&client, SUBSCRIPTION_CONFIRM_WAIT)
        .await
        .map_err(|e| WorkerError::Nats(format!("confirming subscriptions: {e}")))?;

    let worker_id = Uuid::now_v7().to_string();
    let (stop_tx, stop_rx) = oneshot::channel();
    let context = Arc::new(Context {
        client,
        engine: engine.clone(),
        model,
        worker_id: worker_id.clone(),
        started: Instant::now(),
    });
    tracing::info!(
        worker_id,
        subject = nats.subject,
        queue_group = nats.queue_group,
        model_id = context.model.info.id,
        model_version = context.model.info.version,
        "detector worker ready"
    );
    let task = tokio::spawn(serve(context, requests, health, stop_rx, stats_interval));
    Ok(WorkerHandle { worker_id, stop: Some(stop_tx), task, engine })
}

struct Context {
    client: async_nats::Client,
    engine: Engine,
    model: ServedModel,
    worker_id: String,
    started: Instant,
}

async fn serve(
    context: Arc<Context>,
    mut requests: async_nats::Subscriber,
    mut health: async_nats::Subscriber,
    mut stop: oneshot::Receiver<()>,
    stats_interval: Option<Duration>,
) {
    let period = stats_interval.unwrap_or(Duration::from_secs(3600));
    let mut stats_tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            message = requests.next() => match message {
                Some(message) => {
                    tokio::spawn(answer_request(context.clone(), message));
                }
                None => break,
            },
            message = health.next() => match message {
                Some(message) => answer_health(&context, message).await,
                None => break,
            },
            _ = stats_tick.tick(), if stats_interval.is_some() => {
                log_stats(&context);
            }
        }
    }
    let _ = requests.unsubscribe().await;
    let _ = health.unsubscribe().await;
    let _ = context.client.flush().await;
    tracing::info!(worker_id = context.worker_id, "detector worker stopped");
}

async fn answer_request(context: Arc<Context>, message: async_nats::Message) {
    let Some(reply) = message.reply else {
        return; // a publish without a reply subject: nobody to answer
    };
    let response = respond(&context.engine, &context.model, &message.payload).await;
    match response.to_msgpack() {
        Ok(bytes) => {
            if let Err(err) = context.client.publish(reply, bytes.into()).await {
                tracing::warn!(error = %err, "reply not sent");
            }
        }
        Err(err) => tracing::warn!(error = %err, "response not encodable"),
    }
}

/// The response to one encoded request: scores, `Overloaded` when the queue is
/// full, `Error` for an undecodable request or a failed batch.
pub async fn respond(engine: &Engine, model: &ServedModel, payload: &[u8]) -> DetectResponse {
    let request = match DetectRequest::from_msgpack(payload) {
        Ok(request) => request,
        Err(err) => {
            return DetectResponse::status_only(
                Uuid::nil(),
                DetectStatus::Error(format!("undecodable request: {err}")),
            );
        }
    };
    let request_id = request.request_id;
    let (ids, texts): (Vec<u32>, Vec<String>) = request.segments.into_iter().map(|s| (s.id, s.text)).unzip();
    let receiver = match engine.submit(texts) {
        Ok(receiver) => receiver,
        Err(SubmitError::Overloaded) => {
            return with_model(DetectResponse::status_only(request_id, DetectStatus::Overloaded), model);
        }
        Err(SubmitError::Stopped) => {
            return with_model(
                DetectResponse::status_only(request_id, DetectStatus::Error("model thread stopped".to_owned())),
                model,
            );
        }
    };
    let scored = match receiver.await {
        Ok(Ok(scored)) => scored,
        Ok(Err(message)) => {
            return with_model(DetectResponse::status_only(request_id, DetectStatus::Error(message)), model);
        }
        Err(_) => {
            return with_model(
                DetectResponse::status_only(request_id, DetectStatus::Error("model thread stopped".to_owned())),
                model,
            );
        }
    };
    let results = ids
        .into_iter()
        .zip(scored.scores)
        .map(|(id, score)| SegmentScore {
            id,
            label: if score.flagged { model.flagged_label.clone() } else { model.clean_label.clone() },
            score: score.score,
            flagged: score.flagged,
        })
        .collect();
    DetectResponse {
        schema_version: DETECT_SCHEMA_VERSION,
        request_id,
        status: DetectStatus::Ok,
        model_id: model.info.id.clone(),
        model_version: model.info.version.clone(),
        results,
        timings: DetectTimings { queue_us: scored.queue_us, inference_us: scored.inference_us },
    }
}

fn with_model(mut response: DetectResponse, model: &ServedModel) -> DetectResponse {
    response.model_id = model.info.id.clone();
    response.model_version = model.info.version.clone();
    response
}

fn health_report(context: &Context) -> HealthReport<'_> {
    HealthReport {
        worker_id: &context.worker_id,
        ready: true,
        model_id: &context.model.info.id,
        model_version: &context.model.info.version,
        uptime_secs: context.started.elapsed().as_secs(),
        engine: context.engine.stats(),
    }
}

async fn answer_health(context: &Context, message: async_nats::Message) {
    let Some(reply) = message.reply else {
        return;
    };
    match serde_json::to_vec(&health_report(context)) {
        Ok(body) => {
            if let Err(err) = context.client.publish(reply, body.into()).await {
                tracing::warn!(error = %err, "health reply not sent");
            }
        }
        Err(err) => tracing::warn!(error = %err, "health report not encodable"),
    }
}

fn log_stats(context: &Context) {
    let s = context.engine.stats();
    tracing::info!(
        worker_id = context.worker_id,
        queue_depth = s.queue_depth,
        requests = s.requests,
        segments = s.segments,
        batches = s.batches,
        mean_batch_segments = format!("{:.1}", s.mean_batch_segments),
        batch_segments_max = s.batch_segments_max,
        mean_inference_ms = format!("{:.2}", s.mean_inference_us / 1000.0),
        inference_ms_max = format!("{:.2}", s.inference_us_max as f64 / 1000.0),
        overloaded = s.overloaded,
        "detector stats"
    );
}
