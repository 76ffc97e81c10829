//! Serving the sequential models: `recommend_next`'s input rules, live events through `Server` that change
//! the next answer without a refit, and SASRec retrieval through the HNSW index matching exact scoring.

use reco_core::ann::AnnParams;
use reco_core::data::{Dataset, EventKind};
use reco_core::model::AnyParams;
use reco_core::serve::{Filter, Server};
use reco_core::store::TrainedModel;
use reco_core::RecoError;

const N: usize = 12;

/// 72 customers walk a ring of 12 products: each starts somewhere and buys the next one, six times.
fn ring() -> Dataset {
    let mut d = Dataset::new("ring");
    for u in 0..72 {
        for t in 0..6 {
            let item = (u + t) % N;
            d.push(&format!("c{u}"), &format!("p{item}"), t as i64, EventKind::Purchase, 1.0).unwrap();
        }
    }
    d
}

fn fit(model: &str) -> TrainedModel {
    let pairs: &[(&str, &str)] = match model {
        "sasrec" => {
            &[("hidden", "16"), ("epochs", "60"), ("max_len", "8"), ("dropout", "0.1"), ("learning_rate", "0.01")]
        }
        _ => &[],
    };
    let p = AnyParams::with_params(model, pairs).unwrap();
    TrainedModel::fit(&ring(), &p, &|_, _| true).unwrap()
}

fn items(recs: &[reco_core::serve::Recommendation]) -> Vec<&str> {
    recs.iter().map(|r| r.item.as_str()).collect()
}

fn next(m: &TrainedModel, history: &[&str]) -> String {
    m.recommend_next(history, 1, &Filter::default()).unwrap()[0].item.clone()
}

#[test]
fn recommend_next_follows_the_order_and_documents_its_input_rules() {
    for name in ["transition", "sknn", "sasrec"] {
        let m = fit(name);
        assert_eq!(next(&m, &["p3", "p4"]), "p5", "{name}");
        // Unknown ids are ignored.
        assert_eq!(next(&m, &["p3", "no-such", "p4", ""]), "p5", "{name}");
        // An item given twice counts at its latest position: p8 then p4 → p5 (not p4 then p8 → p9).
        assert_eq!(next(&m, &["p4", "p8", "p4"]), "p5", "{name}");
        // The history's own items are left out.
        let recs = m.recommend_next(&["p3", "p4"], N, &Filter::default()).unwrap();
        assert!(!items(&recs).contains(&"p3") && !items(&recs).contains(&"p4"), "{name}");
        // Empty, or unknown only: the most popular items, said so.
        for empty in [&[][..], &["nope"][..]] {
            let recs = m.recommend_next(empty, 3, &Filter::default()).unwrap();
            assert_eq!(recs.len(), 3, "{name}");
            assert!(recs.iter().all(|r| r.reason.as_deref() == Some("popular with other customers")), "{name}");
        }
        assert!(matches!(m.recommend_next(&["p3"], 0, &Filter::default()), Err(RecoError::InvalidParameter { .. })));
    }
}

#[test]
fn a_history_longer_than_max_len_reads_its_most_recent_items() {
    let m = fit("sasrec");
    let long: Vec<String> = (0..40).map(|t| format!("p{}", (t * 5) % N)).collect();
    let long: Vec<&str> = long.iter().map(String::as_str).collect();
    let recent = &long[long.len() - 8..];
    let f = Filter { exclude_seen: false, ..Filter::default() };
    let a = m.recommend_next(&long, N, &f).unwrap();
    let b = m.recommend_next(recent, N, &f).unwrap();
    assert_eq!(a, b);
    // And a shorter one does change the answer (the rule is not vacuous).
    assert_ne!(m.recommend_next(&recent[6..], N, &f).unwrap(), b);
}

#[test]
fn a_live_event_changes_the_next_recommendation_without_a_refit() {
    for name in ["transition", "sknn", "sasrec"] {
        let server = Server::new(fit(name));
        // c0 bought p0..p5: next is p6.
        assert_eq!(server.recommend("c0", 1, &Filter::default()).unwrap()[0].item, "p6", "{name}");
        server.record_event("c0", "p9").unwrap();
        assert_eq!(server.live_events("c0"), ["p9"]);
        assert_eq!(server.recommend("c0", 1, &Filter::default()).unwrap()[0].item, "p10", "{name}");
        // The same item again moves to the end; a guest session works the same.
        server.record_event("c0", "p2").unwrap();
        server.record_event("c0", "p9").unwrap();
        assert_eq!(server.live_events("c0"), ["p2", "p9"]);
        server.record_event("guest-1", "p7").unwrap();
        assert_eq!(server.recommend("guest-1", 1, &Filter::default()).unwrap()[0].item, "p8", "{name}");
        // Forgetting goes back to the fitted answer; a swap keeps live events.
        server.forget("c0");
        assert_eq!(server.recommend("c0", 1, &Filter::default()).unwrap()[0].item, "p6", "{name}");
        server.swap(fit(name));
        assert_eq!(server.recommend("guest-1", 1, &Filter::default()).unwrap()[0].item, "p8", "{name}");
    }
}

#[test]
fn live_events_are_left_out_by_models_that_keep_no_order() {
    let server = Server::new(fit("itemknn"));
    let before = server.recommend("c0", 3, &Filter::default()).unwrap();
    let top = before[0].item.clone();
    server.record_event("c0", &top).unwrap();
    let after = server.recommend("c0", 3, &Filter::default()).unwrap();
    assert!(!items(&after).contains(&top.as_str()), "{top} was just bought");
    assert!(matches!(server.record_event("", "p1"), Err(RecoError::InvalidParameter { .. })));
}

#[test]
fn sasrec_retrieves_through_the_index_what_exact_scoring_ranks() {
    let exact = fit("sasrec");
    let mut indexed = exact.clone();
    indexed.build_index(AnnParams::default()).unwrap();
    let f = Filter::default();
    for u in 0..72 {
        let user = format!("c{u}");
        let a = exact.recommend_exact(&user, 3, &f).unwrap();
        let b = indexed.recommend(&user, 3, &f).unwrap();
        assert_eq!(items(&a), items(&b), "{user}");
        for (x, y) in a.iter().zip(&b) {
            assert!((x.score - y.score).abs() < 1e-4, "{user}: {} vs {}", x.score, y.score);
        }
    }
    let h = ["p1", "p2", "p3"];
    assert_eq!(items(&exact.recommend_next(&h, 3, &f).unwrap()), items(&indexed.recommend_next(&h, 3, &f).unwrap()));
    // Live events reach the indexed query too.
    let server = Server::new(indexed);
    server.record_event("c0", "p9").unwrap();
    assert_eq!(server.recommend("c0", 1, &f).unwrap()[0].item, "p10");
}
