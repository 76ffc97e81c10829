//! Trained models as one self-contained file: the model, its hyper-parameters, the id maps, item metadata
//! and the training interactions (for "already seen" filtering and reasons).
//!
//! ```
//! use reco_core::data::{Dataset, EventKind};
//! use reco_core::model::AnyParams;
//! use reco_core::store::TrainedModel;
//! let mut data = Dataset::new("toy");
//! for (u, i) in [("ann", "tea"), ("ann", "cup"), ("bob", "tea"), ("bob", "pot")] {
//!     data.push(u, i, 0, EventKind::Purchase, 1.0)?;
//! }
//! let trained = TrainedModel::fit(&data, &AnyParams::new("itemknn")?, &|_, _| true)?;
//! let dir = tempfile::tempdir().unwrap();
//! trained.save(&dir.path().join("model.shopml"))?;
//! let back = TrainedModel::load(&dir.path().join("model.shopml"))?;
//! assert_eq!(back.items().ids(), trained.items().ids());
//! # Ok::<(), reco_core::RecoError>(())
//! ```

mod container;
mod index;
mod persist;
mod tensors;
mod validate;

#[cfg(test)]
mod tests;

pub use container::{FORMAT_VERSION, MAGIC};

use crate::data::{Dataset, IdMap, InteractionMatrix, ItemMeta};
use crate::error::{RecoError, Result};
use crate::model::{
    sequential::Sequences, AnyModel, AnyParams, ContentModel, FitInput, Fusion, Hybrid, ItemKnn, MatrixFactorization,
    Ncf, NcfKind, Neighbours, Popularity, Progress, SasRec, Sknn, Transition,
};
use ndarray::Array2;
use persist::Persist;
use serde::{Deserialize, Serialize};
use sprs::CsMat;
use std::path::Path;
use std::sync::Arc;
use tensors::{TensorsIn, TensorsOut};

const KIND: &str = "shopml-reco-model";

/// A fitted model with everything needed to serve it by external ids.
#[derive(Debug, Clone)]
pub struct TrainedModel {
    /// The model.
    pub(crate) model: AnyModel,
    /// The hyper-parameters it was fitted with.
    pub(crate) params: AnyParams,
    /// User ids (row `u` of `history` is `users.id(u)`).
    pub(crate) users: IdMap,
    /// Item ids.
    pub(crate) items: IdMap,
    /// Metadata per item (category, price, text, attributes).
    pub(crate) item_meta: Vec<ItemMeta>,
    /// The interactions the model was fitted on.
    pub(crate) history: InteractionMatrix,
    /// The retrieval index, once built (`build_index`).
    pub(crate) retrieval: Option<Arc<crate::serve::Retrieval>>,
    /// Per user, the items bought (purchases; a "because you bought X" reason names only these). `None`
    /// when the kinds are unknown (assembled with `from_parts`, files from before kinds were kept): then
    /// the history counts as bought, as it always did.
    pub(crate) bought: Option<InteractionMatrix>,
}

#[derive(Serialize, Deserialize)]
struct Meta {
    kind: String,
    shopml_version: String,
    model: String,
    params: AnyParams,
    n_users: usize,
    n_items: usize,
    user_ids: Vec<String>,
    item_ids: Vec<String>,
    item_meta: Vec<ItemMeta>,
    /// The retrieval index, when the model had one (files without it load without an index).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    index: Option<index::IndexMeta>,
}

/// Read access only: the index, the purchases and the id maps are built from these together, so they are
/// set only by the constructors that keep them in step (`fit`, `load`, `from_bytes`, `from_parts`).
impl TrainedModel {
    /// The model.
    pub fn model(&self) -> &AnyModel {
        &self.model
    }

    /// The hyper-parameters it was fitted with.
    pub fn params(&self) -> &AnyParams {
        &self.params
    }

    /// User ids (row `u` of [`history`](Self::history) is `users().id(u)`).
    pub fn users(&self) -> &IdMap {
        &self.users
    }

    /// Item ids.
    pub fn items(&self) -> &IdMap {
        &self.items
    }

    /// Metadata per item (category, price, text, attributes).
    pub fn item_meta(&self) -> &[ItemMeta] {
        &self.item_meta
    }

