//! The one error type of chatbot-core.

use std::path::PathBuf;

/// Everything that can go wrong in chatbot-core.
///
/// Parameter errors are the caller's to fix; data errors carry the file and row; `Io` wraps the
/// operating system's answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChatError {
    /// A hyper-parameter or argument is out of its valid range.
    #[error("invalid parameter `{name}`: {reason}")]
    InvalidParameter {
        /// The parameter's name as the builder or CLI spells it.
        name: String,
        /// Why the value is rejected, with the valid range.
        reason: String,
    },
    /// The training data cannot train a model (empty, one intent only, ...).
    #[error("unusable training data: {0}")]
    Data(String),
    /// A malformed row or value in an input file.
    #[error("{path}:{line}: {reason}")]
    Parse {
        /// The file that was read.
        path: PathBuf,
        /// 1-based row number; 0 when the problem is not tied to a row.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// A required column is missing from a CSV file.
    #[error("{path}: no column `{column}` (columns are: {available})")]
    MissingColumn {
        /// The file that was read.
        path: PathBuf,
        /// The column asked for.
        column: String,
        /// The columns the file has, comma separated.
        available: String,
    },
    /// A model file that cannot be read: truncated, corrupted, of another kind, or from a newer format.
    #[error("{path}: {reason}")]
    ModelFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The tensor backend (candle) or the tokenizer failed.
    #[error("backend: {0}")]
    Backend(String),
    /// Training failed numerically (diverged to NaN/inf): lower the learning rate.
    #[error("training diverged: {0}")]
    Diverged(String),
    /// Reading or writing a file failed (the message is the path; the operating system's reason is the
    /// error's `source()`, which reporters such as `anyhow`'s `{:#}` print after it).
    #[error("{path}")]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
}

/// `Result` with [`ChatError`].
pub type Result<T> = std::result::Result<T, ChatError>;

impl ChatError {
    /// An [`InvalidParameter`](Self::InvalidParameter) error.
    pub fn param(name: impl Into<String>, reason: impl Into<String>) -> Self {
        ChatError::InvalidParameter { name: name.into(), reason: reason.into() }
    }
}

impl From<candle_core::Error> for ChatError {
    fn from(e: candle_core::Error) -> Self {
        ChatError::Backend(e.to_string())
    }
}

impl From<tokenizers::Error> for ChatError {
    fn from(e: tokenizers::Error) -> Self {
        ChatError::Backend(format!("tokenizer: {e}"))
    }
}

#[cfg(feature = "encoder")]
impl From<shopml_encoder::EncoderError> for ChatError {
    fn from(e: shopml_encoder::EncoderError) -> Self {
        ChatError::Backend(e.to_string())
    }
}
