//! The dealer's pages: the store's overview, its products (create, edit, stock, take off sale), its
//! orders (ship, deliver) and refunds. Every action goes through the API's own functions, which check
//! that the product or order belongs to the dealer's store (404 otherwise).

use super::{render, see_other, PageError, Visitor};
use crate::auth::{Role, User};
use crate::catalog::{NewProduct, ProductPatch, ProductRow, PRODUCT_COLS};
use crate::error::{ApiError, Json, Path, Query};
use crate::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue};
use axum::Form;
use minijinja::{context, Value};
use serde::Deserialize;

type Page = Result<axum::response::Response, PageError>;

/// The signed-in dealer (admins manage stores through the API), or the sign-in page.
fn dealer<'a>(v: &'a Visitor, here: &str) -> Result<(&'a User, i64), PageError> {
    let user = v.require(here)?;
    match (user.role, user.store_id) {
        (Role::Dealer, Some(store)) => Ok((user, store)),
        _ => Err(PageError(ApiError::Forbidden("these pages are for a store's dealer".into()))),
    }
}

/// `GET /dealer`: what needs doing.
pub(crate) async fn home(State(state): State<AppState>, v: Visitor) -> Page {
    let (user, store) = dealer(&v, "/dealer")?;
    let count = |sql: &'static str| {
        let db = state.db.clone();
        async move { sqlx::query_scalar::<_, i64>(sql).bind(store).fetch_one(&db).await }
    };
    let to_ship = count("SELECT count(*) FROM orders WHERE store_id = $1 AND status = 'Paid'").await?;
    let products = count("SELECT count(*) FROM products WHERE store_id = $1").await?;
    let refunded = count("SELECT count(*) FROM orders WHERE store_id = $1 AND refunded_cents > 0").await?;
    let store_name: String =
        sqlx::query_scalar("SELECT name FROM stores WHERE id = $1").bind(store).fetch_one(&state.db).await?;
    let unread = crate::conversations::unread_total(&state, user).await?;
    let base = v.base(&state).await?;
    Ok(render(
        "dealer.html",
        context! { title => "Your store", store_name, to_ship, products, refunded, unread, ..base },
    ))
}

/// `?q=&page=` of the product list.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ProductQuery {
    q: Option<String>,
    page: Option<u32>,
}

const PER_PAGE: i64 = 50;

/// `GET /dealer/products`: the store's products (on sale or not), newest first, by name.
pub(crate) async fn products(State(state): State<AppState>, v: Visitor, Query(pq): Query<ProductQuery>) -> Page {
    let (_, store) = dealer(&v, "/dealer/products")?;
    let page = pq.page.unwrap_or(1).clamp(1, 10_000);
    let q = pq.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
    let like = q.map(|q| format!("%{}%", q.to_lowercase().replace(['%', '_'], "")));
    let rows: Vec<ProductRow> = sqlx::query_as(&format!(
        "SELECT {PRODUCT_COLS} FROM products p WHERE p.store_id = $1 AND ($2 IS NULL OR lower(p.name) LIKE $2)
         ORDER BY p.id DESC LIMIT {} OFFSET {}",
        PER_PAGE + 1,
        (page as i64 - 1) * PER_PAGE
    ))
    .bind(store)
    .bind(like)
    .fetch_all(&state.db)
    .await?;
    let more = rows.len() as i64 > PER_PAGE;
    let items: Vec<&ProductRow> = rows.iter().take(PER_PAGE as usize).collect();
    let base = v.base(&state).await?;
    Ok(render("dealer_products.html", context! { title => "Products", items, q, page, more, ..base }))
}

/// The product form (prices in pounds, as typed).
#[derive(Debug, Default, Deserialize, serde::Serialize)]
pub(crate) struct ProductForm {
    sku: Option<String>,
    name: String,
    description: String,
    category: String,
    price: String,
    stock: String,
    active: Option<String>,
}

impl ProductForm {
    /// The form as the API's JSON fields (price in cents), or what is wrong with it.
    fn fields(&self) -> Result<serde_json::Map<String, serde_json::Value>, ApiError> {
        let price: f64 =
            self.price.trim().parse().ok().filter(|p: &f64| p.is_finite() && *p >= 0.0).ok_or_else(|| {
                ApiError::invalid(format!("the price must be pounds, like 4.95 (got {:?})", self.price))
            })?;
        let stock: i64 = self
            .stock
            .trim()
            .parse()
            .map_err(|_| ApiError::invalid(format!("the stock must be a whole number (got {:?})", self.stock)))?;
        let category = self.category.trim();
        let mut m = serde_json::Map::new();
        m.insert("name".into(), self.name.trim().into());
        m.insert("description".into(), self.description.trim().into());
        m.insert("category".into(), if category.is_empty() { serde_json::Value::Null } else { category.into() });
        m.insert("price_cents".into(), ((price * 100.0).round() as i64).into());
        m.insert("stock".into(), stock.into());
        Ok(m)
    }
}

