//! The OpenAPI document (issue 15 §2): public, served by the api function through the gateway.

use local_stack::{http, test_stack};
use serde_json::Value;

#[tokio::test]
async fn the_openapi_document_is_served_without_a_token() {
    let stack = test_stack(|_| {}).await;

    let response = http()
        .get(stack.gateway_url.join("/v1/openapi.json").unwrap())
        .send()
        .await
        .expect("the gateway answers");

    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let doc: Value = response.json().await.expect("a JSON document");
    let version = doc["openapi"].as_str().expect("an openapi version");
    assert!(version.starts_with("3.1."), "{version}");
    assert!(doc["paths"]["/v1/posts"]["post"].is_object());
    assert!(doc["paths"]["/v1/oauth/linkedin/callback"]["get"].is_object());
    assert!(doc["webhooks"]["post.published"]["post"].is_object());
}
