//! Issue 15, item 3: does a fusion of two sequential models help? Fits model A (default `sasrec`) and
//! model B (default `transition`) on the leave-one-out validation split, evaluates their
//! [`Fusion`] `(1 - w) · z(A) + w · z(B)` (`z` standardises a user's scores over the catalogue) for w = 0, 0.1, …, 1
//! on the validation item, picks the best w by NDCG@10 there, then fits both on the test split's training
//! data and reports w = 0, w = 1 and the chosen w on the test item. Prints one JSON line per evaluation.
//!
//! usage: seq_fusion --data ../shared/datasets/amazon-beauty/Beauty.txt [--a sasrec] [--b transition]

use reco_core::data::split::{leave_one_out, sequences_of};
use reco_core::data::{interaction_matrix, InteractionMatrix};
use reco_core::eval::{evaluate, Protocol};
use reco_core::model::{AnyModel, AnyParams, FitInput, Fusion};
use std::sync::Arc;
use std::time::Instant;

fn fit(params: &AnyParams, input: &FitInput<'_>) -> (Arc<AnyModel>, f64) {
    let start = Instant::now();
    let model = params.fit(input, &|_, _| true).expect("fit");
    (Arc::new(model), start.elapsed().as_secs_f64())
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (mut data, mut a_name, mut b_name) = (None, "sasrec".to_string(), "transition".to_string());
    while let Some(a) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{a} needs a value"));
        match a.as_str() {
            "--data" => data = Some(value()),
            "--a" => a_name = value(),
            "--b" => b_name = value(),
            o => panic!("unknown argument {o}"),
        }
    }
    let path = data.expect("--data PATH (an S3-Rec file)");
    let data = reco_core::io::load_s3rec(std::path::Path::new(&path)).expect("load");
    let (nu, ni) = (data.n_users(), data.n_items());
    let split = leave_one_out(&data).expect("split");
    let full = data.matrix();
    let (pa, pb) = (AnyParams::new(&a_name).expect("--a"), AnyParams::new(&b_name).expect("--b"));
    let report =
        |phase: &str, w: f32, a: &Arc<AnyModel>, b: &Arc<AnyModel>, train: &InteractionMatrix, held: &[(u32, u32)]| {
            let blend = Fusion::new(a.clone(), b.clone(), w);
            let r = evaluate(&blend, train, &full, held, Protocol::LooFull, 10, 42).expect("evaluate");
            let (hr, ndcg) = (r.metrics.hr, r.metrics.ndcg);
            println!("{{\"phase\": \"{phase}\", \"w_{b_name}\": {w:.1}, \"hr@10\": {hr:.4}, \"ndcg@10\": {ndcg:.4}}}");
            ndcg
        };

    // Validation: fit on everything but each user's last two items, score the second-to-last.
    let seqs = sequences_of(&split.valid_train, nu, ni);
    let train = interaction_matrix(&split.valid_train, nu, ni);
    let input = FitInput {
        train: &train,
        items: data.item_meta(),
        validation: None,
        sequences: Some(&seqs),
        validation_sequences: None,
    };
    let ((a, sa), (b, sb)) = (fit(&pa, &input), fit(&pb, &input));
    println!("{{\"phase\": \"valid\", \"fit_seconds\": [{sa:.1}, {sb:.1}]}}");
    let mut best = (f64::MIN, 0.0f32);
    for step in 0..=10 {
        let w = step as f32 / 10.0;
        let ndcg = report("valid", w, &a, &b, &train, &split.valid);
        if ndcg > best.0 {
            best = (ndcg, w);
        }
    }
    drop((a, b));
    println!("{{\"chosen_w\": {:.1}}}", best.1);

    // Test: fit on everything but each user's last item (validation split for early stopping, as run_loo).
    let seqs = sequences_of(&split.train, nu, ni);
    let train = interaction_matrix(&split.train, nu, ni);
    let valid_seqs = sequences_of(&split.valid_train, nu, ni);
    let input = FitInput {
        train: &train,
        items: data.item_meta(),
        validation: Some((&interaction_matrix(&split.valid_train, nu, ni), split.valid.as_slice())),
        sequences: Some(&seqs),
        validation_sequences: Some(&valid_seqs),
    };
    let ((a, sa), (b, sb)) = (fit(&pa, &input), fit(&pb, &input));
    println!("{{\"phase\": \"test\", \"fit_seconds\": [{sa:.1}, {sb:.1}]}}");
    for w in [0.0, 1.0, best.1] {
        report("test", w, &a, &b, &train, &split.test);
    }
}
