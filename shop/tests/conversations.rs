//! Customer↔dealer conversations: who may see and write what (with real conversations and real offers,
//! so a refusal is the rule at work, not a missing id), unread counts, and the money of an accepted
//! offer reconciled with the provider's ledger — bought once, at the agreed price, given back when the
//! payment fails, and back to the catalogue price when the line is changed.

mod common;
use axum::http::StatusCode;
use common::*;
use serde_json::json;

async fn post(path: &str, token: Option<&str>, body: serde_json::Value) -> Resp {
    call("POST", path, token, &[], Some(body)).await
}

async fn get(path: &str, token: Option<&str>) -> Resp {
    call("GET", path, token, &[], None).await
}

/// A conversation of a new customer about a new product of a new store (`gateway`): (conversation,
/// customer token, dealer token, product, store).
async fn conversation(gateway: &str, price: i64) -> (i64, String, String, i64, i64) {
    let (store, dealer, product) = store_with_product(gateway, 10, price).await;
    let (_, c) = customer().await;
    let r = post("/conversations", Some(&c), json!({"product_id": product, "body": "Could it be engraved?"})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json);
    (r.json["conversation"]["id"].as_i64().unwrap(), c, dealer, product, store)
}

async fn offer(conv: i64, dealer: &str, cents: i64, quantity: i64) -> i64 {
    let body = json!({"body": "Yes, engraved.", "offer_cents": cents, "offer_quantity": quantity});
    let r = post(&format!("/conversations/{conv}/messages"), Some(dealer), body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json);
    r.json["id"].as_i64().unwrap()
}

#[test]
fn only_the_customer_and_the_store_see_a_conversation_and_only_the_store_makes_offers() {
    rt().block_on(async {
        let (conv, c1, dealer, _, _) = conversation("simulated", 4_321).await;
        let (_, c2) = customer().await;
        let (_, _, other_product) = store_with_product("simulated", 1, 100).await;
        let other_store: i64 = int("SELECT store_id FROM products WHERE id = $1", other_product).await;
        let (_, other_dealer) = user("dealer", Some(other_store)).await;
        let path = format!("/conversations/{conv}");
        // the participants see it, with the dealer's unread count until read
        let list = get("/conversations", Some(&dealer)).await;
        let mine = list.json.as_array().unwrap().iter().find(|c| c["id"] == conv).cloned().unwrap();
        assert_eq!(mine["unread"], 1);
        assert_eq!(get(&path, Some(&dealer)).await.status, StatusCode::OK);
        let list = get("/conversations", Some(&dealer)).await;
        assert_eq!(list.json.as_array().unwrap().iter().find(|c| c["id"] == conv).unwrap()["unread"], 0);
        assert_eq!(get(&path, Some(&c1)).await.status, StatusCode::OK);
        // nobody else does: another customer, another store's dealer, a guest
        for t in [&c2, &other_dealer] {
            assert_eq!(get(&path, Some(t)).await.status, StatusCode::NOT_FOUND);
            let w = post(&format!("{path}/messages"), Some(t), json!({"body": "hello"})).await;
            assert_eq!(w.status, StatusCode::NOT_FOUND, "{:?}", w.json);
            let l = get("/conversations", Some(t)).await;
            assert!(l.json.as_array().unwrap().iter().all(|c| c["id"] != conv), "{:?}", l.json);
        }
        assert_eq!(get(&path, None).await.status, StatusCode::UNAUTHORIZED);
        assert_eq!(get("/conversations", None).await.status, StatusCode::UNAUTHORIZED);
        // a customer cannot make an offer; the store can
        let r = post(
            &format!("{path}/messages"),
            Some(&c1),
            json!({"body": "for free?", "offer_cents": 1, "offer_quantity": 1}),
        )
        .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{:?}", r.json);
        let o = offer(conv, &dealer, 1_000, 1).await;
        assert_eq!(
            get("/conversations", Some(&c1)).await.json.as_array().unwrap().iter().find(|c| c["id"] == conv).unwrap()
                ["unread"],
            1
        );
        // only the conversation's customer accepts that (real) offer
        let accept = format!("{path}/offers/{o}/accept");
        assert_eq!(post(&accept, Some(&c2), json!({})).await.status, StatusCode::NOT_FOUND);
        assert_eq!(post(&accept, Some(&other_dealer), json!({})).await.status, StatusCode::NOT_FOUND);
        assert_eq!(post(&accept, Some(&dealer), json!({})).await.status, StatusCode::FORBIDDEN);
        // a message that is not an offer cannot be accepted; bad bodies are 400s
        let plain = post(&format!("{path}/messages"), Some(&dealer), json!({"body": "just talk"})).await;
        let plain_id = plain.json["id"].as_i64().unwrap();
        assert_eq!(
            post(&format!("{path}/offers/{plain_id}/accept"), Some(&c1), json!({})).await.status,
            StatusCode::NOT_FOUND
        );
        for bad in [json!({"body": "  "}), json!({"body": "x".repeat(2001)}), json!({"body": "half", "offer_cents": 5})]
        {
            assert_eq!(post(&format!("{path}/messages"), Some(&dealer), bad).await.status, StatusCode::BAD_REQUEST);
        }
        assert_eq!(post(&accept, Some(&c1), json!({})).await.status, StatusCode::OK);
    });
}

