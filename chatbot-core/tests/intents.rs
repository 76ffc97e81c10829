//! The fast intent model on the real datasets (`../shared/datasets`, which CI has) and its robustness:
//! accuracy targets, calibration, model files, hostile input.

use chatbot_core::data::{load_clinc150, load_csv, Example};
use chatbot_core::error::ChatError;
use chatbot_core::eval::evaluate;
use chatbot_core::intent::{Classifier, FastIntent, FastIntentParams, IntentModel, DEFAULT_OOS_RECALL};
use std::path::{Path, PathBuf};

/// `shared/datasets/<rel>`: `$SHOPML_DATA`, else a `shared/datasets` beside any ancestor of this crate
/// (CI clones elsewhere on the same machine), else `/work/shared/datasets`.
fn data(rel: &str) -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let candidates = std::env::var_os("SHOPML_DATA")
        .map(PathBuf::from)
        .into_iter()
        .chain(here.ancestors().map(|a| a.join("shared/datasets")))
        .chain([PathBuf::from("/work/shared/datasets")]);
    let found = candidates.map(|d| d.join(rel)).find(|p| p.exists());
    found.unwrap_or_else(|| panic!("shared/datasets/{rel} not found: set SHOPML_DATA to the datasets directory"))
}

/// Bitext customer support, our fixed split: accuracy ≥ 99.9% (the bar; the TF-IDF + logistic
/// regression peer reaches 99.95%).
#[test]
fn bitext_accuracy_reaches_99_9_percent() {
    let dir = data("bitext-customer-support");
    let train = load_csv(&dir.join("bitext_customer_support_train.csv"), "utterance", "intent").unwrap();
    let test = load_csv(&dir.join("bitext_customer_support_test.csv"), "utterance", "intent").unwrap();
    let clf = Classifier::new(FastIntentParams::default().fit(&train).unwrap());
    let r = evaluate(&clf, &test).unwrap();
    assert!(r.accuracy >= 0.999, "accuracy {:.4}, errors {:?}", r.accuracy, r.errors);
    assert!(r.macro_f1 >= 0.999, "macro-F1 {:.4}", r.macro_f1);
}

/// CLINC150 with out-of-scope data: at the threshold tuned on validation for the default out-of-scope
/// recall (`DEFAULT_OOS_RECALL`), in-scope accuracy ≥ 92.5% and out-of-scope recall ≥ 60% on the test
/// split (the bar; its linear peer figures are 92.4% at 24.9% and 90.5% at 79% out-of-scope recall,
/// measured here 92.42% at 26.6% and 90.49% at 79%: benches/README.md); the test curve reaches the
/// same point. Then save → load gives identical probabilities.
#[test]
fn clinc150_in_scope_and_out_of_scope_together() {
    let c = load_clinc150(&data("clinc150/data_full.json")).unwrap();
    let mut clf = Classifier::new(FastIntentParams::default().fit(&c.train).unwrap());
    clf.calibrate(&c.val, DEFAULT_OOS_RECALL).unwrap();
    let r = evaluate(&clf, &c.test).unwrap();
    let best = r.curve.iter().filter(|p| p.oos_recall >= 0.6).map(|p| p.in_scope_accuracy).fold(0.0, f64::max);
    assert!(best >= 0.925, "best in-scope accuracy at oos recall ≥ 0.6 on the test curve: {best:.4}");
    let (ins, rec) = (r.in_scope_accuracy, r.oos_recall.unwrap());
    // measured 0.9289 / 0.631 (`shopml chat eval --format clinc150`)
    assert!(ins >= 0.925 && rec >= 0.6, "at the validation-tuned threshold: in-scope {ins:.4}, oos recall {rec:.4}");

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clinc.shopml");
    clf.save(&path).unwrap();
    let back = Classifier::<FastIntent>::load(&path).unwrap();
    for e in c.test.iter().step_by(97) {
        assert_eq!(clf.probabilities(&e.text).unwrap(), back.probabilities(&e.text).unwrap(), "{}", e.text);
    }
    assert_eq!((back.temperature(), back.threshold()), (clf.temperature(), clf.threshold()));

    let bytes = std::fs::read(&path).unwrap();
    for damaged in [bytes[..bytes.len() / 2].to_vec(), {
        let mut b = bytes.clone();
        b[100] ^= 1;
        b
    }] {
        std::fs::write(&path, damaged).unwrap();
        assert!(matches!(Classifier::<FastIntent>::load(&path), Err(ChatError::ModelFile { .. })));
    }
    std::fs::write(&path, b"not a model").unwrap();
    let err = Classifier::<FastIntent>::load(&path).unwrap_err().to_string();
    assert!(err.contains("not a shopml intent model file"), "{err}");
}

