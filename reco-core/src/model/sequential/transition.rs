//! First-order item transitions, smoothed towards item-kNN.
//!
//! Over every training sequence, each pair `(s[t], s[t + d])` with `1 ≤ d ≤ window` counts
//! `gap_decay^(d − 1)` towards `C[s[t], s[t + d]]` (and `backward ·` that towards the reverse pair). Each
//! item's next-item distribution is then `P(j | i) = (C[i, j] + λ · knn(i, j)) / (Σ_j C[i, j] + λ)`, where
//! `knn(i, ·)` is `i`'s item-kNN similarity row ([`ItemKnn`](crate::model::ItemKnn), fitted on the
//! training matrix) normalised to sum 1 and `λ` is `smoothing`: an item seen followed by many others keeps
//! its counts, one with few transitions leans on its co-occurrence neighbours. A history scores
//! `Σ_p recency^p · P(j | h_p)` over its last `history` distinct items `h_0` (newest), `h_1`, …

use super::{check_history, check_input, recent, score_rows, top_next, Sequences};
use crate::data::InteractionMatrix;
use crate::error::{RecoError, Result};
use crate::model::{check_f32, check_k, check_range, ItemKnnParams, Neighbours, Recommender, Similarity};
use ndarray::ArrayViewMut2;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Transition hyper-parameters. Defaults (chosen on the Amazon Beauty validation split, see
/// `benches/README.md`, "Sequential"): `window 10`, `gap_decay 0.85`, `backward 0`, `smoothing 20`,
/// `history 10`, `recency 0.6`, item-kNN `neighbours 100` with BM25 similarity (item-kNN's defaults).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TransitionParams {
    window: usize,
    gap_decay: f32,
    backward: f32,
    smoothing: f32,
    history: usize,
    recency: f32,
    knn: ItemKnnParams,
}

impl Default for TransitionParams {
    fn default() -> Self {
        TransitionParams {
            window: 10,
            gap_decay: 0.85,
            backward: 0.0,
            smoothing: 20.0,
            history: 10,
            recency: 0.6,
            knn: ItemKnnParams::default(),
        }
    }
}

/// A fitted transition model: each item's next-item distribution and each training user's sequence.
#[derive(Debug, Clone)]
pub struct Transition {
    next: Neighbours,
    sequences: Sequences,
    tie: Vec<f32>,
    params: TransitionParams,
}

impl TransitionParams {
    setter! {
        /// Pairs up to this many steps apart count as transitions (1..=50; 1 = consecutive items only).
        window: usize,
        /// Weight of a pair `d` steps apart relative to one `d − 1` apart (0..=1).
        gap_decay: f32,
        /// Weight of the reverse pair (`s[t + d]` → `s[t]`) relative to the forward one (0..=10; 0 = order only).
        backward: f32,
        /// Pseudo-count `λ` of the item-kNN prior (0..=1e6; 0 = transitions only, no item-kNN fit).
        smoothing: f32,
        /// How many of the user's last distinct items score (1..=1000).
        history: usize,
        /// Weight of each older history item relative to the next newer one (0..=1; 0 = last item only).
        recency: f32,
    }
    /// Neighbours kept per item by the item-kNN prior (see [`ItemKnnParams::neighbours`]).
    pub fn neighbours(mut self, v: usize) -> Self {
        self.knn = self.knn.neighbours(v);
        self
    }
    /// Similarity of the item-kNN prior.
    pub fn similarity(mut self, v: Similarity) -> Self {
        self.knn = self.knn.similarity(v);
        self
    }
    /// Shrinkage of the item-kNN prior's cosine (see [`ItemKnnParams::shrink`]).
    pub fn shrink(mut self, v: f32) -> Self {
        self.knn = self.knn.shrink(v);
        self
    }

    /// Checks every hyper-parameter.
    pub fn validate(&self) -> Result<()> {
        check_range("window", self.window, 1, 50)?;
        check_f32("gap_decay", self.gap_decay, 0.0, 1.0)?;
        check_f32("backward", self.backward, 0.0, 10.0)?;
        check_f32("smoothing", self.smoothing, 0.0, 1e6)?;
        check_range("history", self.history, 1, 1000)?;
        check_f32("recency", self.recency, 0.0, 1.0)?;
        self.knn.validate()
    }

