//! Golden conversations: scripted multi-turn dialogues against the demo store (the shipped Online
//! Retail data), asserting the replies and the actions taken. The intent model is trained on the
//! shipped data (`data::load_shop_intents`: Bitext's customer-support intents, `search_product` /
//! `recommend` / `greeting`, CLINC150's out-of-scope utterances as `oos`).

use chatbot_core::data::load_shop_intents;
use chatbot_core::dialogue::{Action, Assistant, BotConfig};
use chatbot_core::intent::{Classifier, FastIntent, FastIntentParams, DEFAULT_OOS_RECALL};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use storefront::{MemoryStore, OrderStatus, Store};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The seeds every golden conversation runs with: the replies must not hinge on one lucky model.
const SEEDS: [u64; 2] = [42, 7];

fn train(seed: u64) -> Vec<u8> {
    let (train, val) = load_shop_intents(&root().join("datasets")).expect("the shipped training data");
    let params = FastIntentParams { ensemble: 1, seed, ..FastIntentParams::default() };
    let mut clf = Classifier::new(params.fit(&train).unwrap());
    clf.calibrate(&val, DEFAULT_OOS_RECALL).unwrap();
    clf.to_bytes().unwrap()
}

/// The model file of the classifier trained with `SEEDS[i]`, trained once for all tests of this file.
fn classifier(i: usize) -> &'static [u8] {
    static MODELS: [OnceLock<Vec<u8>>; 2] = [OnceLock::new(), OnceLock::new()];
    MODELS[i].get_or_init(|| train(SEEDS[i]))
}

/// One fresh assistant (and its own demo store) per seed.
fn assistants() -> Vec<(Assistant<FastIntent>, Store)> {
    (0..SEEDS.len()).map(assistant).collect()
}

fn assistant(i: usize) -> (Assistant<FastIntent>, Store) {
    let clf = Classifier::<FastIntent>::from_bytes(classifier(i), Path::new("memory")).unwrap();
    let store = Store::from_one(storefront::shipped::demo_store(&root().join("datasets")).unwrap());
    (Assistant::new(clf, store.clone(), BotConfig::default()).unwrap(), store)
}

/// Same data, same seed → the same model file, byte for byte (the WordPiece vocabulary once depended on
/// hash-map order: huggingface/tokenizers#1794).
#[test]
fn training_is_reproducible() {
    assert!(train(SEEDS[0]) == classifier(0), "two trainings with seed {} differ", SEEDS[0]);
}

const CUSTOMER: &str = "17850";

#[test]
fn track_order_with_and_without_the_number() {
    for (bot, store) in assistants() {
        let orders = store.orders.orders(CUSTOMER).unwrap();
        let (paid, shipped) = (&orders[0].id, &orders[1].id);
        let r = bot.reply("c1", Some(CUSTOMER), &format!("Where is my order #{paid}?")).unwrap();
        assert_eq!(r.action, Action::OrderStatus { order: paid.clone() }, "{r:?}");
        assert!(r.text.contains("paid and being prepared"), "{}", r.text);
        let r = bot.reply("c2", Some(CUSTOMER), "I want to track my order").unwrap();
        assert_eq!(r.action, Action::AskSlot { slot: "order_number".into() }, "{r:?}");
        assert!(r.text.contains("order number"));
        let r = bot.reply("c2", Some(CUSTOMER), &format!("it's {shipped}")).unwrap();
        assert_eq!(r.action, Action::OrderStatus { order: shipped.clone() });
        assert!(r.text.contains("shipped and on its way"), "{}", r.text);
        // somebody else's order is not found; signed out, orders are not shown
        let r = bot.reply("c3", Some("12347"), &format!("track order {paid}")).unwrap();
        assert!(r.text.contains("can't find order"), "{}", r.text);
        let r = bot.reply("c4", None, &format!("where is order {paid}")).unwrap();
        assert!(r.text.contains("sign in"), "{}", r.text);
    }
}

#[test]
fn cancel_with_confirmation_and_with_decline() {
    for (bot, store) in assistants() {
        let paid = store.orders.orders(CUSTOMER).unwrap()[0].id.clone();
        let r = bot.reply("a", Some(CUSTOMER), &format!("please cancel order {paid}")).unwrap();
        assert_eq!(r.action, Action::ConfirmCancel { order: paid.clone() }, "{r:?}");
        assert!(r.text.contains("Shall I cancel it?"));
        let r = bot.reply("a", Some(CUSTOMER), "yes").unwrap();
        assert_eq!(r.action, Action::Cancelled { order: paid.clone() });
        assert_eq!(store.orders.order(CUSTOMER, &paid).unwrap().status, OrderStatus::Cancelled);

        let other = "12347";
        let mine = store.orders.orders(other).unwrap();
        let r = bot.reply("b", Some(other), "I need to cancel an order").unwrap();
        assert_eq!(r.action, Action::AskSlot { slot: "order_number".into() }, "{r:?}");
        let r = bot.reply("b", Some(other), &mine[0].id).unwrap();
        assert_eq!(r.action, Action::ConfirmCancel { order: mine[0].id.clone() });
        let r = bot.reply("b", Some(other), "no").unwrap();
        assert_eq!(r.action, Action::CancelDeclined { order: mine[0].id.clone() });
        assert_eq!(store.orders.order(other, &mine[0].id).unwrap().status, OrderStatus::Paid);
        // a shipped order cannot be cancelled
        let r = bot.reply("b", Some(other), &format!("cancel order {}", mine[1].id)).unwrap();
        assert!(r.text.contains("can no longer be cancelled"), "{}", r.text);
    }
}

