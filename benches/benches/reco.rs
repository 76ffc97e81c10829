//! Criterion benches of reco-core's hot paths on seeded synthetic data shaped like Beauty
//! (20,000 users, 12,000 items, ~180,000 interactions with a popularity skew).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rand::{Rng, SeedableRng};
use reco_core::data::InteractionMatrix;
use reco_core::model::{Als, ItemKnn, Recommender};
use std::hint::black_box;

fn synthetic(n_users: usize, n_items: usize, per_user: usize, seed: u64) -> InteractionMatrix {
    let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
    let mut tri = sprs::TriMat::new((n_users, n_items));
    for u in 0..n_users {
        for _ in 0..per_user {
            // squared uniform: a long-tail item popularity
            let r: f64 = rng.random();
            tri.add_triplet(u, ((r * r) * n_items as f64) as usize, 1.0f32);
        }
    }
    InteractionMatrix::from_csr(tri.to_csr())
}

fn als_iteration(c: &mut Criterion) {
    let m = synthetic(20_000, 12_000, 9, 42);
    let mut g = c.benchmark_group("als");
    g.sample_size(10);
    g.throughput(Throughput::Elements(m.nnz() as u64));
    for factors in [32, 64] {
        let p = Als::params().factors(factors).iterations(1);
        g.bench_with_input(BenchmarkId::new("one_iteration", factors), &p, |b, p| {
            b.iter(|| black_box(p.fit(&m).unwrap()))
        });
    }
    g.finish();
}

fn score_one_user(c: &mut Criterion) {
    let m = synthetic(20_000, 12_000, 9, 7);
    let als = Als::params().factors(64).iterations(2).fit(&m).unwrap();
    let knn = ItemKnn::params().fit(&m).unwrap();
    let mut out = vec![0.0f32; m.n_items()];
    let mut g = c.benchmark_group("score_one_user");
    g.throughput(Throughput::Elements(m.n_items() as u64));
    g.bench_function("als_64_factors_12k_items", |b| b.iter(|| als.score_user(black_box(123), &mut out)));
    g.bench_function("itemknn_12k_items", |b| b.iter(|| knn.score_user(black_box(123), &mut out)));
    g.bench_function("als_recommend_top10_exclude_seen", |b| {
        b.iter(|| als.recommend(black_box(123), 10, Some(&m)).unwrap())
    });
    g.finish();
}

criterion_group!(benches, als_iteration, score_one_user);
criterion_main!(benches);
