//! Conversation pages (customer and dealer alike): the list with unread counts, a thread with its live
//! updates (`static/live.js`), writing, the dealer's offers, and accepting an offer into the cart.

use super::{render, see_other, PageError, Visitor};
use crate::conversations::{self, NewConversation, NewMessage};
use crate::error::{ApiError, Path};
use crate::AppState;
use axum::extract::State;
use axum::Form;
use minijinja::context;
use serde::Deserialize;

type Page = Result<axum::response::Response, PageError>;

/// `GET /messages`.
pub(crate) async fn list(State(state): State<AppState>, v: Visitor) -> Page {
    let user = v.require("/messages")?;
    let conversations = conversations::list(&state, user).await?;
    let base = v.base(&state).await?;
    Ok(render("messages.html", context! { title => "Messages", conversations, ..base }))
}

async fn show(state: &AppState, v: &Visitor, id: &str, error: Option<String>) -> Page {
    let user = v.require(&format!("/messages/{id}"))?;
    let t = conversations::thread(state, user, id).await?;
    let base = v.base(state).await?;
    let title = format!("About {}", t.conversation.product_name);
    Ok(render("thread.html", context! { title, c => t.conversation, messages => t.messages, error, ..base }))
}

/// `GET /messages/{id}` (marks the thread read).
pub(crate) async fn thread(State(state): State<AppState>, v: Visitor, Path(id): Path<String>) -> Page {
    show(&state, &v, &id, None).await
}

/// A message form: text, and for the store's side an optional offer (unit price in pounds, quantity).
#[derive(Debug, Deserialize)]
pub(crate) struct MessageForm {
    body: String,
    offer_price: Option<String>,
    offer_quantity: Option<String>,
}

fn offer(f: &MessageForm) -> Result<(Option<i64>, Option<i64>), ApiError> {
    let field = |s: &Option<String>| s.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string);
    let price = match field(&f.offer_price) {
        Some(p) => match p.parse::<f64>() {
            Ok(x) if x.is_finite() && x >= 0.0 => Some((x * 100.0).round() as i64),
            _ => {
                return Err(ApiError::invalid(format!("the offer's unit price must be pounds, like 12.50 (got {p:?})")))
            }
        },
        None => None,
    };
    let quantity = match field(&f.offer_quantity) {
        Some(q) => Some(
            q.parse::<i64>()
                .map_err(|_| ApiError::invalid(format!("the offer's quantity must be a whole number (got {q:?})")))?,
        ),
        None => None,
    };
    Ok((price, quantity))
}

/// `POST /messages/{id}`: writes (a wrong offer is shown on the thread, nothing sent).
pub(crate) async fn send(
    State(state): State<AppState>,
    v: Visitor,
    Path(id): Path<String>,
    Form(f): Form<MessageForm>,
) -> Page {
    let user = v.require(&format!("/messages/{id}"))?;
    let c = conversations::visible(&state, user, &id).await?;
    let sent = match offer(&f) {
        Ok((offer_cents, offer_quantity)) => {
            let m = NewMessage { body: f.body.clone(), offer_cents, offer_quantity };
            conversations::post(&state, user, &c, &m).await.map(|_| ())
        }
        Err(e) => Err(e),
    };
    match sent {
        Ok(()) => Ok(see_other(&format!("/messages/{}", c.id))),
        Err(e @ (ApiError::BadRequest(..) | ApiError::Forbidden(_))) => {
            let mut r = show(&state, &v, &id, Some(e.to_string())).await?;
            *r.status_mut() = e.status();
            Ok(r)
        }
        Err(e) => Err(e.into()),
    }
}

/// The product page's "ask the seller" form.
#[derive(Debug, Deserialize)]
pub(crate) struct AskForm {
    product_id: i64,
    body: String,
}

/// `POST /messages/new`: starts (or continues) the conversation about a product.
pub(crate) async fn start(State(state): State<AppState>, v: Visitor, Form(f): Form<AskForm>) -> Page {
    let user = v.require(&format!("/item/{}", f.product_id))?;
    let (c, _) =
        conversations::start(&state, user, &NewConversation { product_id: f.product_id, body: f.body }).await?;
    Ok(see_other(&format!("/messages/{}", c.id)))
}

/// `POST /messages/{id}/accept/{offer}`: the offer's line into the cart; then the cart.
pub(crate) async fn accept(
    State(state): State<AppState>,
    v: Visitor,
    Path((id, offer)): Path<(String, String)>,
) -> Page {
    let user = v.require(&format!("/messages/{id}"))?;
    conversations::accept(&state, user, &id, &offer).await?;
    Ok(see_other("/basket"))
}
