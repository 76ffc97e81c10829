//! A Python object as the chatbot's store: the `storefront` traits answered by calling its methods.
//!
//! Required methods: `search(query, min_price, max_price, limit) -> list[dict]` and
//! `product(id) -> dict | None`. Optional: `names() -> list[(id, name)]`, `categories() -> list[str]`,
//! `orders(customer) -> list[dict]`, `order(customer, id) -> dict`, `cancel(customer, id) -> dict`,
//! `change_address(customer, id, address) -> dict`, `recommend(customer, k) -> list[dict]`,
//! `policy(topic) -> str | None`. Products are dicts `{id, name, price, category?, stock?}`, orders
//! `{id, status, lines?: [(product_id, qty)], total?, placed?, ship_to?}`. Raising `LookupError`
//! (e.g. `KeyError`) means "no such order", `PermissionError` "not allowed in this status" (the status
//! is read back with `order`),
//! `ValueError` "invalid request"; anything else "store unavailable". A Python exception never escapes
//! into the chatbot as a crash: it becomes the store error the dialogue already handles.

use pyo3::exceptions::{PyLookupError, PyPermissionError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyString;
use pyo3::BoundObject;
use storefront::{
    Catalog, Order, OrderStatus, Orders, Policies, PriceFilter, Product, Recommendations, Result, StoreError,
};

/// The adapter; holds the Python object.
pub struct PyStore {
    obj: Py<PyAny>,
}

const REQUIRED: [&str; 2] = ["search", "product"];

impl PyStore {
    /// Wraps `obj` after checking it has the required methods.
    pub fn new(obj: &Bound<'_, PyAny>) -> PyResult<Self> {
        for m in REQUIRED {
            if !obj.hasattr(m)? {
                return Err(crate::errors::invalid(format!(
                    "store: {} has no method `{m}` (needs search(query, min_price, max_price, limit) and \
                     product(id); see help(shopml.Assistant))",
                    obj.get_type().name()?
                )));
            }
        }
        Ok(PyStore { obj: obj.clone().unbind() })
    }

    fn call<T>(
        &self,
        method: &str,
        args: impl for<'py> IntoPyObject<'py, Target = pyo3::types::PyTuple>,
        what: &str,
        convert: impl for<'py> FnOnce(&Bound<'py, PyAny>) -> PyResult<T>,
    ) -> Result<Option<T>> {
        Python::attach(|py| {
            let obj = self.obj.bind(py);
            if !obj.hasattr(method).unwrap_or(false) {
                return Ok(None);
            }
            let args = args.into_pyobject(py).map_err(Into::into).map_err(|e| store_error(py, &e, what))?;
            let out = obj.call_method1(method, args.into_bound()).map_err(|e| store_error(py, &e, what))?;
            convert(&out).map(Some).map_err(|e| StoreError::Unavailable(format!("store.{method} returned {e}")))
        })
    }
}

impl std::fmt::Debug for PyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PyStore { .. }")
    }
}

fn store_error(py: Python<'_>, e: &PyErr, what: &str) -> StoreError {
    let msg = e.value(py).str().map(|s| s.to_string()).unwrap_or_default();
    if e.is_instance_of::<PyLookupError>(py) {
        StoreError::NotFound(what.to_string())
    } else if e.is_instance_of::<PyPermissionError>(py) {
        // The status is a placeholder: `with_status` puts in the order's real one.
        StoreError::NotAllowed { order: what.to_string(), status: OrderStatus::Created, reason: msg }
    } else if e.is_instance_of::<PyValueError>(py) {
        StoreError::Invalid(msg)
    } else {
        StoreError::Unavailable(msg)
    }
}

fn field<'py>(d: &Bound<'py, PyAny>, key: &str) -> PyResult<Option<Bound<'py, PyAny>>> {
    match d.get_item(key) {
        Ok(v) if v.is_none() => Ok(None),
        Ok(v) => Ok(Some(v)),
        Err(e) if e.is_instance_of::<PyLookupError>(d.py()) => Ok(None),
        Err(e) => Err(e),
    }
}

fn text(d: &Bound<'_, PyAny>, key: &str) -> PyResult<Option<String>> {
    field(d, key)?.map(|v| v.str().map(|s| s.to_string())).transpose()
}

fn required_text(d: &Bound<'_, PyAny>, key: &str) -> PyResult<String> {
    text(d, key)?.ok_or_else(|| PyValueError::new_err(format!("a dict without `{key}`")))
}

