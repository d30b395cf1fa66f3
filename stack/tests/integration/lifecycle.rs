//! Keeping connections alive: refresh windows, the refresher, single-flight refresh, disconnect.

use std::time::Duration;

use chrono::{DateTime, Utc};
use connector::domain::RefreshWindow;
use connector::schedules::RefreshRequest;
use connector::vault::VaultError;
use linkedin_simulator::Fault;
use refresher_function::WindowOutcome;
use secrecy::ExposeSecret;
use serde_json::json;

use crate::support::*;

fn request(connection: &str, window: RefreshWindow) -> RefreshRequest {
    let (tenant_id, connection_id) = ids(connection);
    RefreshRequest {
        tenant_id,
        connection_id,
        window,
        scheduled_time: None,
    }
}

#[tokio::test]
async fn connecting_plans_three_refresh_windows_before_expiry() {
    let (stack, connection) = connected(|_| {}).await;
    let expires = stack.expiry(&connection).await;
    let planned = stack.windows(&connection).await;
    assert_eq!(planned.len(), 3);
    let offsets: Vec<i64> = planned
        .iter()
        .map(|w| (expires - w.1).num_minutes())
        .collect();
    assert_eq!(offsets, [7 * 24 * 60, 24 * 60, 12 * 60]);
    let refresher = stack
        .config
        .require_schedules()
        .unwrap()
        .refresher_arn
        .clone()
        .unwrap();
    for (_, _, arn, input) in &planned {
        assert_eq!(arn, &refresher);
        assert_eq!(input.connection_id.to_string(), connection);
    }
    assert_eq!(
        planned.iter().map(|w| w.3.window).collect::<Vec<_>>(),
        [
            RefreshWindow::SevenDays,
            RefreshWindow::OneDay,
            RefreshWindow::TwelveHours
        ]
    );
}

#[tokio::test]
async fn a_window_refreshes_the_token_and_replaces_the_windows() {
    let (stack, connection) = connected(|_| {}).await;
    let before = stack.windows(&connection).await;
    let due = stack.expiry(&connection).await - chrono::Duration::days(7);
    // The refreshed token lives 90 days instead of 60, so its windows land 30 days later.
    stack
        .simulator()
        .configure(|c| c.access_token_ttl = Duration::from_secs(90 * 86_400));

    let outcome = refresher_function::handle(
        &request(&connection, RefreshWindow::SevenDays),
        &stack.refresher,
        due,
    )
    .await
    .unwrap();
    assert_eq!(outcome, WindowOutcome::Refreshed);
    assert_eq!(stack.refresh_calls(), 1);
    let after = stack.windows(&connection).await;
    assert_eq!(after.len(), 3, "replaced, not piled up");
    // The window reasoned as of its time (`due`): the new token lives 90 days from then, and
    // the same three windows now sit before that expiry.
    let renewed = stack.expiry(&connection).await;
    assert_eq!((renewed - due).num_days(), 90, "{renewed} vs {due}");
    for (old, new) in before.iter().zip(&after) {
        assert_eq!(old.0, new.0);
        assert_eq!(
            (renewed - new.1).num_seconds(),
            new.3.window.before_expiry().num_seconds(),
            "{} moved with the new expiry",
            new.0
        );
    }
    // A duplicate (or late) invocation of the same window finds the token fresh.
    let again = refresher_function::handle(
        &request(&connection, RefreshWindow::SevenDays),
        &stack.refresher,
        due,
    )
    .await
    .unwrap();
    assert_eq!(again, WindowOutcome::AlreadyFresh);
    assert_eq!(stack.refresh_calls(), 1);
    assert_eq!(stack.connections("acme").await[0]["status"], "healthy");
}

