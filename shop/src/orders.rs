//! Orders: the state machine, and the order views and transitions (track, cancel, ship, deliver,
//! refund). Checkout lives in [`crate::checkout`].

use crate::auth::{Role, User};
use crate::db::Backend;
use crate::error::{parse_id, ApiError, ApiResult, Json, Path, Query};
use crate::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use sqlx::AnyConnection;

/// Where an order is in its life: the storefront's status, whose
/// [`can_become`](storefront::OrderStatus::can_become) is the state machine every transition passes.
pub use storefront::OrderStatus as Status;

/// The storefront's statuses as a string enum (storefront stays free of schema derives).
fn status_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let names: Vec<serde_json::Value> = Status::ALL.iter().filter_map(|s| serde_json::to_value(s).ok()).collect();
    schemars::json_schema!({"type": "string", "enum": names})
}

fn parse_status(s: &str) -> ApiResult<Status> {
    Status::parse(s).ok_or_else(|| ApiError::Internal(format!("unknown order status {s:?} in the database")))
}

/// One line of an order.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct LineView {
    /// Product.
    pub product_id: i64,
    /// Its SKU.
    pub sku: String,
    /// Its name.
    pub name: String,
    /// Units.
    pub quantity: i64,
    /// Unit price paid.
    pub price_cents: i64,
}

/// An order as the API shows it.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct OrderView {
    /// Id.
    pub id: i64,
    /// Customer.
    pub user_id: i64,
    /// Store.
    pub store_id: i64,
    /// Status.
    #[schemars(schema_with = "status_schema")]
    pub status: Status,
    /// Sum of the lines.
    pub total_cents: i64,
    /// Refunded so far.
    pub refunded_cents: i64,
    /// Shipping address.
    pub ship_to: String,
    /// The payment provider's charge reference.
    pub payment_ref: Option<String>,
    /// Why it was cancelled, if it was.
    pub note: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Lines.
    pub lines: Vec<LineView>,
}

/// The order `id`, which must exist (it was just written or locked).
pub async fn load_existing(conn: &mut AnyConnection, id: i64) -> ApiResult<OrderView> {
    load(conn, id).await?.ok_or_else(|| ApiError::Internal(format!("order {id} vanished")))
}

type OrderRow = (i64, i64, i64, String, i64, i64, String, Option<String>, Option<String>, i64);

/// An order line's columns (as [`LineView`]) and their tables.
const LINE_COLS: &str =
    "l.product_id, p.sku, p.name, l.quantity, l.price_cents FROM order_lines l JOIN products p ON p.id = l.product_id";

const ORDER_COLS: &str =
    "id, user_id, store_id, status, total_cents, refunded_cents, ship_to, payment_ref, note, created_at";

fn order_view(row: OrderRow, lines: Vec<LineView>) -> ApiResult<OrderView> {
    let (id, user_id, store_id, status, total_cents, refunded_cents, ship_to, payment_ref, note, created_at) = row;
    Ok(OrderView {
        id,
        user_id,
        store_id,
        status: parse_status(&status)?,
        total_cents,
        refunded_cents,
        ship_to,
        payment_ref,
        note,
        created_at,
        lines,
    })
}

