//! Recommendations wired to the shop: a model (`reco_model`: `transition` by default, `itemknn`, `sknn`,
//! `sasrec`) trained at start on the shipped purchase history plus
//! the shop's own stored events (weighted by kind), the live events (views, add-to-cart, purchases)
//! that change the next answer without retraining, the out-of-stock filter, a per-user answer cache
//! invalidated by those events (and by product edits and refits), and refits (periodic, or `POST /admin/recommender/refit`) that bring
//! products created at run time into the model and are swapped in atomically.
//!
//! A customer's recommendations come from their *sequence* — the shipped history in time order (if the
//! account is linked to a dataset customer), then their live events in order — through
//! `recommend_next`, so a view or purchase reshapes the list at once: the sequential models read what
//! was touched last, and the touched item leaves the list. A guest's sequence is their cart (the
//! `X-Cart-Token` cart's lines in the order they were added). The product page's "next" list
//! (`GET /products/{id}/next`) is the same sequence followed by that product. The model's item ids are
//! product ids; names and prices shown are the catalog's current ones.

use crate::auth::User;
use crate::catalog::ProductRow;
use crate::db::Flag;
use crate::error::{ApiError, ApiResult};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use parking_lot::RwLock;
use reco_core::data::{Dataset, KindWeights};
use reco_core::serve::{latest_order, Filter, LiveEvents, Server};
use reco_core::store::TrainedModel;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// A live event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// Product page seen.
    View,
    /// Put in the cart.
    Cart,
    /// Bought (paid).
    Purchase,
}

impl EventKind {
    fn as_str(self) -> &'static str {
        match self {
            EventKind::View => "view",
            EventKind::Cart => "cart",
            EventKind::Purchase => "purchase",
        }
    }

    /// The engine's name for it.
    fn engine(self) -> reco_core::data::EventKind {
        match self {
            EventKind::View => reco_core::data::EventKind::View,
            EventKind::Cart => reco_core::data::EventKind::AddToCart,
            EventKind::Purchase => reco_core::data::EventKind::Purchase,
        }
    }
}

type Cached = (u64, u64, Bytes);

/// The models `reco_model` may name.
pub const MODELS: [&str; 4] = ["transition", "itemknn", "sknn", "sasrec"];

#[derive(Debug, Clone)]
struct Info {
    sku: String,
    name: String,
    price_cents: i64,
}

/// `GET /recommendations`, `/products/{id}/next` and `/products/{id}/similar`.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub struct Recommendations {
    /// The signed-in customer they are for (`null`: a visitor, or similar items).
    pub user: Option<i64>,
    /// Best first.
    pub items: Vec<Recommended>,
}

/// One recommended product.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub struct Recommended {
    /// Product.
    pub product_id: i64,
    /// Its SKU.
    pub sku: String,
    /// Its current name.
    pub name: String,
    /// Its current unit price.
    pub price_cents: i64,
    /// The model's score (comparable within one answer only).
    pub score: f32,
    /// Why, when the model says (e.g. "because you bought …").
    pub reason: Option<String>,
}

/// What a (re)fit trained on.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct FitReport {
    /// Products the model knows.
    pub items: usize,
    /// Customers (shipped and shop) in the training set.
    pub users: usize,
    /// Interactions trained on.
    pub interactions: usize,
    /// Of which stored shop events (of the kinds the weights count).
    pub shop_events: usize,
    /// Id of the last stored event trained on (0: none).
    pub last_event: i64,
    /// Wall time of the fit, seconds.
    pub seconds: f64,
}

