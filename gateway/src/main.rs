//! The `gateway` binary: parse the command line, load config, serve. All logic is in the library.

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use portcullis_gateway::cli::{Cli, ClientsAction, Command, DashboardAction, KeysAction};
use portcullis_gateway::config::{self, Config};
use portcullis_gateway::state::AppState;

fn init_tracing(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&config.log.level));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if config.log.json { builder.json().init() } else { builder.init() }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Keys { action: KeysAction::New { project, label } }) => {
            print!("{}", portcullis_gateway::cli::new_key_text(&project, label.as_deref()));
            return ExitCode::SUCCESS;
        }
        Some(Command::Clients { action: ClientsAction::New { project, client_id, scopes } }) => {
            print!("{}", portcullis_gateway::cli::new_client_text(&project, &client_id, &scopes));
            return ExitCode::SUCCESS;
        }
        Some(Command::Dashboard { action: DashboardAction::Credential }) => {
            print!("{}", portcullis_gateway::cli::new_dashboard_credential_text());
            return ExitCode::SUCCESS;
        }
        _ => {}
    }
    let config = match config::load(cli.config.as_deref()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("gateway: {e}");
            return ExitCode::from(2);
        }
    };
    if matches!(cli.command, Some(Command::CheckConfig)) {
        println!(
            "config OK: {} projects, {} keys, {} clients",
            config.projects.len(),
            config.keys.len(),
            config.clients.len()
        );
        return ExitCode::SUCCESS;
    }
    init_tracing(&config);
    let listen = config.listen;
    let state = match AppState::start(config, cli.config.clone()).await {
        Ok(state) => Arc::new(state),
        Err(e) => {
            eprintln!("gateway: {e}");
            return ExitCode::FAILURE;
        }
    };
    let listener = match tokio::net::TcpListener::bind(listen).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("gateway: cannot listen on {listen}: {e}");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(%listen, upstream = %state.config().upstream.base_url, "Portcullis gateway listening");
    tokio::spawn(reload_on_sighup(state.clone()));
    let served = portcullis_gateway::server::serve(listener, state.clone(), shutdown_signal()).await;
    // Flush audit events of the drained requests before exiting.
    state.audit.shutdown().await;
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gateway: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
        }
        Err(_) => {
            let _ = ctrl_c.await;
        }
    }
}

/// SIGHUP re-reads the config file; an invalid file is logged and the old config kept.
async fn reload_on_sighup(state: Arc<AppState>) {
    let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else {
        tracing::warn!("SIGHUP handler unavailable: config reload disabled");
        return;
    };
    while hup.recv().await.is_some() {
        match state.reload() {
            Ok(()) => tracing::info!("config reloaded"),
            Err(e) => tracing::error!(error = %e, "config reload rejected; keeping the previous config"),
        }
    }
}
