//! HNSW insertion (Malkov & Yashunin 2018, algorithms 1 and 4, as hnswlib implements them), run in
//! parallel over rayon for a build and one node at a time for later additions.
//!
//! Written here rather than taken from hnsw_rs, which built the graph before: its insertion took 2.9–4.7×
//! hnswlib's time on the same vectors (`benches/README.md`, ANN section) — an `Arc` and a lock per point
//! and per neighbour list, SipHash visited sets — and its graph cannot be saved inside our model file or
//! grown after loading. The algorithm is the standard one; the flat layout is [`Graph`]'s.

use super::graph::{row, with_scratch, Graph, Scratch};
use crate::model::kernels::dot;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use std::sync::atomic::Ordering::Relaxed;

/// Top layer of every node, drawn as `⌊−ln(U) / ln(m)⌋` (capped at 15) from a seeded generator.
pub(super) fn draw_levels(n: usize, m: usize, seed: u64) -> Vec<u8> {
    let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
    let ml = 1.0 / (m as f64).ln();
    (0..n).map(|_| draw_level(&mut rng, ml)).collect()
}

fn draw_level(rng: &mut impl Rng, ml: f64) -> u8 {
    let u: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
    ((-u.ln() * ml).floor() as i64).clamp(0, 15) as u8
}

/// The level of a node added after the build (seeded by its node id: reproducible).
pub(super) fn level_for(node: usize, m: usize) -> u8 {
    let mut rng = rand::rngs::SmallRng::seed_from_u64(0x5eed ^ node as u64);
    draw_level(&mut rng, 1.0 / (m as f64).ln())
}

/// hnswlib's neighbour-selection heuristic: walking the candidates nearest first, keep one only if it is
/// nearer to the base than to every one kept so far (spreads links across directions); at most `max`.
fn select(vectors: &[f32], dim: usize, candidates: &[(f32, u32)], max: usize) -> Vec<u32> {
    let mut kept: Vec<u32> = Vec::with_capacity(max);
    for &(d, e) in candidates {
        if kept.len() >= max {
            break;
        }
        let ve = row(vectors, dim, e);
        if kept.iter().all(|&r| -dot(ve, row(vectors, dim, r)) >= d) {
            kept.push(e);
        }
    }
    kept
}

/// Inserts node `i` (its vector already in `vectors`, its level in `g.levels`) into the graph.
pub(super) fn insert(g: &Graph, vectors: &[f32], dim: usize, ef: usize, i: u32, s: &mut Scratch) {
    let q = row(vectors, dim, i);
    let level = g.levels[i as usize];
    let entry = g.entry();
    let top = entry.1;
    let mut list = std::mem::take(&mut s.list);
    let mut cur = g.descend(vectors, dim, q, entry, level, &mut list);
    for layer in (0..=level.min(top)).rev() {
        let found = g.search_layer(vectors, dim, q, cur, ef, layer, &|e| e != i, s);
        let Some(&(_, nearest)) = found.first() else { continue };
        cur = nearest;
        let chosen = select(vectors, dim, &found, g.m);
        {
            let _own = g.locks[i as usize].lock().unwrap_or_else(|p| p.into_inner());
            g.set_links(i, layer, &chosen);
        }
        for &e in &chosen {
            let _lock = g.locks[e as usize].lock().unwrap_or_else(|p| p.into_inner());
            list.clear();
            g.links_into(e, layer, &mut list);
            if list.contains(&i) {
                continue;
            }
            let limit = g.limit(layer);
            if list.len() < limit {
                list.push(i);
                g.set_links(e, layer, &list);
                continue;
            }
            // Full: keep the best spread of the old links and the new one.
            let ve = row(vectors, dim, e);
            let mut cand: Vec<(f32, u32)> =
                list.iter().chain(std::iter::once(&i)).map(|&x| (-dot(ve, row(vectors, dim, x)), x)).collect();
            cand.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            let kept = select(vectors, dim, &cand, limit);
            g.set_links(e, layer, &kept);
        }
    }
    s.list = list;
    // A node above the current top becomes the entry point (compare-and-swap: another thread may have
    // raised the top meanwhile).
    let mut seen = g.entry.load(Relaxed);
    while level > (seen >> 32) as u8 {
        let want = ((level as u64) << 32) | i as u64;
        match g.entry.compare_exchange_weak(seen, want, Relaxed, Relaxed) {
            Ok(_) => break,
            Err(now) => seen = now,
        }
    }
}

