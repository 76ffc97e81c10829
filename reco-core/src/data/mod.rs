//! The data model: interactions, items, id maps, sparse matrices and splits.

mod ids;
mod kinds;
mod matrix;
pub mod split;

pub use ids::IdMap;
pub(crate) use kinds::weigh;
pub use kinds::KindWeights;
pub use matrix::{interaction_matrix, InteractionMatrix};

use crate::error::{RecoError, Result};
use serde::{Deserialize, Serialize};

/// What the customer did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum EventKind {
    /// Looked at a product page.
    View,
    /// Clicked a product in search results.
    SearchClick,
    /// Put the product in the cart.
    AddToCart,
    /// Bought the product (also used for ratings and listens in public datasets).
    #[default]
    Purchase,
}

impl EventKind {
    /// Parses `view`, `search-click`, `add-to-cart`, `purchase` (also `_` for `-`, any case).
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "view" => Some(EventKind::View),
            "search-click" | "click" => Some(EventKind::SearchClick),
            "add-to-cart" | "cart" => Some(EventKind::AddToCart),
            "purchase" | "buy" => Some(EventKind::Purchase),
            _ => None,
        }
    }
}

/// One implicit-feedback event, with dense indices into the dataset's [`IdMap`]s.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interaction {
    /// Dense user index.
    pub user: u32,
    /// Dense item index.
    pub item: u32,
    /// Seconds since the epoch, or any monotone order key (sequence position for S3-Rec files).
    pub timestamp: i64,
    /// What happened.
    pub kind: EventKind,
    /// Strength of the signal (quantity, rating, 1.0): finite and > 0.
    pub weight: f32,
}

/// Side information about an item.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ItemMeta {
    /// Category name, if any.
    pub category: Option<String>,
    /// Unit price, if known.
    pub price: Option<f32>,
    /// Attribute ids (brand, category, genre flags ...).
    pub attributes: Vec<u32>,
    /// Product title / description text.
    pub text: Option<String>,
    /// An embedding of `text` from a sentence encoder (the CLI's `--encoder`), read by `content` with
    /// `text=encoder`. Not saved in model files (the fitted content vectors hold it).
    #[serde(default, skip_serializing)]
    pub text_vector: Option<Vec<f32>>,
}

/// Interactions plus the id maps and item metadata that give them meaning.
#[derive(Debug, Clone, Default)]
pub struct Dataset {
    /// A short name (the file stem) for reports.
    pub(crate) name: String,
    /// User ids.
    pub(crate) users: IdMap,
    /// Item ids.
    pub(crate) items: IdMap,
    /// Events in the order they were read.
    pub(crate) interactions: Vec<Interaction>,
    /// Metadata per item index (same length as `items`).
    pub(crate) item_meta: Vec<ItemMeta>,
}

