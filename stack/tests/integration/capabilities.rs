//! Connections know what they can do (their pages with names and logos, the scopes LinkedIn
//! left out), and a deployment with two LinkedIn apps uses each connection's own app.

use chrono::Utc;
use linkedin_simulator::SimOrganization;
use local_stack::{test_stack, StackOptions};
use serde_json::{json, Value};

use crate::support::{query_param, TestStack};

const PAGES_CLIENT_ID: &str = "dev-pages-client-id";

/// Member app scopes that read pages and post for them, plus one LinkedIn will not grant.
fn with_pages_scopes(o: &mut StackOptions) {
    o.settings.insert(
        "LINKEDIN_SCOPES".into(),
        "openid profile email w_member_social w_organization_social rw_organization_admin w_member_social_feed".into(),
    );
    o.simulator.dropped_scopes = vec!["w_member_social_feed".into()];
}

fn with_pages_app(o: &mut StackOptions) {
    o.token_propagation_window = std::time::Duration::ZERO;
    o.settings
        .insert("LINKEDIN_PAGES_CLIENT_ID".into(), PAGES_CLIENT_ID.into());
}

/// LinkedIn calls so far: (token, userinfo, /v2/me, organizationAcls, lookups).
fn linkedin_calls(stack: &local_stack::LocalStack) -> [usize; 5] {
    let sim = stack.simulator();
    [
        sim.count("POST", "/oauth/v2/accessToken"),
        sim.count("GET", "/v2/userinfo"),
        sim.count("GET", "/v2/me"),
        sim.count("GET", "/rest/organizationAcls"),
        sim.count("GET", "/rest/organizationsLookup") + sim.count("GET", "/rest/organizations/"),
    ]
}

#[tokio::test]
async fn connect_shows_capabilities_with_organization_names_logos_and_the_dropped_scopes() {
    let stack = test_stack(with_pages_scopes).await;
    let id = stack.connect("acme", None).await;

    let calls = linkedin_calls(&stack);
    eprintln!("LinkedIn calls at connect (token, userinfo, me, acls, lookups): {calls:?}");
    assert_eq!(
        calls,
        [1, 1, 0, 1, 0],
        "one acl call carries the names and logos"
    );

    let (status, c) = stack.get("acme", &format!("/v1/connections/{id}")).await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(c["app"], "member");
    assert_eq!(c["missing_scopes"], json!(["w_member_social_feed"]));
    assert!(!c["scopes"]
        .as_array()
        .unwrap()
        .contains(&json!("w_member_social_feed")));
    let caps = &c["capabilities"];
    assert_eq!(caps["post_as_member"], true);
    assert_eq!(caps["comments"], false, "the dropped scope");
    assert_eq!(caps["member_analytics"], false);
    assert_eq!(caps["refresh_token"], true);
    assert_eq!(caps["reconnect_by"], c["refresh_token_expires_at"]);
    assert_eq!(c["reconnect_by"], c["refresh_token_expires_at"]);
    let orgs = caps["organizations"].as_array().unwrap();
    let admin = orgs
        .iter()
        .find(|o| o["urn"] == "urn:li:organization:1001")
        .unwrap();
    assert_eq!(admin["name"], "Analytical Engines Ltd");
    assert_eq!(admin["vanity_name"], "analytical-engines");
    assert_eq!(
        admin["logo_url"],
        "https://media.licdn.example/org/1001/logo_400.png"
    );
    assert_eq!(admin["role"], "ADMINISTRATOR");
    assert_eq!(
        (
            &admin["post"],
            &admin["post_video"],
            &admin["comment"],
            &admin["read_statistics"]
        ),
        (&json!(true), &json!(true), &json!(false), &json!(true))
    );
    let analyst = orgs
        .iter()
        .find(|o| o["urn"] == "urn:li:organization:1002")
        .unwrap();
    assert_eq!(analyst["name"], "Difference Engine Society");
    assert_eq!(analyst["post"], false);
    assert_eq!(analyst["read_statistics"], false);
}

