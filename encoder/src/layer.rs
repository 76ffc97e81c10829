//! One BERT transformer layer written out with differentiable candle ops, for fine-tuning.
//!
//! candle-transformers' `BertLayer` cannot be trained: its `LayerNorm` runs candle-nn's fused kernel,
//! which has no backward pass, so no gradient reaches the weights below it (and its `forward` is private).
//! This is the same computation — post-norm self-attention and GELU feed-forward, as Hugging Face's
//! `BertLayer` — with the layer normalisation composed from primitive ops, over [`Var`]s.

use candle_core::{Result, Tensor, Var, D};
use std::collections::HashMap;

/// The parameter names of one layer, relative to `encoder.layer.{i}.`, and whether each is a matrix.
pub(crate) const NAMES: [&str; 16] = [
    "attention.self.query.weight",
    "attention.self.query.bias",
    "attention.self.key.weight",
    "attention.self.key.bias",
    "attention.self.value.weight",
    "attention.self.value.bias",
    "attention.output.dense.weight",
    "attention.output.dense.bias",
    "attention.output.LayerNorm.weight",
    "attention.output.LayerNorm.bias",
    "intermediate.dense.weight",
    "intermediate.dense.bias",
    "output.dense.weight",
    "output.dense.bias",
    "output.LayerNorm.weight",
    "output.LayerNorm.bias",
];

/// A trainable BERT layer: its parameters in [`NAMES`] order.
pub(crate) struct Layer {
    pub(crate) vars: Vec<Var>,
    heads: usize,
    eps: f64,
}

fn linear(x: &Tensor, w: &Var, b: &Var) -> Result<Tensor> {
    x.broadcast_matmul(&w.as_tensor().t()?)?.broadcast_add(b.as_tensor())
}

fn layer_norm(x: &Tensor, w: &Var, b: &Var, eps: f64) -> Result<Tensor> {
    let mean = x.mean_keepdim(D::Minus1)?;
    let centred = x.broadcast_sub(&mean)?;
    let var = centred.sqr()?.mean_keepdim(D::Minus1)?;
    let normed = centred.broadcast_div(&(var + eps)?.sqrt()?)?;
    normed.broadcast_mul(w.as_tensor())?.broadcast_add(b.as_tensor())
}

impl Layer {
    /// The layer from `tensors[prefix + name]` for every name in [`NAMES`], copied into fresh variables.
    pub(crate) fn new(tensors: &HashMap<String, Tensor>, prefix: &str, heads: usize, eps: f64) -> Result<Layer> {
        let vars = NAMES
            .iter()
            .map(|n| {
                let key = format!("{prefix}{n}");
                let t = tensors.get(&key).ok_or_else(|| candle_core::Error::Msg(format!("tensor {key} is missing")))?;
                Var::from_tensor(&t.to_dtype(candle_core::DType::F32)?)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Layer { vars, heads, eps })
    }

    /// `x` is `(batch, tokens, hidden)`, `mask` the additive attention mask `(batch, 1, 1, tokens)`.
    pub(crate) fn forward(&self, x: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let v = &self.vars;
        let (b, l, h) = x.dims3()?;
        let hd = h / self.heads;
        let split = |t: Tensor| t.reshape((b, l, self.heads, hd))?.transpose(1, 2)?.contiguous();
        let q = split(linear(x, &v[0], &v[1])?)?;
        let k = split(linear(x, &v[2], &v[3])?)?;
        let val = split(linear(x, &v[4], &v[5])?)?;
        let scores = (q.matmul(&k.t()?)? / (hd as f64).sqrt())?.broadcast_add(mask)?;
        let probs = candle_nn::ops::softmax(&scores, D::Minus1)?;
        let ctx = probs.matmul(&val)?.transpose(1, 2)?.contiguous()?.reshape((b, l, h))?;
        let attn = layer_norm(&(linear(&ctx, &v[6], &v[7])? + x)?, &v[8], &v[9], self.eps)?;
        let inter = linear(&attn, &v[10], &v[11])?.gelu_erf()?;
        layer_norm(&(linear(&inter, &v[12], &v[13])? + &attn)?, &v[14], &v[15], self.eps)
    }
}
