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
