//! The web storefront: server-rendered HTML pages for shoppers, on the same binary and database as the
//! JSON API.
//!
//! Templates (minijinja, Jinja2 syntax) and the one stylesheet and script are compiled into the binary
//! (`include_str!`): there is no front-end build step. Every page works without JavaScript — forms post
//! and the server redirects (post/redirect/get); the only script makes the chat widget answer in place.
//!
//! Sessions are the API's own (a `session` cookie, `HttpOnly`, `SameSite=Strict`), guest carts the
//! API's guest carts (their token in a `cart` cookie), and every page-changing request must come from the
//! shop's own pages ([`auth::same_origin`]: `Sec-Fetch-Site` / `Origin`). Pages reuse the API's logic
//! (search, cart, checkout with an idempotency key per attempt, orders, the assistant) by calling the
//! same functions, so both surfaces enforce the same rules.

mod dealer;
mod messages;
mod shopper;

use crate::auth::{self, User};
use crate::error::ApiError;
use crate::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use minijinja::{context, Environment, Value};
use std::sync::LazyLock;

/// The page templates, parsed once.
static PAGES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    for (name, source) in [
        ("base.html", include_str!("templates/base.html")),
        ("macros.html", include_str!("templates/macros.html")),
        ("home.html", include_str!("templates/home.html")),
        ("search.html", include_str!("templates/search.html")),
        ("product.html", include_str!("templates/product.html")),
        ("cart.html", include_str!("templates/cart.html")),
        ("checkout.html", include_str!("templates/checkout.html")),
        ("orders.html", include_str!("templates/orders.html")),
        ("order.html", include_str!("templates/order.html")),
        ("signin.html", include_str!("templates/signin.html")),
        ("error.html", include_str!("templates/error.html")),
        ("help.html", include_str!("templates/help.html")),
        ("messages.html", include_str!("templates/messages.html")),
        ("thread.html", include_str!("templates/thread.html")),
        ("dealer.html", include_str!("templates/dealer.html")),
        ("dealer_products.html", include_str!("templates/dealer_products.html")),
        ("dealer_product.html", include_str!("templates/dealer_product.html")),
        ("dealer_order.html", include_str!("templates/dealer_order.html")),
    ] {
        env.add_template(name, source).expect("templates compiled into the binary parse");
    }
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env
});

/// Unix seconds as the pages show them (UTC).
pub(crate) fn datetime(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0).map_or_else(String::new, |t| t.format("%Y-%m-%d %H:%M UTC").to_string())
}

/// The pages' routes (merged into the API router; none collides with an API path).
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(shopper::home))
        .route("/search", get(shopper::search))
        .route("/item/{id}", get(shopper::product))
        .route("/basket", get(shopper::cart))
        .route("/basket/{id}", post(shopper::set_quantity))
        .route("/basket/checkout", get(shopper::checkout_page).post(shopper::place_order))
        .route("/account/orders", get(shopper::orders))
        .route("/account/orders/{id}", get(shopper::order))
        .route("/account/orders/{id}/cancel", post(shopper::cancel))
        .route("/signin", get(shopper::signin_page).post(shopper::signin))
        .route("/register", get(shopper::register_page).post(shopper::register))
        .route("/signout", post(shopper::signout))
        .route("/help", post(shopper::help))
        .route("/messages", get(messages::list))
        .route("/messages/new", post(messages::start))
        .route("/messages/{id}", get(messages::thread).post(messages::send))
        .route("/messages/{id}/accept/{offer}", post(messages::accept))
        .route("/dealer", get(dealer::home))
        .route("/dealer/products", get(dealer::products))
        .route("/dealer/products/new", get(dealer::new_product).post(dealer::create))
        .route("/dealer/products/{id}", get(dealer::edit).post(dealer::update))
        .route("/dealer/orders", get(dealer::orders))
        .route("/dealer/orders/{id}", get(dealer::order))
        .route("/dealer/orders/{id}/ship", post(dealer::ship))
        .route("/dealer/orders/{id}/deliver", post(dealer::deliver))
        .route("/dealer/orders/{id}/refund", post(dealer::refund))
        .route("/static/app.css", get(|| async { asset("text/css", include_str!("static/app.css")) }))
        .route("/static/chat.js", get(|| async { asset("text/javascript", include_str!("static/chat.js")) }))
        .route("/static/live.js", get(|| async { asset("text/javascript", include_str!("static/live.js")) }))
}

fn asset(kind: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, kind), (header::CACHE_CONTROL, "public, max-age=3600")], body).into_response()
}

/// Renders a page (private: pages show the visitor's cart and account).
pub(crate) fn render(name: &str, ctx: Value) -> Response {
    match PAGES.get_template(name).and_then(|t| t.render(ctx)) {
        Ok(html) => ([(header::CACHE_CONTROL, "private, no-store")], Html(html)).into_response(),
        Err(e) => {
            tracing::error!(page = name, error = %e, "page did not render");
            (StatusCode::INTERNAL_SERVER_ERROR, "the page could not be rendered").into_response()
        }
    }
}

/// Who is looking: the signed-in user (from the `session` cookie), the guest cart's token (the `cart`
/// cookie). A request that changes something must come from the shop's own pages; an expired session is
/// a guest (the page offers to sign in), not an error.
#[derive(Debug, Clone)]
pub(crate) struct Visitor {
    pub user: Option<User>,
    pub cart_token: Option<String>,
}

