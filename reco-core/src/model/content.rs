//! Content-based ranking: each item is a TF-IDF vector over its text tokens, attribute ids and category;
//! a user's profile is the (damped) weighted sum of the vectors of the items they touched; the score is
//! the dot product of the profile with each item's L2-normalised vector. An item with text but no
//! interactions is scored like any other, so new products can be recommended from day one.
//!
//! With `text=encoder` the text is read through sentence embeddings instead of tokens
//! ([`ItemMeta::text_vector`], filled by the caller from a pretrained encoder): each item's vector is then
//! the unit TF-IDF vector of its attributes and category and its unit text embedding, side by side,
//! weighted `√(1 − w)` and `√w` (`w` = [`ContentParams::vector_weight`]), so it stays unit length.

use super::{check_train, damp, Recommender};
use crate::data::{InteractionMatrix, ItemMeta};
use crate::error::{RecoError, Result};
use serde::{Deserialize, Serialize};
use sprs::{CsMat, TriMat};
use std::collections::{BTreeMap, HashMap};

/// Content-model hyper-parameters. Defaults: text, attributes and category all on; tokens seen in more
/// than half of the items are dropped (stop words for this catalogue).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContentParams {
    text: bool,
    attributes: bool,
    category: bool,
    max_df: f32,
    #[serde(default)]
    text_vectors: bool,
    #[serde(default = "half")]
    vector_weight: f32,
}

fn half() -> f32 {
    0.5
}

impl Default for ContentParams {
    fn default() -> Self {
        ContentParams {
            text: true,
            attributes: true,
            category: true,
            max_df: 0.5,
            text_vectors: false,
            vector_weight: 0.5,
        }
    }
}

/// A fitted content model.
#[derive(Debug, Clone)]
pub struct ContentModel {
    /// items × features, rows L2-normalised.
    vectors: CsMat<f32>,
    history: CsMat<f32>,
}

impl ContentModel {
    /// The builder.
    pub fn params() -> ContentParams {
        ContentParams::default()
    }

    /// Items × features TF-IDF matrix (rows L2-normalised).
    pub fn vectors(&self) -> &CsMat<f32> {
        &self.vectors
    }

    /// Rebuilds a model from its item vectors and the interactions it scores from (model files).
    pub fn from_parts(vectors: CsMat<f32>, history: &InteractionMatrix) -> Self {
        ContentModel { vectors, history: history.user_items().map(|&w| damp(w)) }
    }
}

impl ContentParams {
    /// Use item text (default `true`).
    pub fn text(mut self, v: bool) -> Self {
        self.text = v;
        self
    }
    /// Use attribute ids (default `true`).
    pub fn attributes(mut self, v: bool) -> Self {
        self.attributes = v;
        self
    }
    /// Use the category (default `true`).
    pub fn category(mut self, v: bool) -> Self {
        self.category = v;
        self
    }
    /// Drop features present in more than this share of items, in (0, 1] (default 0.5).
    pub fn max_df(mut self, v: f32) -> Self {
        self.max_df = v;
        self
    }
    /// Read item text through [`ItemMeta::text_vector`] embeddings (default `false`; `text=encoder`).
    pub fn text_vectors(mut self, v: bool) -> Self {
        self.text_vectors = v;
        self
    }
    /// Whether item text is read through [`ItemMeta::text_vector`] embeddings.
    pub fn reads_text_vectors(&self) -> bool {
        self.text_vectors
    }
    /// Share of the text embedding in an item's vector, in [0, 1] (default 0.5).
    pub fn vector_weight(mut self, v: f32) -> Self {
        self.vector_weight = v;
        self
    }

    /// Checks every hyper-parameter.
    pub fn validate(&self) -> Result<()> {
        super::check_f32("max_df", self.max_df, f32::MIN_POSITIVE, 1.0)?;
        super::check_f32("vector_weight", self.vector_weight, 0.0, 1.0)?;
        if !(self.text || self.attributes || self.category || self.text_vectors) {
            return Err(RecoError::param("text", "at least one of text, attributes, category must be on"));
        }
        Ok(())
    }

