//! Where the gateway's per-request time goes on the ~75 KB Claude-Code-sized body:
//! reading segments and facts from the bytes (`inspect_body`; a full `serde_json::Value`
//! parse beside it, which the gateway ran before), scan (cold and with the incremental
//! cache) and policy evaluation, each timed separately over many iterations.

use std::time::Instant;

use portcullis_benches::claude_code_sized_body;
use portcullis_detection::{Policy, PolicyConfig, PolicyInput, Scanner, inspect_body};

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
    let inspected = inspect_body(body.as_bytes()).map_err(|e| e.to_string())?;
    let segments = inspected.segments;
    let findings = scanner.scan("t", &segments);
    let input = PolicyInput::from_facts(&inspected.facts);
    time("inspect_body (gateway)", 200, || inspect_body(body.as_bytes()).map_err(|e| e.to_string()));
    time("parse JSON Value (before)", 200, || {
        serde_json::from_str::<serde_json::Value>(&body).map_err(|e| e.to_string())
    });
    time("scan (uncached)", 50, || scanner.scan_uncached(&segments));
    time("scan (cached, same tenant)", 200, || scanner.scan("t", &segments));
    time("policy evaluate", 2000, || policy.evaluate(&input, &findings).map(|v| v.reasons.len()));
    Ok(())
}
