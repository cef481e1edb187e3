//! BERT-family sequence classifier in the standard Hugging Face
//! `BertForSequenceClassification` layout: `bert.*` encoder, `bert.pooler.dense`
//! (tanh over the `[CLS]` state) and a `classifier` Linear head.
//!
//! The encoder is written here on Candle ops rather than taken from
//! `candle_transformers::models::bert`, for CPU speed (benches/ml/RESULTS.md):
//! - Q, K and V are one fused matmul (weights concatenated at load), and every
//!   Linear runs as one 2-D matmul over `batch × seq` rows, with its weight
//!   stored pre-transposed and contiguous;
//! - the elementwise work around the matmuls runs as in-place fused kernels
//!   ([`super::fused`]): bias + GELU and bias + residual + layer norm, with
//!   vectorised exp/erf instead of libm's scalar calls;
//! - attention (scores, scale + mask + softmax, times V) is one op over the
//!   QKV output ([`super::attention`]): one task per window and head, no
//!   split or transpose copies;
//! - the attention mask is only added when the batch has padding (a single
//!   window or equal lengths need none: same result, less work).
//!
//! Token types are all zero (single-segment input) and positions absolute, as
//! in every BERT classifier this worker loads.

use candle_core::{DType, IndexOp, Module, Tensor};
use candle_nn::{Embedding, VarBuilder, embedding};
use candle_transformers::models::bert::{Config, HiddenAct};

use super::attention;
use super::fused;
use super::simd::Activation;

/// A Linear layer kept as `x @ weight_t + bias` with `weight_t` of shape
/// `(in, out)`, contiguous.
struct Dense {
    weight_t: Tensor,
    bias: Tensor,
}

impl Dense {
    fn load(vb: &VarBuilder, inputs: usize, outputs: usize) -> candle_core::Result<Self> {
        let weight = vb.get((outputs, inputs), "weight")?;
        let bias = vb.get(outputs, "bias")?;
        Ok(Dense { weight_t: weight.t()?.contiguous()?, bias })
    }

    /// `inputs` Linears with the same input, fused along the output axis.
    fn load_fused(vbs: &[VarBuilder], inputs: usize, outputs: usize) -> candle_core::Result<Self> {
        let mut weights = Vec::with_capacity(vbs.len());
        let mut biases = Vec::with_capacity(vbs.len());
        for vb in vbs {
            weights.push(vb.get((outputs, inputs), "weight")?);
            biases.push(vb.get(outputs, "bias")?);
        }
        let weight = Tensor::cat(&weights, 0)?;
        Ok(Dense { weight_t: weight.t()?.contiguous()?, bias: Tensor::cat(&biases, 0)? })
    }

    /// `x`: `(rows, in)` → `activation(x @ W + b)`, `(rows, out)`.
    fn forward(&self, x: &Tensor, activation: Option<Activation>) -> candle_core::Result<Tensor> {
        let y = x.matmul(&self.weight_t)?;
        fused::bias_activation(&y, &self.bias, activation)?;
        Ok(y)
    }
}

/// A Linear whose output is added to the sublayer input and layer-normed
/// (`BertSelfOutput`, `BertOutput`): `LayerNorm(x @ W + b + residual)`.
struct DenseNorm {
    weight_t: Tensor,
    /// `[bias; gamma; beta]`, `(3, out)`.
    params: Tensor,
    eps: f32,
}

impl DenseNorm {
    fn load(
        dense: &VarBuilder,
        norm: &VarBuilder,
        inputs: usize,
        outputs: usize,
        eps: f64,
    ) -> candle_core::Result<Self> {
        let Dense { weight_t, bias } = Dense::load(dense, inputs, outputs)?;
        let params = Tensor::stack(&[bias, norm.get(outputs, "weight")?, norm.get(outputs, "bias")?], 0)?;
        Ok(DenseNorm { weight_t, params, eps: eps as f32 })
    }

    fn forward(&self, x: &Tensor, residual: &Tensor) -> candle_core::Result<Tensor> {
        let y = x.matmul(&self.weight_t)?;
        fused::residual_norm(&y, residual, &self.params, self.eps)?;
        Ok(y)
    }
}

struct Norm {
    weight: Tensor,
    bias: Tensor,
    eps: f32,
}

impl Norm {
    fn load(vb: &VarBuilder, size: usize, eps: f64) -> candle_core::Result<Self> {
        Ok(Norm { weight: vb.get(size, "weight")?, bias: vb.get(size, "bias")?, eps: eps as f32 })
    }

    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        candle_nn::ops::layer_norm(x, &self.weight, &self.bias, self.eps)
    }
}

struct Layer {
    qkv: Dense,
    attention_out: DenseNorm,
    intermediate: Dense,
    output: DenseNorm,
}

