//! Publishing through the whole pipeline: API -> SQS -> publisher (driven as Lambda's event
//! source mapping would) -> the LinkedIn simulator.

use std::time::{Duration, Instant};

use chrono::Utc;
use connector::domain::posts::{Job, JobAction};
use connector::domain::TenantId;
use connector::store::Change;
use linkedin_simulator::Fault;
use local_stack::test_stack;
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn a_text_post_is_published_once_with_its_text_intact() {
    let (stack, connection) = connected(|_| {}).await;
    let text =
        "Launch day (beta) #rust — thanks @team! *bold* [link] {x} <y> a_b ~z~ | back\\slash";
    let id = stack.publish_text("acme", &connection, text).await;

    let post = stack.wait_for_post("acme", &id, &["published"], SLOW).await;
    let live = stack.simulator().live_posts();
    assert_eq!(live.len(), 1);
    assert_eq!(post["linkedin_urn"], live[0].urn.as_str());
    assert!(live[0].urn.starts_with("urn:li:share:"));
    assert_eq!(live[0].author, "urn:li:person:sim-ada-7f3k");
    assert_eq!(
        live[0].commentary, text,
        "escaped for little text, so LinkedIn kept all of it"
    );
    assert_eq!(live[0].visibility, "PUBLIC");
    assert_eq!(post["attempts"], 1);
    assert!(post["published_at"].is_string());
}

#[tokio::test]
async fn the_legacy_ugc_dialect_publishes_too() {
    let (stack, connection) = connected(|o| {
        o.settings.insert("LINKEDIN_POSTS_API".into(), "ugc".into());
    })
    .await;
    let (status, body) = stack
        .create_post(
            "acme",
            json!({ "connection_id": connection, "text": "Hello (ugc)", "visibility": "CONNECTIONS" }),
            None,
        )
        .await;
    assert_eq!(status, 202);
    let post = stack
        .wait_for_post("acme", body["id"].as_str().unwrap(), &["published"], SLOW)
        .await;
    let live = stack.simulator().live_posts();
    assert_eq!(live.len(), 1);
    assert!(
        live[0].urn.starts_with("urn:li:ugcPost:"),
        "{}",
        live[0].urn
    );
    assert_eq!(live[0].commentary, "Hello (ugc)");
    assert_eq!(live[0].visibility, "CONNECTIONS");
    assert_eq!(post["linkedin_urn"], live[0].urn.as_str());
    assert_eq!(stack.simulator().count("POST", "/rest/posts"), 0);
}

#[tokio::test]
async fn an_organization_the_member_administers_can_be_the_author() {
    let (stack, connection) = connected(|o| {
        o.settings.insert(
            "LINKEDIN_SCOPES".into(),
            "openid profile email w_member_social rw_organization_admin w_organization_social"
                .into(),
        );
    })
    .await;
    let (status, body) = stack
        .create_post(
            "acme",
            json!({ "connection_id": connection, "author": "urn:li:organization:1001", "text": "From the company page" }),
            None,
        )
        .await;
    assert_eq!(status, 202, "{body}");
    stack
        .wait_for_post("acme", body["id"].as_str().unwrap(), &["published"], SLOW)
        .await;
    assert_eq!(
        stack.simulator().live_posts()[0].author,
        "urn:li:organization:1001"
    );

    // An organization where the member is only an analyst is refused before anything is recorded.
    let (status, body) = stack
        .create_post(
            "acme",
            json!({ "connection_id": connection, "author": "urn:li:organization:1002", "text": "x" }),
            None,
        )
        .await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (400, Some("author"))
    );
}

