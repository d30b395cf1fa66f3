//! LinkedIn's OAuth 2.0 host: authorization (a consent page a person can click), the
//! form-encoded token endpoint, introspection and revocation.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Json;
use chrono::Duration as ChronoDuration;
use url::Url;

use super::{new_secret, AccessRecord, CodeRecord, RefreshRecord, Shared, SimState};

/// LinkedIn keeps an authorization code usable for 30 minutes, once.
const CODE_LIFETIME_MINUTES: i64 = 30;

/// A second LinkedIn app registered beside the first: its own client id, secret and products.
#[derive(Debug, Clone)]
pub struct SimApp {
    pub client_id: String,
    pub client_secret: String,
    /// Scopes its products grant; asking for others is refused at authorization.
    pub allowed_scopes: Vec<String>,
    /// Accepted on the consent page, silently left out of the grant.
    pub dropped_scopes: Vec<String>,
    pub issue_refresh_tokens: bool,
}

impl SimApp {
    /// An app with the Community Management API (alone, as LinkedIn requires), approved for
    /// refresh tokens.
    pub fn community_management() -> Self {
        Self {
            client_id: "dev-pages-client-id".into(),
            client_secret: "dev-pages-client-secret".into(),
            // No OpenID product beside it: identity comes from /v2/me (r_basicprofile).
            allowed_scopes: [
                "r_basicprofile",
                "w_member_social",
                "w_organization_social",
                "r_organization_admin",
                "rw_organization_admin",
                "r_organization_social",
                "w_member_social_feed",
                "w_organization_social_feed",
                "r_member_social_feed",
                "r_organization_social_feed",
                "r_member_postAnalytics",
            ]
            .map(String::from)
            .to_vec(),
            dropped_scopes: Vec::new(),
            issue_refresh_tokens: true,
        }
    }
}

/// A call to the token or revoke endpoint, as the simulator received it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OAuthCall {
    /// `authorization_code`, `refresh_token` or `revoke`.
    pub kind: String,
    /// The client id it authenticated as (refused calls are not recorded).
    pub client_id: String,
}

/// The app registered under `client_id`: the first (the config's own fields) or the second.
pub(crate) fn app_of(state: &SimState, client_id: &str) -> Option<SimApp> {
    let c = &state.config;
    if client_id == c.client_id {
        return Some(SimApp {
            client_id: c.client_id.clone(),
            client_secret: c.client_secret.clone(),
            allowed_scopes: c.allowed_scopes.clone(),
            dropped_scopes: c.dropped_scopes.clone(),
            issue_refresh_tokens: c.issue_refresh_tokens,
        });
    }
    c.pages_app.clone().filter(|a| a.client_id == client_id)
}

/// A validated `GET /oauth/v2/authorization`.
#[derive(Debug, Clone)]
pub(crate) struct AuthorizationRequest {
    pub client_id: String,
    pub redirect_uri: String,
    pub scopes: Vec<String>,
    pub state: Option<String>,
}

