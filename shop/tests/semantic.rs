//! Semantic and hybrid product search with the real all-MiniLM-L6-v2 (fetched by `scripts/fetch-minilm`,
//! which `scripts/test` runs first; a missing model fails here, loudly). The shop is seeded with the demo
//! catalogue, then all but its first 700 products are taken off sale so the test embeds 700 texts, not
//! 3,919. Queries are the retailer's own alternative descriptions of its products
//! (see `examples/search_eval.rs`).

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{json, Value};
use shopml_shop::config::Config;
use std::sync::{Arc, OnceLock};
use tower::ServiceExt;

#[allow(unused)]
mod common;

struct Env {
    shop: Arc<shopml_shop::Shop>,
    router: axum::Router,
    _dir: tempfile::TempDir,
}

fn rt() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap())
}

fn encoder_dir() -> std::path::PathBuf {
    let dir = shopml_encoder::model_dir(None);
    assert!(dir.join("model.safetensors").is_file(), "{} has no model — run scripts/fetch-minilm", dir.display());
    dir
}

fn config(dir: &std::path::Path, encoder: Option<std::path::PathBuf>) -> Config {
    Config {
        database: common::test_database(dir),
        datasets: Some(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../datasets")),
        chat: false,
        rate_api_per_sec: 0,
        reco_refit_minutes: 0,
        encoder,
        ..Config::default()
    }
}

fn env() -> &'static Env {
    static ENV: OnceLock<Env> = OnceLock::new();
    ENV.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_path_buf();
        let shop = std::thread::spawn(move || {
            rt().block_on(async {
                // Seed without the encoder, keep 700 products on sale, then start with it.
                let seeded = shopml_shop::start(config(&path, None)).await.unwrap();
                sqlx::query("UPDATE products SET active = 0 WHERE id > 700").execute(&seeded.db).await.unwrap();
                seeded.db.close().await;
                drop(seeded);
                shopml_shop::start(config(&path, Some(encoder_dir()))).await.unwrap()
            })
        })
        .join()
        .unwrap();
        common::assert_backend(&shop.db);
        let router = shopml_shop::router(shop.clone());
        Env { shop, router, _dir: dir }
    })
}

