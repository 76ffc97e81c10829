//! The API rate limit through a real router: a client over its quota gets 429 with a JSON body and
//! `Retry-After`, per IP; `/health` and `/metrics` are not limited.

mod common;
use common::*;
use tower::ServiceExt;

#[test]
fn over_the_quota_is_a_429_json_with_retry_after() {
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let mut config = test_config(dir.path(), false);
        config.rate_api_per_sec = 1;
        config.rate_api_burst = 5;
        let shop = std::thread::spawn(move || rt().block_on(shopml_shop::start(config))).join().unwrap().unwrap();
        let router = shopml_shop::router(shop);
        let get = |path: &str, ip: [u8; 4]| {
            let mut req = axum::http::Request::get(path).body(axum::body::Body::empty()).unwrap();
            req.extensions_mut().insert(axum::extract::ConnectInfo(std::net::SocketAddr::from((ip, 4000))));
            router.clone().oneshot(req)
        };
        let mut statuses = Vec::new();
        for _ in 0..12 {
            statuses.push(get("/recommendations?k=3", [10, 0, 0, 1]).await.unwrap().status().as_u16());
        }
        // Burst 5, then one more per second (a slow machine may have earned a sixth).
        let ok = statuses.iter().filter(|&&s| s == 200).count();
        assert!((5..=6).contains(&ok) && statuses.iter().all(|&s| s == 200 || s == 429), "{statuses:?}");
        let r = get("/products?q=bag", [10, 0, 0, 1]).await.unwrap();
        assert_eq!(r.status(), 429);
        assert_eq!(r.headers()["retry-after"], "1");
        let body: serde_json::Value =
            serde_json::from_slice(&axum::body::to_bytes(r.into_body(), usize::MAX).await.unwrap()).unwrap();
        assert_eq!(body["error"]["code"], "rate_limited");
        assert_eq!(
            get("/recommendations?k=3", [10, 0, 0, 2]).await.unwrap().status(),
            200,
            "another client has its own quota"
        );
        assert_eq!(get("/health", [10, 0, 0, 1]).await.unwrap().status(), 200, "health is not limited");
    });
}