#[test]
fn an_accepted_offer_is_bought_once_at_its_price_and_the_ledger_agrees() {
    rt().block_on(async {
        let price = 5_113;
        let (conv, c, dealer, product, store) = conversation("gated", price).await;
        let o = offer(conv, &dealer, 1_234, 2).await;
        let cart = post(&format!("/conversations/{conv}/offers/{o}/accept"), Some(&c), json!({})).await;
        assert_eq!(cart.status, StatusCode::OK, "{:?}", cart.json);
        let line = &cart.json["items"][0];
        assert_eq!(
            (line["product_id"].as_i64(), line["quantity"].as_i64(), line["price_cents"].as_i64()),
            (Some(product), Some(2), Some(1_234))
        );
        assert_eq!(line["offer_id"], o);
        assert_eq!(cart.json["total_cents"], 2_468);
        let before = stock(product).await;
        let body = json!({"ship_to": "1 Offer Lane", "store_id": store});
        let r = call("POST", "/checkout", Some(&c), &[("idempotency-key", "offer-1")], Some(body)).await;
        assert_eq!((r.status.as_u16(), r.json["status"].as_str()), (201, Some("Paid")), "{:?}", r.json);
        let order = r.json["id"].as_i64().unwrap();
        assert_eq!(r.json["total_cents"], 2_468);
        assert_eq!(r.json["lines"][0]["price_cents"], 1_234);
        // the provider charged exactly the agreed total; stock moved by the offer's units
        assert_eq!(gated().net(order), (2_468, 0));
        assert_eq!(stock(product).await, before - 2);
        // the offer is marked bought by that order and cannot be accepted again
        let t = get(&format!("/conversations/{conv}"), Some(&c)).await;
        let m = t.json["messages"].as_array().unwrap().iter().find(|m| m["id"] == o).cloned().unwrap();
        assert_eq!(m["offer"]["order_id"], order);
        let again = post(&format!("/conversations/{conv}/offers/{o}/accept"), Some(&c), json!({})).await;
        assert_eq!(again.status, StatusCode::CONFLICT, "{:?}", again.json);
        // a second offer: the same quantity set again keeps it, a changed quantity goes back to the
        // catalogue price
        let o2 = offer(conv, &dealer, 999, 1).await;
        let a = post(&format!("/conversations/{conv}/offers/{o2}/accept"), Some(&c), json!({})).await;
        assert_eq!(
            (a.json["items"][0]["price_cents"].as_i64(), a.json["items"][0]["offer_id"].as_i64()),
            (Some(999), Some(o2))
        );
        let r = call("PUT", &format!("/cart/items/{product}"), Some(&c), &[], Some(json!({"quantity": 1}))).await;
        assert_eq!(
            (r.json["items"][0]["price_cents"].as_i64(), r.json["items"][0]["offer_id"].as_i64()),
            (Some(999), Some(o2))
        );
        let r = call("PUT", &format!("/cart/items/{product}"), Some(&c), &[], Some(json!({"quantity": 3}))).await;
        assert_eq!(
            (r.json["items"][0]["price_cents"].as_i64(), r.json["items"][0]["offer_id"].as_i64()),
            (Some(price), None)
        );
        let body = json!({"ship_to": "1 Offer Lane", "store_id": store});
        let r = call("POST", "/checkout", Some(&c), &[("idempotency-key", "offer-2")], Some(body)).await;
        assert_eq!(r.json["total_cents"], 3 * price, "{:?}", r.json);
        assert_eq!(gated().net(r.json["id"].as_i64().unwrap()), (3 * price, 0));
    });
}

