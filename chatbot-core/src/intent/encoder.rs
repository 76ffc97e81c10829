//! Intents from a pretrained sentence encoder (feature `encoder`): the embedding of each message
//! ([`shopml_encoder::Encoder`], all-MiniLM-L6-v2 by default) and a linear softmax head over it. The head
//! is first fitted on frozen embeddings; with [`EncoderIntentParams::tune_layers`] > 0 the encoder's top
//! layers are then fine-tuned together with the head (the lower layers stay frozen, so their token states
//! are computed once). Behind the same [`IntentModel`] trait as the fast model, so
//! [`Classifier`](super::Classifier) calibrates and decides out-of-scope for it the same way.

use super::gate::Gate;
use super::IntentModel;
use crate::data::{Example, OOS};
use crate::error::{ChatError, Result};
use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use shopml_encoder::{Cache, Encoder, TokenStates, Tunable};
use std::sync::Arc;

/// Hyper-parameters of the head and of fine-tuning.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EncoderIntentParams {
    /// Full-batch Adam steps of the head on frozen embeddings.
    pub steps: usize,
    /// Adam learning rate of the head.
    pub learning_rate: f64,
    /// Decoupled weight decay.
    pub weight_decay: f64,
    /// Embeddings are unit vectors; they are multiplied by this before the head (a fixed logit scale, so
    /// the head's weights stay small).
    pub scale: f32,
    /// Top encoder layers fine-tuned after the head (0: the encoder stays frozen).
    pub tune_layers: usize,
    /// Fine-tuning epochs.
    pub epochs: usize,
    /// Messages per fine-tuning step.
    pub batch: usize,
    /// Peak learning rate of the encoder layers (linear decay to 0); the head uses `learning_rate / 10`.
    pub tune_learning_rate: f64,
    /// Seed of the fine-tuning order.
    pub seed: u64,
}

impl Default for EncoderIntentParams {
    fn default() -> Self {
        EncoderIntentParams {
            steps: 300,
            learning_rate: 0.01,
            weight_decay: 1e-4,
            scale: 20.0,
            tune_layers: 0,
            epochs: 3,
            batch: 32,
            tune_learning_rate: 1e-4,
            seed: 7,
        }
    }
}

/// A linear softmax head over sentence embeddings, with the encoder's top layers fine-tuned or not.
#[derive(Debug)]
pub struct EncoderIntent {
    pub(super) params: EncoderIntentParams,
    pub(super) encoder: Arc<Encoder>,
    pub(super) tuned: Option<Tunable>,
    /// Embeddings through the tuned layers (the encoder caches its own, frozen ones).
    pub(super) cache: Cache,
    pub(super) labels: Vec<String>,
    /// `(labels, dim)` row-major.
    pub(super) weight: Vec<f32>,
    pub(super) bias: Vec<f32>,
    pub(super) gate: Option<Gate>,
}

/// Called after each fine-tuning epoch with (epoch, mean training loss).
pub type Progress<'a> = &'a mut dyn FnMut(usize, f32);

impl EncoderIntentParams {
    /// Embeds the training messages (batched, cached in the encoder), fits the head, then fine-tunes
    /// the top layers when [`tune_layers`](Self::tune_layers) > 0.
    pub fn fit(&self, encoder: Arc<Encoder>, train: &[Example]) -> Result<EncoderIntent> {
        self.fit_observed(encoder, train, &mut |_, _| {})
    }

