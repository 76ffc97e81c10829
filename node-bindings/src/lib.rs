//! Node bindings of shopml (napi-rs), package `shopml`. Conversion only: every algorithm lives in
//! `reco-core`, `chatbot-core` and `storefront`.
//!
//! Training, loading the shipped data and evaluation run on libuv's thread pool (`AsyncTask`, a
//! `Promise` in JS); serving calls (`recommend`, `similarItems`, `reply`) are synchronous. Every error is
//! a JS `Error` whose `code` is napi's status (`InvalidArg` for bad input, `GenericFailure` otherwise)
//! and whose message starts with shopml's error kind (`InvalidInput:`, `UnknownId:`, `FileFormat:`,
//! `NotFitted:`, `Closed:`, `Io:`, `Training:`, `Internal:`). Every method catches panics
//! (`catch_unwind`), and so does the worker-thread part of every task (`guarded`).

mod encoder;

use chatbot_core::intent::{Classifier, FastIntent};
use napi::bindgen_prelude::*;
use napi_derive::napi;
use reco_core::data::{Dataset, EventKind, KindWeights};
use reco_core::eval::{self as pipeline, Protocol};
use reco_core::model::AnyParams;
use reco_core::serve::{Filter, Recommendation};
use reco_core::store::TrainedModel;
use reco_core::RecoError;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

fn invalid(msg: impl std::fmt::Display) -> Error {
    Error::new(Status::InvalidArg, format!("InvalidInput: {msg}"))
}

fn failure(kind: &str, msg: impl std::fmt::Display) -> Error {
    Error::new(Status::GenericFailure, format!("{kind}: {msg}"))
}

/// The one error adapter for reco-core.
fn reco_err(e: RecoError) -> Error {
    match &e {
        RecoError::InvalidParameter { .. }
        | RecoError::EmptyData(_)
        | RecoError::MissingColumn { .. }
        | RecoError::UnsupportedFormat(_) => invalid(e),
        RecoError::UnknownUser(_) | RecoError::UnknownItem(_) => {
            Error::new(Status::InvalidArg, format!("UnknownId: {e}"))
        }
        RecoError::Parse { .. } | RecoError::ModelFile { .. } => failure("FileFormat", e),
        RecoError::NotFitted(_) => failure("NotFitted", e),
        RecoError::Io { path, source } => failure("Io", format!("{}: {source}", path.display())),
        _ => failure("Training", e),
    }
}

/// The one error adapter for chatbot-core.
fn chat_err(e: chatbot_core::ChatError) -> Error {
    use chatbot_core::ChatError as C;
    match &e {
        C::InvalidParameter { .. } | C::Data(_) | C::MissingColumn { .. } => invalid(e),
        C::Parse { .. } | C::ModelFile { .. } => failure("FileFormat", e),
        C::Io { path, source } => failure("Io", format!("{}: {source}", path.display())),
        _ => failure("Training", e),
    }
}

/// One id from JS: a string, or a non-negative integer number (used as its decimal text).
fn id_text(v: &Either<String, f64>, what: &str) -> Result<String> {
    match v {
        Either::A(s) => Ok(s.clone()),
        Either::B(n) if n.is_finite() && n.fract() == 0.0 && *n >= 0.0 && *n <= 9.007_199_254_740_991e15 => {
            Ok(format!("{}", *n as u64))
        }
        Either::B(n) => Err(invalid(format!("{what}: {n} is not a non-negative integer id"))),
    }
}

/// Runs a task's work catching panics: `catch_unwind` on the `#[napi]` method covers only building the
/// task, not `compute` on the worker thread, and a panic there would abort Node.
fn guarded<T>(work: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)).unwrap_or_else(|panic| {
        let msg = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        Err(failure("Internal", format!("shopml panicked: {msg}")))
    })
}

