//! The model-file container: one file, honest about what it holds.
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
use std::path::Path;

/// The first eight bytes of every shopml recommendation model file.
pub const MAGIC: &[u8; 8] = b"SHOPMLRC";
/// The format version this build writes; it reads this one and older ones.
pub const FORMAT_VERSION: u32 = 1;
const HEADER: usize = 32;

/// Packs metadata and a safetensors blob into the container's bytes.
pub fn pack(meta: &[u8], tensors: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + meta.len() + tensors.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    let mut crc = crc32fast::Hasher::new();
    crc.update(meta);
    crc.update(tensors);
    out.extend_from_slice(&crc.finalize().to_le_bytes());
    out.extend_from_slice(&(meta.len() as u64).to_le_bytes());
    out.extend_from_slice(&(tensors.len() as u64).to_le_bytes());
    out.extend_from_slice(meta);
    out.extend_from_slice(tensors);
    out
}

/// Checks the container and returns `(metadata, safetensors blob)`.
pub fn unpack<'a>(bytes: &'a [u8], path: &Path) -> Result<(&'a [u8], &'a [u8])> {
    let bad = |reason: String| RecoError::ModelFile { path: path.to_path_buf(), reason };
    if bytes.len() < 8 || &bytes[..8] != MAGIC {
        return Err(bad("not a shopml recommendation model file (bad magic)".into()));
    }
    if bytes.len() < HEADER {
        return Err(bad(format!("truncated: {} bytes, the header alone is {HEADER}", bytes.len())));
    }
    let u32_at = |o: usize| u32::from_le_bytes(bytes[o..o + 4].try_into().expect("4 bytes"));
    let u64_at = |o: usize| u64::from_le_bytes(bytes[o..o + 8].try_into().expect("8 bytes"));
    let version = u32_at(8);
    if version > FORMAT_VERSION {
        return Err(bad(format!(
            "format version {version} is newer than this build reads ({FORMAT_VERSION}): upgrade shopml"
        )));
    }
    if version == 0 {
        return Err(bad("format version 0 does not exist".into()));
    }
    let (meta_len, tensor_len) = (u64_at(16), u64_at(24));
    let expected = (HEADER as u64).checked_add(meta_len).and_then(|n| n.checked_add(tensor_len));
    match expected {
        Some(n) if n == bytes.len() as u64 => {}
        Some(n) if n > bytes.len() as u64 => {
            return Err(bad(format!("truncated: {} bytes, the header announces {n}", bytes.len())))
        }
        _ => return Err(bad(format!("{} bytes, but the header announces {expected:?}: corrupted", bytes.len()))),
    }
    let body = &bytes[HEADER..];
    if crc32fast::hash(body) != u32_at(12) {
        return Err(bad("checksum mismatch: the file is corrupted".into()));
    }
    let (meta, tensors) = body.split_at(meta_len as usize);
    Ok((meta, tensors))
}

/// Writes `bytes` to `path` atomically (a temporary file beside it, then a rename): a crash never leaves
/// a half-written model where a good one was.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "model".into());
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes).map_err(|e| RecoError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        RecoError::io(path, e)
    })
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