#[tokio::test]
async fn a_health_round_shows_a_renamed_organization_with_one_linkedin_call() {
    let stack = test_stack(with_pages_scopes).await;
    let id = stack.connect("acme", None).await;
    stack.simulator().set_organization(SimOrganization {
        logo_url: Some("https://media.licdn.example/org/1001/new_400.png".into()),
        ..SimOrganization::new(1001, "Babbage & Co", "babbage-and-co")
    });
    let before = linkedin_calls(&stack);

    stack
        .run_health_round(Utc::now() + chrono::Duration::hours(7))
        .await
        .unwrap();

    let after = linkedin_calls(&stack);
    let spent: Vec<usize> = after.iter().zip(before).map(|(a, b)| a - b).collect();
    eprintln!("LinkedIn calls per health check (token, userinfo, me, acls, lookups): {spent:?}");
    assert_eq!(spent, [0, 0, 0, 1, 0], "the page read is the health check");
    let (_, c) = stack.get("acme", &format!("/v1/connections/{id}")).await;
    assert!(c["last_health_check_at"].is_string());
    assert_eq!(c["last_health_error"], Value::Null);
    let org = &c["capabilities"]["organizations"][0];
    assert_eq!(org["urn"], "urn:li:organization:1001");
    assert_eq!(org["name"], "Babbage & Co");
    assert_eq!(org["vanity_name"], "babbage-and-co");
    assert_eq!(
        org["logo_url"],
        "https://media.licdn.example/org/1001/new_400.png"
    );
    assert_eq!(c["organizations"][0]["name"], "Babbage & Co");
}

#[tokio::test]
async fn authorize_for_pages_without_a_pages_app_is_a_400_naming_app() {
    let stack = test_stack(|_| {}).await;
    for body in [
        json!({"app": "pages"}),
        json!({"app": "everything"}),
        json!({"app": 2}),
    ] {
        let response = stack.authorize("acme", body.clone()).await;
        assert_eq!(response.status(), 400, "{body}");
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["error"]["field"], "app", "{body}");
    }
    assert!(
        stack.entities("oauth_state").await.unwrap().is_empty(),
        "nothing recorded"
    );
    // The default is the member app, as before.
    let url = stack
        .authorization_url("acme", json!({"app": "member"}))
        .await;
    assert_eq!(
        query_param(&url, "client_id").as_deref(),
        Some("dev-client-id")
    );
}

#[tokio::test]
async fn a_pages_connection_refreshes_and_revokes_with_the_pages_apps_credentials() {
    let stack = test_stack(with_pages_app).await;
    let done = stack.gateway_url.join("/done").unwrap();
    let url = stack
        .authorization_url("acme", json!({"app": "pages", "redirect_after": done}))
        .await;
    assert_eq!(
        query_param(&url, "client_id").as_deref(),
        Some(PAGES_CLIENT_ID)
    );
    let response = stack.consent_and_return(&url, None, true).await;
    assert_eq!(response.status(), 302);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let id = query_param(&location, "connection_id").unwrap_or_else(|| panic!("{location}"));

    let (_, c) = stack.get("acme", &format!("/v1/connections/{id}")).await;
    assert_eq!(c["app"], "pages");
    assert_eq!(c["name"], "Ada Lovelace", "identity from /v2/me");
    assert_eq!(c["missing_scopes"], json!([]));
    assert_eq!(c["capabilities"]["comments"], true);
    assert_eq!(c["capabilities"]["member_analytics"], true);
    assert_eq!(c["capabilities"]["organizations"][0]["comment"], true);

    // The member app's own connections still use the member app.
    let member = stack.connect("acme", Some("sim-grace-9q2w")).await;
    let (_, m) = stack
        .get("acme", &format!("/v1/connections/{member}"))
        .await;
    assert_eq!(m["app"], "member");

    let stored = stack.stored("acme", &id).await;
    stack
        .refresher
        .keeper
        .refresh(stored, Utc::now())
        .await
        .unwrap();
    stack.disconnect("acme", &id).await;
    assert_eq!(stack.drain_health_queue().await.unwrap(), 1);

    let calls: Vec<(String, String)> = stack
        .simulator()
        .oauth_calls()
        .into_iter()
        .map(|c| (c.kind, c.client_id))
        .collect();
    let pages = |kind: &str| (kind.to_owned(), PAGES_CLIENT_ID.to_owned());
    let member_app = |kind: &str| (kind.to_owned(), "dev-client-id".to_owned());
    assert_eq!(
        calls,
        [
            pages("authorization_code"),
            member_app("authorization_code"),
            pages("refresh_token"),
            pages("revoke"),
        ]
    );
    let pages_tokens: Vec<_> = stack
        .simulator()
        .issued_tokens()
        .into_iter()
        .filter(|t| t.client_id == PAGES_CLIENT_ID)
        .collect();
    assert_eq!(pages_tokens.len(), 2, "granted, then refreshed");
    assert!(
        pages_tokens.iter().all(|t| t.revoked),
        "revoked at LinkedIn, by the app that issued them"
    );
}
