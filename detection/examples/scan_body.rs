//! Development aid: the findings on a request body read from a file, per detector and kind
//! of text — how the false-positive rate of a detector is measured on real traffic that
//! cannot be committed (captured Claude Code bodies, a team's MCP tool definitions).
//! `cargo run --release --example scan_body -- BODY.json [--show]`; `--show` prints each
//! match with some context, so keep its output as private as the body.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("usage: scan_body BODY.json [--show]");
    let show = args.next().as_deref() == Some("--show");
    let body = std::fs::read(&path).expect("read the body");
    let inspected = portcullis_detection::inspect_body(&body).expect("a Messages body");
    let scanner = portcullis_detection::Scanner::new().expect("scanner");
    let findings = scanner.scan_uncached(&inspected.segments);
    let mut texts: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for segment in &inspected.segments {
        let entry = texts.entry(segment.origin.source.as_str()).or_default();
        entry.0 += 1;
        entry.1 += segment.text.len();
    }
    for (kind, (count, bytes)) in &texts {
        println!("{kind}: {count} segments, {bytes} bytes");
    }
    let mut per_detector: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for f in &findings {
        *per_detector.entry((f.detector_id, f.segment.source.as_str())).or_default() += 1;
        if show {
            let segment = inspected.segments.iter().find(|s| s.origin == f.segment).expect("its segment");
            let text = &segment.text;
            let mut start = f.span.start.saturating_sub(60);
            while !text.is_char_boundary(start) {
                start -= 1;
            }
            let mut end = (f.span.end + 60).min(text.len());
            while !text.is_char_boundary(end) {
                end += 1;
            }
            println!("  {} in {:?}: …{}…", f.detector_id, f.segment, &text[start..end].replace('\n', " "));
        }
    }
    println!("{} findings", findings.len());
    for ((detector, kind), count) in per_detector {
        println!("  {detector} in {kind}: {count}");
    }
}
