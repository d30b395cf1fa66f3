//! `GET /v1/oauth/linkedin/callback`: LinkedIn's redirect back, answered with a redirect to the
//! tenant's app (or a small page), whatever happened.

use chrono::Utc;
use connector::authorization::CallbackQuery;
use connector::domain::{ConnectionId, PendingAuthorization};
use connector::http::{self, ApiError};
use lambda_http::http::header::{
    HeaderValue, CACHE_CONTROL, CONTENT_SECURITY_POLICY, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
};
use lambda_http::{Body, Request, Response};
use secrecy::SecretString;
use tracing::{info, warn};

use crate::authorize::state_hash;
use crate::connect::connect;
use crate::OAuthService;

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
    /// A reconnect was allowed by another LinkedIn member than the connection's: nothing
    /// was stored.
    OtherMember,
    Internal,
}

impl ConnectFailure {
    fn code(self) -> &'static str {
        match self {
            Self::Declined => "access_denied",
            Self::CodeRejected => "authorization_code_rejected",
            Self::LinkedInUnavailable => "linkedin_unavailable",
            Self::IdentityUnavailable => "identity_unavailable",
            Self::OtherMember => "reconnect_member_mismatch",
            Self::Internal => "internal_error",
        }
    }
}

/// Every answer of the callback — page, redirect or error — carries [`with_page_headers`].
pub(crate) async fn callback(request: &Request, service: &OAuthService) -> Response<Body> {
    with_page_headers(answer(request, service).await)
}

