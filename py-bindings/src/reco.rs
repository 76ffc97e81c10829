//! `shopml.Dataset` and `shopml.Recommender`: reco-core's `Dataset`, `TrainedModel` and serving behind
//! Python conversions.

use crate::convert::{self, Ids};
use crate::errors::{self, invalid, ModelClosedError, NotFittedError};
use numpy::{PyArray1, PyArrayMethods};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString, PyTuple};
use reco_core::ann::AnnParams;
use reco_core::data::{Dataset, EventKind, KindWeights};
use reco_core::eval::{self as pipeline, Protocol};
use reco_core::model::AnyParams;
use reco_core::serve::{Filter, LiveEvents, Recommendation};
use reco_core::store::TrainedModel;
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

/// Interactions (who touched what, when, how much) plus item metadata, ready to fit on.
///
/// Build one with `Dataset.from_arrays`, `Dataset.from_csr`, `Dataset.from_frame` or `Dataset.load`;
/// add categories, prices and texts with `with_items`. Ids are non-negative integers or strings.
#[pyclass(name = "Dataset", module = "shopml", frozen)]
pub struct PyDataset {
    /// The events as given (kinds and weights unchanged).
    pub(crate) data: Dataset,
    pub(crate) user_int: bool,
    pub(crate) item_int: bool,
    /// Applied when fitting ([`PyDataset::fitted_on`]) and, after the split, when evaluating.
    pub(crate) kind_weights: KindWeights,
}

impl PyDataset {
    fn new(data: Dataset, user_int: bool, item_int: bool) -> Self {
        PyDataset { data, user_int, item_int, kind_weights: KindWeights::EQUAL }
    }

    /// The events as a model is fitted on them: weighted by kind (a copy only when some weight is not 1).
    pub(crate) fn fitted_on(&self) -> PyResult<std::borrow::Cow<'_, Dataset>> {
        self.data.weighted_view(&self.kind_weights).map_err(errors::reco)
    }
}

fn push_all(
    users: &Ids,
    items: &Ids,
    weights: Option<&[f32]>,
    times: Option<&[i64]>,
    kinds: Option<&[EventKind]>,
) -> PyResult<Dataset> {
    convert::check_len(items.len(), users.len(), "items")?;
    let mut data = Dataset::new("python");
    for i in 0..users.len() {
        let w = weights.map_or(1.0, |w| w[i]);
        // Without timestamps the input order is the time order (leave-one-out holds out the last).
        let t = times.map_or(i as i64, |t| t[i]);
        let kind = kinds.map_or(EventKind::Purchase, |k| k[i]);
        data.push(&users.text(i), &items.text(i), t, kind, w).map_err(|e| invalid(format!("row {i}: {e}")))?;
    }
    Ok(data)
}

fn event_kinds(obj: Option<&Bound<'_, PyAny>>, n: usize) -> PyResult<Option<Vec<EventKind>>> {
    let Some(texts) = convert::texts(obj, "kinds", n)? else { return Ok(None) };
    texts
        .into_iter()
        .enumerate()
        .map(|(i, t)| {
            let t = t.unwrap_or_default();
            EventKind::parse(&t).ok_or_else(|| {
                invalid(format!("kinds[{i}] = {t:?}: not one of view, search-click, add-to-cart, purchase"))
            })
        })
        .collect::<PyResult<Vec<_>>>()
        .map(Some)
}

/// `kind_weights` given as a dict of kind → weight or as `"kind=weight,..."` text; `None`: the defaults.
fn kind_weights_of(obj: Option<&Bound<'_, PyAny>>) -> PyResult<KindWeights> {
    let text = match obj {
        None => String::new(),
        Some(o) if o.is_none() => String::new(),
        Some(o) => match o.cast::<pyo3::types::PyDict>() {
            Ok(d) => {
                let mut pairs = Vec::new();
                for (k, v) in d.iter() {
                    let k: String = k.extract().map_err(|_| invalid("kind_weights: keys must be kind names"))?;
                    let v: f64 = v.extract().map_err(|_| invalid(format!("kind_weights[{k:?}]: not a number")))?;
                    pairs.push(format!("{k}={v}"));
                }
                pairs.join(",")
            }
            Err(_) => o.extract().map_err(|_| invalid("kind_weights: expected a dict or \"kind=weight,...\" text"))?,
        },
    };
    KindWeights::parse(&text).map_err(errors::reco)
}