/// The id maps, events and metadata are read through accessors and grown only by [`push`](Dataset::push):
/// an event always refers to ids the maps hold, and there is one metadata entry per item.
impl Dataset {
    /// An empty dataset called `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Dataset { name: name.into(), ..Default::default() }
    }

    /// Its short name (the file stem) for reports.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// User ids.
    pub fn users(&self) -> &IdMap {
        &self.users
    }

    /// Item ids.
    pub fn items(&self) -> &IdMap {
        &self.items
    }

    /// Events in the order they were read.
    pub fn interactions(&self) -> &[Interaction] {
        &self.interactions
    }

    /// Metadata per item index (same length as [`items`](Self::items)).
    pub fn item_meta(&self) -> &[ItemMeta] {
        &self.item_meta
    }

    /// The same ids and metadata with other events (a split's training part): each must refer to a
    /// user and an item of this dataset and carry a finite, positive weight.
    pub fn with_interactions(&self, interactions: Vec<Interaction>) -> Result<Dataset> {
        for e in &interactions {
            if e.user as usize >= self.users.len() || e.item as usize >= self.items.len() {
                return Err(RecoError::param(
                    "interactions",
                    format!("user {} / item {} out of range", e.user, e.item),
                ));
            }
            check_weight(e.weight)?;
        }
        Ok(Dataset {
            name: self.name.clone(),
            users: self.users.clone(),
            items: self.items.clone(),
            interactions,
            item_meta: self.item_meta.clone(),
        })
    }

    /// Metadata per item, to fill in (category, price, text…): one entry per item, whose number only
    /// [`push`](Self::push) changes.
    pub fn item_meta_mut(&mut self) -> &mut [ItemMeta] {
        &mut self.item_meta
    }

    /// Number of users.
    pub fn n_users(&self) -> usize {
        self.users.len()
    }

    /// Number of items.
    pub fn n_items(&self) -> usize {
        self.items.len()
    }

    /// Adds an event by external ids. Ids must not be empty (or only spaces); the weight must be finite
    /// and positive.
    pub fn push(&mut self, user: &str, item: &str, timestamp: i64, kind: EventKind, weight: f32) -> Result<()> {
        check_weight(weight)?;
        check_id("user", user)?;
        check_id("item", item)?;
        let user = self.users.get_or_insert(user);
        let item = self.item_index(item);
        self.interactions.push(Interaction { user, item, timestamp, kind, weight });
        Ok(())
    }

    /// A dataset from a users × items matrix in CSR form (`indptr` of `rows + 1` offsets, column
    /// `indices` and `weights` per stored entry), as scipy and `implicit` hold it: row `u` is user id
    /// `"u"`, column `i` item id `"i"`, each stored entry one interaction (timestamp 0). Ids are made
    /// once per row / column that has an entry, not per entry. Weights must be finite and > 0 (drop
    /// explicit zeros first).
    pub fn from_csr(name: impl Into<String>, indptr: &[usize], indices: &[u32], weights: &[f32]) -> Result<Self> {
        if indices.len() != weights.len() {
            return Err(RecoError::param(
                "weights",
                format!("{} weights for {} entries", weights.len(), indices.len()),
            ));
        }
        if indptr.first() != Some(&0) || indptr.last() != Some(&indices.len()) || indptr.windows(2).any(|w| w[0] > w[1])
        {
            return Err(RecoError::param("indptr", "not the row offsets of the entries (0 … nnz, non-decreasing)"));
        }
        let mut d = Dataset::new(name);
        d.interactions.reserve(indices.len());
        // column → item index: a table when the column numbers are compact, a map when they are sparse
        // and huge (a table sized by one column number 4e9 would be 16 GB)
        let max_col = indices.iter().copied().max().unwrap_or(0) as usize;
        let mut table = if max_col <= 2 * indices.len() + 1024 { vec![u32::MAX; max_col + 1] } else { Vec::new() };
        let mut cols: std::collections::HashMap<u32, u32> = std::collections::HashMap::new();
        for (row, w) in indptr.windows(2).enumerate() {
            if w[0] == w[1] {
                continue;
            }
            let user = d.users.get_or_insert(&row.to_string());
            for e in w[0]..w[1] {
                check_weight(weights[e]).map_err(|err| RecoError::param("weights", format!("entry {e}: {err}")))?;
                let col = indices[e];
                let known = match table.get(col as usize) {
                    Some(&i) => (i != u32::MAX).then_some(i),
                    None => cols.get(&col).copied(),
                };
                let item = match known {
                    Some(i) => i,
                    None => {
                        let i = d.item_index(&col.to_string());
                        match table.get_mut(col as usize) {
                            Some(slot) => *slot = i,
                            None => drop(cols.insert(col, i)),
                        }
                        i
                    }
                };
                d.interactions.push(Interaction {
                    user,
                    item,
                    timestamp: 0,
                    kind: EventKind::Purchase,
                    weight: weights[e],
                });
            }
        }
        Ok(d)
    }

    /// The index of an item id, adding it (with empty metadata) when new.
    pub fn item_index(&mut self, item: &str) -> u32 {
        let i = self.items.get_or_insert(item);
        if self.item_meta.len() < self.items.len() {
            self.item_meta.resize(self.items.len(), ItemMeta::default());
        }
        i
    }

    /// Sets an item's metadata, adding the item when new: each field given replaces the stored one,
    /// `None` keeps it. The id must not be empty; a price must be finite and ≥ 0. Returns the item's index.
    pub fn describe_item(
        &mut self,
        item: &str,
        category: Option<String>,
        price: Option<f32>,
        text: Option<String>,
    ) -> Result<u32> {
        check_id("item", item)?;
        if let Some(p) = price.filter(|p| !p.is_finite() || *p < 0.0) {
            return Err(RecoError::param("price", format!("must be finite and ≥ 0, got {p}")));
        }
        let j = self.item_index(item);
        let meta = &mut self.item_meta[j as usize];
        meta.category = category.or(meta.category.take());
        meta.price = price.or(meta.price);
        meta.text = text.or(meta.text.take());
        Ok(j)
    }

    /// Fails with [`RecoError::EmptyData`] when there is no interaction.
    pub fn ensure_not_empty(&self) -> Result<()> {
        if self.interactions.is_empty() {
            return Err(RecoError::EmptyData(format!("dataset `{}` has no interactions", self.name)));
        }
        Ok(())
    }

    /// The user × item matrix of all interactions (weights of repeated pairs summed).
    pub fn matrix(&self) -> InteractionMatrix {
        interaction_matrix(&self.interactions, self.n_users(), self.n_items())
    }
}

/// Rejects empty (or blank) ids: they would collide with the padding of string-id batches.
fn check_id(what: &str, id: &str) -> Result<()> {
    if id.trim().is_empty() {
        return Err(RecoError::param(what, "ids must not be empty"));
    }
    Ok(())
}

/// Rejects NaN, infinite, zero and negative weights.
pub fn check_weight(weight: f32) -> Result<()> {
    if !weight.is_finite() || weight <= 0.0 {
        return Err(RecoError::param("weight", format!("must be finite and > 0, got {weight}")));
    }
    Ok(())
}
