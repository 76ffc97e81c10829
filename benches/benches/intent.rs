//! Single-thread latency of the fast intent model on CLINC150 (`../shared/datasets`): trains the default
//! model (train + oos_train, calibrated on val + oos_val), prints p50/p99 over every test message
//! classified one at a time, then lets criterion time `classify` over a cycle of test messages.
//! `SHOPML_DATA` overrides the datasets directory.

use chatbot_core::data::load_clinc150;
use chatbot_core::intent::{Classifier, FastIntentParams};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;
use std::path::PathBuf;
use std::time::Instant;

fn intent(c: &mut Criterion) {
    let dir = std::env::var("SHOPML_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/datasets"));
    let data = load_clinc150(&dir.join("clinc150/data_full.json")).expect("CLINC150 data_full.json");
    let t = Instant::now();
    let mut clf = Classifier::new(FastIntentParams::default().fit(&data.train).expect("training"));
    clf.calibrate(&data.val, 0.6).expect("calibration");
    println!("trained on {} messages in {:.1} s", data.train.len(), t.elapsed().as_secs_f64());
    let texts: Vec<&str> = data.test.iter().map(|e| e.text.as_str()).collect();
    for t in &texts {
        black_box(clf.classify(t).unwrap()); // warm caches
    }
    let mut us: Vec<f64> = texts
        .iter()
        .map(|t| {
            let s = Instant::now();
            black_box(clf.classify(t).unwrap());
            s.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    us.sort_by(f64::total_cmp);
    let n = us.len();
    println!(
        "classify, single thread, {n} test messages: p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs",
        us[n / 2],
        us[n * 99 / 100],
        us[n - 1]
    );
    let mut g = c.benchmark_group("intent");
    g.throughput(Throughput::Elements(1));
    g.bench_function("classify_clinc150_fast", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % texts.len();
            black_box(clf.classify(texts[i]).unwrap())
        })
    });
    g.finish();
}

criterion_group!(benches, intent);
criterion_main!(benches);
