//! SASRec — self-attentive sequential recommendation (Kang & McAuley, ICDM 2018) — trained the way
//! the strongest recent reproductions train it: full softmax cross-entropy over the whole catalogue at
//! every position of every training sequence (each prefix predicts its next item; "SASRec+CE",
//! Klenitskiy & Vasilev, RecSys 2023; BSARec's training objective), pre-LayerNorm blocks, GELU, Adam.
//!
//! Sequences are batched by length (users sorted by sequence length, each batch padded only to its
//! longest sequence), so short histories — the common case in shop data — cost no padding. Training is
//! seeded and reproducible (initialisation, batch order and dropout masks come from one `SmallRng`).
//!
//! ```
//! use reco_core::model::SasRec;
//! // Item i is always followed by item i + 1 (mod 20).
//! let seqs: Vec<Vec<u32>> = (0..200).map(|u| (0..8).map(|k| ((u + k) % 20) as u32).collect()).collect();
//! let model = SasRec::params().epochs(30).hidden(16).fit(&seqs, 20).unwrap();
//! let top = model.recommend_next(&[3, 4, 5], 1, &[]).unwrap();
//! assert_eq!(top[0].0, 6);
//! ```

mod net;
mod serve;

use super::{check_f32, check_range, Progress};
use crate::error::{RecoError, Result};
use candle_core::{Device, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use net::{Dropout, Net, Params};
use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

/// SASRec hyper-parameters. Defaults: BSARec's architecture on Beauty (`hidden 64`, `layers 2`,
/// `heads 1`, `max_len 50`, `dropout 0.5`), `batch_size 256`, `weight_decay 0`, `seed 42`, and
/// `learning_rate 0.002`, `epochs 25` chosen on Amazon Beauty's validation split (leave-one-out: the
/// validation HR@10 climbs to 0.103 by epoch 22 and is flat after; `benches/src/bin/sasrec_curve.rs`).
/// `patience 10`: with a validation split given to `fit_with`, epochs without a better validation
/// HR@10 before stopping (the best epoch's weights are kept).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SasRecParams {
    hidden: usize,
    layers: usize,
    heads: usize,
    max_len: usize,
    dropout: f32,
    epochs: usize,
    batch_size: usize,
    learning_rate: f32,
    weight_decay: f32,
    patience: usize,
    seed: u64,
}

/// Validation HR@10 after each epoch, and the epoch's training time (the learning curve).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Curve {
    /// `(epoch, mean training loss, seconds, validation HR@10 if a validation split was given)`.
    pub epochs: Vec<(usize, f32, f32, Option<f32>)>,
    /// The epoch whose weights were kept.
    pub best_epoch: usize,
}

/// A fitted SASRec model: the network and each training user's sequence (its last `max_len` items).
#[derive(Debug, Clone)]
pub struct SasRec {
    net: Net,
    vars: Vec<(String, Var)>,
    params: SasRecParams,
    n_items: usize,
    sequences: Vec<Vec<u32>>,
    curve: Curve,
}

impl SasRecParams {
    setter! {
        /// Embedding and hidden size (1..=1024, a multiple of `heads`).
        hidden: usize,
        /// Self-attention blocks (1..=8).
        layers: usize,
        /// Attention heads (1..=16).
        heads: usize,
        /// Longest history used (1..=1000): the most recent items.
        max_len: usize,
        /// Dropout on embeddings, attention weights and block outputs (0..0.9).
        dropout: f32,
        /// Training epochs at most (1..=10000).
        epochs: usize,
        /// Sequences per batch (1..=65536).
        batch_size: usize,
        /// Adam learning rate (0..=1).
        learning_rate: f32,
        /// Decoupled weight decay (AdamW, 0..=1).
        weight_decay: f32,
        /// With a validation split: epochs without improvement before stopping (1..=10000).
        patience: usize,
        /// Random seed.
        seed: u64,
    }

