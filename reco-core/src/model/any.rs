//! Models chosen at run time by name, with `key=value` hyper-parameters (the CLI's `--model` and
//! `--param`, and the bindings' keyword arguments).

use super::{
    Als, AlsParams, Bpr, BprParams, ContentModel, ContentParams, Fusion, FusionParams, Hybrid, ItemKnn, ItemKnnParams,
    MatrixFactorization, Ncf, NcfKind, NcfParams, Popularity, PopularityParams, Progress, Recommender, SasRec,
    SasRecParams, Similarity, Sknn, SknnParams, Transition, TransitionParams,
};
use crate::data::{InteractionMatrix, ItemMeta};
use crate::error::{RecoError, Result};
use ndarray::ArrayViewMut2;
use std::sync::Arc;

/// `$body` with `$m` bound to the model inside any [`AnyModel`]: the one place that lists the variants,
/// so every role trait's impl for `AnyModel` is a one-line forward.
macro_rules! each_model {
    ($model:expr, $m:ident => $body:expr) => {
        match $model {
            $crate::model::AnyModel::Pop($m) => $body,
            $crate::model::AnyModel::ItemKnn($m) => $body,
            $crate::model::AnyModel::Mf($m) => $body,
            $crate::model::AnyModel::Content($m) => $body,
            $crate::model::AnyModel::Ncf($m) => $body,
            $crate::model::AnyModel::Hybrid($m) => $body,
            $crate::model::AnyModel::Transition($m) => $body,
            $crate::model::AnyModel::Sknn($m) => $body,
            $crate::model::AnyModel::SasRec($m) => $body,
            $crate::model::AnyModel::Fusion($m) => $body,
        }
    };
}
pub(crate) use each_model;

/// The hyper-parameters of any model.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(tag = "model", content = "params", rename_all = "lowercase")]
pub enum AnyParams {
    /// [`Popularity`].
    Pop(PopularityParams),
    /// [`ItemKnn`].
    ItemKnn(ItemKnnParams, Option<f32>, Option<f32>),
    /// [`Als`].
    Als(AlsParams),
    /// [`Bpr`].
    Bpr(BprParams),
    /// [`ContentModel`].
    Content(ContentParams),
    /// [`Ncf`]: GMF, MLP or NeuMF.
    Ncf(NcfParams),
    /// [`Hybrid`].
    Hybrid(HybridParams),
    /// [`Transition`] (sequential: needs [`FitInput::sequences`]).
    Transition(TransitionParams),
    /// [`Sknn`] (sequential: needs [`FitInput::sequences`]).
    Sknn(SknnParams),
    /// [`SasRec`] (sequential: needs [`FitInput::sequences`]).
    SasRec(SasRecParams),
    /// [`Fusion`] of two models (default: sasrec + transition).
    Fusion(FusionParams),
}

/// Hyper-parameters of a [`Hybrid`]: the collaborative model (default ALS), the content model, and the
/// content weight in [0, 1] (default: tuned on the validation split given to `fit`, else 0.5).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct HybridParams {
    /// The collaborative part.
    pub cf: Box<AnyParams>,
    /// The content part.
    pub content: ContentParams,
    /// Content weight; `None` tunes it.
    pub weight: Option<f32>,
}

/// What a model is fitted on.
#[derive(Debug, Clone, Copy)]
pub struct FitInput<'a> {
    /// Users × items training interactions.
    pub train: &'a InteractionMatrix,
    /// Metadata per item (content models read text, attributes, category).
    pub items: &'a [ItemMeta],
    /// An optional validation split for tuning: the training matrix without the validation items, and
    /// the `(user, item)` pairs held out from it.
    pub validation: Option<(&'a InteractionMatrix, &'a [(u32, u32)])>,
    /// The same events as `train`, in order: one sequence per user of `train`, their distinct items by
    /// first occurrence ([`sequences_of`](crate::data::split::sequences_of)). Sequential models
    /// (`transition`, `sknn`) need it and fail without it; the others ignore it.
    pub sequences: Option<&'a [Vec<u32>]>,
    /// The sequences of the validation training matrix (`validation.0`), for sequential models that tune.
    pub validation_sequences: Option<&'a [Vec<u32>]>,
}

