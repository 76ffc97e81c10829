//! Shared pieces of shopml's benchmarks: seeded synthetic embeddings shaped like real ones and exact
//! (brute-force) top-k. Criterion benches live in `benches/`, the ANN table's binary in `src/bin/ann.rs`;
//! see `benches/README.md`.

use ndarray::{linalg::general_mat_mul, Array2, Axis, Slice};
use rand::{Rng, SeedableRng};
use reco_core::data::{IdMap, InteractionMatrix, ItemMeta};
use reco_core::model::{AnyModel, AnyParams, MatrixFactorization};
use reco_core::serve::Filter;
use reco_core::store::TrainedModel;

/// The serving benchmarks' catalogue: `n` seeded synthetic item vectors (seed 7) served as an ALS-style
/// factor model for `users` users (ids `u0…`, items `i0…`); item `i` is in category `c{i mod categories}`;
/// each user has 20 items of their own exact top 40 as history, so seen-item exclusion matters.
pub fn catalogue_model(n: usize, users: usize, categories: usize) -> TrainedModel {
    let s = synthetic(n, users, 64, 1000, 7);
    let top = exact_top_k(&s.items, &s.queries, 40, |_, _| true);
    let mut tri = sprs::TriMat::new((users, n));
    for (u, items) in top.iter().enumerate() {
        items.iter().step_by(2).for_each(|&i| tri.add_triplet(u, i as usize, 1.0f32));
    }
    let history = InteractionMatrix::from_csr(tri.to_csr());
    let user_ids: IdMap = (0..users).map(|u| format!("u{u}")).collect();
    let items: IdMap = (0..n).map(|i| format!("i{i}")).collect();
    let meta =
        (0..n).map(|i| ItemMeta { category: Some(format!("c{}", i % categories)), ..ItemMeta::default() }).collect();
    let mf = MatrixFactorization::from_parts("als", s.queries, s.items, None);
    let params = AnyParams::new("als").expect("als");
    TrainedModel::from_parts(AnyModel::Mf(mf), params, user_ids, items, meta, history).expect("consistent parts")
}

/// User `u`'s filter in the serving benchmarks: one category (`c{u mod categories}`), seen items excluded.
pub fn category_filter(u: usize, categories: usize) -> Filter {
    Filter { categories: Some([format!("c{}", u % categories)].into()), ..Filter::default() }
}

/// One standard normal draw (Box–Muller; two uniforms per draw keeps the stream simple and seeded).
pub fn normal(rng: &mut impl Rng) -> f32 {
    let u1: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
    let u2: f64 = rng.random();
    ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
}

/// Seeded vectors shaped like trained embeddings: `clusters` Gaussian clusters in a random 16-d subspace
/// of `dim` dimensions plus small isotropic noise, with log-normal norms (popular items have larger
/// factors in MF models). `items` rows are items; `queries` rows are users drawn from the same clusters
/// (a little wider). Uniform random vectors would be a worst case no real embedding looks like.
#[derive(Debug)]
pub struct Synthetic {
    /// `n × dim` item vectors.
    pub items: Array2<f32>,
    /// `n_queries × dim` user vectors.
    pub queries: Array2<f32>,
    /// The cluster of each item.
    pub item_cluster: Vec<u32>,
}

/// See [`Synthetic`].
pub fn synthetic(n: usize, n_queries: usize, dim: usize, clusters: usize, seed: u64) -> Synthetic {
    const SUB: usize = 16;
    let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
    let basis = Array2::from_shape_fn((SUB, dim), |_| normal(&mut rng) / (SUB as f32).sqrt());
    let centres = Array2::from_shape_fn((clusters, SUB), |_| normal(&mut rng));
    let draw = |spread: f32, norm_sd: f32, rng: &mut rand::rngs::SmallRng| -> (Vec<f32>, u32) {
        let c = rng.random_range(0..clusters);
        let z: Vec<f32> = (0..SUB).map(|j| centres[[c, j]] + spread * normal(rng)).collect();
        let scale = (norm_sd * normal(rng)).exp();
        let v = (0..dim)
            .map(|d| scale * ((0..SUB).map(|j| z[j] * basis[[j, d]]).sum::<f32>() + 0.05 * normal(rng)))
            .collect();
        (v, c as u32)
    };
    let mut items = Array2::zeros((n, dim));
    let mut item_cluster = Vec::with_capacity(n);
    for mut row in items.rows_mut() {
        let (v, c) = draw(0.35, 0.25, &mut rng);
        row.iter_mut().zip(v).for_each(|(o, v)| *o = v);
        item_cluster.push(c);
    }
    let mut queries = Array2::zeros((n_queries, dim));
    for mut row in queries.rows_mut() {
        let (v, _) = draw(0.5, 0.0, &mut rng);
        row.iter_mut().zip(v).for_each(|(o, v)| *o = v);
    }
    Synthetic { items, queries, item_cluster }
}

/// Exact top-`k` items by inner product for every query (GEMM over item blocks), best first; ties to
/// the lower index. `allow(q, i)` can rule items out per query.
pub fn exact_top_k(
    items: &Array2<f32>,
    queries: &Array2<f32>,
    k: usize,
    allow: impl Fn(usize, usize) -> bool,
) -> Vec<Vec<u32>> {
    const BLOCK: usize = 32_768;
    let nq = queries.nrows();
    let mut best: Vec<Vec<(f32, u32)>> = vec![Vec::with_capacity(k + 1); nq];
    let mut scores = Array2::<f32>::zeros((nq, BLOCK));
    for start in (0..items.nrows()).step_by(BLOCK) {
        let end = (start + BLOCK).min(items.nrows());
        let mut out = scores.slice_axis_mut(Axis(1), Slice::from(0..end - start));
        general_mat_mul(1.0, queries, &items.slice_axis(Axis(0), Slice::from(start..end)).t(), 0.0, &mut out);
        for (q, row) in out.rows().into_iter().enumerate() {
            let b = &mut best[q];
            for (j, &v) in row.iter().enumerate() {
                let i = start + j;
                if (b.len() < k || v > b[k - 1].0) && allow(q, i) {
                    let pos = b.partition_point(|&(s, _)| s >= v);
                    b.insert(pos, (v, i as u32));
                    b.truncate(k);
                }
            }
        }
    }
    best.into_iter().map(|b| b.into_iter().map(|(_, i)| i).collect()).collect()
}

/// Share of `want`'s items found in `got`, over all queries.
pub fn recall(got: &[Vec<u32>], want: &[Vec<u32>]) -> f64 {
    let hits: usize = got.iter().zip(want).map(|(g, w)| g.iter().filter(|i| w.contains(i)).count()).sum();
    let total: usize = want.iter().map(Vec::len).sum();
    hits as f64 / total.max(1) as f64
}
