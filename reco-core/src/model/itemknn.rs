//! Item-based k-nearest neighbours: `score(u, j) = Σ_{i ∈ items(u)} ln(1 + r_ui) · sim(i, j)`, with each
//! item keeping only its `k` most similar items.

use super::{check_f32, check_range, check_train, damp, Recommender};
use crate::data::InteractionMatrix;
use crate::error::Result;
use rayon::prelude::*;
use sprs::CsMat;

/// How item vectors (columns of the user × item matrix) are weighted and compared.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Similarity {
    /// Cosine of the raw (damped) vectors: `a·b / (|a||b| + shrink)`.
    Cosine,
    /// TF-IDF weighting (users as terms), then cosine.
    TfIdf,
    /// Okapi BM25 weighting (users as terms, items as documents), then the plain dot product, as
    /// `implicit`'s `BM25Recommender` does.
    Bm25 {
        /// Term-frequency saturation (> 0).
        k1: f32,
        /// Length normalisation in [0, 1].
        b: f32,
    },
}

impl std::str::FromStr for Similarity {
    type Err = crate::RecoError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "cosine" => Ok(Similarity::Cosine),
            "tfidf" => Ok(Similarity::TfIdf),
            "bm25" => Ok(Similarity::Bm25 { k1: 1.2, b: 0.75 }),
            o => Err(crate::RecoError::param("similarity", format!("`{o}` is not one of cosine, tfidf, bm25"))),
        }
    }
}

/// Item-kNN hyper-parameters. Defaults (chosen on the Beauty validation split, see `benches/README.md`):
/// `neighbours 100, similarity BM25 (k1 1.2, b 0.75), shrink 0`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ItemKnnParams {
    neighbours: usize,
    similarity: Similarity,
    shrink: f32,
}

impl Default for ItemKnnParams {
    fn default() -> Self {
        ItemKnnParams { neighbours: 100, similarity: Similarity::Bm25 { k1: 1.2, b: 0.75 }, shrink: 0.0 }
    }
}

/// A fitted item-kNN model: each item's `k` nearest items plus the training interactions.
#[derive(Debug, Clone)]
pub struct ItemKnn {
    similarity: Neighbours,
    history: CsMat<f32>,
}

/// Each item's nearest items and similarities (a CSR matrix whose rows are not sorted).
#[derive(Debug, Clone, Default)]
pub struct Neighbours {
    indptr: Vec<usize>,
    indices: Vec<u32>,
    data: Vec<f32>,
}

impl Neighbours {
    /// `(item, similarity)` of `i`'s neighbours, in no particular order.
    pub fn row(&self, i: usize) -> impl Iterator<Item = (u32, f32)> + '_ {
        let r = self.indptr[i]..self.indptr[i + 1];
        self.indices[r.clone()].iter().copied().zip(self.data[r].iter().copied())
    }

    /// The similarity of `i` to `j`, if `j` is among `i`'s neighbours.
    pub fn get(&self, i: usize, j: usize) -> Option<f32> {
        self.row(i).find(|&(n, _)| n as usize == j).map(|(_, s)| s)
    }

    /// `(indptr, indices, similarities)` of the CSR layout.
    pub fn parts(&self) -> (&[usize], &[u32], &[f32]) {
        (&self.indptr, &self.indices, &self.data)
    }

    /// Rebuilds neighbour lists from [`parts`](Self::parts), checking their consistency.
    pub fn from_parts(indptr: Vec<usize>, indices: Vec<u32>, data: Vec<f32>) -> std::result::Result<Self, String> {
        let n = indptr.len().checked_sub(1).ok_or("empty indptr")?;
        if indptr[0] != 0
            || indptr.windows(2).any(|w| w[0] > w[1])
            || indptr[n] != indices.len()
            || indices.len() != data.len()
        {
            return Err("inconsistent neighbour offsets".into());
        }
        if indices.iter().any(|&j| j as usize >= n) || data.iter().any(|s| !s.is_finite()) {
            return Err("neighbour index out of range or non-finite similarity".into());
        }
        Ok(Neighbours { indptr, indices, data })
    }

    /// Number of items.
    pub fn n_items(&self) -> usize {
        self.indptr.len().saturating_sub(1)
    }
}

impl ItemKnn {
    /// An item-kNN model from neighbour lists and the interactions it scores from (for model files).
    pub fn from_parts(similarity: Neighbours, history: &InteractionMatrix) -> Self {
        ItemKnn { similarity, history: history.user_items().map(|&w| damp(w)) }
    }

    /// The builder.
    pub fn params() -> ItemKnnParams {
        ItemKnnParams::default()
    }

    /// Each item's `k` nearest items.
    pub fn similarity(&self) -> &Neighbours {
        &self.similarity
    }
}

