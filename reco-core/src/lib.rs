//! # reco-core
//!
//! shopml's recommendation engine for implicit feedback: a data model with loaders for real shop data,
//! models behind one [`model::Recommender`] trait (popularity, item-kNN, ALS, BPR), and the evaluation
//! protocols of the literature (leave-one-out against all items or against sampled negatives).
//!
//! ```
//! use reco_core::data::{split::leave_one_out, Dataset, EventKind};
//! use reco_core::eval::{evaluate, Protocol};
//! use reco_core::model::{ItemKnn, Recommender};
//!
//! let mut data = Dataset::new("toy");
//! let baskets = [("ann", ["tea", "cup", "pot"]), ("bob", ["tea", "cup", "mug"]), ("cy", ["tea", "pot", "cup"])];
//! for (user, items) in baskets {
//!     for (t, item) in items.iter().enumerate() {
//!         data.push(user, item, t as i64, EventKind::Purchase, 1.0)?;
//!     }
//! }
//! let split = leave_one_out(&data)?;
//! let train = reco_core::data::interaction_matrix(&split.train, data.n_users(), data.n_items());
//! let model = ItemKnn::params().fit(&train)?;
//! let report = evaluate(&model, &train, &data.matrix(), &split.test, Protocol::LooFull, 2, 42)?;
//! assert_eq!(report.users_evaluated, 3);
//! let ann = data.users().get("ann").unwrap();
//! let top = model.recommend(ann, 1, Some(&train))?;
//! println!("ann might like {}", data.items().id(top[0].0));
//! # Ok::<(), reco_core::RecoError>(())
//! ```
#![warn(missing_docs)]

pub mod ann;
pub mod data;
mod error;
pub mod eval;
pub mod io;
pub mod model;
pub mod serve;
pub mod store;

pub use error::{RecoError, Result};
