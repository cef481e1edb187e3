//! Development aid: time each pattern of the set on a text file (or a built-in sample).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
fn main() {
    let text = std::env::args()
        .nth(1)
        .and_then(|p| std::fs::read_to_string(p).ok())
        .unwrap_or_else(|| include_str!("../src/scanner.rs").repeat(4));
    let scanner = portcullis_detection::Scanner::new().expect("scanner");
    let segs = vec![portcullis_detection::Segment {
        origin: portcullis_detection::SegmentRef {
            source: portcullis_detection::SourceKind::ToolResult,
            role: None,
            message_index: None,
            block_index: None,
            nested_index: None,
            request_index: None,
        },
        text: text.clone(),
    }];
    for _ in 0..3 {
        let t = std::time::Instant::now();
        for _ in 0..20 {
            std::hint::black_box(scanner.scan_uncached(&segs));
        }
        let e = t.elapsed() / 20;
        println!("full scan: {:?} for {} bytes = {:.0} MB/s", e, text.len(), text.len() as f64 / e.as_secs_f64() / 1e6);
    }
    portcullis_detection::profile_patterns(&segs, 10);
}
