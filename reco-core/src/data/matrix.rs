//! Sparse user × item matrices (CSR both ways) built on `sprs`.

use super::Interaction;
use sprs::{CsMat, TriMat};

/// A user × item matrix in CSR and its item × user transpose, also in CSR.
///
/// Repeated (user, item) pairs are summed. Rows are sorted by column index, so membership is a binary search.
#[derive(Debug, Clone)]
pub struct InteractionMatrix {
    user_items: CsMat<f32>,
    item_users: CsMat<f32>,
}

/// Builds the matrix of `interactions` with the given shape.
///
/// # Panics
/// When an interaction's user or item index is outside the shape.
pub fn interaction_matrix(interactions: &[Interaction], n_users: usize, n_items: usize) -> InteractionMatrix {
    let mut tri = TriMat::with_capacity((n_users, n_items), interactions.len());
    for it in interactions {
        tri.add_triplet(it.user as usize, it.item as usize, it.weight);
    }
    InteractionMatrix::from_csr(tri.to_csr())
}

impl InteractionMatrix {
    /// Wraps a user × item CSR matrix.
    pub fn from_csr(user_items: CsMat<f32>) -> Self {
        let user_items = if user_items.is_csr() { user_items } else { user_items.to_csr() };
        let item_users = user_items.transpose_view().to_csr();
        InteractionMatrix { user_items, item_users }
    }

    /// Number of users (rows).
    pub fn n_users(&self) -> usize {
        self.user_items.rows()
    }

    /// Number of items (columns).
    pub fn n_items(&self) -> usize {
        self.user_items.cols()
    }

    /// Number of stored (user, item) pairs.
    pub fn nnz(&self) -> usize {
        self.user_items.nnz()
    }

    /// The user × item CSR matrix.
    pub fn user_items(&self) -> &CsMat<f32> {
        &self.user_items
    }

    /// The item × user CSR matrix.
    pub fn item_users(&self) -> &CsMat<f32> {
        &self.item_users
    }

    /// Items and weights of user `u`, sorted by item.
    pub fn user_row(&self, u: usize) -> (&[usize], &[f32]) {
        row(&self.user_items, u)
    }

    /// Users and weights of item `i`, sorted by user.
    pub fn item_row(&self, i: usize) -> (&[usize], &[f32]) {
        row(&self.item_users, i)
    }

    /// Whether user `u` has item `i`.
    pub fn contains(&self, u: usize, i: usize) -> bool {
        self.user_row(u).0.binary_search(&i).is_ok()
    }

    /// Interaction count per item (number of distinct users).
    pub fn item_degrees(&self) -> Vec<usize> {
        (0..self.n_items()).map(|i| self.item_row(i).0.len()).collect()
    }
}

fn row(m: &CsMat<f32>, r: usize) -> (&[usize], &[f32]) {
    let ip = m.indptr();
    let range = ip.outer_inds_sz(r);
    (&m.indices()[range.clone()], &m.data()[range])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::EventKind;

    fn it(user: u32, item: u32, weight: f32) -> Interaction {
        Interaction { user, item, timestamp: 0, kind: EventKind::Purchase, weight }
    }

    #[test]
    fn duplicates_are_summed_and_transpose_matches() {
        let m = interaction_matrix(&[it(0, 2, 1.0), it(0, 2, 2.0), it(1, 0, 1.0), it(0, 1, 0.5)], 2, 3);
        assert_eq!(m.nnz(), 3);
        assert_eq!(m.user_row(0), (&[1usize, 2][..], &[0.5f32, 3.0][..]));
        assert_eq!(m.item_row(2), (&[0usize][..], &[3.0f32][..]));
        assert!(m.contains(1, 0) && !m.contains(1, 1));
        assert_eq!(m.item_degrees(), vec![1, 1, 1]);
    }
}