fn k_arg(k: Option<f64>) -> Result<usize> {
    match k {
        None => Ok(10),
        Some(k) if k.is_finite() && k >= 1.0 && k.fract() == 0.0 => Ok(k.min(usize::MAX as f64) as usize),
        Some(k) if k == f64::INFINITY => Ok(usize::MAX),
        Some(k) => Err(invalid(format!("k: must be a positive integer, got {k}"))),
    }
}

/// Interactions as parallel arrays.
#[napi(object)]
pub struct Interactions {
    /// User ids (strings or non-negative integers).
    pub users: Vec<Either<String, f64>>,
    /// Item ids, one per user entry.
    pub items: Vec<Either<String, f64>>,
    /// Positive finite weights (default 1).
    pub weights: Option<Vec<f64>>,
    /// Timestamps (epoch seconds; default: the array order).
    pub timestamps: Option<Vec<f64>>,
}

/// Item metadata for filters and content models.
#[napi(object)]
pub struct ItemInfo {
    /// The item's id.
    pub id: Either<String, f64>,
    /// Category.
    pub category: Option<String>,
    /// Price.
    pub price: Option<f64>,
    /// Title / description (content models).
    pub text: Option<String>,
}

/// How to train.
#[napi(object)]
pub struct TrainOptions {
    /// `pop`, `itemknn`, `als` (default), `bpr`, `gmf`, `mlp`, `neumf`, `content`, `hybrid`.
    pub model: Option<String>,
    /// Hyper-parameters by name, e.g. `{ factors: 64, iterations: 15 }`.
    pub params: Option<HashMap<String, Either3<String, f64, bool>>>,
    /// Item metadata.
    pub items: Option<Vec<ItemInfo>>,
}

/// Which items may be recommended.
#[napi(object)]
pub struct FilterOptions {
    /// Leave out what the user already interacted with (default true).
    pub exclude_seen: Option<bool>,
    /// Only these categories.
    pub categories: Option<Vec<String>>,
    /// Item ids never to recommend.
    pub exclude: Option<Vec<Either<String, f64>>>,
    /// Item ids out of stock.
    pub out_of_stock: Option<Vec<Either<String, f64>>>,
    /// Minimum price.
    pub min_price: Option<f64>,
    /// Maximum price.
    pub max_price: Option<f64>,
}

/// A result list: ids (as strings) and scores, best first.
#[napi(object)]
pub struct Recommendations<'env> {
    /// Item ids.
    pub ids: Vec<String>,
    /// Scores, aligned with `ids` (a copy in a V8-owned buffer: for ten scores cheaper than handing V8
    /// an external Rust buffer, which it must track and finalise).
    pub scores: Float32ArraySlice<'env>,
}

/// Metrics of an evaluation.
#[napi(object)]
pub struct Metrics {
    /// Protocol name.
    pub protocol: String,
    /// Cut-off.
    pub k: u32,
    /// Hit rate @k.
    pub hr: f64,
    /// NDCG @k.
    pub ndcg: f64,
    /// Precision @k.
    pub precision: f64,
    /// Recall @k.
    pub recall: f64,
    /// F1 @k.
    pub f1: f64,
    /// Mean reciprocal rank.
    pub mrr: f64,
    /// Catalogue coverage of the top-k lists.
    pub coverage: f64,
    /// Users evaluated.
    pub users: u32,
    /// Seconds spent fitting.
    pub fit_seconds: f64,
    /// Seconds spent evaluating.
    pub eval_seconds: f64,
}

fn params(options: &Option<TrainOptions>) -> Result<AnyParams> {
    let name = options.as_ref().and_then(|o| o.model.as_deref()).unwrap_or("als");
    let mut pairs: Vec<(&str, String)> = Vec::new();
    if let Some(map) = options.as_ref().and_then(|o| o.params.as_ref()) {
        for (key, value) in map {
            let text = match value {
                Either3::A(s) => s.clone(),
                Either3::B(n) => n.to_string(),
                Either3::C(b) => b.to_string(),
            };
            pairs.push((key.as_str(), text));
        }
        pairs.sort(); // HashMap order is random; `with_params` puts a hybrid's `cf` first
    }
    AnyParams::with_params(name, &pairs).map_err(reco_err)
}

