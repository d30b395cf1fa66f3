//! Webhooks (issue 13 §1): endpoints through the API, deliveries by the notifier from the
//! webhook queue to stand-in receivers, signed the Standard Webhooks way; retries on the
//! stack's clock, disabling after 24 h of failures, resend, secret rotation, isolation.

use std::time::Duration;

use connector::events::EventType;
use local_stack::receiver::{Behaviour, Received, WebhookReceiver};
use local_stack::{test_stack, LocalStack, StackOptions};
use serde_json::{json, Value};

use crate::support::*;

const WAIT: Duration = Duration::from_secs(20);

/// A test stack whose notifier consumes the webhook queue.
async fn webhook_stack(adjust: impl FnOnce(&mut StackOptions)) -> LocalStack {
    test_stack(|o| {
        o.run_notifier = true;
        adjust(o);
    })
    .await
}

fn verifies(secret: &Value, received: &Received) -> bool {
    standardwebhooks::Webhook::new(secret.as_str().expect("a secret"))
        .expect("a whsec_ secret")
        .verify(received.body.as_bytes(), &received.header_map())
        .is_ok()
}

fn id(endpoint: &Value) -> &str {
    endpoint["id"].as_str().expect("an endpoint id")
}

async fn delivered(stack: &LocalStack, endpoint: &Value, status: &str) -> Value {
    let status = status.to_owned();
    stack
        .wait_for_delivery("acme", id(endpoint), WAIT, move |d| {
            d["status"] == status.as_str()
        })
        .await
}

