//! Leave-one-out protocols: rank each user's held-out item against all items (`loo-full`, as S3-Rec's
//! full-ranking evaluation) or against sampled negatives (`loo-sampled`, as the NCF paper).

use super::metrics::{rank_of, top_k, Metrics};
use crate::data::InteractionMatrix;
use crate::error::{RecoError, Result};
use crate::model::Recommender;
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use serde::Serialize;

/// How held-out items are ranked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// Against every item, the user's training items excluded.
    LooFull,
    /// Against `negatives` items drawn uniformly (seeded) from those the user never touched in any split.
    LooSampled {
        /// Number of negatives (99 in the NCF paper).
        negatives: usize,
    },
}

impl Protocol {
    /// The CLI name.
    pub fn name(&self) -> &'static str {
        match self {
            Protocol::LooFull => "loo-full",
            Protocol::LooSampled { .. } => "loo-sampled",
        }
    }
}

impl std::str::FromStr for Protocol {
    type Err = RecoError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "loo-full" => Ok(Protocol::LooFull),
            "loo-sampled" => Ok(Protocol::LooSampled { negatives: 99 }),
            o => Err(RecoError::param("protocol", format!("`{o}` is not one of loo-full, loo-sampled"))),
        }
    }
}

/// What [`evaluate`] measured.
#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    /// The protocol's name.
    pub protocol: &'static str,
    /// Cut-off.
    pub k: usize,
    /// Users with a held-out item.
    pub users_evaluated: usize,
    /// Means over those users.
    pub metrics: Metrics,
    /// Share of the catalogue that appears in at least one user's top k.
    pub coverage: f64,
}

const CHUNK: usize = 256;

/// Evaluates `model` on `held_out` `(user, item)` pairs.
///
/// `train` is what the model was fitted on (its items are excluded from a user's ranking); `known` holds
/// every interaction of every split, so that sampled negatives are items the user never touched.
pub fn evaluate(
    model: &dyn Recommender,
    train: &InteractionMatrix,
    known: &InteractionMatrix,
    held_out: &[(u32, u32)],
    protocol: Protocol,
    k: usize,
    seed: u64,
) -> Result<EvalReport> {
    crate::model::check_k(k)?;
    if held_out.is_empty() {
        return Err(RecoError::EmptyData("no held-out item to evaluate".into()));
    }
    let ni = model.n_items();
    if train.n_items() != ni || known.n_items() != ni || train.n_users() > model.n_users() {
        return Err(RecoError::param(
            "train",
            format!(
                "shape {}×{} does not match the model's {}×{}",
                train.n_users(),
                train.n_items(),
                model.n_users(),
                ni
            ),
        ));
    }
    for &(u, i) in held_out {
        if u as usize >= model.n_users() || u as usize >= known.n_users() {
            return Err(RecoError::UnknownUser(format!("index {u}")));
        }
        if i as usize >= ni {
            return Err(RecoError::UnknownItem(format!("index {i}")));
        }
    }
    let results: Vec<(Metrics, Vec<u32>)> = held_out
        .par_chunks(CHUNK)
        .map(|chunk| -> Result<(Metrics, Vec<u32>)> {
            let users: Vec<u32> = chunk.iter().map(|&(u, _)| u).collect();
            let mut scores = Array2::<f32>::zeros((chunk.len(), ni));
            model.score_users(&users, &mut scores.view_mut())?;
            // A NaN would silently fall out of the ranking and flatter the metrics.
            if scores.iter().any(|s| s.is_nan() || *s == f32::INFINITY) {
                return Err(RecoError::NonFinite(model.name().to_string()));
            }
            let mut sum = Metrics::default();
            let mut tops = Vec::with_capacity(chunk.len() * k);
            for (r, &(u, target)) in chunk.iter().enumerate() {
                let row = scores.row_mut(r).into_slice().expect("contiguous");
                let (rank, top) = match protocol {
                    Protocol::LooFull => {
                        for &i in train.user_row(u as usize).0 {
                            if i != target as usize {
                                row[i] = f32::NEG_INFINITY;
                            }
                        }
                        (rank_of(row, target), top_k(row, k))
                    }
                    Protocol::LooSampled { negatives } => {
                        let cands = sample_negatives(known, u, target, negatives, seed);
                        let sub: Vec<f32> =
                            std::iter::once(target).chain(cands.iter().copied()).map(|i| row[i as usize]).collect();
                        // candidates keep their item index for tie-breaking: rank within the sub-list
                        let ids: Vec<u32> = std::iter::once(target).chain(cands).collect();
                        let t = (sub[0], target);
                        let rank = if t.0.is_nan() {
                            ids.len()
                        } else {
                            ids.iter().zip(&sub).filter(|&(&i, &s)| s > t.0 || (s == t.0 && i < t.1)).count()
                        };
                        let mut order: Vec<(u32, f32)> = ids.into_iter().zip(sub).collect();
                        order.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                        order.truncate(k);
                        (rank, order)
                    }
                };
                sum.add(&Metrics::from_ranks(&[rank], k));
                tops.extend(top.into_iter().map(|(i, _)| i));
            }
            Ok((sum, tops))
        })
        .collect::<Result<_>>()?;
    let mut metrics = Metrics::default();
    let mut covered = vec![false; ni];
    for (m, tops) in &results {
        metrics.add(m);
        for &i in tops {
            covered[i as usize] = true;
        }
    }
    metrics.scale(held_out.len() as f64);
    let coverage = covered.iter().filter(|&&c| c).count() as f64 / ni as f64;
    Ok(EvalReport { protocol: protocol.name(), k, users_evaluated: held_out.len(), metrics, coverage })
}

