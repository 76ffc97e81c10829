//! The `shopml` command line: the JSON contract of `reco eval`, and clear errors on bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn shopml(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_shopml")).args(args).output().expect("runs")
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A small S3-Rec file: 40 users over 12 items in two taste groups.
fn tiny_s3rec(dir: &Path) -> PathBuf {
    let mut text = String::new();
    for u in 0..40 {
        let base = if u % 2 == 0 { 1 } else { 7 };
        let items: Vec<String> = (0..5).map(|k| (base + (u + k) % 6).to_string()).collect();
        text.push_str(&format!("{} {}\n", u + 1, items.join(" ")));
    }
    let p = dir.join("Tiny.txt");
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn eval_json_contract() {
    let dir = tempfile::tempdir().unwrap();
    let data = tiny_s3rec(dir.path());
    for model in ["pop", "itemknn", "als", "bpr"] {
        for protocol in ["loo-full", "loo-sampled"] {
            let d = data.to_str().unwrap();
            let mut args =
                vec!["reco", "eval", "--data", d, "--format", "s3rec", "--model", model, "--protocol", protocol];
            args.extend(["--k", "5", "--json", "--quiet"]);
            if model == "als" || model == "bpr" {
                args.extend(["--param", "seed=1"]);
            }
            let out = shopml(&args);
            assert!(out.status.success(), "{model} {protocol}: {}", String::from_utf8_lossy(&out.stderr));
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(v["dataset"], "Tiny");
            assert_eq!(v["model"], model);
            assert_eq!(v["protocol"], protocol);
            assert_eq!(v["users_evaluated"], 40);
            for key in ["hr@5", "ndcg@5", "precision@5", "recall@5", "f1@5", "mrr", "coverage@5"] {
                let x = v["metrics"][key].as_f64().unwrap_or_else(|| panic!("{key} missing: {v}"));
                assert!((0.0..=1.0).contains(&x), "{key} = {x}");
            }
            assert!(v["fit_seconds"].as_f64().unwrap() >= 0.0 && v["eval_seconds"].as_f64().unwrap() >= 0.0);
            assert!(out.stderr.is_empty(), "no progress bar when stderr is not a terminal");
        }
    }
}

#[test]
fn eval_table_and_recommend() {
    let dir = tempfile::tempdir().unwrap();
    let data = tiny_s3rec(dir.path());
    let out = shopml(&["reco", "eval", "--data", data.to_str().unwrap(), "--format", "s3rec", "--model", "itemknn"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("HR@10") && text.contains("NDCG@10"), "{text}");
    let out = shopml(&[
        "reco",
        "recommend",
        "--data",
        data.to_str().unwrap(),
        "--format",
        "s3rec",
        "--model",
        "itemknn",
        "--user",
        "2",
        "--k",
        "3",
        "--exclude-seen",
        "--json",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let items = v["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    // user 2 (odd group, items 7..12) gets items of its own group, none it already has
    let had = ["8", "9", "10", "11", "12"];
    for it in items {
        let id = it["item"].as_str().unwrap();
        assert!(!had.contains(&id), "{id} already bought");
    }
}

fn fails_with(args: &[&str], needle: &str) {
    let out = shopml(args);
    assert!(!out.status.success(), "{args:?} should fail");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(needle), "{args:?}: stderr {err:?} lacks {needle:?}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn bad_input_gives_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let data = tiny_s3rec(dir.path());
    let d = data.to_str().unwrap();
    fails_with(&["reco", "eval", "--data", d, "--format", "xlsx", "--model", "pop"], "unsupported format");
    fails_with(&["reco", "eval", "--data", d, "--format", "s3rec", "--model", "svd"], "`svd` is not one of");
    fails_with(
        &["reco", "eval", "--data", d, "--format", "s3rec", "--model", "pop", "--k", "0"],
        "--k must be at least 1",
    );
    fails_with(
        &["reco", "eval", "--data", d, "--format", "s3rec", "--model", "pop", "--protocol", "loo"],
        "not one of loo-full",
    );
    fails_with(
        &["reco", "eval", "--data", d, "--format", "s3rec", "--model", "als", "--param", "factors"],
        "expected KEY=VALUE",
    );
    fails_with(
        &["reco", "eval", "--data", d, "--format", "s3rec", "--model", "als", "--param", "factors=-3"],
        "factors",
    );
    fails_with(&["reco", "eval", "--data", d, "--format", "s3rec", "--model", "als", "--param", "alpha=nan"], "alpha");
    fails_with(
        &["reco", "eval", "--data", "/no/such/file.txt", "--format", "s3rec", "--model", "pop"],
        "/no/such/file.txt",
    );
    let empty = dir.path().join("Empty.txt");
    std::fs::write(&empty, "").unwrap();
    fails_with(
        &["reco", "eval", "--data", empty.to_str().unwrap(), "--format", "s3rec", "--model", "pop"],
        "empty data",
    );
    let csv = dir.path().join("events.csv");
    std::fs::write(&csv, "customer,sku\n1,2\n").unwrap();
    fails_with(
        &["reco", "eval", "--data", csv.to_str().unwrap(), "--format", "csv", "--model", "pop"],
        "no column `user`",
    );
    fails_with(&["reco", "recommend", "--data", d, "--format", "s3rec", "--user", "nobody"], "unknown user `nobody`");
}

#[test]
fn train_then_recommend_from_the_model_file() {
    let dir = tempfile::tempdir().unwrap();
    let data = tiny_s3rec(dir.path());
    let model = dir.path().join("tiny.shopml");
    let (d, m) = (data.to_str().unwrap(), model.to_str().unwrap());
    let out = shopml(&["reco", "train", "--data", d, "--format", "s3rec", "--model", "als", "--out", m, "--quiet"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("wrote"));
    let rec = |extra: &[&str]| {
        let mut args = vec!["reco", "recommend", "--model-file", m, "--user", "2", "--k", "4", "--json"];
        args.extend(extra);
        let out = shopml(&args);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["items"].as_array().unwrap().iter().map(|i| i["item"].as_str().unwrap().to_string()).collect::<Vec<_>>()
    };
    assert_eq!(rec(&[]).len(), 4);
    let unseen = rec(&["--exclude-seen"]);
    assert!(unseen.iter().all(|i| !["8", "9", "10", "11", "12"].contains(&i.as_str())), "{unseen:?}");
    // the S3-Rec toy data has no categories: a category filter leaves nothing
    assert!(rec(&["--category", "shoes"]).is_empty());
    // through an HNSW index (equality with exact scoring is reco-core's test)
    let via_index = rec(&["--exclude-seen", "--ann", "64"]);
    assert_eq!(via_index.len(), 4);
    assert!(via_index.iter().all(|i| !["8", "9", "10", "11", "12"].contains(&i.as_str())), "{via_index:?}");
    fails_with(&["reco", "recommend", "--model-file", "/no/model.shopml", "--user", "2"], "/no/model.shopml");
    let junk = dir.path().join("junk.shopml");
    std::fs::write(&junk, b"not a model").unwrap();
    fails_with(&["reco", "recommend", "--model-file", junk.to_str().unwrap(), "--user", "2"], "bad magic");
    fails_with(&["reco", "recommend", "--user", "2"], "--data and --format are required");
}

#[test]
fn csv_tables_through_polars() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("customer,sku,ts\n");
    for u in 0..30 {
        for k in 0..4 {
            text.push_str(&format!("c{u},p{},{}\n", (u + k) % 8, 100 * u + k));
        }
    }
    let csv = dir.path().join("events.csv");
    std::fs::write(&csv, text).unwrap();
    let out = shopml(&[
        "reco",
        "eval",
        "--data",
        csv.to_str().unwrap(),
        "--format",
        "csv",
        "--user-col",
        "customer",
        "--item-col",
        "sku",
        "--time-col",
        "ts",
        "--model",
        "itemknn",
        "--json",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["users_evaluated"], 30);
    assert_eq!(v["held_out"], "last item");
}

#[test]
fn event_kinds_are_weighted_and_purchases_held_out() {
    let dir = tempfile::tempdir().unwrap();
    // Each customer views two products, carts one, buys two; the last event is a view.
    let mut text = String::from("customer,sku,ts,kind\n");
    for u in 0..30 {
        let kinds = ["view", "view", "add-to-cart", "purchase", "purchase", "view"];
        for (k, kind) in kinds.iter().enumerate() {
            text.push_str(&format!("c{u},p{},{},{kind}\n", (u + k) % 9, 100 * u + k));
        }
    }
    let csv = dir.path().join("events.csv");
    std::fs::write(&csv, text).unwrap();
    let eval = |weights: &str| {
        let c = csv.to_str().unwrap();
        let args = ["reco", "eval", "--data", c, "--format", "csv", "--user-col", "customer", "--item-col", "sku"];
        let mut args = args.to_vec();
        args.extend(["--time-col", "ts", "--kind-col", "kind", "--model", "itemknn", "--json", "--quiet"]);
        args.extend(["--kind-weights", weights]);
        shopml(&args)
    };
    let out = eval("");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((v["held_out"].as_str(), v["users_evaluated"].as_u64()), (Some("last purchase"), Some(30)));
    // Only purchases trained on: the split is made before weighing, so the same purchases are held out.
    let out = eval("view=0,add-to-cart=0");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let w: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((&w["held_out"], &w["users_evaluated"]), (&v["held_out"], &v["users_evaluated"]));
    assert_ne!(w["metrics"], v["metrics"], "views and carts change what is learnt");
    let out = eval("like=1");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--kind-weights") && err.contains("`like` is not view"), "{err}");
}

#[test]
fn demo_runs_on_the_shipped_data() {
    let shipped = root().join("datasets/online-retail/online_retail.csv.gz");
    assert!(shipped.exists(), "the repository ships {}", shipped.display());
    let out = shopml(&["demo", "--model", "itemknn", "--quiet"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("top 10 for customer 17850"), "{text}");
    let ranked = text.lines().filter(|l| l.trim_start().split('.').next().is_some_and(|n| n.parse::<u32>().is_ok()));
    assert_eq!(ranked.count(), 10, "{text}");
}

/// A small intent CSV: three intents, phrasings built from templates, with an `oos` class.
fn intents_csv(path: &Path, offset: usize) {
    let intents = [
        (
            "track_order",
            ["where is my order", "track my parcel", "has my order shipped", "when will my package arrive"],
        ),
        ("cancel_order", ["cancel my order", "i want to cancel", "please cancel the purchase", "stop my order"]),
        ("get_refund", ["i want a refund", "give me my money back", "refund please", "how do i get reimbursed"]),
        ("oos", ["what is the capital of peru", "play some jazz", "how tall is everest", "tell me a joke"]),
    ];
    let tails = ["", " now", " please", " today", " asap", " thanks", " quickly", " for me"];
    let mut text = String::from("utterance,intent\n");
    for (label, phrases) in intents {
        for (i, p) in phrases.iter().enumerate() {
            for t in 0..4 {
                text.push_str(&format!("{p}{},{label}\n", tails[(i + t + offset) % tails.len()]));
            }
        }
    }
    std::fs::write(path, text).unwrap();
}

#[test]
fn chat_eval_json_train_classify_and_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let (train, test) = (dir.path().join("train.csv"), dir.path().join("test.csv"));
    intents_csv(&train, 0);
    intents_csv(&test, 3);
    let (tr, te) = (train.to_str().unwrap(), test.to_str().unwrap());
    let small = ["--epochs", "30", "--ensemble", "1", "--dim", "32"];
    let mut args = vec!["chat", "eval", "--format", "csv", "--train", tr, "--test", te, "--json"];
    args.extend(small);
    let out = shopml(&args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for key in ["accuracy", "in_scope_accuracy", "oos_recall", "oos_precision", "macro_f1", "train_seconds"] {
        assert!(v[key].is_number(), "{key} missing in {v}");
    }
    assert!(v["latency_us"]["p50"].is_number() && v["latency_us"]["p99"].is_number(), "{v}");
    assert!(v["accuracy"].as_f64().unwrap() >= 0.9, "{v}");

    let model = dir.path().join("m.shopml");
    let mut args = vec!["chat", "train", "--format", "csv", "--train", tr, "--out", model.to_str().unwrap()];
    args.extend(small);
    let out = shopml(&args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let m = model.to_str().unwrap();
    let out = shopml(&["chat", "classify", "--model", m, "cancel my order please", "what is the capital of peru"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<serde_json::Value> =
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines[0]["intent"], "cancel_order", "{lines:?}");
    assert_eq!(lines[1]["in_scope"], false, "{lines:?}");
    fails_with(&["chat", "classify", "--model", m, " "], "`text`: is empty");

    // The fast + MiniLM ensemble trains into its own file kind, which classify recognises.
    let ens = dir.path().join("e.shopml");
    let e = ens.to_str().unwrap();
    let mut args = vec!["chat", "train", "--format", "csv", "--train", tr, "--out", e, "--intent-model", "ensemble"];
    args.extend(small);
    let out = shopml(&args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(std::fs::read(&ens).unwrap().starts_with(b"SHOPMLCX"));
    let out = shopml(&["chat", "classify", "--model", e, "please cancel my order", "give me my money back"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<serde_json::Value> =
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!((lines[0]["intent"].as_str(), lines[1]["intent"].as_str()), (Some("cancel_order"), Some("get_refund")));

    fails_with(&["chat", "eval", "--format", "csv", "--train", tr], "--test");
    fails_with(
        &["chat", "eval", "--format", "csv", "--train", tr, "--test", te, "--text-col", "text"],
        "no column `text`",
    );
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, b"utterance,intent\nbad \xff bytes,x\n").unwrap();
    fails_with(&["chat", "eval", "--format", "csv", "--train", bad.to_str().unwrap(), "--test", te], "bad.csv:2");
    fails_with(&["chat", "classify", "--model", bad.to_str().unwrap(), "hi"], "bad.csv");
    fails_with(&["chat", "eval", "--format", "clinc150", "--train", te], "test.csv");
}

/// `reco recommend --history`: a guest session's next items in order, and a customer's live events.
#[test]
fn recommend_next_from_a_history() {
    let dir = tempfile::tempdir().unwrap();
    // 48 customers walk a ring of 12 items: each buys the next one.
    let text: String = (0..48)
        .map(|u| {
            format!("{} {}\n", u + 1, (0..6).map(|t| ((u + t) % 12 + 1).to_string()).collect::<Vec<_>>().join(" "))
        })
        .collect();
    let data = dir.path().join("Ring.txt");
    std::fs::write(&data, text).unwrap();
    let model = dir.path().join("ring.shopml");
    let (d, m) = (data.to_str().unwrap(), model.to_str().unwrap());
    let out =
        shopml(&["reco", "train", "--data", d, "--format", "s3rec", "--model", "transition", "--out", m, "--quiet"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let top = |extra: &[&str]| {
        let mut args = vec!["reco", "recommend", "--model-file", m, "--k", "1", "--json"];
        args.extend(extra);
        let out = shopml(&args);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["items"][0]["item"].as_str().unwrap().to_string()
    };
    assert_eq!(top(&["--history", "3,4"]), "5");
    assert_eq!(top(&["--history", "9", "--history", "nope,3"]), "4");
    // Customer 1 bought 1..6 (next: 7); after a live 10, next is 11.
    assert_eq!(top(&["--user", "1"]), "7");
    assert_eq!(top(&["--user", "1", "--history", "10"]), "11");
    fails_with(&["reco", "recommend", "--model-file", m], "--user");
    fails_with(&["reco", "recommend", "--model-file", m, "--history", "3", "--k", "0"], "at least 1");
}
