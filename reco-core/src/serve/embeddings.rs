//! The role a model plays for the retrieval index: its items as vectors whose inner product with a
//! query is the score, and how queries are formed ([`Query`]). Implemented by each model; `AnyModel`
//! forwards.

use crate::error::{RecoError, Result};
use crate::model::{
    AnyModel, ContentModel, Fusion, Hybrid, ItemKnn, MatrixFactorization, Ncf, NcfKind, Popularity, SasRec, Sknn,
    Transition,
};
use ndarray::{concatenate, Array2, Axis};

/// How user queries are formed and candidates re-ranked.
pub(crate) enum Query {
    /// `score = x_u · y_i (+ b_i) + offset`: the index holds `[y_i, b_i]`, the query is `[x_u, 1]`
    /// (`offset`: GMF's output bias, so scores equal exact scoring's).
    Factors { users: Array2<f32>, bias: bool, offset: f32 },
    /// NeuMF: the GMF part retrieves `pool` candidates, the full network re-ranks them.
    Rerank { users: Array2<f32> },
    /// SASRec: the query is the final hidden state after the user's (or session's) ordered history,
    /// computed per request, so live events change it; `score = h · e_i` exactly.
    Sequence,
}

/// The role a model plays for the index: its items as vectors whose inner product with a query is the
/// score, and how queries are formed. Models that score sparsely keep the default (refused).
pub(crate) trait Embeddings: crate::model::Recommender {
    fn retrieval_space(&self) -> Result<(Query, Array2<f32>)> {
        let why =
            format!("{} scores sparsely and needs no index (it serves als, bpr, gmf, neumf, sasrec)", self.name());
        Err(RecoError::param("model", why))
    }
}

impl Embeddings for AnyModel {
    fn retrieval_space(&self) -> Result<(Query, Array2<f32>)> {
        crate::model::each_model!(self, m => m.retrieval_space())
    }
}

impl Embeddings for MatrixFactorization {
    fn retrieval_space(&self) -> Result<(Query, Array2<f32>)> {
        let bias = self.item_bias().is_some();
        let (mut users, mut items) = (self.user_factors().clone(), self.item_factors().clone());
        if let Some(b) = self.item_bias() {
            let b = Array2::from_shape_vec((b.len(), 1), b.to_vec()).expect("one column");
            items = concatenate![Axis(1), items, b].as_standard_layout().into_owned();
            users = concatenate![Axis(1), users, Array2::ones((users.nrows(), 1))].as_standard_layout().into_owned();
        }
        Ok((Query::Factors { users, bias, offset: 0.0 }, items))
    }
}

impl Embeddings for Ncf {
    fn retrieval_space(&self) -> Result<(Query, Array2<f32>)> {
        let Some((users, items, offset)) = self.dot_part()? else {
            return Err(RecoError::param(
                "model",
                "mlp has no dot-product part to retrieve with; serve it by exact scoring",
            ));
        };
        Ok(match self.kind() {
            NcfKind::Gmf => (Query::Factors { users, bias: false, offset }, items),
            _ => (Query::Rerank { users }, items),
        })
    }
}

impl Embeddings for SasRec {
    fn retrieval_space(&self) -> Result<(Query, Array2<f32>)> {
        Ok((Query::Sequence, self.item_embeddings()?))
    }
}

impl Embeddings for Popularity {}
impl Embeddings for ItemKnn {}
impl Embeddings for ContentModel {}
impl Embeddings for Hybrid {}
impl Embeddings for Transition {}
impl Embeddings for Sknn {}
impl Embeddings for Fusion {}