    /// The keys [`set`](Self::set) takes.
    pub const KEYS: &'static [&'static str] = &[
        "hidden",
        "layers",
        "heads",
        "max_len",
        "dropout",
        "epochs",
        "batch_size",
        "learning_rate",
        "weight_decay",
        "patience",
        "seed",
    ];

    fn validate(&self) -> Result<()> {
        check_range("hidden", self.hidden, 1, 1024)?;
        check_range("layers", self.layers, 1, 8)?;
        check_range("heads", self.heads, 1, 16)?;
        if self.hidden % self.heads != 0 {
            return Err(RecoError::param("heads", format!("must divide hidden ({})", self.hidden)));
        }
        check_range("max_len", self.max_len, 1, 1000)?;
        check_f32("dropout", self.dropout, 0.0, 0.9)?;
        check_range("epochs", self.epochs, 1, 10_000)?;
        check_range("batch_size", self.batch_size, 1, 65_536)?;
        check_f32("learning_rate", self.learning_rate, 1e-7, 1.0)?;
        check_f32("weight_decay", self.weight_decay, 0.0, 1.0)?;
        check_range("patience", self.patience, 1, 10_000)?;
        Ok(())
    }

    /// Fits on each user's item sequence (oldest first; items `< n_items`).
    pub fn fit(&self, sequences: &[Vec<u32>], n_items: usize) -> Result<SasRec> {
        self.fit_with(sequences, n_items, None, &|_, _| true)
    }

    /// Fits, reporting `progress(epoch, epochs)`; with `validation` (`(user, held-out next item)` pairs,
    /// scored from `sequences[user]`), keeps the weights of the epoch with the best HR@10 and stops after
    /// `patience` epochs without improvement.
    pub fn fit_with(
        &self,
        sequences: &[Vec<u32>],
        n_items: usize,
        validation: Option<&[(u32, u32)]>,
        progress: Progress<'_>,
    ) -> Result<SasRec> {
        self.validate()?;
        if n_items == 0 {
            return Err(RecoError::EmptyData("no items".into()));
        }
        if let Some(bad) = sequences.iter().flatten().find(|&&i| i as usize >= n_items) {
            return Err(RecoError::param("sequences", format!("item {bad} is outside 0..{n_items}")));
        }
        // Training rows: every sequence of two items or more, its last max_len + 1 items.
        let mut rows: Vec<&[u32]> =
            sequences.iter().filter(|s| s.len() >= 2).map(|s| &s[s.len().saturating_sub(self.max_len + 1)..]).collect();
        if rows.is_empty() {
            return Err(RecoError::EmptyData("SASRec needs at least one sequence of two items".into()));
        }
        rows.sort_by_key(|r| r.len());
        let batches: Vec<&[&[u32]]> = rows.chunks(self.batch_size).collect();
        let mut rng = SmallRng::seed_from_u64(self.seed);
        let mut vars = Vec::new();
        let net = Net::new(
            &mut Params::new(&mut rng, &mut vars),
            n_items,
            self.hidden,
            self.layers,
            self.heads,
            self.max_len,
        )
        .map_err(backend)?;
        let sequences: Vec<Vec<u32>> =
            sequences.iter().map(|s| s[s.len().saturating_sub(self.max_len)..].to_vec()).collect();
        let mut model = SasRec { net, vars, params: self.clone(), n_items, sequences, curve: Curve::default() };
        let adam = ParamsAdamW {
            lr: self.learning_rate as f64,
            weight_decay: self.weight_decay as f64,
            beta2: 0.98,
            ..Default::default()
        };
        let mut opt = AdamW::new(model.vars.iter().map(|(_, v)| v.clone()).collect(), adam).map_err(backend)?;
        let mut order: Vec<usize> = (0..batches.len()).collect();
        let mut best: Option<(f32, Vec<Tensor>)> = None;
        let mut since_best = 0;
        for epoch in 1..=self.epochs {
            let t = std::time::Instant::now();
            order.shuffle(&mut rng);
            let (mut loss_sum, mut n_sum) = (0f64, 0usize);
            for &b in &order {
                let (loss, n) = model.step(batches[b], &mut opt, &mut rng).map_err(backend)?;
                loss_sum += loss as f64 * n as f64;
                n_sum += n;
            }
            let loss = (loss_sum / n_sum.max(1) as f64) as f32;
            if !loss.is_finite() {
                return Err(RecoError::Diverged(format!(
                    "SASRec loss is not finite in epoch {epoch}: lower the learning rate"
                )));
            }
            let secs = t.elapsed().as_secs_f32();
            let hr = match validation {
                Some(v) => Some(model.hit_rate(v, 10)?),
                None => None,
            };
            model.curve.epochs.push((epoch, loss, secs, hr));
            if let Some(hr) = hr {
                if best.as_ref().is_none_or(|(b, _)| hr > *b) {
                    let snapshot = model
                        .vars
                        .iter()
                        .map(|(_, v)| v.as_tensor().copy())
                        .collect::<candle_core::Result<_>>()
                        .map_err(backend)?;
                    best = Some((hr, snapshot));
                    model.curve.best_epoch = epoch;
                    since_best = 0;
                } else {
                    since_best += 1;
                }
            } else {
                model.curve.best_epoch = epoch;
            }
            let stop = since_best >= self.patience;
            super::report(progress, if stop { self.epochs } else { epoch }, self.epochs)?;
            if stop {
                break;
            }
        }
        if let Some((_, snapshot)) = best {
            for ((_, v), t) in model.vars.iter().zip(snapshot) {
                v.set(&t).map_err(backend)?;
            }
        }
        Ok(model)
    }
}