    /// The interactions the model was fitted on.
    pub fn history(&self) -> &InteractionMatrix {
        &self.history
    }
}

impl TrainedModel {
    /// Fits `params` on all of `data`.
    pub fn fit(data: &Dataset, params: &AnyParams, progress: Progress<'_>) -> Result<Self> {
        data.ensure_not_empty()?;
        let history = data.matrix();
        // A validation split (each user's last new item) for models that tune themselves.
        let split = crate::data::split::leave_one_out(data).ok();
        let valid_train =
            split.as_ref().map(|s| crate::data::interaction_matrix(&s.valid_train, data.n_users(), data.n_items()));
        let validation = match (&split, &valid_train) {
            (Some(s), Some(vt)) if !s.valid.is_empty() => Some((vt, s.valid.as_slice())),
            _ => None,
        };
        // Sequential models read the same events in order (and keep each user's sequence).
        let sequences = crate::data::split::user_sequences(data);
        let valid_seqs = match (&split, validation) {
            (Some(s), Some(_)) => {
                Some(crate::data::split::sequences_of(&s.valid_train, data.n_users(), data.n_items()))
            }
            _ => None,
        };
        let input = FitInput {
            train: &history,
            items: &data.item_meta,
            validation,
            sequences: Some(&sequences),
            validation_sequences: valid_seqs.as_deref(),
        };
        let model = params.fit(&input, progress)?;
        Ok(TrainedModel {
            model,
            params: params.clone(),
            users: data.users.clone(),
            items: data.items.clone(),
            item_meta: data.item_meta.clone(),
            history,
            retrieval: None,
            bought: Some(purchases(data)),
        })
    }

    /// The model file's bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut t = TensorsOut::default();
        put_csr(&mut t, "history", self.history.user_items());
        self.model.put(&mut t, "");
        if let Some(b) = &self.bought {
            put_csr(&mut t, "bought", b.user_items());
        }
        let index = index::put(&mut t, self);
        let meta = Meta {
            kind: KIND.into(),
            shopml_version: env!("CARGO_PKG_VERSION").into(),
            model: crate::model::Recommender::name(&self.model).into(),
            params: self.params.clone(),
            n_users: self.users.len(),
            n_items: self.items.len(),
            user_ids: self.users.ids().to_vec(),
            item_ids: self.items.ids().to_vec(),
            item_meta: self.item_meta.clone(),
            index,
        };
        let meta = serde_json::to_vec(&meta).map_err(|e| RecoError::param("meta", e.to_string()))?;
        Ok(container::pack(&meta, &t.serialize()?))
    }

    /// Saves to `path` atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        container::write_atomic(path, &self.to_bytes()?)
    }

    /// Loads a file written by [`save`](Self::save) (this or an older format version).
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| RecoError::io(path, e))?;
        Self::from_bytes(&bytes, path)
    }

    /// Parses model-file bytes; `path` names the source in errors.
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Self> {
        let (meta, blob) = container::unpack(bytes, path)?;
        let t = TensorsIn::parse(blob, path)?;
        let meta: Meta = serde_json::from_slice(meta).map_err(|e| t.error(format!("metadata: {e}")))?;
        if meta.kind != KIND {
            return Err(t.error(format!("holds a `{}`, not a recommendation model", meta.kind)));
        }
        let (nu, ni) = (meta.n_users, meta.n_items);
        if meta.item_meta.len() != ni {
            return Err(t.error(format!("{} item descriptions for {ni} items", meta.item_meta.len())));
        }
        let users = validate::ids("user", meta.user_ids, nu).map_err(|e| t.error(e))?;
        let items = validate::ids("item", meta.item_ids, ni).map_err(|e| t.error(e))?;
        validate::item_meta(&meta.item_meta).map_err(|e| t.error(e))?;
        if meta.params.name() != meta.model {
            return Err(t.error(format!("a `{}` model with `{}` parameters", meta.model, meta.params.name())));
        }
        let history = csr(&t, "history", nu, ni)?;
        validate::history(&history).map_err(|e| t.error(e))?;
        let model = get_model(&t, "", &meta.model, &meta.params, nu, ni, &history)?;
        let bought = match t.has("bought.indptr") {
            true => Some(csr(&t, "bought", nu, ni)?),
            false => None,
        };
        let mut m = TrainedModel {
            model,
            params: meta.params,
            users,
            items,
            item_meta: meta.item_meta,
            history,
            retrieval: None,
            bought,
        };
        if let Some(saved) = meta.index {
            index::get(&t, saved, &mut m)?;
        }
        Ok(m)
    }

    /// Assembles a trained model from its parts (e.g. factors trained elsewhere), checking that the
    /// shapes agree.
    pub fn from_parts(
        model: AnyModel,
        params: AnyParams,
        users: IdMap,
        items: IdMap,
        item_meta: Vec<ItemMeta>,
        history: InteractionMatrix,
    ) -> Result<Self> {
        use crate::model::Recommender;
        let (nu, ni) = (model.n_users(), model.n_items());
        if users.len() != nu || history.n_users() != nu {
            return Err(RecoError::param(
                "users",
                format!("model has {nu} users, ids {} and history {}", users.len(), history.n_users()),
            ));
        }
        if items.len() != ni || item_meta.len() != ni || history.n_items() != ni {
            return Err(RecoError::param(
                "items",
                format!(
                    "model has {ni} items, ids {}, metadata {} and history {}",
                    items.len(),
                    item_meta.len(),
                    history.n_items()
                ),
            ));
        }
        if params.name() != model.name() {
            return Err(RecoError::param(
                "params",
                format!("`{}` parameters for a `{}` model (the file would not load)", params.name(), model.name()),
            ));
        }
        validate::item_meta(&item_meta).map_err(|e| RecoError::param("item_meta", e))?;
        validate::history(&history).map_err(|e| RecoError::param("history", e))?;
        Ok(TrainedModel { model, params, users, items, item_meta, history, retrieval: None, bought: None })
    }
}

