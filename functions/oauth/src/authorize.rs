//! `POST /v1/connections/linkedin/authorize`: a single-use state and LinkedIn's authorization
//! URL; `POST /v1/connections/{id}/reconnect`: the same for renewing one connection in place.

use anyhow::Context as _;
use base64::Engine as _;
use chrono::Utc;
use connector::authorization::{AuthorizeBody, AuthorizeResponse};
use connector::domain::{
    redirect_url, ClientState, ConnectionId, LinkedInApp, PendingAuthorization, RedirectAllowList,
};
use connector::http::{self, ApiError};
use lambda_http::{Body, Request, Response};
use rand::RngCore;
use serde_json::Value;
use tracing::info;
use url::Url;

use crate::OAuthService;

pub(crate) async fn authorize(
    request: &Request,
    service: &OAuthService,
) -> Result<Response<Body>, ApiError> {
    start(request, service, None).await
}

/// `POST /v1/connections/{id}/reconnect` `{redirect_after?, client_state?}`: an authorization
/// URL that, when the connection's member allows, renews that connection (same id, its posts
/// and history kept) through the app it belongs to. Another tenant's id answers 404.
pub(crate) async fn reconnect(
    request: &Request,
    service: &OAuthService,
    raw_id: &str,
) -> Result<Response<Body>, ApiError> {
    let tenant = http::tenant_of(request)?;
    let id = ConnectionId::parse(raw_id).ok_or(ApiError::NotFound("connection"))?;
    let connection = service
        .store
        .get_connection(&tenant, id)
        .await
        .context("reading the connection to reconnect")
        .map_err(ApiError::internal)?
        .ok_or(ApiError::NotFound("connection"))?;
    start(request, service, Some((id, connection.app))).await
}

async fn start(
    request: &Request,
    service: &OAuthService,
    reconnect: Option<(ConnectionId, LinkedInApp)>,
) -> Result<Response<Body>, ApiError> {
    let tenant = http::tenant_of(request)?;
    let body: AuthorizeBody = http::json_body(request)?;
    let client_state = parse_client_state(body.client_state)?;
    let app = match reconnect {
        // A connection is renewed through the app its tokens belong to.
        Some((_, app)) if body.app.is_none() => app,
        Some(_) => {
            return Err(ApiError::validation(
                "app",
                "a reconnect uses the connection's own app; leave app out",
            ))
        }
        None => parse_app(body.app)?,
    };
    let Some(scopes) = service.linkedin.settings().scopes_of(app) else {
        return Err(ApiError::validation(
            "app",
            "app \"pages\" is not configured in this deployment; use \"member\"",
        ));
    };
    let scopes = scopes.to_vec();
    let redirect_after = match body.redirect_after {
        None => None,
        Some(raw) => {
            let url = parse_redirect_after(&raw)?;
            // One GetItem, only when there is a redirect to judge; nothing is cached, so an
            // admin's change applies to the next authorization.
            let settings = service.tenants.settings(&tenant).await.map_err(|e| {
                let retryable = e.is_retryable();
                let e = anyhow::Error::new(e).context("reading the tenant's settings");
                if retryable {
                    ApiError::Unavailable(e)
                } else {
                    ApiError::Internal(e)
                }
            })?;
            let allow_list = settings.as_ref().map_or(&service.redirect_allow_list, |s| {
                s.redirect_allow_list_or(&service.redirect_allow_list)
            });
            Some(permitted(url, allow_list)?)
        }
    };

    let state = new_state();
    let now = Utc::now();
    let expires_at =
        now + chrono::Duration::from_std(service.state_ttl).expect("state TTL fits in chrono");
    let authorization_url = service
        .linkedin
        .authorization_url(app, &state, &scopes)
        .context("building the authorization URL")
        .map_err(ApiError::internal)?;
    let pending = PendingAuthorization {
        tenant_id: tenant,
        redirect_after,
        client_state,
        app,
        scopes,
        created_at: now,
        expires_at,
        reconnect: reconnect.map(|(id, _)| id),
    };
    service
        .store
        .put_pending_authorization(&state_hash(&state), &pending)
        .await
        .context("recording the pending authorization")
        .map_err(ApiError::internal)?;
    info!(app = app.as_str(), reconnect = ?reconnect.map(|(id, _)| id), "authorization started");
    Ok(http::json(
        200,
        &AuthorizeResponse {
            authorization_url: authorization_url.into(),
            state,
            expires_at,
        },
    ))
}

