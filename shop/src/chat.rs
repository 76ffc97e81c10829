//! `POST /chat`: the support assistant with the storefront traits bound to this database and to the
//! signed-in customer only. The traits are synchronous; the assistant runs on a blocking thread and
//! reaches the (async) database through the runtime handle.

use crate::auth::{MaybeUser, User};
use crate::error::{ApiError, ApiResult, Json};
use crate::orders::load;
use crate::{AppState, Shop};
use axum::extract::State;
use chatbot_core::dialogue::{Assistant, BotConfig};
use chatbot_core::intent::{Classifier, FastIntent};
use serde::Deserialize;
use std::sync::{Arc, Weak};
use storefront::{Catalog, Order, Orders, Policies, PriceFilter, Product, Recommendations, Result, StoreError};

/// The trained assistant.
pub type Bot = Assistant<FastIntent>;

/// The storefront traits over the shop's database.
#[derive(Debug, Clone)]
pub struct ShopStore {
    shop: Weak<Shop>,
    rt: tokio::runtime::Handle,
}

impl ShopStore {
    /// A store view of `shop`; call from inside the runtime.
    pub fn new(shop: &Arc<Shop>) -> Self {
        ShopStore { shop: Arc::downgrade(shop), rt: tokio::runtime::Handle::current() }
    }

    fn run_api<T>(&self, f: impl AsyncFnOnce(Arc<Shop>) -> ApiResult<T>) -> ApiResult<T> {
        let shop = self.shop.upgrade().ok_or_else(|| ApiError::Unavailable("shop shutting down".into()))?;
        self.rt.block_on(f(shop))
    }

    fn run<T>(&self, f: impl AsyncFnOnce(Arc<Shop>) -> ApiResult<T>) -> Result<T> {
        self.run_api(f).map_err(to_store_error)
    }

    async fn customer(shop: &Shop, customer: &str) -> ApiResult<User> {
        let id = customer.parse::<i64>().unwrap_or(0);
        shop.user_by_id(id).await?.ok_or(ApiError::Unauthorized)
    }
}

fn to_store_error(e: ApiError) -> StoreError {
    match e {
        ApiError::NotFound(m) => StoreError::NotFound(m.trim_start_matches("no order ").to_string()),
        ApiError::Unauthorized => StoreError::NotSignedIn,
        ApiError::BadRequest(_, m) | ApiError::Unprocessable(_, m) => StoreError::Invalid(m),
        other => StoreError::Unavailable(other.to_string()),
    }
}

fn to_product(p: crate::catalog::ProductRow) -> Product {
    Product {
        id: p.id.to_string(),
        name: p.name,
        price: p.price_cents as f64 / 100.0,
        category: p.category,
        stock: p.stock.clamp(0, u32::MAX as i64) as u32,
    }
}

fn order_id(raw: &str) -> i64 {
    raw.trim().trim_start_matches('#').parse().unwrap_or(0)
}

fn to_order(o: crate::orders::OrderView) -> Order {
    Order {
        id: o.id.to_string(),
        status: o.status,
        lines: o
            .lines
            .iter()
            .map(|l| (l.product_id.to_string(), l.quantity.clamp(0, u32::MAX as i64) as u32))
            .collect(),
        total: o.total_cents as f64 / 100.0,
        placed: o.created_at.to_string(),
        ship_to: o.ship_to,
    }
}

async fn own_order(shop: &Shop, customer: &str, raw: &str) -> ApiResult<crate::orders::OrderView> {
    let (c, id) = (customer.parse::<i64>().unwrap_or(0), order_id(raw));
    let mut conn = shop.db.acquire().await?;
    match load(&mut conn, id).await? {
        Some(o) if o.user_id == c => Ok(o),
        _ => Err(ApiError::NotFound(format!("no order {raw}"))),
    }
}

impl Catalog for ShopStore {
    /// The shop's own search ([`crate::search::find`]) in its default mode: hybrid (keyword + meaning)
    /// when the shop has a sentence encoder, keyword otherwise.
    fn search(&self, query: &str, price: PriceFilter, limit: usize) -> Result<Vec<Product>> {
        // No word to search for, or a price range nothing fits ("over £50 under £10"): no product.
        let reversed = matches!((price.min, price.max), (Some(lo), Some(hi)) if lo > hi);
        if crate::search::fts_query(query).is_none() || reversed {
            return Ok(Vec::new());
        }
        let params = crate::search::SearchParams {
            q: Some(query.to_string()),
            min_price: price.min.map(|v| v.clamp(0.0, 1e9)),
            max_price: price.max.map(|v| v.clamp(0.0, 1e9)),
            per_page: Some(limit.clamp(1, 100) as u32),
            ..Default::default()
        };
        self.run(async move |shop| {
            let page = crate::search::find(&shop, None, params).await?;
            Ok(page.items.into_iter().map(to_product).collect())
        })
    }

