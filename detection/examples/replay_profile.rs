//! Development aid: the cached scan of one turn of the benchmark's conversation replay
//! (turns 1 to `turn` scanned first, then turn `turn` again in a loop), for `valgrind
//! --tool=callgrind` or a quick timing of the per-turn cost once every segment is cached.
//! `cargo run --release --example replay_profile -- [iterations] [turn]`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../benches/common/mod.rs"]
mod common;

fn main() {
    let mut args = std::env::args().skip(1);
    let iterations: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let turn: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100);
    let scanner = portcullis_detection::Scanner::new().expect("scanner");
    for t in 1..=turn {
        scanner.scan("replay", &common::segments_of(&common::claude_code_body(t)));
    }
    let segs = common::segments_of(&common::claude_code_body(turn));
    let bytes: usize = segs.iter().map(|s| s.text.len()).sum();
    let start = std::time::Instant::now();
    for _ in 0..iterations {
        std::hint::black_box(scanner.scan("replay", std::hint::black_box(&segs)));
    }
    let per = start.elapsed() / iterations.max(1) as u32;
    println!("turn {turn}: {} segments, {bytes} text bytes, cached scan {per:?}", segs.len());
}
