//! Answers of `GET /products` kept for a short time: the same search (same parameters, not personalised)
//! within [`Config::search_cache_ms`](crate::config::Config::search_cache_ms) gets the same bytes without
//! touching the database. A product created, edited or taken off sale through the API empties it at once
//! (a generation counter); stock and sales changed by checkouts and cancellations show after at most the
//! time-to-live — the product page, the cart and checkout always read the database.
//!
//! Why: a keyword search costs two FTS5 queries (the count and the BM25-ordered page, 0.3–0.8 ms on the
//! demo catalogue) plus sqlx's round trips to its connection thread; shoppers repeat the same few searches.

use bytes::Bytes;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

struct Entry {
    generation: u64,
    at: Instant,
    body: Bytes,
}

/// The cache (one per shop process).
pub struct SearchCache {
    ttl: Duration,
    generation: AtomicU64,
    entries: parking_lot::Mutex<Entries>,
}

struct Entries {
    lru: lru::LruCache<String, Entry>,
    /// Bytes of the kept answers and keys.
    bytes: usize,
}

impl std::fmt::Debug for SearchCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let e = self.entries.lock();
        f.debug_struct("SearchCache")
            .field("ttl", &self.ttl)
            .field("entries", &e.lru.len())
            .field("bytes", &e.bytes)
            .finish()
    }
}

/// Searches kept at most.
pub const CAPACITY: usize = 4096;
/// Bytes of answers kept at most (least recently used dropped first).
pub const BUDGET: usize = 64 << 20;

impl SearchCache {
    /// A cache keeping answers for `ttl` (zero: nothing is kept).
    pub fn new(ttl: Duration) -> Self {
        SearchCache {
            ttl,
            generation: AtomicU64::new(0),
            entries: parking_lot::Mutex::new(Entries {
                lru: lru::LruCache::new(NonZeroUsize::new(CAPACITY).expect("non-zero")),
                bytes: 0,
            }),
        }
    }

    /// The current generation: read it before computing an answer and give it to [`put`](Self::put), so
    /// an answer computed across a catalogue change is never served after it.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// The catalogue changed (call after the change is committed): every kept answer is dropped.
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// The kept answer to `key`, if it is fresh.
    pub fn get(&self, key: &str) -> Option<Bytes> {
        if self.ttl.is_zero() {
            return None;
        }
        let generation = self.generation();
        let mut entries = self.entries.lock();
        match entries.lru.get(key) {
            Some(e) if e.generation == generation && e.at.elapsed() < self.ttl => Some(e.body.clone()),
            Some(_) => {
                // Expired or from an older catalogue: drop it now rather than when the LRU gets to it.
                if let Some((k, e)) = entries.lru.pop_entry(key) {
                    entries.bytes -= k.len() + e.body.len();
                }
                None
            }
            None => None,
        }
    }

    /// Keeps `body` as the answer to `key`, computed from the catalogue of `generation`.
    pub fn put(&self, key: String, generation: u64, body: Bytes) {
        if self.ttl.is_zero() || generation != self.generation() {
            return;
        }
        let size = key.len() + body.len();
        if size > BUDGET / 16 {
            return; // one answer may not take a large share of the budget
        }
        let mut entries = self.entries.lock();
        if let Some((k, old)) = entries.lru.push(key, Entry { generation, at: Instant::now(), body }) {
            // `push` hands back the replaced entry (same key) or the evicted least recent one.
            entries.bytes -= k.len() + old.body.len();
        }
        entries.bytes += size;
        while entries.bytes > BUDGET {
            match entries.lru.pop_lru() {
                Some((k, e)) => entries.bytes -= k.len() + e.body.len(),
                None => break,
            }
        }
    }

    /// Bytes of the kept answers and their keys.
    pub fn bytes(&self) -> usize {
        self.entries.lock().bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_expire_and_a_catalogue_change_drops_them() {
        let c = SearchCache::new(Duration::from_millis(50));
        let g = c.generation();
        c.put("q=heart".into(), g, Bytes::from_static(b"a"));
        assert_eq!(c.get("q=heart").as_deref(), Some(&b"a"[..]));
        assert_eq!(c.get("q=bag"), None);
        c.invalidate();
        assert_eq!(c.get("q=heart"), None, "edited catalogue");
        // An answer computed before a change is not kept.
        c.put("q=heart".into(), g, Bytes::from_static(b"old"));
        assert_eq!(c.get("q=heart"), None);
        c.put("q=heart".into(), c.generation(), Bytes::from_static(b"b"));
        assert!(c.get("q=heart").is_some());
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(c.get("q=heart"), None, "expired");
        assert_eq!(c.bytes(), 0, "the expired answer was dropped when asked for");
        // Replacing an answer and evicting keep the byte count exact.
        c.put("a".into(), c.generation(), Bytes::from(vec![0u8; 10]));
        c.put("a".into(), c.generation(), Bytes::from(vec![0u8; 4]));
        assert_eq!(c.bytes(), 1 + 4);
        let big = Bytes::from(vec![0u8; BUDGET / 16 - 10]);
        for i in 0..40 {
            c.put(format!("big{i}"), c.generation(), big.clone());
        }
        assert!(c.bytes() <= BUDGET, "{} bytes kept", c.bytes());
        let off = SearchCache::new(Duration::ZERO);
        off.put("k".into(), off.generation(), Bytes::from_static(b"x"));
        assert_eq!(off.get("k"), None);
    }
}
