//! Neural collaborative filtering (He et al., WWW 2017) in candle: GMF, MLP and NeuMF, trained on implicit
//! feedback with seeded negative sampling, binary cross-entropy and Adam; NeuMF optionally initialised
//! from a trained GMF and MLP (pre-training, as in the paper).
//!
//! Scoring a user against the whole catalogue does not run the network on every (user, item) pair: the
//! GMF part is a dot product `(p_u ⊙ w) · q_i`, and the MLP's first layer splits into a user half and an
//! item half (`W₁[p; q] = W_u p + W_i q`), so only the layers after the first run per pair.

pub mod layers;
mod shapes;
mod sparse;

use super::{check_f32, check_range, check_train, Progress, Recommender};
use crate::data::InteractionMatrix;
use crate::error::{RecoError, Result};
use candle_core::{Device, Tensor, Var, D};
use candle_nn::{AdamW, Module, Optimizer, ParamsAdamW};
use layers::{neumf, Init, NeuMf};
use ndarray::ArrayViewMut2;
use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// Which network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NcfKind {
    /// Generalised matrix factorisation.
    Gmf,
    /// Multi-layer perceptron.
    Mlp,
    /// GMF and MLP fused.
    NeuMf,
}

/// NCF hyper-parameters. Defaults: `factors 32` (GMF part), `tower [64, 32, 16, 8]` (MLP part: two 32-d
/// embeddings, then 32-16-8), `epochs 20`, `batch_size 4096`, `learning_rate 0.004`, `negatives 4`,
/// `pretrain true` (NeuMF only), `seed 42`. The batch size was chosen on the MovieLens validation split:
/// 4096 (lr 0.004) beat 256 (lr 0.001) in quality and is 6× faster, because candle's CPU kernels only
/// spread over both cores once tensors are large (100% → 190% CPU); small batches are bound by per-op
/// overhead. Embedding tables are trained sparsely (only the rows a batch touches, lazy Adam — see the
/// `sparse` module): dense table gradients and a dense Adam step over every row were what bounded an
/// epoch on larger catalogues (GMF on Amazon Beauty: 197 s before, see `benches/README.md` for after).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NcfParams {
    kind: NcfKind,
    factors: usize,
    tower: Vec<usize>,
    epochs: usize,
    batch_size: usize,
    learning_rate: f32,
    negatives: usize,
    pretrain: bool,
    seed: u64,
}

/// A fitted NCF model.
#[derive(Debug, Clone)]
pub struct Ncf {
    kind: NcfKind,
    net: NeuMf,
    n_users: usize,
    n_items: usize,
    vars: Vec<(String, Var)>,
}

impl Ncf {
    /// Builder for `kind`.
    pub fn params(kind: NcfKind) -> NcfParams {
        NcfParams {
            kind,
            factors: 32,
            tower: vec![64, 32, 16, 8],
            epochs: 20,
            batch_size: 4096,
            learning_rate: 0.004,
            negatives: 4,
            pretrain: true,
            seed: 42,
        }
    }

    /// Named trainable tensors (for model files).
    pub fn tensors(&self) -> Vec<(String, Tensor)> {
        self.vars.iter().map(|(n, v)| (n.clone(), v.as_tensor().clone())).collect()
    }

    /// Which network this is.
    pub fn kind(&self) -> NcfKind {
        self.kind
    }

    /// Item embeddings for item-to-item similarity: the GMF part's, else the MLP part's.
    pub fn item_embeddings(&self) -> Result<ndarray::Array2<f32>> {
        let e = match (&self.net.gmf, &self.net.mlp) {
            (Some(g), _) => g.item.embeddings(),
            (None, Some(m)) => m.item.embeddings(),
            (None, None) => return Err(RecoError::NotFitted("network without embeddings".into())),
        };
        to_array(e)
    }

    /// The dot-product part of the network, for retrieval: `(user vectors p_u ⊙ w, item vectors q_i,
    /// output bias)` of the GMF part — a GMF score is exactly `(p_u ⊙ w) · q_i + bias`. `None` for MLP.
    pub fn dot_part(&self) -> Result<Option<DotPart>> {
        let Some(g) = &self.net.gmf else { return Ok(None) };
        let f = g.user.embeddings().dim(1).map_err(backend)?;
        let w = self.net.out.weight().squeeze(0).and_then(|w| w.narrow(0, 0, f)).map_err(backend)?;
        let users = g.user.embeddings().broadcast_mul(&w).map_err(backend)?;
        let bias = self.net.out.bias().expect("bias").to_vec1::<f32>().map_err(backend)?[0];
        Ok(Some((to_array(&users)?, to_array(g.item.embeddings())?, bias)))
    }

