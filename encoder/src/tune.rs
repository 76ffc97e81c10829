//! The encoder split for fine-tuning: its lower layers frozen (run once per text, their token states kept
//! by the caller) and its top layers trainable ([`Tunable`]). Training the top `k` of 6 layers costs a
//! forward and backward pass through `k` layers per step, not through the whole network.

use crate::layer::{Layer, NAMES};
use crate::{backend, Encoder, EncoderError, Result, BATCH};
use candle_core::{DType, Device, Tensor, Var};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::BertModel;
use ndarray::Array2;
use std::collections::HashMap;

/// One text's token states after the frozen lower layers: `(tokens, dim)`.
pub type TokenStates = Array2<f32>;

/// The encoder with its top layers trainable. The lower layers are the loaded encoder's own (shared, not
/// copied); the top ones are fresh variables initialised from it.
pub struct Tunable {
    lower: BertModel,
    layers: Vec<Layer>,
    from: usize,
    dim: usize,
}

impl std::fmt::Debug for Tunable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tunable").field("from", &self.from).field("top", &self.layers.len()).finish_non_exhaustive()
    }
}

impl Encoder {
    /// Number of transformer layers (6 for all-MiniLM-L6-v2).
    pub fn layer_count(&self) -> usize {
        self.config.num_hidden_layers
    }

    /// The encoder with its top `top` layers trainable (1 ≤ `top` ≤ [`layer_count`](Self::layer_count)).
    pub fn tunable(&self, top: usize) -> Result<Tunable> {
        let n = self.layer_count();
        if top == 0 || top > n {
            return Err(EncoderError::Backend(format!("top layers must be in 1..={n}, got {top}")));
        }
        let from = n - top;
        let mut config = self.config.clone();
        config.num_hidden_layers = from;
        let vb = VarBuilder::from_tensors(self.tensors.clone(), DType::F32, &Device::Cpu);
        let vb = if self.prefix.is_empty() { vb } else { vb.pp(self.prefix.trim_end_matches('.')) };
        let lower = BertModel::load(vb, &config).map_err(backend)?;
        let (heads, eps) = (self.config.num_attention_heads, self.config.layer_norm_eps);
        let layers = (from..n)
            .map(|i| Layer::new(&self.tensors, &format!("{}encoder.layer.{i}.", self.prefix), heads, eps))
            .collect::<candle_core::Result<Vec<_>>>()
            .map_err(backend)?;
        Ok(Tunable { lower, layers, from, dim: self.dim })
    }
}

impl Tunable {
    /// The trainable variables.
    pub fn vars(&self) -> Vec<Var> {
        self.layers.iter().flat_map(|l| l.vars.iter().cloned()).collect()
    }

    /// Index of the first trainable layer.
    pub fn from(&self) -> usize {
        self.from
    }

    /// Token states after the frozen lower layers, one `(tokens, dim)` array per text, in order; computed
    /// in batches of similar length.
    pub fn lower(&self, encoder: &Encoder, texts: &[&str]) -> Result<Vec<TokenStates>> {
        let ids = encoder.token_ids(texts)?;
        let mut out: Vec<Array2<f32>> = vec![Array2::zeros((0, self.dim)); texts.len()];
        let mut order: Vec<usize> = (0..ids.len()).collect();
        order.sort_by_key(|&j| ids[j].len());
        for chunk in order.chunks(BATCH) {
            let rows: Vec<&[u32]> = chunk.iter().map(|&j| ids[j].as_slice()).collect();
            let (ids_t, mask) = crate::padded(&rows).map_err(backend)?;
            let h = self.lower.forward(&ids_t, &ids_t.zeros_like().map_err(backend)?, Some(&mask)).map_err(backend)?;
            let l = h.dim(1).map_err(backend)?;
            let flat = h.flatten_all().and_then(|t| t.to_vec1::<f32>()).map_err(backend)?;
            for (s, &j) in chunk.iter().enumerate() {
                let n = rows[s].len();
                let start = s * l * self.dim;
                out[j] = Array2::from_shape_vec((n, self.dim), flat[start..start + n * self.dim].to_vec())
                    .map_err(backend)?;
            }
        }
        Ok(out)
    }

