//! Carts: a signed-in user's cart, or a guest cart named by an opaque `X-Cart-Token` (only its hash is
//! stored); the guest cart is merged into the user's on login or registration. A cart is addressed only
//! by the caller's session or token, so nobody can name another's cart.

use crate::auth::{token_hash, MaybeUser, Role, User};
use crate::db::{Backend, Flag};
use crate::error::{parse_id, ApiError, ApiResult, Json, Path};
use crate::AppState;
use axum::extract::State;
use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};

/// Largest quantity of one product in a cart or order.
pub const MAX_QUANTITY: i64 = 1000;

/// One cart line.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct CartLine {
    /// Product.
    pub product_id: i64,
    /// Its store.
    pub store_id: i64,
    /// Its name.
    pub name: String,
    /// The unit price it would be bought at now: the agreed price of an accepted offer not yet bought,
    /// else the product's current price.
    pub price_cents: i64,
    /// The dealer's offer this line was accepted from (its message id), if any.
    pub offer_id: Option<i64>,
    /// Units wanted.
    pub quantity: i64,
    /// Units in stock now.
    pub stock: i64,
    /// Whether the product is still for sale (a line of a product taken off sale stays until removed,
    /// and checkout skips it).
    #[sqlx(try_from = "crate::db::Flag")]
    pub available: bool,
}

/// A cart.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct CartView {
    /// The lines.
    pub items: Vec<CartLine>,
    /// Sum of price × quantity over the lines still for sale.
    pub total_cents: i64,
    /// A guest cart's token (send it back as `X-Cart-Token`; only on the response that created it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cart_token: Option<String>,
}

fn guest_token(headers: &HeaderMap) -> Option<&str> {
    headers.get("x-cart-token").and_then(|v| v.to_str().ok()).map(str::trim).filter(|t| !t.is_empty() && t.len() <= 128)
}

async fn find_cart(state: &AppState, user: Option<&User>, headers: &HeaderMap) -> ApiResult<Option<i64>> {
    Ok(match (user, guest_token(headers)) {
        (Some(u), _) => {
            sqlx::query_scalar("SELECT id FROM carts WHERE user_id = $1").bind(u.id).fetch_optional(&state.db).await?
        }
        (None, Some(t)) => {
            sqlx::query_scalar("SELECT id FROM carts WHERE guest_token_hash = $1")
                .bind(&token_hash(t)[..])
                .fetch_optional(&state.db)
                .await?
        }
        (None, None) => None,
    })
}

/// A visitor's guest sequence: the products of the cart named by the request's `X-Cart-Token`, in the
/// order they were first added (empty without a token or cart).
pub(crate) async fn guest_sequence(state: &AppState, headers: &HeaderMap) -> ApiResult<Vec<i64>> {
    let Some(cart) = find_cart(state, None, headers).await? else { return Ok(Vec::new()) };
    // SQLite's rowid and PostgreSQL's line_no follow insertion; an upsert of a line keeps both.
    let order = match Backend::of(&state.db) {
        Backend::Sqlite => "rowid",
        Backend::Postgres => "line_no",
    };
    Ok(sqlx::query_scalar(&format!("SELECT product_id FROM cart_items WHERE cart_id = $1 ORDER BY {order}"))
        .bind(cart)
        .fetch_all(&state.db)
        .await?)
}

/// The cart's lines (any database handle).
pub async fn lines<'e, E: sqlx::Executor<'e, Database = sqlx::Any>>(db: E, cart: i64) -> ApiResult<Vec<CartLine>> {
    Ok(sqlx::query_as(
        "SELECT c.product_id, p.store_id, p.name,
                CASE WHEN m.id IS NOT NULL AND m.offer_order_id IS NULL THEN c.agreed_cents ELSE p.price_cents END AS price_cents,
                CASE WHEN m.id IS NOT NULL AND m.offer_order_id IS NULL THEN c.offer_id END AS offer_id,
                c.quantity, p.stock, p.active AS available
         FROM cart_items c JOIN products p ON p.id = c.product_id LEFT JOIN messages m ON m.id = c.offer_id
         WHERE c.cart_id = $1 ORDER BY c.product_id",
    )
    .bind(cart)
    .fetch_all(db)
    .await?)
}

/// `user`'s cart id, made if they have none (any database handle).
pub(crate) async fn user_cart<'e, E: sqlx::Executor<'e, Database = sqlx::Any>>(db: E, user: i64) -> ApiResult<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO carts (user_id, created_at) VALUES ($1, $2) ON CONFLICT (user_id) DO UPDATE SET created_at = carts.created_at RETURNING id",
    )
    .bind(user)
    .bind(crate::db::now())
    .fetch_one(db)
    .await?)
}

/// The cart's answer: its lines and the total of those for sale.
pub(crate) async fn view(state: &AppState, cart: Option<i64>, token: Option<String>) -> ApiResult<CartView> {
    let items = match cart {
        Some(c) => lines(&state.db, c).await?,
        None => Vec::new(),
    };
    let total_cents = items.iter().filter(|l| l.available).map(|l| l.price_cents * l.quantity).sum();
    Ok(CartView { items, total_cents, cart_token: token })
}

/// `GET /cart`.
pub(crate) async fn get(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    headers: HeaderMap,
) -> ApiResult<Json<CartView>> {
    let cart = find_cart(&state, user.as_ref(), &headers).await?;
    if user.is_none() && guest_token(&headers).is_some() && cart.is_none() {
        return Err(ApiError::NotFound("no cart for this X-Cart-Token".into()));
    }
    Ok(Json(view(&state, cart, None).await?))
}

