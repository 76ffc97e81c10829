use super::*;
use crate::model::Recommender;

/// A weight by name: `(name, (values, shape))`.
type Named = (String, (Vec<f32>, Vec<usize>));

/// 300 users walking a ring of 30 items: item i is always followed by i + 1 (mod 30).
fn ring(users: usize, len: usize, n: u32) -> Vec<Vec<u32>> {
    (0..users).map(|u| (0..len).map(|k| ((u * 7 + k) as u32) % n).collect()).collect()
}

fn small() -> SasRecParams {
    SasRec::params().hidden(16).epochs(40).batch_size(64).dropout(0.1).learning_rate(0.005).max_len(10)
}

#[test]
fn a_deterministic_next_item_rule_is_learned() {
    let seqs = ring(300, 8, 30);
    let model = small().fit(&seqs, 30).unwrap();
    // HR@1 on fresh histories: the next item of the ring must come first.
    let mut hits = 0;
    for start in 0..30u32 {
        let h: Vec<u32> = (0..4).map(|k| (start + k) % 30).collect();
        let top = model.recommend_next(&h, 1, &[]).unwrap();
        hits += (top[0].0 == (start + 4) % 30) as usize;
    }
    assert!(hits as f32 / 30.0 >= 0.95, "HR@1 {hits}/30");
}

#[test]
fn a_later_item_never_changes_an_earlier_position() {
    let model = small().epochs(2).fit(&ring(50, 6, 30), 30).unwrap();
    let run = |ids: Vec<u32>| {
        let t = Tensor::from_vec(ids, (1, 6), &Device::Cpu).unwrap();
        model.net.forward(&t, &mut Dropout { p: 0.0, rng: None }).unwrap().squeeze(0).unwrap().to_vec2::<f32>().unwrap()
    };
    let a = run(vec![0, 3, 4, 5, 6, 7]);
    let b = run(vec![0, 3, 4, 5, 6, 29]);
    for pos in 0..5 {
        assert_eq!(a[pos], b[pos], "position {pos} saw the future");
    }
    assert_ne!(a[5], b[5], "the changed position itself changes");
}

#[test]
fn training_is_reproducible_and_save_load_gives_identical_scores() {
    let seqs = ring(80, 6, 30);
    let p = small().epochs(3);
    let (a, b) = (p.fit(&seqs, 30).unwrap(), p.fit(&seqs, 30).unwrap());
    let h: &[u32] = &[1, 2, 3];
    assert_eq!(a.score_histories(&[h]).unwrap(), b.score_histories(&[h]).unwrap(), "same seed, same model");
    let named: Vec<Named> = a
        .tensors()
        .into_iter()
        .map(|(n, t)| (n, (t.flatten_all().unwrap().to_vec1::<f32>().unwrap(), t.dims().to_vec())))
        .collect();
    let find = |n: &str| named.iter().find(|(m, _)| m == n).map(|(_, t)| t.clone());
    let c = SasRec::from_parts(a.hyper_params().clone(), 30, a.sequences.clone(), find).unwrap();
    assert_eq!(a.score_histories(&[h]).unwrap(), c.score_histories(&[h]).unwrap());
    let mut out_a = vec![0.0; 30];
    let mut out_c = vec![0.0; 30];
    a.score_user(5, &mut out_a).unwrap();
    c.score_user(5, &mut out_c).unwrap();
    assert_eq!(out_a, out_c);
    // Inconsistent parts are typed errors.
    let wrong = |n: &str| {
        find(n).map(|(mut d, s)| {
            if n == "block0.q.weight" {
                d.truncate(d.len() - 16);
                (d, vec![s[0] - 1, s[1]])
            } else {
                (d, s)
            }
        })
    };
    assert!(SasRec::from_parts(a.hyper_params().clone(), 30, vec![], wrong).is_err());
    assert!(SasRec::from_parts(a.hyper_params().clone(), 30, vec![vec![30]], find).is_err());
    assert!(SasRec::from_parts(a.hyper_params().clone(), 31, vec![], find).is_err());
    let nan = |n: &str| {
        find(n).map(|(mut d, s)| {
            if n == "ln.bias" {
                d[0] = f32::NAN;
            }
            (d, s)
        })
    };
    assert!(SasRec::from_parts(a.hyper_params().clone(), 30, vec![], nan).is_err());
    assert!(SasRec::from_parts(a.hyper_params().clone(), 30, vec![], |n: &str| (n != "ln.bias")
        .then(|| find(n))
        .flatten())
    .is_err());
}

#[test]
fn a_live_event_changes_the_next_recommendation_without_a_refit() {
    let mut model = small().fit(&ring(300, 8, 30), 30).unwrap();
    let before = model.recommend(0, 1, None).unwrap()[0].0;
    let last = *model.sequence(0).last().unwrap();
    assert_eq!(before, (last + 1) % 30);
    model.push_event(0, 12).unwrap();
    assert_eq!(model.recommend(0, 1, None).unwrap()[0].0, 13, "the newest event drives the next item");
    // A new (guest) user works the same.
    model.push_event(5000, 20).unwrap();
    assert_eq!(model.recommend(5000, 1, None).unwrap()[0].0, 21);
    assert!(model.push_event(0, 30).is_err(), "unknown item");
}

#[test]
fn bad_input_is_a_typed_error_or_documented_behaviour() {
    let model = small().epochs(20).fit(&ring(300, 8, 30), 30).unwrap();
    assert!(model.recommend_next(&[], 5, &[]).is_err(), "empty history");
    assert!(model.recommend_next(&[1, 2], 0, &[]).is_err(), "k = 0");
    // Unknown items are ignored.
    assert_eq!(model.recommend_next(&[1, 2, 999], 3, &[]).unwrap(), model.recommend_next(&[1, 2], 3, &[]).unwrap());
    // A history longer than max_len keeps its most recent max_len items.
    let long: Vec<u32> = (0..40).map(|k| k % 30).collect();
    assert_eq!(model.score_histories(&[&long]).unwrap(), model.score_histories(&[&long[30..]]).unwrap());
    // History items and excluded ones are never recommended.
    let top = model.recommend_next(&[4, 5], 30, &[6]).unwrap();
    assert!(top.iter().all(|(i, _)| ![4, 5, 6].contains(i)) && top.len() <= 28);
    assert!(SasRec::params().heads(3).fit(&ring(10, 4, 30), 30).is_err(), "heads must divide hidden");
    assert!(SasRec::params().fit(&[vec![1, 40]], 30).is_err(), "item outside the catalogue");
    assert!(SasRec::params().fit(&[vec![1]], 30).is_err(), "no sequence of two items");
}
