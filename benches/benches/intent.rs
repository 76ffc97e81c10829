//! Single-thread latency of the fast intent model on CLINC150 (`../shared/datasets`): trains the default
//! model (train + oos_train, calibrated on val + oos_val), prints p50/p99 over every test message
//! classified one at a time, then lets criterion time `classify` over a cycle of test messages.
//! `SHOPML_DATA` overrides the datasets directory.
//!
//! Then a whole assistant turn (`Assistant::reply`: entities with typo-tolerant product matching, intent,
//! dialogue state, the demo store built from the shipped Online Retail data) over a cycle of customer
//! messages, each in its own conversation, with the shipped assistant model.

use chatbot_core::data::load_clinc150;
use chatbot_core::dialogue::{Assistant, BotConfig};
use chatbot_core::intent::{train_shop_assistant, Classifier, FastIntentParams, DEFAULT_OOS_RECALL};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;
use std::path::PathBuf;
use std::time::Instant;

/// Times `run(i)` for `i` in `0..n` one at a time and prints p50 / p99 / max in µs.
fn latencies(what: &str, n: usize, mut run: impl FnMut(usize)) {
    let mut us: Vec<f64> = (0..n)
        .map(|i| {
            let s = Instant::now();
            run(i);
            s.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    us.sort_by(f64::total_cmp);
    println!("{what} ({n}): p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs", us[n / 2], us[n * 99 / 100], us[n - 1]);
}

fn intent(c: &mut Criterion) {
    let dir = std::env::var("SHOPML_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/datasets"));
    let data = load_clinc150(&dir.join("clinc150/data_full.json")).expect("CLINC150 data_full.json");
    let t = Instant::now();
    let mut clf = Classifier::new(FastIntentParams::default().fit(&data.train).expect("training"));
    clf.calibrate(&data.val, DEFAULT_OOS_RECALL).expect("calibration");
    println!("trained on {} messages in {:.1} s", data.train.len(), t.elapsed().as_secs_f64());
    let texts: Vec<&str> = data.test.iter().map(|e| e.text.as_str()).collect();
    for t in &texts {
        black_box(clf.classify(t).unwrap()); // warm caches
    }
    latencies("classify, single thread, test messages", texts.len(), |i| {
        black_box(clf.classify(texts[i]).unwrap());
    });
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

const MESSAGES: &[&str] = &[
    "where is my order 536365?",
    "I want to track my order",
    "do you have the white hangng hart t-light holder under 5 pounds?",
    "show me lunch bags between £1 and 2",
    "a regency cakestnd please",
    "what do you recommend?",
    "I need to cancel an order",
    "how do I get a refund",
    "what is the capital of peru",
    "can I talk to a human agent please",
    "change delivery address for order 536365",
    "yes",
];

fn reply(c: &mut Criterion) {
    let datasets = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../datasets");
    let clf = train_shop_assistant(&datasets).expect("the shipped training data");
    let store = storefront::Store::from_one(
        storefront::shipped::demo_store(&datasets).expect("the shipped Online Retail data"),
    );
    let bot = Assistant::new(clf, store, BotConfig::default()).expect("assistant");
    latencies("reply, single thread, turns", 2000, |i| {
        black_box(bot.reply(&format!("c{i}"), Some("17850"), MESSAGES[i % MESSAGES.len()]).unwrap());
    });
    let mut g = c.benchmark_group("assistant");
    g.throughput(Throughput::Elements(1));
    g.bench_function("reply_demo_store", |b| {
        let mut i = 0usize;
        b.iter(|| {
            i += 1;
            black_box(bot.reply(&format!("c{i}"), Some("17850"), MESSAGES[i % MESSAGES.len()]).unwrap())
        })
    });
    g.finish();
}

criterion_group!(benches, intent, reply);
criterion_main!(benches);