    /// The full network's scores of `items` for `user` (for re-ranking retrieved candidates).
    pub fn score_pairs(&self, user: u32, items: &[u32]) -> Result<Vec<f32>> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let pairs: Vec<u32> = items.iter().flat_map(|&i| [user, i]).collect();
        let pairs = Tensor::from_vec(pairs, (items.len(), 2), &Device::Cpu).map_err(backend)?;
        self.net.forward(&pairs).and_then(|t| t.to_vec1::<f32>()).map_err(backend)
    }

    /// Rebuilds a network of `kind` from named tensors (as [`tensors`](Self::tensors) names them): every
    /// value finite, every shape fitting `n_users` × `n_items` and the layer before it, and the parts present
    /// those `kind` has — else a typed error.
    pub fn from_named(
        kind: NcfKind,
        n_users: usize,
        n_items: usize,
        mut get: impl FnMut(&str) -> Result<Option<(Vec<f32>, Vec<usize>)>>,
    ) -> Result<Ncf> {
        let mut vars = Vec::new();
        let mut shapes = std::collections::HashMap::new();
        let mut var = |name: &str| -> Result<Option<Tensor>> {
            let Some((data, shape)) = get(name)? else { return Ok(None) };
            if let Some(v) = data.iter().find(|v| !v.is_finite()) {
                return Err(RecoError::Backend(format!("tensor `{name}` holds a non-finite value ({v})")));
            }
            if shape.iter().product::<usize>() != data.len() {
                return Err(RecoError::Backend(format!("tensor `{name}`: {} values for shape {shape:?}", data.len())));
            }
            shapes.insert(name.to_string(), shape.clone());
            let t = Tensor::from_vec(data, shape, &Device::Cpu).map_err(backend)?;
            let v = Var::from_tensor(&t).map_err(backend)?;
            vars.push((name.to_string(), v.clone()));
            Ok(Some(v.as_tensor().clone()))
        };
        let missing = |n: &str| RecoError::Backend(format!("missing tensor `{n}`"));
        let emb = |t: Tensor| -> Result<candle_nn::Embedding> {
            let d = t.dim(1).map_err(backend)?;
            Ok(candle_nn::Embedding::new(t, d))
        };
        let lin = |w: Tensor, b: Tensor| -> Result<candle_nn::Linear> {
            let out = w.dim(0).map_err(backend)?;
            Ok(candle_nn::Linear::new(w, Some(b.reshape(out).map_err(backend)?)))
        };
        let gmf = match (var("gmf.user.weight")?, var("gmf.item.weight")?) {
            (Some(u), Some(i)) => Some(layers::Gmf::new(emb(u)?, emb(i)?)),
            _ => None,
        };
        let mlp = match (var("mlp.user.weight")?, var("mlp.item.weight")?) {
            (Some(u), Some(i)) => {
                let mut ls = Vec::new();
                for k in 0.. {
                    let (Some(w), Some(b)) =
                        (var(&format!("mlp.layer{k}.weight"))?, var(&format!("mlp.layer{k}.bias"))?)
                    else {
                        break;
                    };
                    ls.push(lin(w, b)?);
                }
                Some(layers::Mlp::new(emb(u)?, emb(i)?, ls))
            }
            _ => None,
        };
        let out = lin(
            var("out.weight")?.ok_or_else(|| missing("out.weight"))?,
            var("out.bias")?.ok_or_else(|| missing("out.bias"))?,
        )?;
        if gmf.is_none() && mlp.is_none() {
            return Err(missing("gmf.* or mlp.*"));
        }
        shapes::check(kind, n_users, n_items, &shapes)?;
        Ok(Ncf { kind, net: NeuMf::new(gmf, mlp, out), n_users, n_items, vars })
    }
}

