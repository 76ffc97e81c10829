//! Money paths reconciled against the provider's ledger: a payment still in flight is never cancelled
//! by the recovery loop, a charge that lands on a cancelled order is refunded, and an order's status
//! follows booked refunds only (never reserved ones). Each test uses amounts no other test uses, so the
//! `gated` gateway can hold or decline exactly its calls.

mod common;
use common::*;
use serde_json::json;

/// The provider's books agree with the order: Paid/Shipped/Delivered hold total − refunded; Cancelled
/// and Refunded hold nothing (never charged, or charged and refunded in full); booked refunds equal
/// `refunded_cents` once no refund is pending.
async fn reconcile(order: i64) {
    let (status, total, refunded): (String, i64, i64) =
        sqlx::query_as("SELECT status, total_cents, refunded_cents FROM orders WHERE id = $1")
            .bind(order)
            .fetch_one(&shop().db)
            .await
            .unwrap();
    let (charged, gw_refunded) = gated().net(order);
    let net = charged - gw_refunded;
    match status.as_str() {
        "Paid" | "Shipped" | "Delivered" => {
            assert_eq!(charged, total, "order {order} is {status}: the provider holds its charge");
            assert_eq!(
                net,
                total - refunded,
                "order {order} is {status}: provider net {net}, shop says {total} − {refunded}"
            );
        }
        "Cancelled" | "Refunded" => {
            assert_eq!(net, 0, "order {order} is {status} but the provider keeps {net} cents (charged {charged})")
        }
        other => panic!("order {order} left {other}"),
    }
    assert_eq!(gw_refunded, refunded.min(charged), "order {order}: refunds booked at the provider vs refunded_cents");
}

/// A checkout of one unit at `price` (a new product, 5 in stock) whose charge is held at the gateway,
/// its order aged ten minutes: `(product, order, the buyer's pending answer)`.
async fn checkout_in_flight(price: i64) -> (i64, i64, tokio::task::JoinHandle<Resp>) {
    let (_, _, product) = store_with_product("gated", 5, price).await;
    let (_, c) = customer().await;
    gated().hold(price);
    let key = format!("in-flight-{price}");
    let buyer = tokio::spawn(async move { buy(&c, &key, product, 1).await });
    wait_until("the charge reaches the gateway", || async { gated().arrivals(price) == 1 }).await;
    let order = int("SELECT order_id FROM order_lines WHERE product_id = $1", product).await;
    sqlx::query("UPDATE orders SET created_at = created_at - 600 WHERE id = $1")
        .bind(order)
        .execute(&shop().db)
        .await
        .unwrap();
    (product, order, buyer)
}

#[test]
fn the_recovery_loop_never_cancels_a_payment_still_in_flight() {
    rt().block_on(async {
        let price = 7_701;
        // The payment has been running for ten minutes (a slow provider): the periodic recovery runs.
        let (product, order, buyer) = checkout_in_flight(price).await;
        shopml_shop::checkout::recover(shop(), Some(300)).await.unwrap();
        let status: String = sqlx::query_scalar("SELECT status FROM orders WHERE id = $1")
            .bind(order)
            .fetch_one(&shop().db)
            .await
            .unwrap();
        assert_eq!(status, "Created", "the recovery left the in-flight payment alone");
        gated().release(price);
        let r = buyer.await.unwrap();
        assert_eq!((r.status.as_u16(), r.json["status"].as_str()), (201, Some("Paid")), "{:?}", r.json);
        assert_eq!(stock(product).await, 4);
        reconcile(order).await;
    });
}

