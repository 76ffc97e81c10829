//! Catalog: product CRUD for dealers and admins, FTS5 search with filters, sort and pagination, and
//! optional personalised re-ranking for a signed-in customer.

use crate::auth::{MaybeUser, Role, User};
use crate::error::{parse_id, ApiError, ApiResult, Json, Path, Query};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

/// A product as the API shows it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ProductRow {
    /// Id.
    pub id: i64,
    /// Owning store (tenant).
    pub store_id: i64,
    /// Stock-keeping unit, unique within the store.
    pub sku: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Category.
    pub category: Option<String>,
    /// Unit price in cents.
    pub price_cents: i64,
    /// Units in stock.
    pub stock: i64,
    /// Units sold (the popularity sort's key).
    pub popularity: f64,
    /// Whether it is for sale (deleted products are kept for old orders).
    pub active: bool,
}

pub(crate) const PRODUCT_COLS: &str =
    "p.id, p.store_id, p.sku, p.name, p.description, p.category, p.price_cents, p.stock, p.popularity, p.active";

/// One product by id (inactive ones too).
pub async fn product(db: &sqlx::SqlitePool, id: i64) -> ApiResult<Option<ProductRow>> {
    Ok(sqlx::query_as(&format!("SELECT {PRODUCT_COLS} FROM products p WHERE p.id = ?"))
        .bind(id)
        .fetch_optional(db)
        .await?)
}

/// The FTS5 query for free text: its words, each quoted (so `"`, `*`, `(`, `NEAR`, `-` … are plain
/// text, never syntax), all required, the last one as a prefix. `None` when no word is left.
pub fn fts_query(q: &str) -> Option<String> {
    let words: Vec<String> = q
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(12)
        .map(|w| w.chars().take(64).collect::<String>().to_lowercase())
        .collect();
    let (last, rest) = words.split_last()?;
    let mut out: Vec<String> = rest.iter().map(|w| format!("\"{w}\"")).collect();
    out.push(format!("\"{last}\"*"));
    Some(out.join(" "))
}

fn cents(name: &str, v: f64) -> ApiResult<i64> {
    if !v.is_finite() || !(0.0..=1e9).contains(&v) {
        return Err(ApiError::invalid(format!("{name} must be a price between 0 and 1e9")));
    }
    Ok((v * 100.0).round() as i64)
}

/// Search parameters of `GET /products`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchParams {
    /// Free text (name, description, category).
    pub q: Option<String>,
    /// Exact category.
    pub category: Option<String>,
    /// Lowest price (currency units).
    pub min_price: Option<f64>,
    /// Highest price.
    pub max_price: Option<f64>,
    /// Only products in stock.
    pub in_stock: Option<bool>,
    /// Only this store's products.
    pub store_id: Option<i64>,
    /// `relevance` (default; popularity without `q`), `price_asc`, `price_desc`, `popularity`, `newest`.
    pub sort: Option<String>,
    /// 1-based page (default 1).
    pub page: Option<u32>,
    /// Page size 1..=100 (default 20).
    pub per_page: Option<u32>,
    /// Re-rank the first results with the recommender for the signed-in customer.
    pub personalize: Option<bool>,
}

/// A page of results.
#[derive(Debug, Serialize)]
pub struct SearchPage {
    /// The products.
    pub items: Vec<ProductRow>,
    /// Page number.
    pub page: u32,
    /// Page size.
    pub per_page: u32,
    /// Matching products in all.
    pub total: i64,
    /// Whether the order was personalised.
    pub personalized: bool,
}

