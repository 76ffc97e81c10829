//! # shopml-shop
//!
//! shopml's reference shop service: accounts with roles, multi-tenant stores, catalog search, carts,
//! checkout that never oversells, idempotent payments with retries and refunds, an order state
//! machine, a transactional outbox, live recommendations and the support chatbot — on one SQLite file.
//!
//! ```no_run
//! # async fn run() -> anyhow::Result<()> {
//! let config = shopml_shop::config::Config::load(None)?;
//! let shop = shopml_shop::start(config).await?;
//! let listener = tokio::net::TcpListener::bind(&shop.config.bind).await?;
//! shopml_shop::serve(shop, listener, async { let _ = tokio::signal::ctrl_c().await; }).await?;
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

pub mod auth;
pub mod cart;
pub mod catalog;
pub mod chat;
pub mod checkout;
pub mod config;
pub mod conversations;
pub mod db;
pub mod error;
pub mod openapi;
pub mod ops;
pub mod orders;
pub mod outbox;
pub mod payment;
pub mod reco;
pub mod refunds;
pub mod replicas;
pub mod search;
pub mod search_cache;
pub mod semantic;
pub mod web;

use crate::auth::{Role, User};

use crate::error::{ApiError, ApiResult, Json};
use anyhow::Context;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::Router;
use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// Everything a handler can reach.
pub struct Shop {
    /// The configuration it started with.
    pub config: config::Config,
    /// The database.
    pub db: crate::db::Db,
    /// Session cache.
    pub sessions: auth::Sessions,
    /// Password hashing.
    pub passwords: auth::Passwords,
    /// Rate limits.
    pub limits: ops::Limits,
    /// Recommender.
    pub reco: reco::Reco,
    /// Semantic product search (`None` without a configured encoder).
    pub semantic: Option<semantic::Semantic>,
    /// Recent `GET /products` answers.
    pub search_cache: search_cache::SearchCache,
    /// The chatbot (set once trained; `None` if disabled).
    pub chat: OnceLock<Arc<chat::Bot>>,
    /// Payment gateways by name.
    pub gateways: BTreeMap<String, Arc<dyn payment::PaymentGateway>>,
    /// Where outbox rows are delivered.
    pub notifier: Arc<dyn outbox::Notifier>,
    /// This process as a replica (liveness, news to and from the others on PostgreSQL).
    pub replica: replicas::Replica,
    /// Prometheus.
    pub metrics: metrics_exporter_prometheus::PrometheusHandle,
    /// Live delivery of conversation messages to open WebSockets.
    pub live: conversations::Hub,
}

impl std::fmt::Debug for Shop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shop")
            .field("bind", &self.config.bind)
            .field("database", &db::redact(&self.config.database))
            .finish_non_exhaustive()
    }
}

/// The state handlers share.
pub type AppState = Arc<Shop>;

impl Shop {
    /// Records a customer's events for the recommender: here at once, stored, and told to the other
    /// replicas ([`replicas`]).
    pub async fn record_event(&self, user: i64, products: &[i64], kind: reco::EventKind) {
        self.reco.event(&self.db, user, products, kind).await;
        if !products.is_empty() {
            let purchase = kind == reco::EventKind::Purchase;
            let news = replicas::News::Events { user, products: products.to_vec(), purchase };
            self.replica.publish(&self.db, news).await;
        }
    }

