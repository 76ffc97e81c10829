//! The HNSW graph in flat arrays, and the one beam search both insertion and queries use.
//!
//! Every node has a fixed block of slots on layer 0 (`[count, id, id, …]`) and, when its level is ≥ 1, a
//! block per upper layer in a shared pool. Slots are `AtomicU32` read and written with `Relaxed` order
//! (plain loads and stores on x86 and ARM): writers of a node's lists hold that node's lock; readers take
//! no lock and may see a list mid-update, which is harmless — every slot always holds an inserted node's
//! id, because a node's own lists are written before any other node links to it, and unused slots hold
//! node 0, the first node inserted. This is how hnswlib's parallel insertion behaves too, minus its
//! read locks.

use crate::model::kernels::dot;
use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;

/// `upper_at` of a node without upper layers.
pub(super) const NONE: u32 = u32::MAX;

/// An HNSW graph over `n` nodes (node ids `0..n`; vectors are kept by the caller in node order).
#[derive(Debug)]
pub(super) struct Graph {
    /// Links per node on the upper layers.
    pub m: usize,
    /// Slots per node on layer 0.
    pub cap0: usize,
    /// Most links insertion keeps on layer 0 (2·m while building; `cap0` once reverse links are added).
    pub limit0: usize,
    /// Per node `1 + cap0` slots: the count, then the ids.
    pub links0: Vec<AtomicU32>,
    /// Per node: the offset of its upper-layer blocks in `upper` ([`NONE`]: level 0 only).
    pub upper_at: Vec<u32>,
    /// Per node of level `L ≥ 1`: `L` blocks of `1 + m` slots (layer 1 first).
    pub upper: Vec<AtomicU32>,
    /// Each node's top layer.
    pub levels: Vec<u8>,
    /// `(top layer << 32) | node` of the entry point.
    pub entry: AtomicU64,
    /// Writers of a node's lists hold its lock.
    pub locks: Vec<Mutex<()>>,
}

/// Min-ordered f32 key for heaps (distances are finite: inputs are checked).
#[derive(Clone, Copy, Debug)]
pub(super) struct Key(pub f32);
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
    /// Per-thread search buffers, reused across searches and insertions.
    pub(super) static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Search buffers (no allocation per search once warm).
#[derive(Default)]
pub(super) struct Scratch {
    /// `stamps[node] == generation`: visited in the current search.
    stamps: Vec<u32>,
    generation: u32,
    candidates: BinaryHeap<Reverse<(Key, u32)>>,
    results: BinaryHeap<(Key, u32)>,
    fresh: Vec<u32>,
    dists: Vec<f32>,
    /// A copy of one node's list (insertion).
    pub list: Vec<u32>,
}

/// Runs `f` with this thread's scratch buffers (fresh ones when they are in use: a filter that searches).
pub(super) fn with_scratch<T>(f: impl FnOnce(&mut Scratch) -> T) -> T {
    SCRATCH.with(|v| match v.try_borrow_mut() {
        Ok(mut s) => f(&mut s),
        Err(_) => f(&mut Scratch::default()),
    })
}

