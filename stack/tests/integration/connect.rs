//! Connecting a LinkedIn account: authorize, callback, store, read back.

use std::time::Duration;

use chrono::Utc;
use connector::domain::PendingAuthorization;
use connector::vault::VaultError;
use linkedin_simulator::Fault;
use local_stack::test_stack;
use serde_json::{json, Value};

use crate::support::*;

#[tokio::test]
async fn a_member_who_allows_access_becomes_a_healthy_connection_of_the_tenant() {
    let stack = test_stack(|_| {}).await;
    let done = stack.gateway_url.join("/done?tab=linkedin").unwrap();

    let response = stack
        .authorize("acme", json!({ "redirect_after": done }))
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let url = body["authorization_url"].as_str().unwrap();
    assert!(
        url.contains("response_type=code")
            && url.contains("scope=openid+profile+email+w_member_social")
    );
    assert_eq!(body["state"].as_str().unwrap().len(), 43);
    assert!(body["expires_at"].as_str().is_some());

    let callback = stack.consent_and_return(url, None, true).await;
    assert_eq!(callback.status(), 302);
    let location = callback.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with(done.as_str()), "{location}");
    let id = query_param(&location, "connection_id").expect("connection_id");

    let listed = stack.connections("acme").await;
    assert_eq!(listed.len(), 1);
    let c = &listed[0];
    assert_eq!(c["id"], id.as_str());
    assert_eq!(c["status"], "healthy");
    assert_eq!(c["member_urn"], "urn:li:person:sim-ada-7f3k");
    assert_eq!(c["name"], "Ada Lovelace");
    assert_eq!(c["connect_count"], 1);
    let expires: chrono::DateTime<Utc> = c["access_token_expires_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (expires - Utc::now() - chrono::Duration::days(60))
            .num_seconds()
            .abs()
            < 60
    );
    let refresh_expires: chrono::DateTime<Utc> = c["refresh_token_expires_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (refresh_expires - Utc::now() - chrono::Duration::days(365))
            .num_seconds()
            .abs()
            < 60
    );

    let (status, one) = stack.get("acme", &format!("/v1/connections/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(one["id"], id.as_str());
    // The state was used up; nothing else lingers.
    assert!(stack.entities("oauth_state").await.unwrap().is_empty());
}

#[tokio::test]
async fn without_redirect_after_the_callback_shows_a_page_naming_the_connection() {
    let stack = test_stack(|_| {}).await;
    let url = stack.authorization_url("acme", json!({})).await;
    let page = stack.consent_and_return(&url, None, true).await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    let id = stack.connections("acme").await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        html.contains("Ada Lovelace") && html.contains(&id),
        "{html}"
    );
}

#[tokio::test]
async fn a_member_who_cancels_is_sent_back_with_an_error_and_nothing_is_stored() {
    let stack = test_stack(|_| {}).await;
    let done = stack.gateway_url.join("/done").unwrap();
    let url = stack
        .authorization_url("acme", json!({ "redirect_after": done }))
        .await;

    let callback = stack.consent_and_return(&url, None, false).await;
    assert_eq!(callback.status(), 302);
    let location = callback.headers()["location"].to_str().unwrap();
    assert_eq!(
        query_param(location, "error").as_deref(),
        Some("access_denied")
    );
    assert!(query_param(location, "connection_id").is_none());
    // The table is read before the API is asked (its request counter is an item there).
    assert!(
        stack.scan_table().await.unwrap().is_empty(),
        "a cancelled flow leaves nothing behind"
    );
    assert!(stack.connections("acme").await.is_empty());
    assert_eq!(stack.simulator().count("POST", "/oauth/v2/accessToken"), 0);
}

#[tokio::test]
async fn an_unknown_state_answers_400_and_stores_nothing() {
    let stack = test_stack(|_| {}).await;
    let url = stack.authorization_url("acme", json!({})).await;
    let location = stack.simulator().consent(&url, None, true).unwrap();
    let forged = location.as_str().replace("state=", "state=x");

    let response = http().get(forged).send().await.unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["field"], "state");
    assert!(stack.connections("acme").await.is_empty());
    assert_eq!(stack.simulator().count("POST", "/oauth/v2/accessToken"), 0);
}

