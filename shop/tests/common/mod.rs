//! One shop per test binary (fresh database in a temp dir, chatbot off unless asked), driven in
//! process through the router on one shared runtime, plus request helpers.
#![allow(dead_code)]

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::Value;
use shopml_shop::config::{Config, GatewayConfig};
use shopml_shop::payment::{BoxFuture, PayError, PaymentGateway};
use shopml_shop::{AppState, Shop};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use tower::ServiceExt;

pub struct Env {
    pub shop: AppState,
    pub router: axum::Router,
    _dir: tempfile::TempDir,
}

pub fn rt() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_all().build().unwrap())
}

pub fn datasets() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../datasets")
}

/// The environment variable that runs the shop tests on PostgreSQL: a server URL without a database
/// name (`postgres://user@127.0.0.1:5432`); each test shop gets a fresh database there. Unset: SQLite
/// files in temp dirs.
pub const PG_ENV: &str = "SHOP_TEST_POSTGRES";

/// The database of the test shop(s) in `dir`: `dir/shop.db`, or, when [`PG_ENV`] is set, a PostgreSQL
/// database created on the first call for `dir` (later calls for `dir` name the same one: a restart).
pub fn test_database(dir: &std::path::Path) -> String {
    let Some(server) = std::env::var(PG_ENV).ok().filter(|s| !s.is_empty()) else {
        return dir.join("shop.db").display().to_string();
    };
    static MADE: std::sync::Mutex<Vec<(std::path::PathBuf, String)>> = std::sync::Mutex::new(Vec::new());
    let mut made = MADE.lock().unwrap();
    if let Some((_, url)) = made.iter().find(|(d, _)| d == dir) {
        return url.clone();
    }
    let url = new_pg_database(&server);
    made.push((dir.to_path_buf(), url.clone()));
    url
}

/// Fails unless `db` is the backend the environment asks for (so a PostgreSQL run cannot quietly test
/// SQLite).
pub fn assert_backend(db: &shopml_shop::db::Db) {
    let want = match std::env::var(PG_ENV).ok().filter(|s| !s.is_empty()) {
        Some(_) => shopml_shop::db::Backend::Postgres,
        None => shopml_shop::db::Backend::Sqlite,
    };
    assert_eq!(shopml_shop::db::Backend::of(db), want, "{PG_ENV} decides the test database");
}

fn new_pg_database(server: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let name = format!("shop_test_{}_{}_{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed), rand_suffix());
    let server = server.trim_end_matches('/').to_string();
    let admin = format!("{server}/postgres");
    let create = format!("CREATE DATABASE {name}");
    // On a plain thread with its own runtime: callers may be inside a runtime already.
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
            use sqlx::Connection;
            let mut c = sqlx::PgConnection::connect(&admin).await.unwrap_or_else(|e| panic!("{PG_ENV}: {e}"));
            sqlx::Executor::execute(&mut c, create.as_str()).await.unwrap();
        })
    })
    .join()
    .unwrap();
    format!("{server}/{name}")
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos() as u64)
}

/// The test configuration: temp database, no chatbot, no API limit, generous login limit, fast
/// payment retries, no periodic recommender refits, and three extra gateways (`decline`: every charge
/// declined; `refund-decline`: charges pass, every refund declined; `flaky`: outages and lost answers).
pub fn test_config(dir: &std::path::Path, chat: bool) -> Config {
    let mut c = Config {
        database: test_database(dir),
        datasets: Some(datasets()),
        chat,
        chat_model: Some(dir.join("chat.model")),
        rate_api_per_sec: 0,
        rate_login_per_min: 100_000,
        payment_backoff_ms: 1,
        payment_attempts: 8,
        db_connections: 8,
        reco_refit_minutes: 0,
        session_cache_secs: 1,
        ..Config::default()
    };
    c.gateways.insert("decline".into(), GatewayConfig { decline_rate: 1.0, ..Default::default() });
    c.gateways.insert("refund-decline".into(), GatewayConfig { refund_decline_rate: 1.0, ..Default::default() });
    c.gateways
        .insert("flaky".into(), GatewayConfig { fail_rate: 0.4, timeout_rate: 0.3, seed: 9, ..Default::default() });
    c
}

