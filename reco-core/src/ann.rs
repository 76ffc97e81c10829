//! Approximate maximum-inner-product search over item embeddings with hnsw_rs.
//!
//! HNSW finds neighbours by a distance; recommendation scores are inner products. Two standard ways to
//! search them, both measured here (`benches/peers/ann_peer.py`, recall@10 vs brute force on ALS factors
//! trained on Amazon Beauty):
//!
//! * the reduction of MIPS to L2 search (Bachrach et al. 2014: append `√(M² − ‖y‖²)` so every item has
//!   norm `M`): exact in theory, but it crowds the items around one pole and the graph navigates badly —
//!   recall@10 0.68 at ef 160 with hnsw_rs and 0.73 with hnswlib;
//! * a graph built directly on the inner product as a (non-metric) dissimilarity (ip-NSW, Morozov &
//!   Babenko, NeurIPS 2018; hnswlib's `ip` space): 0.99 at ef 40.
//!
//! So the index uses the second, as [`NegativeDot`]: `M² − a·b`, which is ≥ 0 because items have norm ≤ `M`
//! and queries are scaled to norm `M` (that does not change their ranking). hnsw_rs asserts non-negative
//! distances, so rounding below zero is clamped. Plain normalisation (cosine) would instead ignore the item
//! norms, which carry popularity in MF models. Candidates are re-scored exactly (`q·y`) before they are
//! returned. [`augment_items`] keeps the L2 reduction for comparisons.
//!
//! hnsw_rs builds the graph; searches run over a flat copy of it ([`FlatGraph`]: neighbour ids in one
//! array, vectors row-major, a generation-stamped visited list). Measured reasons (`benches/README.md`):
//! hnsw_rs' own search chases an `Arc` per neighbour, hashes visited ids with SipHash and allocates per
//! candidate — `perf` puts ~60% of its time in `search_layer` loads of neighbour structs — so it ran at
//! 0.1–0.2× hnswlib's queries/s; and its filtered search (`FilterT`) stops only when the candidate heap
//! is empty once the filter has thinned the results, so with a 10%-selective filter it visits most of the
//! graph (1.3 ms p50 on 20,000 items). The flat search applies the filter the way hnswlib does: rejected
//! nodes are still walked through, only accepted ones enter the result heap, and it stops as soon as the
//! nearest unexplored candidate is farther than the `ef`-th accepted one.

use crate::error::{RecoError, Result};
use crate::model::kernels::dot;
use hnsw_rs::anndists::dist::distances::Distance;
use hnsw_rs::hnsw::Hnsw;
use ndarray::Array2;
use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

/// `M² − a·b` (clamped at 0): the inner-product dissimilarity the graph is built and searched with.
/// `dot` is the workspace's vectorised kernel (hnsw_rs' own `DistDot` assumes unit vectors).
#[derive(Debug, Default, Clone, Copy)]
pub struct NegativeDot {
    /// `M²`, the largest squared item norm.
    pub offset: f32,
}

impl Distance<f32> for NegativeDot {
    fn eval(&self, a: &[f32], b: &[f32]) -> f32 {
        (self.offset - dot(a, b)).max(0.0)
    }
}

/// Index parameters. Defaults: `m 16, ef_construction 200, ef_search 64, partition_min 5000`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AnnParams {
    /// Links per node and layer (2..=256; hnsw_rs exits the process above 256, so this is checked first).
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

/// The hnsw_rs graph type the index is built with (exposed for benchmarks of hnsw_rs' own search).
pub type NativeHnsw = Hnsw<'static, f32, NegativeDot>;

/// An HNSW index answering "which items have the largest `q · y`".
pub struct InnerProductIndex {
    graph: FlatGraph,
    /// Item vectors row-major in the graph's node order (node `r` is item `graph.to_old[r]`).
    vectors: Vec<f32>,
    dim: usize,
    max_norm: f32,
    params: AnnParams,
}

/// An HNSW graph in flat arrays: layer 0 as CSR, the sparse upper layers as maps. Nodes are renumbered
/// in breadth-first order from the entry point, so that neighbours' links and vectors tend to sit close
/// in memory (search time is mostly cache misses on them).
#[derive(Debug, Clone)]
pub struct FlatGraph {
    offsets: Vec<u32>,
    links: Vec<u32>,
    upper: Vec<HashMap<u32, Vec<u32>>>,
    entry: u32,
    /// Node → item.
    to_old: Vec<u32>,
    /// Item → node.
    to_new: Vec<u32>,
}

