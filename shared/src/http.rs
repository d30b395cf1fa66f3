//! What the HTTP functions share: the caller's tenant, the error envelope, JSON responses.

use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;
use tracing::error;

use crate::domain::TenantId;

/// An error as the caller sees it: `{"error": {"code", "message", "field"?}}`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    Validation {
        field: &'static str,
        message: String,
    },
    #[error("missing or invalid credentials")]
    Unauthenticated,
    /// Authenticated, but the token lacks what the route requires (e.g. the admin scope).
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    #[error("route not found")]
    NoRoute,
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The body is over [`MAX_BODY_BYTES`]; refused before anything reads it.
    #[error("the request body is larger than {limit} bytes (256 KB)")]
    PayloadTooLarge { limit: usize },
    /// The tenant is at one of its limits (named); nothing was done. Retry after the time given.
    #[error("{message}")]
    LimitReached {
        limit: &'static str,
        message: String,
        retry_after: std::time::Duration,
    },
    /// A dependency is briefly unavailable; the caller can retry. The cause is logged.
    #[error("temporarily unavailable; retry shortly")]
    Unavailable(#[source] anyhow::Error),
    /// Anything that went wrong on our side. The cause is logged, never returned.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    pub fn validation(field: &'static str, message: impl Into<String>) -> Self {
        Self::Validation {
            field,
            message: message.into(),
        }
    }

    /// The tenant's limit reached: 429 naming the limit, with `Retry-After`.
    pub fn limit_reached(
        reached: crate::domain::limits::LimitReached,
        limits: &crate::domain::limits::TenantLimits,
    ) -> Self {
        Self::LimitReached {
            limit: reached.limit.name(),
            message: reached.limit.message(limits),
            retry_after: reached.retry_after,
        }
    }

    pub fn internal(error: impl Into<anyhow::Error>) -> Self {
        Self::Internal(error.into())
    }

    fn status_and_code(&self) -> (u16, &'static str) {
        match self {
            Self::Validation { .. } => (400, "validation_failed"),
            Self::Unauthenticated => (401, "unauthenticated"),
            Self::Forbidden(_) => (403, "forbidden"),
            Self::NotFound(_) => (404, "not_found"),
            Self::Conflict(_) => (409, "conflict"),
            Self::NoRoute => (404, "no_route"),
            Self::MethodNotAllowed => (405, "method_not_allowed"),
            Self::PayloadTooLarge { .. } => (413, "payload_too_large"),
            Self::LimitReached { .. } => (429, "limit_reached"),
            Self::Unavailable(_) => (503, "unavailable"),
            Self::Internal(_) => (500, "internal"),
        }
    }

    /// The response for this error; an internal error's cause chain goes to the log only.
    pub fn into_response(self) -> Response<Body> {
        let (status, code) = self.status_and_code();
        if let Self::Internal(cause) | Self::Unavailable(cause) = &self {
            error!(error = format!("{cause:#}"), status, "request failed");
        }
        let message = self.to_string();
        let mut error = ErrorDetail {
            code,
            message: &message,
            field: None,
            limit: None,
            retry_after_seconds: None,
        };
        match &self {
            Self::Validation { field, .. } => error.field = Some(field),
            Self::LimitReached {
                limit, retry_after, ..
            } => {
                error.limit = Some(limit);
                error.retry_after_seconds = Some(retry_after.as_secs().max(1));
            }
            _ => {}
        }
        let mut response = json(status, &ErrorBody { error });
        if let Self::LimitReached { retry_after, .. } = &self {
            let seconds = retry_after.as_secs().max(1);
            response.headers_mut().insert("retry-after", seconds.into());
        }
        response
    }
}

/// The body of every error answer: `{"error": {...}}`.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody<'a> {
    pub error: ErrorDetail<'a>,
}

#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorDetail<'a> {
    /// `validation_failed` (400), `unauthenticated` (401), `forbidden` (403), `not_found` and
    /// `no_route` (404), `method_not_allowed` (405), `conflict` (409), `payload_too_large`
    /// (413), `limit_reached` (429), `internal` (500), `unavailable` (503).
    pub code: &'a str,
    pub message: &'a str,
    /// The request field a validation failure is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<&'a str>,
    /// The tenant limit reached (429).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<&'a str>,
    /// As the `Retry-After` header (429).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_seconds: Option<u64>,
}

/// The calling tenant: the `tenant_id` claim that API Gateway's JWT authorizer verified.
/// Never read from the body or path. Recorded on the current span's `tenant_id` field.
pub fn tenant_of(request: &Request) -> Result<TenantId, ApiError> {
    let claim = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx
            .authorizer
            .as_ref()
            .and_then(|a| a.jwt.as_ref())
            .and_then(|jwt| jwt.claims.get("tenant_id"))
            .cloned(),
        _ => None,
    };
    let tenant = claim
        .as_deref()
        .and_then(TenantId::parse)
        .ok_or(ApiError::Unauthenticated)?;
    // Every log line of the request names its tenant (a no-op for spans without the field).
    tracing::Span::current().record("tenant_id", tenant.as_str());
    Ok(tenant)
}

