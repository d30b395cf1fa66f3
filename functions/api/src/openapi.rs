//! `GET /v1/openapi.json`: the HTTP API's OpenAPI 3.1 document, generated from the types the
//! handlers read and write (each handler carries its `#[utoipa::path]`), so it changes when
//! they do. The oauth function's routes are described here too, from their bodies in
//! `connector::authorization`, and the webhook deliveries in the `webhooks` section. A test in
//! the local stack holds the document's routes to template.yaml's, both ways.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use connector::authorization::{AuthorizeBody, AuthorizeResponse, CallbackQuery};
use connector::events::{EventType, Ping, WebhookDisabled};
use connector::http::ErrorBody;
use connector::store::DlqRecord;
use connector::views::{ConnectionView, PostView};
use lambda_http::{Body, Response};
use strum::VariantArray;
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::path::{
    HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn, PathItem, PathItemBuilder,
};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::response::{ResponseBuilder, ResponsesBuilder};
use utoipa::openapi::schema::{ObjectBuilder, SchemaFormat, SchemaType, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{KnownFormat, OpenApi as Document, Ref, Required};
use utoipa::{IntoParams, OpenApi, ToSchema};

mod webhooks;

use webhooks::Webhooks;

/// The security scheme of every route but the public ones (`security` above names it too).
const BEARER: &str = "bearer";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "LinkedIn connector",
        description = "Connect your users' LinkedIn accounts and publish to them: connections, \
            posts, webhooks and failed jobs of the calling tenant. Callers authenticate with a \
            JWT whose `tenant_id` claim names the tenant. Errors are `{\"error\": {code, \
            message, field?}}`.",
    ),
    paths(
        openapi_json,
        crate::list_connections,
        crate::get_connection,
        crate::disconnect::disconnect,
        crate::dlq::retry_failed,
        crate::posts::create,
        crate::posts::list,
        crate::posts::get,
        crate::post_metrics::get,
        crate::posts::delete,
        crate::edits::patch,
        crate::approvals::approve,
        crate::approvals::reject,
        crate::dlq::list,
        crate::dlq::get,
        crate::dlq::dismiss,
        crate::dlq::retry,
        crate::webhooks::create,
        crate::webhooks::list,
        crate::webhooks::get,
        crate::webhooks::patch,
        crate::webhooks::delete,
        crate::webhooks::test,
        crate::webhooks::rotate_secret,
        crate::webhook_deliveries::list,
        crate::webhook_deliveries::resend,
        crate::admin::get_settings,
        crate::admin::put_settings,
    ),
    components(schemas(
        ErrorBody,
        AuthorizeBody,
        AuthorizeResponse,
        PostView,
        ConnectionView,
        DlqRecord,
        Ping,
        WebhookDisabled,
    )),
    modifiers(&Security, &OAuthRoutes, &ErrorAnswers, &Webhooks),
    security(("bearer" = [])),
    tags(
        (name = "connections", description = "LinkedIn accounts the tenant's users connected"),
        (name = "posts", description = "Posts: now, later, edited, deleted, approved"),
        (name = "dlq", description = "Jobs that will not be retried: review and redrive"),
        (name = "webhooks", description = "Endpoints events are delivered to, and their logs"),
        (name = "admin", description = "Operators only: tokens with the admin scope"),
        (name = "oauth", description = "Connecting an account (the oauth function)"),
        (name = "meta", description = "This document"),
    ),
)]
struct ApiDoc;

/// The document, built once per cold start.
pub fn document() -> &'static Document {
    static DOCUMENT: OnceLock<Document> = OnceLock::new();
    DOCUMENT.get_or_init(ApiDoc::openapi)
}

/// The OpenAPI 3.1 document of this API (public, no token).
#[utoipa::path(
    get,
    path = "/v1/openapi.json",
    operation_id = "openapi_document",
    tag = "meta",
    security(()),
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json")),
)]
pub(crate) fn openapi_json() -> Response<Body> {
    static JSON: OnceLock<String> = OnceLock::new();
    let json = JSON.get_or_init(|| document().to_json().expect("the document serializes"));
    Response::builder()
        .status(200)
        .header("content-type", "application/json")
        // The same for every caller until the next deployment.
        .header("cache-control", "public, max-age=300")
        .body(Body::Text(json.clone()))
        .expect("static response parts are valid")
}

