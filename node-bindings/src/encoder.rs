//! `Encoder` (sentence embeddings as Float32Arrays) and `EncoderIntentClassifier` (intents over the
//! encoder, optionally fine-tuned) for Node: shopml-encoder and chatbot-core behind napi conversions.

use crate::{chat_err, failure, guarded, invalid};
use chatbot_core::data::{split_validation, Example};
use chatbot_core::intent::{Classifier, EncoderIntent, EncoderIntentParams, IntentModel};
use napi::bindgen_prelude::*;
use napi_derive::napi;
use shopml_encoder::EncoderError;
use std::path::PathBuf;
use std::sync::Arc;

fn encoder_err(e: EncoderError) -> Error {
    match e {
        EncoderError::Missing(_) => failure("Io", e),
        EncoderError::Corrupt { .. } => failure("FileFormat", e),
        e => chat_err(e.into()),
    }
}

/// A pretrained sentence encoder (all-MiniLM-L6-v2 by default).
#[napi]
pub struct Encoder {
    inner: Arc<shopml_encoder::Encoder>,
}

#[napi]
impl Encoder {
    /// Loads the model directory `path` (default: `$SHOPML_ENCODER_DIR`, else where
    /// `scripts/fetch-minilm` puts it). A missing file is an `Io` error naming it.
    #[napi(factory, catch_unwind)]
    pub fn load(path: Option<String>) -> Result<Encoder> {
        let dir = shopml_encoder::model_dir(path.as_deref().map(std::path::Path::new));
        let inner = shopml_encoder::Encoder::load(&dir).map_err(encoder_err)?;
        Ok(Encoder { inner: Arc::new(inner) })
    }

    /// One unit-length Float32Array per text.
    #[napi(catch_unwind)]
    pub fn embed(&self, texts: Vec<String>) -> Result<Vec<Float32Array>> {
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let a = self.inner.embed(&refs).map_err(encoder_err)?;
        Ok(a.rows().into_iter().map(|r| Float32Array::new(r.to_vec())).collect())
    }

    /// Embedding dimension.
    #[napi(getter)]
    pub fn dim(&self) -> u32 {
        self.inner.dim() as u32
    }
}

/// Options of `EncoderIntentClassifier.train`.
#[napi(object)]
#[derive(Default)]
pub struct EncoderTrainOptions {
    /// Validation messages (default: every 10th example of each label, held out).
    pub val_texts: Option<Vec<String>>,
    /// Their labels.
    pub val_labels: Option<Vec<String>>,
    /// Out-of-scope recall the threshold is tuned to on validation (default 0.7).
    pub oos_recall: Option<f64>,
    /// Top encoder layers fine-tuned (default 0: frozen).
    pub tune_layers: Option<u32>,
    /// Fine-tuning epochs (default 3).
    pub epochs: Option<u32>,
}

/// Off-thread training.
pub struct EncoderTrainTask {
    encoder: Arc<shopml_encoder::Encoder>,
    train: Vec<Example>,
    val: Vec<Example>,
    oos_recall: f64,
    params: EncoderIntentParams,
}

impl Task for EncoderTrainTask {
    type Output = Classifier<EncoderIntent>;
    type JsValue = EncoderIntentClassifier;

    fn compute(&mut self) -> Result<Self::Output> {
        guarded(|| {
            let model = self.params.fit(self.encoder.clone(), &self.train).map_err(chat_err)?;
            model.warm(&self.val.iter().map(|e| e.text.as_str()).collect::<Vec<_>>()).map_err(chat_err)?;
            let mut clf = Classifier::new(model);
            clf.calibrate(&self.val, self.oos_recall).map_err(chat_err)?;
            Ok(clf)
        })
    }

    fn resolve(&mut self, _env: Env, clf: Self::Output) -> Result<EncoderIntentClassifier> {
        Ok(EncoderIntentClassifier { clf })
    }
}

fn examples(texts: Vec<String>, labels: Vec<String>, what: &str) -> Result<Vec<Example>> {
    if texts.len() != labels.len() {
        return Err(invalid(format!("{what}texts has {} entries but {what}labels {}", texts.len(), labels.len())));
    }
    Ok(texts.into_iter().zip(labels).map(|(t, l)| Example::new(t, l)).collect())
}

/// Intents over the encoder: a softmax head on its embeddings, optionally fine-tuned, calibrated.
#[napi]
pub struct EncoderIntentClassifier {
    clf: Classifier<EncoderIntent>,
}

#[napi]
impl EncoderIntentClassifier {
    /// Trains off the event loop on `texts` / `labels` (label `"oos"`: out of scope).
    #[napi(catch_unwind, ts_return_type = "Promise<EncoderIntentClassifier>")]
    pub fn train(
        encoder: &Encoder,
        texts: Vec<String>,
        labels: Vec<String>,
        options: Option<EncoderTrainOptions>,
    ) -> Result<AsyncTask<EncoderTrainTask>> {
        let all = examples(texts, labels, "")?;
        let o = options.unwrap_or_default();
        let (train, val) = match (o.val_texts, o.val_labels) {
            (Some(t), Some(l)) => (all, examples(t, l, "val")?),
            (None, None) => split_validation(all, 10),
            _ => return Err(invalid("give both valTexts and valLabels, or neither")),
        };
        if val.is_empty() {
            return Err(invalid("no validation examples: pass valTexts / valLabels"));
        }
        let d = EncoderIntentParams::default();
        let params = EncoderIntentParams {
            tune_layers: o.tune_layers.map_or(d.tune_layers, |v| v as usize),
            epochs: o.epochs.map_or(d.epochs, |v| v as usize),
            ..d
        };
        let oos_recall = o.oos_recall.unwrap_or(chatbot_core::intent::DEFAULT_OOS_RECALL);
        Ok(AsyncTask::new(EncoderTrainTask { encoder: encoder.inner.clone(), train, val, oos_recall, params }))
    }

    /// `{ label, confidence, inScope }` for one message.
    #[napi(catch_unwind, ts_return_type = "{ label: string; confidence: number; inScope: boolean }")]
    pub fn classify(&self, text: String) -> Result<serde_json::Value> {
        let i = self.clf.classify(&text).map_err(chat_err)?;
        Ok(serde_json::json!({ "label": i.label, "confidence": i.confidence, "inScope": i.in_scope }))
    }

    /// The intent labels.
    #[napi(getter)]
    pub fn labels(&self) -> Vec<String> {
        self.clf.model().labels().to_vec()
    }

    /// Saves the head, fine-tuned layers and calibration (not the encoder) to one file.
    #[napi(catch_unwind)]
    pub fn save(&self, path: String) -> Result<()> {
        self.clf.save(&PathBuf::from(path)).map_err(chat_err)
    }

    /// Loads a file written by `save` over the encoder it was trained on.
    #[napi(factory, catch_unwind)]
    pub fn load(path: String, encoder: &Encoder) -> Result<EncoderIntentClassifier> {
        let clf = Classifier::<EncoderIntent>::load(&PathBuf::from(path), encoder.inner.clone()).map_err(chat_err)?;
        Ok(EncoderIntentClassifier { clf })
    }
}