#[tokio::test]
async fn a_reused_state_answers_400_and_the_first_connection_stands_alone() {
    let stack = test_stack(|_| {}).await;
    let url = stack.authorization_url("acme", json!({})).await;
    let location = stack.simulator().consent(&url, None, true).unwrap();

    assert_eq!(
        http().get(location.clone()).send().await.unwrap().status(),
        200
    );
    let replay = http().get(location).send().await.unwrap();
    assert_eq!(replay.status(), 400);
    let listed = stack.connections("acme").await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["connect_count"], 1);
    assert_eq!(stack.simulator().count("POST", "/oauth/v2/accessToken"), 1);
}

#[tokio::test]
async fn an_expired_state_answers_400_and_stores_nothing() {
    let stack = test_stack(|_| {}).await;
    let url = stack.authorization_url("acme", json!({})).await;
    let state = query_param(&url, "state").unwrap();
    // Age the pending authorization as time would (moto never runs TTL deletes).
    let store = &stack.oauth.store;
    let hash = oauth_function::state_hash(&state);
    let pending = store
        .take_pending_authorization(&hash)
        .await
        .unwrap()
        .unwrap();
    let aged = PendingAuthorization {
        expires_at: Utc::now() - chrono::Duration::seconds(1),
        ..pending
    };
    store.put_pending_authorization(&hash, &aged).await.unwrap();

    let location = stack.simulator().consent(&url, None, true).unwrap();
    let response = http()
        .get(location)
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert!(response.text().await.unwrap().contains("expired"));
    assert!(stack.scan_table().await.unwrap().is_empty());
    assert!(stack.connections("acme").await.is_empty());
}

#[tokio::test]
async fn redirect_after_off_the_allow_list_is_refused_and_nothing_is_recorded() {
    let stack = test_stack(|_| {}).await;
    for target in [
        "https://evil.example/steal",
        "javascript:alert(1)",
        "/relative",
    ] {
        let response = stack
            .authorize("acme", json!({ "redirect_after": target }))
            .await;
        assert_eq!(response.status(), 400, "{target}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "validation_failed");
        assert_eq!(body["error"]["field"], "redirect_after");
    }
    let response = stack.authorize("acme", json!({ "redirect_to": "x" })).await;
    assert_eq!(response.status(), 400, "unknown fields are refused");
    assert!(stack.scan_table().await.unwrap().is_empty());
}

#[tokio::test]
async fn reconnecting_the_same_member_updates_the_same_connection() {
    let stack = test_stack(|_| {}).await;
    let first = stack.connect("acme", None).await;
    let before = stack.connections("acme").await[0].clone();
    // The member revoked the app at LinkedIn; the connection is broken until they reconnect.
    stack.simulator().revoke_member("sim-ada-7f3k");

    let second = stack.connect("acme", None).await;
    assert_eq!(first, second);
    let listed = stack.connections("acme").await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["connect_count"], 2);
    assert_eq!(
        listed[0]["created_at"], before["created_at"],
        "history kept"
    );
    assert_ne!(listed[0]["updated_at"], before["updated_at"]);
    // The new tokens were stored: they open and are the ones LinkedIn issued last.
    let tokens = stack.open_tokens("acme", &second).await.unwrap();
    let issued = stack.simulator().issued_tokens();
    use secrecy::ExposeSecret;
    assert_eq!(
        tokens.access_token.expose_secret(),
        issued.last().unwrap().access_token
    );
}

#[tokio::test]
async fn a_different_member_gets_a_second_connection() {
    let stack = test_stack(|_| {}).await;
    let ada = stack.connect("acme", None).await;
    let grace = stack.connect("acme", Some("sim-grace-9q2w")).await;
    assert_ne!(ada, grace);
    assert_eq!(stack.connections("acme").await.len(), 2);
}

