//! Scheduled posts and the local scheduler that fires moto's schedules: a post for later
//! publishes once at its time, can be moved or cancelled until then, and is found by the
//! reconciler if its schedule is lost. Time is advanced, not waited for.

use std::time::Duration;

use aws_sdk_scheduler::types::{
    ActionAfterCompletion, DeadLetterConfig, FlexibleTimeWindow, FlexibleTimeWindowMode,
    RetryPolicy, Target,
};
use chrono::{DateTime, Utc};
use connector::domain::posts::Job;
use connector::domain::RefreshWindow;
use local_stack::{test_stack, LocalStack};
use serde_json::json;

use crate::support::*;

/// `at` to the whole second, as `at()` expressions carry it.
fn whole_seconds(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(at.timestamp(), 0).unwrap()
}

/// Schedules a post (each with its own text: LinkedIn refuses duplicate content).
async fn schedule_post(stack: &LocalStack, connection: &str, at: DateTime<Utc>) -> String {
    let text = format!("Later {}", uuid::Uuid::new_v4());
    let (status, body) = stack
        .create_post(
            "acme",
            json!({ "connection_id": connection, "text": text, "scheduled_at": rfc3339(at) }),
            None,
        )
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["status"], "scheduled");
    body["id"].as_str().unwrap().to_owned()
}

async fn fired(stack: &LocalStack) -> Vec<String> {
    stack
        .scheduler
        .fire_due()
        .await
        .unwrap()
        .into_iter()
        .map(|f| f.name)
        .collect()
}

/// Runs a job through the publisher directly, as if a schedule fired it, and waits for the
/// outcome.
async fn deliver(stack: &LocalStack, job: &Job) {
    let message = sqs_message(job, &uuid::Uuid::new_v4().to_string());
    let response = publisher_function::handle(
        batch(vec![message]),
        &stack.publisher,
        connector::deadline::Deadline::none(),
    )
    .await;
    assert!(response.batch_item_failures.is_empty());
}

#[tokio::test]
async fn a_scheduled_post_publishes_once_at_its_time_even_when_fired_twice() {
    let (stack, connection) = connected(|_| {}).await;
    let at = stack.now() + chrono::Duration::hours(2);
    let id = schedule_post(&stack, &connection, at).await;
    let name = format!("post-{id}");

    // One `at()` schedule, exact (no flexible window), to the publish queue with the job for
    // that time, a retry policy and the DLQ, deleted after it fires.
    let s = stack
        .scheduler_client()
        .get_schedule()
        .group_name(stack.schedule_group())
        .name(&name)
        .send()
        .await
        .unwrap();
    assert_eq!(
        s.schedule_expression(),
        Some(connector::schedules::at_expression(at).as_str())
    );
    assert_eq!(
        s.flexible_time_window().unwrap().mode(),
        &FlexibleTimeWindowMode::Off
    );
    assert_eq!(
        s.action_after_completion(),
        Some(&ActionAfterCompletion::Delete)
    );
    let target = s.target().unwrap();
    assert_eq!(
        target.arn(),
        stack.config.require_schedules().unwrap().queue_arn
    );
    assert!(target.retry_policy().is_some() && target.dead_letter_config().is_some());
    let job: Job = serde_json::from_str(target.input().unwrap()).unwrap();
    assert_eq!(job.post_id.to_string(), id);
    assert_eq!(job.scheduled_at.map(rfc3339), Some(rfc3339(at)));
    assert_eq!(stack.post("acme", &id).await["scheduled_at"], rfc3339(at));

    // Not before its time.
    stack.advance(chrono::Duration::minutes(119));
    assert!(!fired(&stack).await.contains(&name));
    assert_eq!(stack.post("acme", &id).await["status"], "scheduled");

    // At its time, delivered twice (at-least-once delivery): one post at LinkedIn.
    stack.advance(chrono::Duration::minutes(1));
    let duplicate = stack.scheduler.fire(&name).await.unwrap();
    assert!(duplicate.delivered);
    assert!(fired(&stack).await.contains(&name));
    let published = stack.wait_for_post("acme", &id, &["published"], SLOW).await;
    tokio::time::sleep(Duration::from_secs(2)).await; // the second job is handled meanwhile
    assert_eq!(stack.simulator().live_posts().len(), 1);
    assert_eq!(stack.post("acme", &id).await["attempts"], 1);
    assert_eq!(
        published["linkedin_urn"],
        stack.simulator().live_posts()[0].urn
    );
    // ActionAfterCompletion DELETE: the schedule is gone, and nothing fires again.
    assert!(stack.schedule_names(&name).await.is_empty());
    assert!(!fired(&stack).await.contains(&name));
}

