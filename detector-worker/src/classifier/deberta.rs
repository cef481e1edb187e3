//! DeBERTa-v2/v3 sequence classifier (`DebertaV2ForSequenceClassification`,
//! `model_type: "deberta-v2"`): e.g. ProtectAI's deberta-v3 prompt-injection
//! models or Llama Prompt Guard 2 (mDeBERTa-v3).
//!
//! The network is `candle_transformers::models::debertav2` as is (disentangled
//! relative attention, log-bucketed positions, context pooler); this file only
//! adapts it to the classifier's interface: weights under `deberta.*`,
//! `pooler.dense` and `classifier` as Hugging Face stores them, token types all
//! zero (single-segment input), and the padding mask passed only when the batch
//! has padding.

use std::path::Path;

use candle_core::{DType, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::debertav2::{Config, DebertaV2SeqClassificationModel};

use serde_json::{Map, Value, json};

use crate::WorkerError;

/// Hugging Face `DebertaV2Config` defaults for keys a `config.json` may leave
/// out (transformers then uses these; candle's `Config` would refuse the file).
/// The pooler size defaults to `hidden_size`, as in transformers.
fn hf_defaults(hidden_size: Option<&Value>) -> [(&'static str, Value); 14] {
    [
        ("hidden_act", json!("gelu")),
        ("hidden_dropout_prob", json!(0.1)),
        ("attention_probs_dropout_prob", json!(0.1)),
        ("max_position_embeddings", json!(512)),
        ("type_vocab_size", json!(0)),
        ("initializer_range", json!(0.02)),
        ("layer_norm_eps", json!(1e-7)),
        ("relative_attention", json!(false)),
        ("max_relative_positions", json!(-1)),
        ("position_biased_input", json!(true)),
        ("pos_att_type", json!([])),
        ("pooler_hidden_size", hidden_size.cloned().unwrap_or(Value::Null)),
        ("pooler_hidden_act", json!("gelu")),
        ("pooler_dropout", json!(0.0)),
    ]
}

/// candle's `Config` from a `config.json` object: missing (or null) keys get
/// transformers' defaults, and the head gets `num_labels` classes (labels were
/// already read and checked from `id2label` by `ModelConfig`).
fn candle_config(mut raw: Map<String, Value>, num_labels: usize) -> Result<Config, serde_json::Error> {
    for (key, default) in hf_defaults(raw.get("hidden_size")) {
        if raw.get(key).is_none_or(Value::is_null) {
            raw.insert(key.to_owned(), default);
        }
    }
    let id2label: Map<String, Value> = (0..num_labels).map(|i| (i.to_string(), json!(i.to_string()))).collect();
    raw.insert("id2label".to_owned(), Value::Object(id2label));
    raw.remove("label2id");
    serde_json::from_value(Value::Object(raw))
}

pub struct DebertaV2Classifier {
    /// Boxed: the candle model keeps a copy of its config in several layers
    /// (~1.7 kB inline), which would bloat every `Network` value.
    model: Box<DebertaV2SeqClassificationModel>,
}

impl DebertaV2Classifier {
    /// Loads the network described by `config_path` (the folder's
    /// `config.json`) with `num_labels` classes. Also returns the padding id
    /// (`pad_token_id`, 0 when the config has none, as in DeBERTa-v3's vocab).
    pub fn load(vb: VarBuilder, config_path: &Path, num_labels: usize) -> Result<(Self, u32), WorkerError> {
        let raw: Map<String, Value> = super::read_json(config_path)?;
        let config = candle_config(raw, num_labels)
            .map_err(|source| WorkerError::Json { path: config_path.to_path_buf(), source })?;
        let pad_id = u32::try_from(config.pad_token_id.unwrap_or(0))
            .map_err(|_| WorkerError::InvalidConfig("pad_token_id out of range".to_owned()))?;
        let model = DebertaV2SeqClassificationModel::load(vb.pp("deberta"), &config, None)?;
        Ok((Self { model: Box::new(model) }, pad_id))
    }

    /// Logits `(batch, num_labels)` for `input_ids` `(batch, seq)`;
    /// `attention_mask` as in the BERT path (`None`: no padding).
    pub fn forward(&self, input_ids: &Tensor, attention_mask: Option<&Tensor>) -> candle_core::Result<Tensor> {
        // The candle model builds an all-ones mask itself when given none.
        let mask = attention_mask.map(|m| m.to_dtype(DType::U32)).transpose()?;
        self.model.forward(input_ids, None, mask)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(config: Value) -> Config {
        let Value::Object(raw) = config else { panic!("not an object") };
        candle_config(raw, 2).unwrap()
    }

    #[test]
    fn transformers_4_config_of_deberta_v3_small_loads() {
        // As transformers 4.43 prints microsoft/deberta-v3-small's config.
        let config = parse(json!({
            "attention_probs_dropout_prob": 0.1, "hidden_act": "gelu",
            "hidden_dropout_prob": 0.1, "hidden_size": 768, "initializer_range": 0.02,
            "intermediate_size": 3072, "layer_norm_eps": 1e-07,
            "max_position_embeddings": 512, "max_relative_positions": -1,
            "model_type": "deberta-v2", "norm_rel_ebd": "layer_norm",
            "num_attention_heads": 12, "num_hidden_layers": 6, "pad_token_id": 0,
            "pooler_dropout": 0, "pooler_hidden_act": "gelu", "pooler_hidden_size": 768,
            "pos_att_type": ["p2c", "c2p"], "position_biased_input": false,
            "position_buckets": 256, "relative_attention": true, "share_att_key": true,
            "torch_dtype": "float32", "transformers_version": "4.43.3",
            "type_vocab_size": 0, "vocab_size": 128100,
            "id2label": {"0": "SAFE", "1": "INJECTION"}
        }));
        assert_eq!(config.position_buckets, Some(256));
        assert_eq!(config.pos_att_type, ["p2c", "c2p"]);
        assert_eq!(config.pooler_hidden_size, Some(768));
    }

    #[test]
    fn missing_keys_get_transformers_defaults() {
        let config = parse(json!({
            "model_type": "deberta-v2", "vocab_size": 100, "hidden_size": 32,
            "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 64,
            "pos_att_type": "p2c|c2p", "pooler_dropout": null,
            "id2label": {"0": "LABEL_0", "1": "LABEL_1"}
        }));
        assert_eq!(config.pos_att_type, ["p2c", "c2p"]);
        assert_eq!(config.pooler_hidden_size, Some(32));
        assert_eq!(config.pooler_dropout, Some(0.0));
        assert!(config.position_biased_input);
        assert!(!config.relative_attention);
        assert_eq!(config.layer_norm_eps, 1e-7);
        assert_eq!(config.id2label.map(|labels| labels.len()), Some(2));
    }
}