async fn answer(request: &Request, service: &OAuthService) -> Response<Body> {
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

    let outcome = connect(service, &pending, &code).await;
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

/// The member's browser goes back to the tenant's app (with its `client_state`, unchanged),
/// or sees a small page.
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
        if let Some(client_state) = &pending.client_state {
            target
                .query_pairs_mut()
                .append_pair("client_state", client_state.as_str());
        }
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

/// The page may not be framed (clickjacking the member into connecting), sniffed as another
/// type, or name its URL — which carries the code and state — to the next site as a referrer;
/// and it is never cached.
fn with_page_headers(mut response: Response<Body>) -> Response<Body> {
    let headers = response.headers_mut();
    let csp = merge_frame_ancestors(
        headers
            .get(CONTENT_SECURITY_POLICY)
            .and_then(|v| v.to_str().ok()),
    );
    for (name, value) in [
        (CONTENT_SECURITY_POLICY, csp.as_str()),
        (X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (REFERRER_POLICY, "no-referrer"),
        (CACHE_CONTROL, "no-store"),
    ] {
        headers.insert(
            name,
            HeaderValue::from_str(value).expect("policy texts are valid header values"),
        );
    }
    response
}

/// `frame-ancestors 'none'` added to a Content-Security-Policy (whatever it said about
/// framing before), or a policy of its own with nothing else allowed.
fn merge_frame_ancestors(existing: Option<&str>) -> String {
    let mut directives: Vec<&str> = existing
        .unwrap_or("default-src 'none'")
        .split(';')
        .map(str::trim)
        .filter(|d| {
            !d.is_empty()
                && !d
                    .split_whitespace()
                    .next()
                    .is_some_and(|name| name.eq_ignore_ascii_case("frame-ancestors"))
        })
        .collect();
    directives.push("frame-ancestors 'none'");
    directives.join("; ")
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title></head>\
         <body style=\"font-family:sans-serif;max-width:40em;margin:3em auto\"><h1>{title}</h1><p>{body}</p></body></html>"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use connector::domain::{ClientState, TenantId};
    use url::Url;

    fn pending(redirect_after: Option<&str>, client_state: Option<&str>) -> PendingAuthorization {
        let now = Utc::now();
        PendingAuthorization {
            tenant_id: TenantId::parse("acme").unwrap(),
            redirect_after: redirect_after.map(|u| Url::parse(u).unwrap()),
            client_state: client_state.map(|c| ClientState::parse(c).unwrap()),
            app: Default::default(),
            scopes: vec![],
            created_at: now,
            expires_at: now + chrono::Duration::minutes(10),
            reconnect: None,
        }
    }

    fn location(response: &Response<Body>) -> Url {
        assert_eq!(response.status(), 302);
        Url::parse(response.headers()["location"].to_str().unwrap()).unwrap()
    }

    fn param(url: &Url, name: &str) -> Option<String> {
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    #[test]
    fn the_redirect_hands_client_state_back_exactly_beside_the_outcome() {
        let id = ConnectionId::new();
        for state in ["plain", "a&b=c#d+e f%20/?", "état ✓ 東京 🔐", "=&#+"] {
            let done = finish(
                &pending(Some("https://app.example.com/done?tab=li#top"), Some(state)),
                Ok((id, "Ada".into())),
            );
            let url = location(&done);
            assert_eq!(param(&url, "client_state").as_deref(), Some(state));
            assert_eq!(param(&url, "connection_id"), Some(id.to_string()));
            assert_eq!(param(&url, "tab").as_deref(), Some("li"));
            assert_eq!(url.fragment(), Some("top"));
            assert_eq!(url.query_pairs().count(), 3, "{url}");

            let failed = finish(
                &pending(Some("https://app.example.com/done"), Some(state)),
                Err(ConnectFailure::LinkedInUnavailable),
            );
            let url = location(&failed);
            assert_eq!(param(&url, "client_state").as_deref(), Some(state));
            assert_eq!(
                param(&url, "error").as_deref(),
                Some("linkedin_unavailable")
            );
        }
    }

    #[test]
    fn client_state_is_encoded_so_it_cannot_add_parameters_or_a_fragment() {
        let done = finish(
            &pending(
                Some("https://app.example.com/done"),
                Some("x&connection_id=evil#f"),
            ),
            Err(ConnectFailure::Declined),
        );
        let raw = done.headers()["location"].to_str().unwrap().to_owned();
        assert_eq!(
            raw,
            "https://app.example.com/done?error=access_denied&client_state=x%26connection_id%3Devil%23f"
        );
    }

    #[test]
    fn without_client_state_the_redirect_has_no_such_parameter() {
        let done = finish(
            &pending(Some("https://app.example.com/done"), None),
            Ok((ConnectionId::new(), "Ada".into())),
        );
        assert_eq!(param(&location(&done), "client_state"), None);
    }

    fn assert_page_headers(response: &Response<Body>) {
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .unwrap_or_else(|| panic!("{name} missing"))
                .to_str()
                .unwrap()
                .to_owned()
        };
        assert!(header("content-security-policy").contains("frame-ancestors 'none'"));
        assert_eq!(header("x-content-type-options"), "nosniff");
        assert_eq!(header("referrer-policy"), "no-referrer");
        assert_eq!(header("cache-control"), "no-store");
    }

    #[test]
    fn the_success_page_the_error_pages_and_the_redirect_carry_the_page_headers() {
        let id = ConnectionId::new();
        let success = with_page_headers(finish(&pending(None, None), Ok((id, "Ada".into()))));
        assert_eq!(success.status(), 200);
        assert_page_headers(&success);
        // The page's own policy is kept, framing added to it.
        let csp = success.headers()["content-security-policy"]
            .to_str()
            .unwrap();
        assert!(csp.contains("default-src 'none'") && csp.contains("style-src 'unsafe-inline'"));

        let failed = with_page_headers(finish(
            &pending(None, None),
            Err(ConnectFailure::CodeRejected),
        ));
        assert_eq!(failed.status(), 502);
        assert_page_headers(&failed);

        let bad_state = with_page_headers(callback_error(true, "state", "unknown"));
        assert_eq!(bad_state.status(), 400);
        assert_page_headers(&bad_state);
        let bad_state_json = with_page_headers(callback_error(false, "state", "unknown"));
        assert_page_headers(&bad_state_json);

        let redirect = with_page_headers(finish(
            &pending(Some("https://app.example.com/done"), Some("s")),
            Ok((id, "Ada".into())),
        ));
        assert_eq!(redirect.status(), 302);
        assert_page_headers(&redirect);
    }

    #[test]
    fn frame_ancestors_is_merged_into_any_policy() {
        let cases: &[(Option<&str>, &str)] = &[
            (None, "default-src 'none'; frame-ancestors 'none'"),
            (
                Some("default-src 'none'; style-src 'unsafe-inline'"),
                "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
            ),
            (
                Some("default-src 'self'; FRAME-ANCESTORS https://evil.test;"),
                "default-src 'self'; frame-ancestors 'none'",
            ),
            (Some(""), "frame-ancestors 'none'"),
        ];
        for (existing, merged) in cases {
            assert_eq!(&merge_frame_ancestors(*existing), merged, "{existing:?}");
        }
    }
}
