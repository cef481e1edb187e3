//! Defence in depth: secrets are scrubbed again before an event is stored.
//!
//! The gateway never puts credentials in events, but a key pasted into a
//! prompt, a user agent or a policy reason could still travel in a string
//! field. Every string of the event is checked for things that look like
//! credentials (Anthropic and other `sk-` keys, bearer tokens, JWTs, AWS
//! access key ids, plus configured patterns) and the match is replaced by
//! `[REDACTED]`.

use portcullis_schemas::{CapturedBlock, SecurityEvent};
use regex::Regex;

use crate::error::WriterError;

pub const REDACTED: &str = "[REDACTED]";

const BUILT_IN: [&str; 5] = [
    // Anthropic (sk-ant-api03-…, sk-ant-admin01-…) and OpenAI-style (sk-…, sk-proj-…) keys.
    r"\bsk-[A-Za-z0-9_\-]{16,}",
    // Bearer tokens (whatever follows the scheme).
    r"(?i)\bbearer\s+[A-Za-z0-9\-._~+/]{8,}=*",
    // JWTs: three base64url parts, the first a JSON object (`{"` → `eyJ`).
    r"\beyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}",
    // AWS access key ids.
    r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",
    // `x-api-key: …` / `api_key=…` style assignments.
    r#"(?i)\b(?:x-api-key|api[_-]?key|client[_-]?secret|password)["']?\s*[:=]\s*["']?[^\s"',;]{8,}"#,
];

/// Compiled scrubbing patterns.
#[derive(Debug, Clone)]
pub struct Redactor {
    pattern: Regex,
}

impl Redactor {
    pub fn new(extra_patterns: &[String]) -> Result<Redactor, WriterError> {
        let all: Vec<String> = BUILT_IN
            .iter()
            .map(|p| format!("(?:{p})"))
            .chain(extra_patterns.iter().map(|p| format!("(?:{p})")))
            .collect();
        let pattern = Regex::new(&all.join("|")).map_err(|e| WriterError::Config(format!("redaction pattern: {e}")))?;
        Ok(Redactor { pattern })
    }

    /// Scrub one string in place; returns the number of replacements.
    pub fn scrub(&self, text: &mut String) -> usize {
        if !self.pattern.is_match(text) {
            return 0;
        }
        let mut count = 0;
        let replaced = self.pattern.replace_all(text, |_: &regex::Captures<'_>| {
            count += 1;
            REDACTED
        });
        *text = replaced.into_owned();
        count
    }

    fn scrub_opt(&self, text: &mut Option<String>) -> usize {
        text.as_mut().map_or(0, |t| self.scrub(t))
    }

    fn scrub_all(&self, texts: &mut [String]) -> usize {
        texts.iter_mut().map(|t| self.scrub(t)).sum()
    }

    fn scrub_blocks(&self, blocks: &mut [CapturedBlock]) -> usize {
        blocks.iter_mut().map(|b| self.scrub(&mut b.text) + self.scrub_opt(&mut b.name)).sum()
    }

    /// Scrub every string field of the event; returns the number of replacements.
    pub fn scrub_event(&self, e: &mut SecurityEvent) -> usize {
        let mut n = 0;
        for text in [&mut e.tenant, &mut e.project, &mut e.path, &mut e.method, &mut e.tool_name, &mut e.mcp_server] {
            n += self.scrub(text);
        }
        for text in [&mut e.client_id, &mut e.session_id, &mut e.model, &mut e.stop_reason, &mut e.user_agent] {
            n += self.scrub_opt(text);
        }
        n += self.scrub_all(&mut e.reasons);
        for f in &mut e.findings {
            n += self.scrub(&mut f.detector_id) + self.scrub(&mut f.category) + self.scrub(&mut f.redacted);
            n += self.scrub_opt(&mut f.segment.role);
        }
        for v in &mut e.ml_verdicts {
            n += self.scrub(&mut v.label) + self.scrub(&mut v.model_id) + self.scrub(&mut v.model_version);
            n += self.scrub_opt(&mut v.segment.role);
        }
        if let Some(content) = &mut e.content {
            n += self.scrub_all(&mut content.system) + self.scrub_all(&mut content.tools);
            n += self.scrub_blocks(&mut content.response);
            for m in &mut content.messages {
                n += self.scrub(&mut m.role) + self.scrub_blocks(&mut m.blocks);
            }
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redactor() -> Redactor {
        Redactor::new(&["pcx_[a-z0-9]{10,}".to_owned()]).unwrap()
    }

    #[test]
    fn credentials_are_replaced() {
        let r = redactor();
        for secret in [
            "sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789-_ABCDEF",
            "sk-proj-ABCDEFGHIJKLMNOPQRSTUVWX",
            "Bearer abcdefghijklmnop.qrst",
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZ2VudCJ9.c2lnbmF0dXJlX2J5dGVz",
            "AKIAIOSFODNN7EXAMPLE",
            "x-api-key: supersecretvalue",
            "pcx_0123456789abcdef",
        ] {
            let mut text = format!("before {secret} after");
            assert!(r.scrub(&mut text) >= 1, "{secret}");
            assert!(!text.contains(secret), "{text}");
            assert!(text.starts_with("before ") && text.ends_with(" after") || text.contains(REDACTED), "{text}");
        }
    }

    #[test]
    fn ordinary_text_is_untouched() {
        let r = redactor();
        for plain in ["task-runner-for-the-project", "claude-sonnet-4-5", "end_turn", "/v1/messages", "sk-short"] {
            let mut text = plain.to_owned();
            assert_eq!(r.scrub(&mut text), 0);
            assert_eq!(text, plain);
        }
    }

    #[test]
    fn every_string_field_of_an_event_is_scrubbed() {
        let r = redactor();
        let key = "sk-ant-api03-0123456789abcdefghijklmnop";
        let mut e = SecurityEvent::new_request(0, "t", "p");
        e.user_agent = Some(format!("curl {key}"));
        e.reasons = vec![format!("found {key}")];
        e.session_id = Some(key.to_owned());
        e.content =
            Some(portcullis_schemas::CapturedConversation { system: vec![key.to_owned()], ..Default::default() });
        assert_eq!(r.scrub_event(&mut e), 4);
        let json = String::from_utf8(e.to_json().unwrap()).unwrap();
        assert!(!json.contains(key), "{json}");
    }
}
