//! Approximate maximum-inner-product search over item embeddings: an HNSW graph built, searched, grown
//! and saved here.
//!
//! HNSW finds neighbours by a distance; recommendation scores are inner products. Two standard ways to
//! search them, both measured (`benches/peers/ann_peer.py`, recall@10 vs brute force on ALS factors
//! trained on Amazon Beauty):
//!
//! * the reduction of MIPS to L2 search (Bachrach et al. 2014: append `√(M² − ‖y‖²)` so every item has
//!   norm `M`): exact in theory, but it crowds the items around one pole and the graph navigates badly —
//!   recall@10 0.68 at ef 160 with hnsw_rs and 0.73 with hnswlib;
//! * a graph built directly on the inner product as a (non-metric) dissimilarity `−a·b` (ip-NSW, Morozov &
//!   Babenko, NeurIPS 2018; hnswlib's `ip` space): 0.99 at ef 40.
//!
//! So the index uses the second. Plain normalisation (cosine) would instead ignore the item norms, which
//! carry popularity in MF models. Candidates are scored exactly (`q·y`). [`augment_items`] keeps the L2
//! reduction for comparisons.
//!
//! The graph (`graph.rs`) is flat arrays: a fixed block of neighbour slots per node on layer 0, a pool of
//! blocks for the sparse upper layers, vectors row-major in node order, nodes renumbered breadth-first so
//! neighbours sit close in memory, and a generation-stamped visited list per thread. Insertion
//! (`build.rs`) runs in parallel for a build and one node at a time afterwards ([`insert`](InnerProductIndex::insert));
//! [`remove`](InnerProductIndex::remove) marks an item deleted (walked through, never returned, like
//! hnswlib's `mark_deleted`). [`IndexParts`] is the graph as plain arrays, so a model file can carry it
//! and a loaded model serves without rebuilding. The filter is applied the way hnswlib applies one:
//! rejected nodes are still walked through, only accepted ones enter the result heap, and the search stops
//! as soon as the nearest unexplored candidate is farther than the `ef`-th accepted one.
//! (hnsw_rs built the graph before; why it no longer does: `build.rs`.)

mod build;
mod graph;
mod parts;

pub use parts::IndexParts;

use crate::error::{RecoError, Result};
use crate::model::kernels::dot;
use graph::{row, with_scratch, Graph};
use ndarray::Array2;
use std::sync::atomic::AtomicU32;

/// Index parameters. Defaults: `m 16, ef_construction 200, ef_search 64, partition_min 5000`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AnnParams {
    /// Links per node and layer (2..=256; layer 0 keeps up to 3·m: 2·m chosen while building, m reverse).
    pub m: usize,
    /// Candidate list size while building (≥ m).
    pub ef_construction: usize,
    /// Default candidate list size while searching (≥ 1; raised to `k` when smaller).
    pub ef_search: usize,
    /// Serving only (`TrainedModel::build_index`): a category filter selecting fewer items than this is
    /// answered by exact scoring of those items; a category with at least this many items (and at most
    /// half of the catalogue) gets its own sub-index. `usize::MAX` turns both off (every filter is applied
    /// during the search of the one index).
    #[serde(default = "default_partition_min")]
    pub partition_min: usize,
}

fn default_partition_min() -> usize {
    5000
}

impl Default for AnnParams {
    fn default() -> Self {
        AnnParams { m: 16, ef_construction: 200, ef_search: 64, partition_min: default_partition_min() }
    }
}

impl AnnParams {
    /// Checks the ranges documented on the fields.
    pub fn validate(&self) -> Result<()> {
        if !(2..=256).contains(&self.m) {
            return Err(RecoError::param("m", format!("must be in [2, 256], got {}", self.m)));
        }
        if self.ef_construction < self.m || self.ef_construction > 100_000 {
            return Err(RecoError::param(
                "ef_construction",
                format!("must be in [m, 100000], got {}", self.ef_construction),
            ));
        }
        if self.ef_search == 0 {
            return Err(RecoError::param("ef_search", "must be at least 1"));
        }
        Ok(())
    }
}

/// An HNSW index answering "which items have the largest `q · y`".
pub struct InnerProductIndex {
    graph: Graph,
    /// Item vectors row-major in node order (node `r` is item `to_old[r]`).
    vectors: Vec<f32>,
    dim: usize,
    max_norm: f32,
    params: AnnParams,
    /// Node → item.
    to_old: Vec<u32>,
    /// Item → node.
    to_new: Vec<u32>,
    /// Per node: removed (walked through, never returned).
    removed: Vec<bool>,
    n_removed: usize,
}

