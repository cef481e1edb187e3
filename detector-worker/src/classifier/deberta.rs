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

use crate::WorkerError;

pub struct DebertaV2Classifier {
    /// Boxed: the candle model keeps a copy of its config in several layers
    /// (~1.7 kB inline), which would bloat every `Network` value.
    model: Box<DebertaV2SeqClassificationModel>,
}

impl DebertaV2Classifier {
    /// Loads the network described by `config_path` (the folder's
    /// `config.json`) with `num_labels` classes. Also returns the padding id
    /// (`pad_token_id`, 0 when the config has none, as in DeBERTa-v3's vocab).
    pub fn load(
        vb: VarBuilder,
        config_path: &Path,
        num_labels: usize,
    ) -> Result<(Self, u32), WorkerError> {
        let mut config: Config = super::read_json(config_path)?;
        if config.pooler_hidden_size.is_none() || config.pooler_hidden_act.is_none() {
            return Err(WorkerError::InvalidConfig(
                "deberta-v2 config needs pooler_hidden_size and pooler_hidden_act \
                 (a DebertaV2ForSequenceClassification folder has them)"
                    .to_owned(),
            ));
        }
        // The context pooler insists on a dropout rate; inference ignores it.
        config.pooler_dropout.get_or_insert(0.0);
        // Labels were already read and checked from id2label (ModelConfig); the
        // head only needs their number.
        config.id2label = Some((0..num_labels as u32).map(|i| (i, i.to_string())).collect());
        config.label2id = None;
        let pad_id = u32::try_from(config.pad_token_id.unwrap_or(0))
            .map_err(|_| WorkerError::InvalidConfig("pad_token_id out of range".to_owned()))?;
        let model = DebertaV2SeqClassificationModel::load(vb.pp("deberta"), &config, None)?;
        Ok((
            Self {
                model: Box::new(model),
            },
            pad_id,
        ))
    }

    /// Logits `(batch, num_labels)` for `input_ids` `(batch, seq)`;
    /// `attention_mask` as in the BERT path (`None`: no padding).
    pub fn forward(
        &self,
        input_ids: &Tensor,
        attention_mask: Option<&Tensor>,
    ) -> candle_core::Result<Tensor> {
        // The candle model builds an all-ones mask itself when given none.
        let mask = attention_mask.map(|m| m.to_dtype(DType::U32)).transpose()?;
        self.model.forward(input_ids, None, mask)
    }
}
