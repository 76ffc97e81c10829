//! Bayesian personalised ranking (Rendle et al. 2009) with matrix factorisation and item biases.
//!
//! Parallel SGD without data races and without atomics: users and items are cut into `B` ranges of about
//! equal interaction count, giving a `B × B` grid of blocks. Each epoch runs `B` rounds; in round `s`,
//! worker `t` trains block `(t, (t + s) mod B)` — disjoint user rows and item rows, so the workers own
//! their slices outright (stratified SGD, Gemulla et al. 2011). Negatives are drawn from the whole
//! catalogue: one inside the worker's item range is updated in place; one outside is read from a snapshot
//! taken at the start of the round and its update is queued and applied after the round (at most one
//! round stale). The result depends only on the seed and `B`, not on thread timing.

use super::kernels::dot;
use super::mf::MatrixFactorization;
use super::{check_f32, check_range, check_train, Progress};
use crate::data::InteractionMatrix;
use crate::error::Result;
use ndarray::Array2;
use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;

/// BPR hyper-parameters. Defaults (chosen on the Beauty validation split, see `benches/README.md`):
/// `factors 64, epochs 30, learning_rate 0.3, regularization 0.03, seed 42`, blocks = worker threads.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct BprParams {
    factors: usize,
    epochs: usize,
    learning_rate: f32,
    regularization: f32,
    blocks: Option<usize>,
    seed: u64,
}

impl Default for BprParams {
    fn default() -> Self {
        BprParams { factors: 64, epochs: 30, learning_rate: 0.3, regularization: 0.03, blocks: None, seed: 42 }
    }
}

/// The BPR model family; [`Bpr::params`] is the entry point.
#[derive(Debug, Clone, Copy)]
pub struct Bpr;

impl Bpr {
    /// The builder with default hyper-parameters.
    pub fn params() -> BprParams {
        BprParams::default()
    }
}

impl BprParams {
    /// Latent dimensions (1..=1024).
    pub fn factors(mut self, v: usize) -> Self {
        self.factors = v;
        self
    }
    /// Passes over the data (1..=10000); each samples as many triples as there are interactions.
    pub fn epochs(mut self, v: usize) -> Self {
        self.epochs = v;
        self
    }
    /// SGD step size (0, 10].
    pub fn learning_rate(mut self, v: f32) -> Self {
        self.learning_rate = v;
        self
    }
    /// L2 penalty (≥ 0).
    pub fn regularization(mut self, v: f32) -> Self {
        self.regularization = v;
        self
    }
    /// Grid size `B` (1..=256); default: rayon's thread count. Results are reproducible for a given `B`.
    pub fn blocks(mut self, v: usize) -> Self {
        self.blocks = Some(v);
        self
    }
    /// Seed of initialisation and sampling.
    pub fn seed(mut self, v: u64) -> Self {
        self.seed = v;
        self
    }

    /// Checks every hyper-parameter.
    pub fn validate(&self) -> Result<()> {
        check_range("factors", self.factors, 1, 1024)?;
        check_range("epochs", self.epochs, 1, 10_000)?;
        check_range("blocks", self.blocks.unwrap_or(1), 1, 256)?;
        check_f32("learning_rate", self.learning_rate, 1e-9, 10.0)?;
        check_f32("regularization", self.regularization, 0.0, 1e6)
    }

    /// Fits on `train`.
    pub fn fit(&self, train: &InteractionMatrix) -> Result<MatrixFactorization> {
        self.fit_with_progress(train, &|_, _| true)
    }