impl ItemKnnParams {
    /// Neighbours kept per item (1..=100000).
    pub fn neighbours(mut self, v: usize) -> Self {
        self.neighbours = v;
        self
    }
    /// The similarity.
    pub fn similarity(mut self, v: Similarity) -> Self {
        self.similarity = v;
        self
    }
    /// Shrinkage added to the cosine denominator (≥ 0): damps similarities resting on few users.
    pub fn shrink(mut self, v: f32) -> Self {
        self.shrink = v;
        self
    }

    /// The chosen similarity.
    pub fn similarity_kind(&self) -> Similarity {
        self.similarity
    }

    /// Checks every hyper-parameter.
    pub fn validate(&self) -> Result<()> {
        check_range("neighbours", self.neighbours, 1, 100_000)?;
        check_f32("shrink", self.shrink, 0.0, 1e9)?;
        if let Similarity::Bm25 { k1, b } = self.similarity {
            check_f32("k1", k1, 1e-6, 1e9)?;
            check_f32("b", b, 0.0, 1.0)?;
        }
        Ok(())
    }

    /// Fits on `train`.
    pub fn fit(&self, train: &InteractionMatrix) -> Result<ItemKnn> {
        self.validate()?;
        check_train(train)?;
        let weighted = self.weight(train.item_users());
        let norms: Vec<f32> = (0..weighted.rows())
            .map(|i| {
                let v = weighted.outer_view(i).expect("row");
                v.data().iter().map(|x| x * x).sum::<f32>().sqrt()
            })
            .collect();
        let by_user = weighted.transpose_view().to_csr();
        let normalise = !matches!(self.similarity, Similarity::Bm25 { .. });
        let ni = weighted.rows();
        let k = self.neighbours;
        // Items in chunks: one dense accumulator per chunk, rows written straight into flat buffers.
        const CHUNK: usize = 128;
        let starts: Vec<usize> = (0..ni).step_by(CHUNK).collect();
        let parts: Vec<(Vec<usize>, Vec<u32>, Vec<f32>)> = starts
            .par_iter()
            .map(|&lo| {
                let hi = (lo + CHUNK).min(ni);
                let mut acc = vec![0.0f32; ni];
                // touched[..n_touched]: items reached from item i, appended without a branch; `reached` marks
                // them (not `acc != 0`: BM25 weights can be 0 or negative on tiny catalogues, and a product
                // that sums back to 0 would append an item twice and overrun `touched`).
                let mut touched = vec![0usize; ni + 1];
                let mut reached = vec![false; ni];
                // (score bits << 32 | !item): scores are > 0, so their bits order like the floats and the
                // key orders by score, then by lower item index; selection compares plain integers.
                let mut row: Vec<u64> = Vec::new();
                let (mut lens, mut indices, mut data) = (Vec::with_capacity(hi - lo), Vec::new(), Vec::new());
                for i in lo..hi {
                    let users = weighted.outer_view(i).expect("row");
                    let mut n_touched = 0;
                    for (u, &w) in users.iter() {
                        let items = by_user.outer_view(u).expect("row");
                        for (&j, &wj) in items.indices().iter().zip(items.data()) {
                            touched[n_touched] = j;
                            n_touched += usize::from(!reached[j]);
                            reached[j] = true;
                            acc[j] += w * wj;
                        }
                    }
                    row.clear();
                    for &j in &touched[..n_touched] {
                        reached[j] = false;
                        let s = std::mem::take(&mut acc[j]);
                        if j == i {
                            continue;
                        }
                        let s =
                            if normalise { s / (norms[i] * norms[j] + self.shrink).max(f32::MIN_POSITIVE) } else { s };
                        if s > 0.0 && s.is_finite() {
                            row.push((u64::from(s.to_bits()) << 32) | u64::from(!(j as u32)));
                        }
                    }
                    if row.len() > k {
                        row.select_nth_unstable_by(k - 1, |a, b| b.cmp(a));
                        row.truncate(k);
                    }
                    lens.push(row.len());
                    indices.extend(row.iter().map(|&key| !(key as u32)));
                    data.extend(row.iter().map(|&key| f32::from_bits((key >> 32) as u32)));
                }
                (lens, indices, data)
            })
            .collect();
        let nnz: usize = parts.iter().map(|p| p.1.len()).sum();
        let mut indptr = Vec::with_capacity(ni + 1);
        let (mut indices, mut data) = (Vec::with_capacity(nnz), Vec::with_capacity(nnz));
        indptr.push(0);
        for (lens, idx, d) in parts {
            for l in lens {
                indptr.push(indptr.last().copied().unwrap_or(0) + l);
            }
            indices.extend(idx);
            data.extend(d);
        }
        let similarity = Neighbours { indptr, indices, data };
        let history = train.user_items().map(|&w| damp(w));
        Ok(ItemKnn { similarity, history })
    }

