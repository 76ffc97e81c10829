//! The embedding-space out-of-scope gate of the encoder intent model: a message whose nearest in-scope
//! training message is less similar (cosine) than what a chosen share of in-scope validation messages
//! reach is out of scope, whatever the head says. Tuned without out-of-scope examples.

use super::EncoderIntent;
use crate::data::{Example, OOS};
use crate::error::{ChatError, Result};

/// The embedding-space out-of-scope gate: a message whose nearest in-scope training message is less
/// similar than `threshold` (cosine) is out of scope, whatever the head says.
#[derive(Debug, Clone)]
pub(crate) struct Gate {
    /// In-scope training embeddings, `(n, dim)` row-major, unit length.
    pub(super) train: Vec<f32>,
    pub(super) threshold: f32,
}

impl EncoderIntent {
    /// Adds the embedding-space out-of-scope gate: the threshold is the similarity to the nearest in-scope
    /// training message that a share `keep` (in (0, 1]) of the in-scope validation messages reach — so
    /// it needs no out-of-scope examples, only an `oos` label to answer with. `keep = 1` removes the gate.
    pub fn fit_gate(&mut self, train: &[Example], val: &[Example], keep: f64) -> Result<()> {
        if !(keep > 0.0 && keep <= 1.0) {
            return Err(ChatError::param("keep", format!("must be in (0, 1], got {keep}")));
        }
        if keep == 1.0 {
            self.gate = None;
            return Ok(());
        }
        if !self.labels.iter().any(|l| l == OOS) {
            return Err(ChatError::Data("the out-of-scope gate needs an `oos` label in the training data".into()));
        }
        let inside: Vec<&str> = train.iter().filter(|e| e.label != OOS).map(|e| e.text.as_str()).collect();
        let held: Vec<&str> = val.iter().filter(|e| e.label != OOS).map(|e| e.text.as_str()).collect();
        if inside.is_empty() || held.is_empty() {
            return Err(ChatError::Data(
                "the out-of-scope gate needs in-scope training and validation messages".into(),
            ));
        }
        self.gate = None;
        let gate = Gate { train: self.embed_all(&inside)?, threshold: f32::NEG_INFINITY };
        self.warm(&held)?;
        let mut sims = held.iter().map(|t| Ok(gate.nearest(&self.embedding(t)?))).collect::<Result<Vec<f32>>>()?;
        sims.sort_by(f32::total_cmp);
        let at = (((1.0 - keep) * sims.len() as f64).floor() as usize).min(sims.len() - 1);
        self.gate = Some(Gate { threshold: sims[at], ..gate });
        Ok(())
    }

    /// The gate's threshold, when there is a gate.
    pub fn gate_threshold(&self) -> Option<f32> {
        self.gate.as_ref().map(|g| g.threshold)
    }

    /// Embeddings of `texts`, `(texts, dim)` row-major.
    fn embed_all(&self, texts: &[&str]) -> Result<Vec<f32>> {
        let a = match &self.tuned {
            Some(t) => t.embed(&self.encoder, texts)?,
            None => self.encoder.embed(texts)?,
        };
        Ok(a.iter().copied().collect())
    }
}

impl Gate {
    /// Cosine similarity of unit `x` to the nearest training embedding.
    pub(super) fn nearest(&self, x: &[f32]) -> f32 {
        self.train
            .chunks_exact(x.len())
            .map(|r| r.iter().zip(x).map(|(a, b)| a * b).sum::<f32>())
            .fold(f32::NEG_INFINITY, f32::max)
    }
}
