//! Two of the roles a fitted model plays in serving — scoring a history without a user row, and naming
//! the history item behind a recommendation — as small traits each model implements; [`AnyModel`] only
//! forwards (as tokenizers' `ModelWrapper` does for its models).

use crate::error::{RecoError, Result};
use crate::model::{
    blend, each_model, kernels::dot, AnyModel, ContentModel, Fusion, Hybrid, ItemKnn, MatrixFactorization, Ncf,
    Popularity, SasRec, Sknn, Transition,
};
use ndarray::Array2;

/// Scores for a history rather than a known user.
pub(crate) trait HistoryScorer {
    /// Scores of every item for an anonymous history: its distinct items (`hist`, sorted) and the same in
    /// the order they were touched (`ordered`, for the sequential models). A model that fails to score
    /// (NCF, the sequential models) is an error, never zeros.
    fn score_session(&self, hist: &[usize], ordered: &[u32], scores: &mut [f32]) -> Result<()>;

    /// Similarity of every item to item `i` (left at −∞ where unknown; NaN where a vector is not finite,
    /// which serving reports as an error).
    fn similar_to(&self, i: usize, scores: &mut [f32]) -> Result<()>;
}

/// What a recommendation is explained by.
pub(crate) enum Contributor {
    Popular,
    Item(usize),
    None,
}

/// Names the history item that contributes most to an item's score.
pub(crate) trait Explainer {
    fn contributor(&self, j: usize, hist: &[usize]) -> Contributor;
}

impl HistoryScorer for AnyModel {
    fn score_session(&self, hist: &[usize], ordered: &[u32], scores: &mut [f32]) -> Result<()> {
        each_model!(self, m => m.score_session(hist, ordered, scores))
    }
    fn similar_to(&self, i: usize, scores: &mut [f32]) -> Result<()> {
        each_model!(self, m => m.similar_to(i, scores))
    }
}

impl Explainer for AnyModel {
    fn contributor(&self, j: usize, hist: &[usize]) -> Contributor {
        each_model!(self, m => m.contributor(j, hist))
    }
}

impl HistoryScorer for Popularity {
    fn score_session(&self, _: &[usize], _: &[u32], scores: &mut [f32]) -> Result<()> {
        scores.copy_from_slice(self.counts());
        Ok(())
    }
    fn similar_to(&self, _: usize, _: &mut [f32]) -> Result<()> {
        Err(RecoError::param("model", "popularity has no notion of similar items"))
    }
}

impl Explainer for Popularity {
    fn contributor(&self, _: usize, _: &[usize]) -> Contributor {
        Contributor::Popular
    }
}

impl HistoryScorer for ItemKnn {
    fn score_session(&self, hist: &[usize], _: &[u32], scores: &mut [f32]) -> Result<()> {
        scores.fill(0.0);
        for &i in hist {
            for (j, s) in self.similarity().row(i) {
                scores[j as usize] += s;
            }
        }
        Ok(())
    }
    fn similar_to(&self, i: usize, scores: &mut [f32]) -> Result<()> {
        self.similarity().row(i).for_each(|(j, s)| scores[j as usize] = s);
        Ok(())
    }
}

impl Explainer for ItemKnn {
    fn contributor(&self, j: usize, hist: &[usize]) -> Contributor {
        best(hist.iter().filter_map(|&i| self.similarity().get(i, j).map(|s| (i, s))))
    }
}

impl HistoryScorer for MatrixFactorization {
    fn score_session(&self, hist: &[usize], _: &[u32], scores: &mut [f32]) -> Result<()> {
        mean_embedding_scores(self.item_factors(), hist, scores);
        Ok(())
    }
    fn similar_to(&self, i: usize, scores: &mut [f32]) -> Result<()> {
        cosine_scores(self.item_factors(), i, scores);
        Ok(())
    }
}

impl Explainer for MatrixFactorization {
    fn contributor(&self, j: usize, hist: &[usize]) -> Contributor {
        best_dot(self.item_factors(), j, hist)
    }
}

impl HistoryScorer for ContentModel {
    fn score_session(&self, hist: &[usize], _: &[u32], scores: &mut [f32]) -> Result<()> {
        self.score_history(hist.iter().map(|&i| (i, 1.0)), scores);
        Ok(())
    }
    fn similar_to(&self, i: usize, scores: &mut [f32]) -> Result<()> {
        self.score_history(std::iter::once((i, 1.0)), scores);
        Ok(())
    }
}

impl Explainer for ContentModel {
    fn contributor(&self, j: usize, hist: &[usize]) -> Contributor {
        let v = self.vectors();
        let vj = v.outer_view(j).expect("row");
        best(hist.iter().map(|&i| (i, v.outer_view(i).expect("row").dot(&vj))).filter(|p| p.1 > 0.0))
    }
}

impl HistoryScorer for Ncf {
    fn score_session(&self, hist: &[usize], _: &[u32], scores: &mut [f32]) -> Result<()> {
        mean_embedding_scores(&self.item_embeddings()?, hist, scores);
        Ok(())
    }
    fn similar_to(&self, i: usize, scores: &mut [f32]) -> Result<()> {
        cosine_scores(&self.item_embeddings()?, i, scores);
        Ok(())
    }
}

impl Explainer for Ncf {
    fn contributor(&self, j: usize, hist: &[usize]) -> Contributor {
        self.item_embeddings().map_or(Contributor::None, |y| best_dot(&y, j, hist))
    }
}