fn dataset(data: &Interactions, items: Option<&Vec<ItemInfo>>) -> Result<Dataset> {
    let n = data.users.len();
    if data.items.len() != n {
        return Err(invalid(format!("items has {} entries but users {n}", data.items.len())));
    }
    for (name, len) in
        [("weights", data.weights.as_ref().map(Vec::len)), ("timestamps", data.timestamps.as_ref().map(Vec::len))]
    {
        if let Some(len) = len.filter(|&l| l != n) {
            return Err(invalid(format!("{name} has {len} entries but users {n}")));
        }
    }
    let mut d = Dataset::new("node");
    for i in 0..n {
        let w = data.weights.as_ref().map_or(1.0, |w| w[i] as f32);
        let t = data.timestamps.as_ref().map_or(i as i64, |t| t[i] as i64);
        let (u, it) = (id_text(&data.users[i], "users")?, id_text(&data.items[i], "items")?);
        d.push(&u, &it, t, EventKind::Purchase, w).map_err(|e| invalid(format!("row {i}: {e}")))?;
    }
    for (i, info) in items.into_iter().flatten().enumerate() {
        let id = id_text(&info.id, "items.id")?;
        d.describe_item(&id, info.category.clone(), info.price.map(|p| p as f32), info.text.clone())
            .map_err(|e| invalid(format!("items[{i}]: {e}")))?;
    }
    Ok(d)
}

fn filter(f: Option<FilterOptions>) -> Result<Filter> {
    let Some(f) = f else { return Ok(Filter::default()) };
    let set = |v: Option<Vec<Either<String, f64>>>, what: &str| -> Result<HashSet<String>> {
        v.unwrap_or_default().iter().map(|x| id_text(x, what)).collect()
    };
    Ok(Filter {
        exclude_seen: f.exclude_seen.unwrap_or(true),
        categories: f.categories.map(|c| c.into_iter().collect()),
        min_price: f.min_price.map(|p| p as f32),
        max_price: f.max_price.map(|p| p as f32),
        exclude: set(f.exclude, "exclude")?,
        out_of_stock: set(f.out_of_stock, "outOfStock")?,
    })
}

fn results(env: &Env, recs: Vec<Recommendation>) -> Result<Recommendations<'_>> {
    let scores: Vec<f32> = recs.iter().map(|r| r.score).collect();
    let scores = Float32ArraySlice::copy_from(env, &scores)?;
    Ok(Recommendations { ids: recs.into_iter().map(|r| r.item).collect(), scores })
}

/// What a task trains on, as JS gave it: converted and validated on the worker thread, so that every
/// problem rejects the returned promise (nothing throws synchronously).
pub struct Job {
    data: Either<Interactions, String>,
    format: Option<String>,
    options: Option<TrainOptions>,
}

impl Job {
    fn prepare(&self) -> Result<(Dataset, AnyParams)> {
        let params = params(&self.options)?;
        let items = self.options.as_ref().and_then(|o| o.items.as_ref());
        let data = match &self.data {
            Either::A(d) => dataset(d, items)?,
            Either::B(path) => {
                let f: reco_core::io::Format =
                    self.format.as_deref().unwrap_or("online-retail").parse().map_err(reco_err)?;
                if f == reco_core::io::Format::Table {
                    return Err(invalid("format: CSV/Parquet tables are read by the CLI; pass arrays instead"));
                }
                reco_core::io::load(std::path::Path::new(path), f, &reco_core::io::Columns::default())
                    .map_err(reco_err)?
            }
        };
        Ok((data, params))
    }
}

/// Off-thread training.
pub struct TrainTask(Job);

impl Task for TrainTask {
    type Output = TrainedModel;
    type JsValue = Recommender;

