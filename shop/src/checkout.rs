//! Checkout: reserve stock atomically, take the payment, and answer idempotently.
//!
//! 1. One `BEGIN IMMEDIATE` transaction: look the `Idempotency-Key` up (same body → replay the stored
//!    answer, another body → 422, first request still running → 409), then per line
//!    `UPDATE products SET stock = stock - n WHERE id = ? AND stock >= n` with a rows-affected check
//!    (`CHECK (stock >= 0)` in the schema is the second guard), and insert the order (Created), its
//!    lines, an `order.created` outbox row and the key — all or nothing.
//! 2. Charge through the store's gateway with retries (same gateway key each time: never two charges).
//! 3. One transaction: Paid + payment row + `order.paid` outbox row + the stored answer; or, if the
//!    payment failed, the compensation: stock released, Cancelled, `order.payment_failed`, answer 402.
//!
//! A crash between 1 and 3 leaves a Created order with its stock reserved: [`recover`] (run at start,
//! then every minute for orders whose payment lease has run out) asks the gateway whether the charge
//! happened and finishes the order either way. Every gateway call is time-limited, so a payment ends
//! within its lease (`Config::payment_lease_secs`); a charge that still lands on a cancelled order is
//! refunded ([`refund_late_charge`]).

use crate::auth::User;
use crate::db::{Backend, Flag};
use crate::error::{ApiError, ApiResult, Json};
use crate::orders::{load_existing, outbox, release_stock, transition, Status};
use crate::payment::{timed, with_retries, PayError, Retry};
use crate::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// One line to buy.
#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Item {
    /// Product.
    pub product_id: i64,
    /// Units (1..=1000).
    pub quantity: i64,
}

/// The checkout request. Without `items` the caller's cart is bought (with `store_id`: only that
/// store's lines; a cart spanning stores needs it; lines of products taken off sale are skipped).
#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckoutReq {
    /// Shipping address.
    pub ship_to: String,
    /// Buy these instead of the cart.
    #[serde(default)]
    pub items: Option<Vec<Item>>,
    /// Only this store's cart lines.
    #[serde(default)]
    pub store_id: Option<i64>,
}

/// The `Idempotency-Key` header, if present: 1–255 visible ASCII characters.
pub fn idempotency_key(headers: &HeaderMap) -> ApiResult<Option<String>> {
    let Some(v) = headers.get("idempotency-key") else { return Ok(None) };
    let k = v.to_str().map_err(|_| ApiError::BadRequest("idempotency_key", "Idempotency-Key must be ASCII".into()))?;
    if k.is_empty() || k.len() > 255 || !k.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::BadRequest(
            "idempotency_key",
            "Idempotency-Key must be 1–255 visible ASCII characters".into(),
        ));
    }
    Ok(Some(k.to_string()))
}

fn stored(status: u16, body: String, replayed: bool) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut r = (code, [("content-type", "application/json")], body).into_response();
    if replayed {
        r.headers_mut().insert("idempotent-replayed", "true".parse().expect("static header"));
    }
    r
}

enum Step {
    Replay(u16, String),
    Reserved { order: i64, total: i64, gateway: String },
}