fn to_array(t: &Tensor) -> Result<ndarray::Array2<f32>> {
    let (n, d) = t.dims2().map_err(backend)?;
    let v = t.flatten_all().and_then(|t| t.to_vec1::<f32>()).map_err(backend)?;
    ndarray::Array2::from_shape_vec((n, d), v).map_err(|e| RecoError::Backend(e.to_string()))
}

fn backend(e: candle_core::Error) -> RecoError {
    RecoError::Backend(e.to_string())
}

impl NcfParams {
    /// Which network these parameters train.
    pub fn kind(&self) -> NcfKind {
        self.kind
    }

    /// GMF predictive factors (0..=1024; 0 only for MLP).
    pub fn factors(mut self, v: usize) -> Self {
        self.factors = v;
        self
    }
    /// MLP tower sizes, first = width of the concatenated embeddings (even), e.g. `[64, 32, 16, 8]`.
    pub fn tower(mut self, v: Vec<usize>) -> Self {
        self.tower = v;
        self
    }
    /// Passes over the data (1..=1000).
    pub fn epochs(mut self, v: usize) -> Self {
        self.epochs = v;
        self
    }
    /// Mini-batch size (1..=65536).
    pub fn batch_size(mut self, v: usize) -> Self {
        self.batch_size = v;
        self
    }
    /// Adam step size (0, 1].
    pub fn learning_rate(mut self, v: f32) -> Self {
        self.learning_rate = v;
        self
    }
    /// Negatives sampled per positive each epoch (1..=100).
    pub fn negatives(mut self, v: usize) -> Self {
        self.negatives = v;
        self
    }
    /// NeuMF: initialise from a trained GMF and MLP.
    pub fn pretrain(mut self, v: bool) -> Self {
        self.pretrain = v;
        self
    }
    /// Seed of initialisation, sampling and shuffling.
    pub fn seed(mut self, v: u64) -> Self {
        self.seed = v;
        self
    }

    /// Checks every hyper-parameter.
    pub fn validate(&self) -> Result<()> {
        check_range("epochs", self.epochs, 1, 1000)?;
        check_range("batch_size", self.batch_size, 1, 65_536)?;
        check_range("negatives", self.negatives, 1, 100)?;
        check_f32("learning_rate", self.learning_rate, 1e-9, 1.0)?;
        if self.kind != NcfKind::Mlp {
            check_range("factors", self.factors, 1, 1024)?;
        }
        if self.kind != NcfKind::Gmf
            && (self.tower.len() < 2 || self.tower[0] % 2 != 0 || self.tower.iter().any(|&w| w == 0 || w > 4096))
        {
            return Err(RecoError::param(
                "tower",
                format!("needs ≥ 2 sizes in 1..=4096 with an even first size, got {:?}", self.tower),
            ));
        }
        Ok(())
    }

    /// Fits on `train`.
    pub fn fit(&self, train: &InteractionMatrix) -> Result<Ncf> {
        self.fit_with_progress(train, &|_, _| true)
    }

    /// Fits on `train`, calling `progress(epoch, total epochs)` (pre-training epochs included).
    pub fn fit_with_progress(&self, train: &InteractionMatrix, progress: Progress<'_>) -> Result<Ncf> {
        self.validate()?;
        check_train(train)?;
        if self.kind == NcfKind::NeuMf && self.pretrain {
            let total = 3 * self.epochs;
            let gmf = Self { kind: NcfKind::Gmf, pretrain: false, ..self.clone() }
                .fit_with_progress(train, &|e, _| progress(e, total))?;
            let mlp = Self { kind: NcfKind::Mlp, pretrain: false, seed: self.seed ^ 1, ..self.clone() }
                .fit_with_progress(train, &|e, _| progress(self.epochs + e, total))?;
            let model = fuse(&gmf, &mlp, train.n_users(), train.n_items()).map_err(backend)?;
            // Fine-tune the fused model gently: Adam restarts without the parts' moment estimates.
            let tuned = Self { learning_rate: self.learning_rate * 0.1, ..self.clone() };
            tuned.train(model, train, &|e, _| progress(2 * self.epochs + e, total))
        } else {
            let mut rng = SmallRng::seed_from_u64(self.seed);
            let mut vars = Vec::new();
            let (factors, tower): (usize, &[usize]) = match self.kind {
                NcfKind::Gmf => (self.factors, &[]),
                NcfKind::Mlp => (0, &self.tower),
                NcfKind::NeuMf => (self.factors, &self.tower),
            };
            let net = neumf(train.n_users(), train.n_items(), factors, tower, &mut Init::new(&mut rng, &mut vars))
                .map_err(backend)?;
            let model = Ncf { kind: self.kind, net, n_users: train.n_users(), n_items: train.n_items(), vars };
            self.train(model, train, progress)
        }
    }

