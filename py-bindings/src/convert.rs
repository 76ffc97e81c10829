//! Python values ↔ core values: id arrays, numbers, keys and result arrays. Every check here is about
//! the *Python* shape of a value (dtype, dimension, None); what a value means is checked by the core.

use crate::errors::invalid;
use numpy::ndarray::Array1;
use numpy::{PyArray1, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyFloat, PyInt, PyList, PyString, PyTuple};
use reco_core::serve::Recommendation;

/// Ids as the caller gave them: non-negative integers or strings.
#[derive(Debug)]
pub enum Ids {
    /// Integer ids (numpy integer dtypes, Python ints).
    Int(Vec<i64>),
    /// String ids.
    Str(Vec<String>),
}

impl Ids {
    pub fn len(&self) -> usize {
        match self {
            Ids::Int(v) => v.len(),
            Ids::Str(v) => v.len(),
        }
    }

    pub fn is_int(&self) -> bool {
        matches!(self, Ids::Int(_))
    }

    /// The id at `i` as the core's text id.
    pub fn text(&self, i: usize) -> std::borrow::Cow<'_, str> {
        match self {
            Ids::Int(v) => v[i].to_string().into(),
            Ids::Str(v) => v[i].as_str().into(),
        }
    }
}

fn asarray<'py>(obj: &Bound<'py, PyAny>, what: &str, dtype: Option<&str>) -> PyResult<Bound<'py, PyAny>> {
    let np = obj.py().import("numpy")?;
    let arr = match dtype {
        Some(d) => np.call_method1("asarray", (obj, d)),
        None => np.call_method1("asarray", (obj,)),
    }
    .map_err(|e| invalid(format!("{what}: cannot be read as an array ({e})")))?;
    let ndim: usize = arr.getattr("ndim")?.extract()?;
    if ndim != 1 {
        return Err(invalid(format!("{what}: expected a 1-D array, got {ndim} dimensions")));
    }
    Ok(arr)
}

fn dtype_kind(arr: &Bound<'_, PyAny>) -> PyResult<String> {
    arr.getattr("dtype")?.getattr("kind")?.extract()
}

fn dtype_name(arr: &Bound<'_, PyAny>) -> String {
    arr.getattr("dtype").and_then(|d| d.str()).map(|s| s.to_string()).unwrap_or_else(|_| "?".into())
}

fn int64_vec(arr: &Bound<'_, PyAny>) -> PyResult<Vec<i64>> {
    let a = arr.call_method1("astype", ("int64",))?;
    let a: PyReadonlyArray1<'_, i64> = a.extract()?;
    Ok(a.as_array().to_vec())
}

fn check_non_negative(v: &[i64], what: &str) -> PyResult<()> {
    match v.iter().position(|&x| x < 0) {
        Some(p) => Err(invalid(format!("{what}[{p}] = {}: ids must be ≥ 0", v[p]))),
        None => Ok(()),
    }
}