/// `GET /products`.
pub(crate) async fn search(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Query(p): Query<SearchParams>,
) -> ApiResult<Json<SearchPage>> {
    let page = p.page.unwrap_or(1);
    let per_page = p.per_page.unwrap_or(20);
    if page == 0 || page > 10_000 {
        return Err(ApiError::invalid("page must be within 1..=10000"));
    }
    if per_page == 0 || per_page > 100 {
        return Err(ApiError::invalid("per_page must be within 1..=100"));
    }
    let min = p.min_price.map(|v| cents("min_price", v)).transpose()?;
    let max = p.max_price.map(|v| cents("max_price", v)).transpose()?;
    if let (Some(a), Some(b)) = (min, max) {
        if a > b {
            return Err(ApiError::invalid("min_price is above max_price"));
        }
    }
    let fts = p.q.as_deref().and_then(fts_query);
    let order = match (p.sort.as_deref().unwrap_or("relevance"), fts.is_some()) {
        ("relevance", true) => "bm25(products_fts), p.id",
        ("relevance", false) | ("popularity", _) => "p.popularity DESC, p.id",
        ("price_asc", _) => "p.price_cents ASC, p.id",
        ("price_desc", _) => "p.price_cents DESC, p.id",
        ("newest", _) => "p.id DESC",
        (other, _) => {
            return Err(ApiError::invalid(format!(
                "sort {other:?}: use relevance, price_asc, price_desc, popularity or newest"
            )))
        }
    };
    let from = match fts {
        Some(_) => "products_fts JOIN products p ON p.id = products_fts.rowid",
        None => "products p",
    };
    let mut filter = String::from("p.active = 1");
    if fts.is_some() {
        filter.push_str(" AND products_fts MATCH ?1");
    }
    filter.push_str(" AND (?2 IS NULL OR p.category = ?2) AND (?3 IS NULL OR p.price_cents >= ?3) AND (?4 IS NULL OR p.price_cents <= ?4)");
    filter.push_str(" AND (?5 = 0 OR p.stock > 0) AND (?6 IS NULL OR p.store_id = ?6)");
    fn typed<F: for<'q> Fn(&'q str) -> sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>>(
        f: F,
    ) -> F {
        f
    }
    let bind = typed(|q| {
        sqlx::query(q)
            .bind(fts.clone().unwrap_or_default())
            .bind(p.category.clone())
            .bind(min)
            .bind(max)
            .bind(p.in_stock.unwrap_or(false) as i64)
            .bind(p.store_id)
    });
    use sqlx::Row;
    let total: i64 = bind(&format!("SELECT count(*) FROM {from} WHERE {filter}")).fetch_one(&state.db).await?.get(0);
    let personalize = p.personalize.unwrap_or(false);
    let signed_in = user.is_some();
    let customer = user.filter(|u| u.role == Role::Customer);
    if personalize && customer.is_none() {
        return Err(match signed_in {
            false => ApiError::Unauthorized,
            true => ApiError::invalid("personalize is for customers (dealers and admins have no purchase history)"),
        });
    }
    // Personalised: re-rank the first 200 matches (or the page's window if deeper), then cut the page.
    let (limit, offset) = match personalize {
        true => (((page * per_page) as i64).max(200), 0i64),
        false => (per_page as i64, ((page - 1) * per_page) as i64),
    };
    let rows = bind(&format!(
        "SELECT {PRODUCT_COLS} FROM {from} WHERE {filter} ORDER BY {order} LIMIT {limit} OFFSET {offset}"
    ))
    .fetch_all(&state.db)
    .await?;
    let mut items = rows.iter().map(<ProductRow as sqlx::FromRow<_>>::from_row).collect::<Result<Vec<_>, _>>()?;
    if let (true, Some(u)) = (personalize, customer) {
        let ranks = state.reco.ranks(&u, 1000);
        // Stable: what the recommender ranks comes first by its rank, the rest keep the search order.
        items.sort_by_key(|r| ranks.get(&r.id).copied().unwrap_or(usize::MAX));
        let start = ((page - 1) * per_page) as usize;
        items = items.into_iter().skip(start).take(per_page as usize).collect();
    }
    Ok(Json(SearchPage { items, page, per_page, total, personalized: personalize }))
}

/// `GET /products/{id}` (a signed-in customer's view is a recommender event).
pub(crate) async fn get(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path(id): Path<String>,
) -> ApiResult<Json<ProductRow>> {
    let id = parse_id("product", &id)?;
    let p = product(&state.db, id).await?.filter(|p| p.active || user.as_ref().is_some_and(|u| u.manages(p.store_id)));
    let p = p.ok_or_else(|| ApiError::NotFound(format!("no product {id}")))?;
    if let Some(u) = user.filter(|u| u.role == Role::Customer) {
        state.reco.event(&state.db, u.id, &[p.id], crate::reco::EventKind::View).await;
    }
    Ok(Json(p))
}

/// A new product.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewProduct {
    store_id: Option<i64>,
    sku: String,
    name: String,
    #[serde(default)]
    description: String,
    category: Option<String>,
    price_cents: i64,
    stock: i64,
}

