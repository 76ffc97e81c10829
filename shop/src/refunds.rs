//! Refunds, carried out at least once. The amount is reserved (`orders.refunded_cents` raised
//! conditionally, so refunds never exceed the charge) together with a `pending` row in `refunds`, in
//! the caller's transaction; then the gateway is called with the row's key; then one transaction books
//! it (payment row, `order.refunded` outbox row, Refunded when nothing is left). A refund the gateway
//! cannot take now stays pending and is retried by the recovery loop (at start, then every minute); a
//! declined one gives its reservation back and sends `refund.failed`.

use crate::error::{ApiError, ApiResult};
use crate::orders::{load_existing, outbox, release_stock, transition, Status};
use crate::payment::{with_retries, PayError, Retry};
use crate::AppState;
use sqlx::AnyConnection;

/// What [`execute`] achieved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Booked.
    Done,
    /// The gateway failed for now; retried by the recovery loop.
    Pending(String),
}

/// Reserves `amount` of `order` under `key` (in the caller's transaction); 422 if less is left.
pub async fn reserve(conn: &mut AnyConnection, order: i64, amount: i64, key: &str) -> ApiResult<()> {
    let now = crate::db::now();
    let reserved = sqlx::query(
        "UPDATE orders SET refunded_cents = refunded_cents + $1, updated_at = $3 WHERE id = $2 AND refunded_cents + $1 <= total_cents",
    )
    .bind(amount)
    .bind(order)
    .bind(now)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if reserved == 0 {
        return Err(ApiError::Unprocessable(
            "refund_too_large",
            format!("order {order} has less than {amount} cents left to refund"),
        ));
    }
    let inserted = sqlx::query(
        "INSERT INTO refunds (key, order_id, amount_cents, status, created_at, updated_at) VALUES ($1, $2, $3, 'pending', $4, $5)
         ON CONFLICT (key) DO NOTHING",
    )
    .bind(key)
    .bind(order)
    .bind(amount)
    .bind(now)
    .bind(now)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if inserted == 0 {
        // The same key raced this request in: the caller's transaction is dropped (the raise undone).
        return Err(ApiError::Conflict("idempotency_in_progress", format!("refund {key} is already under way")));
    }
    Ok(())
}

/// Carries out the refund recorded under `key` (a no-op if it is no longer pending).
pub async fn execute(state: &AppState, key: &str) -> ApiResult<Outcome> {
    let row: Option<(i64, i64, String, i64, Option<String>)> = sqlx::query_as(
        "SELECT r.order_id, r.amount_cents, r.status, o.store_id, o.payment_ref FROM refunds r JOIN orders o ON o.id = r.order_id WHERE r.key = $1",
    )
    .bind(key)
    .fetch_optional(&state.db)
    .await?;
    let Some((order, amount, status, store, charge)) = row else {
        return Err(ApiError::Internal(format!("no refund {key}")));
    };
    match status.as_str() {
        "done" => return Ok(Outcome::Done),
        "declined" => return Err(declined(key)),
        _ => {}
    }
    let gateway = state.gateway_of_store(store).await?;
    let charge = charge.unwrap_or_default();
    let r =
        with_retries(gateway.as_ref(), key, Retry::of(&state.config), || gateway.refund(key, &charge, amount)).await;
    book(state, key, order, amount, r).await
}

fn declined(key: &str) -> ApiError {
    ApiError::Unprocessable("refund_declined", format!("refund {key} was declined by the gateway"))
}

/// The answer for refund `key` once another call has settled it.
async fn settled_elsewhere(state: &AppState, key: &str) -> ApiResult<Outcome> {
    let status: Option<String> =
        sqlx::query_scalar("SELECT status FROM refunds WHERE key = $1").bind(key).fetch_optional(&state.db).await?;
    match status.as_deref() {
        Some("done") => Ok(Outcome::Done),
        Some("declined") => Err(declined(key)),
        Some(s) => Ok(Outcome::Pending(format!("refund {key} is {s}"))),
        None => Err(ApiError::Internal(format!("no refund {key}"))),
    }
}

