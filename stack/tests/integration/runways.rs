//! Reconnect runways: a connection's tenant is told 14, 7 and 1 days before the member must
//! reconnect, and at the deadline, with the scheduled posts that fall after it — on the local
//! scheduler's clock, once per runway, and not at all for a deadline a reconnect moved.

use chrono::{DateTime, Duration, Utc};
use connector::domain::ReconnectRunway;
use connector::schedules::RunwayRequest;
use refresher_function::runway::{self, RunwayOutcome};
use serde_json::{json, Value};

use crate::support::*;

fn deadline(connection: &Value) -> DateTime<Utc> {
    connection["reconnect_by"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
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

/// The `connection.reconnect_due` events told so far (consumed from the queue), and the
/// connection's other event types.
async fn told(stack: &local_stack::LocalStack) -> (Vec<Value>, Vec<String>) {
    stack.run_events().await.unwrap();
    let (due, other): (Vec<_>, Vec<_>) = queued_events(stack)
        .await
        .into_iter()
        .filter(|e| e.r#type.as_str().starts_with("connection."))
        .partition(|e| e.r#type.as_str() == "connection.reconnect_due");
    (
        due.into_iter().map(|e| e.data).collect(),
        other
            .into_iter()
            .map(|e| e.r#type.as_str().to_owned())
            .collect(),
    )
}

async fn later_post(stack: &local_stack::LocalStack, body: Value) -> String {
    let (status, created) = stack.create_post("acme", body, None).await;
    assert_eq!(status, 202, "{created}");
    created["id"].as_str().unwrap().to_owned()
}

fn request(connection: &str, runway: ReconnectRunway) -> RunwayRequest {
    let (tenant_id, connection_id) = ids(connection);
    RunwayRequest {
        tenant_id,
        connection_id,
        runway,
        scheduled_time: None,
    }
}

#[tokio::test]
async fn a_member_without_refresh_tokens_is_told_ahead_and_at_the_deadline_with_the_posts_at_risk()
{
    let (stack, connection) = connected(|o| o.simulator.issue_refresh_tokens = false).await;
    let view = stack.connection("acme", &connection).await;
    let by = deadline(&view);
    assert_eq!(view["reconnect_by"], view["access_token_expires_at"]);
    assert!(view["reconnect_due"].is_null());
    // Four one-time schedules, each at its time before the deadline, for the refresher.
    let mut names = stack.schedule_names(&format!("runway-{connection}")).await;
    names.sort();
    assert_eq!(
        names,
        ["0d", "14d", "1d", "7d"].map(|s| format!("runway-{connection}-{s}"))
    );
    let (_, _) = told(&stack).await;

    // Posts for later: two after the deadline, one waiting for approval after it, one before
    // it and one after it that is cancelled.
    let at = |d: Duration| rfc3339(by + d);
    let before = later_post(&stack, json!({"connection_id": connection, "text": "before", "scheduled_at": at(-Duration::days(20))})).await;
    let three_days = later_post(&stack, json!({"connection_id": connection, "text": "three days after", "scheduled_at": at(Duration::days(3))})).await;
    let one_day = later_post(&stack, json!({"connection_id": connection, "text": "a day after", "scheduled_at": at(Duration::days(1))})).await;
    let pending = later_post(&stack, json!({"connection_id": connection, "text": "approve me", "scheduled_at": at(Duration::days(5)), "requires_approval": true})).await;
    let cancelled = later_post(&stack, json!({"connection_id": connection, "text": "cancelled", "scheduled_at": at(Duration::days(2))})).await;
    assert_eq!(stack.delete_post("acme", &cancelled).await.0, 200);
    stack
        .wait_for_post("acme", &before, &["scheduled"], SLOW)
        .await;

    // T-14d (its flexible window is 30 minutes wide): told once, with the posts at risk.
    stack.advance(by - Duration::days(14) + Duration::minutes(31) - stack.now());
    let names = fired(&stack).await;
    assert!(
        names.contains(&format!("runway-{connection}-14d")),
        "{names:?}"
    );
    stack
        .wait_for_post("acme", &before, &["published"], SLOW)
        .await;
    let view = stack.connection("acme", &connection).await;
    let due = &view["reconnect_due"];
    assert_eq!(due["runway"], "T-14d");
    assert_eq!(deadline(&json!({"reconnect_by": due["reconnect_by"]})), by);
    assert_eq!(due["posts_at_risk"], json!([one_day, three_days, pending]));
    assert_eq!(due["posts_at_risk_count"], 3);
    let (events, _) = told(&stack).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["id"], json!(connection));
    assert_eq!(events[0]["reconnect_due"], *due);

    // The same runway again (a retried invocation): nothing new is told.
    let again = runway::handle(
        &request(&connection, ReconnectRunway::FourteenDays),
        &stack.refresher,
        stack.now(),
    )
    .await
    .unwrap();
    assert_eq!(again, RunwayOutcome::AlreadyTold);
    // A runway ahead of its time (invoked early, or planned for another deadline): nothing.
    let early = runway::handle(
        &request(&connection, ReconnectRunway::OneDay),
        &stack.refresher,
        stack.now(),
    )
    .await
    .unwrap();
    assert_eq!(early, RunwayOutcome::Stale);
    assert!(told(&stack).await.0.is_empty());

    // T-7d, T-1d and the deadline: each told once, in order. The refresh windows meanwhile
    // put the connection in attention (no refresh token: only a reconnect renews it).
    let mut runways = Vec::new();
    let mut others = Vec::new();
    for (runway, suffix) in [
        (Duration::days(7), "7d"),
        (Duration::days(1), "1d"),
        (Duration::zero(), "0d"),
    ] {
        stack.advance(by - runway + Duration::minutes(31) - stack.now());
        let names = fired(&stack).await;
        assert!(
            names.contains(&format!("runway-{connection}-{suffix}")),
            "{names:?}"
        );
        let (events, other) = told(&stack).await;
        runways.extend(events.iter().map(|e| e["reconnect_due"]["runway"].clone()));
        others.extend(other);
        assert!(events
            .iter()
            .all(|e| e["reconnect_due"]["posts_at_risk_count"] == 3));
    }
    assert_eq!(runways, [json!("T-7d"), json!("T-1d"), json!("T-0")]);
    assert!(
        others.contains(&"connection.attention".to_owned()),
        "{others:?}"
    );
    assert!(stack
        .schedule_names(&format!("runway-{connection}"))
        .await
        .is_empty());
    assert!(
        stack.simulator().live_posts().len() == 1,
        "only the post before the deadline"
    );
}

#[tokio::test]
async fn a_reconnect_moves_the_runways_and_a_disconnect_removes_them() {
    let (stack, connection) = connected(|_| {}).await;
    let view = stack.connection("acme", &connection).await;
    let by = deadline(&view);
    // With a refresh token, the deadline is its end (365 days from the consent).
    assert_eq!(view["reconnect_by"], view["refresh_token_expires_at"]);
    assert!(by > Utc::now() + Duration::days(360));
    let runways = stack.schedule_names(&format!("runway-{connection}")).await;
    assert_eq!(runways.len(), 4, "{runways:?}");

    // Its T-14d runway comes (run as the scheduler would, at its time): told, nothing at risk.
    let told_at = by - Duration::days(14);
    let outcome = runway::handle(
        &request(&connection, ReconnectRunway::FourteenDays),
        &stack.refresher,
        told_at,
    )
    .await
    .unwrap();
    assert_eq!(outcome, RunwayOutcome::Told { posts_at_risk: 0 });
    let due = stack.connection("acme", &connection).await["reconnect_due"].clone();
    assert_eq!(due["runway"], "T-14d");
    assert_eq!(due["posts_at_risk"], json!([]));

    // The member reconnects: a new deadline, nothing due yet, its runways planned again.
    let (status, started) = stack.reconnect("acme", &connection, json!({})).await;
    assert_eq!(status, 200, "{started}");
    let url = started["authorization_url"].as_str().unwrap();
    stack.consent_and_return(url, None, true).await;
    let renewed = stack.connection("acme", &connection).await;
    assert_eq!(renewed["connect_count"], 2);
    assert!(renewed["reconnect_due"].is_null(), "{renewed}");
    assert_eq!(
        stack
            .schedule_names(&format!("runway-{connection}"))
            .await
            .len(),
        4
    );

    // Disconnected: the runways are gone, and one that fires anyway tells nothing.
    assert_eq!(stack.disconnect("acme", &connection).await.0, 200);
    assert!(stack
        .schedule_names(&format!("runway-{connection}"))
        .await
        .is_empty());
    let late = runway::handle(
        &request(&connection, ReconnectRunway::OneDay),
        &stack.refresher,
        by - Duration::days(1),
    )
    .await
    .unwrap();
    assert_eq!(late, RunwayOutcome::Disconnected);
}
