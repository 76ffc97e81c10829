//! Operations: client addresses, rate limits (API and login), Prometheus metrics, request ids, and
//! the OpenAPI document.

use crate::config::Config;
use crate::error::ApiError;
use crate::AppState;
use axum::extract::{ConnectInfo, FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

/// The client's IP (`local` for in-process calls without a socket): the peer address, or — when the
/// peer is one of `trusted_proxies` — the right-most address in `client_ip_header` (the entry that
/// proxy appended; entries to its left are whatever the client claimed).
#[derive(Debug, Clone)]
pub struct ClientIp(pub String);

/// The client IP of a request (see [`ClientIp`]).
pub fn client_ip(ext: &axum::http::Extensions, headers: &HeaderMap, config: &Config) -> String {
    let peer = ext.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    if let (Some(p), Some(h)) = (peer, config.client_ip_header.as_deref()) {
        if config.trusted_proxies.contains(&p) {
            let forwarded = headers.get(h).and_then(|v| v.to_str().ok()).and_then(|v| v.rsplit(',').next());
            if let Some(ip) = forwarded.and_then(|f| f.trim().parse::<IpAddr>().ok()) {
                return ip.to_string();
            }
        }
    }
    peer.map_or_else(|| "local".to_string(), |p| p.to_string())
}

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(client_ip(&parts.extensions, &parts.headers, &state.config)))
    }
}

/// Failure counters over a sliding minute (what login limits count: a correct password is not a
/// failure). Each key keeps the times of its last `cap` failures. Written here because governor's
/// limiters consume a unit on every check and cannot be asked "is this key over its budget?" without
/// spending one.
#[derive(Debug)]
struct Failures {
    times: parking_lot::Mutex<HashMap<String, VecDeque<Instant>>>,
    cap: usize,
}

const WINDOW: std::time::Duration = std::time::Duration::from_secs(60);

impl Failures {
    fn new(cap: u32) -> Self {
        Failures { times: Default::default(), cap: cap.max(1) as usize }
    }

    /// Failures of `key` in the last minute.
    fn get(&self, key: &str) -> u32 {
        self.times.lock().get(key).map_or(0, |q| q.iter().filter(|t| t.elapsed() < WINDOW).count() as u32)
    }

    fn add(&self, key: String) {
        let mut m = self.times.lock();
        let q = m.entry(key).or_default();
        q.push_back(Instant::now());
        while q.len() > self.cap {
            q.pop_front();
        }
    }

    fn shrink(&self) {
        self.times.lock().retain(|_, q| q.back().is_some_and(|t| t.elapsed() < WINDOW));
    }
}

/// Rate limits: the API per client (GCRA, from `governor`), registrations per client, and failed
/// logins — per client IP, and per e-mail for clients that already failed on it.
#[derive(Debug)]
pub struct Limits {
    api: Option<DefaultKeyedRateLimiter<String>>,
    register: DefaultKeyedRateLimiter<String>,
    failures: Failures,
    login_per_min: u32,
}

impl Limits {
    /// `api_per_sec` (0: off) with `burst`; `login_per_min` failed logins per client IP per minute
    /// (and registrations per client IP per minute).
    pub fn new(api_per_sec: u32, burst: u32, login_per_min: u32) -> Self {
        let api = NonZeroU32::new(api_per_sec).map(|r| {
            RateLimiter::keyed(Quota::per_second(r).allow_burst(NonZeroU32::new(burst.max(api_per_sec)).unwrap_or(r)))
        });
        let per_min = login_per_min.max(1);
        let register = Quota::per_minute(NonZeroU32::new(per_min).unwrap_or(NonZeroU32::MIN));
        let failures = Failures::new(per_min.saturating_mul(10));
        Limits { api, register: RateLimiter::keyed(register), failures, login_per_min: per_min }
    }

    /// One API request of `key`.
    pub fn check_api(&self, key: &str) -> Result<(), ApiError> {
        match &self.api {
            Some(l) if l.check_key(&key.to_string()).is_err() => Err(ApiError::TooManyRequests(1)),
            _ => Ok(()),
        }
    }