impl FromRequestParts<AppState> for Visitor {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if !auth::same_origin(&parts.method, &parts.headers) {
            metrics::counter!("shop_csrf_rejected_total").increment(1);
            return Err(PageError(ApiError::Forbidden("this form must be sent from the shop's own pages".into())));
        }
        let user = match cookie(&parts.headers, "session") {
            Some(t) => state.sessions.lookup(&state.db, t).await?,
            None => None,
        };
        let cart_token = cookie(&parts.headers, "cart").map(str::to_string);
        Ok(Visitor { user, cart_token })
    }
}

impl Visitor {
    /// Headers that name the guest cart to the API's cart functions.
    pub(crate) fn cart_headers(&self) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(v) = self.cart_token.as_deref().and_then(|t| HeaderValue::from_str(t).ok()) {
            h.insert("x-cart-token", v);
        }
        h
    }

    /// The signed-in user, or a redirect to the sign-in page that comes back to `here`.
    pub(crate) fn require(&self, here: &str) -> Result<&User, PageError> {
        self.user.as_ref().ok_or_else(|| PageError::sign_in(here))
    }

    /// What every page shows: the user, the cart's size, unread messages (one query).
    pub(crate) async fn base(&self, state: &AppState) -> Result<Value, PageError> {
        const CART: &str = "SELECT CAST(sum(i.quantity) AS BIGINT) FROM cart_items i JOIN carts c ON c.id = i.cart_id";
        let (cart_count, unread): (Option<i64>, Option<i64>) = match (&self.user, self.cart_token.as_deref()) {
            (Some(u), _) => {
                let (unread, key) = crate::conversations::unread_total_sql(u, 2);
                sqlx::query_as(&format!("SELECT ({CART} WHERE c.user_id = $1), ({unread})"))
                    .bind(u.id)
                    .bind(key)
                    .fetch_one(&state.db)
                    .await?
            }
            (None, Some(t)) => (
                sqlx::query_scalar(&format!("{CART} WHERE c.guest_token_hash = $1"))
                    .bind(&auth::token_hash(t)[..])
                    .fetch_one(&state.db)
                    .await?,
                None,
            ),
            (None, None) => (None, None),
        };
        Ok(context! { user => self.user, cart_count => cart_count.unwrap_or(0), unread => unread.unwrap_or(0) })
    }
}

/// A cookie's value.
pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, v)| *k == name && !v.is_empty())
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value: `HttpOnly`, for the whole site, `max_age` seconds (0 deletes it), `Secure` unless
/// the shop serves plain HTTP on loopback ([`Config::wants_secure_cookies`](crate::config::Config::wants_secure_cookies)).
pub(crate) fn set_cookie(state: &AppState, name: &str, value: &str, max_age: u64, same_site: &str) -> HeaderValue {
    let secure = if state.config.wants_secure_cookies() { "; Secure" } else { "" };
    HeaderValue::from_str(&format!("{name}={value}; Path=/; HttpOnly; SameSite={same_site}; Max-Age={max_age}{secure}"))
        .unwrap_or_else(|_| HeaderValue::from_static("invalid=; Max-Age=0"))
}

/// A redirect after a form (303: the browser follows with a GET).
pub(crate) fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// Where a `next` parameter may send the visitor back to: a path of this site only.
pub(crate) fn local_path(next: Option<&str>) -> &str {
    // Browsers drop tabs and newlines from URLs ("/\t/evil" is "//evil"), and treat "\" as "/".
    let on_site = |n: &str| {
        n.starts_with('/')
            && !n[1..].starts_with(['/', '\\'])
            && !n.chars().any(|c| c.is_control() || c.is_whitespace() || c == '\\')
    };
    match next {
        Some(n) if on_site(n) => n,
        _ => "/",
    }
}

/// An error shown as a page (sign-in needed: a redirect to the sign-in page).
#[derive(Debug)]
pub(crate) struct PageError(pub ApiError);

impl PageError {
    pub(crate) fn sign_in(here: &str) -> Self {
        PageError(ApiError::Denied("sign_in", here.to_string()))
    }
}

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        PageError(e)
    }
}

impl From<sqlx::Error> for PageError {
    fn from(e: sqlx::Error) -> Self {
        PageError(e.into())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        if let ApiError::Denied("sign_in", here) = &self.0 {
            let next: String = url::form_urlencoded::byte_serialize(here.as_bytes()).collect();
            return see_other(&format!("/signin?next={next}"));
        }
        if let ApiError::Internal(cause) = &self.0 {
            tracing::error!(%cause, "internal error on a page");
        }
        let status = self.0.status();
        let title = status.canonical_reason().unwrap_or("Error");
        let message = match &self.0 {
            ApiError::Internal(_) => "Something went wrong on our side. Please try again.".to_string(),
            e => e.to_string(),
        };
        let mut r = render("error.html", context! { title, message });
        *r.status_mut() = status;
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_parses_and_next_stays_on_site() {
        for name in ["home.html", "search.html", "product.html", "cart.html", "checkout.html", "orders.html"] {
            assert!(PAGES.get_template(name).is_ok(), "{name}");
        }
        assert_eq!(local_path(Some("/basket")), "/basket");
        for bad in
            ["//evil.example", "https://evil.example", "/\\evil", "", "/\t/evil.example", "/\n/x", "/ /x", "/a\\b"]
        {
            assert_eq!(local_path(Some(bad)), "/", "{bad}");
        }
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_static("a=1; session=tok; cart="));
        assert_eq!((cookie(&h, "session"), cookie(&h, "cart"), cookie(&h, "b")), (Some("tok"), None, None));
    }
}