    /// Fits on `train` and the same events as one sequence per user of `train` (oldest first).
    pub fn fit(&self, train: &InteractionMatrix, sequences: &[Vec<u32>]) -> Result<Transition> {
        self.validate()?;
        let sequences = check_input("transition", train, sequences)?;
        let ni = train.n_items();
        let mut tri = sprs::TriMat::new((ni, ni));
        for u in 0..sequences.len() {
            let s = sequences.get(u);
            for t in 0..s.len() {
                let mut w = 1.0;
                for &j in s.iter().skip(t + 1).take(self.window) {
                    tri.add_triplet(s[t] as usize, j as usize, w);
                    if self.backward > 0.0 {
                        tri.add_triplet(j as usize, s[t] as usize, self.backward * w);
                    }
                    w *= self.gap_decay;
                }
            }
        }
        let counts: sprs::CsMat<f32> = tri.to_csr();
        let knn = match self.smoothing > 0.0 {
            true => Some(self.knn.fit(train)?),
            false => None,
        };
        let rows: Vec<Vec<(u32, f32)>> = (0..ni)
            .into_par_iter()
            .map(|i| {
                let c = counts.outer_view(i).expect("row");
                let mut row: Vec<(u32, f32)> =
                    c.iter().filter(|(_, &v)| v > 0.0).map(|(j, &v)| (j as u32, v)).collect();
                let mut mass: f32 = row.iter().map(|r| r.1).sum();
                if let Some(knn) = &knn {
                    let total: f32 = knn.similarity().row(i).map(|(_, s)| s).sum();
                    if total > 0.0 {
                        row.extend(knn.similarity().row(i).map(|(j, s)| (j, self.smoothing * s / total)));
                        mass += self.smoothing;
                    }
                }
                row.sort_unstable_by_key(|r| r.0);
                row.dedup_by(|b, a| {
                    let same = a.0 == b.0;
                    if same {
                        a.1 += b.1;
                    }
                    same
                });
                row.iter_mut().for_each(|r| r.1 /= mass);
                row
            })
            .collect();
        let mut indptr = Vec::with_capacity(ni + 1);
        indptr.push(0);
        for r in &rows {
            indptr.push(indptr[indptr.len() - 1] + r.len());
        }
        let (indices, data) = rows.into_iter().flatten().unzip();
        let next = Neighbours::from_parts(indptr, indices, data)
            .map_err(|e| RecoError::Diverged(format!("transition probabilities: {e}")))?;
        Ok(Transition::assemble(next, sequences, self.clone()))
    }
}

impl Transition {
    /// The builder.
    pub fn params() -> TransitionParams {
        TransitionParams::default()
    }

    fn assemble(next: Neighbours, sequences: Sequences, params: TransitionParams) -> Self {
        let tie = sequences.tie_break(next.n_items());
        Transition { next, sequences, tie, params }
    }

    /// A model from its parts (for model files), checking that they fit together.
    pub fn from_parts(params: TransitionParams, next: Neighbours, sequences: Sequences) -> Result<Self> {
        params.validate()?;
        let ni = next.n_items();
        if sequences.parts().1.iter().any(|&i| i as usize >= ni) {
            return Err(RecoError::param("sequences", format!("an item is outside the model's 0..{ni}")));
        }
        Ok(Transition::assemble(next, sequences, params))
    }

    /// Each item's next-item distribution `P(j | i)` (rows sum to 1 where an item has any evidence).
    pub fn next_items(&self) -> &Neighbours {
        &self.next
    }

    /// The stored training sequences.
    pub fn sequences(&self) -> &Sequences {
        &self.sequences
    }

    /// The hyper-parameters it was fitted with.
    pub fn hyper_params(&self) -> &TransitionParams {
        &self.params
    }

    /// How many of a history's most recent distinct items a score reads (the `history` parameter).
    pub fn history_len(&self) -> usize {
        self.params.history
    }

    /// Scores every item after `history` (item indices, oldest first) into `out`. Items the model does not
    /// know are ignored; an empty history, or one with no known item, is an error.
    pub fn score_history(&self, history: &[u32], out: &mut [f32]) -> Result<()> {
        check_history(history, self.next.n_items())?;
        self.score_into(history, out);
        Ok(())
    }

    /// The `k` best next items after `history` (oldest first), best first, leaving out `exclude` and the
    /// history's own items — what a guest session or a live page view asks for. Unknown items in the
    /// history are ignored; an empty history (or one with no known item) and `k = 0` are errors.
    pub fn recommend_next(&self, history: &[u32], k: usize, exclude: &[u32]) -> Result<Vec<(u32, f32)>> {
        check_k(k)?;
        let mut scores = vec![0.0; self.next.n_items()];
        self.score_history(history, &mut scores)?;
        Ok(top_next(scores, history, exclude, k))
    }

    fn score_into(&self, history: &[u32], out: &mut [f32]) {
        out.copy_from_slice(&self.tie);
        let mut w = 1.0;
        for i in recent(history, self.params.history, self.next.n_items()) {
            for (j, p) in self.next.row(i as usize) {
                out[j as usize] += w * p;
            }
            w *= self.params.recency;
        }
    }
}

impl Recommender for Transition {
    fn name(&self) -> &'static str {
        "transition"
    }
    fn n_users(&self) -> usize {
        self.sequences.len()
    }
    fn n_items(&self) -> usize {
        self.next.n_items()
    }
    fn score_user(&self, user: u32, out: &mut [f32]) -> crate::error::Result<()> {
        self.score_into(self.sequences.get(user as usize), out);
        Ok(())
    }
    fn score_users(&self, users: &[u32], out: &mut ArrayViewMut2<'_, f32>) -> crate::error::Result<()> {
        score_rows(users, out, || (), |u, row, _| self.score_into(self.sequences.get(u as usize), row));
        Ok(())
    }
}