/// Up to `n` distinct items the user never touched, seeded by (seed, user): the same for every model.
fn sample_negatives(known: &InteractionMatrix, user: u32, target: u32, n: usize, seed: u64) -> Vec<u32> {
    let ni = known.n_items();
    let seen = known.user_row(user as usize).0;
    let available = ni - seen.len() - usize::from(seen.binary_search(&(target as usize)).is_err());
    let n = n.min(available);
    let mut rng = rand::rngs::SmallRng::seed_from_u64(seed ^ (user as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut out = Vec::with_capacity(n);
    let mut taken = std::collections::HashSet::with_capacity(n);
    while out.len() < n {
        let c = rng.random_range(0..ni);
        if c != target as usize && seen.binary_search(&c).is_err() && taken.insert(c) {
            out.push(c as u32);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Popularity;

    fn matrix(n_users: usize, n_items: usize, pairs: &[(usize, usize)]) -> InteractionMatrix {
        let mut tri = sprs::TriMat::new((n_users, n_items));
        for &(u, i) in pairs {
            tri.add_triplet(u, i, 1.0f32);
        }
        InteractionMatrix::from_csr(tri.to_csr())
    }

    #[test]
    fn popularity_full_ranking_by_hand() {
        // item popularity: 0 → 3 users, 1 → 2, 2 → 1, 3 → 0
        let train = matrix(3, 4, &[(0, 0), (1, 0), (2, 0), (1, 1), (2, 1), (2, 2)]);
        let known = matrix(3, 4, &[(0, 0), (1, 0), (2, 0), (1, 1), (2, 1), (2, 2), (0, 1), (1, 2), (2, 3)]);
        let model = Popularity::params().fit(&train).unwrap();
        // user 0 holds out item 1: item 0 (seen) is excluded, so item 1 ranks first.
        // user 1 holds out item 2: candidates 2 (1), 3 (0): rank 0.
        // user 2 holds out item 3: everything else seen: rank 0.
        let rep = evaluate(&model, &train, &known, &[(0, 1), (1, 2), (2, 3)], Protocol::LooFull, 1, 0).unwrap();
        assert_eq!(rep.users_evaluated, 3);
        assert_eq!(rep.metrics.hr, 1.0);
        assert_eq!(rep.coverage, 0.75);
        // k = 1 with user 0 holding out item 3 instead: candidates 1 (2), 2 (1), 3 (0): rank 2
        let rep = evaluate(&model, &train, &known, &[(0, 3)], Protocol::LooFull, 1, 0).unwrap();
        assert_eq!(rep.metrics.hr, 0.0);
        assert!((rep.metrics.mrr - 1.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn sampled_negatives_are_unseen_distinct_and_seeded() {
        let known = matrix(1, 200, &[(0, 0), (0, 5), (0, 7)]);
        let a = sample_negatives(&known, 0, 7, 99, 42);
        let b = sample_negatives(&known, 0, 7, 99, 42);
        assert_eq!(a, b);
        assert_eq!(a.len(), 99);
        let set: std::collections::HashSet<_> = a.iter().collect();
        assert_eq!(set.len(), 99);
        assert!(a.iter().all(|&i| i != 0 && i != 5 && i != 7));
        // tiny catalogue: as many as there are
        let small = matrix(1, 4, &[(0, 1)]);
        assert_eq!(sample_negatives(&small, 0, 1, 99, 1).len(), 3);
    }

    #[test]
    fn bad_arguments_are_typed_errors() {
        let m = matrix(2, 3, &[(0, 0), (1, 1)]);
        let model = Popularity::params().fit(&m).unwrap();
        assert!(matches!(
            evaluate(&model, &m, &m, &[(0, 1)], Protocol::LooFull, 0, 0),
            Err(RecoError::InvalidParameter { .. })
        ));
        assert!(matches!(evaluate(&model, &m, &m, &[], Protocol::LooFull, 10, 0), Err(RecoError::EmptyData(_))));
        assert!(matches!(
            evaluate(&model, &m, &m, &[(5, 1)], Protocol::LooFull, 10, 0),
            Err(RecoError::UnknownUser(_))
        ));
        assert!(matches!(
            evaluate(&model, &m, &m, &[(0, 9)], Protocol::LooFull, 10, 0),
            Err(RecoError::UnknownItem(_))
        ));
    }
}