#[pymethods]
impl PyDataset {
    /// Interactions from parallel 1-D arrays (numpy, lists, pandas/polars column values).
    ///
    /// `users`, `items`: ids (non-negative ints or str). `weights`: positive finite floats (default 1).
    /// `timestamps`: ints or `datetime64` (default: the row order). `kinds`: `"view"`, `"search-click"`,
    /// `"add-to-cart"` or `"purchase"` per row (default purchase). `kind_weights`: how much each kind
    /// counts, a dict (`{"view": 0.1}`) or text (`"view=0.1,add-to-cart=0.5"`); kinds not named keep the
    /// defaults (view 0.25, search-click 0.25, add-to-cart 0.5, purchase 1; see benches/README.md); 0 drops
    /// a kind. Each event's weight is multiplied by its kind's. With mixed kinds, `evaluate` holds out
    /// each user's last purchase.
    #[staticmethod]
    #[pyo3(signature = (users, items, weights=None, timestamps=None, kinds=None, kind_weights=None))]
    #[allow(clippy::too_many_arguments)]
    fn from_arrays(
        py: Python<'_>,
        users: &Bound<'_, PyAny>,
        items: &Bound<'_, PyAny>,
        weights: Option<&Bound<'_, PyAny>>,
        timestamps: Option<&Bound<'_, PyAny>>,
        kinds: Option<&Bound<'_, PyAny>>,
        kind_weights: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let users = convert::ids(users, "users")?;
        let items = convert::ids(items, "items")?;
        let n = users.len();
        let weights = convert::floats(weights, "weights", n)?;
        let times = convert::timestamps(timestamps, "timestamps", n)?;
        let kinds = event_kinds(kinds, n)?;
        let kind_weights = kind_weights_of(kind_weights)?;
        let data = py.detach(|| push_all(&users, &items, weights.as_deref(), times.as_deref(), kinds.as_deref()))?;
        Ok(PyDataset { kind_weights, ..PyDataset::new(data, users.is_int(), items.is_int()) })
    }

    /// Interactions from a users × items sparse matrix (scipy CSR/CSC/COO …, as `implicit` takes it):
    /// row index = user id, column index = item id, stored value = weight.
    #[staticmethod]
    fn from_csr(py: Python<'_>, matrix: &Bound<'_, PyAny>) -> PyResult<Self> {
        let m = match matrix.getattr("tocsr") {
            Ok(f) => f.call0()?.call_method0("copy")?,
            Err(_) => return Err(invalid("matrix: expected a scipy.sparse matrix (users × items)")),
        };
        // Explicitly stored zeros are "no interaction", as in `implicit`.
        m.call_method0("eliminate_zeros")?;
        let indptr = convert::ids(&m.getattr("indptr")?, "matrix.indptr")?;
        let indices = convert::ids(&m.getattr("indices")?, "matrix.indices")?;
        let (Ids::Int(indptr), Ids::Int(indices)) = (indptr, indices) else {
            return Err(invalid("matrix: index arrays are not integers"));
        };
        let weights = convert::floats(Some(&m.getattr("data")?), "matrix.data", indices.len())?.unwrap_or_default();
        let (indptr, indices): (Vec<usize>, Vec<u32>) = (
            indptr.iter().map(|&v| v as usize).collect(),
            indices
                .iter()
                .map(|&v| u32::try_from(v).map_err(|_| invalid("matrix: column index out of range")))
                .collect::<PyResult<_>>()?,
        );
        let data = py
            .detach(|| Dataset::from_csr("python", &indptr, &indices, &weights))
            .map_err(|e| invalid(format!("matrix: {e}")))?;
        Ok(PyDataset::new(data, true, true))
    }

