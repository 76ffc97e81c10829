//! Models chosen at run time by name, with `key=value` hyper-parameters (the CLI's `--model` and
//! `--param`, and the bindings' keyword arguments).

use super::{
    Als, AlsParams, Bpr, BprParams, ItemKnn, ItemKnnParams, Popularity, PopularityParams, Progress, Recommender,
    Similarity,
};
use crate::data::InteractionMatrix;
use crate::error::{RecoError, Result};

/// The hyper-parameters of any model.
#[derive(Debug, Clone)]
pub enum AnyParams {
    /// [`Popularity`].
    Pop(PopularityParams),
    /// [`ItemKnn`].
    ItemKnn(ItemKnnParams, Option<f32>, Option<f32>),
    /// [`Als`].
    Als(AlsParams),
    /// [`Bpr`].
    Bpr(BprParams),
}

/// Model names [`AnyParams::new`] accepts.
pub const MODEL_NAMES: [&str; 4] = ["pop", "itemknn", "als", "bpr"];

impl AnyParams {
    /// Default hyper-parameters of model `name` (`pop`, `itemknn`, `als`, `bpr`).
    pub fn new(name: &str) -> Result<Self> {
        Ok(match name {
            "pop" => AnyParams::Pop(Popularity::params()),
            "itemknn" => AnyParams::ItemKnn(ItemKnn::params(), None, None),
            "als" => AnyParams::Als(Als::params()),
            "bpr" => AnyParams::Bpr(Bpr::params()),
            o => return Err(RecoError::param("model", format!("`{o}` is not one of {}", MODEL_NAMES.join(", ")))),
        })
    }

    /// The parameter names `set` accepts for this model.
    pub fn keys(&self) -> &'static [&'static str] {
        match self {
            AnyParams::Pop(_) => &["count"],
            AnyParams::ItemKnn(..) => &["neighbours", "similarity", "shrink", "k1", "b"],
            AnyParams::Als(_) => &["factors", "iterations", "regularization", "alpha", "cg_steps", "seed"],
            AnyParams::Bpr(_) => &["factors", "epochs", "learning_rate", "regularization", "blocks", "seed"],
        }
    }

    /// Sets one hyper-parameter from text. Values are validated when fitting.
    pub fn set(self, key: &str, value: &str) -> Result<Self> {
        fn num<T: std::str::FromStr>(key: &str, v: &str) -> Result<T> {
            v.trim().parse().map_err(|_| RecoError::param(key, format!("`{v}` is not a valid number")))
        }
        let unknown = |p: &AnyParams| {
            let keys = p.keys();
            RecoError::param(
                key,
                if keys.is_empty() {
                    "this model takes no parameters".to_string()
                } else {
                    format!("unknown; valid: {}", keys.join(", "))
                },
            )
        };
        Ok(match (self, key) {
            (AnyParams::Pop(p), "count") => AnyParams::Pop(p.count_held_out(match value {
                "train" => false,
                "all" => true,
                o => return Err(RecoError::param(key, format!("`{o}` is not one of train, all"))),
            })),
            (AnyParams::Als(p), "factors") => AnyParams::Als(p.factors(num(key, value)?)),
            (AnyParams::Als(p), "iterations") => AnyParams::Als(p.iterations(num(key, value)?)),
            (AnyParams::Als(p), "regularization") => AnyParams::Als(p.regularization(num(key, value)?)),
            (AnyParams::Als(p), "alpha") => AnyParams::Als(p.alpha(num(key, value)?)),
            (AnyParams::Als(p), "cg_steps") => AnyParams::Als(p.cg_steps(num(key, value)?)),
            (AnyParams::Als(p), "seed") => AnyParams::Als(p.seed(num(key, value)?)),
            (AnyParams::Bpr(p), "factors") => AnyParams::Bpr(p.factors(num(key, value)?)),
            (AnyParams::Bpr(p), "epochs") => AnyParams::Bpr(p.epochs(num(key, value)?)),
            (AnyParams::Bpr(p), "learning_rate") => AnyParams::Bpr(p.learning_rate(num(key, value)?)),
            (AnyParams::Bpr(p), "regularization") => AnyParams::Bpr(p.regularization(num(key, value)?)),
            (AnyParams::Bpr(p), "blocks") => AnyParams::Bpr(p.blocks(num(key, value)?)),
            (AnyParams::Bpr(p), "seed") => AnyParams::Bpr(p.seed(num(key, value)?)),
            (AnyParams::ItemKnn(p, k1, b), "neighbours") => AnyParams::ItemKnn(p.neighbours(num(key, value)?), k1, b),
            (AnyParams::ItemKnn(p, k1, b), "shrink") => AnyParams::ItemKnn(p.shrink(num(key, value)?), k1, b),
            (AnyParams::ItemKnn(p, k1, b), "similarity") => {
                AnyParams::ItemKnn(p.similarity(value.parse::<Similarity>()?), k1, b)
            }
            (AnyParams::ItemKnn(p, _, b), "k1") => AnyParams::ItemKnn(p, Some(num(key, value)?), b),
            (AnyParams::ItemKnn(p, k1, _), "b") => AnyParams::ItemKnn(p, k1, Some(num(key, value)?)),
            (p, _) => return Err(unknown(&p)),
        })
    }

    /// Whether an evaluation must fit this model on all data, held-out items included (only popularity
    /// with `count=all`, to reproduce published baselines).
    pub fn fits_on_held_out(&self) -> bool {
        matches!(self, AnyParams::Pop(p) if p.counts_held_out())
    }

    /// Fits the model on `train`.
    pub fn fit(&self, train: &InteractionMatrix, progress: Progress<'_>) -> Result<Box<dyn Recommender>> {
        Ok(match self {
            AnyParams::Pop(p) => Box::new(p.fit(train)?),
            AnyParams::ItemKnn(p, k1, b) => {
                let p = match (p.similarity_kind(), k1, b) {
                    (Similarity::Bm25 { k1: k0, b: b0 }, k1, b) => {
                        p.clone().similarity(Similarity::Bm25 { k1: k1.unwrap_or(k0), b: b.unwrap_or(b0) })
                    }
                    (_, None, None) => p.clone(),
                    _ => return Err(RecoError::param("k1", "k1 and b only apply to similarity=bm25")),
                };
                Box::new(p.fit(train)?)
            }
            AnyParams::Als(p) => Box::new(p.fit_with_progress(train, progress)?),
            AnyParams::Bpr(p) => Box::new(p.fit_with_progress(train, progress)?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_keys() {
        assert!(AnyParams::new("als").unwrap().set("factors", "8").is_ok());
        let e = AnyParams::new("als").unwrap().set("factor", "8").unwrap_err().to_string();
        assert!(e.contains("valid: factors"), "{e}");
        assert!(AnyParams::new("als").unwrap().set("factors", "eight").is_err());
        assert!(AnyParams::new("pop").unwrap().set("x", "1").unwrap_err().to_string().contains("valid: count"));
        assert!(AnyParams::new("pop").unwrap().set("count", "all").unwrap().fits_on_held_out());
        assert!(AnyParams::new("pop").unwrap().set("count", "some").is_err());
        assert!(AnyParams::new("svd").is_err());
        let knn = AnyParams::new("itemknn").unwrap().set("similarity", "cosine").unwrap().set("k1", "1.2").unwrap();
        let m = InteractionMatrix::from_csr(
            sprs::TriMat::from_triplets((2, 2), vec![0, 1], vec![0, 1], vec![1.0f32; 2]).to_csr(),
        );
        assert!(knn.fit(&m, &|_, _| {}).is_err());
    }
}