    fn product(&self, id: &str) -> Result<Option<Product>> {
        let id = id.parse::<i64>().unwrap_or(0);
        self.run(async move |shop| {
            Ok(crate::catalog::product(&shop.db, id).await?.filter(|p| p.active).map(to_product))
        })
    }

    fn names(&self) -> Result<Vec<(String, String)>> {
        self.run(async |shop| {
            let rows: Vec<(i64, String)> =
                sqlx::query_as("SELECT id, name FROM products WHERE active = 1").fetch_all(&shop.db).await?;
            Ok(rows.into_iter().map(|(i, n)| (i.to_string(), n)).collect())
        })
    }

    fn categories(&self) -> Result<Vec<String>> {
        self.run(async |shop| {
            Ok(sqlx::query_scalar(
                "SELECT DISTINCT category FROM products WHERE active = 1 AND category IS NOT NULL ORDER BY category",
            )
            .fetch_all(&shop.db)
            .await?)
        })
    }
}

impl Orders for ShopStore {
    fn order(&self, customer: &str, id: &str) -> Result<Order> {
        self.run(async |shop| own_order(&shop, customer, id).await.map(to_order))
    }

    fn orders(&self, customer: &str) -> Result<Vec<Order>> {
        let c = customer.parse::<i64>().unwrap_or(0);
        self.run(async move |shop| {
            let ids: Vec<i64> =
                sqlx::query_scalar("SELECT id FROM orders WHERE user_id = $1 ORDER BY id DESC LIMIT 20")
                    .bind(c)
                    .fetch_all(&shop.db)
                    .await?;
            let mut conn = shop.db.acquire().await?;
            let mut out = Vec::new();
            for id in ids {
                out.extend(load(&mut conn, id).await?.map(to_order));
            }
            Ok(out)
        })
    }

    fn cancel(&self, customer: &str, id: &str) -> Result<Order> {
        let o = self.order(customer, id)?;
        let status = o.status;
        let r = self.run_api(async |shop| {
            let user = Self::customer(&shop, customer).await?;
            crate::orders::cancel_order(&shop, &user, &o.id).await.map(|c| to_order(c.order))
        });
        r.map_err(|e| match e {
            ApiError::Conflict(_, reason) => StoreError::NotAllowed { order: o.id.clone(), status, reason },
            other => to_store_error(other),
        })
    }

    fn change_address(&self, customer: &str, id: &str, address: &str) -> Result<Order> {
        let o = self.order(customer, id)?;
        if address.trim().is_empty() || address.chars().count() > 500 {
            return Err(StoreError::Invalid("the address must have 1 to 500 characters".into()));
        }
        if !o.status.before_shipping() {
            return Err(StoreError::NotAllowed {
                order: o.id,
                status: o.status,
                reason: "it has already shipped".into(),
            });
        }
        let oid = order_id(&o.id);
        self.run(async move |shop| {
            let mut tx = crate::db::write_tx(&shop.db).await?;
            let n = sqlx::query(
                "UPDATE orders SET ship_to = $1, updated_at = $2 WHERE id = $3 AND status IN ('Created', 'Paid')",
            )
            .bind(address.trim())
            .bind(crate::db::now())
            .bind(oid)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n == 0 {
                return Err(ApiError::Conflict("order_state", "the order has shipped meanwhile".into()));
            }
            crate::orders::outbox(
                &mut tx,
                "order.address_changed",
                oid,
                serde_json::json!({"order": oid, "ship_to": address.trim()}),
            )
            .await?;
            let o = load(&mut tx, oid).await?.ok_or_else(|| ApiError::NotFound(format!("no order {oid}")))?;
            tx.commit().await?;
            Ok(to_order(o))
        })
    }
}

impl Recommendations for ShopStore {
    fn recommend(&self, customer: Option<&str>, k: usize) -> Result<Vec<Product>> {
        self.run(async move |shop| {
            let user = match customer {
                Some(c) => shop.user_by_id(c.parse().unwrap_or(0)).await?,
                None => None,
            };
            let mut out = Vec::new();
            for id in shop.reco.recommend_products(user.as_ref(), k.clamp(1, 50))? {
                out.extend(crate::catalog::product(&shop.db, id).await?.filter(|p| p.active).map(to_product));
            }
            Ok(out)
        })
    }
}

