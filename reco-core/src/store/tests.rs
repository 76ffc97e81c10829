//! Crafted model files with a valid checksum, one per class of inconsistency (each must be a typed
//! `ModelFile` error), and a property test that mutates valid files behind their checksum (any outcome but
//! a panic is fine). `PROPTEST_CASES=1000000 cargo test -p reco-core --release fuzz_` for the long run.

use super::*;
use crate::data::{Dataset, EventKind};
use proptest::prelude::*;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// 24 customers, 9 products in 3 categories, prices and texts.
fn data() -> Dataset {
    let mut d = Dataset::new("crafted");
    for u in 0..24 {
        for k in 0..4 {
            let item = (u % 3) * 3 + (u + k) % 3;
            d.push(&format!("c{u}"), &format!("p{item}"), (u * 10 + k) as i64, EventKind::Purchase, 1.0).unwrap();
        }
    }
    for i in 0..d.n_items() {
        d.item_meta[i].category = Some(["mugs", "tea", "pots"][i % 3].to_string());
        d.item_meta[i].price = Some(2.0 + i as f32);
        d.item_meta[i].text = Some(format!("RED PRODUCT {i}"));
    }
    d
}

/// A fitted model's file bytes, once per kind.
fn bytes(kind: &str) -> &'static [u8] {
    static FILES: OnceLock<BTreeMap<&'static str, Vec<u8>>> = OnceLock::new();
    let files = FILES.get_or_init(|| {
        let settings: &[(&'static str, &[(&str, &str)])] = &[
            ("pop", &[]),
            ("als", &[("factors", "4"), ("iterations", "3")]),
            ("itemknn", &[]),
            ("content", &[]),
            ("hybrid", &[]),
            ("neumf", &[("factors", "4"), ("tower", "8-4"), ("epochs", "1"), ("batch_size", "64")]),
            ("als-indexed", &[("factors", "4"), ("iterations", "3")]),
        ];
        settings
            .iter()
            .map(|(kind, set)| {
                let mut p = AnyParams::new(kind.trim_end_matches("-indexed")).unwrap();
                for (k, v) in *set {
                    p = p.set(k, v).unwrap();
                }
                let mut m = TrainedModel::fit(&data(), &p, &|_, _| true).unwrap();
                if kind.ends_with("-indexed") {
                    // A graph for the catalogue and one per category (3 items each ≤ half of 9).
                    let params = crate::ann::AnnParams { partition_min: 2, ..Default::default() };
                    m.build_index(params).unwrap();
                }
                (*kind, m.to_bytes().unwrap())
            })
            .collect()
    });
    &files[kind]
}

type Tensors = BTreeMap<String, (Dtype, Vec<usize>, Vec<u8>)>;

/// `kind`'s file taken apart: the metadata bytes and the tensors.
fn parts(kind: &str) -> (Vec<u8>, Tensors) {
    let (meta, blob) = container::unpack(bytes(kind), Path::new("x")).unwrap();
    let st = SafeTensors::deserialize(blob).unwrap();
    let tensors =
        st.tensors().into_iter().map(|(n, v)| (n, (v.dtype(), v.shape().to_vec(), v.data().to_vec()))).collect();
    (meta.to_vec(), tensors)
}

/// `kind`'s file with its metadata and tensors edited, repacked with a valid checksum.
fn craft(kind: &str, edit: impl FnOnce(&mut serde_json::Value, &mut Tensors)) -> Vec<u8> {
    let (meta, mut tensors) = parts(kind);
    let mut meta: serde_json::Value = serde_json::from_slice(&meta).unwrap();
    edit(&mut meta, &mut tensors);
    repack(&meta, &tensors)
}