    /// Fits on `train` with item metadata `items` (one entry per item column of `train`).
    pub fn fit(&self, train: &InteractionMatrix, items: &[ItemMeta]) -> Result<ContentModel> {
        self.validate()?;
        check_train(train)?;
        if items.len() != train.n_items() {
            return Err(RecoError::param(
                "items",
                format!("{} metadata rows for {} items", items.len(), train.n_items()),
            ));
        }
        // features per item, with term counts
        let mut vocab: HashMap<String, usize> = HashMap::new();
        // Per item, its features in id order (a BTreeMap: the norm below sums in a fixed order, so a fit
        // is bit-reproducible — a HashMap's per-process order moved NDCG in the 4th decimal between runs).
        let mut docs: Vec<BTreeMap<usize, f32>> = Vec::with_capacity(items.len());
        for m in items {
            let mut doc: BTreeMap<usize, f32> = BTreeMap::new();
            let mut add = |f: String| {
                let n = vocab.len();
                let id = *vocab.entry(f).or_insert(n);
                *doc.entry(id).or_insert(0.0) += 1.0;
            };
            if self.text {
                if let Some(t) = &m.text {
                    shopml_text::tokens(t).into_iter().for_each(|t| add(format!("t:{t}")));
                }
            }
            if self.attributes {
                m.attributes.iter().for_each(|a| add(format!("a:{a}")));
            }
            if self.category {
                if let Some(c) = &m.category {
                    add(format!("c:{}", c.to_lowercase()));
                }
            }
            docs.push(doc);
        }
        let embedded = if self.text_vectors { Some(text_vectors(items)?) } else { None };
        if vocab.is_empty() && embedded.is_none() {
            return Err(RecoError::EmptyData(
                "no item has text, attributes or a category to build content from".into(),
            ));
        }
        let n = items.len() as f32;
        let mut df = vec![0f32; vocab.len()];
        for d in &docs {
            d.keys().for_each(|&f| df[f] += 1.0);
        }
        let dim = embedded.as_ref().map_or(0, |(d, _)| *d);
        let mut tri = TriMat::new((items.len(), vocab.len() + dim));
        for (i, d) in docs.iter().enumerate() {
            let w: Vec<(usize, f32)> = d
                .iter()
                .filter(|&(&f, _)| df[f] / n <= self.max_df || df[f] <= 1.0)
                .map(|(&f, &tf)| (f, tf.ln_1p() * (n / df[f]).ln().max(0.0) + f32::EPSILON))
                .collect();
            let norm = w.iter().map(|(_, v)| v * v).sum::<f32>().sqrt();
            let e = embedded.as_ref().and_then(|(_, e)| e[i].as_ref());
            // both parts unit length, weighted so that the row is unit length too
            let (a, b) = match (norm > 0.0, e.is_some()) {
                (true, true) => ((1.0 - self.vector_weight).sqrt(), self.vector_weight.sqrt()),
                (true, false) => (1.0, 0.0),
                (false, _) => (0.0, 1.0),
            };
            for (f, v) in w {
                if norm > 0.0 && a > 0.0 {
                    tri.add_triplet(i, f, a * v / norm);
                }
            }
            if let (Some(e), true) = (e, b > 0.0) {
                for (j, &v) in e.iter().enumerate() {
                    tri.add_triplet(i, vocab.len() + j, b * v);
                }
            }
        }
        Ok(ContentModel { vectors: tri.to_csr(), history: train.user_items().map(|&w| damp(w)) })
    }
}

/// The items' text embeddings, unit length, all of one dimension: `(dim, per item)`; `None` per item
/// without one. Errors when none has one, or on mixed dimensions or non-finite values.
#[allow(clippy::type_complexity)]
fn text_vectors(items: &[ItemMeta]) -> Result<(usize, Vec<Option<Vec<f32>>>)> {
    let dim = items.iter().find_map(|m| m.text_vector.as_ref().map(Vec::len)).ok_or_else(|| {
        RecoError::param("text", "text=encoder needs item text embeddings (shopml's --encoder computes them)")
    })?;
    let mut out = Vec::with_capacity(items.len());
    for (i, m) in items.iter().enumerate() {
        let Some(v) = &m.text_vector else {
            out.push(None);
            continue;
        };
        if v.len() != dim || dim == 0 || v.iter().any(|x| !x.is_finite()) {
            return Err(RecoError::param(
                "text",
                format!("item {i}'s text embedding has {} values (expected {dim}, finite)", v.len()),
            ));
        }
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        out.push((norm > 0.0).then(|| v.iter().map(|x| x / norm).collect()));
    }
    Ok((dim, out))
}