async fn product_page(
    state: &AppState,
    v: &Visitor,
    p: Option<ProductRow>,
    form: Option<&ProductForm>,
    error: Option<String>,
) -> Page {
    let base = v.base(state).await?;
    let action = p.as_ref().map_or("/dealer/products/new".to_string(), |p| format!("/dealer/products/{}", p.id));
    let title = p.as_ref().map_or("New product".to_string(), |p| format!("Edit {}", p.name));
    let status =
        if error.is_some() { axum::http::StatusCode::UNPROCESSABLE_ENTITY } else { axum::http::StatusCode::OK };
    let form = form.map(Value::from_serialize);
    let mut r = render("dealer_product.html", context! { title, p, form, action, error, ..base });
    *r.status_mut() = status;
    Ok(r)
}

/// `GET /dealer/products/new`.
pub(crate) async fn new_product(State(state): State<AppState>, v: Visitor) -> Page {
    dealer(&v, "/dealer/products/new")?;
    product_page(&state, &v, None, None, None).await
}

/// `POST /dealer/products/new`: the API's product creation (same checks).
pub(crate) async fn create(State(state): State<AppState>, v: Visitor, Form(f): Form<ProductForm>) -> Page {
    let (user, _) = dealer(&v, "/dealer/products/new")?;
    let made = async {
        let mut fields = f.fields()?;
        fields.insert("sku".into(), f.sku.as_deref().unwrap_or("").trim().into());
        let n: NewProduct = serde_json::from_value(fields.into()).map_err(|e| ApiError::invalid(e.to_string()))?;
        crate::catalog::create(State(state.clone()), user.clone(), Json(n)).await
    }
    .await;
    match made {
        Ok((_, Json(p))) => Ok(see_other(&format!("/dealer/products/{}", p.id))),
        Err(e @ (ApiError::BadRequest(..) | ApiError::Conflict(..))) => {
            product_page(&state, &v, None, Some(&f), Some(e.to_string())).await
        }
        Err(e) => Err(e.into()),
    }
}

/// `GET /dealer/products/{id}`.
pub(crate) async fn edit(State(state): State<AppState>, v: Visitor, Path(id): Path<String>) -> Page {
    let (_, store) = dealer(&v, &format!("/dealer/products/{id}"))?;
    let id = crate::error::parse_id("product", &id)?;
    let p = crate::catalog::product(&state.db, id).await?.filter(|p| p.store_id == store);
    let p = p.ok_or_else(|| ApiError::NotFound(format!("no product {id} in your store")))?;
    product_page(&state, &v, Some(p), None, None).await
}

/// `POST /dealer/products/{id}`: the API's product change (name, text, price, stock, on sale).
pub(crate) async fn update(
    State(state): State<AppState>,
    v: Visitor,
    Path(id): Path<String>,
    Form(f): Form<ProductForm>,
) -> Page {
    let (user, store) = dealer(&v, &format!("/dealer/products/{id}"))?;
    let pid = crate::error::parse_id("product", &id)?;
    // only the store's own products (the form is checked after this, so a bad form shows nothing else's)
    let current = crate::catalog::product(&state.db, pid).await?.filter(|p| p.store_id == store);
    let current = current.ok_or_else(|| ApiError::NotFound(format!("no product {pid} in your store")))?;
    let changed = async {
        let mut fields = f.fields()?;
        fields.insert("active".into(), f.active.is_some().into());
        let patch: ProductPatch =
            serde_json::from_value(fields.into()).map_err(|e| ApiError::invalid(e.to_string()))?;
        crate::catalog::update(State(state.clone()), user.clone(), Path(id.clone()), Json(patch)).await
    }
    .await;
    match changed {
        Ok(Json(p)) => Ok(see_other(&format!("/dealer/products/{}", p.id))),
        Err(e @ (ApiError::BadRequest(..) | ApiError::Conflict(..))) => {
            product_page(&state, &v, Some(current), Some(&f), Some(e.to_string())).await
        }
        Err(e) => Err(e.into()),
    }
}

/// `?status=` of the order list.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct OrderQuery {
    status: Option<String>,
}

/// `GET /dealer/orders`: the store's newest 100 orders (`status=Paid`: the ones to ship).
pub(crate) async fn orders(State(state): State<AppState>, v: Visitor, Query(oq): Query<OrderQuery>) -> Page {
    let (user, _) = dealer(&v, "/dealer/orders")?;
    let page: crate::orders::OrderPage = serde_json::from_value(serde_json::json!({"limit": 100})).unwrap_or_default();
    let Json(list) = crate::orders::list(State(state.clone()), user.clone(), Query(page)).await?;
    let wanted = oq.status.as_deref().filter(|s| !s.is_empty());
    let orders: Vec<Value> = list
        .iter()
        .filter(|o| wanted.is_none_or(|w| format!("{:?}", o.status) == w))
        .map(|o| {
            let placed = super::datetime(o.created_at);
            context! { id => o.id, status => format!("{:?}", o.status), total_cents => o.total_cents, placed }
        })
        .collect();
    let title = match wanted {
        Some("Paid") => "Orders to ship".to_string(),
        Some(s) => format!("{s} orders"),
        None => "Orders".to_string(),
    };
    let base = v.base(&state).await?;
    Ok(render("orders.html", context! { title, orders, base => "/dealer/orders", ..base }))
}