/// Changes to a product (absent fields stay).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProductPatch {
    name: Option<String>,
    description: Option<String>,
    category: Option<String>,
    price_cents: Option<i64>,
    /// The new stock level.
    stock: Option<i64>,
    /// Units to add (negative: take away), applied atomically: a restock never undoes a concurrent
    /// sale the way a read-then-set absolute `stock` can.
    stock_delta: Option<i64>,
    active: Option<bool>,
}

fn check_text(name: &str, v: &str, max: usize, required: bool) -> ApiResult<()> {
    if required && v.trim().is_empty() {
        return Err(ApiError::invalid(format!("{name} must not be empty")));
    }
    if v.chars().count() > max {
        return Err(ApiError::invalid(format!("{name} is longer than {max} characters")));
    }
    Ok(())
}

fn check_numbers(price: Option<i64>, stock: Option<i64>) -> ApiResult<()> {
    if price.is_some_and(|p| !(0..=100_000_000_000).contains(&p)) {
        return Err(ApiError::invalid("price_cents must be within 0..=1e11"));
    }
    if stock.is_some_and(|s| !(0..=1_000_000_000).contains(&s)) {
        return Err(ApiError::invalid("stock must be within 0..=1e9"));
    }
    Ok(())
}

/// `POST /products` (dealer: its store; admin: any store).
pub(crate) async fn create(
    State(state): State<AppState>,
    user: User,
    Json(n): Json<NewProduct>,
) -> ApiResult<(StatusCode, Json<ProductRow>)> {
    let store = match (user.role, n.store_id) {
        (Role::Customer, _) => return Err(ApiError::Forbidden("customers cannot edit the catalog".into())),
        (Role::Dealer, s) => s.unwrap_or(user.store_id.unwrap_or(0)),
        (Role::Admin, Some(s)) => s,
        (Role::Admin, None) => return Err(ApiError::invalid("store_id is required for admins")),
    };
    if !user.manages(store) {
        return Err(ApiError::Forbidden("a dealer edits only its own store's products".into()));
    }
    check_text("sku", &n.sku, 64, true)?;
    check_text("name", &n.name, 300, true)?;
    check_text("description", &n.description, 5000, false)?;
    check_text("category", n.category.as_deref().unwrap_or(""), 100, false)?;
    check_numbers(Some(n.price_cents), Some(n.stock))?;
    let r = sqlx::query_scalar::<_, i64>(
        "INSERT INTO products (store_id, sku, name, description, category, price_cents, stock, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(store)
    .bind(n.sku.trim())
    .bind(n.name.trim())
    .bind(&n.description)
    .bind(n.category.as_deref().map(str::trim))
    .bind(n.price_cents)
    .bind(n.stock)
    .bind(crate::db::now())
    .fetch_one(&state.db)
    .await;
    let id = match r {
        Ok(id) => id,
        Err(sqlx::Error::Database(d)) if d.is_unique_violation() => {
            return Err(ApiError::Conflict("sku_taken", format!("store {store} already has sku {:?}", n.sku)))
        }
        Err(sqlx::Error::Database(d)) if d.is_foreign_key_violation() => {
            return Err(ApiError::Unprocessable("unknown_store", format!("no store {store}")))
        }
        Err(e) => return Err(e.into()),
    };
    let p = product(&state.db, id).await?.ok_or_else(|| ApiError::Internal("inserted product vanished".into()))?;
    state.reco.product_changed(&p);
    Ok((StatusCode::CREATED, Json(p)))
}

async fn managed(state: &AppState, user: &User, raw: &str) -> ApiResult<ProductRow> {
    let id = parse_id("product", raw)?;
    let p = product(&state.db, id).await?.ok_or_else(|| ApiError::NotFound(format!("no product {id}")))?;
    match user.role {
        Role::Customer => Err(ApiError::Forbidden("customers cannot edit the catalog".into())),
        _ if !user.manages(p.store_id) => {
            Err(ApiError::Forbidden("a dealer edits only its own store's products".into()))
        }
        _ => Ok(p),
    }
}

/// `PATCH /products/{id}` (the product's dealer or an admin).
pub(crate) async fn update(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<String>,
    Json(u): Json<ProductPatch>,
) -> ApiResult<Json<ProductRow>> {
    let p = managed(&state, &user, &id).await?;
    check_text("name", u.name.as_deref().unwrap_or("x"), 300, true)?;
    check_text("description", u.description.as_deref().unwrap_or(""), 5000, false)?;
    check_text("category", u.category.as_deref().unwrap_or(""), 100, false)?;
    check_numbers(u.price_cents, u.stock)?;
    if u.stock.is_some() && u.stock_delta.is_some() {
        return Err(ApiError::invalid("give stock or stock_delta, not both"));
    }
    if u.stock_delta.is_some_and(|d| !(-1_000_000_000..=1_000_000_000).contains(&d)) {
        return Err(ApiError::invalid("stock_delta must be within -1e9..=1e9"));
    }
    let changed = sqlx::query(
        "UPDATE products SET name = coalesce(?1, name), description = coalesce(?2, description), category = coalesce(?3, category),
         price_cents = coalesce(?4, price_cents), stock = coalesce(?5, stock + ?6), active = coalesce(?7, active)
         WHERE id = ?8 AND (?6 = 0 OR stock + ?6 BETWEEN 0 AND 1000000000)",
    )
    .bind(u.name.as_deref().map(str::trim))
    .bind(u.description)
    .bind(u.category)
    .bind(u.price_cents)
    .bind(u.stock)
    .bind(u.stock_delta.unwrap_or(0))
    .bind(u.active)
    .bind(p.id)
    .execute(&state.db)
    .await?
    .rows_affected();
    if changed == 0 && u.stock_delta.is_some_and(|d| d != 0) {
        return Err(ApiError::Conflict(
            "stock_out_of_range",
            format!("stock_delta {} would take the stock outside 0..=1e9", u.stock_delta.unwrap_or(0)),
        ));
    }
    let p = product(&state.db, p.id).await?.ok_or_else(|| ApiError::NotFound(format!("no product {id}")))?;
    state.reco.product_changed(&p);
    Ok(Json(p))
}

/// `DELETE /products/{id}`: takes it off sale (old orders keep pointing at it).
pub(crate) async fn delete(State(state): State<AppState>, user: User, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let p = managed(&state, &user, &id).await?;
    sqlx::query("UPDATE products SET active = 0 WHERE id = ?").bind(p.id).execute(&state.db).await?;
    state.reco.stock_changed(p.id, false);
    Ok(StatusCode::NO_CONTENT)
}

/// `k` query parameter.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct K {
    k: Option<usize>,
}

