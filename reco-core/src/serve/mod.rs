//! Serving: recommendations by external ids with filters and reasons, similar items, and a [`Server`]
//! whose model can be hot-swapped while readers keep serving.
//!
//! ```
//! use reco_core::data::{Dataset, EventKind};
//! use reco_core::model::AnyParams;
//! use reco_core::serve::{Filter, Server};
//! use reco_core::store::TrainedModel;
//! let mut data = Dataset::new("toy");
//! for (u, i) in [("ann", "tea"), ("ann", "cup"), ("bob", "tea"), ("bob", "pot"), ("cy", "cup"), ("cy", "pot")] {
//!     data.push(u, i, 0, EventKind::Purchase, 1.0)?;
//! }
//! let server = Server::new(TrainedModel::fit(&data, &AnyParams::new("itemknn")?, &|_, _| true)?);
//! let recs = server.recommend("ann", 1, &Filter::default())?;
//! assert_eq!(recs[0].item, "pot");
//! println!("{}", recs[0].reason.as_deref().unwrap_or(""));
//! # Ok::<(), reco_core::RecoError>(())
//! ```

mod retrieval;

pub(crate) use retrieval::Retrieval;

use crate::error::{RecoError, Result};
use crate::eval::top_k;
use crate::model::{check_k, kernels::dot, standardise, AnyModel, Recommender};
use crate::store::TrainedModel;
use arc_swap::ArcSwap;
use ndarray::Array2;
use serde::Serialize;
use std::collections::HashSet;
use std::sync::Arc;

/// Which items may be recommended. The default leaves out what the user already has and nothing else.
#[derive(Debug, Clone)]
pub struct Filter {
    /// Leave out items the user interacted with in training (default `true`).
    pub exclude_seen: bool,
    /// Only items in one of these categories (`None`: any).
    pub categories: Option<HashSet<String>>,
    /// Only items with a known price ≥ this.
    pub min_price: Option<f32>,
    /// Only items with a known price ≤ this.
    pub max_price: Option<f32>,
    /// Item ids that are out of stock.
    pub out_of_stock: HashSet<String>,
    /// Item ids never to recommend.
    pub exclude: HashSet<String>,
}

impl Default for Filter {
    fn default() -> Self {
        Filter {
            exclude_seen: true,
            categories: None,
            min_price: None,
            max_price: None,
            out_of_stock: HashSet::new(),
            exclude: HashSet::new(),
        }
    }
}

impl Filter {
    /// Checks the filter's own consistency (a price range must be finite and ordered).
    pub fn validate(&self) -> Result<()> {
        for (name, v) in [("min_price", self.min_price), ("max_price", self.max_price)] {
            if v.is_some_and(|p| !p.is_finite()) {
                return Err(RecoError::param(name, "must be a finite number"));
            }
        }
        if let (Some(lo), Some(hi)) = (self.min_price, self.max_price) {
            if lo > hi {
                return Err(RecoError::param("min_price", format!("{lo} is above max_price {hi}")));
            }
        }
        Ok(())
    }
}

/// One recommended item.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recommendation {
    /// The item's id.
    pub item: String,
    /// The model's score (higher is better; comparable within one list only).
    pub score: f32,
    /// A short explanation where the model allows one ("because you bought …", "popular").
    pub reason: Option<String>,
    /// The id of the history item a "because you bought …" reason names (for callers that word or
    /// name it themselves, e.g. with a product's current title).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub because: Option<String>,
}

impl TrainedModel {
    /// The `k` best items for `user` that pass `filter`. A user the model does not know gets the most
    /// popular items that pass the filter, with reason "popular". With an index
    /// ([`build_index`](Self::build_index)) candidates come from it; otherwise every item is scored.
    pub fn recommend(&self, user: &str, k: usize, filter: &Filter) -> Result<Vec<Recommendation>> {
        let Some(r) = &self.retrieval else { return self.recommend_exact(user, k, filter) };
        check_k(k)?;
        filter.validate()?;
        match self.users.get(user) {
            Some(u) => self.recommend_indexed(r, Some(u), self.history.user_row(u as usize).0, k, filter),
            None => Ok(self.popular_indexed(r, k, filter)),
        }
    }

    /// [`recommend`](Self::recommend) by scoring every item, index or not (the exact answer the index
    /// approximates).
    pub fn recommend_exact(&self, user: &str, k: usize, filter: &Filter) -> Result<Vec<Recommendation>> {
        check_k(k)?;
        filter.validate()?;
        let Some(u) = self.users.get(user) else { return self.popular(k, filter) };
        let mut scores = vec![0.0f32; self.items.len()];
        self.model.score_user(u, &mut scores);
        let seen = self.history.user_row(u as usize).0;
        self.apply(&mut scores, filter, if filter.exclude_seen { seen } else { &[] });
        Ok(self.finish(&scores, k, seen))
    }

