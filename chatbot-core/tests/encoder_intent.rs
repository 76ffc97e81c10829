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

fn minilm() -> Arc<shopml_encoder::Encoder> {
    let dir = shopml_encoder::model_dir(None);
    Arc::new(shopml_encoder::Encoder::load(&dir).unwrap_or_else(|e| panic!("{e} — run scripts/fetch-minilm")))
}

/// Three examples each of order status and refund.
fn orders_and_refunds() -> Vec<Example> {
    let mut train = ex("order_status", &["where is my order", "has my parcel shipped", "when will my order arrive"]);
    train.extend(ex("refund", &["i want my money back", "please refund me", "how do i get a refund"]));
    train
}

#[test]
fn a_head_on_minilm_embeddings_classifies_unseen_paraphrases() {
    let encoder = minilm();
    let mut train = orders_and_refunds();
    train.extend(ex("cancel", &["cancel my order", "i no longer want this order", "stop my purchase"]));
    train.extend(ex("greeting", &["hello", "hi there", "good morning"]));
    let clf = Classifier::new(EncoderIntentParams::default().fit(encoder, &train).unwrap());
    assert_eq!(clf.model().labels().len(), 4);
    for (text, want) in [
        ("track my package please", "order_status"),
        ("reimburse the payment", "refund"),
        ("call off the purchase i made", "cancel"),
        ("hey, how are you", "greeting"),
    ] {
        assert_eq!(clf.classify(text).unwrap().label, want, "{text}");
    }
    assert!(EncoderIntentParams::default().fit(clf.model().encoder().clone(), &train[..3]).is_err());
}

/// Fine-tuning the top layer keeps the paraphrase behaviour; the model file round-trips to identical
/// probabilities and refuses an encoder other than the one it was trained on (same weights and tokenizer,
/// an edited config.json).
#[test]
fn a_fine_tuned_model_round_trips_through_its_file_and_refuses_another_encoder() {
    use chatbot_core::intent::Classifier;
    let dir = shopml_encoder::model_dir(None);
    let encoder = minilm();
    let mut train = orders_and_refunds();
    train.extend(ex("greeting", &["hello", "hi there", "good morning"]));
    let params = EncoderIntentParams { tune_layers: 1, epochs: 2, batch: 4, ..Default::default() };
    let mut epochs = Vec::new();
    let model = params.fit_observed(encoder.clone(), &train, &mut |e, loss| epochs.push((e, loss))).unwrap();
    assert_eq!(epochs.len(), 2);
    assert!(epochs.iter().all(|(_, l)| l.is_finite()));
    let mut clf = Classifier::new(model);
    clf.set_temperature(0.8).unwrap();
    clf.set_threshold(0.3).unwrap();
    assert_eq!(clf.classify("track my package please").unwrap().label, "order_status");
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("intent.model");
    clf.save(&path).unwrap();
    let back = Classifier::<chatbot_core::intent::EncoderIntent>::load(&path, encoder.clone()).unwrap();
    assert_eq!((back.temperature(), back.threshold()), (0.8, 0.3));
    for text in ["track my package please", "reimburse the payment", "hey"] {
        let (a, b) = (clf.probabilities(text).unwrap(), back.probabilities(text).unwrap());
        assert!(a.iter().zip(&b).all(|(x, y)| (x - y).abs() < 1e-6), "{text}: {a:?} vs {b:?}");
    }
    // the same weights under an edited configuration are another encoder
    let other = tempfile::tempdir().unwrap();
    for f in ["tokenizer.json", "model.safetensors"] {
        std::os::unix::fs::symlink(dir.join(f), other.path().join(f)).unwrap();
    }
    let config = std::fs::read_to_string(dir.join("config.json")).unwrap();
    std::fs::write(other.path().join("config.json"), format!("{config} ")).unwrap();
    let other = Arc::new(shopml_encoder::Encoder::load(other.path()).unwrap());
    let err = Classifier::<chatbot_core::intent::EncoderIntent>::load(&path, other).unwrap_err();
    assert!(err.to_string().contains("another encoder"), "{err}");
    // a flipped byte fails the checksum
    let mut bytes = std::fs::read(&path).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 0x55;
    std::fs::write(&path, bytes).unwrap();
    assert!(Classifier::<chatbot_core::intent::EncoderIntent>::load(&path, encoder).is_err());
}

