//! External string ids ↔ dense `u32` indices.

use std::collections::HashMap;

/// A bidirectional map between external ids (strings as the shop knows them) and dense indices `0..len`.
///
/// Indices are handed out in first-seen order, so loading the same file twice gives the same indices.
#[derive(Debug, Clone, Default)]
pub struct IdMap {
    index: HashMap<String, u32>,
    ids: Vec<String>,
}

impl IdMap {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// The index of `id`, adding it when it is new.
    pub fn get_or_insert(&mut self, id: &str) -> u32 {
        if let Some(&i) = self.index.get(id) {
            return i;
        }
        let i = u32::try_from(self.ids.len()).expect("more than u32::MAX ids");
        self.ids.push(id.to_owned());
        self.index.insert(id.to_owned(), i);
        i
    }

    /// The index of `id`, if known.
    pub fn get(&self, id: &str) -> Option<u32> {
        self.index.get(id).copied()
    }

    /// The external id of index `i`.
    ///
    /// # Panics
    /// When `i >= self.len()`.
    pub fn id(&self, i: u32) -> &str {
        &self.ids[i as usize]
    }

    /// Number of ids.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// All external ids in index order.
    pub fn ids(&self) -> &[String] {
        &self.ids
    }
}

impl FromIterator<String> for IdMap {
    fn from_iter<I: IntoIterator<Item = String>>(iter: I) -> Self {
        let mut m = IdMap::new();
        for id in iter {
            m.get_or_insert(&id);
        }
        m
    }
}