#[tokio::test]
async fn endpoints_are_registered_shown_changed_and_deleted_and_bad_input_writes_nothing() {
    let stack = webhook_stack(|_| {}).await;
    let receiver = WebhookReceiver::start().await.unwrap();
    let url = receiver.url("/hooks");
    let long = "d".repeat(257);
    let refused = [
        (
            json!({"url": "http://hooks.example.com/in", "events": ["post.published"]}),
            "url",
        ),
        (
            json!({"url": "https://10.1.2.3/in", "events": ["post.published"]}),
            "url",
        ),
        (
            json!({"url": "https://169.254.169.254/latest", "events": ["post.published"]}),
            "url",
        ),
        (
            json!({"url": "not a url", "events": ["post.published"]}),
            "url",
        ),
        (json!({"url": url, "events": []}), "events"),
        (json!({"url": url, "events": ["post.exploded"]}), "events"),
        (json!({"url": url, "events": ["ping"]}), "events"),
        (
            json!({"url": url, "events": ["post.published"], "description": long}),
            "description",
        ),
        (
            json!({"url": url, "events": ["post.published"], "secret": "mine"}),
            "body",
        ),
    ];
    for (body, field) in refused {
        let (status, answer) = stack.create_webhook("acme", body.clone()).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert_eq!(answer["error"]["field"], field, "{body}: {answer}");
    }
    assert!(stack.entities("webhook_endpoint").await.unwrap().is_empty());

    let (status, created) = stack
        .create_webhook(
            "acme",
            json!({"url": url, "events": ["post.published", "post.failed"], "description": "ours"}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert!(created["secret"].as_str().unwrap().starts_with("whsec_"));
    assert_eq!(created["events"], json!(["post.published", "post.failed"]));
    assert_eq!(created["enabled"], true);
    let (status, shown) = stack.webhook("acme", id(&created)).await;
    assert_eq!(status, 200);
    assert!(
        shown.get("secret").is_none(),
        "the secret is shown once: {shown}"
    );
    assert_eq!(shown["description"], "ours");
    let (_, list) = stack.get("acme", "/v1/webhooks").await;
    assert_eq!(list["webhooks"].as_array().unwrap().len(), 1);

    let (status, bad) = stack
        .patch_webhook("acme", id(&created), json!({"url": "ftp://x"}))
        .await;
    assert_eq!((status, bad["error"]["field"].as_str()), (400, Some("url")));
    let (status, changed) = stack
        .patch_webhook(
            "acme",
            id(&created),
            json!({"events": ["connection.revoked"], "enabled": false}),
        )
        .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["events"], json!(["connection.revoked"]));
    assert_eq!(changed["enabled"], false);
    assert_eq!(changed["url"], url.as_str(), "unchanged");

    let (status, _) = stack.delete_webhook("acme", id(&created)).await;
    assert_eq!(status, 204);
    assert_eq!(stack.webhook("acme", id(&created)).await.0, 404);
    assert_eq!(stack.delete_webhook("acme", id(&created)).await.0, 404);
}

#[tokio::test]
async fn a_tenant_has_at_most_its_limit_of_endpoints_and_a_deletion_frees_one() {
    let stack = webhook_stack(|o| {
        o.settings
            .insert("TENANT_WEBHOOK_ENDPOINTS_MAX".into(), "2".into());
    })
    .await;
    let receiver = WebhookReceiver::start().await.unwrap();
    let first = stack
        .register_webhook("acme", &receiver.url("/a"), &["post.published"])
        .await;
    stack
        .register_webhook("acme", &receiver.url("/b"), &["post.published"])
        .await;
    let body = json!({"url": receiver.url("/c"), "events": ["post.published"]});
    let (status, refused) = stack.create_webhook("acme", body.clone()).await;
    assert_eq!(status, 429, "{refused}");
    assert_eq!(refused["error"]["limit"], "webhook_endpoints");
    assert_eq!(stack.entities("webhook_endpoint").await.unwrap().len(), 2);
    // Another tenant has its own count.
    assert_eq!(stack.create_webhook("globex", body.clone()).await.0, 201);

    stack.delete_webhook("acme", id(&first)).await;
    assert_eq!(stack.create_webhook("acme", body).await.0, 201);
}

#[tokio::test]
async fn a_ping_is_received_signed_verifiable_and_logged() {
    let stack = webhook_stack(|_| {}).await;
    let receiver = WebhookReceiver::start().await.unwrap();
    let endpoint = stack
        .register_webhook("acme", &receiver.url("/hooks"), &["post.published"])
        .await;

    let (status, queued) = stack.test_webhook("acme", id(&endpoint)).await;
    assert_eq!(status, 202, "{queued}");

    let received = receiver.wait_for(1, WAIT).await;
    let ping = &received[0];
    assert_eq!(ping.path, "/hooks");
    assert_eq!(ping.header("webhook-id"), queued["event_id"]);
    assert!(ping.header("webhook-signature").starts_with("v1,"));
    assert!(verifies(&endpoint["secret"], ping), "{ping:?}");
    let body = ping.json();
    assert_eq!(body["type"], "ping");
    assert_eq!(body["data"]["webhook_id"], endpoint["id"]);
    assert!(body["timestamp"].is_string());
    assert_eq!(
        body.as_object().unwrap().len(),
        3,
        "type, timestamp, data: {body}"
    );

    let delivery = delivered(&stack, &endpoint, "succeeded").await;
    assert_eq!(delivery["event"]["type"], "ping");
    assert_eq!(delivery["response_code"], 204);
    assert_eq!(delivery["attempt"], 1);
    assert!(delivery["duration_ms"].is_u64());
}

#[tokio::test]
async fn an_event_goes_only_to_the_enabled_endpoints_subscribed_to_its_type() {
    let stack = webhook_stack(|_| {}).await;
    let receiver = WebhookReceiver::start().await.unwrap();
    stack
        .register_webhook("acme", &receiver.url("/published"), &["post.published"])
        .await;
    stack
        .register_webhook("acme", &receiver.url("/failed"), &["post.failed"])
        .await;
    let off = stack
        .register_webhook("acme", &receiver.url("/off"), &["post.published"])
        .await;
    stack
        .patch_webhook("acme", id(&off), json!({"enabled": false}))
        .await;
    stack
        .register_webhook("globex", &receiver.url("/globex"), &["post.published"])
        .await;

    let event = stack
        .emit_event("acme", EventType::PostPublished, json!({"id": "p1"}))
        .await;
    let received = receiver.wait_for(1, WAIT).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let received_now = receiver.received();
    assert_eq!(received_now.len(), 1, "{received_now:?}");
    assert_eq!(received[0].path, "/published");
    assert_eq!(received[0].header("webhook-id"), event.id.to_string());
    assert_eq!(received[0].json()["data"], json!({"id": "p1"}));
}

#[tokio::test]
async fn a_failing_receiver_is_retried_with_backoff_until_it_recovers() {
    let stack = webhook_stack(|_| {}).await;
    let receiver = WebhookReceiver::start().await.unwrap();
    receiver.behave(Behaviour::FailWith(500));
    let endpoint = stack
        .register_webhook("acme", &receiver.url("/hooks"), &["post.published"])
        .await;

    stack
        .emit_event("acme", EventType::PostPublished, json!({"id": "p1"}))
        .await;
    let pending = delivered(&stack, &endpoint, "pending").await;
    assert_eq!(pending["response_code"], 500);
    let next: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(pending["next_attempt_at"].clone()).unwrap();
    let first: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(pending["first_attempt_at"].clone()).unwrap();
    let wait = (next - first).num_seconds();
    assert!((22..=38).contains(&wait), "30 s ± 25 %: {wait}");
    let (_, shown) = stack.webhook("acme", id(&endpoint)).await;
    assert!(shown["failing_since"].is_string(), "{shown}");
    // Not before its time.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(receiver.received().len(), 1);

    receiver.recover().await;
    stack.advance(chrono::Duration::minutes(1));
    let received = receiver.wait_for(2, WAIT).await;
    assert_eq!(
        received[0].header("webhook-id"),
        received[1].header("webhook-id")
    );
    assert!(verifies(&endpoint["secret"], &received[1]));
    let done = delivered(&stack, &endpoint, "succeeded").await;
    assert_eq!(done["attempt"], 2);
    let attempts = done["attempts"].as_array().unwrap();
    assert_eq!(attempts[0]["outcome"], "http_error");
    assert_eq!(attempts[1]["outcome"], "succeeded");
    let (_, shown) = stack.webhook("acme", id(&endpoint)).await;
    assert!(shown["failing_since"].is_null(), "{shown}");
}

#[tokio::test]
async fn a_timeout_and_a_refused_connection_are_failed_attempts_tried_again() {
    let stack = webhook_stack(|_| {}).await;
    let slow = WebhookReceiver::start().await.unwrap();
    slow.behave(Behaviour::Stall(Duration::from_secs(15)));
    let down = WebhookReceiver::start().await.unwrap();
    down.refuse();
    let slow_endpoint = stack
        .register_webhook("acme", &slow.url("/slow"), &["post.failed"])
        .await;
    let down_endpoint = stack
        .register_webhook("acme", &down.url("/down"), &["post.failed"])
        .await;

    stack
        .emit_event("acme", EventType::PostFailed, json!({"id": "p1"}))
        .await;
    let timed_out = delivered(&stack, &slow_endpoint, "pending").await;
    assert_eq!(timed_out["attempts"][0]["outcome"], "timeout");
    assert!(timed_out["attempts"][0]["duration_ms"].as_u64().unwrap() >= 9_000);
    assert!(timed_out["response_code"].is_null());
    let refused = delivered(&stack, &down_endpoint, "pending").await;
    assert_eq!(refused["attempts"][0]["outcome"], "connection_failed");

    slow.recover().await;
    down.recover().await;
    stack.advance(chrono::Duration::minutes(1));
    delivered(&stack, &slow_endpoint, "succeeded").await;
    delivered(&stack, &down_endpoint, "succeeded").await;
    assert_eq!(down.received().len(), 1, "received once it listened again");
}

#[tokio::test]
async fn an_endpoint_failing_for_24_hours_is_disabled_and_says_so_with_an_event() {
    let stack = webhook_stack(|_| {}).await;
    let broken = WebhookReceiver::start().await.unwrap();
    broken.behave(Behaviour::FailWith(503));
    let watcher = WebhookReceiver::start().await.unwrap();
    let endpoint = stack
        .register_webhook("acme", &broken.url("/hooks"), &["post.published"])
        .await;
    let watching = stack
        .register_webhook("acme", &watcher.url("/ops"), &["webhook.disabled"])
        .await;

    stack
        .emit_event("acme", EventType::PostPublished, json!({"id": "p1"}))
        .await;
    delivered(&stack, &endpoint, "pending").await;
    stack.advance(chrono::Duration::hours(12));
    broken.wait_for(2, WAIT).await;
    let (_, shown) = stack.webhook("acme", id(&endpoint)).await;
    assert_eq!(shown["enabled"], true, "12 h of failures: {shown}");

    stack.advance(chrono::Duration::hours(12) + chrono::Duration::minutes(1));
    let told = watcher.wait_for(1, WAIT).await;
    assert_eq!(told[0].json()["type"], "webhook.disabled");
    assert_eq!(told[0].json()["data"]["webhook_id"], endpoint["id"]);
    assert!(verifies(&watching["secret"], &told[0]));

    let (_, shown) = stack.webhook("acme", id(&endpoint)).await;
    assert_eq!(shown["enabled"], false, "{shown}");
    assert!(shown["disabled_reason"]
        .as_str()
        .unwrap()
        .contains("24 hours"));
    let failed = stack
        .wait_for_delivery("acme", id(&endpoint), WAIT, |d| {
            d["event"]["type"] == "post.published" && d["status"] == "failed"
        })
        .await;
    assert_eq!(failed["attempt"], 3);
    assert!(failed["next_attempt_at"].is_null());
    let disabled = stack
        .wait_for_delivery("acme", id(&endpoint), WAIT, |d| {
            d["event"]["type"] == "webhook.disabled"
        })
        .await;
    assert_eq!(disabled["attempts"][0]["outcome"], "not_sent");

    // Disabled: new events no longer go there.
    let before = broken.received().len();
    stack
        .emit_event("acme", EventType::PostPublished, json!({"id": "p2"}))
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(broken.received().len(), before);
}

#[tokio::test]
async fn a_delivery_can_be_resent_with_the_same_webhook_id() {
    let stack = webhook_stack(|_| {}).await;
    let receiver = WebhookReceiver::start().await.unwrap();
    let endpoint = stack
        .register_webhook("acme", &receiver.url("/hooks"), &["post.published"])
        .await;
    stack.test_webhook("acme", id(&endpoint)).await;
    let delivery = delivered(&stack, &endpoint, "succeeded").await;

    let (status, answer) = stack
        .resend_delivery("acme", id(&endpoint), delivery["id"].as_str().unwrap())
        .await;
    assert_eq!(status, 202, "{answer}");
    let received = receiver.wait_for(2, WAIT).await;
    assert_eq!(
        received[0].header("webhook-id"),
        received[1].header("webhook-id")
    );
    let resent = stack
        .wait_for_delivery("acme", id(&endpoint), WAIT, |d| d["attempt"] == 2)
        .await;
    assert_eq!(resent["attempts"][1]["resend"], true);
    assert_eq!(resent["status"], "succeeded");
    let missing = "1796666902351.evt_0190c5a0000070008000000000000000";
    assert_eq!(
        stack
            .resend_delivery("acme", id(&endpoint), missing)
            .await
            .0,
        404
    );
}

#[tokio::test]
async fn a_rotated_secret_signs_beside_the_old_one_for_24_hours_then_alone() {
    let stack = webhook_stack(|_| {}).await;
    let receiver = WebhookReceiver::start().await.unwrap();
    let endpoint = stack
        .register_webhook("acme", &receiver.url("/hooks"), &["post.published"])
        .await;
    let (status, rotated) = stack.rotate_webhook_secret("acme", id(&endpoint)).await;
    assert_eq!(status, 200, "{rotated}");
    assert_ne!(rotated["secret"], endpoint["secret"]);
    assert!(rotated["previous_secret_valid_until"].is_string());

    stack
        .emit_event("acme", EventType::PostPublished, json!({"n": 1}))
        .await;
    let during = receiver.wait_for(1, WAIT).await;
    assert_eq!(during[0].header("webhook-signature").split(' ').count(), 2);
    assert!(verifies(&endpoint["secret"], &during[0]));
    assert!(verifies(&rotated["secret"], &during[0]));

    stack.advance(chrono::Duration::hours(25));
    stack
        .emit_event("acme", EventType::PostPublished, json!({"n": 2}))
        .await;
    let after = receiver.wait_for(2, WAIT).await;
    assert!(verifies(&rotated["secret"], &after[1]));
    assert!(!verifies(&endpoint["secret"], &after[1]));
}

#[tokio::test]
async fn the_table_holds_no_webhook_secret() {
    let stack = webhook_stack(|_| {}).await;
    let receiver = WebhookReceiver::start().await.unwrap();
    let endpoint = stack
        .register_webhook("acme", &receiver.url("/hooks"), &["post.published"])
        .await;
    let (_, rotated) = stack.rotate_webhook_secret("acme", id(&endpoint)).await;
    stack.test_webhook("acme", id(&endpoint)).await;
    delivered(&stack, &endpoint, "succeeded").await;

    let items = stack.scan_table().await.unwrap();
    assert!(items.len() >= 2);
    for secret in [&endpoint["secret"], &rotated["secret"]] {
        let encoded = secret.as_str().unwrap().trim_start_matches("whsec_");
        for item in &items {
            let bytes = item_bytes(item);
            assert!(!contains(&bytes, encoded), "{item:?}");
            assert!(!contains(&bytes, &encoded[..24]), "{item:?}");
        }
    }
}

#[tokio::test]
async fn another_tenant_s_endpoint_answers_404_everywhere() {
    let stack = webhook_stack(|_| {}).await;
    let receiver = WebhookReceiver::start().await.unwrap();
    let endpoint = stack
        .register_webhook("acme", &receiver.url("/hooks"), &["post.published"])
        .await;
    stack.test_webhook("acme", id(&endpoint)).await;
    let delivery = delivered(&stack, &endpoint, "succeeded").await;
    let theirs = id(&endpoint);
    let delivery_id = delivery["id"].as_str().unwrap();

    assert_eq!(stack.webhook("globex", theirs).await.0, 404);
    assert_eq!(
        stack
            .patch_webhook("globex", theirs, json!({"enabled": false}))
            .await
            .0,
        404
    );
    assert_eq!(stack.test_webhook("globex", theirs).await.0, 404);
    assert_eq!(stack.rotate_webhook_secret("globex", theirs).await.0, 404);
    assert_eq!(stack.webhook_deliveries("globex", theirs, "").await.0, 404);
    assert_eq!(
        stack.resend_delivery("globex", theirs, delivery_id).await.0,
        404
    );
    assert_eq!(stack.delete_webhook("globex", theirs).await.0, 404);
    let (_, list) = stack.get("globex", "/v1/webhooks").await;
    assert_eq!(list["webhooks"], json!([]));

    let (status, still) = stack.webhook("acme", theirs).await;
    assert_eq!((status, still["enabled"].as_bool()), (200, Some(true)));
    assert_eq!(receiver.received().len(), 1);
}

/// Which of `secrets` the Python `standardwebhooks` package (PyPI, hash-pinned in
/// requirements-dev.txt) accepts for `received`, as a tenant's Python app would check it.
fn python_verifies(secrets: &[(&str, &str)], body: &str, received: &Received) -> Value {
    let python = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    let script = r#"
import json, sys
from standardwebhooks import Webhook
asked = json.load(sys.stdin)
answers = {}
for name, secret in asked["secrets"].items():
    try:
        Webhook(secret).verify(asked["body"], asked["headers"])
        answers[name] = True
    except Exception:
        answers[name] = False
print(json.dumps(answers))
"#;
    let mut child = std::process::Command::new(&python)
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{} (run make setup): {e}", python.display()));
    let asked = json!({
        "secrets": secrets.iter().copied().collect::<std::collections::HashMap<_, _>>(),
        "body": body,
        "headers": received.headers,
    });
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(asked.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "python: {out:?}");
    serde_json::from_slice(&out.stdout).expect("the script's JSON answer")
}

#[tokio::test]
async fn the_python_standardwebhooks_package_verifies_what_a_tenant_receives() {
    let stack = webhook_stack(|_| {}).await;
    let receiver = WebhookReceiver::start().await.unwrap();
    let endpoint = stack
        .register_webhook("acme", &receiver.url("/hooks"), &["post.published"])
        .await;
    let (_, rotated) = stack.rotate_webhook_secret("acme", id(&endpoint)).await;
    stack
        .emit_event(
            "acme",
            EventType::PostPublished,
            json!({"id": "p1", "text": "héllo ✓"}),
        )
        .await;
    let received = receiver.wait_for(1, WAIT).await;
    let old = endpoint["secret"].as_str().unwrap();
    let new = rotated["secret"].as_str().unwrap();
    let stranger = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let answers = python_verifies(
        &[("old", old), ("new", new), ("stranger", stranger)],
        &received[0].body,
        &received[0],
    );
    assert_eq!(
        answers,
        json!({"old": true, "new": true, "stranger": false})
    );
    let tampered = received[0].body.replace("p1", "p2");
    let answers = python_verifies(&[("new", new)], &tampered, &received[0]);
    assert_eq!(answers, json!({"new": false}));
}

/// What an event costs in AWS calls, counted by the stack's proxy: one Query for the tenant's
/// endpoints, one PutItem per endpoint (its delivery record, first attempt included); a
/// failed attempt adds one SendMessage (the next try) and, on the endpoint's first failure,
/// one PutItem (when it started failing); a retry not yet due costs one SendMessage; a retry
/// due two GetItems (endpoint, delivery) and one PutItem (plus a SendMessage if it fails).
#[tokio::test]
async fn an_event_costs_one_query_and_one_write_per_endpoint() {
    let stack = test_stack(|_| {}).await;
    let ok = WebhookReceiver::start().await.unwrap();
    let failing = WebhookReceiver::start().await.unwrap();
    failing.behave(Behaviour::FailWith(500));
    for path in ["/a", "/b"] {
        stack
            .register_webhook("acme", &ok.url(path), &["post.published"])
            .await;
    }
    stack
        .emit_event("acme", EventType::PostPublished, json!({}))
        .await;
    stack.aws_calls().take();
    assert_eq!(stack.run_webhook_queue().await, 1);
    let calls = stack.aws_calls().take();
    assert_eq!(ok.received().len(), 2);
    assert_eq!(calls.get("DynamoDB.Query"), Some(&1), "{calls:?}");
    assert_eq!(calls.get("DynamoDB.PutItem"), Some(&2), "{calls:?}");
    assert_eq!(calls.get("DynamoDB.GetItem"), None, "{calls:?}");
    assert_eq!(calls.get("SQS.SendMessage"), None, "{calls:?}");

    let broken = stack
        .register_webhook("acme", &failing.url("/c"), &["post.failed"])
        .await;
    stack
        .emit_event("acme", EventType::PostFailed, json!({}))
        .await;
    stack.aws_calls().take();
    stack.run_webhook_queue().await;
    let calls = stack.aws_calls().take();
    assert_eq!(calls.get("DynamoDB.Query"), Some(&1), "{calls:?}");
    assert_eq!(
        calls.get("DynamoDB.PutItem"),
        Some(&2),
        "record and failing_since: {calls:?}"
    );
    assert_eq!(
        calls.get("SQS.SendMessage"),
        Some(&1),
        "the next try: {calls:?}"
    );

    // The next try, not yet due (the product's chain links are up to 15 min; the test
    // stack's 1 s): one SendMessage, nothing read.
    stack.aws_calls().take();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stack.run_webhook_queue().await;
    let calls = stack.aws_calls().take();
    assert_eq!(calls.get("SQS.SendMessage"), Some(&1), "{calls:?}");
    assert_eq!(calls.get("DynamoDB.GetItem"), None, "{calls:?}");
    assert_eq!(failing.received().len(), 1);

    // The next try, due: the endpoint and the delivery read, the attempt recorded, and (it
    // fails again) the try after it queued; the endpoint is not written again.
    stack.advance(chrono::Duration::minutes(2));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stack.aws_calls().take();
    stack.run_webhook_queue().await;
    let calls = stack.aws_calls().take();
    assert_eq!(failing.received().len(), 2);
    assert_eq!(calls.get("DynamoDB.GetItem"), Some(&2), "{calls:?}");
    assert_eq!(calls.get("DynamoDB.PutItem"), Some(&1), "{calls:?}");
    assert_eq!(calls.get("SQS.SendMessage"), Some(&1), "{calls:?}");
    let (_, shown) = stack.webhook("acme", id(&broken)).await;
    assert!(shown["failing_since"].is_string());
}

#[tokio::test]
async fn the_delivery_log_pages_newest_first() {
    let stack = webhook_stack(|_| {}).await;
    let receiver = WebhookReceiver::start().await.unwrap();
    let endpoint = stack
        .register_webhook("acme", &receiver.url("/hooks"), &["post.published"])
        .await;
    let mut sent = Vec::new();
    for n in 0..3 {
        let event = stack
            .emit_event("acme", EventType::PostPublished, json!({ "n": n }))
            .await;
        sent.push(event.id.to_string());
        receiver.wait_for(n + 1, WAIT).await;
    }
    stack
        .wait_for_delivery("acme", id(&endpoint), WAIT, |d| {
            d["event"]["id"] == sent[2].as_str()
        })
        .await;

    let (status, first) = stack
        .webhook_deliveries("acme", id(&endpoint), "limit=2")
        .await;
    assert_eq!(status, 200, "{first}");
    let ids = |page: &Value| -> Vec<String> {
        page["deliveries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["event"]["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids(&first), [sent[2].clone(), sent[1].clone()]);
    let cursor = first["next_cursor"].as_str().expect("a next page");
    let (_, second) = stack
        .webhook_deliveries("acme", id(&endpoint), &format!("limit=2&cursor={cursor}"))
        .await;
    assert_eq!(ids(&second), [sent[0].clone()]);
    assert!(second["next_cursor"].is_null());
    for bad in ["limit=0", "limit=101", "cursor=bm90LW91cnM"] {
        let (status, answer) = stack.webhook_deliveries("acme", id(&endpoint), bad).await;
        assert_eq!(status, 400, "{bad}: {answer}");
    }
}

/// The whole path: a post published, its change read from the table's stream by the events
/// function, the event delivered by the notifier, signed, with the post as the API shows it.
#[tokio::test]
async fn a_published_post_reaches_the_endpoint_as_a_signed_post_published_event() {
    let (stack, connection) = connected(|o| o.run_notifier = true).await;
    let receiver = WebhookReceiver::start().await.unwrap();
    let endpoint = stack
        .register_webhook("acme", &receiver.url("/hooks"), &["post.published"])
        .await;
    let post = stack
        .publish_text("acme", &connection, "told by webhook")
        .await;
    stack
        .wait_for_post("acme", &post, &["published"], SLOW)
        .await;

    assert!(stack.run_events().await.unwrap() > 0);
    let received = receiver.wait_for(1, WAIT).await;
    let body = received[0].json();
    assert_eq!(body["type"], "post.published", "{body}");
    assert_eq!(body["data"]["id"], post.as_str());
    assert_eq!(body["data"]["status"], "published");
    assert!(verifies(&endpoint["secret"], &received[0]));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(receiver.received().len(), 1, "only the type subscribed to");
}
