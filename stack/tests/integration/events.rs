//! The sample events in events/ are real API Gateway payloads the functions understand.

use std::path::Path;

use local_stack::test_stack;

fn load(name: &str) -> lambda_http::Request {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../events")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    lambda_http::request::from_str(&text)
        .unwrap_or_else(|e| panic!("{name} is not an API Gateway v2 event: {e}"))
}

async fn body_of(response: lambda_http::Response<lambda_http::Body>) -> (u16, serde_json::Value) {
    let status = response.status().as_u16();
    let body = match response.body() {
        lambda_http::Body::Text(t) => serde_json::from_str(t).unwrap_or(serde_json::Value::Null),
        _ => serde_json::Value::Null,
    };
    (status, body)
}

#[tokio::test]
async fn every_sample_event_is_served_by_its_function() {
    let stack = test_stack(|_| {}).await;

    let (status, body) =
        body_of(oauth_function::handle(load("oauth-authorize.json"), &stack.oauth).await).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["authorization_url"].as_str().is_some());

    // A sample callback's state was never issued here: refused, as it should be.
    let (status, _) =
        body_of(oauth_function::handle(load("oauth-callback.json"), &stack.oauth).await).await;
    assert_eq!(status, 400);

    let (status, body) =
        body_of(api_function::handle(load("api-list-connections.json"), &stack.api).await).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["connections"].is_array());

    let (status, body) =
        body_of(api_function::handle(load("api-get-connection.json"), &stack.api).await).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found")),
        "{body}"
    );

    // Scheduling for a connection that is not the tenant's: refused, naming the field.
    let (status, body) =
        body_of(api_function::handle(load("api-schedule-post.json"), &stack.api).await).await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (400, Some("connection_id")),
        "{body}"
    );
    // Moving a post that does not exist.
    let (status, body) =
        body_of(api_function::handle(load("api-move-post.json"), &stack.api).await).await;
    assert_eq!(status, 404, "{body}");
}

#[test]
fn every_file_in_events_is_named_by_a_test() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../events");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "api-get-connection.json",
            "api-list-connections.json",
            "api-move-post.json",
            "api-schedule-post.json",
            "events-stream.json",
            "health-metrics-round-sqs.json",
            "health-round-sqs.json",
            "health-sqs.json",
            "notifier-sqs.json",
            "oauth-authorize.json",
            "oauth-callback.json",
            "publisher-scheduled-sqs.json",
            "publisher-sqs.json",
            "publisher-video-sqs.json",
            "reconciler-round.json",
            "refresher-runway.json",
            "refresher-window.json"
        ]
    );
}

