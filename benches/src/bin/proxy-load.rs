//! Proxy load harness: added latency and throughput of the gateway in front of the mock
//! upstream, measured against calling the mock directly in the same run, plus the
//! gateway's memory under many concurrent streams.
//!
//! Run with `benches/run-proxy-bench.sh` (builds release binaries first).
//! `--audit-nats` starts a `nats-server -js` (from PATH) and has the gateway
//! publish its audit events to JetStream instead of appending them to a JSONL
//! file, to measure what publishing costs on the request path. `--bare` adds a third
//! path, `bare-proxy` (the same HTTP stack doing none of the gateway's work), so the
//! report separates the cost of the hop from the cost of the gateway's own work.
//! `--nginx` adds nginx (from PATH, `apt-get install nginx-light`) as a plain reverse
//! proxy in front of the same mock: the reference hop the field notes compare peers with.

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use futures_util::StreamExt;
use portcullis_benches::{Latencies, Service, claude_code_sized_body, free_port, release_binary, rss_kib, wait_ready};
use sha2::Digest;

#[derive(Parser)]
struct Args {
    /// Requests per measurement at each concurrency level.
    #[arg(long, default_value_t = 2000)]
    requests: usize,
    #[arg(long, value_delimiter = ',', default_value = "1,64")]
    concurrency: Vec<usize>,
    /// Concurrent slow streams for the memory measurement (0 = skip).
    #[arg(long, default_value_t = 1000)]
    streams: usize,
    /// Audit to JetStream (a nats-server started here) instead of a JSONL file.
    #[arg(long)]
    audit_nats: bool,
    /// The gateway's `upstream.http_version`: `http2` (h2c to the mock) models
    /// api.anthropic.com, where TLS negotiates HTTP/2; `auto` is HTTP/1.1 over http://.
    #[arg(long, default_value = "auto")]
    upstream_http_version: String,
    /// Runs the gateway (and `bare-proxy`) with this many tokio worker threads
    /// (`TOKIO_WORKER_THREADS` in their environment only); default: one per core.
    #[arg(long)]
    gateway_worker_threads: Option<usize>,
    /// Also measures `bare-proxy` (axum and reqwest forwarding, none of the gateway's work)
    /// in the same run: the floor of the proxy hop on this host.
    #[arg(long)]
    bare: bool,
    /// Also measures nginx (from PATH) proxying to the mock with upstream keep-alive and
    /// no buffering: a C event loop's hop on the same host, in the same run.
    #[arg(long)]
    nginx: bool,
}

const GATEWAY_KEY: &str = "pcl_bench_key";

fn gateway_config(upstream: &str, http_version: &str, port: u16, audit: &str) -> String {
    let hash = hex::encode(sha2::Sha256::digest(GATEWAY_KEY.as_bytes()));
    format!(
        "listen = \"127.0.0.1:{port}\"\n[upstream]\nurl = \"{upstream}\"\nhttp_version = \"{http_version}\"\n\
         [log]\nlevel = \"warn\"\n\
         [[projects]]\nname = \"bench\"\ntenant = \"bench\"\n[[keys]]\nproject = \"bench\"\nhash = \"sha256:{hash}\"\n\
         [audit]\n{audit}"
    )
}

/// A `nats-server -js` on free ports with its store in `dir`; its client URL once healthy.
async fn start_nats(dir: &std::path::Path) -> Result<(Service, String), String> {
    let port = free_port().map_err(|e| e.to_string())?;
    let monitor = free_port().map_err(|e| e.to_string())?;
    let store = dir.join("nats");
    let nats = Service::spawn(
        "nats-server",
        Command::new("nats-server")
            .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-m", &monitor.to_string(), "-sd"])
            .arg(&store),
    )
    .map_err(|e| format!("nats-server: {e} (bash scripts/install-deps.sh)"))?;
    if !wait_ready(&format!("http://127.0.0.1:{monitor}/healthz"), Duration::from_secs(10)).await {
        return Err("nats-server did not become ready".into());
    }
    Ok((nats, format!("nats://127.0.0.1:{port}")))
}

