//! Intents from a pretrained sentence encoder (feature `encoder`): the frozen embedding of each message
//! ([`shopml_encoder::Encoder`], all-MiniLM-L6-v2 by default) and a trained linear softmax head over it —
//! the first of issue 16's steps (fine-tuning the encoder's top layers is the next). Behind the same
//! [`IntentModel`] trait as the fast model, so [`Classifier`](super::Classifier) calibrates and decides
//! out-of-scope for it the same way.

use super::IntentModel;
use crate::data::Example;
use crate::error::{ChatError, Result};
use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use shopml_encoder::Encoder;
use std::sync::Arc;

/// Hyper-parameters of the head.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EncoderIntentParams {
    /// Full-batch Adam steps.
    pub steps: usize,
    /// Adam learning rate.
    pub learning_rate: f64,
    /// Decoupled weight decay.
    pub weight_decay: f64,
    /// Embeddings are unit vectors; they are multiplied by this before the head (a fixed logit scale, so
    /// the head's weights stay small).
    pub scale: f32,
}

impl Default for EncoderIntentParams {
    fn default() -> Self {
        EncoderIntentParams { steps: 300, learning_rate: 0.01, weight_decay: 1e-4, scale: 20.0 }
    }
}

/// A linear softmax head over frozen sentence embeddings.
#[derive(Debug)]
pub struct EncoderIntent {
    encoder: Arc<Encoder>,
    labels: Vec<String>,
    /// `(labels, dim)` row-major.
    weight: Vec<f32>,
    bias: Vec<f32>,
    scale: f32,
}

impl EncoderIntentParams {
    /// Embeds the training messages (batched, cached in the encoder) and fits the head.
    pub fn fit(&self, encoder: Arc<Encoder>, train: &[Example]) -> Result<EncoderIntent> {
        let mut labels: Vec<String> = train.iter().map(|e| e.label.clone()).collect();
        labels.sort();
        labels.dedup();
        if labels.len() < 2 {
            return Err(ChatError::Data(format!("{} intent(s) in the training data; need at least 2", labels.len())));
        }
        let texts: Vec<&str> = train.iter().map(|e| e.text.as_str()).collect();
        let x = encoder.embed(&texts)?;
        let (n, d, l) = (x.nrows(), x.ncols(), labels.len());
        let gold: Vec<u32> = train.iter().map(|e| labels.binary_search(&e.label).expect("a label") as u32).collect();
        let dev = Device::Cpu;
        let xs = (Tensor::from_vec(x.iter().copied().collect(), (n, d), &dev)? * self.scale as f64)?;
        let ys = Tensor::from_vec(gold, n, &dev)?;
        let w = Var::zeros((l, d), DType::F32, &dev)?;
        let b = Var::zeros(l, DType::F32, &dev)?;
        let params = ParamsAdamW { lr: self.learning_rate, weight_decay: self.weight_decay, ..Default::default() };
        let mut opt = AdamW::new(vec![w.clone(), b.clone()], params)?;
        for _ in 0..self.steps {
            let logits = xs.matmul(&w.as_tensor().t()?)?.broadcast_add(b.as_tensor())?;
            let loss = candle_nn::loss::cross_entropy(&logits, &ys)?;
            opt.backward_step(&loss)?;
        }
        let weight = w.as_tensor().flatten_all()?.to_vec1::<f32>()?;
        let bias = b.as_tensor().to_vec1::<f32>()?;
        if weight.iter().chain(&bias).any(|v| !v.is_finite()) {
            return Err(ChatError::Diverged("the encoder head's weights are not finite".into()));
        }
        Ok(EncoderIntent { encoder, labels, weight, bias, scale: self.scale })
    }
}

impl EncoderIntent {
    /// Embeds `texts` in batches into the encoder's cache, so that scoring them one by one afterwards
    /// (calibration, evaluation) costs no further encoding.
    pub fn warm(&self, texts: &[&str]) -> Result<()> {
        self.encoder.embed(texts).map(|_| ()).map_err(ChatError::from)
    }

    /// The encoder.
    pub fn encoder(&self) -> &Arc<Encoder> {
        &self.encoder
    }
}

impl IntentModel for EncoderIntent {
    fn labels(&self) -> &[String] {
        &self.labels
    }

    fn logits(&self, text: &str) -> Result<Vec<f32>> {
        let x = self.encoder.embed(&[text])?;
        let x = x.row(0);
        let d = x.len();
        Ok(self
            .bias
            .iter()
            .enumerate()
            .map(|(j, b)| {
                b + self.scale * self.weight[j * d..(j + 1) * d].iter().zip(x.iter()).map(|(w, v)| w * v).sum::<f32>()
            })
            .collect())
    }
}