impl std::fmt::Debug for InnerProductIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InnerProductIndex")
            .field("items", &self.len())
            .field("removed", &self.n_removed)
            .field("dim", &self.dim)
            .field("params", &self.params)
            .finish()
    }
}

fn check_vectors(items: &Array2<f32>) -> Result<()> {
    let (n, d) = items.dim();
    if n == 0 || d == 0 {
        return Err(RecoError::EmptyData("no item vectors to index".into()));
    }
    if n >= u32::MAX as usize {
        return Err(RecoError::param("items", format!("at most {} items, got {n}", u32::MAX - 1)));
    }
    if let Some(pos) = items.iter().position(|v| !v.is_finite()) {
        return Err(RecoError::param("items", format!("item {} has a non-finite value", pos / d)));
    }
    Ok(())
}

impl InnerProductIndex {
    /// Builds the index over the rows of `items` (item `i` is row `i`), inserting in parallel on rayon's
    /// pool.
    pub fn build(items: &Array2<f32>, params: AnnParams) -> Result<Self> {
        check_vectors(items)?;
        params.validate()?;
        let items = items.as_standard_layout();
        let rows = items.as_slice().expect("standard layout");
        let dim = items.ncols();
        let g = build::build(rows, dim, params.m, params.ef_construction, params.m);
        let (graph, vectors, to_old) = build::reorder(g, rows, dim);
        Ok(Self::assemble(graph, vectors, dim, params, to_old, None))
    }

    fn assemble(
        graph: Graph,
        vectors: Vec<f32>,
        dim: usize,
        params: AnnParams,
        to_old: Vec<u32>,
        removed: Option<Vec<bool>>,
    ) -> Self {
        let n = to_old.len();
        let mut to_new = vec![0u32; n];
        to_old.iter().enumerate().for_each(|(new, &old)| to_new[old as usize] = new as u32);
        let max_sq = vectors.chunks_exact(dim).map(|r| dot(r, r)).fold(0.0f32, f32::max);
        let removed = removed.unwrap_or_else(|| vec![false; n]);
        let n_removed = removed.iter().filter(|&&r| r).count();
        InnerProductIndex { graph, vectors, dim, max_norm: max_sq.sqrt(), params, to_old, to_new, removed, n_removed }
    }

    /// Number of items the index knows (removed ones included: ids are never reused).
    pub fn len(&self) -> usize {
        self.to_old.len()
    }

    /// Whether the index is empty (never: `build` refuses empty input).
    pub fn is_empty(&self) -> bool {
        self.to_old.is_empty()
    }

    /// Number of items removed with [`remove`](Self::remove).
    pub fn removed(&self) -> usize {
        self.n_removed
    }

    /// Item `i`'s indexed vector.
    pub fn vector(&self, i: usize) -> &[f32] {
        row(&self.vectors, self.dim, self.to_new[i])
    }

    /// The vectors' dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The parameters the index was built with.
    pub fn params(&self) -> AnnParams {
        self.params
    }

    /// `query` scaled to the items' largest norm (same ranking; kept for callers that compare distances).
    pub fn scale_query(&self, query: &[f32]) -> Vec<f32> {
        let qn = dot(query, query).sqrt();
        let scale = if qn > 0.0 { self.max_norm / qn } else { 0.0 };
        query.iter().map(|v| v * scale).collect()
    }

    /// The L2 query equivalent to inner-product query `query` under [`augment_items`]: scaled to norm `M`,
    /// with a 0 appended.
    pub fn augment_query(&self, query: &[f32]) -> Vec<f32> {
        let mut q = self.scale_query(query);
        q.push(0.0);
        q
    }