fn repack(meta: &serde_json::Value, tensors: &Tensors) -> Vec<u8> {
    let views: Vec<(String, TensorView<'_>)> =
        tensors.iter().map(|(n, (d, s, b))| (n.clone(), TensorView::new(*d, s.clone(), b).unwrap())).collect();
    container::pack(&serde_json::to_vec(meta).unwrap(), &safetensors::serialize(views, None).unwrap())
}

fn set_f32(t: &mut Tensors, name: &str, i: usize, v: f32) {
    let data = &mut t.get_mut(name).unwrap_or_else(|| panic!("no tensor {name}")).2;
    data[i * 4..i * 4 + 4].copy_from_slice(&v.to_le_bytes());
}

/// The load error's text; panics unless it is a typed `ModelFile` error.
fn refused(file: Vec<u8>) -> String {
    match TrainedModel::from_bytes(&file, Path::new("crafted.shopml")) {
        Err(e @ RecoError::ModelFile { .. }) => e.to_string(),
        Err(other) => panic!("an error of the wrong type: {other:?}"),
        Ok(_) => panic!("the crafted file loaded"),
    }
}

#[test]
fn the_untouched_files_load() {
    for kind in KINDS {
        TrainedModel::from_bytes(&craft(kind, |_, _| {}), Path::new("x")).unwrap();
    }
}

const KINDS: [&str; 7] = ["pop", "als", "itemknn", "content", "hybrid", "neumf", "als-indexed"];

fn set_u32(t: &mut Tensors, name: &str, i: usize, v: u32) {
    t.get_mut(name).unwrap().2[i * 4..i * 4 + 4].copy_from_slice(&v.to_le_bytes());
}

/// A saved index comes back (no build_index after load) and serves as before; a damaged one is a
/// typed error naming the graph, never a panic or a wrong answer.
#[test]
fn a_saved_index_loads_serving_ready_and_damage_is_refused() {
    let m = TrainedModel::from_bytes(bytes("als-indexed"), Path::new("x")).unwrap();
    let params = m.index_params().expect("the index came back");
    assert_eq!(params.partition_min, 2);
    let mut fresh = m.clone();
    fresh.build_index(params).unwrap();
    let f = crate::serve::Filter { categories: Some(["tea".to_string()].into()), ..Default::default() };
    assert_eq!(m.recommend("c1", 3, &f).unwrap(), fresh.recommend("c1", 3, &f).unwrap());
    let cap = serde_json::from_slice::<serde_json::Value>(&parts("als-indexed").0).unwrap()["index"]["graphs"][0]
        ["cap0"]
        .as_u64()
        .unwrap() as usize;
    let e = refused(craft("als-indexed", |_, t| set_u32(t, "index.0.links0", 1, 99)));
    assert!(e.contains("index") && e.contains("node id is out of range"), "{e}");
    let e = refused(craft("als-indexed", |_, t| set_u32(t, "index.0.links0", cap + 1, 9_999)));
    assert!(e.contains("out of range"), "{e}");
    let e = refused(craft("als-indexed", |_, t| set_u32(t, "index.1.order", 0, 5)));
    assert!(e.contains("permutation"), "{e}");
    let e = refused(craft("als-indexed", |_, t| {
        t.remove("index.2.upper");
    }));
    assert!(e.contains("no tensor `index.2.upper`"), "{e}");
    let e = refused(craft("als-indexed", |meta, _| meta["index"]["graphs"][1]["category"] = "shoes".into()));
    assert!(e.contains("category"), "{e}");
    let e = refused(craft("als-indexed", |meta, _| meta["index"]["graphs"][0]["entry"] = 9.into()));
    assert!(e.contains("entry"), "{e}");
    let e = refused(craft("als-indexed", |meta, _| meta["index"]["params"]["m"] = 0.into()));
    assert!(e.contains("m"), "{e}");
    // A file from before indexes were saved (no `index` key) loads without one.
    let old = TrainedModel::from_bytes(
        &craft("als-indexed", |meta, _| {
            meta.as_object_mut().unwrap().remove("index");
        }),
        Path::new("x"),
    )
    .unwrap();
    assert!(old.index_params().is_none());
}

#[test]
fn duplicate_and_empty_ids_are_refused() {
    let e = refused(craft("pop", |m, _| m["item_ids"][1] = m["item_ids"][0].clone()));
    assert!(e.contains("appears more than once"), "{e}");
    let e = refused(craft("als", |m, _| m["user_ids"][3] = m["user_ids"][0].clone()));
    assert!(e.contains("user id") && e.contains("more than once"), "{e}");
    let e = refused(craft("pop", |m, _| m["user_ids"][2] = "  ".into()));
    assert!(e.contains("empty"), "{e}");
}

#[test]
fn non_finite_values_are_refused() {
    let e = refused(craft("pop", |_, t| set_f32(t, "pop.counts", 2, f32::NAN)));
    assert!(e.contains("pop.counts") && e.contains("non-finite"), "{e}");
    let e = refused(craft("als", |_, t| set_f32(t, "mf.item_factors", 5, f32::INFINITY)));
    assert!(e.contains("mf.item_factors"), "{e}");
    let e = refused(craft("pop", |_, t| set_f32(t, "history.data", 0, f32::NAN)));
    assert!(e.contains("history weight"), "{e}");
    let e = refused(craft("content", |_, t| set_f32(t, "content.vectors.data", 1, f32::NEG_INFINITY)));
    assert!(e.contains("content.vectors.data"), "{e}");
    let e = refused(craft("neumf", |_, t| set_f32(t, "ncf.mlp.layer0.weight", 0, f32::NAN)));
    assert!(e.contains("non-finite"), "{e}");
    let e = refused(craft("itemknn", |_, t| set_f32(t, "knn.data", 0, f32::NAN)));
    assert!(!e.is_empty());
}

#[test]
fn out_of_range_values_are_refused() {
    let e = refused(craft("pop", |_, t| set_f32(t, "pop.counts", 0, -3.0)));
    assert!(e.contains("negative"), "{e}");
    let e = refused(craft("pop", |_, t| set_f32(t, "history.data", 1, -1.0)));
    assert!(e.contains("history weight"), "{e}");
    let e = refused(craft("pop", |m, _| m["item_meta"][0]["price"] = (-5.0).into()));
    assert!(e.contains("price"), "{e}");
    let e = refused(craft("hybrid", |_, t| set_f32(t, "hybrid.weight", 0, 1.5)));
    assert!(e.contains("hybrid weight"), "{e}");
    let e = refused(craft("hybrid", |_, t| set_f32(t, "hybrid.weight", 0, f32::NAN)));
    assert!(e.contains("hybrid weight"), "{e}");
}

#[test]
fn wrong_lengths_and_shapes_are_refused() {
    let e = refused(craft("pop", |_, t| {
        let c = t.get_mut("pop.counts").unwrap();
        c.1 = vec![c.1[0] - 1];
        c.2.truncate(c.2.len() - 4);
    }));
    assert!(e.contains("pop.counts"), "{e}");
    let e = refused(craft("pop", |m, _| {
        m["item_meta"].as_array_mut().unwrap().pop();
    }));
    assert!(e.contains("item descriptions"), "{e}");
    let e = refused(craft("als", |m, _| {
        m["user_ids"].as_array_mut().unwrap().pop();
    }));
    assert!(e.contains("user ids"), "{e}");
    let e = refused(craft("als", |_, t| {
        let x = t.get_mut("mf.user_factors").unwrap();
        x.1 = vec![x.1[1], x.1[0]]; // transposed: same bytes, wrong shape
    }));
    assert!(e.contains("factor shapes"), "{e}");
    // NCF: the output layer, a hidden layer that does not follow the one before, a tower without layers,
    // a NeuMF without its GMF part, embeddings for another catalogue.
    // (A shape the network cannot even be assembled from is the tensor backend's error, still typed.)
    let e = refused(craft("neumf", |_, t| t.get_mut("ncf.out.weight").unwrap().1.reverse()));
    assert!(e.contains("output layer") || e.contains("hape"), "{e}");
    let e = refused(craft("neumf", |_, t| {
        let (_, shape, data) = t.get_mut("ncf.mlp.layer0.weight").unwrap();
        shape[1] -= 1; // one input fewer than the embeddings give
        data.truncate(shape[0] * shape[1] * 4);
    }));
    assert!(e.contains("mlp layer 0"), "{e}");
    let e = refused(craft("neumf", |_, t| {
        t.retain(|n, _| !n.starts_with("ncf.mlp.layer"));
    }));
    assert!(e.contains("no layer"), "{e}");
    let e = refused(craft("neumf", |_, t| {
        t.retain(|n, _| !n.starts_with("ncf.gmf."));
    }));
    assert!(e.contains("gmf: false"), "{e}");
    let e = refused(craft("neumf", |_, t| {
        let (_, shape, data) = t.get_mut("ncf.gmf.item.weight").unwrap();
        shape[0] -= 1;
        data.truncate(shape[0] * shape[1] * 4);
    }));
    assert!(e.contains("gmf embeddings"), "{e}");
}

#[test]
fn a_model_with_another_kinds_parameters_is_refused() {
    let e = refused(craft("pop", |m, _| m["model"] = "als".into()));
    assert!(e.contains("parameters"), "{e}");
}

/// One mutation of a valid file behind its checksum.
#[derive(Debug, Clone)]
enum Mutation {
    /// Flip a byte of the metadata JSON.
    MetaByte(usize, u8),
    /// Overwrite one f32 of a tensor with a value (NaN, ±inf, negative, huge …).
    Value(usize, usize, f32),
    /// Change one dimension of a tensor's shape (and resize its data to match).
    Shape(usize, usize, usize),
    /// Drop a tensor.
    Drop(usize),
    /// Replace a JSON number at a position in the metadata's numeric fields.
    Number(usize, i64),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let value = prop_oneof![
        Just(f32::NAN),
        Just(f32::INFINITY),
        Just(f32::NEG_INFINITY),
        Just(-1.0f32),
        Just(0.0f32),
        Just(1e30f32),
        any::<f32>()
    ];
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::MetaByte(i, b)),
        (any::<usize>(), any::<usize>(), value).prop_map(|(t, i, v)| Mutation::Value(t, i, v)),
        (any::<usize>(), any::<usize>(), 0usize..40).prop_map(|(t, d, n)| Mutation::Shape(t, d, n)),
        any::<usize>().prop_map(Mutation::Drop),
        (any::<usize>(), -3i64..1_000_000).prop_map(|(i, n)| Mutation::Number(i, n)),
    ]
}

