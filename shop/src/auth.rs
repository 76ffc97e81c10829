//! Accounts and sessions.
//!
//! Passwords: argon2id with OWASP's minimum cost (m = 19 MiB, t = 2, p = 1), hashed off the async
//! threads. Sessions: **opaque random tokens** (256 bits, base64url); the database keeps only their
//! SHA-256. Chosen over JWTs because this service owns its database anyway: a token is revoked the
//! moment the user logs out (a JWT stays valid until it expires unless a
//! deny-list — i.e. a session table — is added), there is no signing key to manage or rotate, and a
//! lookup costs one in-memory hash-map hit (sessions are cached for `session_cache_secs`, 30 s by
//! default, then checked against the database again; an entry is dropped at once on a logout here).
//! There is no role-change endpoint yet: one would also have to drop the user's cached sessions.

use crate::error::{ApiError, ApiResult, Json};
use crate::AppState;
use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use base64::Engine;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// What a user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Buys; sees only its own carts and orders.
    Customer,
    /// Manages the products and orders of one store.
    Dealer,
    /// Manages everything.
    Admin,
}

/// `(id, email, role, store_id, ext_id)` as selected from `users`.
pub(crate) type UserRow = (i64, String, String, Option<i64>, Option<String>);

/// A [`User`] from its row.
pub(crate) fn user_from_row((id, email, role, store_id, ext_id): UserRow) -> ApiResult<User> {
    Ok(User { id, email, role: Role::parse(&role)?, store_id, ext_id })
}

impl Role {
    fn parse(s: &str) -> ApiResult<Role> {
        match s {
            "customer" => Ok(Role::Customer),
            "dealer" => Ok(Role::Dealer),
            "admin" => Ok(Role::Admin),
            other => Err(ApiError::Internal(format!("unknown role {other:?} in the database"))),
        }
    }

    /// The database spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Customer => "customer",
            Role::Dealer => "dealer",
            Role::Admin => "admin",
        }
    }
}

/// A signed-in user.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct User {
    /// Id.
    pub id: i64,
    /// E-mail (the login name).
    pub email: String,
    /// Role.
    pub role: Role,
    /// The dealer's store.
    pub store_id: Option<i64>,
    /// The customer's id in the recommender's training data.
    #[serde(skip)]
    pub ext_id: Option<String>,
}

impl User {
    /// Whether the user may manage the products and orders of `store`.
    pub fn manages(&self, store: i64) -> bool {
        self.role == Role::Admin || (self.role == Role::Dealer && self.store_id == Some(store))
    }

    /// 403 unless an admin.
    pub fn require_admin(&self) -> ApiResult<()> {
        match self.role {
            Role::Admin => Ok(()),
            _ => Err(ApiError::Forbidden("admins only".into())),
        }
    }
}

/// Password hashing with the configured argon2id cost.
#[derive(Debug, Clone)]
pub struct Passwords {
    argon: Argon2<'static>,
    /// A hash of a random password: verified against when the e-mail is unknown, so the answer takes
    /// as long as for a known one (no account enumeration by timing).
    dummy: String,
}

impl Passwords {
    /// Argon2id with `m_kib` KiB, `t` passes, one lane.
    pub fn new(m_kib: u32, t: u32) -> ApiResult<Self> {
        let params = Params::new(m_kib, t, 1, None).map_err(|e| ApiError::Internal(e.to_string()))?;
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let mut p = Passwords { argon, dummy: String::new() };
        p.dummy = p.hash(&random_token())?;
        Ok(p)
    }

    /// The PHC string of `password`.
    pub fn hash(&self, password: &str) -> ApiResult<String> {
        let salt = SaltString::generate(&mut OsRng);
        self.argon
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| ApiError::Internal(e.to_string()))
    }

    /// Whether `password` matches `hash` (`None`: no such account; still costs one verification).
    pub fn verify(&self, password: &str, hash: Option<&str>) -> bool {
        let h = hash.unwrap_or(&self.dummy);
        let ok = PasswordHash::new(h).is_ok_and(|p| self.argon.verify_password(password.as_bytes(), &p).is_ok());
        ok && hash.is_some()
    }
}