/// `POST /checkout` (signed in; `Idempotency-Key` required).
pub(crate) async fn checkout(
    State(state): State<AppState>,
    user: User,
    headers: HeaderMap,
    Json(req): Json<CheckoutReq>,
) -> ApiResult<Response> {
    let key = idempotency_key(&headers)?.ok_or_else(|| {
        ApiError::BadRequest(
            "idempotency_key_required",
            "send an Idempotency-Key header (e.g. a UUID) with every checkout".into(),
        )
    })?;
    let ship_to = req.ship_to.trim();
    if ship_to.is_empty() || ship_to.chars().count() > 500 {
        return Err(ApiError::invalid("ship_to must have 1 to 500 characters"));
    }
    if let Some(items) = &req.items {
        if items.is_empty() || items.len() > 100 {
            return Err(ApiError::invalid("items must hold 1 to 100 lines"));
        }
        if let Some(bad) =
            items.iter().find(|i| i.product_id <= 0 || !(1..=crate::cart::MAX_QUANTITY).contains(&i.quantity))
        {
            return Err(ApiError::invalid(format!(
                "line for product {}: quantity must be within 1..={} (got {})",
                bad.product_id,
                crate::cart::MAX_QUANTITY,
                bad.quantity
            )));
        }
    }
    let hash: [u8; 32] =
        Sha256::digest(serde_json::to_vec(&req).map_err(|e| ApiError::Internal(e.to_string()))?).into();
    let started = std::time::Instant::now();
    let step = reserve(&state, &user, &key, &hash, &req).await?;
    let (order, total, gateway) = match step {
        Step::Replay(status, body) => {
            metrics::counter!("shop_idempotent_replays_total").increment(1);
            return Ok(stored(status, body, true));
        }
        Step::Reserved { order, total, gateway } => (order, total, gateway),
    };
    let gw = state.gateway(&gateway)?;
    // Detached from the request: a client that hangs up mid-payment does not leave the order half done.
    let st = state.clone();
    let task = tokio::spawn(async move {
        let pay_key = format!("order-{order}-charge");
        let result = match total {
            0 => Ok("free".to_string()),
            _ => with_retries(gw.as_ref(), &pay_key, Retry::of(&st.config), || gw.charge(&pay_key, total)).await,
        };
        finalize(&st, order, result).await
    });
    let (status, body) = task.await.map_err(|e| ApiError::Internal(e.to_string()))??;
    metrics::histogram!("shop_checkout_seconds").record(started.elapsed().as_secs_f64());
    Ok(stored(status, body, false))
}