    /// Recommendations for an anonymous session from the items it touched, oldest first (unknown ids are
    /// ignored). Item-kNN scores the items' neighbours; ALS/BPR score against the mean of the items'
    /// factors; the sequential models (`transition`, `sknn`) score what comes next after that order;
    /// popularity ignores the history.
    pub fn recommend_for_items(&self, items: &[&str], k: usize, filter: &Filter) -> Result<Vec<Recommendation>> {
        check_k(k)?;
        filter.validate()?;
        let ordered: Vec<u32> = items.iter().filter_map(|i| self.items.get(i)).collect();
        let mut hist: Vec<usize> = ordered.iter().map(|&i| i as usize).collect();
        hist.sort_unstable();
        hist.dedup();
        if let Some(r) = &self.retrieval {
            return match hist.is_empty() {
                true => Ok(self.popular_indexed(r, k, filter)),
                false => self.recommend_indexed(r, None, &hist, k, filter),
            };
        }
        if hist.is_empty() {
            return self.popular(k, filter);
        }
        let mut scores = vec![0.0f32; self.items.len()];
        score_items(&self.model, &hist, &ordered, &mut scores);
        self.apply(&mut scores, filter, if filter.exclude_seen { &hist } else { &[] });
        Ok(self.finish(&scores, k, &hist))
    }

    /// [`recommend`](Self::recommend) for each of `users`, in parallel (rayon); one result per user, in
    /// order.
    pub fn recommend_many(&self, users: &[String], k: usize, filter: &Filter) -> Vec<Result<Vec<Recommendation>>> {
        use rayon::prelude::*;
        users.par_iter().map(|u| self.recommend(u, k, filter)).collect()
    }

    /// The `k` items most similar to `item`: item-kNN neighbours, or cosine of ALS/BPR item factors.
    pub fn similar_items(&self, item: &str, k: usize) -> Result<Vec<Recommendation>> {
        check_k(k)?;
        let i = self.items.get(item).ok_or_else(|| RecoError::UnknownItem(item.to_string()))? as usize;
        let mut scores = vec![f32::NEG_INFINITY; self.items.len()];
        similar_scores(&self.model, i, &mut scores)?;
        scores[i] = f32::NEG_INFINITY;
        Ok(top_k(&scores, k).into_iter().map(|(j, s)| self.rec(j, s, None)).collect())
    }

    fn popular(&self, k: usize, filter: &Filter) -> Result<Vec<Recommendation>> {
        let mut scores: Vec<f32> = self.history.item_degrees().into_iter().map(|d| d as f32).collect();
        self.apply(&mut scores, filter, &[]);
        Ok(top_k(&scores, k).into_iter().map(|(j, s)| popular_rec(self, j, s)).collect())
    }

    /// Sets the score of every item the filter rejects to −∞.
    fn apply(&self, scores: &mut [f32], f: &Filter, seen: &[usize]) {
        for &i in seen {
            scores[i] = f32::NEG_INFINITY;
        }
        for id in f.exclude.iter().chain(&f.out_of_stock) {
            if let Some(i) = self.items.get(id) {
                scores[i as usize] = f32::NEG_INFINITY;
            }
        }
        if f.categories.is_some() || f.min_price.is_some() || f.max_price.is_some() {
            for (s, m) in scores.iter_mut().zip(&self.item_meta) {
                let cat_ok = f.categories.as_ref().is_none_or(|c| m.category.as_ref().is_some_and(|x| c.contains(x)));
                let lo_ok = f.min_price.is_none_or(|lo| m.price.is_some_and(|p| p >= lo));
                let hi_ok = f.max_price.is_none_or(|hi| m.price.is_some_and(|p| p <= hi));
                if !(cat_ok && lo_ok && hi_ok) {
                    *s = f32::NEG_INFINITY;
                }
            }
        }
    }

    fn finish(&self, scores: &[f32], k: usize, hist: &[usize]) -> Vec<Recommendation> {
        top_k(scores, k).into_iter().map(|(j, s)| self.rec_with_reason(j, s, hist)).collect()
    }

