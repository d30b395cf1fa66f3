//! Helpers that act as the tenant's app and the member's browser.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use local_stack::LocalStack;
use serde_json::Value;
use url::Url;

pub type Item = HashMap<String, AttributeValue>;

/// An HTTP client that, like a test should, looks at redirects instead of following them.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// `POST /v1/connections/linkedin/authorize` as `tenant`.
pub async fn authorize(stack: &LocalStack, tenant: &str, body: Value) -> reqwest::Response {
    http()
        .post(
            stack
                .gateway_url
                .join("/v1/connections/linkedin/authorize")
                .unwrap(),
        )
        .bearer_auth(stack.token_for(tenant))
        .json(&body)
        .send()
        .await
        .expect("authorize request")
}

/// Starts an authorization and returns its URL.
pub async fn authorization_url(stack: &LocalStack, tenant: &str, body: Value) -> String {
    let response = authorize(stack, tenant, body).await;
    assert_eq!(response.status(), 200);
    let json: Value = response.json().await.unwrap();
    json["authorization_url"].as_str().unwrap().to_owned()
}

/// The member decides on LinkedIn; the browser follows LinkedIn's redirect to our callback.
pub async fn consent_and_return(
    stack: &LocalStack,
    authorization_url: &str,
    member: Option<&str>,
    allow: bool,
) -> reqwest::Response {
    let location = stack
        .simulator()
        .consent(authorization_url, member, allow)
        .expect("consent");
    http().get(location).send().await.expect("callback request")
}

/// A whole connect as `tenant` for `member`; returns the connection id.
pub async fn connect(stack: &LocalStack, tenant: &str, member: Option<&str>) -> String {
    let url = authorization_url(
        stack,
        tenant,
        serde_json::json!({ "redirect_after": stack.gateway_url.join("/done").unwrap() }),
    )
    .await;
    let response = consent_and_return(stack, &url, member, true).await;
    assert_eq!(response.status(), 302, "{:?}", response.text().await);
    let location = Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
    location
        .query_pairs()
        .find(|(k, _)| k == "connection_id")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("no connection_id in {location}"))
}

pub async fn get(stack: &LocalStack, tenant: &str, path: &str) -> (u16, Value) {
    let response = http()
        .get(stack.gateway_url.join(path).unwrap())
        .bearer_auth(stack.token_for(tenant))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

pub async fn connections(stack: &LocalStack, tenant: &str) -> Vec<Value> {
    let (status, body) = get(stack, tenant, "/v1/connections").await;
    assert_eq!(status, 200, "{body}");
    body["connections"].as_array().unwrap().clone()
}

/// Every item in the stack's table.
pub async fn scan(stack: &LocalStack) -> Vec<Item> {
    stack.scan_table().await.unwrap()
}

/// Items of one entity type (`connection`, `member`, `oauth_state`).
pub async fn entities(stack: &LocalStack, entity: &str) -> Vec<Item> {
    scan(stack)
        .await
        .into_iter()
        .filter(|i| {
            i.get("entity")
                .and_then(|v| v.as_s().ok())
                .map(String::as_str)
                == Some(entity)
        })
        .collect()
}

/// Every string and binary value in an item, as bytes, for searching.
pub fn item_bytes(item: &Item) -> Vec<u8> {
    fn walk(v: &AttributeValue, out: &mut Vec<u8>) {
        match v {
            AttributeValue::S(s) | AttributeValue::N(s) => out.extend_from_slice(s.as_bytes()),
            AttributeValue::B(b) => out.extend_from_slice(b.as_ref()),
            AttributeValue::L(l) => l.iter().for_each(|v| walk(v, out)),
            AttributeValue::M(m) => m.iter().for_each(|(k, v)| {
                out.extend_from_slice(k.as_bytes());
                walk(v, out)
            }),
            AttributeValue::Ss(l) => l.iter().for_each(|s| out.extend_from_slice(s.as_bytes())),
            _ => {}
        }
        out.push(b'\n');
    }
    let mut out = Vec::new();
    for (k, v) in item {
        out.extend_from_slice(k.as_bytes());
        walk(v, &mut out);
    }
    out
}

pub fn contains(haystack: &[u8], needle: &str) -> bool {
    !needle.is_empty()
        && haystack
            .windows(needle.len())
            .any(|w| w == needle.as_bytes())
}

pub fn query_param(location: &str, name: &str) -> Option<String> {
    Url::parse(location)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}
