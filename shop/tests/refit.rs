//! Recommender refits (own shop: a refit changes the model every other test would see): products
//! created at run time enter the model at the next refit, and what the answers show about a product
//! (name, price) is always the catalog's current state.

mod common;
use common::*;
use serde_json::json;

fn ids(r: &Resp) -> Vec<i64> {
    r.json["items"].as_array().unwrap().iter().map(|p| p["product_id"].as_i64().unwrap()).collect()
}

#[test]
fn a_refit_brings_products_created_at_run_time_into_the_model() {
    rt().block_on(async {
        let (_, admin) = user("admin", None).await;
        // A demo product to pair the new one with (stocked up so the purchases below cannot exhaust it).
        let anchor = ids(&call("GET", "/recommendations?k=1", None, &[], None).await)[0];
        let r = call("PATCH", &format!("/products/{anchor}"), Some(&admin), &[], Some(json!({"stock": 1000}))).await;
        assert_eq!(r.status, 200, "{:?}", r.json);
        let (_, dealer, lamp) = store_with_product("simulated", 1000, 1500).await;
        let similar = |p: i64| async move { call("GET", &format!("/products/{p}/similar?k=5"), None, &[], None).await };
        let before = similar(lamp).await;
        assert_eq!((before.status.as_u16(), ids(&before).len()), (200, 0), "not in the model yet: no neighbours");
        // Five customers buy both; one more buys only the new lamp.
        for i in 0..5 {
            let (_, t) = customer().await;
            assert_eq!(buy(&t, &format!("lamp-{i}"), lamp, 1).await.status, 201);
            assert_eq!(buy(&t, &format!("anchor-{i}"), anchor, 1).await.status, 201);
        }
        let (_, fan) = customer().await;
        assert_eq!(buy(&fan, "fan", lamp, 1).await.status, 201);
        let before = call("GET", "/recommendations?k=5", Some(&fan), &[], None).await;
        assert!(
            before.json["items"]
                .as_array()
                .unwrap()
                .iter()
                .all(|p| p["reason"].as_str().unwrap().starts_with("popular")),
            "the model cannot use the lamp yet: {:?}",
            before.json
        );
        // Only admins refit.
        let r = call("POST", "/admin/recommender/refit", Some(&dealer), &[], None).await;
        assert_eq!(r.status, 403);
        let items_before = shop().reco.last_fit().items;
        let r = call("POST", "/admin/recommender/refit", Some(&admin), &[], None).await;
        assert_eq!(r.status, 200, "{:?}", r.json);
        assert!(r.json["shop_events"].as_u64().unwrap() >= 11, "{:?}", r.json);
        assert_eq!(r.json["items"].as_u64().unwrap() as usize, items_before + 1, "the lamp joined the model");
        assert_eq!(shop().reco.refit_if_new(&shop().db).await.unwrap(), None, "the periodic refit: nothing new");
        // The lamp now has the anchor as its neighbour, and the lamp's buyer gets it "because you bought" it.
        assert_eq!(ids(&similar(lamp).await).first(), Some(&anchor));
        let after = call("GET", "/recommendations?k=5", Some(&fan), &[], None).await;
        assert_eq!(ids(&after).first(), Some(&anchor), "{:?}", after.json);
        assert_eq!(after.json["items"][0]["reason"], "because you bought Test lamp");
        // A customer who only looked at the lamp is not told they bought it.
        let (_, looker) = customer().await;
        assert_eq!(call("GET", &format!("/products/{lamp}"), Some(&looker), &[], None).await.status, 200);
        let seen = call("GET", "/recommendations?k=5", Some(&looker), &[], None).await;
        assert_eq!(ids(&seen).first(), Some(&anchor), "{:?}", seen.json);
        assert_eq!(seen.json["items"][0]["reason"], "because you looked at Test lamp", "{:?}", seen.json);
        // A new name and price show at once (no refit needed).
        let r = call(
            "PATCH",
            &format!("/products/{anchor}"),
            Some(&admin),
            &[],
            Some(json!({"name": "Renamed anchor", "price_cents": 4242})),
        )
        .await;
        assert_eq!(r.status, 200, "{:?}", r.json);
        let now = call("GET", "/recommendations?k=5", Some(&fan), &[], None).await;
        assert_eq!(
            (now.json["items"][0]["name"].as_str(), now.json["items"][0]["price_cents"].as_i64()),
            (Some("Renamed anchor"), Some(4242))
        );
        assert_eq!(similar(lamp).await.json["items"][0]["name"], "Renamed anchor");
        // So does a new name in a reason.
        let r =
            call("PATCH", &format!("/products/{lamp}"), Some(&admin), &[], Some(json!({"name": "Renamed lamp"}))).await;
        assert_eq!(r.status, 200, "{:?}", r.json);
        let now = call("GET", "/recommendations?k=5", Some(&fan), &[], None).await;
        assert_eq!(now.json["items"][0]["reason"], "because you bought Renamed lamp", "{:?}", now.json);
        // A purchase after the refit: the periodic refit runs again and trains on it.
        let last = shop().reco.last_fit().last_event;
        assert_eq!(buy(&fan, "fan-2", anchor, 1).await.status, 201);
        let again = shop().reco.refit_if_new(&shop().db).await.unwrap().expect("a new purchase is refitted");
        assert!(again.last_event > last, "{again:?} after {last}");
        // Every stored kind counts with the default weights: the looker's view (stored in a batch, flushed
        // by the refit) is in the training set too.
        let count =
            |sql: &'static str| async move { sqlx::query_scalar::<_, i64>(sql).fetch_one(&shop().db).await.unwrap() };
        let views = count("SELECT count(*) FROM events WHERE kind = 'view'").await;
        assert!(views >= 1, "the looker's view is stored");
        assert_eq!(again.shop_events as i64, count("SELECT count(*) FROM events").await, "{again:?}");
    });
}
