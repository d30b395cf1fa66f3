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

    let calls = linkedin_calls(&stack);
    eprintln!("LinkedIn calls at a pages connect (token, userinfo, me, acls, lookups): {calls:?}");
    assert_eq!(calls, [1, 0, 1, 1, 0]);
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

/// The simulator, as strict as LinkedIn about pages and about which app a token belongs to.
mod simulator {
    use linkedin_simulator::{Simulator, SimulatorConfig};
    use serde_json::Value;

    use crate::support::{http, query_param};

    const REDIRECT: &str = "http://127.0.0.1:9/callback";
    const MEMBER: (&str, &str) = ("dev-client-id", "dev-client-secret");
    const PAGES: (&str, &str) = ("dev-pages-client-id", "dev-pages-client-secret");

    async fn sim(change: impl FnOnce(&mut SimulatorConfig)) -> Simulator {
        let mut config = SimulatorConfig {
            redirect_uris: vec![REDIRECT.into()],
            ..Default::default()
        };
        change(&mut config);
        Simulator::start(config).await.unwrap()
    }

    /// A member's grant through `app`: the token response.
    async fn grant(sim: &Simulator, app: (&str, &str), scope: &str) -> Value {
        let mut url = sim.base_url().join("/oauth/v2/authorization").unwrap();
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", app.0)
            .append_pair("redirect_uri", REDIRECT)
            .append_pair("scope", scope);
        let location = sim.consent(url.as_str(), None, true).unwrap();
        let code = query_param(location.as_str(), "code").expect("a code");
        let (status, body) = oauth(
            sim,
            "/oauth/v2/accessToken",
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("client_id", app.0),
                ("client_secret", app.1),
                ("redirect_uri", REDIRECT),
            ],
        )
        .await;
        assert_eq!(status, 200, "{body}");
        body
    }

    async fn oauth(sim: &Simulator, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
        let r = http()
            .post(sim.base_url().join(path).unwrap())
            .form(form)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn rest(sim: &Simulator, token: &str, path: &str, restli: bool) -> (u16, Value) {
        let mut request = http()
            .get(sim.base_url().join(path).unwrap())
            .bearer_auth(token)
            .header(
                "LinkedIn-Version",
                connector::config::DEFAULT_LINKEDIN_API_VERSION,
            );
        if restli {
            request = request.header("X-Restli-Protocol-Version", "2.0.0");
        }
        let r = request.send().await.unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    #[tokio::test]
    async fn organizations_lookup_and_get_answer_names_vanity_names_and_logos_strictly() {
        let sim = sim(|_| {}).await;
        let admin = grant(&sim, MEMBER, "openid profile rw_organization_admin").await;
        let token = admin["access_token"].as_str().unwrap();

        let (status, body) = rest(
            &sim,
            token,
            "/rest/organizationsLookup?ids=List(1001,1002,9)",
            true,
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            body["results"]["1001"]["localizedName"],
            "Analytical Engines Ltd"
        );
        assert_eq!(
            body["results"]["1002"]["vanityName"],
            "difference-engine-society"
        );
        assert!(body["results"]["1001"]["logoV2"]["original"].is_string());
        assert_eq!(body["statuses"]["9"], 404);
        assert_eq!(body["errors"]["9"]["status"], 404);

        for (path, restli, expected) in [
            ("/rest/organizationsLookup?ids=List(1001)", false, 400),
            ("/rest/organizationsLookup?ids=1001", true, 400),
            ("/rest/organizationsLookup?ids=List(a)", true, 400),
            ("/rest/organizations/1001", true, 200),
            ("/rest/organizations/9", true, 404),
            ("/rest/organizations/urn:li:organization:1001", true, 400),
        ] {
            let (status, body) = rest(&sim, token, path, restli).await;
            assert_eq!(status, expected, "{path}: {body}");
        }
        let (_, one) = rest(
            &sim,
            token,
            "/rest/organizations/1001?projection=(localizedName,logoV2(original~:playableStreams))",
            true,
        )
        .await;
        assert_eq!(one["localizedName"], "Analytical Engines Ltd");
        let renditions = one["logoV2"]["original~"]["elements"].as_array().unwrap();
        assert_eq!(
            renditions.last().unwrap()["identifiers"][0]["identifier"],
            "https://media.licdn.example/org/1001/logo_400.png"
        );

        let plain = grant(&sim, MEMBER, "openid profile w_member_social").await;
        let (status, body) = rest(
            &sim,
            plain["access_token"].as_str().unwrap(),
            "/rest/organizationsLookup?ids=List(1001)",
            true,
        )
        .await;
        assert_eq!(
            (status, body["serviceErrorCode"].as_u64()),
            (403, Some(100))
        );
    }

    #[tokio::test]
    async fn scopes_an_app_is_not_entitled_to_are_dropped_silently() {
        let sim = sim(|c| c.dropped_scopes = vec!["r_member_postAnalytics".into()]).await;
        let body = grant(
            &sim,
            MEMBER,
            "openid profile w_member_social r_member_postAnalytics",
        )
        .await;
        assert_eq!(body["scope"], "openid,profile,w_member_social");
    }

    #[tokio::test]
    async fn each_app_has_its_own_secret_scopes_and_tokens() {
        let sim = sim(|_| {}).await;
        let pages = grant(
            &sim,
            PAGES,
            "r_basicprofile w_organization_social w_member_social_feed",
        )
        .await;
        assert!(pages["refresh_token"].is_string());
        let member = grant(&sim, MEMBER, "openid profile w_member_social").await;
        let member_refresh = member["refresh_token"].as_str().unwrap();
        let pages_refresh = pages["refresh_token"].as_str().unwrap();

        // The pages app with the member app's secret: client authentication fails.
        let (status, body) = oauth(
            &sim,
            "/oauth/v2/accessToken",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", pages_refresh),
                ("client_id", PAGES.0),
                ("client_secret", MEMBER.1),
            ],
        )
        .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some("invalid_client_id"))
        );
        // Another app's refresh token is no grant of this app's.
        let (status, body) = oauth(
            &sim,
            "/oauth/v2/accessToken",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", member_refresh),
                ("client_id", PAGES.0),
                ("client_secret", PAGES.1),
            ],
        )
        .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_request"))
        );
        // Nor may it revoke another app's token.
        let member_access = member["access_token"].as_str().unwrap();
        let (status, _) = oauth(
            &sim,
            "/oauth/v2/revoke",
            &[
                ("client_id", PAGES.0),
                ("client_secret", PAGES.1),
                ("token", member_access),
            ],
        )
        .await;
        assert_eq!(status, 400);
        assert!(!sim.issued_tokens().iter().any(|t| t.revoked));
        // With its own credentials it refreshes.
        let (status, body) = oauth(
            &sim,
            "/oauth/v2/accessToken",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", pages_refresh),
                ("client_id", PAGES.0),
                ("client_secret", PAGES.1),
            ],
        )
        .await;
        assert_eq!(status, 200, "{body}");
        // The member app may not ask for what only the pages app's product grants.
        let mut url = sim.base_url().join("/oauth/v2/authorization").unwrap();
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", MEMBER.0)
            .append_pair("redirect_uri", REDIRECT)
            .append_pair("scope", "w_member_social_feed");
        let location = sim.consent(url.as_str(), None, true).unwrap();
        assert_eq!(
            query_param(location.as_str(), "error").as_deref(),
            Some("unauthorized_scope_error")
        );
    }
}