/// The tenant's JWT, as API Gateway's JWT authorizer verifies it.
struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, doc: &mut Document) {
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format("JWT")
            .description(Some(
                "A JWT of the deployment's issuer and audience; its `tenant_id` claim names the \
                 tenant. The admin routes ask for the admin scope (`scope` claim) instead.",
            ))
            .build();
        doc.components
            .get_or_insert_with(Default::default)
            .add_security_scheme(BEARER, SecurityScheme::Http(scheme));
    }
}

/// Every operation's answer for anything else: the error envelope, `error.code` saying which.
struct ErrorAnswers;

impl utoipa::Modify for ErrorAnswers {
    fn modify(&self, doc: &mut Document) {
        for item in doc.paths.paths.values_mut() {
            for operation in operations(item) {
                operation.responses.responses.insert(
                    "default".into(),
                    ResponseBuilder::new()
                        .description(
                            "An error: 401 without a valid token, 429 at a tenant limit (with \
                             Retry-After), 500, 503 when a dependency is down (nothing recorded)",
                        )
                        .content("application/json", json_of(schema_ref::<ErrorBody>()))
                        .into(),
                );
            }
        }
    }
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut utoipa::openapi::path::Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.options,
        &mut item.head,
        &mut item.patch,
        &mut item.trace,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
}

/// The oauth function's routes: starting an authorization, renewing a connection, and
/// LinkedIn's callback (public: its single-use state authenticates it).
struct OAuthRoutes;

impl utoipa::Modify for OAuthRoutes {
    fn modify(&self, doc: &mut Document) {
        let start = |operation_id: &str, summary: &str| {
            OperationBuilder::new()
                .operation_id(Some(operation_id))
                .tag("oauth")
                .summary(Some(summary))
                .request_body(Some(
                    RequestBodyBuilder::new()
                        .content("application/json", json_of(schema_ref::<AuthorizeBody>()))
                        .build(),
                ))
                .responses(
                    ResponsesBuilder::new()
                        .response(
                            "200",
                            ResponseBuilder::new()
                                .description("Send the member's browser to `authorization_url`")
                                .content(
                                    "application/json",
                                    json_of(schema_ref::<AuthorizeResponse>()),
                                ),
                        )
                        .build(),
                )
        };
        let id = ParameterBuilder::new()
            .name("id")
            .parameter_in(ParameterIn::Path)
            .required(Required::True)
            .description(Some("The connection"))
            .schema(Some(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid))),
            ))
            .build();
        let callback = OperationBuilder::new()
            .operation_id(Some("oauth_callback"))
            .tag("oauth")
            .summary(Some("LinkedIn's redirect back to the connector"))
            .description(Some(
                "Stores the connection and answers 302 to `redirect_after` with \
                 `connection_id` (or `error`, and `client_state` when one was given), or a \
                 small HTML page. Unknown, reused or expired state: 400.",
            ))
            .parameters(Some(CallbackQuery::into_params(|| {
                Some(ParameterIn::Query)
            })))
            .securities(Some(Vec::<SecurityRequirement>::new()))
            .responses(
                ResponsesBuilder::new()
                    .response(
                        "302",
                        ResponseBuilder::new().description("To the tenant's `redirect_after`"),
                    )
                    .response(
                        "200",
                        ResponseBuilder::new()
                            .description("A small page, without a `redirect_after`")
                            .content("text/html", ContentBuilder::new().build()),
                    )
                    .response(
                        "400",
                        ResponseBuilder::new()
                            .description("Unknown, reused or expired state; nothing stored"),
                    )
                    .build(),
            );
        let paths = &mut doc.paths.paths;
        paths.insert(
            "/v1/connections/linkedin/authorize".into(),
            PathItem::new(
                HttpMethod::Post,
                start("authorize", "Start connecting a LinkedIn account"),
            ),
        );
        paths.insert(
            "/v1/connections/{id}/reconnect".into(),
            PathItem::new(
                HttpMethod::Post,
                start("reconnect", "Renew a connection in place").parameter(id),
            ),
        );
        paths.insert(
            "/v1/oauth/linkedin/callback".into(),
            PathItem::new(HttpMethod::Get, callback),
        );
    }
}