    /// Adds an item without rebuilding: it gets the next id ([`len`](Self::len) before the call), is linked
    /// into the graph the way a build links it, and is searchable on return.
    pub fn insert(&mut self, vector: &[f32]) -> Result<usize> {
        if vector.len() != self.dim {
            return Err(RecoError::param("vector", format!("has {} dimensions, the index {}", vector.len(), self.dim)));
        }
        if vector.iter().any(|v| !v.is_finite()) {
            return Err(RecoError::param("vector", "has a non-finite value"));
        }
        let (item, node) = (self.len(), self.graph.len() as u32);
        if item >= u32::MAX as usize - 1 {
            return Err(RecoError::param("vector", "the index is full"));
        }
        let g = &mut self.graph;
        let level = build::level_for(item, g.m);
        g.upper_at.push(match level {
            0 => graph::NONE,
            _ => g.upper.len() as u32,
        });
        g.upper.extend((0..level as usize * (g.m + 1)).map(|_| AtomicU32::new(0)));
        g.links0.extend((0..g.cap0 + 1).map(|_| AtomicU32::new(0)));
        g.levels.push(level);
        g.locks.push(std::sync::Mutex::new(()));
        self.vectors.extend_from_slice(vector);
        self.to_old.push(item as u32);
        self.to_new.push(node);
        self.removed.push(false);
        self.max_norm = self.max_norm.max(dot(vector, vector).sqrt());
        let g = &self.graph;
        with_scratch(|s| build::insert(g, &self.vectors, self.dim, self.params.ef_construction, node, s));
        Ok(item)
    }

    /// Removes item `i` from answers (out of the catalogue) without a rebuild: its node stays in the graph
    /// as a waypoint. Removing a removed item is a no-op.
    pub fn remove(&mut self, i: usize) -> Result<()> {
        let Some(&node) = self.to_new.get(i) else {
            return Err(RecoError::param("item", format!("{i} is not in the index ({} items)", self.len())));
        };
        if !std::mem::replace(&mut self.removed[node as usize], true) {
            self.n_removed += 1;
        }
        Ok(())
    }

    /// Whether item `i` was removed.
    pub fn is_removed(&self, i: usize) -> bool {
        self.to_new.get(i).is_some_and(|&r| self.removed[r as usize])
    }

    /// The `k` items with the largest `query · y` among those `allow` accepts (`None`: all) and not
    /// removed, as `(item, exact inner product)`, best first. `ef` overrides the default search breadth.
    pub fn search(
        &self,
        query: &[f32],
        k: usize,
        ef: Option<usize>,
        allow: Option<&dyn Fn(usize) -> bool>,
    ) -> Result<Vec<(u32, f32)>> {
        if k == 0 {
            return Err(RecoError::param("k", "must be at least 1"));
        }
        if query.len() != self.dim {
            return Err(RecoError::param("query", format!("has {} dimensions, the index {}", query.len(), self.dim)));
        }
        if query.iter().any(|v| !v.is_finite()) {
            return Err(RecoError::param("query", "has a non-finite value"));
        }
        let ef = ef.unwrap_or(self.params.ef_search).max(k);
        let to_old = &self.to_old;
        let ok = |r: u32| !self.removed[r as usize] && allow.is_none_or(|f| f(to_old[r as usize] as usize));
        let mut out: Vec<(u32, f32)> = if ef >= self.len() - self.n_removed {
            // The walk would visit every node anyway; a scan is exact and cannot miss a node the graph
            // left unreachable.
            let mut all: Vec<(u32, f32)> = (0..self.len() as u32)
                .filter(|&r| ok(r))
                .map(|r| (to_old[r as usize], dot(query, row(&self.vectors, self.dim, r))))
                .collect();
            all.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            all
        } else {
            with_scratch(|s| {
                let entry = self.graph.descend(&self.vectors, self.dim, query, self.graph.entry(), 0, &mut s.list);
                let found = self.graph.search_layer(&self.vectors, self.dim, query, entry, ef, 0, &ok, s);
                let mut out: Vec<(u32, f32)> = found.into_iter().map(|(d, r)| (to_old[r as usize], -d)).collect();
                out.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                out
            })
        };
        out.truncate(k);
        Ok(out)
    }
}

/// The rows of `items` with the extra coordinate `√(M² − ‖y‖²)` that puts them all on the sphere of
/// radius `M` (the largest norm), and `M`.
pub fn augment_items(items: &Array2<f32>) -> (Vec<Vec<f32>>, f32) {
    let norms: Vec<f32> = items.rows().into_iter().map(|r| r.dot(&r)).collect();
    let max = norms.iter().cloned().fold(0.0f32, f32::max);
    let rows = items
        .rows()
        .into_iter()
        .zip(&norms)
        .map(|(r, &n2)| {
            let mut v = r.to_vec();
            v.push((max - n2).max(0.0).sqrt());
            v
        })
        .collect();
    (rows, max.sqrt())
}

#[cfg(test)]
mod tests;
