//! The shopper's pages: home, search, product, cart, checkout, orders, sign-in and registration, and
//! the chat widget's no-JavaScript path.

use super::{local_path, render, see_other, set_cookie, PageError, Visitor};
use crate::auth::Role;
use crate::checkout::CheckoutReq;
use crate::error::{ApiError, Json, Path, Query};
use crate::ops::ClientIp;
use crate::search::SearchParams;
use crate::AppState;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::Response;
use axum::Form;
use minijinja::{context, Value};
use serde::Deserialize;

type Page = Result<Response, PageError>;

/// A recommender answer's items (its JSON, as the API sends it).
fn items(body: &[u8]) -> Value {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    Value::from_serialize(&v["items"])
}

/// `GET /`: recommendations (personal for a customer; for a guest, from the guest cart, else popular),
/// and "continue where you left off": what the sequential model puts after the product the visitor last
/// touched (viewed, carted, bought; a guest: the cart's last line).
pub(crate) async fn home(State(state): State<AppState>, v: Visitor) -> Page {
    let base = v.base(&state).await?;
    let customer = v.user.as_ref().filter(|u| u.role == Role::Customer);
    let guest = match customer {
        None => crate::cart::guest_sequence(&state, &v.cart_headers()).await?,
        Some(_) => Vec::new(),
    };
    let recs = state.reco.recommend_json(customer, &guest, 8)?;
    let anchor = match customer {
        Some(u) => state.reco.last_touched(u.id),
        None => guest.last().copied(),
    };
    let (last, next_items) = match anchor {
        Some(pid) => match crate::catalog::product(&state.db, pid).await?.filter(|p| p.active) {
            Some(p) => (Value::from_serialize(&p), items(&state.reco.next_json(customer, &guest, pid, 4)?)),
            None => (Value::UNDEFINED, Value::UNDEFINED),
        },
        None => (Value::UNDEFINED, Value::UNDEFINED),
    };
    let personal = customer.is_some() || !guest.is_empty();
    Ok(render("home.html", context! { title => "Home", recs => items(&recs), personal, last, next_items, ..base }))
}

/// The search form (every field text: an empty box is "no filter", a bad number a message).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct SearchForm {
    q: Option<String>,
    category: Option<String>,
    min_price: Option<String>,
    max_price: Option<String>,
    in_stock: Option<String>,
    sort: Option<String>,
    page: Option<String>,
}

const SORTS: [(&str, &str); 5] = [
    ("relevance", "Best match"),
    ("popularity", "Most popular"),
    ("price_asc", "Price: low to high"),
    ("price_desc", "Price: high to low"),
    ("newest", "Newest"),
];
const PER_PAGE: u32 = 20;

