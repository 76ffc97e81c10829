//! Several shop processes ("replicas") on one PostgreSQL database: what each must hear from the others,
//! and how one tells whether another is still alive. On SQLite (one process) both are no-ops.
//!
//! - **Liveness.** Every replica holds a session-level advisory lock keyed by its random id, on a
//!   connection of its own, for as long as it runs; a replica that dies — SIGKILL included — loses the
//!   connection and the lock with it. Checkout stamps each order with its replica (`orders.claimed_by`);
//!   recovery finishes an order left Created by a replica whose lock is free at once, and one of a live
//!   replica only after its payment lease has run out (see `checkout::recover`).
//! - **News.** What replicas keep in memory about shared data — a customer's views, add-to-carts and
//!   purchases (the recommender's live history) and catalogue changes (product names, prices,
//!   availability; the search cache; the semantic index) — is published with `pg_notify` on channel
//!   [`CHANNEL`] and applied by every other replica's `LISTEN` task ([`spawn_listener`]). A listener that
//!   loses its connection reconnects and, since notifications sent meanwhile are gone, drops its search
//!   cache and marks its semantic index stale; the recommender's events stay in the `events` table and
//!   come back with the next refit or restart.
//!
//! Chosen over NATS: PostgreSQL is already there, so a replica needs nothing else to run or to test.
//! Not shared: rate limits (each replica counts its own clients; behind a balancer spreading load
//! evenly the effective limit is replicas × the configured one) and the session cache (bounded by
//! `session_cache_secs`).

use crate::db::{Backend, Db};
use crate::AppState;
use serde::{Deserialize, Serialize};
use sqlx::{AnyConnection, Connection};

/// The `LISTEN` / `NOTIFY` channel.
pub const CHANNEL: &str = "shopml";

/// Seconds between checks that the liveness lock's connection is still open.
pub const WATCH_SECS: u64 = 5;

/// Products per notification (a `NOTIFY` payload must stay under 8,000 bytes).
const IDS_PER_NOTE: usize = 400;

/// A change other replicas must apply to what they keep in memory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum News {
    /// A customer's events (`view`, `cart`, `purchase`) on products, already stored.
    Events {
        /// The customer.
        user: i64,
        /// The products, in order.
        products: Vec<i64>,
        /// Whether they were bought (a "because you bought" reason names only bought products).
        #[serde(default)]
        purchase: bool,
    },
    /// Products created, edited or taken off sale (names, prices, texts, availability).
    Products {
        /// Their ids.
        ids: Vec<i64>,
    },
    /// Products whose stock moved (checkouts, cancellations, refunds): availability only.
    Stock {
        /// Their ids.
        ids: Vec<i64>,
    },
}

#[derive(Serialize, Deserialize)]
struct Note {
    from: i64,
    news: News,
}

/// This process as one replica of the shop.
#[derive(Debug)]
pub struct Replica {
    /// Its id: random, positive, new at every start.
    pub id: i64,
    backend: Backend,
    /// The connection holding the liveness lock (PostgreSQL only), kept open for the process's life.
    alive: Option<tokio::sync::Mutex<AnyConnection>>,
}

