//! Recommendations wired to the shop: the model trained at start on the shipped purchase history, the
//! live events (views, add-to-cart, purchases) that change the next answer without retraining, the
//! out-of-stock filter, and a per-user answer cache invalidated by those events.
//!
//! A customer's recommendations come from item-kNN over their training history plus their live events
//! (`recommend_for_items`), so a purchase reshapes the list at once: the bought item leaves it and its
//! neighbours come in.

use crate::auth::User;
use crate::error::{ApiError, ApiResult};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use parking_lot::RwLock;
use reco_core::data::Dataset;
use reco_core::serve::Filter;
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
}

type Cached = (u64, u64, Bytes);

/// The live events kept per user (oldest dropped first).
const LIVE_PER_USER: usize = 200;

#[derive(Debug, Clone)]
struct Info {
    sku: String,
    name: String,
    price_cents: i64,
}

/// The shop's recommender.
pub struct Reco {
    model: Arc<TrainedModel>,
    sku_to_pid: HashMap<String, i64>,
    info: HashMap<i64, Info>,
    /// Training history per customer id of the dataset.
    trained: HashMap<String, Vec<String>>,
    live: RwLock<HashMap<i64, Vec<String>>>,
    user_version: RwLock<HashMap<i64, u64>>,
    /// Bumped when any product's availability changes (cached answers are then stale).
    global: AtomicU64,
    filter: RwLock<Arc<Filter>>,
    /// `(user, k)` → `(user version, global version, answer)`.
    cache: RwLock<HashMap<(i64, usize), Cached>>,
}

impl std::fmt::Debug for Reco {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reco").field("items", &self.info.len()).finish_non_exhaustive()
    }
}

impl Reco {
    /// Trains item-kNN on `data` and maps its items onto the products of the database (by SKU, store 1).
    pub async fn new(db: &sqlx::SqlitePool, data: &Dataset) -> ApiResult<Reco> {
        let params = reco_core::model::AnyParams::new("itemknn").map_err(|e| ApiError::Internal(e.to_string()))?;
        let model = TrainedModel::fit(data, &params, &|_, _| true).map_err(|e| ApiError::Internal(e.to_string()))?;
        let rows: Vec<(i64, String, String, i64, i64, bool)> =
            sqlx::query_as("SELECT id, sku, name, price_cents, stock, active FROM products WHERE store_id = (SELECT min(id) FROM stores)")
                .fetch_all(db)
                .await?;
        let mut trained: HashMap<String, Vec<String>> = HashMap::new();
        for e in &data.interactions {
            trained.entry(data.users.id(e.user).to_string()).or_default().push(data.items.id(e.item).to_string());
        }
        trained.values_mut().for_each(|v| {
            v.sort_unstable();
            v.dedup();
        });
        let out: HashSet<String> = rows.iter().filter(|r| r.4 <= 0 || !r.5).map(|r| r.1.clone()).collect();
        let filter = Filter { out_of_stock: out, ..Filter::default() };
        Ok(Reco {
            model: Arc::new(model),
            sku_to_pid: rows.iter().map(|r| (r.1.clone(), r.0)).collect(),
            info: rows.into_iter().map(|r| (r.0, Info { sku: r.1, name: r.2, price_cents: r.3 })).collect(),
            trained,
            live: RwLock::default(),
            user_version: RwLock::default(),
            global: AtomicU64::new(0),
            filter: RwLock::new(Arc::new(filter)),
            cache: RwLock::default(),
        })
    }

    fn history(&self, user: &User) -> Vec<String> {
        let mut h = user.ext_id.as_ref().and_then(|e| self.trained.get(e)).cloned().unwrap_or_default();
        if let Some(l) = self.live.read().get(&user.id) {
            h.extend(l.iter().cloned());
        }
        h
    }

    fn compute(
        &self,
        user: Option<&User>,
        k: usize,
        filter: &Filter,
    ) -> ApiResult<Vec<reco_core::serve::Recommendation>> {
        let hist = user.map(|u| self.history(u)).unwrap_or_default();
        let refs: Vec<&str> = hist.iter().map(String::as_str).collect();
        self.model.recommend_for_items(&refs, k, filter).map_err(|e| ApiError::Internal(e.to_string()))
    }

    fn render(&self, user: Option<&User>, recs: &[reco_core::serve::Recommendation]) -> Bytes {
        let items: Vec<serde_json::Value> = recs
            .iter()
            .filter_map(|r| {
                let pid = *self.sku_to_pid.get(&r.item)?;
                let i = self.info.get(&pid)?;
                Some(serde_json::json!({"product_id": pid, "sku": i.sku, "name": i.name, "price_cents": i.price_cents, "score": r.score, "reason": r.reason}))
            })
            .collect();
        Bytes::from(serde_json::json!({"user": user.map(|u| u.id), "items": items}).to_string())
    }