#[test]
fn an_offer_is_reachable_only_through_its_own_conversation() {
    rt().block_on(async {
        // customer A's offer, and customer B's own conversation with the same store
        let (conv_a, _, dealer, product, _) = conversation("simulated", 3_000).await;
        let offer_a = offer(conv_a, &dealer, 1, 1000).await;
        let (_, b) = customer().await;
        let r = post("/conversations", Some(&b), json!({"product_id": product, "body": "me too"})).await;
        let conv_b = r.json["conversation"]["id"].as_i64().unwrap();
        let steal = post(&format!("/conversations/{conv_b}/offers/{offer_a}/accept"), Some(&b), json!({})).await;
        assert_eq!(steal.status, StatusCode::NOT_FOUND, "{:?}", steal.json);
        assert_eq!(get("/cart", Some(&b)).await.json["items"], json!([]), "nothing reached B's cart");
    });
}

#[test]
fn a_guest_cart_merged_at_sign_in_leaves_an_offer_line_as_agreed() {
    rt().block_on(async {
        let (_, dealer, product) = store_with_product("simulated", 50, 2_500).await;
        let email = format!("merge{}@test.shop", uniq());
        let creds = json!({"email": email, "password": "a-long-password"});
        let c = post("/auth/register", None, creds.clone()).await.json["token"].as_str().unwrap().to_string();
        let r = post("/conversations", Some(&c), json!({"product_id": product, "body": "two, engraved?"})).await;
        let conv = r.json["conversation"]["id"].as_i64().unwrap();
        let o = offer(conv, &dealer, 2_000, 2).await;
        post(&format!("/conversations/{conv}/offers/{o}/accept"), Some(&c), json!({})).await;
        // signed out, the same person fills a guest cart with 5 of the product, then signs in
        let g = call("PUT", &format!("/cart/items/{product}"), None, &[], Some(json!({"quantity": 5}))).await;
        let token = g.json["cart_token"].as_str().unwrap().to_string();
        let signed = call("POST", "/auth/login", None, &[("x-cart-token", &token)], Some(creds)).await;
        assert_eq!(signed.status, StatusCode::OK, "{:?}", signed.json);
        let c2 = signed.json["token"].as_str().unwrap();
        let cart = get("/cart", Some(c2)).await;
        let line = &cart.json["items"][0];
        assert_eq!(
            (line["quantity"].as_i64(), line["price_cents"].as_i64(), line["offer_id"].as_i64()),
            (Some(2), Some(2_000), Some(o))
        );
    });
}

#[test]
fn a_failed_payment_gives_the_offer_back() {
    rt().block_on(async {
        let (conv, c, dealer, product, store) = conversation("decline", 2_000).await;
        let o = offer(conv, &dealer, 1_500, 1).await;
        post(&format!("/conversations/{conv}/offers/{o}/accept"), Some(&c), json!({})).await;
        let before = stock(product).await;
        let body = json!({"ship_to": "1 Offer Lane", "store_id": store});
        let r = call("POST", "/checkout", Some(&c), &[("idempotency-key", "offer-declined")], Some(body)).await;
        assert_eq!(r.status, StatusCode::PAYMENT_REQUIRED, "{:?}", r.json);
        assert_eq!(stock(product).await, before, "stock released");
        let t = get(&format!("/conversations/{conv}"), Some(&c)).await;
        let m = t.json["messages"].as_array().unwrap().iter().find(|m| m["id"] == o).cloned().unwrap();
        assert_eq!(m["offer"]["order_id"], serde_json::Value::Null, "the offer can be bought again");
        let again = post(&format!("/conversations/{conv}/offers/{o}/accept"), Some(&c), json!({})).await;
        assert_eq!(again.status, StatusCode::OK, "{:?}", again.json);
        assert_eq!(again.json["items"][0]["price_cents"], 1_500);
    });
}