    /// Interactions from a pandas or polars DataFrame, by column name. Columns are read with
    /// `.to_numpy()`, so any frame library with that method works.
    #[staticmethod]
    /// `kind_weights` as in `from_arrays`.
    #[pyo3(signature = (frame, user="user", item="item", weight=None, time=None, kind=None, kind_weights=None))]
    #[allow(clippy::too_many_arguments)]
    fn from_frame(
        py: Python<'_>,
        frame: &Bound<'_, PyAny>,
        user: &str,
        item: &str,
        weight: Option<&str>,
        time: Option<&str>,
        kind: Option<&str>,
        kind_weights: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let col = |name: &str| -> PyResult<Bound<'_, PyAny>> {
            let column = frame.get_item(name).map_err(|_| {
                let have = frame
                    .getattr("columns")
                    .and_then(|c| c.str())
                    .map(|s| s.to_string())
                    .unwrap_or_else(|_| "?".into());
                invalid(format!("frame has no column `{name}` (columns: {have})"))
            })?;
            column.call_method0("to_numpy")
        };
        let (u, i) = (col(user)?, col(item)?);
        let w = weight.map(col).transpose()?;
        let t = time.map(col).transpose()?;
        let k = kind.map(col).transpose()?;
        Self::from_arrays(py, &u, &i, w.as_ref(), t.as_ref(), k.as_ref(), kind_weights)
    }

    /// Reads a file in one of the core loaders' formats: `"online-retail"` (UCI Online Retail CSV,
    /// `.gz` fine), `"s3rec"` (sequences + `_item2attributes.json`), `"movielens"` (`u.data`).
    #[staticmethod]
    #[pyo3(signature = (path, format="online-retail"))]
    fn load(py: Python<'_>, path: PathBuf, format: &str) -> PyResult<Self> {
        let fmt: reco_core::io::Format = format.parse().map_err(errors::reco)?;
        if fmt == reco_core::io::Format::Table {
            return Err(invalid("format: read CSV/Parquet tables with pandas or polars, then Dataset.from_frame"));
        }
        let data =
            py.detach(|| reco_core::io::load(&path, fmt, &reco_core::io::Columns::default())).map_err(errors::reco)?;
        let (user_int, item_int) = (convert::all_int(data.users().ids()), convert::all_int(data.items().ids()));
        Ok(PyDataset::new(data, user_int, item_int))
    }

    /// A copy with item metadata set: `categories` (str), `prices` (float), `texts` (titles /
    /// descriptions, for content models) per id of `items`. Ids not yet seen are added as items without
    /// interactions (cold-start items that content models can still recommend). `None` entries are left
    /// unset.
    #[pyo3(signature = (items, categories=None, prices=None, texts=None))]
    fn with_items(
        &self,
        items: &Bound<'_, PyAny>,
        categories: Option<&Bound<'_, PyAny>>,
        prices: Option<&Bound<'_, PyAny>>,
        texts: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let ids = convert::ids(items, "items")?;
        if !self.data.items().is_empty() && ids.len() > 0 && ids.is_int() != self.item_int {
            return Err(invalid(format!(
                "items: this dataset's item ids are {}",
                if self.item_int { "ints" } else { "str" }
            )));
        }
        let n = ids.len();
        let categories = convert::texts(categories, "categories", n)?;
        let prices = convert::floats(prices, "prices", n)?;
        let texts = convert::texts(texts, "texts", n)?;
        let mut data = self.data.clone();
        for i in 0..n {
            let category = categories.as_ref().and_then(|c| c[i].clone());
            let text = texts.as_ref().and_then(|t| t[i].clone());
            data.describe_item(&ids.text(i), category, prices.as_ref().map(|p| p[i]), text)
                .map_err(|e| invalid(format!("items[{i}]: {e}")))?;
        }
        let item_int = if self.data.items().is_empty() { ids.is_int() } else { self.item_int };
        Ok(PyDataset { data, user_int: self.user_int, item_int, kind_weights: self.kind_weights })
    }

    /// Leave-one-out split as the evaluations use it: each user's last new item (by time) is held out.
    /// Returns `(train, test_users, test_items)`: a `Dataset` without the held-out interactions (same ids
    /// and item metadata) and the held-out pairs as id arrays — for scoring another library on exactly
    /// the same split.
    fn leave_one_out<'py>(&self, py: Python<'py>) -> PyResult<(Self, Bound<'py, PyAny>, Bound<'py, PyAny>)> {
        let split = reco_core::data::split::leave_one_out(&self.data).map_err(errors::reco)?;
        let users = split.test.iter().map(|&(u, _)| self.data.users().id(u));
        let test_users = convert::id_array(py, users, split.test.len(), self.user_int)?;
        let items = split.test.iter().map(|&(_, i)| self.data.items().id(i));
        let test_items = convert::id_array(py, items, split.test.len(), self.item_int)?;
        let train = self.data.with_interactions(split.train).map_err(errors::reco)?;
        let train = PyDataset {
            data: train,
            user_int: self.user_int,
            item_int: self.item_int,
            kind_weights: self.kind_weights,
        };
        Ok((train, test_users, test_items))
    }

    /// The interactions as `(users, items, weights, timestamps)` arrays (e.g. to build another
    /// library's matrix from the same data).
    fn to_arrays<'py>(&self, py: Python<'py>) -> PyResult<Columns<'py>> {
        let d = &self.data;
        let n = d.interactions().len();
        let users = convert::id_array(py, d.interactions().iter().map(|x| d.users().id(x.user)), n, self.user_int)?;
        let items = convert::id_array(py, d.interactions().iter().map(|x| d.items().id(x.item)), n, self.item_int)?;
        let weights = PyArray1::from_vec(py, d.interactions().iter().map(|x| x.weight).collect()).into_any();
        let times = PyArray1::from_vec(py, d.interactions().iter().map(|x| x.timestamp).collect()).into_any();
        Ok((users, items, weights, times))
    }

    /// How much each event kind counts when a model is fitted on this data (`{"view": 0.25, ...}`).
    #[getter]
    fn kind_weights<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        let w = &self.kind_weights;
        for (k, v) in [
            ("view", w.view),
            ("search-click", w.search_click),
            ("add-to-cart", w.add_to_cart),
            ("purchase", w.purchase),
        ] {
            d.set_item(k, v)?;
        }
        Ok(d)
    }

    /// Number of distinct users.
    #[getter]
    fn n_users(&self) -> usize {
        self.data.n_users()
    }

    /// Number of distinct items (with or without interactions).
    #[getter]
    fn n_items(&self) -> usize {
        self.data.n_items()
    }

    /// Number of interactions.
    fn __len__(&self) -> usize {
        self.data.interactions().len()
    }

    fn __repr__(&self) -> String {
        format!(
            "Dataset({} interactions, {} users, {} items)",
            self.data.interactions().len(),
            self.data.n_users(),
            self.data.n_items()
        )
    }
}

/// `(users, items, weights, timestamps)` arrays.
type Columns<'py> = (Bound<'py, PyAny>, Bound<'py, PyAny>, Bound<'py, PyAny>, Bound<'py, PyAny>);

/// A fitted model plus which kind of ids its users and items have on the Python side.
pub struct Fitted {
    pub model: TrainedModel,
    pub user_int: bool,
    pub item_int: bool,
    /// Every item id as a Python str, made on first use (str-id models): results then hand out
    /// references instead of making a str per result (part of the per-call overhead budget).
    item_strs: std::sync::OnceLock<Vec<Py<PyAny>>>,
}

impl Fitted {
    fn new(model: TrainedModel, user_int: bool, item_int: bool) -> Self {
        Fitted { model, user_int, item_int, item_strs: std::sync::OnceLock::new() }
    }

