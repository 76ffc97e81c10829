//! The Rust side of the bindings' per-call overhead: the mean wall time of `recommend(user, k = 10)` on a
//! model file, the same calls the Python and Node timing loops make (`benches/peers/binding_overhead.py`).
//!
//! usage: call_cost MODEL_FILE CALLS USER...   → prints `{"ns_per_call": …, "calls": …}`

use reco_core::serve::Filter;
use reco_core::store::TrainedModel;
use std::hint::black_box;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 3 {
        eprintln!("usage: call_cost MODEL_FILE CALLS USER...");
        std::process::exit(2);
    }
    let model = TrainedModel::load(std::path::Path::new(&args[0])).expect("model file");
    let calls: usize = args[1].parse().expect("CALLS is a number");
    let users = &args[2..];
    let filter = Filter::default();
    // Warm up, then time: the mean of `calls` calls cycling through the users, best of 5 runs (as the
    // Python and Node loops report theirs).
    let run = |n: usize| {
        let t = Instant::now();
        for i in 0..n {
            black_box(model.recommend(&users[i % users.len()], 10, &filter).expect("recommend"));
        }
        t.elapsed().as_nanos() as f64 / n as f64
    };
    run(calls / 10);
    let best = (0..5).map(|_| run(calls)).fold(f64::INFINITY, f64::min);
    println!("{}", serde_json::json!({ "ns_per_call": best, "calls": calls }));
}
