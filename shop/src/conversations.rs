//! Customer↔dealer conversations about a product (customisation requests: "can it be engraved?"), the
//! dealer's offers (a unit price for a quantity) that the customer accepts into the cart at the agreed
//! price, unread counts, and live delivery over WebSocket.
//!
//! Authorisation: a customer sees only their own conversations, a dealer only their store's (an admin
//! all); anything else is a 404, so ids cannot be probed. An offer comes only from the store's side and
//! is bought once: checkout claims it for its order (a failed payment gives it back); a cart line taken
//! from an offer goes back to the catalogue price when its quantity is changed.
//!
//! Live delivery: every new message is published on this process's [`Hub`]; a WebSocket
//! (`GET /conversations/live`) receives the messages of the conversations its user may see. (Replicas
//! do not forward messages to each other yet: a client connected to another replica sees a message on
//! its next page load or poll.)

use crate::auth::{Role, User};
use crate::error::{parse_id, ApiError, ApiResult, Json, Path};
use crate::AppState;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::{Deserialize, Serialize};

/// Longest message body, in characters.
pub const MAX_BODY: usize = 2000;

/// A conversation as its participants see it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct ConversationView {
    /// Id.
    pub id: i64,
    /// The customer.
    pub customer_id: i64,
    /// The customer's e-mail (what the dealer sees them as).
    pub customer_email: String,
    /// The store.
    pub store_id: i64,
    /// The product it is about.
    pub product_id: i64,
    /// Its name.
    pub product_name: String,
    /// Unix seconds.
    pub created_at: i64,
    /// The newest message's id.
    pub last_message: i64,
    /// Messages from the other side that the caller has not read.
    pub unread: i64,
}

/// A dealer's offer.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Offer {
    /// Agreed unit price in cents.
    pub unit_cents: i64,
    /// Units.
    pub quantity: i64,
    /// The order that bought it, if one has.
    pub order_id: Option<i64>,
}

/// One message.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct MessageView {
    /// Id.
    pub id: i64,
    /// Its conversation.
    pub conversation_id: i64,
    /// Whether the store's side wrote it.
    pub from_dealer: bool,
    /// Text.
    pub body: String,
    /// An offer, if it is one.
    pub offer: Option<Offer>,
    /// Unix seconds.
    pub created_at: i64,
}

/// A conversation with its messages, oldest first.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Thread {
    /// The conversation.
    pub conversation: ConversationView,
    /// Its messages.
    pub messages: Vec<MessageView>,
}

/// A new conversation (customers): the product and the first message.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewConversation {
    /// The product to talk about.
    pub product_id: i64,
    /// 1 to 2000 characters.
    #[schemars(length(min = 1, max = 2000))]
    pub body: String,
}

/// A new message; the store's side may make it an offer (both offer fields, or neither).
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMessage {
    /// 1 to 2000 characters.
    #[schemars(length(min = 1, max = 2000))]
    pub body: String,
    /// Offer: agreed unit price in cents (dealer/admin).
    #[schemars(range(min = 0, max = 100_000_000_000i64))]
    pub offer_cents: Option<i64>,
    /// Offer: units (1..=1000).
    #[schemars(range(min = 1, max = 1000))]
    pub offer_quantity: Option<i64>,
}

const CONV_COLS: &str = "c.id, c.customer_id, u.email AS customer_email, c.store_id, c.product_id, p.name AS product_name, c.created_at, c.last_message";

/// Who may see which conversations: the SQL condition on `c` for `user` (bound as `$1`).
fn scope(user: &User) -> (&'static str, Option<i64>) {
    match user.role {
        Role::Customer => ("c.customer_id = $1", Some(user.id)),
        Role::Dealer => ("c.store_id = $1", Some(user.store_id.unwrap_or(-1))),
        Role::Admin => ("$1 IS NULL", None),
    }
}

/// The unread-count expression for `user`'s side (messages of the other side after their read mark).
fn unread_sql(user: &User) -> &'static str {
    match user.role {
        Role::Customer => "(SELECT count(*) FROM messages m WHERE m.conversation_id = c.id AND m.from_dealer = 1 AND m.id > c.customer_read)",
        _ => "(SELECT count(*) FROM messages m WHERE m.conversation_id = c.id AND m.from_dealer = 0 AND m.id > c.dealer_read)",
    }
}