fn product(d: &Bound<'_, PyAny>) -> PyResult<Product> {
    Ok(Product {
        id: required_text(d, "id")?,
        name: required_text(d, "name")?,
        price: field(d, "price")?.map(|v| v.extract::<f64>()).transpose()?.unwrap_or(0.0),
        category: text(d, "category")?,
        stock: field(d, "stock")?.map(|v| v.extract::<u32>()).transpose()?.unwrap_or(1),
    })
}

fn products(list: &Bound<'_, PyAny>) -> PyResult<Vec<Product>> {
    list.try_iter()?.map(|p| product(&p?)).collect()
}

fn status(s: &str) -> PyResult<OrderStatus> {
    Ok(match s.to_ascii_lowercase().as_str() {
        "created" => OrderStatus::Created,
        "paid" => OrderStatus::Paid,
        "shipped" => OrderStatus::Shipped,
        "delivered" => OrderStatus::Delivered,
        "cancelled" | "canceled" => OrderStatus::Cancelled,
        "refunded" => OrderStatus::Refunded,
        o => {
            return Err(PyValueError::new_err(format!(
                "order status `{o}` is not one of created, paid, shipped, delivered, cancelled, refunded"
            )))
        }
    })
}

fn order(d: &Bound<'_, PyAny>) -> PyResult<Order> {
    let lines = match field(d, "lines")? {
        Some(l) => l.extract::<Vec<(String, u32)>>()?,
        None => Vec::new(),
    };
    Ok(Order {
        id: required_text(d, "id")?,
        status: status(&required_text(d, "status")?)?,
        lines,
        total: field(d, "total")?.map(|v| v.extract::<f64>()).transpose()?.unwrap_or(0.0),
        placed: text(d, "placed")?.unwrap_or_default(),
        ship_to: text(d, "ship_to")?.unwrap_or_default(),
    })
}

impl PyStore {
    /// A refusal (`PermissionError`) with the order's real status, which the dialogue tells the
    /// customer; without one the refusal is reported as the store failing.
    fn with_status(&self, customer: &str, r: Result<Order>) -> Result<Order> {
        match r {
            Err(StoreError::NotAllowed { order, reason, .. }) => match Orders::order(self, customer, &order) {
                Ok(o) => Err(StoreError::NotAllowed { order, status: o.status, reason }),
                Err(_) => Err(StoreError::Unavailable(reason)),
            },
            other => other,
        }
    }
}

fn no_orders() -> StoreError {
    StoreError::Unavailable("this store has no order methods".into())
}

impl Catalog for PyStore {
    fn search(&self, query: &str, price: PriceFilter, limit: usize) -> Result<Vec<Product>> {
        Ok(self.call("search", (query, price.min, price.max, limit), query, products)?.unwrap_or_default())
    }

    fn product(&self, id: &str) -> Result<Option<Product>> {
        let got = self.call("product", (id,), id, |v| if v.is_none() { Ok(None) } else { product(v).map(Some) })?;
        Ok(got.flatten())
    }

    fn names(&self) -> Result<Vec<(String, String)>> {
        Ok(self.call("names", (), "names", |v| v.extract::<Vec<(String, String)>>())?.unwrap_or_default())
    }

    fn categories(&self) -> Result<Vec<String>> {
        Ok(self.call("categories", (), "categories", |v| v.extract::<Vec<String>>())?.unwrap_or_default())
    }
}

impl Orders for PyStore {
    fn order(&self, customer: &str, id: &str) -> Result<Order> {
        self.call("order", (customer, id), id, order)?.ok_or_else(no_orders)
    }

    fn orders(&self, customer: &str) -> Result<Vec<Order>> {
        self.call("orders", (customer,), customer, |v| v.try_iter()?.map(|o| order(&o?)).collect())?
            .ok_or_else(no_orders)
    }

    fn cancel(&self, customer: &str, id: &str) -> Result<Order> {
        let r = self.call("cancel", (customer, id), id, order).and_then(|o| o.ok_or_else(no_orders));
        self.with_status(customer, r)
    }

    fn change_address(&self, customer: &str, id: &str, address: &str) -> Result<Order> {
        let r = self.call("change_address", (customer, id, address), id, order).and_then(|o| o.ok_or_else(no_orders));
        self.with_status(customer, r)
    }
}

impl Recommendations for PyStore {
    fn recommend(&self, customer: Option<&str>, k: usize) -> Result<Vec<Product>> {
        Ok(self.call("recommend", (customer, k), "recommend", products)?.unwrap_or_default())
    }
}

impl Policies for PyStore {
    fn policy(&self, topic: &str) -> Option<String> {
        self.call("policy", (topic,), topic, |v| {
            if v.is_none() {
                Ok(None)
            } else {
                v.cast::<PyString>().map(|s| Some(s.to_string())).map_err(PyErr::from)
            }
        })
        .ok()
        .flatten()
        .flatten()
    }
}