/// API Gateway's request id, for log correlation.
pub fn request_id_of(request: &Request) -> String {
    match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.request_id.clone().unwrap_or_default(),
        _ => String::new(),
    }
}

pub fn json<T: Serialize>(status: u16, body: &T) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("cache-control", "no-store")
        .body(Body::Text(
            serde_json::to_string(body).expect("response types serialize"),
        ))
        .expect("static response parts are valid")
}

/// 204: done, nothing to show.
pub fn no_content() -> Response<Body> {
    Response::builder()
        .status(204)
        .header("cache-control", "no-store")
        .body(Body::Empty)
        .expect("static response parts are valid")
}

pub fn redirect(location: &str) -> Response<Body> {
    Response::builder()
        .status(302)
        .header("location", location)
        .header("cache-control", "no-store")
        .body(Body::Empty)
        .expect("a redirect location from a parsed URL is a valid header")
}

pub fn html(status: u16, page: String) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "text/html; charset=utf-8")
        .header("cache-control", "no-store")
        .header(
            "content-security-policy",
            "default-src 'none'; style-src 'unsafe-inline'",
        )
        .body(Body::Text(page))
        .expect("static response parts are valid")
}

/// The largest request body the API reads: every valid request fits well inside it, and so
/// does every record made from one inside DynamoDB's 400 KB item limit.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// The request's body, or a 413 naming the limit when it is larger than [`MAX_BODY_BYTES`]:
/// checked before any of it is parsed.
pub fn bounded_body(request: &Request) -> Result<&[u8], ApiError> {
    let bytes = request.body().as_ref();
    if bytes.len() > MAX_BODY_BYTES {
        return Err(ApiError::PayloadTooLarge {
            limit: MAX_BODY_BYTES,
        });
    }
    Ok(bytes)
}

/// A JSON body as `T`, or a 400 naming the field serde could not read (413 past
/// [`MAX_BODY_BYTES`]).
pub fn json_body<T: for<'de> serde::Deserialize<'de> + Default>(
    request: &Request,
) -> Result<T, ApiError> {
    let bytes = bounded_body(request)?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::validation("body", format!("invalid JSON body: {e}")))
}

/// Escapes text for an HTML page.
pub fn escape_html(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '<' => "&lt;".into(),
            '>' => "&gt;".into(),
            '&' => "&amp;".into(),
            '"' => "&quot;".into(),
            '\'' => "&#39;".into(),
            c => c.to_string(),
        })
        .collect()
}
/// SHA-256 of `data` in lowercase hex: what is stored in place of a value that must not be
/// (an OAuth state), or to compare requests by (an idempotent request's body).
pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_body(len: usize) -> Request {
        let mut body = b"{}".to_vec();
        body.resize(len, b' ');
        lambda_http::http::Request::builder()
            .method("POST")
            .uri("/v1/posts")
            .body(Body::Binary(body))
            .unwrap()
    }

    /// 256 KB is read; one byte more is a 413 naming the limit, before any parsing.
    #[test]
    fn a_body_over_256_kb_is_refused_with_413_naming_the_limit() {
        let at_limit = with_body(MAX_BODY_BYTES);
        assert_eq!(bounded_body(&at_limit).unwrap().len(), MAX_BODY_BYTES);
        assert!(json_body::<serde_json::Value>(&at_limit).is_ok());

        let over = with_body(MAX_BODY_BYTES + 1);
        let refused = json_body::<serde_json::Value>(&over).unwrap_err();
        let response = refused.into_response();
        assert_eq!(response.status(), 413);
        let Body::Text(text) = response.body() else {
            panic!("a JSON body")
        };
        let json: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(json["error"]["code"], "payload_too_large");
        assert!(json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("262144"));
    }

    use crate::domain::limits::{Limit, LimitReached, TenantLimits};

    #[test]
    fn a_limit_reached_is_a_429_naming_the_limit_with_retry_after() {
        let limits = TenantLimits::default();
        let response = ApiError::limit_reached(
            LimitReached {
                limit: Limit::PostsPerDay,
                retry_after: std::time::Duration::from_secs(3600),
            },
            &limits,
        )
        .into_response();
        assert_eq!(response.status(), 429);
        assert_eq!(response.headers()["retry-after"], "3600");
        let body: serde_json::Value = match response.body() {
            Body::Text(t) => serde_json::from_str(t).unwrap(),
            other => panic!("{other:?}"),
        };
        assert_eq!(body["error"]["code"], "limit_reached");
        assert_eq!(body["error"]["limit"], "posts_per_day");
        assert_eq!(body["error"]["retry_after_seconds"], 3600);
        assert!(body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("5000 posts per day"));
    }
}