/// The shop's recommender.
pub struct Reco {
    server: Server,
    /// The model fitted (one of [`MODELS`]).
    model: String,
    /// How much each stored event kind counts in a fit.
    weights: KindWeights,
    /// The shipped history with products ids as item ids: the base of every fit.
    shipped: Arc<Dataset>,
    /// Shipped history per dataset customer id (product ids, oldest first, each at its latest time).
    trained: HashMap<String, Vec<String>>,
    /// Every product's name and price as the catalog has them now.
    info: RwLock<HashMap<i64, Info>>,
    /// Live events by shop user id (reco-core's bounded store: 200 per user, the most recent).
    live: LiveEvents,
    /// Products each shop customer bought (stored purchases): "because you bought X" names only these;
    /// a shipped customer's history is all purchases.
    bought: RwLock<HashMap<i64, std::collections::HashSet<i64>>>,
    user_version: RwLock<HashMap<i64, u64>>,
    /// Bumped when any product's availability changes, a product the model knows changes name or
    /// price, or the model is swapped.
    global: AtomicU64,
    filter: RwLock<Arc<Filter>>,
    /// `(user, k)` → `(user version, global version, answer)`.
    cache: RwLock<HashMap<(i64, usize), Cached>>,
    /// `(user, product, k)` → the customer's "next after this product" answer, versioned the same way.
    next_cache: RwLock<HashMap<(i64, i64, usize), Cached>>,
    /// `(product, k)` → `(global version, similar items)`: they change only with the model or availability.
    similar_cache: RwLock<HashMap<(i64, usize), (u64, Bytes)>>,
    /// One refit at a time.
    refitting: tokio::sync::Mutex<()>,
    last_fit: RwLock<FitReport>,
    /// Views recorded but not yet stored: `(user, product, at)`, written in batches by [`Reco::flush_views`].
    pending_views: parking_lot::Mutex<Vec<(i64, i64, i64)>>,
}

impl std::fmt::Debug for Reco {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reco").field("last_fit", &*self.last_fit.read()).finish_non_exhaustive()
    }
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(e.to_string())
}

/// `WHERE` condition on `events.kind`: the kinds `weights` count (a kind weighted 0 is not read).
fn counted_kinds(weights: &KindWeights) -> String {
    let kinds = [EventKind::View, EventKind::Cart, EventKind::Purchase];
    let counted: Vec<String> =
        kinds.iter().filter(|k| weights.of(k.engine()) > 0.0).map(|k| format!("'{}'", k.as_str())).collect();
    format!("kind IN ({})", counted.join(", "))
}

/// The training set: `shipped` plus the stored events of the kinds `weights` count (a shop user linked to
/// a dataset customer adds to that customer's row), each weighted by its kind. Items carry no text:
/// [`Reco::render`] names a reason's product (`Recommendation::because`) by its current name.
async fn training_set(
    db: &crate::db::Db,
    shipped: &Dataset,
    weights: &KindWeights,
) -> ApiResult<(Dataset, usize, i64)> {
    let sql = format!(
        "SELECT e.id, e.user_id, u.ext_id, e.product_id, e.kind, e.at FROM events e LEFT JOIN users u ON u.id = e.user_id
         WHERE e.{} ORDER BY e.id",
        counted_kinds(weights)
    );
    let rows: Vec<(i64, i64, Option<String>, i64, String, i64)> = sqlx::query_as(&sql).fetch_all(db).await?;
    let mut d = shipped.clone();
    for (_, user, ext, product, kind, at) in &rows {
        // stored as `view`, `cart`, `purchase` (EventKind::as_str), which the engine's parser reads
        let kind =
            reco_core::data::EventKind::parse(kind).ok_or_else(|| internal(format!("stored event kind `{kind}`")))?;
        let user = ext.clone().unwrap_or_else(|| format!("shop-user-{user}"));
        d.push(&user, &product.to_string(), *at, kind, 1.0).map_err(internal)?;
    }
    let d = d.weighted(weights).map_err(internal)?;
    Ok((d, rows.len(), rows.last().map_or(0, |r| r.0)))
}

/// Fits `model` on `data` off the async threads, on `threads` threads (`None`: all cores — at start,
/// before serving; a refit uses one, leaving the other cores to serving).
async fn fit(
    model: &str,
    data: Dataset,
    shop_events: usize,
    last_event: i64,
    threads: Option<usize>,
) -> ApiResult<(TrainedModel, FitReport)> {
    let params = reco_core::model::AnyParams::new(model).map_err(internal)?;
    tokio::task::spawn_blocking(move || {
        let t = std::time::Instant::now();
        let run = || TrainedModel::fit(&data, &params, &|_, _| true).map_err(internal);
        let model = match threads {
            None => run()?,
            Some(n) => rayon::ThreadPoolBuilder::new().num_threads(n).build().map_err(internal)?.install(run)?,
        };
        let report = FitReport {
            items: data.n_items(),
            users: data.n_users(),
            interactions: data.interactions().len(),
            shop_events,
            last_event,
            seconds: t.elapsed().as_secs_f64(),
        };
        Ok((model, report))
    })
    .await
    .map_err(internal)?
}