fn count_numbers(v: &serde_json::Value) -> usize {
    match v {
        serde_json::Value::Number(_) => 1,
        serde_json::Value::Array(a) => a.iter().map(count_numbers).sum(),
        serde_json::Value::Object(o) => o.values().map(count_numbers).sum(),
        _ => 0,
    }
}

/// Sets the `n`-th number (depth first) to `to`.
fn set_number(v: &mut serde_json::Value, n: &mut usize, to: i64) -> bool {
    match v {
        serde_json::Value::Number(_) if *n == 0 => {
            *v = to.into();
            true
        }
        serde_json::Value::Number(_) => {
            *n -= 1;
            false
        }
        serde_json::Value::Array(a) => a.iter_mut().any(|x| set_number(x, n, to)),
        serde_json::Value::Object(o) => o.values_mut().any(|x| set_number(x, n, to)),
        _ => false,
    }
}

fn mutate(kind: &str, ms: &[Mutation]) -> Vec<u8> {
    let (mut meta_bytes, mut tensors) = parts(kind);
    for m in ms {
        let names: Vec<String> = tensors.keys().cloned().collect();
        match *m {
            Mutation::MetaByte(i, b) => {
                let n = meta_bytes.len();
                meta_bytes[i % n] = b;
            }
            Mutation::Value(t, i, v) => {
                let (dtype, _, data) = tensors.get_mut(&names[t % names.len()]).unwrap();
                if *dtype == Dtype::F32 && data.len() >= 4 {
                    let k = i % (data.len() / 4);
                    data[k * 4..k * 4 + 4].copy_from_slice(&v.to_le_bytes());
                } else if !data.is_empty() {
                    let k = i % data.len();
                    data[k] = data[k].wrapping_add(v.to_bits() as u8 | 1);
                }
            }
            Mutation::Shape(t, d, n) => {
                let (dtype, shape, data) = tensors.get_mut(&names[t % names.len()]).unwrap();
                if !shape.is_empty() {
                    let k = d % shape.len();
                    shape[k] = n;
                    let size = if *dtype == Dtype::U64 { 8 } else { 4 };
                    data.resize(shape.iter().product::<usize>() * size, 0);
                }
            }
            Mutation::Drop(t) => {
                tensors.remove(&names[t % names.len()]);
            }
            Mutation::Number(i, n) => {
                if let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(&meta_bytes) {
                    let count = count_numbers(&v);
                    if count > 0 && set_number(&mut v, &mut (i % count), n) {
                        meta_bytes = serde_json::to_vec(&v).unwrap();
                    }
                }
            }
        }
    }
    let views: Vec<(String, TensorView<'_>)> = tensors
        .iter()
        .filter_map(|(n, (d, s, b))| TensorView::new(*d, s.clone(), b).ok().map(|v| (n.clone(), v)))
        .collect();
    container::pack(&meta_bytes, &safetensors::serialize(views, None).unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    /// Whatever the damage behind a valid checksum: an error or a model, never a panic; and a model that
    /// loads serves without panicking.
    #[test]
    fn fuzz_model_files_never_panic(kind in 0usize..KINDS.len(), ms in proptest::collection::vec(mutation(), 1..4)) {
        let kind = KINDS[kind];
        let file = mutate(kind, &ms);
        let loaded = std::panic::catch_unwind(|| TrainedModel::from_bytes(&file, Path::new("fuzz")));
        prop_assert!(loaded.is_ok(), "{kind}: loading panicked after {ms:?}");
        if let Ok(Ok(model)) = loaded {
            let served = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let server = crate::serve::Server::new(model);
                let _ = server.recommend("c1", 5, &crate::serve::Filter::default());
                let _ = server.similar_items("p1", 3);
            }));
            prop_assert!(served.is_ok(), "{kind}: serving a loaded mutant panicked after {ms:?}");
        }
    }
}