impl HistoryScorer for Transition {
    fn score_session(&self, _: &[usize], ordered: &[u32], scores: &mut [f32]) -> Result<()> {
        self.score_history(ordered, scores)
    }
    /// What most often comes next after `i`.
    fn similar_to(&self, i: usize, scores: &mut [f32]) -> Result<()> {
        self.next_items().row(i).for_each(|(j, p)| scores[j as usize] = p);
        Ok(())
    }
}

impl Explainer for Transition {
    /// Among the items the score used — the last `history` distinct ones — not the whole history (which
    /// also made a long-time customer's explanation cost |history| lookups per recommended item).
    fn contributor(&self, j: usize, hist: &[usize]) -> Contributor {
        let mut used: Vec<usize> = Vec::with_capacity(self.history_len());
        for &i in hist.iter().rev() {
            if used.len() == self.history_len() {
                break;
            }
            if !used.contains(&i) {
                used.push(i);
            }
        }
        best(used.into_iter().filter_map(|i| self.next_items().get(i, j).map(|p| (i, p))))
    }
}

impl HistoryScorer for Sknn {
    fn score_session(&self, _: &[usize], ordered: &[u32], scores: &mut [f32]) -> Result<()> {
        self.score_history(ordered, scores)
    }
    fn similar_to(&self, i: usize, scores: &mut [f32]) -> Result<()> {
        self.score_history(&[i as u32], scores)
    }
}

impl Explainer for Sknn {
    fn contributor(&self, _: usize, _: &[usize]) -> Contributor {
        Contributor::None
    }
}

impl HistoryScorer for SasRec {
    fn score_session(&self, _: &[usize], ordered: &[u32], scores: &mut [f32]) -> Result<()> {
        scores.copy_from_slice(&self.score_histories(&[ordered])?);
        Ok(())
    }
    fn similar_to(&self, i: usize, scores: &mut [f32]) -> Result<()> {
        scores.copy_from_slice(&self.score_histories(&[&[i as u32]])?);
        Ok(())
    }
}

impl Explainer for SasRec {
    fn contributor(&self, _: usize, _: &[usize]) -> Contributor {
        Contributor::None
    }
}

impl HistoryScorer for Hybrid {
    fn score_session(&self, hist: &[usize], ordered: &[u32], scores: &mut [f32]) -> Result<()> {
        self.cf().score_session(hist, ordered, scores)?;
        let mut c = vec![0.0f32; scores.len()];
        self.content().score_history(hist.iter().map(|&i| (i, 1.0)), &mut c);
        blend(scores, &mut c, self.weight());
        Ok(())
    }
    fn similar_to(&self, i: usize, scores: &mut [f32]) -> Result<()> {
        match self.cf() {
            AnyModel::Pop(_) => self.content().similar_to(i, scores),
            cf => cf.similar_to(i, scores),
        }
    }
}

impl Explainer for Hybrid {
    fn contributor(&self, j: usize, hist: &[usize]) -> Contributor {
        self.cf().contributor(j, hist)
    }
}

impl HistoryScorer for Fusion {
    fn score_session(&self, hist: &[usize], ordered: &[u32], scores: &mut [f32]) -> Result<()> {
        self.a().score_session(hist, ordered, scores)?;
        let mut b = vec![0.0f32; scores.len()];
        self.b().score_session(hist, ordered, &mut b)?;
        blend(scores, &mut b, self.weight());
        Ok(())
    }
    /// The first part that has a notion of similar items.
    fn similar_to(&self, i: usize, scores: &mut [f32]) -> Result<()> {
        self.a().similar_to(i, scores).or_else(|_| self.b().similar_to(i, scores))
    }
}

impl Explainer for Fusion {
    fn contributor(&self, j: usize, hist: &[usize]) -> Contributor {
        match self.b().contributor(j, hist) {
            Contributor::Item(i) => Contributor::Item(i),
            _ => self.a().contributor(j, hist),
        }
    }
}

pub(super) fn row(y: &Array2<f32>, i: usize) -> &[f32] {
    y.row(i).to_slice().expect("embedding rows are contiguous")
}

/// The candidate with the largest contribution.
fn best(candidates: impl Iterator<Item = (usize, f32)>) -> Contributor {
    candidates.max_by(|a, b| a.1.total_cmp(&b.1)).map_or(Contributor::None, |(i, _)| Contributor::Item(i))
}

/// Scores against the mean embedding of the history items.
fn mean_embedding_scores(y: &Array2<f32>, hist: &[usize], scores: &mut [f32]) {
    let mut q = vec![0.0f32; y.ncols()];
    for &i in hist {
        q.iter_mut().zip(row(y, i)).for_each(|(a, b)| *a += b / hist.len() as f32);
    }
    scores.iter_mut().enumerate().for_each(|(j, s)| *s = dot(&q, row(y, j)));
}

/// Cosine of every item embedding with item `i`'s (left at −∞ for zero vectors).
fn cosine_scores(y: &Array2<f32>, i: usize, scores: &mut [f32]) {
    let norm = |r: usize| dot(row(y, r), row(y, r)).sqrt();
    let ni = norm(i);
    for (j, s) in scores.iter_mut().enumerate() {
        let d = ni * norm(j);
        if d > 0.0 || d.is_nan() {
            *s = dot(row(y, i), row(y, j)) / d;
        }
    }
}

/// The history item whose embedding has the largest dot product with item `j`'s.
fn best_dot(y: &Array2<f32>, j: usize, hist: &[usize]) -> Contributor {
    best(hist.iter().map(|&i| (i, dot(row(y, i), row(y, j)))))
}