impl Reco {
    /// Maps the shipped history onto the products of the first store (by SKU), then fits `model` (one of
    /// [`MODELS`]) on it plus the events already stored, each kind weighted by `weights`.
    pub async fn new(db: &crate::db::Db, data: &Dataset, model: &str, weights: KindWeights) -> ApiResult<Reco> {
        let demo: Vec<(String, i64)> =
            sqlx::query_as("SELECT sku, id FROM products WHERE store_id = (SELECT min(id) FROM stores)")
                .fetch_all(db)
                .await?;
        let sku_to_pid: HashMap<String, i64> = demo.into_iter().collect();
        let mut shipped = Dataset::new("shop");
        let mut timed: HashMap<String, Vec<(i64, i64)>> = HashMap::new();
        for e in data.interactions() {
            let Some(&pid) = sku_to_pid.get(data.items().id(e.item)) else { continue };
            let user = data.users().id(e.user);
            shipped.push(user, &pid.to_string(), e.timestamp, e.kind, e.weight).map_err(internal)?;
            timed.entry(user.to_string()).or_default().push((e.timestamp, pid));
        }
        let trained: HashMap<String, Vec<String>> = timed
            .into_iter()
            .map(|(user, mut events)| {
                events.sort_by_key(|e| e.0); // stable: same-time lines keep the file's order
                (user, latest_order(events.into_iter().map(|e| e.1.to_string())))
            })
            .collect();
        let rows: Vec<(i64, String, String, i64, i64, Flag)> =
            sqlx::query_as("SELECT id, sku, name, price_cents, stock, active FROM products").fetch_all(db).await?;
        let out: HashSet<String> = rows.iter().filter(|r| r.4 <= 0 || !r.5 .0).map(|r| r.0.to_string()).collect();
        let info: HashMap<i64, Info> =
            rows.into_iter().map(|r| (r.0, Info { sku: r.1, name: r.2, price_cents: r.3 })).collect();
        let (set, events, last) = training_set(db, &shipped, &weights).await?;
        let (fitted, report) = fit(model, set, events, last, None).await?;
        Ok(Reco {
            server: Server::new(fitted),
            model: model.to_string(),
            weights,
            shipped: Arc::new(shipped),
            trained,
            info: RwLock::new(info),
            live: LiveEvents::default(),
            bought: RwLock::default(),
            user_version: RwLock::default(),
            global: AtomicU64::new(0),
            filter: RwLock::new(Arc::new(Filter { out_of_stock: out, ..Filter::default() })),
            cache: RwLock::default(),
            refitting: tokio::sync::Mutex::new(()),
            last_fit: RwLock::new(report),
            pending_views: Default::default(),
            next_cache: RwLock::default(),
            similar_cache: RwLock::default(),
        })
    }

    /// Retrains on the shipped history plus every stored event of a counted kind (so products created
    /// at run time that were bought, carted or viewed since get neighbours) and swaps the new model
    /// in; requests in flight finish on the old one. Concurrent calls wait for the running refit and
    /// then run their own.
    pub async fn refit(&self, db: &crate::db::Db) -> ApiResult<FitReport> {
        let _one = self.refitting.lock().await;
        self.refit_locked(db).await
    }

    /// The periodic refit: [`refit`](Self::refit) if events of a counted kind were stored after the
    /// last fit's (checked once the running refit, if any, is over), else nothing (`None`).
    pub async fn refit_if_new(&self, db: &crate::db::Db) -> ApiResult<Option<FitReport>> {
        let _one = self.refitting.lock().await;
        self.flush_views(db).await;
        let sql = format!("SELECT id FROM events WHERE {} ORDER BY id DESC LIMIT 1", counted_kinds(&self.weights));
        let last: i64 = sqlx::query_scalar(&sql).fetch_optional(db).await?.unwrap_or(0);
        let fitted = self.last_fit.read().last_event;
        if last > fitted {
            Ok(Some(self.refit_locked(db).await?))
        } else {
            Ok(None)
        }
    }