    fn compute(&mut self) -> Result<TrainedModel> {
        guarded(|| {
            let (data, params) = self.0.prepare()?;
            TrainedModel::fit(&data, &params, &|_, _| true).map_err(reco_err)
        })
    }

    fn resolve(&mut self, _env: Env, model: TrainedModel) -> Result<Recommender> {
        Ok(Recommender::from_model(model))
    }
}

/// Off-thread evaluation.
pub struct EvalTask {
    job: Job,
    protocol: String,
    k: Option<f64>,
}

impl Task for EvalTask {
    type Output = pipeline::LooRun;
    type JsValue = Metrics;

    fn compute(&mut self) -> Result<pipeline::LooRun> {
        guarded(|| {
            let (k, protocol) = (k_arg(self.k)?, self.protocol.clone());
            let (data, params) = self.job.prepare()?;
            if protocol == "cold-items" {
                return pipeline::run_cold_start(&data, &KindWeights::EQUAL, &params, 0.1, k, 42, &|_, _| true)
                    .map_err(reco_err);
            }
            let proto: Protocol = protocol.parse().map_err(reco_err)?;
            pipeline::run_loo(&data, &KindWeights::EQUAL, &params, proto, k, 42, pipeline::Target::Test, &|_, _| true)
                .map_err(reco_err)
        })
    }

    fn resolve(&mut self, _env: Env, run: pipeline::LooRun) -> Result<Metrics> {
        let m = &run.report.metrics;
        Ok(Metrics {
            protocol: run.report.protocol.to_string(),
            k: run.report.k as u32,
            hr: m.hr,
            ndcg: m.ndcg,
            precision: m.precision,
            recall: m.recall,
            f1: m.f1,
            mrr: m.mrr,
            coverage: run.report.coverage,
            users: run.report.users_evaluated as u32,
            fit_seconds: run.fit_seconds,
            eval_seconds: run.eval_seconds,
        })
    }
}

/// A fitted recommendation model.
#[napi]
pub struct Recommender {
    model: RwLock<Option<Arc<TrainedModel>>>,
    /// Live events since the fit (`recordEvent`).
    live: reco_core::serve::LiveEvents,
}

impl Recommender {
    fn from_model(model: TrainedModel) -> Self {
        Recommender { model: RwLock::new(Some(Arc::new(model))), live: Default::default() }
    }

    fn get(&self) -> Result<Arc<TrainedModel>> {
        match self.model.read() {
            Ok(g) => g.clone().ok_or_else(|| failure("Closed", "this model was closed")),
            Err(_) => Err(failure("Closed", "model lock poisoned")),
        }
    }
}

#[napi]
impl Recommender {
    /// Trains on interactions (`{ users, items, weights?, timestamps? }`) or on a file path in a core
    /// loader's format (`options.format`: `online-retail` (default), `s3rec`, `movielens`), off the event
    /// loop.
    #[napi(catch_unwind, ts_return_type = "Promise<Recommender>")]
    pub fn train(
        data: Either<Interactions, String>,
        options: Option<TrainOptions>,
        format: Option<String>,
    ) -> AsyncTask<TrainTask> {
        AsyncTask::new(TrainTask(Job { data, format, options }))
    }

    /// Evaluates `options.model` with its parameters on the data (leave-one-out, `protocol`: `loo-full`
    /// (default), `loo-sampled`, `cold-items`), off the event loop.
    #[napi(catch_unwind, ts_return_type = "Promise<Metrics>")]
    pub fn evaluate(
        data: Either<Interactions, String>,
        options: Option<TrainOptions>,
        protocol: Option<String>,
        k: Option<f64>,
        format: Option<String>,
    ) -> AsyncTask<EvalTask> {
        let protocol = protocol.unwrap_or_else(|| "loo-full".into());
        AsyncTask::new(EvalTask { job: Job { data, format, options }, protocol, k })
    }

