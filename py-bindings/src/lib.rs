//! Python bindings of shopml, importable as `shopml` (this is its native part, `shopml._shopml`).
//!
//! Conversion only: every algorithm lives in `reco-core`, `chatbot-core` and `storefront`. Errors go
//! through one adapter ([`errors`]) into the exception classes of `shopml/_errors.py`; no panic crosses
//! into Python (pyo3 turns one into `PanicException`, and the core crates do not panic on input).

mod chat;
mod convert;
mod encoder;
mod errors;
mod reco;
mod store;

use pyo3::prelude::*;

#[pymodule]
fn _shopml(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<reco::PyDataset>()?;
    m.add_class::<reco::PyRecommender>()?;
    m.add_class::<chat::PyIntentClassifier>()?;
    m.add_class::<chat::PyAssistant>()?;
    m.add_class::<encoder::PyEncoder>()?;
    m.add_class::<encoder::PyEncoderIntentClassifier>()?;
    m.add_function(wrap_pyfunction!(reco::_restore_recommender, m)?)?;
    m.add_function(wrap_pyfunction!(chat::_restore_classifier, m)?)?;
    m.add_function(wrap_pyfunction!(chat::find_datasets, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
