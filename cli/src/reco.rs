//! `shopml reco ...` and `shopml demo`.

use crate::progress;
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use reco_core::data::{Dataset, KindWeights};
use reco_core::eval::{run_cold_start, run_loo, Protocol, Target};
use reco_core::io::{load, Columns, Format};
use reco_core::model::{AnyParams, Recommender};
use reco_core::serve::{Filter, Recommendation};
use reco_core::store::TrainedModel;
use serde_json::json;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Subcommand)]
pub enum RecoCommand {
    /// Leave-one-out evaluation of one model on one dataset.
    Eval(EvalArgs),
    /// Train on a dataset and save the model to one file.
    Train(TrainArgs),
    /// A customer's top k, from a saved model (--model-file) or trained on the fly (--data).
    Recommend(RecommendArgs),
}

#[derive(Args, Clone)]
pub struct DataArgs {
    /// The data file itself (Beauty.txt, u.data, online_retail.csv[.gz], any .csv/.parquet); side files
    /// (Beauty_item2attributes.json, u.item) are found beside it.
    #[arg(long)]
    data: Option<PathBuf>,
    /// s3rec | movielens | online-retail | csv | parquet
    #[arg(long)]
    format: Option<String>,
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
    /// How much each kind counts, e.g. `view=0.1,add-to-cart=0.5` (the rest keep their defaults: view
    /// 0.25, search-click 0.25, add-to-cart 0.5, purchase 1; 0 leaves a kind out).
    /// With mixed kinds, `reco eval` holds out each customer's last purchase.
    #[arg(long, value_name = "KIND=WEIGHT,...", default_value = "")]
    kind_weights: String,
}

#[derive(Args, Clone)]
pub struct ModelArgs {
    /// pop | itemknn | als | bpr | gmf | mlp | neumf | content | hybrid | transition | sknn | sasrec (sequential) |
    /// fusion (sasrec + transition; `a=`, `b=`, `weight=`, `tune=true`, `a.KEY=`, `b.KEY=`)
    #[arg(long, default_value = "als")]
    model: String,
    /// Hyper-parameter, repeatable: --param factors=64 --param iterations=15
    #[arg(long = "param", value_name = "KEY=VALUE")]
    params: Vec<String>,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
    /// The sentence encoder's model directory for `--param text=encoder` (default: $SHOPML_ENCODER_DIR,
    /// else scripts/fetch-minilm's).
    #[arg(long)]
    encoder: Option<PathBuf>,
}