impl SasRec {
    /// Builder with the defaults of [`SasRecParams`].
    pub fn params() -> SasRecParams {
        SasRecParams {
            hidden: 64,
            layers: 2,
            heads: 1,
            max_len: 50,
            dropout: 0.5,
            epochs: 25,
            batch_size: 256,
            learning_rate: 0.002,
            weight_decay: 0.0,
            patience: 10,
            seed: 42,
        }
    }

    /// One batch of training rows: inputs are each row without its last item, targets without its first;
    /// cross-entropy over every item at every real position. Returns `(mean loss, positions)`.
    fn step(&self, rows: &[&[u32]], opt: &mut AdamW, rng: &mut SmallRng) -> candle_core::Result<(f32, usize)> {
        let l = rows.iter().map(|r| r.len() - 1).max().unwrap_or(1);
        let b = rows.len();
        let mut ids = vec![0u32; b * l];
        let mut targets = Vec::new();
        let mut at = Vec::new();
        for (s, r) in rows.iter().enumerate() {
            let n = r.len() - 1;
            for k in 0..n {
                let p = s * l + (l - n) + k;
                ids[p] = r[k] + 1;
                targets.push(r[k + 1]);
                at.push(p as u32);
            }
        }
        let dev = Device::Cpu;
        let ids = Tensor::from_vec(ids, (b, l), &dev)?;
        let mut drop = Dropout { p: self.params.dropout, rng: Some(rng) };
        let h = self.net.forward(&ids, &mut drop)?;
        let d = h.dim(2)?;
        let n = at.len();
        let h = h.reshape((b * l, d))?.index_select(&Tensor::from_vec(at, n, &dev)?, 0)?;
        // Full softmax cross-entropy over the catalogue, fused by hand: the (positions × items) logits
        // are the big tensor here, and candle's log-softmax + NLL makes several passes over it forward
        // and backward. Here: one matmul for the logits, one parallel pass turning them into the gradient
        // (softmax − one-hot) / n and the loss, two matmuls for the gradients of the hidden states and of
        // the output embeddings; the network's own gradient comes from the surrogate `sum(h · ∂L/∂h)`.
        let hd = h.detach();
        let items = self.net.items.narrow(0, 1, self.n_items)?.detach();
        let mut g: Vec<f32> = hd.matmul(&items.t()?)?.flatten_all()?.to_vec1()?;
        let m = self.n_items;
        let inv = 1.0 / n as f32;
        let loss: f64 = {
            use rayon::prelude::*;
            g.par_chunks_mut(m)
                .zip(targets.par_iter())
                .map(|(row, &t)| {
                    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                    let mut sum = 0f32;
                    for v in row.iter_mut() {
                        *v = (*v - max).exp();
                        sum += *v;
                    }
                    let p_t = row[t as usize] / sum;
                    let scale = inv / sum;
                    for v in row.iter_mut() {
                        *v *= scale;
                    }
                    row[t as usize] -= inv;
                    -(p_t.max(f32::MIN_POSITIVE) as f64).ln()
                })
                .sum()
        };
        let g = Tensor::from_vec(g, (n, m), &dev)?;
        let grad_h = g.matmul(&items)?;
        let grad_items = g.t()?.matmul(&hd)?;
        let surrogate = (&h * &grad_h)?.sum_all()?;
        let mut grads = surrogate.backward()?;
        let items_var = self.net.items.clone();
        let out_grad = Tensor::cat(&[&Tensor::zeros((1, d), candle_core::DType::F32, &dev)?, &grad_items], 0)?;
        let total = match grads.get(&items_var) {
            Some(g0) => (g0 + out_grad)?,
            None => out_grad,
        };
        grads.insert(&items_var, total);
        opt.step(&grads)?;
        Ok(((loss / n as f64) as f32, n))
    }

    /// HR@k of `(user, next item)` pairs, scoring from the stored sequences with their items excluded.
    fn hit_rate(&self, pairs: &[(u32, u32)], k: usize) -> Result<f32> {
        let mut hits = 0usize;
        for chunk in pairs.chunks(2048) {
            let hs: Vec<&[u32]> = chunk.iter().map(|&(u, _)| self.sequence(u)).collect();
            let mut scores = self.score_histories(&hs)?;
            // As the evaluation ranks: the user's own items left out, ties by `eval::rank_of`.
            for ((row, &(_, target)), seen) in scores.chunks_mut(self.n_items).zip(chunk).zip(&hs) {
                for &i in seen.iter().filter(|&&i| i != target) {
                    row[i as usize] = f32::NEG_INFINITY;
                }
                hits += (crate::eval::rank_of(row, target) < k) as usize;
            }
        }
        Ok(hits as f32 / pairs.len().max(1) as f32)
    }