impl AuthorizationRequest {
    /// Errors LinkedIn shows on its own page (it cannot redirect to an unverified URI).
    pub fn validate(
        state: &SimState,
        query: &HashMap<String, String>,
    ) -> Result<Self, (StatusCode, String)> {
        let bad = |m: &str| Err((StatusCode::BAD_REQUEST, m.to_owned()));
        if query.get("response_type").map(String::as_str) != Some("code") {
            return bad("invalid_request: response_type must be code");
        }
        let Some(app) = query.get("client_id").and_then(|id| app_of(state, id)) else {
            return bad("invalid_client_id: the client_id is not a registered application");
        };
        let Some(redirect_uri) = query.get("redirect_uri") else {
            return bad("invalid_request: redirect_uri is required");
        };
        if !state.config.redirect_uris.iter().any(|r| r == redirect_uri) {
            return bad(
                "invalid_redirect_uri: The redirect_uri does not match the registered value",
            );
        }
        // Space-delimited per the docs; commas are accepted too.
        let scopes: Vec<String> = query
            .get("scope")
            .map(|s| {
                s.split([' ', ','])
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default();
        if scopes.is_empty() {
            return bad("invalid_request: scope is required");
        }
        Ok(Self {
            client_id: app.client_id,
            redirect_uri: redirect_uri.clone(),
            scopes,
            state: query.get("state").cloned(),
        })
    }

    fn redirect_with(&self, pairs: &[(&str, &str)]) -> Url {
        let mut url = Url::parse(&self.redirect_uri).expect("registered redirect URIs are URLs");
        {
            let mut q = url.query_pairs_mut();
            for (k, v) in pairs {
                q.append_pair(k, v);
            }
            if let Some(state) = &self.state {
                q.append_pair("state", state);
            }
        }
        url
    }
}

/// The member's decision: a code, or LinkedIn's cancel error, sent back to the app.
pub(crate) fn decide(
    shared: &Shared,
    request: &AuthorizationRequest,
    member_sub: &str,
    allow: bool,
) -> Result<Url, String> {
    let mut state = shared.lock();
    if state.member(member_sub).is_none() {
        return Err(format!("no member {member_sub:?} in the simulator"));
    }
    if !allow {
        return Ok(request.redirect_with(&[
            ("error", "user_cancelled_authorize"),
            ("error_description", "The user cancelled the authorization"),
        ]));
    }
    let app = app_of(&state, &request.client_id).expect("validated");
    if let Some(scope) = request
        .scopes
        .iter()
        .find(|s| !app.allowed_scopes.contains(s) && !app.dropped_scopes.contains(s))
    {
        let description = format!("Scope \"{scope}\" is not authorized for your application");
        return Ok(request.redirect_with(&[
            ("error", "unauthorized_scope_error"),
            ("error_description", &description),
        ]));
    }
    let code = new_secret("AQ", 150);
    let issued_at = state.now();
    // Scopes the app may ask for but is not entitled to are dropped without a word.
    let granted = request
        .scopes
        .iter()
        .filter(|s| !app.dropped_scopes.contains(s))
        .cloned()
        .collect();
    state.codes.insert(
        code.clone(),
        CodeRecord {
            client_id: app.client_id,
            member_sub: member_sub.to_owned(),
            scopes: granted,
            redirect_uri: request.redirect_uri.clone(),
            issued_at,
            used: false,
        },
    );
    Ok(request.redirect_with(&[("code", &code)]))
}

pub(crate) async fn authorization_page(
    State(shared): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let state = shared.lock();
    let request = match AuthorizationRequest::validate(&state, &query) {
        Ok(r) => r,
        Err((status, message)) => {
            return (
                status,
                Html(format!(
                    "<h1>LinkedIn</h1><p id=\"error\">{}</p>",
                    escape(&message)
                )),
            )
                .into_response()
        }
    };
    let members: String = state
        .members
        .iter()
        .enumerate()
        .map(|(i, m)| {
            format!(
                "<label><input type=\"radio\" name=\"member\" value=\"{}\"{}> {} {}</label><br>",
                escape(&m.sub),
                if i == 0 { " checked" } else { "" },
                escape(&m.given_name),
                escape(&m.family_name)
            )
        })
        .collect();
    let hidden: String = [
        "response_type",
        "client_id",
        "redirect_uri",
        "scope",
        "state",
    ]
    .iter()
    .filter_map(|k| query.get(*k).map(|v| (k, v)))
    .map(|(k, v)| {
        format!(
            "<input type=\"hidden\" name=\"{k}\" value=\"{}\">",
            escape(v)
        )
    })
    .collect();
    Html(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>LinkedIn (simulator) — Authorize</title></head>\
         <body style=\"font-family:sans-serif;max-width:36em;margin:3em auto\">\
         <h1>LinkedIn simulator</h1>\
         <p>An application would like to access your LinkedIn account with these permissions:</p>\
         <ul id=\"scopes\">{}</ul>\
         <form method=\"post\" action=\"/oauth/v2/authorization/decision\">\
         <fieldset><legend>Sign in as</legend>{members}</fieldset>{hidden}\
         <p><button id=\"allow\" type=\"submit\" name=\"decision\" value=\"allow\">Allow</button> \
         <button id=\"cancel\" type=\"submit\" name=\"decision\" value=\"cancel\">Cancel</button></p>\
         </form></body></html>",
        request
            .scopes
            .iter()
            .map(|s| format!("<li>{}</li>", escape(s)))
            .collect::<String>()
    ))
    .into_response()
}

pub(crate) async fn decision(State(shared): State<Shared>, body: Bytes) -> Response {
    let form: HashMap<String, String> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let validated = AuthorizationRequest::validate(&shared.lock(), &form);
    let request = match validated {
        Ok(r) => r,
        Err((status, message)) => return (status, Html(escape(&message))).into_response(),
    };
    let member = form
        .get("member")
        .cloned()
        .unwrap_or_else(|| super::default_member().sub);
    let allow = form.get("decision").map(String::as_str) == Some("allow");
    match decide(&shared, &request, &member, allow) {
        Ok(location) => Redirect::to(location.as_str()).into_response(),
        Err(message) => (StatusCode::BAD_REQUEST, Html(escape(&message))).into_response(),
    }
}

fn oauth_error(status: u16, error: &str, description: &str) -> Response {
    (
        StatusCode::from_u16(status).expect("valid status"),
        Json(serde_json::json!({ "error": error, "error_description": description })),
    )
        .into_response()
}

const INVALID_GRANT: &str =
    "The provided authorization grant or refresh token is invalid, expired or revoked";

/// Parses a form body the way LinkedIn does: anything but form encoding is a missing
/// parameter. Then authenticates the client: a registered client id with its own secret.
fn form_and_client(
    state: &SimState,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<HashMap<String, String>, Response> {
    let is_form = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let form: HashMap<String, String> = if is_form {
        serde_urlencoded::from_bytes(body).unwrap_or_default()
    } else {
        HashMap::new()
    };
    if form.is_empty() {
        return Err(oauth_error(
            400,
            "invalid_request",
            "A required parameter \"grant_type\" is missing",
        ));
    }
    let app = form.get("client_id").and_then(|id| app_of(state, id));
    if app.is_none_or(|app| form.get("client_secret") != Some(&app.client_secret)) {
        return Err(oauth_error(
            401,
            "invalid_client_id",
            "Client authentication failed",
        ));
    }
    Ok(form)
}

pub(crate) async fn access_token(
    State(shared): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut state = shared.lock();
    let form = match form_and_client(&state, &headers, &body) {
        Ok(form) => form,
        Err(response) => return response,
    };
    let now = state.now();
    let client_id = form["client_id"].clone();
    let kind = form.get("grant_type").cloned().unwrap_or_default();
    state.oauth_calls.push(super::OAuthCall {
        kind,
        client_id: client_id.clone(),
    });
    match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
            let Some(code) = form.get("code") else {
                return oauth_error(
                    400,
                    "invalid_request",
                    "A required parameter \"code\" is missing",
                );
            };
            let Some(record) = state.codes.get(code).cloned() else {
                return oauth_error(401, "invalid_request", "authorization code not found");
            };
            if record.used
                || now - record.issued_at > ChronoDuration::minutes(CODE_LIFETIME_MINUTES)
            {
                return oauth_error(400, "invalid_request", INVALID_GRANT);
            }
            if form.get("redirect_uri") != Some(&record.redirect_uri)
                || record.client_id != client_id
            {
                return oauth_error(
                    400,
                    "invalid_redirect_uri",
                    "Unable to retrieve access token: appid/redirect uri/code verifier does not match authorization code. Or authorization code expired.",
                );
            }
            state.codes.get_mut(code).expect("present").used = true;
            // Asking for a different scope set invalidates the member's earlier tokens (of
            // the same app: another app's grant is its own).
            for r in state.access_tokens.values_mut().filter(|r| {
                r.member_sub == record.member_sub
                    && r.scopes != record.scopes
                    && r.client_id == record.client_id
            }) {
                r.revoked = true;
            }
            issue(
                &mut state,
                &client_id,
                &record.member_sub,
                &record.scopes,
                now,
                None,
            )
        }
        Some("refresh_token") => {
            let Some(token) = form.get("refresh_token") else {
                return oauth_error(
                    400,
                    "invalid_request",
                    "A required parameter \"refresh_token\" is missing",
                );
            };
            let Some(record) = state.refresh_tokens.get(token).cloned() else {
                return oauth_error(400, "invalid_request", INVALID_GRANT);
            };
            // Another app's refresh token is no grant of this app's.
            if record.revoked || now >= record.expires_at || record.client_id != client_id {
                return oauth_error(400, "invalid_request", INVALID_GRANT);
            }
            let previous = if state.config.rotate_refresh_tokens {
                state
                    .refresh_tokens
                    .get_mut(token)
                    .expect("present")
                    .revoked = true;
                None
            } else {
                Some(token.clone())
            };
            let (sub, scopes) = (record.member_sub.clone(), record.scopes.clone());
            issue(
                &mut state,
                &client_id,
                &sub,
                &scopes,
                now,
                Some((record, previous)),
            )
        }
        Some(other) => oauth_error(
            400,
            "unsupported_grant_type",
            &format!("grant_type {other} is not supported"),
        ),
        None => oauth_error(
            400,
            "invalid_request",
            "A required parameter \"grant_type\" is missing",
        ),
    }
}