    /// Loads a model file (written by `save`, Python's `save` or `shopml reco train --out`).
    #[napi(catch_unwind)]
    pub fn load(path: String) -> Result<Recommender> {
        TrainedModel::load(std::path::Path::new(&path)).map(Recommender::from_model).map_err(reco_err)
    }

    /// Saves to one file (magic, version, checksum; atomic write).
    #[napi(catch_unwind)]
    pub fn save(&self, path: String) -> Result<()> {
        self.get()?.save(std::path::Path::new(&path)).map_err(reco_err)
    }

    /// The `k` (default 10) best items for `user`; an unknown user gets popular items.
    #[napi(catch_unwind)]
    pub fn recommend<'env>(
        &self,
        env: &'env Env,
        user: Either<String, f64>,
        k: Option<f64>,
        filter: Option<FilterOptions>,
    ) -> Result<Recommendations<'env>> {
        let m = self.get()?;
        let (user, k, filter) = (id_text(&user, "user")?, k_arg(k)?, self::filter(filter)?);
        results(env, self.live.recommend(&m, &user, k, &filter).map_err(reco_err)?)
    }

    /// The `k` best next items after `history` (item ids, oldest first: a guest session, the products
    /// just viewed). The sequential models (`transition`, `sknn`, `sasrec`) read the order. Unknown ids are
    /// ignored; an item given twice counts at its latest position; SASRec reads the most recent `max_len`
    /// items; an empty history gets popular items; `k` below 1 throws `InvalidInput:`.
    #[napi(catch_unwind)]
    pub fn recommend_next<'env>(
        &self,
        env: &'env Env,
        history: Vec<Either<String, f64>>,
        k: Option<f64>,
        filter: Option<FilterOptions>,
    ) -> Result<Recommendations<'env>> {
        self.recommend_items(env, history, k, filter)
    }

    /// Records a live event: `user` (a customer or guest session id) touched `item` now; the next
    /// `recommend(user)` of a sequential model reads it without a refit, and every model leaves it out.
    #[napi(catch_unwind)]
    pub fn record_event(&self, user: Either<String, f64>, item: Either<String, f64>) -> Result<()> {
        self.live.record(&id_text(&user, "user")?, &id_text(&item, "item")?).map_err(reco_err)
    }

    /// `user`'s live events, oldest first.
    #[napi(catch_unwind)]
    pub fn live_events(&self, user: Either<String, f64>) -> Result<Vec<String>> {
        Ok(self.live.events(&id_text(&user, "user")?))
    }

    /// Forgets `user`'s live events.
    #[napi(catch_unwind)]
    pub fn forget(&self, user: Either<String, f64>) -> Result<()> {
        self.live.forget(&id_text(&user, "user")?);
        Ok(())
    }

    /// Recommendations for an anonymous session from the items it touched (as `recommendNext`).
    #[napi(catch_unwind)]
    pub fn recommend_items<'env>(
        &self,
        env: &'env Env,
        items: Vec<Either<String, f64>>,
        k: Option<f64>,
        filter: Option<FilterOptions>,
    ) -> Result<Recommendations<'env>> {
        let m = self.get()?;
        let ids = items.iter().map(|i| id_text(i, "items")).collect::<Result<Vec<_>>>()?;
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        results(env, m.recommend_next(&refs, k_arg(k)?, &self::filter(filter)?).map_err(reco_err)?)
    }

    /// The `k` items most similar to `item`.
    #[napi(catch_unwind)]
    pub fn similar_items<'env>(
        &self,
        env: &'env Env,
        item: Either<String, f64>,
        k: Option<f64>,
    ) -> Result<Recommendations<'env>> {
        let m = self.get()?;
        results(env, m.similar_items(&id_text(&item, "item")?, k_arg(k)?).map_err(reco_err)?)
    }

    /// The model's name (`als`, …).
    #[napi(getter, catch_unwind)]
    pub fn model(&self) -> Result<String> {
        Ok(self.get()?.params().name().to_string())
    }

    /// Number of items the model knows.
    #[napi(getter, catch_unwind)]
    pub fn n_items(&self) -> Result<u32> {
        Ok(self.get()?.items().len() as u32)
    }

    /// Number of users the model knows.
    #[napi(getter, catch_unwind)]
    pub fn n_users(&self) -> Result<u32> {
        Ok(self.get()?.users().len() as u32)
    }

    /// Releases the model; later calls throw (`Closed:`).
    #[napi(catch_unwind)]
    pub fn close(&self) {
        if let Ok(mut g) = self.model.write() {
            *g = None;
        }
    }
}