impl Policies for ShopStore {
    fn policy(&self, topic: &str) -> Option<String> {
        storefront::default_policy(topic).map(str::to_string)
    }
}

/// The intent model: loaded from `path` if it exists, else trained on the shipped data and saved there.
pub fn classifier(
    datasets: &std::path::Path,
    path: Option<&std::path::Path>,
) -> anyhow::Result<Classifier<FastIntent>> {
    if let Some(p) = path.filter(|p| p.is_file()) {
        match Classifier::<FastIntent>::load(p) {
            Ok(c) => return Ok(c),
            Err(e) => tracing::warn!(path = %p.display(), error = %e, "chat model unreadable; training a new one"),
        }
    }
    let t = std::time::Instant::now();
    let clf = chatbot_core::intent::train_shop_assistant(datasets)?;
    tracing::info!(seconds = t.elapsed().as_secs_f32(), "chat model trained");
    if let Some(p) = path {
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d)?;
        }
        clf.save(p)?;
    }
    Ok(clf)
}

/// The assistant over `shop`'s database (indexes the catalog's names; runs on a blocking thread).
pub async fn assistant(shop: &Arc<Shop>, clf: Classifier<FastIntent>) -> anyhow::Result<Bot> {
    let store = ShopStore::new(shop);
    let s = storefront::Store {
        catalog: Arc::new(store.clone()),
        orders: Arc::new(store.clone()),
        recommendations: Arc::new(store.clone()),
        policies: Arc::new(store),
    };
    Ok(tokio::task::spawn_blocking(move || Assistant::new(clf, s, BotConfig::default())).await??)
}

/// A chat message.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ChatReq {
    /// At most 2000 characters.
    #[schemars(length(max = 2000))]
    message: String,
    /// Continue this conversation (default: a new one; its id comes back).
    #[schemars(length(min = 1, max = 64), regex(pattern = "^[A-Za-z0-9_-]+$"))]
    conversation: Option<String>,
}

impl ChatReq {
    /// From the chat widget's form.
    pub(crate) fn new(message: String, conversation: Option<String>) -> Self {
        ChatReq { message, conversation }
    }
}

/// The assistant's answer.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub(crate) struct ChatAnswer {
    /// The conversation id (send it back to continue).
    conversation: String,
    /// What the assistant said and did.
    #[schemars(schema_with = "reply_schema")]
    reply: chatbot_core::dialogue::Reply,
}

impl ChatAnswer {
    /// What the assistant said.
    pub(crate) fn text(&self) -> &str {
        &self.reply.text
    }
    /// The conversation id.
    pub(crate) fn conversation(&self) -> &str {
        &self.conversation
    }
}

/// chatbot-core's `Reply` (it stays free of schema derives).
fn reply_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "required": ["text", "intent", "confidence", "entities", "action"],
        "properties": {
            "text": {"type": "string", "description": "What to show the customer"},
            "intent": {"type": ["string", "null"], "description": "The recognised intent"},
            "confidence": {"type": "number"},
            "entities": {"type": "object", "description": "Order numbers, e-mails, prices, products found"},
            "action": {"description": "What was done"}
        }
    })
}

/// `POST /chat`: orders are looked up and changed only for the signed-in customer; a signed-in user's
/// conversation ids are scoped to that user, so nobody continues another's conversation. Guests have no
/// identity to scope by: a guest conversation is as private as its id (random unless the client picks
/// one), and a guest conversation can reach no order.
pub(crate) async fn chat(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Json(r): Json<ChatReq>,
) -> ApiResult<Json<ChatAnswer>> {
    let bot = state
        .chat
        .get()
        .cloned()
        .ok_or_else(|| ApiError::Unavailable("the chatbot is not enabled on this server".into()))?;
    if r.message.chars().count() > 2000 {
        return Err(ApiError::invalid("message is longer than 2000 characters"));
    }
    let conv = match r.conversation {
        Some(c)
            if !c.is_empty()
                && c.len() <= 64
                && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
        {
            c
        }
        Some(_) => return Err(ApiError::invalid("conversation must be 1–64 characters [A-Za-z0-9_-]")),
        None => crate::auth::random_token(),
    };
    let scoped = format!("{}:{conv}", user.as_ref().map_or("guest".to_string(), |u| u.id.to_string()));
    let customer = user.as_ref().map(|u| u.id.to_string());
    let reply = tokio::task::spawn_blocking(move || bot.reply(&scoped, customer.as_deref(), &r.message))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    metrics::counter!("shop_chat_messages_total").increment(1);
    Ok(Json(ChatAnswer { conversation: conv, reply }))
}