impl<'a> FitInput<'a> {
    /// Training data only.
    pub fn new(train: &'a InteractionMatrix, items: &'a [ItemMeta]) -> Self {
        FitInput { train, items, validation: None, sequences: None, validation_sequences: None }
    }

    /// With the training events in order (see [`sequences`](Self::sequences)).
    pub fn with_sequences(self, sequences: &'a [Vec<u32>]) -> Self {
        FitInput { sequences: Some(sequences), ..self }
    }

    /// The same training data without the validation split (what a model that tuned on it fits on last).
    pub fn without_validation(&self) -> Self {
        FitInput { validation: None, validation_sequences: None, ..*self }
    }

    /// The validation split as training data (its training matrix and sequences, no validation of its
    /// own) and its held-out pairs; `None` without a split or with no held-out pair.
    pub fn validation_split(&self) -> Option<(FitInput<'a>, &'a [(u32, u32)])> {
        let (train, pairs) = self.validation.filter(|(_, p)| !p.is_empty())?;
        let input = FitInput {
            train,
            items: self.items,
            validation: None,
            sequences: self.validation_sequences,
            validation_sequences: None,
        };
        Some((input, pairs))
    }

    /// With a validation split: its training matrix, held-out `(user, item)` pairs and, for sequential
    /// models, the sequences of its training matrix.
    pub fn with_validation(
        self,
        train: &'a InteractionMatrix,
        held_out: &'a [(u32, u32)],
        sequences: Option<&'a [Vec<u32>]>,
    ) -> Self {
        FitInput { validation: Some((train, held_out)), validation_sequences: sequences, ..self }
    }
}

/// A number parsed from text, for parameters that are not plain fields.
fn num<T: std::str::FromStr>(key: &str, v: &str) -> Result<T> {
    v.trim().parse().map_err(|_| RecoError::param(key, format!("`{v}` is not a valid number")))
}

/// Model names [`AnyParams::new`] accepts.
pub const MODEL_NAMES: [&str; 13] = [
    "pop",
    "itemknn",
    "als",
    "bpr",
    "gmf",
    "mlp",
    "neumf",
    "content",
    "hybrid",
    "transition",
    "sknn",
    "sasrec",
    "fusion",
];

impl AnyParams {
    /// Default hyper-parameters of model `name` (one of [`MODEL_NAMES`]).
    pub fn new(name: &str) -> Result<Self> {
        Ok(match name {
            "pop" => AnyParams::Pop(Popularity::params()),
            "itemknn" => AnyParams::ItemKnn(ItemKnn::params(), None, None),
            "als" => AnyParams::Als(Als::params()),
            "bpr" => AnyParams::Bpr(Bpr::params()),
            "content" => AnyParams::Content(ContentModel::params()),
            "gmf" => AnyParams::Ncf(Ncf::params(NcfKind::Gmf)),
            "mlp" => AnyParams::Ncf(Ncf::params(NcfKind::Mlp)),
            "neumf" => AnyParams::Ncf(Ncf::params(NcfKind::NeuMf)),
            "hybrid" => AnyParams::Hybrid(HybridParams {
                cf: Box::new(AnyParams::Als(Als::params())),
                content: ContentModel::params(),
                weight: None,
            }),
            "transition" => AnyParams::Transition(Transition::params()),
            "sknn" => AnyParams::Sknn(Sknn::params()),
            "sasrec" => AnyParams::SasRec(SasRec::params()),
            "fusion" => AnyParams::Fusion(FusionParams::default()),
            o => return Err(RecoError::param("model", format!("`{o}` is not one of {}", MODEL_NAMES.join(", ")))),
        })
    }

