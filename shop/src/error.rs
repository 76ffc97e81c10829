//! [`ApiError`]: every failure a handler returns, as a status and a JSON body
//! `{"error": {"code": "...", "message": "..."}}`. Internal causes are logged, not shown.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// A handler's failure.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is malformed or a value is out of range.
    #[error("{1}")]
    BadRequest(&'static str, String),
    /// 401: no valid session.
    #[error("sign in first")]
    Unauthorized,
    /// 403: signed in, but not allowed.
    #[error("{0}")]
    Forbidden(String),
    /// 403 with its own code (e.g. `csrf_rejected`).
    #[error("{1}")]
    Denied(&'static str, String),
    /// 404: no such object (also for objects of someone else: ids cannot be probed).
    #[error("{0}")]
    NotFound(String),
    /// 409: conflicts with the current state (out of stock, request still running, wrong order state).
    #[error("{1}")]
    Conflict(&'static str, String),
    /// 413: body too large.
    #[error("request body too large")]
    TooLarge,
    /// 422: well-formed but unusable (same idempotency key with another body, empty cart …).
    #[error("{1}")]
    Unprocessable(&'static str, String),
    /// 429: rate limited.
    #[error("too many requests; retry in {0} s")]
    TooManyRequests(u64),
    /// 402: the payment was declined or could not be taken.
    #[error("{0}")]
    PaymentFailed(String),
    /// 503: the service is overloaded or shutting down.
    #[error("{0}")]
    Unavailable(String),
    /// 500: a bug or a broken database; the cause is logged.
    #[error("internal error")]
    Internal(String),
}

/// `Result` with [`ApiError`].
pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(..) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) | ApiError::Denied(..) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(..) => StatusCode::CONFLICT,
            ApiError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unprocessable(..) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::PaymentFailed(_) => StatusCode::PAYMENT_REQUIRED,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(c, _)
            | ApiError::Conflict(c, _)
            | ApiError::Unprocessable(c, _)
            | ApiError::Denied(c, _) => c,
            ApiError::Unauthorized => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::TooLarge => "body_too_large",
            ApiError::TooManyRequests(_) => "rate_limited",
            ApiError::PaymentFailed(_) => "payment_failed",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }

    /// The JSON body.
    pub fn body(&self) -> serde_json::Value {
        json!({"error": {"code": self.code(), "message": self.to_string()}})
    }

    /// Shorthand for a 400 with code `invalid`.
    pub fn invalid(msg: impl Into<String>) -> Self {
        ApiError::BadRequest("invalid", msg.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(cause) = &self {
            tracing::error!(%cause, "internal error");
        }
        let mut resp = (self.status(), axum::Json(self.body())).into_response();
        if let ApiError::TooManyRequests(s) = self {
            resp.headers_mut().insert("retry-after", s.into());
        }
        resp
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::PoolTimedOut => ApiError::Unavailable("all database connections busy; retry".into()),
            sqlx::Error::Database(d) if d.message().contains("database is locked") => {
                tracing::warn!(error = %d, "database locked");
                ApiError::Unavailable(format!("database busy; retry ({})", d.message()))
            }
            _ => ApiError::Internal(e.to_string()),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        match r {
            JsonRejection::BytesRejection(b) if b.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::TooLarge,
            JsonRejection::MissingJsonContentType(_) => {
                ApiError::BadRequest("content_type", "send the body as JSON (Content-Type: application/json)".into())
            }
            other => ApiError::BadRequest("malformed_json", other.body_text()),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::BadRequest("invalid_query", r.body_text())
    }
}

/// The JSON schema of [`ApiError::body`] (for the OpenAPI document).
pub fn schema() -> serde_json::Value {
    json!({"type": "object", "required": ["error"], "properties": {"error": {"type": "object", "required": ["code", "message"],
        "properties": {"code": {"type": "string", "description": "stable, machine-readable"}, "message": {"type": "string"}}}}})
}

/// A JSON body whose rejection is an [`ApiError`] (JSON, not axum's plain-text rejection).
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T, S> axum::extract::FromRequest<S> for Json<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        if !json_content_type(req.headers()) {
            return Err(JsonRejection::from(axum::extract::rejection::MissingJsonContentType::default()).into());
        }
        let bytes = bytes::Bytes::from_request(req, state).await.map_err(|r| match r.status() {
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::TooLarge,
            _ => ApiError::BadRequest("malformed_json", r.body_text()),
        })?;
        reject_nul(&bytes)?;
        let axum::Json(v) = axum::Json::<T>::from_bytes(&bytes)?;
        Ok(Json(v))
    }
}

/// `application/json` or `application/*+json`, as axum's own `Json` accepts.
fn json_content_type(headers: &axum::http::HeaderMap) -> bool {
    let Some(ct) = headers.get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else { return false };
    let essence = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// A 400 for text holding NUL (`\u0000` in JSON, `%00` in a query): PostgreSQL cannot store it, and no
/// name, e-mail, address or message needs it.
fn reject_nul(raw: &[u8]) -> ApiResult<()> {
    let mut backslashes = 0usize;
    for (i, &b) in raw.iter().enumerate() {
        if b == b'\\' {
            backslashes += 1;
            continue;
        }
        // An escape starts at a backslash preceded by an even number of backslashes.
        let escaped_u = b == b'u' && backslashes % 2 == 1;
        backslashes = 0;
        if escaped_u && raw.get(i + 1..i + 5).is_some_and(|h| h == b"0000") {
            return Err(ApiError::invalid("text must not contain NUL characters (\\u0000)"));
        }
    }
    Ok(())
}

impl<T: serde::Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// Query parameters whose rejection is an [`ApiError`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<T, S> axum::extract::FromRequestParts<S> for Query<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, Self::Rejection> {
        if parts.uri.query().is_some_and(|q| q.to_ascii_lowercase().contains("%00")) {
            return Err(ApiError::invalid("query parameters must not contain NUL characters (%00)"));
        }
        let axum::extract::Query(v) = axum::extract::Query::<T>::from_request_parts(parts, state).await?;
        Ok(Query(v))
    }
}

/// Path parameters whose rejection (e.g. invalid percent-encoding) is an [`ApiError`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Path<T>(pub T);

impl<T, S> axum::extract::FromRequestParts<S> for Path<T>
where
    T: serde::de::DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(Path(v)),
            Err(r) => Err(ApiError::BadRequest("invalid_path", r.body_text())),
        }
    }
}

/// A path id: a positive integer, else a 404 (an id that cannot exist is simply not found).
pub fn parse_id(what: &str, raw: &str) -> ApiResult<i64> {
    raw.parse::<i64>().ok().filter(|&v| v > 0).ok_or_else(|| ApiError::NotFound(format!("no {what} {raw:?}")))
}

#[cfg(test)]
mod tests {
    use super::reject_nul;

    #[test]
    fn nul_escapes_are_found_and_escaped_backslashes_are_not() {
        assert!(reject_nul(br#"{"email": "a\u0000@b.c"}"#).is_err());
        assert!(reject_nul(br#"{"m": "x\\\u0000"}"#).is_err(), "an escaped backslash, then \\u0000");
        assert!(reject_nul(br#"{"m": "x\\u0000"}"#).is_ok(), "the text \\u0000, not a NUL");
        assert!(reject_nul(br#"{"m": "\u00001"}"#).is_err());
        assert!(reject_nul(br#"{"m": "\u0001 and 0000"}"#).is_ok());
    }
}