#[tokio::test]
async fn the_same_member_in_two_tenants_is_two_connections_and_each_sees_only_its_own() {
    let stack = test_stack(|_| {}).await;
    let acme = stack.connect("acme", None).await;
    let globex = stack.connect("globex", None).await;
    assert_ne!(acme, globex);

    let acme_list = stack.connections("acme").await;
    assert_eq!(acme_list.len(), 1);
    assert_eq!(acme_list[0]["id"], acme.as_str());
    let (status, body) = stack
        .get("globex", &format!("/v1/connections/{acme}"))
        .await;
    assert_eq!(
        status, 404,
        "another tenant's connection is not found: {body}"
    );
    assert_eq!(body["error"]["code"], "not_found");
    let (status, _) = stack.get("globex", "/v1/connections/not-a-uuid").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn concurrent_callbacks_for_the_same_member_make_one_connection() {
    let stack = test_stack(|_| {}).await;
    let a = stack.authorization_url("acme", json!({})).await;
    let b = stack.authorization_url("acme", json!({})).await;
    let la = stack.simulator().consent(&a, None, true).unwrap();
    let lb = stack.simulator().consent(&b, None, true).unwrap();
    let client = http();
    let (ra, rb) = tokio::join!(client.get(la).send(), client.get(lb).send());
    assert_eq!(ra.unwrap().status(), 200);
    assert_eq!(rb.unwrap().status(), 200);
    let listed = stack.connections("acme").await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["connect_count"], 2);
}

#[tokio::test]
async fn connections_are_listed_in_pages() {
    let stack = test_stack(|_| {}).await;
    stack.connect("acme", None).await;
    stack.connect("acme", Some("sim-grace-9q2w")).await;
    let (status, page1) = stack.get("acme", "/v1/connections?limit=1").await;
    assert_eq!(status, 200);
    assert_eq!(page1["connections"].as_array().unwrap().len(), 1);
    let cursor = page1["next_cursor"].as_str().expect("a next page");
    let (_, page2) = stack
        .get("acme", &format!("/v1/connections?limit=1&cursor={cursor}"))
        .await;
    assert_eq!(page2["connections"].as_array().unwrap().len(), 1);
    assert_ne!(page1["connections"][0]["id"], page2["connections"][0]["id"]);
    let (status, body) = stack.get("acme", "/v1/connections?limit=0").await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (400, Some("limit"))
    );
    let (status, body) = stack.get("acme", "/v1/connections?cursor=bogus").await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (400, Some("cursor"))
    );
}

#[tokio::test]
async fn calls_without_a_valid_tenant_token_are_refused_by_the_gateway() {
    let stack = test_stack(|_| {}).await;
    let url = stack.gateway_url.join("/v1/connections").unwrap();
    let none = http().get(url.clone()).send().await.unwrap();
    assert_eq!(none.status(), 401);
    let forged = http()
        .get(url)
        .bearer_auth("eyJhbGciOiJub25lIn0.e30.")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
}

#[tokio::test]
async fn a_ciphertext_copied_onto_another_connection_fails_to_decrypt() {
    let stack = test_stack(|_| {}).await;
    let ada = stack.connect("acme", None).await;
    let grace = stack.connect("acme", Some("sim-grace-9q2w")).await;
    let other_tenant = stack.connect("globex", None).await;
    assert!(stack.open_tokens("acme", &ada).await.is_ok());

    let rows = stack.entities("connection").await.unwrap();
    let row = |id: &str| {
        rows.iter()
            .find(|r| r["connection_id"].as_s().unwrap() == id)
            .unwrap()
            .clone()
    };
    let (from, _) = (row(&ada), ());
    let dynamo = aws_sdk_dynamodb::Client::new(&stack.sdk);
    for (tenant, target) in [("acme", &grace), ("globex", &other_tenant)] {
        let mut moved = row(target);
        for attr in ["token_key", "access_token_ct", "refresh_token_ct"] {
            moved.insert(attr.into(), from[attr].clone());
        }
        dynamo
            .put_item()
            .table_name(&stack.config.table_name)
            .set_item(Some(moved))
            .send()
            .await
            .unwrap();
        let result = stack.open_tokens(tenant, target).await;
        assert!(
            matches!(result, Err(VaultError::KeyRefused(_))),
            "moved ciphertext must not decrypt for {tenant}/{target}: {:?}",
            result.map(|_| ())
        );
    }
    assert!(
        stack.open_tokens("acme", &ada).await.is_ok(),
        "the original still opens"
    );
}