    /// Fits on `train`, calling `progress(epoch, epochs)` after each epoch.
    pub fn fit_with_progress(&self, train: &InteractionMatrix, progress: Progress<'_>) -> Result<MatrixFactorization> {
        self.validate()?;
        check_train(train)?;
        let f = self.factors;
        let (nu, ni) = (train.n_users(), train.n_items());
        let nb = self.blocks.unwrap_or_else(rayon::current_num_threads).clamp(1, ni.min(nu).max(1));
        let user_cuts = balanced_cuts(nu, nb, |u| train.user_row(u).0.len());
        let item_cuts = balanced_cuts(ni, nb, |i| train.item_row(i).0.len());
        let item_block = block_of(&item_cuts, ni);
        // pairs[ub][ib]: the block's positives, grouped by user
        let mut pairs: Vec<Vec<UserLists>> = (0..nb).map(|_| (0..nb).map(|_| UserLists::default()).collect()).collect();
        for ub in 0..nb {
            for u in user_cuts[ub]..user_cuts[ub + 1] {
                for &i in train.user_row(u).0 {
                    pairs[ub][item_block[i]].push(u as u32, i as u32);
                }
            }
        }
        let mut rng = SmallRng::seed_from_u64(self.seed);
        let scale = 0.1 / (f as f32).sqrt();
        let mut xu: Vec<f32> = (0..nu * f).map(|_| (rng.random::<f32>() - 0.5) * scale).collect();
        let mut yi: Vec<f32> = (0..ni * f).map(|_| (rng.random::<f32>() - 0.5) * scale).collect();
        let mut bias = vec![0.0f32; ni];
        let mut workers: Vec<Deltas> = (0..nb).map(|_| Deltas::new(ni, f)).collect();
        for epoch in 0..self.epochs {
            for round in 0..nb {
                let (y_snap, b_snap) = (yi.clone(), bias.clone());
                let users = split_rows(&mut xu, &user_cuts, f);
                let mut items: Vec<Option<(&mut [f32], &mut [f32])>> = split_rows(&mut yi, &item_cuts, f)
                    .into_iter()
                    .zip(split_rows(&mut bias, &item_cuts, 1))
                    .map(Some)
                    .collect();
                let tasks: Vec<_> = users
                    .into_iter()
                    .zip(workers.iter_mut())
                    .enumerate()
                    .map(|(ub, (xs, deltas))| {
                        let ib = (ub + round) % nb;
                        (ub, ib, xs, deltas, items[ib].take().expect("each item block once per round"))
                    })
                    .collect();
                tasks.into_par_iter().for_each(|(ub, ib, xs, deltas, (ys, bs))| {
                    let block = &pairs[ub][ib];
                    if block.items.is_empty() {
                        return;
                    }
                    let seed = self.seed
                        ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
                        ^ ((round * nb + ub) as u64) << 40;
                    let ctx = Block {
                        train,
                        f,
                        u0: user_cuts[ub],
                        i0: item_cuts[ib],
                        i1: item_cuts[ib + 1],
                        y_snap: &y_snap,
                        b_snap: &b_snap,
                        lr: self.learning_rate,
                        reg: self.regularization,
                    };
                    ctx.run(block, xs, ys, bs, deltas, seed);
                });
                for d in &mut workers {
                    d.apply(&mut yi, &mut bias, f);
                }
            }
            if !(xu.iter().all(|v| v.is_finite())
                && yi.iter().all(|v| v.is_finite())
                && bias.iter().all(|v| v.is_finite()))
            {
                return Err(crate::RecoError::Diverged(format!(
                    "BPR factors are not finite after epoch {} (learning_rate {}, regularization {}): lower the learning rate",
                    epoch + 1,
                    self.learning_rate,
                    self.regularization
                )));
            }
            super::report(progress, epoch + 1, self.epochs)?;
        }
        let user_factors = Array2::from_shape_vec((nu, f), xu).expect("shape");
        let item_factors = Array2::from_shape_vec((ni, f), yi).expect("shape");
        Ok(MatrixFactorization { name: "bpr", user_factors, item_factors, item_bias: Some(bias) })
    }
}

/// Positives of one block, grouped by user.
#[derive(Default)]
struct UserLists {
    users: Vec<u32>,
    starts: Vec<u32>,
    items: Vec<u32>,
}