    fn train(&self, model: Ncf, train: &InteractionMatrix, progress: Progress<'_>) -> Result<Ncf> {
        let mut rng = SmallRng::seed_from_u64(self.seed.wrapping_add(0x51_7CC1_B727_220A));
        let params = ParamsAdamW { lr: self.learning_rate as f64, weight_decay: 0.0, ..Default::default() };
        let adam = sparse::Adam {
            lr: self.learning_rate,
            beta1: params.beta1 as f32,
            beta2: params.beta2 as f32,
            eps: params.eps as f32,
        };
        // Dense layers: candle's AdamW. Embedding tables: sparse rows with lazy Adam (see `sparse`).
        let dense = model.vars.iter().filter(|(n, _)| !EMBEDDINGS.contains(&n.as_str())).map(|(_, v)| v.clone());
        let mut opt = AdamW::new(dense.collect(), params).map_err(backend)?;
        let mut tables: Vec<Option<(Var, sparse::Table)>> = EMBEDDINGS
            .iter()
            .map(|name| match model.vars.iter().find(|(n, _)| n == name) {
                Some((_, v)) => sparse::Table::from_tensor(v.as_tensor()).map(|t| Some((v.clone(), t))),
                None => Ok(None),
            })
            .collect::<candle_core::Result<_>>()
            .map_err(backend)?;
        let ni = train.n_items();
        let positives: Vec<(u32, u32)> =
            (0..train.n_users()).flat_map(|u| train.user_row(u).0.iter().map(move |&i| (u as u32, i as u32))).collect();
        let mut step = 0i32;
        for epoch in 0..self.epochs {
            // (user, item, label): every positive plus `negatives` unseen items per positive
            let mut samples: Vec<(u32, u32, f32)> = Vec::with_capacity(positives.len() * (1 + self.negatives));
            for &(u, i) in &positives {
                samples.push((u, i, 1.0));
                let seen = train.user_row(u as usize).0;
                for _ in 0..self.negatives {
                    for _ in 0..16 {
                        let j = rng.random_range(0..ni);
                        if seen.binary_search(&j).is_err() {
                            samples.push((u, j as u32, 0.0));
                            break;
                        }
                    }
                }
            }
            samples.shuffle(&mut rng);
            let mut loss_sum = 0.0f64;
            for batch in samples.chunks(self.batch_size) {
                step += 1;
                let users: Vec<u32> = batch.iter().map(|s| s.0).collect();
                let items: Vec<u32> = batch.iter().map(|s| s.1).collect();
                let loss =
                    self.step(&model, &mut opt, &mut tables, &users, &items, batch, adam, step).map_err(backend)?;
                loss_sum += loss as f64 * batch.len() as f64;
            }
            if !loss_sum.is_finite() {
                return Err(RecoError::Diverged(format!(
                    "NCF loss is not finite in epoch {}: lower the learning rate",
                    epoch + 1
                )));
            }
            super::report(progress, epoch + 1, self.epochs)?;
        }
        for (var, table) in tables.iter().flatten() {
            table.store(var).map_err(backend)?;
        }
        Ok(model)
    }

