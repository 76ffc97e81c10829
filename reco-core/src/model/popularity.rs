//! Most-popular baseline.

use super::{check_train, Recommender};
use crate::data::InteractionMatrix;
use crate::error::Result;

/// Hyper-parameters of [`Popularity`].
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct PopularityParams {
    count_held_out: bool,
}

/// Scores every item by the number of distinct training users who interacted with it, for every user.
#[derive(Debug, Clone)]
pub struct Popularity {
    n_users: usize,
    counts: Vec<f32>,
}

impl Popularity {
    /// A popularity model from per-item scores (for loading model files).
    pub fn from_counts(n_users: usize, counts: Vec<f32>) -> Self {
        Popularity { n_users, counts }
    }

    /// The builder.
    pub fn params() -> PopularityParams {
        PopularityParams::default()
    }

    /// Popularity per item.
    pub fn counts(&self) -> &[f32] {
        &self.counts
    }
}

impl PopularityParams {
    /// Reproduction switch for published baselines: in an evaluation, count popularity on *all* the data,
    /// held-out items included (default `false`). S3-Rec's PopRec numbers on Beauty are reproduced only
    /// this way; it leaks the test interactions into the model, so never use it for a real comparison.
    pub fn count_held_out(mut self, v: bool) -> Self {
        self.count_held_out = v;
        self
    }

    /// Whether [`count_held_out`](Self::count_held_out) is set: evaluation pipelines then fit on all data.
    pub fn counts_held_out(&self) -> bool {
        self.count_held_out
    }

    /// Counts users per item in `train`.
    pub fn fit(&self, train: &InteractionMatrix) -> Result<Popularity> {
        check_train(train)?;
        let counts = train.item_degrees().into_iter().map(|d| d as f32).collect();
        Ok(Popularity { n_users: train.n_users(), counts })
    }
}

impl Recommender for Popularity {
    fn name(&self) -> &'static str {
        "pop"
    }
    fn n_users(&self) -> usize {
        self.n_users
    }
    fn n_items(&self) -> usize {
        self.counts.len()
    }
    fn score_user(&self, _user: u32, out: &mut [f32]) -> crate::error::Result<()> {
        out.copy_from_slice(&self.counts);
        Ok(())
    }
}