impl FlatGraph {
    /// Copies hnsw_rs' graph (item ids are its data ids `0..n`), adding reverse links on layer 0 up to
    /// `extra` per node (best-scoring first). An inner-product graph links mostly *towards* large-norm
    /// items; without reverse links a smaller item with a high score for a query can be unreachable from
    /// its neighbourhood — with a 10%-selective filter on 20,000 synthetic items, recall@10 stalled at
    /// 0.973 however large `ef` was.
    pub fn from_hnsw(h: &NativeHnsw, items: &Array2<f32>, extra: usize) -> Self {
        let n = items.nrows();
        let pi = h.get_point_indexation();
        let top = pi.get_max_level_observed() as usize;
        let mut lists: Vec<Vec<u32>> = vec![Vec::new(); n];
        let mut upper: Vec<HashMap<u32, Vec<u32>>> = vec![HashMap::new(); top];
        let mut entry = 0;
        for level in 0..=top {
            for p in pi.get_layer_iterator(level) {
                let id = p.get_origin_id() as u32;
                if level == top {
                    entry = id;
                }
                for (l, nbs) in p.get_neighborhood_id().into_iter().enumerate() {
                    let ids: Vec<u32> = nbs.iter().map(|nb| nb.d_id as u32).collect();
                    match l {
                        0 => lists[id as usize] = ids,
                        _ if !ids.is_empty() && l <= top => {
                            upper[l - 1].insert(id, ids);
                        }
                        _ => {}
                    }
                }
            }
        }
        if extra > 0 {
            let mut reverse: Vec<Vec<u32>> = vec![Vec::new(); n];
            for (a, l) in lists.iter().enumerate() {
                for &b in l {
                    reverse[b as usize].push(a as u32);
                }
            }
            let row = |i: u32| items.row(i as usize).to_slice().expect("contiguous");
            for (b, mut rev) in reverse.into_iter().enumerate() {
                rev.retain(|a| !lists[b].contains(a) && *a as usize != b);
                rev.sort_by(|&x, &y| dot(row(y), row(b as u32)).total_cmp(&dot(row(x), row(b as u32))));
                rev.truncate(extra);
                lists[b].extend(rev);
            }
        }
        // Breadth-first order from the entry point (unreached nodes, if any, last).
        let mut to_old: Vec<u32> = Vec::with_capacity(n);
        let mut placed = vec![false; n];
        for start in std::iter::once(entry).chain(0..n as u32) {
            if placed[start as usize] {
                continue;
            }
            placed[start as usize] = true;
            let mut head = to_old.len();
            to_old.push(start);
            while head < to_old.len() {
                let v = to_old[head] as usize;
                head += 1;
                for &w in &lists[v] {
                    if !placed[w as usize] {
                        placed[w as usize] = true;
                        to_old.push(w);
                    }
                }
            }
        }
        let mut to_new = vec![0u32; n];
        to_old.iter().enumerate().for_each(|(new, &old)| to_new[old as usize] = new as u32);
        let mut offsets = Vec::with_capacity(n + 1);
        offsets.push(0u32);
        let mut links = Vec::with_capacity(lists.iter().map(Vec::len).sum());
        for &old in &to_old {
            links.extend(lists[old as usize].iter().map(|&w| to_new[w as usize]));
            offsets.push(links.len() as u32);
        }
        let upper = upper
            .into_iter()
            .map(|layer| {
                layer
                    .into_iter()
                    .map(|(k, v)| (to_new[k as usize], v.into_iter().map(|w| to_new[w as usize]).collect()))
                    .collect()
            })
            .collect();
        FlatGraph { offsets, links, upper, entry: to_new[entry as usize], to_old, to_new }
    }

    fn layer0(&self, i: u32) -> &[u32] {
        &self.links[self.offsets[i as usize] as usize..self.offsets[i as usize + 1] as usize]
    }
}

/// Min-ordered f32 key for heaps (distances are finite: inputs are checked).
#[derive(Clone, Copy)]
struct Key(f32);
impl PartialEq for Key {
    fn eq(&self, o: &Self) -> bool {
        self.0.total_cmp(&o.0).is_eq()
    }
}
impl Eq for Key {}
impl PartialOrd for Key {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Key {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&o.0)
    }
}

