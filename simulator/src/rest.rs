//! LinkedIn's REST API host: identity, organization roles and organization pages (names,
//! vanity names, logos), with LinkedIn's token errors.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::{AccessRecord, Shared, SimState};

/// An organization page as LinkedIn describes it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SimOrganization {
    pub id: u64,
    pub localized_name: String,
    pub vanity_name: String,
    /// The logo's largest rendition; `None` for a page without a logo.
    pub logo_url: Option<String>,
}

impl SimOrganization {
    pub fn new(id: u64, name: &str, vanity_name: &str) -> Self {
        Self {
            id,
            localized_name: name.into(),
            vanity_name: vanity_name.into(),
            logo_url: Some(format!("https://media.licdn.example/org/{id}/logo_400.png")),
        }
    }

    pub fn urn(&self) -> String {
        format!("urn:li:organization:{}", self.id)
    }

    /// LinkedIn's JSON; with `decorate_logo` (a projection asking for `original~`) the logo's
    /// renditions are inlined, else only the digital media asset's URN is given.
    fn json(&self, decorate_logo: bool) -> serde_json::Value {
        let mut body = serde_json::json!({
            "id": self.id,
            "localizedName": self.localized_name,
            "vanityName": self.vanity_name,
        });
        if let Some(url) = &self.logo_url {
            let asset = format!("urn:li:digitalmediaAsset:logo{}", self.id);
            let mut logo = serde_json::json!({ "original": asset, "cropped": asset });
            if decorate_logo {
                let small = url.replace("_400", "_100");
                logo["original~"] = serde_json::json!({
                    "elements": [
                        {"identifiers": [{"identifier": small, "identifierType": "EXTERNAL_URL"}]},
                        {"identifiers": [{"identifier": url, "identifierType": "EXTERNAL_URL"}]},
                    ]
                });
            }
            body["logoV2"] = logo;
        }
        body
    }
}

/// The default members' pages.
pub(crate) fn default_organizations() -> HashMap<String, SimOrganization> {
    [
        SimOrganization::new(1001, "Analytical Engines Ltd", "analytical-engines"),
        SimOrganization::new(
            1002,
            "Difference Engine Society",
            "difference-engine-society",
        ),
    ]
    .into_iter()
    .map(|o| (o.urn(), o))
    .collect()
}

/// The page `urn` names; a page a test gave a member without describing it gets a plain name.
fn organization_of(state: &SimState, urn: &str) -> Option<SimOrganization> {
    if let Some(o) = state.organizations.get(urn) {
        return Some(o.clone());
    }
    let id: u64 = urn.strip_prefix("urn:li:organization:")?.parse().ok()?;
    Some(SimOrganization::new(
        id,
        &format!("Organization {id}"),
        &format!("organization-{id}"),
    ))
}

/// A page LinkedIn knows: described, or one some member has a role on.
fn known_organization(state: &SimState, id: u64) -> Option<SimOrganization> {
    let urn = format!("urn:li:organization:{id}");
    let has_role = state
        .members
        .iter()
        .any(|m| m.organizations.iter().any(|(o, _)| *o == urn));
    (state.organizations.contains_key(&urn) || has_role)
        .then(|| organization_of(state, &urn))
        .flatten()
}

/// Reading pages: the organization admin scopes.
const ORGANIZATION_READ: &[&str] = &["r_organization_admin", "rw_organization_admin"];

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
/// The caller of a versioned call: the version must be one LinkedIn serves and the token valid.
pub(crate) fn versioned_caller(
    state: &SimState,
    headers: &HeaderMap,
) -> Result<AccessRecord, Response> {
    check_version(state, headers)?;
    authenticate(state, headers)
}

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
    let projection = query.get("projection").map(String::as_str).unwrap_or("");
    if !projection.is_empty() && !balanced(projection) {
        return api_error(
            400,
            None,
            Some("ILLEGAL_ARGUMENT"),
            "Invalid projection: unbalanced parentheses",
        );
    }
    let decorate_organization = projection.contains("organization~");
    let decorate_logo = projection.contains("original~");
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
            let mut element = serde_json::json!({
                "organization": org,
                "role": role,
                "state": "APPROVED",
                "roleAssignee": member_urn,
            });
            // `projection=(elements*(…,organization~(…)))` decorates each ACL with its page.
            if decorate_organization {
                if let Some(o) = organization_of(state, &org) {
                    element["organization~"] = o.json(decorate_logo);
                }
            }
            element
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