impl UserLists {
    fn push(&mut self, u: u32, i: u32) {
        if self.users.last() != Some(&u) {
            if self.starts.is_empty() {
                self.starts.push(0);
            }
            self.users.push(u);
            self.starts.push(self.items.len() as u32);
        }
        self.items.push(i);
        *self.starts.last_mut().expect("pushed above") = self.items.len() as u32;
    }
}

/// Updates a worker owes to negative items outside its block, applied after each round.
struct Deltas {
    y: Vec<f32>,
    b: Vec<f32>,
    touched: Vec<usize>,
    is_touched: Vec<bool>,
}

impl Deltas {
    fn new(ni: usize, f: usize) -> Self {
        Deltas { y: vec![0.0; ni * f], b: vec![0.0; ni], touched: Vec::new(), is_touched: vec![false; ni] }
    }

    fn apply(&mut self, y: &mut [f32], b: &mut [f32], f: usize) {
        self.touched.sort_unstable();
        for &j in &self.touched {
            for (yk, dk) in y[j * f..(j + 1) * f].iter_mut().zip(&mut self.y[j * f..(j + 1) * f]) {
                *yk += std::mem::take(dk);
            }
            b[j] += std::mem::take(&mut self.b[j]);
            self.is_touched[j] = false;
        }
        self.touched.clear();
    }
}

struct Block<'a> {
    train: &'a InteractionMatrix,
    f: usize,
    u0: usize,
    i0: usize,
    i1: usize,
    y_snap: &'a [f32],
    b_snap: &'a [f32],
    lr: f32,
    reg: f32,
}

impl Block<'_> {
    /// One pass over the block's positives: users in a fresh random order, each user's positives
    /// together (the user's row and factors stay in cache), one uniform negative per positive.
    fn run(&self, block: &UserLists, xs: &mut [f32], ys: &mut [f32], bs: &mut [f32], deltas: &mut Deltas, seed: u64) {
        let (f, lr, reg) = (self.f, self.lr, self.reg);
        let ni = self.train.n_items();
        let mut rng = SmallRng::seed_from_u64(seed);
        let mut diff = vec![0.0f32; f];
        let mut yj = vec![0.0f32; f];
        let mut order: Vec<u32> = (0..block.users.len() as u32).collect();
        order.shuffle(&mut rng);
        let samples = order.iter().flat_map(|&k| {
            let k = k as usize;
            let u = block.users[k] as usize;
            block.items[block.starts[k] as usize..block.starts[k + 1] as usize].iter().map(move |&i| (u, i as usize))
        });
        for (u, i) in samples {
            let seen = self.train.user_row(u).0;
            // a uniform negative; give up after a few tries (the user has nearly everything)
            let mut j = usize::MAX;
            for _ in 0..8 {
                let c = rng.random_range(0..ni);
                if seen.binary_search(&c).is_err() {
                    j = c;
                    break;
                }
            }
            if j == usize::MAX {
                continue;
            }
            let own = (self.i0..self.i1).contains(&j);
            let il = i - self.i0;
            let bj = if own {
                yj.copy_from_slice(&ys[(j - self.i0) * f..(j - self.i0 + 1) * f]);
                bs[j - self.i0]
            } else {
                yj.copy_from_slice(&self.y_snap[j * f..(j + 1) * f]);
                self.b_snap[j] + deltas.b[j]
            };
            let x = &mut xs[(u - self.u0) * f..(u - self.u0 + 1) * f];
            let yi = &mut ys[il * f..(il + 1) * f];
            for ((d, a), b) in diff.iter_mut().zip(yi.iter()).zip(yj.iter()) {
                *d = a - b;
            }
            let x_uij = dot(x, &diff) + bs[il] - bj;
            let z = 1.0 / (1.0 + x_uij.exp()); // σ(-x_uij) = d ln σ(x_uij) / d x_uij
            bs[il] += lr * (z - reg * bs[il]);
            // yj becomes the step for y_j
            for (((xk, yik), yjk), d) in x.iter_mut().zip(yi.iter_mut()).zip(yj.iter_mut()).zip(diff.iter()) {
                let x0 = *xk;
                *xk += lr * (z * d - reg * x0);
                *yik += lr * (z * x0 - reg * *yik);
                *yjk = lr * (-z * x0 - reg * *yjk);
            }
            let db = lr * (-z - reg * bj);
            if own {
                let jl = j - self.i0;
                super::kernels::axpy(1.0, &yj, &mut ys[jl * f..(jl + 1) * f]);
                bs[jl] += db;
            } else {
                if !deltas.is_touched[j] {
                    deltas.is_touched[j] = true;
                    deltas.touched.push(j);
                }
                super::kernels::axpy(1.0, &yj, &mut deltas.y[j * f..(j + 1) * f]);
                deltas.b[j] += db;
            }
        }
    }
}

