//! Loads a Hugging Face sequence-classification folder and scores texts.
//!
//! Tokenization is ours, not the tokenizer file's: padding and truncation in
//! `tokenizer.json` are switched off, text is encoded without special tokens and
//! split into overlapping windows (see [`Windowing`]), each wrapped as
//! `[CLS] … [SEP]`. A text's score is the highest injection probability over its
//! windows, so an attack deep inside a long document is not cut off.
//!
//! The network is picked by `model_type` in `config.json` (see
//! [`SUPPORTED_MODEL_TYPES`]): `bert` runs our own BERT encoder ([`bert`]),
//! `deberta-v2` (DeBERTa-v2/v3, mDeBERTa) runs Candle's ([`deberta`]).

mod attention;
mod bert;
mod deberta;
mod fused;
pub mod model_config;
mod simd;
pub mod windowing;

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use tokenizers::Tokenizer;

use crate::WorkerError;
use bert::BertSequenceClassifier;
use deberta::DebertaV2Classifier;
pub use model_config::ModelConfig;
pub use windowing::Windowing;

/// Windows per forward pass when scoring many texts: bounds padding waste and
/// peak memory.
const MAX_BATCH_WINDOWS: usize = 32;

/// `config.json` `model_type` values this worker can run.
pub const SUPPORTED_MODEL_TYPES: [&str; 2] = ["bert", "deberta-v2"];

/// The encoder and classification head, by architecture.
enum Network {
    Bert(BertSequenceClassifier),
    DebertaV2(DebertaV2Classifier),
}

impl Network {
    fn forward(&self, ids: &Tensor, mask: Option<&Tensor>) -> candle_core::Result<Tensor> {
        match self {
            Network::Bert(model) => model.forward(ids, mask),
            Network::DebertaV2(model) => model.forward(ids, mask),
        }
    }
}

/// The injection score of one text.
#[derive(Debug, Clone, PartialEq)]
pub struct TextScore {
    /// Highest probability of the injection class over the text's windows.
    pub score: f32,
    /// `true` when `score` reaches the model's threshold.
    pub flagged: bool,
    /// Number of windows the text was split into (0 for a text without tokens).
    pub windows: usize,
}

pub struct Classifier {
    model: Network,
    tokenizer: Tokenizer,
    config: ModelConfig,
    cls_id: u32,
    sep_id: u32,
    pad_id: u32,
    device: Device,
}

impl Classifier {
    /// Loads `config.json`, `tokenizer.json` and `model.safetensors` from `dir`
    /// onto the CPU. Weights stored as f16 are widened to f32.
    pub fn load(dir: &Path) -> Result<Self, WorkerError> {
        let config_path = dir.join("config.json");
        let config = ModelConfig::from_file(&config_path)?;
        if !SUPPORTED_MODEL_TYPES.contains(&config.model_type.as_str()) {
            return Err(unsupported(&config.model_type, &config_path));
        }
        let device = Device::Cpu;
        let tensors = candle_core::safetensors::load(dir.join("model.safetensors"), &device)?;
        let vb = VarBuilder::from_tensors(tensors, DType::F32, &device);
        let num_labels = config.labels.len();
        let (model, pad_id) = match config.model_type.as_str() {
            "bert" => {
                let bert_config: candle_transformers::models::bert::Config = read_json(&config_path)?;
                let pad_id = u32::try_from(bert_config.pad_token_id)
                    .map_err(|_| WorkerError::InvalidConfig("pad_token_id out of range".to_owned()))?;
                let model = BertSequenceClassifier::load(vb, &bert_config, num_labels)?;
                (Network::Bert(model), pad_id)
            }
            "deberta-v2" => {
                let (model, pad_id) = DebertaV2Classifier::load(vb, &config_path, num_labels)?;
                (Network::DebertaV2(model), pad_id)
            }
            other => return Err(unsupported(other, &config_path)),
        };

        let tokenizer = load_tokenizer(&dir.join("tokenizer.json"))?;
        let special = |token: &str| {
            tokenizer
                .token_to_id(token)
                .ok_or_else(|| WorkerError::Tokenizer(format!("no {token} token in the vocabulary")))
        };
        let cls_id = special("[CLS]")?;
        let sep_id = special("[SEP]")?;
        Ok(Self { model, tokenizer, config, cls_id, sep_id, pad_id, device })
    }

    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// Token ids of each window of `text` under the model's windowing.
    pub fn window_ids(&self, text: &str) -> Result<Vec<Vec<u32>>, WorkerError> {
        self.window_ids_with(text, self.config.windowing)
    }

    /// Token ids of each window of `text` under `windowing`.
    pub fn window_ids_with(&self, text: &str, windowing: Windowing) -> Result<Vec<Vec<u32>>, WorkerError> {
        let encoding = self.tokenizer.encode(text, false).map_err(|e| WorkerError::Tokenizer(e.to_string()))?;
        Ok(windowing.windows(encoding.get_ids(), self.cls_id, self.sep_id))
    }

