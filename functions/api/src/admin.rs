//! `GET|PUT /v1/admin/tenants/{tenant_id}/settings`: an operator reads or replaces one tenant's
//! settings (its own `redirect_after` allow-list; without one, the deployment's
//! `REDIRECT_ALLOW_LIST` applies).
//!
//! Only tokens carrying the admin scope (`ADMIN_SCOPE`) may. API Gateway checks the route's
//! `AuthorizationScopes`; this handler checks the same scope again, so a route deployed
//! without them, and the local gateway, answer as the product means to. The tenant is the
//! path's: an admin acts on tenants, not as one.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use connector::domain::{RedirectAllowList, TenantId, TenantSettings, MAX_ALLOW_LIST_ENTRIES};
use connector::http::{self, ApiError};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tracing::info;

use crate::{store_error, ApiService};

/// The whole of a tenant's settings, as an admin replaces them.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct SettingsBody {
    /// A list of URLs, or null (or absent) for the deployment's list.
    #[serde(default)]
    #[schema(value_type = Option<Vec<String>>)]
    redirect_allow_list: Value,
}

/// A tenant's settings as the admin API shows them.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct SettingsView<'a> {
    tenant_id: &'a str,
    /// `null`: the deployment's `REDIRECT_ALLOW_LIST` applies.
    redirect_allow_list: Option<Vec<&'a str>>,
    version: u64,
    updated_at: Option<DateTime<Utc>>,
}

impl<'a> From<&'a TenantSettings> for SettingsView<'a> {
    fn from(settings: &'a TenantSettings) -> Self {
        Self {
            tenant_id: settings.tenant_id.as_str(),
            redirect_allow_list: settings
                .redirect_allow_list
                .as_ref()
                .map(|list| list.entries().iter().map(url::Url::as_str).collect()),
            version: settings.version,
            updated_at: settings.updated_at,
        }
    }
}

/// The admin's `sub` (for the log) and the tenant named by the path.
fn admin_and_tenant(
    request: &Request,
    service: &ApiService,
    raw_tenant: &str,
) -> Result<(Option<String>, TenantId), ApiError> {
    let admin = require_admin(request, &service.admin_scope)?;
    let tenant = TenantId::parse(raw_tenant).ok_or_else(|| {
        ApiError::validation(
            "tenant_id",
            "tenant_id must be 1 to 128 letters, digits or -_.:@",
        )
    })?;
    Ok((admin, tenant))
}

#[utoipa::path(
    get,
    path = "/v1/admin/tenants/{tenant_id}/settings",
    operation_id = "get_tenant_settings",
    tag = "admin",
    params(("tenant_id" = String, Path, description = "The tenant")),
    responses((status = 200, description = "The tenant's settings", body = SettingsView), (status = 403, description = "The token lacks the admin scope", body = connector::http::ErrorBody)),
)]
pub(crate) async fn get_settings(
    request: &Request,
    service: &ApiService,
    raw_tenant: &str,
) -> Result<Response<Body>, ApiError> {
    let (_, tenant) = admin_and_tenant(request, service, raw_tenant)?;
    let settings = service
        .tenants
        .settings(&tenant)
        .await
        .map_err(store_error("reading tenant settings"))?
        .unwrap_or_else(|| TenantSettings::defaults(&tenant));
    Ok(http::json(200, &SettingsView::from(&settings)))
}

#[utoipa::path(
    put,
    path = "/v1/admin/tenants/{tenant_id}/settings",
    operation_id = "put_tenant_settings",
    tag = "admin",
    params(("tenant_id" = String, Path, description = "The tenant")),
    request_body = SettingsBody,
    responses((status = 200, description = "The tenant's settings", body = SettingsView), (status = 400, description = "A bad allow-list entry", body = connector::http::ErrorBody), (status = 403, description = "The token lacks the admin scope", body = connector::http::ErrorBody)),
)]
pub(crate) async fn put_settings(
    request: &Request,
    service: &ApiService,
    raw_tenant: &str,
) -> Result<Response<Body>, ApiError> {
    let (admin, tenant) = admin_and_tenant(request, service, raw_tenant)?;
    let body: SettingsBody = http::json_body(request)?;
    let list = parse_allow_list(body.redirect_allow_list)?;
    let now = Utc::now();
    let stored = service
        .tenants
        .update_settings(&tenant, |current| {
            current.with_redirect_allow_list(list.clone(), now)
        })
        .await
        .map_err(store_error("changing tenant settings"))?;
    info!(
        tenant = %tenant,
        admin = admin.as_deref().unwrap_or(""),
        version = stored.version,
        own_allow_list = stored.redirect_allow_list.is_some(),
        "tenant settings changed"
    );
    Ok(http::json(200, &SettingsView::from(&stored)))
}

