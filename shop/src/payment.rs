//! Payments: the [`PaymentGateway`] strategy, a [`SimulatedGateway`] that can fail, time out, decline
//! or be slow, and [`with_retries`] (exponential backoff with jitter on transient failures).
//!
//! Every call carries an idempotency key, so a retry after a lost answer never charges twice — the
//! contract real providers (Stripe, Adyen) offer and this service relies on.

use rand::{Rng, SeedableRng};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// A boxed future (gateways are chosen at run time, per store).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why a gateway call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayError {
    /// Nothing happened; trying again may work.
    #[error("gateway temporarily unavailable: {0}")]
    Transient(String),
    /// No answer in time: the operation may or may not have happened (retry with the same key).
    #[error("gateway timed out")]
    Timeout,
    /// Refused for good (card declined, refund above the charge …).
    #[error("declined: {0}")]
    Declined(String),
}

impl PayError {
    /// Whether a retry with the same key may succeed.
    pub fn is_transient(&self) -> bool {
        !matches!(self, PayError::Declined(_))
    }
}

/// A payment provider.
pub trait PaymentGateway: Send + Sync + std::fmt::Debug {
    /// Charges `amount_cents` once per `key`; returns the provider's reference.
    fn charge<'a>(&'a self, key: &'a str, amount_cents: i64) -> BoxFuture<'a, Result<String, PayError>>;
    /// Refunds `amount_cents` of charge `charge_ref` once per `key`.
    fn refund<'a>(
        &'a self,
        key: &'a str,
        charge_ref: &'a str,
        amount_cents: i64,
    ) -> BoxFuture<'a, Result<String, PayError>>;
    /// The reference of the operation done under `key`, if any (to resolve a timeout or a crash).
    fn lookup<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<String>, PayError>>;
}

/// A provider simulated in process. Its ledger (what a real provider keeps on its side) is the
/// `sim_gateway_charges` table, written in its own transaction, so it survives a crash of the shop.
#[derive(Debug)]
pub struct SimulatedGateway {
    db: crate::db::Db,
    cfg: crate::config::GatewayConfig,
    rng: parking_lot::Mutex<rand::rngs::SmallRng>,
}

impl SimulatedGateway {
    /// A gateway behaving as `cfg` says, keeping its ledger in `db`.
    pub fn new(db: crate::db::Db, cfg: crate::config::GatewayConfig) -> Self {
        let rng = parking_lot::Mutex::new(rand::rngs::SmallRng::seed_from_u64(cfg.seed));
        SimulatedGateway { db, cfg, rng }
    }

    async fn operate(&self, kind: &str, key: &str, amount: i64) -> Result<String, PayError> {
        if self.cfg.latency_ms > 0 {
            tokio::time::sleep(Duration::from_millis(self.cfg.latency_ms)).await;
        }
        // A key already done answers with what was done (as a provider's idempotency layer does),
        // before any simulated failure.
        let done: Option<(String, i64)> =
            sqlx::query_as("SELECT reference, amount_cents FROM sim_gateway_charges WHERE key = $1")
                .bind(key)
                .fetch_optional(&self.db)
                .await
                .map_err(|e| PayError::Transient(e.to_string()))?;
        match done {
            Some((_, a)) if a != amount => {
                return Err(PayError::Declined(format!("idempotency key {key} was used for another amount")))
            }
            Some((reference, _)) => return Ok(reference),
            None => {}
        }
        let (r, lost) = {
            let mut rng = self.rng.lock();
            (rng.random::<f64>(), rng.random::<f64>() < self.cfg.timeout_rate)
        };
        if r < self.cfg.fail_rate {
            return Err(PayError::Transient("simulated outage".into()));
        }
        let decline_rate = if kind == "charge" { self.cfg.decline_rate } else { self.cfg.refund_decline_rate };
        if r < self.cfg.fail_rate + decline_rate {
            return Err(PayError::Declined(format!("simulated {kind} decline")));
        }
        let reference = format!("sim_{kind}_{}", crate::auth::random_token().get(..16).unwrap_or("x"));
        let db_err = |e: sqlx::Error| PayError::Transient(e.to_string());
        let mut tx = crate::db::write_tx(&self.db).await.map_err(db_err)?;
        sqlx::query("INSERT INTO sim_gateway_charges (key, kind, amount_cents, reference, created_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (key) DO NOTHING")
            .bind(key)
            .bind(kind)
            .bind(amount)
            .bind(&reference)
            .bind(crate::db::now())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        let (stored, stored_amount): (String, i64) =
            sqlx::query_as("SELECT reference, amount_cents FROM sim_gateway_charges WHERE key = $1")
                .bind(key)
                .fetch_one(&mut *tx)
                .await
                .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        if stored_amount != amount {
            return Err(PayError::Declined(format!("idempotency key {key} was used for another amount")));
        }
        match lost {
            true => Err(PayError::Timeout),
            false => Ok(stored),
        }
    }
}

