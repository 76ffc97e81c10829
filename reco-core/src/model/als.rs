//! Alternating least squares for implicit feedback (Hu, Koren, Volinsky 2008) with the conjugate-gradient
//! update of Takács, Pilászy, Tikk (2011), as `implicit` does it — but solved for blocks of users at once,
//! so the dense `P · (YᵀY + λI)` products run as one GEMM (matrixmultiply picks AVX2/FMA at run time)
//! instead of one matrix–vector product per user.

use super::kernels::{axpy, dot};
use super::mf::MatrixFactorization;
use super::{check_f32, check_range, check_train, damp, Progress};
use crate::data::InteractionMatrix;
use crate::error::Result;
use ndarray::{linalg::general_mat_mul, Array2, ArrayView2, ArrayViewMut2};
use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use sprs::CsMat;

/// Users (or items) solved together in one block.
const BLOCK: usize = 128;

/// ALS hyper-parameters. Defaults (chosen on the Beauty and MovieLens validation splits, see
/// `benches/README.md`): `factors 64, iterations 15, regularization 30, alpha 30, cg_steps 3, seed 42`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct AlsParams {
    factors: usize,
    iterations: usize,
    regularization: f32,
    alpha: f32,
    cg_steps: usize,
    seed: u64,
}

impl Default for AlsParams {
    fn default() -> Self {
        AlsParams { factors: 64, iterations: 15, regularization: 30.0, alpha: 30.0, cg_steps: 3, seed: 42 }
    }
}

/// The ALS model family; [`Als::params`] is the entry point.
#[derive(Debug, Clone, Copy)]
pub struct Als;

impl Als {
    /// The builder with default hyper-parameters.
    pub fn params() -> AlsParams {
        AlsParams::default()
    }
}

impl AlsParams {
    /// Latent dimensions (1..=1024).
    pub fn factors(mut self, v: usize) -> Self {
        self.factors = v;
        self
    }
    /// Alternations (1..=1000).
    pub fn iterations(mut self, v: usize) -> Self {
        self.iterations = v;
        self
    }
    /// L2 penalty λ (≥ 0).
    pub fn regularization(mut self, v: f32) -> Self {
        self.regularization = v;
        self
    }
    /// Confidence of a positive: `c = 1 + alpha · ln(1 + weight)` (≥ 0).
    pub fn alpha(mut self, v: f32) -> Self {
        self.alpha = v;
        self
    }
    /// Conjugate-gradient steps per update (1..=32).
    pub fn cg_steps(mut self, v: usize) -> Self {
        self.cg_steps = v;
        self
    }
    /// Seed of the initial factors.
    pub fn seed(mut self, v: u64) -> Self {
        self.seed = v;
        self
    }

    /// Checks every hyper-parameter.
    pub fn validate(&self) -> Result<()> {
        check_range("factors", self.factors, 1, 1024)?;
        check_range("iterations", self.iterations, 1, 1000)?;
        check_range("cg_steps", self.cg_steps, 1, 32)?;
        check_f32("regularization", self.regularization, 0.0, 1e6)?;
        check_f32("alpha", self.alpha, 0.0, 1e6)
    }

    /// Fits on `train` (users × items).
    pub fn fit(&self, train: &InteractionMatrix) -> Result<MatrixFactorization> {
        self.fit_with_progress(train, &|_, _| true)
    }

    /// Fits on `train`, calling `progress(iteration, iterations)` after each alternation.
    pub fn fit_with_progress(&self, train: &InteractionMatrix, progress: Progress<'_>) -> Result<MatrixFactorization> {
        self.validate()?;
        check_train(train)?;
        let f = self.factors;
        let mut rng = rand::rngs::SmallRng::seed_from_u64(self.seed);
        let mut init = |rows: usize| Array2::from_shape_fn((rows, f), |_| rng.random::<f32>() * 0.01);
        let mut x = init(train.n_users());
        let mut y = init(train.n_items());
        let conf = |m: &CsMat<f32>| m.map(|&w| 1.0 + self.alpha * damp(w));
        let cu = conf(train.user_items());
        let ci = conf(train.item_users());
        for it in 0..self.iterations {
            solve(&cu, &y.view(), &mut x, self.regularization, self.cg_steps);
            solve(&ci, &x.view(), &mut y, self.regularization, self.cg_steps);
            super::report(progress, it + 1, self.iterations)?;
        }
        Ok(MatrixFactorization { name: "als", user_factors: x, item_factors: y, item_bias: None })
    }
}

/// One half-alternation: update every row of `x` given fixed `y`, with confidences `c` (rows of `c` ↔ rows
/// of `x`).
fn solve(c: &CsMat<f32>, y: &ArrayView2<'_, f32>, x: &mut Array2<f32>, reg: f32, cg_steps: usize) {
    let f = y.ncols();
    let mut yty = y.t().dot(y);
    for d in 0..f {
        yty[[d, d]] += reg;
    }
    let rows = x.nrows();
    let xs = x.as_slice_mut().expect("factors are contiguous");
    xs.par_chunks_mut(BLOCK * f).enumerate().for_each(|(b, chunk)| {
        let start = b * BLOCK;
        let n = chunk.len() / f;
        let mut xb = ArrayViewMut2::from_shape((n, f), chunk).expect("block shape");
        solve_block(c, y, &yty.view(), &mut xb, start, cg_steps);
    });
    debug_assert_eq!(xs.len(), rows * f);
}

