//! Every log line of a whole connect flow holds no token, authorization code or client secret
//! (nor a webhook secret).
//! Its own test binary, so that one global subscriber captures every thread.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use local_stack::{http, test_stack};
use serde_json::json;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Every log line of a whole connect flow, from every crate at TRACE level (the product's
/// logs, reqwest's, hyper's, the AWS SDK's), holds no token, code or client secret. The flow
/// includes LinkedIn's propagation 401s and a reconnect, so error paths log too.
#[tokio::test]
async fn the_logs_of_a_whole_connect_flow_hold_no_token_code_or_client_secret() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(captured.clone())
        .finish();
    // Global, in a process of its own: every thread's events are seen. (A thread-local
    // subscriber misses events whose callsites other test threads registered first.)
    tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");

    let stack = test_stack(|o| {
        o.simulator.propagation_window = Duration::from_millis(150);
        o.settings.insert(
            "LINKEDIN_CLIENT_SECRET".into(),
            "sekrit-client-secret-0042".into(),
        );
        // A second (pages) app: its secret and tokens stay out of the logs too.
        o.settings.insert(
            "LINKEDIN_PAGES_CLIENT_ID".into(),
            "dev-pages-client-id".into(),
        );
        o.settings.insert(
            "LINKEDIN_PAGES_CLIENT_SECRET".into(),
            "sekrit-pages-secret-0043".into(),
        );
        // Webhooks: the master secret and the endpoints' secrets stay out of the logs too.
        o.settings.insert(
            "WEBHOOK_SIGNING_SECRET".into(),
            "sekrit-webhook-master-0044".into(),
        );
        o.run_notifier = true;
    })
    .await;
    let done = stack.gateway_url.join("/done").unwrap();
    stack.connect("acme", None).await;
    stack.connect("acme", None).await;
    // A failing exchange logs LinkedIn's error too.
    let url = stack
        .authorization_url("acme", json!({ "redirect_after": done }))
        .await;
    let location = stack.simulator().consent(&url, None, true).unwrap();
    http().get(location.clone()).send().await.unwrap();
    http().get(location).send().await.unwrap();
    // A pages connection: granted, refreshed, disconnected (revoked) with the pages app's secret.
    let url = stack
        .authorization_url("acme", json!({ "redirect_after": done, "app": "pages" }))
        .await;
    let response = stack
        .consent_and_return(&url, Some("sim-grace-9q2w"), true)
        .await;
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let pages = local_stack::query_param(&location, "connection_id").expect("a pages connection");
    let tenant = connector::domain::TenantId::parse("acme").unwrap();
    let id = connector::domain::ConnectionId::parse(&pages).unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stored = stack
        .refresher
        .keeper
        .connections
        .get_stored_connection(&tenant, id)
        .await
        .unwrap()
        .unwrap();
    stack
        .refresher
        .keeper
        .refresh(stored, chrono::Utc::now())
        .await
        .unwrap();
    stack.disconnect("acme", &pages).await;
    stack.drain_health_queue().await.unwrap();
    assert!(
        stack
            .simulator()
            .oauth_calls()
            .iter()
            .any(|c| c.kind == "revoke" && c.client_id == "dev-pages-client-id"),
        "the pages app's flow ran"
    );

    // A webhook endpoint registered, pinged, rotated, pinged again, failing once.
    let receiver = local_stack::receiver::WebhookReceiver::start()
        .await
        .unwrap();
    let endpoint = stack
        .register_webhook("acme", &receiver.url("/hooks"), &["post.published"])
        .await;
    let webhook = endpoint["id"].as_str().unwrap();
    stack.test_webhook("acme", webhook).await;
    receiver.wait_for(1, Duration::from_secs(20)).await;
    let (_, rotated) = stack.rotate_webhook_secret("acme", webhook).await;
    receiver.behave(local_stack::receiver::Behaviour::FailWith(500));
    stack.test_webhook("acme", webhook).await;
    receiver.wait_for(2, Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("webhook attempt"),
        "the capture saw the notifier's logs"
    );
    assert!(
        logs.contains("connection stored"),
        "the capture saw the product's logs"
    );
    assert!(
        logs.contains("LinkedIn API call failed"),
        "the capture saw error paths"
    );
    let mut secrets = vec![
        "sekrit-client-secret-0042".to_owned(),
        "sekrit-pages-secret-0043".to_owned(),
        "sekrit-webhook-master-0044".to_owned(),
    ];
    for shown in [&endpoint["secret"], &rotated["secret"]] {
        let shown = shown.as_str().expect("a webhook secret");
        secrets.push(shown.trim_start_matches("whsec_").to_owned());
    }
    for t in stack.simulator().issued_tokens() {
        secrets.push(t.access_token);
        secrets.extend(t.refresh_token);
    }
    secrets.extend(stack.simulator().issued_codes());
    assert!(secrets.len() >= 10);
    for secret in &secrets {
        assert!(
            !logs.contains(secret.as_str()),
            "a secret reached the logs: {}…",
            &secret[..8]
        );
        assert!(
            !logs.contains(&secret[secret.len() - 20..]),
            "a secret's tail reached the logs"
        );
    }
}