/// `bare-proxy` in front of the mock on a free port; the handle and its messages URL.
async fn start_bare(
    mock_url: &str,
    http_version: &str,
    worker_threads: Option<usize>,
) -> Result<(Service, String), String> {
    let port = free_port().map_err(|e| e.to_string())?;
    let mut command = Command::new(release_binary("bare-proxy"));
    command.args(["--listen", &format!("127.0.0.1:{port}"), "--upstream", mock_url]);
    if http_version == "http2" {
        command.arg("--http2");
    }
    if let Some(threads) = worker_threads {
        command.env("TOKIO_WORKER_THREADS", threads.to_string());
    }
    let bare = Service::spawn("bare-proxy", &mut command).map_err(|e| format!("bare-proxy: {e}"))?;
    let url = format!("http://127.0.0.1:{port}");
    if !wait_ready(&format!("{url}/v1/models"), Duration::from_secs(10)).await {
        return Err("bare-proxy did not become ready".into());
    }
    Ok((bare, format!("{url}/v1/messages")))
}

/// nginx on a free port proxying to the mock over HTTP/1.1 keep-alive connections, one
/// worker, no request or response buffering, its files in `dir`; its messages URL.
async fn start_nginx(mock_url: &str, dir: &std::path::Path) -> Result<(Service, String), String> {
    let port = free_port().map_err(|e| e.to_string())?;
    let upstream = mock_url.trim_start_matches("http://");
    let d = dir.join("nginx");
    std::fs::create_dir_all(&d).map_err(|e| e.to_string())?;
    let p = |name: &str| d.join(name).display().to_string();
    let config = format!(
        "daemon off; master_process off; worker_processes 1; pid {pid}; error_log {err} warn;\n\
         events {{ worker_connections 8192; }}\n\
         http {{ access_log off; client_body_temp_path {body}; proxy_temp_path {proxy}; \
         fastcgi_temp_path {fcgi}; uwsgi_temp_path {uwsgi}; scgi_temp_path {scgi};\n\
         client_max_body_size 64m; client_body_buffer_size 1m; tcp_nodelay on;\n\
         upstream mock {{ server {upstream}; keepalive 1024; }}\n\
         server {{ listen 127.0.0.1:{port}; location / {{ proxy_pass http://mock; proxy_http_version 1.1; \
         proxy_set_header Connection \"\"; proxy_buffering off; proxy_request_buffering off; }} }} }}\n",
        pid = p("nginx.pid"),
        err = p("error.log"),
        body = p("body"),
        proxy = p("proxy"),
        fcgi = p("fastcgi"),
        uwsgi = p("uwsgi"),
        scgi = p("scgi"),
    );
    let conf = d.join("nginx.conf");
    std::fs::write(&conf, config).map_err(|e| e.to_string())?;
    let nginx = Service::spawn("nginx", Command::new("nginx").arg("-p").arg(&d).arg("-c").arg(&conf))
        .map_err(|e| format!("nginx: {e} (apt-get install nginx-light)"))?;
    let url = format!("http://127.0.0.1:{port}");
    if !wait_ready(&format!("{url}/v1/models"), Duration::from_secs(10)).await {
        return Err(format!("nginx did not become ready (see {})", p("error.log")));
    }
    Ok((nginx, format!("{url}/v1/messages")))
}

/// One full request: send, read the whole streamed body.
async fn one(client: &reqwest::Client, url: &str, body: &str) -> Result<Duration, String> {
    let started = Instant::now();
    let response = client
        .post(url)
        .header("x-api-key", "sk-ant-bench")
        .header("x-portcullis-key", GATEWAY_KEY)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !response.status().is_success() {
        return Err(format!("status {}", response.status()));
    }
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        chunk.map_err(|e| e.to_string())?;
    }
    Ok(started.elapsed())
}

