//! Ranking metrics. Ties are broken by item index (lower first), the same way in `top_k` and `rank_of`,
//! so a top-k list and a rank always agree.

use serde::Serialize;

/// `a` ranks before `b`: higher score, then lower index.
#[inline]
fn before(a: (u32, f32), b: (u32, f32)) -> bool {
    a.1 > b.1 || (a.1 == b.1 && a.0 < b.0)
}

/// The `k` best `(item, score)` of `scores`, best first; `-inf` scores (excluded items) are never returned.
pub fn top_k(scores: &[f32], k: usize) -> Vec<(u32, f32)> {
    let mut cand: Vec<(u32, f32)> = scores
        .iter()
        .enumerate()
        .filter(|(_, s)| **s != f32::NEG_INFINITY && !s.is_nan())
        .map(|(i, &s)| (i as u32, s))
        .collect();
    let cmp = |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
    if cand.len() > k && k > 0 {
        cand.select_nth_unstable_by(k - 1, cmp);
        cand.truncate(k);
    }
    cand.truncate(k);
    cand.sort_unstable_by(cmp);
    cand
}

/// 0-based rank of `target` among the candidates (`-inf` scores are not candidates). NaN ranks last: a
/// NaN target ranks behind every candidate, and a NaN elsewhere never ranks before the target.
pub fn rank_of(scores: &[f32], target: u32) -> usize {
    let t = (target, scores[target as usize]);
    if t.1.is_nan() {
        return scores.iter().filter(|&&s| s != f32::NEG_INFINITY).count();
    }
    scores.iter().enumerate().filter(|&(i, &s)| s != f32::NEG_INFINITY && before((i as u32, s), t)).count()
}

/// Metrics at a cut-off `k`, averaged over evaluated users (each field is a mean in [0, 1]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Metrics {
    /// Hit rate: share of users with a relevant item in the top k.
    pub hr: f64,
    /// Normalised discounted cumulative gain.
    pub ndcg: f64,
    /// Relevant items in the top k / k.
    pub precision: f64,
    /// Relevant items in the top k / relevant items.
    pub recall: f64,
    /// Harmonic mean of precision and recall, per user, averaged.
    pub f1: f64,
    /// Mean reciprocal rank of the first relevant item over the full ranking (no cut-off).
    pub mrr: f64,
}

impl Metrics {
    /// Metrics of one user, from the 0-based ranks of the relevant items in the full ranking.
    pub fn from_ranks(ranks: &[usize], k: usize) -> Metrics {
        if ranks.is_empty() || k == 0 {
            return Metrics::default();
        }
        let hits: Vec<usize> = ranks.iter().copied().filter(|&r| r < k).collect();
        let n_hit = hits.len() as f64;
        let dcg: f64 = hits.iter().map(|&r| 1.0 / ((r as f64) + 2.0).log2()).sum();
        let idcg: f64 = (0..ranks.len().min(k)).map(|r| 1.0 / ((r as f64) + 2.0).log2()).sum();
        let precision = n_hit / k as f64;
        let recall = n_hit / ranks.len() as f64;
        let f1 = if n_hit > 0.0 { 2.0 * precision * recall / (precision + recall) } else { 0.0 };
        let best = *ranks.iter().min().expect("non-empty");
        Metrics {
            hr: if n_hit > 0.0 { 1.0 } else { 0.0 },
            ndcg: dcg / idcg,
            precision,
            recall,
            f1,
            mrr: 1.0 / (best as f64 + 1.0),
        }
    }

    /// Field-wise sum.
    pub fn add(&mut self, o: &Metrics) {
        self.hr += o.hr;
        self.ndcg += o.ndcg;
        self.precision += o.precision;
        self.recall += o.recall;
        self.f1 += o.f1;
        self.mrr += o.mrr;
    }

    /// Field-wise division.
    pub fn scale(&mut self, d: f64) {
        for v in [&mut self.hr, &mut self.ndcg, &mut self.precision, &mut self.recall, &mut self.f1, &mut self.mrr] {
            *v /= d;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_relevant_item_by_hand() {
        // rank 0: everything perfect
        let m = Metrics::from_ranks(&[0], 10);
        assert_eq!((m.hr, m.ndcg, m.precision, m.recall, m.mrr), (1.0, 1.0, 0.1, 1.0, 1.0));
        assert!((m.f1 - 2.0 * 0.1 / 1.1).abs() < 1e-12);
        // rank 2 (third place): ndcg = 1/log2(4) = 0.5, mrr = 1/3
        let m = Metrics::from_ranks(&[2], 10);
        assert_eq!((m.hr, m.ndcg), (1.0, 0.5));
        assert!((m.mrr - 1.0 / 3.0).abs() < 1e-12);
        // rank 10 with k=10: a miss, but mrr counts the full ranking
        let m = Metrics::from_ranks(&[10], 10);
        assert_eq!((m.hr, m.ndcg, m.precision, m.recall, m.f1), (0.0, 0.0, 0.0, 0.0, 0.0));
        assert!((m.mrr - 1.0 / 11.0).abs() < 1e-12);
    }

    #[test]
    fn several_relevant_items_by_hand() {
        // relevant at ranks 0 and 3, k = 2: one hit
        let m = Metrics::from_ranks(&[3, 0], 2);
        assert_eq!((m.hr, m.precision, m.recall), (1.0, 0.5, 0.5));
        let idcg = 1.0 + 1.0 / 3f64.log2();
        assert!((m.ndcg - 1.0 / idcg).abs() < 1e-12);
        assert!((m.f1 - 0.5).abs() < 1e-12);
    }

    #[test]
    fn top_k_and_rank_agree_with_ties() {
        let s = [0.5, 0.9, 0.5, f32::NEG_INFINITY, 0.7, 0.5];
        assert_eq!(top_k(&s, 3), vec![(1, 0.9), (4, 0.7), (0, 0.5)]);
        assert_eq!(top_k(&s, 10).len(), 5);
        for (pos, (item, _)) in top_k(&s, 10).iter().enumerate() {
            assert_eq!(rank_of(&s, *item), pos);
        }
        assert!(top_k(&s, 0).is_empty());
        // NaN never counts as a good score
        let s = [f32::NAN, 0.1, f32::NAN];
        assert_eq!(rank_of(&s, 0), 3);
        assert_eq!(rank_of(&s, 1), 0);
        assert_eq!(top_k(&s, 3), vec![(1, 0.1)]);
    }
}