    /// `(ids, scores)` numpy arrays of one result list.
    fn results<'py>(
        &self,
        py: Python<'py>,
        recs: &[Recommendation],
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
        if self.item_int {
            return convert::results(py, recs, true);
        }
        let strs = self.item_strs.get_or_init(|| {
            self.model.items().ids().iter().map(|s| PyString::new(py, s).into_any().unbind()).collect()
        });
        let ids: numpy::ndarray::Array1<Py<PyAny>> = recs
            .iter()
            .map(|r| match self.model.items().get(&r.item) {
                Some(i) => strs[i as usize].clone_ref(py),
                None => PyString::new(py, &r.item).into_any().unbind(),
            })
            .collect();
        let ids = PyArray1::<Py<PyAny>>::from_owned_object_array(py, ids).into_any();
        let scores = PyArray1::from_vec(py, recs.iter().map(|r| r.score).collect()).into_any();
        Ok((ids, scores))
    }
}

enum State {
    Unfitted,
    Fitted(Arc<Fitted>),
    Closed,
}

/// A recommendation model: hyper-parameters, and after `fit` (or `Recommender.load`) the fitted model.
///
/// `Recommender(model="als", **params)`; `model` is one of pop, itemknn, als, bpr, gmf, mlp, neumf,
/// content, hybrid, transition, sknn, sasrec. Hyper-parameters are keyword arguments (see `shopml.ALS`
/// etc. for each model's).
/// Thread-safe: fitting or indexing swaps the model in while other threads keep serving.
#[pyclass(name = "Recommender", module = "shopml", frozen)]
pub struct PyRecommender {
    params: AnyParams,
    state: RwLock<State>,
    /// Live events since the fit (`record_event`); kept across refits, like `Server`'s.
    live: LiveEvents,
}

fn param_text(key: &str, v: &Bound<'_, PyAny>) -> PyResult<String> {
    if let Ok(b) = v.cast::<pyo3::types::PyBool>() {
        return Ok(b.is_true().to_string());
    }
    if let Ok(s) = v.cast::<PyString>() {
        return Ok(s.to_str()?.to_owned());
    }
    if let Ok(i) = v.extract::<i64>() {
        return Ok(i.to_string());
    }
    if let Ok(f) = v.extract::<f64>() {
        return Ok(f.to_string());
    }
    if let Ok(list) = v.extract::<Vec<i64>>() {
        return Ok(list.iter().map(|x| x.to_string()).collect::<Vec<_>>().join("-"));
    }
    Err(invalid(format!("{key}: {} is not a number, bool, str or list of ints", v.repr()?)))
}

fn repr(v: &Bound<'_, PyAny>) -> String {
    v.repr().map(|r| r.to_string()).unwrap_or_else(|_| "?".into())
}

fn k_arg(k: &Bound<'_, PyAny>) -> PyResult<usize> {
    if k.is_instance_of::<pyo3::types::PyBool>() {
        return Err(invalid("k: expected a positive int, got a bool"));
    }
    match k.extract::<i64>() {
        Ok(v) if v >= 1 && !k.is_instance_of::<pyo3::types::PyBool>() => Ok(usize::try_from(v).unwrap_or(usize::MAX)),
        Ok(v) => Err(invalid(format!("k: must be at least 1, got {v}"))),
        Err(_) => Err(invalid(format!("k: expected a positive int, got {}", k.repr()?))),
    }
}

/// Progress for a fit: Ctrl-C is checked after every step (iteration / epoch); `show` prints a line
/// to `sys.stderr` or calls a `(done, total)` callable. The first Python error stops the fit.
struct FitProgress {
    label: String,
    show: Option<Py<PyAny>>,
    print: bool,
    error: Mutex<Option<PyErr>>,
}

impl FitProgress {
    fn new(label: String, show: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        let (print, show) = match show {
            Some(s) if s.is_callable() => (false, Some(s.clone().unbind())),
            Some(s) => (s.is_truthy()?, None),
            None => (false, None),
        };
        Ok(FitProgress { label, show, print, error: Mutex::new(None) })
    }

    fn step(&self, done: usize, total: usize) -> bool {
        Python::attach(|py| {
            let r = py.check_signals().and_then(|_| {
                if let Some(cb) = &self.show {
                    cb.call1(py, (done, total))?;
                } else if self.print {
                    let end = if done >= total { "\n" } else { "" };
                    let line = format!("\r{}: {done}/{total}{end}", self.label);
                    py.import("sys")?.getattr("stderr")?.call_method1("write", (line,))?;
                }
                Ok(())
            });
            match r {
                Ok(()) => true,
                Err(e) => {
                    if let Ok(mut slot) = self.error.lock() {
                        slot.get_or_insert(e);
                    }
                    false
                }
            }
        })
    }

    /// The Python error that stopped the fit, else the core error converted.
    fn error(&self, e: reco_core::RecoError) -> PyErr {
        match self.error.lock().ok().and_then(|mut s| s.take()) {
            Some(py_err) => py_err,
            None => errors::reco(e),
        }
    }
}

