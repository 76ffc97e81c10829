//! Intent model files: the shared shopml container (magic `SHOPMLCB`, format version, CRC-32) holding
//! JSON metadata (labels, hyper-parameters, the feature vocabulary and trained WordPiece tokenizer,
//! temperature, threshold) and the weights as safetensors (the `features × labels` table the trained
//! ensemble folds into, and the bias).

use crate::error::{ChatError, Result};
use crate::features::{Featurizer, FeaturizerParts};
use crate::intent::{Classifier, FastIntent, FastIntentParams};
use model_file::Kind;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The first eight bytes of every shopml intent model file.
pub const MAGIC: &[u8; 8] = b"SHOPMLCB";
/// The format version this build writes; it reads this one and older ones.
pub const FORMAT_VERSION: u32 = 1;
const KIND: Kind = Kind { magic: *MAGIC, version: FORMAT_VERSION, what: "shopml intent model" };

#[derive(Serialize, Deserialize)]
struct Meta {
    model: String,
    labels: Vec<String>,
    params: FastIntentParams,
    features: FeaturizerParts,
    temperature: f32,
    threshold: f32,
}

/// Writes a model file's `bytes` to `path` atomically (every intent model kind).
pub(crate) fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    model_file::write_atomic(path, bytes).map_err(|(path, source)| ChatError::Io { path, source })
}

/// Reads a file's bytes, an I/O error naming `path`.
pub(crate) fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| ChatError::Io { path: path.to_path_buf(), source })
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// The file bytes of `m` with calibration `(temperature, threshold)` (also an ensemble's member).
pub(crate) fn fast_bytes(m: &FastIntent, temperature: f32, threshold: f32) -> Result<Vec<u8>> {
    let meta = Meta {
        model: "fast".into(),
        labels: m.labels.clone(),
        params: m.params.clone(),
        features: m.featurizer.to_parts()?,
        temperature,
        threshold,
    };
    let meta = serde_json::to_vec(&meta).map_err(|e| ChatError::Backend(e.to_string()))?;
    let (n, c) = (m.featurizer.len(), m.labels.len());
    let blobs =
        [("weights".to_string(), vec![n, c], f32_bytes(&m.weights)), ("bias".to_string(), vec![c], f32_bytes(&m.bias))];
    let views = blobs
        .iter()
        .map(|(name, shape, bytes)| TensorView::new(Dtype::F32, shape.clone(), bytes).map(|v| (name.clone(), v)))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| ChatError::Backend(e.to_string()))?;
    let tensors = safetensors::serialize(views, None).map_err(|e| ChatError::Backend(e.to_string()))?;
    Ok(KIND.pack(&meta, &tensors))
}

