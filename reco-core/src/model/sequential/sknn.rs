//! Sequence-kNN (V-SkNN, Ludewig & Jannach 2018; STAN, Garg et al. 2019), over users' sequences.
//!
//! The query is a history's last `history` distinct items, the newest weighing 1 and each older one
//! `recency` times the next. A training sequence `s` sharing items with it has similarity
//! `Σ_{i ∈ shared} w(i) · idf(i) / √|s|` (`idf(i) = ln(1 + n / df(i))` when `idf` is on, else 1). The
//! `neighbours` most similar sequences vote: neighbour `s` gives item `s[q]` its similarity times
//! `decay^(q − a − 1)` when `q` follows the *anchor* `a` — the position in `s` of the newest shared item —
//! and `before · decay^(a − q − 1)` when it precedes it, so what came next after the shared item counts
//! most. A training user's own sequence is never its neighbour.

use super::{check_history, check_input, recent, score_rows, top_next, Sequences};
use crate::data::InteractionMatrix;
use crate::error::{RecoError, Result};
use crate::model::{check_f32, check_k, check_range, Recommender};
use ndarray::ArrayViewMut2;
use serde::{Deserialize, Serialize};

/// Sequence-kNN hyper-parameters. Defaults (chosen on the Amazon Beauty validation split, see
/// `benches/README.md`, "Sequential"): `neighbours 200`, `history 10`, `recency 0.7`, `decay 0.8`,
/// `before 0.3`, `idf true`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SknnParams {
    neighbours: usize,
    history: usize,
    recency: f32,
    decay: f32,
    before: f32,
    idf: bool,
}

impl Default for SknnParams {
    fn default() -> Self {
        SknnParams { neighbours: 200, history: 10, recency: 0.7, decay: 0.8, before: 0.3, idf: true }
    }
}

/// A fitted sequence-kNN model: the training sequences and an item → (sequence, position) index.
#[derive(Debug, Clone)]
pub struct Sknn {
    sequences: Sequences,
    /// `postings[offsets[i]..offsets[i + 1]]`: the `(sequence, position)` of every occurrence of item `i`.
    offsets: Vec<usize>,
    postings: Vec<(u32, u32)>,
    /// Per item: the query weight factor (idf or 1).
    idf: Vec<f32>,
    /// Per sequence: `1 / √len`.
    norm: Vec<f32>,
    tie: Vec<f32>,
    params: SknnParams,
}

/// Per-thread buffers of one query.
#[derive(Debug)]
struct Scratch {
    acc: Vec<f32>,
    anchor: Vec<u32>,
    touched: Vec<u32>,
}

impl SknnParams {
    setter! {
        /// Neighbour sequences that vote (1..=100000).
        neighbours: usize,
        /// How many of the history's last distinct items query (1..=1000).
        history: usize,
        /// Query weight of each older history item relative to the next newer one (0..=1).
        recency: f32,
        /// Vote decay per step away from the anchor in a neighbour sequence (0..=1; 0 = the adjacent items only).
        decay: f32,
        /// Weight of a neighbour's items before the anchor relative to those after it (0..=10).
        before: f32,
        /// Weigh shared items by their inverse sequence frequency (rare shared items say more).
        idf: bool,
    }

    /// Checks every hyper-parameter.
    pub fn validate(&self) -> Result<()> {
        check_range("neighbours", self.neighbours, 1, 100_000)?;
        check_range("history", self.history, 1, 1000)?;
        check_f32("recency", self.recency, 0.0, 1.0)?;
        check_f32("decay", self.decay, 0.0, 1.0)?;
        check_f32("before", self.before, 0.0, 10.0)
    }

    /// Fits on `train` and the same events as one sequence per user of `train` (oldest first).
    pub fn fit(&self, train: &InteractionMatrix, sequences: &[Vec<u32>]) -> Result<Sknn> {
        self.validate()?;
        let sequences = check_input("sknn", train, sequences)?;
        Sknn::from_parts(self.clone(), sequences, train.n_items())
    }
}

impl Sknn {
    /// The builder.
    pub fn params() -> SknnParams {
        SknnParams::default()
    }

