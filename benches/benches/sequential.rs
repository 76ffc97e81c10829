//! Serving latency of SASRec's `recommend_next` (k = 10, with filters), on one thread:
//!
//! 1. **Amazon Beauty** (12,101 items, exact scoring of every item): the histories are the customers'
//!    own sequences (their last 50 items); the filter leaves out the history, 5% of the catalogue as out
//!    of stock and 10 excluded ids. The model is fitted for one epoch only: latency does not depend on
//!    the weights. Needs `../shared/datasets/amazon-beauty/Beauty.txt` (fails without it).
//! 2. **1,000,000 items through the HNSW index** over the item embeddings, queried with the final hidden
//!    state (`TrainedModel::build_index`): the network of a small fitted SASRec (hidden 64) with its item
//!    table replaced by the seeded synthetic embeddings of `shopml_benches::synthetic`; 1,000 customers
//!    with random sequences of 10–50 items, seen items excluded. Prints recall@10 against exact scoring
//!    and p50/p99 at several `ef`, then benches the smallest `ef` reaching recall 0.95.
//!
//! The timed calls run inside a one-thread rayon pool, so candle's matrix products (gemm over rayon) and
//! the index search use one thread; fitting, exact scoring and the index build use every core.
//! `SHOPML_SEQ_ITEMS` shrinks part 2. `cargo bench -p shopml-benches --bench sequential`.

use criterion::{criterion_group, criterion_main, Criterion};
use rand::{Rng, SeedableRng};
use reco_core::ann::AnnParams;
use reco_core::data::{IdMap, InteractionMatrix, ItemMeta};
use reco_core::model::{AnyModel, AnyParams, SasRec};
use reco_core::serve::Filter;
use reco_core::store::TrainedModel;
use std::collections::HashSet;
use std::hint::black_box;
use std::time::Instant;

fn one_thread<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new().num_threads(1).build().expect("pool").install(f)
}

/// p50 and p99 of `times` (µs).
fn percentiles(mut times: Vec<f64>) -> (f64, f64) {
    times.sort_by(f64::total_cmp);
    (times[times.len() / 2], times[times.len() * 99 / 100])
}

fn beauty(c: &mut Criterion) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/datasets/amazon-beauty/Beauty.txt");
    assert!(path.exists(), "{} is missing (see ../shared/datasets/README)", path.display());
    let data = reco_core::io::load_s3rec(&path).expect("Beauty loads");
    let params = AnyParams::with_params("sasrec", &[("epochs", "1")]).expect("params");
    let t = Instant::now();
    let m = TrainedModel::fit(&data, &params, &|_, _| true).expect("fit");
    println!("beauty: {} items, SASRec fitted (1 epoch) in {:.0} s", m.items().len(), t.elapsed().as_secs_f64());
    let AnyModel::SasRec(s) = m.model() else { unreachable!() };
    let histories: Vec<Vec<String>> = (0..2000u32)
        .map(|u| s.sequence(u * 11 % m.users().len() as u32).iter().map(|&i| m.items().id(i).to_string()).collect())
        .collect();
    let mut rng = rand::rngs::SmallRng::seed_from_u64(3);
    let out_of_stock: HashSet<String> = (0..m.items().len() / 20)
        .map(|_| m.items().id(rng.random_range(0..m.items().len() as u32)).to_string())
        .collect();
    let exclude: HashSet<String> = (0..10).map(|i| m.items().id(i * 7).to_string()).collect();
    let filter = Filter { out_of_stock, exclude, ..Filter::default() };
    let times = one_thread(|| {
        histories
            .iter()
            .map(|h| {
                let h: Vec<&str> = h.iter().map(String::as_str).collect();
                let t = Instant::now();
                let recs = m.recommend_next(&h, 10, &filter).expect("recommend_next");
                let us = t.elapsed().as_secs_f64() * 1e6;
                assert_eq!(recs.len(), 10);
                us
            })
            .collect::<Vec<_>>()
    });
    let (p50, p99) = percentiles(times);
    println!("beauty recommend_next k=10 with filters: p50 {p50:.0} µs, p99 {p99:.0} µs (one thread, 2000 histories)");
    let mut g = c.benchmark_group("sasrec_beauty");
    g.bench_function("recommend_next_k10_filters", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % histories.len();
            let h: Vec<&str> = histories[i].iter().map(String::as_str).collect();
            black_box(m.recommend_next(&h, 10, &filter).unwrap())
        })
    });
    g.finish();
}

const USERS: usize = 1000;

/// A named tensor's values and shape.
type Named = (Vec<f32>, Vec<usize>);

