//! Development aid: reads the benchmark's ~85 KB Claude-Code-shaped body with
//! `inspect_body` in a loop, for `valgrind --tool=callgrind` or a quick timing.
//! `cargo run --release --example inspect_profile -- [iterations]`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../benches/common/mod.rs"]
mod common;

fn main() {
    let iterations: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(2000);
    let raw = serde_json::to_vec(&common::claude_code_body(12)).expect("json");
    let segments = portcullis_detection::inspect_body(&raw).expect("body").segments.len();
    let start = std::time::Instant::now();
    for _ in 0..iterations {
        std::hint::black_box(
            portcullis_detection::inspect_body(std::hint::black_box(&raw)).map(|b| b.segments.len()).ok(),
        );
    }
    let per = start.elapsed() / iterations.max(1) as u32;
    let gbs = raw.len() as f64 / per.as_secs_f64() / 1e9;
    println!("{} bytes, {segments} segments: {per:?} per read ({gbs:.2} GB/s)", raw.len());
}
