//! Recall against brute force, additions and removals without a rebuild, parts round trips.

use super::*;
use crate::eval::top_k;
use rand::{Rng, SeedableRng};

/// Seeded vectors shaped like embeddings: 50 Gaussian-ish clusters in a 16-d space with varying norms.
fn clustered(n: usize, d: usize, seed: u64) -> Array2<f32> {
    let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
    let centres: Vec<Vec<f32>> = (0..50).map(|_| (0..d).map(|_| rng.random::<f32>() * 2.0 - 1.0).collect()).collect();
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
fn bad_input_is_rejected() {
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

fn recall_of(
    index: &InnerProductIndex,
    items: &Array2<f32>,
    queries: &Array2<f32>,
    allow: impl Fn(usize) -> bool,
) -> f64 {
    let allow = &allow as &dyn Fn(usize) -> bool;
    let (mut hits, mut total) = (0, 0);
    for q in queries.rows() {
        let q = q.as_slice().unwrap();
        let want = exact(items, q, 10, allow);
        let got = index.search(q, 10, Some(200), Some(&allow)).unwrap();
        assert!(got.iter().all(|&(i, _)| allow(i as usize)), "only allowed items come back");
        hits += got.iter().filter(|(i, _)| want.contains(i)).count();
        total += want.len();
    }
    hits as f64 / total as f64
}

/// Items added after the build are found as well as built ones; removed items never come back and the
/// rest keep their recall.
#[test]
fn insert_and_remove_without_a_rebuild() {
    let all = clustered(6_000, 16, 11);
    let first = all.select(ndarray::Axis(0), &(0..4_000).collect::<Vec<_>>());
    let mut index = InnerProductIndex::build(&first, AnnParams::default()).unwrap();
    for (i, row) in all.rows().into_iter().enumerate().skip(4_000) {
        assert_eq!(index.insert(row.as_slice().unwrap()).unwrap(), i);
    }
    let queries = clustered(200, 16, 12);
    let recall = recall_of(&index, &all, &queries, |_| true);
    assert!(recall >= 0.95, "recall@10 after 2,000 additions {recall}");
    // The added items are reachable: searched alone (a filter), they are found as well.
    let recall = recall_of(&index, &all, &queries, |i| i >= 4_000);
    assert!(recall >= 0.95, "recall@10 among the added items {recall}");
    for i in (0..6_000).step_by(3) {
        index.remove(i).unwrap();
    }
    assert_eq!(index.removed(), 2_000);
    for q in queries.rows() {
        let got = index.search(q.as_slice().unwrap(), 10, None, None).unwrap();
        assert!(got.len() == 10 && got.iter().all(|&(i, _)| i % 3 != 0), "removed items never come back");
    }
    let recall = recall_of(&index, &all, &queries, |i| i % 3 != 0);
    assert!(recall >= 0.95, "recall@10 after removing a third {recall}");
    assert!(index.remove(6_000).is_err());
    assert!(index.insert(&[1.0; 3]).is_err());
    assert!(index.insert(&[f32::NAN; 16]).is_err());
}

/// An index taken apart and put back answers exactly as before (also after additions and removals).
#[test]
fn parts_round_trip() {
    let all = clustered(3_000, 8, 21);
    let mut index =
        InnerProductIndex::build(&all.select(ndarray::Axis(0), &(0..2_500).collect::<Vec<_>>()), AnnParams::default())
            .unwrap();
    for row in all.rows().into_iter().skip(2_500) {
        index.insert(row.as_slice().unwrap()).unwrap();
    }
    index.remove(7).unwrap();
    let back = InnerProductIndex::from_parts(index.to_parts(), &all).unwrap();
    assert_eq!(back.to_parts(), index.to_parts());
    for q in clustered(50, 8, 22).rows() {
        let q = q.as_slice().unwrap();
        assert_eq!(back.search(q, 10, None, None).unwrap(), index.search(q, 10, None, None).unwrap());
    }
}

/// Damaged parts are errors naming the inconsistency, never a panic in search.
#[test]
fn damaged_parts_are_refused() {
    let items = clustered(500, 8, 31);
    let index = InnerProductIndex::build(&items, AnnParams::default()).unwrap();
    let good = index.to_parts();
    let cap = good.cap0 + 1;
    type Damage = Box<dyn Fn(&mut IndexParts)>;
    let cases: Vec<(&str, Damage)> = vec![
        ("link out of range", Box::new(|p| p.links0[1] = 500)),
        ("count too large", Box::new(move |p| p.links0[cap] = 1_000)),
        ("not a permutation", Box::new(|p| p.to_old[0] = p.to_old[1])),
        (
            "short links",
            Box::new(|p| {
                p.links0.pop();
            }),
        ),
        ("entry not on top", Box::new(|p| p.entry = p.levels.iter().position(|&l| l == 0).unwrap() as u32)),
        ("level too high", Box::new(|p| p.levels[3] = 200)),
        (
            "upper offset",
            Box::new(|p| {
                let i = p.upper_at.iter().position(|&a| a != u32::MAX).unwrap();
                p.upper_at[i] += 1;
            }),
        ),
        ("upper link", Box::new(|p| p.upper[1] = 9_999)),
        (
            "removed length",
            Box::new(|p| {
                p.removed.pop();
            }),
        ),
        (
            "upper link to a node without that layer",
            Box::new(|p| {
                let i = p.upper_at.iter().position(|&a| a != u32::MAX).unwrap();
                let flat = p.levels.iter().position(|&l| l == 0).unwrap() as u32;
                let at = p.upper_at[i] as usize;
                p.upper[at] = 1;
                p.upper[at + 1] = flat;
            }),
        ),
        ("too few slots", Box::new(|p| p.limit0 = 3)),
    ];
    for (name, damage) in cases {
        let mut p = good.clone();
        damage(&mut p);
        let err = InnerProductIndex::from_parts(p, &items).expect_err(name).to_string();
        assert!(err.contains("inconsistent index"), "{name}: {err}");
    }
    let mut p = good.clone();
    p.params.m = 1;
    let err = InnerProductIndex::from_parts(p, &items).unwrap_err().to_string();
    assert!(err.contains("must be in [2, 256]"), "{err}");
    let wrong_items = clustered(499, 8, 31);
    assert!(InnerProductIndex::from_parts(good, &wrong_items).is_err());
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { failure_persistence: None, ..Default::default() })]

    /// Whatever values a damaged file puts in the graph arrays: `from_parts` refuses them or the index
    /// searches (walking the graph: 600 items, ef 10), inserts and removes without panicking.
    #[test]
    fn fuzz_index_parts_never_panic(
        edits in proptest::collection::vec((0usize..8, 0usize..100_000, 0u32..1_000), 1..4)
    ) {
        static GOOD: std::sync::OnceLock<(Array2<f32>, IndexParts)> = std::sync::OnceLock::new();
        let (items, good) = GOOD.get_or_init(|| {
            let items = clustered(600, 8, 41);
            let parts = InnerProductIndex::build(&items, AnnParams::default()).unwrap().to_parts();
            (items, parts)
        });
        let mut p = good.clone();
        for &(field, at, v) in &edits {
            let set = |xs: &mut Vec<u32>| { let n = xs.len(); if n > 0 { xs[at % n] = v; } };
            match field {
                0 => set(&mut p.links0),
                1 => set(&mut p.upper),
                2 => set(&mut p.upper_at),
                3 => set(&mut p.to_old),
                4 => { let n = p.levels.len(); p.levels[at % n] = (v % 20) as u8; }
                5 => p.entry = v,
                6 => { p.cap0 = v as usize % 64; p.limit0 = at % 64; }
                _ => { let n = p.removed.len(); p.removed[at % n] ^= true; }
            }
        }
        let outcome = std::panic::catch_unwind(|| {
            if let Ok(mut index) = InnerProductIndex::from_parts(p, items) {
                for q in items.rows().into_iter().step_by(97) {
                    let _ = index.search(q.as_slice().unwrap(), 5, Some(10), None);
                }
                let _ = index.insert(items.row(1).as_slice().unwrap());
                let _ = index.remove(3);
                let _ = index.search(items.row(5).as_slice().unwrap(), 5, Some(10), None);
            }
        });
        proptest::prop_assert!(outcome.is_ok(), "panicked after {edits:?}");
    }
}
