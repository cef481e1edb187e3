//! A project's `ml` section: whether and how the ML injection classifier (the
//! detector workers, over NATS) takes part in its requests.
//!
//! ```toml
//! [[projects]]
//! name = "demo"
//! tenant = "acme"
//! [projects.ml]
//! mode = "block"              # off (default) | block | alert
//! timeout_ms = 250            # block mode: longest wait for the verdict
//! on_failure = "fail_open"    # or "fail_closed": 503 when no verdict comes
//! threshold = 0.5             # optional; default: the model's own (model card)
//! sources = ["system", "user", "tool_result"]
//! ```
//!
//! Like the rest of a project it is reloaded on SIGHUP. The NATS URL is the audit
//! one (`audit.nats_url` / `PORTCULLIS_NATS_URL`); a project with ML on and no NATS
//! URL is a configuration error (see [`MlConfig::validate`]).

use std::time::Duration;

use portcullis_detection::SourceKind;
use serde::Deserialize;

/// When the classifier runs and what its verdict can do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MlMode {
    /// No ML classification.
    #[default]
    Off,
    /// Wait for the verdict (up to the timeout) before forwarding; ML findings
    /// take part in the policy decision like signature findings.
    Block,
    /// Forward at once; classify in the background and record the verdict as a
    /// follow-up event linked to the request's event.
    Alert,
}

impl MlMode {
    pub fn as_str(self) -> &'static str {
        match self {
            MlMode::Off => "off",
            MlMode::Block => "block",
            MlMode::Alert => "alert",
        }
    }
}

/// What block mode does when no verdict arrives (timeout, no workers, overload,
/// worker error, NATS down).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnFailure {
    /// Forward without the ML verdict (signature detection still applies); the
    /// event records `ml.unavailable:<reason>`.
    #[default]
    FailOpen,
    /// Refuse the request: 503 `overloaded_error`, nothing forwarded.
    FailClosed,
}

/// Which segments of a request are sent to the classifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MlSource {
    /// The system prompt (top-level or a `{"role":"system"}` message).
    System,
    /// Text written in user turns.
    User,
    /// The model's own turns (rarely useful: they quote attacks they refused).
    Assistant,
    /// `tool_result` contents: the usual indirect-injection vector.
    ToolResult,
    /// `tool_use` inputs (compact JSON).
    ToolUse,
    /// `document` / `search_result` text.
    Document,
    /// Tool definitions (`tools[]` description and schema). Off by default: a tool
    /// description is instructions to the model by design, which an injection classifier
    /// trained on data-borne attacks flags.
    ToolDefinition,
}

impl MlSource {
    /// The source of a segment, as named in the config and on the wire.
    pub fn of(kind: SourceKind) -> MlSource {
        match kind {
            SourceKind::System => MlSource::System,
            SourceKind::UserText => MlSource::User,
            SourceKind::AssistantText => MlSource::Assistant,
            SourceKind::ToolResult => MlSource::ToolResult,
            SourceKind::ToolUseInput => MlSource::ToolUse,
            SourceKind::Document => MlSource::Document,
            SourceKind::ToolDefinition => MlSource::ToolDefinition,
        }
    }

    /// Name in the config and in `DetectSegment::source`.
    pub fn as_str(self) -> &'static str {
        match self {
            MlSource::System => "system",
            MlSource::User => "user",
            MlSource::Assistant => "assistant",
            MlSource::ToolResult => "tool_result",
            MlSource::ToolUse => "tool_use",
            MlSource::Document => "document",
            MlSource::ToolDefinition => "tool_definition",
        }
    }
}

/// The `ml` table of a project, as written.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawMlConfig {
    pub mode: MlMode,
    /// Block mode: longest wait for the verdict, in milliseconds. Alert mode uses
    /// it too, as the background request's timeout.
    pub timeout_ms: u64,
    pub on_failure: OnFailure,
    /// A segment is an ML finding when its score reaches this. Unset: the worker's
    /// own decision (`flagged`, the model card's threshold: 0.08 for the default model).
    pub threshold: Option<f32>,
    pub sources: Vec<MlSource>,
}

impl Default for RawMlConfig {
    fn default() -> Self {
        RawMlConfig {
            mode: MlMode::Off,
            timeout_ms: 250,
            on_failure: OnFailure::FailOpen,
            threshold: None,
            sources: vec![MlSource::System, MlSource::User, MlSource::ToolResult],
        }
    }
}

/// A project's validated ML settings.
#[derive(Debug, Clone, PartialEq)]
pub struct MlConfig {
    pub mode: MlMode,
    pub timeout: Duration,
    pub on_failure: OnFailure,
    pub threshold: Option<f32>,
    pub sources: Vec<MlSource>,
}

