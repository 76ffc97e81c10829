//! # chatbot-core
//!
//! shopml's customer-support assistant engine: text normalisation ([`text`]), features ([`features`]),
//! intent classification with calibrated confidence and out-of-scope detection ([`intent`]), entities
//! ([`entities`]), multi-turn dialogue grounded in a store through the `storefront` traits
//! ([`dialogue`]), evaluation ([`eval`]), loaders ([`data`]) and model files ([`file`]).
//!
//! ```
//! use chatbot_core::data::Example;
//! use chatbot_core::intent::{Classifier, FastIntentParams};
//!
//! let train: Vec<Example> = [
//!     ("where is my order", "track_order"), ("track my parcel", "track_order"),
//!     ("has my order shipped", "track_order"), ("cancel my order", "cancel_order"),
//!     ("i want to cancel", "cancel_order"), ("please cancel the purchase", "cancel_order"),
//! ]
//! .into_iter()
//! .map(|(t, l)| Example::new(t, l))
//! .collect();
//! let params = FastIntentParams { epochs: 30, ..FastIntentParams::default() };
//! let clf = Classifier::new(params.fit(&train)?);
//! assert_eq!(clf.classify("where's my ordr?")?.label, "track_order");
//! # Ok::<(), chatbot_core::error::ChatError>(())
//! ```
#![warn(missing_docs)]

pub mod data;
pub mod dialogue;
pub mod entities;
pub mod error;
pub mod eval;
pub mod features;
pub mod file;
pub mod intent;
pub mod text;

pub use error::{ChatError, Result};