pub(super) fn put_csr(t: &mut TensorsOut, prefix: &str, m: &CsMat<f32>) {
    t.u64(&format!("{prefix}.shape"), &[m.rows(), m.cols()]);
    t.u64(&format!("{prefix}.indptr"), m.indptr().raw_storage());
    t.u32(&format!("{prefix}.indices"), &m.indices().iter().map(|&i| i as u32).collect::<Vec<_>>());
    t.f32(&format!("{prefix}.data"), vec![m.nnz()], m.data());
}

/// The purchases among `data`'s interactions, as a user × item matrix (what "because you bought" names).
fn purchases(data: &Dataset) -> InteractionMatrix {
    let bought: Vec<_> =
        data.interactions.iter().filter(|i| i.kind == crate::data::EventKind::Purchase).cloned().collect();
    crate::data::interaction_matrix(&bought, data.n_users(), data.n_items())
}

/// The stored sequences of a sequential model: one per user, items below `ni`.
fn get_sequences(t: &TensorsIn<'_>, prefix: &str, nu: usize, ni: usize) -> Result<Sequences> {
    let indptr = t.u64(&format!("{prefix}.indptr"))?;
    let items = t.u32(&format!("{prefix}.items"))?;
    let s = Sequences::from_parts(indptr, items, ni).map_err(|e| t.error(format!("`{prefix}`: {e}")))?;
    if s.len() != nu {
        return Err(t.error(format!("{} stored sequences for {nu} users", s.len())));
    }
    Ok(s)
}