/// `nb + 1` cut points over `0..n` giving ranges of about equal total `weight`, none empty while n ≥ nb.
fn balanced_cuts(n: usize, nb: usize, weight: impl Fn(usize) -> usize) -> Vec<usize> {
    let total: usize = (0..n).map(&weight).sum();
    let mut cuts = vec![0];
    let mut acc = 0;
    for r in 0..n {
        acc += weight(r);
        let k = cuts.len();
        if k < nb && acc * nb >= total * k && n - (r + 1) >= nb - k {
            cuts.push(r + 1);
        }
    }
    while cuts.len() < nb {
        cuts.push(n);
    }
    cuts.push(n);
    cuts
}

fn block_of(cuts: &[usize], n: usize) -> Vec<usize> {
    let mut b = vec![0; n];
    for k in 0..cuts.len() - 1 {
        b[cuts[k]..cuts[k + 1]].fill(k);
    }
    b
}

fn split_rows<'a>(mut data: &'a mut [f32], cuts: &[usize], width: usize) -> Vec<&'a mut [f32]> {
    let mut out = Vec::with_capacity(cuts.len() - 1);
    for k in 0..cuts.len() - 1 {
        let (head, tail) = std::mem::take(&mut data).split_at_mut((cuts[k + 1] - cuts[k]) * width);
        out.push(head);
        data = tail;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Recommender;

    #[test]
    fn cuts_cover_everything_in_order() {
        let c = balanced_cuts(10, 3, |r| if r == 0 { 100 } else { 1 });
        assert_eq!(c.first(), Some(&0));
        assert_eq!(c.last(), Some(&10));
        assert_eq!(c.len(), 4);
        assert!(c.windows(2).all(|w| w[0] < w[1]), "{c:?}");
        assert_eq!(balanced_cuts(2, 2, |_| 1), vec![0, 1, 2]);
    }

    #[test]
    fn bpr_learns_block_structure_and_is_reproducible() {
        let mut tri = sprs::TriMat::new((60, 30));
        for u in 0..60 {
            let base = if u < 30 { 0 } else { 15 };
            for j in 0..15 {
                if crate::model::tests_support::keep(u, j) {
                    tri.add_triplet(u, base + j, 1.0f32);
                }
            }
        }
        let m = InteractionMatrix::from_csr(tri.to_csr());
        let p = Bpr::params().factors(8).epochs(60).blocks(2);
        let model = p.fit(&m).unwrap();
        let again = p.fit(&m).unwrap();
        assert_eq!(model.item_factors(), again.item_factors());
        let mut hits = 0;
        for u in 0..60u32 {
            let lo = if u < 30 { 0 } else { 15 };
            let top = model.recommend(u, 3, Some(&m)).unwrap();
            hits += top.iter().filter(|&&(i, _)| (lo..lo + 15).contains(&i)).count();
        }
        assert!(hits >= 175, "in-community hits {hits}/180");
        assert!(Bpr::params().learning_rate(0.0).fit(&m).is_err());
        assert!(matches!(
            Bpr::params().learning_rate(10.0).regularization(0.0).epochs(50).fit(&m),
            Err(crate::RecoError::Diverged(_))
        ));
    }
}
