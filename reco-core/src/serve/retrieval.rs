//! Serving large catalogues: candidates come from an HNSW inner-product index over the item side of a
//! dot-product model, with the request's filter applied *during* the search, and are re-ranked exactly by
//! the full model (NeuMF's MLP is not a dot product, so its GMF part retrieves and the whole network
//! re-ranks). Nothing on this path is O(catalogue): filters run per visited candidate through per-item
//! tables (category id, price) and sorted id lists, and the popularity fallback walks a precomputed order.
//!
//! A selective category filter is the one case a single filtered graph search handles badly: with 10% of
//! a 1,000,000-item catalogue passing, recall@10 stalled near 0.88 however large `ef` was (the walk has to
//! pass through nine rejected nodes per accepted one, and an inner-product graph links mostly towards
//! large-norm items, so small-norm items of the category are hard to reach). So categories are
//! partitioned the way filtered vector stores do it: a filter selecting fewer than
//! [`AnnParams::partition_min`] items is answered by exact scoring of exactly those items, and each
//! category at least that large (up to half of the catalogue) gets its own sub-index, searched with the
//! rest of the filter. Measured in `benches/benches/serving.rs`.

use super::embeddings::{Embeddings, Query};
use super::{Filter, Recommendation};
use crate::ann::{AnnParams, IndexParts, InnerProductIndex};
use crate::error::{RecoError, Result};
use crate::model::AnyModel;
use crate::store::TrainedModel;
use ndarray::Axis;
use std::collections::HashMap;

const NO_CATEGORY: u32 = u32::MAX;

/// The index and per-item lookup tables built by [`TrainedModel::build_index`].
pub(crate) struct Retrieval {
    index: InnerProductIndex,
    query: Query,
    categories: HashMap<String, u32>,
    item_category: Vec<u32>,
    /// The items of each category id, ascending.
    members: Vec<Vec<u32>>,
    /// Per category id: its own index over `members[c]` (local id `j` is item `members[c][j]`).
    partitions: Vec<Option<InnerProductIndex>>,
    item_price: Vec<f32>,
    /// Items by training popularity, most popular first, with their counts.
    popular: Vec<(u32, f32)>,
    ef_search: usize,
}

impl std::fmt::Debug for Retrieval {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Retrieval").field("index", &self.index).finish_non_exhaustive()
    }
}

/// Graphs saved in a model file: the whole catalogue's, and each category sub-index's by category name.
pub(crate) struct StoredGraphs {
    pub main: IndexParts,
    pub partitions: HashMap<String, IndexParts>,
}

impl Retrieval {
    /// Builds the index (`stored: None`) or puts it back together from a model file's graphs — the same
    /// tables either way, and the vectors always come from the model.
    pub(crate) fn build(m: &TrainedModel, params: AnnParams, stored: Option<StoredGraphs>) -> Result<Self> {
        params.validate()?;
        let (query, items) = m.model.retrieval_space()?;
        let (stored, mut stored_parts) = match stored {
            Some(g) => (Some(g.main), Some(g.partitions)),
            None => (None, None),
        };
        let index = match stored {
            Some(parts) => InnerProductIndex::from_parts(parts, &items)?,
            None => InnerProductIndex::build(&items, params)?,
        };
        let mut categories = HashMap::new();
        let item_category: Vec<u32> = m
            .item_meta
            .iter()
            .map(|meta| match &meta.category {
                Some(c) => {
                    let next = categories.len() as u32;
                    *categories.entry(c.clone()).or_insert(next)
                }
                None => NO_CATEGORY,
            })
            .collect();
        let mut members = vec![Vec::new(); categories.len()];
        for (i, &c) in item_category.iter().enumerate() {
            if c != NO_CATEGORY {
                members[c as usize].push(i as u32);
            }
        }
        let n = items.nrows();
        let mut names = vec![""; categories.len()];
        categories.iter().for_each(|(name, &c)| names[c as usize] = name.as_str());
        let partitions = members
            .iter()
            .zip(&names)
            .map(|(ids, name)| {
                if ids.len() < params.partition_min || ids.len() > n / 2 {
                    return Ok(None);
                }
                let rows: Vec<usize> = ids.iter().map(|&i| i as usize).collect();
                let vectors = items.select(Axis(0), &rows);
                match stored_parts.as_mut().map(|s| s.remove(*name)) {
                    None => InnerProductIndex::build(&vectors, params).map(Some),
                    Some(Some(parts)) => InnerProductIndex::from_parts(parts, &vectors).map(Some),
                    Some(None) => Err(RecoError::param("index", format!("no stored sub-index for category `{name}`"))),
                }
            })
            .collect::<Result<Vec<_>>>()?;
        if let Some(extra) = stored_parts.and_then(|s| s.into_keys().next()) {
            return Err(RecoError::param(
                "index",
                format!("a stored sub-index for category `{extra}`, which has none"),
            ));
        }
        let item_price = m.item_meta.iter().map(|meta| meta.price.unwrap_or(f32::NAN)).collect();
        let mut popular: Vec<(u32, f32)> =
            m.history.item_degrees().into_iter().enumerate().map(|(i, d)| (i as u32, d as f32)).collect();
        popular.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        Ok(Retrieval {
            index,
            query,
            categories,
            item_category,
            members,
            partitions,
            item_price,
            popular,
            ef_search: params.ef_search,
        })
    }