    /// A refit; the caller holds `refitting`.
    async fn refit_locked(&self, db: &crate::db::Db) -> ApiResult<FitReport> {
        self.flush_views(db).await; // the views recorded so far count in this fit
        let (set, events, last) = training_set(db, &self.shipped, &self.weights).await?;
        let (model, report) = fit(&self.model, set, events, last, Some(1)).await?;
        self.server.swap(model);
        *self.last_fit.write() = report;
        self.global.fetch_add(1, Ordering::AcqRel);
        metrics::counter!("shop_reco_refits_total").increment(1);
        metrics::gauge!("shop_reco_items").set(report.items as f64);
        tracing::info!(
            items = report.items,
            shop_events = report.shop_events,
            seconds = report.seconds,
            "recommender refitted"
        );
        Ok(report)
    }

    /// What the model being served was trained on.
    pub fn last_fit(&self) -> FitReport {
        *self.last_fit.read()
    }

    /// The customer's sequence, oldest first: the shipped history, then the live events.
    fn history(&self, user: &User) -> Vec<String> {
        let mut h = user.ext_id.as_ref().and_then(|e| self.trained.get(e)).cloned().unwrap_or_default();
        h.extend(self.live.events(&user.id.to_string()));
        h
    }

    /// Recommendations after `user`'s sequence (or, for a visitor, the guest sequence `guest`), followed
    /// by `then` (a product being looked at).
    fn compute(
        &self,
        user: Option<&User>,
        guest: &[i64],
        then: Option<i64>,
        k: usize,
        filter: &Filter,
    ) -> ApiResult<Vec<reco_core::serve::Recommendation>> {
        let mut seq = user.map_or_else(|| guest.iter().map(i64::to_string).collect(), |u| self.history(u));
        seq.extend(then.map(|p| p.to_string()));
        let refs: Vec<&str> = seq.iter().map(String::as_str).collect();
        self.server.recommend_next(&refs, k, filter).map_err(internal)
    }

    /// The JSON of `recs` with the products' current names and prices; a "because you bought" reason
    /// names its product (`because`) by its current name.
    /// A reason's wording: "bought" only for what the customer paid for; a visitor's item is "in your cart"
    /// only when `guest` (the cart) holds it, and the product `then` being viewed is "looking at".
    fn render(
        &self,
        user: Option<&User>,
        guest: &[i64],
        then: Option<i64>,
        recs: &[reco_core::serve::Recommendation],
    ) -> Bytes {
        let info = self.info.read();
        let bought = self.bought.read();
        let shipped = user.and_then(|u| u.ext_id.as_ref()).and_then(|e| self.trained.get(e));
        // The shipped history is purchases; a shop customer's, only what they paid for.
        let was_bought = |pid: i64, id: &str| {
            user.is_some_and(|u| bought.get(&u.id).is_some_and(|b| b.contains(&pid)))
                || shipped.is_some_and(|h| h.iter().any(|p| p == id))
        };
        let name_of = |pid: &str| pid.parse::<i64>().ok().and_then(|p| info.get(&p)).map(|i| i.name.as_str());
        let items = recs
            .iter()
            .filter_map(|r| {
                let pid = r.item.parse::<i64>().ok()?;
                let i = info.get(&pid)?;
                let because = r.because.as_deref().and_then(|b| Some((b, b.parse::<i64>().ok()?, name_of(b)?)));
                let reason = match because {
                    Some((id, b, name)) if user.is_some() && was_bought(b, id) => {
                        Some(format!("because you bought {name}"))
                    }
                    Some((_, b, name)) if then == Some(b) => Some(format!("because you are looking at {name}")),
                    Some((_, b, name)) if user.is_none() && guest.contains(&b) => {
                        Some(format!("because {name} is in your cart"))
                    }
                    Some((_, _, name)) => Some(format!("because you looked at {name}")),
                    None => r.reason.clone(),
                };
                let (sku, name, price_cents) = (i.sku.clone(), i.name.clone(), i.price_cents);
                Some(Recommended { product_id: pid, sku, name, price_cents, score: r.score, reason })
            })
            .collect();
        let body = Recommendations { user: user.map(|u| u.id), items };
        Bytes::from(serde_json::to_vec(&body).unwrap_or_else(|_| b"{\"user\":null,\"items\":[]}".to_vec()))
    }