    /// Products whose stock moved here (checkout, cancellation, refund): availability re-read for the
    /// recommender, and the other replicas told (they re-read availability).
    pub async fn stock_moved(&self, products: &[i64]) {
        self.reco.refresh_stock(&self.db, products).await;
        self.replica.publish(&self.db, replicas::News::Stock { ids: products.to_vec() }).await;
    }
    /// A user by id.
    pub async fn user_by_id(&self, id: i64) -> ApiResult<Option<User>> {
        let row: Option<auth::UserRow> =
            sqlx::query_as("SELECT id, email, role, store_id, ext_id FROM users WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.db)
                .await?;
        row.map(auth::user_from_row).transpose()
    }

    /// The gateway called `name`.
    pub fn gateway(&self, name: &str) -> ApiResult<Arc<dyn payment::PaymentGateway>> {
        self.gateways
            .get(name)
            .cloned()
            .ok_or_else(|| ApiError::Internal(format!("store uses unknown gateway {name:?}")))
    }

    /// The gateway of store `store`.
    pub async fn gateway_of_store(&self, store: i64) -> ApiResult<Arc<dyn payment::PaymentGateway>> {
        let name: String =
            sqlx::query_scalar("SELECT gateway FROM stores WHERE id = $1").bind(store).fetch_one(&self.db).await?;
        self.gateway(&name)
    }
}

/// What [`start_with`] may replace (tests plug in their own gateways and notifiers).
#[derive(Default)]
pub struct Parts {
    /// Extra or replacement gateways by name.
    pub gateways: Vec<(String, Arc<dyn payment::PaymentGateway>)>,
    /// Replacement notifier.
    pub notifier: Option<Arc<dyn outbox::Notifier>>,
}

impl std::fmt::Debug for Parts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Parts").field("gateways", &self.gateways.len()).finish_non_exhaustive()
    }
}

/// [`start_with`] with the built-in parts.
pub async fn start(config: config::Config) -> anyhow::Result<Arc<Shop>> {
    start_with(config, Parts::default()).await
}

/// Opens the database (migrations), seeds the demo store if it has none, trains the recommender on the
/// shipped history plus the stored events (weighted by kind), finishes orders an earlier run left half-done, and trains or loads the chatbot.
pub async fn start_with(config: config::Config, parts: Parts) -> anyhow::Result<Arc<Shop>> {
    config.validate()?;
    let db = db::open(&config.database, config.db_connections)
        .await
        .with_context(|| format!("database {}", db::redact(&config.database)))?;
    let datasets = storefront::shipped::datasets_dir(config.datasets.as_deref()).map_err(anyhow::Error::msg)?;
    let retail = storefront::shipped::online_retail(&datasets);
    let (data, _) = tokio::task::spawn_blocking(move || reco_core::io::load_online_retail(&retail)).await??;
    let passwords = auth::Passwords::new(config.argon2_m_kib, config.argon2_t)?;
    if config.seed_demo && !db::has_store(&db).await? {
        let accounts = match config.wants_demo_accounts() {
            true => db::DemoAccounts::All(passwords.hash(&config.demo_password)?),
            false => {
                // A public bind: no published credential. One admin, its password shown once.
                let password = auth::random_token();
                eprintln!(
                    "shopml-shop: seeded admin account {} with the generated password {password} \
                     (shown once; bind to loopback or set demo_accounts for the demo logins)",
                    db::DEMO_ADMIN
                );
                db::DemoAccounts::AdminOnly(passwords.hash(&password)?)
            }
        };
        db::seed_demo(&db, &data, &accounts).await?;
        tracing::info!(products = data.n_items(), "seeded the demo store from the shipped Online Retail data");
    }
    if !config.bind_is_loopback() {
        let known = db::demo_accounts_with_default_password(&db, &passwords).await?;
        anyhow::ensure!(
            known.is_empty(),
            "refusing to serve on the public address {}: demo accounts {known:?} still have the published demo \
             password; bind to loopback, or use a fresh database (a public bind seeds only an admin with a \
             generated password)",
            config.bind
        );
    }
    let reco = reco::Reco::new(&db, &data, &config.reco_model, config.reco_kind_weights).await?;
    let semantic = match &config.encoder {
        Some(dir) => {
            let dir = dir.clone();
            let s = tokio::task::spawn_blocking(move || semantic::Semantic::load(&dir)).await??;
            let t = std::time::Instant::now();
            let embedded = s.refresh(&db).await.map_err(|e| anyhow::anyhow!("semantic search index: {e}"))?;
            tracing::info!(products = s.len(), embedded, seconds = t.elapsed().as_secs_f32(), "semantic search ready");
            Some(s)
        }
        None => None,
    };
    let replayed = reco.load_events(&db).await?;
    let mut gateways: BTreeMap<String, Arc<dyn payment::PaymentGateway>> = BTreeMap::new();
    gateways.insert("simulated".into(), Arc::new(payment::SimulatedGateway::new(db.clone(), Default::default())));
    for (name, g) in &config.gateways {
        gateways.insert(name.clone(), Arc::new(payment::SimulatedGateway::new(db.clone(), g.clone())));
    }
    gateways.extend(parts.gateways);
    let notifier: Arc<dyn outbox::Notifier> = match (parts.notifier, config.notifier.as_str()) {
        (Some(n), _) => n,
        (None, "log") => Arc::new(outbox::LogNotifier),
        (None, path) => Arc::new(outbox::FileNotifier::new(path)),
    };
    let replica = replicas::Replica::join(&db, &config.database).await.context("joining the replicas")?;
    let shop = Arc::new(Shop {
        replica,
        limits: ops::Limits::new(config.rate_api_per_sec, config.rate_api_burst, config.rate_login_per_min),
        sessions: auth::Sessions::new(Duration::from_secs(config.session_cache_secs)),
        passwords,
        reco,
        semantic,
        search_cache: search_cache::SearchCache::new(Duration::from_millis(config.search_cache_ms)),
        chat: OnceLock::new(),
        gateways,
        notifier,
        metrics: ops::prometheus(),
        live: conversations::Hub::default(),
        db,
        config,
    });
    replicas::spawn_listener(&shop);
    replicas::Replica::spawn_watchdog(&shop);
    let (paid, released) = checkout::recover(&shop, None).await?;
    let (refunded, refunds_pending) = refunds::recover(&shop, None).await?;
    tracing::info!(
        events = replayed,
        recovered_paid = paid,
        recovered_released = released,
        refunded,
        refunds_pending,
        "shop ready to serve"
    );
    if shop.config.chat {
        let model = shop.config.chat_model.clone();
        let clf = tokio::task::spawn_blocking(move || chat::classifier(&datasets, model.as_deref())).await??;
        let bot = chat::assistant(&shop, clf).await?;
        let _ = shop.chat.set(Arc::new(bot));
    }
    Ok(shop)
}

