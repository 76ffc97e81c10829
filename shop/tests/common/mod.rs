//! One shop per test binary (fresh database in a temp dir, chatbot off unless asked), driven in
//! process through the router on one shared runtime, plus request helpers.
#![allow(dead_code)]

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::Value;
use shopml_shop::config::{Config, GatewayConfig};
use shopml_shop::{AppState, Shop};
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

/// The test configuration: temp database, no chatbot, no API limit, generous login limit, fast
/// payment retries, no periodic recommender refits, and three extra gateways (`decline`: every charge
/// declined; `refund-decline`: charges pass, every refund declined; `flaky`: outages and lost answers).
pub fn test_config(dir: &std::path::Path, chat: bool) -> Config {
    let mut c = Config {
        database: dir.join("shop.db"),
        datasets: Some(datasets()),
        chat,
        chat_model: Some(dir.join("chat.model")),
        rate_api_per_sec: 0,
        rate_login_per_min: 100_000,
        payment_backoff_ms: 1,
        payment_attempts: 8,
        db_connections: 8,
        reco_refit_minutes: 0,
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
        let shop = std::thread::spawn(move || rt().block_on(shopml_shop::start(config))).join().unwrap().unwrap();
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
    let resp = env().router.clone().oneshot(req).await.unwrap();
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
        sqlx::query_scalar("INSERT INTO users (email, role, store_id, created_at) VALUES (?, ?, ?, 0) RETURNING id")
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
    let store: i64 = sqlx::query_scalar("INSERT INTO stores (name, gateway, created_at) VALUES (?, ?, 0) RETURNING id")
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

/// The integer `sql` selects, with `arg` bound to its `?`.
pub async fn int<'a, A>(sql: &'a str, arg: A) -> i64
where
    A: 'a + sqlx::Encode<'a, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>,
{
    sqlx::query_scalar(sql).bind(arg).fetch_one(&shop().db).await.unwrap()
}

pub async fn stock(product: i64) -> i64 {
    int("SELECT stock FROM products WHERE id = ?", product).await
}

/// [`buy`], which must answer 201 Paid; the order's id.
pub async fn paid(token: &str, key: &str, product: i64, quantity: i64) -> i64 {
    let r = buy(token, key, product, quantity).await;
    assert_eq!((r.status.as_u16(), r.json["status"].as_str()), (201, Some("Paid")), "{:?}", r.json);
    r.json["id"].as_i64().unwrap()
}

/// Buys `quantity` of `product` as `token` with idempotency key `key`.
pub async fn buy(token: &str, key: &str, product: i64, quantity: i64) -> Resp {
    call(
        "POST",
        "/checkout",
        Some(token),
        &[("idempotency-key", key)],
        Some(serde_json::json!({"ship_to": "1 Test Street", "items": [{"product_id": product, "quantity": quantity}]})),
    )
    .await
}
