//! Development aid: scans the benchmark's ~85 KB Claude-Code-shaped body (or a 1 MB
//! adversarial input) uncached in a loop, for `valgrind --tool=callgrind` or a quick
//! timing. `cargo run --release --example scan_profile -- [iterations] [adversarial-name]`;
//! `SPLIT=500` cuts every segment into 500-byte ones (an input of many short segments);
//! `AS_EXTENSION=1` scans an adversarial input as MCP server instructions in a user turn.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../benches/common/mod.rs"]
mod common;

fn main() {
    let mut args = std::env::args().skip(1);
    let iterations: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(200);
    let scanner = portcullis_detection::Scanner::new().expect("scanner");
    let segs = match args.next() {
        Some(name) => {
            let (_, text) =
                common::adversarial().into_iter().find(|(n, _)| *n == name).expect("adversarial input name");
            let mut segs = common::segment(text);
            // AS_EXTENSION=1: the input as the MCP servers' instructions in a user turn, so it
            // is scanned as user text and again as a tool definition (the worst case).
            if std::env::var_os("AS_EXTENSION").is_some() {
                for seg in &mut segs {
                    seg.origin.source = portcullis_detection::SourceKind::UserText;
                    seg.text =
                        format!("<system-reminder>\n# MCP Server Instructions\n{}\n</system-reminder>", seg.text);
                }
            }
            segs
        }
        None => common::segments_of(&common::claude_code_body(12)),
    };
    // SPLIT=n: cut the text into segments of at most n bytes (many short segments).
    let segs = match std::env::var("SPLIT").ok().and_then(|n| n.parse::<usize>().ok()) {
        Some(n) => segs.iter().flat_map(|s| split(s, n.max(4))).collect(),
        None => segs,
    };
    // ONLY=small (segments under 512 bytes), large (the others) or a kind (`ToolResult`): profile just those.
    let segs: Vec<_> = match std::env::var("ONLY") {
        Ok(only) => segs
            .into_iter()
            .filter(|s| {
                if only == "small" {
                    s.text.len() < 512
                } else if only == "large" {
                    s.text.len() >= 512
                } else {
                    format!("{:?}", s.origin.source) == only && s.text.len() >= 512
                }
            })
            .collect(),
        Err(_) => segs,
    };
    if let Ok(path) = std::env::var("DUMP_TEXT") {
        let joined: Vec<&str> = segs.iter().map(|s| s.text.as_str()).collect();
        std::fs::write(path, joined.join("\n")).expect("dump");
    }
    let bytes: usize = segs.iter().map(|s| s.text.len()).sum();
    let findings = scanner.scan_uncached(&segs);
    let start = std::time::Instant::now();
    let cpu = portcullis_detection::thread_cpu_time();
    for _ in 0..iterations {
        std::hint::black_box(scanner.scan_uncached(std::hint::black_box(&segs)));
    }
    let per = start.elapsed() / iterations.max(1) as u32;
    let per_cpu = portcullis_detection::thread_cpu_time().saturating_sub(cpu) / iterations.max(1) as u32;
    if let Some(rounds) = std::env::var("PROFILE").ok().and_then(|r| r.parse().ok()) {
        portcullis_detection::profile_patterns(&segs, rounds);
    }
    if std::env::var_os("PER_SEGMENT").is_some() {
        per_segment(&scanner, &segs, iterations);
    }
    println!(
        "{} segments, {bytes} text bytes, {} findings: {per:?} wall / {per_cpu:?} on-CPU per scan ({:.0} MB/s of text on-CPU)",
        segs.len(),
        findings.len(),
        bytes as f64 / per_cpu.as_secs_f64() / 1e6
    );
}

/// `seg` cut into pieces of at most `n` bytes (at character boundaries).
fn split(seg: &portcullis_detection::Segment, n: usize) -> Vec<portcullis_detection::Segment> {
    let mut out = Vec::new();
    let mut rest = seg.text.as_str();
    while !rest.is_empty() {
        let mut end = n.min(rest.len());
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        out.push(portcullis_detection::Segment { origin: seg.origin.clone(), text: rest[..end].to_owned() });
        rest = &rest[end..];
    }
    out
}

/// Time per segment (kind, length): shows the fixed cost of a small segment against the
/// per-byte cost of a large one.
fn per_segment(scanner: &portcullis_detection::Scanner, segs: &[portcullis_detection::Segment], iterations: usize) {
    let mut small = (0usize, 0usize, std::time::Duration::ZERO);
    for seg in segs {
        let one = std::slice::from_ref(seg);
        let start = std::time::Instant::now();
        for _ in 0..iterations {
            std::hint::black_box(scanner.scan_uncached(std::hint::black_box(one)));
        }
        let per = start.elapsed() / iterations.max(1) as u32;
        if seg.text.len() < 512 {
            small = (small.0 + 1, small.1 + seg.text.len(), small.2 + per);
        } else {
            println!("{:>16} {:>7} bytes {per:>10?}", format!("{:?}", seg.origin.source), seg.text.len());
        }
    }
    println!("{} segments under 512 bytes ({} bytes in all): {:?} together", small.0, small.1, small.2);
}