    /// The JSON answer of `GET /recommendations` for `user` (`None`: anonymous), cached until the
    /// user's next event or the next availability change.
    pub fn recommend_json(&self, user: Option<&User>, k: usize) -> ApiResult<Bytes> {
        let uid = user.map_or(0, |u| u.id);
        let uv = self.user_version.read().get(&uid).copied().unwrap_or(0);
        let gv = self.global.load(Ordering::Acquire);
        if let Some((a, b, body)) = self.cache.read().get(&(uid, k)) {
            if (*a, *b) == (uv, gv) {
                return Ok(body.clone());
            }
        }
        let filter = self.filter.read().clone();
        let body = self.render(user, &self.compute(user, k, &filter)?);
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
        Ok(self.compute(user, k, &filter)?.iter().filter_map(|r| self.sku_to_pid.get(&r.item).copied()).collect())
    }

    /// Rank (0 = best) of up to `n` products for `user`, seen ones included (for search re-ranking).
    pub fn ranks(&self, user: &User, n: usize) -> HashMap<i64, usize> {
        let filter = Filter { exclude_seen: false, ..Filter::default() };
        let recs = self.compute(Some(user), n.min(self.info.len().max(1)), &filter).unwrap_or_default();
        recs.iter().enumerate().filter_map(|(r, x)| self.sku_to_pid.get(&x.item).map(|&p| (p, r))).collect()
    }

    /// `GET /products/{id}/similar`: the model's neighbours (a product the model never saw has none).
    pub fn similar(&self, pid: i64, k: usize) -> ApiResult<Response> {
        let items = match self.info.get(&pid) {
            Some(i) => self.model.similar_items(&i.sku, k).map_err(|e| ApiError::Internal(e.to_string()))?,
            None => Vec::new(),
        };
        let filter = self.filter.read().clone();
        let items: Vec<_> = items.into_iter().filter(|r| !filter.out_of_stock.contains(&r.item)).collect();
        let body = self.render(None, &items);
        Ok(([("content-type", "application/json")], body).into_response())
    }

    /// Records `kind` on `products` for `user`: in memory at once (the next answer changes), and in the
    /// `events` table (a failure there is logged, the request still succeeds).
    pub async fn event(&self, db: &sqlx::SqlitePool, user: i64, products: &[i64], kind: EventKind) {
        let skus: Vec<String> = products.iter().filter_map(|p| self.info.get(p).map(|i| i.sku.clone())).collect();
        if !skus.is_empty() {
            let mut live = self.live.write();
            let l = live.entry(user).or_default();
            l.extend(skus);
            if l.len() > LIVE_PER_USER {
                let cut = l.len() - LIVE_PER_USER;
                l.drain(..cut);
            }
            drop(live);
            *self.user_version.write().entry(user).or_default() += 1;
        }
        let stored = async {
            let mut tx = crate::db::write_tx(db).await?;
            let t = crate::db::now();
            for &p in products {
                sqlx::query("INSERT INTO events (user_id, product_id, kind, at) VALUES (?, ?, ?, ?)")
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
        metrics::counter!("shop_reco_events_total", "kind" => kind.as_str()).increment(products.len() as u64);
    }

    /// Replays the stored events into memory (at start, so live history survives restarts).
    pub async fn load_events(&self, db: &sqlx::SqlitePool) -> ApiResult<usize> {
        let rows: Vec<(i64, i64)> =
            sqlx::query_as("SELECT user_id, product_id FROM events ORDER BY id").fetch_all(db).await?;
        let mut live = self.live.write();
        for (u, p) in &rows {
            if let Some(i) = self.info.get(p) {
                let l = live.entry(*u).or_default();
                l.push(i.sku.clone());
                if l.len() > LIVE_PER_USER {
                    l.remove(0);
                }
            }
        }
        Ok(rows.len())
    }

    /// Marks a product available or not (stock, active) for the out-of-stock filter.
    pub fn stock_changed(&self, pid: i64, available: bool) {
        let Some(i) = self.info.get(&pid) else { return };
        let mut f = self.filter.write();
        if f.out_of_stock.contains(&i.sku) != available {
            return;
        }
        let mut nf = Filter::clone(&f);
        match available {
            true => nf.out_of_stock.remove(&i.sku),
            false => nf.out_of_stock.insert(i.sku.clone()),
        };
        *f = Arc::new(nf);
        self.global.fetch_add(1, Ordering::AcqRel);
    }

    /// Re-reads the availability of `products` from the database.
    pub async fn refresh_stock(&self, db: &sqlx::SqlitePool, products: &[i64]) {
        for &p in products {
            if let Ok(Some((stock, active))) =
                sqlx::query_as::<_, (i64, bool)>("SELECT stock, active FROM products WHERE id = ?")
                    .bind(p)
                    .fetch_optional(db)
                    .await
            {
                self.stock_changed(p, stock > 0 && active);
            }
        }
    }
}
