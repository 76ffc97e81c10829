//! [`Config`]: defaults, then a TOML file, then `SHOP_*` environment variables.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use storefront::search::SearchMode;

/// The simulated payment gateway's behaviour (see [`crate::payment::SimulatedGateway`]).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct GatewayConfig {
    /// Share of calls that fail transiently before charging (retried with backoff).
    pub fail_rate: f64,
    /// Share of calls that charge but lose the answer (a timeout; the retry finds the charge).
    pub timeout_rate: f64,
    /// Share of charges declined for good.
    pub decline_rate: f64,
    /// Share of refunds declined for good (the refund's reservation is given back, `refund.failed` sent).
    pub refund_decline_rate: f64,
    /// Added latency per call, milliseconds.
    pub latency_ms: u64,
    /// Seed of the simulation's random choices.
    pub seed: u64,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            fail_rate: 0.0,
            timeout_rate: 0.0,
            decline_rate: 0.0,
            refund_decline_rate: 0.0,
            latency_ms: 0,
            seed: 1,
        }
    }
}

/// Everything the service reads at start.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Listen address.
    pub bind: String,
    /// The database: a SQLite file path (created with its folder if missing; the embedded default) or a
    /// PostgreSQL URL `postgres://user:password@host:port/dbname` (several replicas may share one).
    pub database: String,
    /// The shipped `datasets/` folder (default: found from the working directory, `$SHOPML_DATASETS`).
    pub datasets: Option<PathBuf>,
    /// Seed the demo store from the shipped Online Retail data when the database has no store.
    pub seed_demo: bool,
    /// Seed the demo accounts (admin@demo.shop, dealer@demo.shop, customer@demo.shop) with
    /// `demo_password`. Default (unset): only when `bind` is a loopback address. Otherwise only an admin
    /// account is seeded, with a generated password printed once at first start. On a public bind `true`
    /// needs a `demo_password` of one's own, and a database whose demo accounts still have the default
    /// password refuses to start.
    pub demo_accounts: Option<bool>,
    /// Password of the seeded demo accounts.
    pub demo_password: String,
    /// Train (or load) the support chatbot at start; `POST /chat` answers 503 without it.
    pub chat: bool,
    /// Where the trained chatbot is cached (trained and written there when missing).
    pub chat_model: Option<PathBuf>,
    /// Session lifetime, hours.
    pub session_hours: u64,
    /// Whether the web pages' cookies are `Secure` (sent over HTTPS only). Default (unset): yes unless
    /// `bind` is a loopback address — a public shop is served through a TLS-terminating proxy; set `false`
    /// only for plain-HTTP testing on a private network.
    pub secure_cookies: Option<bool>,
    /// How long a session looked up in the database is trusted from memory, seconds: a logout or role
    /// change made elsewhere (another replica, the database) takes effect within this bound.
    pub session_cache_secs: u64,
    /// Idempotency keys are kept at least this long, hours (Stripe: 24).
    pub idempotency_hours: u64,
    /// API requests per second per client (session token or IP); 0 turns the limit off.
    pub rate_api_per_sec: u32,
    /// API burst allowance.
    pub rate_api_burst: u32,
    /// Failed logins per minute per client IP (and per client IP and e-mail); successful logins do not
    /// count. One e-mail takes at most ten times as many failures from all clients together.
    pub rate_login_per_min: u32,
    /// The header a trusted reverse proxy puts the client's address in (e.g. `x-forwarded-for`: the
    /// right-most entry is used). Read only from the peers in `trusted_proxies`.
    pub client_ip_header: Option<String>,
    /// Addresses of the reverse proxies whose `client_ip_header` is believed.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// A second listen address serving only `GET /metrics`, without a session (for a Prometheus scraper
    /// on a private interface). On the main address `/metrics` is for admins.
    pub metrics_bind: Option<String>,
    /// Request body limit, bytes.
    pub max_body_bytes: usize,
    /// Database connections.
    pub db_connections: u32,
    /// Argon2id memory cost, KiB (OWASP minimum 19456).
    pub argon2_m_kib: u32,
    /// Argon2id iterations (OWASP minimum 2).
    pub argon2_t: u32,
    /// Payment attempts per charge (first try + retries on transient failures).
    pub payment_attempts: u32,
    /// Payment backoff base, milliseconds (doubles per retry, plus jitter).
    pub payment_backoff_ms: u64,
    /// Time limit of one gateway call, milliseconds (then treated as a timeout: outcome unknown, looked
    /// up). Together with the attempts and backoff it bounds a payment, and so the lease that keeps the
    /// recovery loop away from a payment in flight.
    pub payment_timeout_ms: u64,
    /// Gateways by name; a store's `gateway` column picks one. `simulated` always exists.
    pub gateways: BTreeMap<String, GatewayConfig>,
    /// Notifications: `log`, or a file path to append JSON lines to.
    pub notifier: String,
    /// Minutes between refits of the recommender (run only when events of a kind `reco_kind_weights`
    /// counts were stored since the last fit); 0 turns them off (`POST /admin/recommender/refit` still works).
    pub reco_refit_minutes: u64,
    /// The recommender: `transition` (default: reads the order of each customer's and guest session's
    /// events, fits in about a second), `itemknn`, `sknn`, or `sasrec` (the most accurate on Amazon Beauty;
    /// its fit takes minutes, at start and at each refit).
    pub reco_model: String,
    /// How much each stored event kind counts in a fit (`[reco_kind_weights]` table in the file,
    /// `SHOP_RECO_KIND_WEIGHTS="view=0.1,add-to-cart=0.5"`): defaults view 0.25, add-to-cart 0.5, purchase
    /// 1 (`reco_core::data::KindWeights`: how they were chosen); a kind weighted 0 is not read at all.
    pub reco_kind_weights: reco_core::data::KindWeights,
    /// Log format: `text` or `json`.
    pub log_format: String,
    /// A sentence-encoder directory (`config.json`, `tokenizer.json`, `model.safetensors`; all-MiniLM-L6-v2
    /// from `scripts/fetch-minilm`) for semantic and hybrid product search. Unset: keyword search only.
    pub encoder: Option<PathBuf>,
    /// How long a `GET /products` answer is reused for the same search, in milliseconds (0: never).
    /// Catalogue edits through the API drop the kept answers at once; stock changed by checkouts shows
    /// in search results after at most this long (product pages, carts and checkout read the database).
    pub search_cache_ms: u64,
    /// The search mode of `GET /products` and of the chatbot's product search when a request names none:
    /// `keyword`, `semantic` or `hybrid`. Default: `hybrid` with an encoder, `keyword` without.
    pub search_mode: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: "127.0.0.1:8080".into(),
            database: "shop-data/shop.db".into(),
            datasets: None,
            seed_demo: true,
            demo_accounts: None,
            demo_password: DEFAULT_DEMO_PASSWORD.into(),
            chat: true,
            chat_model: Some(PathBuf::from("shop-data/chat.model")),
            session_hours: 24 * 7,
            secure_cookies: None,
            session_cache_secs: 30,
            idempotency_hours: 48,
            rate_api_per_sec: 200,
            rate_api_burst: 400,
            rate_login_per_min: 10,
            client_ip_header: None,
            trusted_proxies: Vec::new(),
            metrics_bind: None,
            max_body_bytes: 64 * 1024,
            db_connections: 8,
            argon2_m_kib: 19 * 1024,
            argon2_t: 2,
            payment_attempts: 4,
            payment_backoff_ms: 50,
            payment_timeout_ms: 10_000,
            gateways: BTreeMap::new(),
            notifier: "log".into(),
            reco_refit_minutes: 10,
            reco_model: "transition".into(),
            reco_kind_weights: Default::default(),
            log_format: "text".into(),
            encoder: None,
            search_mode: None,
            search_cache_ms: 1000,
        }
    }
}