#[tokio::test]
async fn a_scheduled_post_can_be_moved_or_cancelled_until_it_fires() {
    let (stack, connection) = connected(|_| {}).await;
    let at = stack.now() + chrono::Duration::hours(1);
    let moved = schedule_post(&stack, &connection, at).await;
    let cancelled = schedule_post(&stack, &connection, at).await;

    // Move: the schedule is replaced, not duplicated.
    let later = at + chrono::Duration::hours(2);
    let (status, body) = stack
        .move_post("acme", &moved, json!({ "scheduled_at": rfc3339(later) }))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scheduled_at"], rfc3339(later));
    assert_eq!(
        stack.schedule_names(&format!("post-{moved}")).await.len(),
        1
    );
    // Bad moves name the field and change nothing.
    for bad in [json!({ "scheduled_at": "2020-01-01T00:00:00Z" }), json!({})] {
        let (status, body) = stack.move_post("acme", &moved, bad).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"]["field"], "scheduled_at", "{body}");
    }
    assert_eq!(
        stack.post("acme", &moved).await["scheduled_at"],
        rfc3339(later)
    );

    // Cancel: the schedule is deleted.
    let (status, body) = stack.delete_post("acme", &cancelled).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "cancelled");
    assert!(stack
        .schedule_names(&format!("post-{cancelled}"))
        .await
        .is_empty());
    let (status, _) = stack
        .move_post(
            "acme",
            &cancelled,
            json!({ "scheduled_at": rfc3339(later) }),
        )
        .await;
    assert_eq!(status, 409, "a cancelled post cannot be moved");

    // The old time passes: nothing fires, nothing is published.
    stack.advance(chrono::Duration::minutes(90));
    let names = fired(&stack).await;
    assert!(!names.iter().any(|n| n.starts_with("post-")), "{names:?}");
    assert_eq!(stack.post("acme", &moved).await["status"], "scheduled");
    assert!(stack.simulator().live_posts().is_empty());

    // The new time: the moved post publishes.
    stack.advance(chrono::Duration::minutes(90));
    assert!(fired(&stack).await.contains(&format!("post-{moved}")));
    stack
        .wait_for_post("acme", &moved, &["published"], SLOW)
        .await;
    assert_eq!(stack.post("acme", &cancelled).await["status"], "cancelled");
    assert_eq!(stack.simulator().live_posts().len(), 1);

    // A published post cannot be moved.
    let (status, _) = stack
        .move_post("acme", &moved, json!({ "scheduled_at": rfc3339(later) }))
        .await;
    assert_eq!(status, 409);
}

#[tokio::test]
async fn a_fire_racing_a_cancel_or_a_move_publishes_nothing() {
    let (stack, connection) = connected(|_| {}).await;
    let at = stack.now() + chrono::Duration::hours(1);
    let id = schedule_post(&stack, &connection, at).await;
    let input = stack
        .scheduler_client()
        .get_schedule()
        .group_name(stack.schedule_group())
        .name(format!("post-{id}"))
        .send()
        .await
        .unwrap()
        .target()
        .unwrap()
        .input()
        .unwrap()
        .to_owned();
    let job: Job = serde_json::from_str(&input).unwrap();

    // Moved: the job made for the old time takes nothing.
    let later = at + chrono::Duration::hours(1);
    let (status, _) = stack
        .move_post("acme", &id, json!({ "scheduled_at": rfc3339(later) }))
        .await;
    assert_eq!(status, 200);
    deliver(&stack, &job).await;
    assert_eq!(stack.post("acme", &id).await["status"], "scheduled");

    // Cancelled, and the schedule fires anyway (it was already on its way).
    let (status, _) = stack.delete_post("acme", &id).await;
    assert_eq!(status, 200);
    let mut fresh = job.clone();
    fresh.scheduled_at = Some(later);
    deliver(&stack, &fresh).await;
    let after = stack.post("acme", &id).await;
    assert_eq!(after["status"], "cancelled", "{after}");
    assert_eq!(after["attempts"], 0);
    assert!(stack.simulator().live_posts().is_empty());
}

