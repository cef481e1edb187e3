//! Candle side of `benches/ml/run.sh`: forward-pass latency of the default
//! model at fixed window lengths, batched throughput, and the worker's
//! windowed `score` path. Threads come from `RAYON_NUM_THREADS` (Candle's
//! matmul pool). Prints one JSON object per measurement on stdout.
//!
//! Inputs are the same deterministic token ids `torch_bench.py` builds:
//! `[CLS] (1000 + (7 * i) % 20000)... [SEP]`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::time::Instant;

use detector_worker::Classifier;

fn window(len: usize, offset: usize) -> Vec<u32> {
    let mut ids = vec![101u32];
    ids.extend((0..len - 2).map(|i| 1000 + ((7 * (i + offset)) % 20000) as u32));
    ids.push(102);
    ids
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

fn time_ms(runs: usize, mut f: impl FnMut()) -> Vec<f64> {
    f(); // warm-up
    let mut samples: Vec<f64> = (0..runs)
        .map(|_| {
            let started = Instant::now();
            f();
            started.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples
}

fn main() {
    let dir = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models/default"));
    let threads = std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "default".into());
    let classifier = Classifier::load(&dir).unwrap();

    for len in [64usize, 128, 256, 512] {
        let ids = vec![window(len, 0)];
        let runs = if len >= 256 { 30 } else { 60 };
        let s = time_ms(runs, || {
            classifier.logits(&ids).unwrap();
        });
        println!(
            "{{\"engine\":\"candle\",\"kind\":\"latency\",\"threads\":\"{threads}\",\"tokens\":{len},\"p50_ms\":{:.3},\"p90_ms\":{:.3}}}",
            percentile(&s, 0.5),
            percentile(&s, 0.9)
        );
    }
    for (batch, len) in [(1usize, 64usize), (8, 64), (32, 64), (8, 128), (32, 128)] {
        let ids: Vec<Vec<u32>> = (0..batch).map(|b| window(len, b)).collect();
        let s = time_ms(10, || {
            classifier.logits(&ids).unwrap();
        });
        let p50 = percentile(&s, 0.5);
        println!(
            "{{\"engine\":\"candle\",\"kind\":\"throughput\",\"threads\":\"{threads}\",\"batch\":{batch},\"tokens\":{len},\"p50_ms\":{p50:.3},\"segments_per_s\":{:.1}}}",
            batch as f64 * 1000.0 / p50
        );
    }
    // The worker's path for one segment of N tokens: tokenization, 128-token
    // windows with overlap 32, one padded batch, max over windows.
    let word_text = |n: usize| "alpha ".repeat(n - 2);
    for len in [64usize, 256, 512] {
        let text = word_text(len);
        let s = time_ms(20, || {
            classifier.score(&[text.as_str()]).unwrap();
        });
        println!(
            "{{\"engine\":\"candle\",\"kind\":\"score_windowed\",\"threads\":\"{threads}\",\"tokens\":{len},\"p50_ms\":{:.3},\"p90_ms\":{:.3}}}",
            percentile(&s, 0.5),
            percentile(&s, 0.9)
        );
    }
}