/// Batched conjugate gradient for rows `start..start + xb.nrows()`.
fn solve_block(
    c: &CsMat<f32>,
    y: &ArrayView2<'_, f32>,
    yty: &ArrayView2<'_, f32>,
    xb: &mut ArrayViewMut2<'_, f32>,
    start: usize,
    cg_steps: usize,
) {
    let (n, f) = xb.dim();
    let ys = y.as_slice().expect("factors are contiguous");
    let yrow = |i: usize| &ys[i * f..(i + 1) * f];
    let row_of = |r: usize| {
        let range = c.indptr().outer_inds_sz(start + r);
        (&c.indices()[range.clone()], &c.data()[range])
    };
    // r = b - A x = -YtY x + Σ (c - (c-1) y·x) y
    let mut r = Array2::<f32>::zeros((n, f));
    general_mat_mul(-1.0, &*xb, yty, 0.0, &mut r);
    for k in 0..n {
        let (items, cs) = row_of(k);
        let xk = xb.row(k);
        let xk = xk.as_slice().expect("contiguous");
        let rk = r.row_mut(k).into_slice().expect("contiguous");
        for (&i, &ci) in items.iter().zip(cs) {
            let yi = yrow(i);
            axpy(ci - (ci - 1.0) * dot(yi, xk), yi, rk);
        }
    }
    let mut p = r.clone();
    let mut ap = Array2::<f32>::zeros((n, f));
    let mut rs: Vec<f32> = (0..n).map(|k| dot(r.row(k).as_slice().unwrap(), r.row(k).as_slice().unwrap())).collect();
    for _ in 0..cg_steps {
        general_mat_mul(1.0, &p, yty, 0.0, &mut ap);
        for (k, rs_k) in rs.iter_mut().enumerate() {
            if *rs_k < 1e-20 {
                continue;
            }
            let (items, cs) = row_of(k);
            let pk = p.row(k);
            let pk = pk.as_slice().unwrap();
            let apk = ap.row_mut(k).into_slice().unwrap();
            for (&i, &ci) in items.iter().zip(cs) {
                let yi = yrow(i);
                axpy((ci - 1.0) * dot(yi, pk), yi, apk);
            }
            let pap = dot(pk, apk);
            if pap <= 0.0 || !pap.is_finite() {
                *rs_k = 0.0;
                continue;
            }
            let a = *rs_k / pap;
            axpy(a, pk, xb.row_mut(k).into_slice().unwrap());
            let rk = r.row_mut(k).into_slice().unwrap();
            axpy(-a, apk, rk);
            let rs_new = dot(rk, rk);
            let beta = rs_new / *rs_k;
            *rs_k = rs_new;
            let pk = p.row_mut(k).into_slice().unwrap();
            for (pj, rj) in pk.iter_mut().zip(rk.iter()) {
                *pj = rj + beta * *pj;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Recommender;

    /// Two disjoint communities: ALS must rank the other items of the user's own community first.
    #[test]
    fn als_learns_block_structure() {
        let mut tri = sprs::TriMat::new((40, 20));
        for u in 0..40 {
            let base = if u < 20 { 0 } else { 10 };
            for j in 0..10 {
                if crate::model::tests_support::keep(u, j) {
                    tri.add_triplet(u, base + j, 1.0f32);
                }
            }
        }
        let m = InteractionMatrix::from_csr(tri.to_csr());
        let model = Als::params().factors(4).iterations(10).fit(&m).unwrap();
        for u in [0u32, 25] {
            let top = model.recommend(u, 3, Some(&m)).unwrap();
            let lo = if u < 20 { 0 } else { 10 };
            assert!(top.iter().all(|&(i, _)| (lo..lo + 10).contains(&i)), "user {u}: {top:?}");
        }
        // batched scoring equals one-by-one scoring
        let mut batch = Array2::zeros((2, 20));
        model.score_users(&[0, 25], &mut batch.view_mut()).unwrap();
        let mut one = vec![0.0; 20];
        model.score_user(25, &mut one).unwrap();
        for (a, b) in batch.row(1).iter().zip(&one) {
            assert!((a - b).abs() < 1e-4);
        }
    }

    #[test]
    fn als_is_deterministic_and_validates() {
        let m = InteractionMatrix::from_csr(
            sprs::TriMat::from_triplets((3, 3), vec![0, 1, 2, 2], vec![0, 1, 1, 2], vec![1.0f32; 4]).to_csr(),
        );
        let a = Als::params().factors(3).fit(&m).unwrap();
        let b = Als::params().factors(3).fit(&m).unwrap();
        assert_eq!(a.user_factors(), b.user_factors());
        assert!(Als::params().factors(0).fit(&m).is_err());
        assert!(Als::params().alpha(f32::NAN).fit(&m).is_err());
        assert!(Als::params().regularization(-1.0).fit(&m).is_err());
    }
}
