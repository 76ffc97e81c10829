//! Sparse training of embedding tables: each mini-batch looks up only the rows it touches into small
//! leaf tensors, and those rows alone are updated by a lazy Adam (moments kept per row, advanced only
//! when the row is touched — TensorFlow's `LazyAdam`). A dense `Var` per table would make every step cost
//! O(table) twice over — the embedding gradient is scattered into a zero tensor the size of the table and
//! Adam then walks every parameter — which on Amazon Beauty (22,363 users, 12,101 items) dominated an epoch.

use candle_core::{Device, Tensor, Var};

/// Adam's hyper-parameters (the same as the dense layers' AdamW, without weight decay).
#[derive(Debug, Clone, Copy)]
pub(super) struct Adam {
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
}

/// One embedding table with its Adam moments, in plain memory.
#[derive(Debug)]
pub(super) struct Table {
    pub data: Vec<f32>,
    m: Vec<f32>,
    v: Vec<f32>,
    pub dim: usize,
}

impl Table {
    pub fn from_tensor(t: &Tensor) -> candle_core::Result<Self> {
        let dim = t.dim(1)?;
        let data = t.flatten_all()?.to_vec1::<f32>()?;
        let n = data.len();
        Ok(Table { data, m: vec![0.0; n], v: vec![0.0; n], dim })
    }

    /// The rows `ids` (sorted, unique) as a trainable `ids.len() × dim` leaf.
    pub fn gather(&self, ids: &[u32]) -> candle_core::Result<Var> {
        let mut rows = Vec::with_capacity(ids.len() * self.dim);
        for &r in ids {
            rows.extend_from_slice(&self.data[r as usize * self.dim..(r as usize + 1) * self.dim]);
        }
        Var::from_tensor(&Tensor::from_vec(rows, (ids.len(), self.dim), &Device::Cpu)?)
    }

    /// One lazy-Adam step on rows `ids` with gradient `grad` (`ids.len() × dim`); `step` counts from 1.
    pub fn update(&mut self, ids: &[u32], grad: &Tensor, a: Adam, step: i32) -> candle_core::Result<()> {
        let g = grad.flatten_all()?.to_vec1::<f32>()?;
        let (c1, c2) = (1.0 - a.beta1.powi(step), 1.0 - a.beta2.powi(step));
        for (k, &r) in ids.iter().enumerate() {
            let base = r as usize * self.dim;
            for j in 0..self.dim {
                let (gi, o) = (g[k * self.dim + j], base + j);
                self.m[o] = a.beta1 * self.m[o] + (1.0 - a.beta1) * gi;
                self.v[o] = a.beta2 * self.v[o] + (1.0 - a.beta2) * gi * gi;
                self.data[o] -= a.lr * (self.m[o] / c1) / ((self.v[o] / c2).sqrt() + a.eps);
            }
        }
        Ok(())
    }

    /// Writes the table back into `var` (shape `n × dim`).
    pub fn store(&self, var: &Var) -> candle_core::Result<()> {
        let (n, d) = var.as_tensor().dims2()?;
        var.set(&Tensor::from_vec(self.data.clone(), (n, d), &Device::Cpu)?)
    }
}

/// The sorted unique ids of `ids` and, for each entry of `ids`, its position among them.
pub(super) fn localise(ids: &[u32]) -> (Vec<u32>, Vec<u32>) {
    let mut uniq = ids.to_vec();
    uniq.sort_unstable();
    uniq.dedup();
    let local = ids.iter().map(|i| uniq.binary_search(i).expect("present") as u32).collect();
    (uniq, local)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn localise_maps_back() {
        let (u, l) = localise(&[7, 3, 7, 9, 3]);
        assert_eq!(u, vec![3, 7, 9]);
        assert_eq!(l, vec![1, 0, 1, 2, 0]);
    }

    /// A lazy step on touched rows equals dense Adam's first step there, and leaves other rows alone.
    #[test]
    fn first_step_moves_touched_rows_by_lr() {
        let t = Tensor::from_vec(vec![1.0f32; 6], (3, 2), &Device::Cpu).unwrap();
        let mut table = Table::from_tensor(&t).unwrap();
        let g = Tensor::from_vec(vec![0.5f32, -2.0], (1, 2), &Device::Cpu).unwrap();
        table.update(&[1], &g, Adam { lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8 }, 1).unwrap();
        let d = &table.data;
        assert_eq!(&d[0..2], &[1.0, 1.0]);
        assert!((d[2] - 0.9).abs() < 1e-5 && (d[3] - 1.1).abs() < 1e-5, "{d:?}");
        assert_eq!(&d[4..6], &[1.0, 1.0]);
    }
}