#[derive(Args)]
pub struct EvalArgs {
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    model: ModelArgs,
    /// loo-full (against all items) | loo-sampled (against 99 sampled negatives) | cold-items (hold out
    /// --cold-fraction of the products entirely; rank each user's first held-out product)
    #[arg(long, default_value = "loo-full")]
    protocol: String,
    /// Share of products held out by --protocol cold-items.
    #[arg(long, default_value_t = 0.1)]
    cold_fraction: f64,
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
pub struct TrainArgs {
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    model: ModelArgs,
    /// Where to write the model file.
    #[arg(long)]
    out: PathBuf,
}

#[derive(Args)]
pub struct RecommendArgs {
    /// A model file written by `shopml reco train` (instead of --data/--format).
    #[arg(long, conflicts_with_all = ["data", "format"])]
    model_file: Option<PathBuf>,
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    model: ModelArgs,
    /// The customer's id as it appears in the data.
    #[arg(long, required_unless_present = "history")]
    user: Option<String>,
    /// Item ids touched just now, oldest first (comma-separated): with --user, events after the model's
    /// data (the sequential models read them in order); alone, a guest session. Unknown ids are ignored,
    /// an item given twice counts at its latest position.
    #[arg(long, value_delimiter = ',', num_args = 1..)]
    history: Vec<String>,
    /// How many items.
    #[arg(long, default_value_t = 10)]
    k: usize,
    /// Leave out items the customer (or the --history) already has.
    #[arg(long)]
    exclude_seen: bool,
    /// Only items of this category (repeatable).
    #[arg(long = "category")]
    categories: Vec<String>,
    /// Only items priced at least this.
    #[arg(long)]
    min_price: Option<f32>,
    /// Only items priced at most this.
    #[arg(long)]
    max_price: Option<f32>,
    /// Retrieve from an HNSW index with this search breadth (ef) instead of scoring every item — for large
    /// catalogues and embedding models (als, bpr, gmf, neumf); the index is built after loading.
    #[arg(long, value_name = "EF")]
    ann: Option<usize>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct DemoArgs {
    /// Customer id (default: 17850, the first customer of the data).
    #[arg(long, default_value = "17850")]
    user: String,
    /// pop | itemknn | als | bpr | gmf | mlp | neumf | content | hybrid | transition | sknn | sasrec (sequential) |
    /// fusion (sasrec + transition; `a=`, `b=`, `weight=`, `tune=true`, `a.KEY=`, `b.KEY=`)
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
        RecoCommand::Train(a) => train(a),
        RecoCommand::Recommend(a) => recommend(a),
    }
}

/// The data with its events weighted by kind (`--kind-weights`): what a model is fitted on.
fn load_data(a: &DataArgs) -> Result<Dataset> {
    let (data, weights) = load_events(a)?;
    Ok(data.weighted(&weights)?)
}

/// The events as the file has them, and the kind weights to apply (after splitting, when evaluating).
fn load_events(a: &DataArgs) -> Result<(Dataset, KindWeights)> {
    let weights = KindWeights::parse(&a.kind_weights).context("--kind-weights")?;
    let (Some(path), Some(format)) = (&a.data, &a.format) else { bail!("--data and --format are required") };
    let format: Format = format.parse()?;
    let columns = Columns {
        user: a.user_col.clone(),
        item: a.item_col.clone(),
        time: a.time_col.clone(),
        weight: a.weight_col.clone(),
        kind: a.kind_col.clone(),
    };
    Ok((load(path, format, &columns)?, weights))
}

/// `data` with every item text embedded by the sentence encoder when the model reads text through it
/// (`--param text=encoder`, or `text=both`: tokens and embeddings); unchanged otherwise.
fn with_text_embeddings(mut data: Dataset, m: &ModelArgs) -> Result<Dataset> {
    if !params(m)?.reads_text_vectors() {
        return Ok(data);
    }
    let t = std::time::Instant::now();
    let encoder = shopml_encoder::Encoder::load(&shopml_encoder::model_dir(m.encoder.as_deref()))?;
    let texts: Vec<(usize, &str)> =
        data.item_meta().iter().enumerate().filter_map(|(i, x)| x.text.as_deref().map(|t| (i, t))).collect();
    let vectors = encoder.embed(&texts.iter().map(|(_, t)| *t).collect::<Vec<_>>())?;
    let items: Vec<usize> = texts.into_iter().map(|(i, _)| i).collect();
    for (i, row) in items.into_iter().zip(vectors.rows()) {
        data.item_meta_mut()[i].text_vector = Some(row.to_vec());
    }
    if !m.quiet {
        eprintln!("embedded {} item texts in {:.1} s", vectors.nrows(), t.elapsed().as_secs_f64());
    }
    Ok(data)
}

fn params(m: &ModelArgs) -> Result<AnyParams> {
    let mut pairs = Vec::new();
    for kv in &m.params {
        let Some((k, v)) = kv.split_once('=') else { bail!("--param `{kv}`: expected KEY=VALUE") };
        pairs.push((k, v));
    }
    Ok(AnyParams::with_params(&m.model, &pairs)?)
}

fn eval(a: EvalArgs) -> Result<()> {
    if a.k == 0 {
        bail!("--k must be at least 1");
    }
    let cold = a.protocol == "cold-items";
    let protocol: Protocol = if cold { Protocol::LooFull } else { a.protocol.parse()? };
    let target: Target = a.split.parse()?;
    let p = params(&a.model)?;
    let (data, weights) = load_events(&a.data)?;
    let data = with_text_embeddings(data, &a.model)?;
    let bar = progress::bar("fit", a.model.quiet);
    let on_step = |done: usize, total: usize| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
        true
    };
    let run = if cold {
        run_cold_start(&data, &weights, &p, a.cold_fraction, a.k, a.seed, &on_step)?
    } else {
        run_loo(&data, &weights, &p, protocol, a.k, a.seed, target, &on_step)?
    };
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
            "dataset": data.name(),
            "model": a.model.model,
            "protocol": run.report.protocol,
            "split": a.split,
            "held_out": run.held_out,
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
            data.name(),
            data.n_users(),
            data.n_items(),
            data.interactions().len()
        );
        println!(
            "model     {}   protocol {}   split {}   held out {}   users evaluated {}",
            a.model.model,
            protocol.name(),
            a.split,
            run.held_out,
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

fn fit(data: &Dataset, m: &ModelArgs) -> Result<(TrainedModel, f64)> {
    let p = params(m)?;
    let bar = progress::bar("fit", m.quiet);
    let on_step = |done: usize, total: usize| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
        true
    };
    let start = Instant::now();
    let trained = TrainedModel::fit(data, &p, &on_step)?;
    bar.finish_and_clear();
    Ok((trained, start.elapsed().as_secs_f64()))
}

fn train(a: TrainArgs) -> Result<()> {
    let data = with_text_embeddings(load_data(&a.data)?, &a.model)?;
    let (trained, secs) = fit(&data, &a.model)?;
    trained.save(&a.out)?;
    let size = std::fs::metadata(&a.out).map(|m| m.len()).unwrap_or(0);
    eprintln!(
        "{} fitted on {} ({} users, {} items, {} interactions) in {secs:.2} s; wrote {} ({size} bytes)",
        trained.model().name(),
        data.name(),
        data.n_users(),
        data.n_items(),
        data.interactions().len(),
        a.out.display()
    );
    Ok(())
}