fn sqs_event(name: &str) -> aws_lambda_events::event::sqs::SqsEvent {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../events")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[tokio::test]
async fn the_publisher_samples_are_sqs_batches_it_understands() {
    let stack = test_stack(|o| o.run_publisher = false).await;
    // A job to publish now, one fired by a scheduled post's schedule, and a video post's job
    // redelivered while LinkedIn processes the video (a job names its post; the media is on it).
    for name in [
        "publisher-sqs.json",
        "publisher-scheduled-sqs.json",
        "publisher-video-sqs.json",
    ] {
        let event = sqs_event(name);
        assert_eq!(event.records.len(), 1);
        let job: connector::domain::posts::Job =
            serde_json::from_str(event.records[0].body.as_deref().unwrap()).unwrap();
        assert_eq!(job.scheduled_at.is_some(), name.contains("scheduled"));
        // Its post does not exist here: nothing to do, nothing to redeliver.
        let response = publisher_function::handle(
            event,
            &stack.publisher,
            connector::deadline::Deadline::none(),
        )
        .await;
        assert!(response.batch_item_failures.is_empty());
    }
}

#[tokio::test]
async fn the_reconciler_sample_is_a_round_it_understands() {
    let stack = test_stack(|o| o.run_publisher = false).await;
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../events/reconciler-round.json");
    let request: reconciler_function::ReconcileRequest =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let found = reconciler_function::handle(request.as_of(chrono::Utc::now()), &stack.reconciler)
        .await
        .unwrap();
    assert_eq!(found.found, 0);
}

#[tokio::test]
async fn the_refresher_sample_is_a_window_it_understands() {
    let stack = test_stack(|o| o.run_publisher = false).await;
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../events/refresher-window.json");
    let request: connector::schedules::RefreshRequest =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    // Its connection does not exist here.
    let outcome = refresher_function::handle(&request, &stack.refresher, chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(outcome, refresher_function::WindowOutcome::Disconnected);
}

#[tokio::test]
async fn the_refresher_runway_sample_is_a_runway_it_understands() {
    let stack = test_stack(|o| o.run_publisher = false).await;
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../events/refresher-runway.json");
    let event: connector::schedules::RefresherEvent =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let connector::schedules::RefresherEvent::Runway(request) = event else {
        panic!("a runway, not a window: {event:?}");
    };
    // Its connection does not exist here.
    let outcome =
        refresher_function::runway::handle(&request, &stack.refresher, chrono::Utc::now())
            .await
            .unwrap();
    assert_eq!(
        outcome,
        refresher_function::runway::RunwayOutcome::Disconnected
    );
}

#[tokio::test]
async fn the_health_sample_is_a_check_task_it_understands() {
    let stack = test_stack(|o| o.run_publisher = false).await;
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../events/health-sqs.json");
    let event: aws_lambda_events::event::sqs::SqsEvent =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    // Its connection does not exist here: skipped, nothing to redeliver.
    let response =
        health_function::handle(event, &stack.health, connector::deadline::Deadline::none()).await;
    assert!(response.batch_item_failures.is_empty());
    // The round's schedule puts a plan task with its scheduled time on the queue.
    let round = sqs_event("health-round-sqs.json");
    let task: health_function::HealthTask =
        serde_json::from_str(round.records[0].body.as_deref().unwrap()).unwrap();
    assert!(matches!(
        task,
        health_function::HealthTask::Plan { as_of: Some(_) }
    ));
    let response =
        health_function::handle(round, &stack.health, connector::deadline::Deadline::none()).await;
    assert!(response.batch_item_failures.is_empty());
    // So does the metrics round's, once a day.
    let round = sqs_event("health-metrics-round-sqs.json");
    let task: health_function::HealthTask =
        serde_json::from_str(round.records[0].body.as_deref().unwrap()).unwrap();
    assert!(matches!(
        task,
        health_function::HealthTask::MetricsPlan { as_of: Some(_) }
    ));
    let response =
        health_function::handle(round, &stack.health, connector::deadline::Deadline::none()).await;
    assert!(response.batch_item_failures.is_empty());
}

/// The events sample is a stream batch the events function reads: a post that went from
/// publishing to published is told as `post.published`.
#[tokio::test]
async fn the_events_sample_is_a_stream_batch_it_understands() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../events/events-stream.json");
    let event: aws_lambda_events::event::dynamodb::Event =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let change = events_function::change_of(&event.records[0]).unwrap();
    let told = connector::events::changes::events_of(&change);
    assert_eq!(told.len(), 1);
    assert_eq!(told[0].r#type.as_str(), "post.published");
    assert_eq!(
        told[0].data["linkedin_urn"],
        "urn:li:share:7000000000000000001"
    );
    let stack = test_stack(|o| o.run_publisher = false).await;
    let (response, handled) = events_function::handle(&event.records, &stack.events).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!((handled.records, handled.events), (1, 1));
}

/// The notifier's sample is an event as the events function queues it; for a tenant without
/// endpoints it is handled (nothing to send) and not given back.
#[tokio::test]
async fn the_notifier_sample_is_an_event_it_understands() {
    let event = sqs_event("notifier-sqs.json");
    let body = event.records[0].body.as_deref().unwrap();
    assert!(matches!(
        connector::events::WebhookTask::parse(body).unwrap(),
        connector::events::WebhookTask::Event {
            endpoint_id: None,
            ..
        }
    ));
    let stack = test_stack(|_| {}).await;
    let response = notifier_function::handle(event, &stack.notifier).await;
    assert!(response.batch_item_failures.is_empty());
}
