//! The persistence role: each model writes its own tensors under a name prefix (`AnyModel` forwards).
//! Reading stays a registry keyed by the model name in the metadata (`get_model`), since the type to
//! build is what the file says.

use super::put_csr;
use super::tensors::TensorsOut;
use crate::model::{
    each_model, sequential::Sequences, AnyModel, ContentModel, Fusion, Hybrid, ItemKnn, MatrixFactorization, Ncf,
    Neighbours, Popularity, SasRec, Sknn, Transition,
};

/// Writes a fitted model's tensors, every name starting with `prefix`.
pub(super) trait Persist {
    fn put(&self, t: &mut TensorsOut, prefix: &str);
}

impl Persist for AnyModel {
    fn put(&self, t: &mut TensorsOut, prefix: &str) {
        each_model!(self, m => m.put(t, prefix))
    }
}

impl Persist for Popularity {
    fn put(&self, t: &mut TensorsOut, prefix: &str) {
        t.f32(&format!("{prefix}pop.counts"), vec![self.counts().len()], self.counts());
    }
}

impl Persist for ItemKnn {
    fn put(&self, t: &mut TensorsOut, prefix: &str) {
        put_neighbours(t, &format!("{prefix}knn"), self.similarity());
    }
}

impl Persist for MatrixFactorization {
    fn put(&self, t: &mut TensorsOut, prefix: &str) {
        let (x, y) = (self.user_factors(), self.item_factors());
        t.f32(&format!("{prefix}mf.user_factors"), vec![x.nrows(), x.ncols()], x.as_slice().expect("contiguous"));
        t.f32(&format!("{prefix}mf.item_factors"), vec![y.nrows(), y.ncols()], y.as_slice().expect("contiguous"));
        if let Some(b) = self.item_bias() {
            t.f32(&format!("{prefix}mf.item_bias"), vec![b.len()], b);
        }
    }
}

impl Persist for ContentModel {
    fn put(&self, t: &mut TensorsOut, prefix: &str) {
        put_csr(t, &format!("{prefix}content.vectors"), self.vectors());
    }
}

/// Named candle tensors as `f32` tensors under `{prefix}{group}.{name}`.
fn put_tensors(t: &mut TensorsOut, prefix: &str, group: &str, tensors: Vec<(String, candle_core::Tensor)>) {
    for (name, tensor) in tensors {
        let shape = tensor.dims().to_vec();
        let data = tensor.flatten_all().and_then(|x| x.to_vec1::<f32>()).expect("f32 CPU tensor");
        t.f32(&format!("{prefix}{group}.{name}"), shape, &data);
    }
}

impl Persist for Ncf {
    fn put(&self, t: &mut TensorsOut, prefix: &str) {
        put_tensors(t, prefix, "ncf", self.tensors());
    }
}

impl Persist for Hybrid {
    fn put(&self, t: &mut TensorsOut, prefix: &str) {
        t.f32(&format!("{prefix}hybrid.weight"), vec![1], &[self.weight()]);
        self.cf().put(t, &format!("{prefix}cf."));
        self.content().put(t, prefix);
    }
}

impl Persist for Fusion {
    fn put(&self, t: &mut TensorsOut, prefix: &str) {
        t.f32(&format!("{prefix}fusion.weight"), vec![1], &[self.weight()]);
        self.a().put(t, &format!("{prefix}a."));
        self.b().put(t, &format!("{prefix}b."));
    }
}

/// Per-item neighbour lists (item-kNN similarities, transition probabilities) as `{name}.{indptr,indices,data}`.
fn put_neighbours(t: &mut TensorsOut, name: &str, n: &Neighbours) {
    let (indptr, indices, data) = n.parts();
    t.u64(&format!("{name}.indptr"), indptr);
    t.u32(&format!("{name}.indices"), indices);
    t.f32(&format!("{name}.data"), vec![data.len()], data);
}

fn put_sequences(t: &mut TensorsOut, prefix: &str, s: &Sequences) {
    let (indptr, items) = s.parts();
    t.u64(&format!("{prefix}.indptr"), indptr);
    t.u32(&format!("{prefix}.items"), items);
}

impl Persist for Transition {
    fn put(&self, t: &mut TensorsOut, prefix: &str) {
        put_sequences(t, &format!("{prefix}seq"), self.sequences());
        put_neighbours(t, &format!("{prefix}transition"), self.next_items());
    }
}

impl Persist for Sknn {
    /// The sequences are the model; its item index is rebuilt on loading.
    fn put(&self, t: &mut TensorsOut, prefix: &str) {
        put_sequences(t, &format!("{prefix}seq"), self.sequences());
    }
}

impl Persist for SasRec {
    fn put(&self, t: &mut TensorsOut, prefix: &str) {
        let seqs: Vec<Vec<u32>> = (0..self.n_users() as u32).map(|u| self.sequence(u).to_vec()).collect();
        let seqs = Sequences::new(&seqs, self.n_items()).expect("a fitted model's sequences are valid");
        put_sequences(t, &format!("{prefix}seq"), &seqs);
        put_tensors(t, prefix, "sasrec", self.tensors());
    }
}