    /// The model's name as [`AnyParams::new`] takes it.
    pub fn name(&self) -> &'static str {
        match self {
            AnyParams::Pop(_) => "pop",
            AnyParams::ItemKnn(..) => "itemknn",
            AnyParams::Als(_) => "als",
            AnyParams::Bpr(_) => "bpr",
            AnyParams::Content(_) => "content",
            AnyParams::Hybrid(_) => "hybrid",
            AnyParams::Transition(_) => "transition",
            AnyParams::Sknn(_) => "sknn",
            AnyParams::SasRec(_) => "sasrec",
            AnyParams::Fusion(_) => "fusion",
            AnyParams::Ncf(p) => match p.kind() {
                NcfKind::Gmf => "gmf",
                NcfKind::Mlp => "mlp",
                NcfKind::NeuMf => "neumf",
            },
        }
    }

    /// The parameter names `set` accepts for this model.
    pub fn keys(&self) -> &'static [&'static str] {
        match self {
            AnyParams::Pop(_) => &["count"],
            AnyParams::ItemKnn(..) => &["neighbours", "similarity", "shrink", "k1", "b"],
            AnyParams::Als(_) => &["factors", "iterations", "regularization", "alpha", "cg_steps", "seed"],
            AnyParams::Bpr(_) => &["factors", "epochs", "learning_rate", "regularization", "blocks", "seed"],
            AnyParams::Content(_) => &["text", "attributes", "category", "max_df", "vector_weight"],
            AnyParams::Ncf(_) => {
                &["factors", "tower", "epochs", "batch_size", "learning_rate", "negatives", "pretrain", "seed"]
            }
            AnyParams::Hybrid(_) => {
                &["cf", "weight", "text", "attributes", "category", "max_df", "vector_weight", "(and the cf model's)"]
            }
            AnyParams::Transition(_) => &[
                "window",
                "gap_decay",
                "backward",
                "smoothing",
                "history",
                "recency",
                "neighbours",
                "similarity",
                "shrink",
            ],
            AnyParams::Sknn(_) => &["neighbours", "history", "recency", "decay", "before", "idf"],
            AnyParams::SasRec(_) => SasRecParams::KEYS,
            AnyParams::Fusion(_) => &["a", "b", "weight", "tune", "a.<key of a>", "b.<key of b>"],
        }
    }

    /// Model `name` with `(key, value)` hyper-parameters set from text, in an order that cannot lose one:
    /// a hybrid's `cf` and a fusion's `a` and `b` (which reset that part to its model's defaults) go
    /// first, whatever the caller's order. What the CLI's `--param`s and the bindings' keyword arguments
    /// go through.
    pub fn with_params<K: AsRef<str>, V: AsRef<str>>(name: &str, pairs: &[(K, V)]) -> Result<Self> {
        let mut p = AnyParams::new(name)?;
        // Only the model's own part keys go first (`b` is also item-kNN's BM25 parameter inside a hybrid).
        let parts: &[&str] = match p {
            AnyParams::Hybrid(_) => &["cf"],
            AnyParams::Fusion(_) => &["a", "b"],
            _ => &[],
        };
        let (first, rest): (Vec<_>, Vec<_>) = pairs.iter().partition(|(k, _)| parts.contains(&k.as_ref().trim()));
        for (k, v) in first.into_iter().chain(rest) {
            p = p.set(k.as_ref().trim(), v.as_ref())?;
        }
        Ok(p)
    }

    /// Sets one hyper-parameter from text. The text is read as the type of the parameter's field (through
    /// serde, [`param_text`](super::param_text)); ranges are validated when fitting.
    pub fn set(self, key: &str, value: &str) -> Result<Self> {
        use super::param_text::{flag, set_field};
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
        // A model whose keys are all plain fields: set through serde, or refuse the key.
        macro_rules! field {
            ($variant:ident, $p:expr, $hidden:expr) => {
                match set_field(&$p, key, value, $hidden)? {
                    Some(p) => AnyParams::$variant(p),
                    None => return Err(unknown(&AnyParams::$variant($p))),
                }
            };
        }
        Ok(match (self, key) {
            (AnyParams::Pop(p), "count") => AnyParams::Pop(p.count_held_out(match value {
                "train" => false,
                "all" => true,
                o => return Err(RecoError::param(key, format!("`{o}` is not one of train, all"))),
            })),
            (AnyParams::Pop(p), _) => return Err(unknown(&AnyParams::Pop(p))),
            (AnyParams::Als(p), _) => field!(Als, p, &[]),
            (AnyParams::Bpr(p), _) => field!(Bpr, p, &[]),
            (AnyParams::Ncf(p), _) => field!(Ncf, p, &["kind"]),
            (AnyParams::Sknn(p), _) => field!(Sknn, p, &[]),
            (AnyParams::SasRec(p), _) => field!(SasRec, p, &[]),
            (AnyParams::ItemKnn(p, k1, b), "similarity") => {
                AnyParams::ItemKnn(p.similarity(value.parse::<Similarity>()?), k1, b)
            }
            (AnyParams::ItemKnn(p, _, b), "k1") => AnyParams::ItemKnn(p, Some(num(key, value)?), b),
            (AnyParams::ItemKnn(p, k1, _), "b") => AnyParams::ItemKnn(p, k1, Some(num(key, value)?)),
            (AnyParams::ItemKnn(p, k1, b), _) => match set_field(&p, key, value, &["similarity"])? {
                Some(p) => AnyParams::ItemKnn(p, k1, b),
                None => return Err(unknown(&AnyParams::ItemKnn(p, k1, b))),
            },
            (AnyParams::Content(p), "text") if value == "encoder" => {
                AnyParams::Content(p.text(false).text_vectors(true))
            }
            (AnyParams::Content(p), "text") if value == "both" => AnyParams::Content(p.text(true).text_vectors(true)),
            (AnyParams::Content(p), "text") => AnyParams::Content(p.text(flag(key, value)?).text_vectors(false)),
            (AnyParams::Content(p), _) => field!(Content, p, &["text_vectors"]),
            // item-kNN's keys of the transition model live in its nested `knn` parameters
            (AnyParams::Transition(p), "similarity") => AnyParams::Transition(p.similarity(value.parse()?)),
            (AnyParams::Transition(p), "neighbours") => AnyParams::Transition(p.neighbours(num(key, value)?)),
            (AnyParams::Transition(p), "shrink") => AnyParams::Transition(p.shrink(num(key, value)?)),
            (AnyParams::Transition(p), _) => field!(Transition, p, &["knn"]),
            (AnyParams::Hybrid(mut h), _) => {
                match key {
                    "cf" if matches!(value, "pop" | "itemknn" | "als" | "bpr") => {
                        h.cf = Box::new(AnyParams::new(value)?)
                    }
                    "cf" => {
                        return Err(RecoError::param(key, format!("`{value}` is not one of pop, itemknn, als, bpr")))
                    }
                    "weight" => h.weight = Some(num(key, value)?),
                    "text" | "attributes" | "category" | "max_df" | "vector_weight" => {
                        let AnyParams::Content(c) = AnyParams::Content(h.content).set(key, value)? else {
                            unreachable!()
                        };
                        h.content = c;
                    }
                    _ => h.cf = Box::new(h.cf.set(key, value)?),
                }
                AnyParams::Hybrid(h)
            }
            (AnyParams::Fusion(mut f), _) => {
                match key.split_once('.') {
                    _ if key == "a" || key == "b" => {
                        let part = AnyParams::new(value)?;
                        if matches!(part, AnyParams::Fusion(_) | AnyParams::Hybrid(_)) {
                            return Err(RecoError::param(key, "a fusion's parts cannot be fusion or hybrid models"));
                        }
                        **(if key == "a" { &mut f.a } else { &mut f.b }) = part;
                    }
                    None if key == "weight" => f.weight = num(key, value)?,
                    None if key == "tune" => f.tune = flag(key, value)?,
                    Some(("a", k)) => f.a = Box::new(f.a.set(k, value)?),
                    Some(("b", k)) => f.b = Box::new(f.b.set(k, value)?),
                    _ => return Err(unknown(&AnyParams::Fusion(f))),
                }
                AnyParams::Fusion(f)
            }
        })
    }

    /// Whether the model reads item text through embeddings ([`ItemMeta::text_vector`](crate::data::ItemMeta),
    /// `text=encoder|both`), which the caller must then fill.
    pub fn reads_text_vectors(&self) -> bool {
        match self {
            AnyParams::Content(p) => p.reads_text_vectors(),
            AnyParams::Hybrid(h) => h.content.reads_text_vectors(),
            AnyParams::Fusion(f) => f.a.reads_text_vectors() || f.b.reads_text_vectors(),
            _ => false,
        }
    }

    /// Whether an evaluation must fit this model on all data, held-out items included (only popularity
    /// with `count=all`, to reproduce published baselines).
    pub fn fits_on_held_out(&self) -> bool {
        matches!(self, AnyParams::Pop(p) if p.counts_held_out())
    }

    /// Fits the model.
    pub fn fit(&self, input: &FitInput<'_>, progress: Progress<'_>) -> Result<AnyModel> {
        let train = input.train;
        Ok(match self {
            AnyParams::Pop(p) => AnyModel::Pop(p.fit(train)?),
            AnyParams::ItemKnn(p, k1, b) => {
                let p = match (p.similarity_kind(), k1, b) {
                    (Similarity::Bm25 { k1: k0, b: b0 }, k1, b) => {
                        p.clone().similarity(Similarity::Bm25 { k1: k1.unwrap_or(k0), b: b.unwrap_or(b0) })
                    }
                    (_, None, None) => p.clone(),
                    _ => return Err(RecoError::param("k1", "k1 and b only apply to similarity=bm25")),
                };
                let m = p.fit(train)?;
                super::report(progress, 1, 1)?;
                AnyModel::ItemKnn(m)
            }
            AnyParams::Als(p) => AnyModel::Mf(p.fit_with_progress(train, progress)?),
            AnyParams::Bpr(p) => AnyModel::Mf(p.fit_with_progress(train, progress)?),
            AnyParams::Content(p) => {
                let m = p.fit(train, input.items)?;
                super::report(progress, 1, 1)?;
                AnyModel::Content(m)
            }
            AnyParams::Ncf(p) => AnyModel::Ncf(p.fit_with_progress(train, progress)?),
            AnyParams::Transition(p) => {
                let m = p.fit(train, input.sequences.ok_or_else(|| needs_sequences("transition"))?)?;
                super::report(progress, 1, 1)?;
                AnyModel::Transition(m)
            }
            AnyParams::Sknn(p) => {
                let m = p.fit(train, input.sequences.ok_or_else(|| needs_sequences("sknn"))?)?;
                super::report(progress, 1, 1)?;
                AnyModel::Sknn(m)
            }
            AnyParams::SasRec(p) => {
                let seqs = input.sequences.ok_or_else(|| needs_sequences("sasrec"))?;
                if seqs.len() != train.n_users() {
                    return Err(RecoError::param("sequences", "one sequence per user of the training matrix"));
                }
                AnyModel::SasRec(p.fit_with(seqs, train.n_items(), None, progress)?)
            }
            AnyParams::Hybrid(h) => {
                if !matches!(*h.cf, AnyParams::Pop(_) | AnyParams::ItemKnn(..) | AnyParams::Als(_) | AnyParams::Bpr(_))
                {
                    return Err(RecoError::param("cf", "the collaborative part must be pop, itemknn, als or bpr"));
                }
                let weight = match (h.weight, input.validation_split()) {
                    (Some(w), _) => {
                        super::check_f32("weight", w, 0.0, 1.0)?;
                        w
                    }
                    (None, Some((vinput, vpairs))) => crate::eval::tune_hybrid_weight(h, &vinput, vpairs, progress)?,
                    (None, _) => 0.5,
                };
                // Progress (and Ctrl-C) comes through the collaborative fits — the weight search's and
                // this one; the content fit and the weight grid do not report.
                let cf = Arc::new(h.cf.fit(&input.without_validation(), progress)?);
                let content = Arc::new(h.content.fit(train, input.items)?);
                AnyModel::Hybrid(Hybrid::new(cf, content, weight))
            }
            AnyParams::Fusion(f) => AnyModel::Fusion(f.fit(input, progress)?),
        })
    }
}

