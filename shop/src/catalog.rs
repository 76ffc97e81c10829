//! Catalog: product pages and product CRUD for dealers and admins (search: [`crate::search`]).

use crate::auth::{MaybeUser, Role, User};
use crate::error::{parse_id, ApiError, ApiResult, Json, Path, Query};
use crate::replicas::News;
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

/// A product as the API shows it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, schemars::JsonSchema)]
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
    #[sqlx(try_from = "crate::db::Flag")]
    pub active: bool,
}

pub(crate) const PRODUCT_COLS: &str =
    "p.id, p.store_id, p.sku, p.name, p.description, p.category, p.price_cents, p.stock, p.popularity, p.active";

/// One product by id (inactive ones too).
pub async fn product(db: &crate::db::Db, id: i64) -> ApiResult<Option<ProductRow>> {
    Ok(sqlx::query_as(&format!("SELECT {PRODUCT_COLS} FROM products p WHERE p.id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await?)
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
        state.record_event(u.id, &[p.id], crate::reco::EventKind::View).await;
    }
    Ok(Json(p))
}

/// A new product.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewProduct {
    /// The store (a dealer's own by default; required for admins).
    store_id: Option<i64>,
    /// Unique within the store.
    #[schemars(length(min = 1, max = 64))]
    sku: String,
    #[schemars(length(min = 1, max = 300))]
    name: String,
    #[serde(default)]
    #[schemars(length(max = 5000))]
    description: String,
    #[schemars(length(max = 100))]
    category: Option<String>,
    #[schemars(range(min = 0, max = 100_000_000_000i64))]
    price_cents: i64,
    #[schemars(range(min = 0, max = 1_000_000_000))]
    stock: i64,
}

/// Changes to a product (absent fields stay).
#[derive(Debug, Deserialize, schemars::JsonSchema)]
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
        // `SELECT … WHERE EXISTS` instead of letting the foreign key fail: on SQLite a foreign-key failure of an
        // `INSERT … RETURNING` left the pooled connection holding a read snapshot, and its next write failed
        // with SQLITE_BUSY_SNAPSHOT (found by schemathesis; tests/api.rs `unknown_store_inserts_leave_…`).
        "INSERT INTO products (store_id, sku, name, description, category, price_cents, stock, created_at) \
         SELECT $1, $2, $3, $4, $5, $6, $7, $8 WHERE EXISTS (SELECT 1 FROM stores WHERE id = $1) RETURNING id",
    )
    .bind(store)
    .bind(n.sku.trim())
    .bind(n.name.trim())
    .bind(&n.description)
    .bind(n.category.as_deref().map(str::trim))
    .bind(n.price_cents)
    .bind(n.stock)
    .bind(crate::db::now())
    .fetch_optional(&state.db)
    .await;
    let id = match r {
        Ok(Some(id)) => id,
        Ok(None) => return Err(ApiError::Unprocessable("unknown_store", format!("no store {store}"))),
        Err(sqlx::Error::Database(d)) if d.is_foreign_key_violation() => {
            return Err(ApiError::Unprocessable("unknown_store", format!("no store {store}")))
        }
        Err(sqlx::Error::Database(d)) if d.is_unique_violation() => {
            return Err(ApiError::Conflict("sku_taken", format!("store {store} already has sku {:?}", n.sku)))
        }
        Err(e) => return Err(e.into()),
    };
    let p = product(&state.db, id).await?.ok_or_else(|| ApiError::Internal("inserted product vanished".into()))?;
    state.reco.product_changed(&p);
    state.semantic.as_ref().inspect(|s| s.mark_stale());
    state.search_cache.invalidate();
    state.replica.publish(&state.db, News::Products { ids: vec![p.id] }).await;
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
    let text_changed = u.name.is_some() || u.description.is_some() || u.active.is_some();
    let changed = sqlx::query(
        "UPDATE products SET name = coalesce($1, name), description = coalesce($2, description), category = coalesce($3, category),
         price_cents = coalesce($4, price_cents), stock = coalesce($5, stock + $6), active = coalesce($7, active)
         WHERE id = $8 AND ($6 = 0 OR stock + $6 BETWEEN 0 AND 1000000000)",
    )
    .bind(u.name.as_deref().map(str::trim))
    .bind(u.description)
    .bind(u.category)
    .bind(u.price_cents)
    .bind(u.stock)
    .bind(u.stock_delta.unwrap_or(0))
    .bind(u.active.map(i64::from))
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
    if text_changed {
        state.semantic.as_ref().inspect(|s| s.mark_stale());
    }
    state.search_cache.invalidate();
    state.replica.publish(&state.db, News::Products { ids: vec![p.id] }).await;
    Ok(Json(p))
}

/// `DELETE /products/{id}`: takes it off sale (old orders keep pointing at it).
pub(crate) async fn delete(State(state): State<AppState>, user: User, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let p = managed(&state, &user, &id).await?;
    sqlx::query("UPDATE products SET active = 0 WHERE id = $1").bind(p.id).execute(&state.db).await?;
    state.reco.stock_changed(p.id, false);
    state.semantic.as_ref().inspect(|s| s.mark_stale());
    state.search_cache.invalidate();
    state.replica.publish(&state.db, News::Products { ids: vec![p.id] }).await;
    Ok(StatusCode::NO_CONTENT)
}

/// `k` query parameter.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct K {
    /// How many (1..=100, default 10).
    #[schemars(range(min = 1, max = 100))]
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