    /// The JSON answer of `GET /recommendations` for `user` (`None`: a visitor, whose guest cart's
    /// products in order are `guest`), cached (customers and visitors without a cart) until the user's
    /// next event, the next change of a product, or the next refit.
    pub fn recommend_json(&self, user: Option<&User>, guest: &[i64], k: usize) -> ApiResult<Bytes> {
        // The versions before the filter: an answer computed with an older filter is stored under an
        // older version, never a newer one.
        let uid = user.map_or(0, |u| u.id);
        let uv = self.user_version.read().get(&uid).copied().unwrap_or(0);
        let gv = self.global.load(Ordering::Acquire);
        let filter = self.filter.read().clone();
        if user.is_none() && !guest.is_empty() {
            return Ok(self.render(None, guest, None, &self.compute(None, guest, None, k, &filter)?));
        }
        if let Some((a, b, body)) = self.cache.read().get(&(uid, k)) {
            if (*a, *b) == (uv, gv) {
                return Ok(body.clone());
            }
        }
        let body = self.render(user, &[], None, &self.compute(user, &[], None, k, &filter)?);
        let mut cache = self.cache.write();
        if cache.len() > 200_000 {
            cache.clear();
        }
        cache.insert((uid, k), (uv, gv, body.clone()));
        Ok(body)
    }

    /// The ids of the products recommended to `user` (for the chatbot), best first.
    pub fn recommend_products(&self, user: Option<&User>, k: usize) -> ApiResult<Vec<i64>> {
        let filter = self.filter.read().clone();
        Ok(self.compute(user, &[], None, k, &filter)?.iter().filter_map(|r| r.item.parse().ok()).collect())
    }

    /// `GET /products/{id}/next`: what comes next after the visitor's sequence (the customer's, or the
    /// guest cart `guest`) followed by product `pid` — the product page's "next" list.
    /// Cached for a customer (until their next event, a product change or a refit), not for a guest cart.
    pub fn next_json(&self, user: Option<&User>, guest: &[i64], pid: i64, k: usize) -> ApiResult<Bytes> {
        let uv = user.and_then(|u| self.user_version.read().get(&u.id).copied()).unwrap_or(0);
        let gv = self.global.load(Ordering::Acquire);
        let filter = self.filter.read().clone(); // after the versions (see recommend_json)
        let Some(u) = user.filter(|_| guest.is_empty()) else {
            return Ok(self.render(user, guest, Some(pid), &self.compute(user, guest, Some(pid), k, &filter)?));
        };
        if let Some((a, b, body)) = self.next_cache.read().get(&(u.id, pid, k)) {
            if (*a, *b) == (uv, gv) {
                return Ok(body.clone());
            }
        }
        let body = self.render(user, &[], Some(pid), &self.compute(user, &[], Some(pid), k, &filter)?);
        let mut cache = self.next_cache.write();
        if cache.len() > 200_000 {
            cache.clear();
        }
        cache.insert((u.id, pid, k), (uv, gv, body.clone()));
        Ok(body)
    }

    /// Rank (0 = best) of up to `n` products for `user`, seen ones included (for search re-ranking).
    pub fn ranks(&self, user: &User, n: usize) -> HashMap<i64, usize> {
        let filter = Filter { exclude_seen: false, ..Filter::default() };
        let recs = self.compute(Some(user), &[], None, n.max(1), &filter).unwrap_or_default();
        recs.iter().enumerate().filter_map(|(r, x)| x.item.parse().ok().map(|p| (p, r))).collect()
    }

    /// `GET /products/{id}/similar`: the model's neighbours (a product the model has not been trained
    /// on yet has none).
    pub fn similar(&self, pid: i64, k: usize) -> ApiResult<Response> {
        let body = self.similar_json(pid, k)?;
        Ok(([("content-type", "application/json")], body).into_response())
    }