#[test]
fn a_model_that_scores_nan_is_an_error_not_an_empty_list() {
    let d = data();
    let (nu, ni) = (d.n_users(), d.n_items());
    let mut y = Array2::<f32>::ones((ni, 2));
    y[[3, 0]] = f32::NAN;
    let model = AnyModel::Mf(MatrixFactorization::from_parts("als", Array2::ones((nu, 2)), y, None));
    let history = crate::data::interaction_matrix(&d.interactions, nu, ni);
    let params = AnyParams::new("als").unwrap();
    let m = TrainedModel::from_parts(model, params, d.users.clone(), d.items.clone(), d.item_meta.clone(), history)
        .unwrap();
    let f = crate::serve::Filter::default();
    assert!(matches!(m.recommend("c1", 3, &f), Err(RecoError::NonFinite(_))), "{:?}", m.recommend("c1", 3, &f));
    assert!(matches!(m.recommend_next(&["p1"], 3, &f), Err(RecoError::NonFinite(_))));
    assert!(matches!(m.similar_items("p3", 3), Err(RecoError::NonFinite(_))));
    // Evaluation too: a NaN would fall out of the ranking and flatter the metrics.
    let report =
        crate::eval::evaluate(&m.model, &m.history, &m.history, &[(1, 2)], crate::eval::Protocol::LooFull, 5, 1);
    assert!(matches!(report, Err(RecoError::NonFinite(_))), "{report:?}");
}