thread_local! {
    /// Per-thread visited stamps: `stamps[i] == generation` means visited in the current search.
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Per-thread search buffers, reused across searches (no allocation per query once warm).
#[derive(Default)]
struct Scratch {
    /// `stamps[node] == generation`: visited in the current search.
    stamps: Vec<u32>,
    generation: u32,
    candidates: BinaryHeap<Reverse<(Key, u32)>>,
    results: BinaryHeap<(Key, u32)>,
    fresh: Vec<u32>,
    dists: Vec<f32>,
}

impl std::fmt::Debug for InnerProductIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InnerProductIndex")
            .field("items", &self.len())
            .field("dim", &self.dim)
            .field("params", &self.params)
            .finish()
    }
}

impl InnerProductIndex {
    /// Builds the index over the rows of `items` (item `i` is row `i`), inserting in parallel.
    pub fn build(items: &Array2<f32>, params: AnnParams) -> Result<Self> {
        let (index, hnsw) = Self::build_with_native(items, params)?;
        // Dropping a large hnsw_rs graph frees one allocation per point and link; let that happen in the
        // background rather than in the caller's build time.
        std::thread::spawn(move || drop(hnsw));
        Ok(index)
    }

    /// Builds with hnsw_rs and also returns its graph object (for benchmarks of hnsw_rs' own search;
    /// query it with [`scale_query`](Self::scale_query)d vectors).
    pub fn build_with_native(items: &Array2<f32>, params: AnnParams) -> Result<(Self, NativeHnsw)> {
        let (n, d) = items.dim();
        if n == 0 || d == 0 {
            return Err(RecoError::EmptyData("no item vectors to index".into()));
        }
        if !(2..=256).contains(&params.m) {
            return Err(RecoError::param("m", format!("must be in [2, 256], got {}", params.m)));
        }
        if params.ef_construction < params.m || params.ef_construction > 100_000 {
            return Err(RecoError::param(
                "ef_construction",
                format!("must be in [m, 100000], got {}", params.ef_construction),
            ));
        }
        if params.ef_search == 0 {
            return Err(RecoError::param("ef_search", "must be at least 1"));
        }
        if let Some(pos) = items.iter().position(|v| !v.is_finite()) {
            return Err(RecoError::param("items", format!("item {} has a non-finite value", pos / d)));
        }
        let items = items.as_standard_layout().to_owned();
        let max_sq = items.rows().into_iter().map(|r| r.dot(&r)).fold(0.0f32, f32::max);
        let layers = 16.min((n as f32).ln().ceil().max(1.0) as usize);
        let hnsw = Hnsw::new(params.m, n, layers, params.ef_construction, NegativeDot { offset: max_sq });
        let rows = items.as_slice().expect("standard layout");
        let batch: Vec<(&[f32], usize)> = rows.chunks_exact(d).enumerate().map(|(i, v)| (v, i)).collect();
        hnsw.parallel_insert_slice(&batch);
        let graph = FlatGraph::from_hnsw(&hnsw, &items, params.m);
        let mut vectors = Vec::with_capacity(n * d);
        for &old in &graph.to_old {
            vectors.extend_from_slice(items.row(old as usize).to_slice().expect("standard layout"));
        }
        Ok((InnerProductIndex { graph, vectors, dim: d, max_norm: max_sq.sqrt(), params }, hnsw))
    }

    /// Number of indexed items.
    pub fn len(&self) -> usize {
        self.graph.to_old.len()
    }

    /// Whether the index is empty (never: `build` refuses empty input).
    pub fn is_empty(&self) -> bool {
        self.graph.to_old.is_empty()
    }

    /// Item `i`'s indexed vector.
    pub fn vector(&self, i: usize) -> &[f32] {
        self.node(self.graph.to_new[i])
    }

    fn node(&self, r: u32) -> &[f32] {
        &self.vectors[r as usize * self.dim..(r as usize + 1) * self.dim]
    }

    /// The parameters the index was built with.
    pub fn params(&self) -> AnnParams {
        self.params
    }

    /// `query` scaled to the items' largest norm `M` (same ranking; keeps [`NegativeDot`] ≥ 0).
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