/// The embedding-space gate: tuned on in-scope validation messages only, it sends a message unlike any
/// training message to `oos`, keeps in-scope paraphrases, survives the model file, and refuses bad input.
#[test]
fn the_out_of_scope_gate_rejects_messages_far_from_all_training_messages() {
    use chatbot_core::intent::{Classifier, EncoderIntent};
    let encoder = minilm();
    let mut train = orders_and_refunds();
    train.extend(ex("oos", &["tell me a joke"]));
    let val =
        [ex("order_status", &["where's my package", "is my order on its way"]), ex("refund", &["refund my payment"])]
            .concat();
    let mut model = EncoderIntentParams::default().fit(encoder.clone(), &train).unwrap();
    assert!(model.fit_gate(&train, &val, 0.0).is_err());
    assert!(model.fit_gate(&train, &val, 1.5).is_err());
    model.fit_gate(&train, &val, 0.99).unwrap();
    let threshold = model.gate_threshold().unwrap();
    assert!(threshold > 0.0 && threshold < 1.0, "{threshold}");
    let clf = Classifier::new(model);
    let far = clf.classify("photosynthesis converts light into chemical energy in chloroplasts").unwrap();
    assert!(!far.in_scope, "{far:?}");
    assert!(clf.classify("where is my order").unwrap().in_scope);
    let tmp = tempfile::tempdir().unwrap();
    clf.save(&tmp.path().join("m")).unwrap();
    let back = Classifier::<EncoderIntent>::load(&tmp.path().join("m"), encoder.clone()).unwrap();
    assert_eq!(back.model().gate_threshold(), Some(threshold));
    assert!(!back.classify("photosynthesis converts light into chemical energy in chloroplasts").unwrap().in_scope);
    // without an oos label there is nothing to answer with
    let mut no_oos = EncoderIntentParams::default().fit(encoder, &train[..6]).unwrap();
    assert!(no_oos.fit_gate(&train[..6], &val, 0.9).is_err());
}

/// The fast + encoder ensemble round-trips through its own file: same probabilities, same calibration;
/// a file cut short, a flipped byte or a member swapped for a foreign file is a typed error.
#[test]
fn an_ensemble_round_trips_through_its_file() {
    use chatbot_core::intent::{Ensemble, FastEncoderEnsemble, FastIntentParams, ENSEMBLE_MAGIC};
    let encoder = minilm();
    let mut train = orders_and_refunds();
    train.extend(ex("greeting", &["hello", "hi there", "good morning", "hey", "good evening"]));
    train.extend(ex("order_status", &["where's my stuff", "order status please"]));
    train.extend(ex("refund", &["refund my purchase", "money back please"]));
    let val =
        [ex("order_status", &["track my parcel"]), ex("refund", &["reimburse me"]), ex("greeting", &["hiya"])].concat();
    let fast = FastIntentParams::default().fit(&train).unwrap();
    let enc = EncoderIntentParams::default().fit(encoder.clone(), &train).unwrap();
    let mut clf = Classifier::new(Ensemble::fit(fast, enc, &val).unwrap());
    clf.set_temperature(0.9).unwrap();
    clf.set_threshold(0.25).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("ensemble.model");
    clf.save(&path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert!(bytes.starts_with(ENSEMBLE_MAGIC));
    let back = Classifier::<FastEncoderEnsemble>::load(&path, encoder.clone()).unwrap();
    assert_eq!((back.temperature(), back.threshold(), back.model().weight), (0.9, 0.25, clf.model().weight));
    for text in ["track my package please", "reimburse the payment", "hey", "zzz qqq"] {
        let (a, b) = (clf.probabilities(text).unwrap(), back.probabilities(text).unwrap());
        assert!(a.iter().zip(&b).all(|(x, y)| (x - y).abs() < 1e-6), "{text}: {a:?} vs {b:?}");
    }
    let load = |b: &[u8]| Classifier::<FastEncoderEnsemble>::from_bytes(b, &path, encoder.clone());
    assert!(load(&bytes[..bytes.len() - 10]).is_err(), "cut short");
    let mut flipped = bytes.clone();
    let n = flipped.len();
    flipped[n / 3] ^= 0x55;
    assert!(load(&flipped).is_err(), "flipped byte");
    // A plain fast-model file is not an ensemble file.
    let fast_only = Classifier::new(FastIntentParams::default().fit(&train).unwrap()).to_bytes().unwrap();
    let err = load(&fast_only).unwrap_err().to_string();
    assert!(err.contains("ensemble") || err.contains("magic") || err.contains("not a"), "{err}");
}
