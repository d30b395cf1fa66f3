//! A local stand-in for API Gateway's HTTP API: matches routes, verifies the caller's JWT the
//! way the JWT authorizer does (signature, issuer, audience, expiry), builds the same
//! payload-2.0 event Lambda would receive, and hands it to the function through lambda_http's
//! own event-to-request conversion.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::{to_bytes, Body as AxumBody};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Router;
use base64::Engine;
use chrono::Utc;
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{json, Value};
use tokio::net::TcpListener;

use api_function::ApiService;
use oauth_function::OAuthService;

/// Which function serves a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    OAuth,
    Api,
}

/// A route as template.yaml declares it.
struct Route {
    method: &'static str,
    path: &'static str,
    function: Function,
    public: bool,
    /// The route's `AuthorizationScopes` are the admin scope: tokens without it get 403.
    admin: bool,
}

/// Kept in step with the routes in template.yaml.
const ROUTES: &[Route] = &[
    Route {
        method: "POST",
        path: "/v1/connections/linkedin/authorize",
        function: Function::OAuth,
        public: false,
        admin: false,
    },
    Route {
        method: "GET",
        path: "/v1/oauth/linkedin/callback",
        function: Function::OAuth,
        public: true,
        admin: false,
    },
    Route {
        method: "POST",
        path: "/v1/connections/{id}/reconnect",
        function: Function::OAuth,
        public: false,
        admin: false,
    },
    Route {
        method: "GET",
        path: "/v1/connections",
        function: Function::Api,
        public: false,
        admin: false,
    },
    Route {
        method: "GET",
        path: "/v1/connections/{id}",
        function: Function::Api,
        public: false,
        admin: false,
    },
    Route {
        method: "DELETE",
        path: "/v1/connections/{id}",
        function: Function::Api,
        public: false,
        admin: false,
    },
    Route {
        method: "POST",
        path: "/v1/posts",
        function: Function::Api,
        public: false,
        admin: false,
    },
    Route {
        method: "GET",
        path: "/v1/posts",
        function: Function::Api,
        public: false,
        admin: false,
    },
    Route {
        method: "GET",
        path: "/v1/posts/{id}",
        function: Function::Api,
        public: false,
        admin: false,
    },
    Route {
        method: "DELETE",
        path: "/v1/posts/{id}",
        function: Function::Api,
        public: false,
        admin: false,
    },
    Route {
        method: "PATCH",
        path: "/v1/posts/{id}",
        function: Function::Api,
        public: false,
        admin: false,
    },
    Route {
        method: "GET",
        path: "/v1/posts/{id}/metrics",
        function: Function::Api,
        public: false,
        admin: false,
    },
    Route {
        method: "POST",
        path: "/v1/posts/{id}/approve",
        function: Function::Api,
        public: false,
        admin: false,
    },
    Route {
        method: "POST",
        path: "/v1/posts/{id}/reject",
        function: Function::Api,
        public: false,
        admin: false,
    },
    Route {
        method: "GET",
        path: "/v1/dlq-records",
        function: Function::Api,
        public: false,
        admin: false,
    },
    Route {
        method: "GET",
        path: "/v1/dlq-records/{id}",
        function: Function::Api,
        public: false,
        admin: false,
    },
    Route {
        method: "DELETE",
        path: "/v1/dlq-records/{id}",
        function: Function::Api,
        public: false,
        admin: false,
    },
    Route {
        method: "POST",
        path: "/v1/dlq-records/{id}/retry",
        function: Function::Api,
        public: false,
        admin: false,
    },
    Route {
        method: "POST",
        path: "/v1/connections/{id}/retry-failed",
        function: Function::Api,
        public: false,
        admin: false,
    },
    Route {
        method: "GET",
        path: "/v1/admin/tenants/{tenant_id}/settings",
        function: Function::Api,
        public: false,
        admin: true,
    },
    Route {
        method: "PUT",
        path: "/v1/admin/tenants/{tenant_id}/settings",
        function: Function::Api,
        public: false,
        admin: true,
    },
    Route {
        method: "POST",
        path: "/v1/webhooks",
        function: Function::Api,
        public: false,
        admin: false,
    },
    Route {
        method: "GET",
        path: "/v1/webhooks",
        function: Function::Api,
        public: false,
        admin: false,
    },
    Route {
        method: "GET",
        path: "/v1/webhooks/{id}",
        function: Function::Api,
        public: false,
        admin: false,
    },
    Route {
        method: "PATCH",
        path: "/v1/webhooks/{id}",
        function: Function::Api,
        public: false,
        admin: false,
    },
    Route {
        method: "DELETE",
        path: "/v1/webhooks/{id}",
        function: Function::Api,
        public: false,
        admin: false,
    },
    Route {
        method: "POST",
        path: "/v1/webhooks/{id}/test",
        function: Function::Api,
        public: false,
        admin: false,
    },
    Route {
        method: "POST",
        path: "/v1/webhooks/{id}/rotate-secret",
        function: Function::Api,
        public: false,
        admin: false,
    },
    Route {
        method: "GET",
        path: "/v1/webhooks/{id}/deliveries",
        function: Function::Api,
        public: false,
        admin: false,
    },
    Route {
        method: "POST",
        path: "/v1/webhooks/{id}/deliveries/{delivery_id}/resend",
        function: Function::Api,
        public: false,
        admin: false,
    },
    Route {
        method: "GET",
        path: "/v1/openapi.json",
        function: Function::Api,
        public: true,
        admin: false,
    },
];

