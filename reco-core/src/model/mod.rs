//! Models behind one [`Recommender`] trait, each fitted through a validated builder.
//!
//! ```
//! use reco_core::data::{Dataset, EventKind};
//! use reco_core::model::{Als, Recommender};
//! let mut data = Dataset::new("toy");
//! for (u, i) in [("ann", "tea"), ("ann", "cup"), ("bob", "tea"), ("bob", "pot"), ("cy", "cup")] {
//!     data.push(u, i, 0, EventKind::Purchase, 1.0).unwrap();
//! }
//! let model = Als::params().factors(8).iterations(5).fit(&data.matrix()).unwrap();
//! let top = model.recommend(data.users().get("cy").unwrap(), 2, Some(&data.matrix())).unwrap();
//! assert_eq!(top.len(), 2);
//! ```

/// Builder setters `fn name(mut self, v: T) -> Self` for hyper-parameter structs, each with its doc line.
macro_rules! setter {
    ($(#[$doc:meta] $name:ident: $ty:ty),* $(,)?) => {
        $( #[$doc] pub fn $name(mut self, v: $ty) -> Self { self.$name = v; self } )*
    };
}

mod als;
mod any;
mod bpr;
mod content;
mod fusion;
mod hybrid;
mod itemknn;
pub mod kernels;
mod mf;
pub mod ncf;
mod param_text;
mod popularity;
pub mod sasrec;
pub mod sequential;

pub use als::{Als, AlsParams};
pub(crate) use any::each_model;
pub use any::{AnyModel, AnyParams, FitInput, HybridParams, MODEL_NAMES};
pub use bpr::{Bpr, BprParams};
pub use content::{ContentModel, ContentParams};
pub(crate) use fusion::blend;
pub use fusion::{Fusion, FusionParams};
pub(crate) use hybrid::standardise;
pub use hybrid::Hybrid;
pub use itemknn::{ItemKnn, ItemKnnParams, Neighbours, Similarity};
pub use mf::MatrixFactorization;
pub use ncf::{Ncf, NcfKind, NcfParams};
pub use popularity::{Popularity, PopularityParams};
pub use sasrec::{SasRec, SasRecParams};
pub use sequential::{Sknn, SknnParams, Transition, TransitionParams};

use crate::data::InteractionMatrix;
use crate::error::{RecoError, Result};
use ndarray::ArrayViewMut2;

/// Progress callback: `(done, total)` steps (iterations or epochs). Return `false` to stop: the fit
/// then ends after the current step with [`RecoError::Interrupted`] (how Ctrl-C reaches a long fit from
/// the bindings). `&|_, _| true` runs to the end silently. ALS, BPR and NCF report every iteration /
/// epoch; item-kNN and content models once, when fitted; a hybrid through its collaborative part's fits
/// (the one of the weight search, then the final one).
pub type Progress<'a> = &'a (dyn Fn(usize, usize) -> bool + Sync);

/// Calls `progress`, turning a `false` into [`RecoError::Interrupted`].
pub(crate) fn report(progress: Progress<'_>, done: usize, total: usize) -> Result<()> {
    match progress(done, total) {
        true => Ok(()),
        false => Err(RecoError::Interrupted),
    }
}

/// A fitted model that scores every item for a known user. Higher scores are better.
pub trait Recommender: Send + Sync {
    /// Short model name (`als`, `bpr`, ...).
    fn name(&self) -> &'static str;
    /// Users the model was fitted on.
    fn n_users(&self) -> usize;
    /// Items the model scores.
    fn n_items(&self) -> usize;
    /// Writes one score per item for `user` into `out` (`out.len() == n_items()`). A model that cannot
    /// score (a failing tensor backend) says so: an error, never NaN or −∞ standing in for scores.
    fn score_user(&self, user: u32, out: &mut [f32]) -> Result<()>;

    /// Scores for several users: row `r` of `out` is `users[r]`. Models override this to batch.
    fn score_users(&self, users: &[u32], out: &mut ArrayViewMut2<'_, f32>) -> Result<()> {
        for (r, &u) in users.iter().enumerate() {
            let mut row = out.row_mut(r);
            self.score_user(u, row.as_slice_mut().expect("score rows are contiguous"))?;
        }
        Ok(())
    }

    /// The `k` best items for `user` as `(item, score)`, best first. With `seen`, the user's items in
    /// that matrix are left out.
    fn recommend(&self, user: u32, k: usize, seen: Option<&InteractionMatrix>) -> Result<Vec<(u32, f32)>> {
        check_k(k)?;
        if user as usize >= self.n_users() {
            return Err(RecoError::UnknownUser(format!("index {user} (model has {} users)", self.n_users())));
        }
        let mut scores = vec![0.0; self.n_items()];
        self.score_user(user, &mut scores)?;
        if let Some(m) = seen {
            if (user as usize) < m.n_users() {
                for &i in m.user_row(user as usize).0 {
                    if i < scores.len() {
                        scores[i] = f32::NEG_INFINITY;
                    }
                }
            }
        }
        Ok(crate::eval::top_k(&scores, k))
    }
}

/// Fails unless the cut-off `k` is at least 1.
pub(crate) fn check_k(k: usize) -> Result<()> {
    if k == 0 {
        return Err(RecoError::param("k", "must be at least 1"));
    }
    Ok(())
}

/// Fails unless `value` is in `lo..=hi`.
pub(crate) fn check_range<T: PartialOrd + std::fmt::Display>(name: &str, value: T, lo: T, hi: T) -> Result<()> {
    if value >= lo && value <= hi {
        Ok(())
    } else {
        Err(RecoError::param(name, format!("must be in [{lo}, {hi}], got {value}")))
    }
}

/// Fails unless `value` is finite and in `lo..=hi`.
pub(crate) fn check_f32(name: &str, value: f32, lo: f32, hi: f32) -> Result<()> {
    if value.is_finite() && value >= lo && value <= hi {
        Ok(())
    } else {
        Err(RecoError::param(name, format!("must be a finite number in [{lo}, {hi}], got {value}")))
    }
}

/// Fails on a matrix with no interaction.
pub(crate) fn check_train(train: &InteractionMatrix) -> Result<()> {
    if train.nnz() == 0 || train.n_items() == 0 {
        return Err(RecoError::EmptyData("the training matrix has no interaction".into()));
    }
    Ok(())
}

/// The confidence-style transform every model applies to raw weights (quantities, counts): `ln(1 + w)`.
/// Binary data stays binary up to a constant; a 10,000-unit wholesale order does not drown the rest.
#[inline]
pub(crate) fn damp(w: f32) -> f32 {
    w.ln_1p()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send_sync<T: Send + Sync>() {}

    #[test]
    fn models_and_params_are_send_and_sync() {
        send_sync::<Popularity>();
        send_sync::<ItemKnn>();
        send_sync::<MatrixFactorization>();
        send_sync::<AnyParams>();
        send_sync::<ContentModel>();
        send_sync::<Hybrid>();
        send_sync::<Ncf>();
        send_sync::<Transition>();
        send_sync::<Sknn>();
        send_sync::<Box<dyn Recommender>>();
        send_sync::<crate::data::Dataset>();
        send_sync::<crate::data::InteractionMatrix>();
    }
}

#[cfg(test)]
pub(crate) mod tests_support {
    /// A seeded pseudo-random 60% pattern for community-structure tests.
    pub fn keep(u: usize, j: usize) -> bool {
        let h = (u as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (j as u64 + 7).wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
        (h.wrapping_mul(0x1656_67B1_9E37_79F9) >> 33) % 10 < 6
    }
}