/// The error of a sequential model fitted without [`FitInput::sequences`].
fn needs_sequences(name: &str) -> RecoError {
    RecoError::param(
        "sequences",
        format!("`{name}` needs each user's items in order: pass FitInput::sequences (data::split::sequences_of)"),
    )
}

/// Any fitted model, chosen at run time (model files, bindings, the CLI).
#[derive(Debug, Clone)]
pub enum AnyModel {
    /// Popularity.
    Pop(Popularity),
    /// Item-kNN.
    ItemKnn(ItemKnn),
    /// ALS or BPR factors.
    Mf(MatrixFactorization),
    /// Content-based.
    Content(ContentModel),
    /// GMF, MLP or NeuMF.
    Ncf(Ncf),
    /// Collaborative + content blend.
    Hybrid(Hybrid),
    /// Item → next-item transitions.
    Transition(Transition),
    /// Sequence-kNN.
    Sknn(Sknn),
    /// Self-attentive sequential model.
    SasRec(SasRec),
    /// Two models' standardised scores blended.
    Fusion(Fusion),
}

impl AnyModel {
    /// User `u`'s stored training sequence, oldest first, for the sequential models (`transition`,
    /// `sknn`, `sasrec`); `None` for the others (they keep no order).
    pub fn sequence(&self, u: u32) -> Option<&[u32]> {
        match self {
            AnyModel::Transition(m) => Some(m.sequences().get(u as usize)),
            AnyModel::Sknn(m) => Some(m.sequences().get(u as usize)),
            AnyModel::SasRec(m) => Some(m.sequence(u)),
            AnyModel::Fusion(f) => f.a().sequence(u).or_else(|| f.b().sequence(u)),
            _ => None,
        }
    }

