#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Policy: templates, levels, overrides, actions, Rego (seed example, message sets, alert),
//! invalid Rego, hot reload keeping the previous policy.

use std::path::Path;
use std::time::Duration;

use portcullis_detection::{
    CacheLimits, CacheWeight, Category, Decision, Finding, ML_INJECTION_ID, Policy, PolicyConfig, PolicyHandle,
    PolicyInput, SegmentCache, SegmentRef, SourceKind, Transform, spawn_rego_watcher,
};

const SEED: &str = r#"package behavry.authz
deny if {
  input.mcp_server == "anthropic-proxy"
  not startswith(input.model, "claude-3-")
  not startswith(input.model, "claude-opus")
}
"#;

fn finding(id: &'static str, category: Category, confidence: f32) -> Finding {
    Finding {
        detector_id: id,
        category,
        confidence,
        segment: SegmentRef {
            source: SourceKind::UserText,
            role: Some("user".into()),
            message_index: Some(0),
            block_index: None,
            nested_index: None,
            request_index: None,
        },
        span: 0..4,
        redacted: "[REDACTED 4 bytes]".into(),
        transform: Transform::None,
    }
}

fn cfg(toml_like_json: &str) -> PolicyConfig {
    serde_json::from_str(toml_like_json).unwrap()
}

fn input(model: &str) -> PolicyInput {
    PolicyInput {
        tenant: "t".into(),
        project: "p".into(),
        path: "/v1/messages".into(),
        method: "POST".into(),
        model: Some(model.into()),
        ..Default::default()
    }
}

fn decide(c: &PolicyConfig, findings: &[Finding]) -> Decision {
    Policy::compile(c, Path::new(".")).unwrap().evaluate(&input("claude-opus-4-1"), findings).unwrap().decision
}