/// The dev tokens' HS256 secret when `DEV_JWT_SECRET` gives none. It is in this repository,
/// so anyone can mint a token for any tenant with it: fine on loopback, never beyond.
pub const DEFAULT_JWT_SECRET: &str = "dev-secret-change-me";

/// Refuses to listen beyond this machine (any address but loopback) while tokens are signed
/// with [`DEFAULT_JWT_SECRET`].
pub fn refuse_public_default_secret(addr: SocketAddr, jwt: &JwtSettings) -> anyhow::Result<()> {
    if !addr.ip().is_loopback() && jwt.secret == DEFAULT_JWT_SECRET {
        anyhow::bail!(
            "refusing to listen on {addr}: the gateway would accept tokens signed with the default \
             dev JWT secret, which anyone can mint for any tenant. Set DEV_JWT_SECRET to a secret \
             of your own, or listen on a loopback address (DEV_GATEWAY_ADDR=127.0.0.1:3000)"
        );
    }
    Ok(())
}

/// How the local authorizer checks tokens. API Gateway verifies RS256 against the issuer's
/// JWKS; locally a shared HS256 secret stands in for the key, the checks are the same.
#[derive(Clone)]
pub struct JwtSettings {
    pub secret: String,
    pub issuer: String,
    pub audience: String,
}

impl JwtSettings {
    /// A token for `tenant_id`, valid for `hours`.
    pub fn mint(&self, tenant_id: &str, hours: i64) -> String {
        let now = Utc::now().timestamp();
        let claims = json!({
            "sub": format!("dev-user@{tenant_id}"),
            "tenant_id": tenant_id,
            "iss": self.issuer,
            "aud": self.audience,
            "iat": now,
            "exp": now + hours * 3600,
        });
        encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(self.secret.as_bytes()),
        )
        .expect("HS256 signing cannot fail")
    }

    /// An operator's token granting `scope` (the admin scope), for no tenant, valid for `hours`.
    pub fn mint_admin(&self, scope: &str, hours: i64) -> String {
        let now = Utc::now().timestamp();
        let claims = json!({
            "sub": "dev-admin",
            "scope": scope,
            "iss": self.issuer,
            "aud": self.audience,
            "iat": now,
            "exp": now + hours * 3600,
        });
        encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(self.secret.as_bytes()),
        )
        .expect("HS256 signing cannot fail")
    }

    fn verify(&self, token: &str) -> Option<HashMap<String, String>> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        let data = decode::<HashMap<String, Value>>(
            token,
            &DecodingKey::from_secret(self.secret.as_bytes()),
            &validation,
        )
        .ok()?;
        // The authorizer hands claims to the function as strings.
        Some(
            data.claims
                .into_iter()
                .map(|(k, v)| match v {
                    Value::String(s) => (k, s),
                    other => (k, other.to_string()),
                })
                .collect(),
        )
    }
}

#[derive(Clone)]
pub struct Gateway {
    pub oauth: Arc<OAuthService>,
    pub api: Arc<ApiService>,
    pub jwt: JwtSettings,
}