/// 32 random bytes, base64url without padding.
pub fn random_token() -> String {
    let mut b = [0u8; 32];
    rand::rng().fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// SHA-256 of a token (what the database stores).
pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Sessions cached in memory in front of the `sessions` table. A cached entry is trusted for at most
/// `ttl`; then the database is asked again, so a logout or a role change made elsewhere (another
/// replica, an admin in the database) takes effect within that bound. A logout through this process
/// drops its entry at once.
#[derive(Debug)]
pub struct Sessions {
    cache: parking_lot::RwLock<HashMap<[u8; 32], (User, i64, std::time::Instant)>>,
    ttl: std::time::Duration,
}

impl Default for Sessions {
    /// A 30-second cache bound.
    fn default() -> Self {
        Sessions::new(std::time::Duration::from_secs(30))
    }
}

impl Sessions {
    /// Sessions whose cached entries are trusted for `ttl` (zero: every lookup asks the database).
    pub fn new(ttl: std::time::Duration) -> Self {
        Sessions { cache: Default::default(), ttl }
    }

    /// The user of `token`, if the session exists and has not expired.
    pub async fn lookup(&self, db: &crate::db::Db, token: &str) -> ApiResult<Option<User>> {
        let h = token_hash(token);
        let now = crate::db::now();
        if let Some((u, exp, at)) = self.cache.read().get(&h) {
            if *exp > now && at.elapsed() < self.ttl {
                return Ok(Some(u.clone()));
            }
        }
        let exp: Option<i64> =
            sqlx::query_scalar("SELECT expires_at FROM sessions WHERE token_hash = $1 AND expires_at > $2")
                .bind(&h[..])
                .bind(now)
                .fetch_optional(db)
                .await?;
        let Some(exp) = exp else {
            self.cache.write().remove(&h);
            return Ok(None);
        };
        let row: Option<UserRow> = sqlx::query_as(
            "SELECT u.id, u.email, u.role, u.store_id, u.ext_id FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1",
        )
        .bind(&h[..])
        .fetch_optional(db)
        .await?;
        let Some(row) = row else {
            self.cache.write().remove(&h);
            return Ok(None);
        };
        let user = user_from_row(row)?;
        let mut cache = self.cache.write();
        if cache.len() > 100_000 {
            let ttl = self.ttl;
            cache.retain(|_, (_, e, at)| *e > now && at.elapsed() < ttl);
        }
        cache.insert(h, (user.clone(), exp, std::time::Instant::now()));
        Ok(Some(user))
    }

    /// A new session for `user` lasting `hours`; returns the token.
    pub async fn create(&self, db: &crate::db::Db, user: i64, hours: u64) -> ApiResult<String> {
        let token = random_token();
        let now = crate::db::now();
        sqlx::query("INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(&token_hash(&token)[..])
            .bind(user)
            .bind(now)
            .bind(now + hours as i64 * 3600)
            .execute(db)
            .await?;
        Ok(token)
    }

    /// Ends the session of `token`.
    pub async fn end(&self, db: &crate::db::Db, token: &str) -> ApiResult<()> {
        let h = token_hash(token);
        self.cache.write().remove(&h);
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1").bind(&h[..]).execute(db).await?;
        Ok(())
    }
}

/// The bearer token of a request: `Authorization: Bearer …` or a `session=` cookie.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    credential(headers).map(|(t, _)| t)
}

/// The session token and whether it came from a cookie (which a browser attaches on its own, so a
/// cross-site page could use it: see [`same_origin`]).
fn credential(headers: &HeaderMap) -> Option<(&str, bool)> {
    if let Some(v) = headers.get("authorization").and_then(|v| v.to_str().ok()) {
        return v.strip_prefix("Bearer ").map(str::trim).filter(|t| !t.is_empty()).map(|t| (t, false));
    }
    let cookies = headers.get("cookie").and_then(|v| v.to_str().ok())?;
    cookies
        .split(';')
        .map(str::trim)
        .find_map(|c| c.strip_prefix("session="))
        .filter(|t| !t.is_empty())
        .map(|t| (t, true))
}

/// CSRF defence for cookie sessions: a request that can change something (not GET, HEAD, OPTIONS)
/// must come from this site's own pages — `Sec-Fetch-Site: same-origin` (or `none`: typed by the
/// user), or else an `Origin` whose host is the request's `Host`. A request with neither is refused
/// too: every browser sends one of them on such requests, and non-browser clients use a bearer token,
/// which no browser sends on its own. (Session cookies, once the shop sets any, are `SameSite=Strict`
/// as a second guard.)
pub fn same_origin(method: &axum::http::Method, headers: &HeaderMap) -> bool {
    use axum::http::Method;
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return true;
    }
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    match header("sec-fetch-site") {
        Some("same-origin" | "none") => return true,
        Some(_) => return false,
        None => {}
    }
    let (Some(origin), Some(host)) = (header("origin"), header("host")) else { return false };
    let origin_host = origin.split_once("://").map(|(_, rest)| rest.trim_end_matches('/'));
    origin_host.is_some_and(|o| !o.is_empty() && o.eq_ignore_ascii_case(host))
}

