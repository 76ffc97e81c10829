//! The real all-MiniLM-L6-v2 (fetched by `scripts/fetch-minilm`, which `scripts/test` runs first): it
//! loads, gives 384-d unit vectors, and ranks paraphrases above unrelated sentences — which a network
//! with wrong weights, a wrong pooling or a broken tokenizer does not. Fails loudly when the model
//! directory is missing.

use shopml_encoder::{model_dir, Encoder};

fn minilm() -> Encoder {
    let dir = model_dir(None);
    Encoder::load(&dir).unwrap_or_else(|e| panic!("{e} — run scripts/fetch-minilm (scripts/test does)"))
}

fn cos(e: &ndarray::Array2<f32>, a: usize, b: usize) -> f32 {
    e.row(a).dot(&e.row(b))
}

#[test]
fn minilm_ranks_paraphrases_above_unrelated_sentences() {
    let e = minilm();
    assert_eq!(e.dim(), 384);
    let texts = [
        "where is my order?",
        "I want to track my package",
        "the weather is lovely today",
        "something to keep tea warm",
        "insulated teapot cosy",
        "garden spade with wooden handle",
    ];
    let v = e.embed(&texts).unwrap();
    for r in v.rows() {
        assert!((r.dot(&r) - 1.0).abs() < 1e-4);
    }
    assert!(cos(&v, 0, 1) > cos(&v, 0, 2) + 0.2, "{} vs {}", cos(&v, 0, 1), cos(&v, 0, 2));
    assert!(cos(&v, 3, 4) > cos(&v, 3, 5) + 0.1, "{} vs {}", cos(&v, 3, 4), cos(&v, 3, 5));
    // A text longer than the 256-token limit is truncated, not an error.
    let long = "tea ".repeat(600);
    assert_eq!(e.embed(&[long.as_str()]).unwrap().dim(), (1, 384));
}

/// Embeddings computed by sentence-transformers itself (`benches/peers/encoder_reference.py`, the fixture
/// records its versions) for sentences with punctuation, accents, emoji, and one past the 256-token limit.
#[test]
fn minilm_matches_sentence_transformers_reference_embeddings() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/minilm_reference.json"))
        .expect("the committed reference fixture");
    let fixture: serde_json::Value = serde_json::from_str(&text).unwrap();
    let sentences: Vec<&str> = fixture["sentences"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
    let reference = fixture["embeddings"].as_array().unwrap();
    assert_eq!(sentences.len(), reference.len());
    assert!(sentences.len() >= 8);
    let e = minilm();
    // one batch (padding to the longest), then each alone: both must match
    let batched = e.embed(&sentences).unwrap();
    let fresh = Encoder::load(e.dir()).unwrap(); // an empty cache
    for (i, s) in sentences.iter().enumerate() {
        let want: Vec<f32> = reference[i].as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect();
        assert_eq!(want.len(), 384);
        let alone = fresh.embed(&[s]).unwrap();
        for got in [batched.row(i).to_vec(), alone.row(0).to_vec()] {
            let cosine: f32 = got.iter().zip(&want).map(|(a, b)| a * b).sum();
            assert!(cosine >= 0.999, "sentence {i} {s:?}: cosine {cosine} with sentence-transformers");
        }
    }
}
