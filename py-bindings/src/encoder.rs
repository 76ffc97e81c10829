//! `shopml.Encoder` (sentence embeddings as numpy arrays) and `shopml.EncoderIntentClassifier` (intents
//! over the encoder, optionally fine-tuned): shopml-encoder and chatbot-core behind Python conversions.

use crate::chat::{examples, message, texts};
use crate::errors::{self, invalid, FileFormatError};
use chatbot_core::data::split_validation;
use chatbot_core::intent::{Classifier, EncoderIntent, EncoderIntentParams, IntentModel};
use numpy::ndarray::Array2;
use numpy::PyArray2;
use pyo3::exceptions::PyFileNotFoundError;
use pyo3::prelude::*;
use shopml_encoder::{Encoder, EncoderError};
use std::path::PathBuf;
use std::sync::Arc;

fn encoder_err(e: EncoderError) -> PyErr {
    match e {
        e @ EncoderError::Missing(_) => PyFileNotFoundError::new_err(e.to_string()),
        e @ EncoderError::Corrupt { .. } => FileFormatError::new_err(e.to_string()),
        e => errors::chat(e.into()),
    }
}

/// A pretrained sentence encoder (all-MiniLM-L6-v2 by default: `path`, else `$SHOPML_ENCODER_DIR`, else
/// where `scripts/fetch-minilm` puts it). Thread-safe; embeddings are cached by text.
#[pyclass(name = "Encoder", module = "shopml", frozen)]
pub struct PyEncoder {
    pub(crate) encoder: Arc<Encoder>,
}

#[pymethods]
impl PyEncoder {
    #[new]
    #[pyo3(signature = (path=None))]
    fn new(py: Python<'_>, path: Option<PathBuf>) -> PyResult<Self> {
        let dir = shopml_encoder::model_dir(path.as_deref());
        let encoder = py.detach(|| Encoder::load(&dir)).map_err(encoder_err)?;
        Ok(PyEncoder { encoder: Arc::new(encoder) })
    }

    /// Unit-length embeddings of a list of str: a float32 array `(len(texts), dim)`. The GIL is released.
    fn embed<'py>(&self, py: Python<'py>, texts_: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let t = texts(texts_, "texts")?;
        let refs: Vec<&str> = t.iter().map(String::as_str).collect();
        let a: Array2<f32> = py.detach(|| self.encoder.embed(&refs)).map_err(encoder_err)?;
        Ok(PyArray2::from_owned_array(py, a))
    }

    /// Embedding dimension.
    #[getter]
    fn dim(&self) -> usize {
        self.encoder.dim()
    }

    /// The model directory.
    #[getter]
    fn path(&self) -> PathBuf {
        self.encoder.dir().to_path_buf()
    }

    fn __repr__(&self) -> String {
        format!("Encoder({:?}, dim {})", self.encoder.dir().display().to_string(), self.encoder.dim())
    }
}

/// Intents over the encoder: a softmax head on its embeddings, its top `tune_layers` layers fine-tuned
/// (0: frozen), calibrated confidence and an out-of-scope threshold.
#[pyclass(name = "EncoderIntentClassifier", module = "shopml", frozen)]
pub struct PyEncoderIntentClassifier {
    clf: Classifier<EncoderIntent>,
}

#[pymethods]
impl PyEncoderIntentClassifier {
    /// Trains on `texts` / `labels` (label `"oos"`: out of scope) over `encoder` and calibrates on the
    /// validation pair (default: every 10th example of each label). The GIL is released while training.
    #[staticmethod]
    #[pyo3(signature = (encoder, texts, labels, *, val_texts=None, val_labels=None, oos_recall=0.7,
                        tune_layers=0, epochs=3, seed=7))]
    #[allow(clippy::too_many_arguments)]
    fn train(
        py: Python<'_>,
        encoder: &PyEncoder,
        texts: &Bound<'_, PyAny>,
        labels: &Bound<'_, PyAny>,
        val_texts: Option<&Bound<'_, PyAny>>,
        val_labels: Option<&Bound<'_, PyAny>>,
        oos_recall: f64,
        tune_layers: usize,
        epochs: usize,
        seed: u64,
    ) -> PyResult<Self> {
        let all = examples(texts, labels, "")?;
        let (train, val) = match (val_texts, val_labels) {
            (Some(t), Some(l)) => (all, examples(t, l, "val_")?),
            (None, None) => split_validation(all, 10),
            _ => return Err(invalid("give both val_texts and val_labels, or neither")),
        };
        if val.is_empty() {
            return Err(invalid("no validation examples: pass val_texts / val_labels"));
        }
        let params = EncoderIntentParams { tune_layers, epochs, seed, ..Default::default() };
        let enc = encoder.encoder.clone();
        let clf = py
            .detach(|| -> chatbot_core::Result<_> {
                let model = params.fit(enc, &train)?;
                model.warm(&val.iter().map(|e| e.text.as_str()).collect::<Vec<_>>())?;
                let mut clf = Classifier::new(model);
                clf.calibrate(&val, oos_recall)?;
                Ok(clf)
            })
            .map_err(errors::chat)?;
        Ok(PyEncoderIntentClassifier { clf })
    }

    /// `(label, confidence, in_scope)` for one message.
    fn classify(&self, py: Python<'_>, text: &Bound<'_, PyAny>) -> PyResult<(String, f32, bool)> {
        let text = message(text)?;
        let i = py.detach(|| self.clf.classify(&text)).map_err(errors::chat)?;
        Ok((i.label, i.confidence, i.in_scope))
    }

    /// The intent labels.
    #[getter]
    fn labels(&self) -> Vec<String> {
        self.clf.model().labels().to_vec()
    }

    /// The out-of-scope threshold on calibrated confidence.
    #[getter]
    fn threshold(&self) -> f32 {
        self.clf.threshold()
    }

    /// Saves the head, the fine-tuned layers and the calibration to one file (not the encoder itself).
    fn save(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        py.detach(|| self.clf.save(&path)).map_err(errors::chat)
    }

    /// Loads a file written by `save` (or `shopml chat train --intent-model encoder`) over `encoder`,
    /// which must be the one it was trained on.
    #[staticmethod]
    fn load(py: Python<'_>, path: PathBuf, encoder: &PyEncoder) -> PyResult<Self> {
        let enc = encoder.encoder.clone();
        let clf = py.detach(|| Classifier::<EncoderIntent>::load(&path, enc)).map_err(errors::chat)?;
        Ok(PyEncoderIntentClassifier { clf })
    }

    fn __repr__(&self) -> String {
        format!("EncoderIntentClassifier({} labels, threshold {:.3})", self.labels().len(), self.clf.threshold())
    }
}
