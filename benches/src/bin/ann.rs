//! Build time, recall@10 and single-thread queries/s of shopml's HNSW inner-product index against exact
//! brute force, on (a) ALS item factors trained on Amazon Beauty and (b) seeded synthetic embeddings; with
//! `--hnsw-rs`, also hnsw_rs (which built shopml's graph before) on the same vectors: its build time and
//! its own search.
//! Writes the transformed vectors, queries and exact answers to `--out` so `benches/peers/ann_peer.py`
//! can run hnswlib on exactly the same L2 problem, and prints one JSON line per measurement.
//!
//! usage (`--n 0`: the trained set only): ann [--hnsw-rs] [--n 1000000] [--dim 64] [--clusters 1000] [--queries 1000] [--efs 10,20,40,80,160,320]
//!            [--beauty ../shared/datasets/amazon-beauty/Beauty.txt] [--out target/ann]

use hnsw_rs::anndists::dist::distances::Distance;
use hnsw_rs::hnsw::Hnsw;
use ndarray::Array2;
use reco_core::ann::{augment_items, AnnParams, InnerProductIndex};
use reco_core::model::kernels::dot;
use reco_core::model::Als;
use shopml_benches::{exact_top_k, recall, synthetic};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

const K: usize = 10;

/// `M² − a·b` (clamped at 0: hnsw_rs asserts non-negative distances): the inner-product dissimilarity
/// for hnsw_rs, with queries scaled to norm `M` ([`InnerProductIndex::scale_query`]).
#[derive(Debug, Default, Clone, Copy)]
struct NegativeDot {
    offset: f32,
}

impl Distance<f32> for NegativeDot {
    fn eval(&self, a: &[f32], b: &[f32]) -> f32 {
        (self.offset - dot(a, b)).max(0.0)
    }
}

type NativeHnsw = Hnsw<'static, f32, NegativeDot>;

/// hnsw_rs' graph over `items` (M 16, ef_construction 200, parallel insertion), as shopml built it before.
fn build_hnsw_rs(items: &Array2<f32>) -> NativeHnsw {
    let (n, d) = items.dim();
    let max_sq = items.rows().into_iter().map(|r| r.dot(&r)).fold(0.0f32, f32::max);
    let layers = 16.min((n as f32).ln().ceil().max(1.0) as usize);
    let hnsw = Hnsw::new(16, n, layers, 200, NegativeDot { offset: max_sq });
    let rows = items.as_slice().expect("standard layout");
    let batch: Vec<(&[f32], usize)> = rows.chunks_exact(d).enumerate().map(|(i, v)| (v, i)).collect();
    hnsw.parallel_insert_slice(&batch);
    hnsw
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |name: &str, default: &str| -> String {
        args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned().unwrap_or(default.into())
    };
    let n: usize = arg("--n", "1000000").parse()?;
    let with_hnsw_rs = args.iter().any(|a| a == "--hnsw-rs");
    let dim: usize = arg("--dim", "64").parse()?;
    let clusters: usize = arg("--clusters", "1000").parse()?;
    let n_queries: usize = arg("--queries", "1000").parse()?;
    let efs: Vec<usize> = arg("--efs", "10,20,40,80,160,320").split(',').map(str::parse).collect::<Result<_, _>>()?;
    let out = PathBuf::from(arg("--out", "target/ann"));
    let beauty = PathBuf::from(arg("--beauty", "../shared/datasets/amazon-beauty/Beauty.txt"));

    if beauty.exists() {
        let data = reco_core::io::load_s3rec(&beauty)?;
        let m = data.matrix();
        let als = Als::params().factors(64).fit(&m)?;
        let users: Vec<usize> = (0..n_queries.min(m.n_users())).map(|i| i * m.n_users() / n_queries).collect();
        let queries = als.user_factors().select(ndarray::Axis(0), &users);
        run("beauty-als-64", als.item_factors(), &queries, &efs, &out.join("beauty"), with_hnsw_rs)?;
    } else {
        eprintln!("{} not found: skipping the trained-embedding set", beauty.display());
    }
    if n == 0 {
        return Ok(());
    }
    let t = Instant::now();
    let s = synthetic(n, n_queries, dim, clusters, 42);
    eprintln!("generated {n} × {dim} in {:.1} s", t.elapsed().as_secs_f64());
    run(&format!("synthetic-{n}x{dim}"), &s.items, &s.queries, &efs, &out.join("synthetic"), with_hnsw_rs)?;
    Ok(())
}