#[tokio::test]
async fn times_in_the_past_or_more_than_a_year_ahead_are_refused() {
    let (stack, connection) = connected(|_| {}).await;
    let now = Utc::now();
    for (at, why) in [
        (rfc3339(now - chrono::Duration::minutes(1)), "past"),
        (rfc3339(now + chrono::Duration::days(366)), "one year ahead"),
        ("2026-12-01T09:00:00".to_owned(), "RFC 3339"),
    ] {
        let (status, body) = stack
            .create_post(
                "acme",
                json!({ "connection_id": connection, "text": "x", "scheduled_at": at }),
                None,
            )
            .await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"]["field"], "scheduled_at");
        assert!(
            body["error"]["message"].as_str().unwrap().contains(why),
            "{body}"
        );
    }
    // Nothing half-written: no post, no schedule.
    let (_, listed) = stack.get("acme", "/v1/posts").await;
    assert_eq!(listed["posts"], json!([]));
    assert!(stack.schedule_names("post-").await.is_empty());
}

#[tokio::test]
async fn the_reconciler_enqueues_a_post_whose_schedule_was_lost() {
    let (stack, connection) = connected(|_| {}).await;
    let at = stack.now() + chrono::Duration::minutes(30);
    let id = schedule_post(&stack, &connection, at).await;
    let on_time = schedule_post(&stack, &connection, at + chrono::Duration::hours(5)).await;
    // The schedule is lost (deleted behind the product's back).
    stack
        .scheduler_client()
        .delete_schedule()
        .group_name(stack.schedule_group())
        .name(format!("post-{id}"))
        .send()
        .await
        .unwrap();

    // Within the grace period the post is not yet missed.
    let reconcile = |as_of| reconciler_function::handle(as_of, &stack.reconciler);
    let early = reconcile(at + chrono::Duration::minutes(5)).await.unwrap();
    assert_eq!(early.found, 0);

    // The hourly round fires on the local clock and finds it.
    stack.advance(chrono::Duration::minutes(61));
    assert!(fired(&stack).await.contains(&"reconcile-round".to_owned()));
    let published = stack.wait_for_post("acme", &id, &["published"], SLOW).await;
    assert!(published["schedule_missed_at"].is_string(), "{published}");
    assert_eq!(stack.post("acme", &on_time).await["status"], "scheduled");
    assert_eq!(stack.simulator().live_posts().len(), 1);
    // The tenant is told it missed its time (once), then that it went out.
    stack.run_events().await.unwrap();
    let told: Vec<String> = queued_events(&stack)
        .await
        .into_iter()
        .filter(|e| e.data["id"] == id.as_str())
        .map(|e| e.r#type.as_str().to_owned())
        .collect();
    assert_eq!(told, ["post.scheduled_missed", "post.published"]);
    // Counted: a later run finds nothing left.
    let later = reconcile(stack.now()).await.unwrap();
    assert_eq!((later.found, later.enqueued), (0, 0));
}

#[tokio::test]
async fn the_reconciler_counts_what_it_found() {
    let (stack, connection) = connected(|_| {}).await;
    let at = stack.now() + chrono::Duration::minutes(5);
    let ids = [
        schedule_post(&stack, &connection, at).await,
        schedule_post(&stack, &connection, at).await,
    ];
    for id in &ids {
        stack
            .scheduler_client()
            .delete_schedule()
            .group_name(stack.schedule_group())
            .name(format!("post-{id}"))
            .send()
            .await
            .unwrap();
    }
    let found = reconciler_function::handle(at + chrono::Duration::minutes(11), &stack.reconciler)
        .await
        .unwrap();
    assert_eq!((found.found, found.enqueued), (2, 2));
    for id in &ids {
        stack.wait_for_post("acme", id, &["published"], SLOW).await;
    }
}

/// A schedule made directly in the stack's group.
async fn put_schedule(
    stack: &LocalStack,
    name: &str,
    at: DateTime<Utc>,
    target_arn: &str,
    action: ActionAfterCompletion,
    flexible_minutes: Option<i32>,
) {
    let window = match flexible_minutes {
        Some(m) => FlexibleTimeWindow::builder()
            .mode(FlexibleTimeWindowMode::Flexible)
            .maximum_window_in_minutes(m),
        None => FlexibleTimeWindow::builder().mode(FlexibleTimeWindowMode::Off),
    };
    stack
        .scheduler_client()
        .create_schedule()
        .group_name(stack.schedule_group())
        .name(name)
        .schedule_expression(connector::schedules::at_expression(at))
        .flexible_time_window(window.build().unwrap())
        .action_after_completion(action)
        .target(
            Target::builder()
                .arn(target_arn)
                .role_arn("arn:aws:iam::123456789012:role/test")
                .input(
                    r#"{"name":"NAME","at":"<aws.scheduler.scheduled-time>"}"#
                        .replace("NAME", name),
                )
                .retry_policy(
                    RetryPolicy::builder()
                        .maximum_retry_attempts(2)
                        .maximum_event_age_in_seconds(3600)
                        .build(),
                )
                .dead_letter_config(
                    DeadLetterConfig::builder()
                        .arn(
                            stack
                                .config
                                .require_schedules()
                                .unwrap()
                                .dead_letter_arn
                                .clone()
                                .unwrap(),
                        )
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
}

async fn receive_all(stack: &LocalStack, url: &str) -> Vec<aws_sdk_sqs::types::Message> {
    let sqs = aws_sdk_sqs::Client::new(&stack.sdk);
    let mut all = Vec::new();
    loop {
        let got = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .message_attribute_names("All")
            .wait_time_seconds(0)
            .send()
            .await
            .unwrap()
            .messages
            .unwrap_or_default();
        if got.is_empty() {
            return all;
        }
        all.extend(got);
    }
}

#[tokio::test]
async fn local_firing_honours_action_after_completion_flexible_windows_and_retries() {
    let stack = test_stack(|o| o.run_publisher = false).await;
    let sqs = aws_sdk_sqs::Client::new(&stack.sdk);
    let queue = sqs
        .create_queue()
        .queue_name(format!("fired-{}", uuid::Uuid::new_v4()))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let queue_arn = sqs
        .get_queue_attributes()
        .queue_url(&queue)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
        .clone();
    let at = whole_seconds(stack.now() + chrono::Duration::hours(1));
    put_schedule(
        &stack,
        "once-delete",
        at,
        &queue_arn,
        ActionAfterCompletion::Delete,
        None,
    )
    .await;
    put_schedule(
        &stack,
        "once-keep",
        at,
        &queue_arn,
        ActionAfterCompletion::None,
        None,
    )
    .await;
    put_schedule(
        &stack,
        "flexible",
        at,
        &queue_arn,
        ActionAfterCompletion::Delete,
        Some(30),
    )
    .await;
    let missing_queue = queue_arn.rsplit_once(':').unwrap().0.to_owned() + ":no-such-queue";
    put_schedule(
        &stack,
        "undeliverable",
        at,
        &missing_queue,
        ActionAfterCompletion::Delete,
        None,
    )
    .await;

    stack.advance(chrono::Duration::minutes(59));
    assert!(stack.scheduler.fire_due().await.unwrap().is_empty());

    stack.advance(chrono::Duration::minutes(1) + chrono::Duration::seconds(1));
    let firings = stack.scheduler.fire_due().await.unwrap();
    let by_name = |n: &str| firings.iter().find(|f| f.name == n).cloned();
    let delete = by_name("once-delete").expect("fired at its time");
    assert!(delete.delivered && delete.deleted);
    assert_eq!(delete.due, at);
    assert!(delete.input.contains(&rfc3339(at)), "{}", delete.input);
    let keep = by_name("once-keep").expect("fired at its time");
    assert!(keep.delivered && !keep.deleted);
    let undeliverable = by_name("undeliverable").expect("tried at its time");
    assert!(!undeliverable.delivered && undeliverable.dead_lettered);
    assert_eq!(undeliverable.attempts, 3, "the first attempt and 2 retries");

    // ActionAfterCompletion: DELETE removed it, NONE kept it, and neither fires again.
    assert!(stack.schedule_names("once-delete").await.is_empty());
    assert_eq!(stack.schedule_names("once-keep").await, vec!["once-keep"]);
    // The flexible one lands somewhere in its 30 minutes.
    stack.advance(chrono::Duration::minutes(30));
    let later: Vec<_> = stack.scheduler.fire_due().await.unwrap();
    let flexible = by_name("flexible")
        .or_else(|| later.iter().find(|f| f.name == "flexible").cloned())
        .expect("fired within its window");
    assert!(flexible.due >= at && flexible.due < at + chrono::Duration::minutes(30));
    assert!(
        !later.iter().any(|f| f.name.starts_with("once-")),
        "{later:?}"
    );

    let delivered = receive_all(&stack, &queue).await;
    assert_eq!(delivered.len(), 3, "once-delete, once-keep, flexible");
    let dead = receive_all(&stack, &stack.dlq_url).await;
    assert_eq!(dead.len(), 1);
    let attrs = dead[0].message_attributes.as_ref().unwrap();
    assert_eq!(
        attrs["TARGET_ARN"].string_value(),
        Some(missing_queue.as_str())
    );
    assert_eq!(
        attrs["EXHAUSTED_RETRY_CONDITION"].string_value(),
        Some("MaximumRetryAttempts")
    );
}

#[tokio::test]
async fn time_travel_reaches_the_seven_day_window_and_the_refresh_plans_the_next() {
    let (stack, connection) = connected(|_| {}).await;
    let expires = stack.expiry(&connection).await;
    let before = stack.windows(&connection).await;
    assert_eq!(before.len(), 3);
    let seven_days = before
        .iter()
        .find(|w| w.3.window == RefreshWindow::SevenDays)
        .unwrap()
        .1;

    // Just past the T-7d window (and its 30-minute flexible window): it fires, the refresher
    // runs in-process as of that time, and LinkedIn is asked once.
    stack.advance((seven_days - stack.now()) + chrono::Duration::minutes(31));
    let names = fired(&stack).await;
    assert!(
        names.iter().any(|n| n.ends_with("-7d")),
        "the 7-day window fired: {names:?}"
    );
    assert_eq!(stack.refresh_calls(), 1);
    let renewed = stack.expiry(&connection).await;
    assert!(
        renewed > expires + chrono::Duration::days(50),
        "{renewed} vs {expires}"
    );

    // The windows now sit before the new expiry: three, replaced rather than piled up.
    let after = stack.windows(&connection).await;
    assert_eq!(after.len(), 3, "{after:?}");
    for (_, at, _, request) in &after {
        assert_eq!(renewed - *at, request.window.before_expiry());
    }
    // Nothing else is due.
    assert!(!fired(&stack)
        .await
        .iter()
        .any(|n| n.starts_with("refresh-")));
    assert_eq!(stack.refresh_calls(), 1);
}

#[tokio::test]
async fn the_health_round_fires_every_six_hours_on_the_local_clock() {
    let (stack, connection) = connected(|_| {}).await;
    stack.advance(chrono::Duration::hours(5));
    assert!(!fired(&stack).await.contains(&"health-round".to_owned()));
    // The first round comes 6 hours after the schedule was made, just before this connection
    // is due (6 hours after connecting): it checks nothing yet.
    stack.advance(chrono::Duration::hours(1) + chrono::Duration::minutes(1));
    assert!(fired(&stack).await.contains(&"health-round".to_owned()));
    stack.drain_health_queue().await.unwrap();
    // The next round, 6 hours on, checks it.
    stack.advance(chrono::Duration::hours(6));
    assert!(fired(&stack).await.contains(&"health-round".to_owned()));
    assert!(
        stack.drain_health_queue().await.unwrap() >= 3,
        "plan, page(s), check"
    );
    let (_, c) = stack
        .get("acme", &format!("/v1/connections/{connection}"))
        .await;
    assert!(c["last_health_check_at"].is_string(), "{c}");
    assert_eq!(c["status"], "healthy");
}

/// A move changes two systems. When the schedule's update was applied but its answer lost
/// (and the SDK's retries then failed), the API reads the schedule back instead of assuming it
/// did not move: record and schedule agree on the new time.
#[tokio::test]
async fn a_move_whose_schedule_answer_was_lost_keeps_record_and_schedule_in_step() {
    use local_stack::counting::{AwsFault, AwsFaultKind};
    let (stack, connection) = connected(|_| {}).await;
    let at = whole_seconds(Utc::now() + chrono::Duration::hours(2));
    let id = schedule_post(&stack, &connection, at).await;
    let moved_to = at + chrono::Duration::hours(1);
    stack.aws_faults().inject(
        AwsFault::new("scheduler", AwsFaultKind::DropAfterApply)
            .operation("UpdateSchedule")
            .times(1),
    );
    stack.aws_faults().inject(
        AwsFault::new("scheduler", AwsFaultKind::ServerError)
            .operation("UpdateSchedule")
            .after(1)
            .times(2),
    );
    let (status, body) = stack
        .move_post("acme", &id, json!({ "scheduled_at": rfc3339(moved_to) }))
        .await;
    stack.aws_faults().clear();
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        stack.post("acme", &id).await["scheduled_at"],
        rfc3339(moved_to)
    );
    let schedule = stack
        .scheduler_client()
        .get_schedule()
        .name(
            connector::domain::posts::PostId::parse(&id)
                .unwrap()
                .schedule_name(),
        )
        .group_name(stack.schedule_group())
        .send()
        .await
        .unwrap();
    let job: Job = serde_json::from_str(schedule.target().unwrap().input().unwrap()).unwrap();
    assert_eq!(
        job.scheduled_at,
        Some(moved_to),
        "the schedule fires for the new time"
    );
}
