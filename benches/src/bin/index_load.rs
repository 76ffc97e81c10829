//! How long a large indexed model takes to be serving-ready after a restart: loading a file without the
//! graphs and building the index again (what every load did before the graphs were saved) against loading
//! a file that carries them; and recall@10 of the served answers (category filter, seen items excluded)
//! against exact scoring, before saving and after loading. One JSON line per measurement.
//!
//! usage: index_load [--n 1000000] [--users 1000] [--categories 10] [--dir target/index_load]

use reco_core::ann::AnnParams;
use reco_core::store::TrainedModel;
use shopml_benches::{catalogue_model, category_filter};
use std::path::PathBuf;
use std::time::Instant;

fn recall(m: &TrainedModel, truth: &[Vec<String>], categories: usize) -> Result<f64, reco_core::RecoError> {
    let mut hits = 0;
    for (u, want) in truth.iter().enumerate() {
        let got = m.recommend(&format!("u{u}"), 10, &category_filter(u, categories))?;
        hits += got.iter().filter(|r| want.contains(&r.item)).count();
    }
    Ok(hits as f64 / (10 * truth.len()) as f64)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |name: &str, default: &str| -> String {
        args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned().unwrap_or(default.into())
    };
    let n: usize = arg("--n", "1000000").parse()?;
    let users: usize = arg("--users", "1000").parse()?;
    let categories: usize = arg("--categories", "10").parse()?;
    let dir = PathBuf::from(arg("--dir", "target/index_load"));
    std::fs::create_dir_all(&dir)?;
    let (with, without) = (dir.join("indexed.shopml"), dir.join("plain.shopml"));

    let mut m = catalogue_model(n, users, categories);
    let truth: Vec<Vec<String>> = (0..users)
        .map(|u| m.recommend_exact(&format!("u{u}"), 10, &category_filter(u, categories)))
        .map(|r| r.map(|recs| recs.into_iter().map(|r| r.item).collect()))
        .collect::<Result<_, _>>()?;
    let t = Instant::now();
    m.build_index(AnnParams::default())?;
    let build = t.elapsed().as_secs_f64();
    let recall_built = recall(&m, &truth, categories)?;
    m.save(&with)?;
    let mut plain = m.clone();
    plain.drop_index();
    plain.save(&without)?;
    drop((m, plain));
    let size = |p: &PathBuf| std::fs::metadata(p).map(|m| m.len() as f64 / 1e6);
    println!(
        "{}",
        serde_json::json!({"items": n, "categories": categories, "build_index_seconds": build,
            "recall@10": recall_built, "file_mb_with_index": size(&with)?, "file_mb_without": size(&without)?})
    );

    let t = Instant::now();
    let mut before = TrainedModel::load(&without)?;
    let load_plain = t.elapsed().as_secs_f64();
    before.build_index(AnnParams::default())?;
    let ready_before = t.elapsed().as_secs_f64();
    drop(before);
    let t = Instant::now();
    let after = TrainedModel::load(&with)?;
    let ready_after = t.elapsed().as_secs_f64();
    if after.index_params().is_none() {
        return Err("the index did not come back".into());
    }
    let recall_loaded = recall(&after, &truth, categories)?;
    println!(
        "{}",
        serde_json::json!({"items": n, "before_load_seconds": load_plain, "before_ready_seconds": ready_before,
            "after_ready_seconds": ready_after, "recall@10_after_load": recall_loaded})
    );
    Ok(())
}
