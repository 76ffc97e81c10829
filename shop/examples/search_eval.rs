//! Keyword vs semantic vs hybrid product search on a query set nobody here wrote: Online Retail's own
//! alternative descriptions of its products. The retailer described many stock codes in more than one way
//! over the year ("3 DRAWER ANTIQUE WHITE WOOD CABINET" and "WOOD S/3 CABINET ANT WHITE FINISH" are both
//! stock code 82486). The demo shop lists each stock code under the first description the data gives it;
//! every *other* description of a stock code is a query whose relevant product is that stock code.
//! Kept: upper-case descriptions (the lower-case ones are stock notes: "damaged", "check") of at least two
//! words whose set of words differs from the listed name's (spacing or punctuation variants would be
//! trivial). A query text shared by several stock codes has all of them as relevant.
//!
//! Runs the shop's own search (`shopml_shop::search::find`, what `GET /products` answers) on a fresh demo
//! database, 10 results per query, and prints NDCG@10, HR@10, MRR@10 and latency per mode, plus a
//! keyword baseline that needs any word instead of all (FTS5 `OR`, BM25: hybrid's keyword side).
//!
//! usage: cargo run --release -p shopml-shop --example search_eval [-- --encoder DIR] [--db FILE]

use shopml_shop::search::{find, SearchParams};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Instant;

fn words(s: &str) -> BTreeSet<String> {
    s.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase).collect()
}

struct Scores {
    ndcg: f64,
    hr: f64,
    mrr: f64,
    micros: Vec<u128>,
}

fn score(ranked: &[String], relevant: &BTreeSet<String>, s: &mut Scores) {
    let mut dcg = 0.0;
    let mut first = None;
    for (i, sku) in ranked.iter().take(10).enumerate() {
        if relevant.contains(sku) {
            dcg += 1.0 / ((i + 2) as f64).log2();
            first.get_or_insert(i);
        }
    }
    let ideal: f64 = (0..relevant.len().min(10)).map(|i| 1.0 / ((i + 2) as f64).log2()).sum();
    s.ndcg += dcg / ideal;
    s.hr += first.is_some() as u8 as f64;
    s.mrr += first.map_or(0.0, |i| 1.0 / (i + 1) as f64);
}

fn pct(v: &mut [u128], p: f64) -> f64 {
    v.sort_unstable();
    v[((v.len() - 1) as f64 * p).round() as usize] as f64 / 1000.0
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (mut encoder, mut db) = (None, None);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--encoder" => encoder = args.next().map(std::path::PathBuf::from),
            // A database kept between runs: the product vectors are embedded once.
            "--db" => db = args.next().map(std::path::PathBuf::from),
            o => anyhow::bail!("unknown argument {o} (usage: search_eval [--encoder DIR] [--db FILE])"),
        }
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = tempfile::tempdir()?;
    let config = shopml_shop::config::Config {
        database: db.unwrap_or_else(|| dir.path().join("shop.db")).display().to_string(),
        datasets: Some(root.join("datasets")),
        chat: false,
        rate_api_per_sec: 0,
        reco_refit_minutes: 0,
        encoder: Some(shopml_encoder::model_dir(encoder.as_deref())),
        ..Default::default()
    };
    let t = Instant::now();
    let shop = shopml_shop::start(config).await?;
    eprintln!("shop started (products embedded) in {:.1} s", t.elapsed().as_secs_f64());
    let listed: HashMap<String, String> = sqlx::query_as::<_, (String, String)>("SELECT sku, name FROM products")
        .fetch_all(&shop.db)
        .await?
        .into_iter()
        .collect();
    // Query text → relevant skus.
    let file = std::fs::File::open(root.join("datasets/online-retail/online_retail.csv.gz"))?;
    let mut reader = csv::Reader::from_reader(flate2::read::GzDecoder::new(file));
    let mut queries: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for row in reader.records() {
        let row = row?;
        let (sku, desc) = (row[1].trim(), row[2].trim());
        let Some(name) = listed.get(sku) else { continue };
        let w = words(desc);
        if desc.chars().any(|c| c.is_lowercase()) || w.len() < 2 || w == words(name) {
            continue;
        }
        queries.entry(desc.to_string()).or_default().insert(sku.to_string());
    }
    eprintln!("{} queries over {} products", queries.len(), listed.len());
    println!("| mode | NDCG@10 | HR@10 | MRR@10 | p50 ms | p99 ms |\n|---|---|---|---|---|---|");
    for mode in ["keyword", "keyword-any", "hybrid", "semantic"] {
        let mut s = Scores { ndcg: 0.0, hr: 0.0, mrr: 0.0, micros: Vec::new() };
        for (q, relevant) in &queries {
            let t = Instant::now();
            let ranked: Vec<String> = match mode {
                "keyword-any" => {
                    let any = shopml_shop::search::fts_query_any(q).unwrap_or_default();
                    sqlx::query_scalar(
                        "SELECT p.sku FROM products_fts JOIN products p ON p.id = products_fts.rowid
                         WHERE products_fts MATCH $1 AND p.active = 1 ORDER BY bm25(products_fts), p.id LIMIT 10",
                    )
                    .bind(any)
                    .fetch_all(&shop.db)
                    .await?
                }
                m => {
                    let p = SearchParams {
                        q: Some(q.clone()),
                        per_page: Some(10),
                        mode: Some(m.to_string()),
                        ..Default::default()
                    };
                    find(&shop, None, p).await?.items.into_iter().map(|r| r.sku).collect()
                }
            };
            s.micros.push(t.elapsed().as_micros());
            score(&ranked, relevant, &mut s);
        }
        let n = queries.len() as f64;
        let (p50, p99) = (pct(&mut s.micros, 0.5), pct(&mut s.micros, 0.99));
        println!("| {mode} | {:.4} | {:.4} | {:.4} | {p50:.2} | {p99:.2} |", s.ndcg / n, s.hr / n, s.mrr / n);
    }
    Ok(())
}