fn build_filter(
    filter_already_seen: bool,
    categories: Option<&Bound<'_, PyAny>>,
    exclude: Option<&Bound<'_, PyAny>>,
    out_of_stock: Option<&Bound<'_, PyAny>>,
    min_price: Option<f32>,
    max_price: Option<f32>,
) -> PyResult<Filter> {
    let set = |obj: Option<&Bound<'_, PyAny>>, what: &str| -> PyResult<HashSet<String>> {
        match obj.filter(|o| !o.is_none()) {
            None => Ok(HashSet::new()),
            Some(o) => {
                let ids = convert::ids(o, what)?;
                Ok((0..ids.len()).map(|i| ids.text(i).into_owned()).collect())
            }
        }
    };
    let categories = match categories.filter(|o| !o.is_none()) {
        None => None,
        Some(c) if c.is_instance_of::<PyString>() => Some(HashSet::from([c.extract::<String>()?])),
        Some(c) => Some(
            c.extract::<Vec<String>>()
                .map_err(|_| invalid(format!("categories: expected a str or a list of str, got {}", repr(c))))?
                .into_iter()
                .collect(),
        ),
    };
    Ok(Filter {
        exclude_seen: filter_already_seen,
        categories,
        min_price,
        max_price,
        out_of_stock: set(out_of_stock, "out_of_stock")?,
        exclude: set(exclude, "exclude")?,
    })
}

impl PyRecommender {
    fn fitted(&self) -> PyResult<Arc<Fitted>> {
        match &*self.state.read().map_err(|_| invalid("model lock poisoned"))? {
            State::Fitted(f) => Ok(f.clone()),
            State::Unfitted => Err(NotFittedError::new_err("call fit(...) first, or Recommender.load(path)")),
            State::Closed => Err(ModelClosedError::new_err("this model was closed")),
        }
    }

    fn set(&self, f: Fitted) -> PyResult<()> {
        let mut s = self.state.write().map_err(|_| invalid("model lock poisoned"))?;
        if matches!(*s, State::Closed) {
            return Err(ModelClosedError::new_err("this model was closed"));
        }
        *s = State::Fitted(Arc::new(f));
        Ok(())
    }

    fn from_model(model: TrainedModel) -> Self {
        let user_int = convert::all_int(model.users().ids());
        let item_int = convert::all_int(model.items().ids());
        PyRecommender {
            params: model.params().clone(),
            state: RwLock::new(State::Fitted(Arc::new(Fitted::new(model, user_int, item_int)))),
            live: LiveEvents::default(),
        }
    }

    fn batch<'py>(
        &self,
        py: Python<'py>,
        f: &Fitted,
        users: &Bound<'py, PyAny>,
        k: usize,
        filter: &Filter,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
        let ids = convert::ids(users, "users")?;
        let keys: Vec<String> = (0..ids.len()).map(|i| ids.text(i).into_owned()).collect();
        let width = k.min(f.model.items().len());
        let lists = py.detach(|| match self.live.is_empty() {
            true => f.model.recommend_many(&keys, k, filter),
            false => keys.iter().map(|u| self.live.recommend(&f.model, u, k, filter)).collect(),
        });
        let mut flat_ids: Vec<&str> = Vec::with_capacity(keys.len() * width);
        let mut flat_scores = Vec::with_capacity(keys.len() * width);
        let lists: Vec<Vec<Recommendation>> = lists.into_iter().collect::<Result<_, _>>().map_err(errors::reco)?;
        for list in &lists {
            for j in 0..width {
                flat_ids.push(list.get(j).map_or("", |r| r.item.as_str()));
                flat_scores.push(list.get(j).map_or(f32::NAN, |r| r.score));
            }
        }
        let shape = [keys.len(), width];
        let ids = convert::id_array(py, flat_ids.into_iter(), keys.len() * width, f.item_int)?;
        let ids = ids.call_method1("reshape", (shape,))?;
        let scores = PyArray1::from_vec(py, flat_scores).reshape(shape)?.into_any();
        Ok((ids, scores))
    }
}

#[pymethods]
impl PyRecommender {
    #[new]
    #[pyo3(signature = (model="als", **params))]
    fn new(model: &str, params: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        let mut pairs = Vec::new();
        for (k, v) in params.iter().flat_map(|p| p.iter()) {
            let key: String = k.extract()?;
            if !v.is_none() {
                // None: keep the default
                pairs.push((param_text(&key, &v)?, key));
            }
        }
        let pairs: Vec<(&str, &str)> = pairs.iter().map(|(v, k)| (k.as_str(), v.as_str())).collect();
        let p = AnyParams::with_params(model, &pairs).map_err(errors::reco)?;
        Ok(PyRecommender { params: p, state: RwLock::new(State::Unfitted), live: LiveEvents::default() })
    }