    /// One mini-batch: forward on looked-up rows, backward, AdamW on the layers, lazy Adam on the rows.
    #[allow(clippy::too_many_arguments)]
    fn step(
        &self,
        model: &Ncf,
        opt: &mut AdamW,
        tables: &mut [Option<(Var, sparse::Table)>],
        users: &[u32],
        items: &[u32],
        batch: &[(u32, u32, f32)],
        adam: sparse::Adam,
        step: i32,
    ) -> candle_core::Result<f32> {
        let dev = Device::Cpu;
        let (uniq_u, local_u) = sparse::localise(users);
        let (uniq_i, local_i) = sparse::localise(items);
        let local_u = Tensor::from_vec(local_u, users.len(), &dev)?;
        let local_i = Tensor::from_vec(local_i, items.len(), &dev)?;
        // EMBEDDINGS alternates user and item tables.
        let ids = |k: usize| if k % 2 == 0 { &uniq_u } else { &uniq_i };
        let leaves: Vec<Option<Var>> = tables
            .iter()
            .enumerate()
            .map(|(k, t)| t.as_ref().map(|(_, t)| t.gather(ids(k))).transpose())
            .collect::<candle_core::Result<_>>()?;
        let rows: Vec<Option<Tensor>> = leaves
            .iter()
            .enumerate()
            .map(|(k, l)| {
                l.as_ref()
                    .map(|l| l.as_tensor().index_select(if k % 2 == 0 { &local_u } else { &local_i }, 0))
                    .transpose()
            })
            .collect::<candle_core::Result<_>>()?;
        let pair = |a: &Option<Tensor>, b: &Option<Tensor>| match (a, b) {
            (Some(a), Some(b)) => Some((a.clone(), b.clone())),
            _ => None,
        };
        let (g, m) = (pair(&rows[0], &rows[1]), pair(&rows[2], &rows[3]));
        let logits = model.net.forward_rows(g.as_ref().map(|(a, b)| (a, b)), m.as_ref().map(|(a, b)| (a, b)))?;
        let labels = Tensor::from_vec(batch.iter().map(|s| s.2).collect::<Vec<f32>>(), batch.len(), &dev)?;
        let loss = bce_with_logits(&logits, &labels)?;
        let grads = loss.backward()?;
        opt.step(&grads)?;
        for (k, (leaf, table)) in leaves.iter().zip(tables.iter_mut()).enumerate() {
            if let (Some(leaf), Some((_, table))) = (leaf, table) {
                if let Some(g) = grads.get(leaf.as_tensor()) {
                    table.update(ids(k), g, adam, step)?;
                }
            }
        }
        loss.to_scalar::<f32>()
    }
}

/// `(user vectors, item vectors, constant)` whose inner products plus the constant are a model's scores.
pub type DotPart = (ndarray::Array2<f32>, ndarray::Array2<f32>, f32);

/// The embedding tables, trained sparsely; user and item tables alternate.
const EMBEDDINGS: [&str; 4] = ["gmf.user.weight", "gmf.item.weight", "mlp.user.weight", "mlp.item.weight"];

/// Mean binary cross-entropy on logits, in the stable form `max(x, 0) − x·y + ln(1 + e^(−|x|))`
/// (candle-nn's version takes `ln σ(x)`, which overflows once logits saturate).
fn bce_with_logits(x: &Tensor, y: &Tensor) -> candle_core::Result<Tensor> {
    let soft = (x.abs()?.neg()?.exp()? + 1.0)?.log()?;
    ((x.relu()? - (x * y)?)? + soft)?.mean_all()
}

/// NeuMF from a trained GMF and MLP: their embeddings and layers, and a prediction layer that averages
/// theirs (α = 0.5, as in the paper).
fn fuse(gmf: &Ncf, mlp: &Ncf, n_users: usize, n_items: usize) -> candle_core::Result<Ncf> {
    let copy = |t: &Tensor| -> candle_core::Result<(Tensor, Var)> {
        let v = Var::from_tensor(&t.copy()?)?;
        Ok((v.as_tensor().clone(), v))
    };
    let mut vars = Vec::new();
    let mut take = |name: &str, t: &Tensor| -> candle_core::Result<Tensor> {
        let (t, v) = copy(t)?;
        vars.push((name.to_string(), v));
        Ok(t)
    };
    let g = gmf.net.gmf.as_ref().expect("a GMF model has a GMF part");
    let m = mlp.net.mlp.as_ref().expect("an MLP model has an MLP part");
    let g_user = take("gmf.user.weight", g.user.embeddings())?;
    let g_item = take("gmf.item.weight", g.item.embeddings())?;
    let m_user = take("mlp.user.weight", m.user.embeddings())?;
    let m_item = take("mlp.item.weight", m.item.embeddings())?;
    let mut layers = Vec::new();
    for (k, l) in m.layers.iter().enumerate() {
        let w = take(&format!("mlp.layer{k}.weight"), l.weight())?;
        let b = take(&format!("mlp.layer{k}.bias"), l.bias().expect("layers have a bias"))?;
        layers.push(candle_nn::Linear::new(w, Some(b)));
    }
    let (gw, gb) = (gmf.net.out.weight(), gmf.net.out.bias().expect("bias"));
    let (mw, mb) = (mlp.net.out.weight(), mlp.net.out.bias().expect("bias"));
    let w = take("out.weight", &(Tensor::cat(&[gw, mw], D::Minus1)? * 0.5)?)?;
    let b = take("out.bias", &((gb + mb)? * 0.5)?)?;
    let d = g_user.dim(1)?;
    let dm = m_user.dim(1)?;
    let net = NeuMf::new(
        Some(layers::Gmf::new(candle_nn::Embedding::new(g_user, d), candle_nn::Embedding::new(g_item, d))),
        Some(layers::Mlp::new(candle_nn::Embedding::new(m_user, dm), candle_nn::Embedding::new(m_item, dm), layers)),
        candle_nn::Linear::new(w, Some(b)),
    );
    Ok(Ncf { kind: NcfKind::NeuMf, net, n_users, n_items, vars })
}

