//! Security fixes from the review, each a test that failed before its fix: no known demo credential on a
//! public bind, sessions revoked elsewhere stop working within the cache bound, login limits count
//! failures (no lock-out of a victim) and honour a trusted proxy's header only, a cart line of a product
//! taken off sale can be removed and does not block checkout, cookie sessions refuse cross-site writes,
//! and `/metrics` is for admins (or a separate listener).

mod common;
use axum::body::Body;
use axum::http::Request;
use common::*;
use serde_json::json;
use tower::ServiceExt;

fn start(config: shopml_shop::config::Config) -> anyhow::Result<shopml_shop::AppState> {
    std::thread::spawn(move || rt().block_on(shopml_shop::start(config))).join().unwrap()
}

async fn password_hash(shop: &shopml_shop::AppState, email: &str) -> Option<String> {
    sqlx::query_scalar::<_, Option<String>>("SELECT password_hash FROM users WHERE email = $1")
        .bind(email)
        .fetch_optional(&shop.db)
        .await
        .unwrap()
        .flatten()
}

#[test]
fn a_public_bind_never_gets_the_known_demo_password() {
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let mut config = test_config(dir.path(), false);
        config.bind = "0.0.0.0:8080".into();
        let shop = start(config).unwrap();
        let admin = password_hash(&shop, "admin@demo.shop").await.expect("an admin account exists");
        assert!(!shop.passwords.verify("demo-password", Some(&admin)), "the admin has the known demo password");
        for who in ["dealer@demo.shop", "customer@demo.shop"] {
            assert!(password_hash(&shop, who).await.is_none(), "{who} can sign in on a public bind");
        }
        let products: i64 = sqlx::query_scalar("SELECT count(*) FROM products").fetch_one(&shop.db).await.unwrap();
        assert!(products > 3000, "the demo catalogue is still seeded");
        shop.db.close().await;

        // A database seeded on loopback (demo accounts) refuses to serve on a public bind.
        let dir = tempfile::tempdir().unwrap();
        let shop = start(test_config(dir.path(), false)).unwrap();
        let hash = password_hash(&shop, "customer@demo.shop").await.unwrap();
        assert!(shop.passwords.verify("demo-password", Some(&hash)), "loopback keeps the documented demo logins");
        shop.db.close().await;
        let mut config = test_config(dir.path(), false);
        config.bind = "0.0.0.0:8080".into();
        let e = start(config).unwrap_err().to_string();
        assert!(e.contains("demo") && e.contains("password"), "{e}");

        // Asking for demo accounts on a public bind needs a password of one's own.
        let mut config = test_config(dir.path(), false);
        config.bind = "192.0.2.10:80".into();
        config.demo_accounts = Some(true);
        assert!(config.validate().unwrap_err().to_string().contains("demo_password"));
    });
}

#[test]
fn a_session_revoked_elsewhere_stops_working_within_the_cache_bound() {
    rt().block_on(async {
        let (uid, token) = customer().await;
        assert_eq!(call("GET", "/me", Some(&token), &[], None).await.status, 200);
        // Another replica (or an admin in the database) ends every session of the user.
        sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(uid).execute(&shop().db).await.unwrap();
        let bound = std::time::Duration::from_secs(shop().config.session_cache_secs);
        tokio::time::sleep(bound + std::time::Duration::from_millis(200)).await;
        assert_eq!(call("GET", "/me", Some(&token), &[], None).await.status, 401, "a revoked session still works");
        // A role change is seen within the same bound.
        let (uid, token) = customer().await;
        assert_eq!(call("GET", "/me", Some(&token), &[], None).await.json["role"], "customer");
        sqlx::query("UPDATE users SET role = 'admin' WHERE id = $1").bind(uid).execute(&shop().db).await.unwrap();
        tokio::time::sleep(bound + std::time::Duration::from_millis(200)).await;
        assert_eq!(call("GET", "/me", Some(&token), &[], None).await.json["role"], "admin");
    });
}

fn login_req(email: &str, password: &str, peer: [u8; 4], forwarded: Option<&str>) -> Request<Body> {
    let mut req = Request::post("/auth/login").header("content-type", "application/json");
    if let Some(f) = forwarded {
        req = req.header("x-forwarded-for", f);
    }
    let mut req = req.body(Body::from(json!({"email": email, "password": password}).to_string())).unwrap();
    req.extensions_mut().insert(axum::extract::ConnectInfo(std::net::SocketAddr::from((peer, 5000))));
    req
}