pub fn env() -> &'static Env {
    static ENV: OnceLock<Env> = OnceLock::new();
    ENV.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let config = test_config(dir.path(), false);
        // On a plain thread: the first caller may already be inside the runtime.
        let parts = shopml_shop::Parts {
            gateways: vec![("gated".to_string(), gated().clone() as Arc<dyn PaymentGateway>)],
            notifier: None,
        };
        let shop =
            std::thread::spawn(move || rt().block_on(shopml_shop::start_with(config, parts))).join().unwrap().unwrap();
        assert_backend(&shop.db);
        let router = shopml_shop::router(shop.clone());
        Env { shop, router, _dir: dir }
    })
}

pub fn shop() -> &'static Arc<Shop> {
    &env().shop
}

/// A response: status, JSON body (Null if empty or not JSON), headers.
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub json: Value,
    pub headers: axum::http::HeaderMap,
}

pub async fn call(
    method: &str,
    path: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> Resp {
    let body = body.map(|b| b.to_string());
    call_raw(method, path, token, headers, body).await
}

pub async fn call_raw(
    method: &str,
    path: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
    body: Option<String>,
) -> Resp {
    call_to(&env().router, method, path, token, headers, body).await
}

/// [`call_raw`] on another shop's router (a second replica).
pub async fn call_to(
    router: &axum::Router,
    method: &str,
    path: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
    body: Option<String>,
) -> Resp {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(body.map_or_else(Body::empty, Body::from)).unwrap();
    let resp = router.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Resp { status, json, headers }
}

static NEXT: AtomicU64 = AtomicU64::new(1);

/// A unique suffix.
pub fn uniq() -> u64 {
    NEXT.fetch_add(1, Ordering::Relaxed) + std::process::id() as u64 * 1_000_000
}

/// A new customer with a session (inserted directly: no argon2 cost per test user). Returns (id, token).
pub async fn customer() -> (i64, String) {
    user("customer", None).await
}

/// A new user of `role` (a dealer of `store`) with a session.
pub async fn user(role: &str, store: Option<i64>) -> (i64, String) {
    let s = shop();
    let id: i64 =
        sqlx::query_scalar("INSERT INTO users (email, role, store_id, created_at) VALUES ($1, $2, $3, 0) RETURNING id")
            .bind(format!("{role}{}@test.shop", uniq()))
            .bind(role)
            .bind(store)
            .fetch_one(&s.db)
            .await
            .unwrap();
    let token = s.sessions.create(&s.db, id, 1).await.unwrap();
    (id, token)
}

/// A new store using `gateway`, its dealer's token, and a product of it with `stock` units at `price` cents.
pub async fn store_with_product(gateway: &str, stock: i64, price: i64) -> (i64, String, i64) {
    let s = shop();
    let store: i64 =
        sqlx::query_scalar("INSERT INTO stores (name, gateway, created_at) VALUES ($1, $2, 0) RETURNING id")
            .bind(format!("store {}", uniq()))
            .bind(gateway)
            .fetch_one(&s.db)
            .await
            .unwrap();
    let (_, dealer) = user("dealer", Some(store)).await;
    let r = call(
        "POST",
        "/products",
        Some(&dealer),
        &[],
        Some(serde_json::json!({"sku": format!("T{}", uniq()), "name": "Test lamp", "price_cents": price, "stock": stock})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json);
    (store, dealer, r.json["id"].as_i64().unwrap())
}

/// The integer `sql` selects, with `arg` bound to its `$1`.
pub async fn int<'a, A>(sql: &'a str, arg: A) -> i64
where
    A: 'a + sqlx::Encode<'a, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    sqlx::query_scalar(sql).bind(arg).fetch_one(&shop().db).await.unwrap()
}

pub async fn stock(product: i64) -> i64 {
    int("SELECT stock FROM products WHERE id = $1", product).await
}

/// [`buy`], which must answer 201 Paid; the order's id.
pub async fn paid(token: &str, key: &str, product: i64, quantity: i64) -> i64 {
    let r = buy(token, key, product, quantity).await;
    assert_eq!((r.status.as_u16(), r.json["status"].as_str()), (201, Some("Paid")), "{:?}", r.json);
    r.json["id"].as_i64().unwrap()
}