    /// The `k` best items for inner-product query `q` that `c` allows, best first: exact scoring when the
    /// filter's categories are small, their sub-indexes when they have them, else the whole index.
    fn retrieve(&self, q: &[f32], k: usize, ef: usize, c: &Compiled) -> Result<Vec<(u32, f32)>> {
        let allow = |i: usize| c.allows(i);
        let min = self.index.params().partition_min;
        let Some(mask) = &c.categories else {
            return self.index.search(q, k, Some(ef), Some(&allow));
        };
        if min == usize::MAX {
            return self.index.search(q, k, Some(ef), Some(&allow)); // partitions off
        }
        let cats: Vec<usize> = (0..mask.len()).filter(|&c| mask[c]).collect();
        // Exact scoring is bounded: only categories without a sub-index are scored item by item, and
        // only while they add up to fewer than `min` items; otherwise the one filtered graph search.
        let unindexed: usize =
            cats.iter().filter(|&&c| self.partitions[c].is_none()).map(|&c| self.members[c].len()).sum();
        let indexable = cats.iter().all(|&c| self.partitions[c].is_some() || self.members[c].len() < min);
        if unindexed >= min || !indexable {
            return self.index.search(q, k, Some(ef), Some(&allow));
        }
        let mut found: Vec<(u32, f32)> = Vec::new();
        for &cat in &cats {
            let ids = &self.members[cat];
            match &self.partitions[cat] {
                Some(part) => {
                    let local = |j: usize| c.allows(ids[j] as usize);
                    let hits = part.search(q, k, Some(ef), Some(&local))?;
                    found.extend(hits.into_iter().map(|(j, s)| (ids[j as usize], s)));
                }
                _ => found.extend(
                    ids.iter()
                        .filter(|&&i| c.allows(i as usize))
                        .map(|&i| (i, crate::model::kernels::dot(q, self.index.vector(i as usize)))),
                ),
            }
        }
        found.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        found.truncate(k);
        Ok(found)
    }

    /// The index's parameters.
    pub(crate) fn params(&self) -> AnnParams {
        AnnParams { ef_search: self.ef_search, ..self.index.params() }
    }

    /// The graphs, for a model file.
    pub(crate) fn graphs(&self) -> StoredGraphs {
        let partitions = self
            .categories
            .iter()
            .filter_map(|(name, &c)| self.partitions[c as usize].as_ref().map(|p| (name.clone(), p.to_parts())))
            .collect();
        StoredGraphs { main: self.index.to_parts(), partitions }
    }
}

/// A filter compiled against the index's tables: one O(log n) check per candidate.
struct Compiled<'a> {
    r: &'a Retrieval,
    seen: &'a [usize],
    blocked: Vec<u32>,
    categories: Option<Vec<bool>>,
    min_price: Option<f32>,
    max_price: Option<f32>,
}

impl Compiled<'_> {
    fn allows(&self, i: usize) -> bool {
        if let Some(c) = &self.categories {
            let id = self.r.item_category[i];
            if id == NO_CATEGORY || !c[id as usize] {
                return false;
            }
        }
        let p = self.r.item_price[i];
        // An unknown price (NaN) fails both bounds.
        let below = self.min_price.is_some_and(|lo| p.is_nan() || p < lo);
        let above = self.max_price.is_some_and(|hi| p.is_nan() || p > hi);
        if below || above {
            return false;
        }
        self.seen.binary_search(&i).is_err() && self.blocked.binary_search(&(i as u32)).is_err()
    }
}

impl TrainedModel {
    /// Builds an HNSW index over the item side of this model, so that [`recommend`](Self::recommend) and
    /// [`recommend_next`](Self::recommend_next) retrieve candidates from it (filters applied
    /// during the search) instead of scoring the whole catalogue. For embedding models — ALS, BPR, GMF,
    /// SASRec (retrieved exactly by their dot product; SASRec's query is the final hidden state after the
    /// ordered history) and NeuMF (retrieved by its GMF part, re-ranked by the
    /// whole network over `max(ef_search, k)` candidates); item-kNN, popularity and content models score
    /// sparsely and are refused. Worth it from ~100,000 items. [`save`](Self::save) keeps the graphs, so
    /// a loaded model serves from its index without building it again.
    pub fn build_index(&mut self, params: AnnParams) -> Result<()> {
        self.retrieval = Some(std::sync::Arc::new(Retrieval::build(self, params, None)?));
        Ok(())
    }

