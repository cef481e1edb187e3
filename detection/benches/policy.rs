//! Policy evaluation latency (templates + the seed Rego rule + a findings rule), with a
//! percentile printout (p50/p99) from 100k sequential evaluations.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::Criterion;
use portcullis_detection::{
    BatchRequest, Category, Finding, Policy, PolicyConfig, PolicyInput, RequestFacts, SegmentRef, SourceKind, Transform,
};

const REGO: &str = r#"package behavry.authz
deny if {
  input.mcp_server == "anthropic-proxy"
  not startswith(input.model, "claude-3-")
  not startswith(input.model, "claude-opus")
}
"#;

const REGO_FINDINGS: &str = r#"package portcullis.custom
deny contains msg if {
  some f in input.findings
  f.category == "secret"
  f.source == "tool_result"
  msg := sprintf("secret %s in tool output", [f.id])
}
alert if { input.max_tokens > 100000 }
"#;

fn findings() -> Vec<Finding> {
    let mk = |id, category, confidence, source| Finding {
        detector_id: id,
        category,
        confidence,
        segment: SegmentRef {
            source,
            role: Some("user".into()),
            message_index: Some(3),
            block_index: Some(0),
            nested_index: None,
            request_index: None,
        },
        span: 10..30,
        redacted: "[REDACTED 20 bytes]".into(),
        transform: Transform::None,
    };
    vec![
        mk("pii.email", Category::Pii, 0.8, SourceKind::UserText),
        mk("pii.ipv4", Category::Pii, 0.4, SourceKind::ToolResult),
        mk("injection.hidden_instruction", Category::PromptInjection, 0.55, SourceKind::UserText),
    ]
}

fn input() -> PolicyInput {
    PolicyInput {
        tenant: "tenant-a".into(),
        project: "default".into(),
        path: "/v1/messages".into(),
        method: "POST".into(),
        model: Some("claude-opus-4-1".into()),
        has_system_prompt: true,
        max_tokens: Some(64000),
        stream: true,
        tool_names: (0..25).map(|i| format!("Tool{i}")).collect(),
        session_id: Some("0199a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b".into()),
        headers: [
            ("anthropic-version", "2023-06-01"),
            ("user-agent", "claude-cli/2.1.0 (external, sdk-cli)"),
            ("x-app", "cli"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect(),
        findings_omitted: 0,
        batch_index: None,
        custom_id: None,
    }
}

fn percentiles(name: &str, policy: &Policy, input: &PolicyInput, findings: &[Finding]) {
    let mut times = Vec::with_capacity(100_000);
    for _ in 0..100_000 {
        let start = Instant::now();
        let v = policy.evaluate(input, findings);
        times.push(start.elapsed());
        black_box(v.ok());
    }
    times.sort();
    let p = |q: f64| times[((times.len() as f64 - 1.0) * q) as usize].as_secs_f64() * 1e6;
    eprintln!("{name}: p50 {:.1} us, p99 {:.1} us, p99.9 {:.1} us, max {:.1} us", p(0.5), p(0.99), p(0.999), p(1.0));
}

fn main() {
    let templates_only = Policy::compile(&PolicyConfig::default(), Path::new(".")).expect("policy");
    let seed = Policy::compile(&PolicyConfig { rego: Some(REGO.into()), ..Default::default() }, Path::new("."))
        .expect("policy");
    let dir = std::env::temp_dir().join(format!("portcullis-bench-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(dir.join("findings.rego"), REGO_FINDINGS);
    let both = Policy::compile(
        &PolicyConfig { rego: Some(REGO.into()), rego_files: vec!["findings.rego".into()], ..Default::default() },
        &dir,
    )
    .expect("policy");
    let (i, f) = (input(), findings());
    percentiles("templates only", &templates_only, &i, &f);
    percentiles("seed rego", &seed, &i, &f);
    percentiles("seed + findings rego", &both, &i, &f);

    let mut c = Criterion::default()
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .configure_from_args();
    let mut g = c.benchmark_group("policy_evaluate");
    g.bench_function("templates_only", |b| b.iter(|| templates_only.evaluate(black_box(&i), black_box(&f))));
    g.bench_function("seed_rego", |b| b.iter(|| seed.evaluate(black_box(&i), black_box(&f))));
    g.bench_function("seed_and_findings_rego", |b| b.iter(|| both.evaluate(black_box(&i), black_box(&f))));
    g.finish();
    // A Message Batches body: every request judged on its own (1,000 requests, the
    // findings spread over them); per request, the cost of one evaluation.
    let requests: Vec<BatchRequest> = (0..1000)
        .map(|r| BatchRequest {
            custom_id: Some(format!("request-{r}")),
            facts: RequestFacts { model: i.model.clone(), max_tokens: i.max_tokens, ..Default::default() },
        })
        .collect();
    let spread: Vec<Finding> = f
        .iter()
        .enumerate()
        .map(|(n, finding)| {
            let mut finding = finding.clone();
            finding.segment.request_index = Some(n * 97 % 1000);
            finding
        })
        .collect();
    let mut g = c.benchmark_group("policy_evaluate_batch_1000");
    g.bench_function("templates_only", |b| {
        b.iter(|| templates_only.evaluate_batch(black_box(&i), black_box(&requests), black_box(&spread)))
    });
    g.bench_function("seed_rego", |b| {
        b.iter(|| seed.evaluate_batch(black_box(&i), black_box(&requests), black_box(&spread)))
    });
    g.finish();
    c.final_summary();
    let _ = std::fs::remove_dir_all(&dir);
}
