//! The simulator behaves as linkedin-api.md says LinkedIn does.

use std::time::Duration;

use chrono::{Datelike, Months, Utc};
use connector::config::DEFAULT_LINKEDIN_API_VERSION;
use linkedin_simulator::{Fault, Simulator, SimulatorConfig};
use serde_json::Value;

use crate::support::{http, query_param};

const REDIRECT: &str = "http://127.0.0.1:9/callback";

async fn sim(change: impl FnOnce(&mut SimulatorConfig)) -> Simulator {
    let mut config = SimulatorConfig {
        redirect_uris: vec![REDIRECT.into()],
        ..Default::default()
    };
    change(&mut config);
    Simulator::start(config).await.unwrap()
}

fn authorize_url(sim: &Simulator, scope: &str) -> String {
    let mut url = sim.base_url().join("/oauth/v2/authorization").unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", "dev-client-id")
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("scope", scope)
        .append_pair("state", "st");
    url.to_string()
}

fn code_for(sim: &Simulator, scope: &str) -> String {
    let location = sim.consent(&authorize_url(sim, scope), None, true).unwrap();
    query_param(location.as_str(), "code").unwrap()
}

async fn token_call(sim: &Simulator, form: &[(&str, &str)]) -> (u16, Value) {
    let r = http()
        .post(sim.base_url().join("/oauth/v2/accessToken").unwrap())
        .form(form)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn exchange(sim: &Simulator, code: &str) -> (u16, Value) {
    token_call(
        sim,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("client_id", "dev-client-id"),
            ("client_secret", "dev-client-secret"),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await
}

async fn refresh(sim: &Simulator, refresh_token: &str) -> (u16, Value) {
    token_call(
        sim,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", "dev-client-id"),
            ("client_secret", "dev-client-secret"),
        ],
    )
    .await
}

async fn tokens(sim: &Simulator, scope: &str) -> Value {
    let (status, body) = exchange(sim, &code_for(sim, scope)).await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn api_get(sim: &Simulator, path: &str, token: &str, version: Option<&str>) -> (u16, Value) {
    let mut request = http()
        .get(sim.base_url().join(path).unwrap())
        .bearer_auth(token);
    if let Some(v) = version {
        request = request
            .header("LinkedIn-Version", v)
            .header("X-Restli-Protocol-Version", "2.0.0");
    }
    let r = request.send().await.unwrap();
    assert!(r.headers().contains_key("x-li-uuid"));
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

/// LinkedIn counts lifetimes in whole seconds from "now"; allow for the test's own runtime.
fn assert_near(value: &Value, expected: i64) {
    let got = value
        .as_i64()
        .unwrap_or_else(|| panic!("not a number: {value}"));
    assert!((got - expected).abs() <= 2, "{got} is not {expected}");
}

const OPENID: &str = "openid profile email w_member_social";

#[tokio::test]
async fn the_token_endpoint_refuses_a_json_body() {
    let sim = sim(|_| {}).await;
    let code = code_for(&sim, OPENID);
    let r = http()
        .post(sim.base_url().join("/oauth/v2/accessToken").unwrap())
        .json(&serde_json::json!({"grant_type": "authorization_code", "code": code,
            "client_id": "dev-client-id", "client_secret": "dev-client-secret", "redirect_uri": REDIRECT}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_request");
}

#[tokio::test]
async fn a_code_works_once_for_the_right_client_and_redirect() {
    let sim = sim(|_| {}).await;
    let code = code_for(&sim, OPENID);
    let bad_secret = token_call(
        &sim,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", "dev-client-id"),
            ("client_secret", "nope"),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_eq!(
        (bad_secret.0, bad_secret.1["error"].as_str()),
        (401, Some("invalid_client_id"))
    );
    let bad_redirect = token_call(
        &sim,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", "dev-client-id"),
            ("client_secret", "dev-client-secret"),
            ("redirect_uri", "http://x/"),
        ],
    )
    .await;
    assert_eq!(
        (bad_redirect.0, bad_redirect.1["error"].as_str()),
        (400, Some("invalid_redirect_uri"))
    );

    let (status, body) = exchange(&sim, &code).await;
    assert_eq!(status, 200);
    assert_eq!(body["expires_in"], 5_184_000);
    assert_eq!(body["scope"], "openid,profile,email,w_member_social");
    assert!(body["access_token"].as_str().unwrap().len() >= 500);
    assert!(body["id_token"].is_string());
    let (status, again) = exchange(&sim, &code).await;
    assert_eq!(
        (status, again["error"].as_str()),
        (400, Some("invalid_request"))
    );
    let (status, _) = exchange(&sim, "never-issued").await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn refresh_keeps_the_refresh_token_and_counts_its_life_down() {
    let sim = sim(|_| {}).await;
    let first = tokens(&sim, OPENID).await;
    let refresh_token = first["refresh_token"].as_str().unwrap();
    assert_eq!(first["refresh_token_expires_in"], 31_536_000);
    sim.advance(Duration::from_secs(10 * 86_400));

    let (status, second) = refresh(&sim, refresh_token).await;
    assert_eq!(status, 200);
    assert_eq!(
        second["refresh_token"], refresh_token,
        "LinkedIn returns the same refresh token"
    );
    assert_near(
        &second["refresh_token_expires_in"],
        31_536_000 - 10 * 86_400,
    );
    assert_ne!(second["access_token"], first["access_token"]);
}

#[tokio::test]
async fn a_refreshed_access_token_never_outlives_its_refresh_token() {
    let sim = sim(|_| {}).await;
    let first = tokens(&sim, OPENID).await;
    sim.advance(Duration::from_secs(340 * 86_400));
    let (_, second) = refresh(&sim, first["refresh_token"].as_str().unwrap()).await;
    assert_near(&second["expires_in"], 25 * 86_400);
    sim.advance(Duration::from_secs(26 * 86_400));
    let (status, expired) = refresh(&sim, first["refresh_token"].as_str().unwrap()).await;
    assert_eq!(
        (status, expired["error"].as_str()),
        (400, Some("invalid_request"))
    );
}

#[tokio::test]
async fn rotation_is_an_option_and_a_rotated_token_cannot_be_reused() {
    let sim = sim(|c| c.rotate_refresh_tokens = true).await;
    let first = tokens(&sim, OPENID).await;
    let old = first["refresh_token"].as_str().unwrap();
    let (_, second) = refresh(&sim, old).await;
    assert_ne!(second["refresh_token"], old);
    assert_eq!(refresh(&sim, old).await.0, 400);
    assert_eq!(
        refresh(&sim, second["refresh_token"].as_str().unwrap())
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn self_serve_apps_get_no_refresh_token() {
    let sim = sim(|c| c.issue_refresh_tokens = false).await;
    let body = tokens(&sim, OPENID).await;
    assert!(body.get("refresh_token").is_none());
    assert!(body.get("refresh_token_expires_in").is_none());
}

#[tokio::test]
async fn identity_comes_from_userinfo_and_v2_me_needs_profile_products() {
    let sim = sim(|c| c.allowed_scopes.push("r_liteprofile".into())).await;
    let openid = tokens(&sim, OPENID).await;
    let token = openid["access_token"].as_str().unwrap();
    let (status, info) = api_get(&sim, "/v2/userinfo", token, None).await;
    assert_eq!(status, 200);
    assert_eq!(info["sub"], "sim-ada-7f3k");
    assert_eq!(info["email"], "ada@example.com");
    let (status, me) = api_get(&sim, "/v2/me", token, None).await;
    assert_eq!(status, 403);
    assert_eq!(me["serviceErrorCode"], 100);
    assert_eq!(
        me["message"],
        "Not enough permissions to access: me.GET.NO_VERSION"
    );

    let lite = tokens(&sim, "r_liteprofile w_member_social").await;
    let (status, me) = api_get(&sim, "/v2/me", lite["access_token"].as_str().unwrap(), None).await;
    assert_eq!(status, 200);
    assert_eq!(me["localizedFirstName"], "Ada");
}

#[tokio::test]
async fn bad_tokens_answer_65600_65601_and_65602() {
    let sim = sim(|_| {}).await;
    let (status, body) = api_get(&sim, "/v2/userinfo", "not-a-token", None).await;
    assert_eq!(
        (status, body["serviceErrorCode"].as_u64()),
        (401, Some(65600))
    );

    let t = tokens(&sim, OPENID).await;
    let token = t["access_token"].as_str().unwrap();
    sim.advance(Duration::from_secs(61 * 86_400));
    let (status, body) = api_get(&sim, "/v2/userinfo", token, None).await;
    assert_eq!(
        (status, body["serviceErrorCode"].as_u64()),
        (401, Some(65602))
    );

    let t = tokens(&sim, OPENID).await;
    sim.revoke_member("sim-ada-7f3k");
    let (status, body) = api_get(
        &sim,
        "/v2/userinfo",
        t["access_token"].as_str().unwrap(),
        None,
    )
    .await;
    assert_eq!(
        (status, body["serviceErrorCode"].as_u64()),
        (401, Some(65601))
    );
    assert_eq!(body["code"], "REVOKED_ACCESS_TOKEN");
}

#[tokio::test]
async fn a_new_token_answers_65601_until_it_has_propagated() {
    let sim = sim(|c| c.propagation_window = Duration::from_millis(300)).await;
    let t = tokens(&sim, OPENID).await;
    let token = t["access_token"].as_str().unwrap();
    let (status, body) = api_get(&sim, "/v2/userinfo", token, None).await;
    assert_eq!(
        (status, body["serviceErrorCode"].as_u64()),
        (401, Some(65601))
    );
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(api_get(&sim, "/v2/userinfo", token, None).await.0, 200);
}

#[tokio::test]
async fn revoking_the_access_token_kills_its_refresh_token_and_introspection_says_so() {
    let sim = sim(|_| {}).await;
    let t = tokens(&sim, OPENID).await;
    let (access, refresh_token) = (
        t["access_token"].as_str().unwrap(),
        t["refresh_token"].as_str().unwrap(),
    );
    let introspect = |token: String| {
        let url = sim.base_url().join("/oauth/v2/introspectToken").unwrap();
        async move {
            http()
                .post(url)
                .form(&[
                    ("client_id", "dev-client-id"),
                    ("client_secret", "dev-client-secret"),
                    ("token", &token),
                ])
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    assert_eq!(introspect(access.into()).await["status"], "active");
    let r = http()
        .post(sim.base_url().join("/oauth/v2/revoke").unwrap())
        .form(&[
            ("client_id", "dev-client-id"),
            ("client_secret", "dev-client-secret"),
            ("token", access),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(introspect(access.into()).await["status"], "revoked");
    assert_eq!(refresh(&sim, refresh_token).await.0, 400);
    assert_eq!(
        api_get(&sim, "/v2/userinfo", access, None).await.1["serviceErrorCode"],
        65601
    );
}

#[tokio::test]
async fn a_different_scope_set_invalidates_the_members_earlier_tokens() {
    let sim = sim(|_| {}).await;
    let old = tokens(&sim, OPENID).await;
    tokens(&sim, "openid profile w_member_social").await;
    let (status, _) = api_get(
        &sim,
        "/v2/userinfo",
        old["access_token"].as_str().unwrap(),
        None,
    )
    .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn organization_acls_need_a_version_the_scope_and_the_finder() {
    let sim = sim(|_| {}).await;
    let t = tokens(&sim, "openid profile rw_organization_admin").await;
    let token = t["access_token"].as_str().unwrap();
    let path = "/rest/organizationAcls?q=roleAssignee&state=APPROVED";
    assert_eq!(api_get(&sim, path, token, None).await.0, 400);
    let (status, body) = api_get(&sim, path, token, Some("202001")).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (426, Some("NONEXISTENT_VERSION"))
    );
    let (status, body) = api_get(&sim, path, token, Some(DEFAULT_LINKEDIN_API_VERSION)).await;
    assert_eq!(status, 200);
    assert_eq!(body["elements"].as_array().unwrap().len(), 2);
    assert_eq!(
        body["elements"][0]["organization"],
        "urn:li:organization:1001"
    );
    let (_, admins) = api_get(
        &sim,
        &format!("{path}&role=ADMINISTRATOR"),
        token,
        Some(DEFAULT_LINKEDIN_API_VERSION),
    )
    .await;
    assert_eq!(admins["elements"].as_array().unwrap().len(), 1);

    let plain = tokens(&sim, OPENID).await;
    let (status, _) = api_get(
        &sim,
        path,
        plain["access_token"].as_str().unwrap(),
        Some(DEFAULT_LINKEDIN_API_VERSION),
    )
    .await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn the_authorization_page_is_strict_about_client_redirect_and_scopes() {
    let sim = sim(|_| {}).await;
    let page = http()
        .get(authorize_url(&sim, OPENID))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("id=\"allow\"") && html.contains("id=\"cancel\""));

    let wrong_redirect = authorize_url(&sim, OPENID).replace("127.0.0.1%3A9", "evil.example");
    assert_eq!(
        http().get(wrong_redirect).send().await.unwrap().status(),
        400
    );

    let location = sim
        .consent(&authorize_url(&sim, "openid r_ads_reporting"), None, true)
        .unwrap();
    assert_eq!(
        query_param(location.as_str(), "error").as_deref(),
        Some("unauthorized_scope_error")
    );

    let location = sim
        .consent(&authorize_url(&sim, OPENID), None, false)
        .unwrap();
    assert_eq!(
        query_param(location.as_str(), "error").as_deref(),
        Some("user_cancelled_authorize")
    );
    assert_eq!(
        query_param(location.as_str(), "state").as_deref(),
        Some("st")
    );
}

#[tokio::test]
async fn faults_apply_per_route_for_a_count_and_can_delay() {
    let sim = sim(|_| {}).await;
    let t = tokens(&sim, OPENID).await;
    let token = t["access_token"].as_str().unwrap();
    sim.inject(Fault::status("GET", "/v2/userinfo", 503).times(2));
    sim.inject(Fault::delay("GET", "/v2/me", Duration::from_millis(200)));
    assert_eq!(api_get(&sim, "/v2/userinfo", token, None).await.0, 503);
    assert_eq!(api_get(&sim, "/v2/userinfo", token, None).await.0, 503);
    assert_eq!(api_get(&sim, "/v2/userinfo", token, None).await.0, 200);
    let started = std::time::Instant::now();
    api_get(&sim, "/v2/me", token, None).await;
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert_eq!(sim.count("GET", "/v2/userinfo"), 3);
}

#[tokio::test]
async fn the_control_api_injects_faults_and_reports_requests() {
    let sim = sim(|_| {}).await;
    let base = sim.base_url().clone();
    let r = http()
        .post(base.join("/_sim/faults").unwrap())
        .json(&serde_json::json!({"method": "GET", "path_prefix": "/v2/userinfo", "status": 500, "times": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(api_get(&sim, "/v2/userinfo", "x", None).await.0, 500);
    assert_eq!(api_get(&sim, "/v2/userinfo", "x", None).await.0, 401);
    let log: Vec<Value> = http()
        .get(base.join("/_sim/requests").unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0]["status"], 500);
}

/// `YYYYMM` of the month `months_ago` before today.
fn version_months_ago(months_ago: u32) -> String {
    let day = Utc::now().date_naive().with_day(1).unwrap() - Months::new(months_ago);
    day.format("%Y%m").to_string()
}

const ACLS: &str = "/rest/organizationAcls?q=roleAssignee&state=APPROVED";

async fn acls_token(sim: &Simulator) -> String {
    let t = tokens(sim, "openid profile rw_organization_admin").await;
    t["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_version_twelve_months_old_is_retired_with_426() {
    let sim = sim(|_| {}).await;
    let token = acls_token(&sim).await;
    for version in [
        version_months_ago(12),
        format!("{}01", version_months_ago(12)),
        "202001".into(),
    ] {
        let (status, body) = api_get(&sim, ACLS, &token, Some(&version)).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (426, Some("NONEXISTENT_VERSION")),
            "{version}: {body}"
        );
        assert_eq!(
            body["message"],
            format!("Requested version {version} is not active")
        );
        assert_eq!(body["status"], 426);
    }
}

#[tokio::test]
async fn a_version_from_the_future_is_refused_with_426() {
    let sim = sim(|_| {}).await;
    let token = acls_token(&sim).await;
    let next = (Utc::now().date_naive().with_day(1).unwrap() + Months::new(1))
        .format("%Y%m")
        .to_string();
    let (status, body) = api_get(&sim, ACLS, &token, Some(&next)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (426, Some("NONEXISTENT_VERSION"))
    );
}

#[tokio::test]
async fn versions_of_the_last_twelve_months_are_served_and_a_bad_header_is_400() {
    let sim = sim(|_| {}).await;
    let token = acls_token(&sim).await;
    for version in [
        version_months_ago(0),
        version_months_ago(11),
        format!("{}15", version_months_ago(11)),
    ] {
        assert_eq!(
            api_get(&sim, ACLS, &token, Some(&version)).await.0,
            200,
            "{version}"
        );
    }
    for bad in ["2026", "latest", "202613"] {
        let (status, body) = api_get(&sim, ACLS, &token, Some(bad)).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
    assert_eq!(api_get(&sim, ACLS, &token, None).await.0, 400);
}

#[tokio::test]
async fn advancing_the_clock_thirteen_months_retires_a_version_that_was_active() {
    let sim = sim(|c| {
        c.access_token_ttl = Duration::from_secs(800 * 86_400);
    })
    .await;
    let token = acls_token(&sim).await;
    let version = version_months_ago(0);
    assert_eq!(api_get(&sim, ACLS, &token, Some(&version)).await.0, 200);
    sim.advance(Duration::from_secs(13 * 31 * 86_400));
    let (status, body) = api_get(&sim, ACLS, &token, Some(&version)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (426, Some("NONEXISTENT_VERSION")),
        "{body}"
    );
}

/// The product's pinned version must outlive the next release: the kit fails a month before
/// LinkedIn would.
#[tokio::test]
async fn the_pinned_version_is_served_today_and_a_month_from_now() {
    let sim = sim(|c| c.access_token_ttl = Duration::from_secs(800 * 86_400)).await;
    let token = acls_token(&sim).await;
    let (status, body) = api_get(&sim, ACLS, &token, Some(DEFAULT_LINKEDIN_API_VERSION)).await;
    assert_eq!(
        status, 200,
        "LinkedIn no longer serves {DEFAULT_LINKEDIN_API_VERSION}: {body}"
    );
    sim.advance(Duration::from_secs(31 * 86_400));
    let (status, _) = api_get(&sim, ACLS, &token, Some(DEFAULT_LINKEDIN_API_VERSION)).await;
    assert_eq!(
        status, 200,
        "LinkedIn-Version {DEFAULT_LINKEDIN_API_VERSION} retires within a month: move connector::config::DEFAULT_LINKEDIN_API_VERSION"
    );
}

async fn create_post(
    sim: &Simulator,
    token: &str,
    text: &str,
) -> reqwest::Result<reqwest::Response> {
    http()
        .post(sim.base_url().join("/rest/posts").unwrap())
        .bearer_auth(token)
        .header("LinkedIn-Version", DEFAULT_LINKEDIN_API_VERSION)
        .header("X-Restli-Protocol-Version", "2.0.0")
        .json(&serde_json::json!({
            "author": "urn:li:person:sim-ada-7f3k",
            "commentary": text,
            "visibility": "PUBLIC",
            "distribution": {"feedDistribution": "MAIN_FEED", "targetEntities": [], "thirdPartyDistributionChannels": []},
            "lifecycleState": "PUBLISHED",
            "isReshareDisabledByAuthor": false,
        }))
        .send()
        .await
}

#[tokio::test]
async fn a_connection_dropped_after_handling_gives_no_status_but_the_post_exists() {
    let sim = sim(|_| {}).await;
    let token = tokens(&sim, OPENID).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    sim.inject(
        Fault::drop_connection("POST", "/rest/posts")
            .after_handling()
            .times(1),
    );
    let error = create_post(&sim, &token, "made, then the line went dead")
        .await
        .expect_err("no response at all");
    assert!(error.status().is_none(), "{error:?}");
    let posts = sim.posts();
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].commentary, "made, then the line went dead");
    assert_eq!(sim.requests().last().unwrap().status, 0);
    // The fault was used up: the next request is answered.
    let again = create_post(&sim, &token, "answered").await.unwrap();
    assert_eq!(again.status(), 201);
}

#[tokio::test]
async fn a_connection_dropped_before_handling_leaves_no_post() {
    let sim = sim(|_| {}).await;
    let token = tokens(&sim, OPENID).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    sim.inject(Fault::drop_connection("POST", "/rest/posts").times(1));
    let error = create_post(&sim, &token, "never made").await.unwrap_err();
    assert!(error.status().is_none(), "{error:?}");
    assert!(sim.posts().is_empty());
}

#[tokio::test]
async fn a_reset_mid_response_sends_the_head_then_breaks_the_body() {
    let sim = sim(|_| {}).await;
    let token = tokens(&sim, OPENID).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    sim.inject(Fault::reset_mid_response("POST", "/rest/posts").times(1));
    let response = create_post(&sim, &token, "made, answer cut short")
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert!(response.headers().contains_key("x-restli-id"));
    assert!(response.bytes().await.is_err(), "the body breaks off");
    assert_eq!(sim.posts().len(), 1);

    sim.inject(Fault::reset_mid_response("GET", "/v2/userinfo").times(1));
    let r = http()
        .get(sim.base_url().join("/v2/userinfo").unwrap())
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.json::<Value>().await.is_err());
}

#[tokio::test]
async fn the_control_api_injects_connection_faults() {
    let sim = sim(|_| {}).await;
    let token = tokens(&sim, OPENID).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = http()
        .post(sim.base_url().join("/_sim/faults").unwrap())
        .json(
            &serde_json::json!({"method": "POST", "path_prefix": "/rest/posts",
            "connection": "drop", "after_handling": true, "times": 1}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert!(create_post(&sim, &token, "via control").await.is_err());
    assert_eq!(sim.posts().len(), 1);
}

/// LinkedIn refuses a post whose image the author has not finished uploading with 400
/// MEDIA_ASSET_WAITING_UPLOAD (retry later), and one naming an image that is not the author's
/// with INVALID_CONTENT.
#[tokio::test]
async fn a_post_before_its_image_is_available_is_refused_with_media_asset_waiting_upload() {
    let sim = sim(|_| {}).await;
    let token = tokens(&sim, OPENID).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let author = "urn:li:person:sim-ada-7f3k";
    let rest = |path: &str| {
        http()
            .post(sim.base_url().join(path).unwrap())
            .bearer_auth(&token)
            .header("LinkedIn-Version", DEFAULT_LINKEDIN_API_VERSION)
            .header("X-Restli-Protocol-Version", "2.0.0")
    };
    let started: Value = rest("/rest/images?action=initializeUpload")
        .json(&serde_json::json!({"initializeUploadRequest": {"owner": author}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let image = started["value"]["image"].as_str().unwrap().to_owned();
    let post_with = |media: String| {
        rest("/rest/posts").json(&serde_json::json!({
            "author": author,
            "commentary": "with an image",
            "visibility": "PUBLIC",
            "distribution": {"feedDistribution": "MAIN_FEED", "targetEntities": [], "thirdPartyDistributionChannels": []},
            "content": {"media": {"id": media}},
            "lifecycleState": "PUBLISHED",
            "isReshareDisabledByAuthor": false,
        }))
    };
    let waiting = post_with(image).send().await.unwrap();
    assert_eq!(waiting.status(), 400);
    let body: Value = waiting.json().await.unwrap();
    assert_eq!(body["code"], "MEDIA_ASSET_WAITING_UPLOAD", "{body}");
    let foreign = post_with("urn:li:image:C4E000000000999".into())
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 400);
    let body: Value = foreign.json().await.unwrap();
    assert_eq!(body["code"], "INVALID_CONTENT", "{body}");
    assert!(sim.posts().is_empty());
}