fn recommend(a: RecommendArgs) -> Result<()> {
    let mut trained = match &a.model_file {
        Some(path) => TrainedModel::load(path)?,
        None => fit(&with_text_embeddings(load_data(&a.data)?, &a.model)?, &a.model)?.0,
    };
    if let Some(ef) = a.ann {
        trained.build_index(reco_core::ann::AnnParams { ef_search: ef, ..Default::default() })?;
    }
    let filter = Filter {
        exclude_seen: a.exclude_seen,
        categories: (!a.categories.is_empty()).then(|| a.categories.iter().cloned().collect()),
        min_price: a.min_price,
        max_price: a.max_price,
        ..Filter::default()
    };
    let history: Vec<&str> = a.history.iter().map(|h| h.trim()).filter(|h| !h.is_empty()).collect();
    match a.user.as_deref() {
        Some(user) if history.is_empty() => print_recommendations(&trained, user, a.k, &filter, a.json),
        Some(user) => {
            let top = trained.recommend_with_events(user, &history, a.k, &filter)?;
            let title = format!("customer {user} after {}", history.join(", "));
            print_list(&trained, ("user", user), &title, &top, a.k, a.json)
        }
        None => {
            if a.k == 0 {
                bail!("--k must be at least 1");
            }
            let unknown: Vec<&str> = history.iter().copied().filter(|h| trained.items().get(h).is_none()).collect();
            if !unknown.is_empty() && !a.json {
                println!("ignored (not in the model): {}", unknown.join(", "));
            }
            let top = trained.recommend_next(&history, a.k, &filter)?;
            let joined = history.join(",");
            print_list(&trained, ("history", &joined), &format!("next after {joined}"), &top, a.k, a.json)
        }
    }
}

/// Prints a list of recommendations under `title` (JSON: `{key.0: key.1, "model", "items"}`).
fn print_list(
    m: &TrainedModel,
    key: (&str, &str),
    title: &str,
    top: &[Recommendation],
    k: usize,
    as_json: bool,
) -> Result<()> {
    let label = |id: &str| m.items().get(id).and_then(|i| m.item_meta()[i as usize].text.clone()).unwrap_or_default();
    if as_json {
        let items: Vec<_> = top
            .iter()
            .map(|r| json!({"item": r.item, "score": r.score, "text": label(&r.item), "reason": r.reason}))
            .collect();
        println!("{}", json!({key.0: key.1, "model": m.model().name(), "items": items}));
        return Ok(());
    }
    println!("\ntop {k} {title} ({}):", m.model().name());
    for (rank, r) in top.iter().enumerate() {
        println!(
            "  {:>2}. {:<10} {:<36} {:>7.3}  {}",
            rank + 1,
            r.item,
            label(&r.item),
            r.score,
            r.reason.as_deref().unwrap_or("")
        );
    }
    if top.len() < k {
        println!("  (only {} items pass the filter)", top.len());
    }
    Ok(())
}

/// Prints `user`'s history tail and top `k`.
fn print_recommendations(m: &TrainedModel, user: &str, k: usize, filter: &Filter, as_json: bool) -> Result<()> {
    if k == 0 {
        bail!("--k must be at least 1");
    }
    let u = m
        .users()
        .get(user)
        .with_context(|| format!("unknown user `{user}` ({} users in the model)", m.users().len()))?;
    let top = m.recommend(user, k, filter)?;
    if !as_json {
        let (bought, _) = m.history().user_row(u as usize);
        println!("customer {user} has {} distinct products in the model's data", bought.len());
    }
    print_list(m, ("user", user), &format!("for customer {user}"), &top, k, as_json)
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
    let m = ModelArgs { model: a.model, params: vec![], quiet: a.quiet, encoder: None };
    let (trained, secs) = fit(&data, &m)?;
    println!(
        "{}: {} customers, {} products, {} purchases; {} fitted in {secs:.2} s",
        data.name(),
        data.n_users(),
        data.n_items(),
        data.interactions().len(),
        trained.model().name()
    );
    print_recommendations(&trained, &a.user, 10, &Filter::default(), false)?;
    crate::chat::demo_chat(&a.user)
}

/// `datasets/online-retail/online_retail.csv.gz` of this repository.
fn shipped_online_retail() -> Result<PathBuf> {
    Ok(storefront::shipped::online_retail(&shipped_datasets()?))
}

/// The repository's shipped `datasets/` folder (`storefront::shipped::datasets_dir`).
pub(crate) fn shipped_datasets() -> Result<PathBuf> {
    storefront::shipped::datasets_dir(None).map_err(|e| anyhow::anyhow!("{e} (or pass --data)"))
}