/// The signed-in user, if any (a bad or expired token is a 401, not a guest).
#[derive(Debug, Clone)]
pub struct MaybeUser(pub Option<User>);

impl FromRequestParts<AppState> for MaybeUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Some((token, cookie)) = credential(&parts.headers) else { return Ok(MaybeUser(None)) };
        if cookie && !same_origin(&parts.method, &parts.headers) {
            metrics::counter!("shop_csrf_rejected_total").increment(1);
            return Err(ApiError::Denied(
                "csrf_rejected",
                "a cookie session's write must come from this site (Origin or Sec-Fetch-Site); API clients send a bearer token".into(),
            ));
        }
        match state.sessions.lookup(&state.db, token).await? {
            Some(u) => Ok(MaybeUser(Some(u))),
            None => Err(ApiError::Unauthorized),
        }
    }
}

impl FromRequestParts<AppState> for User {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        MaybeUser::from_request_parts(parts, state).await?.0.ok_or(ApiError::Unauthorized)
    }
}

/// An e-mail and a password (register, sign in).
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Credentials {
    /// name@domain, at most 254 characters (case does not matter).
    #[schemars(length(min = 3, max = 254))]
    email: String,
    /// 8 to 256 characters.
    #[schemars(length(min = 8, max = 256))]
    password: String,
}

impl Credentials {
    /// From a sign-in or registration form.
    pub(crate) fn new(email: String, password: String) -> Self {
        Credentials { email, password }
    }
}

/// A new user of any role (admin).
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewUser {
    #[schemars(length(min = 3, max = 254))]
    email: String,
    #[schemars(length(min = 8, max = 256))]
    password: String,
    role: Role,
    /// The dealer's store (dealers only).
    store_id: Option<i64>,
}

/// A new session.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub(crate) struct SignedIn {
    /// Send as `Authorization: Bearer <token>`.
    pub(crate) token: String,
    /// Who signed in.
    pub(crate) user: User,
}

fn check_credentials(email: &str, password: &str) -> ApiResult<()> {
    let e = email.trim();
    if e.len() > 254 || e.len() < 3 || !e.contains('@') || e.chars().any(char::is_whitespace) {
        return Err(ApiError::invalid("email must look like name@domain (at most 254 characters)"));
    }
    if password.chars().count() < 8 || password.len() > 256 {
        return Err(ApiError::invalid("password must have 8 to 256 characters"));
    }
    Ok(())
}

async fn hash_blocking(state: &AppState, password: String) -> ApiResult<String> {
    let p = state.passwords.clone();
    tokio::task::spawn_blocking(move || p.hash(&password)).await.map_err(|e| ApiError::Internal(e.to_string()))?
}

