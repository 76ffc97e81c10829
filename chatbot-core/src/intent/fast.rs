//! The fast intent model: fastText's architecture over TF-IDF-weighted features. A message's features
//! (see [`crate::features`]) are embedded and summed with their TF-IDF weights into one `dim`-vector,
//! a linear layer maps it to intent logits. Trained with candle: softmax cross-entropy, mini-batches,
//! AdamW for the output layer. The embedding bag itself is summed and differentiated by hand, sparsely
//! (an embedding-bag op candle does not have): the bag enters candle as a leaf, candle returns its
//! gradient, and only the rows the batch touched take a lazy-Adam step. Measured first the other way —
//! the batch's rows gathered into a leaf and bagged by a dense `batch × rows` matmul — that spent ~3 ms
//! a step in gemm on mostly zeros. Inference is plain loops over the stored weights.

use super::IntentModel;
use crate::data::Example;
use crate::error::{ChatError, Result};
use crate::features::{FeatureParams, Featurizer};
use crate::text::normalize;
use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

/// Hyper-parameters of [`FastIntent`], validated by [`fit`](Self::fit). Defaults: `dim 200, epochs 5,
/// batch 32, learning_rate 0.005, weight_decay 0, seed 42, ensemble 3`, no dropout or smoothing,
/// default [`FeatureParams`] — chosen on CLINC150 (`benches/README.md`): more epochs or a wider
/// embedding over-fit (in-scope accuracy 90.1% after 20 epochs vs 92.1% after 5), and three members
/// add ~0.6 points.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FastIntentParams {
    /// Embedding width.
    pub dim: usize,
    /// Passes over the training data.
    pub epochs: usize,
    /// Examples per mini-batch.
    pub batch: usize,
    /// Adam's step size (decayed linearly to 0 over training).
    pub learning_rate: f32,
    /// Decoupled weight decay of the output layer.
    pub weight_decay: f32,
    /// Seed of the initialisation and the shuffling.
    pub seed: u64,
    /// Members of the ensemble (each a model with its own seed, trained on its own thread; logits
    /// averaged). The members fold into one table after training (see `fold`), so inference costs the
    /// same whatever this is.
    pub ensemble: usize,
    /// Label smoothing ε: the target puts 1 − ε on the gold intent and ε spread over all (0: plain
    /// cross-entropy). Keeps the model from becoming certain, which out-of-scope thresholds need.
    pub label_smoothing: f32,
    /// Share of an utterance's features dropped at random in each training step (0 ≤ p < 1): makes the
    /// model use every cue it has instead of memorising one rare n-gram per utterance.
    pub feature_dropout: f32,
    /// Which features are extracted.
    pub features: FeatureParams,
}

impl Default for FastIntentParams {
    fn default() -> Self {
        FastIntentParams {
            dim: 200,
            epochs: 5,
            batch: 32,
            learning_rate: 0.005,
            weight_decay: 0.0,
            seed: 42,
            feature_dropout: 0.0,
            label_smoothing: 0.0,
            ensemble: 3,
            features: FeatureParams::default(),
        }
    }
}

impl FastIntentParams {
    pub(crate) fn validate(&self) -> Result<()> {
        let bad = |name: &str, reason: String| Err(ChatError::param(name, reason));
        if !(1..=4096).contains(&self.dim) {
            return bad("dim", format!("must be in [1, 4096], got {}", self.dim));
        }
        if !(1..=10_000).contains(&self.epochs) {
            return bad("epochs", format!("must be in [1, 10000], got {}", self.epochs));
        }
        if self.batch == 0 {
            return bad("batch", "must be at least 1".into());
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return bad("learning_rate", format!("must be a positive number, got {}", self.learning_rate));
        }
        if !(1..=16).contains(&self.ensemble) {
            return bad("ensemble", format!("must be in [1, 16], got {}", self.ensemble));
        }
        if !(0.0..1.0).contains(&self.label_smoothing) {
            return bad("label_smoothing", format!("must be in [0, 1), got {}", self.label_smoothing));
        }
        if !(0.0..1.0).contains(&self.feature_dropout) {
            return bad("feature_dropout", format!("must be in [0, 1), got {}", self.feature_dropout));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return bad("weight_decay", format!("must be ≥ 0, got {}", self.weight_decay));
        }
        self.features.validate()
    }

    /// Trains on labelled examples (any number of labels ≥ 2; an `oos` label is a class like the others)
    /// for exactly `epochs` passes.
    pub fn fit(&self, train: &[Example]) -> Result<FastIntent> {
        self.fit_inner(train, None)
    }