impl Classifier<FastIntent> {
    /// The model file's bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        fast_bytes(&self.model, self.temperature, self.threshold)
    }

    /// Reads a model from bytes (`path` names the source in errors).
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Self> {
        let bad = |reason: String| ChatError::ModelFile { path: path.to_path_buf(), reason };
        let (meta, tensors) = KIND.unpack(bytes).map_err(|e| bad(e.0))?;
        let meta: Meta = serde_json::from_slice(meta).map_err(|e| bad(format!("bad metadata: {e}")))?;
        if meta.model != "fast" {
            return Err(bad(format!("unknown intent model `{}`", meta.model)));
        }
        let st = SafeTensors::deserialize(tensors).map_err(|e| bad(format!("bad tensors: {e}")))?;
        let featurizer = Featurizer::from_parts(meta.features).map_err(|e| bad(e.to_string()))?;
        let (c, n) = (meta.labels.len(), featurizer.len());
        let get = |name: String, len: usize| -> Result<Vec<f32>> {
            let t = st.tensor(&name).map_err(|e| bad(format!("{name}: {e}")))?;
            if t.dtype() != Dtype::F32 || t.data().len() != len * 4 {
                return Err(bad(format!("{name}: expected {len} f32 values")));
            }
            Ok(t.data().chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes"))).collect())
        };
        if c < 2 {
            return Err(bad("fewer than two labels".into()));
        }
        meta.params.validate().map_err(|e| bad(e.to_string()))?;
        let mut seen = std::collections::HashSet::new();
        if let Some(dup) = meta.labels.iter().find(|l| l.trim().is_empty() || !seen.insert(l.as_str())) {
            return Err(bad(format!("label {dup:?} is empty or appears more than once")));
        }
        if !(meta.temperature.is_finite() && meta.temperature > 0.0 && (0.0..=1.0).contains(&meta.threshold)) {
            return Err(bad(format!("bad temperature {} or threshold {}", meta.temperature, meta.threshold)));
        }
        let (weights, bias) = (get("weights".into(), n * c)?, get("bias".into(), c)?);
        if let Some(v) = weights.iter().chain(&bias).find(|v| !v.is_finite()) {
            return Err(bad(format!("a non-finite weight ({v})")));
        }
        let model = FastIntent { params: meta.params, labels: meta.labels, featurizer, weights, bias };
        Ok(Classifier { model, temperature: meta.temperature, threshold: meta.threshold })
    }

    /// Saves to `path` atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        crate::file::write(path, &self.to_bytes()?)
    }

    /// Loads from `path`: a truncated, corrupted, foreign or newer-version file is a
    /// [`ChatError::ModelFile`].
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = crate::file::read(path)?;
        Self::from_bytes(&bytes, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Example;
    use proptest::prelude::*;
    use std::sync::OnceLock;

    fn file() -> &'static [u8] {
        static FILE: OnceLock<Vec<u8>> = OnceLock::new();
        FILE.get_or_init(|| {
            let train: Vec<Example> = [
                ("where is my order", "track"),
                ("track my parcel", "track"),
                ("cancel my order", "cancel"),
                ("i want to cancel", "cancel"),
                ("refund please", "refund"),
                ("give me my money back", "refund"),
            ]
            .iter()
            .map(|(t, l)| Example::new(*t, *l))
            .collect();
            let params = FastIntentParams { epochs: 5, dim: 8, ..FastIntentParams::default() };
            Classifier::new(params.fit(&train).unwrap()).to_bytes().unwrap()
        })
    }

    /// The file with its metadata edited (valid checksum).
    fn craft(edit: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
        let (meta, tensors) = KIND.unpack(file()).unwrap();
        let mut meta: serde_json::Value = serde_json::from_slice(meta).unwrap();
        edit(&mut meta);
        KIND.pack(&serde_json::to_vec(&meta).unwrap(), tensors)
    }

    fn refused(bytes: &[u8]) -> String {
        match Classifier::<FastIntent>::from_bytes(bytes, Path::new("crafted.model")) {
            Err(e @ ChatError::ModelFile { .. }) => e.to_string(),
            Err(other) => panic!("an error of the wrong type: {other:?}"),
            Ok(_) => panic!("the crafted file loaded"),
        }
    }

    #[test]
    fn crafted_intent_files_are_typed_errors() {
        Classifier::<FastIntent>::from_bytes(&craft(|_| {}), Path::new("x")).unwrap();
        let e = refused(&craft(|m| m["labels"][1] = m["labels"][0].clone()));
        assert!(e.contains("more than once"), "{e}");
        let e = refused(&craft(|m| m["temperature"] = (-1.0).into()));
        assert!(e.contains("temperature"), "{e}");
        let e = refused(&craft(|m| m["threshold"] = 1.5.into()));
        assert!(e.contains("threshold 1.5"), "{e}");
        let e = refused(&craft(|m| m["params"]["dim"] = 0.into()));
        assert!(e.contains("dim"), "{e}");
        let e = refused(&craft(|m| {
            m["labels"].as_array_mut().unwrap().pop();
        }));
        assert!(e.contains("expected"), "{e}");
        // A NaN weight in the tensors (the checksum recomputed).
        let (meta, tensors) = KIND.unpack(file()).unwrap();
        let st = SafeTensors::deserialize(tensors).unwrap();
        let mut w = st.tensor("weights").unwrap().data().to_vec();
        w[..4].copy_from_slice(&f32::NAN.to_le_bytes());
        let b = st.tensor("bias").unwrap();
        let views = vec![
            (
                "weights".to_string(),
                TensorView::new(Dtype::F32, st.tensor("weights").unwrap().shape().to_vec(), &w).unwrap(),
            ),
            ("bias".to_string(), TensorView::new(Dtype::F32, b.shape().to_vec(), b.data()).unwrap()),
        ];
        let e = refused(&KIND.pack(meta, &safetensors::serialize(views, None).unwrap()));
        assert!(e.contains("non-finite"), "{e}");
    }

    /// The calibration is read through accessors and changed only through checked setters (a NaN or
    /// out-of-range value would make every message out of scope, or none).
    #[test]
    fn calibration_setters_refuse_bad_values() {
        let mut clf = Classifier::<FastIntent>::from_bytes(file(), Path::new("x")).unwrap();
        for t in [0.0, -1.0, f32::NAN, f32::INFINITY] {
            assert!(clf.set_temperature(t).is_err(), "temperature {t}");
        }
        for t in [-0.1, 1.5, f32::NAN] {
            assert!(clf.set_threshold(t).is_err(), "threshold {t}");
        }
        clf.set_temperature(0.7).unwrap();
        clf.set_threshold(0.4).unwrap();
        let back = Classifier::<FastIntent>::from_bytes(&clf.to_bytes().unwrap(), Path::new("x")).unwrap();
        assert_eq!((back.temperature(), back.threshold()), (0.7, 0.4));
    }

    proptest! {
        #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

        /// Damage behind a valid checksum (metadata bytes, tensor bytes): an error or a model, never a
        /// panic; a model that loads classifies without panicking.
        #[test]
        fn fuzz_intent_files_never_panic(edits in proptest::collection::vec((any::<bool>(), any::<usize>(), any::<u8>()), 1..6)) {
            let (meta, tensors) = KIND.unpack(file()).unwrap();
            let (mut meta, mut tensors) = (meta.to_vec(), tensors.to_vec());
            for (in_meta, i, b) in &edits {
                let part = if *in_meta { &mut meta } else { &mut tensors };
                let n = part.len();
                part[i % n] = *b;
            }
            let bytes = KIND.pack(&meta, &tensors);
            let outcome = std::panic::catch_unwind(|| {
                if let Ok(c) = Classifier::<FastIntent>::from_bytes(&bytes, Path::new("fuzz")) {
                    let _ = c.classify("where is my order");
                }
            });
            prop_assert!(outcome.is_ok(), "panicked after {edits:?}");
        }
    }
}