/// Builds the graph over all `n` rows of `vectors`: node 0 first, the rest in parallel.
pub(super) fn build(vectors: &[f32], dim: usize, m: usize, ef: usize, extra: usize) -> Graph {
    let n = vectors.len() / dim;
    let levels = draw_levels(n, m, 42);
    let mut g = Graph::new(m, 2 * m + extra, 2 * m, levels);
    g.entry.store((g.levels[0] as u64) << 32, Relaxed);
    (1..n as u32).into_par_iter().for_each(|i| with_scratch(|s| insert(&g, vectors, dim, ef, i, s)));
    if extra > 0 {
        add_reverse_links(&g, vectors, dim, extra);
    }
    // Later insertions keep the reverse links a node has (a full list is pruned back to `cap0`, not 2·m).
    g.limit0 = g.cap0;
    g
}

/// Adds reverse links on layer 0, up to `extra` per node, best-scoring first, and lets insertion keep
/// `cap0` links from then on. An inner-product graph links mostly *towards* large-norm items; without
/// reverse links a smaller item with a high score for a query can be unreachable from its neighbourhood
/// (with a 10%-selective filter on 20,000 synthetic items, recall@10 stalled at 0.973 however large `ef` was).
fn add_reverse_links(g: &Graph, vectors: &[f32], dim: usize, extra: usize) {
    let n = g.len();
    let mut offsets = vec![0u32; n + 1];
    let mut list = Vec::new();
    for a in 0..n as u32 {
        list.clear();
        g.links_into(a, 0, &mut list);
        list.iter().for_each(|&b| offsets[b as usize + 1] += 1);
    }
    for i in 0..n {
        offsets[i + 1] += offsets[i];
    }
    let mut reverse = vec![0u32; offsets[n] as usize];
    let mut fill = offsets.clone();
    for a in 0..n as u32 {
        list.clear();
        g.links_into(a, 0, &mut list);
        for &b in &list {
            reverse[fill[b as usize] as usize] = a;
            fill[b as usize] += 1;
        }
    }
    (0..n as u32).into_par_iter().for_each_init(Vec::new, |own, b| {
        own.clear();
        g.links_into(b, 0, own);
        let vb = row(vectors, dim, b);
        let mut rev: Vec<(f32, u32)> = reverse[offsets[b as usize] as usize..offsets[b as usize + 1] as usize]
            .iter()
            .filter(|&&a| a != b && !own.contains(&a))
            .map(|&a| (-dot(vb, row(vectors, dim, a)), a))
            .collect();
        rev.sort_unstable_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
        own.extend(rev.iter().take(extra).map(|r| r.1));
        g.set_links(b, 0, own);
    });
}

/// The graph and vectors renumbered in breadth-first order from the entry point (unreached nodes, if any,
/// last), so that neighbours' links and vectors tend to sit close in memory — search time is mostly cache
/// misses on them. Returns the new graph, the vectors in new order and the new → old node map.
pub(super) fn reorder(g: Graph, vectors: &[f32], dim: usize) -> (Graph, Vec<f32>, Vec<u32>) {
    let n = g.len();
    let (entry, top) = g.entry();
    let mut to_old: Vec<u32> = Vec::with_capacity(n);
    let mut placed = vec![false; n];
    let mut list = Vec::new();
    for start in std::iter::once(entry).chain(0..n as u32) {
        if placed[start as usize] {
            continue;
        }
        placed[start as usize] = true;
        let mut head = to_old.len();
        to_old.push(start);
        while head < to_old.len() {
            let v = to_old[head];
            head += 1;
            list.clear();
            g.links_into(v, 0, &mut list);
            for &w in &list {
                if !placed[w as usize] {
                    placed[w as usize] = true;
                    to_old.push(w);
                }
            }
        }
    }
    let mut to_new = vec![0u32; n];
    to_old.iter().enumerate().for_each(|(new, &old)| to_new[old as usize] = new as u32);
    let levels = to_old.iter().map(|&o| g.levels[o as usize]).collect();
    let out = Graph::new(g.m, g.cap0, g.limit0, levels);
    for (new, &old) in to_old.iter().enumerate() {
        for layer in 0..=g.levels[old as usize] {
            list.clear();
            g.links_into(old, layer, &mut list);
            list.iter_mut().for_each(|w| *w = to_new[*w as usize]);
            out.set_links(new as u32, layer, &list);
        }
    }
    out.entry.store(((top as u64) << 32) | to_new[entry as usize] as u64, Relaxed);
    let mut reordered = Vec::with_capacity(vectors.len());
    for &old in &to_old {
        reordered.extend_from_slice(row(vectors, dim, old));
    }
    (out, reordered, to_old)
}
