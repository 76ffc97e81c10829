//! How each model scores a history and names the item behind a recommendation.

use crate::error::{RecoError, Result};
use crate::model::{blend, kernels::dot, AnyModel};
use ndarray::Array2;

/// Scores of every item for an anonymous history: its distinct items (`hist`, sorted) and the same in the
/// order they were touched (`ordered`, for the sequential models).
/// A model that fails to score (NCF, the sequential models) is an error, never zeros.
pub(super) fn score_items(model: &AnyModel, hist: &[usize], ordered: &[u32], scores: &mut [f32]) -> Result<()> {
    match model {
        AnyModel::Pop(p) => scores.copy_from_slice(p.counts()),
        AnyModel::ItemKnn(m) => {
            scores.fill(0.0);
            for &i in hist {
                for (j, s) in m.similarity().row(i) {
                    scores[j as usize] += s;
                }
            }
        }
        AnyModel::Mf(m) => mean_embedding_scores(m.item_factors(), hist, scores),
        AnyModel::Content(c) => c.score_history(hist.iter().map(|&i| (i, 1.0)), scores),
        AnyModel::Ncf(m) => mean_embedding_scores(&m.item_embeddings()?, hist, scores),
        AnyModel::Transition(m) => m.score_history(ordered, scores)?,
        AnyModel::Sknn(m) => m.score_history(ordered, scores)?,
        AnyModel::SasRec(m) => scores.copy_from_slice(&m.score_histories(&[ordered])?),
        AnyModel::Hybrid(h) => {
            score_items(h.cf(), hist, ordered, scores)?;
            let mut c = vec![0.0f32; scores.len()];
            h.content().score_history(hist.iter().map(|&i| (i, 1.0)), &mut c);
            blend(scores, &mut c, h.weight());
        }
        AnyModel::Fusion(f) => {
            score_items(f.a(), hist, ordered, scores)?;
            let mut b = vec![0.0f32; scores.len()];
            score_items(f.b(), hist, ordered, &mut b)?;
            blend(scores, &mut b, f.weight());
        }
    }
    Ok(())
}

/// Similarity of every item to item `i` (−∞ where unknown; NaN where a vector is not finite, which serving
/// reports as an error).
pub(super) fn similar_scores(model: &AnyModel, i: usize, scores: &mut [f32]) -> Result<()> {
    match model {
        AnyModel::Pop(_) => return Err(RecoError::param("model", "popularity has no notion of similar items")),
        AnyModel::ItemKnn(m) => m.similarity().row(i).for_each(|(j, s)| scores[j as usize] = s),
        AnyModel::Mf(m) => cosine_scores(m.item_factors(), i, scores),
        AnyModel::Content(c) => c.score_history(std::iter::once((i, 1.0)), scores),
        AnyModel::Ncf(m) => cosine_scores(&m.item_embeddings()?, i, scores),
        // What most often comes next after `i`.
        AnyModel::Transition(m) => m.next_items().row(i).for_each(|(j, p)| scores[j as usize] = p),
        AnyModel::Sknn(m) => m.score_history(&[i as u32], scores)?,
        AnyModel::SasRec(m) => scores.copy_from_slice(&m.score_histories(&[&[i as u32]])?),
        AnyModel::Hybrid(h) => match h.cf() {
            AnyModel::Pop(_) => h.content().score_history(std::iter::once((i, 1.0)), scores),
            cf => similar_scores(cf, i, scores)?,
        },
        // The first part that has a notion of similar items.
        AnyModel::Fusion(f) => similar_scores(f.a(), i, scores).or_else(|_| similar_scores(f.b(), i, scores))?,
    }
    Ok(())
}

pub(super) fn row(y: &Array2<f32>, i: usize) -> &[f32] {
    y.row(i).to_slice().expect("embedding rows are contiguous")
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
fn best_dot(y: &Array2<f32>, j: usize, hist: &[usize]) -> Option<(usize, f32)> {
    hist.iter().map(|&i| (i, dot(row(y, i), row(y, j)))).max_by(|a, b| a.1.total_cmp(&b.1))
}

pub(super) enum Contributor {
    Popular,
    Item(usize),
    None,
}

/// The history item that contributes most to item `j`'s score.
pub(super) fn contributor(model: &AnyModel, j: usize, hist: &[usize]) -> Contributor {
    let best = match model {
        AnyModel::Pop(_) => return Contributor::Popular,
        AnyModel::ItemKnn(m) => {
            hist.iter().filter_map(|&i| m.similarity().get(i, j).map(|s| (i, s))).max_by(|a, b| a.1.total_cmp(&b.1))
        }
        AnyModel::Mf(m) => best_dot(m.item_factors(), j, hist),
        AnyModel::Content(c) => {
            let v = c.vectors();
            let vj = v.outer_view(j).expect("row");
            hist.iter()
                .map(|&i| (i, v.outer_view(i).expect("row").dot(&vj)))
                .filter(|p| p.1 > 0.0)
                .max_by(|a, b| a.1.total_cmp(&b.1))
        }
        AnyModel::Ncf(m) => m.item_embeddings().ok().and_then(|y| best_dot(&y, j, hist)),
        AnyModel::Transition(m) => {
            hist.iter().filter_map(|&i| m.next_items().get(i, j).map(|p| (i, p))).max_by(|a, b| a.1.total_cmp(&b.1))
        }
        AnyModel::Sknn(_) | AnyModel::SasRec(_) => None,
        AnyModel::Hybrid(h) => return contributor(h.cf(), j, hist),
        AnyModel::Fusion(f) => {
            return match contributor(f.b(), j, hist) {
                Contributor::Item(i) => Contributor::Item(i),
                _ => contributor(f.a(), j, hist),
            }
        }
    };
    best.map_or(Contributor::None, |(i, _)| Contributor::Item(i))
}