fn small() -> Classifier<FastIntent> {
    let rows = [
        ("where is my order", "track_order"),
        ("track my parcel please", "track_order"),
        ("has my package shipped yet", "track_order"),
        ("when will my order arrive", "track_order"),
        ("cancel my order", "cancel_order"),
        ("i want to cancel the purchase", "cancel_order"),
        ("please cancel it", "cancel_order"),
        ("stop my order from shipping", "cancel_order"),
        ("i want my money back", "get_refund"),
        ("refund please", "get_refund"),
        ("how do i get a refund", "get_refund"),
        ("return and refund this item", "get_refund"),
    ];
    let train: Vec<Example> = rows.iter().map(|(t, l)| Example::new(*t, *l)).collect();
    Classifier::new(FastIntentParams { epochs: 40, ensemble: 1, ..FastIntentParams::default() }.fit(&train).unwrap())
}

#[test]
fn typos_and_hostile_input() {
    let clf = small();
    assert_eq!(clf.classify("wher is my ordr??").unwrap().label, "track_order");
    assert_eq!(clf.classify("REFUND PLS").unwrap().label, "get_refund");
    for empty in ["", "   \t\n"] {
        assert!(matches!(clf.classify(empty), Err(ChatError::InvalidParameter { .. })));
    }
    let huge = "cancel my order ".repeat(7000); // > 100 kB
    assert!(huge.len() > 100_000);
    assert_eq!(clf.classify(&huge).unwrap().label, "cancel_order");
    // no known feature at all: the prior, a low confidence, no panic
    for odd in ["🙂🙂🙂", "где мой заказ", "注文はどこ", "\u{0}\u{7}\u{1b}[31m", "\u{202e}redro"]
    {
        let i = clf.classify(odd).unwrap();
        assert!(i.confidence.is_finite() && i.confidence > 0.0, "{odd:?}: {i:?}");
    }
    let p = clf.probabilities("where is my refund").unwrap();
    assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-4);
    assert_eq!(clf.model().labels().len(), 3);
}

#[test]
fn bad_parameters_and_training_data_are_typed_errors() {
    let two = [Example::new("a b", "x"), Example::new("c d", "y")];
    let bad = |p: FastIntentParams| p.fit(&two).unwrap_err();
    assert!(matches!(bad(FastIntentParams { dim: 0, ..Default::default() }), ChatError::InvalidParameter { .. }));
    assert!(matches!(
        bad(FastIntentParams { learning_rate: f32::NAN, ..Default::default() }),
        ChatError::InvalidParameter { .. }
    ));
    assert!(matches!(bad(FastIntentParams { ensemble: 0, ..Default::default() }), ChatError::InvalidParameter { .. }));
    let one = [Example::new("a", "x"), Example::new("b", "x")];
    assert!(matches!(FastIntentParams::default().fit(&one), Err(ChatError::Data(_))));
    assert!(matches!(FastIntentParams::default().fit(&[]), Err(ChatError::Data(_))));
    let mut clf = Classifier::new(FastIntentParams { ensemble: 1, ..Default::default() }.fit(&two).unwrap());
    assert!(clf.calibrate(&two, 1.5).is_err());
    assert!(clf.calibrate(&[], 0.6).is_err());
}

#[test]
fn classifiers_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Classifier<FastIntent>>();
}
