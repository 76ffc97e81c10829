//! Product search modes and the fusion of ranked lists that the reference shop and the chatbot share.

use serde::Serialize;
use std::collections::HashMap;
use std::hash::Hash;

/// How free text is matched against products.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SearchMode {
    /// Words of the query in the product's text (full-text index, BM25 order).
    Keyword,
    /// Nearest products by meaning: the query's sentence embedding against the products' embeddings.
    Semantic,
    /// Both lists fused by reciprocal rank ([`reciprocal_rank_fusion`]).
    Hybrid,
}

impl SearchMode {
    /// The name used in URLs and configuration.
    pub fn name(self) -> &'static str {
        match self {
            SearchMode::Keyword => "keyword",
            SearchMode::Semantic => "semantic",
            SearchMode::Hybrid => "hybrid",
        }
    }

    /// Whether it needs a sentence encoder.
    pub fn needs_encoder(self) -> bool {
        self != SearchMode::Keyword
    }
}

impl std::str::FromStr for SearchMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "keyword" => Ok(SearchMode::Keyword),
            "semantic" => Ok(SearchMode::Semantic),
            "hybrid" => Ok(SearchMode::Hybrid),
            _ => Err(format!("search mode {s:?} is not one of keyword, semantic, hybrid")),
        }
    }
}

/// The constant of reciprocal rank fusion (Cormack, Clarke & Büttcher, SIGIR 2009): 60.
pub const RRF_K: f64 = 60.0;

/// Reciprocal rank fusion: each id scores `Σ 1 / (k + rank)` over the lists it appears in (rank from 1),
/// returned best first; ties keep the order of first appearance (earlier list, higher rank). An id
/// repeated within one list counts at its first rank only.
pub fn reciprocal_rank_fusion<T: Copy + Eq + Hash>(lists: &[&[T]], k: f64) -> Vec<(T, f64)> {
    let mut score: HashMap<T, (f64, usize)> = HashMap::new();
    let mut order = 0usize;
    for list in lists {
        let mut seen = std::collections::HashSet::new();
        for (rank, &id) in list.iter().enumerate() {
            if !seen.insert(id) {
                continue;
            }
            let e = score.entry(id).or_insert_with(|| {
                order += 1;
                (0.0, order)
            });
            e.0 += 1.0 / (k + rank as f64 + 1.0);
        }
    }
    let mut out: Vec<(T, f64, usize)> = score.into_iter().map(|(id, (s, o))| (id, s, o)).collect();
    out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.2.cmp(&b.2)));
    out.into_iter().map(|(id, s, _)| (id, s)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fusion_rewards_agreement_and_keeps_singletons() {
        let kw = [1, 2, 3];
        let sem = [3, 4, 1];
        let fused = reciprocal_rank_fusion(&[&kw, &sem], RRF_K);
        let ids: Vec<i32> = fused.iter().map(|x| x.0).collect();
        // 1: 1/61 + 1/63, 3: 1/63 + 1/61 (tie: 1 appeared first), then 2 (1/62), then 4 (1/62, later).
        assert_eq!(ids, vec![1, 3, 2, 4]);
        assert!((fused[0].1 - (1.0 / 61.0 + 1.0 / 63.0)).abs() < 1e-12);
    }

    #[test]
    fn fusion_of_one_list_is_that_list_and_duplicates_count_once() {
        let fused = reciprocal_rank_fusion(&[&[7, 5, 7, 9]], RRF_K);
        assert_eq!(fused.iter().map(|x| x.0).collect::<Vec<_>>(), vec![7, 5, 9]);
        assert!(reciprocal_rank_fusion::<u32>(&[&[], &[]], RRF_K).is_empty());
    }

    #[test]
    fn modes_parse_with_a_clear_error() {
        assert_eq!("Hybrid".parse::<SearchMode>().unwrap(), SearchMode::Hybrid);
        assert_eq!(" keyword".parse::<SearchMode>().unwrap(), SearchMode::Keyword);
        let e = "fuzzy".parse::<SearchMode>().unwrap_err();
        assert!(e.contains("keyword, semantic, hybrid"), "{e}");
        assert!(SearchMode::Semantic.needs_encoder() && !SearchMode::Keyword.needs_encoder());
    }
}