/// The documented demo password: never accepted on a public bind.
pub const DEFAULT_DEMO_PASSWORD: &str = "demo-password";

/// A configuration problem (the message names the key or variable).
#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(pub String);

impl Config {
    /// Defaults, overlaid by `file` (if given) and then by the environment (`SHOP_BIND`, `SHOP_DATABASE`,
    /// `SHOP_DATASETS`, `SHOP_SEED_DEMO`, `SHOP_DEMO_ACCOUNTS`, `SHOP_DEMO_PASSWORD`, `SHOP_CHAT`,
    /// `SHOP_METRICS_BIND`, `SHOP_CLIENT_IP_HEADER`, `SHOP_TRUSTED_PROXIES` (comma-separated), `SHOP_RATE_API_PER_SEC`,
    /// `SHOP_RATE_API_BURST`, `SHOP_RATE_LOGIN_PER_MIN`, `SHOP_DB_CONNECTIONS`, `SHOP_NOTIFIER`,
    /// `SHOP_RECO_REFIT_MINUTES`, `SHOP_RECO_MODEL`, `SHOP_RECO_KIND_WEIGHTS`, `SHOP_LOG_FORMAT`, `SHOP_ENCODER`, `SHOP_SEARCH_MODE`, `SHOP_SEARCH_CACHE_MS`).
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        let mut c = match file {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| ConfigError(format!("{}: {e}", p.display())))?;
                toml::from_str(&text).map_err(|e| ConfigError(format!("{}: {e}", p.display())))?
            }
            None => Config::default(),
        };
        c.apply_env(|k| std::env::var(k).ok())?;
        c.validate()?;
        Ok(c)
    }

    /// Overlays variables read through `get`.
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        fn parse<T: std::str::FromStr>(k: &str, v: &str) -> Result<T, ConfigError> {
            v.trim().parse().map_err(|_| ConfigError(format!("{k}={v:?} is not a valid value")))
        }
        if let Some(v) = get("SHOP_BIND") {
            self.bind = v;
        }
        if let Some(v) = get("SHOP_DATABASE") {
            self.database = v;
        }
        if let Some(v) = get("SHOP_DATASETS") {
            self.datasets = Some(v.into());
        }
        if let Some(v) = get("SHOP_SEED_DEMO") {
            self.seed_demo = parse("SHOP_SEED_DEMO", &v)?;
        }
        if let Some(v) = get("SHOP_SECURE_COOKIES") {
            self.secure_cookies = Some(parse("SHOP_SECURE_COOKIES", &v)?);
        }
        if let Some(v) = get("SHOP_DEMO_ACCOUNTS") {
            self.demo_accounts = Some(parse("SHOP_DEMO_ACCOUNTS", &v)?);
        }
        if let Some(v) = get("SHOP_METRICS_BIND") {
            self.metrics_bind = Some(v).filter(|v| !v.trim().is_empty());
        }
        if let Some(v) = get("SHOP_CLIENT_IP_HEADER") {
            self.client_ip_header = Some(v.trim().to_ascii_lowercase()).filter(|v| !v.is_empty());
        }
        if let Some(v) = get("SHOP_TRUSTED_PROXIES") {
            self.trusted_proxies = v
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| parse("SHOP_TRUSTED_PROXIES", s))
                .collect::<Result<_, _>>()?;
        }
        if let Some(v) = get("SHOP_DEMO_PASSWORD") {
            self.demo_password = v;
        }
        if let Some(v) = get("SHOP_CHAT") {
            self.chat = parse("SHOP_CHAT", &v)?;
        }
        if let Some(v) = get("SHOP_RATE_API_PER_SEC") {
            self.rate_api_per_sec = parse("SHOP_RATE_API_PER_SEC", &v)?;
        }
        if let Some(v) = get("SHOP_RATE_API_BURST") {
            self.rate_api_burst = parse("SHOP_RATE_API_BURST", &v)?;
        }
        if let Some(v) = get("SHOP_RATE_LOGIN_PER_MIN") {
            self.rate_login_per_min = parse("SHOP_RATE_LOGIN_PER_MIN", &v)?;
        }
        if let Some(v) = get("SHOP_DB_CONNECTIONS") {
            self.db_connections = parse("SHOP_DB_CONNECTIONS", &v)?;
        }
        if let Some(v) = get("SHOP_NOTIFIER") {
            self.notifier = v;
        }
        if let Some(v) = get("SHOP_RECO_REFIT_MINUTES") {
            self.reco_refit_minutes = parse("SHOP_RECO_REFIT_MINUTES", &v)?;
        }
        if let Some(v) = get("SHOP_RECO_MODEL") {
            self.reco_model = v;
        }
        if let Some(v) = get("SHOP_RECO_KIND_WEIGHTS") {
            self.reco_kind_weights = reco_core::data::KindWeights::parse(&v)
                .map_err(|e| ConfigError(format!("SHOP_RECO_KIND_WEIGHTS: {e}")))?;
        }
        if let Some(v) = get("SHOP_LOG_FORMAT") {
            self.log_format = v;
        }
        if let Some(v) = get("SHOP_ENCODER") {
            self.encoder = Some(PathBuf::from(v)).filter(|p| !p.as_os_str().is_empty());
        }
        if let Some(v) = get("SHOP_SEARCH_CACHE_MS") {
            self.search_cache_ms = parse("SHOP_SEARCH_CACHE_MS", &v)?;
        }
        if let Some(v) = get("SHOP_SEARCH_MODE") {
            self.search_mode = Some(v).filter(|v| !v.trim().is_empty());
        }
        Ok(())
    }

    /// Rejects values the service cannot run with.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: &str| Err(ConfigError(m.to_string()));
        if self.argon2_m_kib < 19 * 1024 || self.argon2_t < 2 {
            return bad("argon2 below the OWASP minimum (m = 19456 KiB, t = 2)");
        }
        if self.db_connections == 0 || self.payment_attempts == 0 || self.session_hours == 0 {
            return bad("db_connections, payment_attempts and session_hours must be at least 1");
        }
        if self.payment_timeout_ms == 0 || self.payment_attempts > 20 {
            return bad("payment_timeout_ms must be at least 1 and payment_attempts at most 20");
        }
        if self.session_cache_secs > 300 {
            return bad("session_cache_secs must be at most 300 (a revoked session must stop working soon)");
        }
        if self.demo_accounts == Some(true) && !self.bind_is_loopback() && self.demo_password == DEFAULT_DEMO_PASSWORD {
            return bad(
                "demo_accounts on a public bind need a demo_password of your own (the default one is published)",
            );
        }
        if self.search_cache_ms > 60_000 {
            return bad("search_cache_ms must be at most 60000 (search results show stock)");
        }
        if self.idempotency_hours < 24 {
            return bad("idempotency_hours must be at least 24 (keys are replayable for a day)");
        }
        if self.max_body_bytes < 1024 {
            return bad("max_body_bytes must be at least 1024");
        }
        if self.demo_password.len() < 8 {
            return bad("demo_password must have at least 8 characters");
        }
        if !crate::reco::MODELS.contains(&self.reco_model.as_str()) {
            return Err(ConfigError(format!(
                "reco_model `{}` is not one of {}",
                self.reco_model,
                crate::reco::MODELS.join(", ")
            )));
        }
        self.reco_kind_weights.validate().map_err(|e| ConfigError(format!("reco_kind_weights: {e}")))?;
        if self.reco_kind_weights.purchase == 0.0 {
            return bad("reco_kind_weights: purchase must be > 0 (the shipped history is purchases)");
        }
        if let Some(m) = &self.search_mode {
            let mode: SearchMode = m.parse().map_err(|e| ConfigError(format!("search_mode: {e}")))?;
            if mode.needs_encoder() && self.encoder.is_none() {
                return Err(ConfigError(format!(
                    "search_mode `{m}` needs an encoder (config key encoder, SHOP_ENCODER)"
                )));
            }
        }
        if !matches!(self.log_format.as_str(), "text" | "json") {
            return bad("log_format must be \"text\" or \"json\"");
        }
        for (name, g) in &self.gateways {
            let rates = [g.fail_rate, g.timeout_rate, g.decline_rate, g.refund_decline_rate];
            if rates.iter().any(|r| !(0.0..=1.0).contains(r)) {
                return Err(ConfigError(format!("gateways.{name}: rates must be within 0..=1")));
            }
        }
        Ok(())
    }
}

