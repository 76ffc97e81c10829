//! The database: SQLite (the embedded default: one file in WAL mode) or PostgreSQL (`postgres://…`, for
//! several replicas), reached through sqlx's `Any` driver so one code path serves both; migrations
//! (`migrations/sqlite`, `migrations/postgres`: the same schema in each dialect) applied on open; the demo
//! seed.

use crate::error::ApiResult;
use reco_core::data::Dataset;
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyConnection, AnyPool, Executor};
use std::time::Duration;

/// The shop's connection pool (SQLite or PostgreSQL: see [`Backend`]).
pub type Db = AnyPool;

mod backend;
pub use backend::{now, redact, Backend, Flag};
use backend::{sqlite_path, sqlite_url};

/// Opens the database `database` — a `postgres://` URL, or a SQLite file path (created with its folder
/// if missing) — with `connections` pooled connections, then applies the migrations. SQLite runs with
/// a WAL journal, `synchronous = NORMAL` (durable at each WAL checkpoint, never corrupt), foreign keys
/// on and a 5 s busy timeout.
pub async fn open(database: &str, connections: u32) -> Result<Db, sqlx::Error> {
    sqlx::any::install_default_drivers();
    let backend = Backend::of_setting(database);
    let url = match backend {
        Backend::Postgres => database.to_string(),
        Backend::Sqlite => {
            let path = std::path::Path::new(sqlite_path(database));
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(sqlx::Error::Io)?;
            }
            sqlite_url(sqlite_path(database))
        }
    };
    let pool = AnyPoolOptions::new()
        .max_connections(connections)
        .acquire_timeout(Duration::from_secs(10))
        .after_connect(move |conn, _| {
            Box::pin(async move {
                if backend == Backend::Sqlite {
                    conn.execute(
                        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
                         PRAGMA busy_timeout = 5000;",
                    )
                    .await?;
                }
                Ok(())
            })
        })
        .connect(&url)
        .await?;
    match backend {
        Backend::Sqlite => sqlx::migrate!("./migrations/sqlite").run(&pool).await?,
        Backend::Postgres => sqlx::migrate!("./migrations/postgres").run(&pool).await?,
    }
    Ok(pool)
}

/// Multi-statement write transactions take turns here before taking a connection: SQLite has one
/// writer at a time anyway, and a connection that finds the lock taken polls it with sleeps of up to
/// 100 ms (its busy handler), which under contention leaves the database idle between writers; a FIFO
/// async lock hands over at once, and waiting writers hold no pool connection. Single-statement writes
/// (sessions, carts, products, outbox marks) go straight to the database.
static WRITE_GATE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The PostgreSQL advisory lock every [`WriteTx`] holds until it ends: the write transactions of all
/// replicas on one database take turns, as on SQLite (see [`write_tx`]).
pub const WRITE_LOCK: i64 = 0x73686f706d6c; // "shopml"

/// A write transaction no other write transaction interleaves with: on SQLite it holds the write lock
/// from `BEGIN` (`BEGIN IMMEDIATE`), on PostgreSQL the advisory lock [`WRITE_LOCK`] (every replica's
/// write transactions take turns; stock is decremented by conditional `UPDATE`s besides). Dereferences
/// to the connection; dropped without [`commit`](WriteTx::commit), it rolls back.
#[derive(Debug)]
pub struct WriteTx {
    tx: sqlx::Transaction<'static, sqlx::Any>,
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

impl WriteTx {
    /// Commits (and lets the next writer in).
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }
}

impl std::ops::Deref for WriteTx {
    type Target = AnyConnection;
    fn deref(&self) -> &Self::Target {
        &self.tx
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.tx
    }
}

/// Starts a [`WriteTx`] on a connection of `pool`, after this process's earlier writers (and, on
/// PostgreSQL, after every other replica's write transaction holding [`WRITE_LOCK`]).
pub async fn write_tx(pool: &Db) -> Result<WriteTx, sqlx::Error> {
    let turn = WRITE_GATE.lock().await;
    let tx = match Backend::of(pool) {
        Backend::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await?,
        Backend::Postgres => {
            let mut tx = pool.begin().await?;
            sqlx::query("SELECT 1 FROM pg_advisory_xact_lock($1)").bind(WRITE_LOCK).execute(&mut *tx).await?;
            tx
        }
    };
    Ok(WriteTx { tx, _turn: turn })
}