    /// Logits `[window][label]` for windows run as one right-padded batch.
    pub fn logits(&self, windows: &[Vec<u32>]) -> Result<Vec<Vec<f32>>, WorkerError> {
        let Some(longest) = windows.iter().map(Vec::len).max() else {
            return Ok(Vec::new());
        };
        let mut ids = Vec::with_capacity(windows.len() * longest);
        let mut mask = Vec::with_capacity(windows.len() * longest);
        for window in windows {
            ids.extend_from_slice(window);
            ids.resize(ids.len() + longest - window.len(), self.pad_id);
            mask.resize(mask.len() + window.len(), 1u32);
            mask.resize(mask.len() + longest - window.len(), 0u32);
        }
        let shape = (windows.len(), longest);
        let ids = Tensor::from_vec(ids, shape, &self.device)?;
        // Without padding the mask is all ones: the model skips it.
        let padded = windows.iter().any(|w| w.len() != longest);
        let mask = if padded { Some(Tensor::from_vec(mask, shape, &self.device)?) } else { None };
        Ok(self.model.forward(&ids, mask.as_ref())?.to_vec2::<f32>()?)
    }

    /// Scores each text: max over its windows of P(injection); 0 for a text
    /// without tokens. Windows run in padded batches of up to 32.
    pub fn score(&self, texts: &[&str]) -> Result<Vec<TextScore>, WorkerError> {
        self.score_batched(texts, MAX_BATCH_WINDOWS)
    }

    /// [`Classifier::score`] with at most `max_batch_windows` windows (≥ 1) per
    /// forward pass. The windows of all texts are sorted by length before they
    /// are cut into batches, so one batch holds windows of similar length.
    pub fn score_batched(&self, texts: &[&str], max_batch_windows: usize) -> Result<Vec<TextScore>, WorkerError> {
        let mut windows = Vec::new();
        let mut owner = Vec::new();
        for (index, text) in texts.iter().enumerate() {
            let text_windows = self.window_ids(text)?;
            // A text without tokens (empty, whitespace) has nothing to classify:
            // it scores 0 with no windows; the bare [CLS][SEP] window is out of
            // distribution and would score high.
            if text_windows.iter().all(|w| w.len() <= 2) {
                continue;
            }
            for window in text_windows {
                windows.push(window);
                owner.push(index);
            }
        }
        // Similar lengths together keep padding small.
        let mut order: Vec<usize> = (0..windows.len()).collect();
        order.sort_by_key(|&k| windows[k].len());

        let mut best = vec![0.0f32; texts.len()];
        let mut counts = vec![0usize; texts.len()];
        for chunk in order.chunks(max_batch_windows.max(1)) {
            let batch: Vec<Vec<u32>> = chunk.iter().map(|&k| windows[k].clone()).collect();
            for (&k, logits) in chunk.iter().zip(self.logits(&batch)?) {
                let p = probability(&logits, self.config.positive_label);
                best[owner[k]] = best[owner[k]].max(p);
                counts[owner[k]] += 1;
            }
        }
        Ok(best
            .into_iter()
            .zip(counts)
            .map(|(score, windows)| TextScore { score, flagged: score >= self.config.threshold, windows })
            .collect())
    }
}

/// Softmax probability of class `label` (0 when out of range).
pub fn probability(logits: &[f32], label: usize) -> f32 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let total: f32 = logits.iter().map(|l| (l - max).exp()).sum();
    logits.get(label).map_or(0.0, |l| (l - max).exp() / total)
}

fn load_tokenizer(path: &Path) -> Result<Tokenizer, WorkerError> {
    let mut tokenizer =
        Tokenizer::from_file(path).map_err(|e| WorkerError::Tokenizer(format!("{}: {e}", path.display())))?;
    // Some packaged tokenizers bake in fixed padding/truncation; windowing is ours.
    tokenizer.with_padding(None);
    tokenizer.with_truncation(None).map_err(|e| WorkerError::Tokenizer(e.to_string()))?;
    Ok(tokenizer)
}

fn unsupported(model_type: &str, config_path: &Path) -> WorkerError {
    WorkerError::UnsupportedModel(format!(
        "model_type {model_type:?} in {} (supported: {})",
        config_path.display(),
        SUPPORTED_MODEL_TYPES.join(", ")
    ))
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, WorkerError> {
    let text = std::fs::read_to_string(path).map_err(|source| WorkerError::Io { path: path.to_path_buf(), source })?;
    serde_json::from_str(&text).map_err(|source| WorkerError::Json { path: path.to_path_buf(), source })
}

#[cfg(test)]
mod tests {
    use super::probability;

    #[test]
    fn probability_is_softmax() {
        let p = probability(&[0.0, 0.0], 1);
        assert!((p - 0.5).abs() < 1e-6);
        let p = probability(&[1000.0, -1000.0], 0);
        assert!((p - 1.0).abs() < 1e-6);
        assert_eq!(probability(&[1.0, 2.0], 5), 0.0);
    }
}