    /// With a reason: "because you bought X", X the history item that contributes most to `j`
    /// (item-kNN: similarity; ALS/BPR: factor dot product), or "popular …".
    fn rec_with_reason(&self, j: u32, score: f32, hist: &[usize]) -> Recommendation {
        let best = match contributor(&self.model, j as usize, hist) {
            Contributor::Popular => return popular_rec(self, j, score),
            Contributor::Item(i) => i,
            Contributor::None => return self.rec(j, score, None),
        };
        let id = self.items.id(best as u32);
        let name = self.item_meta[best].text.as_deref().unwrap_or(id);
        Recommendation {
            because: Some(id.to_string()),
            ..self.rec(j, score, Some(format!("because you bought {name}")))
        }
    }

    fn rec(&self, j: u32, score: f32, reason: Option<String>) -> Recommendation {
        Recommendation { item: self.items.id(j).to_string(), score, reason, because: None }
    }
}

fn popular_rec(m: &TrainedModel, j: u32, score: f32) -> Recommendation {
    m.rec(j, score, Some("popular with other customers".into()))
}

/// Scores of every item for an anonymous history: its distinct items (`hist`, sorted) and the same in the
/// order they were touched (`ordered`, for the sequential models).
fn score_items(model: &AnyModel, hist: &[usize], ordered: &[u32], scores: &mut [f32]) {
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
        AnyModel::Ncf(m) => match m.item_embeddings() {
            Ok(y) => mean_embedding_scores(&y, hist, scores),
            Err(_) => scores.fill(0.0),
        },
        AnyModel::Transition(m) => {
            if m.score_history(ordered, scores).is_err() {
                scores.fill(0.0);
            }
        }
        AnyModel::Sknn(m) => {
            if m.score_history(ordered, scores).is_err() {
                scores.fill(0.0);
            }
        }
        AnyModel::SasRec(m) => match m.score_histories(&[ordered]) {
            Ok(s) => scores.copy_from_slice(&s),
            Err(_) => scores.fill(0.0),
        },
        AnyModel::Hybrid(h) => {
            score_items(h.cf(), hist, ordered, scores);
            standardise(scores);
            let mut c = vec![0.0f32; scores.len()];
            h.content().score_history(hist.iter().map(|&i| (i, 1.0)), &mut c);
            standardise(&mut c);
            let w = h.weight();
            scores.iter_mut().zip(&c).for_each(|(o, c)| *o = (1.0 - w) * *o + w * c);
        }
    }
}

/// Similarity of every item to item `i` (−∞ where unknown).
fn similar_scores(model: &AnyModel, i: usize, scores: &mut [f32]) -> Result<()> {
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
    }
    Ok(())
}

fn row(y: &Array2<f32>, i: usize) -> &[f32] {
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
        if d > 0.0 {
            *s = dot(row(y, i), row(y, j)) / d;
        }
    }
}

/// The history item whose embedding has the largest dot product with item `j`'s.
fn best_dot(y: &Array2<f32>, j: usize, hist: &[usize]) -> Option<(usize, f32)> {
    hist.iter().map(|&i| (i, dot(row(y, i), row(y, j)))).max_by(|a, b| a.1.total_cmp(&b.1))
}

enum Contributor {
    Popular,
    Item(usize),
    None,
}

/// The history item that contributes most to item `j`'s score.
fn contributor(model: &AnyModel, j: usize, hist: &[usize]) -> Contributor {
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
    };
    best.map_or(Contributor::None, |(i, _)| Contributor::Item(i))
}

/// A thread-safe serving handle: every call reads the current model; [`swap`](Server::swap) replaces it
/// atomically, so calls in flight finish on the old model and later calls see the new one.
#[derive(Debug)]
pub struct Server {
    current: ArcSwap<TrainedModel>,
}

impl Server {
    /// Serves `model`.
    pub fn new(model: TrainedModel) -> Self {
        Server { current: ArcSwap::from_pointee(model) }
    }

    /// Replaces the model; returns the previous one.
    pub fn swap(&self, model: TrainedModel) -> Arc<TrainedModel> {
        self.current.swap(Arc::new(model))
    }

    /// The model now being served.
    pub fn model(&self) -> Arc<TrainedModel> {
        self.current.load_full()
    }

    /// [`TrainedModel::recommend`] on the current model.
    pub fn recommend(&self, user: &str, k: usize, filter: &Filter) -> Result<Vec<Recommendation>> {
        self.current.load().recommend(user, k, filter)
    }

    /// [`TrainedModel::recommend_for_items`] on the current model.
    pub fn recommend_for_items(&self, items: &[&str], k: usize, filter: &Filter) -> Result<Vec<Recommendation>> {
        self.current.load().recommend_for_items(items, k, filter)
    }

    /// [`TrainedModel::similar_items`] on the current model.
    pub fn similar_items(&self, item: &str, k: usize) -> Result<Vec<Recommendation>> {
        self.current.load().similar_items(item, k)
    }
}
