//! Hybrid ranking: a blend of a collaborative model and the content model,
//! `score = (1 - w) · z(cf) + w · z(content)`, where `z` standardises a user's scores over the catalogue
//! (mean 0, standard deviation 1) so the two scales are comparable. `w` is tuned on the validation split
//! when it is not given (see [`crate::eval::tune_hybrid_weight`]).

use super::{AnyModel, ContentModel, Recommender};
use std::sync::Arc;

/// A fitted hybrid.
#[derive(Debug, Clone)]
pub struct Hybrid {
    pub(crate) cf: Arc<AnyModel>,
    pub(crate) content: Arc<ContentModel>,
    pub(crate) weight: f32,
}

impl Hybrid {
    /// Blends `cf` and `content` with content weight `weight` in [0, 1].
    pub fn new(cf: Arc<AnyModel>, content: Arc<ContentModel>, weight: f32) -> Self {
        Hybrid { cf, content, weight: weight.clamp(0.0, 1.0) }
    }

    /// The content weight.
    pub fn weight(&self) -> f32 {
        self.weight
    }

    /// The collaborative part.
    pub fn cf(&self) -> &AnyModel {
        &self.cf
    }

    /// The content part.
    pub fn content(&self) -> &ContentModel {
        &self.content
    }
}

/// Standardises `v` in place (mean 0, sd 1) over its finite values; a constant vector becomes all zeros,
/// and non-finite values (a model's "cannot score") the lowest finite result, so one part that cannot
/// score an item does not blank a blend.
pub(crate) fn standardise(v: &mut [f32]) {
    let finite = || v.iter().filter(|x| x.is_finite());
    let n = finite().count().max(1) as f32;
    let mean = finite().sum::<f32>() / n;
    let sd = (finite().map(|x| (x - mean) * (x - mean)).sum::<f32>() / n).sqrt();
    let inv = if sd > 0.0 && sd.is_finite() { 1.0 / sd } else { 0.0 };
    let low = finite().fold(f32::INFINITY, |m, &x| m.min(x));
    let low = if low.is_finite() { (low - mean) * inv } else { 0.0 };
    v.iter_mut().for_each(|x| *x = if x.is_finite() { (*x - mean) * inv } else { low });
}

impl Recommender for Hybrid {
    fn name(&self) -> &'static str {
        "hybrid"
    }
    fn n_users(&self) -> usize {
        self.cf.n_users()
    }
    fn n_items(&self) -> usize {
        self.cf.n_items()
    }
    fn score_user(&self, user: u32, out: &mut [f32]) -> crate::error::Result<()> {
        super::fusion::blend_users(&*self.cf, &*self.content, user, out, self.weight)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn standardise_handles_constants() {
        let mut v = vec![2.0, 2.0, 2.0];
        super::standardise(&mut v);
        assert_eq!(v, vec![0.0; 3]);
        let mut v = vec![1.0, 3.0];
        super::standardise(&mut v);
        assert_eq!(v, vec![-1.0, 1.0]);
        let mut v = vec![1.0, f32::NEG_INFINITY, 3.0, f32::NAN];
        super::standardise(&mut v);
        assert_eq!(v, vec![-1.0, -1.0, 1.0, -1.0]);
    }
}
