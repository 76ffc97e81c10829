//! Notifications: the dispatcher that delivers outbox rows to a [`Notifier`] at least once, retrying
//! failures with exponential backoff (capped at 5 minutes). A row is marked delivered only after the
//! notifier accepted it, so a crash in between delivers it again (consumers dedupe by `id`).

use crate::error::ApiResult;
use serde::Serialize;
use std::io::Write;
use std::path::PathBuf;

/// One notification (an outbox row).
#[derive(Debug, Clone, Serialize)]
pub struct Notification {
    /// Outbox id (stable across redeliveries: the consumer's dedupe key).
    pub id: i64,
    /// What happened (`order.created`, `order.paid`, `order.cancelled` …).
    pub kind: String,
    /// The order concerned.
    pub order_id: Option<i64>,
    /// Details.
    pub payload: serde_json::Value,
}

/// Where notifications go (e-mail, SMS, a message bus …).
pub trait Notifier: Send + Sync + std::fmt::Debug {
    /// Delivers `n`; an error is retried later.
    fn deliver(&self, n: &Notification) -> Result<(), String>;
}

/// Writes each notification to the log.
#[derive(Debug, Default)]
pub struct LogNotifier;

impl Notifier for LogNotifier {
    fn deliver(&self, n: &Notification) -> Result<(), String> {
        tracing::info!(id = n.id, kind = %n.kind, order = ?n.order_id, payload = %n.payload, "notification");
        Ok(())
    }
}

/// Appends each notification as a JSON line to a file (flushed per line).
#[derive(Debug)]
pub struct FileNotifier {
    path: PathBuf,
    file: parking_lot::Mutex<Option<std::fs::File>>,
}

impl FileNotifier {
    /// A sink appending to `path` (created on first delivery).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        FileNotifier { path: path.into(), file: parking_lot::Mutex::new(None) }
    }
}

impl Notifier for FileNotifier {
    fn deliver(&self, n: &Notification) -> Result<(), String> {
        let mut guard = self.file.lock();
        if guard.is_none() {
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .map_err(|e| format!("{}: {e}", self.path.display()))?;
            *guard = Some(f);
        }
        let f = guard.as_mut().expect("opened above");
        let line = serde_json::to_string(n).map_err(|e| e.to_string())?;
        writeln!(f, "{line}").and_then(|_| f.flush()).map_err(|e| {
            *guard = None;
            format!("{}: {e}", self.path.display())
        })
    }
}

/// How long a dispatcher's claim on due rows lasts, seconds: if it dies before marking them, another
/// replica (or its own restart) delivers them after this.
pub const CLAIM_SECS: i64 = 60;

/// Delivers every due row once (oldest first, at most 200); returns how many were delivered. The rows
/// are first claimed — their next attempt moved [`CLAIM_SECS`] ahead in one statement, on PostgreSQL
/// skipping rows another replica's dispatcher has locked — so replicas do not deliver the same row
/// at the same time (delivery stays at least once: a dispatcher that dies mid-way leaves its claim to
/// run out).
pub async fn dispatch_once(db: &crate::db::Db, notifier: &dyn Notifier) -> ApiResult<usize> {
    let now = crate::db::now();
    let skip_locked = match crate::db::Backend::of(db) {
        crate::db::Backend::Sqlite => "",
        crate::db::Backend::Postgres => " FOR UPDATE SKIP LOCKED",
    };
    let mut rows: Vec<(i64, String, Option<i64>, String, i64)> = sqlx::query_as(&format!(
        "UPDATE outbox SET next_attempt_at = $2 WHERE id IN (SELECT id FROM outbox WHERE delivered_at IS NULL \
         AND next_attempt_at <= $1 ORDER BY id LIMIT 200{skip_locked}) RETURNING id, kind, order_id, payload, attempts"
    ))
    .bind(now)
    .bind(now + CLAIM_SECS)
    .fetch_all(db)
    .await?;
    rows.sort_by_key(|r| r.0);
    let mut delivered = 0;
    for (id, kind, order_id, payload, attempts) in rows {
        let payload = serde_json::from_str(&payload).unwrap_or(serde_json::Value::String(payload));
        let n = Notification { id, kind, order_id, payload };
        match notifier.deliver(&n) {
            Ok(()) => {
                sqlx::query("UPDATE outbox SET delivered_at = $1, attempts = attempts + 1 WHERE id = $2")
                    .bind(now)
                    .bind(id)
                    .execute(db)
                    .await?;
                delivered += 1;
            }
            Err(e) => {
                let wait = 1i64 << attempts.clamp(0, 9);
                sqlx::query(
                    "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = $1, last_error = $2 WHERE id = $3",
                )
                .bind(now + wait.min(300))
                .bind(&e)
                .bind(id)
                .execute(db)
                .await?;
                metrics::counter!("shop_notification_failures_total").increment(1);
                tracing::warn!(id, error = %e, "notification failed; will retry");
            }
        }
    }
    metrics::counter!("shop_notifications_total").increment(delivered as u64);
    Ok(delivered)
}

