//! Where the gateway's per-request time goes on the ~75 KB Claude-Code-sized body:
//! JSON parse, segment extraction, scan (cold and with the incremental cache) and
//! policy evaluation, each timed separately over many iterations.

use std::time::Instant;

use portcullis_benches::claude_code_sized_body;
use portcullis_detection::{Policy, PolicyConfig, PolicyInput, Scanner, extract_segments, request_facts};

fn time<T>(label: &str, iterations: u32, mut f: impl FnMut() -> T) {
    let started = Instant::now();
    for _ in 0..iterations {
        std::hint::black_box(f());
    }
    println!("{label:<28} {:>9.1} µs", started.elapsed().as_secs_f64() * 1e6 / f64::from(iterations));
}

fn main() -> Result<(), String> {
    let body = claude_code_sized_body(true);
    println!("body: {} bytes", body.len());
    let scanner = Scanner::new().map_err(|e| e.to_string())?;
    let policy = Policy::compile(&PolicyConfig::default(), std::path::Path::new(".")).map_err(|e| e.to_string())?;
    let value: serde_json::Value = serde_json::from_str(&body).map_err(|e| e.to_string())?;
    let segments = extract_segments(&value);
    let findings = scanner.scan("t", &segments);
    let input = PolicyInput::from_facts(&request_facts(&value));
    time("parse JSON", 200, || serde_json::from_str::<serde_json::Value>(&body).map_err(|e| e.to_string()));
    time("extract segments", 200, || extract_segments(&value));
    time("scan (uncached)", 50, || scanner.scan_uncached(&segments));
    time("scan (cached, same tenant)", 200, || scanner.scan("t", &segments));
    time("policy evaluate", 2000, || policy.evaluate(&input, &findings).map(|v| v.reasons.len()));
    Ok(())
}
