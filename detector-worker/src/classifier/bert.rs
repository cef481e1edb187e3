//! BERT-family sequence classifier in the standard Hugging Face
//! `BertForSequenceClassification` layout: `bert.*` encoder, `bert.pooler.dense`
//! (tanh over the `[CLS]` state) and a `classifier` Linear head. Candle's
//! `BertModel` has no pooler or head, so both are added here.

use candle_core::{IndexOp, Module, Tensor};
use candle_nn::{Linear, VarBuilder, linear};
use candle_transformers::models::bert::{BertModel, Config};

pub struct BertSequenceClassifier {
    encoder: BertModel,
    pooler: Linear,
    classifier: Linear,
}

impl BertSequenceClassifier {
    pub fn load(vb: VarBuilder, config: &Config, num_labels: usize) -> candle_core::Result<Self> {
        let bert = vb.pp("bert");
        let encoder = BertModel::load(bert.clone(), config)?;
        let pooler = linear(
            config.hidden_size,
            config.hidden_size,
            bert.pp("pooler").pp("dense"),
        )?;
        let classifier = linear(config.hidden_size, num_labels, vb.pp("classifier"))?;
        Ok(Self {
            encoder,
            pooler,
            classifier,
        })
    }

    /// Logits `(batch, num_labels)` for `input_ids`/`attention_mask` of shape
    /// `(batch, seq)`; token types are all zero (single-segment input).
    pub fn forward(
        &self,
        input_ids: &Tensor,
        attention_mask: &Tensor,
    ) -> candle_core::Result<Tensor> {
        let token_type_ids = input_ids.zeros_like()?;
        let hidden = self
            .encoder
            .forward(input_ids, &token_type_ids, Some(attention_mask))?;
        let cls = hidden.i((.., 0))?.contiguous()?;
        let pooled = self.pooler.forward(&cls)?.tanh()?;
        self.classifier.forward(&pooled)
    }
}
