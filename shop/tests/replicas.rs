//! Two replicas of the shop on one PostgreSQL database: replica A is the shared test shop, replica B a
//! second shop started on A's database. Checkouts spread over both never oversell and one idempotency
//! key pays once; a customer's events and a dealer's edit on A reach B through the replicas' news
//! (LISTEN/NOTIFY); recovery finishes at once the orders of a replica that no longer runs and leaves a
//! live replica's in-flight payment alone. PostgreSQL only (one process owns a SQLite file): ignored in
//! the plain run, run by `scripts/test`'s PostgreSQL pass (`--include-ignored` with SHOP_TEST_POSTGRES);
//! asked for without PostgreSQL, it fails.

mod common;
use common::*;
use serde_json::json;
use shopml_shop::AppState;
use std::sync::{Arc, OnceLock};

const NEEDS_PG: &str = "replicas share a PostgreSQL database: set SHOP_TEST_POSTGRES (scripts/test does)";

/// Replica B: a second shop on replica A's database, with a long search cache (60 s), so only A's news
/// can make B see A's catalogue edits at once.
fn replica_b() -> &'static (AppState, axum::Router, tempfile::TempDir) {
    static B: OnceLock<(AppState, axum::Router, tempfile::TempDir)> = OnceLock::new();
    B.get_or_init(|| {
        assert!(std::env::var(PG_ENV).is_ok_and(|v| !v.is_empty()), "{NEEDS_PG}");
        let a = shop().clone();
        let dir = tempfile::tempdir().unwrap();
        let mut config = test_config(dir.path(), false);
        config.database = a.config.database.clone();
        config.search_cache_ms = 60_000;
        let parts = shopml_shop::Parts {
            gateways: vec![("gated".to_string(), gated().clone() as Arc<dyn shopml_shop::payment::PaymentGateway>)],
            notifier: None,
        };
        let b =
            std::thread::spawn(move || rt().block_on(shopml_shop::start_with(config, parts))).join().unwrap().unwrap();
        assert_ne!(a.replica.id, b.replica.id);
        let router = shopml_shop::router(b.clone());
        (b, router, dir)
    })
}

/// A checkout of one unit on replica A (`on_b` false) or B.
async fn buy_on(on_b: bool, token: &str, key: &str, product: i64) -> Resp {
    buy_to(if on_b { &replica_b().1 } else { &env().router }, token, key, product, 1).await
}

#[test]
#[ignore = "needs PostgreSQL: SHOP_TEST_POSTGRES (scripts/test runs it)"]
fn checkouts_over_two_replicas_never_oversell_and_one_key_pays_once() {
    rt().block_on(async {
        replica_b();
        let (_, _, product) = store_with_product("simulated", 10, 250).await;
        let (_, token) = customer().await;
        let tasks: Vec<_> = (0..60)
            .map(|i| {
                let token = token.clone();
                tokio::spawn(async move { buy_on(i % 2 == 1, &token, &format!("rep-{product}-{i}"), product).await })
            })
            .collect();
        let (mut paid, mut out) = (0, 0);
        for t in tasks {
            let r = t.await.unwrap();
            match r.status.as_u16() {
                201 => paid += 1,
                409 => out += 1,
                s => panic!("unexpected {s}: {:?}", r.json),
            }
        }
        assert_eq!((paid, out), (10, 50));
        assert_eq!(stock(product).await, 0);
        let units = int("SELECT CAST(coalesce(sum(quantity), 0) AS BIGINT) FROM order_lines WHERE product_id = $1", product);
        assert_eq!(units.await, 10);

        // One key sent 20 times at once, alternately to A and B: one order, one charge.
        let (_, _, product) = store_with_product("simulated", 100, 300).await;
        let key = format!("one-key-{}", uniq());
        let tasks: Vec<_> = (0..20)
            .map(|i| {
                let (token, key) = (token.clone(), key.clone());
                tokio::spawn(async move { buy_on(i % 2 == 1, &token, &key, product).await })
            })
            .collect();
        let mut orders = std::collections::HashSet::new();
        for t in tasks {
            let r = t.await.unwrap();
            match r.status.as_u16() {
                201 => {
                    orders.insert(r.json["id"].as_i64().unwrap());
                }
                409 => assert_eq!(r.json["error"]["code"], "idempotency_in_progress", "{:?}", r.json),
                s => panic!("unexpected {s}: {:?}", r.json),
            }
        }
        assert_eq!(orders.len(), 1, "one key, one order: {orders:?}");
        assert_eq!(stock(product).await, 99, "one unit sold");
        assert_eq!(int("SELECT count(*) FROM order_lines WHERE product_id = $1", product).await, 1);
        let charges = int("SELECT count(*) FROM payments p JOIN order_lines l ON l.order_id = p.order_id WHERE l.product_id = $1 AND p.kind = 'charge'", product);
        assert_eq!(charges.await, 1);
    });
}

