//! Scan throughput: an ~85 KB Claude-Code-shaped request (uncached and cached), 1 MB
//! adversarial inputs, and a 100-turn conversation replayed turn by turn with the cache
//! (per-turn times printed).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use portcullis_detection::{Scanner, inspect_body};
use serde_json::Value;

mod common;
use common::{adversarial, claude_code_body, segment, segments_of};

fn bench(c: &mut Criterion) {
    let scanner = Scanner::new().expect("scanner");
    let body = claude_code_body(12);
    let body_bytes = serde_json::to_vec(&body).expect("json").len();
    let segs = segments_of(&body);
    let seg_bytes: usize = segs.iter().map(|s| s.text.len()).sum();
    eprintln!("claude-code body: {body_bytes} bytes, {} segments, {seg_bytes} scanned text bytes", segs.len());

    let mut g = c.benchmark_group("claude_code_body");
    g.throughput(Throughput::Bytes(body_bytes as u64));
    g.bench_function("scan_uncached", |b| b.iter(|| scanner.scan_uncached(black_box(&segs))));
    scanner.scan("bench", &segs);
    g.bench_function("scan_cached", |b| b.iter(|| scanner.scan("bench", black_box(&segs))));
    let raw = serde_json::to_vec(&body).expect("json");
    // What the gateway runs per request: segments and facts read from the bytes.
    g.bench_function("inspect_body_and_scan_uncached", |b| {
        b.iter(|| scanner.scan_uncached(&inspect_body(black_box(&raw)).expect("body").segments))
    });
    g.bench_function("inspect_body_only", |b| b.iter(|| inspect_body(black_box(&raw))));
    // The `Value` path it replaced, for comparison.
    g.bench_function("parse_json_only", |b| b.iter(|| serde_json::from_slice::<Value>(black_box(&raw))));
    g.finish();

    let mut g = c.benchmark_group("adversarial_1mb");
    g.sample_size(10);
    for (name, text) in adversarial() {
        let segs = segment(text);
        g.throughput(Throughput::Bytes(segs[0].text.len() as u64));
        g.bench_function(name, |b| b.iter(|| scanner.scan_uncached(black_box(&segs))));
    }
    g.finish();
}

/// Replays a 100-turn conversation: each request resends all earlier turns plus one new
/// round trip. Prints the per-turn scan time with the cache and without it.
fn replay() {
    let scanner = Scanner::new().expect("scanner");
    let mut lines = Vec::new();
    let mut cached_total = Duration::ZERO;
    for t in 1..=100 {
        let body = claude_code_body(t);
        let segs = segments_of(&body);
        let bytes: usize = segs.iter().map(|s| s.text.len()).sum();
        let start = Instant::now();
        let f = scanner.scan("replay", &segs);
        let cached = start.elapsed();
        cached_total += cached;
        let start = Instant::now();
        let g = scanner.scan_uncached(&segs);
        let uncached = start.elapsed();
        assert_eq!(f.len(), g.len());
        if t == 1 || t % 10 == 0 {
            lines.push(format!(
                "turn {t:3}: {bytes:8} text bytes, cached {:8.1} us, uncached {:8.1} us",
                cached.as_secs_f64() * 1e6,
                uncached.as_secs_f64() * 1e6
            ));
        }
    }
    eprintln!(
        "100-turn replay (per-turn scan time):\n{}\ncached total {:.1} ms",
        lines.join("\n"),
        cached_total.as_secs_f64() * 1e3
    );
}

fn main() {
    replay();
    let mut c = Criterion::default()
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .configure_from_args();
    bench(&mut c);
    c.final_summary();
}
