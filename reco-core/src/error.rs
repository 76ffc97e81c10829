//! The one error type of reco-core.

use std::path::PathBuf;

/// Everything that can go wrong in reco-core.
///
/// Parameter errors (`InvalidParameter`, `UnknownUser`, ...) are the caller's to fix; data errors carry the
/// file and line so a user can find the offending row; `Io` wraps the operating system's answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecoError {
    /// A hyper-parameter or argument is out of its valid range.
    #[error("invalid parameter `{name}`: {reason}")]
    InvalidParameter {
        /// The parameter's name as the builder or CLI spells it.
        name: String,
        /// Why the value is rejected, with the valid range.
        reason: String,
    },
    /// The input holds no usable interactions.
    #[error("empty data: {0}")]
    EmptyData(String),
    /// A malformed row or value in an input file.
    #[error("{path}:{line}: {reason}")]
    Parse {
        /// The file that was read.
        path: PathBuf,
        /// 1-based line (or row) number; 0 when the problem is not tied to a row.
        line: usize,
        /// What is wrong with the row.
        reason: String,
    },
    /// A required column is missing from a table.
    #[error("{path}: no column `{column}` (columns are: {available})")]
    MissingColumn {
        /// The file that was read.
        path: PathBuf,
        /// The column asked for.
        column: String,
        /// The columns the file has, comma separated.
        available: String,
    },
    /// The data format is not known or cannot be read in this build.
    #[error("unsupported format: {0}")]
    UnsupportedFormat(String),
    /// A user id that the model or dataset does not know.
    #[error("unknown user `{0}`")]
    UnknownUser(String),
    /// An item id that the model or dataset does not know.
    #[error("unknown item `{0}`")]
    UnknownItem(String),
    /// A model file that cannot be read: truncated, corrupted, of another kind, or from a newer format.
    #[error("{path}: {reason}")]
    ModelFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A model scored NaN or +∞ (a damaged model, or a backend that failed while scoring): an error
    /// rather than a silently empty or wrongly ordered list.
    #[error("non-finite scores from the `{0}` model")]
    NonFinite(String),
    /// The tensor backend (candle) failed.
    #[error("tensor backend: {0}")]
    Backend(String),
    /// Training failed numerically (diverged to NaN/inf): lower the learning rate or raise regularisation.
    #[error("training diverged: {0}")]
    Diverged(String),
    /// The caller's progress callback asked to stop (e.g. Ctrl-C); nothing was changed.
    #[error("interrupted")]
    Interrupted,
    /// An operation that needs a fitted model was called on one that is not.
    #[error("model is not fitted: {0}")]
    NotFitted(String),
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

/// `Result` with [`RecoError`].
pub type Result<T> = std::result::Result<T, RecoError>;

impl RecoError {
    /// Shorthand for [`RecoError::InvalidParameter`].
    pub fn param(name: impl Into<String>, reason: impl Into<String>) -> Self {
        RecoError::InvalidParameter { name: name.into(), reason: reason.into() }
    }

    /// Shorthand for [`RecoError::Parse`].
    pub fn parse(path: impl Into<PathBuf>, line: usize, reason: impl Into<String>) -> Self {
        RecoError::Parse { path: path.into(), line, reason: reason.into() }
    }

    /// Shorthand for [`RecoError::Io`].
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        RecoError::Io { path: path.into(), source }
    }
}