/// `user`'s conversations, the most recently active first.
pub async fn list(state: &AppState, user: &User) -> ApiResult<Vec<ConversationView>> {
    let (filter, key) = scope(user);
    Ok(sqlx::query_as(&format!(
        "SELECT {CONV_COLS}, {} AS unread FROM conversations c JOIN users u ON u.id = c.customer_id JOIN products p ON p.id = c.product_id
         WHERE {filter} ORDER BY c.last_message DESC LIMIT 200",
        unread_sql(user)
    ))
    .bind(key)
    .fetch_all(&state.db)
    .await?)
}

/// Unread messages over all of `user`'s conversations (the page header's badge).
pub async fn unread_total(state: &AppState, user: &User) -> ApiResult<i64> {
    let (sql, key) = unread_total_sql(user, 1);
    let n: Option<i64> = sqlx::query_scalar(&sql).bind(key).fetch_one(&state.db).await?;
    Ok(n.unwrap_or(0))
}

/// The query of [`unread_total`] with its key bound as `$param` (for pages that fold it into another query).
pub(crate) fn unread_total_sql(user: &User, param: usize) -> (String, Option<i64>) {
    let (filter, key) = scope(user);
    let filter = filter.replace("$1", &format!("${param}"));
    (format!("SELECT CAST(sum({}) AS BIGINT) FROM conversations c WHERE {filter}", unread_sql(user)), key)
}

/// Conversation `raw` if `user` may see it (else 404).
pub async fn visible(state: &AppState, user: &User, raw: &str) -> ApiResult<ConversationView> {
    let id = parse_id("conversation", raw)?;
    let (filter, key) = scope(user);
    sqlx::query_as(&format!(
        "SELECT {CONV_COLS}, {} AS unread FROM conversations c JOIN users u ON u.id = c.customer_id JOIN products p ON p.id = c.product_id
         WHERE c.id = $2 AND {filter}",
        unread_sql(user)
    ))
    .bind(key)
    .bind(id)
    .fetch_optional(&state.db)
    .await?
    .ok_or_else(|| ApiError::NotFound(format!("no conversation {id}")))
}

type MessageRow = (i64, i64, i64, String, Option<i64>, Option<i64>, Option<i64>, i64);
const MSG_COLS: &str =
    "id, conversation_id, from_dealer, body, offer_cents, offer_quantity, offer_order_id, created_at";

fn message((id, conversation_id, from_dealer, body, cents, quantity, order_id, created_at): MessageRow) -> MessageView {
    let offer = cents.zip(quantity).map(|(unit_cents, quantity)| Offer { unit_cents, quantity, order_id });
    MessageView { id, conversation_id, from_dealer: from_dealer == 1, body, offer, created_at }
}

/// The thread of conversation `raw`, read up to its newest message by `user`'s side.
pub async fn thread(state: &AppState, user: &User, raw: &str) -> ApiResult<Thread> {
    let conversation = visible(state, user, raw).await?;
    let rows: Vec<MessageRow> =
        sqlx::query_as(&format!("SELECT {MSG_COLS} FROM messages WHERE conversation_id = $1 ORDER BY id"))
            .bind(conversation.id)
            .fetch_all(&state.db)
            .await?;
    let side = if user.role == Role::Customer { "customer_read" } else { "dealer_read" };
    // read up to the newest message shown (one written since stays unread), never backwards
    if let (true, Some(newest)) = (conversation.unread > 0, rows.last().map(|r| r.0)) {
        sqlx::query(&format!("UPDATE conversations SET {side} = $1 WHERE id = $2 AND {side} < $1"))
            .bind(newest)
            .bind(conversation.id)
            .execute(&state.db)
            .await?;
    }
    Ok(Thread {
        conversation: ConversationView { unread: 0, ..conversation },
        messages: rows.into_iter().map(message).collect(),
    })
}

fn check_body(body: &str) -> ApiResult<&str> {
    let b = body.trim();
    if b.is_empty() || b.chars().count() > MAX_BODY {
        return Err(ApiError::invalid(format!("body must have 1 to {MAX_BODY} characters")));
    }
    Ok(b)
}