#[tokio::test]
async fn a_rotated_refresh_token_is_stored_and_used_next_time() {
    let (stack, connection) = connected(|o| o.simulator.rotate_refresh_tokens = true).await;
    let first = stack.simulator().issued_tokens()[0]
        .refresh_token
        .clone()
        .unwrap();
    let due = stack.expiry(&connection).await - chrono::Duration::days(7);
    stack.simulator().advance(Duration::from_secs(86_400));
    refresher_function::handle(
        &request(&connection, RefreshWindow::SevenDays),
        &stack.refresher,
        due,
    )
    .await
    .unwrap();
    let stored = stack.open_tokens("acme", &connection).await.unwrap();
    let rotated = stored.refresh_token.unwrap();
    assert_ne!(
        rotated.expose_secret(),
        first,
        "the new refresh token was kept"
    );
    assert_eq!(
        stack.simulator().issued_tokens()[1]
            .refresh_token
            .as_deref(),
        Some(rotated.expose_secret())
    );

    // The next window refreshes with the rotated token (the old one is dead at LinkedIn).
    let due = stack.expiry(&connection).await - chrono::Duration::days(1);
    stack.simulator().advance(Duration::from_secs(86_400));
    let outcome = refresher_function::handle(
        &request(&connection, RefreshWindow::OneDay),
        &stack.refresher,
        due,
    )
    .await
    .unwrap();
    assert_eq!(outcome, WindowOutcome::Refreshed);
}

#[tokio::test]
async fn an_app_without_refresh_tokens_is_flagged_at_t_minus_7d_with_a_reconnect_date() {
    let (stack, connection) = connected(|o| o.simulator.issue_refresh_tokens = false).await;
    let expires = stack.expiry(&connection).await;
    let outcome = refresher_function::handle(
        &request(&connection, RefreshWindow::SevenDays),
        &stack.refresher,
        expires - chrono::Duration::days(7),
    )
    .await
    .unwrap();
    let date = expires.format("%Y-%m-%d").to_string();
    match outcome {
        WindowOutcome::NeedsAttention { reason } => assert!(reason.contains(&date), "{reason}"),
        other => panic!("expected attention, got {other:?}"),
    }
    let c = &stack.connections("acme").await[0];
    assert_eq!(c["status"], "attention");
    assert!(c["reason"]
        .as_str()
        .unwrap()
        .contains(&format!("reconnect before {date}")));
    assert_eq!(stack.refresh_calls(), 0);
}

#[tokio::test]
async fn the_last_windows_before_the_authorization_lapses_ask_for_a_reconnect() {
    // LinkedIn's refresh token lives 365 days from the original authorization; here 9 days.
    let (stack, connection) = connected(|o| {
        o.simulator.access_token_ttl = Duration::from_secs(10 * 86_400);
        o.simulator.refresh_token_ttl = Duration::from_secs(9 * 86_400);
    })
    .await;
    let connected_at = Utc::now();
    stack.simulator().advance(Duration::from_secs(3 * 86_400));
    let outcome = refresher_function::handle(
        &request(&connection, RefreshWindow::SevenDays),
        &stack.refresher,
        connected_at + chrono::Duration::days(3),
    )
    .await
    .unwrap();
    let WindowOutcome::NeedsAttention { reason } = outcome else {
        panic!("expected attention, got {outcome:?}")
    };
    assert!(reason.contains("reconnect before"), "{reason}");
    assert_eq!(
        stack.refresh_calls(),
        1,
        "the access token was still refreshed"
    );
    assert_eq!(stack.connections("acme").await[0]["status"], "attention");
}

#[tokio::test]
async fn a_refused_refresh_puts_the_connection_in_attention() {
    let (stack, connection) = connected(|_| {}).await;
    stack.simulator().revoke_member("sim-ada-7f3k");
    let due = stack.expiry(&connection).await - chrono::Duration::days(7);
    let outcome = refresher_function::handle(
        &request(&connection, RefreshWindow::SevenDays),
        &stack.refresher,
        due,
    )
    .await
    .unwrap();
    assert!(
        matches!(outcome, WindowOutcome::NeedsAttention { .. }),
        "{outcome:?}"
    );
    assert_eq!(stack.connections("acme").await[0]["status"], "attention");
}

