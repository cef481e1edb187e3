//! `audit-writer` binary: parse arguments, load the configuration, run.

use std::process::ExitCode;
use std::sync::Arc;

use audit_writer::cli::{Cli, Command};
use audit_writer::usage::{parse_since, query_usage, render};
use audit_writer::{Store, Writer, WriterConfig, WriterError, WriterStats};
use clap::Parser;
use tokio::sync::watch;

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
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("audit-writer: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), WriterError> {
    let config = WriterConfig::load(cli.config.as_deref())?;
    match cli.command.unwrap_or(Command::Run) {
        Command::Run => {
            let (stop_tx, mut stop_rx) = watch::channel(false);
            tokio::spawn(async move {
                wait_for_signal().await;
                tracing::info!("stop requested: flushing");
                let _ = stop_tx.send(true);
            });
            let stats = Arc::new(WriterStats::default());
            let _metrics = audit_writer::metrics::start(&config, stats.clone(), stop_rx.clone()).await?;
            let writer = Writer::connect(config, stats.clone(), &mut stop_rx).await?;
            tracing::info!("audit-writer running");
            let result = writer.run(stop_rx).await;
            tracing::info!(stats = ?stats.snapshot(), "audit-writer stopped");
            result
        }
        Command::Usage { by, since, format } => {
            let since = parse_since(&since)?;
            let store = Store::new(&config.clickhouse);
            let lines = query_usage(&store, by, since).await?;
            render(&lines, format, &mut std::io::stdout().lock())
        }
    }
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
