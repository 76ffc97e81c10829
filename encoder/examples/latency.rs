//! Single-message latency of the encoder: 300 distinct customer messages (15 tokens each), embedded one
//! at a time, p50 / p99. Run on one thread as the issue asks:
//!
//! `RAYON_NUM_THREADS=1 cargo run --release -p shopml-encoder --example latency [-- MODEL_DIR]`
use std::time::Instant;

fn main() {
    let dir = shopml_encoder::model_dir(std::env::args().nth(1).as_deref().map(std::path::Path::new));
    let enc = shopml_encoder::Encoder::load(&dir).expect("encoder (run scripts/fetch-minilm)");
    let texts: Vec<String> =
        (0..300).map(|i| format!("can you tell me where my order number {i} is right now please")).collect();
    let tokens = enc.token_ids(&[texts[0].as_str()]).expect("tokens")[0].len();
    let mut ms: Vec<f64> = texts
        .iter()
        .map(|t| {
            let start = Instant::now();
            enc.embed(&[t.as_str()]).expect("embed");
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    ms.sort_by(f64::total_cmp);
    let n = ms.len();
    println!("{n} messages of {tokens} tokens: p50 {:.2} ms, p99 {:.2} ms", ms[n / 2], ms[n * 99 / 100]);
}
