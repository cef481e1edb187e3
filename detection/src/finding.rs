//! Categories, detector descriptions and findings.

use std::fmt;
use std::ops::Range;

use serde::{Deserialize, Serialize};

use crate::segments::SegmentRef;

/// The kind of risk a detector looks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Pii,
    Secret,
    PromptInjection,
    Jailbreak,
}

impl Category {
    /// All categories, in a stable order.
    pub const ALL: [Category; 4] = [Category::Pii, Category::Secret, Category::PromptInjection, Category::Jailbreak];

    /// Snake-case name (`pii`, `secret`, `prompt_injection`, `jailbreak`), as serialized and
    /// as used for category-wide policy overrides and the `X-Risk-Categories` header.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Pii => "pii",
            Category::Secret => "secret",
            Category::PromptInjection => "prompt_injection",
            Category::Jailbreak => "jailbreak",
        }
    }

    /// Parses the snake-case name.
    pub fn from_name(name: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|c| c.as_str() == name)
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which view of the text a finding was matched in: the evasion it defeated, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Transform {
    /// The text as sent (or it was already plain ASCII).
    None,
    /// After Unicode folding (NFKC, zero-width/tag removal, homoglyphs).
    Normalized,
    /// After joining letter-spaced runs.
    Despaced,
    /// Inside a base64 run, decoded; the span covers the encoded run.
    Base64,
    /// Inside a hex run, decoded; the span covers the encoded run.
    Hex,
}

impl Transform {
    /// Snake-case name, as serialized.
    pub fn as_str(self) -> &'static str {
        match self {
            Transform::None => "none",
            Transform::Normalized => "normalized",
            Transform::Despaced => "despaced",
            Transform::Base64 => "base64",
            Transform::Hex => "hex",
        }
    }
}

/// A catalogue entry: what a detector is. Returned by [`crate::Scanner::catalogue`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DetectorInfo {
    /// Stable id, `<category-ish prefix>.<name>`, e.g. `secret.anthropic_key`.
    pub id: &'static str,
    pub category: Category,
    /// Confidence of a match in ordinary text.
    pub confidence: f32,
    /// Confidence of a match inside a `tool_result` or document, where it is more
    /// suspicious (injection detectors only); `None` when the same as `confidence`.
    pub tool_result_confidence: Option<f32>,
    pub description: &'static str,
}

/// One detector match. `span` is a byte range in the segment's original text (always on
/// character boundaries and within the text); the matched clear text is never stored, only
/// `redacted`. `Debug` prints the redacted form only.
#[derive(Clone, PartialEq, Serialize)]
pub struct Finding {
    pub detector_id: &'static str,
    pub category: Category,
    /// 0.0–1.0.
    pub confidence: f32,
    pub segment: SegmentRef,
    pub span: Range<usize>,
    /// A safe rendering, e.g. `sk-ant-…[REDACTED]` or `[REDACTED 29 bytes]`.
    pub redacted: String,
    pub transform: Transform,
}

impl fmt::Debug for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Finding")
            .field("detector_id", &self.detector_id)
            .field("category", &self.category)
            .field("confidence", &self.confidence)
            .field("segment", &self.segment)
            .field("span", &self.span)
            .field("redacted", &self.redacted)
            .field("transform", &self.transform)
            .finish()
    }
}