fn balanced(projection: &str) -> bool {
    let mut depth: i32 = 0;
    for c in projection.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            _ => {}
        }
        if depth < 0 {
            return false;
        }
    }
    depth == 0
}

/// `GET /rest/organizationsLookup?ids=List(1,2)`: a batch get of pages,
/// `{results: {"1": {…}}, statuses: {"1": 200}, errors: {"9": {…}}}`. Rest.li 2.0 syntax only:
/// without its header the `List(…)` form is not understood.
pub(crate) async fn organizations_lookup(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let state = shared.lock();
    let record = match versioned_caller(&state, &headers) {
        Ok(r) => r,
        Err(e) => return e,
    };
    if !has_any(&record, ORGANIZATION_READ) {
        return access_denied("organizationsLookup.BATCH_GET.20240101");
    }
    let restli2 = headers
        .get("x-restli-protocol-version")
        .and_then(|v| v.to_str().ok())
        == Some("2.0.0");
    let ids = query
        .get("ids")
        .and_then(|raw| {
            raw.strip_prefix("List(")?
                .strip_suffix(')')
                .map(str::to_owned)
        })
        .filter(|_| restli2)
        .map(|inner| {
            inner
                .split(',')
                .map(|id| id.trim().parse::<u64>())
                .collect::<Result<Vec<_>, _>>()
        });
    let Some(Ok(ids)) = ids.filter(|ids| ids.as_ref().is_ok_and(|ids| !ids.is_empty())) else {
        return api_error(
            400,
            None,
            Some("ILLEGAL_ARGUMENT"),
            "Syntax exception in query parameters: ids must be List(id,...) with X-Restli-Protocol-Version 2.0.0",
        );
    };
    let decorate_logo = query
        .get("projection")
        .is_some_and(|p| p.contains("original~"));
    let (mut results, mut statuses, mut errors) = (
        serde_json::Map::new(),
        serde_json::Map::new(),
        serde_json::Map::new(),
    );
    for id in ids {
        let key = id.to_string();
        match known_organization(&state, id) {
            Some(o) => {
                results.insert(key.clone(), o.json(decorate_logo));
                statuses.insert(key, 200.into());
            }
            None => {
                statuses.insert(key.clone(), 404.into());
                errors.insert(
                    key,
                    serde_json::json!({"status": 404, "message": format!("Organization {id} not found")}),
                );
            }
        }
    }
    Json(serde_json::json!({ "results": results, "statuses": statuses, "errors": errors }))
        .into_response()
}

/// `GET /rest/organizations/{id}`: one page.
pub(crate) async fn organization(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let state = shared.lock();
    let record = match versioned_caller(&state, &headers) {
        Ok(r) => r,
        Err(e) => return e,
    };
    if !has_any(&record, ORGANIZATION_READ) {
        return access_denied("organizations.GET.20240101");
    }
    let Ok(id) = id.parse::<u64>() else {
        return api_error(
            400,
            None,
            Some("ILLEGAL_ARGUMENT"),
            "Syntax exception in path variables",
        );
    };
    match known_organization(&state, id) {
        Some(o) => Json(
            o.json(
                query
                    .get("projection")
                    .is_some_and(|p| p.contains("original~")),
            ),
        )
        .into_response(),
        None => api_error(
            404,
            None,
            Some("NOT_FOUND"),
            &format!("Organization {id} not found"),
        ),
    }
}
