//! Text normalisation: what every model and matcher sees instead of the raw message. The one
//! implementation lives in [`shopml_text`], shared with catalogue search and the content recommender.

pub use shopml_text::{normalize, words, MAX_CHARS};