impl PaymentGateway for SimulatedGateway {
    fn charge<'a>(&'a self, key: &'a str, amount_cents: i64) -> BoxFuture<'a, Result<String, PayError>> {
        Box::pin(self.operate("charge", key, amount_cents))
    }

    fn refund<'a>(
        &'a self,
        key: &'a str,
        _charge_ref: &'a str,
        amount_cents: i64,
    ) -> BoxFuture<'a, Result<String, PayError>> {
        Box::pin(self.operate("refund", key, amount_cents))
    }

    fn lookup<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<String>, PayError>> {
        Box::pin(async move {
            sqlx::query_scalar("SELECT reference FROM sim_gateway_charges WHERE key = $1")
                .bind(key)
                .fetch_optional(&self.db)
                .await
                .map_err(|e| PayError::Transient(e.to_string()))
        })
    }
}

/// How gateway calls are retried: attempts, backoff base and the time limit of one call.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    /// Tries in all (first + retries).
    pub attempts: u32,
    /// Backoff base, milliseconds (`base · 2^i` plus up to `base` of jitter before retry `i + 1`).
    pub base_ms: u64,
    /// Time limit of one call (then it counts as [`PayError::Timeout`]: outcome unknown).
    pub timeout: Duration,
}

impl Retry {
    /// The policy of `config` (`payment_attempts`, `payment_backoff_ms`, `payment_timeout_ms`).
    pub fn of(config: &crate::config::Config) -> Self {
        Retry {
            attempts: config.payment_attempts,
            base_ms: config.payment_backoff_ms,
            timeout: Duration::from_millis(config.payment_timeout_ms),
        }
    }
}

/// `call` within `limit`; no answer in time is a [`PayError::Timeout`].
pub async fn timed<T>(limit: Duration, call: BoxFuture<'_, Result<T, PayError>>) -> Result<T, PayError> {
    tokio::time::timeout(limit, call).await.unwrap_or(Err(PayError::Timeout))
}