#[allow(clippy::too_many_arguments)]
fn get_model(
    t: &TensorsIn<'_>,
    prefix: &str,
    name: &str,
    params: &AnyParams,
    nu: usize,
    ni: usize,
    history: &InteractionMatrix,
) -> Result<AnyModel> {
    let key = |k: &str| format!("{prefix}{k}");
    Ok(match name {
        "pop" => {
            let (counts, _) = t.f32(&key("pop.counts"))?;
            check_len(t, "pop.counts", counts.len(), ni)?;
            validate::non_negative("pop.counts", &counts).map_err(|e| t.error(e))?;
            AnyModel::Pop(Popularity::from_counts(nu, counts))
        }
        "itemknn" => AnyModel::ItemKnn(ItemKnn::from_parts(get_neighbours(t, &key("knn"), ni)?, history)),
        "als" | "bpr" => {
            let (x, xs) = t.f32(&key("mf.user_factors"))?;
            let (y, ys) = t.f32(&key("mf.item_factors"))?;
            if xs.len() != 2 || ys.len() != 2 || xs[0] != nu || ys[0] != ni || xs[1] != ys[1] {
                return Err(t.error(format!("factor shapes {xs:?} / {ys:?} do not fit {nu} users × {ni} items")));
            }
            validate::finite("mf.user_factors", &x).map_err(|e| t.error(e))?;
            validate::finite("mf.item_factors", &y).map_err(|e| t.error(e))?;
            let bias = if t.has(&key("mf.item_bias")) {
                let (b, _) = t.f32(&key("mf.item_bias"))?;
                check_len(t, "mf.item_bias", b.len(), ni)?;
                validate::finite("mf.item_bias", &b).map_err(|e| t.error(e))?;
                Some(b)
            } else {
                None
            };
            let x = Array2::from_shape_vec((xs[0], xs[1]), x).map_err(|e| t.error(e.to_string()))?;
            let y = Array2::from_shape_vec((ys[0], ys[1]), y).map_err(|e| t.error(e.to_string()))?;
            AnyModel::Mf(MatrixFactorization::from_parts(if name == "als" { "als" } else { "bpr" }, x, y, bias))
        }
        "gmf" | "mlp" | "neumf" => {
            let kind = match name {
                "gmf" => NcfKind::Gmf,
                "mlp" => NcfKind::Mlp,
                _ => NcfKind::NeuMf,
            };
            let m = Ncf::from_named(kind, nu, ni, |n| {
                let k = key(&format!("ncf.{n}"));
                if t.has(&k) {
                    t.f32(&k).map(Some)
                } else {
                    Ok(None)
                }
            })
            .map_err(|e| t.error(e.to_string()))?;
            AnyModel::Ncf(m)
        }
        "content" => {
            AnyModel::Content(ContentModel::from_parts(get_csr(t, &key("content.vectors"), Some(ni))?, history))
        }
        "hybrid" => {
            let AnyParams::Hybrid(h) = params else { return Err(t.error("hybrid model without hybrid parameters")) };
            let cf_name = match *h.cf {
                AnyParams::Pop(_) => "pop",
                AnyParams::ItemKnn(..) => "itemknn",
                AnyParams::Als(_) => "als",
                AnyParams::Bpr(_) => "bpr",
                _ => return Err(t.error("a hybrid's collaborative part must be pop, itemknn, als or bpr")),
            };
            let (w, _) = t.f32(&key("hybrid.weight"))?;
            let weight = *w.first().ok_or_else(|| t.error("empty hybrid weight"))?;
            let weight = validate::weight("hybrid", weight).map_err(|e| t.error(e))?;
            let cf = get_model(t, &key("cf."), cf_name, &h.cf, nu, ni, history)?;
            let content = ContentModel::from_parts(get_csr(t, &key("content.vectors"), Some(ni))?, history);
            AnyModel::Hybrid(Hybrid::new(Arc::new(cf), Arc::new(content), weight))
        }
        "transition" => {
            let AnyParams::Transition(p) = params else {
                return Err(t.error("transition model without transition parameters"));
            };
            let sequences = get_sequences(t, &key("seq"), nu, ni)?;
            let next = get_neighbours(t, &key("transition"), ni)?;
            AnyModel::Transition(
                Transition::from_parts(p.clone(), next, sequences).map_err(|e| t.error(e.to_string()))?,
            )
        }
        "sknn" => {
            let AnyParams::Sknn(p) = params else { return Err(t.error("sknn model without sknn parameters")) };
            let sequences = get_sequences(t, &key("seq"), nu, ni)?;
            AnyModel::Sknn(Sknn::from_parts(p.clone(), sequences, ni).map_err(|e| t.error(e.to_string()))?)
        }
        "sasrec" => {
            let AnyParams::SasRec(p) = params else { return Err(t.error("sasrec model without sasrec parameters")) };
            let stored = get_sequences(t, &key("seq"), nu, ni)?;
            let sequences: Vec<Vec<u32>> = (0..stored.len()).map(|u| stored.get(u).to_vec()).collect();
            let model = SasRec::from_parts(p.clone(), ni, sequences, |n| t.f32(&key(&format!("sasrec.{n}"))).ok())
                .map_err(|e| t.error(e.to_string()))?;
            AnyModel::SasRec(model)
        }
        "fusion" => {
            let AnyParams::Fusion(f) = params else { return Err(t.error("fusion model without fusion parameters")) };
            f.validate().map_err(|e| t.error(e.to_string()))?;
            let (w, _) = t.f32(&key("fusion.weight"))?;
            let weight = *w.first().ok_or_else(|| t.error("empty fusion weight"))?;
            let weight = validate::weight("fusion", weight).map_err(|e| t.error(e))?;
            let a = get_model(t, &key("a."), f.a.name(), &f.a, nu, ni, history)?;
            let b = get_model(t, &key("b."), f.b.name(), &f.b, nu, ni, history)?;
            AnyModel::Fusion(Fusion::new(Arc::new(a), Arc::new(b), weight))
        }
        other => return Err(t.error(format!("unknown model `{other}` (written by a newer shopml?)"))),
    })
}