    /// Trains for up to `epochs` passes and keeps the weights of the pass with the best accuracy on
    /// `val` (early stopping). Validation labels unknown to the training data count as errors.
    pub fn fit_validated(&self, train: &[Example], val: &[Example]) -> Result<FastIntent> {
        if val.is_empty() {
            return Err(ChatError::Data("empty validation set".into()));
        }
        self.fit_inner(train, Some(val))
    }

    fn fit_inner(&self, train: &[Example], val: Option<&[Example]>) -> Result<FastIntent> {
        self.validate()?;
        let mut labels: Vec<String> = train.iter().map(|e| e.label.clone()).collect();
        labels.sort();
        labels.dedup();
        if labels.len() < 2 {
            return Err(ChatError::Data(format!("need at least 2 intents, got {}", labels.len())));
        }
        let texts: Vec<String> = train.iter().map(|e| normalize(&e.text)).collect();
        let featurizer = Featurizer::fit(&texts, self.features.clone())?;
        let encode = |examples: &[Example]| -> Result<Encoded> {
            let mut rows = Vec::with_capacity(examples.len());
            for e in examples {
                let mut v = Vec::new();
                featurizer.transform(&normalize(&e.text), &mut v)?;
                rows.push(v);
            }
            let y = examples.iter().map(|e| labels.binary_search(&e.label).map_or(u32::MAX, |i| i as u32)).collect();
            Ok((rows, y))
        };
        let (rows, y) = encode(train)?;
        let val = val.map(encode).transpose()?;
        // Members differ only in their seed; they train on separate threads (both cores).
        let (n, c) = (featurizer.len(), labels.len());
        let heads = std::thread::scope(|s| {
            let handles: Vec<_> = (0..self.ensemble as u64)
                .map(|m| {
                    let p =
                        FastIntentParams { seed: self.seed.wrapping_add(m.wrapping_mul(0x9E37_79B9)), ..self.clone() };
                    let (rows, y, val) = (&rows, &y, val.as_ref());
                    s.spawn(move || train_weights(&p, rows, y, val, n, c))
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("training thread panicked")).collect::<Result<Vec<_>>>()
        })?;
        let (weights, bias) = fold(&heads, n, self.dim, c)?;
        Ok(FastIntent { params: self.clone(), labels, featurizer, weights, bias })
    }
}

/// Examples as TF-IDF feature rows and label indices (`u32::MAX`: a label training did not have).
type Encoded = (Vec<Vec<(u32, f32)>>, Vec<u32>);

/// The trained fast model.
#[derive(Debug, Clone)]
pub struct FastIntent {
    pub(crate) params: FastIntentParams,
    pub(crate) labels: Vec<String>,
    pub(crate) featurizer: Featurizer,
    /// `features × labels`, row-major: each feature's contribution to every logit, the ensemble folded in.
    pub(crate) weights: Vec<f32>,
    /// `labels`.
    pub(crate) bias: Vec<f32>,
}

/// The model is linear in its features (`logits = Σ_f w_f · E[f] · W + b`), so each member's two layers
/// fold into one `features × labels` table `E · W`, and the ensemble's mean of logits into the mean of
/// the tables: inference is one weighted sum of ~100 table rows, whatever `dim` and `ensemble` are
/// (CLINC150, three 200-wide members: p50 132 µs per message unfolded, 28 µs folded — benches/README.md).
fn fold(heads: &[Head], n: usize, d: usize, c: usize) -> Result<(Vec<f32>, Vec<f32>)> {
    let dev = Device::Cpu;
    let mut sum: Option<Tensor> = None;
    let mut bias = vec![0.0f32; c];
    for h in heads {
        let e = Tensor::from_slice(&h.embeddings, (n, d), &dev)?;
        let w = Tensor::from_slice(&h.out_w, (d, c), &dev)?;
        let t = e.matmul(&w)?;
        sum = Some(match sum {
            Some(s) => (s + t)?,
            None => t,
        });
        bias.iter_mut().zip(&h.out_b).for_each(|(b, x)| *b += x);
    }
    let m = heads.len() as f64;
    let weights = (sum.expect("at least one member") / m)?.flatten_all()?.to_vec1::<f32>()?;
    bias.iter_mut().for_each(|b| *b /= m as f32);
    Ok((weights, bias))
}

/// One ensemble member's weights while training.
#[derive(Debug, Clone)]
struct Head {
    /// `features × dim`, row-major.
    embeddings: Vec<f32>,
    /// `dim × labels`, row-major.
    out_w: Vec<f32>,
    out_b: Vec<f32>,
}

impl FastIntent {
    /// The parameters it was trained with.
    pub fn params(&self) -> &FastIntentParams {
        &self.params
    }

