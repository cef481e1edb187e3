//! `mock-upstream` binary: serves the mock Anthropic API for demos and
//! benchmarks, and prints the URL it listens on to stdout.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use mock_upstream::{MockConfig, MockState, serve};
use tracing_subscriber::EnvFilter;

/// Mock of the Anthropic Messages API.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Address to listen on.
    #[arg(long, env = "MOCK_UPSTREAM_LISTEN", default_value = "127.0.0.1:9090")]
    listen: SocketAddr,
    /// Delay between SSE events, in milliseconds.
    #[arg(long, default_value_t = 0)]
    chunk_delay_ms: u64,
    /// Words per streamed delta event.
    #[arg(long, default_value_t = 1)]
    words_per_chunk: usize,
    /// Make every reply exactly this many words long.
    #[arg(long)]
    reply_words: Option<usize>,
    /// Concurrent HTTP/2 (h2c) streams per connection; 0 lifts the cap.
    #[arg(long, default_value_t = 100)]
    http2_max_streams: u32,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let listener = match tokio::net::TcpListener::bind(args.listen).await {
        Ok(listener) => listener,
        Err(error) => {
            tracing::error!(%error, listen = %args.listen, "cannot listen");
            return ExitCode::FAILURE;
        }
    };
    let addr = listener.local_addr().unwrap_or(args.listen);
    let config = MockConfig {
        chunk_delay: Duration::from_millis(args.chunk_delay_ms),
        words_per_chunk: args.words_per_chunk,
        reply_words: args.reply_words,
        http2_max_concurrent_streams: Some(args.http2_max_streams).filter(|&n| n > 0),
    };
    tracing::info!(%addr, ?config, "mock-upstream listening");
    println!("http://{addr}");
    tokio::select! {
        () = serve(listener, MockState::new(config)) => ExitCode::SUCCESS,
        _ = tokio::signal::ctrl_c() => {
            tracing::info!("mock-upstream shutting down");
            ExitCode::SUCCESS
        }
    }
}