#[test]
fn change_address_asks_for_it_and_confirms() {
    for (bot, store) in assistants() {
        let paid = store.orders.orders(CUSTOMER).unwrap()[0].id.clone();
        let r =
            bot.reply("d", Some(CUSTOMER), &format!("I need to change the shipping address of order {paid}")).unwrap();
        assert_eq!(r.action, Action::AskSlot { slot: "address".into() }, "{r:?}");
        let r = bot.reply("d", Some(CUSTOMER), "12 High Street, Leeds LS1 4AB").unwrap();
        let want = Action::ConfirmAddress { order: paid.clone(), address: "12 High Street, Leeds LS1 4AB".into() };
        assert_eq!(r.action, want, "{r:?}");
        let r = bot.reply("d", Some(CUSTOMER), "yes please").unwrap();
        assert_eq!(r.action, Action::AddressChanged { order: paid.clone() }, "{r:?}");
        assert_eq!(store.orders.order(CUSTOMER, &paid).unwrap().ship_to, "12 High Street, Leeds LS1 4AB");
        // declined: the address stays
        let r = bot.reply("e", Some(CUSTOMER), &format!("change delivery address for order {paid}")).unwrap();
        assert_eq!(r.action, Action::AskSlot { slot: "address".into() }, "{r:?}");
        bot.reply("e", Some(CUSTOMER), "1 Other Road").unwrap();
        let r = bot.reply("e", Some(CUSTOMER), "no").unwrap();
        assert_eq!(r.action, Action::AddressDeclined { order: paid.clone() });
        assert_eq!(store.orders.order(CUSTOMER, &paid).unwrap().ship_to, "12 High Street, Leeds LS1 4AB");
    }
}

#[test]
fn product_search_with_a_price_range_and_a_typo_and_recommendations() {
    for (bot, store) in assistants() {
        let r = bot.reply("s", None, "do you have the white hangng hart t-light holder under 5 pounds?").unwrap();
        let Action::SearchProducts { products } = &r.action else { panic!("{r:?}") };
        assert_eq!(products.first().map(String::as_str), Some("85123A"), "{}", r.text);
        assert_eq!(r.entities.price.as_ref().and_then(|p| p.max), Some(5.0));
        let r = bot.reply("s", None, "show me lunch bags between £1 and 2").unwrap();
        let Action::SearchProducts { products } = &r.action else { panic!("{r:?}") };
        assert!(!products.is_empty(), "{}", r.text);
        for id in products {
            let p = store.catalog.product(id).unwrap().unwrap();
            assert!((1.0..=2.0).contains(&p.price) && p.name.contains("LUNCH BAG"), "{p:?} in {r:?}");
        }
        let r = bot.reply("r", Some(CUSTOMER), "what do you recommend?").unwrap();
        let Action::Recommend { products } = &r.action else { panic!("{r:?}") };
        assert_eq!(products.len(), 3);
    }
}

#[test]
fn out_of_scope_twice_hands_over_to_a_human() {
    for (bot, _) in assistants() {
        let r = bot.reply("o", None, "what is the capital of peru").unwrap();
        assert_eq!(r.action, Action::Clarify, "{r:?}");
        let r = bot.reply("o", None, "how many calories are in a banana").unwrap();
        assert_eq!(r.action, Action::Handoff, "{r:?}");
        let r = bot.reply("h", None, "can I talk to a human agent please").unwrap();
        assert_eq!(r.action, Action::Handoff, "{r:?}");
    }
}

#[test]
fn hostile_messages_get_replies_not_panics() {
    for (bot, _) in assistants() {
        let huge = "where is my order ".repeat(6000);
        for t in ["", "   ", "🙂🙂🙂", "где мой заказ", "\u{0}\u{1b}[31m", huge.as_str()] {
            let r = bot.reply("x", Some(CUSTOMER), t).unwrap();
            assert!(!r.text.is_empty());
        }
        assert_eq!(bot.reply("e", None, "  ").unwrap().action, Action::None);
    }
}

#[test]
fn conversations_are_bounded() {
    let clf = Classifier::<FastIntent>::from_bytes(classifier(0), Path::new("memory")).unwrap();
    let store = Store::from_one(MemoryStore::new(Vec::new(), Vec::new(), &Default::default()));
    let config = BotConfig { max_conversations: 3, ..BotConfig::default() };
    let bot = Assistant::new(clf, store, config).unwrap();
    for i in 0..10 {
        bot.reply(&format!("conv{i}"), None, "hello").unwrap();
    }
    assert_eq!(bot.conversations(), 3);

    // Past the bound the least recently active conversation goes: a conversation that has missed once
    // keeps its count (→ handoff on the second miss) only while it is among the most recent ones.
    let config = BotConfig { max_conversations: 2, ..BotConfig::default() };
    let store = Store::from_one(MemoryStore::new(Vec::new(), Vec::new(), &Default::default()));
    let clf = Classifier::<FastIntent>::from_bytes(classifier(0), Path::new("memory")).unwrap();
    let bot = Assistant::new(clf, store, config).unwrap();
    let (miss1, miss2) = ("what is the capital of peru", "how many calories are in a banana");
    bot.reply("old", None, "hello").unwrap();
    assert_eq!(bot.reply("a", None, miss1).unwrap().action, Action::Clarify);
    bot.reply("new", None, "hello").unwrap(); // evicts "old", keeps "a"
    assert_eq!(bot.reply("a", None, miss2).unwrap().action, Action::Handoff);
    assert_eq!(bot.reply("b", None, miss1).unwrap().action, Action::Clarify);
    bot.reply("x", None, "hello").unwrap(); // evicts "a"
    bot.reply("y", None, "hello").unwrap(); // evicts "b"
    assert_eq!(bot.reply("b", None, miss2).unwrap().action, Action::Clarify, "b was forgotten");
}