    /// Number of features in its vocabulary.
    pub fn features(&self) -> usize {
        self.featurizer.len()
    }
}

thread_local! {
    static FEATURES: std::cell::RefCell<Vec<(u32, f32)>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl IntentModel for FastIntent {
    fn labels(&self) -> &[String] {
        &self.labels
    }

    fn logits(&self, text: &str) -> Result<Vec<f32>> {
        let norm = normalize(text);
        FEATURES.with(|f| {
            let mut f = f.borrow_mut();
            self.featurizer.transform(&norm, &mut f)?;
            let c = self.bias.len();
            let mut out = self.bias.clone();
            for &(id, w) in f.iter() {
                let row = &self.weights[id as usize * c..(id as usize + 1) * c];
                out.iter_mut().zip(row).for_each(|(o, r)| *o += w * r);
            }
            Ok(out)
        })
    }
}

/// Logits of a feature vector.
fn forward(row: &[(u32, f32)], table: &[f32], out_w: &[f32], out_b: &[f32], d: usize) -> Vec<f32> {
    let mut h = vec![0.0f32; d];
    for &(id, w) in row {
        let e = &table[id as usize * d..(id as usize + 1) * d];
        h.iter_mut().zip(e).for_each(|(h, e)| *h += w * e);
    }
    output(&h, out_w, out_b)
}

/// `h · W + b` for `W` stored `dim × classes` row-major.
fn output(h: &[f32], out_w: &[f32], out_b: &[f32]) -> Vec<f32> {
    let mut out = out_b.to_vec();
    let c = out.len();
    for (j, &hj) in h.iter().enumerate() {
        out.iter_mut().zip(&out_w[j * c..(j + 1) * c]).for_each(|(o, w)| *o += hj * w);
    }
    out
}

/// Adam for the embedding rows a batch touches (moments per row, advanced only when touched).
struct SparseAdam {
    data: Vec<f32>,
    m: Vec<f32>,
    v: Vec<f32>,
    dim: usize,
}

impl SparseAdam {
    fn step(&mut self, ids: &[u32], grad: &[f32], lr: f32, t: i32) {
        let (b1, b2, eps) = (0.9f32, 0.999f32, 1e-8f32);
        let (c1, c2) = (1.0 - b1.powi(t), 1.0 - b2.powi(t));
        // x -= lr·m̂/(√v̂ + ε), folded: lr·√c2/c1 · m / (√v + ε·√c2)
        let (step, eps) = (lr * c2.sqrt() / c1, eps * c2.sqrt());
        let d = self.dim;
        for (k, &r) in ids.iter().enumerate() {
            let o = r as usize * d..(r as usize + 1) * d;
            let (x, m, v) = (&mut self.data[o.clone()], &mut self.m[o.clone()], &mut self.v[o]);
            for (((x, m), v), g) in x.iter_mut().zip(m.iter_mut()).zip(v.iter_mut()).zip(&grad[k * d..(k + 1) * d]) {
                *m = b1 * *m + (1.0 - b1) * g;
                *v = b2 * *v + (1.0 - b2) * g * g;
                *x -= step * *m / (v.sqrt() + eps);
            }
        }
    }
}

/// Trains one ensemble member.
fn train_weights(
    p: &FastIntentParams,
    rows: &[Vec<(u32, f32)>],
    y: &[u32],
    val: Option<&Encoded>,
    features: usize,
    classes: usize,
) -> Result<Head> {
    let dev = Device::Cpu;
    let d = p.dim;
    let mut rng = rand::rngs::SmallRng::seed_from_u64(p.seed);
    let scale = 1.0 / d as f32;
    let data: Vec<f32> = (0..features * d).map(|_| rng.random_range(-scale..scale)).collect();
    let mut table = SparseAdam { m: vec![0.0; data.len()], v: vec![0.0; data.len()], data, dim: d };
    let w = Var::from_tensor(&Tensor::zeros((d, classes), DType::F32, &dev)?)?;
    let b = Var::from_tensor(&Tensor::zeros(classes, DType::F32, &dev)?)?;
    let adamw = ParamsAdamW { lr: p.learning_rate as f64, weight_decay: p.weight_decay as f64, ..Default::default() };
    let mut opt = AdamW::new(vec![w.clone(), b.clone()], adamw)?;
    let mut order: Vec<usize> = (0..rows.len()).collect();
    let steps = p.epochs * rows.len().div_ceil(p.batch);
    let mut t = 0;
    let (mut ids, mut hbuf, mut grad) = (Vec::new(), Vec::new(), Vec::new());
    let mut best: Option<(f64, Head)> = None;
    let keep = 1.0 - p.feature_dropout;
    let mut batch_rows: Vec<Vec<(u32, f32)>> = Vec::new();
    for _ in 0..p.epochs {
        order.shuffle(&mut rng);
        for chunk in order.chunks(p.batch) {
            t += 1;
            batch_rows.resize(chunk.len(), Vec::new());
            for (r, &i) in chunk.iter().enumerate() {
                let out = &mut batch_rows[r];
                out.clear();
                if p.feature_dropout > 0.0 {
                    out.extend(rows[i].iter().filter(|_| rng.random::<f32>() < keep).map(|&(f, v)| (f, v / keep)));
                } else {
                    out.extend_from_slice(&rows[i]);
                }
            }
            let rows = &batch_rows;
            let lr = p.learning_rate * (1.0 - (t - 1) as f32 / steps as f32);
            opt.set_learning_rate(lr as f64);
            // The bag (h = Σ w·E[f]) is summed here, sparsely; candle takes it from there as a leaf.
            hbuf.clear();
            hbuf.resize(chunk.len() * d, 0.0f32);
            for r in 0..chunk.len() {
                let h = &mut hbuf[r * d..(r + 1) * d];
                for &(f, v) in &rows[r] {
                    let e = &table.data[f as usize * d..(f as usize + 1) * d];
                    h.iter_mut().zip(e).for_each(|(h, e)| *h += v * e);
                }
            }
            let h = Var::from_tensor(&Tensor::from_slice(&hbuf, (chunk.len(), d), &dev)?)?;
            let logits = h.as_tensor().matmul(w.as_tensor())?.broadcast_add(b.as_tensor())?;
            let target = Tensor::from_vec(chunk.iter().map(|&i| y[i]).collect::<Vec<u32>>(), chunk.len(), &dev)?;
            let loss = if p.label_smoothing > 0.0 {
                let logp = candle_nn::ops::log_softmax(&logits, 1)?;
                let nll = logp.gather(&target.unsqueeze(1)?, 1)?.neg()?.mean_all()?;
                let uniform = logp.mean(1)?.neg()?.mean_all()?;
                let e = p.label_smoothing as f64;
                ((nll * (1.0 - e))? + (uniform * e)?)?
            } else {
                candle_nn::loss::cross_entropy(&logits, &target)?
            };
            let grads = loss.backward()?;
            // dE[f] = Σ_rows w · dh[row], for the rows' features only.
            if let Some(dh) = grads.get(h.as_tensor()) {
                let dh = dh.flatten_all()?.to_vec1::<f32>()?;
                ids.clear();
                rows.iter().for_each(|row| ids.extend(row.iter().map(|f| f.0)));
                ids.sort_unstable();
                ids.dedup();
                grad.clear();
                grad.resize(ids.len() * d, 0.0f32);
                for (r, row) in rows.iter().enumerate() {
                    for &(f, v) in row {
                        let k = ids.binary_search(&f).expect("collected");
                        let g = &mut grad[k * d..(k + 1) * d];
                        g.iter_mut().zip(&dh[r * d..(r + 1) * d]).for_each(|(g, x)| *g += v * x);
                    }
                }
                table.step(&ids, &grad, lr, t);
            }
            opt.step(&grads)?;
        }
        let out_w = w.as_tensor().flatten_all()?.to_vec1::<f32>()?;
        let out_b = b.as_tensor().to_vec1::<f32>()?;
        if !out_w.iter().chain(&out_b).all(|v| v.is_finite()) {
            return Err(ChatError::Diverged("output weights became NaN/inf: lower learning_rate".into()));
        }
        if let Some((vrows, vy)) = val {
            let correct = vrows
                .iter()
                .zip(vy)
                .filter(|(row, &y)| {
                    let logits = forward(row, &table.data, &out_w, &out_b, d);
                    super::argmax(&logits) as u32 == y
                })
                .count();
            let acc = correct as f64 / vrows.len() as f64;
            if best.as_ref().is_none_or(|b| acc > b.0) {
                best = Some((acc, Head { embeddings: table.data.clone(), out_w, out_b }));
            }
        } else {
            best = Some((0.0, Head { embeddings: Vec::new(), out_w, out_b }));
        }
    }
    let (_, mut head) = best.expect("at least one epoch");
    if val.is_none() {
        head.embeddings = table.data;
    }
    Ok(head)
}