/// The ids of the demo store's seeded accounts.
pub const DEMO_ADMIN: &str = "admin@demo.shop";
/// The demo dealer (owns store 1).
pub const DEMO_DEALER: &str = "dealer@demo.shop";
/// The demo customer (a real Online Retail customer to the recommender).
pub const DEMO_CUSTOMER: &str = "customer@demo.shop";

/// The demo accounts that can still sign in with the published default password (checked before
/// serving on a public bind).
pub async fn demo_accounts_with_default_password(
    pool: &Db,
    passwords: &crate::auth::Passwords,
) -> ApiResult<Vec<String>> {
    let rows: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT email, password_hash FROM users WHERE email IN ($1, $2, $3)")
            .bind(DEMO_ADMIN)
            .bind(DEMO_DEALER)
            .bind(DEMO_CUSTOMER)
            .fetch_all(pool)
            .await?;
    let p = passwords.clone();
    tokio::task::spawn_blocking(move || {
        rows.into_iter()
            .filter(|(_, h)| h.as_deref().is_some_and(|h| p.verify(crate::config::DEFAULT_DEMO_PASSWORD, Some(h))))
            .map(|(e, _)| e)
            .collect()
    })
    .await
    .map_err(|e| crate::error::ApiError::Internal(e.to_string()))
}

/// Whether the database already holds a store.
pub async fn has_store(pool: &Db) -> ApiResult<bool> {
    Ok(sqlx::query_scalar::<_, i64>("SELECT count(*) FROM stores").fetch_one(pool).await? > 0)
}

/// Which accounts [`seed_demo`] creates.
#[derive(Debug, Clone)]
pub enum DemoAccounts {
    /// Admin, dealer and customer, all with this password hash.
    All(String),
    /// Only the admin, with this password hash (a generated password, for a public bind).
    AdminOnly(String),
}

/// Seeds store 1 ("Online Retail") with every product of `data`, and the demo accounts of `accounts`.
/// The demo customer is the dataset's first customer to the recommender. Does nothing if a store exists
/// by the time its write transaction starts (replicas starting together on an empty database seed once).
pub async fn seed_demo(pool: &Db, data: &Dataset, accounts: &DemoAccounts) -> ApiResult<()> {
    let t = now();
    let mut tx = write_tx(pool).await?;
    if sqlx::query_scalar::<_, i64>("SELECT count(*) FROM stores").fetch_one(&mut *tx).await? > 0 {
        return Ok(());
    }
    let store: i64 = sqlx::query_scalar(
        "INSERT INTO stores (name, gateway, created_at) VALUES ('Online Retail', 'simulated', $1) RETURNING id",
    )
    .bind(t)
    .fetch_one(&mut *tx)
    .await?;
    let mut sold = vec![0f64; data.n_items()];
    for e in data.interactions() {
        sold[e.item as usize] += e.weight as f64;
    }
    for (i, sku) in data.items().ids().iter().enumerate() {
        let meta = &data.item_meta()[i];
        let name = meta.text.clone().unwrap_or_else(|| sku.clone());
        let price = (meta.price.unwrap_or(1.0) as f64 * 100.0).round() as i64;
        sqlx::query(
            "INSERT INTO products (store_id, sku, name, description, category, price_cents, stock, popularity, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(store)
        .bind(sku)
        .bind(&name)
        .bind(format!("{name} — from the Online Retail catalogue"))
        .bind(meta.category.as_deref())
        .bind(price.max(0))
        .bind(storefront::shipped::demo_stock(sku) as i64)
        .bind(sold[i])
        .bind(t)
        .execute(&mut *tx)
        .await?;
    }
    let customer_ext = data.users().ids().first().cloned();
    let (password_hash, n) = match accounts {
        DemoAccounts::All(h) => (h, 3),
        DemoAccounts::AdminOnly(h) => (h, 1),
    };
    for (email, role, store_id, ext) in [
        (DEMO_ADMIN, "admin", None, None),
        (DEMO_DEALER, "dealer", Some(store), None),
        (DEMO_CUSTOMER, "customer", None, customer_ext),
    ]
    .into_iter()
    .take(n)
    {
        sqlx::query(
            "INSERT INTO users (email, password_hash, role, store_id, ext_id, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(email)
        .bind(password_hash)
        .bind(role)
        .bind(store_id)
        .bind(ext)
        .bind(t)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}