pub struct BertSequenceClassifier {
    word_embeddings: Embedding,
    position_embeddings: Tensor,
    token_type_zero: Tensor,
    embedding_norm: Norm,
    layers: Vec<Layer>,
    heads: usize,
    head_size: usize,
    hidden: usize,
    act: Activation,
    pooler: Dense,
    classifier: Dense,
}

impl BertSequenceClassifier {
    pub fn load(vb: VarBuilder, config: &Config, num_labels: usize) -> candle_core::Result<Self> {
        let h = config.hidden_size;
        let heads = config.num_attention_heads;
        if heads == 0 || !h.is_multiple_of(heads) {
            candle_core::bail!("hidden_size {h} is not a multiple of num_attention_heads {heads}");
        }
        let eps = config.layer_norm_eps;
        let bert = vb.pp("bert");
        let emb = bert.pp("embeddings");
        let word_embeddings = embedding(config.vocab_size, h, emb.pp("word_embeddings"))?;
        let position_embeddings = emb.pp("position_embeddings").get((config.max_position_embeddings, h), "weight")?;
        let token_type_zero =
            emb.pp("token_type_embeddings").get((config.type_vocab_size, h), "weight")?.i(0)?.contiguous()?;
        let embedding_norm = Norm::load(&emb.pp("LayerNorm"), h, eps)?;
        let mut layers = Vec::with_capacity(config.num_hidden_layers);
        for index in 0..config.num_hidden_layers {
            let l = bert.pp("encoder").pp("layer").pp(index.to_string());
            let attention = l.pp("attention");
            let s = attention.pp("self");
            layers.push(Layer {
                qkv: Dense::load_fused(&[s.pp("query"), s.pp("key"), s.pp("value")], h, h)?,
                attention_out: DenseNorm::load(
                    &attention.pp("output").pp("dense"),
                    &attention.pp("output").pp("LayerNorm"),
                    h,
                    h,
                    eps,
                )?,
                intermediate: Dense::load(&l.pp("intermediate").pp("dense"), h, config.intermediate_size)?,
                output: DenseNorm::load(
                    &l.pp("output").pp("dense"),
                    &l.pp("output").pp("LayerNorm"),
                    config.intermediate_size,
                    h,
                    eps,
                )?,
            });
        }
        Ok(Self {
            word_embeddings,
            position_embeddings,
            token_type_zero,
            embedding_norm,
            layers,
            heads,
            head_size: h / heads,
            hidden: h,
            act: match config.hidden_act {
                HiddenAct::Gelu => Activation::GeluErf,
                HiddenAct::GeluApproximate => Activation::GeluTanh,
                HiddenAct::Relu => Activation::Relu,
            },
            pooler: Dense::load(&bert.pp("pooler").pp("dense"), h, h)?,
            classifier: Dense::load(&vb.pp("classifier"), h, num_labels)?,
        })
    }

    /// Logits `(batch, num_labels)` for `input_ids` `(batch, seq)`.
    /// `attention_mask` (1 = token, 0 = padding, same shape) is needed only
    /// when the batch has padding; `None` means every position is a token.
    pub fn forward(&self, input_ids: &Tensor, attention_mask: Option<&Tensor>) -> candle_core::Result<Tensor> {
        let (batch, seq) = input_ids.dims2()?;
        let rows = batch * seq;
        let positions = self.position_embeddings.narrow(0, 0, seq)?;
        let x = self
            .word_embeddings
            .forward(input_ids)?
            .broadcast_add(&positions)?
            .broadcast_add(&self.token_type_zero)?
            .reshape((rows, self.hidden))?;
        let mut x = self.embedding_norm.forward(&x)?;
        // Additive mask (batch, seq): 0 for tokens, f32::MIN for padding.
        let mask = match attention_mask {
            Some(mask) => {
                let padding = (1.0 - mask.to_dtype(DType::F32)?)?;
                Some((padding * f64::from(f32::MIN))?.contiguous()?)
            }
            None => None,
        };
        let scale = 1.0 / (self.head_size as f32).sqrt();
        for layer in &self.layers {
            x = self.layer(layer, &x, batch, mask.as_ref(), scale)?;
        }
        let cls = x.reshape((batch, seq, self.hidden))?.i((.., 0))?.contiguous()?;
        let pooled = self.pooler.forward(&cls, None)?.tanh()?;
        self.classifier.forward(&pooled, None)
    }

    fn layer(
        &self,
        layer: &Layer,
        x: &Tensor,
        batch: usize,
        mask: Option<&Tensor>,
        scale: f32,
    ) -> candle_core::Result<Tensor> {
        let qkv = layer.qkv.forward(x, None)?;
        let context = attention::attention(&qkv, batch, self.heads, mask, scale)?;
        let attended = layer.attention_out.forward(&context, x)?;
        let inner = layer.intermediate.forward(&attended, Some(self.act))?;
        layer.output.forward(&inner, &attended)
    }
}
