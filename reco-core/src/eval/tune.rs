//! Tuning on a validation split.

use super::{evaluate, Protocol};
use crate::data::InteractionMatrix;
use crate::error::Result;
use crate::model::{FitInput, Hybrid, HybridParams, Progress, Recommender};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use std::sync::Arc;

/// Validation users scored per candidate weight (a seeded sample when there are more).
const MAX_USERS: usize = 5_000;

/// The content weight of a hybrid that maximises HR@10 + NDCG@10 (full ranking) on `valid`, over the grid
/// 0, 0.1, …, 1; ties go to the smaller weight. Both parts are fitted once on `input.train`; the
/// collaborative fit reports to `progress` (and stops when it returns `false`).
pub fn tune_hybrid_weight(
    h: &HybridParams,
    input: &FitInput<'_>,
    valid: &[(u32, u32)],
    progress: Progress<'_>,
) -> Result<f32> {
    let cf = Arc::new(h.cf.fit(input, progress)?);
    let content = Arc::new(h.content.fit(input.train, input.items)?);
    let grid: Vec<f32> = (0..=10).map(|step| step as f32 / 10.0).collect();
    tune_weight(|w| Hybrid::new(cf.clone(), content.clone(), w), input.train, valid, &grid)
}

/// The weight of `grid` whose model (`make(w)`) maximises HR@10 + NDCG@10 (full ranking, `train`'s items
/// excluded) on the held-out `valid` pairs (a seeded sample of [`MAX_USERS`] when there are more); ties go
/// to the earlier weight.
pub fn tune_weight<M: Recommender>(
    make: impl Fn(f32) -> M,
    train: &InteractionMatrix,
    valid: &[(u32, u32)],
    grid: &[f32],
) -> Result<f32> {
    let mut pairs = valid.to_vec();
    if pairs.len() > MAX_USERS {
        pairs.shuffle(&mut rand::rngs::SmallRng::seed_from_u64(7));
        pairs.truncate(MAX_USERS);
    }
    let mut best = (f64::MIN, grid.first().copied().unwrap_or(0.0));
    for &w in grid {
        let r = evaluate(&make(w), train, train, &pairs, Protocol::LooFull, 10, 0)?;
        let score = r.metrics.hr + r.metrics.ndcg;
        if score > best.0 {
            best = (score, w);
        }
    }
    Ok(best.1)
}