/// Adds a message to conversation `c` from `user` (published live), marking it read for the writer.
pub async fn post(state: &AppState, user: &User, c: &ConversationView, m: &NewMessage) -> ApiResult<MessageView> {
    let body = check_body(&m.body)?;
    let from_dealer = user.role != Role::Customer;
    if from_dealer && !user.manages(c.store_id) {
        return Err(ApiError::Forbidden("only the store's dealer or an admin writes for the store".into()));
    }
    let offer = match (m.offer_cents, m.offer_quantity) {
        (None, None) => None,
        (Some(_), Some(_)) if !from_dealer => return Err(ApiError::Forbidden("only the store makes offers".into())),
        (Some(p), Some(q)) if (0..=100_000_000_000).contains(&p) && (1..=crate::cart::MAX_QUANTITY).contains(&q) => {
            Some((p, q))
        }
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid("an offer needs offer_cents in 0..=1e11 and offer_quantity in 1..=1000"))
        }
        _ => return Err(ApiError::invalid("an offer needs both offer_cents and offer_quantity")),
    };
    let now = crate::db::now();
    let mut tx = crate::db::write_tx(&state.db).await?;
    let row: MessageRow = sqlx::query_as(&format!(
        "INSERT INTO messages (conversation_id, author_id, from_dealer, body, offer_cents, offer_quantity, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {MSG_COLS}"
    ))
    .bind(c.id)
    .bind(user.id)
    .bind(from_dealer as i64)
    .bind(body)
    .bind(offer.map(|o| o.0))
    .bind(offer.map(|o| o.1))
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    let side = if from_dealer { "dealer_read" } else { "customer_read" };
    sqlx::query(&format!("UPDATE conversations SET last_message = $1, {side} = $1 WHERE id = $2"))
        .bind(row.0)
        .bind(c.id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    let msg = message(row);
    state.live.publish(Live { customer_id: c.customer_id, store_id: c.store_id, message: msg.clone() });
    metrics::counter!("shop_conversation_messages_total").increment(1);
    Ok(msg)
}

/// Starts (or continues: one conversation per customer and product) a conversation about a product.
pub async fn start(state: &AppState, user: &User, n: &NewConversation) -> ApiResult<(ConversationView, MessageView)> {
    if user.role != Role::Customer {
        return Err(ApiError::Forbidden("customers start conversations with a store".into()));
    }
    check_body(&n.body)?;
    let product = crate::catalog::product(&state.db, n.product_id).await?.filter(|p| p.active);
    let p = product.ok_or_else(|| ApiError::NotFound(format!("no product {}", n.product_id)))?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO conversations (customer_id, store_id, product_id, created_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (customer_id, product_id) DO UPDATE SET created_at = conversations.created_at RETURNING id",
    )
    .bind(user.id)
    .bind(p.store_id)
    .bind(p.id)
    .bind(crate::db::now())
    .fetch_one(&state.db)
    .await?;
    let c = visible(state, user, &id.to_string()).await?;
    let m = post(state, user, &c, &NewMessage { body: n.body.clone(), ..NewMessage::default() }).await?;
    Ok((c, m))
}

/// Accepts offer `offer` of conversation `raw` (its customer only): the cart line of the product becomes
/// the offer's quantity at the offer's unit price.
pub async fn accept(state: &AppState, user: &User, raw: &str, offer: &str) -> ApiResult<crate::cart::CartView> {
    let c = visible(state, user, raw).await?;
    if user.role != Role::Customer {
        return Err(ApiError::Forbidden("only the customer accepts an offer".into()));
    }
    let offer = parse_id("offer", offer)?;
    let row: Option<(Option<i64>, Option<i64>, Option<i64>)> = sqlx::query_as(
        "SELECT offer_cents, offer_quantity, offer_order_id FROM messages WHERE id = $1 AND conversation_id = $2",
    )
    .bind(offer)
    .bind(c.id)
    .fetch_optional(&state.db)
    .await?;
    let (cents, quantity) = match row {
        Some((Some(p), Some(q), None)) => (p, q),
        Some((Some(_), Some(_), Some(order))) => {
            return Err(ApiError::Conflict("offer_bought", format!("this offer was bought with order {order}")))
        }
        _ => return Err(ApiError::NotFound(format!("no offer {offer} in conversation {}", c.id))),
    };
    let active: Option<crate::db::Flag> = sqlx::query_scalar("SELECT active FROM products WHERE id = $1")
        .bind(c.product_id)
        .fetch_optional(&state.db)
        .await?;
    if active != Some(crate::db::Flag(true)) {
        return Err(ApiError::Conflict("not_for_sale", "the product is no longer for sale".into()));
    }
    let cart = crate::cart::user_cart(&state.db, user.id).await?;
    sqlx::query(
        "INSERT INTO cart_items (cart_id, product_id, quantity, offer_id, agreed_cents) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (cart_id, product_id) DO UPDATE SET quantity = excluded.quantity, offer_id = excluded.offer_id, agreed_cents = excluded.agreed_cents",
    )
    .bind(cart)
    .bind(c.product_id)
    .bind(quantity)
    .bind(offer)
    .bind(cents)
    .execute(&state.db)
    .await?;
    state.record_event(user.id, &[c.product_id], crate::reco::EventKind::Cart).await;
    crate::cart::view(state, Some(cart), None).await
}