/// `client_state`: absent or null for none; otherwise a string under [`ClientState`]'s rules.
fn parse_client_state(raw: Option<Value>) -> Result<Option<ClientState>, ApiError> {
    match raw {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => ClientState::parse(&text)
            .map(Some)
            .map_err(|rule| ApiError::validation("client_state", format!("client_state {rule}"))),
        Some(_) => Err(ApiError::validation(
            "client_state",
            "client_state must be a string",
        )),
    }
}

/// `app`: absent or null for `member`; otherwise `"member"` or `"pages"`.
fn parse_app(raw: Option<Value>) -> Result<LinkedInApp, ApiError> {
    match raw {
        None | Some(Value::Null) => Ok(LinkedInApp::Member),
        Some(Value::String(name)) => LinkedInApp::parse(&name)
            .ok_or_else(|| ApiError::validation("app", "app must be \"member\" or \"pages\"")),
        Some(_) => Err(ApiError::validation(
            "app",
            "app must be \"member\" or \"pages\"",
        )),
    }
}

/// `redirect_after` under the rules every redirect follows (https except loopback, no
/// userinfo, no backslash or encoded separator).
fn parse_redirect_after(raw: &str) -> Result<Url, ApiError> {
    redirect_url(raw)
        .map_err(|rule| ApiError::validation("redirect_after", format!("redirect_after {rule}")))
}

/// `redirect_after` if the tenant's allow-list (its own, else the deployment's) permits it.
fn permitted(url: Url, allow_list: &RedirectAllowList) -> Result<Url, ApiError> {
    if !allow_list.permits(&url) {
        return Err(ApiError::validation(
            "redirect_after",
            "redirect_after is not on this tenant's redirect allow-list",
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
        let list = RedirectAllowList::parse("https://app.example.com").unwrap();
        let refused = |raw: &str| parse_redirect_after(raw).and_then(|url| permitted(url, &list));
        for bad in [
            "https://evil.test/",
            "/relative",
            "http://app.example.com/",
            "https://app.example.com/a%2Fb",
            "https://app.example.com\\@evil.test/",
        ] {
            let err = refused(bad).unwrap_err();
            assert!(
                matches!(
                    err,
                    ApiError::Validation {
                        field: "redirect_after",
                        ..
                    }
                ),
                "{bad}: {err:?}"
            );
        }
        assert!(refused("https://app.example.com/done").is_ok());
    }

    #[test]
    fn app_defaults_to_member_and_anything_else_is_refused_with_the_field_named() {
        assert_eq!(parse_app(None).unwrap(), LinkedInApp::Member);
        assert_eq!(parse_app(Some(Value::Null)).unwrap(), LinkedInApp::Member);
        assert_eq!(
            parse_app(Some(Value::from("member"))).unwrap(),
            LinkedInApp::Member
        );
        assert_eq!(
            parse_app(Some(Value::from("pages"))).unwrap(),
            LinkedInApp::Pages
        );
        for bad in [
            Value::from("Pages"),
            Value::from(""),
            Value::from(1),
            serde_json::json!(["pages"]),
        ] {
            let err = parse_app(Some(bad.clone())).unwrap_err();
            assert!(
                matches!(err, ApiError::Validation { field: "app", .. }),
                "{bad}: {err:?}"
            );
        }
    }

    #[test]
    fn client_state_is_optional_and_refused_with_the_field_named() {
        assert_eq!(parse_client_state(None).unwrap(), None);
        assert_eq!(parse_client_state(Some(Value::Null)).unwrap(), None);
        assert_eq!(
            parse_client_state(Some(Value::from("a&b=c #d+é"))).unwrap(),
            Some(ClientState::parse("a&b=c #d+é").unwrap())
        );
        for bad in [
            Value::from(""),
            Value::from("x".repeat(257)),
            Value::from("line\nbreak"),
            Value::from(42),
            serde_json::json!({"nested": true}),
        ] {
            let err = parse_client_state(Some(bad.clone())).unwrap_err();
            assert!(
                matches!(
                    err,
                    ApiError::Validation {
                        field: "client_state",
                        ..
                    }
                ),
                "{bad}: {err:?}"
            );
        }
    }
}
