//! The encoder on a tiny randomly initialised BERT written by the test itself (config, WordPiece
//! tokenizer, safetensors weights): pooling, normalisation, padding masks, the cache, and typed errors
//! naming the file for a missing or corrupt model directory.

use candle_core::{DType, Device};
use candle_nn::{VarBuilder, VarMap};
use candle_transformers::models::bert::{BertModel, Config};
use shopml_encoder::{Encoder, EncoderError};
use std::path::Path;
use tokenizers::models::wordpiece::WordPiece;
use tokenizers::normalizers::BertNormalizer;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::processors::template::TemplateProcessing;
use tokenizers::Tokenizer;

const WORDS: [&str; 14] =
    ["tea", "cup", "pot", "garden", "spade", "a", "much", "longer", "text", "about", "and", "cups", "pots", "where"];

fn config_json(hidden: usize) -> String {
    serde_json::json!({
        "vocab_size": 5 + WORDS.len(), "hidden_size": hidden, "num_hidden_layers": 2, "num_attention_heads": 2,
        "intermediate_size": 2 * hidden, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
        "max_position_embeddings": 64, "type_vocab_size": 2, "initializer_range": 0.02, "layer_norm_eps": 1e-12,
        "pad_token_id": 0, "classifier_dropout": null, "model_type": "bert"
    })
    .to_string()
}

/// Writes a tiny BERT (hidden `hidden`) into `dir`.
fn write_tiny(dir: &Path, hidden: usize) {
    std::fs::write(dir.join("config.json"), config_json(hidden)).unwrap();
    let vocab: Vec<&str> = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"].into_iter().chain(WORDS).collect();
    let vocab_path = dir.join("vocab.txt");
    std::fs::write(&vocab_path, vocab.join("\n")).unwrap();
    let wp = WordPiece::from_file(vocab_path.to_str().unwrap()).unk_token("[UNK]".into()).build().unwrap();
    let mut tok = Tokenizer::new(wp);
    tok.with_normalizer(Some(BertNormalizer::default())).unwrap();
    tok.with_pre_tokenizer(Some(BertPreTokenizer));
    let template = TemplateProcessing::builder()
        .try_single("[CLS] $A [SEP]")
        .unwrap()
        .special_tokens(vec![("[CLS]", 2), ("[SEP]", 3)])
        .build()
        .unwrap();
    tok.with_post_processor(Some(template));
    tok.save(dir.join("tokenizer.json"), false).unwrap();
    let config: Config = serde_json::from_str(&config_json(hidden)).unwrap();
    let vars = VarMap::new();
    BertModel::load(VarBuilder::from_varmap(&vars, DType::F32, &Device::Cpu), &config).unwrap();
    vars.save(dir.join("model.safetensors")).unwrap();
}