/// A line's new quantity.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Quantity {
    /// 0 (remove) to 1000.
    #[schemars(range(min = 0, max = 1000))]
    quantity: i64,
}

impl Quantity {
    /// From a page's form.
    pub(crate) fn new(quantity: i64) -> Self {
        Quantity { quantity }
    }
}

/// `PUT /cart/items/{product_id}`: sets the quantity (a line taken from an offer keeps its agreed price only
/// while its quantity stays the offer's; 0 removes the line, also of a product taken off
/// sale). A guest without a cart gets
/// one; its token comes back in `cart_token`.
pub(crate) async fn put_item(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    headers: HeaderMap,
    Path(pid): Path<String>,
    Json(q): Json<Quantity>,
) -> ApiResult<Json<CartView>> {
    let pid = parse_id("product", &pid)?;
    if !(0..=MAX_QUANTITY).contains(&q.quantity) {
        return Err(ApiError::invalid(format!("quantity must be within 0..={MAX_QUANTITY}")));
    }
    // Removing a line needs no product for sale (one taken off sale must still leave the cart).
    if q.quantity > 0 {
        let active: Option<Flag> =
            sqlx::query_scalar("SELECT active FROM products WHERE id = $1").bind(pid).fetch_optional(&state.db).await?;
        if active != Some(Flag(true)) {
            return Err(ApiError::NotFound(format!("no product {pid}")));
        }
    }
    let mut new_token = None;
    let cart = match find_cart(&state, user.as_ref(), &headers).await? {
        Some(c) => c,
        None => {
            let (uid, hash) = match (&user, guest_token(&headers)) {
                (Some(u), _) => (Some(u.id), None),
                (None, Some(_)) => return Err(ApiError::NotFound("no cart for this X-Cart-Token".into())),
                (None, None) => {
                    let t = crate::auth::random_token();
                    let h = token_hash(&t).to_vec();
                    new_token = Some(t);
                    (None, Some(h))
                }
            };
            sqlx::query_scalar(
                "INSERT INTO carts (user_id, guest_token_hash, created_at) VALUES ($1, $2, $3)
                 ON CONFLICT (user_id) DO UPDATE SET created_at = carts.created_at RETURNING id",
            )
            .bind(uid)
            .bind(hash)
            .bind(crate::db::now())
            .fetch_one(&state.db)
            .await?
        }
    };
    if q.quantity == 0 {
        sqlx::query("DELETE FROM cart_items WHERE cart_id = $1 AND product_id = $2")
            .bind(cart)
            .bind(pid)
            .execute(&state.db)
            .await?;
    } else {
        sqlx::query(
            "INSERT INTO cart_items (cart_id, product_id, quantity) VALUES ($1, $2, $3)
             ON CONFLICT (cart_id, product_id) DO UPDATE SET quantity = excluded.quantity,
               offer_id = CASE WHEN cart_items.quantity = excluded.quantity THEN cart_items.offer_id END,
               agreed_cents = CASE WHEN cart_items.quantity = excluded.quantity THEN cart_items.agreed_cents END",
        )
        .bind(cart)
        .bind(pid)
        .bind(q.quantity)
        .execute(&state.db)
        .await?;
        if let Some(u) = user.as_ref().filter(|u| u.role == Role::Customer) {
            state.record_event(u.id, &[pid], crate::reco::EventKind::Cart).await;
        }
    }
    Ok(Json(view(&state, Some(cart), new_token).await?))
}

/// `DELETE /cart/items/{product_id}`.
pub(crate) async fn delete_item(
    state: State<AppState>,
    user: MaybeUser,
    headers: HeaderMap,
    pid: Path<String>,
) -> ApiResult<Json<CartView>> {
    put_item(state, user, headers, pid, Json(Quantity { quantity: 0 })).await
}

/// Moves the guest cart named by the request's `X-Cart-Token` into `user`'s cart (quantities add up,
/// capped at [`MAX_QUANTITY`]; a line of the user's taken from a dealer's offer keeps the offer's
/// quantity and price, and the guest's units of that product are not added to it) and deletes it. No token or no such cart: nothing to do.
pub async fn merge_guest(state: &AppState, headers: &HeaderMap, user: i64) -> ApiResult<()> {
    let Some(t) = guest_token(headers) else { return Ok(()) };
    let mut tx = crate::db::write_tx(&state.db).await?;
    let guest: Option<i64> = sqlx::query_scalar("SELECT id FROM carts WHERE guest_token_hash = $1")
        .bind(&token_hash(t)[..])
        .fetch_optional(&mut *tx)
        .await?;
    let Some(guest) = guest else { return Ok(()) };
    let mine = user_cart(&mut *tx, user).await?;
    let merged = Backend::of_conn(&tx).least("cart_items.quantity + excluded.quantity", "$3");
    sqlx::query(&format!(
        "INSERT INTO cart_items (cart_id, product_id, quantity) SELECT $1, product_id, quantity FROM cart_items WHERE cart_id = $2 AND true
         ON CONFLICT (cart_id, product_id) DO UPDATE SET quantity = CASE WHEN cart_items.offer_id IS NULL THEN {merged} ELSE cart_items.quantity END"
    ))
    .bind(mine)
    .bind(guest)
    .bind(MAX_QUANTITY)
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM carts WHERE id = $1").bind(guest).execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(())
}