/// Off-thread assistant setup.
pub struct AssistantTask {
    datasets: Option<PathBuf>,
    model: Option<PathBuf>,
}

impl Task for AssistantTask {
    type Output = chatbot_core::dialogue::Assistant<FastIntent>;
    type JsValue = Assistant;

    fn compute(&mut self) -> Result<Self::Output> {
        guarded(|| self.build())
    }

    fn resolve(&mut self, _env: Env, bot: Self::Output) -> Result<Assistant> {
        Ok(Assistant { bot })
    }
}

impl AssistantTask {
    fn build(&self) -> Result<chatbot_core::dialogue::Assistant<FastIntent>> {
        let dir = storefront::shipped::datasets_dir(self.datasets.as_deref()).map_err(invalid)?;
        let clf = match &self.model {
            Some(p) => Classifier::<FastIntent>::load(p).map_err(chat_err)?,
            None => chatbot_core::intent::train_shop_assistant(&dir).map_err(chat_err)?,
        };
        let store = storefront::shipped::demo_store(&dir).map_err(|e| failure("Io", e.to_string()))?;
        let config = chatbot_core::dialogue::BotConfig::default();
        chatbot_core::dialogue::Assistant::new(clf, storefront::Store::from_one(store), config).map_err(chat_err)
    }
}

/// Options of `Assistant.create`.
#[napi(object)]
pub struct AssistantOptions {
    /// The shipped `datasets/` folder (default: found from the working directory).
    pub datasets: Option<String>,
    /// An intent model file (`shopml chat train --out`); default: train on the shipped data (~20 s).
    pub model: Option<String>,
}

/// The customer-support assistant over the demo store.
#[napi]
pub struct Assistant {
    bot: chatbot_core::dialogue::Assistant<FastIntent>,
}

#[napi]
impl Assistant {
    /// Builds the assistant off the event loop: the intent model (trained on the shipped data unless
    /// `options.model` names a file) and the demo store from the shipped Online Retail data.
    #[napi(catch_unwind, ts_return_type = "Promise<Assistant>")]
    pub fn create(options: Option<AssistantOptions>) -> AsyncTask<AssistantTask> {
        let (datasets, model) = match options {
            Some(o) => (o.datasets.map(PathBuf::from), o.model.map(PathBuf::from)),
            None => (None, None),
        };
        AsyncTask::new(AssistantTask { datasets, model })
    }

    /// Answers `text` in conversation `conversationId` for `customerId` (omit: not signed in):
    /// `{ text, intent, confidence, entities, action }`.
    #[napi(
        catch_unwind,
        ts_return_type = "{ text: string; intent: string | null; confidence: number; entities: Record<string, unknown>; action: { kind: string; [key: string]: unknown } }"
    )]
    pub fn reply(
        &self,
        conversation_id: String,
        text: String,
        customer_id: Option<String>,
    ) -> Result<serde_json::Value> {
        let r = self.bot.reply(&conversation_id, customer_id.as_deref(), &text).map_err(chat_err)?;
        serde_json::to_value(&r).map_err(|e| failure("Internal", e))
    }

    /// Conversations currently remembered.
    #[napi(getter, catch_unwind)]
    pub fn conversations(&self) -> u32 {
        self.bot.conversations() as u32
    }
}