/// Issues an access token (and a refresh token for approved apps). On refresh, `from` is the
/// refresh record and the token to keep (LinkedIn's default) or `None` to rotate.
fn issue(
    state: &mut SimState,
    client_id: &str,
    member_sub: &str,
    scopes: &[String],
    now: chrono::DateTime<chrono::Utc>,
    from: Option<(RefreshRecord, Option<String>)>,
) -> Response {
    let access_ttl = ChronoDuration::from_std(state.config.access_token_ttl).expect("bounded");
    let refresh_ttl = ChronoDuration::from_std(state.config.refresh_token_ttl).expect("bounded");
    let (refresh, authorized_at) = match from {
        Some((record, keep)) => {
            let token = keep.unwrap_or_else(|| {
                let t = new_secret("AQ", 300);
                state.refresh_tokens.insert(
                    t.clone(),
                    RefreshRecord {
                        revoked: false,
                        ..record.clone()
                    },
                );
                t
            });
            (Some((token, record.expires_at)), record.authorized_at)
        }
        None if app_of(state, client_id).is_some_and(|a| a.issue_refresh_tokens) => {
            let t = new_secret("AQ", 300);
            let expires_at = now + refresh_ttl;
            state.refresh_tokens.insert(
                t.clone(),
                RefreshRecord {
                    client_id: client_id.to_owned(),
                    member_sub: member_sub.to_owned(),
                    scopes: scopes.to_vec(),
                    authorized_at: now,
                    expires_at,
                    revoked: false,
                },
            );
            (Some((t, expires_at)), now)
        }
        None => (None, now),
    };
    // A refreshed access token never outlives its refresh token.
    let mut expires_at = now + access_ttl;
    if let Some((_, refresh_expiry)) = &refresh {
        expires_at = expires_at.min(*refresh_expiry);
    }
    let access = new_secret("AQ", 500);
    state.access_tokens.insert(
        access.clone(),
        AccessRecord {
            client_id: client_id.to_owned(),
            member_sub: member_sub.to_owned(),
            scopes: scopes.to_vec(),
            issued_at: now,
            expires_at,
            authorized_at,
            refresh_token: refresh.as_ref().map(|(t, _)| t.clone()),
            revoked: false,
        },
    );
    state.access_order.push(access.clone());
    let mut body = serde_json::json!({
        "access_token": access,
        "expires_in": (expires_at - now).num_seconds(),
        "scope": scopes.join(","),
        "token_type": "Bearer",
    });
    if scopes.iter().any(|s| s == "openid") {
        body["id_token"] = serde_json::Value::String(id_token(member_sub));
    }
    if let Some((token, refresh_expiry)) = refresh {
        body["refresh_token"] = serde_json::Value::String(token);
        body["refresh_token_expires_in"] = (refresh_expiry - now).num_seconds().into();
    }
    Json(body).into_response()
}

