//! An index as plain arrays (for model files) and back, with every invariant search relies on checked,
//! so a damaged file is an error and never an out-of-bounds panic.

use super::graph::{Graph, NONE};
use super::{check_vectors, AnnParams, InnerProductIndex};
use crate::error::{RecoError, Result};
use ndarray::Array2;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};

/// The graph of an [`InnerProductIndex`] without its vectors (those come from the model it indexes).
#[derive(Debug, Clone, PartialEq)]
pub struct IndexParts {
    /// The parameters it was built with.
    pub params: AnnParams,
    /// Slots per node on layer 0 (≤ 3·m).
    pub cap0: usize,
    /// The most links insertion keeps on layer 0 (≤ `cap0`).
    pub limit0: usize,
    /// Per node `1 + cap0` values: the link count, then the links (node ids).
    pub links0: Vec<u32>,
    /// Per node: offset of its upper-layer blocks in `upper` (`u32::MAX`: none).
    pub upper_at: Vec<u32>,
    /// Blocks of `1 + m` values (count, links) for layers 1..=level of each node with level ≥ 1.
    pub upper: Vec<u32>,
    /// Per node: its top layer.
    pub levels: Vec<u8>,
    /// The entry node (its level is the graph's top layer).
    pub entry: u32,
    /// Node → item.
    pub to_old: Vec<u32>,
    /// Per node: removed.
    pub removed: Vec<bool>,
}

fn bad(what: impl Into<String>) -> RecoError {
    RecoError::param("index", format!("inconsistent index: {}", what.into()))
}

impl InnerProductIndex {
    /// The graph as plain arrays.
    pub fn to_parts(&self) -> IndexParts {
        let g = &self.graph;
        IndexParts {
            params: self.params,
            cap0: g.cap0,
            limit0: g.limit0,
            links0: g.links0.iter().map(|s| s.load(Relaxed)).collect(),
            upper_at: g.upper_at.clone(),
            upper: g.upper.iter().map(|s| s.load(Relaxed)).collect(),
            levels: g.levels.clone(),
            entry: g.entry().0,
            to_old: self.to_old.clone(),
            removed: self.removed.clone(),
        }
    }

    /// The index again from its parts and the item vectors it was built over (row `i`: item `i`,
    /// including items added since the build). Every invariant is checked.
    pub fn from_parts(p: IndexParts, items: &Array2<f32>) -> Result<Self> {
        check_vectors(items)?;
        p.params.validate()?;
        let (n, dim, m) = (items.nrows(), items.ncols(), p.params.m);
        if p.to_old.len() != n || p.levels.len() != n || p.upper_at.len() != n || p.removed.len() != n {
            return Err(bad(format!("{n} items but per-node arrays of other lengths")));
        }
        // An inserted node's own list holds up to m links and a neighbour's up to limit0.
        if p.limit0 < m || p.limit0 > p.cap0 || p.cap0 > 3 * m || p.links0.len() != n * (p.cap0 + 1) {
            return Err(bad("layer-0 slots do not match m, the capacity and the item count"));
        }
        let mut seen = vec![false; n];
        for &o in &p.to_old {
            if o as usize >= n || std::mem::replace(&mut seen[o as usize], true) {
                return Err(bad("the node order is not a permutation of the items"));
            }
        }
        let links_ok = |block: &[u32], cap: usize| {
            (block[0] as usize) <= cap && block[1..=block[0] as usize].iter().all(|&w| (w as usize) < n)
        };
        for block in p.links0.chunks_exact(p.cap0 + 1) {
            if !links_ok(block, p.cap0) {
                return Err(bad("a layer-0 link count or node id is out of range"));
            }
        }
        let mut expected = 0usize;
        for (i, (&l, &at)) in p.levels.iter().zip(&p.upper_at).enumerate() {
            if l > 15 || (l == 0) != (at == NONE) || (l > 0 && at as usize != expected) {
                return Err(bad(format!("node {i}'s level or upper-layer offset is out of range")));
            }
            expected += l as usize * (m + 1);
        }
        if p.upper.len() != expected {
            return Err(bad("upper-layer blocks do not match the levels"));
        }
        // Each upper block: count and ids in range, and every link on layer `l` leading to a node that has
        // layer `l` (search reads that node's block).
        for (i, (&l, &at)) in p.levels.iter().zip(&p.upper_at).enumerate() {
            for layer in 1..=l as usize {
                let b = &p.upper[at as usize + (layer - 1) * (m + 1)..][..m + 1];
                if !links_ok(b, m) {
                    return Err(bad("an upper-layer link count or node id is out of range"));
                }
                if b[1..=b[0] as usize].iter().any(|&w| (p.levels[w as usize] as usize) < layer) {
                    return Err(bad(format!("node {i} links on layer {layer} to a node without that layer")));
                }
            }
        }
        let top = p.levels.iter().copied().max().unwrap_or(0);
        if p.entry as usize >= n || p.levels[p.entry as usize] != top {
            return Err(bad("the entry node is not on the top layer"));
        }
        let g = Graph {
            m,
            cap0: p.cap0,
            limit0: p.limit0,
            links0: p.links0.into_iter().map(AtomicU32::new).collect(),
            upper_at: p.upper_at,
            upper: p.upper.into_iter().map(AtomicU32::new).collect(),
            levels: p.levels,
            entry: ((top as u64) << 32 | p.entry as u64).into(),
            locks: (0..n).map(|_| std::sync::Mutex::new(())).collect(),
        };
        let items = items.as_standard_layout();
        let mut vectors = Vec::with_capacity(n * dim);
        for &old in &p.to_old {
            vectors.extend(items.row(old as usize).iter());
        }
        Ok(Self::assemble(g, vectors, dim, p.params, p.to_old, Some(p.removed)))
    }
}
