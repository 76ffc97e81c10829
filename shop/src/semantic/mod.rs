//! Semantic product search: a sentence encoder (all-MiniLM-L6-v2 by default, see `scripts/fetch-minilm`)
//! embeds every active product's text once — the vectors are kept in `product_vectors`, so a restart
//! embeds only products whose text changed — and a query's embedding is compared with them by cosine.
//!
//! Catalogues up to [`ANN_MIN`] products are scanned exactly (4,000 × 384 multiply-adds take ~0.3 ms);
//! larger ones are searched through reco-core's HNSW index. Product edits mark the index stale; the next
//! search first embeds what changed (read-your-writes: a product is findable by meaning as soon as its
//! creation has returned), and concurrent searches wait for that refresh rather than answer from the old
//! index. The refresh re-reads every active product's stored vector; from [`ANN_MIN`] products on, it
//! updates the HNSW graph in place (`ann.rs`: changed and new products inserted, gone ones removed)
//! instead of building it again.

mod ann;

use crate::db::Db;
use crate::error::{ApiError, ApiResult};
use ann::ProductIndex;
use ndarray::{Array2, ArrayView1};
use sha2::{Digest, Sha256};
use shopml_encoder::Encoder;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// From this many products on, searches go through an HNSW index instead of an exact scan.
pub const ANN_MIN: usize = 20_000;

/// The text of a product that is embedded: its name, then its description (what a dealer wrote).
pub fn product_text(name: &str, description: &str) -> String {
    match description.trim() {
        "" => name.trim().to_string(),
        d => format!("{}. {d}", name.trim()),
    }
}

/// A product on sale with its stored vector, if any: `(id, name, description, digest, vector)`.
type StoredRow = (i64, String, String, Option<Vec<u8>>, Option<Vec<u8>>);

struct Snapshot {
    /// The catalogue version it was built from ([`Semantic::mark_stale`] bumps the wanted one).
    built: u64,
    ids: Vec<i64>,
    vectors: Array2<f32>,
    /// From [`ANN_MIN`] products: the graph, shared with the snapshots before it and updated in place
    /// (a refresh holds its write lock while it inserts; a search that finds it locked scans instead).
    ann: Option<Arc<parking_lot::RwLock<ProductIndex>>>,
}

/// The encoder and the current product vectors.
pub struct Semantic {
    encoder: Arc<Encoder>,
    snapshot: parking_lot::RwLock<Arc<Snapshot>>,
    /// The catalogue version searches must see (bumped by every product change).
    wanted: AtomicU64,
    refreshing: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Semantic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Semantic").field("encoder", &self.encoder).field("products", &self.len()).finish()
    }
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(format!("semantic search: {e}"))
}

impl Semantic {
    /// Loads the encoder in `dir` (a typed error naming a missing or corrupt file). Call
    /// [`refresh`](Semantic::refresh) before the first search.
    pub fn load(dir: &Path) -> Result<Semantic, shopml_encoder::EncoderError> {
        let encoder = Arc::new(Encoder::load(dir)?);
        let empty = Snapshot { built: 0, ids: Vec::new(), vectors: Array2::zeros((0, encoder.dim())), ann: None };
        Ok(Semantic {
            encoder,
            snapshot: parking_lot::RwLock::new(Arc::new(empty)),
            wanted: AtomicU64::new(1),
            refreshing: tokio::sync::Mutex::new(()),
        })
    }

    /// Products in the current index.
    pub fn len(&self) -> usize {
        self.snapshot.read().ids.len()
    }

    /// Whether the index holds no product.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A product was created, edited or removed (call after the change is committed): every search that
    /// starts from now on waits for an index that includes it.
    pub fn mark_stale(&self) {
        self.wanted.fetch_add(1, Ordering::SeqCst);
    }

    fn is_stale(&self) -> bool {
        self.snapshot.read().built < self.wanted.load(Ordering::SeqCst)
    }

    /// Re-reads the active products, embeds those without a current vector (stored in `product_vectors`)
    /// and swaps in the new index. Returns how many texts were embedded.
    pub async fn refresh(&self, db: &Db) -> ApiResult<usize> {
        self.refresh_if(db, false).await
    }

    /// [`refresh`](Self::refresh) under the rebuild lock; with `only_stale`, nothing when another search
    /// rebuilt the index while this one waited for the lock.
    async fn refresh_if(&self, db: &Db, only_stale: bool) -> ApiResult<usize> {
        let _turn = self.refreshing.lock().await;
        if only_stale && !self.is_stale() {
            return Ok(0);
        }
        // Read before the products: a change committed after this read bumps `wanted` past it. A failed
        // rebuild leaves the old snapshot (and `built`) in place, so the next search tries again.
        let version = self.wanted.load(Ordering::SeqCst);
        self.rebuild(db, version).await
    }

