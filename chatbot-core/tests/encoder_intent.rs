//! Intents over the pretrained sentence encoder (feature `encoder`; the workspace test run enables it
//! through the CLI): a head trained on a handful of examples per intent generalises to paraphrases that
//! share no word with them — what frozen MiniLM embeddings bring over the fast model's n-grams. Needs
//! all-MiniLM-L6-v2 (`scripts/fetch-minilm`, run by `scripts/test`); fails loudly without it.
#![cfg(feature = "encoder")]

use chatbot_core::data::Example;
use chatbot_core::intent::{Classifier, EncoderIntentParams, IntentModel};
use std::sync::Arc;

fn ex(label: &str, texts: &[&str]) -> Vec<Example> {
    texts.iter().map(|t| Example { text: t.to_string(), label: label.to_string() }).collect()
}

#[test]
fn a_head_on_minilm_embeddings_classifies_unseen_paraphrases() {
    let dir = shopml_encoder::model_dir(None);
    let encoder =
        Arc::new(shopml_encoder::Encoder::load(&dir).unwrap_or_else(|e| panic!("{e} — run scripts/fetch-minilm")));
    let mut train = ex("order_status", &["where is my order", "has my parcel shipped", "when will my order arrive"]);
    train.extend(ex("refund", &["i want my money back", "please refund me", "how do i get a refund"]));
    train.extend(ex("cancel", &["cancel my order", "i no longer want this order", "stop my purchase"]));
    train.extend(ex("greeting", &["hello", "hi there", "good morning"]));
    let clf = Classifier::new(EncoderIntentParams::default().fit(encoder, &train).unwrap());
    assert_eq!(clf.model.labels().len(), 4);
    for (text, want) in [
        ("track my package please", "order_status"),
        ("reimburse the payment", "refund"),
        ("call off the purchase i made", "cancel"),
        ("hey, how are you", "greeting"),
    ] {
        assert_eq!(clf.classify(text).unwrap().label, want, "{text}");
    }
    assert!(EncoderIntentParams::default().fit(clf.model.encoder().clone(), &train[..3]).is_err());
}