/// The order `id` (any owner), read through `conn`.
pub async fn load(conn: &mut AnyConnection, id: i64) -> ApiResult<Option<OrderView>> {
    let row: Option<OrderRow> = sqlx::query_as(&format!("SELECT {ORDER_COLS} FROM orders WHERE id = $1"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let lines = sqlx::query_as(&format!("SELECT {LINE_COLS} WHERE l.order_id = $1 ORDER BY l.product_id"))
        .bind(id)
        .fetch_all(&mut *conn)
        .await?;
    Ok(Some(order_view(row, lines)?))
}

/// Whether `user` may see `order`: its customer, its store's dealer, an admin.
pub fn visible(user: &User, order: &OrderView) -> bool {
    order.user_id == user.id || user.manages(order.store_id)
}

/// The order `raw` if `user` may see it; otherwise 404 (ids of others cannot be probed).
pub async fn visible_order(state: &AppState, user: &User, raw: &str) -> ApiResult<OrderView> {
    let id = parse_id("order", raw)?;
    let mut conn = state.db.acquire().await?;
    match load(&mut conn, id).await? {
        Some(o) if visible(user, &o) => Ok(o),
        _ => Err(ApiError::NotFound(format!("no order {id}"))),
    }
}

/// Moves order `id` from `from` to `to` inside the caller's transaction; a move the machine forbids, or
/// an order no longer in `from` (a concurrent change), is a 409.
pub async fn transition(
    conn: &mut AnyConnection,
    id: i64,
    from: Status,
    to: Status,
    note: Option<&str>,
) -> ApiResult<()> {
    if !from.can_become(to) {
        return Err(ApiError::Conflict("illegal_transition", format!("an order cannot go from {from:?} to {to:?}")));
    }
    let done = sqlx::query(
        "UPDATE orders SET status = $1, note = coalesce($2, note), updated_at = $3 WHERE id = $4 AND status = $5",
    )
    .bind(to.as_str())
    .bind(note)
    .bind(crate::db::now())
    .bind(id)
    .bind(from.as_str())
    .execute(&mut *conn)
    .await?
    .rows_affected();
    match done {
        1 => Ok(()),
        _ => Err(ApiError::Conflict("order_state", format!("order {id} is no longer {from:?}"))),
    }
}

/// Writes an outbox row (in the caller's transaction).
pub async fn outbox(conn: &mut AnyConnection, kind: &str, order: i64, payload: serde_json::Value) -> ApiResult<()> {
    let t = crate::db::now();
    sqlx::query(
        "INSERT INTO outbox (kind, order_id, payload, created_at, next_attempt_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(kind)
    .bind(order)
    .bind(payload.to_string())
    .bind(t)
    .bind(t)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Puts the order's units back in stock (the compensation of a reservation).
pub async fn release_stock(conn: &mut AnyConnection, order: i64) -> ApiResult<()> {
    sqlx::query("UPDATE products SET stock = stock + (SELECT l.quantity FROM order_lines l WHERE l.order_id = $1 AND l.product_id = products.id)
                 WHERE id IN (SELECT product_id FROM order_lines WHERE order_id = $1)")
        .bind(order)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// `GET /orders` paging: `limit` (1..=100, default 20) orders with ids below `before` (the last id of
/// the previous page; default: from the newest).
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct OrderPage {
    /// Page size (1..=100, default 20).
    #[schemars(range(min = 1, max = 100))]
    limit: Option<i64>,
    /// Orders with ids below this one (the last id of the previous page).
    before: Option<i64>,
}

/// `GET /orders`: the customer's own orders; a dealer's store's; an admin's all — newest first, a page
/// at a time (two queries: the orders, then all their lines).
pub(crate) async fn list(
    State(state): State<AppState>,
    user: User,
    Query(page): Query<OrderPage>,
) -> ApiResult<Json<Vec<OrderView>>> {
    let limit = page.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::invalid("limit must be within 1..=100"));
    }
    let (filter, key) = match user.role {
        Role::Customer => ("user_id = $1", Some(user.id)),
        Role::Dealer => ("store_id = $1", Some(user.store_id.unwrap_or(-1))),
        Role::Admin => ("$1 IS NULL", None),
    };
    let rows: Vec<OrderRow> = sqlx::query_as(&format!(
        "SELECT {ORDER_COLS} FROM orders WHERE {filter} AND id < $2 ORDER BY id DESC LIMIT $3"
    ))
    .bind(key)
    .bind(page.before.unwrap_or(i64::MAX))
    .bind(limit)
    .fetch_all(&state.db)
    .await?;
    let ids = serde_json::to_string(&rows.iter().map(|r| r.0).collect::<Vec<_>>())
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let lines: Vec<(i64, LineView)> = sqlx::query_as::<_, (i64, i64, String, String, i64, i64)>(&format!(
        "SELECT l.order_id, {LINE_COLS} WHERE l.order_id IN ({}) ORDER BY l.order_id, l.product_id",
        Backend::of(&state.db).json_ids("$1")
    ))
    .bind(ids)
    .fetch_all(&state.db)
    .await?
    .into_iter()
    .map(|(o, product_id, sku, name, quantity, price_cents)| {
        (o, LineView { product_id, sku, name, quantity, price_cents })
    })
    .collect();
    let mut by_order: std::collections::HashMap<i64, Vec<LineView>> = std::collections::HashMap::new();
    for (o, l) in lines {
        by_order.entry(o).or_default().push(l);
    }
    let out = rows
        .into_iter()
        .map(|r| {
            let lines = by_order.remove(&r.0).unwrap_or_default();
            order_view(r, lines)
        })
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(Json(out))
}

/// `GET /orders/{id}`.
pub(crate) async fn get(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<String>,
) -> ApiResult<Json<OrderView>> {
    Ok(Json(visible_order(&state, &user, &id).await?))
}

/// What a cancellation did.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Cancelled {
    /// The order now.
    pub order: OrderView,
    /// `refunded`; `pending` (the gateway is failing: retried every minute until it goes through);
    /// `declined` (a `refund.failed` notification goes out; the store's dealer or an admin can retry
    /// with `POST /orders/{id}/refund`); or `none` (nothing was paid).
    pub refund: &'static str,
}

/// Cancels `user`'s order `id` (customer: own orders; dealer/admin: managed ones): Paid → Cancelled,
/// stock released and the outbox row in one transaction, then the payment refunded.
pub async fn cancel_order(state: &AppState, user: &User, raw: &str) -> ApiResult<Cancelled> {
    let o = visible_order(state, user, raw).await?;
    match o.status {
        Status::Created => {
            return Err(ApiError::Conflict(
                "payment_in_progress",
                format!("order {} is still being paid; try again shortly", o.id),
            ))
        }
        s if !s.can_become(Status::Cancelled) => {
            return Err(ApiError::Conflict(
                "order_state",
                format!("order {} is {s:?}: it can no longer be cancelled", o.id),
            ))
        }
        _ => {}
    }
    // One transaction: Cancelled, stock back, the outbox row, and what is left to refund reserved as a
    // pending refund (carried out below, or by the recovery loop if this process dies first).
    let key = format!("order-{}-cancel", o.id);
    let mut tx = crate::db::write_tx(&state.db).await?;
    transition(&mut tx, o.id, Status::Paid, Status::Cancelled, Some("cancelled by request")).await?;
    release_stock(&mut tx, o.id).await?;
    outbox(&mut tx, "order.cancelled", o.id, serde_json::json!({"order": o.id, "user": o.user_id})).await?;
    let remaining: i64 = sqlx::query_scalar("SELECT total_cents - refunded_cents FROM orders WHERE id = $1")
        .bind(o.id)
        .fetch_one(&mut *tx)
        .await?;
    if remaining > 0 {
        crate::refunds::reserve(&mut tx, o.id, remaining, &key).await?;
    }
    tx.commit().await?;
    state.stock_moved(&o.lines.iter().map(|l| l.product_id).collect::<Vec<_>>()).await;
    let refund = match remaining > 0 {
        false => "none",
        true => match crate::refunds::execute(state, &key).await {
            Ok(crate::refunds::Outcome::Done) => "refunded",
            Ok(crate::refunds::Outcome::Pending(e)) => {
                tracing::warn!(order = o.id, error = %e, "refund after cancellation pending");
                "pending"
            }
            Err(ApiError::Unprocessable("refund_declined", why)) => {
                tracing::warn!(order = o.id, why, "refund after cancellation declined");
                "declined"
            }
            // Not carried out now (e.g. the database was busy): the row stays pending and the
            // recovery loop carries it out.
            Err(e) => {
                tracing::warn!(order = o.id, error = %e, "refund after cancellation pending");
                "pending"
            }
        },
    };
    let mut conn = state.db.acquire().await?;
    let order = load_existing(&mut conn, o.id).await?;
    Ok(Cancelled { order, refund })
}

/// `POST /orders/{id}/cancel`.
pub(crate) async fn cancel(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<String>,
) -> ApiResult<Json<Cancelled>> {
    Ok(Json(cancel_order(&state, &user, &id).await?))
}

async fn manager_move(
    state: &AppState,
    user: &User,
    raw: &str,
    from: Status,
    to: Status,
    kind: &str,
) -> ApiResult<OrderView> {
    let o = visible_order(state, user, raw).await?;
    if !user.manages(o.store_id) {
        return Err(ApiError::Forbidden("only the store's dealer or an admin moves orders".into()));
    }
    if o.status != from {
        return Err(ApiError::Conflict(
            "illegal_transition",
            format!("order {} is {:?}, not {from:?}", o.id, o.status),
        ));
    }
    let mut tx = crate::db::write_tx(&state.db).await?;
    transition(&mut tx, o.id, from, to, None).await?;
    outbox(&mut tx, kind, o.id, serde_json::json!({"order": o.id, "user": o.user_id})).await?;
    let order = load_existing(&mut tx, o.id).await?;
    tx.commit().await?;
    Ok(order)
}

/// `POST /orders/{id}/ship` (dealer/admin): Paid → Shipped.
pub(crate) async fn ship(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<String>,
) -> ApiResult<Json<OrderView>> {
    Ok(Json(manager_move(&state, &user, &id, Status::Paid, Status::Shipped, "order.shipped").await?))
}

/// `POST /orders/{id}/deliver` (dealer/admin): Shipped → Delivered.
pub(crate) async fn deliver(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<String>,
) -> ApiResult<Json<OrderView>> {
    Ok(Json(manager_move(&state, &user, &id, Status::Shipped, Status::Delivered, "order.delivered").await?))
}

/// A refund request: `{"amount_cents": n}`, or `{}` for all that is left.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RefundReq {
    /// Cents to refund (default: all that is left).
    #[schemars(range(min = 1))]
    amount_cents: Option<i64>,
}

/// `POST /orders/{id}/refund` (dealer/admin; `Idempotency-Key` recommended, tied to the amount):
/// full or partial; the order becomes Refunded when nothing is left. 200 when booked; 202 when the
/// gateway is failing (the refund stays reserved and is retried every minute); 422 `refund_declined`
/// when the gateway refuses it (the reservation is given back). A cancelled order whose refund was
/// declined can be refunded here too.
pub(crate) async fn refund(
    State(state): State<AppState>,
    user: User,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(r): Json<RefundReq>,
) -> ApiResult<(StatusCode, Json<OrderView>)> {
    let o = visible_order(&state, &user, &id).await?;
    if !user.manages(o.store_id) {
        return Err(ApiError::Forbidden("only the store's dealer or an admin refunds".into()));
    }
    let key = match crate::checkout::idempotency_key(&headers)? {
        Some(k) => format!("order-{}-refund-{k}", o.id),
        None => format!("order-{}-refund-{}", o.id, crate::auth::random_token()),
    };
    // A key already used: the same amount (or none given) replays (a pending one is tried again, a
    // declined one answers its decline again), another amount is refused.
    let known: Option<(i64, String)> = sqlx::query_as("SELECT amount_cents, status FROM refunds WHERE key = $1")
        .bind(&key)
        .fetch_optional(&state.db)
        .await?;
    let outcome = match known {
        Some((a, _)) if r.amount_cents.is_some_and(|x| x != a) => {
            return Err(ApiError::Unprocessable(
                "idempotency_key_reused",
                format!("this Idempotency-Key refunded {a} cents, not {}; use a new key", r.amount_cents.unwrap_or(a)),
            ));
        }
        Some((_, status)) if status != "done" => crate::refunds::execute(&state, &key).await?,
        Some(_) => return Ok((StatusCode::OK, Json(o))),
        None => {
            let pending = o.status == Status::Cancelled && o.payment_ref.is_some();
            if !o.status.can_become(Status::Refunded) && !pending {
                return Err(ApiError::Conflict(
                    "illegal_transition",
                    format!("order {} is {:?}: nothing to refund", o.id, o.status),
                ));
            }
            let left = o.total_cents - o.refunded_cents;
            let amount = r.amount_cents.unwrap_or(left);
            if amount <= 0 || amount > left {
                return Err(ApiError::Unprocessable(
                    "refund_amount",
                    format!("amount_cents must be within 1..={left}"),
                ));
            }
            let mut tx = crate::db::write_tx(&state.db).await?;
            crate::refunds::reserve(&mut tx, o.id, amount, &key).await?;
            tx.commit().await?;
            crate::refunds::execute(&state, &key).await?
        }
    };
    state.stock_moved(&o.lines.iter().map(|l| l.product_id).collect::<Vec<_>>()).await;
    let status = match outcome {
        crate::refunds::Outcome::Done => StatusCode::OK,
        crate::refunds::Outcome::Pending(_) => StatusCode::ACCEPTED,
    };
    Ok((status, Json(visible_order(&state, &user, &id).await?)))
}

#[cfg(test)]
mod tests {
    use super::Status::{self, *};

    #[test]
    fn state_machine_allows_exactly_the_lifecycle() {
        let allowed: Vec<(Status, Status)> = Status::ALL
            .iter()
            .flat_map(|&a| Status::ALL.iter().map(move |&b| (a, b)))
            .filter(|(a, b)| a.can_become(*b))
            .collect();
        assert_eq!(
            allowed,
            vec![
                (Created, Paid),
                (Created, Cancelled),
                (Paid, Shipped),
                (Paid, Cancelled),
                (Paid, Refunded),
                (Shipped, Delivered),
                (Shipped, Refunded),
                (Delivered, Refunded)
            ]
        );
        for s in Status::ALL {
            assert_eq!(super::parse_status(s.as_str()).unwrap(), s);
        }
        assert!(super::parse_status("Lost").is_err());
    }
}