/// Per-item neighbour lists written by `persist::put_neighbours`: one list per item of the model.
fn get_neighbours(t: &TensorsIn<'_>, name: &str, ni: usize) -> Result<Neighbours> {
    let indptr = t.u64(&format!("{name}.indptr"))?;
    let indices = t.u32(&format!("{name}.indices"))?;
    let (data, _) = t.f32(&format!("{name}.data"))?;
    let n = Neighbours::from_parts(indptr, indices, data).map_err(|e| t.error(e))?;
    if n.n_items() != ni {
        return Err(t.error(format!("`{name}`: {} neighbour lists for {ni} items", n.n_items())));
    }
    Ok(n)
}

fn get_csr(t: &TensorsIn<'_>, prefix: &str, rows: Option<usize>) -> Result<CsMat<f32>> {
    let shape = t.u64(&format!("{prefix}.shape"))?;
    let [r, c] = shape[..] else { return Err(t.error(format!("`{prefix}.shape` is not two numbers"))) };
    if rows.is_some_and(|n| n != r) {
        return Err(t.error(format!("`{prefix}` has {r} rows, expected {}", rows.unwrap_or(0))));
    }
    // Scoring allocates a dense row of `c` values: a damaged column count must not abort the process.
    const MAX_COLUMNS: usize = 1 << 24;
    if c > MAX_COLUMNS {
        return Err(t.error(format!("`{prefix}` has {c} columns (more than {MAX_COLUMNS}: damaged)")));
    }
    let indptr = t.u64(&format!("{prefix}.indptr"))?;
    let indices: Vec<usize> = t.u32(&format!("{prefix}.indices"))?.into_iter().map(|i| i as usize).collect();
    let (data, _) = t.f32(&format!("{prefix}.data"))?;
    validate::finite(&format!("{prefix}.data"), &data).map_err(|e| t.error(e))?;
    CsMat::try_new((r, c), indptr, indices, data)
        .map_err(|e| t.error(format!("`{prefix}` is not a valid sparse matrix: {e:?}")))
}

fn check_len(t: &TensorsIn<'_>, name: &str, got: usize, want: usize) -> Result<()> {
    if got == want {
        Ok(())
    } else {
        Err(t.error(format!("tensor `{name}` has {got} values, expected {want}")))
    }
}

fn csr(t: &TensorsIn<'_>, prefix: &str, rows: usize, cols: usize) -> Result<InteractionMatrix> {
    let indptr = t.u64(&format!("{prefix}.indptr"))?;
    let indices: Vec<usize> = t.u32(&format!("{prefix}.indices"))?.into_iter().map(|i| i as usize).collect();
    let (data, _) = t.f32(&format!("{prefix}.data"))?;
    let m = CsMat::try_new((rows, cols), indptr, indices, data)
        .map_err(|e| t.error(format!("`{prefix}` is not a valid sparse matrix: {e:?}")))?;
    Ok(InteractionMatrix::from_csr(m))
}