#[tokio::test]
async fn linkedin_down_in_the_last_window_flags_the_connection_and_asks_for_a_retry() {
    let (stack, connection) = connected(|_| {}).await;
    stack
        .simulator()
        .inject(Fault::status("POST", "/oauth/v2/accessToken", 503));
    let due = stack.expiry(&connection).await - chrono::Duration::hours(12);
    let early = refresher_function::handle(
        &request(&connection, RefreshWindow::OneDay),
        &stack.refresher,
        due,
    )
    .await;
    assert!(
        early.is_err(),
        "retryable: the schedule and Lambda retry it"
    );
    assert_eq!(
        stack.connections("acme").await[0]["status"],
        "healthy",
        "not the last window yet"
    );
    let last = refresher_function::handle(
        &request(&connection, RefreshWindow::TwelveHours),
        &stack.refresher,
        due,
    )
    .await;
    assert!(last.is_err());
    assert_eq!(stack.connections("acme").await[0]["status"], "attention");
}

#[tokio::test]
async fn a_refresher_a_publisher_401_and_a_health_check_at_once_make_one_refresh() {
    let (stack, connection) = connected(|o| o.token_propagation_window = Duration::ZERO).await;
    let (tenant, id) = ids(&connection);
    let due = stack.expiry(&connection).await - chrono::Duration::days(7);
    stack.simulator().advance(Duration::from_secs(86_400));
    let refresher_request = request(&connection, RefreshWindow::SevenDays);
    let now = Utc::now();
    // The health check meets the same expired-looking token (a 401) at the same moment.
    stack.simulator().inject(
        Fault::status("GET", "/v2/userinfo", 401)
            .body(r#"{"status":401,"serviceErrorCode":65602,"message":"expired"}"#)
            .times(1),
    );
    let third =
        health_function::check(&stack.health, &tenant, id, now + chrono::Duration::hours(7));
    let (a, b, c) = tokio::join!(
        refresher_function::handle(&refresher_request, &stack.refresher, due),
        stack
            .publisher
            .keeper
            .refresh_after_refusal(&tenant, id, now),
        third,
    );
    assert!(a.is_ok() && b.is_ok() && c.is_ok(), "{a:?} {b:?} {c:?}");
    assert_eq!(stack.refresh_calls(), 1, "exactly one refresh at LinkedIn");
    let stored = stack.open_tokens("acme", &connection).await.unwrap();
    let issued = stack.simulator().issued_tokens();
    assert_eq!(
        stored.access_token.expose_secret(),
        issued.last().unwrap().access_token
    );
    assert_eq!(
        stored.refresh_token.unwrap().expose_secret(),
        issued[0].refresh_token.as_deref().unwrap(),
        "no refresh token lost"
    );
}

#[tokio::test]
async fn disconnect_revokes_removes_windows_destroys_tokens_and_cancels_posts() {
    let (stack, connection) = connected(|o| o.run_publisher = false).await;
    let (_, post) = stack
        .create_post(
            "acme",
            json!({ "connection_id": connection, "text": "pending" }),
            None,
        )
        .await;
    let token = stack.simulator().issued_tokens()[0].access_token.clone();

    let (status, body) = stack.disconnect("acme", &connection).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "revoked");
    // The API holds no KMS rights: the health function's revoke job does the rest.
    assert_eq!(stack.simulator().count("POST", "/oauth/v2/revoke"), 0);
    assert!(stack.open_tokens("acme", &connection).await.is_ok());
    assert_eq!(stack.drain_health_queue().await.unwrap(), 1);
    assert_eq!(stack.simulator().count("POST", "/oauth/v2/revoke"), 1);
    assert!(
        stack.simulator().issued_tokens()[0].revoked,
        "revoked at LinkedIn"
    );
    assert!(
        stack.windows(&connection).await.is_empty(),
        "no schedule left"
    );
    assert!(matches!(
        stack.open_tokens("acme", &connection).await,
        Err(VaultError::Destroyed)
    ));
    let row = stack.entities("connection").await.unwrap().remove(0);
    assert!(
        !row.contains_key("token_key")
            && !row.contains_key("access_token_ct")
            && !row.contains_key("refresh_token_ct")
    );
    assert!(!contains(&item_bytes(&row), &token));
    let (_, p) = stack
        .get(
            "acme",
            &format!("/v1/posts/{}", post["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(p["status"], "cancelled");

    assert_eq!(stack.connections("acme").await[0]["reason"], "disconnected");

    // Idempotent: a second disconnect changes nothing and calls LinkedIn no more.
    let (status, again) = stack.disconnect("acme", &connection).await;
    assert_eq!((status, again["status"].as_str()), (200, Some("revoked")));
    assert_eq!(again["reason"], "disconnected");
    stack.drain_health_queue().await.unwrap();
    assert_eq!(stack.simulator().count("POST", "/oauth/v2/revoke"), 1);
    // Nothing can be posted through it any more.
    let (status, refused) = stack
        .create_post(
            "acme",
            json!({ "connection_id": connection, "text": "x" }),
            None,
        )
        .await;
    assert_eq!(
        (status, refused["error"]["field"].as_str()),
        (400, Some("connection_id"))
    );
}

#[tokio::test]
async fn a_failed_revoke_at_linkedin_is_retried_until_linkedin_confirms() {
    let (stack, connection) = connected(|_| {}).await;
    stack
        .simulator()
        .inject(Fault::status("POST", "/oauth/v2/revoke", 500).times(2));
    let (status, body) = stack.disconnect("acme", &connection).await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "revoked");
    assert_eq!(
        body["reason"], "disconnected; revoking the tokens at LinkedIn",
        "{body}"
    );
    assert!(stack.windows(&connection).await.is_empty());
    // The queued revoke job fails (and queues its next try, 30 s later).
    assert_eq!(stack.drain_health_queue().await.unwrap(), 1);
    // The token is still live at LinkedIn, so its sealed copy is kept for the retry.
    assert!(!stack.simulator().issued_tokens()[0].revoked);
    assert!(stack.open_tokens("acme", &connection).await.is_ok());

    // The revoke job fails once more, then LinkedIn confirms.
    let job = revoke_job(&connection, Utc::now());
    health_function::revoke(&stack.health, job.clone())
        .await
        .unwrap();
    assert!(
        stack.open_tokens("acme", &connection).await.is_ok(),
        "still not confirmed"
    );
    health_function::revoke(&stack.health, job.next().0)
        .await
        .unwrap();
    assert!(
        stack.simulator().issued_tokens()[0].revoked,
        "revoked at LinkedIn"
    );
    assert!(matches!(
        stack.open_tokens("acme", &connection).await,
        Err(VaultError::Destroyed)
    ));
    assert_eq!(stack.connections("acme").await[0]["reason"], "disconnected");
    assert_eq!(stack.simulator().count("POST", "/oauth/v2/revoke"), 3);
    // The job that went on the queue finds nothing left to do.
    stack.drain_health_queue().await.unwrap();
    assert_eq!(stack.simulator().count("POST", "/oauth/v2/revoke"), 3);
}

#[tokio::test]
async fn a_revoke_linkedin_never_confirms_destroys_the_tokens_after_24_hours() {
    let (stack, connection) = connected(|_| {}).await;
    stack
        .simulator()
        .inject(Fault::status("POST", "/oauth/v2/revoke", 503));
    stack.disconnect("acme", &connection).await;
    let job = revoke_job(&connection, Utc::now() - chrono::Duration::hours(25));
    health_function::revoke(&stack.health, job).await.unwrap();
    assert!(matches!(
        stack.open_tokens("acme", &connection).await,
        Err(VaultError::Destroyed)
    ));
    let c = &stack.connections("acme").await[0];
    assert_eq!(c["status"], "revoked");
    assert!(
        c["reason"].as_str().unwrap().contains("within 24 hours"),
        "{c}"
    );
}

#[tokio::test]
async fn a_refresh_racing_a_disconnect_revokes_what_it_obtained() {
    // Rotating refresh tokens: revoking the old tokens does not end the new ones.
    let (stack, connection) = connected(|o| {
        o.token_propagation_window = Duration::ZERO;
        o.simulator.rotate_refresh_tokens = true;
    })
    .await;
    // LinkedIn issues the new tokens at once but answers late; meanwhile the member's app
    // disconnects (and revokes the tokens it finds, the old ones).
    stack.simulator().inject(
        Fault::delay("POST", "/oauth/v2/accessToken", Duration::from_millis(800))
            .times(1)
            .after_handling(),
    );
    let stored = stack.stored("acme", &connection).await;
    let refresh = stack.refresher.keeper.refresh(stored, Utc::now());
    let disconnecting = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        stack.disconnect("acme", &connection).await
    };
    let (refreshed, (status, _)) = tokio::join!(refresh, disconnecting);
    assert_eq!(status, 200);
    stack.drain_health_queue().await.unwrap();
    assert!(matches!(
        refreshed.unwrap(),
        connector::tokens::RefreshOutcome::NeedsReconnect(_)
    ));
    let issued = stack.simulator().issued_tokens();
    assert_eq!(issued.len(), 2, "the refresh did get new tokens");
    assert!(
        issued.iter().all(|t| t.revoked),
        "no token left alive at LinkedIn: {issued:?}"
    );
    assert!(matches!(
        stack.open_tokens("acme", &connection).await,
        Err(VaultError::Destroyed)
    ));
}

fn revoke_job(connection: &str, requested_at: DateTime<Utc>) -> connector::queue::RevokeJob {
    let (tenant_id, connection_id) = ids(connection);
    connector::queue::RevokeJob {
        tenant_id,
        connection_id,
        requested_at,
        connect_count: 1,
        attempt: 0,
    }
}

#[tokio::test]
async fn another_tenant_cannot_disconnect_a_connection() {
    let (stack, connection) = connected(|_| {}).await;
    let (status, _) = stack.disconnect("globex", &connection).await;
    assert_eq!(status, 404);
    assert_eq!(stack.connections("acme").await[0]["status"], "healthy");
}

#[tokio::test]
async fn reconnecting_after_a_disconnect_or_attention_makes_it_healthy_again() {
    let (stack, connection) = connected(|_| {}).await;
    stack.disconnect("acme", &connection).await;
    let again = stack.connect("acme", None).await;
    assert_eq!(again, connection, "same connection");
    let c = &stack.connections("acme").await[0];
    assert_eq!(
        (c["status"].as_str(), c["reason"].as_str()),
        (Some("healthy"), None)
    );
    assert!(stack.open_tokens("acme", &connection).await.is_ok());
    assert_eq!(stack.windows(&connection).await.len(), 3);
}

#[tokio::test]
async fn a_health_result_recorded_during_a_refresh_does_not_lose_the_new_tokens() {
    let (stack, connection) = connected(|o| {
        o.simulator.rotate_refresh_tokens = true;
        o.token_propagation_window = Duration::ZERO;
    })
    .await;
    let (tenant, id) = ids(&connection);
    // LinkedIn takes its time to refresh; meanwhile the health check writes its result.
    stack
        .simulator()
        .inject(Fault::delay("POST", "/oauth/v2/accessToken", Duration::from_millis(600)).times(1));
    let stored = stack.stored("acme", &connection).await;
    let refresh = stack.refresher.keeper.refresh(stored, Utc::now());
    let health = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        health_function::check(
            &stack.health,
            &tenant,
            id,
            Utc::now() + chrono::Duration::hours(7),
        )
        .await
    };
    let (refreshed, checked) = tokio::join!(refresh, health);
    assert_eq!(
        refreshed.unwrap(),
        connector::tokens::RefreshOutcome::Refreshed
    );
    assert_eq!(checked.unwrap(), health_function::Checked::Healthy);

    let stored = stack.open_tokens("acme", &connection).await.unwrap();
    let issued = stack.simulator().issued_tokens();
    assert_eq!(
        stored.access_token.expose_secret(),
        issued[1].access_token,
        "the refreshed token is kept"
    );
    assert_eq!(
        stored.refresh_token.unwrap().expose_secret(),
        issued[1].refresh_token.as_deref().unwrap(),
        "the rotated refresh token is kept (the old one is dead at LinkedIn)"
    );
    assert!(
        stack.connections("acme").await[0]["last_health_check_at"].is_string(),
        "and the health result too"
    );
}