#[test]
fn login_limits_count_failures_per_client_and_cannot_lock_out_the_owner() {
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let mut config = test_config(dir.path(), false);
        config.rate_login_per_min = 3;
        config.trusted_proxies = vec!["10.9.9.9".parse().unwrap()];
        config.client_ip_header = Some("x-forwarded-for".into());
        let shop = start(config).unwrap();
        let router = shopml_shop::router(shop.clone());
        let send = |req: Request<Body>| {
            let router = router.clone();
            async move { router.oneshot(req).await.unwrap().status().as_u16() }
        };
        let owner = [10, 0, 0, 1];
        let mut reg = Request::post("/auth/register")
            .header("content-type", "application/json")
            .body(Body::from(json!({"email": "victim@test.shop", "password": "victim-secret"}).to_string()))
            .unwrap();
        reg.extensions_mut().insert(axum::extract::ConnectInfo(std::net::SocketAddr::from((owner, 5000))));
        assert_eq!(send(reg).await, 201);
        // Successful logins are not failures: more than the limit pass.
        for _ in 0..5 {
            assert_eq!(send(login_req("victim@test.shop", "victim-secret", owner, None)).await, 200);
        }
        // An attacker guessing from one address is stopped after the limit of failures ...
        let attacker = [10, 0, 0, 66];
        let mut statuses = Vec::new();
        for _ in 0..6 {
            statuses.push(send(login_req("victim@test.shop", "guess-guess", attacker, None)).await);
        }
        assert_eq!(statuses, [400, 400, 400, 429, 429, 429], "failures per client");
        // ... even with the right password, and a forged forwarding header from an untrusted peer changes nothing.
        assert_eq!(send(login_req("victim@test.shop", "victim-secret", attacker, None)).await, 429);
        assert_eq!(send(login_req("victim@test.shop", "guess-guess", attacker, Some("7.7.7.7"))).await, 429);
        // ... but the owner still signs in: the attacker cannot lock the account.
        assert_eq!(send(login_req("victim@test.shop", "victim-secret", owner, None)).await, 200);
        // Behind the trusted proxy, clients are told apart by the header the proxy appends.
        let proxy = [10, 9, 9, 9];
        for _ in 0..3 {
            assert_eq!(send(login_req("victim@test.shop", "nope-nope", proxy, Some("6.6.6.6, 1.1.1.1"))).await, 400);
        }
        assert_eq!(send(login_req("victim@test.shop", "nope-nope", proxy, Some("6.6.6.6, 1.1.1.1"))).await, 429);
        assert_eq!(
            send(login_req("victim@test.shop", "victim-secret", proxy, Some("2.2.2.2"))).await,
            200,
            "another client behind the same proxy is not blocked"
        );
    });
}

#[test]
fn a_cart_line_of_a_product_taken_off_sale_can_be_removed_and_does_not_block_checkout() {
    rt().block_on(async {
        let (store, dealer, gone) = store_with_product("simulated", 10, 250).await;
        let r = call(
            "POST",
            "/products",
            Some(&dealer),
            &[],
            Some(json!({"sku": format!("K{}", uniq()), "name": "Kept mug", "price_cents": 300, "stock": 10})),
        )
        .await;
        let kept = r.json["id"].as_i64().unwrap();
        let (_, c) = customer().await;
        for p in [gone, kept] {
            let r = call("PUT", &format!("/cart/items/{p}"), Some(&c), &[], Some(json!({"quantity": 2}))).await;
            assert_eq!(r.status, 200, "{:?}", r.json);
        }
        assert_eq!(
            call("DELETE", &format!("/products/{gone}"), Some(&dealer), &[], None).await.status.as_u16() / 100,
            2
        );
        let cart = call("GET", "/cart", Some(&c), &[], None).await.json;
        let line = cart["items"].as_array().unwrap().iter().find(|l| l["product_id"] == gone).unwrap().clone();
        assert_eq!(line["available"], false, "{cart:?}");
        // Checkout buys what is for sale and leaves the rest.
        let r = call(
            "POST",
            "/checkout",
            Some(&c),
            &[("idempotency-key", "offsale-1")],
            Some(json!({"ship_to": "3 Oak Way", "store_id": store})),
        )
        .await;
        assert_eq!((r.status.as_u16(), r.json["status"].as_str()), (201, Some("Paid")), "{:?}", r.json);
        let lines = r.json["lines"].as_array().unwrap();
        assert_eq!((lines.len(), lines[0]["product_id"].as_i64()), (1, Some(kept)));
        // The dead line can be removed.
        let r = call("DELETE", &format!("/cart/items/{gone}"), Some(&c), &[], None).await;
        assert_eq!(r.status, 200, "{:?}", r.json);
        assert_eq!(r.json["items"].as_array().unwrap().len(), 0, "{:?}", r.json);
        // It cannot be added again.
        let r = call("PUT", &format!("/cart/items/{gone}"), Some(&c), &[], Some(json!({"quantity": 1}))).await;
        assert_eq!(r.status, 404);
    });
}

