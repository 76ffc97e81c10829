//! `shopml.IntentClassifier` and `shopml.Assistant`: chatbot-core behind Python conversions.

use crate::errors::{self, invalid};
use crate::store::PyStore;
use chatbot_core::data::{split_validation, Example};
use chatbot_core::dialogue::{Assistant, BotConfig};
use chatbot_core::intent::{Classifier, FastIntent, FastIntentParams};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString, PyTuple};
use std::path::{Path, PathBuf};
use storefront::Store;

/// The shipped `datasets/` folder (see `storefront::shipped::datasets_dir`).
pub fn datasets_dir(given: Option<PathBuf>) -> PyResult<PathBuf> {
    storefront::shipped::datasets_dir(given.as_deref()).map_err(invalid)
}

/// An intent classifier: calibrated confidence and an out-of-scope threshold.
#[pyclass(name = "IntentClassifier", module = "shopml", frozen)]
pub struct PyIntentClassifier {
    pub(crate) clf: Classifier<FastIntent>,
}

fn copy(c: &Classifier<FastIntent>) -> Classifier<FastIntent> {
    c.clone()
}

pub(crate) fn texts(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<String>> {
    if obj.is_instance_of::<PyString>() {
        return Err(invalid(format!("{what}: got one str, expected a list of str")));
    }
    let mut out = Vec::new();
    for (i, x) in obj.try_iter().map_err(|_| invalid(format!("{what}: not a sequence")))?.enumerate() {
        let x = x?;
        let s = x.cast::<PyString>().map_err(|_| {
            invalid(format!("{what}[{i}] is {}: expected str", x.repr().map(|r| r.to_string()).unwrap_or_default()))
        })?;
        out.push(s.to_string_lossy().into_owned());
    }
    Ok(out)
}

pub(crate) fn examples(texts_: &Bound<'_, PyAny>, labels: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<Example>> {
    let t = texts(texts_, &format!("{what}texts"))?;
    let l = texts(labels, &format!("{what}labels"))?;
    if t.len() != l.len() {
        return Err(invalid(format!("{what}texts has {} entries but {what}labels {}", t.len(), l.len())));
    }
    Ok(t.into_iter().zip(l).map(|(t, l)| Example::new(t, l)).collect())
}

/// A message as text: `str` only; lone surrogates (undecodable bytes) are replaced, not an error.
pub(crate) fn message(obj: &Bound<'_, PyAny>) -> PyResult<String> {
    match obj.cast::<PyString>() {
        Ok(s) => Ok(s.to_string_lossy().into_owned()),
        Err(_) => Err(invalid(format!(
            "text: expected str, got {}",
            obj.get_type().name().map(|n| n.to_string()).unwrap_or_default()
        ))),
    }
}

// `oos_recall=0.7` is written as a literal so that `help()` shows it; it must be the core's default.
const _: () = assert!(chatbot_core::intent::DEFAULT_OOS_RECALL == 0.7);

#[pymethods]
impl PyIntentClassifier {
    /// Trains on `texts` / `labels` (label `"oos"` marks out-of-scope examples) and calibrates on the
    /// validation pair (default: every 10th example of each label, held out). `oos_recall`: the share of
    /// validation out-of-scope messages the threshold must catch. The GIL is released while training.
    #[staticmethod]
    #[pyo3(signature = (texts, labels, *, val_texts=None, val_labels=None, oos_recall=0.7, dim=None,
                        epochs=None, ensemble=None, seed=None, learning_rate=None))]
    #[allow(clippy::too_many_arguments)]
    fn train(
        py: Python<'_>,
        texts: &Bound<'_, PyAny>,
        labels: &Bound<'_, PyAny>,
        val_texts: Option<&Bound<'_, PyAny>>,
        val_labels: Option<&Bound<'_, PyAny>>,
        oos_recall: f64,
        dim: Option<usize>,
        epochs: Option<usize>,
        ensemble: Option<usize>,
        seed: Option<u64>,
        learning_rate: Option<f32>,
    ) -> PyResult<Self> {
        let all = examples(texts, labels, "")?;
        let (train, val) = match (val_texts, val_labels) {
            (Some(t), Some(l)) => (all, examples(t, l, "val_")?),
            (None, None) => split_validation(all, 10),
            _ => return Err(invalid("give both val_texts and val_labels, or neither")),
        };
        if val.is_empty() {
            return Err(invalid(
                "no validation examples (every 10th example of each label is held out; labels here have \
                 fewer than 10): pass val_texts / val_labels",
            ));
        }
        let d = FastIntentParams::default();
        let params = FastIntentParams {
            dim: dim.unwrap_or(d.dim),
            epochs: epochs.unwrap_or(d.epochs),
            ensemble: ensemble.unwrap_or(d.ensemble),
            seed: seed.unwrap_or(d.seed),
            learning_rate: learning_rate.unwrap_or(d.learning_rate),
            ..d
        };
        let clf = py
            .detach(|| -> chatbot_core::Result<_> {
                let mut clf = Classifier::new(params.fit(&train)?);
                clf.calibrate(&val, oos_recall)?;
                Ok(clf)
            })
            .map_err(errors::chat)?;
        Ok(PyIntentClassifier { clf })
    }

    /// Trains the shop assistant's model on the repository's shipped data (Bitext customer-support
    /// intents, shop intents, CLINC150 out-of-scope); ~20 s on two cores.
    #[staticmethod]
    #[pyo3(signature = (datasets=None))]
    fn shipped(py: Python<'_>, datasets: Option<PathBuf>) -> PyResult<Self> {
        let dir = datasets_dir(datasets)?;
        let clf = py.detach(|| chatbot_core::intent::train_shop_assistant(&dir)).map_err(errors::chat)?;
        Ok(PyIntentClassifier { clf })
    }

    /// `(label, confidence, in_scope)` for one message.
    fn classify(&self, text: &Bound<'_, PyAny>) -> PyResult<(String, f32, bool)> {
        let i = self.clf.classify(&message(text)?).map_err(errors::chat)?;
        Ok((i.label, i.confidence, i.in_scope))
    }

    /// The intent labels.
    #[getter]
    fn labels(&self) -> Vec<String> {
        chatbot_core::intent::IntentModel::labels(self.clf.model()).to_vec()
    }

    /// The out-of-scope threshold on calibrated confidence.
    #[getter]
    fn threshold(&self) -> f32 {
        self.clf.threshold()
    }

    /// Saves to one file (magic, version, checksum; atomic write).
    fn save(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        py.detach(|| self.clf.save(&path)).map_err(errors::chat)
    }

    /// Loads a file written by `save` (or `shopml chat train --out`).
    #[staticmethod]
    fn load(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        Ok(PyIntentClassifier { clf: py.detach(|| Classifier::<FastIntent>::load(&path)).map_err(errors::chat)? })
    }

    fn __reduce__<'py>(&self, py: Python<'py>) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyTuple>)> {
        let bytes = self.clf.to_bytes().map_err(errors::chat)?;
        let restore = py.import("shopml._shopml")?.getattr("_restore_classifier")?;
        Ok((restore, (PyBytes::new(py, &bytes),).into_pyobject(py)?))
    }

    fn __repr__(&self) -> String {
        format!("IntentClassifier({} labels, threshold {:.3})", self.labels().len(), self.clf.threshold())
    }
}