    /// The stored training sequence of `user` (empty if unknown).
    pub fn sequence(&self, user: u32) -> &[u32] {
        self.sequences.get(user as usize).map_or(&[], Vec::as_slice)
    }

    /// The learning curve of the fit.
    pub fn curve(&self) -> &Curve {
        &self.curve
    }

    /// The hyper-parameters it was fitted with.
    pub fn hyper_params(&self) -> &SasRecParams {
        &self.params
    }

    /// Items it scores.
    pub fn n_items(&self) -> usize {
        self.n_items
    }

    /// Users with a stored sequence.
    pub fn n_users(&self) -> usize {
        self.sequences.len()
    }

    /// Named weights (for model files).
    pub fn tensors(&self) -> Vec<(String, Tensor)> {
        self.vars.iter().map(|(n, v)| (n.clone(), v.as_tensor().clone())).collect()
    }

    /// Rebuilds a model from its hyper-parameters, stored sequences and named weights, checking shapes
    /// and values: a wrong shape, a missing tensor, a non-finite weight or an item outside the catalogue
    /// is an error, never a panic.
    pub fn from_parts(
        params: SasRecParams,
        n_items: usize,
        sequences: Vec<Vec<u32>>,
        mut get: impl FnMut(&str) -> Option<(Vec<f32>, Vec<usize>)>,
    ) -> Result<SasRec> {
        params.validate()?;
        let bad = |m: String| RecoError::Backend(format!("SASRec model: {m}"));
        if let Some(i) = sequences.iter().flatten().find(|&&i| i as usize >= n_items) {
            return Err(bad(format!("stored sequence item {i} outside 0..{n_items}")));
        }
        let d = params.hidden;
        let mut vars = Vec::new();
        let mut fetch = |name: &str| -> Option<Tensor> {
            let (data, shape) = get(name)?;
            let t = Tensor::from_vec(data, shape, &Device::Cpu).ok()?;
            let v = Var::from_tensor(&t).ok()?;
            vars.push((name.to_string(), v.clone()));
            Some(v.as_tensor().clone())
        };
        let net = Net::from_named(params.layers, params.heads, &mut fetch).map_err(bad)?;
        let expect = |t: &Tensor, shape: &[usize], name: &str| -> Result<()> {
            match t.dims() == shape {
                true => Ok(()),
                false => Err(bad(format!("tensor `{name}` has shape {:?}, expected {shape:?}", t.dims()))),
            }
        };
        expect(&net.items, &[n_items + 1, d], "items")?;
        if net.max_len != params.max_len {
            return Err(bad(format!("positions for {} items, max_len is {}", net.max_len, params.max_len)));
        }
        for (name, v) in &vars {
            let t = v.as_tensor();
            let want: Vec<usize> = match name.rsplit('.').next() {
                Some("positions") => vec![params.max_len, d],
                Some("items") => vec![n_items + 1, d],
                Some("bias") if name.contains("ff1") => vec![4 * d],
                Some("weight") if name.contains("ff1") => vec![4 * d, d],
                Some("weight") if name.contains("ff2") => vec![d, 4 * d],
                Some("weight")
                    if name.ends_with("ln1.weight") || name.ends_with("ln2.weight") || name == "ln.weight" =>
                {
                    vec![d]
                }
                Some("bias") => vec![d],
                Some("weight") => vec![d, d],
                _ => t.dims().to_vec(),
            };
            expect(t, &want, name)?;
        }
        if !Net::finite(&vars).map_err(backend)? {
            return Err(bad("a weight is not finite".into()));
        }
        Ok(SasRec { net, vars, params, n_items, sequences, curve: Curve::default() })
    }
}

impl super::Recommender for SasRec {
    fn name(&self) -> &'static str {
        "sasrec"
    }
    fn n_users(&self) -> usize {
        self.sequences.len()
    }
    fn n_items(&self) -> usize {
        self.n_items
    }
    fn score_user(&self, user: u32, out: &mut [f32]) -> Result<()> {
        out.copy_from_slice(&self.score_histories(&[self.sequence(user)])?);
        Ok(())
    }
    fn score_users(&self, users: &[u32], out: &mut ndarray::ArrayViewMut2<'_, f32>) -> Result<()> {
        let hs: Vec<&[u32]> = users.iter().map(|&u| self.sequence(u)).collect();
        let s = self.score_histories(&hs)?;
        for (r, mut row) in out.rows_mut().into_iter().enumerate() {
            row.assign(&ndarray::ArrayView1::from(&s[r * self.n_items..(r + 1) * self.n_items]));
        }
        Ok(())
    }
}

fn backend(e: candle_core::Error) -> RecoError {
    RecoError::Backend(e.to_string())
}

#[cfg(test)]
mod tests;