async fn run_level(
    client: &reqwest::Client,
    url: &str,
    body: &Arc<String>,
    requests: usize,
    concurrency: usize,
) -> (Latencies, f64, usize) {
    let started = Instant::now();
    let per_worker = requests.div_ceil(concurrency);
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let client = client.clone();
        let url = url.to_string();
        let body = body.clone();
        workers.push(tokio::spawn(async move {
            let mut samples = Vec::with_capacity(per_worker);
            let mut errors = 0;
            for _ in 0..per_worker {
                match one(&client, &url, &body).await {
                    Ok(d) => samples.push(d),
                    Err(_) => errors += 1,
                }
            }
            (samples, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for worker in workers {
        if let Ok((samples, e)) = worker.await {
            all.extend(samples);
            errors += e;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let throughput = all.len() as f64 / elapsed;
    (Latencies::new(all), throughput, errors)
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// One path's line of the report table.
fn print_row(concurrency: usize, path: &str, latencies: &Latencies, throughput: f64, errors: usize) {
    println!(
        "| {concurrency} | {path} | {:.0} µs | {:.0} µs | {throughput:.0} req/s | {errors} |",
        us(latencies.percentile(50.0)),
        us(latencies.percentile(99.0))
    );
}

/// What `through` adds over `direct`, percentile by percentile.
fn print_added(concurrency: usize, label: &str, through: &Latencies, direct: &Latencies) {
    println!(
        "| {concurrency} | {label} | {:.0} µs | {:.0} µs | | |",
        us(through.percentile(50.0)) - us(direct.percentile(50.0)),
        us(through.percentile(99.0)) - us(direct.percentile(99.0))
    );
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let args = Args::parse();
    let mock_port = free_port().map_err(|e| e.to_string())?;
    let gateway_port = free_port().map_err(|e| e.to_string())?;
    let mock_url = format!("http://127.0.0.1:{mock_port}");
    let gateway_url = format!("http://127.0.0.1:{gateway_port}");
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let config_path = dir.path().join("gateway.toml");
    let (_nats, audit) = if args.audit_nats {
        let (nats, url) = start_nats(dir.path()).await?;
        (Some(nats), format!("nats_url = \"{url}\"\nspool_dir = {:?}\n", dir.path().join("spool")))
    } else {
        (None, format!("jsonl_path = {:?}\n", dir.path().join("audit.jsonl")))
    };
    println!("audit: {}", if args.audit_nats { "JetStream (nats-server on loopback)" } else { "JSONL file" });
    println!("gateway to mock: upstream.http_version = {}", args.upstream_http_version);
    let config = gateway_config(&mock_url, &args.upstream_http_version, gateway_port, &audit);
    std::fs::write(&config_path, config).map_err(|e| e.to_string())?;

    let _mock = Service::spawn(
        "mock-upstream",
        Command::new(release_binary("mock-upstream")).args(["--listen", &format!("127.0.0.1:{mock_port}")]),
    )
    .map_err(|e| format!("mock-upstream: {e} (run benches/run-proxy-bench.sh)"))?;
    let mut gateway_command = Command::new(release_binary("gateway"));
    gateway_command.arg("--config").arg(&config_path);
    if let Some(threads) = args.gateway_worker_threads {
        println!("gateway: TOKIO_WORKER_THREADS={threads}");
        gateway_command.env("TOKIO_WORKER_THREADS", threads.to_string());
    }
    let gateway = Service::spawn("gateway", &mut gateway_command)
        .map_err(|e| format!("gateway: {e} (run benches/run-proxy-bench.sh)"))?;
    if !wait_ready(&format!("{mock_url}/v1/models"), Duration::from_secs(10)).await
        || !wait_ready(&format!("{gateway_url}/health"), Duration::from_secs(10)).await
    {
        return Err("services did not become ready".into());
    }
    let bare = if args.bare {
        Some(start_bare(&mock_url, &args.upstream_http_version, args.gateway_worker_threads).await?)
    } else {
        None
    };

    let nginx = if args.nginx { Some(start_nginx(&mock_url, dir.path()).await?) } else { None };

    let body = Arc::new(claude_code_sized_body(true));
    println!("request body: {} bytes, streaming response", body.len());
    let client =
        reqwest::Client::builder().pool_max_idle_per_host(1024).tcp_nodelay(true).build().map_err(|e| e.to_string())?;
    let direct = format!("{mock_url}/v1/messages");
    let proxied = format!("{gateway_url}/v1/messages");
    // Warm both paths (connection pools, page cache).
    run_level(&client, &direct, &body, 200, 4).await;
    run_level(&client, &proxied, &body, 200, 4).await;
    for (_, url) in bare.iter().chain(&nginx) {
        run_level(&client, url, &body, 200, 4).await;
    }

    println!("| concurrency | path | p50 | p99 | throughput | errors |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for &concurrency in &args.concurrency {
        let (d, d_rps, d_err) = run_level(&client, &direct, &body, args.requests, concurrency).await;
        let (g, g_rps, g_err) = run_level(&client, &proxied, &body, args.requests, concurrency).await;
        print_row(concurrency, "direct", &d, d_rps, d_err);
        print_row(concurrency, "gateway", &g, g_rps, g_err);
        print_added(concurrency, "**added**", &g, &d);
        if let Some((_, bare_url)) = &bare {
            let (b, b_rps, b_err) = run_level(&client, bare_url, &body, args.requests, concurrency).await;
            print_row(concurrency, "bare proxy", &b, b_rps, b_err);
            print_added(concurrency, "added by bare proxy", &b, &d);
        }
        if let Some((_, nginx_url)) = &nginx {
            let (n, n_rps, n_err) = run_level(&client, nginx_url, &body, args.requests, concurrency).await;
            print_row(concurrency, "nginx", &n, n_rps, n_err);
            print_added(concurrency, "added by nginx", &n, &d);
        }
    }

    if args.streams > 0 {
        // Small prompts: this measures what an open stream costs the gateway, not the
        // transient memory of 1,000 large bodies arriving in the same instant.
        let slow = Arc::new(
            serde_json::json!({"model": "claude-sonnet-4-5", "max_tokens": 1024, "stream": true,
                "messages": [{"role": "user", "content": "[[mock:words=60]] Tell me a story."}]})
            .to_string(),
        );
        let (rss_before, _) = rss_kib(gateway.pid()).unwrap_or((0, 0));
        let mut tasks = Vec::new();
        let stream_client = reqwest::Client::builder().pool_max_idle_per_host(0).build().map_err(|e| e.to_string())?;
        let started = Instant::now();
        for _ in 0..args.streams {
            let client = stream_client.clone();
            let url = proxied.clone();
            let body = slow.clone();
            tasks.push(tokio::spawn(async move {
                let response = client
                    .post(&url)
                    .header("x-api-key", "sk-ant-bench")
                    .header("x-portcullis-key", GATEWAY_KEY)
                    .header("x-mock-chunk-delay-ms", "100")
                    .body(body.to_string())
                    .send()
                    .await;
                let Ok(response) = response else { return false };
                let mut stream = response.bytes_stream();
                while let Some(chunk) = stream.next().await {
                    if chunk.is_err() {
                        return false;
                    }
                }
                true
            }));
        }
        let mut peak = 0;
        while !tasks.iter().all(|t| t.is_finished()) {
            if let Some((rss, _)) = rss_kib(gateway.pid()) {
                peak = peak.max(rss);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut ok = 0;
        for task in tasks {
            if matches!(task.await, Ok(true)) {
                ok += 1;
            }
        }
        let (_, hwm) = rss_kib(gateway.pid()).unwrap_or((0, 0));
        println!(
            "\n{} concurrent streams ({ok} completed in {:.1} s): gateway RSS before {:.1} MB, peak sampled {:.1} MB, VmHWM {:.1} MB",
            args.streams,
            started.elapsed().as_secs_f64(),
            rss_before as f64 / 1024.0,
            peak as f64 / 1024.0,
            hwm as f64 / 1024.0
        );
    }
    Ok(())
}
