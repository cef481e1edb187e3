//! The `deberta-v2` path end to end, on the tiny random-weight fixture
//! (tests/fixtures/tiny-deberta-v2, models/fixtures/make_tiny_deberta.py):
//! labels from `id2label`, the engine scoring texts (long ones in several
//! windows) with the scores torch computed, and a clear error for an
//! architecture the worker cannot run. Logit parity itself is in
//! reference_logits.rs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::sync::Arc;

use detector_worker::classifier::SUPPORTED_MODEL_TYPES;
use detector_worker::{Classifier, Engine, EngineSettings, WorkerError};
use serde_json::Value;

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny-deberta-v2")
}

/// `(text, injection_score)` of the fixture's cases that use the worker's
/// default windowing (the fixture's config, like ProtectAI's, has no
/// `portcullis` section).
fn reference_scores() -> Vec<(String, f32)> {
    let text = std::fs::read_to_string(fixture_dir().join("reference_logits.json")).unwrap();
    let reference: Value = serde_json::from_str(&text).unwrap();
    reference["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["max_length"] == 512 && c["overlap"] == 64)
        .map(|c| {
            let score = c["injection_score"].as_f64().unwrap() as f32;
            (c["text"].as_str().unwrap().to_owned(), score)
        })
        .collect()
}

#[test]
fn labels_and_defaults_come_from_the_config() {
    let classifier = Classifier::load(&fixture_dir()).unwrap();
    let config = classifier.config();
    assert_eq!(config.model_type, "deberta-v2");
    assert_eq!(config.labels, ["SAFE", "INJECTION"]);
    assert_eq!(config.positive_label, 1);
    assert_eq!((config.label(true), config.label(false)), ("INJECTION", "SAFE"));
    assert_eq!(config.threshold, 0.5);
    assert_eq!((config.windowing.max_length, config.windowing.overlap), (512, 64));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_scores_texts_like_torch() {
    let classifier = Arc::new(Classifier::load(&fixture_dir()).unwrap());
    let cases = reference_scores();
    assert!(cases.len() >= 4, "{} cases", cases.len());
    let engine = Engine::start(classifier.clone(), EngineSettings::default()).unwrap();
    let texts: Vec<String> = cases.iter().map(|(text, _)| text.clone()).collect();
    let scored = engine.score(texts).await.unwrap();
    let mut several_windows = false;
    for ((text, want), got) in cases.iter().zip(&scored.scores) {
        let name = &text[..text.len().min(30)];
        assert!((got.score - want).abs() <= 1e-4, "{name}: {got:?}, torch {want}");
        assert_eq!(got.flagged, got.score >= 0.5, "{name}: {got:?}");
        several_windows |= got.windows > 1;
    }
    assert!(several_windows, "no case spans several windows");
}

#[test]
fn unsupported_model_type_names_the_supported_ones() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("config.json"),
        r#"{"model_type":"roberta","id2label":{"0":"BENIGN","1":"INJECTION"}}"#,
    )
    .unwrap();
    let Err(error) = Classifier::load(dir.path()) else {
        panic!("roberta loaded");
    };
    assert!(matches!(error, WorkerError::UnsupportedModel(_)), "{error}");
    let message = error.to_string();
    assert!(message.contains("\"roberta\""), "{message}");
    for supported in SUPPORTED_MODEL_TYPES {
        assert!(message.contains(supported), "{message}");
    }
}
