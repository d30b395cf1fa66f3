//! The DLQ is reviewable and redrivable: records filtered and paged, a record's job retried
//! for the same post (published once; a post that turned out live is not published again),
//! every failed post of a connection retried, records dismissed.

use std::time::Duration;

use chrono::Utc;
use connector::deadline::Deadline;
use linkedin_simulator::Fault;
use serde_json::{json, Value};

use crate::support::*;

fn refused_once(stack: &local_stack::LocalStack, times: u32) {
    stack.simulator().inject(
        Fault::status("POST", "/rest/posts", 403)
            .body(json!({"status": 403, "serviceErrorCode": 100, "message": "refused"}).to_string())
            .times(times),
    );
}

fn id(v: &Value) -> String {
    v["id"].as_str().expect("an id").to_owned()
}

#[tokio::test]
async fn a_failed_post_retried_from_its_record_publishes_once_and_the_record_keeps_its_history() {
    // Many requests in a row: above the default per-tenant rate, which is not under test here.
    let (stack, connection) = connected(|o| {
        o.settings
            .insert("TENANT_REQUESTS_PER_SECOND".into(), "1000".into());
    })
    .await;
    refused_once(&stack, 1);
    let post = stack
        .publish_text("acme", &connection, "refused, then fixed")
        .await;
    let failed = stack.wait_for_post("acme", &post, &["failed"], SLOW).await;
    assert_eq!(failed["last_error"]["code"], "FORBIDDEN");

    // Reviewable: filters by connection, action, code, status and time.
    let records = stack.dlq_records("acme", "").await;
    assert_eq!(records.len(), 1);
    let record = &records[0];
    assert_eq!(
        (&record["post_id"], &record["status"], &record["action"]),
        (&json!(post), &json!("open"), &json!("publish"))
    );
    let created = record["created_at"].as_str().unwrap().to_owned();
    let hour_ago = (Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let in_an_hour = (Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    for (query, expected) in [
        (format!("connection_id={connection}"), 1),
        ("action=publish&error_code=FORBIDDEN&status=open".into(), 1),
        ("error_code=RATE_LIMITED".into(), 0),
        ("action=delete".into(), 0),
        ("status=retried".into(), 0),
        (format!("since={}", urlencoding(&hour_ago)), 1),
        (format!("since={}", urlencoding(&in_an_hour)), 0),
        (format!("until={}", urlencoding(&hour_ago)), 0),
        (
            format!(
                "since={}&until={}",
                urlencoding(&created),
                urlencoding(&created)
            ),
            1,
        ),
    ] {
        assert_eq!(
            stack.dlq_records("acme", &query).await.len(),
            expected,
            "{query}"
        );
    }
    for (query, field) in [
        ("action=publishing", "action"),
        ("error_code=nope", "error_code"),
        ("status=closed", "status"),
        ("since=yesterday", "since"),
        ("connection_id=x", "connection_id"),
    ] {
        let (status, body) = stack.get("acme", &format!("/v1/dlq-records?{query}")).await;
        assert_eq!(
            (status, &body["error"]["field"]),
            (400, &json!(field)),
            "{query}"
        );
    }
    let (status, body) = stack
        .get(
            "acme",
            &format!(
                "/v1/dlq-records?since={}&until={}",
                urlencoding(&in_an_hour),
                urlencoding(&hour_ago)
            ),
        )
        .await;
    assert_eq!((status, &body["error"]["field"]), (400, &json!("until")));

    // Another tenant sees nothing of it and cannot retry it.
    let record_id = id(record);
    assert!(stack.dlq_records("globex", "").await.is_empty());
    assert_eq!(stack.retry_dlq_record("globex", &record_id).await.0, 404);

    // Retried: the same post goes back on the queue and is published, once.
    let (status, retried) = stack.retry_dlq_record("acme", &record_id).await;
    assert_eq!(status, 202, "{retried}");
    assert_eq!(retried["record"]["status"], "retried");
    assert_eq!(retried["post"]["id"], json!(post));
    assert_eq!(retried["post"]["status"], "queued");
    let published = stack
        .wait_for_post("acme", &post, &["published"], SLOW)
        .await;
    assert_eq!(published["attempts"], 1, "its attempts start again");
    assert_eq!(stack.simulator().live_posts().len(), 1);

    // Kept with its history; a second retry is refused (the post has its own state now).
    let (_, again) = stack.retry_dlq_record("acme", &record_id).await;
    let (status, kept) = stack
        .get("acme", &format!("/v1/dlq-records/{record_id}"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(kept["status"], "retried");
    assert_eq!(kept["retried_at"].as_array().unwrap().len(), 1);
    assert!(again["error"]["message"]
        .as_str()
        .unwrap()
        .contains("retried already"));
    assert_eq!(stack.dlq_records("acme", "status=retried").await.len(), 1);

    // Dismissed: gone; the post stays as it is.
    assert_eq!(stack.dismiss_dlq_record("globex", &record_id).await.0, 404);
    assert_eq!(stack.dismiss_dlq_record("acme", &record_id).await.0, 204);
    assert_eq!(
        stack
            .get("acme", &format!("/v1/dlq-records/{record_id}"))
            .await
            .0,
        404
    );
    assert_eq!(stack.dismiss_dlq_record("acme", &record_id).await.0, 404);
    assert_eq!(stack.post("acme", &post).await["status"], "published");
    assert_eq!(stack.simulator().live_posts().len(), 1);
}

/// A post whose outcome stayed unknown for 7 days fails OUTCOME_UNKNOWN, though LinkedIn had
/// applied it. Its redrive sends the create once more as the probe: LinkedIn's duplicate answer
/// names the live post, which the post takes, and nothing new goes out.
#[tokio::test]
async fn a_redrive_of_a_post_that_turned_out_live_publishes_nothing() {
    let (stack, connection) = connected(|o| o.run_publisher = false).await;
    stack.simulator().inject(
        Fault::status("POST", "/rest/posts", 502)
            .after_handling()
            .times(1),
    );
    let post = stack
        .publish_text("acme", &connection, "out, unbeknownst")
        .await;
    deliver(&stack, &post, "m1", Utc::now()).await;
    assert_eq!(
        stack.simulator().live_posts().len(),
        1,
        "LinkedIn applied it"
    );
    // Delivered again once the job is past its 7 days: given up, outcome unknown.
    deliver(&stack, &post, "m2", Utc::now() - chrono::Duration::days(8)).await;
    let failed = stack.post("acme", &post).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(failed["last_error"]["code"], "OUTCOME_UNKNOWN");

    let records = stack
        .dlq_records("acme", "error_code=OUTCOME_UNKNOWN")
        .await;
    assert_eq!(records.len(), 1);
    let (status, body) = stack.retry_dlq_record("acme", &id(&records[0])).await;
    assert_eq!(status, 202, "{body}");
    // The job the API queued at the start and the redrive's job: whichever claims it first
    // resolves it; the other finds it published.
    while stack.run_publish_queue().await > 0 {}
    let done = stack.post("acme", &post).await;
    assert_eq!(done["status"], "published", "{done}");
    let live = stack.simulator().live_posts();
    assert_eq!(live.len(), 1, "nothing published twice");
    assert_eq!(done["linkedin_urn"], json!(live[0].urn));
}

#[tokio::test]
async fn retry_failed_puts_back_every_failed_post_of_the_connection_once() {
    let (stack, connection) = connected(|_| {}).await;
    let other = stack.connect("acme", Some("sim-grace-9q2w")).await;
    let live = stack.publish_text("acme", &connection, "fine").await;
    stack
        .wait_for_post("acme", &live, &["published"], SLOW)
        .await;
    refused_once(&stack, 4);
    let mut failed = Vec::new();
    for n in 0..3 {
        let post = stack
            .publish_text("acme", &connection, &format!("refused {n}"))
            .await;
        stack.wait_for_post("acme", &post, &["failed"], SLOW).await;
        failed.push(post);
    }
    let elsewhere = stack.publish_text("acme", &other, "another member's").await;
    stack
        .wait_for_post("acme", &elsewhere, &["failed"], SLOW)
        .await;
    assert_eq!(stack.simulator().live_posts().len(), 1);

    assert_eq!(stack.retry_failed("globex", &connection).await.0, 404);
    let (status, body) = stack.retry_failed("acme", &connection).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["retried"].as_array().unwrap().len(), 3, "{body}");
    assert_eq!(body["skipped"], json!([]));
    assert_eq!(body["more"], false);
    for post in &failed {
        stack
            .wait_for_post("acme", post, &["published"], SLOW)
            .await;
    }
    assert_eq!(stack.simulator().live_posts().len(), 4);
    assert_eq!(
        stack.post("acme", &elsewhere).await["status"],
        "failed",
        "only that connection's posts"
    );

    // Called again: nothing is open any more, nothing goes out twice.
    let (_, body) = stack.retry_failed("acme", &connection).await;
    assert_eq!(body["retried"], json!([]), "{body}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(stack.simulator().live_posts().len(), 4);
    assert_eq!(
        stack
            .dlq_records(
                "acme",
                &format!("connection_id={connection}&status=retried")
            )
            .await
            .len(),
        3
    );

    // A disconnected connection's failures cannot run again.
    assert_eq!(stack.disconnect("acme", &other).await.0, 200);
    let (status, body) = stack.retry_failed("acme", &other).await;
    assert_eq!(status, 409, "{body}");
    let record = &stack
        .dlq_records("acme", &format!("connection_id={other}"))
        .await[0];
    assert_eq!(stack.retry_dlq_record("acme", &id(record)).await.0, 409);
}

/// The queue refuses the redrive's job: 503, and the post is failed again as before (a later
/// retry can go).
#[tokio::test]
async fn a_redrive_whose_job_cannot_be_queued_leaves_the_post_failed() {
    use local_stack::counting::{AwsFault, AwsFaultKind};
    let (stack, connection) = connected(|_| {}).await;
    refused_once(&stack, 1);
    let post = stack.publish_text("acme", &connection, "queue down").await;
    stack.wait_for_post("acme", &post, &["failed"], SLOW).await;
    let record = id(&stack.dlq_records("acme", "").await[0]);
    stack.aws_faults().inject(
        AwsFault::new("SQS", AwsFaultKind::ServerError)
            .operation("SendMessage")
            .times(10),
    );
    let (status, body) = stack.retry_dlq_record("acme", &record).await;
    assert_eq!(status, 503, "{body}");
    stack.aws_faults().clear();
    assert_eq!(stack.post("acme", &post).await["status"], "failed");
    assert_eq!(stack.dlq_records("acme", "status=open").await.len(), 1);
    let (status, body) = stack.retry_dlq_record("acme", &record).await;
    assert_eq!(status, 202, "{body}");
    stack
        .wait_for_post("acme", &post, &["published"], SLOW)
        .await;
    assert_eq!(stack.simulator().live_posts().len(), 1);
}

async fn deliver(
    stack: &local_stack::LocalStack,
    id: &str,
    message_id: &str,
    enqueued_at: chrono::DateTime<Utc>,
) {
    publisher_function::handle(
        batch(vec![job_message("acme", id, message_id, enqueued_at)]),
        &stack.publisher,
        Deadline::none(),
    )
    .await;
}

fn urlencoding(raw: &str) -> String {
    url::form_urlencoded::byte_serialize(raw.as_bytes()).collect()
}

/// The first reconciler round of a UTC day reviews the day before: its new DLQ records by
/// tenant and error code, read from the counts written with them; later rounds of the day
/// review nothing again.
#[tokio::test]
async fn the_first_round_of_a_day_reviews_the_day_before_once() {
    let (stack, acme) = connected(|_| {}).await;
    let globex = stack.connect("globex", None).await;
    refused_once(&stack, 3);
    for (tenant, connection, text) in [
        ("acme", &acme, "one"),
        ("acme", &acme, "two"),
        ("globex", &globex, "three"),
    ] {
        let post = stack.publish_text(tenant, connection, text).await;
        stack.wait_for_post(tenant, &post, &["failed"], SLOW).await;
    }
    // Early tomorrow: a later round an hour on is still tomorrow, whatever the time now.
    let tomorrow = (Utc::now().date_naive() + chrono::Days::new(1))
        .and_hms_opt(0, 5, 0)
        .expect("a time of day")
        .and_utc();
    let run = reconciler_function::handle(tomorrow, &stack.reconciler)
        .await
        .unwrap();
    let review = run.dlq_review.expect("reviewed");
    assert_eq!(review.day, Some(Utc::now().date_naive()));
    assert_eq!((review.records, review.tenants), (3, 2));
    let again =
        reconciler_function::handle(tomorrow + chrono::Duration::hours(1), &stack.reconciler)
            .await
            .unwrap();
    assert_eq!(again.dlq_review, None, "once a day");
}