async fn insert_user(state: &AppState, email: &str, hash: &str, role: Role, store: Option<i64>) -> ApiResult<User> {
    let r = sqlx::query_scalar::<_, i64>(
        "INSERT INTO users (email, password_hash, role, store_id, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(email.trim().to_lowercase())
    .bind(hash)
    .bind(role.as_str())
    .bind(store)
    .bind(crate::db::now())
    .fetch_one(&state.db)
    .await;
    match r {
        Ok(id) => Ok(User { id, email: email.trim().to_string(), role, store_id: store, ext_id: None }),
        Err(sqlx::Error::Database(d)) if d.is_unique_violation() => {
            Err(ApiError::Conflict("email_taken", "an account with this e-mail exists".into()))
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /auth/register`: a customer account, signed in (a guest cart named by `X-Cart-Token` is merged).
pub(crate) async fn register(
    State(state): State<AppState>,
    headers: HeaderMap,
    client: crate::ops::ClientIp,
    Json(c): Json<Credentials>,
) -> ApiResult<(axum::http::StatusCode, Json<SignedIn>)> {
    check_credentials(&c.email, &c.password)?;
    state.limits.check_register(&client.0)?;
    let hash = hash_blocking(&state, c.password).await?;
    let user = insert_user(&state, &c.email, &hash, Role::Customer, None).await?;
    let token = state.sessions.create(&state.db, user.id, state.config.session_hours).await?;
    crate::cart::merge_guest(&state, &headers, user.id).await?;
    Ok((axum::http::StatusCode::CREATED, Json(SignedIn { token, user })))
}

/// `POST /auth/login`: a session token (failed logins limited per client IP; see
/// [`crate::ops::Limits::check_login`]).
pub(crate) async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    client: crate::ops::ClientIp,
    Json(c): Json<Credentials>,
) -> ApiResult<Json<SignedIn>> {
    let email = c.email.trim().to_lowercase();
    state.limits.check_login(&client.0, &email)?;
    let row: Option<(i64, Option<String>)> = sqlx::query_as("SELECT id, password_hash FROM users WHERE email = $1")
        .bind(&email)
        .fetch_optional(&state.db)
        .await?;
    let (id, hash) = row.map_or((0, None), |(i, h)| (i, h));
    let p = state.passwords.clone();
    let ok = tokio::task::spawn_blocking(move || p.verify(&c.password, hash.as_deref()))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    if !ok {
        state.limits.login_failed(&client.0, &email);
        metrics::counter!("shop_login_failures_total").increment(1);
        return Err(ApiError::BadRequest("bad_credentials", "wrong e-mail or password".into()));
    }
    let token = state.sessions.create(&state.db, id, state.config.session_hours).await?;
    let user = state.sessions.lookup(&state.db, &token).await?.ok_or(ApiError::Unauthorized)?;
    crate::cart::merge_guest(&state, &headers, user.id).await?;
    Ok(Json(SignedIn { token, user }))
}

/// `POST /auth/logout`: ends the session of the presented token.
pub(crate) async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    _user: User,
) -> ApiResult<axum::http::StatusCode> {
    if let Some(t) = bearer(&headers) {
        state.sessions.end(&state.db, t).await?;
    }
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// `GET /me`.
pub(crate) async fn me(user: User) -> Json<User> {
    Json(user)
}

/// `POST /admin/users` (admin): any role; a dealer needs an existing store.
pub(crate) async fn create_user(
    State(state): State<AppState>,
    admin: User,
    Json(n): Json<NewUser>,
) -> ApiResult<(axum::http::StatusCode, Json<User>)> {
    admin.require_admin()?;
    check_credentials(&n.email, &n.password)?;
    let store = match (n.role, n.store_id) {
        (Role::Dealer, Some(s)) => {
            let exists: Option<i64> =
                sqlx::query_scalar("SELECT id FROM stores WHERE id = $1").bind(s).fetch_optional(&state.db).await?;
            Some(exists.ok_or_else(|| ApiError::Unprocessable("unknown_store", format!("no store {s}")))?)
        }
        (Role::Dealer, None) => return Err(ApiError::invalid("a dealer needs store_id")),
        (_, Some(_)) => return Err(ApiError::invalid("only dealers belong to a store")),
        (_, None) => None,
    };
    let hash = hash_blocking(&state, n.password).await?;
    let user = insert_user(&state, &n.email, &hash, n.role, store).await?;
    Ok((axum::http::StatusCode::CREATED, Json(user)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_at_owasp_cost_and_verify() {
        let p = Passwords::new(19 * 1024, 2).unwrap();
        let h = p.hash("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(p.verify("correct horse", Some(&h)));
        assert!(!p.verify("wrong horse", Some(&h)));
        assert!(!p.verify("correct horse", None));
    }

    #[test]
    fn tokens_are_random_and_only_hashes_are_kept() {
        let (a, b) = (random_token(), random_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_ne!(&token_hash(&a)[..], a.as_bytes());
    }

    #[test]
    fn bearer_from_header_or_cookie() {
        let mut h = HeaderMap::new();
        h.insert("cookie", "a=b; session=tok".parse().unwrap());
        assert_eq!(bearer(&h), Some("tok"));
        h.insert("authorization", "Bearer xyz".parse().unwrap());
        assert_eq!(bearer(&h), Some("xyz"));
        h.insert("authorization", "Basic xyz".parse().unwrap());
        assert_eq!(bearer(&h), None);
    }
}