impl Replica {
    /// Joins the database `database` (the shop's setting) that `db` is a pool of: on PostgreSQL takes
    /// the liveness lock on a connection of its own.
    pub async fn join(db: &Db, database: &str) -> Result<Replica, sqlx::Error> {
        let id = (rand::random::<u64>() >> 2) as i64 + 1;
        let backend = Backend::of(db);
        let alive = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => {
                let mut conn = AnyConnection::connect(database).await?;
                sqlx::query("SELECT 1 FROM pg_advisory_lock($1)").bind(id).execute(&mut conn).await?;
                Some(tokio::sync::Mutex::new(conn))
            }
        };
        Ok(Replica { id, backend, alive })
    }

    /// Keeps the liveness lock held (PostgreSQL): every [`WATCH_SECS`] the lock's connection is pinged;
    /// if it is gone (a database restart, a network cut), a new connection takes the lock again. Until
    /// then other replicas may take this one for dead and finish its Created orders (a payment racing
    /// that is refunded by the late-charge sweep), so the loss is logged as an error.
    pub fn spawn_watchdog(shop: &AppState) -> Option<tokio::task::JoinHandle<()>> {
        shop.replica.alive.as_ref()?;
        let weak = std::sync::Arc::downgrade(shop);
        Some(tokio::spawn(async move {
            loop {
                tokio::time::sleep(std::time::Duration::from_secs(WATCH_SECS)).await;
                let Some(shop) = weak.upgrade() else { return };
                let Some(alive) = shop.replica.alive.as_ref() else { return };
                let mut conn = alive.lock().await;
                if conn.ping().await.is_ok() {
                    continue;
                }
                tracing::error!(replica = shop.replica.id, "liveness lock lost with its connection; taking it again");
                let relocked = async {
                    let mut fresh = AnyConnection::connect(&shop.config.database).await?;
                    sqlx::query("SELECT 1 FROM pg_advisory_lock($1)").bind(shop.replica.id).execute(&mut fresh).await?;
                    Ok::<_, sqlx::Error>(fresh)
                };
                match relocked.await {
                    Ok(fresh) => *conn = fresh,
                    Err(e) => tracing::error!(error = %e, "liveness lock not taken again; retrying"),
                }
            }
        }))
    }

    /// Whether the replica `other` still runs (always true on SQLite, and for this replica).
    pub async fn is_alive(&self, db: &Db, other: i64) -> Result<bool, sqlx::Error> {
        if self.backend == Backend::Sqlite || other == self.id {
            return Ok(true);
        }
        // A transaction-scoped try in one autocommit statement: it conflicts with the other replica's
        // session lock and is gone when the statement ends (nothing to release, even on an error).
        let free: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)").bind(other).fetch_one(db).await?;
        Ok(!free)
    }

    /// Tells the other replicas (PostgreSQL only; a failure is logged — their caches then catch up
    /// by their own bounds: the search cache's TTL, the next refit).
    pub async fn publish(&self, db: &Db, news: News) {
        if self.backend == Backend::Sqlite {
            return;
        }
        let notes: Vec<News> = match news {
            News::Products { ids } => ids.chunks(IDS_PER_NOTE).map(|c| News::Products { ids: c.to_vec() }).collect(),
            News::Stock { ids } => ids.chunks(IDS_PER_NOTE).map(|c| News::Stock { ids: c.to_vec() }).collect(),
            News::Events { user, products, purchase } => {
                products.chunks(IDS_PER_NOTE).map(|c| News::Events { user, products: c.to_vec(), purchase }).collect()
            }
        };
        for news in notes {
            let payload = serde_json::to_string(&Note { from: self.id, news }).unwrap_or_default();
            let sent = sqlx::query("SELECT 1 FROM pg_notify($1, $2)").bind(CHANNEL).bind(payload).execute(db).await;
            if let Err(e) = sent {
                tracing::warn!(error = %e, "replica news not sent");
            }
        }
    }
}

/// Applies a note from another replica (its own notes come back too: skipped).
async fn apply(shop: &AppState, payload: &str) {
    let Ok(note) = serde_json::from_str::<Note>(payload) else {
        tracing::warn!(payload, "unreadable replica news");
        return;
    };
    if note.from == shop.replica.id {
        return;
    }
    match note.news {
        News::Events { user, products, purchase } => shop.reco.remember_remote(user, &products, purchase),
        News::Products { ids } => {
            for id in ids {
                match crate::catalog::product(&shop.db, id).await {
                    Ok(Some(p)) => shop.reco.product_changed(&p),
                    Ok(None) => {}
                    Err(e) => tracing::warn!(error = %e, id, "replica news: product not read"),
                }
            }
            shop.semantic.as_ref().inspect(|s| s.mark_stale());
            shop.search_cache.invalidate();
        }
        // Search results show stock only within the search cache's time-to-live anyway.
        News::Stock { ids } => shop.reco.refresh_stock(&shop.db, &ids).await,
    }
}

/// After notifications may have been missed: the search cache dropped, the semantic index re-read.
fn forget_unheard(shop: &AppState) {
    shop.semantic.as_ref().inspect(|s| s.mark_stale());
    shop.search_cache.invalidate();
}

/// On PostgreSQL, listens to the other replicas for as long as `shop` exists (reconnecting after a
/// lost connection); on SQLite returns `None`.
pub fn spawn_listener(shop: &AppState) -> Option<tokio::task::JoinHandle<()>> {
    if Backend::of(&shop.db) != Backend::Postgres {
        return None;
    }
    let url = shop.config.database.clone();
    let weak = std::sync::Arc::downgrade(shop);
    Some(tokio::spawn(async move {
        let mut first = true;
        loop {
            let connected = async {
                let mut l = sqlx::postgres::PgListener::connect(&url).await?;
                l.listen(CHANNEL).await?;
                Ok::<_, sqlx::Error>(l)
            };
            let mut listener = match connected.await {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(error = %e, "replica listener cannot connect; retrying");
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    continue;
                }
            };
            if !std::mem::replace(&mut first, false) {
                // Connected again: what was sent meanwhile is lost.
                let Some(shop) = weak.upgrade() else { return };
                forget_unheard(&shop);
            }
            loop {
                let n = listener.try_recv().await;
                let Some(shop) = weak.upgrade() else { return };
                match n {
                    Ok(Some(n)) => apply(&shop, n.payload()).await,
                    Ok(None) => forget_unheard(&shop), // sqlx reconnected: what was sent meanwhile is lost
                    Err(e) => {
                        tracing::warn!(error = %e, "replica listener failed; reconnecting");
                        break;
                    }
                }
            }
        }
    }))
}