    /// [`fit`](Self::fit), reporting each fine-tuning epoch to `progress`.
    pub fn fit_observed(&self, encoder: Arc<Encoder>, train: &[Example], progress: Progress) -> Result<EncoderIntent> {
        self.validate(&encoder)?;
        let mut labels: Vec<String> = train.iter().map(|e| e.label.clone()).collect();
        labels.sort();
        labels.dedup();
        if labels.len() < 2 {
            return Err(ChatError::Data(format!("{} intent(s) in the training data; need at least 2", labels.len())));
        }
        let texts: Vec<&str> = train.iter().map(|e| e.text.as_str()).collect();
        // With fine-tuning, the lower layers run once: the head's first embeddings come from their states.
        let (x, split) = match self.tune_layers {
            0 => (encoder.embed(&texts)?, None),
            k => {
                let tunable = encoder.tunable(k)?;
                let states = tunable.lower(&encoder, &texts)?;
                (tunable.embed_states(&states)?, Some((tunable, states)))
            }
        };
        let (n, d, l) = (x.nrows(), x.ncols(), labels.len());
        let gold: Vec<u32> = train.iter().map(|e| labels.binary_search(&e.label).expect("a label") as u32).collect();
        let dev = Device::Cpu;
        let xs = (Tensor::from_vec(x.iter().copied().collect(), (n, d), &dev)? * self.scale as f64)?;
        let ys = Tensor::from_vec(gold.clone(), n, &dev)?;
        let w = Var::zeros((l, d), DType::F32, &dev)?;
        let b = Var::zeros(l, DType::F32, &dev)?;
        let params = ParamsAdamW { lr: self.learning_rate, weight_decay: self.weight_decay, ..Default::default() };
        let mut opt = AdamW::new(vec![w.clone(), b.clone()], params)?;
        for _ in 0..self.steps {
            let logits = xs.matmul(&w.as_tensor().t()?)?.broadcast_add(b.as_tensor())?;
            let loss = candle_nn::loss::cross_entropy(&logits, &ys)?;
            opt.backward_step(&loss)?;
        }
        let tuned = match split {
            None => None,
            Some((tunable, states)) => Some(self.tune(tunable, &states, &gold, (&w, &b), progress)?),
        };
        let weight = w.as_tensor().flatten_all()?.to_vec1::<f32>()?;
        let bias = b.as_tensor().to_vec1::<f32>()?;
        if weight.iter().chain(&bias).any(|v| !v.is_finite()) {
            return Err(ChatError::Diverged("the encoder head's weights are not finite".into()));
        }
        let cache = Cache::new(100_000);
        Ok(EncoderIntent { params: *self, encoder, tuned, cache, labels, weight, bias, gate: None })
    }

    fn validate(&self, encoder: &Encoder) -> Result<()> {
        let p = |name: &str, why: String| Err(ChatError::param(name, why));
        if self.tune_layers > encoder.layer_count() {
            return p(
                "tune_layers",
                format!("the encoder has {} layers, got {}", encoder.layer_count(), self.tune_layers),
            );
        }
        if self.tune_layers > 0 && (self.epochs == 0 || self.batch == 0) {
            return p("epochs", "fine-tuning needs epochs ≥ 1 and batch ≥ 1".into());
        }
        for (name, v) in [("learning_rate", self.learning_rate), ("tune_learning_rate", self.tune_learning_rate)] {
            if !(v.is_finite() && v > 0.0) {
                return p(name, format!("must be a positive number, got {v}"));
            }
        }
        if !(self.scale.is_finite() && self.scale > 0.0) {
            return p("scale", format!("must be a positive number, got {}", self.scale));
        }
        Ok(())
    }