/// Asks the CPU to start loading `v`'s cache lines (hnswlib prefetches the same way): the search knows
/// which vectors and lists it reads next long before it reads them. A no-op off x86-64.
#[inline(always)]
fn prefetch<T>(v: &[T]) {
    #[cfg(target_arch = "x86_64")]
    for line in v.chunks(64 / std::mem::size_of::<T>().max(1)) {
        safe_arch::prefetch_t0(&line[0]);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = v;
}

/// Row `r` of the row-major `vectors`.
#[inline]
pub(super) fn row(vectors: &[f32], dim: usize, r: u32) -> &[f32] {
    &vectors[r as usize * dim..(r as usize + 1) * dim]
}

impl Graph {
    /// An empty graph of `n` nodes with the given levels (no links yet).
    pub fn new(m: usize, cap0: usize, limit0: usize, levels: Vec<u8>) -> Self {
        let n = levels.len();
        let mut upper_at = vec![NONE; n];
        let mut total = 0usize;
        for (i, &l) in levels.iter().enumerate() {
            if l > 0 {
                upper_at[i] = total as u32;
                total += l as usize * (m + 1);
            }
        }
        Graph {
            m,
            cap0,
            limit0,
            links0: (0..n * (cap0 + 1)).map(|_| AtomicU32::new(0)).collect(),
            upper_at,
            upper: (0..total).map(|_| AtomicU32::new(0)).collect(),
            levels,
            entry: AtomicU64::new(0),
            locks: (0..n).map(|_| Mutex::new(())).collect(),
        }
    }

    pub fn len(&self) -> usize {
        self.levels.len()
    }

    /// `(node, top layer)` of the entry point.
    pub fn entry(&self) -> (u32, u8) {
        let e = self.entry.load(Relaxed);
        (e as u32, (e >> 32) as u8)
    }

    /// Node `i`'s block on `layer`: the count slot, then the id slots.
    #[inline]
    pub fn block(&self, i: u32, layer: u8) -> &[AtomicU32] {
        match layer {
            0 => &self.links0[i as usize * (self.cap0 + 1)..(i as usize + 1) * (self.cap0 + 1)],
            l => {
                let at = self.upper_at[i as usize] as usize + (l as usize - 1) * (self.m + 1);
                &self.upper[at..at + self.m + 1]
            }
        }
    }

    /// The most links a node keeps on `layer`.
    pub fn limit(&self, layer: u8) -> usize {
        if layer == 0 {
            self.limit0
        } else {
            self.m
        }
    }

    /// Appends node `i`'s links on `layer` to `out`.
    #[inline]
    pub fn links_into(&self, i: u32, layer: u8, out: &mut Vec<u32>) {
        let b = self.block(i, layer);
        let count = (b[0].load(Relaxed) as usize).min(b.len() - 1);
        out.extend(b[1..=count].iter().map(|s| s.load(Relaxed)));
    }

    /// Replaces node `i`'s links on `layer` (the caller holds `i`'s lock). Ids first, count last.
    pub fn set_links(&self, i: u32, layer: u8, ids: &[u32]) {
        let b = self.block(i, layer);
        debug_assert!(ids.len() < b.len());
        for (s, &id) in b[1..].iter().zip(ids) {
            s.store(id, Relaxed);
        }
        b[0].store(ids.len() as u32, Relaxed);
    }

    /// Greedy descent from `entry` (a node on layer `top`, read once by the caller: another thread may
    /// raise the top meanwhile) down to layer `stop + 1`: the closest node found.
    #[allow(clippy::too_many_arguments)]
    pub fn descend(
        &self,
        vectors: &[f32],
        dim: usize,
        q: &[f32],
        (entry, top): (u32, u8),
        stop: u8,
        list: &mut Vec<u32>,
    ) -> u32 {
        let mut cur = entry;
        let mut best = dot(q, row(vectors, dim, cur));
        for layer in (stop + 1..=top).rev() {
            loop {
                let mut moved = false;
                list.clear();
                self.links_into(cur, layer, list);
                for &j in list.iter() {
                    let s = dot(q, row(vectors, dim, j));
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

    /// Beam search on `layer` from `entry` for the nodes with the largest `q · v` (distance `−q · v`).
    /// Nodes `ok` rejects are walked through but never returned (a filter applied during the search, the
    /// way hnswlib applies one); the walk stops once the nearest unexplored candidate is farther than the
    /// `ef`-th accepted node. A node's unvisited neighbours are gathered first and scored in one tight
    /// loop, so their vectors' cache misses overlap. Returns `(distance, node)`, nearest first.
    #[allow(clippy::too_many_arguments)]
    pub fn search_layer(
        &self,
        vectors: &[f32],
        dim: usize,
        q: &[f32],
        entry: u32,
        ef: usize,
        layer: u8,
        ok: &dyn Fn(u32) -> bool,
        s: &mut Scratch,
    ) -> Vec<(f32, u32)> {
        let n = self.len();
        let Scratch { stamps, generation, candidates, results, fresh, dists, .. } = s;
        candidates.clear();
        results.clear();
        if stamps.len() < n {
            stamps.resize(n, 0);
        }
        *generation = generation.wrapping_add(1);
        if *generation == 0 {
            stamps.fill(0);
            *generation = 1;
        }
        let generation = *generation;
        let d = -dot(q, row(vectors, dim, entry));
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
            if let Some(Reverse((_, next))) = candidates.peek() {
                prefetch(&self.block(*next, layer)[..1]);
            }
            fresh.clear();
            let b = self.block(c, layer);
            let count = (b[0].load(Relaxed) as usize).min(b.len() - 1);
            for e in b[1..=count].iter().map(|s| s.load(Relaxed)) {
                prefetch(std::slice::from_ref(&stamps[e as usize]));
            }
            for e in b[1..=count].iter().map(|s| s.load(Relaxed)) {
                if stamps[e as usize] != generation {
                    stamps[e as usize] = generation;
                    prefetch(row(vectors, dim, e));
                    fresh.push(e);
                }
            }
            dists.clear();
            dists.extend(fresh.iter().map(|&e| -dot(q, row(vectors, dim, e))));
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
        let mut out: Vec<(f32, u32)> = results.drain().map(|(Key(d), r)| (d, r)).collect();
        out.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        out
    }
}