/// A 1-D sequence of ids (numpy array, list, pandas/polars column values).
pub fn ids(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Ids> {
    if obj.is_none() {
        return Err(invalid(format!("{what}: got None, expected a sequence of ids")));
    }
    if obj.is_instance_of::<PyString>() {
        return Err(invalid(format!("{what}: got one str, expected a sequence of ids")));
    }
    // Lists and tuples are read element by element: numpy would turn `["a", 1]` into strings.
    if obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>() {
        return id_list(obj, what);
    }
    let arr = asarray(obj, what, None)?;
    let n: usize = arr.len()?;
    if n == 0 {
        return Ok(Ids::Int(Vec::new()));
    }
    match dtype_kind(&arr)?.as_str() {
        "i" | "u" => {
            let v = int64_vec(&arr)?;
            check_non_negative(&v, what)?;
            Ok(Ids::Int(v))
        }
        "U" | "O" => id_list(&arr.call_method0("tolist")?, what),
        "f" => {
            Err(invalid(format!("{what}: float ids ({}); convert them with .astype(int) or to str", dtype_name(&arr))))
        }
        _ => Err(invalid(format!("{what}: dtype {} is not an id type (int or str)", dtype_name(&arr)))),
    }
}

/// Ids from a Python sequence, each an int or a str (not mixed).
fn id_list(list: &Bound<'_, PyAny>, what: &str) -> PyResult<Ids> {
    let mut ints = Vec::new();
    let mut strs = Vec::new();
    for (i, x) in list.try_iter()?.enumerate() {
        let x = x?;
        if let Ok(s) = x.cast::<PyString>() {
            strs.push(s.to_str()?.to_owned());
        } else if !x.is_instance_of::<PyBool>() && x.hasattr("__index__")? && !x.hasattr("__len__")? {
            ints.push(x.extract::<i64>().map_err(|e| invalid(format!("{what}[{i}]: {e}")))?);
        } else {
            let t = x.get_type().name().map(|n| n.to_string()).unwrap_or_default();
            return Err(invalid(format!("{what}[{i}] is {t} ({}): ids must be int or str", x.repr()?)));
        }
        if !ints.is_empty() && !strs.is_empty() {
            return Err(invalid(format!("{what}: mixes int and str ids (first mix at position {i})")));
        }
    }
    if strs.is_empty() {
        check_non_negative(&ints, what)?;
        Ok(Ids::Int(ints))
    } else {
        Ok(Ids::Str(strs))
    }
}

/// Optional 1-D float32 column of length `n`.
pub fn floats(obj: Option<&Bound<'_, PyAny>>, what: &str, n: usize) -> PyResult<Option<Vec<f32>>> {
    let Some(obj) = obj.filter(|o| !o.is_none()) else { return Ok(None) };
    let arr = asarray(obj, what, None)?;
    if !matches!(dtype_kind(&arr)?.as_str(), "f" | "i" | "u") {
        return Err(invalid(format!("{what}: dtype {} is not numeric", dtype_name(&arr))));
    }
    let a = arr.call_method1("astype", ("float32",))?;
    let a: PyReadonlyArray1<'_, f32> = a.extract()?;
    let v = a.as_array().to_vec();
    check_len(v.len(), n, what)?;
    Ok(Some(v))
}

/// Optional 1-D timestamp column (integers, or numpy datetime64 → epoch seconds) of length `n`.
pub fn timestamps(obj: Option<&Bound<'_, PyAny>>, what: &str, n: usize) -> PyResult<Option<Vec<i64>>> {
    let Some(obj) = obj.filter(|o| !o.is_none()) else { return Ok(None) };
    let mut arr = asarray(obj, what, None)?;
    match dtype_kind(&arr)?.as_str() {
        "M" => arr = arr.call_method1("astype", ("datetime64[s]",))?,
        "i" | "u" => {}
        _ => return Err(invalid(format!("{what}: dtype {} is not integer or datetime64", dtype_name(&arr)))),
    }
    let v = int64_vec(&arr)?;
    check_len(v.len(), n, what)?;
    Ok(Some(v))
}

/// Optional sequence of optional strings (None entries allowed) of length `n`.
pub fn texts(obj: Option<&Bound<'_, PyAny>>, what: &str, n: usize) -> PyResult<Option<Vec<Option<String>>>> {
    let Some(obj) = obj.filter(|o| !o.is_none()) else { return Ok(None) };
    if obj.is_instance_of::<PyString>() {
        return Err(invalid(format!("{what}: got one str, expected a sequence")));
    }
    let mut out = Vec::new();
    for (i, x) in obj.try_iter().map_err(|_| invalid(format!("{what}: not a sequence")))?.enumerate() {
        let x = x?;
        if x.is_none() || x.is_instance_of::<PyFloat>() && x.extract::<f64>().is_ok_and(f64::is_nan) {
            out.push(None); // pandas writes missing text as NaN
        } else if let Ok(s) = x.cast::<PyString>() {
            out.push(Some(s.to_str()?.to_owned()));
        } else {
            return Err(invalid(format!("{what}[{i}] is {}: expected str or None", x.repr()?)));
        }
    }
    check_len(out.len(), n, what)?;
    Ok(Some(out))
}

pub fn check_len(got: usize, want: usize, what: &str) -> PyResult<()> {
    if got != want {
        return Err(invalid(format!("{what}: length {got} does not match the ids' length {want}")));
    }
    Ok(())
}

/// One id (user or item) given by the caller, as the core's text id: a str as it is, a non-negative
/// int as its decimal text. Either kind is accepted whatever kind the model was fitted with (a model
/// loaded from a file only guesses its kind: `"17850"` and `17850` name the same customer).
pub fn key(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<String> {
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(s.to_str()?.to_owned());
    }
    if obj.is_instance_of::<PyBool>() {
        return Err(invalid(format!("{what}: got a bool, expected an id")));
    }
    match obj.extract::<i64>() {
        Ok(v) if v < 0 => Err(invalid(format!("{what} {v}: ids must be ≥ 0"))),
        Ok(v) => Ok(v.to_string()),
        Err(_) if obj.is_none() => Err(invalid(format!("{what}: got None, expected an id"))),
        Err(_) => {
            let t = obj.get_type().name().map(|n| n.to_string()).unwrap_or_default();
            Err(invalid(format!("{what}: got {t} {}, expected an int or str id", obj.repr()?)))
        }
    }
}

/// Whether `obj` is one id (a str, or anything without a length: ints, numpy integers, and the wrong
/// things `key` then rejects) rather than a batch of them.
pub fn is_scalar_id(obj: &Bound<'_, PyAny>) -> bool {
    // str and int first: `hasattr` on an int raises and clears an AttributeError inside CPython, which
    // cost about as much as the rest of a `recommend` call.
    if obj.is_instance_of::<PyString>() || obj.is_instance_of::<PyInt>() {
        return true;
    }
    // `getattr_opt` does not raise (and clear) an AttributeError for objects without `__len__`
    // (numpy integers), as `hasattr` does.
    !(obj.is_instance_of::<PyList>()
        || obj.is_instance_of::<PyTuple>()
        || obj.getattr_opt("__len__").is_ok_and(|a| a.is_some()))
}

/// `(ids, scores)` numpy arrays of one result list.
pub fn results<'py>(
    py: Python<'py>,
    recs: &[Recommendation],
    int_ids: bool,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    let scores = PyArray1::from_vec(py, recs.iter().map(|r| r.score).collect()).into_any();
    Ok((id_array(py, recs.iter().map(|r| r.item.as_str()), recs.len(), int_ids)?, scores))
}

/// A numpy array of ids: int64 for integer ids, object (str) otherwise.
pub fn id_array<'py, 'a>(
    py: Python<'py>,
    ids: impl Iterator<Item = &'a str>,
    n: usize,
    int_ids: bool,
) -> PyResult<Bound<'py, PyAny>> {
    if int_ids {
        let mut v = Vec::with_capacity(n);
        for id in ids {
            // Empty ids pad short rows of a batch.
            v.push(if id.is_empty() { -1 } else { parse_int(id)? });
        }
        Ok(PyArray1::from_vec(py, v).into_any())
    } else {
        let v: Array1<Py<PyAny>> = ids.map(|s| PyString::new(py, s).into_any().unbind()).collect();
        Ok(PyArray1::<Py<PyAny>>::from_owned_object_array(py, v).into_any())
    }
}

fn parse_int(id: &str) -> PyResult<i64> {
    id.parse().map_err(|_| invalid(format!("id `{id}` is not an integer")))
}

/// Whether every id is an integer written canonically (so ints round-trip through the model file).
pub fn all_int(ids: &[String]) -> bool {
    !ids.is_empty() && ids.iter().all(|s| s.parse::<i64>().is_ok_and(|v| v >= 0 && v.to_string() == *s))
}
