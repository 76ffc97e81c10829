//! `shopml reco ...` and `shopml demo`.

use crate::progress;
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use reco_core::data::{interaction_matrix, split::user_sequences, Dataset};
use reco_core::eval::{run_loo, Protocol, Target};
use reco_core::io::{load, Columns, Format};
use reco_core::model::AnyParams;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Subcommand)]
pub enum RecoCommand {
    /// Leave-one-out evaluation of one model on one dataset.
    Eval(EvalArgs),
    /// Train on a dataset and print one customer's top k.
    Recommend(RecommendArgs),
}

#[derive(Args, Clone)]
pub struct DataArgs {
    /// The data file itself (Beauty.txt, u.data, online_retail.csv[.gz], any .csv/.parquet); side files
    /// (Beauty_item2attributes.json, u.item) are found beside it.
    #[arg(long)]
    data: PathBuf,
    /// s3rec | movielens | online-retail | csv | parquet
    #[arg(long)]
    format: String,
    /// User column (csv/parquet).
    #[arg(long, default_value = "user")]
    user_col: String,
    /// Item column (csv/parquet).
    #[arg(long, default_value = "item")]
    item_col: String,
    /// Time column (csv/parquet): epoch seconds or dates; without it, row order.
    #[arg(long)]
    time_col: Option<String>,
    /// Weight column (csv/parquet): quantity, rating, ...; without it, 1.
    #[arg(long)]
    weight_col: Option<String>,
    /// Event-kind column (csv/parquet): view, search-click, add-to-cart, purchase.
    #[arg(long)]
    kind_col: Option<String>,
}

