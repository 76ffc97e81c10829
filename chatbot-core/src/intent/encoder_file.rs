//! Encoder intent model files: the shopml container (magic `SHOPMLCE`, format version, CRC-32) holding
//! JSON metadata (labels, hyper-parameters, the encoder's fingerprint and dimension, temperature,
//! threshold) and safetensors (the head, and the fine-tuned top layers when there are any). The encoder
//! itself (90 MB) is not copied: loading takes it and checks its fingerprint.

use super::{Classifier, EncoderIntent, EncoderIntentParams};
use crate::error::{ChatError, Result};
use candle_core::{Device, Tensor};
use model_file::Kind;
use serde::{Deserialize, Serialize};
use shopml_encoder::{Cache, Encoder};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

/// The first eight bytes of every shopml encoder intent model file.
pub const ENCODER_MAGIC: &[u8; 8] = b"SHOPMLCE";
const KIND: Kind = Kind { magic: *ENCODER_MAGIC, version: 1, what: "shopml encoder intent model" };

#[derive(Serialize, Deserialize)]
struct Meta {
    labels: Vec<String>,
    params: EncoderIntentParams,
    encoder_fingerprint: String,
    dim: usize,
    tuned_layers: usize,
    #[serde(default)]
    gate_threshold: Option<f32>,
    temperature: f32,
    threshold: f32,
}

/// The file bytes of `m` with calibration `(temperature, threshold)` (also an ensemble's member).
pub(crate) fn encoder_bytes(m: &EncoderIntent, temperature: f32, threshold: f32) -> Result<Vec<u8>> {
    let meta = Meta {
        labels: m.labels.clone(),
        params: m.params,
        encoder_fingerprint: m.encoder.fingerprint().to_string(),
        dim: m.encoder.dim(),
        tuned_layers: m.tuned.as_ref().map_or(0, |t| m.encoder.layer_count() - t.from()),
        gate_threshold: m.gate.as_ref().map(|g| g.threshold),
        temperature,
        threshold,
    };
    let meta = serde_json::to_vec(&meta).map_err(|e| ChatError::Backend(e.to_string()))?;
    let dev = Device::Cpu;
    let (l, d) = (m.labels.len(), m.encoder.dim());
    let mut tensors: HashMap<String, Tensor> = HashMap::new();
    tensors.insert("head.weight".into(), Tensor::from_slice(&m.weight, (l, d), &dev)?);
    tensors.insert("head.bias".into(), Tensor::from_slice(&m.bias, l, &dev)?);
    if let Some(g) = &m.gate {
        tensors.insert("gate.train".into(), Tensor::from_slice(&g.train, (g.train.len() / d, d), &dev)?);
    }
    if let Some(t) = &m.tuned {
        tensors.extend(t.named().into_iter().map(|(k, v)| (format!("tuned.{k}"), v)));
    }
    let bytes = safetensors::serialize(tensors.iter().map(|(k, v)| (k.clone(), v)).collect::<Vec<_>>(), None)
        .map_err(|e| ChatError::Backend(e.to_string()))?;
    Ok(KIND.pack(&meta, &bytes))
}

impl Classifier<EncoderIntent> {
    /// The model file's bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        encoder_bytes(&self.model, self.temperature, self.threshold)
    }

    /// Reads a model from bytes over `encoder`, which must be the one it was trained on (`path` names
    /// the source in errors).
    pub fn from_bytes(bytes: &[u8], path: &Path, encoder: Arc<Encoder>) -> Result<Self> {
        let bad = |reason: String| ChatError::ModelFile { path: path.to_path_buf(), reason };
        let (meta, tensors) = KIND.unpack(bytes).map_err(|e| bad(e.0))?;
        let meta: Meta = serde_json::from_slice(meta).map_err(|e| bad(format!("bad metadata: {e}")))?;
        if meta.encoder_fingerprint != encoder.fingerprint() || meta.dim != encoder.dim() {
            return Err(bad(format!(
                "trained on another encoder ({}), not on {} ({})",
                meta.encoder_fingerprint,
                encoder.dir().display(),
                encoder.fingerprint()
            )));
        }
        let (l, d) = (meta.labels.len(), meta.dim);
        if l < 2 {
            return Err(bad("fewer than two labels".into()));
        }
        if !(meta.temperature.is_finite() && meta.temperature > 0.0 && (0.0..=1.0).contains(&meta.threshold)) {
            return Err(bad(format!("bad temperature {} or threshold {}", meta.temperature, meta.threshold)));
        }
        let map = candle_core::safetensors::load_buffer(tensors, &Device::Cpu)
            .map_err(|e| bad(format!("bad tensors: {e}")))?;
        let get = |name: &str, len: usize| -> Result<Vec<f32>> {
            let t = map.get(name).ok_or_else(|| bad(format!("{name} is missing")))?;
            let v = t.flatten_all().and_then(|t| t.to_vec1::<f32>()).map_err(|e| bad(format!("{name}: {e}")))?;
            if v.len() != len || v.iter().any(|x| !x.is_finite()) {
                return Err(bad(format!("{name}: expected {len} finite values")));
            }
            Ok(v)
        };
        let (weight, bias) = (get("head.weight", l * d)?, get("head.bias", l)?);
        let tuned = match meta.tuned_layers {
            0 => None,
            k => {
                let t = encoder.tunable(k).map_err(|e| bad(e.to_string()))?;
                let named: HashMap<String, Tensor> = map
                    .iter()
                    .filter_map(|(k, v)| k.strip_prefix("tuned.").map(|k| (k.to_string(), v.clone())))
                    .collect();
                t.set(&named).map_err(|e| bad(e.to_string()))?;
                Some(t)
            }
        };
        let gate = match meta.gate_threshold {
            None => None,
            Some(threshold) if threshold.is_finite() => {
                let n = map.get("gate.train").map_or(0, |t| t.elem_count() / d.max(1));
                if n == 0 {
                    return Err(bad("gate.train is missing or empty".into()));
                }
                Some(super::gate::Gate { train: get("gate.train", n * d)?, threshold })
            }
            Some(t) => return Err(bad(format!("bad gate threshold {t}"))),
        };
        let model = EncoderIntent {
            gate,
            params: meta.params,
            encoder,
            tuned,
            cache: Cache::new(100_000),
            labels: meta.labels,
            weight,
            bias,
        };
        Ok(Classifier { model, temperature: meta.temperature, threshold: meta.threshold })
    }

    /// Saves to `path` atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        crate::file::write(path, &self.to_bytes()?)
    }

    /// Loads from `path` over `encoder`: a truncated, corrupted, foreign or newer-version file, or one
    /// trained on another encoder, is a [`ChatError::ModelFile`].
    pub fn load(path: &Path, encoder: Arc<Encoder>) -> Result<Self> {
        let bytes = crate::file::read(path)?;
        Self::from_bytes(&bytes, path, encoder)
    }
}