    async fn rebuild(&self, db: &Db, version: u64) -> ApiResult<usize> {
        let rows: Vec<StoredRow> = sqlx::query_as(
            "SELECT p.id, p.name, p.description, v.digest, v.vector FROM products p
             LEFT JOIN product_vectors v ON v.product_id = p.id WHERE p.active = 1 ORDER BY p.id",
        )
        .fetch_all(db)
        .await?;
        let dim = self.encoder.dim();
        let fingerprint = self.encoder.fingerprint().to_string();
        let mut vectors = Array2::<f32>::zeros((rows.len(), dim));
        let mut todo: Vec<(usize, String, Vec<u8>)> = Vec::new();
        for (r, (_, name, description, digest, vector)) in rows.iter().enumerate() {
            let text = product_text(name, description);
            let want = Sha256::new().chain_update(&fingerprint).chain_update([0u8]).chain_update(&text).finalize();
            match (digest, vector) {
                (Some(d), Some(v)) if d.as_slice() == want.as_slice() && v.len() == dim * 4 => {
                    let row = v.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]));
                    vectors.row_mut(r).iter_mut().zip(row).for_each(|(o, x)| *o = x);
                }
                _ => todo.push((r, text, want.to_vec())),
            }
        }
        let embedded = todo.len();
        if !todo.is_empty() {
            let encoder = self.encoder.clone();
            let texts: Vec<String> = todo.iter().map(|t| t.1.clone()).collect();
            let fresh = tokio::task::spawn_blocking(move || {
                encoder.embed(&texts.iter().map(String::as_str).collect::<Vec<_>>())
            })
            .await
            .map_err(internal)?
            .map_err(internal)?;
            let mut tx = crate::db::write_tx(db).await?;
            for (j, (r, _, digest)) in todo.iter().enumerate() {
                vectors.row_mut(*r).assign(&fresh.row(j));
                let bytes: Vec<u8> = fresh.row(j).iter().flat_map(|x| x.to_le_bytes()).collect();
                sqlx::query(
                    "INSERT INTO product_vectors (product_id, digest, vector) VALUES ($1, $2, $3) \
                     ON CONFLICT (product_id) DO UPDATE SET digest = excluded.digest, vector = excluded.vector",
                )
                .bind(rows[*r].0)
                .bind(digest)
                .bind(bytes)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
        }
        let ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
        let previous = self.snapshot.read().ann.clone();
        let snapshot = tokio::task::spawn_blocking(move || -> ApiResult<Snapshot> {
            // Update the previous graph in place when there is one and it is not too pruned; else build.
            let updated = match previous {
                Some(index) if ids.len() >= ANN_MIN => {
                    let inserted = index.write().update(&ids, &vectors).map_err(internal)?;
                    inserted.map(|_| index)
                }
                _ => None,
            };
            let ann = match (updated, ids.len() >= ANN_MIN) {
                (Some(index), _) => Some(index),
                (None, true) => {
                    Some(Arc::new(parking_lot::RwLock::new(ProductIndex::build(&ids, &vectors).map_err(internal)?)))
                }
                (None, false) => None,
            };
            Ok(Snapshot { built: version, ids, vectors, ann })
        })
        .await
        .map_err(internal)??;
        *self.snapshot.write() = Arc::new(snapshot);
        Ok(embedded)
    }

    /// The ids of the `n` active products nearest to `query` by meaning, nearest first, with their
    /// cosine similarity. Refreshes first when a product changed since the last refresh.
    pub async fn nearest(&self, db: &Db, query: &str, n: usize) -> ApiResult<Vec<(i64, f32)>> {
        if self.is_stale() {
            self.refresh_if(db, true).await?;
        }
        let encoder = self.encoder.clone();
        let text = query.to_string();
        let q = tokio::task::spawn_blocking(move || encoder.embed(&[text.as_str()]))
            .await
            .map_err(internal)?
            .map_err(internal)?;
        let snapshot = self.snapshot.read().clone();
        let q = q.row(0);
        let n = n.min(snapshot.ids.len());
        if n == 0 {
            return Ok(Vec::new());
        }
        // While a refresh inserts into the shared graph (write lock), searches of this snapshot scan its
        // own vectors: exact, and no runtime thread waits on the lock.
        if let Some(index) = snapshot.ann.as_ref().and_then(|a| a.try_read()) {
            return index.search(&q.to_vec(), n).map_err(internal);
        }
        let hits = scan(&snapshot.vectors, q, n);
        Ok(hits.into_iter().map(|(i, s)| (snapshot.ids[i as usize], s)).collect())
    }
}

/// The `n` rows of `vectors` with the largest dot product with `q`, best first (ties: lower row first).
fn scan(vectors: &Array2<f32>, q: ArrayView1<'_, f32>, n: usize) -> Vec<(u32, f32)> {
    let scores = vectors.dot(&q);
    let mut all: Vec<(u32, f32)> = scores.iter().enumerate().map(|(i, &s)| (i as u32, s)).collect();
    let by = |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
    if n < all.len() {
        all.select_nth_unstable_by(n - 1, by);
        all.truncate(n);
    }
    all.sort_unstable_by(by);
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_orders_by_dot_product() {
        let v = Array2::from_shape_vec((4, 2), vec![1.0, 0.0, 0.0, 1.0, 0.6, 0.8, 0.8, 0.6]).unwrap();
        let q = ndarray::arr1(&[1.0f32, 0.0]);
        let top = scan(&v, q.view(), 3);
        assert_eq!(top.iter().map(|x| x.0).collect::<Vec<_>>(), vec![0, 3, 2]);
        assert_eq!(scan(&v, q.view(), 10).len(), 4);
    }

    #[test]
    fn product_text_skips_an_empty_description() {
        assert_eq!(product_text(" Tea cosy ", ""), "Tea cosy");
        assert_eq!(product_text("Tea cosy", "keeps a pot warm"), "Tea cosy. keeps a pot warm");
    }
}