/// A SASRec over `n` items: a small fitted network (hidden 64) with the synthetic item table.
fn million(n: usize) -> TrainedModel {
    let seqs: Vec<Vec<u32>> = (0..200).map(|u| (0..8).map(|k| ((u + k) % 50) as u32).collect()).collect();
    let small = SasRec::params().hidden(64).epochs(1).fit(&seqs, 50).expect("small fit");
    let s = shopml_benches::synthetic(n, 1, 64, 1000, 7);
    let mut table = vec![0f32; 64]; // row 0: padding
    table.extend(s.items.iter());
    let mut rng = rand::rngs::SmallRng::seed_from_u64(11);
    let sequences: Vec<Vec<u32>> = (0..USERS)
        .map(|_| {
            let len = rng.random_range(10..=50);
            (0..len).map(|_| rng.random_range(0..n as u32)).collect()
        })
        .collect();
    let mut tensors: std::collections::HashMap<String, Named> = small
        .tensors()
        .into_iter()
        .map(|(name, t)| {
            let v = match name.as_str() {
                "items" => (std::mem::take(&mut table), vec![n + 1, 64]),
                _ => (t.flatten_all().unwrap().to_vec1::<f32>().unwrap(), t.dims().to_vec()),
            };
            (name, v)
        })
        .collect();
    let get = |name: &str| tensors.remove(name); // moved, not copied: the item table is 256 MB
    let model = SasRec::from_parts(small.hyper_params().clone(), n, sequences.clone(), get).expect("parts");
    let mut tri = sprs::TriMat::new((USERS, n));
    for (u, seq) in sequences.iter().enumerate() {
        let distinct: HashSet<u32> = seq.iter().copied().collect();
        distinct.into_iter().for_each(|i| tri.add_triplet(u, i as usize, 1.0f32));
    }
    let history = InteractionMatrix::from_csr(tri.to_csr());
    let users: IdMap = (0..USERS).map(|u| format!("u{u}")).collect();
    let items: IdMap = (0..n).map(|i| format!("i{i}")).collect();
    let meta = vec![ItemMeta::default(); n];
    let params = AnyParams::new("sasrec").expect("sasrec");
    TrainedModel::from_parts(AnyModel::SasRec(model), params, users, items, meta, history).expect("consistent parts")
}

fn ann(c: &mut Criterion) {
    let n: usize = std::env::var("SHOPML_SEQ_ITEMS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let mut m = million(n);
    let f = Filter::default();
    let t = Instant::now();
    let truth: Vec<Vec<String>> = (0..USERS)
        .map(|u| m.recommend_exact(&format!("u{u}"), 10, &f).unwrap().into_iter().map(|r| r.item).collect())
        .collect();
    println!("exact top-10 of {USERS} customers over {n} items in {:.1} s", t.elapsed().as_secs_f64());
    let t = Instant::now();
    m.build_index(AnnParams { partition_min: usize::MAX, ..AnnParams::default() }).expect("index");
    println!("index over {n} SASRec item embeddings built in {:.1} s", t.elapsed().as_secs_f64());
    let mut chosen = None;
    for ef in [32, 64, 128, 256, 512] {
        m.set_ef_search(ef).unwrap();
        let (times, hits) = one_thread(|| {
            let mut hits = 0;
            let times: Vec<f64> = truth
                .iter()
                .enumerate()
                .map(|(u, want)| {
                    let t = Instant::now();
                    let got = m.recommend(&format!("u{u}"), 10, &f).unwrap();
                    let us = t.elapsed().as_secs_f64() * 1e6;
                    hits += got.iter().filter(|r| want.contains(&r.item)).count();
                    us
                })
                .collect();
            (times, hits)
        });
        let recall = hits as f64 / (10 * USERS) as f64;
        let (p50, p99) = percentiles(times);
        println!("sasrec {n} items, ef {ef}: recall@10 {recall:.4}, p50 {p50:.0} µs, p99 {p99:.0} µs (one thread)");
        if chosen.is_none() && recall >= 0.95 {
            chosen = Some(ef);
        }
    }
    let ef = chosen.unwrap_or(512);
    m.set_ef_search(ef).unwrap();
    let mut g = c.benchmark_group("sasrec_ann");
    g.bench_function(format!("recommend_k10_exclude_seen_ef{ef}"), |b| {
        let mut u = 0;
        b.iter(|| {
            u = (u + 1) % USERS;
            black_box(m.recommend(&format!("u{u}"), 10, &f).unwrap())
        })
    });
    g.finish();
}

criterion_group!(benches, beauty, ann);
criterion_main!(benches);