    fn inner(&self) -> &dyn Recommender {
        each_model!(self, m => m as &dyn Recommender)
    }
}

impl Recommender for AnyModel {
    fn name(&self) -> &'static str {
        self.inner().name()
    }
    fn n_users(&self) -> usize {
        self.inner().n_users()
    }
    fn n_items(&self) -> usize {
        self.inner().n_items()
    }
    fn score_user(&self, user: u32, out: &mut [f32]) -> Result<()> {
        self.inner().score_user(user, out)
    }
    fn score_users(&self, users: &[u32], out: &mut ArrayViewMut2<'_, f32>) -> Result<()> {
        self.inner().score_users(users, out)
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
        let items = vec![ItemMeta::default(); 2];
        assert!(knn.fit(&FitInput::new(&m, &items), &|_, _| true).is_err());
        let h = AnyParams::new("hybrid").unwrap().set("cf", "itemknn").unwrap().set("neighbours", "5").unwrap();
        assert!(h.clone().set("cf", "hybrid").is_err());
        assert!(h.clone().set("weight", "2").unwrap().fit(&FitInput::new(&m, &items), &|_, _| true).is_err());
        assert!(AnyParams::new("content").unwrap().set("text", "maybe").is_err());
        // A hybrid's item-kNN `b` (BM25) is not mistaken for a fusion part, whatever the order.
        let h = AnyParams::with_params("hybrid", &[("b", "0.5"), ("cf", "itemknn"), ("similarity", "bm25")]);
        assert!(h.is_ok(), "{h:?}");
        let f = AnyParams::with_params("fusion", &[("b.window", "3"), ("b", "transition"), ("weight", "0.3")]).unwrap();
        let AnyParams::Fusion(fp) = &f else { panic!("{f:?}") };
        assert!(matches!(*fp.b, AnyParams::Transition(_)) && fp.weight == 0.3);
        assert!(f.clone().set("a", "fusion").is_err());
        assert!(f.clone().set("c.window", "3").unwrap_err().to_string().contains("valid: a, b, weight"));
        assert!(f.clone().set("b.window", "x").is_err());
        assert!(f.clone().set("weight", "2").unwrap().fit(&FitInput::new(&m, &items), &|_, _| true).is_err());
    }
}