/// Serves the gateway on `listener` until the task is dropped or aborted.
pub fn serve(listener: TcpListener, gateway: Gateway) -> tokio::task::JoinHandle<()> {
    let app = Router::new().fallback(dispatch).with_state(gateway);
    tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await;
    })
}

fn match_route(method: &str, path: &str) -> Option<(&'static Route, HashMap<String, String>)> {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    ROUTES
        .iter()
        .filter(|r| r.method == method)
        .find_map(|route| {
            let pattern: Vec<&str> = route.path.split('/').collect();
            if pattern.len() != segments.len() {
                return None;
            }
            let mut params = HashMap::new();
            for (p, s) in pattern.iter().zip(&segments) {
                match p.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                    Some(name) if !s.is_empty() => {
                        params.insert(name.to_owned(), (*s).to_owned());
                    }
                    Some(_) => return None,
                    None if p == s => {}
                    None => return None,
                }
            }
            Some((route, params))
        })
}

fn gateway_message(status: StatusCode, message: &str) -> Response {
    (
        status,
        [("content-type", "application/json")],
        json!({ "message": message }).to_string(),
    )
        .into_response()
}

async fn dispatch(State(gateway): State<Gateway>, request: Request) -> Response {
    let method = request.method().as_str().to_owned();
    let path = request.uri().path().to_owned();
    let Some((route, path_parameters)) = match_route(&method, &path) else {
        return gateway_message(StatusCode::NOT_FOUND, "Not Found");
    };
    let claims = if route.public {
        None
    } else {
        let token = request
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        match token.and_then(|t| gateway.jwt.verify(t)) {
            Some(claims) => Some(claims),
            None => return gateway_message(StatusCode::UNAUTHORIZED, "Unauthorized"),
        }
    };
    // As API Gateway checks a route's AuthorizationScopes against the token's scope claim.
    if route.admin
        && !claims
            .as_ref()
            .is_some_and(|c| token_scopes(c).contains(&gateway.api.admin_scope.as_str()))
    {
        return gateway_message(StatusCode::FORBIDDEN, "Forbidden");
    }
    let event = match to_event(request, route, path_parameters, claims).await {
        Ok(event) => event,
        Err(response) => return response,
    };
    let lambda_request = match lambda_http::request::from_str(&event.to_string()) {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "gateway built an event lambda_http cannot read");
            return gateway_message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
        }
    };
    let response = match route.function {
        Function::OAuth => oauth_function::handle(lambda_request, &gateway.oauth).await,
        Function::Api => api_function::handle(lambda_request, &gateway.api).await,
    };
    let (parts, body) = response.into_parts();
    let body = match body {
        lambda_http::Body::Empty => AxumBody::empty(),
        lambda_http::Body::Text(t) => AxumBody::from(t),
        lambda_http::Body::Binary(b) => AxumBody::from(b),
        _ => AxumBody::empty(),
    };
    Response::from_parts(parts, body)
}

/// The scopes a token grants: its `scope` claim (space-separated), or `scp`.
fn token_scopes(claims: &HashMap<String, String>) -> Vec<&str> {
    claims
        .get("scope")
        .or_else(|| claims.get("scp"))
        .map(|s| s.split_whitespace().collect())
        .unwrap_or_default()
}