impl ContentModel {
    /// Scores of every item against a profile built from `(item, weight)` pairs.
    pub fn score_history(&self, history: impl Iterator<Item = (usize, f32)>, out: &mut [f32]) {
        let mut profile = vec![0.0f32; self.vectors.cols()];
        for (i, w) in history {
            if let Some(v) = self.vectors.outer_view(i) {
                for (f, &x) in v.iter() {
                    profile[f] += w * x;
                }
            }
        }
        for (j, s) in out.iter_mut().enumerate() {
            let v = self.vectors.outer_view(j).expect("row");
            *s = v.iter().map(|(f, &x)| x * profile[f]).sum();
        }
    }
}

impl Recommender for ContentModel {
    fn name(&self) -> &'static str {
        "content"
    }
    fn n_users(&self) -> usize {
        self.history.rows()
    }
    fn n_items(&self) -> usize {
        self.vectors.rows()
    }
    fn score_user(&self, user: u32, out: &mut [f32]) -> crate::error::Result<()> {
        let h = self.history.outer_view(user as usize).expect("row");
        self.score_history(h.iter().map(|(i, &w)| (i, w)), out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(text: &str) -> ItemMeta {
        ItemMeta { text: Some(text.into()), ..Default::default() }
    }

    #[test]
    fn text_similarity_ranks_a_never_bought_item() {
        let items = vec![
            meta("WHITE HANGING HEART T-LIGHT HOLDER"),
            meta("RED HANGING HEART T-LIGHT HOLDER"),
            meta("JUMBO BAG RED RETROSPOT"),
            meta("LUNCH BAG RED RETROSPOT"),
            meta("HEART OF WICKER SMALL"), // never bought by anyone
        ];
        let mut tri = TriMat::new((2, 5));
        tri.add_triplet(0, 0, 1.0f32);
        tri.add_triplet(0, 1, 2.0);
        tri.add_triplet(1, 2, 1.0);
        // a five-item catalogue: "heart" is in 3 of 5 items, keep it (max_df 0.9)
        let m = ContentParams::default().max_df(0.9).fit(&InteractionMatrix::from_csr(tri.to_csr()), &items).unwrap();
        let mut s = vec![0.0; 5];
        m.score_user(1, &mut s).unwrap();
        assert!(s[3] > s[4] && s[3] > s[0], "bag buyer gets the other bag: {s:?}");
        m.score_user(0, &mut s).unwrap();
        assert!(s[4] > s[2], "heart buyer gets the unbought heart item before a bag: {s:?}");
    }

    #[test]
    fn text_embeddings_rank_a_never_bought_item_and_bad_ones_are_errors() {
        let v = |x: &[f32]| ItemMeta { text_vector: Some(x.to_vec()), ..Default::default() };
        // items 0 and 2 point the same way; 2 was never bought; 1 and 3 elsewhere
        let items = vec![v(&[1.0, 0.1, 0.0]), v(&[0.0, 1.0, 0.0]), v(&[0.9, 0.2, 0.0]), v(&[0.0, 0.0, 1.0])];
        let m = InteractionMatrix::from_csr(TriMat::from_triplets((1, 4), vec![0], vec![0], vec![1.0f32]).to_csr());
        let fitted = ContentParams::default().text(false).text_vectors(true).fit(&m, &items).unwrap();
        let mut s = vec![0.0; 4];
        fitted.score_user(0, &mut s).unwrap();
        assert!(s[2] > s[1] && s[2] > s[3], "{s:?}");
        // vectors requested but none given; mixed dimensions; non-finite values
        let p = ContentParams::default().text(false).text_vectors(true);
        assert!(p.fit(&m, &[meta("a b"), meta("c d"), meta("e f"), meta("g h")]).is_err());
        let mut bad = items.clone();
        bad[1].text_vector = Some(vec![1.0, 0.0]);
        assert!(p.fit(&m, &bad).is_err());
        bad[1].text_vector = Some(vec![f32::NAN, 0.0, 0.0]);
        assert!(p.fit(&m, &bad).is_err());
        assert!(ContentParams::default().vector_weight(1.5).validate().is_err());
    }

    #[test]
    fn bad_input() {
        let m = InteractionMatrix::from_csr(TriMat::from_triplets((1, 2), vec![0], vec![0], vec![1.0f32]).to_csr());
        let none = vec![ItemMeta::default(), ItemMeta::default()];
        assert!(matches!(ContentParams::default().fit(&m, &none), Err(RecoError::EmptyData(_))));
        assert!(ContentParams::default().fit(&m, &none[..1]).is_err());
        assert!(ContentParams::default().max_df(0.0).validate().is_err());
        assert!(ContentParams::default().text(false).attributes(false).category(false).validate().is_err());
    }
}
