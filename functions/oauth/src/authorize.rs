//! `POST /v1/connections/linkedin/authorize`: a single-use state and LinkedIn's authorization URL.

use anyhow::Context as _;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use connector::domain::PendingAuthorization;
use connector::http::{self, ApiError};
use lambda_http::{Body, Request, Response};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use tracing::info;
use url::Url;

use crate::OAuthService;
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthorizeBody {
    redirect_after: Option<String>,
}

#[derive(Debug, Serialize)]
struct AuthorizeResponse {
    authorization_url: String,
    state: String,
    expires_at: DateTime<Utc>,
}

pub(crate) async fn authorize(
    request: &Request,
    service: &OAuthService,
) -> Result<Response<Body>, ApiError> {
    let tenant = http::tenant_of(request)?;
    let body: AuthorizeBody = http::json_body(request)?;
    let redirect_after = body
        .redirect_after
        .map(|raw| parse_redirect_after(&raw, &service.redirect_allow_list))
        .transpose()?;

    let state = new_state();
    let now = Utc::now();
    let expires_at =
        now + chrono::Duration::from_std(service.state_ttl).expect("state TTL fits in chrono");
    let scopes = service.linkedin.settings().scopes.clone();
    let pending = PendingAuthorization {
        tenant_id: tenant,
        redirect_after,
        scopes: scopes.clone(),
        created_at: now,
        expires_at,
    };
    service
        .store
        .put_pending_authorization(&state_hash(&state), &pending)
        .await
        .context("recording the pending authorization")
        .map_err(ApiError::internal)?;
    info!("authorization started");
    Ok(http::json(
        200,
        &AuthorizeResponse {
            authorization_url: service.linkedin.authorization_url(&state, &scopes).into(),
            state,
            expires_at,
        },
    ))
}

fn parse_redirect_after(
    raw: &str,
    allow_list: &connector::domain::RedirectAllowList,
) -> Result<Url, ApiError> {
    let url = Url::parse(raw).map_err(|_| {
        ApiError::validation("redirect_after", "redirect_after must be an absolute URL")
    })?;
    if !allow_list.permits(&url) {
        return Err(ApiError::validation(
            "redirect_after",
            "redirect_after is not on this deployment's REDIRECT_ALLOW_LIST",
        ));
    }
    Ok(url)
}

/// 256 random bits, URL-safe. The state is the callback's only authentication.
fn new_state() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Only the hash is stored, so a copy of the table yields no usable state.
pub fn state_hash(state: &str) -> String {
    http::sha256_hex(state.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_are_long_random_and_url_safe() {
        let a = new_state();
        let b = new_state();
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert!(a
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
    }

    #[test]
    fn the_stored_state_hash_is_not_the_state() {
        let state = new_state();
        let hash = state_hash(&state);
        assert_eq!(hash.len(), 64);
        assert!(!hash.contains(&state));
        assert_eq!(hash, state_hash(&state));
    }

    #[test]
    fn redirect_after_off_the_allow_list_is_refused_with_the_field_named() {
        let list = connector::domain::RedirectAllowList::parse("https://app.example.com").unwrap();
        let err = parse_redirect_after("https://evil.test/", &list).unwrap_err();
        assert!(matches!(
            err,
            ApiError::Validation {
                field: "redirect_after",
                ..
            }
        ));
        let err = parse_redirect_after("/relative", &list).unwrap_err();
        assert!(matches!(
            err,
            ApiError::Validation {
                field: "redirect_after",
                ..
            }
        ));
        assert!(parse_redirect_after("https://app.example.com/done", &list).is_ok());
    }
}
