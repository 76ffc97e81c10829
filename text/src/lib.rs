//! # shopml-text
//!
//! The text handling every shopml engine shares, so a word means the same thing to the chatbot, the
//! catalogue search and the content recommender:
//!
//! - [`normalize`] / [`words`]: what a model or matcher sees instead of raw text (NFKC, lower case,
//!   apostrophes joined, punctuation a word break);
//! - [`search_key`]: the form in which two words are compared (a plural `s` dropped);
//! - [`tokens`]: the content model's features of an item text (normalised words of two or more
//!   characters);
//! - [`online_retail`]: the one reader of the UCI Online Retail CSV (the recommender's dataset and the demo
//!   store's catalogue and orders come from the same rows, read the same way).
//!
//! ```
//! use shopml_text::{normalize, search_key, tokens, words};
//!
//! let norm = normalize("Where's my ORDER #12345?!");
//! assert_eq!(norm, "wheres my order 12345");
//! assert_eq!(words(&norm).count(), 4);
//! assert_eq!(search_key("Bags"), "bag");
//! assert_eq!(tokens("T-LIGHT HOLDERS, 12pc"), ["light", "holders", "12pc"]);
//! ```
#![warn(missing_docs)]

mod normalize;
pub mod online_retail;

pub use normalize::{normalize, search_key, tokens, words, MAX_CHARS};
