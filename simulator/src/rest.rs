//! LinkedIn's REST API host: identity and organization roles, with LinkedIn's token errors.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::{AccessRecord, Shared, SimState};

/// LinkedIn's error body: `{"status", "serviceErrorCode"?, "code"?, "message"}`.
pub(crate) fn api_error(
    status: u16,
    service_error_code: Option<u32>,
    code: Option<&str>,
    message: &str,
) -> Response {
    let mut body = serde_json::json!({ "status": status, "message": message });
    if let Some(c) = service_error_code {
        body["serviceErrorCode"] = c.into();
    }
    if let Some(c) = code {
        body["code"] = c.into();
    }
    (
        StatusCode::from_u16(status).expect("valid status"),
        Json(body),
    )
        .into_response()
}

/// Checks the bearer token as LinkedIn does, including the propagation delay of new tokens.
pub(crate) fn authenticate(
    state: &SimState,
    headers: &HeaderMap,
) -> Result<AccessRecord, Response> {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .filter(|t| !t.is_empty());
    let Some(token) = token else {
        return Err(api_error(401, None, None, "Empty oauth2_access_token"));
    };
    let Some(record) = state.access_tokens.get(token) else {
        return Err(api_error(
            401,
            Some(65600),
            Some("INVALID_ACCESS_TOKEN"),
            "Invalid access token",
        ));
    };
    let now = state.now();
    if record.revoked {
        return Err(revoked());
    }
    if now >= record.expires_at {
        return Err(api_error(
            401,
            Some(65602),
            Some("EXPIRED_ACCESS_TOKEN"),
            "The token used in the request has expired",
        ));
    }
    let age = (now - record.issued_at).to_std().unwrap_or_default();
    if age < state.config.propagation_window {
        // Indistinguishable from a revoked token, as on the real API.
        return Err(revoked());
    }
    Ok(record.clone())
}

fn revoked() -> Response {
    api_error(
        401,
        Some(65601),
        Some("REVOKED_ACCESS_TOKEN"),
        "The token used in the request has been revoked by the user",
    )
}

fn access_denied(resource: &str) -> Response {
    api_error(
        403,
        Some(100),
        Some("ACCESS_DENIED"),
        &format!("Not enough permissions to access: {resource}"),
    )
}

fn has_any(record: &AccessRecord, scopes: &[&str]) -> bool {
    record.scopes.iter().any(|s| scopes.contains(&s.as_str()))
}

/// `/rest` calls must name an active `LinkedIn-Version`, on the simulator's clock.
pub(crate) fn check_version(state: &SimState, headers: &HeaderMap) -> Result<(), Response> {
    let Some(version) = headers
        .get("linkedin-version")
        .and_then(|v| v.to_str().ok())
    else {
        return Err(api_error(
            400,
            None,
            Some("VERSION_MISSING"),
            "A version must be present. Please specify a version by adding the LinkedIn-Version header.",
        ));
    };
    match super::version_is_active(version, state.now()) {
        Some(true) => {}
        Some(false) => {
            return Err(api_error(
                426,
                None,
                Some("NONEXISTENT_VERSION"),
                &format!("Requested version {version} is not active"),
            ))
        }
        None => {
            return Err(api_error(
                400,
                None,
                Some("INVALID_VERSION"),
                &format!("Invalid LinkedIn-Version {version}: expected YYYYMM or YYYYMMDD"),
            ))
        }
    }
    Ok(())
}

pub(crate) async fn userinfo(State(shared): State<Shared>, headers: HeaderMap) -> Response {
    let state = shared.lock();
    let record = match authenticate(&state, &headers) {
        Ok(r) => r,
        Err(e) => return e,
    };
    if !has_any(&record, &["openid"]) || !has_any(&record, &["profile"]) {
        return access_denied("userinfo.GET.NO_VERSION");
    }
    let Some(m) = state.member(&record.member_sub) else {
        return api_error(404, None, Some("NOT_FOUND"), "Member not found");
    };
    let mut body = serde_json::json!({
        "sub": m.sub,
        "name": format!("{} {}", m.given_name, m.family_name),
        "given_name": m.given_name,
        "family_name": m.family_name,
        "picture": format!("https://media.licdn.example/{}.jpg", m.sub),
        // Sometimes a string, sometimes an object on the real API.
        "locale": { "country": "US", "language": "en" },
    });
    if has_any(&record, &["email"]) {
        body["email"] = m.email.clone().into();
        body["email_verified"] = true.into();
    }
    Json(body).into_response()
}

pub(crate) async fn me(State(shared): State<Shared>, headers: HeaderMap) -> Response {
    let state = shared.lock();
    let record = match authenticate(&state, &headers) {
        Ok(r) => r,
        Err(e) => return e,
    };
    if !has_any(&record, &["r_liteprofile", "r_basicprofile"]) {
        return access_denied("me.GET.NO_VERSION");
    }
    let Some(m) = state.member(&record.member_sub) else {
        return api_error(404, None, Some("NOT_FOUND"), "Member not found");
    };
    Json(serde_json::json!({
        "id": m.sub,
        "localizedFirstName": m.given_name,
        "localizedLastName": m.family_name,
    }))
    .into_response()
}

pub(crate) async fn organization_acls_rest(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let state = shared.lock();
    if let Err(e) = check_version(&state, &headers) {
        return e;
    }
    organization_acls(
        &state,
        &headers,
        &query,
        "organizationAcls.FINDER-roleAssignee.20240101",
    )
}

pub(crate) async fn organization_acls_v2(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let state = shared.lock();
    organization_acls(
        &state,
        &headers,
        &query,
        "organizationAcls.FINDER-roleAssignee.NO_VERSION",
    )
}

fn organization_acls(
    state: &SimState,
    headers: &HeaderMap,
    query: &HashMap<String, String>,
    resource: &str,
) -> Response {
    let record = match authenticate(state, headers) {
        Ok(r) => r,
        Err(e) => return e,
    };
    if !has_any(&record, &["r_organization_admin", "rw_organization_admin"]) {
        return access_denied(resource);
    }
    if query.get("q").map(String::as_str) != Some("roleAssignee") {
        return api_error(
            400,
            None,
            Some("ILLEGAL_ARGUMENT"),
            "Invalid query: q must be roleAssignee",
        );
    }
    let start: usize = query.get("start").and_then(|s| s.parse().ok()).unwrap_or(0);
    let count: usize = query
        .get("count")
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let member_urn = format!("urn:li:person:{}", record.member_sub);
    let all: Vec<serde_json::Value> = state
        .member(&record.member_sub)
        .map(|m| m.organizations.clone())
        .unwrap_or_default()
        .into_iter()
        .filter(|(_, role)| query.get("role").is_none_or(|r| r == role))
        .filter(|_| query.get("state").is_none_or(|s| s == "APPROVED"))
        .map(|(org, role)| {
            serde_json::json!({
                "organization": org,
                "role": role,
                "state": "APPROVED",
                "roleAssignee": member_urn,
            })
        })
        .collect();
    let total = all.len();
    let elements: Vec<_> = all.into_iter().skip(start).take(count).collect();
    Json(serde_json::json!({
        "elements": elements,
        "paging": { "start": start, "count": count, "total": total },
    }))
    .into_response()
}