fn schema_ref<T: ToSchema>() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
    Ref::from_schema_name(T::name()).into()
}

fn json_of(
    schema: utoipa::openapi::RefOr<utoipa::openapi::Schema>,
) -> utoipa::openapi::content::Content {
    ContentBuilder::new().schema(Some(schema)).build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn json() -> Value {
        serde_json::to_value(document()).unwrap()
    }

    fn refs<'a>(value: &'a Value, found: &mut Vec<&'a str>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("$ref") {
                    found.push(r);
                }
                map.values().for_each(|v| refs(v, found));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, found)),
            _ => {}
        }
    }

    #[test]
    fn the_document_is_openapi_3_1() {
        assert!(json()["openapi"].as_str().unwrap().starts_with("3.1."));
    }

    /// A type the document names but does not define would break every client generator.
    #[test]
    fn every_reference_names_a_defined_schema() {
        let doc = json();
        let mut found = Vec::new();
        refs(&doc, &mut found);
        assert!(!found.is_empty());
        for r in found {
            let name = r
                .strip_prefix("#/components/schemas/")
                .unwrap_or_else(|| panic!("{r}"));
            assert!(
                doc["components"]["schemas"].get(name).is_some(),
                "{r} is not defined"
            );
        }
    }

    #[test]
    fn every_event_type_has_a_webhook_with_its_data_and_signature_headers() {
        let doc = json();
        let webhooks = doc["webhooks"].as_object().unwrap();
        assert_eq!(webhooks.len(), EventType::VARIANTS.len());
        for event in EventType::VARIANTS {
            let post = &webhooks[event.as_str()]["post"];
            let schema = &post["requestBody"]["content"]["application/json"]["schema"];
            assert_eq!(schema["properties"]["type"]["enum"][0], event.as_str());
            assert!(schema["properties"]["data"]["$ref"].is_string());
            let headers: Vec<&str> = post["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["name"].as_str().unwrap())
                .collect();
            assert_eq!(
                headers,
                ["webhook-id", "webhook-timestamp", "webhook-signature"]
            );
        }
        let published = &webhooks["post.published"]["post"]["requestBody"]["content"]
            ["application/json"]["schema"]["properties"]["data"]["$ref"];
        assert_eq!(published, "#/components/schemas/PostView");
    }

    /// Operation ids become client method names: two alike would collide.
    #[test]
    fn operation_ids_are_unique() {
        let doc = json();
        let mut ids: Vec<&str> = doc["paths"]
            .as_object()
            .unwrap()
            .values()
            .flat_map(|item| item.as_object().unwrap().values())
            .filter_map(|op| op["operationId"].as_str())
            .collect();
        let all = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), all);
    }

    #[test]
    fn the_document_itself_and_the_callback_need_no_token_and_the_rest_do() {
        let doc = json();
        assert_eq!(
            doc["security"],
            serde_json::json!([{ "bearer": [] }]),
            "a token by default"
        );
        for path in ["/v1/openapi.json", "/v1/oauth/linkedin/callback"] {
            let security = &doc["paths"][path]["get"]["security"];
            assert!(
                security
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|r| r.as_object().unwrap().is_empty()),
                "{path}: {security}"
            );
        }
        assert!(doc["paths"]["/v1/posts"]["post"].get("security").is_none());
    }

    #[test]
    fn the_endpoint_serves_the_document_as_json() {
        let response = openapi_json();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "application/json");
        let Body::Text(text) = response.body() else {
            panic!("a text body")
        };
        let served: Value = serde_json::from_str(text).unwrap();
        assert_eq!(served, json());
    }
}
