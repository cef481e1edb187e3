//! Custom Rego rules, evaluated in-process with `regorus`.
//!
//! All modules are parsed into one prototype engine at compile time, which is then
//! prepared (analysed and scheduled) once by a trial evaluation. Every module package that
//! declares `deny` (and/or `alert`) contributes the rule `data.<package>.deny`
//! (`.alert`). Evaluation borrows an already-prepared engine from a small pool (cloning
//! the prototype only when the pool is empty), sets the input and evaluates the rules:
//! no parsing or preparation happens per request.
//!
//! A rule's value acts when it is `true`, or a non-empty set/array (`deny contains msg if
//! ...`), whose members become the reasons.

use std::path::Path;
use std::sync::Mutex;

use regorus::{Engine, Value};

use crate::error::DetectionError;

/// Which kind of rule: `deny` blocks, `alert` flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RuleKind {
    Deny,
    Alert,
}

#[derive(Debug, Clone)]
struct RegoRule {
    kind: RuleKind,
    /// `data.behavry.authz.deny`
    path: String,
    /// `rego:behavry.authz.deny`
    reason: String,
}

/// Reasons a Rego evaluation produced.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct RegoOutcome {
    pub deny: Vec<String>,
    pub alert: Vec<String>,
}

pub(crate) struct RegoRules {
    prototype: Engine,
    pool: Mutex<Vec<Engine>>,
    rules: Vec<RegoRule>,
}

const POOL_MAX: usize = 64;

impl RegoRules {
    /// Parses `files` (relative to `base_dir`) and the inline module. `None` when there are
    /// no modules at all.
    pub(crate) fn compile(
        files: &[&Path],
        base_dir: &Path,
        inline: Option<&str>,
    ) -> Result<Option<RegoRules>, DetectionError> {
        let mut sources = Vec::new();
        for file in files {
            let path = base_dir.join(file);
            let text = std::fs::read_to_string(&path)
                .map_err(|source| DetectionError::RegoRead { path: path.clone(), source })?;
            sources.push((path.display().to_string(), text));
        }
        if let Some(text) = inline {
            sources.push(("<inline>".to_owned(), text.to_owned()));
        }
        if sources.is_empty() {
            return Ok(None);
        }
        let mut engine = Engine::new();
        let mut rules: Vec<RegoRule> = Vec::new();
        for (origin, text) in sources {
            let package = engine
                .add_policy(origin.clone(), text)
                .map_err(|e| DetectionError::RegoCompile { origin: origin.clone(), message: e.to_string() })?;
            for (kind, name) in [(RuleKind::Deny, "deny"), (RuleKind::Alert, "alert")] {
                let declared = engine
                    .has_declared_rule_rooted_at(&origin, name)
                    .map_err(|e| DetectionError::RegoCompile { origin: origin.clone(), message: e.to_string() })?;
                let path = format!("{package}.{name}");
                if declared && !rules.iter().any(|r| r.path == path) {
                    let reason = format!("rego:{}", path.trim_start_matches("data."));
                    rules.push(RegoRule { kind, path, reason });
                }
            }
        }
        // Trial run: prepares the engine (so clones start prepared) and surfaces analysis
        // errors now rather than on the first request.
        engine.set_input(Value::new_object());
        for rule in &rules {
            engine
                .eval_rule(rule.path.clone())
                .map_err(|e| DetectionError::RegoCompile { origin: rule.path.clone(), message: e.to_string() })?;
        }
        Ok(Some(RegoRules { prototype: engine, pool: Mutex::new(Vec::new()), rules }))
    }

    /// Number of `deny`/`alert` rules found.
    pub(crate) fn rule_count(&self) -> usize {
        self.rules.len()
    }

    pub(crate) fn evaluate(&self, input: Value) -> Result<RegoOutcome, DetectionError> {
        let pooled = self.pool.lock().unwrap_or_else(std::sync::PoisonError::into_inner).pop();
        let mut engine = pooled.unwrap_or_else(|| self.prototype.clone());
        engine.set_input(input);
        let mut outcome = RegoOutcome::default();
        let mut result = Ok(());
        for rule in &self.rules {
            match engine.eval_rule(rule.path.clone()) {
                Ok(value) => {
                    let sink = match rule.kind {
                        RuleKind::Deny => &mut outcome.deny,
                        RuleKind::Alert => &mut outcome.alert,
                    };
                    collect_reasons(&rule.reason, &value, sink);
                }
                Err(e) => {
                    result = Err(DetectionError::RegoEval { rule: rule.path.clone(), message: e.to_string() });
                    break;
                }
            }
        }
        let mut pool = self.pool.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if pool.len() < POOL_MAX {
            pool.push(engine);
        }
        drop(pool);
        result.map(|()| outcome)
    }
}

/// Messages kept per rule: a rule that yields one message per tool name or header could
/// otherwise make a 403 body and an audit event of megabytes.
pub const MAX_MESSAGES_PER_RULE: usize = 16;
/// Longest message kept, in bytes (cut at a character boundary, `…` appended).
pub const MAX_MESSAGE_BYTES: usize = 256;

fn collect_reasons(reason: &str, value: &Value, sink: &mut Vec<String>) {
    match value {
        Value::Bool(true) => sink.push(reason.to_owned()),
        Value::Set(items) => collect_messages(reason, items.iter(), sink),
        Value::Array(items) => collect_messages(reason, items.iter(), sink),
        Value::String(s) if !s.is_empty() => sink.push(format!("{reason}: {}", bounded(s))),
        _ => {} // undefined, false, empty, other: the rule did not fire
    }
}

/// The first [`MAX_MESSAGES_PER_RULE`] messages of a rule's set or array, then how many
/// more there were.
fn collect_messages<'v>(reason: &str, items: impl ExactSizeIterator<Item = &'v Value>, sink: &mut Vec<String>) {
    let more = items.len().saturating_sub(MAX_MESSAGES_PER_RULE);
    sink.extend(items.take(MAX_MESSAGES_PER_RULE).map(|m| message(reason, m)));
    if more > 0 {
        sink.push(format!("{reason}: and {more} more"));
    }
}

fn message(reason: &str, m: &Value) -> String {
    match m {
        Value::String(s) => format!("{reason}: {}", bounded(s)),
        other => format!("{reason}: {}", bounded(&other.to_json_str().unwrap_or_default())),
    }
}

fn bounded(text: &str) -> std::borrow::Cow<'_, str> {
    if text.len() <= MAX_MESSAGE_BYTES {
        return text.into();
    }
    let mut cut = MAX_MESSAGE_BYTES;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}…", &text[..cut]).into()
}