    /// Fits on `data` (a `Dataset`, or a users × items scipy.sparse matrix) and returns `self`.
    ///
    /// `show_progress`: `True` prints `model: step/total` to stderr; a callable gets `(done, total)`.
    /// The GIL is released while fitting. Ctrl-C stops an ALS, BPR or NCF fit after the current
    /// iteration and raises `KeyboardInterrupt`, leaving the model as it was; the other models fit in
    /// one step (seconds) and are interrupted once it ends.
    #[pyo3(signature = (data, show_progress=None))]
    fn fit<'py>(
        slf: &Bound<'py, Self>,
        data: &Bound<'py, PyAny>,
        show_progress: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, Self>> {
        let py = slf.py();
        let owned;
        let ds: &PyDataset = match data.cast::<PyDataset>() {
            Ok(d) => d.get(),
            Err(_) if data.hasattr("tocsr")? => {
                owned = Bound::new(py, PyDataset::from_csr(py, data)?)?;
                owned.get()
            }
            Err(_) => return Err(invalid("data: expected a shopml.Dataset or a scipy.sparse matrix")),
        };
        let me = slf.get();
        if matches!(*me.state.read().map_err(|_| invalid("model lock poisoned"))?, State::Closed) {
            return Err(ModelClosedError::new_err("this model was closed"));
        }
        let progress = FitProgress::new(format!("fit {}", me.params_name()), show_progress)?;
        let fitted_on = ds.fitted_on()?;
        let model = py
            .detach(|| TrainedModel::fit(&fitted_on, &me.params, &|d, t| progress.step(d, t)))
            .map_err(|e| progress.error(e))?;
        me.set(Fitted::new(model, ds.user_int, ds.item_int))?;
        Ok(slf.clone())
    }