    /// A model from its hyper-parameters and training sequences (fitting is indexing them; model files
    /// store only the sequences).
    pub fn from_parts(params: SknnParams, sequences: Sequences, n_items: usize) -> Result<Self> {
        params.validate()?;
        let (indptr, items) = sequences.parts();
        if items.iter().any(|&i| i as usize >= n_items) {
            return Err(RecoError::param("sequences", format!("an item is outside the model's 0..{n_items}")));
        }
        if sequences.len() > u32::MAX as usize || indptr.windows(2).any(|w| w[1] - w[0] > u32::MAX as usize) {
            return Err(RecoError::param("sequences", "more than 2^32 sequences or items in one sequence"));
        }
        let mut offsets = vec![0usize; n_items + 1];
        items.iter().for_each(|&i| offsets[i as usize + 1] += 1);
        for i in 0..n_items {
            offsets[i + 1] += offsets[i];
        }
        let mut fill = offsets.clone();
        let mut postings = vec![(0u32, 0u32); items.len()];
        for s in 0..sequences.len() {
            for (q, &i) in sequences.get(s).iter().enumerate() {
                postings[fill[i as usize]] = (s as u32, q as u32);
                fill[i as usize] += 1;
            }
        }
        let n = sequences.len() as f32;
        let idf = (0..n_items)
            .map(|i| match params.idf {
                true => (n / (offsets[i + 1] - offsets[i]).max(1) as f32).ln_1p(),
                false => 1.0,
            })
            .collect();
        let norm = (0..sequences.len()).map(|s| 1.0 / (sequences.get(s).len().max(1) as f32).sqrt()).collect();
        let tie = sequences.tie_break(n_items);
        Ok(Sknn { sequences, offsets, postings, idf, norm, tie, params })
    }

    /// The stored training sequences.
    pub fn sequences(&self) -> &Sequences {
        &self.sequences
    }

    /// The hyper-parameters it was fitted with.
    pub fn hyper_params(&self) -> &SknnParams {
        &self.params
    }

    /// Scores every item after `history` (item indices, oldest first) into `out`. Items the model does not
    /// know are ignored; an empty history, or one with no known item, is an error.
    pub fn score_history(&self, history: &[u32], out: &mut [f32]) -> Result<()> {
        check_history(history, self.n_items())?;
        self.score_into(history, None, out, &mut self.scratch());
        Ok(())
    }

    /// The `k` best next items after `history` (oldest first), best first, leaving out `exclude` and the
    /// history's own items — what a guest session or a live page view asks for. Unknown items in the
    /// history are ignored; an empty history (or one with no known item) and `k = 0` are errors.
    pub fn recommend_next(&self, history: &[u32], k: usize, exclude: &[u32]) -> Result<Vec<(u32, f32)>> {
        check_k(k)?;
        let mut scores = vec![0.0; self.n_items()];
        self.score_history(history, &mut scores)?;
        Ok(top_next(scores, history, exclude, k))
    }

    fn scratch(&self) -> Scratch {
        let n = self.sequences.len();
        Scratch { acc: vec![0.0; n], anchor: vec![0; n], touched: Vec::new() }
    }

    /// Scores after `history`, never using sequence `skip` as a neighbour.
    fn score_into(&self, history: &[u32], skip: Option<u32>, out: &mut [f32], sc: &mut Scratch) {
        out.copy_from_slice(&self.tie);
        let mut w = 1.0;
        for i in recent(history, self.params.history, self.n_items()) {
            let wi = w * self.idf[i as usize];
            for &(s, q) in &self.postings[self.offsets[i as usize]..self.offsets[i as usize + 1]] {
                if Some(s) == skip {
                    continue;
                }
                // Newest shared item first: the first touch of a sequence sets its anchor.
                if sc.acc[s as usize] == 0.0 {
                    sc.touched.push(s);
                    sc.anchor[s as usize] = q;
                }
                sc.acc[s as usize] += wi.max(f32::MIN_POSITIVE);
            }
            w *= self.params.recency;
        }
        let mut cands: Vec<(f32, u32)> = sc
            .touched
            .drain(..)
            .map(|s| (std::mem::take(&mut sc.acc[s as usize]) * self.norm[s as usize], s))
            .collect();
        let by_sim = |a: &(f32, u32), b: &(f32, u32)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
        let k = self.params.neighbours;
        if cands.len() > k {
            cands.select_nth_unstable_by(k - 1, by_sim);
            cands.truncate(k);
        }
        let (decay, before) = (self.params.decay, self.params.before);
        for (sim, s) in cands {
            let seq = self.sequences.get(s as usize);
            let a = sc.anchor[s as usize] as usize;
            let mut v = sim;
            for &j in &seq[a + 1..] {
                out[j as usize] += v;
                v *= decay;
            }
            let mut v = sim * before;
            for &j in seq[..a].iter().rev() {
                out[j as usize] += v;
                v *= decay;
            }
        }
    }
}

impl Recommender for Sknn {
    fn name(&self) -> &'static str {
        "sknn"
    }
    fn n_users(&self) -> usize {
        self.sequences.len()
    }
    fn n_items(&self) -> usize {
        self.offsets.len() - 1
    }
    fn score_user(&self, user: u32, out: &mut [f32]) -> crate::error::Result<()> {
        self.score_into(self.sequences.get(user as usize), Some(user), out, &mut self.scratch());
        Ok(())
    }
    fn score_users(&self, users: &[u32], out: &mut ArrayViewMut2<'_, f32>) -> crate::error::Result<()> {
        score_rows(
            users,
            out,
            || self.scratch(),
            |u, row, sc| self.score_into(self.sequences.get(u as usize), Some(u), row, sc),
        );
        Ok(())
    }
}