#[tokio::test]
async fn each_validation_rule_answers_400_naming_its_field_and_records_nothing() {
    let (stack, connection) = connected(|_| {}).await;
    let image = |url: &str| json!({ "type": "image", "url": url });
    let cases = [
        (json!({ "text": "no connection" }), "connection_id"),
        (
            json!({ "connection_id": "3f0c1d2e-0000-4000-8000-000000000000", "text": "x" }),
            "connection_id",
        ),
        (json!({ "connection_id": connection }), "text"),
        (json!({ "connection_id": connection, "text": "" }), "text"),
        (
            json!({ "connection_id": connection, "text": "x".repeat(3001) }),
            "text",
        ),
        (
            json!({ "connection_id": connection, "text": "x", "visibility": "FRIENDS" }),
            "visibility",
        ),
        (
            json!({ "connection_id": connection, "text": "x", "media": [image("nope")] }),
            "media",
        ),
        (
            json!({ "connection_id": connection, "text": "x", "media": [{ "type": "audio", "url": "https://x.example/v.mp3" }] }),
            "media",
        ),
        (
            json!({ "connection_id": connection, "text": "x", "media": (0..21).map(|i| image(&format!("https://cdn.example/{i}.png"))).collect::<Vec<_>>() }),
            "media",
        ),
        (
            json!({ "connection_id": connection, "text": "x", "author": "urn:li:organization:999" }),
            "author",
        ),
        (
            json!({ "connection_id": connection, "text": "x", "colour": "blue" }),
            "body",
        ),
    ];
    for (body, field) in cases {
        let (status, answer) = stack.create_post("acme", body.clone(), None).await;
        assert_eq!(status, 400, "{body} -> {answer}");
        assert_eq!(answer["error"]["field"], field, "{body} -> {answer}");
    }
    // Another tenant's connection is not the caller's connection.
    let (status, answer) = stack
        .create_post(
            "globex",
            json!({ "connection_id": connection, "text": "x" }),
            None,
        )
        .await;
    assert_eq!(
        (status, answer["error"]["field"].as_str()),
        (400, Some("connection_id"))
    );
    assert!(stack.entities("post").await.unwrap().is_empty());
}

#[tokio::test]
async fn a_revoked_connection_cannot_publish() {
    let (stack, connection) = connected(|_| {}).await;
    let stored = stack.stored("acme", &connection).await;
    let (tenant, id) = (stored.connection.tenant_id, stored.connection.id);
    stack
        .oauth
        .store
        .update(&tenant, id, |s| {
            Change::To(s.connection.revoked(
                &connector::domain::ConnectionReason::Disconnected,
                chrono::Utc::now(),
            ))
        })
        .await
        .unwrap();
    let (status, body) = stack
        .create_post(
            "acme",
            json!({ "connection_id": connection, "text": "x" }),
            None,
        )
        .await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (400, Some("connection_id"))
    );
}