async fn with_cookie(method: &str, path: &str, token: &str, headers: &[(&str, &str)]) -> (u16, serde_json::Value) {
    let mut req = Request::builder().method(method).uri(path).header("cookie", format!("theme=dark; session={token}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = env().router.clone().oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
    let status = resp.status().as_u16();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or_default())
}

#[test]
fn cookie_sessions_refuse_cross_site_writes() {
    rt().block_on(async {
        let (_, _, product) = store_with_product("simulated", 10, 410).await;
        let (_, c) = customer().await;
        let order = paid(&c, "csrf-1", product, 1).await;
        let cancel = format!("/orders/{order}/cancel");
        let status = || async { int("SELECT count(*) FROM orders WHERE id = $1 AND status = 'Paid'", order).await };
        for headers in [
            vec![("host", "shop.test"), ("origin", "https://evil.example")],
            vec![("host", "shop.test"), ("sec-fetch-site", "cross-site")],
            vec![("host", "shop.test"), ("origin", "null")],
            vec![("host", "shop.test")],
        ] {
            let (code, body) = with_cookie("POST", &cancel, &c, &headers).await;
            assert_eq!((code, body["error"]["code"].as_str()), (403, Some("csrf_rejected")), "{headers:?}");
            assert_eq!(status().await, 1, "the order was cancelled by a cross-site request ({headers:?})");
        }
        // Reads with the cookie work from anywhere; a same-origin write works.
        assert_eq!(
            with_cookie("GET", &format!("/orders/{order}"), &c, &[("origin", "https://evil.example")]).await.0,
            200
        );
        let (code, body) =
            with_cookie("POST", &cancel, &c, &[("host", "shop.test"), ("origin", "http://shop.test")]).await;
        assert_eq!((code, body["order"]["status"].as_str()), (200, Some("Cancelled")), "{body:?}");
        // A bearer token is not sent by browsers on their own: no origin needed.
        let order = paid(&c, "csrf-2", product, 1).await;
        let r = call("POST", &format!("/orders/{order}/cancel"), Some(&c), &[], None).await;
        assert_eq!(r.status, 200, "{:?}", r.json);
    });
}

#[test]
fn metrics_are_for_admins_or_a_separate_listener() {
    rt().block_on(async {
        call("GET", "/products?q=bag", None, &[], None).await;
        assert_eq!(call("GET", "/metrics", None, &[], None).await.status, 401);
        let (_, c) = customer().await;
        assert_eq!(call("GET", "/metrics", Some(&c), &[], None).await.status, 403);
        let (_, admin) = user("admin", None).await;
        let req = Request::get("/metrics").header("authorization", format!("Bearer {admin}")).body(Body::empty());
        let resp = env().router.clone().oneshot(req.unwrap()).await.unwrap();
        assert_eq!(resp.status(), 200);
        let text =
            String::from_utf8(axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap().to_vec()).unwrap();
        assert!(text.contains("http_requests_total{"), "{}", &text[..text.len().min(300)]);
        // The scrape listener (config `metrics_bind`) serves them without a session, and nothing else.
        let scrape = shopml_shop::metrics_router(shop().clone());
        let resp = scrape.clone().oneshot(Request::get("/metrics").body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(resp.status(), 200);
        let resp = scrape.oneshot(Request::get("/orders").body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(resp.status(), 404);
    });
}