impl Config {
    /// The search mode used when a request names none (see [`Config::search_mode`]).
    pub fn default_search_mode(&self) -> SearchMode {
        match (&self.search_mode, &self.encoder) {
            (Some(m), _) => m.parse().unwrap_or(SearchMode::Keyword),
            (None, Some(_)) => SearchMode::Hybrid,
            (None, None) => SearchMode::Keyword,
        }
    }

    /// Whether `bind` listens on loopback only (`127.0.0.0/8`, `::1`, `localhost`).
    pub fn bind_is_loopback(&self) -> bool {
        let host = match self.bind.rsplit_once(':') {
            Some((h, _)) => h.trim_start_matches('[').trim_end_matches(']'),
            None => self.bind.as_str(),
        };
        host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
    }

    /// Whether cookies are `Secure` (see [`Config::secure_cookies`]).
    pub fn wants_secure_cookies(&self) -> bool {
        self.secure_cookies.unwrap_or_else(|| !self.bind_is_loopback())
    }

    /// Whether the demo accounts are seeded (see [`Config::demo_accounts`]).
    pub fn wants_demo_accounts(&self) -> bool {
        self.demo_accounts.unwrap_or_else(|| self.bind_is_loopback())
    }

    /// An upper bound of one payment's duration (every attempt timing out, every backoff at its
    /// largest), seconds, plus a minute for the bookkeeping: the lease of a payment in flight.
    pub fn payment_lease_secs(&self) -> i64 {
        let mut ms = 0u64;
        for i in 0..self.payment_attempts {
            ms = ms
                .saturating_add(self.payment_timeout_ms)
                .saturating_add(self.payment_backoff_ms.saturating_mul(1 << i.min(10)))
                .saturating_add(self.payment_backoff_ms);
        }
        (ms / 1000) as i64 + 60
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_overrides_and_bad_values_are_named() {
        let mut c = Config::default();
        c.apply_env(|k| (k == "SHOP_RATE_API_PER_SEC").then(|| "7".to_string())).unwrap();
        assert_eq!(c.rate_api_per_sec, 7);
        let e = c.apply_env(|k| (k == "SHOP_CHAT").then(|| "maybe".to_string())).unwrap_err();
        assert!(e.to_string().contains("SHOP_CHAT"), "{e}");
    }

    #[test]
    fn weak_argon_and_short_key_lifetime_are_rejected() {
        let c = Config { argon2_m_kib: 4096, ..Config::default() };
        assert!(c.validate().is_err());
        let c = Config { idempotency_hours: 1, ..Config::default() };
        assert!(c.validate().is_err());
    }

    #[test]
    fn loopback_binds_are_told_from_public_ones() {
        for (bind, lo) in [
            ("127.0.0.1:8080", true),
            ("localhost:80", true),
            ("[::1]:8080", true),
            ("0.0.0.0:8080", false),
            ("[::]:8080", false),
            ("192.168.1.2:80", false),
            ("shop.example:80", false),
        ] {
            let c = Config { bind: bind.into(), ..Config::default() };
            assert_eq!(c.bind_is_loopback(), lo, "{bind}");
            assert_eq!(c.wants_demo_accounts(), lo, "{bind}");
        }
        let c = Config { bind: "0.0.0.0:1".into(), demo_accounts: Some(true), ..Config::default() };
        assert!(c.validate().is_err());
        let c = Config { demo_password: "my-own-secret".into(), ..c };
        assert!(c.validate().is_ok());
        assert!(Config::default().payment_lease_secs() >= 4 * 10 + 60);
    }

    #[test]
    fn toml_file_with_unknown_key_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("shop.toml");
        std::fs::write(&p, "bind = \"0.0.0.0:1\"\n[gateways.flaky]\nfail_rate = 0.5\n").unwrap();
        let c = Config::load(Some(&p)).unwrap();
        assert_eq!(c.bind, "0.0.0.0:1");
        assert_eq!(c.gateways["flaky"].fail_rate, 0.5);
        std::fs::write(&p, "bnd = 1\n").unwrap();
        assert!(Config::load(Some(&p)).unwrap_err().to_string().contains("bnd"));
    }