#[test]
#[ignore = "needs PostgreSQL: SHOP_TEST_POSTGRES (scripts/test runs it)"]
fn events_and_catalogue_edits_on_one_replica_reach_the_other() {
    rt().block_on(async {
        let (b, router_b, _) = replica_b();
        // A dealer renames a product on A; B's cached "no result" for the new name must go at once.
        let (_, dealer, product) = store_with_product("simulated", 5, 990).await;
        let word = format!("zebrawood{}", uniq());
        let find_on_b = || async {
            let r = call_to(router_b, "GET", &format!("/products?q={word}"), None, &[], None).await;
            r.json["total"].as_i64().unwrap()
        };
        assert_eq!(find_on_b().await, 0);
        let body = json!({"name": format!("{word} lamp")}).to_string();
        let r = call_to(&env().router, "PATCH", &format!("/products/{product}"), Some(&dealer), &[], Some(body)).await;
        assert_eq!(r.status, 200, "{:?}", r.json);
        wait_until("B finds the renamed product", || async { find_on_b().await == 1 }).await;

        // A customer's views on A change B's recommendations for them, to A's answer.
        let (_, token) = customer().await;
        let recs = |router: &'static axum::Router| {
            let token = token.clone();
            async move { call_to(router, "GET", "/recommendations?k=5", Some(&token), &[], None).await.json }
        };
        let before = recs(router_b).await;
        for pid in [21, 22, 23] {
            let r = call_to(&env().router, "GET", &format!("/products/{pid}"), Some(&token), &[], None).await;
            assert_eq!(r.status, 200);
        }
        let on_a = recs(&env().router).await;
        assert_ne!(on_a["items"], before["items"], "the views change A's answer");
        wait_until("B answers as A", || async { recs(router_b).await["items"] == on_a["items"] }).await;
        assert!(b.replica.id > 0);
    });
}

#[test]
#[ignore = "needs PostgreSQL: SHOP_TEST_POSTGRES (scripts/test runs it)"]
fn recovery_finishes_a_dead_replicas_orders_at_once_and_leaves_live_ones_alone() {
    rt().block_on(async {
        let (b, _, _) = replica_b();
        let (_, token) = customer().await;
        let (_, _, product) = store_with_product("simulated", 10, 450).await;
        let mut ids = Vec::new();
        for i in 0..2 {
            let r = buy_on(false, &token, &format!("dead-{product}-{i}"), product).await;
            assert_eq!(r.status, 201, "{:?}", r.json);
            ids.push(r.json["id"].as_i64().unwrap());
        }
        // Turn both back into payments in flight with an hour of lease: one claimed by A (alive), one by
        // a replica id nobody holds (a replica killed mid-checkout); their charges were never taken.
        let gone: i64 = 7_777_777_777;
        for (id, claim) in [(ids[0], shop().replica.id), (ids[1], gone)] {
            sqlx::query("UPDATE orders SET status = 'Created', lease_until = $1, claimed_by = $2 WHERE id = $3")
                .bind(shopml_shop::db::now() + 3600)
                .bind(claim)
                .bind(id)
                .execute(&b.db)
                .await
                .unwrap();
            sqlx::query("DELETE FROM payments WHERE order_id = $1").bind(id).execute(&b.db).await.unwrap();
            sqlx::query("DELETE FROM sim_gateway_charges WHERE key = $1")
                .bind(format!("order-{id}-charge"))
                .execute(&b.db)
                .await
                .unwrap();
        }
        assert!(b.replica.is_alive(&b.db, shop().replica.id).await.unwrap(), "B sees A alive");
        assert!(!b.replica.is_alive(&b.db, gone).await.unwrap());
        shopml_shop::checkout::recover(b, Some(300)).await.unwrap();
        let status = |id: i64| async move {
            sqlx::query_scalar::<_, String>("SELECT status FROM orders WHERE id = $1")
                .bind(id)
                .fetch_one(&shop().db)
                .await
                .unwrap()
        };
        assert_eq!(status(ids[0]).await, "Created", "a live replica's payment in flight is left alone");
        assert_eq!(status(ids[1]).await, "Cancelled", "the dead replica's order is finished (no charge: released)");
        // Leave the shared database consistent for the other tests.
        sqlx::query("UPDATE orders SET claimed_by = $1, lease_until = 0, created_at = 0 WHERE id = $2")
            .bind(gone)
            .bind(ids[0])
            .execute(&b.db)
            .await
            .unwrap();
        shopml_shop::checkout::recover(b, Some(300)).await.unwrap();
        assert_eq!(status(ids[0]).await, "Cancelled");
    });
}
