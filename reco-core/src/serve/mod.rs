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

mod embeddings;
mod retrieval;
mod scoring;
mod server;

pub use server::{LiveEvents, Server, LIVE_EVENTS_PER_USER, LIVE_USERS};

pub(crate) use retrieval::{Retrieval, StoredGraphs};

use crate::error::{RecoError, Result};
use crate::eval::top_k;
use crate::model::{check_k, Recommender};
use crate::store::TrainedModel;
use scoring::{row, Contributor, Explainer, HistoryScorer};
use serde::Serialize;
use std::collections::HashSet;

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
    /// The id of the history item a "because you bought …" / "because you looked at …" reason names (for
    /// callers that word or name it themselves, e.g. with a product's current title).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub because: Option<String>,
    /// Whether the customer bought `because` ("because you bought …"); otherwise they only looked at it
    /// (viewed, carted, or an anonymous session's item: "because you looked at …").
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub because_bought: bool,
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
            Some(u) => {
                let ordered = self.model.sequence(u).unwrap_or(&[]);
                self.recommend_indexed(r, Some(u), self.history.user_row(u as usize).0, ordered, k, filter)
            }
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
        self.model.score_user(u, &mut scores)?;
        self.check_finite(&scores)?;
        let seen = self.history.user_row(u as usize).0;
        self.apply(&mut scores, filter, if filter.exclude_seen { seen } else { &[] });
        Ok(self.finish(&scores, k, seen, Some(u)))
    }

    /// The `k` best next items after an ordered history of item ids, oldest first: a guest session, the
    /// products a visitor just viewed or carted, or a caller's own record. The sequential models
    /// (`transition`, `sknn`, `sasrec`) score what comes next after that order; item-kNN and content
    /// score the items' neighbours; ALS/BPR/NCF score against the mean of the items' vectors; popularity
    /// ignores the history. Input rules (tested in `tests/serving.rs`):
    /// - ids the model does not know are ignored (new products, typos);
    /// - an item given twice counts at its latest position;
    /// - sequential models read only the most recent items they were trained on (SASRec: `max_len`);
    /// - an empty history, or one of unknown ids only, gets the most popular items that pass the filter,
    ///   with the reason "popular with other customers";
    /// - the history's own items are left out when `filter.exclude_seen` (the default);
    /// - `k = 0` and an inconsistent filter are errors.
    pub fn recommend_next(&self, history: &[&str], k: usize, filter: &Filter) -> Result<Vec<Recommendation>> {
        check_k(k)?;
        filter.validate()?;
        let ordered = latest_order(history.iter().filter_map(|i| self.items.get(i)));
        self.score_history(None, ordered, k, filter)
    }

    /// Same as [`recommend_next`](Self::recommend_next) (the name it had before sequential models).
    pub fn recommend_for_items(&self, items: &[&str], k: usize, filter: &Filter) -> Result<Vec<Recommendation>> {
        self.recommend_next(items, k, filter)
    }

    /// [`recommend`](Self::recommend) for `user` after live `events` the model was not fitted on (item ids,
    /// oldest first; what [`Server::record_event`] keeps). The sequential models score the user's training
    /// sequence followed by the events, so every view or purchase changes the next answer at once; the
    /// other models score the user as fitted and leave the events' items out (with `exclude_seen`) until
    /// the next fit. An unknown user is a guest: [`recommend_next`](Self::recommend_next) of the events.
    pub fn recommend_with_events(
        &self,
        user: &str,
        events: &[&str],
        k: usize,
        filter: &Filter,
    ) -> Result<Vec<Recommendation>> {
        let Some(u) = self.users.get(user) else { return self.recommend_next(events, k, filter) };
        let live: Vec<u32> = events.iter().filter_map(|i| self.items.get(i)).collect();
        if live.is_empty() {
            return self.recommend(user, k, filter);
        }
        check_k(k)?;
        filter.validate()?;
        let Some(trained) = self.model.sequence(u) else {
            let mut seen: Vec<usize> = self.history.user_row(u as usize).0.to_vec();
            seen.extend(live.iter().map(|&i| i as usize));
            seen.sort_unstable();
            seen.dedup();
            if let Some(r) = &self.retrieval {
                return self.recommend_indexed(r, Some(u), &seen, &[], k, filter);
            }
            let mut scores = vec![0.0f32; self.items.len()];
            self.model.score_user(u, &mut scores)?;
            self.check_finite(&scores)?;
            self.apply(&mut scores, filter, if filter.exclude_seen { &seen } else { &[] });
            return Ok(self.finish(&scores, k, &seen, Some(u)));
        };
        let ordered = latest_order(trained.iter().chain(&live).copied());
        self.score_history(Some(u), ordered, k, filter)
    }

    /// Scores an ordered history (known items, distinct); `user` steers the indexed path and whether a
    /// reason says "bought" (live events carry no kind: only the purchases the model was fitted on count).
    fn score_history(
        &self,
        user: Option<u32>,
        ordered: Vec<u32>,
        k: usize,
        filter: &Filter,
    ) -> Result<Vec<Recommendation>> {
        let mut hist: Vec<usize> = ordered.iter().map(|&i| i as usize).collect();
        hist.sort_unstable();
        if let Some(r) = &self.retrieval {
            return match hist.is_empty() {
                true => Ok(self.popular_indexed(r, k, filter)),
                false => self.recommend_indexed(r, user, &hist, &ordered, k, filter),
            };
        }
        if hist.is_empty() {
            return self.popular(k, filter);
        }
        let mut scores = vec![0.0f32; self.items.len()];
        self.model.score_session(&hist, &ordered, &mut scores)?;
        self.check_finite(&scores)?;
        self.apply(&mut scores, filter, if filter.exclude_seen { &hist } else { &[] });
        Ok(self.finish(&scores, k, &hist, user))
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
        self.model.similar_to(i, &mut scores)?;
        self.check_finite(&scores)?;
        scores[i] = f32::NEG_INFINITY;
        Ok(top_k(&scores, k).into_iter().map(|(j, s)| self.rec(j, s, None)).collect())
    }

    fn popular(&self, k: usize, filter: &Filter) -> Result<Vec<Recommendation>> {
        let mut scores: Vec<f32> = self.history.item_degrees().into_iter().map(|d| d as f32).collect();
        self.apply(&mut scores, filter, &[]);
        Ok(top_k(&scores, k).into_iter().map(|(j, s)| popular_rec(self, j, s)).collect())
    }

    /// An error when a score is NaN or +∞ (−∞ is how scoring marks an item out).
    fn check_finite(&self, scores: &[f32]) -> Result<()> {
        match scores.iter().any(|s| s.is_nan() || *s == f32::INFINITY) {
            true => Err(RecoError::NonFinite(crate::model::Recommender::name(&self.model).to_string())),
            false => Ok(()),
        }
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

    fn finish(&self, scores: &[f32], k: usize, hist: &[usize], user: Option<u32>) -> Vec<Recommendation> {
        top_k(scores, k).into_iter().map(|(j, s)| self.rec_with_reason(j, s, hist, user)).collect()
    }

    /// Whether `user` bought item `i`: from the purchases the model was fitted on (a model without kinds
    /// counts the whole history as bought); never for an anonymous history (a session's views and carts).
    fn bought(&self, user: Option<u32>, i: usize) -> bool {
        let bought = self.bought.as_ref().unwrap_or(&self.history);
        user.is_some_and(|u| bought.user_row(u as usize).0.binary_search(&i).is_ok())
    }

    /// With a reason: "because you bought X" (or "because you looked at X" when `user` did not buy X), X
    /// the history item that contributes most to `j` (item-kNN: similarity; ALS/BPR: factor dot product),
    /// or "popular …".
    fn rec_with_reason(&self, j: u32, score: f32, hist: &[usize], user: Option<u32>) -> Recommendation {
        let best = match self.model.contributor(j as usize, hist) {
            Contributor::Popular => return popular_rec(self, j, score),
            Contributor::Item(i) => i,
            Contributor::None => return self.rec(j, score, None),
        };
        let id = self.items.id(best as u32);
        let name = self.item_meta[best].text.as_deref().unwrap_or(id);
        let verb = if self.bought(user, best) { "bought" } else { "looked at" };
        Recommendation {
            because: Some(id.to_string()),
            because_bought: verb == "bought",
            ..self.rec(j, score, Some(format!("because you {verb} {name}")))
        }
    }

    fn rec(&self, j: u32, score: f32, reason: Option<String>) -> Recommendation {
        Recommendation { item: self.items.id(j).to_string(), score, reason, because: None, because_bought: false }
    }
}

/// Distinct items, each at its latest position, in order: how [`TrainedModel::recommend_next`] reads a
/// history (callers that keep long histories can store them this way).
pub fn latest_order<T: Clone + Eq + std::hash::Hash>(items: impl DoubleEndedIterator<Item = T>) -> Vec<T> {
    let mut seen = HashSet::new();
    let mut out: Vec<T> = items.rev().filter(|i| seen.insert(i.clone())).collect();
    out.reverse();
    out
}

fn popular_rec(m: &TrainedModel, j: u32, score: f32) -> Recommendation {
    m.rec(j, score, Some("popular with other customers".into()))
}