    #[test]
    fn kind_weights_come_from_the_file_or_the_environment_and_bad_ones_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("shop.toml");
        std::fs::write(&p, "[reco_kind_weights]\nview = 0.1\n").unwrap();
        let c = Config::load(Some(&p)).unwrap();
        assert_eq!((c.reco_kind_weights.view, c.reco_kind_weights.add_to_cart), (0.1, 0.5));
        std::fs::write(&p, "[reco_kind_weights]\nview = -1.0\n").unwrap();
        assert!(Config::load(Some(&p)).unwrap_err().to_string().contains("reco_kind_weights"));
        std::fs::write(&p, "[reco_kind_weights]\nlike = 1.0\n").unwrap();
        assert!(Config::load(Some(&p)).unwrap_err().to_string().contains("like"));
        let mut c = Config::default();
        c.apply_env(|k| (k == "SHOP_RECO_KIND_WEIGHTS").then(|| "view=0,cart=2".to_string())).unwrap();
        assert_eq!((c.reco_kind_weights.view, c.reco_kind_weights.add_to_cart), (0.0, 2.0));
        let e = c.apply_env(|k| (k == "SHOP_RECO_KIND_WEIGHTS").then(|| "view=x".to_string())).unwrap_err();
        assert!(e.to_string().contains("SHOP_RECO_KIND_WEIGHTS"), "{e}");
        let c = Config { reco_kind_weights: reco_core::data::KindWeights::parse("purchase=0").unwrap(), ..c };
        assert!(c.validate().unwrap_err().to_string().contains("purchase must be > 0"));
    }
}