async fn order_page(state: &AppState, v: &Visitor, id: &str, error: Option<String>) -> Page {
    let (user, _) = dealer(v, &format!("/dealer/orders/{id}"))?;
    let o = crate::orders::visible_order(state, user, id).await?;
    let view = context! { status => format!("{:?}", o.status), placed => super::datetime(o.created_at), ..Value::from_serialize(&o) };
    let base = v.base(state).await?;
    let key = crate::auth::random_token();
    let mut r = render(
        "dealer_order.html",
        context! { title => format!("Order {}", o.id), o => view, key, error => error.clone(), ..base },
    );
    if error.is_some() {
        *r.status_mut() = axum::http::StatusCode::CONFLICT;
    }
    Ok(r)
}

/// `GET /dealer/orders/{id}`.
pub(crate) async fn order(State(state): State<AppState>, v: Visitor, Path(id): Path<String>) -> Page {
    order_page(&state, &v, &id, None).await
}

/// `POST /dealer/orders/{id}/ship`: the API's Paid → Shipped.
pub(crate) async fn ship(State(state): State<AppState>, v: Visitor, Path(id): Path<String>) -> Page {
    let (user, _) = dealer(&v, &format!("/dealer/orders/{id}"))?;
    let moved = crate::orders::ship(State(state.clone()), user.clone(), Path(id.clone())).await;
    after_move(&state, &v, &id, moved.map(|_| ())).await
}

/// `POST /dealer/orders/{id}/deliver`: the API's Shipped → Delivered.
pub(crate) async fn deliver(State(state): State<AppState>, v: Visitor, Path(id): Path<String>) -> Page {
    let (user, _) = dealer(&v, &format!("/dealer/orders/{id}"))?;
    let moved = crate::orders::deliver(State(state.clone()), user.clone(), Path(id.clone())).await;
    after_move(&state, &v, &id, moved.map(|_| ())).await
}

/// Back to the order after a move; a move the order's state does not allow is shown on its page.
async fn after_move(state: &AppState, v: &Visitor, id: &str, moved: Result<(), ApiError>) -> Page {
    match moved {
        Ok(()) => Ok(see_other(&format!("/dealer/orders/{id}"))),
        Err(e @ ApiError::Conflict(..)) => order_page(state, v, id, Some(e.to_string())).await,
        Err(e) => Err(e.into()),
    }
}

/// The refund form: pounds (empty: all that is left) and the page's idempotency key.
#[derive(Debug, Deserialize)]
pub(crate) struct RefundForm {
    amount: Option<String>,
    key: String,
}

/// `POST /dealer/orders/{id}/refund`: the API's refund with the page's idempotency key (a re-sent form
/// refunds once).
pub(crate) async fn refund(
    State(state): State<AppState>,
    v: Visitor,
    Path(id): Path<String>,
    Form(f): Form<RefundForm>,
) -> Page {
    let (user, _) = dealer(&v, &format!("/dealer/orders/{id}"))?;
    let amount = match f.amount.as_deref().map(str::trim).filter(|a| !a.is_empty()) {
        None => None,
        Some(a) => match a.parse::<f64>() {
            Ok(x) if x.is_finite() && x > 0.0 => Some((x * 100.0).round() as i64),
            _ => {
                return order_page(&state, &v, &id, Some(format!("the amount must be pounds, like 4.95 (got {a:?})")))
                    .await
            }
        },
    };
    let mut headers = HeaderMap::new();
    headers.insert(
        "idempotency-key",
        HeaderValue::from_str(&f.key).map_err(|_| ApiError::invalid("the form's key is damaged; reload the page"))?,
    );
    let req: crate::orders::RefundReq = serde_json::from_value(serde_json::json!({ "amount_cents": amount }))
        .map_err(|e| ApiError::invalid(e.to_string()))?;
    match crate::orders::refund(State(state.clone()), user.clone(), headers, Path(id.clone()), Json(req)).await {
        Ok(_) => Ok(see_other(&format!("/dealer/orders/{id}"))),
        Err(e @ (ApiError::BadRequest(..) | ApiError::Conflict(..) | ApiError::Unprocessable(..))) => {
            order_page(&state, &v, &id, Some(e.to_string())).await
        }
        Err(e) => Err(e.into()),
    }
}