async fn health() -> &'static str {
    "ok"
}

async fn openapi() -> axum::Json<serde_json::Value> {
    axum::Json(openapi::document())
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such route".into())
}

async fn method_not_allowed() -> (StatusCode, axum::Json<serde_json::Value>) {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        axum::Json(
            serde_json::json!({"error": {"code": "method_not_allowed", "message": "method not allowed on this route"}}),
        ),
    )
}

/// `GET /recommendations`: after the signed-in customer's sequence, or a visitor's guest cart
/// (`X-Cart-Token`), or popular products.
async fn recommendations(
    State(state): State<AppState>,
    auth::MaybeUser(user): auth::MaybeUser,
    headers: axum::http::HeaderMap,
    error::Query(k): error::Query<catalog::K>,
) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse;
    let k = k.get()?;
    let customer = user.as_ref().filter(|u| u.role == Role::Customer);
    let guest = match customer {
        None => cart::guest_sequence(&state, &headers).await?,
        Some(_) => Vec::new(),
    };
    let body = state.reco.recommend_json(customer, &guest, k)?;
    Ok(([("content-type", "application/json")], body).into_response())
}

async fn refit(State(state): State<AppState>, user: User) -> ApiResult<Json<reco::FitReport>> {
    user.require_admin()?;
    Ok(Json(state.reco.refit(&state.db).await?))
}

/// A new store (admin).
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewStore {
    /// 1 to 100 characters, unique.
    #[schemars(length(min = 1, max = 100))]
    name: String,
    /// A configured payment gateway (default `simulated`).
    gateway: Option<String>,
}

/// A store.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub struct StoreView {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Its payment gateway (on creation only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
}

async fn stores(State(state): State<AppState>) -> ApiResult<Json<Vec<StoreView>>> {
    let rows: Vec<(i64, String)> =
        sqlx::query_as("SELECT id, name FROM stores ORDER BY id").fetch_all(&state.db).await?;
    Ok(Json(rows.into_iter().map(|(id, name)| StoreView { id, name, gateway: None }).collect()))
}

