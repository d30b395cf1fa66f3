//! `GET /v1/oauth/linkedin/callback`: LinkedIn's redirect back, answered with a redirect to the
//! tenant's app (or a small page), whatever happened.

use chrono::Utc;
use connector::domain::{ConnectionId, PendingAuthorization};
use connector::http::{self, ApiError};
use lambda_http::{Body, Request, Response};
use secrecy::SecretString;
use serde::Deserialize;
use tracing::{info, warn};

use crate::authorize::state_hash;
use crate::connect::connect;
use crate::OAuthService;

#[derive(Debug, Default, Deserialize)]
struct CallbackQuery {
    state: Option<String>,
    code: Option<String>,
    error: Option<String>,
}

/// Why a callback did not produce a connection, as told to the tenant's app in `?error=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConnectFailure {
    /// LinkedIn's own `error`, e.g. the member pressed Cancel.
    Declined,
    /// LinkedIn refused the code (expired, already used, wrong redirect).
    CodeRejected,
    /// LinkedIn could not be reached or failed; trying again later can work.
    LinkedInUnavailable,
    /// The granted token could not read the member's identity (missing scope or product).
    IdentityUnavailable,
    Internal,
}

impl ConnectFailure {
    fn code(self) -> &'static str {
        match self {
            Self::Declined => "access_denied",
            Self::CodeRejected => "authorization_code_rejected",
            Self::LinkedInUnavailable => "linkedin_unavailable",
            Self::IdentityUnavailable => "identity_unavailable",
            Self::Internal => "internal_error",
        }
    }
}

pub(crate) async fn callback(request: &Request, service: &OAuthService) -> Response<Body> {
    let query: CallbackQuery = request
        .uri()
        .query()
        .and_then(|q| serde_urlencoded::from_str(q).ok())
        .unwrap_or_default();
    let wants_html = request
        .headers()
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));

    let Some(state) = query.state.as_deref().filter(|s| !s.is_empty()) else {
        return callback_error(wants_html, "state", "the callback has no state");
    };
    // Taken (deleted) before anything else: a state works once, whatever happens next.
    let pending = match service
        .store
        .take_pending_authorization(&state_hash(state))
        .await
    {
        Ok(Some(pending)) => pending,
        Ok(None) => {
            warn!("callback with an unknown or already used state");
            return callback_error(
                wants_html,
                "state",
                "this authorization is unknown or was already used; start again from your app",
            );
        }
        Err(e) => {
            return ApiError::internal(
                anyhow::Error::new(e).context("taking the pending authorization"),
            )
            .into_response()
        }
    };
    tracing::Span::current().record("tenant_id", pending.tenant_id.as_str());
    if pending.is_expired(Utc::now()) {
        warn!("callback with an expired state");
        return callback_error(
            wants_html,
            "state",
            "this authorization has expired; start again from your app",
        );
    }

    if let Some(error) = query.error.as_deref() {
        // user_cancelled_login / user_cancelled_authorize: nothing to store.
        info!(linkedin_error = error, "member declined the authorization");
        return finish(&pending, Err(ConnectFailure::Declined));
    }
    let Some(code) = query.code.filter(|c| !c.is_empty()).map(SecretString::from) else {
        return callback_error(
            wants_html,
            "code",
            "the callback has neither code nor error",
        );
    };

    let outcome = connect(service, &pending.tenant_id, &code, &pending.scopes).await;
    match &outcome {
        Ok(connection) => {
            tracing::Span::current().record("connection_id", connection.id.to_string());
            info!(
                member_urn = %connection.member_urn,
                connect_count = connection.connect_count,
                organizations = connection.organizations.len(),
                "connection stored"
            );
        }
        Err(failure) => warn!(reason = failure.code(), "connection not made"),
    }
    finish(&pending, outcome.map(|c| (c.id, c.name)))
}

/// The member's browser goes back to the tenant's app, or sees a small page.
fn finish(
    pending: &PendingAuthorization,
    outcome: Result<(ConnectionId, String), ConnectFailure>,
) -> Response<Body> {
    if let Some(target) = &pending.redirect_after {
        let mut target = target.clone();
        match &outcome {
            Ok((id, _)) => target
                .query_pairs_mut()
                .append_pair("connection_id", &id.to_string()),
            Err(f) => target.query_pairs_mut().append_pair("error", f.code()),
        };
        return http::redirect(target.as_str());
    }
    match outcome {
        Ok((id, name)) => http::html(
            200,
            page(
                "LinkedIn connected",
                &format!(
                    "Connected as {}. Connection id: <code id=\"connection-id\">{id}</code>. You can close this window.",
                    http::escape_html(&name)
                ),
            ),
        ),
        Err(ConnectFailure::Declined) => http::html(
            200,
            page("LinkedIn not connected", "You cancelled; nothing was connected."),
        ),
        Err(f) => http::html(
            if f == ConnectFailure::Internal { 500 } else { 502 },
            page(
                "LinkedIn not connected",
                &format!("The connection could not be made ({}). Please try again.", f.code()),
            ),
        ),
    }
}

fn callback_error(wants_html: bool, field: &'static str, message: &str) -> Response<Body> {
    if wants_html {
        return http::html(
            400,
            page("LinkedIn not connected", &http::escape_html(message)),
        );
    }
    ApiError::validation(field, message).into_response()
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title></head>\
         <body style=\"font-family:sans-serif;max-width:40em;margin:3em auto\"><h1>{title}</h1><p>{body}</p></body></html>"
    )
}