/// Moves refund `key` from pending to `status`; false if it was not pending (settled concurrently).
async fn settle(conn: &mut AnyConnection, key: &str, status: &str) -> ApiResult<bool> {
    let n = sqlx::query("UPDATE refunds SET status = $1, updated_at = $2 WHERE key = $3 AND status = 'pending'")
        .bind(status)
        .bind(crate::db::now())
        .bind(key)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    Ok(n == 1)
}

async fn book(state: &AppState, key: &str, order: i64, amount: i64, r: Result<String, PayError>) -> ApiResult<Outcome> {
    let reference = match r {
        Ok(reference) => reference,
        Err(PayError::Declined(why)) => {
            let mut tx = crate::db::write_tx(&state.db).await?;
            let settled = settle(&mut tx, key, "declined").await?;
            if settled {
                sqlx::query("UPDATE orders SET refunded_cents = refunded_cents - $1 WHERE id = $2")
                    .bind(amount)
                    .bind(order)
                    .execute(&mut *tx)
                    .await?;
                outbox(
                    &mut tx,
                    "refund.failed",
                    order,
                    serde_json::json!({"order": order, "amount_cents": amount, "reason": why}),
                )
                .await?;
            }
            tx.commit().await?;
            if !settled {
                return settled_elsewhere(state, key).await;
            }
            return Err(ApiError::Unprocessable("refund_declined", format!("refund declined by the gateway: {why}")));
        }
        Err(e) => {
            metrics::counter!("shop_refunds_pending_total").increment(1);
            return Ok(Outcome::Pending(e.to_string()));
        }
    };
    let mut tx = crate::db::write_tx(&state.db).await?;
    let settled = settle(&mut tx, key, "done").await?;
    if settled {
        sqlx::query("INSERT INTO payments (order_id, kind, amount_cents, gateway_ref, key, created_at) VALUES ($1, 'refund', $2, $3, $4, $5)")
            .bind(order)
            .bind(amount)
            .bind(&reference)
            .bind(key)
            .bind(crate::db::now())
            .execute(&mut *tx)
            .await?;
        outbox(
            &mut tx,
            "order.refunded",
            order,
            serde_json::json!({"order": order, "amount_cents": amount, "reference": reference}),
        )
        .await?;
        // Refunded in full — by *booked* refunds only, never by amounts merely reserved (a reserved one
        // may still be declined and give its reservation back): the order says so (and a Paid order's
        // units, never shipped, go back).
        let now = load_existing(&mut tx, order).await?;
        let booked: i64 = sqlx::query_scalar(
            "SELECT CAST(coalesce(sum(amount_cents), 0) AS BIGINT) FROM payments WHERE order_id = $1 AND kind = 'refund'",
        )
        .bind(order)
        .fetch_one(&mut *tx)
        .await?;
        if booked >= now.total_cents && now.status.can_become(Status::Refunded) {
            if now.status == Status::Paid {
                release_stock(&mut tx, order).await?;
            }
            transition(&mut tx, order, now.status, Status::Refunded, Some("refunded in full")).await?;
        }
        metrics::counter!("shop_refunds_total").increment(1);
    }
    tx.commit().await?;
    if !settled {
        return settled_elsewhere(state, key).await;
    }
    Ok(Outcome::Done)
}

/// Retries the pending refunds (all at start; later those older than `older_than` seconds). Returns
/// `(booked, still pending)`; a declined one counts as neither.
pub async fn recover(state: &AppState, older_than: Option<i64>) -> ApiResult<(usize, usize)> {
    let before = older_than.map_or(i64::MAX, |s| crate::db::now() - s);
    let keys: Vec<String> =
        sqlx::query_scalar("SELECT key FROM refunds WHERE status = 'pending' AND updated_at < $1 ORDER BY created_at")
            .bind(before)
            .fetch_all(&state.db)
            .await?;
    let (mut done, mut pending) = (0, 0);
    for key in keys {
        match execute(state, &key).await {
            Ok(Outcome::Done) => done += 1,
            Ok(Outcome::Pending(_)) => pending += 1,
            Err(e) => tracing::warn!(key, error = %e, "recovery: refund not carried out"),
        }
    }
    if done + pending > 0 {
        tracing::info!(done, pending, "recovered pending refunds");
    }
    Ok((done, pending))
}
