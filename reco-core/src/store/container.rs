//! The model-file container (shared with the chatbot's files: crate `shopml-model-file`): one file,
//! honest about what it holds.
//!
//! ```text
//! offset  size  field
//! 0       8     magic  b"SHOPMLRC"
//! 8       4     format version (u32 LE)
//! 12      4     CRC-32 of everything after the header (u32 LE)
//! 16      8     length of the JSON metadata (u64 LE)
//! 24      8     length of the safetensors blob (u64 LE)
//! 32      …     JSON metadata (UTF-8), then the safetensors blob
//! ```
//!
//! A file that is truncated, corrupted, of another kind or written by a newer format version is a
//! [`RecoError::ModelFile`] with a message that says which.

use crate::error::{RecoError, Result};
use model_file::Kind;
use std::path::Path;

/// The first eight bytes of every shopml recommendation model file.
pub const MAGIC: &[u8; 8] = b"SHOPMLRC";
/// The format version this build writes; it reads this one and older ones.
pub const FORMAT_VERSION: u32 = 1;
const KIND: Kind = Kind { magic: *MAGIC, version: FORMAT_VERSION, what: "shopml recommendation model" };

/// Packs metadata and a safetensors blob into the container's bytes.
pub fn pack(meta: &[u8], tensors: &[u8]) -> Vec<u8> {
    KIND.pack(meta, tensors)
}

/// Checks the container and returns `(metadata, safetensors blob)`.
pub fn unpack<'a>(bytes: &'a [u8], path: &Path) -> Result<(&'a [u8], &'a [u8])> {
    KIND.unpack(bytes).map_err(|e| RecoError::ModelFile { path: path.to_path_buf(), reason: e.0 })
}

/// Writes `bytes` to `path` atomically (a temporary file beside it, then a rename): a crash never leaves
/// a half-written model where a good one was.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    model_file::write_atomic(path, bytes).map_err(|(p, e)| RecoError::io(&p, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_every_kind_of_damage() {
        let p = Path::new("m.shopml");
        let bytes = pack(b"{\"a\":1}", b"TENSORS");
        let (m, t) = unpack(&bytes, p).unwrap();
        assert_eq!((m, t), (&b"{\"a\":1}"[..], &b"TENSORS"[..]));
        let msg = |b: &[u8]| unpack(b, p).unwrap_err().to_string();
        assert!(msg(&bytes[..bytes.len() - 1]).contains("truncated"));
        assert!(msg(&bytes[..20]).contains("truncated"));
        assert!(msg(b"GIF89a....").contains("bad magic"));
        assert!(msg(b"GIF89a....").contains("recommendation model"));
        let mut flipped = bytes.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert!(msg(&flipped).contains("checksum"));
        let mut newer = bytes.clone();
        newer[8..12].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
        assert!(msg(&newer).contains("newer"));
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(msg(&longer).contains("corrupted"));
    }
}
