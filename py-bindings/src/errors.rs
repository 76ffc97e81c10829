//! The one error adapter: core errors → the exception classes of `shopml/_errors.py`.
//!
//! The classes are defined in Python so that they can also be `ValueError`s, `KeyError`s … (multiple
//! inheritance), which is what notebook code catches.

use chatbot_core::ChatError;
use pyo3::exceptions::PyOSError;
use pyo3::prelude::*;
use reco_core::RecoError;

pyo3::import_exception!(shopml._errors, InvalidInputError);
pyo3::import_exception!(shopml._errors, UnknownIdError);
pyo3::import_exception!(shopml._errors, FileFormatError);
pyo3::import_exception!(shopml._errors, NotFittedError);
pyo3::import_exception!(shopml._errors, ModelClosedError);
pyo3::import_exception!(shopml._errors, TrainingError);

/// Bad argument from the caller.
pub fn invalid(msg: impl Into<String>) -> PyErr {
    InvalidInputError::new_err(msg.into())
}

fn os_error(path: &std::path::Path, e: &std::io::Error) -> PyErr {
    // Bad contents reported by a reader (corrupt gzip, invalid UTF-8) are a file-format problem.
    let bad_contents = matches!(e.kind(), std::io::ErrorKind::InvalidData | std::io::ErrorKind::UnexpectedEof);
    if bad_contents || e.raw_os_error().is_none() {
        return FileFormatError::new_err(format!("{}: {e}", path.display()));
    }
    // OSError(errno, strerror, filename) picks the subclass (FileNotFoundError, PermissionError ...).
    let errno = e.raw_os_error().unwrap_or(0);
    let reason = e.to_string();
    PyOSError::new_err((errno, reason, path.display().to_string()))
}

/// A reco-core error as a Python exception.
pub fn reco(e: RecoError) -> PyErr {
    let msg = e.to_string();
    match &e {
        RecoError::InvalidParameter { .. } | RecoError::EmptyData(_) | RecoError::MissingColumn { .. } => {
            InvalidInputError::new_err(msg)
        }
        RecoError::UnsupportedFormat(_) => InvalidInputError::new_err(msg),
        RecoError::UnknownUser(_) | RecoError::UnknownItem(_) => UnknownIdError::new_err(msg),
        RecoError::Parse { .. } | RecoError::ModelFile { .. } => FileFormatError::new_err(msg),
        RecoError::NotFitted(_) => NotFittedError::new_err(msg),
        RecoError::Io { path, source } => os_error(path, source),
        RecoError::Interrupted => pyo3::exceptions::PyKeyboardInterrupt::new_err(msg),
        _ => TrainingError::new_err(msg),
    }
}

/// A chatbot-core error as a Python exception.
pub fn chat(e: ChatError) -> PyErr {
    let msg = e.to_string();
    match &e {
        ChatError::InvalidParameter { .. } | ChatError::Data(_) | ChatError::MissingColumn { .. } => {
            InvalidInputError::new_err(msg)
        }
        ChatError::Parse { .. } | ChatError::ModelFile { .. } => FileFormatError::new_err(msg),
        ChatError::Io { path, source } => os_error(path, source),
        _ => TrainingError::new_err(msg),
    }
}
