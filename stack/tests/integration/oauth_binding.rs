//! The OAuth flow belongs to the browser and the tenant that started it: `client_state` comes
//! back unchanged, each tenant sends members only to its own origins (its allow-list, managed
//! by admins), and the callback's answers cannot be framed, sniffed or leak their URL.

use local_stack::test_stack;
use reqwest::Method;
use serde_json::{json, Value};

use crate::support::*;

/// Values an app might use, with every character a query string must encode.
const CLIENT_STATES: &[&str] = &[
    "session-7f3k",
    "a&b=c#d+e f",
    "100% =&#+ ?/",
    "état ✓ 東京 🔐",
];

#[tokio::test]
async fn a_connect_round_trip_hands_the_exact_client_state_back_to_the_app() {
    let stack = test_stack(|_| {}).await;
    let done = stack.gateway_url.join("/done?tab=linkedin").unwrap();
    for client_state in CLIENT_STATES {
        let location = stack
            .landing(
                "acme",
                json!({ "redirect_after": done, "client_state": client_state }),
                true,
            )
            .await;
        assert!(location.starts_with(done.as_str()), "{location}");
        assert_eq!(
            query_param(&location, "client_state").as_deref(),
            Some(*client_state),
            "{location}"
        );
        assert!(query_param(&location, "connection_id").is_some());
        assert_eq!(query_param(&location, "tab").as_deref(), Some("linkedin"));
    }
    // The member cancels: the error redirect carries it too.
    let location = stack
        .landing(
            "acme",
            json!({ "redirect_after": done, "client_state": "a&b=c#d+e f" }),
            false,
        )
        .await;
    assert_eq!(
        query_param(&location, "error").as_deref(),
        Some("access_denied")
    );
    assert_eq!(
        query_param(&location, "client_state").as_deref(),
        Some("a&b=c#d+e f")
    );
    // Without one, the app gets no client_state parameter.
    let location = stack
        .landing("acme", json!({ "redirect_after": done }), true)
        .await;
    assert_eq!(query_param(&location, "client_state"), None);
    assert!(stack.entities("oauth_state").await.unwrap().is_empty());
}

