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
    entries: parking_lot::Mutex<lru::LruCache<String, Entry>>,
}

impl std::fmt::Debug for SearchCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchCache").field("ttl", &self.ttl).field("entries", &self.entries.lock().len()).finish()
    }
}

/// Searches kept at most.
pub const CAPACITY: usize = 4096;

impl SearchCache {
    /// A cache keeping answers for `ttl` (zero: nothing is kept).
    pub fn new(ttl: Duration) -> Self {
        SearchCache {
            ttl,
            generation: AtomicU64::new(0),
            entries: parking_lot::Mutex::new(lru::LruCache::new(NonZeroUsize::new(CAPACITY).expect("non-zero"))),
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
        match entries.get(key) {
            Some(e) if e.generation == generation && e.at.elapsed() < self.ttl => Some(e.body.clone()),
            _ => None,
        }
    }

    /// Keeps `body` as the answer to `key`, computed from the catalogue of `generation`.
    pub fn put(&self, key: String, generation: u64, body: Bytes) {
        if self.ttl.is_zero() || generation != self.generation() {
            return;
        }
        self.entries.lock().put(key, Entry { generation, at: Instant::now(), body });
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
        let off = SearchCache::new(Duration::ZERO);
        off.put("k".into(), off.generation(), Bytes::from_static(b"x"));
        assert_eq!(off.get("k"), None);
    }
}
