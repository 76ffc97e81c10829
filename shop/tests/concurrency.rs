//! Races: 200 buyers for 10 units (20 rounds), and one payment retried 50 times at once.

mod common;
use common::*;

#[test]
fn two_hundred_buyers_never_oversell_ten_units_twenty_times() {
    rt().block_on(async {
        let mut buyers = Vec::new();
        for _ in 0..200 {
            buyers.push(customer().await.1);
        }
        let t = std::time::Instant::now();
        for round in 0..20 {
            let (_, _, product) = store_with_product("simulated", 10, 250).await;
            let tasks: Vec<_> = buyers
                .iter()
                .enumerate()
                .map(|(i, tok)| {
                    let tok = tok.clone();
                    tokio::spawn(async move { buy(&tok, &format!("race-{round}-{i}"), product, 1).await })
                })
                .collect();
            let (mut paid, mut out) = (0, 0);
            for t in tasks {
                let r = t.await.unwrap();
                match r.status.as_u16() {
                    201 => paid += 1,
                    409 => {
                        assert_eq!(r.json["error"]["code"], "out_of_stock", "{:?}", r.json);
                        assert!(r.json["error"]["message"].as_str().unwrap().contains("out of stock"));
                        out += 1;
                    }
                    s => panic!("round {round}: unexpected {s}: {:?}", r.json),
                }
            }
            assert_eq!((paid, out), (10, 190), "round {round}");
            assert_eq!(stock(product).await, 0, "round {round}");
            let (orders, units): (i64, i64) = sqlx::query_as(
                "SELECT count(DISTINCT o.id), CAST(coalesce(sum(l.quantity), 0) AS BIGINT) FROM orders o JOIN order_lines l ON l.order_id = o.id
                 WHERE l.product_id = $1 AND o.status = 'Paid'",
            )
            .bind(product)
            .fetch_one(&shop().db)
            .await
            .unwrap();
            assert_eq!((orders, units), (10, 10), "round {round}");
        }
        eprintln!("oversell: 20 rounds × 200 buyers in {:.2} s", t.elapsed().as_secs_f64());
    });
}

#[test]
fn fifty_concurrent_retries_of_one_payment_charge_once() {
    rt().block_on(async {
        let (_, _, product) = store_with_product("simulated", 100, 999).await;
        let (user, tok) = customer().await;
        let tasks: Vec<_> = (0..50)
            .map(|_| {
                let tok = tok.clone();
                tokio::spawn(async move { buy(&tok, "pay-once", product, 2).await })
            })
            .collect();
        let mut bodies = Vec::new();
        let mut in_progress = 0;
        for t in tasks {
            let r = t.await.unwrap();
            match r.status.as_u16() {
                201 => bodies.push(r.json),
                409 => {
                    assert_eq!(r.json["error"]["code"], "idempotency_in_progress", "{:?}", r.json);
                    in_progress += 1;
                }
                s => panic!("unexpected {s}: {:?}", r.json),
            }
        }
        assert!(!bodies.is_empty());
        assert!(bodies.iter().all(|b| b == &bodies[0]), "every success is the same order, replayed");
        let order = bodies[0]["id"].as_i64().unwrap();
        let db = &shop().db;
        let orders: i64 = sqlx::query_scalar("SELECT count(*) FROM orders WHERE user_id = $1")
            .bind(user)
            .fetch_one(db)
            .await
            .unwrap();
        let charges: i64 = sqlx::query_scalar("SELECT count(*) FROM payments WHERE order_id = $1 AND kind = 'charge'")
            .bind(order)
            .fetch_one(db)
            .await
            .unwrap();
        let gateway: i64 = sqlx::query_scalar("SELECT count(*) FROM sim_gateway_charges WHERE key = $1")
            .bind(format!("order-{order}-charge"))
            .fetch_one(db)
            .await
            .unwrap();
        assert_eq!((orders, charges, gateway), (1, 1, 1));
        assert_eq!(stock(product).await, 98);
        eprintln!("idempotency: {} × 201 (1 first + replays), {in_progress} × 409 in progress", bodies.len());
        // After it finished: a retry replays, another body with the same key is refused.
        let again = buy(&tok, "pay-once", product, 2).await;
        assert_eq!(again.status, 201);
        assert_eq!(again.headers["idempotent-replayed"], "true");
        assert_eq!(again.json, bodies[0]);
        let other = buy(&tok, "pay-once", product, 3).await;
        assert_eq!(other.status, 422);
        assert_eq!(other.json["error"]["code"], "idempotency_key_reused");
        assert_eq!(stock(product).await, 98);
        // Keys are per user: another customer's same key is a new payment.
        let (_, tok2) = customer().await;
        assert_eq!(buy(&tok2, "pay-once", product, 2).await.status, 201);
        assert_eq!(stock(product).await, 96);
    });
}
