//! The embedding cache: text → embedding, keyed by a 64-bit hash of the text, bounded (when full it is
//! emptied — a cheap bound; the texts worth caching, product titles and frequent questions, return).

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, RwLock};

/// A bounded text → embedding cache.
#[derive(Debug)]
pub struct Cache {
    map: RwLock<HashMap<u64, Arc<[f32]>>>,
    cap: usize,
}

fn key(text: &str) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut h);
    h.finish()
}

impl Cache {
    /// An empty cache holding at most `cap` embeddings.
    pub fn new(cap: usize) -> Self {
        Cache { map: RwLock::default(), cap }
    }

    /// The cached embedding of `text`.
    pub fn get(&self, text: &str) -> Option<Arc<[f32]>> {
        self.map.read().unwrap_or_else(|e| e.into_inner()).get(&key(text)).cloned()
    }

    /// Caches `v` as the embedding of `text`.
    pub fn put(&self, text: &str, v: &[f32]) {
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        if map.len() >= self.cap {
            map.clear();
        }
        map.insert(key(text), Arc::from(v));
    }
}