/// Runs `op` up to `retry.attempts` times while it fails transiently, each call limited to
/// `retry.timeout`, sleeping `base · 2^i` plus up to `base` of jitter between tries. If any try timed
/// out (its outcome unknown), a final failure is checked with `gateway.lookup(key)` (time-limited too):
/// an operation that happened after all is a success; an unanswered lookup stays a transient failure.
pub async fn with_retries<'a, F>(
    gateway: &'a dyn PaymentGateway,
    key: &'a str,
    retry: Retry,
    mut op: F,
) -> Result<String, PayError>
where
    F: FnMut() -> BoxFuture<'a, Result<String, PayError>>,
{
    let (attempts, base_ms) = (retry.attempts, retry.base_ms);
    let mut last = PayError::Transient("not tried".into());
    let mut unknown = false;
    for i in 0..attempts {
        match timed(retry.timeout, op()).await {
            Ok(r) => return Ok(r),
            Err(e) if e.is_transient() => {
                unknown |= e == PayError::Timeout;
                metrics::counter!("shop_payment_retries_total").increment(1);
                last = e;
                if i + 1 < attempts {
                    let jitter = rand::rng().random_range(0..=base_ms);
                    tokio::time::sleep(Duration::from_millis(base_ms.saturating_mul(1 << i.min(10)) + jitter)).await;
                }
            }
            Err(e) => {
                last = e;
                break;
            }
        }
    }
    if unknown {
        match timed(retry.timeout, gateway.lookup(key)).await {
            Ok(Some(r)) => return Ok(r),
            Ok(None) => {}
            Err(e) => return Err(e),
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::GatewayConfig;

    fn quick(attempts: u32) -> Retry {
        Retry { attempts, base_ms: 1, timeout: Duration::from_secs(5) }
    }

    /// Never answers (a provider that hangs).
    #[derive(Debug)]
    struct Hangs;

    impl PaymentGateway for Hangs {
        fn charge<'a>(&'a self, _: &'a str, _: i64) -> BoxFuture<'a, Result<String, PayError>> {
            Box::pin(std::future::pending())
        }
        fn refund<'a>(&'a self, _: &'a str, _: &'a str, _: i64) -> BoxFuture<'a, Result<String, PayError>> {
            Box::pin(std::future::pending())
        }
        fn lookup<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<Option<String>, PayError>> {
            Box::pin(std::future::pending())
        }
    }

    #[tokio::test]
    async fn a_hanging_gateway_is_cut_off_by_the_call_limit() {
        let t = std::time::Instant::now();
        let retry = Retry { attempts: 3, base_ms: 1, timeout: Duration::from_millis(50) };
        let e = with_retries(&Hangs, "h", retry, || Hangs.charge("h", 100)).await.unwrap_err();
        assert_eq!(e, PayError::Timeout);
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    }

    async fn gw(cfg: GatewayConfig) -> (tempfile::TempDir, SimulatedGateway) {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::db::open(&dir.path().join("g.db").display().to_string(), 2).await.unwrap();
        (dir, SimulatedGateway::new(db, cfg))
    }

    #[tokio::test]
    async fn same_key_charges_once_and_another_amount_is_refused() {
        let (_d, g) = gw(GatewayConfig::default()).await;
        let a = g.charge("k1", 500).await.unwrap();
        assert_eq!(g.charge("k1", 500).await.unwrap(), a);
        assert!(matches!(g.charge("k1", 600).await, Err(PayError::Declined(_))));
        assert_eq!(g.lookup("k1").await.unwrap(), Some(a));
        assert_eq!(g.lookup("k2").await.unwrap(), None);
    }

    #[tokio::test]
    async fn retries_ride_out_outages_and_resolve_lost_answers() {
        let (_d, g) = gw(GatewayConfig { fail_rate: 0.5, seed: 3, ..Default::default() }).await;
        let mut ok = 0;
        for i in 0..20 {
            let key = format!("o{i}");
            if with_retries(&g, &key, quick(6), || g.charge(&key, 100)).await.is_ok() {
                ok += 1;
            }
        }
        assert!(ok >= 18, "{ok}/20 succeeded with 6 attempts at a 50 % outage rate");
        // Every answer lost: the charge happened; the lookup after the last timeout finds it.
        let (_d, g) = gw(GatewayConfig { timeout_rate: 1.0, ..Default::default() }).await;
        let r = with_retries(&g, "t", quick(2), || g.charge("t", 100)).await.unwrap();
        assert_eq!(g.lookup("t").await.unwrap(), Some(r));
    }

    /// Charges on the first call but loses the answer, then declines every retry (an unknown outcome
    /// followed by a permanent-looking failure).
    #[derive(Debug, Default)]
    struct LostThenDeclined {
        calls: parking_lot::Mutex<u32>,
        charged: parking_lot::Mutex<Option<String>>,
    }

    impl PaymentGateway for LostThenDeclined {
        fn charge<'a>(&'a self, _key: &'a str, _amount: i64) -> BoxFuture<'a, Result<String, PayError>> {
            Box::pin(async move {
                let mut calls = self.calls.lock();
                *calls += 1;
                if *calls == 1 {
                    *self.charged.lock() = Some("ch_1".into());
                    return Err(PayError::Timeout);
                }
                Err(PayError::Declined("card blocked".into()))
            })
        }
        fn refund<'a>(&'a self, _: &'a str, _: &'a str, _: i64) -> BoxFuture<'a, Result<String, PayError>> {
            Box::pin(async { Err(PayError::Transient("n/a".into())) })
        }
        fn lookup<'a>(&'a self, _key: &'a str) -> BoxFuture<'a, Result<Option<String>, PayError>> {
            Box::pin(async move { Ok(self.charged.lock().clone()) })
        }
    }

    #[tokio::test]
    async fn an_unknown_outcome_is_looked_up_before_failing() {
        let g = LostThenDeclined::default();
        let r = with_retries(&g, "k", quick(4), || g.charge("k", 100)).await;
        assert_eq!(r, Ok("ch_1".to_string()), "the lost charge is found, not reported as declined");
        assert_eq!(*g.calls.lock(), 2);
    }

    #[tokio::test]
    async fn declines_are_not_retried() {
        let (_d, g) = gw(GatewayConfig { decline_rate: 1.0, ..Default::default() }).await;
        let e = with_retries(&g, "d", Retry { base_ms: 1000, ..quick(5) }, || g.charge("d", 100)).await.unwrap_err();
        assert!(matches!(e, PayError::Declined(_)));
        assert_eq!(g.lookup("d").await.unwrap(), None);
    }
}