    /// Whether a login from `ip` for `email` may be tried: refused once `ip` has failed `login_per_min`
    /// times in the last minute, or once `email` has failed ten times that often (a spread-out guessing
    /// attack) for a client that has itself failed on it. A client that never failed on an e-mail —
    /// its owner — is never refused because of others' failures.
    pub fn check_login(&self, ip: &str, email: &str) -> Result<(), ApiError> {
        let n = self.login_per_min;
        let over_ip = self.failures.get(&format!("ip\0{ip}")) >= n;
        let over_email = self.failures.get(&format!("email\0{email}")) >= n.saturating_mul(10)
            && self.failures.get(&format!("pair\0{ip}\0{email}")) > 0;
        if over_ip || over_email {
            metrics::counter!("shop_rate_limited_total", "what" => "login").increment(1);
            return Err(ApiError::TooManyRequests(60));
        }
        Ok(())
    }

    /// Counts a failed login from `ip` for `email`.
    pub fn login_failed(&self, ip: &str, email: &str) {
        self.failures.add(format!("ip\0{ip}"));
        self.failures.add(format!("email\0{email}"));
        self.failures.add(format!("pair\0{ip}\0{email}"));
    }

    /// One registration from `ip` (each costs an argon2 hash: limited per IP).
    pub fn check_register(&self, ip: &str) -> Result<(), ApiError> {
        if self.register.check_key(&ip.to_string()).is_err() {
            metrics::counter!("shop_rate_limited_total", "what" => "register").increment(1);
            return Err(ApiError::TooManyRequests(60));
        }
        Ok(())
    }

    /// Forgets idle keys (called periodically).
    pub fn shrink(&self) {
        if let Some(l) = &self.api {
            l.retain_recent();
        }
        self.register.retain_recent();
        self.failures.shrink();
    }
}

/// Middleware: the API limit, per client IP (not per presented token: a made-up token would be a
/// fresh bucket per request).
pub async fn rate_limit(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let key = client_ip(req.extensions(), req.headers(), &state.config);
    if let Err(e) = state.limits.check_api(&key) {
        metrics::counter!("shop_rate_limited_total", "what" => "api").increment(1);
        return e.into_response();
    }
    next.run(req).await
}

/// Middleware: request count and latency per route and status.
pub async fn track(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let route =
        req.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_string(), |m| m.as_str().to_string());
    let method = req.method().as_str().to_string();
    let resp = next.run(req).await;
    let status = resp.status().as_u16().to_string();
    metrics::counter!("http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("http_request_duration_seconds", "method" => method, "route" => route)
        .record(start.elapsed().as_secs_f64());
    resp
}

/// The process's Prometheus recorder (installed once; later calls share it).
pub fn prometheus() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed; /metrics shows only what this one sees");
            }
            handle
        })
        .clone()
}

/// `GET /metrics` on the scrape listener (`metrics_bind`): Prometheus text format, no session.
pub(crate) async fn metrics_text(State(state): State<AppState>) -> Response {
    ([("content-type", "text/plain; version=0.0.4")], state.metrics.render()).into_response()
}

/// `GET /metrics` on the main address: admins only (route names, volumes and error rates are not for
/// the public).
pub(crate) async fn metrics_admin(state: State<AppState>, user: crate::auth::User) -> Result<Response, ApiError> {
    user.require_admin()?;
    Ok(metrics_text(state).await)
}

/// Request ids: a per-process random prefix and a counter (`x-request-id`, unless the client sent one).
#[derive(Debug, Clone)]
pub struct RequestIds {
    prefix: std::sync::Arc<str>,
    next: std::sync::Arc<AtomicU64>,
}

impl Default for RequestIds {
    fn default() -> Self {
        let t = crate::auth::random_token();
        RequestIds { prefix: t.get(..8).unwrap_or("shop").into(), next: std::sync::Arc::new(AtomicU64::new(1)) }
    }
}

impl tower_http::request_id::MakeRequestId for RequestIds {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<tower_http::request_id::RequestId> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        format!("{}-{n}", self.prefix).parse().ok().map(tower_http::request_id::RequestId::new)
    }
}