#[tokio::test]
async fn posts_are_isolated_per_tenant() {
    let (stack, connection) = connected(|_| {}).await;
    let id = stack.publish_text("acme", &connection, "mine").await;
    let (status, _) = stack.get("globex", &format!("/v1/posts/{id}")).await;
    assert_eq!(status, 404);
    let (_, list) = stack.get("globex", "/v1/posts").await;
    assert_eq!(list["posts"], json!([]));
    let (status, _) = stack.delete_post("globex", &id).await;
    assert_eq!(status, 404);
    let (_, list) = stack.get("acme", "/v1/posts").await;
    assert_eq!(list["posts"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn an_idempotency_key_returns_the_same_post_and_refuses_a_different_body() {
    let (stack, connection) = connected(|o| o.run_publisher = false).await;
    let body = json!({ "connection_id": connection, "text": "once" });
    let (s1, a) = stack.create_post("acme", body.clone(), Some("key-1")).await;
    // Same content, keys in another order: the same request.
    let reordered = json!({ "text": "once", "connection_id": connection });
    let (s2, b) = stack.create_post("acme", reordered, Some("key-1")).await;
    assert_eq!((s1, s2), (202, 202));
    assert_eq!(a["id"], b["id"]);
    let (s3, c) = stack
        .create_post(
            "acme",
            json!({ "connection_id": connection, "text": "twice" }),
            Some("key-1"),
        )
        .await;
    assert_eq!((s3, c["error"]["code"].as_str()), (409, Some("conflict")));
    assert_eq!(stack.entities("post").await.unwrap().len(), 1);
    // Keys are per tenant.
    let (s4, d) = stack.create_post("acme", body, Some("key-2")).await;
    assert_eq!(s4, 202);
    assert_ne!(d["id"], a["id"]);
}

#[tokio::test]
async fn a_post_that_cannot_be_enqueued_is_not_left_behind() {
    let (stack, connection) = connected(|o| {
        o.run_publisher = false;
        o.settings.insert(
            "PUBLISH_QUEUE_URL".into(),
            "http://127.0.0.1:1/000000000000/missing".into(),
        );
    })
    .await;
    let (status, body) = stack
        .create_post(
            "acme",
            json!({ "connection_id": connection, "text": "x" }),
            Some("k"),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (503, Some("unavailable"))
    );
    assert!(stack.entities("post").await.unwrap().is_empty());
    assert!(
        stack.entities("idempotency_key").await.unwrap().is_empty(),
        "the key can be used again"
    );
}

#[tokio::test]
async fn a_job_delivered_twice_even_at_the_same_moment_publishes_once() {
    let (stack, connection) = connected(|o| o.run_publisher = false).await;
    let id = stack
        .publish_text("acme", &connection, "exactly once")
        .await;
    let now = Utc::now();
    // Two invocations at once, each with a copy, and a third copy later.
    let (a, b) = tokio::join!(
        publisher_function::handle(
            batch(vec![job_message("acme", &id, "m1", now)]),
            &stack.publisher,
            connector::deadline::Deadline::none()
        ),
        publisher_function::handle(
            batch(vec![job_message("acme", &id, "m2", now)]),
            &stack.publisher,
            connector::deadline::Deadline::none()
        ),
    );
    assert!(a.batch_item_failures.is_empty() && b.batch_item_failures.is_empty());
    let late = publisher_function::handle(
        batch(vec![job_message("acme", &id, "m3", now)]),
        &stack.publisher,
        connector::deadline::Deadline::none(),
    )
    .await;
    assert!(late.batch_item_failures.is_empty());

    assert_eq!(stack.simulator().count("POST", "/rest/posts"), 1);
    assert_eq!(stack.simulator().live_posts().len(), 1);
    let (_, post) = stack.get("acme", &format!("/v1/posts/{id}")).await;
    assert_eq!(post["status"], "published");
    assert_eq!(post["attempts"], 1);
}

#[tokio::test]
async fn an_unknown_outcome_is_resolved_through_linkedins_duplicate_answer() {
    let (stack, connection) = connected(|_| {}).await;
    // LinkedIn makes the post, then answers 500: we cannot know it worked.
    stack.simulator().inject(
        Fault::status("POST", "/rest/posts", 500)
            .times(1)
            .after_handling(),
    );
    let id = stack
        .publish_text("acme", &connection, "did it work?")
        .await;
    let post = stack
        .wait_for_post("acme", &id, &["published", "failed"], SLOW)
        .await;
    assert_eq!(post["status"], "published", "{post}");
    let live = stack.simulator().live_posts();
    assert_eq!(live.len(), 1, "never posted twice");
    assert_eq!(
        post["linkedin_urn"],
        live[0].urn.as_str(),
        "the URN LinkedIn named as the original"
    );
    assert_eq!(post["attempts"], 2);
    assert_eq!(stack.simulator().count("POST", "/rest/posts"), 2);
}

#[tokio::test]
async fn a_timeout_after_sending_is_resolved_too() {
    let (stack, connection) = connected(|o| {
        o.settings
            .insert("LINKEDIN_TIMEOUT_SECONDS".into(), "1".into());
    })
    .await;
    let mut slow = Fault::delay("POST", "/rest/posts", Duration::from_millis(1500)).times(1);
    slow.status = Some(201);
    stack.simulator().inject(slow.after_handling());
    let id = stack
        .publish_text("acme", &connection, "slow LinkedIn")
        .await;
    let post = stack
        .wait_for_post("acme", &id, &["published", "failed"], SLOW)
        .await;
    assert_eq!(post["status"], "published", "{post}");
    assert_eq!(stack.simulator().live_posts().len(), 1);
}

#[tokio::test]
async fn content_linkedin_already_has_fails_with_the_existing_urn_named() {
    let (stack, connection) = connected(|_| {}).await;
    let first = stack.publish_text("acme", &connection, "same words").await;
    stack
        .wait_for_post("acme", &first, &["published"], SLOW)
        .await;
    let second = stack.publish_text("acme", &connection, "same words").await;
    let post = stack
        .wait_for_post("acme", &second, &["failed"], SLOW)
        .await;
    assert_eq!(post["last_error"]["code"], "DUPLICATE_CONTENT");
    let existing = stack.simulator().live_posts()[0].urn.clone();
    assert!(post["last_error"]["message"]
        .as_str()
        .unwrap()
        .contains(&existing));
}

#[tokio::test]
async fn client_errors_fail_at_once_with_a_dlq_record() {
    for (status, code) in [
        (400, "VALIDATION_ERROR"),
        (403, "FORBIDDEN"),
        (404, "NOT_FOUND"),
        (422, "VALIDATION_ERROR"),
    ] {
        let (stack, connection) = connected(|_| {}).await;
        stack
            .simulator()
            .inject(
                Fault::status("POST", "/rest/posts", status).body(
                    json!({"status": status, "serviceErrorCode": 100, "message": "refused"})
                        .to_string(),
                ),
            );
        let id = stack.publish_text("acme", &connection, "refused").await;
        let post = stack.wait_for_post("acme", &id, &["failed"], SLOW).await;
        assert_eq!(post["last_error"]["code"], code, "{status}");
        assert_eq!(post["attempts"], 1, "{status}: no retry");
        let records = stack
            .publisher
            .posts
            .dlq_records(
                &TenantId::parse("acme").unwrap(),
                &Default::default(),
                10,
                None,
            )
            .await
            .unwrap()
            .0;
        assert_eq!(records.len(), 1);
        let r = &records[0];
        let (_, listed) = stack.get("acme", "/v1/dlq-records").await;
        assert_eq!(
            listed["records"][0]["error_code"], code,
            "reviewable over the API"
        );
        let (_, other) = stack.get("globex", "/v1/dlq-records").await;
        assert_eq!(other["records"], json!([]), "per tenant");
        assert_eq!(
            (
                r.error_code.as_str(),
                r.action.as_str(),
                r.platform.as_str()
            ),
            (code, "publish", "linkedin")
        );
        assert_eq!(r.retry_count, 1);
        assert_eq!(r.connection_id.to_string(), connection);
        assert_eq!(r.payload["text"], "refused");
        assert!(r.first_attempt.is_some() && r.last_attempt.is_some() && !r.reason.is_empty());
    }
}

#[tokio::test]
async fn server_errors_are_retried_with_backoff_then_publish() {
    let (stack, connection) = connected(|_| {}).await;
    stack
        .simulator()
        .inject(Fault::status("POST", "/rest/posts", 503).times(2));
    let id = stack
        .publish_text("acme", &connection, "third time lucky")
        .await;
    let post = stack
        .wait_for_post("acme", &id, &["published", "failed"], SLOW)
        .await;
    assert_eq!(post["status"], "published", "{post}");
    assert_eq!(post["attempts"], 3);
    let tries: Vec<_> = stack
        .simulator()
        .requests()
        .into_iter()
        .filter(|r| r.path == "/rest/posts")
        .collect();
    assert_eq!(tries.len(), 3);
    // Exponential: ≥ 1 s before the second try, ≥ 2 s before the third.
    assert!(tries[1].at - tries[0].at >= chrono::Duration::milliseconds(1000));
    assert!(tries[2].at - tries[1].at >= chrono::Duration::milliseconds(2000));
}

#[tokio::test]
async fn retries_stop_after_four_attempts() {
    // A failure that proves nothing was applied (429: LinkedIn refused before acting), so
    // giving up cannot report a live post as failed.
    let (stack, connection) = connected(|_| {}).await;
    let mut throttle = Fault::status("POST", "/rest/posts", 429);
    throttle.headers = vec![("retry-after".into(), "1".into())];
    stack.simulator().inject(throttle);
    let id = stack.publish_text("acme", &connection, "never").await;
    let post = stack
        .wait_for_post("acme", &id, &["failed"], Duration::from_secs(60))
        .await;
    assert_eq!(post["attempts"], 4);
    assert_eq!(post["last_error"]["code"], "RATE_LIMIT_EXHAUSTED");
    assert_eq!(stack.simulator().count("POST", "/rest/posts"), 4);
}

#[tokio::test]
async fn a_throttled_post_waits_as_long_as_retry_after_says() {
    let (stack, connection) = connected(|_| {}).await;
    let mut throttle = Fault::status("POST", "/rest/posts", 429).times(1);
    throttle.headers = vec![("retry-after".into(), "3".into())];
    stack.simulator().inject(throttle);
    let id = stack.publish_text("acme", &connection, "patience").await;
    stack.wait_for_post("acme", &id, &["published"], SLOW).await;
    let tries: Vec<_> = stack
        .simulator()
        .requests()
        .into_iter()
        .filter(|r| r.path == "/rest/posts")
        .collect();
    assert!(tries[1].at - tries[0].at >= chrono::Duration::milliseconds(3000));
}

#[tokio::test]
async fn a_retired_api_version_fails_naming_the_setting_to_change() {
    let (stack, connection) = connected(|o| {
        o.settings
            .insert("LINKEDIN_API_VERSION".into(), "202001".into());
    })
    .await;
    let id = stack.publish_text("acme", &connection, "old version").await;
    let post = stack.wait_for_post("acme", &id, &["failed"], SLOW).await;
    assert_eq!(post["last_error"]["code"], "API_VERSION_RETIRED");
    assert!(post["last_error"]["message"]
        .as_str()
        .unwrap()
        .contains("LINKEDIN_API_VERSION"));
}

#[tokio::test]
async fn a_401_refreshes_the_token_once_then_publishes() {
    let (stack, connection) = connected(|o| o.token_propagation_window = Duration::ZERO).await;
    stack.simulator().inject(
        Fault::status("POST", "/rest/posts", 401)
            .body(json!({"status": 401, "serviceErrorCode": 65600, "message": "Invalid access token"}).to_string())
            .times(1),
    );
    let id = stack
        .publish_text("acme", &connection, "after a refresh")
        .await;
    let post = stack
        .wait_for_post("acme", &id, &["published", "failed"], SLOW)
        .await;
    assert_eq!(post["status"], "published", "{post}");
    assert_eq!(
        stack.simulator().count("POST", "/oauth/v2/accessToken"),
        2,
        "the connect, then one refresh"
    );
    let issued = stack.simulator().issued_tokens();
    assert_eq!(issued.len(), 2);
    assert_eq!(
        issued[1].refresh_token, issued[0].refresh_token,
        "same refresh token kept"
    );
    assert_eq!(stack.connections("acme").await[0]["status"], "healthy");
}

#[tokio::test]
async fn a_401_on_a_token_still_propagating_is_waited_out_without_refreshing() {
    let (stack, connection) = connected(|_| {}).await;
    stack.simulator().inject(
        Fault::status("POST", "/rest/posts", 401)
            .body(json!({"status": 401, "serviceErrorCode": 65601, "code": "REVOKED_ACCESS_TOKEN", "message": "The token used in the request has been revoked by the user"}).to_string())
            .times(1),
    );
    let id = stack
        .publish_text("acme", &connection, "not yet propagated")
        .await;
    let post = stack
        .wait_for_post("acme", &id, &["published", "failed"], SLOW)
        .await;
    assert_eq!(post["status"], "published", "{post}");
    assert_eq!(
        stack.simulator().count("POST", "/oauth/v2/accessToken"),
        1,
        "no refresh: the token was seconds old"
    );
}

#[tokio::test]
async fn a_failed_refresh_puts_the_connection_in_attention_and_the_job_in_the_dlq() {
    let (stack, connection) = connected(|o| o.token_propagation_window = Duration::ZERO).await;
    stack.simulator().revoke_member("sim-ada-7f3k");
    let id = stack.publish_text("acme", &connection, "revoked").await;
    let post = stack.wait_for_post("acme", &id, &["failed"], SLOW).await;
    assert_eq!(post["last_error"]["code"], "UNRETRYABLE_AUTH");
    let c = &stack.connections("acme").await[0];
    assert_eq!(c["status"], "attention");
    assert!(c["reason"].as_str().unwrap().contains("reconnect"));
    let records = stack
        .publisher
        .posts
        .dlq_records(
            &TenantId::parse("acme").unwrap(),
            &Default::default(),
            10,
            None,
        )
        .await
        .unwrap()
        .0;
    assert_eq!(records[0].error_code, "UNRETRYABLE_AUTH");
}

#[tokio::test]
async fn an_image_post_uploads_to_the_url_linkedin_gave_and_waits_for_processing() {
    let (stack, connection) =
        connected(|o| o.simulator.media_processing = Duration::from_secs(2)).await;
    let image = stack.cdn.url("/img/launch.png");
    let (status, body) = stack
        .create_post(
            "acme",
            json!({ "connection_id": connection, "text": "With a picture", "media": [{ "type": "image", "url": image, "alt_text": "our launch" }] }),
            None,
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let post = stack
        .wait_for_post(
            "acme",
            body["id"].as_str().unwrap(),
            &["published", "failed"],
            SLOW,
        )
        .await;
    assert_eq!(post["status"], "published", "{post}");
    assert_eq!(
        post["attempts"], 1,
        "waiting for processing is not a failed attempt"
    );
    let images = stack.simulator().images();
    assert_eq!(images.len(), 1, "uploaded once");
    assert!(images[0].bytes > 0);
    let live = stack.simulator().live_posts();
    assert_eq!(live[0].media, vec![images[0].urn.clone()]);
    // The upload went to the media host LinkedIn named (localhost), not the API host.
    assert_eq!(stack.simulator().count("PUT", "/_media/upload/"), 1);
    assert!(
        stack.simulator().count("GET", "/rest/images/") >= 2,
        "polled until AVAILABLE"
    );
}

#[tokio::test]
async fn the_legacy_dialect_uploads_assets() {
    let (stack, connection) = connected(|o| {
        o.settings.insert("LINKEDIN_POSTS_API".into(), "ugc".into());
    })
    .await;
    let urls: Vec<_> = ["/img/a.png", "/img/b.png"]
        .iter()
        .map(|p| json!({ "type": "image", "url": stack.cdn.url(p) }))
        .collect();
    let (_, body) = stack
        .create_post(
            "acme",
            json!({ "connection_id": connection, "text": "Two pictures", "media": urls }),
            None,
        )
        .await;
    let post = stack
        .wait_for_post(
            "acme",
            body["id"].as_str().unwrap(),
            &["published", "failed"],
            SLOW,
        )
        .await;
    assert_eq!(post["status"], "published", "{post}");
    let live = stack.simulator().live_posts();
    assert_eq!(live[0].media.len(), 2);
    assert!(live[0].media[0].starts_with("urn:li:digitalmediaAsset:"));
}

#[tokio::test]
async fn images_that_are_not_images_too_big_or_internal_fail_the_post() {
    let (stack, connection) = connected(|o| {
        o.settings.insert("MEDIA_MAX_BYTES".into(), "100000".into());
    })
    .await;
    // (A redirect is not told apart from a host that failed: see security.rs.)
    for path in ["/page.html", "/big.png"] {
        let url = stack.cdn.url(path);
        let (_, body) = stack.create_post("acme", json!({ "connection_id": connection, "text": format!("bad {path}"), "media": [{ "type": "image", "url": url }] }), None).await;
        let post = stack
            .wait_for_post("acme", body["id"].as_str().unwrap(), &["failed"], SLOW)
            .await;
        assert_eq!(
            post["last_error"]["code"], "MEDIA_REJECTED",
            "{path}: {post}"
        );
    }
    assert!(stack.simulator().live_posts().is_empty());

    let (guarded, connection) = connected(|o| {
        o.settings
            .insert("MEDIA_ALLOW_PRIVATE_HOSTS".into(), "false".into());
    })
    .await;
    let url = guarded.cdn.url("/img/a.png");
    let (_, body) = guarded.create_post("acme", json!({ "connection_id": connection, "text": "ssrf", "media": [{ "type": "image", "url": url }] }), None).await;
    let post = guarded
        .wait_for_post("acme", body["id"].as_str().unwrap(), &["failed"], SLOW)
        .await;
    assert_eq!(
        post["last_error"]["message"],
        "the image's host is not allowed: it is not a public internet address",
        "{post}"
    );
    assert_eq!(guarded.simulator().count("POST", "/rest/images"), 0);
}

#[tokio::test]
async fn deleting_a_published_post_deletes_it_at_linkedin_once() {
    let (stack, connection) = connected(|_| {}).await;
    let id = stack.publish_text("acme", &connection, "short-lived").await;
    stack.wait_for_post("acme", &id, &["published"], SLOW).await;

    let (status, body) = stack.delete_post("acme", &id).await;
    assert_eq!(status, 202, "{body}");
    let post = stack.wait_for_post("acme", &id, &["deleted"], SLOW).await;
    assert!(post["deleted_at"].is_string());
    assert!(stack.simulator().live_posts().is_empty());
    let (status, again) = stack.delete_post("acme", &id).await;
    assert_eq!(
        (status, again["status"].as_str()),
        (200, Some("deleted")),
        "a second DELETE changes nothing"
    );
    assert_eq!(stack.simulator().count("DELETE", "/rest/posts/"), 1);
}

#[tokio::test]
async fn a_post_already_gone_at_linkedin_ends_as_deleted() {
    let (stack, connection) = connected(|_| {}).await;
    let id = stack
        .publish_text("acme", &connection, "removed by hand")
        .await;
    stack.wait_for_post("acme", &id, &["published"], SLOW).await;
    // Deleted at LinkedIn already (204 again), then one LinkedIn no longer knows (404).
    stack
        .simulator()
        .inject(Fault::status("DELETE", "/rest/posts/", 404).times(1));
    stack.delete_post("acme", &id).await;
    stack.wait_for_post("acme", &id, &["deleted"], SLOW).await;

    let id2 = stack
        .publish_text("acme", &connection, "deleted twice")
        .await;
    stack
        .wait_for_post("acme", &id2, &["published"], SLOW)
        .await;
    let token = stack.simulator().issued_tokens()[0].access_token.clone();
    let urn = stack.simulator().live_posts()[0].urn.clone();
    let encoded: String = url::form_urlencoded::byte_serialize(urn.as_bytes()).collect();
    for _ in 0..2 {
        let r = http()
            .delete(
                stack
                    .simulator()
                    .base_url()
                    .join(&format!("/rest/posts/{encoded}"))
                    .unwrap(),
            )
            .bearer_auth(&token)
            .header(
                "LinkedIn-Version",
                connector::config::DEFAULT_LINKEDIN_API_VERSION,
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204, "deleting a deleted post answers 204");
    }
    stack.delete_post("acme", &id2).await;
    stack.wait_for_post("acme", &id2, &["deleted"], SLOW).await;
}

#[tokio::test]
async fn a_queued_post_can_be_cancelled_and_then_never_publishes() {
    let (stack, connection) = connected(|o| o.run_publisher = false).await;
    let id = stack
        .publish_text("acme", &connection, "changed my mind")
        .await;
    let (status, body) = stack.delete_post("acme", &id).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("cancelled")));
    let r = publisher_function::handle(
        batch(vec![job_message("acme", &id, "m1", Utc::now())]),
        &stack.publisher,
        connector::deadline::Deadline::none(),
    )
    .await;
    assert!(r.batch_item_failures.is_empty());
    assert_eq!(stack.simulator().count("POST", "/rest/posts"), 0);
}

#[tokio::test]
async fn a_job_older_than_seven_days_goes_to_the_dlq() {
    let (stack, connection) = connected(|o| o.run_publisher = false).await;
    let id = stack.publish_text("acme", &connection, "stale").await;
    let old = Utc::now() - chrono::Duration::days(8);
    publisher_function::handle(
        batch(vec![job_message("acme", &id, "m1", old)]),
        &stack.publisher,
        connector::deadline::Deadline::none(),
    )
    .await;
    let (_, post) = stack.get("acme", &format!("/v1/posts/{id}")).await;
    assert_eq!(post["status"], "failed");
    assert_eq!(post["last_error"]["code"], "JOB_EXPIRED");
    assert_eq!(stack.simulator().count("POST", "/rest/posts"), 0);
}

#[tokio::test]
async fn a_message_that_keeps_crashing_the_publisher_is_redriven_to_the_dlq() {
    let stack = test_stack(|o| o.queue_visibility = Duration::from_secs(1)).await;
    let sqs = aws_sdk_sqs::Client::new(&stack.sdk);
    sqs.send_message()
        .queue_url(stack.config.publish_queue_url.as_deref().unwrap())
        .message_body("not a job")
        .send()
        .await
        .unwrap();
    let started = Instant::now();
    loop {
        let out = sqs
            .receive_message()
            .queue_url(&stack.dlq_url)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        if let Some(m) = out.messages.unwrap_or_default().first() {
            assert_eq!(m.body(), Some("not a job"));
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "never redriven"
        );
    }
}

#[tokio::test]
async fn posts_are_listed_by_connection_and_status() {
    let (stack, connection) = connected(|o| o.run_publisher = false).await;
    let a = stack.publish_text("acme", &connection, "one").await;
    stack.publish_text("acme", &connection, "two").await;
    stack.delete_post("acme", &a).await;
    let (_, queued) = stack
        .get(
            "acme",
            &format!("/v1/posts?connection_id={connection}&status=queued"),
        )
        .await;
    assert_eq!(queued["posts"].as_array().unwrap().len(), 1);
    let (_, cancelled) = stack.get("acme", "/v1/posts?status=cancelled").await;
    assert_eq!(cancelled["posts"][0]["id"], a.as_str());
    let (status, body) = stack.get("acme", "/v1/posts?status=done").await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (400, Some("status"))
    );
}

#[tokio::test]
async fn a_wait_longer_than_sqs_allows_goes_through_a_one_time_schedule() {
    let (stack, connection) = connected(|_| {}).await;
    // LinkedIn asks for almost 14 hours: more than a message can stay invisible (12 h).
    let mut throttle = Fault::status("POST", "/rest/posts", 429).times(1);
    throttle.headers = vec![("retry-after".into(), "50000".into())];
    stack.simulator().inject(throttle);
    let id = stack
        .publish_text("acme", &connection, "after the daily reset")
        .await;

    let scheduler = aws_sdk_scheduler::Client::new(&stack.sdk);
    let settings = stack.config.require_schedules().unwrap();
    let started = Instant::now();
    let name = loop {
        let listed = scheduler
            .list_schedules()
            .group_name(&settings.group)
            .send()
            .await
            .unwrap();
        if let Some(s) = listed
            .schedules()
            .iter()
            .find(|s| s.name().unwrap_or_default().contains(&id))
        {
            break s.name().unwrap().to_owned();
        }
        assert!(started.elapsed() < SLOW, "no schedule was created");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let schedule = scheduler
        .get_schedule()
        .group_name(&settings.group)
        .name(&name)
        .send()
        .await
        .unwrap();
    let expression = schedule.schedule_expression().unwrap();
    let at = local_stack::scheduler::at_time(expression).unwrap();
    let wait = at - Utc::now();
    assert!(
        wait > chrono::Duration::hours(13) && wait < chrono::Duration::hours(14),
        "{expression}"
    );
    let target = schedule.target().unwrap();
    assert_eq!(target.arn(), settings.queue_arn);
    let job: Job = serde_json::from_str(target.input().unwrap()).unwrap();
    assert_eq!(
        (job.post_id.to_string(), job.action),
        (id.clone(), JobAction::Publish)
    );
    assert_eq!(
        schedule.action_after_completion().map(|a| a.as_str()),
        Some("DELETE")
    );

    // The message itself is done: nothing is redelivered before the schedule fires.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(stack.simulator().count("POST", "/rest/posts"), 1);
    let (_, post) = stack.get("acme", &format!("/v1/posts/{id}")).await;
    assert_eq!(post["status"], "queued");
    assert_eq!(post["last_error"]["code"], "RATE_LIMITED");
}