impl K {
    pub(crate) fn get(&self) -> ApiResult<usize> {
        match self.k.unwrap_or(10) {
            k @ 1..=100 => Ok(k),
            _ => Err(ApiError::invalid("k must be within 1..=100")),
        }
    }
}

/// The id of a product on sale (else 404).
async fn on_sale(state: &AppState, id: &str) -> ApiResult<i64> {
    let id = parse_id("product", id)?;
    match product(&state.db, id).await? {
        Some(p) if p.active => Ok(id),
        _ => Err(ApiError::NotFound(format!("no product {id}"))),
    }
}

/// `GET /products/{id}/similar`.
pub(crate) async fn similar(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(k): Query<K>,
) -> ApiResult<axum::response::Response> {
    let (id, k) = (on_sale(&state, &id).await?, k.get()?);
    state.reco.similar(id, k)
}

/// `GET /products/{id}/next`: the product page's "next" list — what comes next after the visitor's
/// sequence (the signed-in customer's events, or the guest cart named by `X-Cart-Token`) followed by
/// this product.
pub(crate) async fn next(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    headers: axum::http::HeaderMap,
    Path(id): Path<String>,
    Query(k): Query<K>,
) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse;
    let (id, k) = (on_sale(&state, &id).await?, k.get()?);
    let customer = user.as_ref().filter(|u| u.role == Role::Customer);
    let guest = match customer {
        None => crate::cart::guest_sequence(&state, &headers).await?,
        Some(_) => Vec::new(),
    };
    let body = state.reco.next_json(customer, &guest, id, k)?;
    Ok(([("content-type", "application/json")], body).into_response())
}

#[cfg(test)]
mod tests {
    use super::fts_query;

    #[test]
    fn fts_metacharacters_become_plain_words() {
        assert_eq!(fts_query("red \"bag* OR (x) NEAR-y").unwrap(), "\"red\" \"bag\" \"or\" \"x\" \"near\" \"y\"*");
        assert_eq!(fts_query("'; DROP TABLE products; --"), Some("\"drop\" \"table\" \"products\"*".into()));
        assert_eq!(fts_query("  *** "), None);
    }
}
