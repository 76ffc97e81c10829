//! The container every shopml model file uses (recommendation models, intent models): one file, honest
//! about what it holds. Each engine picks its own magic and format version and maps [`FileError`] into
//! its own error type.
//!
//! ```text
//! offset  size  field
//! 0       8     magic (e.g. b"SHOPMLRC", b"SHOPMLCB")
//! 8       4     format version (u32 LE)
//! 12      4     CRC-32 of everything after the header (u32 LE)
//! 16      8     length of the JSON metadata (u64 LE)
//! 24      8     length of the tensor blob (u64 LE)
//! 32      …     JSON metadata (UTF-8), then the tensor blob (safetensors)
//! ```
//!
//! ```
//! use model_file::Kind;
//! const KIND: Kind = Kind { magic: *b"EXAMPLE!", version: 1, what: "example model" };
//! let bytes = KIND.pack(b"{}", b"tensors");
//! assert_eq!(KIND.unpack(&bytes).unwrap(), (&b"{}"[..], &b"tensors"[..]));
//! assert!(KIND.unpack(&bytes[..20]).unwrap_err().0.contains("truncated"));
//! ```
#![warn(missing_docs)]

use std::path::Path;

const HEADER: usize = 32;

/// What is wrong with a file's bytes, in words for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileError(pub String);

impl std::fmt::Display for FileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FileError {}

/// One kind of model file.
#[derive(Debug, Clone, Copy)]
pub struct Kind {
    /// The first eight bytes.
    pub magic: [u8; 8],
    /// The format version written; this one and older ones are read.
    pub version: u32,
    /// What the file holds, for messages ("shopml recommendation model").
    pub what: &'static str,
}

impl Kind {
    /// Packs metadata and a tensor blob into the container's bytes.
    pub fn pack(&self, meta: &[u8], tensors: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER + meta.len() + tensors.len());
        out.extend_from_slice(&self.magic);
        out.extend_from_slice(&self.version.to_le_bytes());
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

    /// Checks the container and returns `(metadata, tensor blob)`: a file that is truncated, corrupted,
    /// of another kind or written by a newer format version is an error saying which.
    pub fn unpack<'a>(&self, bytes: &'a [u8]) -> Result<(&'a [u8], &'a [u8]), FileError> {
        let bad = |s: String| Err(FileError(s));
        if bytes.len() < 8 || bytes[..8] != self.magic {
            return bad(format!("not a {} file (bad magic)", self.what));
        }
        if bytes.len() < HEADER {
            return bad(format!("truncated: {} bytes, the header alone is {HEADER}", bytes.len()));
        }
        let u32_at = |o: usize| u32::from_le_bytes(bytes[o..o + 4].try_into().expect("4 bytes"));
        let u64_at = |o: usize| u64::from_le_bytes(bytes[o..o + 8].try_into().expect("8 bytes"));
        let version = u32_at(8);
        if version > self.version {
            return bad(format!(
                "format version {version} is newer than this build reads ({}): upgrade shopml",
                self.version
            ));
        }
        if version == 0 {
            return bad("format version 0 does not exist".into());
        }
        let (meta_len, tensor_len) = (u64_at(16), u64_at(24));
        let expected = (HEADER as u64).checked_add(meta_len).and_then(|n| n.checked_add(tensor_len));
        match expected {
            Some(n) if n == bytes.len() as u64 => {}
            Some(n) if n > bytes.len() as u64 => {
                return bad(format!("truncated: {} bytes, the header announces {n}", bytes.len()))
            }
            _ => return bad(format!("{} bytes, but the header announces {expected:?}: corrupted", bytes.len())),
        }
        let body = &bytes[HEADER..];
        if crc32fast::hash(body) != u32_at(12) {
            return bad("checksum mismatch: the file is corrupted".into());
        }
        Ok(body.split_at(meta_len as usize))
    }
}

/// Writes `bytes` to `path` atomically and durably: a temporary file beside it (unique per process and
/// call), flushed to disk (`fsync`), renamed over `path`, then the directory flushed so the rename itself
/// survives a power cut. A crash never leaves a half-written model where a good one was, and a returned
/// `Ok` means the new file is on disk. The error names the path that failed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), (std::path::PathBuf, std::io::Error)> {
    use std::io::Write;
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "model".into());
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!(".{name}.tmp{}-{n}", std::process::id()));
    let written = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err((tmp, e));
    }
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        (path.to_path_buf(), e)
    })?;
    match sync_dir(dir) {
        // Some filesystems (FUSE, 9p, network shares) cannot fsync a directory: the file itself is on disk.
        Err(e) if matches!(e.kind(), std::io::ErrorKind::InvalidInput | std::io::ErrorKind::Unsupported) => Ok(()),
        other => other.map_err(|e| (dir.to_path_buf(), e)),
    }
}

/// Flushes a directory's entries (the rename) to disk; a no-op where directories cannot be opened (Windows).
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        std::fs::File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K: Kind = Kind { magic: *b"SHOPMLXX", version: 2, what: "test model" };

    #[test]
    fn write_atomic_replaces_the_file_and_leaves_no_temporary_files() {
        // A folder of its own: the other write test runs in parallel in the same process.
        let dir = std::env::temp_dir().join(format!("model-file-concurrent-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("m.bin");
        // Concurrent writers of one path never share a temporary file: the last rename wins whole.
        std::thread::scope(|s| {
            for i in 0..8u8 {
                let path = &path;
                s.spawn(move || write_atomic(path, &vec![i; 100_000]).unwrap());
            }
        });
        let got = std::fs::read(&path).unwrap();
        assert_eq!(got.len(), 100_000);
        assert!(got.iter().all(|&b| b == got[0]), "one writer's bytes, not a mix");
        let names: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, [std::ffi::OsString::from("m.bin")], "no temporary file left");
        let err = write_atomic(&dir.join("missing-dir").join("m.bin"), b"x").unwrap_err();
        assert!(err.0.to_string_lossy().contains("missing-dir"), "{err:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn round_trip_and_every_kind_of_damage() {
        let bytes = K.pack(b"{\"a\":1}", b"TENSORS");
        assert_eq!(K.unpack(&bytes).unwrap(), (&b"{\"a\":1}"[..], &b"TENSORS"[..]));
        let msg = |b: &[u8]| K.unpack(b).unwrap_err().0;
        assert!(msg(&bytes[..bytes.len() - 1]).contains("truncated"));
        assert!(msg(&bytes[..20]).contains("truncated"));
        assert!(msg(b"GIF89a....").contains("not a test model file"));
        let mut flipped = bytes.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert!(msg(&flipped).contains("checksum"));
        let mut newer = bytes.clone();
        newer[8..12].copy_from_slice(&3u32.to_le_bytes());
        assert!(msg(&newer).contains("newer"));
        let mut older = K.pack(b"{}", b"");
        older[8..12].copy_from_slice(&1u32.to_le_bytes());
        assert!(K.unpack(&older).is_ok(), "older versions are read");
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(msg(&longer).contains("corrupted"));
    }

    #[test]
    fn atomic_write_replaces_and_reports_the_path() {
        let dir = std::env::temp_dir().join(format!("model-file-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("m.bin");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        let err = write_atomic(&dir.join("no/such/dir/m.bin"), b"x").unwrap_err();
        assert!(err.0.to_string_lossy().contains("no/such/dir"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
