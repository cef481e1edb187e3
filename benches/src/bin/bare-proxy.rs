//! The floor instrument for `proxy-load --bare`: the gateway's HTTP stack with none of the
//! gateway's work. axum serves, reqwest forwards (same client settings as the gateway's
//! upstream lanes: `tcp_nodelay`, HTTP/2 with prior knowledge when asked), the response
//! streams back as it arrives, the chunks that are ready at once joined into one write as
//! the gateway's relay does. No auth, inspection, policy, audit or header rules.
//!
//! What it measures: how much of the gateway's added latency is the proxy hop itself
//! (two more loopback transfers of the body, hyper on both sides, tokio scheduling) on
//! the host at hand, so the remainder is what the gateway's own work costs. It is not a
//! product and forwards anything it is sent.
//!
//! `bare-proxy --listen 127.0.0.1:PORT --upstream http://127.0.0.1:PORT [--http2]`

use std::net::SocketAddr;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::serve::ListenerExt;
use clap::Parser;
use futures_util::StreamExt;
use http_body_util::BodyExt;

#[derive(Parser)]
struct Args {
    #[arg(long)]
    listen: SocketAddr,
    #[arg(long)]
    upstream: String,
    /// Speak HTTP/2 to the upstream with prior knowledge (as `upstream.http_version = "http2"`).
    #[arg(long)]
    http2: bool,
}

#[derive(Clone)]
struct Forward {
    client: reqwest::Client,
    upstream: String,
}

async fn forward(State(to): State<Forward>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body: Bytes = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut headers = parts.headers;
    headers.remove(header::HOST);
    headers.remove(header::CONTENT_LENGTH);
    let sent =
        to.client.request(parts.method, format!("{}{path}", to.upstream)).headers(headers).body(body).send().await;
    match sent {
        Ok(upstream) => {
            let mut response = Response::builder().status(upstream.status());
            if let Some(headers) = response.headers_mut() {
                headers.extend(upstream.headers().iter().map(|(k, v)| (k.clone(), v.clone())));
                headers.remove(header::CONTENT_LENGTH);
                headers.remove(header::TRANSFER_ENCODING);
            }
            let stream = upstream.bytes_stream().ready_chunks(64).map(|chunks| match <[_; 1]>::try_from(chunks) {
                Ok([one]) => one.map_err(std::io::Error::other),
                Err(chunks) => {
                    let mut joined = bytes::BytesMut::new();
                    for chunk in chunks {
                        joined.extend_from_slice(&chunk.map_err(std::io::Error::other)?);
                    }
                    Ok(joined.freeze())
                }
            });
            response
                .body(Body::from_stream(stream))
                .unwrap_or_else(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response())
        }
        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let args = Args::parse();
    let mut builder = reqwest::Client::builder().tcp_nodelay(true);
    if args.http2 {
        builder = builder.http2_prior_knowledge();
    }
    let client = builder.build().map_err(|e| e.to_string())?;
    let state = Forward { client, upstream: args.upstream.trim_end_matches('/').to_string() };
    let router = axum::Router::new().fallback(forward).with_state(state);
    // Nagle off on accepted sockets, as the gateway does.
    let listener = tokio::net::TcpListener::bind(args.listen).await.map_err(|e| e.to_string())?.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, router).await.map_err(|e| e.to_string())
}