/// The API Gateway HTTP API payload-2.0 event for this request.
async fn to_event(
    request: Request,
    route: &Route,
    path_parameters: HashMap<String, String>,
    claims: Option<HashMap<String, String>>,
) -> Result<Value, Response> {
    let (parts, body) = request.into_parts();
    let body = to_bytes(body, 10 * 1024 * 1024)
        .await
        .map_err(|_| gateway_message(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large"))?;
    let mut headers: HashMap<String, String> = HashMap::new();
    let mut cookies = Vec::new();
    for (name, value) in &parts.headers {
        let value = value.to_str().unwrap_or_default().to_owned();
        if name == "cookie" {
            cookies.extend(value.split("; ").map(str::to_owned));
            continue;
        }
        headers
            .entry(name.as_str().to_owned())
            .and_modify(|v| {
                v.push(',');
                v.push_str(&value);
            })
            .or_insert(value);
    }
    let raw_query = parts.uri.query().unwrap_or_default().to_owned();
    let mut query: HashMap<String, String> = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(raw_query.as_bytes()) {
        query
            .entry(k.into_owned())
            .and_modify(|e| {
                e.push(',');
                e.push_str(&v);
            })
            .or_insert_with(|| v.into_owned());
    }
    let (body, is_base64) = match std::str::from_utf8(&body) {
        Ok(text) => (text.to_owned(), false),
        Err(_) => (
            base64::engine::general_purpose::STANDARD.encode(&body),
            true,
        ),
    };
    let now = Utc::now();
    let route_key = format!("{} {}", route.method, route.path);
    let host = headers
        .get("host")
        .cloned()
        .unwrap_or_else(|| "localhost".into());
    let mut event = json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": parts.uri.path(),
        "rawQueryString": raw_query,
        "headers": headers,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": host,
            "domainPrefix": host.split('.').next().unwrap_or_default(),
            "http": {
                "method": route.method,
                "path": parts.uri.path(),
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": parts.headers.get("user-agent").and_then(|v| v.to_str().ok()).unwrap_or_default(),
            },
            "requestId": uuid::Uuid::new_v4().to_string(),
            "routeKey": route_key,
            "stage": "$default",
            "time": now.format("%d/%b/%Y:%H:%M:%S +0000").to_string(),
            "timeEpoch": now.timestamp_millis(),
        },
        "isBase64Encoded": is_base64,
    });
    if !body.is_empty() {
        event["body"] = body.into();
    }
    if !cookies.is_empty() {
        event["cookies"] = cookies.into();
    }
    if !query.is_empty() {
        event["queryStringParameters"] = json!(query);
    }
    if !path_parameters.is_empty() {
        event["pathParameters"] = json!(path_parameters);
    }
    if let Some(claims) = claims {
        let scopes = token_scopes(&claims);
        let scopes = (!scopes.is_empty()).then_some(scopes);
        event["requestContext"]["authorizer"] =
            json!({ "jwt": { "claims": claims, "scopes": scopes } });
    }
    Ok(event)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_match_with_path_parameters() {
        let (route, params) = match_route("GET", "/v1/connections/abc").unwrap();
        assert_eq!(route.path, "/v1/connections/{id}");
        assert_eq!(params["id"], "abc");
        assert!(match_route("PUT", "/v1/connections/abc").is_none());
        assert!(match_route("GET", "/v1/nothing").is_none());
    }

    /// `(method, path, public, admin)` of every HttpApi event in template.yaml, read line by
    /// line (CloudFormation's `!Ref` tags defeat generic YAML parsers). A route is admin when
    /// its `AuthorizationScopes` are the `AdminScope` parameter.
    fn template_routes() -> Vec<(String, String, bool, bool)> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml");
        let text = std::fs::read_to_string(path).unwrap();
        let mut routes = Vec::new();
        let mut current: Option<(String, String, bool, bool)> = None;
        for line in text.lines().map(str::trim) {
            if line == "Type: HttpApi" {
                routes.extend(current.take());
                current = Some(Default::default());
            } else if let Some(route) = current.as_mut() {
                if let Some(m) = line.strip_prefix("Method: ") {
                    route.0 = m.to_owned();
                } else if let Some(p) = line.strip_prefix("Path: ") {
                    route.1 = p.to_owned();
                } else if line == "Authorizer: NONE" {
                    route.2 = true;
                } else if line == "AuthorizationScopes: [!Ref AdminScope]" {
                    route.3 = true;
                } else if line.starts_with("Policies:") || line.starts_with("Type: AWS::") {
                    routes.extend(current.take());
                }
            }
        }
        routes.extend(current);
        routes.sort();
        routes
    }

    #[test]
    fn the_local_gateway_serves_exactly_the_routes_of_template_yaml() {
        let mut local: Vec<(String, String, bool, bool)> = ROUTES
            .iter()
            .map(|r| (r.method.to_owned(), r.path.to_owned(), r.public, r.admin))
            .collect();
        local.sort();
        assert_eq!(local, template_routes());
    }

    /// `(method, path, public)` of every operation of the API's OpenAPI document; public when
    /// its own `security` asks for nothing.
    fn documented_routes() -> Vec<(String, String, bool)> {
        let doc = serde_json::to_value(api_function::openapi::document()).unwrap();
        let mut routes = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            let methods = [
                "get", "put", "post", "delete", "patch", "head", "options", "trace",
            ];
            for (method, operation) in item
                .as_object()
                .unwrap()
                .iter()
                .filter(|(key, _)| methods.contains(&key.as_str()))
            {
                let public = operation["security"]
                    .as_array()
                    .is_some_and(|requirements| {
                        requirements
                            .iter()
                            .all(|r| r.as_object().is_some_and(|r| r.is_empty()))
                    });
                routes.push((method.to_uppercase(), path.clone(), public));
            }
        }
        routes.sort();
        routes
    }

    /// A route added to template.yaml without its description in the document fails here, and
    /// so does a documented route the template does not serve.
    #[test]
    fn the_openapi_document_describes_exactly_the_routes_of_template_yaml() {
        let template: Vec<(String, String, bool)> = template_routes()
            .into_iter()
            .map(|(method, path, public, _)| (method, path, public))
            .collect();
        let documented = documented_routes();
        let missing: Vec<_> = template
            .iter()
            .filter(|r| !documented.contains(r))
            .collect();
        let extra: Vec<_> = documented
            .iter()
            .filter(|r| !template.contains(r))
            .collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "in template.yaml, not in the document (or public in one only): {missing:?}; \
             in the document, not in template.yaml: {extra:?}"
        );
    }

    #[test]
    fn the_default_jwt_secret_is_refused_beyond_loopback() {
        let default = JwtSettings {
            secret: DEFAULT_JWT_SECRET.into(),
            issuer: "i".into(),
            audience: "a".into(),
        };
        let own = JwtSettings {
            secret: "a-secret-of-our-own".into(),
            ..default.clone()
        };
        for (addr, jwt, allowed) in [
            ("127.0.0.1:3000", &default, true),
            ("127.10.0.1:3000", &default, true),
            ("[::1]:3000", &default, true),
            ("0.0.0.0:3000", &default, false),
            ("[::]:3000", &default, false),
            ("192.168.1.20:3000", &default, false),
            ("[2001:db8::1]:3000", &default, false),
            ("0.0.0.0:3000", &own, true),
            ("192.168.1.20:3000", &own, true),
        ] {
            let result = refuse_public_default_secret(addr.parse().unwrap(), jwt);
            assert_eq!(result.is_ok(), allowed, "{addr} with {:?}", jwt.secret);
            if let Err(e) = result {
                assert!(
                    e.to_string().contains("DEV_JWT_SECRET"),
                    "says what to do: {e}"
                );
            }
        }
    }

    /// The stack checks before it starts anything (no moto, no simulator, no socket).
    #[tokio::test]
    async fn the_stack_will_not_start_a_public_gateway_with_the_default_secret() {
        let options = crate::StackOptions {
            gateway_addr: "0.0.0.0:0".parse().unwrap(),
            ..Default::default()
        };
        let error = crate::LocalStack::start(options)
            .await
            .err()
            .expect("refused");
        assert!(
            error.to_string().contains("default dev JWT secret"),
            "{error}"
        );
    }

    #[test]
    fn tokens_are_checked_for_signature_issuer_audience_and_expiry() {
        let jwt = JwtSettings {
            secret: "s".into(),
            issuer: "i".into(),
            audience: "a".into(),
        };
        let good = jwt.mint("demo", 1);
        let admin = jwt.verify(&jwt.mint_admin("connector/admin", 1)).unwrap();
        assert_eq!(token_scopes(&admin), ["connector/admin"]);
        assert!(!admin.contains_key("tenant_id"));
        assert!(token_scopes(&jwt.verify(&good).unwrap()).is_empty());
        assert_eq!(jwt.verify(&good).unwrap()["tenant_id"], "demo");
        let expired = jwt.mint("demo", -1);
        assert!(jwt.verify(&expired).is_none());
        let other_secret = JwtSettings {
            secret: "t".into(),
            ..jwt.clone()
        };
        assert!(jwt.verify(&other_secret.mint("demo", 1)).is_none());
        let other_audience = JwtSettings {
            audience: "b".into(),
            ..jwt.clone()
        };
        assert!(jwt.verify(&other_audience.mint("demo", 1)).is_none());
    }
}