impl Default for MlConfig {
    fn default() -> Self {
        MlConfig {
            mode: MlMode::Off,
            timeout: Duration::from_millis(250),
            on_failure: OnFailure::FailOpen,
            threshold: None,
            sources: RawMlConfig::default().sources,
        }
    }
}

/// Longest accepted `timeout_ms`: block mode holds the request this long.
const MAX_TIMEOUT_MS: u64 = 60_000;

impl MlConfig {
    /// Checks `raw` for project `project`. `nats_url` is the gateway's NATS URL
    /// (`audit.nats_url`): the detector workers are only reachable over NATS.
    pub fn validate(raw: RawMlConfig, project: &str, nats_url: Option<&str>) -> Result<MlConfig, String> {
        let at = format!("projects.{project}.ml");
        if raw.timeout_ms == 0 || raw.timeout_ms > MAX_TIMEOUT_MS {
            return Err(format!("{at}.timeout_ms = {}: expected 1..={MAX_TIMEOUT_MS}", raw.timeout_ms));
        }
        if let Some(t) = raw.threshold
            && !(t > 0.0 && t <= 1.0)
        {
            return Err(format!("{at}.threshold = {t}: expected a score in (0, 1]"));
        }
        if raw.mode != MlMode::Off {
            if raw.sources.is_empty() {
                return Err(format!(
                    "{at}.sources is empty: name at least one of system, user, assistant, tool_result, tool_use, document, tool_definition (or set mode = \"off\")"
                ));
            }
            if nats_url.is_none_or(|url| url.trim().is_empty()) {
                return Err(format!(
                    "{at}.mode = {:?} needs NATS to reach the detector workers, but no NATS URL is set: \
                     set [audit] nats_url or PORTCULLIS_NATS_URL (or set {at}.mode = \"off\")",
                    raw.mode.as_str()
                ));
            }
        }
        let mut sources = Vec::with_capacity(raw.sources.len());
        for source in raw.sources {
            if !sources.contains(&source) {
                sources.push(source);
            }
        }
        Ok(MlConfig {
            mode: raw.mode,
            timeout: Duration::from_millis(raw.timeout_ms),
            on_failure: raw.on_failure,
            threshold: raw.threshold,
            sources,
        })
    }

    pub fn sends(&self, kind: SourceKind) -> bool {
        self.sources.contains(&MlSource::of(kind))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn raw(toml: &str) -> Result<RawMlConfig, String> {
        use figment::providers::Format;
        figment::Figment::from(figment::providers::Toml::string(toml)).extract().map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_are_off_250ms_fail_open_three_sources() {
        let cfg = MlConfig::validate(raw("").unwrap(), "p", None).unwrap();
        assert_eq!(cfg, MlConfig::default());
        assert_eq!(cfg.timeout, Duration::from_millis(250));
        assert!(cfg.sends(SourceKind::ToolResult) && cfg.sends(SourceKind::UserText) && cfg.sends(SourceKind::System));
        assert!(!cfg.sends(SourceKind::AssistantText));
    }

    #[test]
    fn unknown_keys_and_values_are_rejected() {
        assert!(raw("mode = \"block\"\ntimeout = 5").unwrap_err().contains("timeout"));
        assert!(raw("mode = \"blocking\"").is_err());
        assert!(raw("sources = [\"users\"]").is_err());
    }

    #[test]
    fn ml_on_without_nats_says_how_to_fix_it() {
        let err = MlConfig::validate(raw("mode = \"alert\"").unwrap(), "demo", None).unwrap_err();
        assert!(err.contains("projects.demo.ml.mode") && err.contains("PORTCULLIS_NATS_URL"), "{err}");
        assert!(MlConfig::validate(raw("mode = \"alert\"").unwrap(), "demo", Some("nats://x:4222")).is_ok());
    }

    #[test]
    fn ranges_are_checked() {
        let url = Some("nats://x:4222");
        assert!(MlConfig::validate(raw("timeout_ms = 0").unwrap(), "p", url).is_err());
        assert!(MlConfig::validate(raw("threshold = 1.5").unwrap(), "p", url).is_err());
        assert!(MlConfig::validate(raw("mode = \"block\"\nsources = []").unwrap(), "p", url).is_err());
        let cfg =
            MlConfig::validate(raw("threshold = 0.5\nsources = [\"user\", \"user\"]").unwrap(), "p", url).unwrap();
        assert_eq!(cfg.threshold, Some(0.5));
        assert_eq!(cfg.sources, [MlSource::User]);
    }
}