    /// The JSON answer of [`similar`](Self::similar).
    /// Cached per product until the model or a product's availability, name or price changes.
    pub fn similar_json(&self, pid: i64, k: usize) -> ApiResult<Bytes> {
        let gv = self.global.load(Ordering::Acquire);
        if let Some((v, body)) = self.similar_cache.read().get(&(pid, k)) {
            if *v == gv {
                return Ok(body.clone());
            }
        }
        let body = self.similar_uncached(pid, k)?;
        let mut cache = self.similar_cache.write();
        if cache.len() > 200_000 {
            cache.clear();
        }
        cache.insert((pid, k), (gv, body.clone()));
        Ok(body)
    }

    fn similar_uncached(&self, pid: i64, k: usize) -> ApiResult<Bytes> {
        let items = match self.server.similar_items(&pid.to_string(), k) {
            Ok(items) => items,
            Err(reco_core::RecoError::UnknownItem(_)) => Vec::new(),
            Err(e) => return Err(internal(e)),
        };
        let filter = self.filter.read().clone();
        let items: Vec<_> = items.into_iter().filter(|r| !filter.out_of_stock.contains(&r.item)).collect();
        Ok(self.render(None, &[], None, &items))
    }

    /// Records `kind` on `products` for `user`: in memory at once (the next answer changes), and in the
    /// `events` table (a failure there is logged, the request still succeeds).
    pub async fn event(&self, db: &crate::db::Db, user: i64, products: &[i64], kind: EventKind) {
        // Viewing again the product viewed last (a reload) leaves the sequence as it was — sequences are
        // distinct items in order — so the user's cached answers stay valid; the view is still stored.
        let reload = kind == EventKind::View && products.len() == 1 && self.last_touched(user) == Some(products[0]);
        if !reload {
            self.remember_remote(user, products, kind == EventKind::Purchase);
        }
        metrics::counter!("shop_reco_events_total", "kind" => kind.as_str()).increment(products.len() as u64);
        if kind == EventKind::View {
            // Views come one per product page: stored in batches (every 250 ms by the background loop
            // and at shutdown), not one write transaction each — a SIGKILL loses at most that window of
            // views (never a cart or purchase); refits read only carts and purchases.
            let t = crate::db::now();
            self.pending_views.lock().extend(products.iter().map(|&p| (user, p, t)));
            return;
        }
        let stored = async {
            let mut tx = crate::db::write_tx(db).await?;
            let t = crate::db::now();
            for &p in products {
                sqlx::query("INSERT INTO events (user_id, product_id, kind, at) VALUES ($1, $2, $3, $4)")
                    .bind(user)
                    .bind(p)
                    .bind(kind.as_str())
                    .bind(t)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await
        };
        if let Err(e) = stored.await {
            tracing::warn!(error = %e, "events not stored");
        }
    }

    /// Stores the views recorded since the last call, in one transaction; on failure they stay queued
    /// for the next call (at most 100,000: the oldest beyond are dropped, with a warning). Returns how many
    /// were stored.
    pub async fn flush_views(&self, db: &crate::db::Db) -> usize {
        let batch = std::mem::take(&mut *self.pending_views.lock());
        if batch.is_empty() {
            return 0;
        }
        let stored = async {
            let mut tx = crate::db::write_tx(db).await?;
            // multi-row INSERTs of up to 300 views (900 parameters: under SQLite's limit)
            for chunk in batch.chunks(300) {
                let rows: Vec<String> = (0..chunk.len())
                    .map(|i| format!("(${}, ${}, 'view', ${})", 3 * i + 1, 3 * i + 2, 3 * i + 3))
                    .collect();
                let sql = format!("INSERT INTO events (user_id, product_id, kind, at) VALUES {}", rows.join(", "));
                let mut q = sqlx::query(&sql);
                for &(user, product, at) in chunk {
                    q = q.bind(user).bind(product).bind(at);
                }
                q.execute(&mut *tx).await?;
            }
            tx.commit().await
        };
        match stored.await {
            Ok(()) => batch.len(),
            Err(e) => {
                tracing::warn!(error = %e, views = batch.len(), "views not stored yet; retried");
                let mut pending = self.pending_views.lock();
                let newer = std::mem::replace(&mut *pending, batch);
                pending.extend(newer);
                let excess = pending.len().saturating_sub(100_000);
                if excess > 0 {
                    tracing::warn!(dropped = excess, "view backlog full: oldest views dropped");
                    pending.drain(..excess);
                }
                0
            }
        }
    }

    /// Replays the stored events into memory (at start, so live history survives restarts).
    pub async fn load_events(&self, db: &crate::db::Db) -> ApiResult<usize> {
        let rows: Vec<(i64, i64, String)> =
            // by time: views are stored in batches, after carts and purchases that followed them
            sqlx::query_as("SELECT user_id, product_id, kind FROM events ORDER BY at, id").fetch_all(db).await?;
        for (u, p, kind) in &rows {
            self.remember(*u, &[*p]);
            if kind == EventKind::Purchase.as_str() {
                self.bought.write().entry(*u).or_default().insert(*p);
            }
        }
        Ok(rows.len())
    }

    /// Appends live events in memory.
    /// Events another replica stored: in memory only (the next answer for `user` changes).
    pub fn remember_remote(&self, user: i64, products: &[i64], purchase: bool) {
        if !products.is_empty() {
            self.remember(user, products);
            if purchase {
                self.bought.write().entry(user).or_default().extend(products);
            }
            *self.user_version.write().entry(user).or_default() += 1;
        }
    }

    /// The product `user` touched last (viewed, carted, bought), from the live events in memory.
    pub fn last_touched(&self, user: i64) -> Option<i64> {
        self.live.last(&user.to_string())?.parse().ok()
    }

    fn remember(&self, user: i64, products: &[i64]) {
        let user = user.to_string();
        for p in products {
            // Ids are never empty, the one error `record` has.
            let _ = self.live.record(&user, &p.to_string());
        }
    }

    /// Marks a product available or not (stock, active) for the out-of-stock filter.
    pub fn stock_changed(&self, pid: i64, available: bool) {
        let id = pid.to_string();
        let mut f = self.filter.write();
        if f.out_of_stock.contains(&id) != available {
            return;
        }
        let mut nf = Filter::clone(&f);
        match available {
            true => nf.out_of_stock.remove(&id),
            false => nf.out_of_stock.insert(id),
        };
        *f = Arc::new(nf);
        self.global.fetch_add(1, Ordering::AcqRel);
    }

    /// A product was created or edited: its name, price and availability as shown from now on (the
    /// model learns a new product's neighbours at the next refit). Cached answers are dropped only if
    /// the served model knows the product (no answer can name it otherwise).
    pub fn product_changed(&self, p: &ProductRow) {
        let mut info = self.info.write();
        let same = info.get(&p.id).is_some_and(|i| i.name == p.name && i.price_cents == p.price_cents);
        if !same {
            info.insert(p.id, Info { sku: p.sku.clone(), name: p.name.clone(), price_cents: p.price_cents });
            if self.server.model().items().get(&p.id.to_string()).is_some() {
                self.global.fetch_add(1, Ordering::AcqRel);
            }
        }
        drop(info);
        self.stock_changed(p.id, p.stock > 0 && p.active);
    }

    /// Re-reads the availability of `products` from the database.
    pub async fn refresh_stock(&self, db: &crate::db::Db, products: &[i64]) {
        for &p in products {
            if let Ok(Some((stock, active))) =
                sqlx::query_as::<_, (i64, Flag)>("SELECT stock, active FROM products WHERE id = $1")
                    .bind(p)
                    .fetch_optional(db)
                    .await
            {
                self.stock_changed(p, stock > 0 && active.0);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kind_weighted_zero_is_not_read() {
        assert_eq!(counted_kinds(&KindWeights::default()), "kind IN ('view', 'cart', 'purchase')");
        assert_eq!(counted_kinds(&KindWeights::parse("view=0").unwrap()), "kind IN ('cart', 'purchase')");
        for k in [EventKind::View, EventKind::Cart, EventKind::Purchase] {
            assert_eq!(reco_core::data::EventKind::parse(k.as_str()), Some(k.engine()));
        }
    }
}