#[tokio::test]
async fn identity_falls_back_to_v2_me_for_apps_without_openid() {
    let stack = test_stack(|o| {
        o.settings.insert(
            "LINKEDIN_SCOPES".into(),
            "r_liteprofile w_member_social".into(),
        );
        o.simulator.allowed_scopes.push("r_liteprofile".into());
    })
    .await;
    stack.connect("acme", None).await;
    let c = &stack.connections("acme").await[0];
    assert_eq!(c["member_urn"], "urn:li:person:sim-ada-7f3k");
    assert_eq!(c["name"], "Ada Lovelace");
    // No openid granted: straight to /v2/me, no userinfo call that can only answer 403.
    assert_eq!(stack.simulator().count("GET", "/v2/userinfo"), 0);
    assert_eq!(stack.simulator().count("GET", "/v2/me"), 1);
}

#[tokio::test]
async fn organizations_are_read_when_the_granted_scopes_allow() {
    let stack = test_stack(|o| {
        o.settings.insert(
            "LINKEDIN_SCOPES".into(),
            "openid profile email w_member_social rw_organization_admin w_organization_social"
                .into(),
        );
    })
    .await;
    stack.connect("acme", None).await;
    let c = &stack.connections("acme").await[0];
    assert_eq!(
        c["organizations"],
        json!([
            {"urn": "urn:li:organization:1001", "role": "ADMINISTRATOR",
             "name": "Analytical Engines Ltd", "vanity_name": "analytical-engines",
             "logo_url": "https://media.licdn.example/org/1001/logo_400.png"},
            {"urn": "urn:li:organization:1002", "role": "ANALYST",
             "name": "Difference Engine Society", "vanity_name": "difference-engine-society",
             "logo_url": "https://media.licdn.example/org/1002/logo_400.png"}
        ])
    );
}

#[tokio::test]
async fn organizations_are_not_asked_for_without_the_scope() {
    let stack = test_stack(|_| {}).await;
    stack.connect("acme", None).await;
    assert_eq!(
        stack.connections("acme").await[0]["organizations"],
        json!([])
    );
    assert_eq!(stack.simulator().count("GET", "/rest/organizationAcls"), 0);
}

#[tokio::test]
async fn an_app_without_refresh_tokens_stores_none() {
    let stack = test_stack(|o| o.simulator.issue_refresh_tokens = false).await;
    let id = stack.connect("acme", None).await;
    assert_eq!(
        stack.connections("acme").await[0]["refresh_token_expires_at"],
        Value::Null
    );
    assert!(stack
        .open_tokens("acme", &id)
        .await
        .unwrap()
        .refresh_token
        .is_none());
    let row = &stack.entities("connection").await.unwrap()[0];
    assert!(!row.contains_key("refresh_token_ct"));
}

#[tokio::test]
async fn a_new_token_refused_while_it_propagates_is_waited_for() {
    let stack = test_stack(|o| o.simulator.propagation_window = Duration::from_millis(250)).await;
    stack.connect("acme", None).await;
    assert_eq!(stack.connections("acme").await[0]["status"], "healthy");
    let userinfo = stack
        .simulator()
        .requests()
        .into_iter()
        .filter(|r| r.path == "/v2/userinfo")
        .collect::<Vec<_>>();
    assert!(
        userinfo.len() >= 2,
        "first refused, then retried: {userinfo:?}"
    );
    assert_eq!(userinfo.first().unwrap().status, 401);
    assert_eq!(userinfo.last().unwrap().status, 200);
}

