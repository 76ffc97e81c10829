//! Ensemble intent model files (fast + encoder): the shopml container (magic `SHOPMLCX`, format version,
//! CRC-32) holding JSON metadata (the members' temperatures, the weight, the ensemble's temperature and
//! threshold, the length of the first member) and the two members' own model files back to back (each
//! checksummed again). The encoder itself is not copied: loading takes it and checks its fingerprint.

use super::{Classifier, EncoderIntent, Ensemble, FastIntent, IntentModel};
use crate::error::{ChatError, Result};
use model_file::Kind;
use serde::{Deserialize, Serialize};
use shopml_encoder::Encoder;
use std::path::Path;
use std::sync::Arc;

/// The first eight bytes of every shopml ensemble intent model file.
pub const ENSEMBLE_MAGIC: &[u8; 8] = b"SHOPMLCX";
const KIND: Kind = Kind { magic: *ENSEMBLE_MAGIC, version: 1, what: "shopml ensemble intent model" };

/// The fast model and the encoder model as one classifier.
pub type FastEncoderEnsemble = Ensemble<FastIntent, EncoderIntent>;

#[derive(Serialize, Deserialize)]
struct Meta {
    temperatures: (f32, f32),
    weight: f32,
    temperature: f32,
    threshold: f32,
    fast_len: usize,
}

impl Classifier<FastEncoderEnsemble> {
    /// The model file's bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let e = &self.model;
        let fast = crate::file::fast_bytes(&e.a, 1.0, 0.0)?;
        let encoder = super::encoder_file::encoder_bytes(&e.b, 1.0, 0.0)?;
        let meta = Meta {
            temperatures: e.temperatures,
            weight: e.weight,
            temperature: self.temperature,
            threshold: self.threshold,
            fast_len: fast.len(),
        };
        let meta = serde_json::to_vec(&meta).map_err(|e| ChatError::Backend(e.to_string()))?;
        Ok(KIND.pack(&meta, &[fast, encoder].concat()))
    }

    /// Reads a model from bytes over `encoder`, which must be the one its encoder member was trained on
    /// (`path` names the source in errors).
    pub fn from_bytes(bytes: &[u8], path: &Path, encoder: Arc<Encoder>) -> Result<Self> {
        let bad = |reason: String| ChatError::ModelFile { path: path.to_path_buf(), reason };
        let (meta, body) = KIND.unpack(bytes).map_err(|e| bad(e.0))?;
        let meta: Meta = serde_json::from_slice(meta).map_err(|e| bad(format!("bad metadata: {e}")))?;
        if meta.fast_len > body.len() {
            return Err(bad(format!("member length {} past the end ({} bytes)", meta.fast_len, body.len())));
        }
        let (t, w) = (meta.temperatures, meta.weight);
        let ok = |x: f32| x.is_finite() && x > 0.0;
        if !(ok(t.0)
            && ok(t.1)
            && (0.0..=1.0).contains(&w)
            && ok(meta.temperature)
            && (0.0..=1.0).contains(&meta.threshold))
        {
            return Err(bad(format!(
                "bad weight {w}, temperatures {t:?} / {} or threshold {}",
                meta.temperature, meta.threshold
            )));
        }
        let (fast, rest) = body.split_at(meta.fast_len);
        let a = Classifier::<FastIntent>::from_bytes(fast, path)?.model;
        let b = Classifier::<EncoderIntent>::from_bytes(rest, path, encoder)?.model;
        if a.labels() != b.labels() {
            return Err(bad("the members were trained on different labels".into()));
        }
        let model = Ensemble { a, b, temperatures: t, weight: w };
        Ok(Classifier { model, temperature: meta.temperature, threshold: meta.threshold })
    }

    /// Saves to `path` atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        crate::file::write(path, &self.to_bytes()?)
    }

    /// Loads from `path` over `encoder` (errors as [`from_bytes`](Self::from_bytes)).
    pub fn load(path: &Path, encoder: Arc<Encoder>) -> Result<Self> {
        let bytes = crate::file::read(path)?;
        Self::from_bytes(&bytes, path, encoder)
    }
}