async fn call(method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> (StatusCode, Value) {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    let req = req.body(body.map_or_else(Body::empty, |b| Body::from(b.to_string()))).unwrap();
    let resp = env().router.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

fn q(text: &str) -> String {
    text.replace(' ', "+")
}

/// The skus of a search's results.
async fn skus(query: &str, extra: &str) -> Vec<String> {
    let (status, body) = call("GET", &format!("/products?q={}&per_page=10{extra}", q(query)), None, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["items"].as_array().unwrap().iter().map(|p| p["sku"].as_str().unwrap().to_string()).collect()
}

#[test]
fn a_paraphrase_is_found_by_meaning_where_keywords_fail() {
    rt().block_on(async {
        // Stock code 82486 is listed as "WOOD S/3 CABINET ANT WHITE FINISH".
        let query = "3 drawer antique white wood cabinet";
        let keyword = skus(query, "&mode=keyword").await;
        assert!(!keyword.contains(&"82486".to_string()), "keyword search needs every word: {keyword:?}");
        let semantic = skus(query, "&mode=semantic").await;
        assert!(semantic[..3].contains(&"82486".to_string()), "semantic: {semantic:?}");
        let hybrid = skus(query, "&mode=hybrid").await;
        assert!(hybrid[..3].contains(&"82486".to_string()), "hybrid: {hybrid:?}");
        // With an encoder the default mode is hybrid, and the page says so.
        let (_, body) = call("GET", &format!("/products?q={}", q(query)), None, None).await;
        assert_eq!(body["mode"], "hybrid");
        assert_eq!(body["items"][0]["sku"], hybrid[0]);
    });
}

#[test]
fn filters_and_sorts_apply_to_semantic_results() {
    rt().block_on(async {
        let query = "hand warmer red polka dot";
        let (status, body) =
            call("GET", &format!("/products?q={}&mode=semantic&max_price=2&per_page=50", q(query)), None, None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let items = body["items"].as_array().unwrap();
        assert!(!items.is_empty());
        assert!(items.iter().all(|p| p["price_cents"].as_i64().unwrap() <= 200), "{items:?}");
        assert!(items.iter().all(|p| p["active"] == true));
        let (_, body) =
            call("GET", &format!("/products?q={}&mode=hybrid&sort=price_asc&per_page=20", q(query)), None, None).await;
        let prices: Vec<i64> =
            body["items"].as_array().unwrap().iter().map(|p| p["price_cents"].as_i64().unwrap()).collect();
        assert!(prices.len() > 5 && prices.windows(2).all(|w| w[0] <= w[1]), "{prices:?}");
        // Taken off sale (id > 700): never returned, whatever the mode.
        let off: i64 =
            sqlx::query_scalar("SELECT id FROM products WHERE sku = '22309'").fetch_one(&env().shop.db).await.unwrap();
        assert!(off > 700);
        for mode in ["semantic", "hybrid"] {
            let (_, body) =
                call("GET", &format!("/products?q=tea+cosy+red+stripe&mode={mode}&per_page=100"), None, None).await;
            assert!(body["items"].as_array().unwrap().iter().all(|p| p["id"].as_i64().unwrap() <= 700), "{body}");
        }
    });
}

#[test]
fn a_new_product_is_findable_by_meaning_at_once_and_gone_when_deleted() {
    rt().block_on(async {
        let db = &env().shop.db;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO users (email, role, store_id, created_at) VALUES ('semantic-dealer@test.shop', 'dealer', 1, 0) RETURNING id",
        )
        .fetch_one(db)
        .await
        .unwrap();
        let token = env().shop.sessions.create(db, id, 1).await.unwrap();
        let body = json!({"sku": "COSY-1", "name": "Knitted teapot jacket", "description": "keeps your pot of tea hot for an hour", "price_cents": 1200, "stock": 5});
        let (status, created) = call("POST", "/products", Some(&token), Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        let query = "something to keep tea warm";
        assert_eq!(skus(query, "&mode=keyword").await, Vec::<String>::new());
        // Searches racing the re-embedding all wait for it: none answers from the index without the product.
        let racing: Vec<_> = (0..6).map(|_| tokio::spawn(skus(query, "&mode=semantic"))).collect();
        for r in racing {
            let found = r.await.unwrap();
            assert_eq!(found.first().map(String::as_str), Some("COSY-1"), "{found:?}");
        }
        let (status, _) = call("DELETE", &format!("/products/{}", created["id"]), Some(&token), None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        assert!(!skus(query, "&mode=semantic").await.contains(&"COSY-1".to_string()));
    });
}

#[test]
fn vectors_are_stored_and_a_restart_embeds_nothing_again() {
    rt().block_on(async {
        let shop = &env().shop;
        skus("white metal lantern", "&mode=semantic").await; // any pending refresh done
        let stored: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM product_vectors v JOIN products p ON p.id = v.product_id WHERE p.active = 1",
        )
        .fetch_one(&shop.db)
        .await
        .unwrap();
        let active: i64 =
            sqlx::query_scalar("SELECT count(*) FROM products WHERE active = 1").fetch_one(&shop.db).await.unwrap();
        assert_eq!(stored, active);
        assert!(active >= 700);
        let dir = encoder_dir();
        let again =
            tokio::task::spawn_blocking(move || shopml_shop::semantic::Semantic::load(&dir)).await.unwrap().unwrap();
        assert_eq!(again.refresh(&shop.db).await.unwrap(), 0, "stored vectors are reused");
        assert_eq!(again.len() as i64, active);
    });
}

#[test]
fn the_chatbot_searches_the_same_way() {
    use storefront::{Catalog, PriceFilter};
    rt().block_on(async {
        let store = shopml_shop::chat::ShopStore::new(&env().shop);
        let found = tokio::task::spawn_blocking(move || {
            store.search("3 drawer antique white wood cabinet", PriceFilter::default(), 5).unwrap()
        })
        .await
        .unwrap();
        assert!(found.iter().any(|p| p.name == "WOOD S/3 CABINET ANT WHITE FINISH"), "{found:?}");
    });
}

#[test]
fn bad_modes_and_encoders_are_clear_errors() {
    rt().block_on(async {
        let (status, body) = call("GET", "/products?q=lantern&mode=fuzzy", None, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(body.to_string().contains("keyword, semantic, hybrid"), "{body}");
    });
    let e = shopml_shop::semantic::Semantic::load(std::path::Path::new("/nonexistent/minilm")).unwrap_err();
    assert!(e.to_string().contains("config.json"), "{e}");
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path(), None);
    c.search_mode = Some("semantic".into());
    assert!(c.validate().unwrap_err().to_string().contains("needs an encoder"));
    c.search_mode = Some("vector".into());
    assert!(c.validate().is_err());
}