/// Items scored per chunk of the (users × items) grid, to bound memory.
const GRID: usize = 1 << 19;

impl Ncf {
    fn score_block(&self, users: &[u32]) -> candle_core::Result<Vec<f32>> {
        let dev = Device::Cpu;
        let (b, n) = (users.len(), self.n_items);
        let uid = Tensor::from_vec(users.to_vec(), b, &dev)?;
        let out_w = self.net.out.weight().squeeze(0)?; // (width,)
        let mut width_off = 0;
        let mut scores = Tensor::zeros((b, n), candle_core::DType::F32, &dev)?;
        if let Some(g) = &self.net.gmf {
            let f = g.user.embeddings().dim(1)?;
            let w = out_w.narrow(0, 0, f)?;
            let pu = g.user.forward(&uid)?.broadcast_mul(&w)?; // (b, f)
            scores = (scores + pu.matmul(&g.item.embeddings().t()?)?)?;
            width_off = f;
        }
        if let Some(m) = &self.net.mlp {
            let first = &m.layers[0];
            let d = m.user.embeddings().dim(1)?;
            let w1 = first.weight(); // (h1, 2d)
            let (w1u, w1i) = (w1.narrow(1, 0, d)?, w1.narrow(1, d, d)?);
            let a = m.user.forward(&uid)?.matmul(&w1u.t()?)?.broadcast_add(first.bias().expect("bias"))?; // (b, h1)
            let c = m.item.embeddings().matmul(&w1i.t()?)?; // (n, h1)
            let h1 = a.dim(1)?;
            let last = m.layers.last().expect("≥ 1 layer").weight().dim(0)?;
            let w_m = out_w.narrow(0, width_off, last)?.unsqueeze(1)?; // (last, 1)
            let rows_per_chunk = (GRID / n.max(1)).max(1);
            let mut parts = Vec::new();
            for start in (0..b).step_by(rows_per_chunk) {
                let len = rows_per_chunk.min(b - start);
                let ab = a.narrow(0, start, len)?.unsqueeze(1)?; // (len, 1, h1)
                let mut h = ab.broadcast_add(&c.unsqueeze(0)?)?.relu()?.reshape((len * n, h1))?;
                for l in &m.layers[1..] {
                    h = l.forward(&h)?.relu()?;
                }
                parts.push(h.matmul(&w_m)?.reshape((len, n))?);
            }
            scores = (scores + Tensor::cat(&parts, 0)?)?;
        }
        let bias = self.net.out.bias().expect("bias").to_vec1::<f32>()?[0];
        (scores + bias as f64)?.flatten_all()?.to_vec1::<f32>()
    }
}