async fn create_store(
    State(state): State<AppState>,
    user: User,
    Json(n): Json<NewStore>,
) -> ApiResult<(StatusCode, Json<StoreView>)> {
    user.require_admin()?;
    let name = n.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::invalid("name must have 1 to 100 characters"));
    }
    let gateway = n.gateway.unwrap_or_else(|| "simulated".into());
    if !state.gateways.contains_key(&gateway) {
        return Err(ApiError::Unprocessable(
            "unknown_gateway",
            format!("no gateway {gateway:?}; configured: {:?}", state.gateways.keys().collect::<Vec<_>>()),
        ));
    }
    let r =
        sqlx::query_scalar::<_, i64>("INSERT INTO stores (name, gateway, created_at) VALUES ($1, $2, $3) RETURNING id")
            .bind(name)
            .bind(&gateway)
            .bind(db::now())
            .fetch_one(&state.db)
            .await;
    match r {
        Ok(id) => Ok((StatusCode::CREATED, Json(StoreView { id, name: name.to_string(), gateway: Some(gateway) }))),
        Err(sqlx::Error::Database(d)) if d.is_unique_violation() => {
            Err(ApiError::Conflict("store_exists", format!("a store named {name:?} exists")))
        }
        Err(e) => Err(e.into()),
    }
}

/// The HTTP API.
pub fn router(shop: AppState) -> Router {
    use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
    use tower_http::trace::TraceLayer;
    let api = Router::new()
        .route("/auth/register", post(auth::register))
        .route("/auth/login", post(auth::login))
        .route("/auth/logout", post(auth::logout))
        .route("/me", get(auth::me))
        .route("/admin/users", post(auth::create_user))
        .route("/admin/recommender/refit", post(refit))
        .route("/stores", get(stores).post(create_store))
        .route("/products", get(search::search).post(catalog::create))
        .route("/products/{id}", get(catalog::get).patch(catalog::update).delete(catalog::delete))
        .route("/products/{id}/similar", get(catalog::similar))
        .route("/products/{id}/next", get(catalog::next))
        .route("/recommendations", get(recommendations))
        .route("/cart", get(cart::get))
        .route("/cart/items/{product_id}", put(cart::put_item).delete(cart::delete_item))
        .route("/checkout", post(checkout::checkout))
        .route("/orders", get(orders::list))
        .route("/orders/{id}", get(orders::get))
        .route("/orders/{id}/cancel", post(orders::cancel))
        .route("/orders/{id}/ship", post(orders::ship))
        .route("/orders/{id}/deliver", post(orders::deliver))
        .route("/orders/{id}/refund", post(orders::refund))
        .route("/chat", post(chat::chat))
        .route("/conversations", get(conversations::get_list).post(conversations::create))
        .route("/conversations/live", get(conversations::live))
        .route("/conversations/{id}", get(conversations::get))
        .route("/conversations/{id}/messages", post(conversations::send))
        .route("/conversations/{id}/offers/{message_id}/accept", post(conversations::accept_offer))
        .route_layer(axum::middleware::from_fn_with_state(shop.clone(), ops::rate_limit));
    let ids = ops::RequestIds::default();
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(ops::metrics_admin))
        .route("/openapi.json", get(openapi))
        .merge(api)
        .merge(web::routes().route_layer(axum::middleware::from_fn_with_state(shop.clone(), ops::rate_limit)))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(shop.config.max_body_bytes))
        .layer(axum::middleware::from_fn(ops::track))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(|_| {
            ApiError::Internal("handler panicked".into()).into_response_parts()
        }))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
            let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
            tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
        }))
        .layer(SetRequestIdLayer::x_request_id(ids))
        .with_state(shop)
}

/// The scrape listener's router (`metrics_bind`): only `GET /metrics`, without a session.
pub fn metrics_router(shop: AppState) -> Router {
    Router::new().route("/metrics", get(ops::metrics_text)).fallback(not_found).with_state(shop)
}