/// `redirect_allow_list`: null for the deployment's list, or at most
/// [`MAX_ALLOW_LIST_ENTRIES`] URL strings (counted before any is parsed), each under the
/// redirect rules.
fn parse_allow_list(raw: Value) -> Result<Option<RedirectAllowList>, ApiError> {
    const FIELD: &str = "redirect_allow_list";
    let entries = match raw {
        Value::Null => return Ok(None),
        Value::Array(entries) => entries,
        _ => {
            return Err(ApiError::validation(
                FIELD,
                "redirect_allow_list must be a list of URLs or null",
            ))
        }
    };
    if entries.len() > MAX_ALLOW_LIST_ENTRIES {
        return Err(ApiError::validation(
            FIELD,
            format!("redirect_allow_list has more than {MAX_ALLOW_LIST_ENTRIES} entries"),
        ));
    }
    let texts = entries
        .iter()
        .enumerate()
        .map(|(index, entry)| {
            entry.as_str().ok_or_else(|| {
                ApiError::validation(
                    FIELD,
                    format!("redirect_allow_list entry {index} must be a string"),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    RedirectAllowList::from_entries(texts)
        .map(Some)
        .map_err(|e| ApiError::validation(FIELD, format!("redirect_allow_list {e}")))
}

/// The caller may use admin routes: its verified JWT grants `scope`. Returns the caller's
/// `sub`, for the log. No JWT at all is a 401; a JWT without the scope a 403.
fn require_admin(request: &Request, scope: &str) -> Result<Option<String>, ApiError> {
    let jwt = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => {
            ctx.authorizer.as_ref().and_then(|a| a.jwt.as_ref())
        }
        _ => None,
    }
    .ok_or(ApiError::Unauthenticated)?;
    if !grants(jwt.scopes.as_deref(), &jwt.claims, scope) {
        return Err(ApiError::Forbidden("this route requires the admin scope"));
    }
    Ok(jwt.claims.get("sub").cloned())
}

/// Whether a token grants `wanted`: in the scopes API Gateway lists for it, or in its `scope`
/// (OAuth 2.0, space-separated) or `scp` claim, which the authorizer hands over as a string
/// (`"a b"`, or `"[a b]"` for a JSON array).
fn grants(scopes: Option<&[String]>, claims: &HashMap<String, String>, wanted: &str) -> bool {
    let listed = scopes.unwrap_or_default().iter().map(String::as_str);
    let claimed = ["scope", "scp"]
        .into_iter()
        .filter_map(|name| claims.get(name))
        .flat_map(|raw| {
            raw.trim_start_matches('[')
                .trim_end_matches(']')
                .split([' ', ','])
                .map(|s| s.trim_matches('"'))
        });
    listed.chain(claimed).any(|granted| granted == wanted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ADMIN: &str = "connector/admin";

    fn claims(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn only_a_token_granting_the_admin_scope_is_an_admin() {
        let listed = vec![ADMIN.to_owned()];
        let other = vec!["connector/read".to_owned()];
        type Case<'a> = (Option<&'a [String]>, &'a [(&'a str, &'a str)], bool);
        let cases: &[Case] = &[
            (Some(&listed), &[], true),
            (None, &[("scope", "openid connector/admin")], true),
            (None, &[("scp", "[connector/read connector/admin]")], true),
            (None, &[("scp", "[\"connector/admin\"]")], true),
            (Some(&other), &[("scope", "connector/admin")], true),
            (None, &[], false),
            (Some(&other), &[("scope", "openid profile")], false),
            (None, &[("scope", "connector/admins")], false),
            (None, &[("scope", "xconnector/admin")], false),
            // A tenant claim or a look-alike claim name grants nothing.
            (None, &[("tenant_id", "connector/admin")], false),
            (None, &[("scopes", "connector/admin")], false),
        ];
        for (scopes, pairs, expected) in cases {
            assert_eq!(
                grants(*scopes, &claims(pairs), ADMIN),
                *expected,
                "{scopes:?} {pairs:?}"
            );
        }
    }

    /// An API Gateway payload-2.0 request to the admin route with these JWT claims.
    fn request(claims: Option<Value>) -> Request {
        let mut event = json!({
            "version": "2.0",
            "routeKey": "PUT /v1/admin/tenants/{tenant_id}/settings",
            "rawPath": "/v1/admin/tenants/acme/settings",
            "rawQueryString": "",
            "headers": { "content-type": "application/json" },
            "requestContext": {
                "accountId": "123456789012",
                "apiId": "abc123",
                "domainName": "abc123.execute-api.eu-west-1.amazonaws.com",
                "domainPrefix": "abc123",
                "http": {
                    "method": "PUT",
                    "path": "/v1/admin/tenants/acme/settings",
                    "protocol": "HTTP/1.1",
                    "sourceIp": "203.0.113.10",
                    "userAgent": "curl/8.5.0"
                },
                "requestId": "r",
                "routeKey": "PUT /v1/admin/tenants/{tenant_id}/settings",
                "stage": "$default",
                "time": "23/Nov/2026:09:00:00 +0000",
                "timeEpoch": 1795424400000u64
            },
            "isBase64Encoded": false
        });
        if let Some(claims) = claims {
            event["requestContext"]["authorizer"] =
                json!({ "jwt": { "claims": claims, "scopes": null } });
        }
        lambda_http::request::from_str(&event.to_string()).unwrap()
    }

    #[test]
    fn a_tenant_token_is_forbidden_and_no_token_unauthenticated() {
        let tenant = request(Some(json!({ "sub": "u", "tenant_id": "acme" })));
        assert!(matches!(
            require_admin(&tenant, ADMIN),
            Err(ApiError::Forbidden(_))
        ));
        let response = require_admin(&tenant, ADMIN).unwrap_err().into_response();
        assert_eq!(response.status(), 403);

        let admin = request(Some(json!({ "sub": "ops-1", "scope": ADMIN })));
        assert_eq!(
            require_admin(&admin, ADMIN).unwrap().as_deref(),
            Some("ops-1")
        );
        // Another deployment's admin scope is not this one's.
        assert!(require_admin(&admin, "other/admin").is_err());

        assert!(matches!(
            require_admin(&request(None), ADMIN),
            Err(ApiError::Unauthenticated)
        ));
    }

    #[test]
    fn an_allow_list_is_null_or_urls_under_the_rules_and_refusals_name_the_field() {
        assert_eq!(parse_allow_list(Value::Null).unwrap(), None);
        assert_eq!(
            parse_allow_list(json!(["https://a.example.com/li/"])).unwrap(),
            Some(RedirectAllowList::parse("https://a.example.com/li/").unwrap())
        );
        assert_eq!(
            parse_allow_list(json!([])).unwrap(),
            Some(RedirectAllowList::default())
        );
        let too_many: Vec<String> = (0..=MAX_ALLOW_LIST_ENTRIES)
            .map(|i| format!("https://a{i}.example.com"))
            .collect();
        for (bad, says) in [
            (json!("https://a.example.com"), "list of URLs"),
            (json!([1]), "entry 0 must be a string"),
            (
                json!(["https://a.example.com", "http://b.example.com"]),
                "entry 1 must use https",
            ),
            (
                json!(["https://a.example.com/x%2Fy"]),
                "entry 0 must not have an encoded",
            ),
            (
                json!(["https://u:p@a.example.com"]),
                "entry 0 must not carry",
            ),
            (json!(too_many), "more than 50"),
        ] {
            match parse_allow_list(bad.clone()) {
                Err(ApiError::Validation { field, message }) => {
                    assert_eq!(field, "redirect_allow_list", "{bad}");
                    assert!(message.contains(says), "{bad}: {message}");
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
    }
}