/// An unsigned stand-in for LinkedIn's ID token (the product reads identity from userinfo).
fn id_token(sub: &str) -> String {
    use base64::Engine;
    let b64 = |v: serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    format!(
        "{}.{}.",
        b64(serde_json::json!({"alg": "none", "typ": "JWT"})),
        b64(serde_json::json!({"iss": "https://www.linkedin.com/oauth", "sub": sub}))
    )
}

pub(crate) async fn introspect(
    State(shared): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let state = shared.lock();
    let form = match form_and_client(&state, &headers, &body) {
        Ok(form) => form,
        Err(response) => return response,
    };
    let token = form.get("token").cloned().unwrap_or_default();
    let client_id = form["client_id"].clone();
    let now = state.now();
    let describe =
        |scopes: &[String], issued: i64, expires: i64, authorized: i64, revoked: bool| {
            let status = if revoked {
                "revoked"
            } else if now.timestamp() >= expires {
                "expired"
            } else {
                "active"
            };
            serde_json::json!({
                "active": status == "active",
                "status": status,
                "scope": scopes.join(","),
                "client_id": client_id,
                "created_at": issued,
                "expires_at": expires,
                "authorized_at": authorized,
                "auth_type": "3L",
            })
        };
    // Another app's tokens are unknown to this one.
    let body = if let Some(r) = state
        .access_tokens
        .get(&token)
        .filter(|r| r.client_id == client_id)
    {
        describe(
            &r.scopes,
            r.issued_at.timestamp(),
            r.expires_at.timestamp(),
            r.authorized_at.timestamp(),
            r.revoked,
        )
    } else if let Some(r) = state
        .refresh_tokens
        .get(&token)
        .filter(|r| r.client_id == client_id)
    {
        describe(
            &r.scopes,
            r.authorized_at.timestamp(),
            r.expires_at.timestamp(),
            r.authorized_at.timestamp(),
            r.revoked,
        )
    } else {
        serde_json::json!({ "active": false })
    };
    Json(body).into_response()
}

