//! Score fusion of two models, `score = (1 - w) · z(a) + w · z(b)`, `z` standardising a user's scores over
//! the catalogue (as [`Hybrid`](super::Hybrid) blends CF and content). The default pairs SASRec (`a`) with
//! item transitions (`b`): SASRec ranks by the whole sequence, transitions by what followed the last items
//! in other customers' sequences, and on Amazon Beauty's validation split the blend beats both
//! (`benches/src/bin/seq_fusion.rs`, benches/README.md "Sequential").

use super::{standardise, AnyModel, AnyParams, FitInput, Progress, Recommender};
use crate::error::{RecoError, Result};
use std::sync::Arc;

/// The default weight of `b`: chosen on Amazon Beauty's validation split for sasrec + transition
/// (grid 0, 0.1, …, 1: `benches/src/bin/seq_fusion.rs`, benches/README.md).
pub const DEFAULT_WEIGHT: f32 = 0.1;

/// Hyper-parameters of a [`Fusion`]: two models and the weight of the second.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct FusionParams {
    /// The first model (default `sasrec`).
    pub a: Box<AnyParams>,
    /// The second model (default `transition`).
    pub b: Box<AnyParams>,
    /// Weight of `b` in [0, 1] (default [`DEFAULT_WEIGHT`]).
    pub weight: f32,
    /// Tune `weight` on the validation split given to `fit` instead (fits both models once more there).
    pub tune: bool,
}

impl Default for FusionParams {
    fn default() -> Self {
        FusionParams {
            a: Box::new(AnyParams::new("sasrec").expect("a known model")),
            b: Box::new(AnyParams::new("transition").expect("a known model")),
            weight: DEFAULT_WEIGHT,
            tune: false,
        }
    }
}

/// The weights [`FusionParams::tune`] tries.
pub const TUNE_GRID: [f32; 10] = [0.0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.7, 1.0];

impl FusionParams {
    /// Checks the parts (neither a fusion nor a hybrid) and the weight.
    pub fn validate(&self) -> Result<()> {
        for (key, p) in [("a", &self.a), ("b", &self.b)] {
            if matches!(**p, AnyParams::Fusion(_) | AnyParams::Hybrid(_)) {
                return Err(RecoError::param(key, "a fusion's parts cannot be fusion or hybrid models"));
            }
        }
        super::check_f32("weight", self.weight, 0.0, 1.0)
    }

    /// Fits both parts on `input` (and, with `tune`, first on the validation split to choose the weight).
    pub fn fit(&self, input: &FitInput<'_>, progress: Progress<'_>) -> Result<Fusion> {
        self.validate()?;
        let weight = match (self.tune, input.validation_split()) {
            (true, Some((vinput, pairs))) => {
                let a = Arc::new(self.a.fit(&vinput, progress)?);
                let b = Arc::new(self.b.fit(&vinput, progress)?);
                crate::eval::tune_weight(|w| Fusion::new(a.clone(), b.clone(), w), vinput.train, pairs, &TUNE_GRID)?
            }
            (true, None) => return Err(RecoError::param("tune", "needs a validation split (reco eval gives one)")),
            (false, _) => self.weight,
        };
        let plain = input.without_validation();
        let a = Arc::new(self.a.fit(&plain, progress)?);
        let b = Arc::new(self.b.fit(&plain, progress)?);
        Ok(Fusion::new(a, b, weight))
    }
}

/// A fitted fusion.
#[derive(Debug, Clone)]
pub struct Fusion {
    a: Arc<AnyModel>,
    b: Arc<AnyModel>,
    weight: f32,
}

impl Fusion {
    /// Blends `a` and `b` with weight `weight` (clamped to [0, 1]) on `b`.
    pub fn new(a: Arc<AnyModel>, b: Arc<AnyModel>, weight: f32) -> Self {
        Fusion { a, b, weight: weight.clamp(0.0, 1.0) }
    }

    /// The first model.
    pub fn a(&self) -> &AnyModel {
        &self.a
    }

    /// The second model.
    pub fn b(&self) -> &AnyModel {
        &self.b
    }

    /// The weight of `b`.
    pub fn weight(&self) -> f32 {
        self.weight
    }
}

/// `out ← (1 - w) · z(out) + w · z(other)`.
pub(crate) fn blend(out: &mut [f32], other: &mut [f32], w: f32) {
    standardise(out);
    standardise(other);
    out.iter_mut().zip(other.iter()).for_each(|(o, b)| *o = (1.0 - w) * *o + w * b);
}

/// `out ←` the blend of `a`'s and `b`'s scores for `user` (fusion and hybrid alike).
pub(crate) fn blend_users(
    a: &dyn Recommender,
    b: &dyn Recommender,
    user: u32,
    out: &mut [f32],
    w: f32,
) -> crate::error::Result<()> {
    a.score_user(user, out)?;
    let mut other = vec![0.0f32; out.len()];
    b.score_user(user, &mut other)?;
    blend(out, &mut other, w);
    Ok(())
}

impl Recommender for Fusion {
    fn name(&self) -> &'static str {
        "fusion"
    }
    fn n_users(&self) -> usize {
        self.a.n_users()
    }
    fn n_items(&self) -> usize {
        self.a.n_items()
    }
    fn score_user(&self, user: u32, out: &mut [f32]) -> crate::error::Result<()> {
        blend_users(&*self.a, &*self.b, user, out, self.weight)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blend_weights_standardised_scores() {
        let mut a = vec![1.0, 2.0, 3.0];
        let mut b = vec![30.0, 20.0, 10.0];
        blend(&mut a, &mut b, 0.0);
        assert!(a[2] > a[1] && a[1] > a[0]);
        let mut a = vec![1.0, 2.0, 3.0];
        let mut b = vec![30.0, 20.0, 10.0];
        blend(&mut a, &mut b, 1.0);
        assert!(a[0] > a[1] && a[1] > a[2]);
    }

    #[test]
    fn parts_and_weight_are_checked() {
        let mut p = FusionParams { weight: 1.5, ..Default::default() };
        assert!(p.validate().unwrap_err().to_string().contains("weight"));
        p.weight = 0.5;
        *p.b = AnyParams::new("hybrid").unwrap();
        assert!(p.validate().unwrap_err().to_string().contains("cannot be fusion or hybrid"));
    }
}
