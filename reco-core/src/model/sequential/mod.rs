//! Sequential recommenders: the next item from the *order* of a user's items.
//!
//! - [`Transition`]: item → next-item transition probabilities counted over every training sequence,
//!   smoothed towards item-kNN similarities for items with few transitions, summed over the user's last
//!   items with a recency decay.
//! - [`Sknn`]: sequence-kNN (V-SkNN / STAN style): the training sequences sharing the most (recent) items
//!   with the user's recent items vote for their items, items that follow the shared item most.
//!
//! Both are fitted on the training matrix plus each user's items in order (the sequences of
//! [`sequences_of`](crate::data::split::sequences_of) over the same events: [`FitInput::sequences`]),
//! keep each training user's sequence so [`Recommender::score_user`] scores from it, and score any
//! ordered history — a guest's session — through `recommend_next`.
//!
//! ```
//! use reco_core::data::{interaction_matrix, split::sequences_of, Dataset, EventKind};
//! use reco_core::model::Transition;
//! let mut data = Dataset::new("toy");
//! for (u, items) in [("ann", ["tea", "cup", "pot"]), ("bob", ["tea", "cup", "mug"]), ("cy", ["cup", "pot", "tea"])] {
//!     for (t, item) in items.iter().enumerate() {
//!         data.push(u, item, t as i64, EventKind::Purchase, 1.0)?;
//!     }
//! }
//! let train = interaction_matrix(data.interactions(), data.n_users(), data.n_items());
//! let seqs = sequences_of(data.interactions(), data.n_users(), data.n_items());
//! let model = Transition::params().fit(&train, &seqs)?;
//! let tea = data.items().get("tea").unwrap();
//! let next = model.recommend_next(&[tea], 1, &[])?;
//! assert_eq!(data.items().id(next[0].0), "cup");
//! # Ok::<(), reco_core::RecoError>(())
//! ```
//!
//! [`FitInput::sequences`]: super::FitInput::sequences
//! [`Recommender::score_user`]: super::Recommender::score_user

mod sknn;
#[cfg(test)]
mod tests;
mod transition;

pub use sknn::{Sknn, SknnParams};
pub use transition::{Transition, TransitionParams};

use super::check_train;
use crate::data::InteractionMatrix;
use crate::error::{RecoError, Result};
use ndarray::ArrayViewMut2;
use rayon::prelude::*;

/// Each user's items in order, oldest first, in one flat layout (`items[indptr[u]..indptr[u + 1]]`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sequences {
    indptr: Vec<usize>,
    items: Vec<u32>,
}

impl Sequences {
    /// Packs `seqs`, checking that every item is below `n_items`.
    pub fn new(seqs: &[Vec<u32>], n_items: usize) -> Result<Self> {
        if let Some(bad) = seqs.iter().flatten().find(|&&i| i as usize >= n_items) {
            return Err(RecoError::param("sequences", format!("item {bad} is outside 0..{n_items}")));
        }
        let mut indptr = Vec::with_capacity(seqs.len() + 1);
        indptr.push(0);
        for s in seqs {
            indptr.push(indptr[indptr.len() - 1] + s.len());
        }
        Ok(Sequences { indptr, items: seqs.concat() })
    }

    /// User `u`'s sequence (empty for an unknown user).
    pub fn get(&self, u: usize) -> &[u32] {
        match self.indptr.get(u..u + 2) {
            Some(&[a, b]) => &self.items[a..b],
            _ => &[],
        }
    }

    /// Number of sequences (users).
    pub fn len(&self) -> usize {
        self.indptr.len().saturating_sub(1)
    }

    /// Whether there is no sequence.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `(indptr, items)` of the flat layout (for model files).
    pub fn parts(&self) -> (&[usize], &[u32]) {
        (&self.indptr, &self.items)
    }