    /// The index's parameters, if [`build_index`](Self::build_index) was called.
    pub fn index_params(&self) -> Option<AnnParams> {
        self.retrieval.as_ref().map(|r| r.params())
    }

    /// Changes the index's search breadth (`ef`; larger: better recall, slower). Only while this model is
    /// not shared (before it is handed to a [`Server`](super::Server) or cloned).
    pub fn set_ef_search(&mut self, ef: usize) -> Result<()> {
        if ef == 0 {
            return Err(RecoError::param("ef_search", "must be at least 1"));
        }
        let r =
            self.retrieval.as_mut().ok_or_else(|| RecoError::NotFitted("no index: call build_index first".into()))?;
        let r = std::sync::Arc::get_mut(r)
            .ok_or_else(|| RecoError::param("ef_search", "the index is shared; set it before sharing the model"))?;
        r.ef_search = ef;
        Ok(())
    }

    /// Drops the index: serving goes back to exact scoring.
    pub fn drop_index(&mut self) {
        self.retrieval = None;
    }

    fn compile<'a>(&self, r: &'a Retrieval, filter: &Filter, seen: &'a [usize]) -> Compiled<'a> {
        let mut blocked: Vec<u32> =
            filter.exclude.iter().chain(&filter.out_of_stock).filter_map(|id| self.items.get(id)).collect();
        blocked.sort_unstable();
        let categories = filter.categories.as_ref().map(|names| {
            let mut mask = vec![false; r.categories.len()];
            names.iter().filter_map(|c| r.categories.get(c)).for_each(|&c| mask[c as usize] = true);
            mask
        });
        Compiled { r, seen, blocked, categories, min_price: filter.min_price, max_price: filter.max_price }
    }

    /// The indexed path of `recommend` / `recommend_next`: `user` known, or an item history (`hist`
    /// sorted, `ordered` oldest first).
    pub(super) fn recommend_indexed(
        &self,
        r: &Retrieval,
        user: Option<u32>,
        hist: &[usize],
        ordered: &[u32],
        k: usize,
        filter: &Filter,
    ) -> Result<Vec<Recommendation>> {
        let exclude: &[usize] = if filter.exclude_seen { hist } else { &[] };
        let c = self.compile(r, filter, exclude);
        if c.categories.as_ref().is_some_and(|m| !m.contains(&true)) {
            return Ok(Vec::new()); // no item is in any of the requested categories
        }
        let ef = r.ef_search.max(k);
        let found = match (&r.query, user) {
            (Query::Sequence, _) => {
                let AnyModel::SasRec(m) = &self.model else { unreachable!("built for SASRec only") };
                let h = m.hidden_states(&[ordered])?;
                r.retrieve(h.row(0).as_slice().expect("a standard-layout row"), k, ef, &c)?
            }
            (Query::Factors { users, offset, .. }, Some(u)) => {
                let mut found = r.retrieve(super::row(users, u as usize), k, ef, &c)?;
                found.iter_mut().for_each(|(_, s)| *s += offset);
                found
            }
            (Query::Rerank { users }, Some(u)) => {
                let pool = ef.max(k);
                let cand = r.retrieve(super::row(users, u as usize), pool, ef, &c)?;
                let ids: Vec<u32> = cand.iter().map(|c| c.0).collect();
                let AnyModel::Ncf(n) = &self.model else { unreachable!("re-ranking is built for NCF only") };
                let mut scored: Vec<(u32, f32)> = ids.iter().copied().zip(n.score_pairs(u, &ids)?).collect();
                if scored.iter().any(|s| !s.1.is_finite()) {
                    return Err(RecoError::NonFinite(crate::model::Recommender::name(n).into()));
                }
                scored.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                scored.truncate(k);
                scored
            }
            (q, None) => {
                // An anonymous (non-empty) history: the mean of its items' vectors (the bias coordinate
                // stays 0, as in exact scoring).
                let dim = r.index.vector(hist[0]).len();
                let mut mean = vec![0.0f32; dim];
                for &i in hist {
                    mean.iter_mut().zip(r.index.vector(i)).for_each(|(m, v)| *m += v / hist.len() as f32);
                }
                if let Query::Factors { bias: true, .. } = q {
                    mean[dim - 1] = 0.0;
                }
                r.retrieve(&mean, k, ef, &c)?
            }
        };
        Ok(found.into_iter().map(|(j, s)| self.rec_with_reason(j, s, hist, user)).collect())
    }

    /// The most popular items that pass `filter`, walking the precomputed popularity order.
    pub(super) fn popular_indexed(&self, r: &Retrieval, k: usize, filter: &Filter) -> Vec<Recommendation> {
        let c = self.compile(r, filter, &[]);
        r.popular
            .iter()
            .filter(|(i, _)| c.allows(*i as usize))
            .take(k)
            .map(|&(i, s)| super::popular_rec(self, i, s))
            .collect()
    }
}