#[tokio::test]
async fn a_client_state_off_the_rules_is_refused_naming_the_field_and_nothing_is_recorded() {
    let stack = test_stack(|_| {}).await;
    for bad in [
        json!("x".repeat(257)),
        json!(""),
        json!("line\nbreak"),
        json!("nul\u{0}"),
        json!(42),
        json!(["a"]),
    ] {
        let response = stack
            .authorize("acme", json!({ "client_state": bad }))
            .await;
        assert_eq!(response.status(), 400, "{bad}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "validation_failed", "{bad}");
        assert_eq!(body["error"]["field"], "client_state", "{bad}");
    }
    assert!(stack.scan_table().await.unwrap().is_empty());
    // 256 characters (not bytes) is the limit.
    let longest = "é".repeat(256);
    let response = stack
        .authorize("acme", json!({ "client_state": longest }))
        .await;
    assert_eq!(response.status(), 200);
}

async fn refused_field(stack: &local_stack::LocalStack, tenant: &str, target: &str) -> Value {
    let response = stack
        .authorize(tenant, json!({ "redirect_after": target }))
        .await;
    assert_eq!(response.status(), 400, "{tenant} -> {target}");
    let body: Value = response.json().await.unwrap();
    body["error"]["field"].clone()
}

#[tokio::test]
async fn one_tenant_cannot_send_members_to_another_tenants_origin() {
    let stack = test_stack(|_| {}).await;
    let (a, b) = ("https://a.example.com/", "https://b.example.com/");
    for (tenant, origin) in [("tenant-a", a), ("tenant-b", b)] {
        let (status, body) = stack
            .put_tenant_settings(tenant, json!({ "redirect_allow_list": [origin] }))
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["redirect_allow_list"], json!([origin]));
    }

    for (tenant, own, other) in [("tenant-a", a, b), ("tenant-b", b, a)] {
        let landing = stack
            .landing(
                tenant,
                json!({ "redirect_after": format!("{own}linkedin/done") }),
                true,
            )
            .await;
        assert!(landing.starts_with(own), "{tenant}: {landing}");
        assert_eq!(
            refused_field(&stack, tenant, &format!("{other}linkedin/done")).await,
            "redirect_after",
            "{tenant} must not reach {other}"
        );
        // Its own list replaces the deployment's (the gateway's origin, locally).
        let deployment = stack.gateway_url.join("/done").unwrap();
        assert_eq!(
            refused_field(&stack, tenant, deployment.as_str()).await,
            "redirect_after"
        );
    }

    // A tenant without settings has the deployment's list, and neither tenant's origin.
    let deployment = stack.gateway_url.join("/done").unwrap();
    let landing = stack
        .landing("tenant-c", json!({ "redirect_after": deployment }), true)
        .await;
    assert!(landing.starts_with(deployment.as_str()), "{landing}");
    for origin in [a, b] {
        assert_eq!(
            refused_field(&stack, "tenant-c", origin).await,
            "redirect_after"
        );
    }

    // Back to the deployment's list: tenant-a's origin is refused, the deployment's permitted.
    let (status, body) = stack
        .put_tenant_settings("tenant-a", json!({ "redirect_allow_list": null }))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["redirect_allow_list"], Value::Null);
    assert_eq!(refused_field(&stack, "tenant-a", a).await, "redirect_after");
    let response = stack
        .authorize("tenant-a", json!({ "redirect_after": deployment }))
        .await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn redirects_must_be_https_without_encoded_separators_even_when_the_origin_is_allowed() {
    let stack = test_stack(|_| {}).await;
    let (status, _) = stack
        .put_tenant_settings(
            "acme",
            json!({ "redirect_allow_list": ["https://app.example.com/linkedin/"] }),
        )
        .await;
    assert_eq!(status, 200);
    for target in [
        "http://app.example.com/linkedin/done",
        "https://app.example.com/linkedin/..%2Fadmin",
        "https://app.example.com/linkedin/..%5cadmin",
        "https://app.example.com\\@evil.test/linkedin/",
        "https://user@app.example.com/linkedin/done",
        "https://app.example.com/linkedin-evil/",
    ] {
        assert_eq!(
            refused_field(&stack, "acme", target).await,
            "redirect_after"
        );
    }
    assert!(stack.entities("oauth_state").await.unwrap().is_empty());
}

#[tokio::test]
async fn only_an_admin_token_may_read_or_change_tenant_settings() {
    let stack = test_stack(|_| {}).await;
    let tenant_token = stack.token_for("acme");
    let change = json!({ "redirect_allow_list": ["https://evil.example.com/"] });
    for method in [Method::GET, Method::PUT] {
        let (status, _) = stack
            .tenant_settings_with(method.clone(), &tenant_token, "acme", Some(change.clone()))
            .await;
        assert_eq!(status, 403, "{method} with a tenant token");
        let (status, _) = stack
            .tenant_settings_with(method.clone(), "not-a-jwt", "acme", Some(change.clone()))
            .await;
        assert_eq!(status, 401, "{method} without a valid token");
    }
    assert!(stack.entities("tenant_settings").await.unwrap().is_empty());

    let (status, body) = stack.tenant_settings("acme").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({ "tenant_id": "acme", "redirect_allow_list": null, "version": 0, "updated_at": null })
    );
}

#[tokio::test]
async fn a_bad_allow_list_is_refused_naming_the_field_and_the_settings_stay_as_they_were() {
    let stack = test_stack(|_| {}).await;
    let (status, _) = stack
        .put_tenant_settings(
            "acme",
            json!({ "redirect_allow_list": ["https://app.example.com/"] }),
        )
        .await;
    assert_eq!(status, 200);
    for bad in [
        json!({ "redirect_allow_list": ["https://ok.example.com/", "http://plain.example.com/"] }),
        json!({ "redirect_allow_list": ["https://ok.example.com/a%2Fb"] }),
        json!({ "redirect_allow_list": "https://ok.example.com/" }),
        json!({ "redirect_allow_list": [], "rate": 5 }),
    ] {
        let (status, body) = stack.put_tenant_settings("acme", bad.clone()).await;
        assert_eq!(status, 400, "{bad}: {body}");
        let field = &body["error"]["field"];
        assert!(
            field == "redirect_allow_list" || field == "body",
            "{bad}: {body}"
        );
    }
    let (status, body) = stack.tenant_settings("acme").await;
    assert_eq!(status, 200);
    assert_eq!(
        body["redirect_allow_list"],
        json!(["https://app.example.com/"])
    );
    assert_eq!(body["version"], 1);
    let (status, body) = stack
        .tenant_settings_with(Method::GET, &stack.admin_token(), "a%20b", None)
        .await;
    assert_eq!(
        (status, body["error"]["field"].clone()),
        (400, json!("tenant_id"))
    );
}