fn run(
    name: &str,
    items: &Array2<f32>,
    queries: &Array2<f32>,
    efs: &[usize],
    dir: &Path,
    with_hnsw_rs: bool,
) -> Result<(), Box<dyn std::error::Error>> {
    std::fs::create_dir_all(dir)?;
    let t = Instant::now();
    let truth = exact_top_k(items, queries, K, |_, _| true);
    let exact_s = t.elapsed().as_secs_f64();
    let threads = rayon::current_num_threads();
    let t = Instant::now();
    let index = InnerProductIndex::build(items, AnnParams::default())?;
    let build_s = t.elapsed().as_secs_f64();
    let line = serde_json::json!({"dataset": name, "system": "shopml", "items": items.nrows(),
        "dim": items.ncols(), "queries": queries.nrows(), "build_seconds": build_s, "build_threads": threads,
        "exact_seconds_per_query": exact_s / queries.nrows() as f64});
    println!("{line}");
    std::io::stdout().flush()?;
    let native = match with_hnsw_rs {
        true => {
            let t = Instant::now();
            let h = build_hnsw_rs(&items.as_standard_layout().to_owned());
            let line = serde_json::json!({"dataset": name, "system": "hnsw_rs search",
                "build_seconds": t.elapsed().as_secs_f64(), "build_threads": threads});
            println!("{line}");
            Some(h)
        }
        false => None,
    };
    // Warm-up (page faults on the vectors and the graph, the per-thread visited list).
    for q in queries.rows().into_iter().take(200) {
        index.search(q.as_slice().unwrap(), K, Some(efs[0]), None)?;
        if let Some(native) = &native {
            native.search(&index.scale_query(q.as_slice().unwrap()), K, efs[0]);
        }
    }
    for &ef in efs {
        let t = Instant::now();
        let got: Vec<Vec<u32>> = queries
            .rows()
            .into_iter()
            .map(|q| {
                index.search(q.as_slice().unwrap(), K, Some(ef), None).map(|r| r.into_iter().map(|x| x.0).collect())
            })
            .collect::<Result<_, _>>()?;
        let secs = t.elapsed().as_secs_f64();
        let line = serde_json::json!({"dataset": name, "system": "shopml", "ef": ef, "recall@10": recall(&got, &truth),
            "qps": queries.nrows() as f64 / secs});
        println!("{line}");
        // hnsw_rs' own search on its graph, for the record.
        let Some(native) = &native else { continue };
        let t = Instant::now();
        let got: Vec<Vec<u32>> = queries
            .rows()
            .into_iter()
            .map(|q| {
                native.search(&index.scale_query(q.as_slice().unwrap()), K, ef).iter().map(|n| n.d_id as u32).collect()
            })
            .collect();
        let secs = t.elapsed().as_secs_f64();
        let line = serde_json::json!({"dataset": name, "system": "hnsw_rs search", "ef": ef,
            "recall@10": recall(&got, &truth), "qps": queries.nrows() as f64 / secs});
        println!("{line}");
        std::io::stdout().flush()?;
    }
    // The same problem for the peer: items, queries, exact answers; and the MIPS→L2 reduction of it.
    write_f32(&dir.join("items.f32"), items.iter().copied())?;
    write_f32(&dir.join("queries.f32"), queries.iter().copied())?;
    let (aug, _) = augment_items(items);
    write_f32(&dir.join("items_l2.f32"), aug.iter().flatten().copied())?;
    let qs: Vec<Vec<f32>> = queries.rows().into_iter().map(|q| index.augment_query(q.as_slice().unwrap())).collect();
    write_f32(&dir.join("queries_l2.f32"), qs.iter().flatten().copied())?;
    let gt: Vec<u8> = truth.iter().flatten().flat_map(|i| i.to_le_bytes()).collect();
    std::fs::write(dir.join("truth.u32"), gt)?;
    let meta = serde_json::json!({"dataset": name, "items": items.nrows(), "dim": items.ncols(),
        "queries": queries.nrows(), "k": K});
    std::fs::write(dir.join("meta.json"), meta.to_string())?;
    std::mem::forget(native); // dropping a million-node hnsw_rs graph takes minutes; the process ends here
    Ok(())
}

fn write_f32(path: &Path, values: impl Iterator<Item = f32>) -> std::io::Result<()> {
    let mut w = std::io::BufWriter::new(std::fs::File::create(path)?);
    for v in values {
        w.write_all(&v.to_le_bytes())?;
    }
    w.flush()
}
