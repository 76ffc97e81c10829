//! Named tensors in and out of safetensors, with typed errors for a file whose tensors do not fit.

use crate::error::{RecoError, Result};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use std::path::Path;

/// Tensors on their way into a file.
#[derive(Debug, Default)]
pub struct TensorsOut {
    items: Vec<(String, Dtype, Vec<usize>, Vec<u8>)>,
}

impl TensorsOut {
    /// Adds an `f32` tensor of `shape`.
    pub fn f32(&mut self, name: &str, shape: Vec<usize>, data: &[f32]) {
        self.items.push((name.into(), Dtype::F32, shape, data.iter().flat_map(|v| v.to_le_bytes()).collect()));
    }

    /// Adds a `u32` vector.
    pub fn u32(&mut self, name: &str, data: &[u32]) {
        self.items.push((
            name.into(),
            Dtype::U32,
            vec![data.len()],
            data.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ));
    }

    /// Adds a `u64` vector (offsets).
    pub fn u64(&mut self, name: &str, data: &[usize]) {
        let bytes = data.iter().flat_map(|&v| (v as u64).to_le_bytes()).collect();
        self.items.push((name.into(), Dtype::U64, vec![data.len()], bytes));
    }

    /// The safetensors bytes.
    pub fn serialize(&self) -> Result<Vec<u8>> {
        let views: Vec<(String, TensorView<'_>)> = self
            .items
            .iter()
            .map(|(n, d, s, b)| TensorView::new(*d, s.clone(), b).map(|v| (n.clone(), v)))
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| RecoError::param("tensors", e.to_string()))?;
        safetensors::serialize(views, None).map_err(|e| RecoError::param("tensors", e.to_string()))
    }
}

/// Tensors read back from a file.
#[derive(Debug)]
pub struct TensorsIn<'a> {
    st: SafeTensors<'a>,
    path: &'a Path,
}

impl<'a> TensorsIn<'a> {
    /// Parses a safetensors blob.
    pub fn parse(bytes: &'a [u8], path: &'a Path) -> Result<Self> {
        let st = SafeTensors::deserialize(bytes)
            .map_err(|e| RecoError::ModelFile { path: path.to_path_buf(), reason: format!("tensors: {e}") })?;
        Ok(TensorsIn { st, path })
    }

    fn get(&self, name: &str, dtype: Dtype) -> Result<TensorView<'a>> {
        let bad = |reason: String| RecoError::ModelFile { path: self.path.to_path_buf(), reason };
        let t = self.st.tensor(name).map_err(|_| bad(format!("no tensor `{name}`")))?;
        if t.dtype() != dtype {
            return Err(bad(format!("tensor `{name}` is {:?}, expected {dtype:?}", t.dtype())));
        }
        Ok(t)
    }

    /// Whether a tensor exists.
    pub fn has(&self, name: &str) -> bool {
        self.st.tensor(name).is_ok()
    }

    /// An `f32` tensor and its shape.
    pub fn f32(&self, name: &str) -> Result<(Vec<f32>, Vec<usize>)> {
        let t = self.get(name, Dtype::F32)?;
        let v = t.data().chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes"))).collect();
        Ok((v, t.shape().to_vec()))
    }

    /// A `u32` vector.
    pub fn u32(&self, name: &str) -> Result<Vec<u32>> {
        let t = self.get(name, Dtype::U32)?;
        Ok(t.data().chunks_exact(4).map(|c| u32::from_le_bytes(c.try_into().expect("4 bytes"))).collect())
    }

    /// A `u64` vector as `usize`.
    pub fn u64(&self, name: &str) -> Result<Vec<usize>> {
        let t = self.get(name, Dtype::U64)?;
        Ok(t.data().chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")) as usize).collect())
    }

    /// A model-file error for this file.
    pub fn error(&self, reason: impl Into<String>) -> RecoError {
        RecoError::ModelFile { path: self.path.to_path_buf(), reason: reason.into() }
    }
}