impl ApiError {
    fn into_response_parts(self) -> axum::response::Response {
        axum::response::IntoResponse::into_response(self)
    }
}

/// The background work: outbox delivery and the storing of recorded views (every 250 ms), and every minute the purge of old
/// idempotency keys and sessions, the recovery of orders Created more than 5 minutes ago and of refunds
/// pending for over a minute, rate-limiter upkeep and metrics upkeep; every `reco_refit_minutes` a
/// refit of the recommender if events of a counted kind were stored since the last one. Stops when
/// `stop` flips.
pub fn spawn_background(shop: AppState, mut stop: tokio::sync::watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut last_purge = std::time::Instant::now() - Duration::from_secs(3600);
        let mut last_refit = std::time::Instant::now();
        let refit_every = Duration::from_secs(shop.config.reco_refit_minutes.saturating_mul(60));
        let mut refit: Option<tokio::task::JoinHandle<()>> = None;
        loop {
            let idle = refit.as_ref().is_none_or(|t| t.is_finished());
            if shop.config.reco_refit_minutes > 0 && idle && last_refit.elapsed() >= refit_every {
                last_refit = std::time::Instant::now();
                // On its own task: the fit takes a second or two and outbox delivery goes on meanwhile.
                let shop = shop.clone();
                refit = Some(tokio::spawn(async move {
                    if let Err(e) = shop.reco.refit_if_new(&shop.db).await {
                        tracing::warn!(error = %e, "recommender refit failed");
                    }
                }));
            }
            if let Err(e) = outbox::dispatch_once(&shop.db, shop.notifier.as_ref()).await {
                tracing::warn!(error = %e, "outbox dispatch failed");
            }
            shop.reco.flush_views(&shop.db).await;
            if last_purge.elapsed() > Duration::from_secs(60) {
                last_purge = std::time::Instant::now();
                match outbox::purge(&shop.db, shop.config.idempotency_hours).await {
                    Ok(n) if n > 0 => tracing::info!(deleted = n, "purged old idempotency keys and sessions"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "purge failed"),
                }
                if let Err(e) = checkout::recover(&shop, Some(300)).await {
                    tracing::warn!(error = %e, "recovery of stale orders failed");
                }
                if let Err(e) = refunds::recover(&shop, Some(60)).await {
                    tracing::warn!(error = %e, "recovery of pending refunds failed");
                }
                shop.limits.shrink();
                shop.metrics.run_upkeep();
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                _ = stop.changed() => break,
            }
        }
        // A refit under way finishes before the database closes; then a last delivery round.
        if let Some(t) = refit {
            let _ = t.await;
        }
        let _ = outbox::dispatch_once(&shop.db, shop.notifier.as_ref()).await;
        shop.reco.flush_views(&shop.db).await;
    })
}

/// Serves `shop` on `listener` until `shutdown` completes; then stops taking connections, lets running
/// requests finish, waits for a recommender refit under way (one item-kNN fit on one thread: 0.22–0.24 s
/// on the demo data, release build), delivers the outbox once more and closes the database.
pub async fn serve(
    shop: AppState,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (tx, rx) = tokio::sync::watch::channel(false);
    let scrape = match shop.config.metrics_bind.as_deref() {
        Some(addr) => {
            let l = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("metrics_bind {addr}"))?;
            tracing::info!(addr = %l.local_addr()?, "metrics listener");
            let mut stop = rx.clone();
            let app = metrics_router(shop.clone());
            Some(tokio::spawn(async move {
                let _ = axum::serve(l, app)
                    .with_graceful_shutdown(async move {
                        let _ = stop.changed().await;
                    })
                    .await;
            }))
        }
        None => None,
    };
    let bg = spawn_background(shop.clone(), rx);
    let app = router(shop.clone()).into_make_service_with_connect_info::<std::net::SocketAddr>();
    tracing::info!(addr = %listener.local_addr()?, "listening");
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await?;
    tracing::info!("shutting down: finishing background work");
    let _ = tx.send(true);
    let _ = bg.await;
    if let Some(s) = scrape {
        let _ = s.await;
    }
    shop.db.close().await;
    Ok(())
}