#[test]
fn templates_and_levels() {
    let injection_08 = [finding("injection.fake_turn", Category::PromptInjection, 0.8)];
    let injection_06 = [finding("injection.html_comment_instruction", Category::PromptInjection, 0.6)];
    let pii = [finding("pii.email", Category::Pii, 0.8)];
    let secret_095 = [finding("secret.aws_access_key", Category::Secret, 0.95)];
    let balanced = PolicyConfig::default();
    let strict = cfg(r#"{"template":"strict"}"#);
    let permissive = cfg(r#"{"template":"permissive"}"#);
    assert_eq!(decide(&balanced, &injection_08), Decision::Block);
    assert_eq!(decide(&balanced, &injection_06), Decision::Allow); // below L2
    assert_eq!(decide(&strict, &injection_06), Decision::Block); // L4 acts on all
    assert_eq!(decide(&balanced, &pii), Decision::Alert);
    assert_eq!(decide(&strict, &pii), Decision::Alert);
    assert_eq!(decide(&permissive, &injection_08), Decision::Allow); // below L1
    assert_eq!(decide(&permissive, &secret_095), Decision::Alert); // alert only
    assert_eq!(decide(&balanced, &[]), Decision::Allow);
}

#[test]
fn overrides_detector_beats_category_beats_template() {
    let f = [finding("pii.email", Category::Pii, 0.8), finding("secret.jwt", Category::Secret, 0.9)];
    let c =
        cfg(r#"{"detectors":{"pii":{"action":"block"},"pii.email":{"action":"log"},"secret.jwt":{"enabled":false}}}"#);
    let p = Policy::compile(&c, Path::new(".")).unwrap();
    let v = p.evaluate(&input("claude-opus-4"), &f).unwrap();
    assert_eq!(v.decision, Decision::Allow);
    assert_eq!(v.risk_categories, vec![Category::Pii]); // disabled secret.jwt not counted
    assert!((v.risk_confidence - 0.8).abs() < 1e-6);
    let c = cfg(r#"{"detectors":{"pii":{"action":"block","level":"L1"}}}"#);
    assert_eq!(decide(&c, &f[..1]), Decision::Allow); // 0.8 < L1 0.9
    let c = cfg(r#"{"detectors":{"pii":{"action":"block","level":"L3"}}}"#);
    let v = Policy::compile(&c, Path::new(".")).unwrap().evaluate(&input("claude-opus-4"), &f).unwrap();
    assert_eq!(v.decision, Decision::Block);
    assert_eq!(v.reasons, vec!["pii.email", "secret.jwt"]);
    assert_eq!(v.acted_findings, vec![0, 1]);
    assert_eq!(v.categories_header(), "pii,secret");
    assert_eq!(v.confidence_header(), "0.90");
}

#[test]
fn ml_detector_is_judged_like_the_catalogue() {
    // The gateway's ML findings: category prompt_injection, confidence = model score.
    let ml = |score| [finding(ML_INJECTION_ID, Category::PromptInjection, score)];
    let balanced = PolicyConfig::default();
    assert_eq!(decide(&balanced, &ml(0.97)), Decision::Block);
    assert_eq!(decide(&balanced, &ml(0.3)), Decision::Allow); // below L2
    let c = cfg(r#"{"detectors":{"ml.injection":{"level":"L4","action":"alert"}}}"#);
    assert_eq!(decide(&c, &ml(0.3)), Decision::Alert);
    let c = cfg(r#"{"detectors":{"prompt_injection":{"action":"log"},"ml.injection":{"action":"block"}}}"#);
    assert_eq!(decide(&c, &ml(0.97)), Decision::Block); // detector override beats category
    let c = cfg(r#"{"detectors":{"ml.injection":{"enabled":false}}}"#);
    assert_eq!(decide(&c, &ml(0.97)), Decision::Allow);
}

#[test]
fn segment_cache_holds_any_weighted_value_per_tenant() {
    #[derive(Clone, Debug, PartialEq)]
    struct Score(f32);
    impl CacheWeight for Score {
        fn cache_bytes(&self) -> usize {
            4
        }
    }
    let cache = SegmentCache::new(CacheLimits { max_entries: 64, max_bytes: 1 << 20, min_segment_len: 0 });
    let a = cache.tenant_keys("tenant-a").key(SourceKind::UserText, "same text");
    let b = cache.tenant_keys("tenant-b").key(SourceKind::UserText, "same text");
    assert_ne!(a, b);
    cache.insert(a, Score(0.9));
    assert_eq!(cache.get(a), Some(Score(0.9)));
    assert_eq!(cache.get(b), None);
    for i in 0..1000 {
        cache.insert(cache.tenant_keys("tenant-a").key(SourceKind::UserText, &i.to_string()), Score(0.1));
    }
    assert!(cache.stats().entries <= 64, "{:?}", cache.stats());
}

#[test]
fn config_rejects_unknown_keys() {
    assert!(serde_json::from_str::<PolicyConfig>(r#"{"templat":"strict"}"#).is_err());
    assert!(serde_json::from_str::<PolicyConfig>(r#"{"detectors":{"pii":{"actoin":"log"}}}"#).is_err());
    let bad = cfg(r#"{"detectors":{"pii.nope":{"action":"log"}}}"#);
    assert!(Policy::compile(&bad, Path::new(".")).is_err());
}

#[test]
fn seed_rego_example_unchanged() {
    let c = PolicyConfig { rego: Some(SEED.into()), ..Default::default() };
    let p = Policy::compile(&c, Path::new(".")).unwrap();
    let v = p.evaluate(&input("claude-sonnet-4-5"), &[]).unwrap();
    assert_eq!(v.decision, Decision::Block);
    assert_eq!(v.reasons, vec!["rego:behavry.authz.deny"]);
    assert_eq!(v.confidence_header(), "1.00");
    for ok in ["claude-3-5-haiku", "claude-opus-4-1"] {
        assert_eq!(p.evaluate(&input(ok), &[]).unwrap().decision, Decision::Allow, "{ok}");
    }
}

#[test]
fn rego_message_sets_alert_and_findings_input() {
    let rego = r#"package portcullis.custom
deny contains msg if {
  some f in input.findings
  f.category == "secret"
  f.source == "user_text"
  msg := sprintf("secret %s in user text", [f.id])
}
alert contains "big max_tokens" if { input.max_tokens > 32000 }
"#;
    let c = PolicyConfig {
        rego: Some(rego.into()),
        detectors: [("secret".to_string(), serde_json::from_str(r#"{"action":"log"}"#).unwrap())].into(),
        ..Default::default()
    };
    let p = Policy::compile(&c, Path::new(".")).unwrap();
    let mut i = input("claude-opus-4");
    i.max_tokens = Some(64000);
    let v = p.evaluate(&i, &[]).unwrap();
    assert_eq!(v.decision, Decision::Alert);
    assert_eq!(v.reasons, vec!["rego:portcullis.custom.alert: big max_tokens"]);
    let v = p.evaluate(&i, &[finding("secret.jwt", Category::Secret, 0.9)]).unwrap();
    assert_eq!(v.decision, Decision::Block);
    assert_eq!(v.reasons, vec!["rego:portcullis.custom.deny: secret secret.jwt in user text"]);
}

#[test]
fn a_rule_with_thousands_of_messages_gives_a_bounded_reason_list() {
    let rego = r#"package portcullis.custom
deny contains msg if {
  some t in input.tool_names
  msg := sprintf("tool %s is not allowed", [t])
}
"#;
    let p = Policy::compile(&PolicyConfig { rego: Some(rego.into()), ..Default::default() }, Path::new(".")).unwrap();
    let mut i = input("claude-opus-4");
    i.tool_names = (0..5_000).map(|n| format!("tool{n:04}-{}", "é".repeat(150))).collect();
    let v = p.evaluate(&i, &[]).unwrap();
    assert_eq!(v.decision, Decision::Block);
    let deny: Vec<&String> = v.reasons.iter().filter(|r| r.contains(".deny")).collect();
    assert_eq!(deny.len(), 17, "{deny:?}");
    assert_eq!(deny[16], "rego:portcullis.custom.deny: and 4984 more");
    // Each message (a 100-character name: 150 bytes) is cut at a character boundary.
    assert!(deny[..16].iter().all(|r| r.len() < 330 && r.ends_with('…')), "{:?}", deny[0]);
    assert!(v.reasons.iter().map(String::len).sum::<usize>() < 8_000);
}

#[test]
fn invalid_rego_is_rejected_with_origin() {
    let c = PolicyConfig { rego: Some("package x\ndeny if {".into()), ..Default::default() };
    let e = Policy::compile(&c, Path::new(".")).unwrap_err().to_string();
    assert!(e.contains("<inline>"), "{e}");
    let missing = cfg(r#"{"rego_files":["nope.rego"]}"#);
    assert!(Policy::compile(&missing, Path::new("/nonexistent")).is_err());
}

#[test]
fn hot_reload_swaps_valid_and_keeps_previous_on_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("authz.rego");
    std::fs::write(&file, SEED).unwrap();
    let c = cfg(r#"{"rego_files":["authz.rego"]}"#);
    let handle = PolicyHandle::new(Policy::compile(&c, dir.path()).unwrap());
    let watcher =
        spawn_rego_watcher(handle.clone(), c.clone(), dir.path().to_path_buf(), Duration::from_millis(20)).unwrap();
    let decide_now = |m: &str| handle.current().evaluate(&input(m), &[]).unwrap().decision;
    assert_eq!(decide_now("claude-sonnet-4-5"), Decision::Block);

    // Valid change: now everything but haiku is denied.
    std::fs::write(&file, "package behavry.authz\ndeny if { not startswith(input.model, \"claude-3-5-haiku\") }\n")
        .unwrap();
    wait_until(|| decide_now("claude-opus-4-1") == Decision::Block);

    // Invalid change: rejected, previous policy keeps serving.
    std::fs::write(&file, "package behavry.authz\ndeny if { ((( }\n").unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(decide_now("claude-opus-4-1"), Decision::Block);
    assert_eq!(decide_now("claude-3-5-haiku"), Decision::Allow);
    // Explicit reload (SIGHUP path) reports the error too.
    assert!(handle.reload(&c, dir.path()).is_err());

    // Fixed again: picked up.
    std::fs::write(&file, SEED).unwrap();
    wait_until(|| decide_now("claude-opus-4-1") == Decision::Allow);
    watcher.stop();
}

fn wait_until(mut cond: impl FnMut() -> bool) {
    for _ in 0..200 {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("condition not reached");
}

#[test]
fn rego_input_document_shape() {
    let mut i = input("claude-opus-4");
    i.headers.insert("anthropic-version".into(), "2023-06-01".into());
    let doc = i.to_json(&[finding("pii.email", Category::Pii, 0.8)]);
    assert_eq!(doc["mcp_server"], "anthropic-proxy");
    assert_eq!(doc["tool_name"], "anthropic-api");
    assert_eq!(doc["findings"][0]["id"], "pii.email");
    assert_eq!(doc["findings"][0]["source"], "user_text");
    assert_eq!(doc["headers"]["anthropic-version"], "2023-06-01");
    assert!(doc.get("session_id").is_none());
}

#[test]
fn policy_and_scanner_are_send_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Policy>();
    assert_send_sync::<PolicyHandle>();
    assert_send_sync::<portcullis_detection::Scanner>();
}

fn batch_request(custom_id: Option<&str>, model: &str) -> portcullis_detection::BatchRequest {
    portcullis_detection::BatchRequest {
        custom_id: custom_id.map(str::to_owned),
        facts: portcullis_detection::RequestFacts { model: Some(model.into()), ..Default::default() },
    }
}

fn in_request(mut f: Finding, request: usize) -> Finding {
    f.segment.request_index = Some(request);
    f
}

#[test]
fn a_batch_is_judged_request_by_request_and_gets_the_strictest_decision() {
    let c = PolicyConfig { rego: Some(SEED.into()), ..Default::default() };
    let policy = Policy::compile(&c, Path::new(".")).unwrap();
    let mut base = input("ignored: each request has its own model");
    base.path = "/v1/messages/batches".into();
    let requests = [
        batch_request(Some("clean"), "claude-opus-4-5"),
        batch_request(Some("leaks-pii"), "claude-opus-4-5"),
        batch_request(None, "claude-opus-4-5"),
    ];
    let findings = [
        in_request(finding("pii.email", Category::Pii, 0.8), 1),
        in_request(finding("injection.fake_turn", Category::PromptInjection, 0.8), 2),
    ];
    let verdict = policy.evaluate_batch(&base, &requests, &findings).unwrap();
    assert_eq!(verdict.decision, Decision::Block);
    // Only the request that blocked is named; the alert of request 1 is not a block reason.
    assert_eq!(verdict.reasons, ["requests[2]: injection.fake_turn"]);
    assert_eq!(verdict.risk_categories, [Category::Pii, Category::PromptInjection]);
    assert_eq!(verdict.acted_findings, [0, 1]);
    // Without the injection the batch alerts, naming the request by its custom_id.
    let verdict = policy.evaluate_batch(&base, &requests, &findings[..1]).unwrap();
    assert_eq!(verdict.decision, Decision::Alert);
    assert_eq!(verdict.reasons, [r#"requests[1] "leaks-pii": pii.email"#]);

    // The seed rule sees each request's own model: one non-Claude request blocks the batch.
    let mixed = [batch_request(Some("a"), "claude-3-5-haiku"), batch_request(Some("b"), "gpt-4o")];
    let verdict = policy.evaluate_batch(&base, &mixed, &[]).unwrap();
    assert_eq!(verdict.decision, Decision::Block);
    assert_eq!(verdict.reasons, [r#"requests[1] "b": rego:behavry.authz.deny"#]);
    assert_eq!(policy.evaluate_batch(&base, &mixed[..1], &[]).unwrap().decision, Decision::Allow);
    assert_eq!(policy.evaluate_batch(&base, &[], &[]).unwrap().decision, Decision::Allow);

    // Many blocking requests: 16 are named, the rest counted.
    let many: Vec<_> = (0..40).map(|_| batch_request(None, "gpt-4o")).collect();
    let verdict = policy.evaluate_batch(&base, &many, &[]).unwrap();
    assert_eq!(verdict.reasons.len(), portcullis_detection::MAX_BATCH_REQUESTS_NAMED + 1);
    assert_eq!(verdict.reasons.last().unwrap(), "and 24 more requests");
}

#[test]
fn a_batch_request_s_input_carries_its_index_and_custom_id() {
    let c = PolicyConfig {
        rego: Some(
            r#"package batches
deny contains msg if {
  input.batch_index == 1
  input.custom_id == "second"
  input.path == "/v1/messages/batches"
  msg := sprintf("request %d refused", [input.batch_index])
}
"#
            .into(),
        ),
        ..Default::default()
    };
    let policy = Policy::compile(&c, Path::new(".")).unwrap();
    let mut base = input("x");
    base.path = "/v1/messages/batches".into();
    let requests = [batch_request(Some("first"), "m"), batch_request(Some("second"), "m")];
    let verdict = policy.evaluate_batch(&base, &requests, &[]).unwrap();
    assert_eq!(verdict.reasons, [r#"requests[1] "second": rego:batches.deny: request 1 refused"#]);
    // A Messages call has neither field.
    assert_eq!(policy.evaluate(&base, &[]).unwrap().decision, Decision::Allow);
}