    /// Fine-tunes the trainable layers and the head `(w, b)` on the lower token `states` of the training
    /// messages with cross-entropy, AdamW, linear decay.
    fn tune(
        &self,
        tunable: Tunable,
        states: &[TokenStates],
        gold: &[u32],
        (w, b): (&Var, &Var),
        progress: Progress,
    ) -> Result<Tunable> {
        let adam = |lr: f64| ParamsAdamW { lr, weight_decay: 0.01, ..Default::default() };
        let mut layers = AdamW::new(tunable.vars(), adam(self.tune_learning_rate))?;
        let mut head = AdamW::new(vec![w.clone(), b.clone()], adam(self.learning_rate / 10.0))?;
        let mut rng = rand::rngs::StdRng::seed_from_u64(self.seed);
        let mut order: Vec<usize> = (0..states.len()).collect();
        let per_epoch = states.len().div_ceil(self.batch);
        let total = (per_epoch * self.epochs) as f64;
        let mut step = 0usize;
        for epoch in 0..self.epochs {
            order.shuffle(&mut rng);
            // similar lengths together (less padding), batches still in random order
            let mut batches: Vec<Vec<usize>> = order
                .chunks(self.batch * 50)
                .flat_map(|c| {
                    let mut c = c.to_vec();
                    c.sort_by_key(|&i| states[i].nrows());
                    c.chunks(self.batch).map(<[usize]>::to_vec).collect::<Vec<_>>()
                })
                .collect();
            batches.shuffle(&mut rng);
            let mut sum = 0f64;
            for batch in &batches {
                let decay = 1.0 - step as f64 / total;
                layers.set_learning_rate(self.tune_learning_rate * decay);
                head.set_learning_rate(self.learning_rate / 10.0 * decay);
                let refs: Vec<_> = batch.iter().map(|&i| &states[i]).collect();
                let ys =
                    Tensor::from_vec(batch.iter().map(|&i| gold[i]).collect::<Vec<_>>(), batch.len(), &Device::Cpu)?;
                let emb = (tunable.upper(&refs)? * self.scale as f64)?;
                let logits = emb.matmul(&w.as_tensor().t()?)?.broadcast_add(b.as_tensor())?;
                let loss = candle_nn::loss::cross_entropy(&logits, &ys)?;
                let value = loss.to_scalar::<f32>()?;
                if !value.is_finite() {
                    return Err(ChatError::Diverged(format!("fine-tuning loss {value} at step {step}")));
                }
                sum += value as f64;
                let grads = loss.backward()?;
                layers.step(&grads)?;
                head.step(&grads)?;
                step += 1;
            }
            progress(epoch + 1, (sum / batches.len() as f64) as f32);
        }
        Ok(tunable)
    }
}

impl EncoderIntent {
    /// Embeds `texts` in batches into the cache, so that scoring them one by one afterwards (calibration,
    /// evaluation) costs no further encoding.
    pub fn warm(&self, texts: &[&str]) -> Result<()> {
        let Some(t) = &self.tuned else {
            return self.encoder.embed(texts).map(|_| ()).map_err(ChatError::from);
        };
        let x = t.embed(&self.encoder, texts)?;
        for (text, row) in texts.iter().zip(x.rows()) {
            self.cache.put(text, row.as_slice().expect("a standard row"));
        }
        Ok(())
    }

    /// The encoder.
    pub fn encoder(&self) -> &Arc<Encoder> {
        &self.encoder
    }

    /// The unit-length embedding of `text` this model classifies (through the tuned layers if any).
    pub fn embedding(&self, text: &str) -> Result<Vec<f32>> {
        let Some(t) = &self.tuned else {
            return Ok(self.encoder.embed(&[text])?.row(0).to_vec());
        };
        if let Some(v) = self.cache.get(text) {
            return Ok(v.to_vec());
        }
        let v = t.embed(&self.encoder, &[text])?.row(0).to_vec();
        self.cache.put(text, &v);
        Ok(v)
    }
}

impl IntentModel for EncoderIntent {
    fn labels(&self) -> &[String] {
        &self.labels
    }

    fn logits(&self, text: &str) -> Result<Vec<f32>> {
        let x = self.embedding(text)?;
        let d = x.len();
        let mut logits: Vec<f32> = self
            .bias
            .iter()
            .enumerate()
            .map(|(j, b)| {
                b + self.params.scale
                    * self.weight[j * d..(j + 1) * d].iter().zip(x.iter()).map(|(w, v)| w * v).sum::<f32>()
            })
            .collect();
        if let Some(g) = &self.gate {
            if g.nearest(&x) < g.threshold {
                let top = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                if let Some(o) = self.labels.iter().position(|l| l == OOS) {
                    logits[o] = top + 10.0;
                }
            }
        }
        Ok(logits)
    }
}