fn filled(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// `GET /search`: full-text search with category facets, price and stock filters, sorting and pages.
pub(crate) async fn search(State(state): State<AppState>, v: Visitor, Query(f): Query<SearchForm>) -> Page {
    let base = v.base(&state).await?;
    let mut error = None;
    let mut price = |s: &Option<String>, what: &str| match filled(s).map(str::parse::<f64>) {
        Some(Ok(x)) if x.is_finite() && x >= 0.0 => Some(x),
        Some(_) => {
            error = Some(format!("The {what} price must be a number of pounds, like 4.95."));
            None
        }
        None => None,
    };
    let (min_price, max_price) = (price(&f.min_price, "lowest"), price(&f.max_price, "highest"));
    let sort = filled(&f.sort).filter(|s| SORTS.iter().any(|(k, _)| k == s)).unwrap_or("relevance");
    let page = filled(&f.page).and_then(|p| p.parse::<u32>().ok()).filter(|p| (1..=10_000).contains(p)).unwrap_or(1);
    let params = SearchParams {
        q: filled(&f.q).map(str::to_string),
        category: filled(&f.category).map(str::to_string),
        min_price,
        max_price,
        in_stock: Some(filled(&f.in_stock).is_some()),
        sort: Some(sort.to_string()),
        page: Some(page),
        per_page: Some(PER_PAGE),
        ..SearchParams::default()
    };
    // The API's search and its answer cache.
    let body = match crate::search::find_json(&state, None, params).await {
        Ok(body) => Some(body),
        Err(ApiError::BadRequest(_, m)) => {
            error = Some(m);
            None
        }
        Err(e) => return Err(e.into()),
    };
    let found: Option<serde_json::Value> =
        body.map(|b| serde_json::from_slice(&b)).transpose().map_err(|e| ApiError::Internal(e.to_string()))?;
    let total = found.as_ref().and_then(|p| p["total"].as_i64()).unwrap_or(0);
    let pages = ((total + PER_PAGE as i64 - 1) / PER_PAGE as i64).max(1) as u32;
    let link = |p: u32| {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in [("q", &f.q), ("category", &f.category), ("min_price", &f.min_price), ("max_price", &f.max_price)]
        {
            if let Some(v) = filled(v) {
                q.append_pair(k, v);
            }
        }
        if filled(&f.in_stock).is_some() {
            q.append_pair("in_stock", "true");
        }
        q.append_pair("sort", sort).append_pair("page", &p.to_string());
        format!("/search?{}", q.finish())
    };
    Ok(render(
        "search.html",
        context! {
            title => "Search",
            q => filled(&f.q),
            category => filled(&f.category),
            min_price => filled(&f.min_price),
            max_price => filled(&f.max_price),
            in_stock => filled(&f.in_stock).is_some(),
            sort,
            sorts => SORTS,
            error,
            total,
            page,
            pages,
            items => found.as_ref().map(|p| Value::from_serialize(&p["items"])),
            facets => found.as_ref().map(|p| Value::from_serialize(&p["categories"])),
            prev_url => (page > 1).then(|| link(page - 1)),
            next_url => (page < pages).then(|| link(page + 1)),
            ..base
        },
    ))
}

/// `GET /item/{id}`: the product, similar items, and what the sequential model puts next after the
/// visitor's sequence and this product ("because you viewed this"). A customer's visit is a view event.
pub(crate) async fn product(State(state): State<AppState>, v: Visitor, Path(id): Path<String>) -> Page {
    let id = crate::error::parse_id("product", &id)?;
    let p = crate::catalog::product(&state.db, id).await?.filter(|p| p.active);
    let p = p.ok_or_else(|| crate::error::ApiError::NotFound(format!("There is no product {id}.")))?;
    let customer = v.user.as_ref().filter(|u| u.role == Role::Customer);
    if let Some(u) = customer {
        state.record_event(u.id, &[p.id], crate::reco::EventKind::View).await;
    }
    let guest = match customer {
        None => crate::cart::guest_sequence(&state, &v.cart_headers()).await?,
        Some(_) => Vec::new(),
    };
    let next_items = items(&state.reco.next_json(customer, &guest, p.id, 4)?);
    let similar = items(&state.reco.similar_json(p.id, 4)?);
    let base = v.base(&state).await?;
    Ok(render("product.html", context! { title => p.name.clone(), p, next_items, similar, ..base }))
}

/// `GET /basket`.
pub(crate) async fn cart(State(state): State<AppState>, v: Visitor) -> Page {
    let base = v.base(&state).await?;
    let view = cart_view(&state, &v).await?;
    Ok(render(
        "cart.html",
        context! { title => "Your cart", items => view.items, total_cents => view.total_cents, ..base },
    ))
}

async fn cart_view(state: &AppState, v: &Visitor) -> Result<crate::cart::CartView, PageError> {
    Ok(visitor_cart(state, v).await?.0)
}

/// The visitor's cart (the account's, or the guest cart its cookie names), and the headers that name it (a guest cart cookie whose cart
/// is gone — merged into an account, purged — is an empty cart, and the next line starts a new one).
async fn visitor_cart(state: &AppState, v: &Visitor) -> Result<(crate::cart::CartView, HeaderMap), PageError> {
    let headers = v.cart_headers();
    match crate::cart::get(State(state.clone()), crate::auth::MaybeUser(v.user.clone()), headers.clone()).await {
        Ok(Json(view)) => Ok((view, headers)),
        Err(crate::error::ApiError::NotFound(_)) => {
            Ok((crate::cart::CartView { items: Vec::new(), total_cents: 0, cart_token: None }, HeaderMap::new()))
        }
        Err(e) => Err(e.into()),
    }
}

/// A cart line's form: the new quantity, or (`add`) units to add.
#[derive(Debug, Deserialize)]
pub(crate) struct QuantityForm {
    quantity: String,
    add: Option<String>,
}

/// `POST /basket/{id}`: sets a line's quantity (0 removes it) or adds units; a guest's first line
/// creates the guest cart (its token in the `cart` cookie).
pub(crate) async fn set_quantity(
    State(state): State<AppState>,
    v: Visitor,
    Path(id): Path<String>,
    Form(f): Form<QuantityForm>,
) -> Page {
    let pid = crate::error::parse_id("product", &id)?;
    let mut q: i64 = f.quantity.trim().parse().map_err(|_| {
        crate::error::ApiError::invalid(format!("quantity must be a whole number (got {:?})", f.quantity))
    })?;
    let (view, headers) = visitor_cart(&state, &v).await?;
    if f.add.is_some() {
        q += view.items.iter().find(|l| l.product_id == pid).map_or(0, |l| l.quantity);
    }
    let user = crate::auth::MaybeUser(v.user.clone());
    let q = Json(crate::cart::Quantity::new(q));
    let Json(view) = crate::cart::put_item(State(state.clone()), user, headers, Path(pid.to_string()), q).await?;
    let mut r = see_other("/basket");
    if let Some(t) = view.cart_token {
        r.headers_mut().append(header::SET_COOKIE, set_cookie(&state, "cart", &t, 30 * 86_400, "Lax"));
    }
    Ok(r)
}

/// `GET /basket/checkout`: the order summary and the address form, with a fresh idempotency key: a
/// double-clicked or re-sent form places one order, and a new visit to this page is a new attempt.
pub(crate) async fn checkout_page(State(state): State<AppState>, v: Visitor) -> Page {
    v.require("/basket/checkout")?;
    let base = v.base(&state).await?;
    let view = cart_view(&state, &v).await?;
    let stores = stores_of(&view);
    let key = crate::auth::random_token();
    Ok(render(
        "checkout.html",
        context! { title => "Check out", key, stores, items => view.items, total_cents => view.total_cents, ..base },
    ))
}

/// The stores of the cart's lines for sale (checkout pays one store at a time).
fn stores_of(view: &crate::cart::CartView) -> Vec<i64> {
    let mut stores: Vec<i64> = view.items.iter().filter(|l| l.available).map(|l| l.store_id).collect();
    stores.sort_unstable();
    stores.dedup();
    stores
}

/// The checkout form.
#[derive(Debug, Deserialize)]
pub(crate) struct CheckoutForm {
    key: String,
    ship_to: String,
    store_id: Option<i64>,
}

/// `POST /basket/checkout`: the API's checkout with the page's idempotency key; then the order's page.
pub(crate) async fn place_order(State(state): State<AppState>, v: Visitor, Form(f): Form<CheckoutForm>) -> Page {
    let user = v.require("/basket/checkout")?.clone();
    let mut headers = HeaderMap::new();
    let key = HeaderValue::from_str(&f.key)
        .map_err(|_| crate::error::ApiError::invalid("the form's key is damaged; reload the page"))?;
    headers.insert("idempotency-key", key);
    let req = CheckoutReq { ship_to: f.ship_to.clone(), items: None, store_id: f.store_id };
    let resp = crate::checkout::checkout(State(state.clone()), user, headers, Json(req)).await;
    let error = match resp {
        Ok(r) if r.status().is_success() => {
            let body = axum::body::to_bytes(r.into_body(), 1 << 20)
                .await
                .map_err(|e| crate::error::ApiError::Internal(e.to_string()))?;
            let order: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            let id = order["id"]
                .as_i64()
                .ok_or_else(|| crate::error::ApiError::Internal("checkout answered no id".into()))?;
            return Ok(see_other(&format!("/account/orders/{id}")));
        }
        Ok(r) => {
            let body = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap_or_default();
            let e: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            e["error"]["message"].as_str().unwrap_or("the order could not be placed").to_string()
        }
        Err(e) => e.to_string(),
    };
    let base = v.base(&state).await?;
    let view = cart_view(&state, &v).await?;
    let key = crate::auth::random_token();
    let (ship_to, stores) = (f.ship_to, stores_of(&view));
    let mut r = render(
        "checkout.html",
        context! { title => "Check out", key, error, ship_to, stores, items => view.items, total_cents => view.total_cents, ..base },
    );
    *r.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
    Ok(r)
}

/// `GET /account/orders`.
pub(crate) async fn orders(State(state): State<AppState>, v: Visitor) -> Page {
    let user = v.require("/account/orders")?.clone();
    let Json(list) = crate::orders::list(State(state.clone()), user, Query(Default::default())).await?;
    let orders: Vec<Value> = list
        .iter()
        .map(|o| {
            let placed =
                chrono::DateTime::from_timestamp(o.created_at, 0).map(|t| t.format("%Y-%m-%d %H:%M").to_string());
            context! { id => o.id, status => format!("{:?}", o.status), total_cents => o.total_cents, placed }
        })
        .collect();
    let base = v.base(&state).await?;
    Ok(render("orders.html", context! { title => "Your orders", orders, base => "/account/orders", ..base }))
}

/// `GET /account/orders/{id}`: the order, and a cancel button while it can be cancelled.
pub(crate) async fn order(State(state): State<AppState>, v: Visitor, Path(id): Path<String>) -> Page {
    let user = v.require(&format!("/account/orders/{id}"))?.clone();
    let o = crate::orders::visible_order(&state, &user, &id).await?;
    let mut actions = Vec::new();
    if o.status.can_become(crate::orders::Status::Cancelled) && o.status != crate::orders::Status::Created {
        actions.push(context! { url => format!("/account/orders/{}/cancel", o.id), label => "Cancel this order" });
    }
    let placed = super::datetime(o.created_at);
    let base = v.base(&state).await?;
    let status = format!("{:?}", o.status);
    let view = context! { status, placed, ..Value::from_serialize(&o) };
    Ok(render("order.html", context! { title => format!("Order {}", o.id), o => view, actions, ..base }))
}

/// `POST /account/orders/{id}/cancel`.
pub(crate) async fn cancel(State(state): State<AppState>, v: Visitor, Path(id): Path<String>) -> Page {
    let user = v.require(&format!("/account/orders/{id}"))?.clone();
    let c = crate::orders::cancel_order(&state, &user, &id).await?;
    Ok(see_other(&format!("/account/orders/{}", c.order.id)))
}

/// `?next=` of the sign-in and registration pages.
#[derive(Debug, Deserialize)]
pub(crate) struct Next {
    next: Option<String>,
}

/// The sign-in and registration form.
#[derive(Debug, Deserialize)]
pub(crate) struct SignInForm {
    email: String,
    password: String,
    next: Option<String>,
}

async fn auth_page(
    state: &AppState,
    v: &Visitor,
    register: bool,
    next: &str,
    email: &str,
    error: Option<String>,
) -> Page {
    let base = v.base(state).await?;
    let (title, action) = if register { ("Register", "/register") } else { ("Sign in", "/signin") };
    let mut r =
        render("signin.html", context! { title, action, register, next, email, error => error.clone(), ..base });
    if error.is_some() {
        *r.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(r)
}

/// `GET /signin`.
pub(crate) async fn signin_page(State(state): State<AppState>, v: Visitor, Query(n): Query<Next>) -> Page {
    auth_page(&state, &v, false, local_path(n.next.as_deref()), "", None).await
}

/// `GET /register`.
pub(crate) async fn register_page(State(state): State<AppState>, v: Visitor, Query(n): Query<Next>) -> Page {
    auth_page(&state, &v, true, local_path(n.next.as_deref()), "", None).await
}

/// Signed in: the session cookie set, the guest cart (merged by the API) forgotten, back to `next`.
fn signed_in(state: &AppState, token: &str, next: &str) -> Response {
    let mut r = see_other(next);
    let h = r.headers_mut();
    h.append(header::SET_COOKIE, set_cookie(state, "session", token, state.config.session_hours * 3600, "Strict"));
    h.append(header::SET_COOKIE, set_cookie(state, "cart", "", 0, "Lax"));
    r
}

/// `POST /signin` (the API's login: same rate limits; the guest cart merges into the account's).
pub(crate) async fn signin(State(state): State<AppState>, v: Visitor, ip: ClientIp, Form(f): Form<SignInForm>) -> Page {
    authenticate(state, v, ip, f, false).await
}

/// `POST /register` (a customer account; the guest cart merges into it).
pub(crate) async fn register(
    State(state): State<AppState>,
    v: Visitor,
    ip: ClientIp,
    Form(f): Form<SignInForm>,
) -> Page {
    authenticate(state, v, ip, f, true).await
}

/// Signs in or registers through the API's functions; a refusal is shown on the form.
async fn authenticate(state: AppState, v: Visitor, ip: ClientIp, f: SignInForm, register: bool) -> Page {
    use crate::error::ApiError::{BadRequest, Conflict, TooManyRequests};
    let next = local_path(f.next.as_deref()).to_string();
    let creds = Json(crate::auth::Credentials::new(f.email.clone(), f.password));
    let signed = match register {
        true => crate::auth::register(State(state.clone()), v.cart_headers(), ip, creds).await.map(|(_, s)| s),
        false => crate::auth::login(State(state.clone()), v.cart_headers(), ip, creds).await,
    };
    match signed {
        Ok(Json(s)) => Ok(signed_in(&state, &s.token, &next)),
        Err(e @ (BadRequest(..) | Conflict(..) | TooManyRequests(_))) => {
            auth_page(&state, &v, register, &next, &f.email, Some(e.to_string())).await
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /signout`: the session ended and its cookie deleted.
pub(crate) async fn signout(State(state): State<AppState>, _v: Visitor, headers: HeaderMap) -> Page {
    if let Some(t) = super::cookie(&headers, "session") {
        state.sessions.end(&state.db, t).await?;
    }
    let mut r = see_other("/");
    r.headers_mut().append(header::SET_COOKIE, set_cookie(&state, "session", "", 0, "Strict"));
    Ok(r)
}

/// The chat widget's form.
#[derive(Debug, Deserialize)]
pub(crate) struct HelpForm {
    message: String,
    conversation: Option<String>,
}

/// `POST /help`: the chat widget without JavaScript — the assistant's answer on a page.
pub(crate) async fn help(State(state): State<AppState>, v: Visitor, Form(f): Form<HelpForm>) -> Page {
    let conversation = filled(&f.conversation).map(str::to_string);
    let req = crate::chat::ChatReq::new(f.message.clone(), conversation);
    let Json(a) = crate::chat::chat(State(state.clone()), crate::auth::MaybeUser(v.user.clone()), Json(req)).await?;
    let base = v.base(&state).await?;
    let chat_log = [context! { who => "me", text => f.message }, context! { who => "bot", text => a.text() }];
    Ok(render(
        "help.html",
        context! { title => "Help", chat_open => true, chat_log, conversation => a.conversation(), ..base },
    ))
}