/// Deletes what has outlived its purpose: idempotency keys older than `keep_hours` (finished ones
/// only) and expired sessions.
pub async fn purge(db: &crate::db::Db, keep_hours: u64) -> ApiResult<u64> {
    let now = crate::db::now();
    let keys = sqlx::query("DELETE FROM idempotency_keys WHERE status IS NOT NULL AND created_at < $1")
        .bind(now - keep_hours as i64 * 3600)
        .execute(db)
        .await?
        .rows_affected();
    let sessions =
        sqlx::query("DELETE FROM sessions WHERE expires_at <= $1").bind(now).execute(db).await?.rows_affected();
    Ok(keys + sessions)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default)]
    struct Flaky {
        fails_left: parking_lot::Mutex<u32>,
        got: parking_lot::Mutex<Vec<i64>>,
    }

    impl Notifier for Flaky {
        fn deliver(&self, n: &Notification) -> Result<(), String> {
            let mut f = self.fails_left.lock();
            if *f > 0 {
                *f -= 1;
                return Err("sink down".into());
            }
            self.got.lock().push(n.id);
            Ok(())
        }
    }

    #[tokio::test]
    async fn failed_deliveries_are_retried_until_delivered() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::db::open(&dir.path().join("o.db").display().to_string(), 2).await.unwrap();
        let mut conn = db.acquire().await.unwrap();
        crate::orders::outbox(&mut conn, "order.paid", 1, serde_json::json!({"order": 1})).await.unwrap();
        drop(conn);
        let n = Flaky { fails_left: parking_lot::Mutex::new(1), ..Default::default() };
        assert_eq!(dispatch_once(&db, &n).await.unwrap(), 0);
        // Backoff: due again after a second.
        sqlx::query("UPDATE outbox SET next_attempt_at = 0").execute(&db).await.unwrap();
        assert_eq!(dispatch_once(&db, &n).await.unwrap(), 1);
        assert_eq!(dispatch_once(&db, &n).await.unwrap(), 0, "delivered rows are not sent again");
        assert_eq!(*n.got.lock(), vec![1]);
        let (attempts, err): (i64, Option<String>) =
            sqlx::query_as("SELECT attempts, last_error FROM outbox").fetch_one(&db).await.unwrap();
        assert_eq!((attempts, err.as_deref()), (2, Some("sink down")));
    }

    #[test]
    fn file_notifier_appends_json_lines() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("n.jsonl");
        let f = FileNotifier::new(&p);
        for id in [1, 2] {
            f.deliver(&Notification {
                id,
                kind: "order.paid".into(),
                order_id: Some(id),
                payload: serde_json::json!({}),
            })
            .unwrap();
        }
        let text = std::fs::read_to_string(&p).unwrap();
        assert_eq!(text.lines().count(), 2);
        assert!(text.lines().all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()));
    }
}
