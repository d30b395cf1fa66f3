//! What tenants are told: every change to a post, a connection or a DLQ record is read back from
//! the table's stream by the events function, which puts the events it means on the webhook
//! queue — once per change however often the stream is read, and none lost when the queue
//! fails mid-batch.

use std::collections::HashSet;

use connector::events::{Event, EventType};

use linkedin_simulator::Fault;
use local_stack::counting::{AwsFault, AwsFaultKind};
use serde_json::json;

use crate::support::*;

fn types(events: &[Event]) -> Vec<&'static str> {
    events.iter().map(|e| e.r#type.as_str()).collect()
}

#[tokio::test]
async fn each_change_a_tenant_cares_about_is_told_once_with_the_resource_as_the_api_shows_it() {
    let (stack, connection) = connected(|_| {}).await;
    let live = stack.publish_text("acme", &connection, "told").await;
    stack
        .wait_for_post("acme", &live, &["published"], SLOW)
        .await;
    stack.simulator().inject(
        Fault::status("POST", "/rest/posts", 403)
            .body(json!({"status": 403, "serviceErrorCode": 100, "message": "no"}).to_string())
            .times(1),
    );
    let refused = stack.publish_text("acme", &connection, "refused").await;
    stack
        .wait_for_post("acme", &refused, &["failed"], SLOW)
        .await;
    assert_eq!(stack.delete_post("acme", &live).await.0, 202);
    stack.wait_for_post("acme", &live, &["deleted"], SLOW).await;
    assert_eq!(stack.disconnect("acme", &connection).await.0, 200);

    assert!(stack.run_events().await.unwrap() > 0);
    let events = queued_events(&stack).await;
    assert_eq!(
        types(&events),
        [
            "connection.connected",
            "post.published",
            "post.failed",
            "dlq.record_created",
            "post.deleted",
            "connection.revoked",
        ],
        "{events:#?}"
    );
    assert!(events.iter().all(|e| e.tenant_id.as_str() == "acme"));
    let ids: HashSet<_> = events.iter().map(|e| e.id.clone()).collect();
    assert_eq!(ids.len(), events.len(), "one id per event");
    // The data is the resource as the API shows it now (for the post's last state).
    let deleted = events
        .iter()
        .find(|e| e.r#type == EventType::PostDeleted)
        .unwrap();
    assert_eq!(deleted.data, stack.post("acme", &live).await);
    let published = &events[1];
    assert_eq!(published.data["id"], json!(live));
    assert!(published.data["linkedin_urn"].is_string());
    assert!(
        published.data.get("version").is_none(),
        "no stored-only field"
    );
    let record = events
        .iter()
        .find(|e| e.r#type == EventType::DlqRecordCreated)
        .unwrap();
    assert_eq!(record.data["post_id"], json!(refused));

    // The stream read again from its start (as after a redelivery) makes the same events.
    let again = local_stack::stream::TableStream::open(&stack.sdk, &stack.config.table_name)
        .await
        .unwrap();
    while again.run_once(&stack.events).await.unwrap() > 0 {}
    let replayed = queued_events(&stack).await;
    assert_eq!(
        replayed.iter().map(|e| &e.id).collect::<Vec<_>>(),
        events.iter().map(|e| &e.id).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_queue_failing_mid_batch_loses_no_event() {
    let (stack, connection) = connected(|_| {}).await;
    for n in 0..3 {
        let post = stack
            .publish_text("acme", &connection, &format!("post {n}"))
            .await;
        stack
            .wait_for_post("acme", &post, &["published"], SLOW)
            .await;
    }
    // The third event's send fails (and the SDK's own retries with it).
    stack.aws_faults().inject(
        AwsFault::new("SQS", AwsFaultKind::ServerError)
            .operation("SendMessage")
            .after(2)
            .times(5),
    );
    stack.run_events().await.ok();
    assert!(
        stack.aws_faults().applied().len() >= 3,
        "the queue did fail: {:?}",
        stack.aws_faults().applied_by_kind()
    );
    stack.aws_faults().clear();
    stack.run_events().await.unwrap();
    let events = queued_events(&stack).await;
    let published = events
        .iter()
        .filter(|e| e.r#type == EventType::PostPublished)
        .map(|e| e.id.clone())
        .collect::<HashSet<_>>();
    assert_eq!(published.len(), 3, "{:#?}", types(&events));
    assert_eq!(
        events.len(),
        4,
        "each told once (a retry starts at the record that failed): {:#?}",
        types(&events)
    );
    assert!(types(&events).contains(&"connection.connected"));
}