    /// Mean-pooled, L2-normalised embeddings `(batch, dim)` of lower token states through the trainable
    /// layers — differentiable with respect to [`vars`](Self::vars).
    pub fn upper(&self, states: &[&Array2<f32>]) -> candle_core::Result<Tensor> {
        let (b, d) = (states.len(), self.dim);
        let l = states.iter().map(|s| s.nrows()).max().unwrap_or(0).max(1);
        let (mut x, mut m) = (vec![0f32; b * l * d], vec![0f32; b * l]);
        for (s, st) in states.iter().enumerate() {
            for (t, row) in st.rows().into_iter().enumerate() {
                x[(s * l + t) * d..(s * l + t + 1) * d].iter_mut().zip(row.iter()).for_each(|(o, v)| *o = *v);
            }
            m[s * l..s * l + st.nrows()].fill(1.0);
        }
        let dev = Device::Cpu;
        let mut h = Tensor::from_vec(x, (b, l, d), &dev)?;
        let mask = Tensor::from_vec(m, (b, l), &dev)?;
        let additive = ((mask.ones_like()? - &mask)? * -1e9)?.reshape((b, 1, 1, l))?;
        for layer in &self.layers {
            h = layer.forward(&h, &additive)?;
        }
        crate::pool(&h, &mask)
    }

    /// Embeddings of `texts` through the lower and the (tuned) upper layers, not cached.
    pub fn embed(&self, encoder: &Encoder, texts: &[&str]) -> Result<Array2<f32>> {
        self.embed_states(&self.lower(encoder, texts)?)
    }

    /// Embeddings `(states, dim)` of lower token states through the upper layers, in batches, no gradient
    /// kept.
    pub fn embed_states(&self, states: &[TokenStates]) -> Result<Array2<f32>> {
        let mut out = Array2::zeros((states.len(), self.dim));
        for (c, chunk) in states.chunks(BATCH).enumerate() {
            let refs: Vec<&Array2<f32>> = chunk.iter().collect();
            let v = self.upper(&refs).and_then(|t| t.flatten_all()?.to_vec1::<f32>()).map_err(backend)?;
            for (s, row) in v.chunks(self.dim).enumerate() {
                out.row_mut(c * BATCH + s).iter_mut().zip(row).for_each(|(o, x)| *o = *x);
            }
        }
        Ok(out)
    }

    /// The trainable layers' weights by name (`layer.{i}.{hf name}`, `i` counted from the first trainable).
    pub fn named(&self) -> Vec<(String, Tensor)> {
        self.layers
            .iter()
            .enumerate()
            .flat_map(|(i, l)| {
                NAMES.iter().zip(&l.vars).map(move |(n, v)| (format!("layer.{i}.{n}"), v.as_tensor().clone()))
            })
            .collect()
    }

    /// Sets the trainable layers from [`named`](Self::named)'s names; every tensor must be there with its
    /// shape and finite values.
    pub fn set(&self, named: &HashMap<String, Tensor>) -> Result<()> {
        let bad = |reason: String| EncoderError::Backend(format!("tuned layers: {reason}"));
        for (i, l) in self.layers.iter().enumerate() {
            for (n, v) in NAMES.iter().zip(&l.vars) {
                let key = format!("layer.{i}.{n}");
                let t = named.get(&key).ok_or_else(|| bad(format!("{key} is missing")))?;
                if t.dims() != v.dims() {
                    return Err(bad(format!("{key} has shape {:?}, expected {:?}", t.dims(), v.dims())));
                }
                let vals = t.flatten_all().and_then(|t| t.to_vec1::<f32>()).map_err(backend)?;
                if vals.iter().any(|x| !x.is_finite()) {
                    return Err(bad(format!("{key} holds a non-finite value")));
                }
                v.set(t).map_err(backend)?;
            }
        }
        Ok(())
    }
}