    /// Rebuilds sequences from [`parts`](Self::parts), checking offsets and item range.
    pub fn from_parts(indptr: Vec<usize>, items: Vec<u32>, n_items: usize) -> std::result::Result<Self, String> {
        if indptr.first() != Some(&0) || indptr.windows(2).any(|w| w[0] > w[1]) || indptr.last() != Some(&items.len()) {
            return Err("inconsistent sequence offsets".into());
        }
        if items.iter().any(|&i| i as usize >= n_items) {
            return Err(format!("a sequence item is outside 0..{n_items}"));
        }
        Ok(Sequences { indptr, items })
    }

    /// How many sequences hold each item, scaled to at most [`TIE`]: added to every score, it ranks items
    /// without any other evidence by popularity and leaves every other ordering unchanged in practice.
    fn tie_break(&self, n_items: usize) -> Vec<f32> {
        let mut counts = vec![0f32; n_items];
        self.items.iter().for_each(|&i| counts[i as usize] += 1.0);
        let max = counts.iter().copied().fold(0.0, f32::max).max(1.0);
        counts.iter_mut().for_each(|c| *c *= TIE / max);
        counts
    }
}

/// The largest popularity tie-break added to a score.
const TIE: f32 = 1e-7;

/// Checks what a sequential model is fitted on: a non-empty matrix and one sequence per user of it.
fn check_input(name: &str, train: &InteractionMatrix, seqs: &[Vec<u32>]) -> Result<Sequences> {
    check_train(train)?;
    if seqs.len() != train.n_users() {
        return Err(RecoError::param(
            "sequences",
            format!("{} sequences for the {} users of the training matrix", seqs.len(), train.n_users()),
        ));
    }
    if seqs.iter().all(|s| s.len() < 2) {
        return Err(RecoError::EmptyData(format!("`{name}` needs at least one sequence of two items or more")));
    }
    Sequences::new(seqs, train.n_items())
}

/// The last `n` distinct known items (`< n_items`) of `history`, newest first.
fn recent(history: &[u32], n: usize, n_items: usize) -> Vec<u32> {
    let mut out = Vec::with_capacity(n.min(history.len()));
    for &i in history.iter().rev() {
        if out.len() == n {
            break;
        }
        if (i as usize) < n_items && !out.contains(&i) {
            out.push(i);
        }
    }
    out
}

/// Checks a guest history: not empty, and at least one item the model knows.
fn check_history(history: &[u32], n_items: usize) -> Result<()> {
    if history.is_empty() {
        return Err(RecoError::param("history", "is empty: give at least one item"));
    }
    if history.iter().all(|&i| i as usize >= n_items) {
        return Err(RecoError::UnknownItem(format!(
            "none of the history's {} items is known to the model",
            history.len()
        )));
    }
    Ok(())
}

/// The `k` best of `scores`, leaving out `history` and `exclude`.
fn top_next(mut scores: Vec<f32>, history: &[u32], exclude: &[u32], k: usize) -> Vec<(u32, f32)> {
    for &i in history.iter().chain(exclude) {
        if let Some(s) = scores.get_mut(i as usize) {
            *s = f32::NEG_INFINITY;
        }
    }
    crate::eval::top_k(&scores, k)
}

/// Fills row `r` of `out` with `score(users[r], row, scratch)`, rows in parallel (one scratch per task).
fn score_rows<S: Send>(
    users: &[u32],
    out: &mut ArrayViewMut2<'_, f32>,
    init: impl Fn() -> S + Sync + Send,
    score: impl Fn(u32, &mut [f32], &mut S) + Sync + Send,
) {
    let ni = out.ncols();
    match out.as_slice_mut() {
        Some(flat) if ni > 0 => flat
            .par_chunks_mut(ni)
            .zip(users.par_iter())
            .for_each_init(&init, |scratch, (row, &u)| score(u, row, scratch)),
        _ => {
            let mut scratch = init();
            for (r, &u) in users.iter().enumerate() {
                let mut row = out.row_mut(r);
                match row.as_slice_mut() {
                    Some(row) => score(u, row, &mut scratch),
                    None => {
                        let mut buf = vec![0.0; ni];
                        score(u, &mut buf, &mut scratch);
                        row.iter_mut().zip(buf).for_each(|(o, v)| *o = v);
                    }
                }
            }
        }
    }
}
