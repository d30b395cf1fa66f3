//! The health check: every due connection, found through the health index, checked once.

use chrono::Utc;
use futures::StreamExt;
use linkedin_simulator::Fault;
use local_stack::{counting, test_stack};

#[tokio::test]
async fn a_health_round_over_500_connections_checks_each_due_one_once() {
    let stack = test_stack(|_| {}).await;
    let counter = stack.aws_calls();
    // The same member in 500 tenants: 500 connections.
    futures::stream::iter(0..500)
        .for_each_concurrent(2, |i| {
            let stack = &stack;
            async move {
                stack.connect(&format!("tenant-{i}"), None).await;
            }
        })
        .await;
    let userinfo_before = stack.simulator().count("GET", "/v2/userinfo");

    // Just connected: nothing is due yet.
    counter.take();
    stack.run_health_round(Utc::now()).await.unwrap();
    assert_eq!(
        stack.simulator().count("GET", "/v2/userinfo"),
        userinfo_before
    );

    // Seven hours on, every connection is due.
    counter.take();
    let tasks = stack
        .run_health_round(Utc::now() + chrono::Duration::hours(7))
        .await
        .unwrap();
    let linkedin = stack.simulator().count("GET", "/v2/userinfo") - userinfo_before;
    let aws = counter.take();
    eprintln!("health round over 500 connections: {tasks} tasks, {linkedin} LinkedIn calls, AWS calls {:?}", aws);
    eprintln!("  by service: {:?}", counting::by_service(&aws));
    assert_eq!(linkedin, 500, "each connection checked exactly once");
    assert_eq!(
        stack.simulator().count("GET", "/v2/me"),
        0,
        "userinfo, not /v2/me"
    );
    assert!(
        !aws.keys().any(|op| op.contains("Scan")),
        "found by the index, never a scan"
    );
    // Per connection: open (GetItem, KMS Decrypt), record (GetItem, PutItem).
    assert_eq!(aws.get("KMS.Decrypt"), Some(&500));
    assert_eq!(aws.get("DynamoDB.PutItem"), Some(&500));
    let checked = stack
        .entities("connection")
        .await
        .unwrap()
        .into_iter()
        .filter(|c| c.contains_key("last_health_check_at"))
        .count();
    assert_eq!(checked, 500);

    // A second round straight away finds nothing due.
    stack
        .run_health_round(Utc::now() + chrono::Duration::hours(7))
        .await
        .unwrap();
    assert_eq!(
        stack.simulator().count("GET", "/v2/userinfo") - userinfo_before,
        500
    );
}

#[tokio::test]
async fn a_revoked_member_goes_to_attention_after_the_refresh_fails() {
    let stack = test_stack(|o| o.token_propagation_window = std::time::Duration::ZERO).await;
    stack.connect("acme", None).await;
    stack.simulator().revoke_member("sim-ada-7f3k");
    stack
        .run_health_round(Utc::now() + chrono::Duration::hours(7))
        .await
        .unwrap();
    let c = &stack.connections("acme").await[0];
    assert_eq!(c["status"], "attention");
    assert!(c["reason"].as_str().unwrap().contains("reconnect"));
    assert_eq!(
        stack.simulator().count("POST", "/oauth/v2/accessToken"),
        2,
        "one refresh was tried"
    );
}

#[tokio::test]
async fn an_expired_token_is_refreshed_and_the_connection_stays_healthy() {
    let stack = test_stack(|o| o.token_propagation_window = std::time::Duration::ZERO).await;
    stack.connect("acme", None).await;
    stack.simulator().inject(
        Fault::status("GET", "/v2/userinfo", 401)
            .body(r#"{"status":401,"serviceErrorCode":65602,"message":"The token used in the request has expired"}"#)
            .times(1),
    );
    stack
        .run_health_round(Utc::now() + chrono::Duration::hours(7))
        .await
        .unwrap();
    let c = &stack.connections("acme").await[0];
    assert_eq!(c["status"], "healthy");
    assert!(c["last_health_check_at"].is_string());
    assert_eq!(c["last_health_error"], serde_json::Value::Null);
    assert_eq!(
        stack.simulator().count("POST", "/oauth/v2/accessToken"),
        2,
        "refreshed once"
    );
}

#[tokio::test]
async fn linkedin_down_is_recorded_on_the_connection_and_checked_again_sooner() {
    let stack = test_stack(|_| {}).await;
    stack.connect("acme", None).await;
    stack
        .simulator()
        .inject(Fault::status("GET", "/v2/userinfo", 503));
    let as_of = Utc::now() + chrono::Duration::hours(7);
    stack.run_health_round(as_of).await.unwrap();
    let c = &stack.connections("acme").await[0];
    assert_eq!(
        c["status"], "healthy",
        "a LinkedIn outage is not the member's problem"
    );
    assert_eq!(
        c["last_health_error"],
        "LinkedIn failed or did not answer the health check; it is checked again in 30 minutes"
    );
    // Due again after 30 minutes, not 6 hours.
    stack.simulator().clear_faults();
    let before = stack.simulator().count("GET", "/v2/userinfo");
    stack
        .run_health_round(as_of + chrono::Duration::minutes(31))
        .await
        .unwrap();
    assert_eq!(stack.simulator().count("GET", "/v2/userinfo"), before + 1);
    assert_eq!(
        stack.connections("acme").await[0]["last_health_error"],
        serde_json::Value::Null
    );
}

#[tokio::test]
async fn revoked_connections_leave_the_health_index() {
    let stack = test_stack(|_| {}).await;
    let id = stack.connect("acme", None).await;
    stack.disconnect("acme", &id).await;
    let before = stack.simulator().count("GET", "/v2/userinfo");
    stack
        .run_health_round(Utc::now() + chrono::Duration::hours(7))
        .await
        .unwrap();
    assert_eq!(stack.simulator().count("GET", "/v2/userinfo"), before);
}