#[test]
fn a_charge_that_lands_on_a_cancelled_order_is_refunded() {
    rt().block_on(async {
        let price = 7_702;
        let (product, order, buyer) = checkout_in_flight(price).await;
        // The process serving it stalled past its lease: the recovery finds no charge and cancels.
        sqlx::query("UPDATE orders SET lease_until = 0 WHERE id = $1").bind(order).execute(&shop().db).await.unwrap();
        let (paid, released) = shopml_shop::checkout::recover(shop(), Some(300)).await.unwrap();
        assert!(paid == 0 && released >= 1, "({paid}, {released})");
        assert_eq!(stock(product).await, 5, "released");
        // Now the charge lands.
        gated().release(price);
        let r = buyer.await.unwrap();
        assert_eq!(r.status.as_u16(), 402, "{:?}", r.json);
        let (status, refunded, pref): (String, i64, Option<String>) =
            sqlx::query_as("SELECT status, refunded_cents, payment_ref FROM orders WHERE id = $1")
                .bind(order)
                .fetch_one(&shop().db)
                .await
                .unwrap();
        assert_eq!((status.as_str(), refunded), ("Cancelled", price));
        assert!(pref.is_some(), "the late charge is recorded on the order");
        assert_eq!(gated().net(order), (price, price), "charged once and refunded in full");
        reconcile(order).await;
        let kinds: Vec<String> = sqlx::query_scalar("SELECT kind FROM outbox WHERE order_id = $1 ORDER BY id")
            .bind(order)
            .fetch_all(&shop().db)
            .await
            .unwrap();
        assert!(kinds.iter().any(|k| k == "order.refunded"), "{kinds:?}");
        assert_eq!(stock(product).await, 5, "the units stay released");
    });
}

#[test]
fn a_declined_refund_racing_a_booked_one_leaves_the_order_refundable() {
    rt().block_on(async {
        let price = 7_703;
        let (a, b) = (3_001, price - 3_001);
        let (_, dealer, product) = store_with_product("gated", 5, price).await;
        let (_, c) = customer().await;
        let order = paid(&c, "race-refund", product, 1).await;
        gated().hold(a);
        gated().hold(b);
        gated().decline_refunds_of(b, true);
        let refund = |amount: i64, key: &'static str| {
            let dealer = dealer.clone();
            tokio::spawn(async move {
                call(
                    "POST",
                    &format!("/orders/{order}/refund"),
                    Some(&dealer),
                    &[("idempotency-key", key)],
                    Some(json!({ "amount_cents": amount })),
                )
                .await
            })
        };
        let ra = refund(a, "race-a");
        let rb = refund(b, "race-b");
        wait_until("both refunds are reserved and at the gateway", || async {
            gated().arrivals(a) == 1 && gated().arrivals(b) == 1
        })
        .await;
        assert_eq!(int("SELECT refunded_cents FROM orders WHERE id = $1", order).await, price, "both reserved");
        // The first books; then the second is declined.
        gated().release(a);
        let ra = ra.await.unwrap();
        assert_eq!(ra.status.as_u16(), 200, "{:?}", ra.json);
        assert_eq!(ra.json["status"], "Paid", "only {a} of {price} is booked: not Refunded");
        gated().release(b);
        let rb = rb.await.unwrap();
        assert_eq!((rb.status.as_u16(), rb.json["error"]["code"].as_str()), (422, Some("refund_declined")));
        let (status, refunded): (String, i64) =
            sqlx::query_as("SELECT status, refunded_cents FROM orders WHERE id = $1")
                .bind(order)
                .fetch_one(&shop().db)
                .await
                .unwrap();
        assert_eq!((status.as_str(), refunded), ("Paid", a));
        reconcile(order).await;
        // The rest can still be refunded, and then the order is Refunded.
        gated().decline_refunds_of(b, false);
        let r = call(
            "POST",
            &format!("/orders/{order}/refund"),
            Some(&dealer),
            &[("idempotency-key", "race-c")],
            Some(json!({})),
        )
        .await;
        assert_eq!((r.status.as_u16(), r.json["status"].as_str()), (200, Some("Refunded")), "{:?}", r.json);
        assert_eq!(r.json["refunded_cents"], price);
        reconcile(order).await;
    });
}