/// Buys `quantity` of `product` as `token` with idempotency key `key`.
pub async fn buy(token: &str, key: &str, product: i64, quantity: i64) -> Resp {
    buy_to(&env().router, token, key, product, quantity).await
}

/// [`buy`] through another shop's router (a second replica).
pub async fn buy_to(router: &axum::Router, token: &str, key: &str, product: i64, quantity: i64) -> Resp {
    let body =
        serde_json::json!({"ship_to": "1 Test Street", "items": [{"product_id": product, "quantity": quantity}]});
    call_to(router, "POST", "/checkout", Some(token), &[("idempotency-key", key)], Some(body.to_string())).await
}

/// A test gateway (`gated` in [`env`]) whose calls the test steers by amount: a held amount waits
/// until released (a payment in flight), a declined refund amount is refused. Its ledger is the
/// provider's side of the books, for reconciliation. Tests pick amounts no other test uses.
#[derive(Debug, Default)]
pub struct Gated {
    /// key → (kind, amount, reference): what the provider did.
    pub ledger: parking_lot::Mutex<HashMap<String, (&'static str, i64, String)>>,
    held: parking_lot::Mutex<HashSet<i64>>,
    declined_refunds: parking_lot::Mutex<HashSet<i64>>,
    /// Calls that arrived for each amount (started, not necessarily finished).
    pub arrived: parking_lot::Mutex<HashMap<i64, usize>>,
}

impl Gated {
    pub fn hold(&self, amount: i64) {
        self.held.lock().insert(amount);
    }
    pub fn release(&self, amount: i64) {
        self.held.lock().remove(&amount);
    }
    pub fn decline_refunds_of(&self, amount: i64, on: bool) {
        match on {
            true => self.declined_refunds.lock().insert(amount),
            false => self.declined_refunds.lock().remove(&amount),
        };
    }
    pub fn arrivals(&self, amount: i64) -> usize {
        self.arrived.lock().get(&amount).copied().unwrap_or(0)
    }
    /// Net amount the provider holds for order `order`: its charge minus its refunds.
    pub fn net(&self, order: i64) -> (i64, i64) {
        let l = self.ledger.lock();
        let charged = l.get(&format!("order-{order}-charge")).map_or(0, |c| c.1);
        let prefix = format!("order-{order}-");
        let refunded = l.iter().filter(|(k, v)| v.0 == "refund" && k.starts_with(&prefix)).map(|(_, v)| v.1).sum();
        (charged, refunded)
    }
    async fn operate(&self, kind: &'static str, key: &str, amount: i64) -> Result<String, PayError> {
        *self.arrived.lock().entry(amount).or_default() += 1;
        while self.held.lock().contains(&amount) {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        if let Some(done) = self.ledger.lock().get(key) {
            return Ok(done.2.clone());
        }
        if kind == "refund" && self.declined_refunds.lock().contains(&amount) {
            return Err(PayError::Declined("gated refund decline".into()));
        }
        let reference = format!("gated_{kind}_{key}");
        self.ledger.lock().insert(key.to_string(), (kind, amount, reference.clone()));
        Ok(reference)
    }
}

impl PaymentGateway for Gated {
    fn charge<'a>(&'a self, key: &'a str, amount_cents: i64) -> BoxFuture<'a, Result<String, PayError>> {
        Box::pin(self.operate("charge", key, amount_cents))
    }
    fn refund<'a>(&'a self, key: &'a str, _: &'a str, amount_cents: i64) -> BoxFuture<'a, Result<String, PayError>> {
        Box::pin(self.operate("refund", key, amount_cents))
    }
    fn lookup<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<String>, PayError>> {
        Box::pin(async move { Ok(self.ledger.lock().get(key).map(|c| c.2.clone())) })
    }
}

/// The `gated` gateway of [`env`].
pub fn gated() -> &'static Arc<Gated> {
    static G: OnceLock<Arc<Gated>> = OnceLock::new();
    G.get_or_init(Arc::default)
}

/// Waits (up to 20 s) until `cond` holds.
pub async fn wait_until<F: FnMut() -> Fut, Fut: std::future::Future<Output = bool>>(what: &str, mut cond: F) {
    let t = std::time::Instant::now();
    while !cond().await {
        assert!(t.elapsed() < std::time::Duration::from_secs(20), "timed out waiting until {what}");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}