fn assert_page_headers(response: &reqwest::Response, what: &str) {
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .unwrap_or_else(|| panic!("{what}: no {name}"))
            .to_str()
            .unwrap()
            .to_owned()
    };
    assert!(
        header("content-security-policy").contains("frame-ancestors 'none'"),
        "{what}"
    );
    assert_eq!(header("x-content-type-options"), "nosniff", "{what}");
    assert_eq!(header("referrer-policy"), "no-referrer", "{what}");
    assert_eq!(header("cache-control"), "no-store", "{what}");
}

#[tokio::test]
async fn the_callbacks_pages_and_redirects_cannot_be_framed_sniffed_or_leak_their_url() {
    let stack = test_stack(|_| {}).await;

    let url = stack.authorization_url("acme", json!({})).await;
    let success = stack.consent_and_return(&url, None, true).await;
    assert_eq!(success.status(), 200);
    assert_page_headers(&success, "success page");
    let csp = success.headers()["content-security-policy"]
        .to_str()
        .unwrap();
    assert!(csp.contains("default-src 'none'"), "{csp}");

    let url = stack.authorization_url("acme", json!({})).await;
    let cancelled = stack.consent_and_return(&url, None, false).await;
    assert_eq!(cancelled.status(), 200);
    assert_page_headers(&cancelled, "cancelled page");

    let callback = stack
        .gateway_url
        .join("/v1/oauth/linkedin/callback?state=unknown&code=x")
        .unwrap();
    let error_page = http()
        .get(callback.clone())
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(error_page.status(), 400);
    assert_page_headers(&error_page, "error page");
    let error_json = http().get(callback).send().await.unwrap();
    assert_eq!(error_json.status(), 400);
    assert_page_headers(&error_json, "error answer");

    let done = stack.gateway_url.join("/done").unwrap();
    let url = stack
        .authorization_url(
            "acme",
            json!({ "redirect_after": done, "client_state": "s" }),
        )
        .await;
    let redirect = stack.consent_and_return(&url, None, true).await;
    assert_eq!(redirect.status(), 302);
    assert_page_headers(&redirect, "redirect");
}

/// The DynamoDB calls counted since the last look (the publisher's queue polling aside).
fn table_calls(stack: &local_stack::LocalStack) -> std::collections::BTreeMap<String, usize> {
    let mut calls = stack.aws_calls().take();
    calls.retain(|operation, _| operation.starts_with("DynamoDB."));
    calls
}

#[tokio::test]
async fn authorize_reads_the_tenants_settings_once_and_only_to_judge_a_redirect() {
    let stack = test_stack(|_| {}).await;
    let done = stack.gateway_url.join("/done").unwrap();
    for _ in 0..2 {
        stack.aws_calls().take();
        let response = stack
            .authorize("acme", json!({ "redirect_after": done }))
            .await;
        assert_eq!(response.status(), 200);
        let calls = table_calls(&stack);
        // Each authorization reads them again: a change applies at once, nothing is cached.
        assert_eq!(
            calls,
            [
                ("DynamoDB.GetItem".to_owned(), 1),
                ("DynamoDB.PutItem".to_owned(), 1)
            ]
            .into(),
            "{calls:?}"
        );
    }
    stack.aws_calls().take();
    let response = stack.authorize("acme", json!({})).await;
    assert_eq!(response.status(), 200);
    let calls = stack.aws_calls().take();
    assert_eq!(
        calls,
        [("DynamoDB.PutItem".to_owned(), 1)].into(),
        "{calls:?}"
    );
}
