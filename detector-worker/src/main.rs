//! `detector-worker` binary: `run` (default) serves NATS requests; `eval`
//! prints metrics of the model on a labelled file.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use detector_worker::eval::{metrics, read_examples};
use detector_worker::{
    Classifier, Engine, EngineSettings, ModelInfo, ServedModel, WorkerConfig, WorkerError, start_worker,
};

#[derive(Debug, Parser)]
#[command(name = "detector-worker", about = "Portcullis ML prompt-injection detector worker")]
struct Cli {
    /// TOML configuration file (PORTCULLIS_* variables override it).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve `detect.injection` requests over NATS (the default).
    Run,
    /// Score a labelled file (CSV `text,label` or JSONL) and print metrics.
    Eval {
        /// `.csv` with `text` and `label` columns, or `.jsonl`.
        #[arg(long)]
        data: PathBuf,
        /// Decision threshold (default: the model's).
        #[arg(long)]
        threshold: Option<f32>,
        /// Print one JSON object instead of a table.
        #[arg(long)]
        json: bool,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match WorkerConfig::load(cli.config.as_deref()) {
        Ok(config) => match cli.command.unwrap_or(Command::Run) {
            Command::Run => run(config).await,
            Command::Eval { data, threshold, json } => eval(&config, &data, threshold, json),
        },
        Err(err) => Err(err),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("detector-worker: {err}");
            ExitCode::FAILURE
        }
    }
}

fn load_model(config: &WorkerConfig) -> Result<(Classifier, PathBuf), WorkerError> {
    let dir = config.model_dir()?;
    let started = Instant::now();
    let classifier = Classifier::load(&dir)?;
    tracing::info!(
        dir = %dir.display(),
        model_type = classifier.config().model_type,
        labels = ?classifier.config().labels,
        threshold = classifier.config().threshold,
        load_ms = started.elapsed().as_millis() as u64,
        "model loaded"
    );
    Ok((classifier, dir))
}

async fn run(config: WorkerConfig) -> Result<(), WorkerError> {
    let (classifier, dir) = load_model(&config)?;
    let info = ModelInfo::from_dir(&dir, config.model.id.as_deref())?;
    let model = ServedModel::new(info, &classifier);
    let started = Instant::now();
    let engine = Engine::start(Arc::new(classifier), EngineSettings::from(&config.batching))?;
    tracing::info!(warm_up_ms = started.elapsed().as_millis() as u64, "model warmed up");
    let interval = (config.stats.log_interval_secs > 0).then(|| Duration::from_secs(config.stats.log_interval_secs));
    // Scoring matters more than its metrics: a taken port (several workers on
    // one host with the default) is logged, not fatal.
    let _metrics = match config.metrics_addr()? {
        Some(listen) => match detector_worker::metrics::serve(listen, engine.clone()).await {
            Ok(server) => Some(server),
            Err(err) => {
                tracing::warn!(%err, "metrics listener not started (set PORTCULLIS_METRICS_LISTEN per worker)");
                None
            }
        },
        None => None,
    };
    let worker = start_worker(&config.nats, engine, model, interval).await?;
    wait_for_signal().await;
    tracing::info!("stop requested");
    worker.stop().await;
    Ok(())
}

fn eval(config: &WorkerConfig, data: &Path, threshold: Option<f32>, json: bool) -> Result<(), WorkerError> {
    let (classifier, _) = load_model(config)?;
    let examples = read_examples(data)?;
    let started = Instant::now();
    let mut scores = Vec::with_capacity(examples.len());
    for chunk in examples.chunks(64) {
        let texts: Vec<&str> = chunk.iter().map(|e| e.text.as_str()).collect();
        scores.extend(classifier.score(&texts)?.into_iter().map(|s| s.score));
    }
    let seconds = started.elapsed().as_secs_f64();
    let labels: Vec<bool> = examples.iter().map(|e| e.injection).collect();
    let threshold = threshold.unwrap_or(classifier.config().threshold);
    let m = metrics(&scores, &labels, threshold);
    if json {
        let line =
            serde_json::to_string(&m).map_err(|source| WorkerError::Json { path: data.to_path_buf(), source })?;
        println!("{line}");
        return Ok(());
    }
    println!("data:       {} ({} rows, {seconds:.1} s)", data.display(), m.n);
    println!("threshold:  {}", m.threshold);
    for (name, value) in [
        ("accuracy", m.accuracy),
        ("precision", m.precision),
        ("recall", m.recall),
        ("f1", m.f1),
        ("benign_fpr", m.benign_fpr),
        ("roc_auc", m.roc_auc),
    ] {
        println!("{:<11} {value:.4}", format!("{name}:"));
    }
    println!("confusion:  tp={} fp={} tn={} fn={}", m.tp, m.fp, m.tn, m.r#fn);
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