/// A message for the live sockets, with who may see it.
#[derive(Debug, Clone)]
pub struct Live {
    customer_id: i64,
    store_id: i64,
    message: MessageView,
}

/// This process's live fan-out of new messages.
#[derive(Debug)]
pub struct Hub {
    tx: tokio::sync::broadcast::Sender<Live>,
}

impl Default for Hub {
    fn default() -> Self {
        Hub { tx: tokio::sync::broadcast::channel(1024).0 }
    }
}

impl Hub {
    fn publish(&self, live: Live) {
        let _ = self.tx.send(live); // no socket open: nobody to tell
    }
}

/// `GET /conversations`.
pub(crate) async fn get_list(State(state): State<AppState>, user: User) -> ApiResult<Json<Vec<ConversationView>>> {
    Ok(Json(list(&state, &user).await?))
}

/// `POST /conversations` (customers).
pub(crate) async fn create(
    State(state): State<AppState>,
    user: User,
    Json(n): Json<NewConversation>,
) -> ApiResult<(StatusCode, Json<Thread>)> {
    let (c, _) = start(&state, &user, &n).await?;
    Ok((StatusCode::CREATED, Json(thread(&state, &user, &c.id.to_string()).await?)))
}

/// `GET /conversations/{id}` (marks it read for the caller's side).
pub(crate) async fn get(State(state): State<AppState>, user: User, Path(id): Path<String>) -> ApiResult<Json<Thread>> {
    Ok(Json(thread(&state, &user, &id).await?))
}

/// `POST /conversations/{id}/messages`.
pub(crate) async fn send(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<String>,
    Json(m): Json<NewMessage>,
) -> ApiResult<(StatusCode, Json<MessageView>)> {
    let c = visible(&state, &user, &id).await?;
    Ok((StatusCode::CREATED, Json(post(&state, &user, &c, &m).await?)))
}

/// `POST /conversations/{id}/offers/{message_id}/accept` (the conversation's customer).
pub(crate) async fn accept_offer(
    State(state): State<AppState>,
    user: User,
    Path((id, offer)): Path<(String, String)>,
) -> ApiResult<Json<crate::cart::CartView>> {
    Ok(Json(accept(&state, &user, &id, &offer).await?))
}

/// `GET /conversations/live`: a WebSocket carrying `{"type": "message", "message": …}` for every new
/// message of a conversation the user may see. Browsers send the session cookie; a page of another site
/// cannot open it (its `Origin` must be this host's).
pub(crate) async fn live(
    State(state): State<AppState>,
    user: User,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> ApiResult<Response> {
    let origin = headers.get("origin").and_then(|v| v.to_str().ok());
    let host = headers.get("host").and_then(|v| v.to_str().ok());
    if let Some(o) = origin {
        let same = host.is_some_and(|h| o.split_once("://").is_some_and(|(_, rest)| rest.eq_ignore_ascii_case(h)));
        if !same {
            return Err(ApiError::Forbidden("a live connection must come from this site's pages".into()));
        }
    }
    let rx = state.live.tx.subscribe();
    Ok(ws.on_upgrade(move |socket| serve(socket, user, rx)))
}

async fn serve(mut socket: WebSocket, user: User, mut rx: tokio::sync::broadcast::Receiver<Live>) {
    use tokio::sync::broadcast::error::RecvError;
    loop {
        tokio::select! {
            got = rx.recv() => match got {
                Ok(l) => {
                    let mine = match user.role {
                        Role::Customer => l.customer_id == user.id,
                        Role::Dealer => Some(l.store_id) == user.store_id,
                        Role::Admin => true,
                    };
                    if !mine {
                        continue;
                    }
                    let text = serde_json::json!({"type": "message", "message": l.message}).to_string();
                    if socket.send(Message::Text(text.into())).await.is_err() {
                        return;
                    }
                }
                // a slow socket missed messages: tell it to reload rather than show a gap
                Err(RecvError::Lagged(_)) => {
                    if socket.send(Message::Text(r#"{"type":"reload"}"#.into())).await.is_err() {
                        return;
                    }
                }
                Err(RecvError::Closed) => return,
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {} // pings are answered by the library; clients send nothing else
            },
        }
    }
}