#[tokio::test]
async fn a_token_that_stays_refused_fails_the_connect_without_storing_it() {
    // Longer than the product's bounded patience (0.1 + 0.2 + 0.4 + 0.8 s in tests).
    let stack = test_stack(|o| o.simulator.propagation_window = Duration::from_secs(30)).await;
    let done = stack.gateway_url.join("/done").unwrap();
    let url = stack
        .authorization_url("acme", json!({ "redirect_after": done }))
        .await;
    let callback = stack.consent_and_return(&url, None, true).await;
    let location = callback.headers()["location"].to_str().unwrap();
    assert_eq!(
        query_param(location, "error").as_deref(),
        Some("identity_unavailable")
    );
    assert_eq!(
        stack.simulator().count("GET", "/v2/userinfo"),
        5,
        "bounded attempts"
    );
    assert!(stack.scan_table().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_failing_token_endpoint_sends_the_member_back_with_a_retryable_error() {
    let stack = test_stack(|_| {}).await;
    stack
        .simulator()
        .inject(Fault::status("POST", "/oauth/v2/accessToken", 503).times(1));
    let done = stack.gateway_url.join("/done").unwrap();
    let url = stack
        .authorization_url("acme", json!({ "redirect_after": done }))
        .await;
    let callback = stack.consent_and_return(&url, None, true).await;
    let location = callback.headers()["location"].to_str().unwrap();
    assert_eq!(
        query_param(location, "error").as_deref(),
        Some("linkedin_unavailable")
    );
    assert!(stack.scan_table().await.unwrap().is_empty());
}

#[tokio::test]
async fn an_unexchangeable_code_is_reported_as_rejected() {
    let stack = test_stack(|_| {}).await;
    let done = stack.gateway_url.join("/done").unwrap();
    let url = stack
        .authorization_url("acme", json!({ "redirect_after": done }))
        .await;
    let location = stack.simulator().consent(&url, None, true).unwrap();
    // The code outlives LinkedIn's 30 minutes before the browser returns.
    stack.simulator().advance(Duration::from_secs(31 * 60));
    let callback = http().get(location).send().await.unwrap();
    let back = callback.headers()["location"].to_str().unwrap();
    assert_eq!(
        query_param(back, "error").as_deref(),
        Some("authorization_code_rejected")
    );
    assert!(stack.scan_table().await.unwrap().is_empty());
}

/// A connection is renewed in place by its own member (same id, its posts kept, revoked or
/// not); another member's consent stores nothing.
#[tokio::test]
async fn a_reconnect_renews_the_same_connection_for_its_member_only() {
    let (stack, connection) = connected(|_| {}).await;
    let post = stack
        .publish_text("acme", &connection, "kept across a reconnect")
        .await;
    stack
        .wait_for_post("acme", &post, &["published"], SLOW)
        .await;
    assert_eq!(stack.disconnect("acme", &connection).await.0, 200);
    let done = stack.gateway_url.join("/done").unwrap();

    assert_eq!(
        stack.reconnect("globex", &connection, json!({})).await.0,
        404
    );
    let (status, body) = stack
        .reconnect("acme", &connection, json!({"app": "pages"}))
        .await;
    assert_eq!((status, &body["error"]["field"]), (400, &json!("app")));

    // Another member allows: refused, nothing stored.
    let (status, started) = stack
        .reconnect("acme", &connection, json!({"redirect_after": done}))
        .await;
    assert_eq!(status, 200, "{started}");
    let url = started["authorization_url"].as_str().unwrap();
    let response = stack
        .consent_and_return(url, Some("sim-grace-9q2w"), true)
        .await;
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(
        query_param(&location, "error").as_deref(),
        Some("reconnect_member_mismatch"),
        "{location}"
    );
    let connections = stack.connections("acme").await;
    assert_eq!(connections.len(), 1, "no connection for the other member");
    assert_eq!(connections[0]["status"], "revoked");

    // Its member allows: the same connection, healthy again, its history kept.
    let (_, started) = stack
        .reconnect("acme", &connection, json!({"redirect_after": done}))
        .await;
    let url = started["authorization_url"].as_str().unwrap();
    let response = stack.consent_and_return(url, None, true).await;
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(
        query_param(&location, "connection_id").as_deref(),
        Some(connection.as_str())
    );
    let renewed = &stack.connections("acme").await[0];
    assert_eq!(renewed["id"], json!(connection));
    assert_eq!(renewed["status"], "healthy");
    assert_eq!(renewed["connect_count"], 2);
    assert_eq!(stack.post("acme", &post).await["status"], "published");
    let again = stack
        .publish_text("acme", &connection, "after the reconnect")
        .await;
    stack
        .wait_for_post("acme", &again, &["published"], SLOW)
        .await;
}