    /// The `k` items with the largest `query · y` among those `allow` accepts (`None`: all), as
    /// `(item, exact inner product)`, best first. `ef` overrides the default search breadth.
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
        let mut out = match ef >= self.len() {
            // The walk would visit every node anyway; a scan is exact and cannot miss a node the graph
            // left unreachable (hnsw_rs' parallel insertion occasionally does on tiny catalogues).
            true => self.scan(query, allow),
            false => self.search_layer0(query, self.descend(query), ef, allow),
        };
        out.truncate(k);
        Ok(out)
    }

    /// Every allowed item by score, best first (ties: lower item id first).
    fn scan(&self, q: &[f32], allow: Option<&dyn Fn(usize) -> bool>) -> Vec<(u32, f32)> {
        let to_old = &self.graph.to_old;
        let mut out: Vec<(u32, f32)> = (0..self.len() as u32)
            .map(|r| (to_old[r as usize], r))
            .filter(|&(i, _)| allow.is_none_or(|f| f(i as usize)))
            .map(|(i, r)| (i, self.score(q, r)))
            .collect();
        out.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        out
    }

    fn score(&self, q: &[f32], r: u32) -> f32 {
        dot(q, self.node(r))
    }

    /// Greedy descent through the upper layers: the entry point for layer 0.
    fn descend(&self, q: &[f32]) -> u32 {
        let mut cur = self.graph.entry;
        let mut best = self.score(q, cur);
        for layer in self.graph.upper.iter().rev() {
            loop {
                let mut moved = false;
                for &j in layer.get(&cur).map(Vec::as_slice).unwrap_or(&[]) {
                    let s = self.score(q, j);
                    if s > best {
                        (best, cur, moved) = (s, j, true);
                    }
                }
                if !moved {
                    break;
                }
            }
        }
        cur
    }

    /// Beam search on layer 0 with the filter applied during the walk (distance = −score). A node's
    /// unvisited neighbours are gathered first and scored in one tight loop, so their vectors' cache
    /// misses overlap instead of queueing behind each heap update.
    fn search_layer0(
        &self,
        q: &[f32],
        entry: u32,
        ef: usize,
        allow: Option<&dyn Fn(usize) -> bool>,
    ) -> Vec<(u32, f32)> {
        let to_old = &self.graph.to_old;
        let ok = |r: u32| allow.is_none_or(|f| f(to_old[r as usize] as usize));
        let n = self.len();
        SCRATCH.with(|v| {
            // A filter that itself searches (re-entrant use on this thread) gets fresh buffers.
            let (mut own, mut guard) = (None, v.try_borrow_mut().ok());
            let scratch: &mut Scratch = match guard.as_deref_mut() {
                Some(s) => s,
                None => own.insert(Scratch::default()),
            };
            let Scratch { stamps, generation, candidates, results, fresh, dists } = scratch;
            candidates.clear();
            results.clear();
            if stamps.len() < n {
                *stamps = vec![0; n];
                *generation = 0;
            }
            *generation = generation.wrapping_add(1);
            if *generation == 0 {
                stamps.fill(0);
                *generation = 1;
            }
            let generation = *generation;
            let d = -self.score(q, entry);
            stamps[entry as usize] = generation;
            candidates.push(Reverse((Key(d), entry)));
            if ok(entry) {
                results.push((Key(d), entry));
            }
            let mut bound = if results.len() >= ef { d } else { f32::INFINITY };
            while let Some(Reverse((Key(dc), c))) = candidates.pop() {
                if dc > bound {
                    break;
                }
                fresh.clear();
                for &e in self.graph.layer0(c) {
                    if stamps[e as usize] != generation {
                        stamps[e as usize] = generation;
                        fresh.push(e);
                    }
                }
                dists.clear();
                dists.extend(fresh.iter().map(|&e| -self.score(q, e)));
                for (&e, &de) in fresh.iter().zip(dists.iter()) {
                    if results.len() < ef || de < bound {
                        candidates.push(Reverse((Key(de), e)));
                        if ok(e) {
                            results.push((Key(de), e));
                            if results.len() > ef {
                                results.pop();
                            }
                            if results.len() >= ef {
                                bound = results.peek().expect("non-empty").0 .0;
                            }
                        }
                    }
                }
            }
            let mut out: Vec<(u32, f32)> = results.drain().map(|(Key(d), r)| (to_old[r as usize], -d)).collect();
            out.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            out
        })
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
mod tests {
    use super::*;
    use crate::eval::top_k;
    use rand::{Rng, SeedableRng};

    /// Seeded vectors shaped like embeddings: 50 Gaussian-ish clusters in a 16-d space with varying norms.
    fn clustered(n: usize, d: usize, seed: u64) -> Array2<f32> {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
        let centres: Vec<Vec<f32>> =
            (0..50).map(|_| (0..d).map(|_| rng.random::<f32>() * 2.0 - 1.0).collect()).collect();
        Array2::from_shape_fn((n, d), |(i, j)| {
            let c = &centres[(i * 7919) % 50];
            c[j] * (0.5 + (i % 13) as f32 / 13.0) + (rng.random::<f32>() - 0.5) * 0.3
        })
    }

    fn exact(items: &Array2<f32>, q: &[f32], k: usize, allow: impl Fn(usize) -> bool) -> Vec<u32> {
        let scores: Vec<f32> = items
            .rows()
            .into_iter()
            .enumerate()
            .map(|(i, r)| if allow(i) { dot(q, r.as_slice().unwrap()) } else { f32::NEG_INFINITY })
            .collect();
        top_k(&scores, k).into_iter().map(|(i, _)| i).collect()
    }

    /// HNSW vs brute force, seeded: recall@10 ≥ 0.95 at ef 300, without and with a filter (half the items)
    /// applied during search. The set has many near-ties by construction, so small `ef` is not enough.
    #[test]
    fn recall_against_brute_force() {
        let items = clustered(5_000, 16, 1);
        let index = InnerProductIndex::build(&items, AnnParams::default()).unwrap();
        let queries = clustered(200, 16, 2);
        let even = |i: usize| i % 2 == 0;
        let (mut hits, mut hits_f, mut total) = (0, 0, 0);
        for q in queries.rows() {
            let q = q.as_slice().unwrap();
            let want = exact(&items, q, 10, |_| true);
            let got: Vec<u32> = index.search(q, 10, Some(300), None).unwrap().into_iter().map(|(i, _)| i).collect();
            hits += got.iter().filter(|i| want.contains(i)).count();
            let want_f = exact(&items, q, 10, even);
            let got_f = index.search(q, 10, Some(300), Some(&even)).unwrap();
            assert!(got_f.iter().all(|&(i, _)| i % 2 == 0), "the filter is applied");
            hits_f += got_f.iter().filter(|(i, _)| want_f.contains(i)).count();
            total += 10;
        }
        let (recall, recall_f) = (hits as f64 / total as f64, hits_f as f64 / total as f64);
        assert!(recall >= 0.95, "recall@10 {recall}");
        assert!(recall_f >= 0.95, "filtered recall@10 {recall_f}");
    }

    /// A filter that searches the index itself (same thread) must not trip over the shared buffers.
    #[test]
    fn re_entrant_search_from_a_filter() {
        let items = clustered(500, 8, 5);
        let index = InnerProductIndex::build(&items, AnnParams::default()).unwrap();
        let q = items.row(3).to_vec();
        let inner = |i: usize| index.search(&q, 1, None, None).unwrap()[0].0 as usize != i;
        let got = index.search(&q, 5, None, Some(&inner)).unwrap();
        let best = index.search(&q, 1, None, None).unwrap()[0].0;
        assert_eq!(got.len(), 5);
        assert!(got.iter().all(|&(i, _)| i != best));
    }

    #[test]
    fn bad_input_is_rejected_before_hnsw_rs_sees_it() {
        let items = clustered(100, 4, 3);
        assert!(InnerProductIndex::build(&Array2::zeros((0, 4)), AnnParams::default()).is_err());
        assert!(InnerProductIndex::build(&items, AnnParams { m: 300, ..AnnParams::default() }).is_err());
        assert!(InnerProductIndex::build(&items, AnnParams { ef_construction: 1, ..AnnParams::default() }).is_err());
        let mut nan = items.clone();
        nan[[7, 2]] = f32::NAN;
        assert!(InnerProductIndex::build(&nan, AnnParams::default()).unwrap_err().to_string().contains("item 7"));
        let index = InnerProductIndex::build(&items, AnnParams::default()).unwrap();
        assert!(index.search(&[1.0; 4], 0, None, None).is_err());
        assert!(index.search(&[1.0; 3], 5, None, None).is_err());
        assert!(index.search(&[f32::INFINITY; 4], 5, None, None).is_err());
        assert_eq!(index.search(&[1.0; 4], 500, None, None).unwrap().len(), 100);
    }
}