/// Pickle support for `IntentClassifier`.
#[pyfunction]
pub fn _restore_classifier(bytes: &Bound<'_, PyBytes>) -> PyResult<PyIntentClassifier> {
    let clf = Classifier::<FastIntent>::from_bytes(bytes.as_bytes(), Path::new("<pickle>")).map_err(errors::chat)?;
    Ok(PyIntentClassifier { clf })
}

/// The customer-support assistant: `reply(conversation_id, text, customer_id=None)`.
///
/// `classifier`: an `IntentClassifier` (default: `IntentClassifier.shipped()`). `store`: any object
/// with the store methods (`search(query, min_price, max_price, limit)`, `product(id)`, and optionally
/// `names()`, `categories()`, `orders(customer)`, `order(customer, id)`, `cancel(customer, id)`,
/// `change_address(customer, id, address)`, `recommend(customer, k)`, `policy(topic)`; products and
/// orders as dicts) — default: the demo store built from the shipped Online Retail data. `config`: a
/// dict or a JSON file path (start from `shopml chat config`).
#[pyclass(name = "Assistant", module = "shopml", frozen)]
pub struct PyAssistant {
    bot: Assistant<FastIntent>,
}

fn bot_config(py: Python<'_>, config: Option<&Bound<'_, PyAny>>) -> PyResult<BotConfig> {
    let Some(c) = config.filter(|c| !c.is_none()) else { return Ok(BotConfig::default()) };
    if c.is_instance_of::<PyDict>() {
        let json: String = py.import("json")?.call_method1("dumps", (c,))?.extract()?;
        // A dict is not a file: whatever is wrong with it is bad input.
        return BotConfig::from_json(&json, Path::new("config")).map_err(|e| invalid(e.to_string()));
    }
    let path: PathBuf = c.extract().map_err(|_| invalid("config: expected a dict or a path to a JSON file"))?;
    BotConfig::load(&path).map_err(errors::chat)
}

