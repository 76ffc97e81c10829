//! Matrix-factorisation scoring shared by ALS and BPR: `score(u, i) = x_u · y_i (+ b_i)`.

use super::Recommender;
use ndarray::{linalg::general_mat_mul, Array2, ArrayViewMut2, Axis};

/// User and item factor matrices (rows are users / items), plus an optional item bias.
#[derive(Debug, Clone)]
pub struct MatrixFactorization {
    pub(crate) name: &'static str,
    pub(crate) user_factors: Array2<f32>,
    pub(crate) item_factors: Array2<f32>,
    pub(crate) item_bias: Option<Vec<f32>>,
}

impl MatrixFactorization {
    /// A model from its factors (for model files). `name` is `als` or `bpr`.
    pub fn from_parts(
        name: &'static str,
        user_factors: Array2<f32>,
        item_factors: Array2<f32>,
        item_bias: Option<Vec<f32>>,
    ) -> Self {
        MatrixFactorization { name, user_factors, item_factors, item_bias }
    }

    /// User factors, `n_users × factors`.
    pub fn user_factors(&self) -> &Array2<f32> {
        &self.user_factors
    }

    /// Item factors, `n_items × factors`.
    pub fn item_factors(&self) -> &Array2<f32> {
        &self.item_factors
    }

    /// Item biases, if the model learns them.
    pub fn item_bias(&self) -> Option<&[f32]> {
        self.item_bias.as_deref()
    }
}

impl Recommender for MatrixFactorization {
    fn name(&self) -> &'static str {
        self.name
    }
    fn n_users(&self) -> usize {
        self.user_factors.nrows()
    }
    fn n_items(&self) -> usize {
        self.item_factors.nrows()
    }
    fn score_user(&self, user: u32, out: &mut [f32]) -> crate::error::Result<()> {
        let x = self.user_factors.row(user as usize);
        let x = x.as_slice().expect("factor rows are contiguous");
        let ys = self.item_factors.as_slice().expect("factors are contiguous");
        for (o, y) in out.iter_mut().zip(ys.chunks_exact(x.len())) {
            *o = super::kernels::dot(x, y);
        }
        if let Some(b) = &self.item_bias {
            out.iter_mut().zip(b).for_each(|(s, b)| *s += b);
        }
        Ok(())
    }

    fn score_users(&self, users: &[u32], out: &mut ArrayViewMut2<'_, f32>) -> crate::error::Result<()> {
        let idx: Vec<usize> = users.iter().map(|&u| u as usize).collect();
        let x = self.user_factors.select(Axis(0), &idx);
        general_mat_mul(1.0, &x, &self.item_factors.t(), 0.0, out);
        if let Some(b) = &self.item_bias {
            for mut row in out.axis_iter_mut(Axis(0)) {
                row.iter_mut().zip(b).for_each(|(s, b)| *s += b);
            }
        }
        Ok(())
    }
}