#[derive(Args, Clone)]
pub struct ModelArgs {
    /// pop | itemknn | als | bpr
    #[arg(long, default_value = "als")]
    model: String,
    /// Hyper-parameter, repeatable: --param factors=64 --param iterations=15
    #[arg(long = "param", value_name = "KEY=VALUE")]
    params: Vec<String>,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

#[derive(Args)]
pub struct EvalArgs {
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    model: ModelArgs,
    /// loo-full (against all items) | loo-sampled (against 99 sampled negatives)
    #[arg(long, default_value = "loo-full")]
    protocol: String,
    /// Cut-off of the metrics.
    #[arg(long, default_value_t = 10)]
    k: usize,
    /// Seed of the sampled negatives (the models have their own `seed` parameter).
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// test (reported numbers) | valid (tuning: fit without the last two items, score the second-to-last)
    #[arg(long, default_value = "test")]
    split: String,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct RecommendArgs {
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    model: ModelArgs,
    /// The customer's id as it appears in the data.
    #[arg(long)]
    user: String,
    /// How many items.
    #[arg(long, default_value_t = 10)]
    k: usize,
    /// Also recommend items the customer already has.
    #[arg(long)]
    include_seen: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct DemoArgs {
    /// Customer id (default: 17850, the first customer of the data).
    #[arg(long, default_value = "17850")]
    user: String,
    /// pop | itemknn | als | bpr
    #[arg(long, default_value = "als")]
    model: String,
    /// The shipped data (default: datasets/online-retail/online_retail.csv.gz of this repository).
    #[arg(long)]
    data: Option<PathBuf>,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

pub fn run(cmd: RecoCommand) -> Result<()> {
    match cmd {
        RecoCommand::Eval(a) => eval(a),
        RecoCommand::Recommend(a) => recommend(a),
    }
}

fn load_data(a: &DataArgs) -> Result<Dataset> {
    let format: Format = a.format.parse()?;
    let columns = Columns {
        user: a.user_col.clone(),
        item: a.item_col.clone(),
        time: a.time_col.clone(),
        weight: a.weight_col.clone(),
        kind: a.kind_col.clone(),
    };
    Ok(load(&a.data, format, &columns)?)
}

fn params(m: &ModelArgs) -> Result<AnyParams> {
    let mut p = AnyParams::new(&m.model)?;
    for kv in &m.params {
        let Some((k, v)) = kv.split_once('=') else { bail!("--param `{kv}`: expected KEY=VALUE") };
        p = p.set(k.trim(), v)?;
    }
    Ok(p)
}

fn eval(a: EvalArgs) -> Result<()> {
    if a.k == 0 {
        bail!("--k must be at least 1");
    }
    let protocol: Protocol = a.protocol.parse()?;
    let target: Target = a.split.parse()?;
    let p = params(&a.model)?;
    let data = load_data(&a.data)?;
    let bar = progress::bar("fit", a.model.quiet);
    let on_step = |done: usize, total: usize| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    };
    let run = run_loo(&data, &p, protocol, a.k, a.seed, target, &on_step)?;
    bar.finish_and_clear();
    let k = a.k;
    let m = &run.report.metrics;
    if a.json {
        let mut metrics = serde_json::Map::new();
        for (name, v) in
            [("hr", m.hr), ("ndcg", m.ndcg), ("precision", m.precision), ("recall", m.recall), ("f1", m.f1)]
        {
            metrics.insert(format!("{name}@{k}"), json!(v));
        }
        metrics.insert("mrr".into(), json!(m.mrr));
        metrics.insert(format!("coverage@{k}"), json!(run.report.coverage));
        let out = json!({
            "dataset": data.name,
            "model": a.model.model,
            "protocol": protocol.name(),
            "split": a.split,
            "k": k,
            "users_evaluated": run.report.users_evaluated,
            "metrics": metrics,
            "fit_seconds": run.fit_seconds,
            "eval_seconds": run.eval_seconds,
        });
        println!("{out}");
    } else {
        println!(
            "dataset   {} ({} users, {} items, {} interactions)",
            data.name,
            data.n_users(),
            data.n_items(),
            data.interactions.len()
        );
        println!(
            "model     {}   protocol {}   split {}   users evaluated {}",
            a.model.model,
            protocol.name(),
            a.split,
            run.report.users_evaluated
        );
        println!(
            "HR@{k:<4} {:.4}   NDCG@{k:<4} {:.4}   P@{k:<4} {:.4}   R@{k:<4} {:.4}",
            m.hr, m.ndcg, m.precision, m.recall
        );
        println!("F1@{k:<4} {:.4}   MRR     {:.4}   coverage@{k} {:.4}", m.f1, m.mrr, run.report.coverage);
        println!("fit {:.2} s   eval {:.2} s", run.fit_seconds, run.eval_seconds);
    }
    Ok(())
}

fn recommend(a: RecommendArgs) -> Result<()> {
    let data = load_data(&a.data)?;
    let p = params(&a.model)?;
    print_recommendations(&data, &p, &a.user, a.k, !a.include_seen, a.model.quiet, a.json)
}

/// Fits on all of `data` and prints `user`'s history tail and top `k`.
fn print_recommendations(
    data: &Dataset,
    p: &AnyParams,
    user: &str,
    k: usize,
    exclude_seen: bool,
    quiet: bool,
    as_json: bool,
) -> Result<()> {
    if k == 0 {
        bail!("--k must be at least 1");
    }
    let u = data
        .users
        .get(user)
        .with_context(|| format!("unknown user `{user}` in {} ({} users)", data.name, data.n_users()))?;
    let train = interaction_matrix(&data.interactions, data.n_users(), data.n_items());
    let bar = progress::bar("fit", quiet);
    let on_step = |done: usize, total: usize| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    };
    let start = Instant::now();
    let model = p.fit(&train, &on_step)?;
    bar.finish_and_clear();
    let fit_seconds = start.elapsed().as_secs_f64();
    let top = model.recommend(u, k, exclude_seen.then_some(&train))?;
    let label = |i: u32| data.item_meta[i as usize].text.clone().unwrap_or_default();
    if as_json {
        let items: Vec<_> =
            top.iter().map(|&(i, s)| json!({"item": data.items.id(i), "score": s, "text": label(i)})).collect();
        println!("{}", json!({"user": user, "model": model.name(), "fit_seconds": fit_seconds, "items": items}));
        return Ok(());
    }
    let seq = &user_sequences(data)[u as usize];
    println!(
        "{} — {} customers, {} products, {} purchases; {} fitted in {:.2} s",
        data.name,
        data.n_users(),
        data.n_items(),
        data.interactions.len(),
        model.name(),
        fit_seconds
    );
    println!("\ncustomer {user} bought {} distinct products; the latest:", seq.len());
    for &i in seq.iter().rev().take(5) {
        println!("  {:<10} {}", data.items.id(i), label(i));
    }
    println!("\ntop {k} for customer {user}:");
    for (rank, &(i, s)) in top.iter().enumerate() {
        println!("  {:>2}. {:<10} {:<40} {:.3}", rank + 1, data.items.id(i), label(i), s);
    }
    Ok(())
}

pub fn demo(a: DemoArgs) -> Result<()> {
    let path = match a.data {
        Some(p) => p,
        None => shipped_online_retail()?,
    };
    let (data, stats) = reco_core::io::load_online_retail(&path)?;
    println!(
        "loaded {}: {} rows, {} purchases kept (dropped: {} cancellations, {} adjustments, {} non-product lines; {} guest rows feed the catalogue only)",
        path.display(), stats.rows, stats.kept, stats.cancellations, stats.non_positive_quantity, stats.non_product, stats.guest_rows
    );
    let p = AnyParams::new(&a.model)?;
    print_recommendations(&data, &p, &a.user, 10, true, a.quiet, false)
}

/// `datasets/online-retail/online_retail.csv.gz`, looked up from the current directory upwards and then
/// from the source tree this binary was built from.
fn shipped_online_retail() -> Result<PathBuf> {
    let rel = Path::new("datasets/online-retail/online_retail.csv.gz");
    let mut dir = std::env::current_dir().ok();
    while let Some(d) = dir {
        if d.join(rel).exists() {
            return Ok(d.join(rel));
        }
        dir = d.parent().map(Path::to_path_buf);
    }
    let built = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel);
    if built.exists() {
        return Ok(built);
    }
    bail!("cannot find {} (run from the shopml repository, or pass --data)", rel.display())
}