#[pymethods]
impl PyAssistant {
    #[new]
    #[pyo3(signature = (classifier=None, store=None, config=None, datasets=None))]
    fn new(
        py: Python<'_>,
        classifier: Option<&Bound<'_, PyIntentClassifier>>,
        store: Option<&Bound<'_, PyAny>>,
        config: Option<&Bound<'_, PyAny>>,
        datasets: Option<PathBuf>,
    ) -> PyResult<Self> {
        let config = bot_config(py, config)?;
        let store = match store.filter(|s| !s.is_none()) {
            Some(s) => {
                let s = PyStore::new(s)?;
                Store::from_one(s)
            }
            None => {
                let dir = datasets_dir(datasets.clone())?;
                let s = py.detach(|| storefront::shipped::demo_store(&dir)).map_err(PyErr::from)?;
                Store::from_one(s)
            }
        };
        let clf = match classifier {
            Some(c) => copy(&c.get().clf),
            None => PyIntentClassifier::shipped(py, datasets)?.clf,
        };
        let bot = Assistant::new(clf, store, config).map_err(errors::chat)?;
        Ok(PyAssistant { bot })
    }

    /// Answers `text` in conversation `conversation_id` for `customer_id` (None: not signed in).
    /// Returns a dict: `text` (the reply), `intent`, `confidence`, `entities`, `action` (what was done,
    /// e.g. `{"kind": "cancelled", "order": "536365"}`).
    #[pyo3(signature = (conversation_id, text, customer_id=None))]
    fn reply<'py>(
        &self,
        py: Python<'py>,
        conversation_id: &Bound<'py, PyAny>,
        text: &Bound<'py, PyAny>,
        customer_id: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let conversation =
            conversation_id.str().map_err(|_| invalid("conversation_id: not convertible to str"))?.to_string();
        let customer = match customer_id.filter(|c| !c.is_none()) {
            Some(c) if c.is_instance_of::<PyString>() || c.hasattr("__index__")? => Some(c.str()?.to_string()),
            Some(c) => return Err(invalid(format!("customer_id: expected str or int, got {}", c.repr()?))),
            None => None,
        };
        let text = message(text)?;
        let reply = self.bot.reply(&conversation, customer.as_deref(), &text).map_err(errors::chat)?;
        let json = serde_json::to_string(&reply).map_err(|e| invalid(e.to_string()))?;
        py.import("json")?.call_method1("loads", (json,))
    }

    /// Conversations currently remembered (bounded; idle ones expire).
    #[getter]
    fn conversations(&self) -> usize {
        self.bot.conversations()
    }
}

/// The shipped datasets folder as found from here (see `IntentClassifier.shipped`).
#[pyfunction]
#[pyo3(signature = (given=None))]
pub fn find_datasets(given: Option<PathBuf>) -> PyResult<PathBuf> {
    datasets_dir(given)
}