impl Recommender for Ncf {
    fn name(&self) -> &'static str {
        match self.kind {
            NcfKind::Gmf => "gmf",
            NcfKind::Mlp => "mlp",
            NcfKind::NeuMf => "neumf",
        }
    }
    fn n_users(&self) -> usize {
        self.n_users
    }
    fn n_items(&self) -> usize {
        self.n_items
    }
    fn score_user(&self, user: u32, out: &mut [f32]) -> Result<()> {
        out.copy_from_slice(&self.score_block(&[user]).map_err(backend)?);
        Ok(())
    }
    fn score_users(&self, users: &[u32], out: &mut ArrayViewMut2<'_, f32>) -> Result<()> {
        out.iter_mut().zip(self.score_block(users).map_err(backend)?).for_each(|(o, s)| *o = s);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blocks() -> InteractionMatrix {
        let mut tri = sprs::TriMat::new((40, 20));
        for u in 0..40 {
            let base = if u < 20 { 0 } else { 10 };
            for j in 0..10 {
                if crate::model::tests_support::keep(u, j) {
                    tri.add_triplet(u, base + j, 1.0f32);
                }
            }
        }
        InteractionMatrix::from_csr(tri.to_csr())
    }

    /// The decomposed catalogue scoring must equal running the network on every pair.
    #[test]
    fn fast_scoring_equals_the_network() {
        let m = blocks();
        for kind in [NcfKind::Gmf, NcfKind::Mlp, NcfKind::NeuMf] {
            let model = Ncf::params(kind).factors(4).tower(vec![8, 4, 2]).epochs(1).pretrain(false).fit(&m).unwrap();
            let mut fast = vec![0.0; 20];
            model.score_user(3, &mut fast).unwrap();
            let pairs: Vec<u32> = (0..20u32).flat_map(|i| [3, i]).collect();
            let pairs = Tensor::from_vec(pairs, (20, 2), &Device::Cpu).unwrap();
            let slow = model.net.forward(&pairs).unwrap().to_vec1::<f32>().unwrap();
            for (a, b) in fast.iter().zip(&slow) {
                assert!((a - b).abs() < 1e-4, "{kind:?}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn stable_bce_matches_the_definition() {
        let x = Tensor::new(&[-50f32, -1.0, 0.0, 2.0, 80.0], &Device::Cpu).unwrap();
        let y = Tensor::new(&[0f32, 1.0, 1.0, 0.0, 1.0], &Device::Cpu).unwrap();
        let got = bce_with_logits(&x, &y).unwrap().to_scalar::<f32>().unwrap();
        let def =
            |x: f64, y: f64| -(y * (1.0 / (1.0 + (-x).exp())).ln() + (1.0 - y) * (1.0 - 1.0 / (1.0 + (-x).exp())).ln());
        let want =
            [(-50.0, 0.0), (-1.0, 1.0), (0.0, 1.0), (2.0, 0.0)].iter().map(|&(a, b)| def(a, b)).sum::<f64>() / 5.0;
        // the last term (x = 80, y = 1) is ~0 and overflows the naive definition
        assert!((got as f64 - want).abs() < 1e-5, "{got} vs {want}");
    }

    #[test]
    fn learns_block_structure_reproducibly_with_and_without_pretraining() {
        let m = blocks();
        for (kind, pretrain) in [(NcfKind::Gmf, false), (NcfKind::Mlp, false), (NcfKind::NeuMf, true)] {
            let p = Ncf::params(kind)
                .factors(8)
                .tower(vec![16, 8, 4])
                .epochs(40)
                .batch_size(64)
                .learning_rate(0.01)
                .pretrain(pretrain);
            let model = p.fit(&m).unwrap();
            let again = p.fit(&m).unwrap();
            let (mut a, mut b) = (vec![0.0; 20], vec![0.0; 20]);
            model.score_user(5, &mut a).unwrap();
            again.score_user(5, &mut b).unwrap();
            assert_eq!(a, b, "{kind:?} is reproducible");
            let mut hits = 0;
            for u in 0..40u32 {
                let lo = if u < 20 { 0 } else { 10 };
                hits += model
                    .recommend(u, 3, Some(&m))
                    .unwrap()
                    .iter()
                    .filter(|&&(i, _)| (lo..lo + 10).contains(&i))
                    .count();
            }
            // each user has ~4 unseen items in its community and 10 outside: a random top 3 hits ~34/120
            assert!(hits >= 80, "{kind:?}: in-community hits {hits}/120");
        }
        assert!(Ncf::params(NcfKind::Mlp).tower(vec![7, 4]).fit(&m).is_err());
        assert!(Ncf::params(NcfKind::Gmf).factors(0).fit(&m).is_err());
    }
}