/// Records a rejection under the key (so a retry gets the same answer) and commits.
async fn reject(mut tx: crate::db::WriteTx, user: i64, key: &str, hash: &[u8], e: ApiError) -> ApiResult<Step> {
    sqlx::query("INSERT INTO idempotency_keys (user_id, key, request_hash, status, response, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(user)
        .bind(key)
        .bind(hash)
        .bind(e.status().as_u16() as i64)
        .bind(e.body().to_string())
        .bind(crate::db::now())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Err(e)
}

async fn reserve(state: &AppState, user: &User, key: &str, hash: &[u8], req: &CheckoutReq) -> ApiResult<Step> {
    let mut tx = crate::db::write_tx(&state.db).await?;
    let prior: Option<(Vec<u8>, Option<i64>, Option<String>)> =
        sqlx::query_as("SELECT request_hash, status, response FROM idempotency_keys WHERE user_id = $1 AND key = $2")
            .bind(user.id)
            .bind(key)
            .fetch_optional(&mut *tx)
            .await?;
    if let Some((h, status, body)) = prior {
        return match (h == hash, status) {
            (false, _) => Err(ApiError::Unprocessable(
                "idempotency_key_reused",
                "this Idempotency-Key was used with a different request body; use a new key".into(),
            )),
            (true, None) => Err(ApiError::Conflict(
                "idempotency_in_progress",
                "the first request with this Idempotency-Key is still running; retry later".into(),
            )),
            (true, Some(s)) => Ok(Step::Replay(s as u16, body.unwrap_or_default())),
        };
    }
    // The lines: given, or the cart's.
    let cart: Option<i64> = match req.items {
        Some(_) => None,
        None => {
            sqlx::query_scalar("SELECT id FROM carts WHERE user_id = $1").bind(user.id).fetch_optional(&mut *tx).await?
        }
    };
    // product, quantity, and for a cart line taken from a dealer's offer: (offer, agreed unit price)
    type Wanted = (i64, i64, Option<(i64, i64)>);
    let mut wanted: Vec<Wanted> = match (&req.items, cart) {
        (Some(items), _) => items.iter().map(|i| (i.product_id, i.quantity, None)).collect(),
        // Cart lines of products taken off sale stay in the cart (shown unavailable) and are skipped.
        (None, Some(c)) => crate::cart::lines(&mut *tx, c)
            .await?
            .into_iter()
            .filter(|l| l.available)
            .map(|l| (l.product_id, l.quantity, l.offer_id.map(|o| (o, l.price_cents))))
            .collect(),
        (None, None) => Vec::new(),
    };
    wanted.sort_unstable();
    let mut lines: Vec<(i64, i64, i64, i64)> = Vec::new(); // product, quantity, price, store
    let mut offers: Vec<i64> = Vec::new(); // offers bought by this order
    for (pid, q, offer) in wanted {
        if let Some(last) = lines.last_mut().filter(|l| l.0 == pid) {
            last.1 += q;
            continue;
        }
        let p: Option<(i64, i64, Flag)> =
            sqlx::query_as("SELECT price_cents, store_id, active FROM products WHERE id = $1")
                .bind(pid)
                .fetch_optional(&mut *tx)
                .await?;
        let e = match (p, req.store_id) {
            // Cart lines of other stores stay in the cart; explicit items must all be of the store.
            (Some((_, store, _)), Some(s)) if store != s && req.items.is_none() => continue,
            (Some((_, store, _)), Some(s)) if store != s => {
                ApiError::Unprocessable("other_store", format!("product {pid} is not sold by store {s}"))
            }
            (Some((price, store, Flag(true))), _) => {
                let price = match offer {
                    Some((id, agreed)) => {
                        offers.push(id);
                        agreed
                    }
                    None => price,
                };
                lines.push((pid, q, price, store));
                continue;
            }
            _ => ApiError::Unprocessable("unknown_product", format!("product {pid} is not for sale")),
        };
        return reject(tx, user.id, key, hash, e).await;
    }
    if lines.is_empty() {
        return reject(
            tx,
            user.id,
            key,
            hash,
            ApiError::Unprocessable("empty_cart", "nothing to buy: the cart (or items) is empty".into()),
        )
        .await;
    }
    if let Some(l) = lines.iter().find(|l| l.1 > crate::cart::MAX_QUANTITY) {
        return reject(
            tx,
            user.id,
            key,
            hash,
            ApiError::invalid(format!("product {}: at most {} units", l.0, crate::cart::MAX_QUANTITY)),
        )
        .await;
    }
    let store = lines[0].3;
    if lines.iter().any(|l| l.3 != store) {
        return reject(
            tx,
            user.id,
            key,
            hash,
            ApiError::Unprocessable(
                "several_stores",
                "the lines come from several stores: check out one store_id at a time".into(),
            ),
        )
        .await;
    }
    // Reserve: a conditional decrement per line, inside a savepoint so a shortage undoes the others.
    let mut sp = sqlx::Connection::begin(&mut *tx).await?;
    for &(pid, q, _, _) in &lines {
        let done = sqlx::query("UPDATE products SET stock = stock - $1 WHERE id = $2 AND active = 1 AND stock >= $1")
            .bind(q)
            .bind(pid)
            .execute(&mut *sp)
            .await?
            .rows_affected();
        if done != 1 {
            sp.rollback().await?;
            let left: i64 =
                sqlx::query_scalar("SELECT stock FROM products WHERE id = $1").bind(pid).fetch_one(&mut *tx).await?;
            metrics::counter!("shop_out_of_stock_total").increment(1);
            let e =
                ApiError::Conflict("out_of_stock", format!("product {pid} is out of stock: {left} left, {q} wanted"));
            return reject(tx, user.id, key, hash, e).await;
        }
    }
    sp.commit().await?;
    let total: i64 = lines.iter().map(|l| l.1 * l.2).sum();
    let now = crate::db::now();
    let order: i64 = sqlx::query_scalar(
        "INSERT INTO orders (user_id, store_id, status, total_cents, ship_to, created_at, updated_at, lease_until, claimed_by) \
         VALUES ($1, $2, 'Created', $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(user.id)
    .bind(store)
    .bind(total)
    .bind(req.ship_to.trim())
    .bind(now)
    .bind(now)
    .bind(now + state.config.payment_lease_secs())
    .bind(state.replica.id)
    .fetch_one(&mut *tx)
    .await?;
    for &(pid, q, price, _) in &lines {
        sqlx::query("INSERT INTO order_lines (order_id, product_id, quantity, price_cents) VALUES ($1, $2, $3, $4)")
            .bind(order)
            .bind(pid)
            .bind(q)
            .bind(price)
            .execute(&mut *tx)
            .await?;
        if let (None, Some(c)) = (&req.items, cart) {
            sqlx::query("DELETE FROM cart_items WHERE cart_id = $1 AND product_id = $2")
                .bind(c)
                .bind(pid)
                .execute(&mut *tx)
                .await?;
        }
    }
    // The offers are bought once: claimed by this order (a failed payment gives them back).
    for &offer in &offers {
        let claimed = sqlx::query("UPDATE messages SET offer_order_id = $1 WHERE id = $2 AND offer_order_id IS NULL")
            .bind(order)
            .bind(offer)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if claimed != 1 {
            drop(tx); // rolled back: nothing reserved, no key stored (a retry sees the catalogue price)
            return Err(ApiError::Conflict("offer_taken", format!("offer {offer} was bought by another order")));
        }
    }
    outbox(&mut tx, "order.created", order, serde_json::json!({"order": order, "user": user.id, "total_cents": total}))
        .await?;
    sqlx::query(
        "INSERT INTO idempotency_keys (user_id, key, request_hash, order_id, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(user.id)
    .bind(key)
    .bind(hash)
    .bind(order)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let gateway: String =
        sqlx::query_scalar("SELECT gateway FROM stores WHERE id = $1").bind(store).fetch_one(&mut *tx).await?;
    tx.commit().await?;
    Ok(Step::Reserved { order, total, gateway })
}

/// Finishes a Created order after its payment attempt: Paid, or compensated (stock released,
/// Cancelled). Writes the outbox row and the idempotency answer in the same transaction; returns that
/// answer. An order already finished (by the periodic recovery, if a payment outlived its five
/// minutes) is answered as it stands.
pub async fn finalize(state: &AppState, order: i64, result: Result<String, PayError>) -> ApiResult<(u16, String)> {
    let mut tx = crate::db::write_tx(&state.db).await?;
    let mut o = load_existing(&mut tx, order).await?;
    let mut late = None;
    let paid = match (o.status, result) {
        (Status::Created, Ok(reference)) => {
            transition(&mut tx, order, Status::Created, Status::Paid, None).await?;
            record_charge(&mut tx, order, o.total_cents, &reference).await?;
            outbox(
                &mut tx,
                "order.paid",
                order,
                serde_json::json!({"order": order, "user": o.user_id, "total_cents": o.total_cents}),
            )
            .await?;
            metrics::counter!("shop_orders_paid_total").increment(1);
            (o.status, o.payment_ref) = (Status::Paid, Some(reference));
            true
        }
        (Status::Created, Err(e)) => {
            release_stock(&mut tx, order).await?;
            // offers this order claimed can be bought again
            sqlx::query("UPDATE messages SET offer_order_id = NULL WHERE offer_order_id = $1")
                .bind(order)
                .execute(&mut *tx)
                .await?;
            let note = format!("payment failed: {e}");
            transition(&mut tx, order, Status::Created, Status::Cancelled, Some(&note)).await?;
            if e.is_transient() {
                // Outcome not known for sure (interrupted, timed out): a charge may still land; the
                // recovery loop looks for it for an hour and refunds it.
                sqlx::query("UPDATE orders SET charge_check_until = $1 WHERE id = $2")
                    .bind(crate::db::now() + LATE_CHARGE_WATCH_SECS)
                    .bind(order)
                    .execute(&mut *tx)
                    .await?;
            }
            (o.status, o.note) = (Status::Cancelled, Some(note));
            outbox(
                &mut tx,
                "order.payment_failed",
                order,
                serde_json::json!({"order": order, "user": o.user_id, "reason": e.to_string()}),
            )
            .await?;
            metrics::counter!("shop_payments_failed_total").increment(1);
            false
        }
        (Status::Cancelled, Ok(reference)) => {
            // The charge landed after the order was cancelled (by the recovery, once the payment's
            // lease ran out): it is refunded below, after this transaction.
            late = Some(reference);
            false
        }
        (s, _) => s != Status::Cancelled,
    };
    let (status, body) = match paid {
        true => (201u16, serde_json::to_string(&o).map_err(|e| ApiError::Internal(e.to_string()))?),
        false => {
            let mut b =
                ApiError::PaymentFailed(format!("order {order}: {}", o.note.as_deref().unwrap_or("payment failed")))
                    .body();
            b["error"]["order_id"] = order.into();
            (402u16, b.to_string())
        }
    };
    sqlx::query("UPDATE idempotency_keys SET status = $1, response = $2 WHERE order_id = $3")
        .bind(status as i64)
        .bind(&body)
        .bind(order)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;

    if let Some(reference) = late {
        refund_late_charge(state, order, &reference).await?;
    }
    let products: Vec<i64> = o.lines.iter().map(|l| l.product_id).collect();
    if paid {
        state.record_event(o.user_id, &products, crate::reco::EventKind::Purchase).await;
    }
    state.stock_moved(&products).await;
    Ok((status, body))
}

/// Books the charge `reference` of `order` (once per order): its `payment_ref`, the `payments` row,
/// and the end of any late-charge watch.
async fn record_charge(conn: &mut sqlx::AnyConnection, order: i64, total: i64, reference: &str) -> ApiResult<()> {
    sqlx::query("UPDATE orders SET payment_ref = coalesce(payment_ref, $1), charge_check_until = NULL WHERE id = $2")
        .bind(reference)
        .bind(order)
        .execute(&mut *conn)
        .await?;
    if total > 0 {
        sqlx::query(
            "INSERT INTO payments (order_id, kind, amount_cents, gateway_ref, key, created_at) VALUES ($1, 'charge', $2, $3, $4, $5)
             ON CONFLICT (key) DO NOTHING",
        )
        .bind(order)
        .bind(total)
        .bind(reference)
        .bind(format!("order-{order}-charge"))
        .bind(crate::db::now())
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// How long after a cancellation with an unknown payment outcome the charge key is still looked up.
pub const LATE_CHARGE_WATCH_SECS: i64 = 3600;

/// A charge that landed on a cancelled order: recorded on the order and in `payments`, then refunded
/// in full (what is left of it) under the key `order-{id}-late-charge`, carried out like every refund
/// (at least once; retried by the recovery loop if the gateway fails now). Idempotent.
pub async fn refund_late_charge(state: &AppState, order: i64, reference: &str) -> ApiResult<()> {
    let key = format!("order-{order}-late-charge");
    let mut tx = crate::db::write_tx(&state.db).await?;
    let o = load_existing(&mut tx, order).await?;
    if o.status != Status::Cancelled {
        return Ok(());
    }
    record_charge(&mut tx, order, o.total_cents, reference).await?;
    let known: Option<i64> =
        sqlx::query_scalar("SELECT 1 FROM refunds WHERE key = $1").bind(&key).fetch_optional(&mut *tx).await?;
    let left = o.total_cents - o.refunded_cents;
    if known.is_none() && left > 0 {
        crate::refunds::reserve(&mut tx, order, left, &key).await?;
        outbox(
            &mut tx,
            "order.late_charge",
            order,
            serde_json::json!({"order": order, "user": o.user_id, "amount_cents": left, "reference": reference}),
        )
        .await?;
        metrics::counter!("shop_late_charges_total").increment(1);
    }
    tx.commit().await?;
    tracing::warn!(order, reference, "a charge landed on a cancelled order: refunding it");
    if known.is_some() || left > 0 {
        match crate::refunds::execute(state, &key).await {
            Ok(_) => {}
            Err(e) => tracing::error!(order, error = %e, "refund of a late charge not carried out now"),
        }
    }
    Ok(())
}

/// Finishes the orders left Created (by a crash, or a payment that died): Paid if the gateway holds
/// the charge, else released. On SQLite, at start every Created order (before serving: no payment of
/// this database is in flight then, one process per SQLite file); then, every minute, those older than
/// `older_than` seconds whose payment lease has run out (a payment still in flight is left alone). On
/// PostgreSQL (replicas) the orders of a replica that no longer runs at once
/// ([`crate::replicas`]), the others only when their lease has run out, at start too.
/// Then looks again for charges that may have landed late on orders cancelled with an unknown payment
/// outcome, and refunds them. A failing order is logged and left for the next round. Returns
/// `(paid, released)`.
pub async fn recover(state: &AppState, older_than: Option<i64>) -> ApiResult<(usize, usize)> {
    let now = crate::db::now();
    let before = older_than.map_or(i64::MAX, |s| now - s);
    // At the start of the only process (SQLite) nothing can be in flight: every Created order is finished.
    // With replicas (PostgreSQL) another may be paying: only orders whose replica is gone are finished at
    // once, the others once their lease has run out.
    let only_process = older_than.is_none() && Backend::of(&state.db) == Backend::Sqlite;
    let lease_ends_before = if only_process { i64::MAX } else { now };
    let created: Vec<(i64, i64, i64, i64, Option<i64>)> = sqlx::query_as(
        "SELECT id, store_id, created_at, coalesce(lease_until, 0), claimed_by FROM orders WHERE status = 'Created'",
    )
    .fetch_all(&state.db)
    .await?;
    let mut stuck = Vec::new();
    for (id, store, created_at, lease_until, claimed_by) in created {
        let expired = created_at < before && lease_until < lease_ends_before;
        let orphaned = match claimed_by {
            Some(r) if !only_process && !expired => !state.replica.is_alive(&state.db, r).await?,
            _ => false,
        };
        if expired || orphaned {
            stuck.push((id, store));
        }
    }
    let retry = Retry::of(&state.config);
    let (mut paid, mut released) = (0, 0);
    for (order, store) in stuck {
        let gw = state.gateway_of_store(store).await?;
        let found = timed(retry.timeout, gw.lookup(&format!("order-{order}-charge"))).await;
        let result = match found {
            Ok(Some(r)) => Ok(r),
            Ok(None) => Err(PayError::Transient("checkout interrupted before the payment was taken".into())),
            Err(e) => {
                tracing::warn!(order, error = %e, "recovery: gateway unreachable; order left Created for the next start");
                continue;
            }
        };
        match finalize(state, order, result).await {
            Ok((201, _)) => paid += 1,
            Ok(_) => released += 1,
            Err(e) => {
                tracing::error!(order, error = %e, "recovery: order could not be finished; left Created for the next round")
            }
        }
    }
    if paid + released > 0 {
        tracing::info!(paid, released, "recovered orders left Created by an interrupted run");
    }
    sweep_late_charges(state).await?;
    Ok((paid, released))
}

/// Looks up the charge of every order cancelled with an unknown payment outcome in the last
/// [`LATE_CHARGE_WATCH_SECS`]; one found is refunded ([`refund_late_charge`]). Returns how many.
pub async fn sweep_late_charges(state: &AppState) -> ApiResult<usize> {
    let now = crate::db::now();
    sqlx::query(
        "UPDATE orders SET charge_check_until = NULL WHERE charge_check_until IS NOT NULL AND charge_check_until < $1",
    )
    .bind(now)
    .execute(&state.db)
    .await?;
    let watched: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT id, store_id FROM orders WHERE charge_check_until IS NOT NULL AND status = 'Cancelled' ORDER BY id",
    )
    .fetch_all(&state.db)
    .await?;
    let timeout = Retry::of(&state.config).timeout;
    let mut found = 0;
    for (order, store) in watched {
        let gw = state.gateway_of_store(store).await?;
        match timed(timeout, gw.lookup(&format!("order-{order}-charge"))).await {
            Ok(Some(reference)) => {
                refund_late_charge(state, order, &reference).await?;
                found += 1;
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(order, error = %e, "late-charge check: gateway unreachable; tried again next round")
            }
        }
    }
    Ok(found)
}
