//! Approval before an automatic publish: a post created with `requires_approval` waits until
//! the tenant approves it, is reminded an hour before its time, expires unapproved at its time,
//! and approve, reject and cancel race to one end.

use chrono::Duration as Minutes;
use serde_json::{json, Value};

use crate::support::*;

async fn pending(stack: &local_stack::LocalStack, body: Value) -> String {
    let (status, created) = stack.create_post("acme", body, None).await;
    assert_eq!(status, 202, "{created}");
    assert_eq!(created["status"], "pending_approval");
    created["id"].as_str().unwrap().to_owned()
}

async fn decide(stack: &local_stack::LocalStack, id: &str, what: &str) -> (u16, Value) {
    let response = stack
        .request(
            reqwest::Method::POST,
            "acme",
            &format!("/v1/posts/{id}/{what}"),
        )
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn fired(stack: &local_stack::LocalStack) -> Vec<String> {
    stack
        .scheduler
        .fire_due()
        .await
        .unwrap()
        .into_iter()
        .map(|f| f.name)
        .collect()
}

/// The types of the events told about post `id` so far (and consumed from the queue).
async fn told(stack: &local_stack::LocalStack, id: &str) -> Vec<String> {
    stack.run_events().await.unwrap();
    queued_events(stack)
        .await
        .into_iter()
        .filter(|e| e.data["id"] == id)
        .map(|e| e.r#type.as_str().to_owned())
        .collect()
}

#[tokio::test]
async fn a_post_waiting_for_approval_goes_out_only_once_approved() {
    let (stack, connection) = connected(|_| {}).await;
    let id = pending(
        &stack,
        json!({"connection_id": connection, "text": "Check me first", "requires_approval": true}),
    )
    .await;
    assert_eq!(told(&stack, &id).await, ["post.approval_requested"]);
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let waiting = stack.post("acme", &id).await;
    assert_eq!(waiting["status"], "pending_approval");
    assert_eq!(waiting["requires_approval"], true);
    assert!(
        stack.simulator().live_posts().is_empty(),
        "nothing goes out unapproved"
    );

    assert_eq!(decide(&stack, "x", "approve").await.0, 404);
    let other = stack.request(
        reqwest::Method::POST,
        "globex",
        &format!("/v1/posts/{id}/approve"),
    );
    assert_eq!(
        other.send().await.unwrap().status().as_u16(),
        404,
        "another tenant's"
    );
    let (status, approved) = decide(&stack, &id, "approve").await;
    assert_eq!(status, 200, "{approved}");
    assert_eq!(approved["status"], "queued");
    assert!(approved["approved_at"].is_string());
    stack.wait_for_post("acme", &id, &["published"], SLOW).await;
    assert_eq!(stack.simulator().live_posts().len(), 1);
    let (status, again) = decide(&stack, &id, "approve").await;
    assert_eq!(status, 409, "{again}");
    assert_eq!(decide(&stack, &id, "reject").await.0, 409);
    assert_eq!(told(&stack, &id).await, ["post.published"]);
}

#[tokio::test]
async fn a_post_for_later_is_reminded_an_hour_before_and_expires_unapproved_at_its_time() {
    let (stack, connection) = connected(|_| {}).await;
    let at = stack.now() + Minutes::hours(2);
    let id = pending(
        &stack,
        json!({"connection_id": connection, "text": "Later, if approved", "scheduled_at": rfc3339(at), "requires_approval": true}),
    )
    .await;
    let mut names = stack.schedule_names(&format!("post-{id}")).await;
    names.sort();
    assert_eq!(names, [format!("post-{id}"), format!("post-{id}-reminder")]);

    // An hour before (the reminder's window is 15 minutes wide): reminded once.
    stack.advance(Minutes::minutes(61 + 15));
    assert!(fired(&stack).await.contains(&format!("post-{id}-reminder")));
    let started = std::time::Instant::now();
    while stack.post("acme", &id).await["approval_reminded_at"].is_null() {
        assert!(started.elapsed() < SLOW, "never reminded");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        told(&stack, &id).await,
        ["post.approval_requested", "post.approval_requested"]
    );

    // Its time comes unapproved: it does not go out.
    stack.advance(Minutes::minutes(45));
    assert!(fired(&stack).await.contains(&format!("post-{id}")));
    let expired = stack
        .wait_for_post("acme", &id, &["approval_expired"], SLOW)
        .await;
    assert!(expired["approved_at"].is_null());
    assert!(stack.simulator().live_posts().is_empty());
    assert_eq!(told(&stack, &id).await, ["post.approval_expired"]);
    let (status, late) = decide(&stack, &id, "approve").await;
    assert_eq!(status, 409, "{late}");
}

#[tokio::test]
async fn an_approved_post_for_later_goes_out_at_its_time_and_a_rejected_one_never() {
    let (stack, connection) = connected(|_| {}).await;
    let at = stack.now() + Minutes::hours(2);
    let body = |text: &str| json!({"connection_id": connection, "text": text, "scheduled_at": rfc3339(at), "requires_approval": true});
    let approved = pending(&stack, body("approved")).await;
    let rejected = pending(&stack, body("rejected")).await;
    assert_eq!(
        decide(&stack, &approved, "approve").await.1["status"],
        "scheduled"
    );
    assert_eq!(
        decide(&stack, &rejected, "reject").await.1["status"],
        "rejected"
    );
    assert!(stack
        .schedule_names(&format!("post-{rejected}"))
        .await
        .is_empty());
    assert_eq!(
        stack.schedule_names(&format!("post-{approved}")).await,
        [format!("post-{approved}")],
        "its reminder is gone"
    );
    stack.advance(Minutes::minutes(121));
    fired(&stack).await;
    let published = stack
        .wait_for_post("acme", &approved, &["published"], SLOW)
        .await;
    assert_eq!(published["scheduled_at"], rfc3339(at));
    assert_eq!(stack.post("acme", &rejected).await["status"], "rejected");
    assert_eq!(stack.simulator().live_posts().len(), 1);
}

/// Approve, reject and cancel sent at once: one wins, the others are refused, and the post
/// ends as the winner said.
#[tokio::test]
async fn approve_reject_and_cancel_race_to_one_end() {
    let (stack, connection) = connected(|_| {}).await;
    for round in 0..4 {
        let id = pending(
            &stack,
            json!({"connection_id": connection, "text": format!("race {round}"), "requires_approval": true}),
        )
        .await;
        let (approve, reject, cancel) = tokio::join!(
            decide(&stack, &id, "approve"),
            decide(&stack, &id, "reject"),
            stack.delete_post("acme", &id),
        );
        let wins = [approve.0, reject.0, cancel.0]
            .iter()
            .filter(|s| **s == 200)
            .count();
        assert_eq!(wins, 1, "round {round}: {approve:?} {reject:?} {cancel:?}");
        let end = stack
            .wait_for_post("acme", &id, &["published", "rejected", "cancelled"], SLOW)
            .await;
        let expected = if approve.0 == 200 {
            "published"
        } else if reject.0 == 200 {
            "rejected"
        } else {
            "cancelled"
        };
        assert_eq!(end["status"], expected, "round {round}");
    }
    let published = stack.simulator().live_posts().len();
    assert!(published <= 4);
}
