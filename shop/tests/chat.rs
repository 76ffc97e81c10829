//! `POST /chat` on the shop's database: orders are answered and changed for the signed-in customer
//! only; conversations are scoped to their user.

mod common;
use common::*;
use serde_json::json;
use std::sync::OnceLock;

/// This binary's own shop, with the chatbot (trained once, ~10 s).
fn chat_env() -> &'static (shopml_shop::AppState, axum::Router, tempfile::TempDir) {
    static E: OnceLock<(shopml_shop::AppState, axum::Router, tempfile::TempDir)> = OnceLock::new();
    E.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let config = test_config(dir.path(), true);
        let shop = std::thread::spawn(move || rt().block_on(shopml_shop::start(config))).join().unwrap().unwrap();
        let router = shopml_shop::router(shop.clone());
        (shop, router, dir)
    })
}

async fn say(token: Option<&str>, conversation: Option<&str>, message: &str) -> serde_json::Value {
    use tower::ServiceExt;
    let mut body = json!({"message": message});
    if let Some(c) = conversation {
        body["conversation"] = c.into();
    }
    let mut req = axum::http::Request::post("/chat").header("content-type", "application/json");
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let resp = chat_env().1.clone().oneshot(req.body(axum::body::Body::from(body.to_string())).unwrap()).await.unwrap();
    assert_eq!(resp.status(), 200);
    serde_json::from_slice(&axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap()).unwrap()
}

async fn session(shop: &shopml_shop::AppState) -> (i64, String) {
    let id: i64 =
        sqlx::query_scalar("INSERT INTO users (email, role, created_at) VALUES ($1, 'customer', 0) RETURNING id")
            .bind(format!("chat{}@test.shop", uniq()))
            .fetch_one(&shop.db)
            .await
            .unwrap();
    (id, shop.sessions.create(&shop.db, id, 1).await.unwrap())
}

#[test]
fn chat_answers_and_cancels_only_the_signed_in_customers_orders() {
    rt().block_on(async {
        let shop = chat_env().0.clone();
        let (a_id, a) = session(&shop).await;
        let (_, b) = session(&shop).await;
        // A's paid order, made through the API's own checkout path.
        use tower::ServiceExt;
        let req = axum::http::Request::post("/checkout")
            .header("content-type", "application/json")
            .header("authorization", format!("Bearer {a}"))
            .header("idempotency-key", "chat-1")
            .body(axum::body::Body::from(
                json!({"ship_to": "3 Oak St", "items": [{"product_id": 20, "quantity": 1}]}).to_string(),
            ))
            .unwrap();
        let resp = chat_env().1.clone().oneshot(req).await.unwrap();
        assert_eq!(resp.status(), 201);
        let order: serde_json::Value =
            serde_json::from_slice(&axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap()).unwrap();
        let id = order["id"].as_i64().unwrap();
        assert!(id > 100_000, "order numbers read as order numbers: {id}");

        let r = say(Some(&a), None, &format!("where is my order #{id}?")).await;
        let text = r["reply"]["text"].as_str().unwrap();
        assert!(text.contains(&id.to_string()) && text.contains("paid"), "{text}");
        // B asks about A's order: not found, nothing revealed.
        let r = say(Some(&b), None, &format!("where is my order #{id}?")).await;
        let text = r["reply"]["text"].as_str().unwrap();
        assert!(!text.contains("paid") && !text.contains("3 Oak"), "{text}");
        let r = say(Some(&b), None, &format!("cancel order #{id}")).await;
        let conv = r["conversation"].as_str().unwrap().to_string();
        let r = say(Some(&b), Some(&conv), "yes").await;
        assert_ne!(r["reply"]["action"]["kind"], "cancelled", "{r}");
        let status: String =
            sqlx::query_scalar("SELECT status FROM orders WHERE id = $1").bind(id).fetch_one(&shop.db).await.unwrap();
        assert_eq!(status, "Paid");
        // A's conversation id used by B is B's own conversation: A's pending question does not leak.
        let r = say(Some(&a), None, &format!("please cancel order #{id}")).await;
        let conv = r["conversation"].as_str().unwrap().to_string();
        assert_eq!(r["reply"]["action"]["kind"], "confirm_cancel", "{r}");
        let r_b = say(Some(&b), Some(&conv), "yes").await;
        assert_ne!(r_b["reply"]["action"]["kind"], "cancelled");
        // A confirms: cancelled in the database, stock released, refund booked.
        let r = say(Some(&a), Some(&conv), "yes").await;
        assert_eq!(r["reply"]["action"]["kind"], "cancelled", "{r}");
        let (status, refunded): (String, i64) =
            sqlx::query_as("SELECT status, refunded_cents FROM orders WHERE id = $1 AND user_id = $2")
                .bind(id)
                .bind(a_id)
                .fetch_one(&shop.db)
                .await
                .unwrap();
        assert_eq!((status.as_str(), refunded), ("Cancelled", order["total_cents"].as_i64().unwrap()));
        // Products and recommendations come from this database.
        let r = say(Some(&a), None, "do you have a red woolly hottie?").await;
        assert!(r["reply"]["text"].as_str().unwrap().to_uppercase().contains("HOTTIE"), "{r}");
        // Signed out: order questions ask to sign in.
        let r = say(None, None, &format!("where is my order #{id}?")).await;
        assert!(r["reply"]["text"].as_str().unwrap().to_lowercase().contains("sign"), "{r}");
    });
}