fn tiny() -> (tempfile::TempDir, Encoder) {
    let dir = tempfile::tempdir().unwrap();
    write_tiny(dir.path(), 16);
    let e = Encoder::load(dir.path()).unwrap();
    (dir, e)
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[test]
fn embeddings_are_unit_length_deterministic_and_differ_by_text() {
    let (_d, e) = tiny();
    assert_eq!(e.dim(), 16);
    let v = e.embed(&["tea cup", "garden spade", "tea cup", ""]).unwrap();
    assert_eq!(v.dim(), (4, 16));
    for r in v.rows() {
        assert!((r.dot(&r) - 1.0).abs() < 1e-4, "norm² {}", r.dot(&r));
    }
    assert_eq!(v.row(0), v.row(2));
    assert!(cosine(v.row(0).as_slice().unwrap(), v.row(1).as_slice().unwrap()) < 0.9999);
}

#[test]
fn padding_in_a_batch_never_changes_an_embedding() {
    let (_a, alone) = tiny();
    let dir = tempfile::tempdir().unwrap();
    // Same weights: copy the files into a second directory, so the cache of `alone` is not involved.
    for f in shopml_encoder::FILES {
        std::fs::copy(_a.path().join(f), dir.path().join(f)).unwrap();
    }
    let batched = Encoder::load(dir.path()).unwrap();
    let short = alone.embed(&["tea cup"]).unwrap();
    let both = batched.embed(&["a much longer text about tea cups and pots", "tea cup"]).unwrap();
    for (x, y) in short.row(0).iter().zip(both.row(1).iter()) {
        assert!((x - y).abs() < 1e-5, "{x} vs {y}: the padded positions leaked into the mean");
    }
    // The cache answers a repeated text with the same vector.
    assert_eq!(batched.embed(&["tea cup"]).unwrap().row(0), both.row(1));
}

#[test]
fn a_missing_or_corrupt_model_directory_is_a_typed_error_naming_the_file() {
    for f in shopml_encoder::FILES {
        let dir = tempfile::tempdir().unwrap();
        write_tiny(dir.path(), 8);
        std::fs::remove_file(dir.path().join(f)).unwrap();
        match Encoder::load(dir.path()) {
            Err(EncoderError::Missing(p)) => assert!(p.ends_with(f), "{p:?}"),
            other => panic!("{f}: expected Missing, got {other:?}"),
        }
        write_tiny(dir.path(), 8);
        std::fs::write(dir.path().join(f), b"\x00 not what it should be").unwrap();
        match Encoder::load(dir.path()) {
            Err(EncoderError::Corrupt { path, .. }) => assert!(path.ends_with(f), "{path:?}"),
            other => panic!("{f}: expected Corrupt, got {other:?}"),
        }
    }
    // Weights that do not fit the configuration: the weights file is named.
    let dir = tempfile::tempdir().unwrap();
    write_tiny(dir.path(), 8);
    std::fs::write(dir.path().join("config.json"), config_json(16)).unwrap();
    match Encoder::load(dir.path()) {
        Err(EncoderError::Corrupt { path, reason }) => {
            assert!(path.ends_with("model.safetensors"), "{path:?}: {reason}")
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    let msg = Encoder::load(Path::new("/no/such/dir")).unwrap_err().to_string();
    assert!(msg.contains("/no/such/dir/config.json") && msg.contains("fetch-minilm"), "{msg}");
}

/// The trainable split (issue 16's fine-tuning): with its initial weights it computes exactly what the
/// frozen encoder does; every trainable weight gets a gradient (the layer normalisation is differentiable);
/// training moves the embeddings; its weights round-trip through `named` / `set`, checked by shape.
#[test]
fn the_trainable_top_layers_reproduce_the_frozen_encoder_learn_and_round_trip() {
    use candle_nn::{AdamW, Optimizer, ParamsAdamW};
    let (_dir, e) = tiny();
    let texts = ["tea cup", "garden spade and a pot", "where", "a much longer text about tea and cups and pots"];
    let frozen = e.embed(&texts).unwrap();
    for top in 1..=2 {
        let tuned = e.tunable(top).unwrap().embed(&e, &texts).unwrap();
        for i in 0..texts.len() {
            let diff = frozen.row(i).iter().zip(tuned.row(i).iter()).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
            assert!(diff < 1e-4, "top {top}, text {i}: max difference {diff}");
        }
    }
    assert!(e.tunable(0).is_err() && e.tunable(3).is_err());

    let t = e.tunable(2).unwrap();
    let states = t.lower(&e, &texts[..2]).unwrap();
    let pair = |t: &shopml_encoder::Tunable| {
        let v = t.upper(&[&states[0], &states[1]]).unwrap().to_vec2::<f32>().unwrap();
        cosine(&v[0], &v[1])
    };
    let before = pair(&t);
    let emb = t.upper(&[&states[0], &states[1]]).unwrap();
    let loss = (1.0 - (emb.get(0).unwrap() * emb.get(1).unwrap()).unwrap().sum_all().unwrap()).unwrap();
    let grads = loss.backward().unwrap();
    for (i, v) in t.vars().iter().enumerate() {
        let g = grads.get(v).unwrap_or_else(|| panic!("variable {i} gets no gradient"));
        assert!(g.abs().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap() > 0.0, "variable {i}: zero gradient");
    }
    let mut opt = AdamW::new(t.vars(), ParamsAdamW { lr: 0.01, ..Default::default() }).unwrap();
    for _ in 0..30 {
        let emb = t.upper(&[&states[0], &states[1]]).unwrap();
        let loss = (1.0 - (emb.get(0).unwrap() * emb.get(1).unwrap()).unwrap().sum_all().unwrap()).unwrap();
        opt.backward_step(&loss).unwrap();
    }
    let after = pair(&t);
    // the random tiny network starts anywhere; training must at least halve the distance to 1
    assert!(1.0 - after < (1.0 - before) / 2.0 && after > 0.9, "cosine {before} → {after}");

    let fresh = e.tunable(2).unwrap();
    fresh.set(&t.named().into_iter().collect()).unwrap();
    assert!((pair(&fresh) - after).abs() < 1e-6);
    let mut wrong: std::collections::HashMap<_, _> = t.named().into_iter().collect();
    let key = "layer.0.attention.self.query.bias".to_string();
    wrong.insert(key.clone(), candle_core::Tensor::zeros(3, DType::F32, &Device::Cpu).unwrap());
    assert!(fresh.set(&wrong).unwrap_err().to_string().contains(&key));
    wrong.remove(&key);
    assert!(fresh.set(&wrong).is_err());
}
