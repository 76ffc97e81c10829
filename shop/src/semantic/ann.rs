//! The HNSW index over product vectors, kept up to date in place: a refresh removes the products that
//! left the catalogue or changed text and inserts the new and changed ones (reco-core's
//! `InnerProductIndex::insert`/`remove`), instead of building the graph again. Removed nodes stay in the
//! graph as waypoints; once they would make up a quarter of it, the refresh builds a fresh graph.

use ndarray::Array2;
use reco_core::ann::{AnnParams, InnerProductIndex};
use reco_core::RecoError;
use std::collections::HashMap;

/// The index and which product each of its items is.
pub struct ProductIndex {
    index: InnerProductIndex,
    /// Index item → product id.
    products: Vec<i64>,
    /// Product id → its live item.
    items: HashMap<i64, u32>,
}

impl std::fmt::Debug for ProductIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProductIndex").field("index", &self.index).finish_non_exhaustive()
    }
}

impl ProductIndex {
    /// A new graph over `vectors` (row `r`: product `ids[r]`).
    pub fn build(ids: &[i64], vectors: &Array2<f32>) -> Result<Self, RecoError> {
        let index = InnerProductIndex::build(vectors, AnnParams::default())?;
        let items = ids.iter().enumerate().map(|(i, &p)| (p, i as u32)).collect();
        Ok(ProductIndex { index, products: ids.to_vec(), items })
    }

    /// Brings the index to exactly `ids`/`vectors` and returns how many products were inserted; `None`
    /// (nothing changed) when so many nodes would be removed that a fresh build is the better graph.
    pub fn update(&mut self, ids: &[i64], vectors: &Array2<f32>) -> Result<Option<usize>, RecoError> {
        let current: HashMap<i64, usize> = ids.iter().enumerate().map(|(r, &p)| (p, r)).collect();
        // Products gone, or whose vector changed (their text did).
        let stale: std::collections::HashSet<u32> = self
            .items
            .iter()
            .filter(|&(p, &item)| {
                current.get(p).is_none_or(|&r| !vectors.row(r).iter().eq(self.index.vector(item as usize).iter()))
            })
            .map(|(_, &item)| item)
            .collect();
        let insert: Vec<usize> =
            (0..ids.len()).filter(|&r| self.items.get(&ids[r]).is_none_or(|item| stale.contains(item))).collect();
        if (self.index.removed() + stale.len()) * 4 > self.index.len() + insert.len() {
            return Ok(None);
        }
        for item in stale {
            self.index.remove(item as usize)?;
            self.items.remove(&self.products[item as usize]);
        }
        for &r in &insert {
            let item = self.index.insert(&vectors.row(r).to_vec())?;
            self.products.push(ids[r]);
            self.items.insert(ids[r], item as u32);
        }
        Ok(Some(insert.len()))
    }

    /// The `n` products with the largest `q · v`, as `(product id, score)`, best first.
    pub fn search(&self, q: &[f32], n: usize) -> Result<Vec<(i64, f32)>, RecoError> {
        let hits = self.index.search(q, n, Some(n.max(64) * 2), None)?;
        Ok(hits.into_iter().map(|(i, s)| (self.products[i as usize], s)).collect())
    }

    /// Live products in the index.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.items.len()
    }

    /// Nodes in the graph (live and removed).
    #[cfg(test)]
    fn nodes(&self) -> usize {
        self.index.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vectors(n: usize, seed: u64) -> Array2<f32> {
        // A small deterministic generator (no rand dependency in the shop).
        let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        Array2::from_shape_fn((n, 16), |_| {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((x >> 40) as f32 / (1u64 << 24) as f32) - 0.5
        })
    }

    fn exact(ids: &[i64], v: &Array2<f32>, q: &[f32], n: usize) -> Vec<i64> {
        let mut s: Vec<(i64, f32)> =
            v.rows().into_iter().zip(ids).map(|(r, &p)| (p, r.iter().zip(q).map(|(a, b)| a * b).sum())).collect();
        s.sort_by(|a, b| b.1.total_cmp(&a.1));
        s.into_iter().take(n).map(|x| x.0).collect()
    }

    /// Products added, edited and removed between refreshes: the updated index answers like a fresh one
    /// (recall@10 against exact scoring), never returns a removed or stale product, and rebuilds once too
    /// much of it is removed.
    #[test]
    fn updates_in_place_match_the_catalogue() {
        let ids: Vec<i64> = (1..=3_000).collect();
        let v = vectors(3_000, 1);
        let mut index = ProductIndex::build(&ids, &v).unwrap();
        // Products 1..=200 leave, 201..=400 get new text (new vectors), 3001..=3300 are new.
        let edited = vectors(200, 2);
        let added = vectors(300, 3);
        let mut ids2: Vec<i64> = (201..=3_300).collect();
        let mut v2 = Array2::zeros((ids2.len(), 16));
        for (r, &p) in ids2.iter().enumerate() {
            let src = match p {
                201..=400 => edited.row((p - 201) as usize),
                3_001.. => added.row((p - 3_001) as usize),
                _ => v.row((p - 1) as usize),
            };
            v2.row_mut(r).assign(&src);
        }
        assert_eq!(index.update(&ids2, &v2).unwrap(), Some(500));
        assert_eq!((index.len(), index.nodes()), (3_100, 3_500));
        let (mut hits, mut total) = (0, 0);
        for q in vectors(100, 4).rows() {
            let q = q.as_slice().unwrap();
            let got = index.search(q, 10).unwrap();
            assert!(got.iter().all(|&(p, _)| p > 200), "a removed product came back: {got:?}");
            let distinct: std::collections::HashSet<i64> = got.iter().map(|h| h.0).collect();
            assert_eq!(distinct.len(), got.len(), "a product twice (a stale copy): {got:?}");
            for &(p, s) in &got {
                let r = ids2.iter().position(|&x| x == p).unwrap();
                let now: f32 = v2.row(r).iter().zip(q).map(|(a, b)| a * b).sum();
                assert!((s - now).abs() < 1e-4, "product {p} scored with an old vector: {s} vs {now}");
            }
            let want = exact(&ids2, &v2, q, 10);
            hits += got.iter().filter(|(p, _)| want.contains(p)).count();
            total += 10;
        }
        assert!(hits as f64 / total as f64 >= 0.95, "recall@10 after the update {hits}/{total}");
        // An edited product is found by its new vector, not its old one.
        let found = index.search(edited.row(0).as_slice().unwrap(), 3_100).unwrap();
        let s201 = found.iter().find(|h| h.0 == 201).unwrap().1;
        let new_dot: f32 = edited.row(0).iter().map(|x| x * x).sum();
        assert!((s201 - new_dot).abs() < 1e-4, "{s201} vs {new_dot}");
        // No change: nothing inserted. Removing most of it: a rebuild is asked for.
        assert_eq!(index.update(&ids2, &v2).unwrap(), Some(0));
        ids2.truncate(1_000);
        assert_eq!(index.update(&ids2, &v2.select(ndarray::Axis(0), &(0..1_000).collect::<Vec<_>>())).unwrap(), None);
    }
}