    /// The `k` best items for `user` as `(ids, scores)` numpy arrays, best first.
    ///
    /// `user` may also be a list/array of users: then both arrays are 2-D, one row per user and
    /// `min(k, number of items)` columns (shorter rows padded with id -1 / "" and score NaN), and users
    /// are served in parallel with the GIL released. Ids may be given as int or str whatever the model's
    /// kind (a loaded model only guesses it). A user the model never saw gets popular items. Filters:
    /// `filter_already_seen` (items the user interacted with), `categories` (keep only these),
    /// `exclude` and `out_of_stock` (item ids to leave out), `min_price` / `max_price`.
    #[pyo3(signature = (user, k=None, *, filter_already_seen=true, categories=None, exclude=None,
                        out_of_stock=None, min_price=None, max_price=None))]
    #[allow(clippy::too_many_arguments)]
    fn recommend<'py>(
        &self,
        py: Python<'py>,
        user: &Bound<'py, PyAny>,
        k: Option<&Bound<'py, PyAny>>,
        filter_already_seen: bool,
        categories: Option<&Bound<'py, PyAny>>,
        exclude: Option<&Bound<'py, PyAny>>,
        out_of_stock: Option<&Bound<'py, PyAny>>,
        min_price: Option<f32>,
        max_price: Option<f32>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
        let f = self.fitted()?;
        let k = k.map(k_arg).transpose()?.unwrap_or(10);
        let filter = build_filter(filter_already_seen, categories, exclude, out_of_stock, min_price, max_price)?;
        if !convert::is_scalar_id(user) {
            return self.batch(py, &f, user, k, &filter);
        }
        let key = convert::key(user, "user")?;
        let recs = self.live.recommend(&f.model, &key, k, &filter).map_err(errors::reco)?;
        f.results(py, &recs)
    }

    /// The `k` best next items after `history` (item ids, oldest first — a guest session, the products
    /// just viewed) as `(ids, scores)`. The sequential models (`SASRec`, `Transition`, `SKNN`) read the
    /// order. Unknown ids are ignored; an item given twice counts at its latest position; SASRec reads
    /// the most recent `max_len` items; an empty history (or unknown ids only) gets popular items; `k`
    /// below 1 raises `InvalidInputError`. Filters as `recommend`.
    #[pyo3(signature = (history, k=None, *, filter_already_seen=true, categories=None, exclude=None,
                        out_of_stock=None, min_price=None, max_price=None))]
    #[allow(clippy::too_many_arguments)]
    fn recommend_next<'py>(
        &self,
        py: Python<'py>,
        history: &Bound<'py, PyAny>,
        k: Option<&Bound<'py, PyAny>>,
        filter_already_seen: bool,
        categories: Option<&Bound<'py, PyAny>>,
        exclude: Option<&Bound<'py, PyAny>>,
        out_of_stock: Option<&Bound<'py, PyAny>>,
        min_price: Option<f32>,
        max_price: Option<f32>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
        self.recommend_items(
            py,
            history,
            k,
            filter_already_seen,
            categories,
            exclude,
            out_of_stock,
            min_price,
            max_price,
        )
    }

    /// Records a live event: `user` (a customer or a guest session id) touched `item` now. The next
    /// `recommend(user)` of a sequential model reads it at once, without a refit; every model leaves the
    /// item out. Kept in memory (bounded) across refits; `forget(user)` drops them.
    fn record_event(&self, user: &Bound<'_, PyAny>, item: &Bound<'_, PyAny>) -> PyResult<()> {
        let (user, item) = (convert::key(user, "user")?, convert::key(item, "item")?);
        self.live.record(&user, &item).map_err(errors::reco)
    }

    /// `user`'s live events, oldest first (a numpy array of ids).
    fn live_events<'py>(&self, py: Python<'py>, user: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let events = self.live.events(&convert::key(user, "user")?);
        let item_int = self.fitted().is_ok_and(|f| f.item_int) && events.iter().all(|e| e.parse::<i64>().is_ok());
        convert::id_array(py, events.iter().map(String::as_str), events.len(), item_int)
    }

    /// Forgets `user`'s live events.
    fn forget(&self, user: &Bound<'_, PyAny>) -> PyResult<()> {
        self.live.forget(&convert::key(user, "user")?);
        Ok(())
    }

    /// Recommendations for an anonymous session from the items it touched, oldest first (the same as
    /// `recommend_next`).
    #[pyo3(signature = (items, k=None, *, filter_already_seen=true, categories=None, exclude=None,
                        out_of_stock=None, min_price=None, max_price=None))]
    #[allow(clippy::too_many_arguments)]
    fn recommend_items<'py>(
        &self,
        py: Python<'py>,
        items: &Bound<'py, PyAny>,
        k: Option<&Bound<'py, PyAny>>,
        filter_already_seen: bool,
        categories: Option<&Bound<'py, PyAny>>,
        exclude: Option<&Bound<'py, PyAny>>,
        out_of_stock: Option<&Bound<'py, PyAny>>,
        min_price: Option<f32>,
        max_price: Option<f32>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
        let f = self.fitted()?;
        let k = k.map(k_arg).transpose()?.unwrap_or(10);
        let filter = build_filter(filter_already_seen, categories, exclude, out_of_stock, min_price, max_price)?;
        let ids = convert::ids(items, "items")?;
        let keys: Vec<String> = (0..ids.len()).map(|i| ids.text(i).into_owned()).collect();
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        let recs = f.model.recommend_next(&refs, k, &filter).map_err(errors::reco)?;
        f.results(py, &recs)
    }

    /// The `k` items most similar to `item` as `(ids, scores)`.
    #[pyo3(signature = (item, k=None))]
    fn similar_items<'py>(
        &self,
        py: Python<'py>,
        item: &Bound<'py, PyAny>,
        k: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
        let f = self.fitted()?;
        let k = k.map(k_arg).transpose()?.unwrap_or(10);
        let key = convert::key(item, "item")?;
        let recs = f.model.similar_items(&key, k).map_err(errors::reco)?;
        f.results(py, &recs)
    }

    /// Why an item was recommended to a user, where the model can say ("because you bought …"); the
    /// reasons of `recommend(user, k)` in order.
    #[pyo3(signature = (user, k=None))]
    fn explain(&self, user: &Bound<'_, PyAny>, k: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<Option<String>>> {
        let f = self.fitted()?;
        let k = k.map(k_arg).transpose()?.unwrap_or(10);
        let key = convert::key(user, "user")?;
        let recs = f.model.recommend(&key, k, &Filter::default()).map_err(errors::reco)?;
        Ok(recs.into_iter().map(|r| r.reason).collect())
    }

    /// Evaluates these hyper-parameters on `data` and returns a dict of metrics (hr, ndcg, precision,
    /// recall, f1, mrr, coverage, users, fit_seconds, eval_seconds). Fits its own copy on the split: the
    /// model's fitted state is not touched.
    ///
    /// `protocol`: `"loo-full"` (held-out last item vs every item), `"loo-sampled"` (vs 99 sampled
    /// negatives) or `"cold-items"` (`cold_fraction` of the items held out entirely).
    #[pyo3(signature = (data, protocol="loo-full", k=None, seed=42, split="test", cold_fraction=0.1))]
    #[allow(clippy::too_many_arguments)]
    fn evaluate<'py>(
        &self,
        py: Python<'py>,
        data: &Bound<'py, PyDataset>,
        protocol: &str,
        k: Option<&Bound<'py, PyAny>>,
        seed: u64,
        split: &str,
        cold_fraction: f64,
    ) -> PyResult<Bound<'py, PyDict>> {
        let k = k.map(k_arg).transpose()?.unwrap_or(10);
        let (data, weights) = (&data.get().data, &data.get().kind_weights);
        let params = &self.params;
        // Ctrl-C is checked between training iterations, as in `fit`.
        let progress = FitProgress::new(String::new(), None)?;
        let step = |d, t| progress.step(d, t);
        let run = if protocol == "cold-items" {
            py.detach(|| pipeline::run_cold_start(data, weights, params, cold_fraction, k, seed, &step))
        } else {
            let proto: Protocol = protocol.parse().map_err(errors::reco)?;
            let target: pipeline::Target = split.parse().map_err(errors::reco)?;
            py.detach(|| pipeline::run_loo(data, weights, params, proto, k, seed, target, &step))
        }
        .map_err(|e| progress.error(e))?;
        let m = &run.report.metrics;
        let d = PyDict::new(py);
        d.set_item("model", self.params_name())?;
        d.set_item("protocol", run.report.protocol)?;
        d.set_item("held_out", run.held_out)?;
        d.set_item("k", run.report.k)?;
        for (key, v) in [
            ("hr", m.hr),
            ("ndcg", m.ndcg),
            ("precision", m.precision),
            ("recall", m.recall),
            ("f1", m.f1),
            ("mrr", m.mrr),
        ] {
            d.set_item(key, v)?;
        }
        d.set_item("coverage", run.report.coverage)?;
        d.set_item("users", run.report.users_evaluated)?;
        d.set_item("fit_seconds", run.fit_seconds)?;
        d.set_item("eval_seconds", run.eval_seconds)?;
        Ok(d)
    }

    /// Builds an HNSW index over the item vectors so that `recommend` retrieves candidates instead of
    /// scoring every item (large catalogues). The GIL is released; the indexed model is swapped in.
    /// `save` keeps the index: a model `load`ed from the file serves from it without building it again.
    #[pyo3(signature = (m=None, ef_construction=None, ef_search=None))]
    fn build_index(
        &self,
        py: Python<'_>,
        m: Option<usize>,
        ef_construction: Option<usize>,
        ef_search: Option<usize>,
    ) -> PyResult<()> {
        let f = self.fitted()?;
        let d = AnnParams::default();
        let params = AnnParams {
            m: m.unwrap_or(d.m),
            ef_construction: ef_construction.unwrap_or(d.ef_construction),
            ef_search: ef_search.unwrap_or(d.ef_search),
            ..d
        };
        let mut model = f.model.clone();
        py.detach(|| model.build_index(params)).map_err(errors::reco)?;
        self.set(Fitted::new(model, f.user_int, f.item_int))
    }

    /// Saves the fitted model to one file (magic, version, checksum; atomic write).
    fn save(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        let f = self.fitted()?;
        py.detach(|| f.model.save(&path)).map_err(errors::reco)
    }

    /// Loads a model file written by `save` (or `shopml reco train --out`).
    #[staticmethod]
    fn load(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        let model = py.detach(|| TrainedModel::load(&path)).map_err(errors::reco)?;
        Ok(Self::from_model(model))
    }

    /// Releases the fitted model; any later call raises `ModelClosedError`.
    fn close(&self) -> PyResult<()> {
        *self.state.write().map_err(|_| invalid("model lock poisoned"))? = State::Closed;
        Ok(())
    }

    fn __enter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __exit__(
        &self,
        _t: Option<Bound<'_, PyAny>>,
        _v: Option<Bound<'_, PyAny>>,
        _tb: Option<Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        self.close()?;
        Ok(false)
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyTuple>)> {
        let py = slf.py();
        let me = slf.get();
        let params = serde_json::to_string(&me.params).map_err(|e| invalid(e.to_string()))?;
        let restore = py.import("shopml._shopml")?.getattr("_restore_recommender")?;
        let args = match &*me.state.read().map_err(|_| invalid("model lock poisoned"))? {
            State::Unfitted => (params, None::<Bound<'py, PyBytes>>, false, false).into_pyobject(py)?,
            State::Fitted(f) => {
                let bytes = f.model.to_bytes().map_err(errors::reco)?;
                (params, Some(PyBytes::new(py, &bytes)), f.user_int, f.item_int).into_pyobject(py)?
            }
            State::Closed => return Err(ModelClosedError::new_err("a closed model cannot be pickled")),
        };
        Ok((restore, args))
    }

    /// The model's name (`als`, `bpr`, …).
    #[getter]
    fn model(&self) -> &'static str {
        self.params_name()
    }

    /// The hyper-parameters (as the model file stores them).
    #[getter]
    fn params<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        // `{"model": "als", "params": {...}}` → `{...}`: the model's name is `model`.
        let json = match serde_json::to_value(&self.params).map_err(|e| invalid(e.to_string()))? {
            serde_json::Value::Object(mut m) => m.remove("params").unwrap_or_default(),
            v => v,
        };
        py.import("json")?.call_method1("loads", (json.to_string(),))
    }

    /// Whether the model is fitted (and not closed).
    #[getter]
    fn is_fitted(&self) -> bool {
        self.fitted().is_ok()
    }

    /// Users of the fitted model (numpy array of their ids).
    #[getter]
    fn user_ids<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let f = self.fitted()?;
        let ids = f.model.users().ids();
        convert::id_array(py, ids.iter().map(String::as_str), ids.len(), f.user_int)
    }

    /// Items of the fitted model (numpy array of their ids).
    #[getter]
    fn item_ids<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let f = self.fitted()?;
        let ids = f.model.items().ids();
        convert::id_array(py, ids.iter().map(String::as_str), ids.len(), f.item_int)
    }

    fn __repr__(&self) -> String {
        let state = match self.state.read().as_deref() {
            Ok(State::Fitted(f)) => format!("fitted, {} users, {} items", f.model.users().len(), f.model.items().len()),
            Ok(State::Unfitted) => "not fitted".into(),
            _ => "closed".into(),
        };
        format!("Recommender(model={:?}, {state})", self.params_name())
    }
}

impl PyRecommender {
    fn params_name(&self) -> &'static str {
        self.params.name()
    }
}

/// Pickle support: rebuilds a `Recommender` from `__reduce__`'s state.
#[pyfunction]
pub fn _restore_recommender(
    params: &str,
    model: Option<&Bound<'_, PyBytes>>,
    user_int: bool,
    item_int: bool,
) -> PyResult<PyRecommender> {
    let params: AnyParams = serde_json::from_str(params).map_err(|e| invalid(format!("pickled parameters: {e}")))?;
    let state = match model {
        None => State::Unfitted,
        Some(b) => {
            let model =
                TrainedModel::from_bytes(b.as_bytes(), std::path::Path::new("<pickle>")).map_err(errors::reco)?;
            State::Fitted(Arc::new(Fitted::new(model, user_int, item_int)))
        }
    };
    Ok(PyRecommender { params, state: RwLock::new(state), live: LiveEvents::default() })
}
