//! Reads what the worker needs from a Hugging Face `config.json`: the
//! architecture, the labels (`id2label`) and Portcullis' own settings (decision
//! threshold and windowing, written by models/export.py; absent in third-party
//! models, which then get defaults).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::windowing::Windowing;
use crate::WorkerError;

/// Defaults for models without a `portcullis` section: windows of the encoder's
/// usual 512 positions, overlapping by 64 tokens, threshold 0.5.
const DEFAULT_MAX_LENGTH: usize = 512;
const DEFAULT_OVERLAP: usize = 64;
const DEFAULT_THRESHOLD: f32 = 0.5;

/// Label names that mean "this is an attack", compared case-insensitively.
const POSITIVE_LABELS: [&str; 5] = ["injection", "malicious", "jailbreak", "unsafe", "attack"];

#[derive(Debug, Deserialize)]
struct RawConfig {
    #[serde(default)]
    architectures: Vec<String>,
    model_type: Option<String>,
    #[serde(default)]
    id2label: BTreeMap<String, String>,
    max_position_embeddings: Option<usize>,
    #[serde(default)]
    portcullis: Option<PortcullisSettings>,
}

#[derive(Debug, Deserialize)]
struct PortcullisSettings {
    threshold: Option<f32>,
    window_max_length: Option<usize>,
    window_overlap: Option<usize>,
}

/// The parts of `config.json` the classifier acts on.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelConfig {
    pub model_type: String,
    pub architecture: Option<String>,
    /// Label names indexed by class id.
    pub labels: Vec<String>,
    /// Class id whose probability is the injection score.
    pub positive_label: usize,
    pub threshold: f32,
    pub windowing: Windowing,
}

impl ModelConfig {
    pub fn from_file(path: &Path) -> Result<Self, WorkerError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| WorkerError::Io { path: path.to_path_buf(), source })?;
        let raw: RawConfig =
            serde_json::from_str(&text).map_err(|source| WorkerError::Json { path: path.to_path_buf(), source })?;
        Self::from_raw(raw)
    }

    fn from_raw(raw: RawConfig) -> Result<Self, WorkerError> {
        let labels = labels_by_id(&raw.id2label)?;
        let positive_label = positive_label(&labels)?;
        let settings = raw.portcullis.unwrap_or(PortcullisSettings {
            threshold: None,
            window_max_length: None,
            window_overlap: None,
        });
        let positions = raw.max_position_embeddings.unwrap_or(DEFAULT_MAX_LENGTH);
        let max_length = settings.window_max_length.unwrap_or(DEFAULT_MAX_LENGTH).min(positions);
        if max_length < 3 {
            return Err(WorkerError::InvalidConfig(format!("window_max_length {max_length} leaves no room for text")));
        }
        Ok(Self {
            model_type: raw.model_type.unwrap_or_default(),
            architecture: raw.architectures.into_iter().next(),
            labels,
            positive_label,
            threshold: settings.threshold.unwrap_or(DEFAULT_THRESHOLD),
            windowing: Windowing { max_length, overlap: settings.window_overlap.unwrap_or(DEFAULT_OVERLAP) },
        })
    }
}

impl ModelConfig {
    /// The label reported for a verdict: the injection label when flagged,
    /// else the first other label (the benign one of a binary model).
    pub fn label(&self, flagged: bool) -> &str {
        let index = match (flagged, self.positive_label) {
            (true, positive) => positive,
            (false, 0) => 1,
            (false, _) => 0,
        };
        self.labels.get(index).map_or("", String::as_str)
    }
}

/// `{"0": "benign", "1": "injection"}` -> `["benign", "injection"]`; ids must be
/// exactly 0..n.
fn labels_by_id(id2label: &BTreeMap<String, String>) -> Result<Vec<String>, WorkerError> {
    let mut labels = vec![None; id2label.len()];
    for (id, name) in id2label {
        let index: usize =
            id.parse().map_err(|_| WorkerError::InvalidConfig(format!("id2label key {id:?} is not an id")))?;
        let slot = labels
            .get_mut(index)
            .ok_or_else(|| WorkerError::InvalidConfig(format!("id2label ids are not 0..n: {id}")))?;
        *slot = Some(name.clone());
    }
    let labels: Option<Vec<String>> = labels.into_iter().collect();
    match labels {
        Some(labels) if labels.len() >= 2 => Ok(labels),
        _ => Err(WorkerError::InvalidConfig("id2label must name at least two classes with ids 0..n".to_owned())),
    }
}

/// The attack class: a label named like one, else class 1 of a binary model
/// (e.g. `LABEL_0`/`LABEL_1`).
fn positive_label(labels: &[String]) -> Result<usize, WorkerError> {
    let named = labels.iter().position(|label| {
        let label = label.to_ascii_lowercase();
        POSITIVE_LABELS.iter().any(|positive| label.contains(positive))
    });
    match named {
        Some(index) => Ok(index),
        None if labels.len() == 2 => Ok(1),
        None => Err(WorkerError::InvalidConfig(format!("cannot tell which of {labels:?} is the injection class"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<ModelConfig, WorkerError> {
        ModelConfig::from_raw(serde_json::from_str(json).unwrap())
    }

    #[test]
    fn reads_labels_threshold_and_windowing() {
        let c = parse(
            r#"{"model_type":"bert","architectures":["BertForSequenceClassification"],
                "id2label":{"0":"benign","1":"injection"},"max_position_embeddings":512,
                "portcullis":{"threshold":0.7,"window_max_length":128,"window_overlap":32}}"#,
        )
        .unwrap();
        assert_eq!(c.labels, ["benign", "injection"]);
        assert_eq!(c.positive_label, 1);
        assert_eq!(c.threshold, 0.7);
        assert_eq!(c.windowing, Windowing { max_length: 128, overlap: 32 });
        assert_eq!(c.architecture.as_deref(), Some("BertForSequenceClassification"));
    }

    #[test]
    fn third_party_labels_and_defaults() {
        let c = parse(r#"{"model_type":"deberta-v2","id2label":{"0":"SAFE","1":"INJECTION"}}"#).unwrap();
        assert_eq!(c.positive_label, 1);
        assert_eq!(c.threshold, 0.5);
        assert_eq!(c.windowing, Windowing { max_length: 512, overlap: 64 });

        let c = parse(r#"{"id2label":{"0":"MALICIOUS","1":"BENIGN"}}"#).unwrap();
        assert_eq!(c.positive_label, 0);
        let c = parse(r#"{"id2label":{"0":"LABEL_0","1":"LABEL_1"}}"#).unwrap();
        assert_eq!(c.positive_label, 1);
    }

    #[test]
    fn window_capped_by_positions() {
        let c = parse(
            r#"{"id2label":{"0":"a","1":"b"},"max_position_embeddings":256,
                "portcullis":{"window_max_length":1024}}"#,
        )
        .unwrap();
        assert_eq!(c.windowing.max_length, 256);
    }

    #[test]
    fn rejects_bad_labels() {
        assert!(parse(r#"{"id2label":{"0":"only"}}"#).is_err());
        assert!(parse(r#"{"id2label":{"0":"a","2":"b"}}"#).is_err());
        assert!(parse(r#"{"id2label":{"x":"a","1":"b"}}"#).is_err());
        assert!(parse(r#"{"id2label":{"0":"a","1":"b","2":"c"}}"#).is_err());
        assert!(parse(r#"{}"#).is_err());
    }
}