/// Revoking an access token also invalidates its refresh token (and so every access token
/// that refresh token produced).
pub(crate) async fn revoke(
    State(shared): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut state = shared.lock();
    let form = match form_and_client(&state, &headers, &body) {
        Ok(form) => form,
        Err(response) => return response,
    };
    let token = form.get("token").cloned().unwrap_or_default();
    let client_id = form["client_id"].clone();
    state.oauth_calls.push(super::OAuthCall {
        kind: "revoke".into(),
        client_id: client_id.clone(),
    });
    let foreign = state
        .access_tokens
        .get(&token)
        .map(|r| &r.client_id)
        .or_else(|| state.refresh_tokens.get(&token).map(|r| &r.client_id))
        .is_some_and(|owner| *owner != client_id);
    if foreign {
        // An app cannot revoke what another app was granted.
        return oauth_error(400, "invalid_request", INVALID_GRANT);
    }
    let refresh = match state.access_tokens.get_mut(&token) {
        Some(record) => {
            record.revoked = true;
            record.refresh_token.clone()
        }
        None => state
            .refresh_tokens
            .contains_key(&token)
            .then(|| token.clone()),
    };
    if let Some(refresh) = refresh {
        if let Some(r) = state.refresh_tokens.get_mut(&refresh) {
            r.revoked = true;
        }
        for a in state
            .access_tokens
            .values_mut()
            .filter(|a| a.refresh_token.as_deref() == Some(refresh.as_str()))
        {
            a.revoked = true;
        }
    }
    StatusCode::OK.into_response()
}

pub(crate) fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