    /// Item × user weights for the chosen similarity.
    fn weight(&self, item_users: &CsMat<f32>) -> CsMat<f32> {
        // BM25 saturates term frequencies itself; cosine and TF-IDF get the usual ln(1 + w).
        let base = match self.similarity {
            Similarity::Bm25 { .. } => item_users.clone(),
            _ => item_users.map(|&w| damp(w)),
        };
        let n_items = base.rows() as f32;
        // document frequency of each user (term) = number of items they touched
        let mut df = vec![0f32; base.cols()];
        for &u in base.indices() {
            df[u] += 1.0;
        }
        match self.similarity {
            Similarity::Cosine => base,
            Similarity::TfIdf => {
                let mut m = base;
                let idf: Vec<f32> = df.iter().map(|&d| (n_items / d.max(1.0)).ln()).collect();
                scale_by_column(&mut m, |u, w| w * idf[u]);
                m
            }
            Similarity::Bm25 { k1, b } => {
                let mut m = base;
                let idf: Vec<f32> = df.iter().map(|&d| n_items.ln() - d.ln_1p()).collect();
                let lens: Vec<f32> = (0..m.rows()).map(|i| m.outer_view(i).expect("row").data().iter().sum()).collect();
                let avg = lens.iter().sum::<f32>() / lens.len().max(1) as f32;
                let (indptr, indices, data) = (m.indptr().to_owned(), m.indices().to_vec(), m.data_mut());
                for (i, len) in lens.iter().enumerate() {
                    let norm = (1.0 - b) + b * len / avg.max(f32::MIN_POSITIVE);
                    for k in indptr.outer_inds_sz(i) {
                        let tf = data[k];
                        data[k] = tf * (k1 + 1.0) / (k1 * norm + tf) * idf[indices[k]];
                    }
                }
                m
            }
        }
    }
}

fn scale_by_column(m: &mut CsMat<f32>, f: impl Fn(usize, f32) -> f32) {
    let indices = m.indices().to_vec();
    for (k, v) in m.data_mut().iter_mut().enumerate() {
        *v = f(indices[k], *v);
    }
}

impl Recommender for ItemKnn {
    fn name(&self) -> &'static str {
        "itemknn"
    }
    fn n_users(&self) -> usize {
        self.history.rows()
    }
    fn n_items(&self) -> usize {
        self.similarity.n_items()
    }
    fn score_user(&self, user: u32, out: &mut [f32]) -> crate::error::Result<()> {
        out.fill(0.0);
        let hist = self.history.outer_view(user as usize).expect("row");
        for (i, &r) in hist.iter() {
            for (j, s) in self.similarity.row(i) {
                out[j as usize] += r * s;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m() -> InteractionMatrix {
        // items 0,1 always together; item 2 with 0 once; item 3 alone
        let rows = [(0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (2, 2), (3, 3), (4, 1)];
        let mut tri = sprs::TriMat::new((5, 4));
        for (u, i) in rows {
            tri.add_triplet(u, i, 1.0f32);
        }
        InteractionMatrix::from_csr(tri.to_csr())
    }

    #[test]
    fn cosine_matches_hand_computation() {
        let model = ItemKnn::params().similarity(Similarity::Cosine).fit(&m()).unwrap();
        let s = model.similarity();
        // item0 users {0,1,2}, item1 users {0,1,4}: cosine = 2/3
        assert!((s.get(0, 1).unwrap() - 2.0 / 3.0).abs() < 1e-5);
        assert!((s.get(0, 2).unwrap() - 1.0 / 3f32.sqrt()).abs() < 1e-5);
        assert!(s.get(0, 0).is_none() && s.get(3, 0).is_none());
        let top = model.recommend(4, 1, Some(&m())).unwrap();
        assert_eq!(top[0].0, 0);
    }

    #[test]
    fn neighbours_truncate_and_bm25_tfidf_fit() {
        let model = ItemKnn::params().neighbours(1).similarity(Similarity::Cosine).fit(&m()).unwrap();
        assert_eq!(model.similarity().row(0).count(), 1);
        for sim in [Similarity::TfIdf, Similarity::Bm25 { k1: 1.2, b: 0.75 }] {
            let model = ItemKnn::params().similarity(sim).fit(&m()).unwrap();
            let top = model.recommend(4, 1, Some(&m())).unwrap();
            assert_eq!(top[0].0, 0, "{sim:?}");
        }
        assert!(ItemKnn::params().neighbours(0).fit(&m()).is_err());
        // Users with three of four items: BM25 gives them idf ln(4) − ln(1 + 3) = 0 (this used to panic).
        let mut tri = sprs::TriMat::new((3, 4));
        for (u, i) in [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 3), (2, 0), (2, 2)] {
            tri.add_triplet(u, i, 1.0f32);
        }
        let model = ItemKnn::params().fit(&InteractionMatrix::from_csr(tri.to_csr())).unwrap();
        assert!(model.similarity().get(0, 2).is_some() && model.similarity().get(0, 3).is_none());
        assert!(ItemKnn::params().similarity(Similarity::Bm25 { k1: 1.0, b: 2.0 }).fit(&m()).is_err());
    }
}
