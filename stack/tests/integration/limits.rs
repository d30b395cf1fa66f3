//! One tenant cannot starve the others: each tenant's limits (requests per second, posts per
//! day, scheduled posts outstanding) answer 429 naming the limit while another tenant goes
//! through; LinkedIn's daily limits back off one member, or pause the whole application until
//! the reset and say so on the posts.

use std::time::Duration;

use linkedin_simulator::Member;
use local_stack::test_stack;
use serde_json::{json, Value};

use crate::support::*;

fn limited(status: u16, body: &Value, limit: &str) {
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"]["code"], "limit_reached", "{body}");
    assert_eq!(body["error"]["limit"], limit, "{body}");
}

#[tokio::test]
async fn a_tenant_over_its_requests_per_second_gets_429_while_another_goes_through() {
    let stack = test_stack(|o| {
        o.settings
            .insert("TENANT_REQUESTS_PER_SECOND".into(), "3".into());
    })
    .await;
    // 40 requests at once from one tenant: at 3 a second most are refused, each naming the
    // limit, with Retry-After.
    let burst = (0..40).map(|_| {
        stack
            .request(reqwest::Method::GET, "greedy", "/v1/connections")
            .send()
    });
    let answers = futures::future::join_all(burst).await;
    let mut refused = 0;
    for answer in answers {
        let answer = answer.unwrap();
        if answer.status() == 429 {
            refused += 1;
            assert_eq!(answer.headers()["retry-after"], "1");
            let body: Value = answer.json().await.unwrap();
            limited(429, &body, "requests_per_second");
        } else {
            assert_eq!(answer.status(), 200);
        }
    }
    assert!(refused >= 20, "only {refused} of 40 refused");
    // Another tenant is counted apart.
    for _ in 0..3 {
        let (status, body) = stack.get("modest", "/v1/connections").await;
        assert_eq!(status, 200, "{body}");
    }
}

#[tokio::test]
async fn a_tenant_at_its_posts_per_day_gets_429_and_nothing_is_recorded_while_another_posts() {
    let stack = test_stack(|o| {
        o.settings.insert("TENANT_POSTS_PER_DAY".into(), "2".into());
    })
    .await;
    let acme = stack.connect("acme", None).await;
    let globex = stack.connect("globex", Some("sim-grace-9q2w")).await;
    let post = |connection: &str, text: &str| json!({ "connection_id": connection, "text": text });

    let first = stack.publish_text("acme", &acme, "one").await;
    let (status, _) = stack
        .create_post("acme", post(&acme, "two"), Some("key-two"))
        .await;
    assert_eq!(status, 202);
    let (status, body) = stack
        .create_post("acme", post(&acme, "three"), Some("key-three"))
        .await;
    limited(status, &body, "posts_per_day");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("2 posts per day"));
    let seconds = body["error"]["retry_after_seconds"].as_u64().unwrap();
    assert!(
        (1..=86_400).contains(&seconds),
        "until midnight UTC: {seconds}"
    );

    // Nothing half-written: two posts, and the refused key is free (it answers the same 429,
    // not a replay of a post that does not exist).
    let (_, list) = stack.get("acme", "/v1/posts").await;
    assert_eq!(list["posts"].as_array().unwrap().len(), 2, "{list}");
    let (status, body) = stack
        .create_post("acme", post(&acme, "three"), Some("key-three"))
        .await;
    limited(status, &body, "posts_per_day");
    // A replay of an accepted post is not a new post: still answered.
    let (status, replay) = stack
        .create_post("acme", post(&acme, "two"), Some("key-two"))
        .await;
    assert_eq!(status, 202, "{replay}");

    // The other tenant posts and publishes as usual.
    let theirs = stack.publish_text("globex", &globex, "theirs").await;
    stack
        .wait_for_post("globex", &theirs, &["published"], SLOW)
        .await;
    stack
        .wait_for_post("acme", &first, &["published"], SLOW)
        .await;
}

#[tokio::test]
async fn scheduled_posts_outstanding_are_limited_and_a_slot_frees_when_one_goes_out_or_is_cancelled(
) {
    let stack = test_stack(|o| {
        o.settings
            .insert("TENANT_SCHEDULED_POSTS_MAX".into(), "2".into());
    })
    .await;
    let acme = stack.connect("acme", None).await;
    let at = |minutes: i64| rfc3339(stack.now() + chrono::Duration::minutes(minutes));
    let schedule = |minutes: i64| json!({ "connection_id": acme, "text": format!("at +{minutes}"), "scheduled_at": at(minutes) });
    let (status, early) = stack.create_post("acme", schedule(30), None).await;
    assert_eq!(status, 202, "{early}");
    let (status, late) = stack.create_post("acme", schedule(600), None).await;
    assert_eq!(status, 202, "{late}");
    let (status, body) = stack.create_post("acme", schedule(700), None).await;
    limited(status, &body, "scheduled_posts");
    // Publishing now is not limited by it.
    stack.publish_text("acme", &acme, "now").await;

    // Cancelling one gives its slot back.
    let (status, _) = stack
        .delete_post("acme", late["id"].as_str().unwrap())
        .await;
    assert_eq!(status, 200);
    let (status, again) = stack.create_post("acme", schedule(700), None).await;
    assert_eq!(status, 202, "{again}");
    let (status, body) = stack.create_post("acme", schedule(800), None).await;
    limited(status, &body, "scheduled_posts");

    // One going out gives its slot back too.
    stack.advance(chrono::Duration::minutes(31));
    stack.scheduler.fire_due().await.unwrap();
    stack
        .wait_for_post("acme", early["id"].as_str().unwrap(), &["published"], SLOW)
        .await;
    let (status, body) = stack.create_post("acme", schedule(800), None).await;
    assert_eq!(status, 202, "{body}");
}

/// A member's 429 backs off that member's posts without sending them; three members throttled
/// in a row mean the application's limit: publishing pauses for everyone, the posts say
/// RATE_LIMITED and when publishing resumes, nothing is sent meanwhile, and at the reset the
/// posts go out.
#[tokio::test]
async fn linkedin_s_application_limit_pauses_publishing_until_the_reset_and_resumes() {
    let stack = test_stack(|o| {
        o.simulator.app_daily_post_limit = 1;
        // Long enough that no throttled post is retried while the test counts what was sent
        // (a loaded machine takes seconds for the three refusals).
        o.simulator.daily_limit_retry_after = Some(Duration::from_secs(20));
    })
    .await;
    let members = ["sim-m1", "sim-m2", "sim-m3", "sim-m4", "sim-m5"];
    let mut connections = Vec::new();
    for (i, sub) in members.iter().enumerate() {
        stack
            .simulator()
            .add_member(Member::named(sub, "Member", &i.to_string()));
        connections.push(stack.connect("acme", Some(sub)).await);
    }
    let posts_sent = || stack.simulator().count("POST", "/rest/posts");

    // The first uses the application's whole day.
    let first = stack.publish_text("acme", &connections[0], "first").await;
    stack
        .wait_for_post("acme", &first, &["published"], SLOW)
        .await;

    // The next three members each meet LinkedIn's 429: each is backed off, and together they
    // pause the application.
    let mut waiting = Vec::new();
    for (i, connection) in connections[1..4].iter().enumerate() {
        let id = stack
            .publish_text("acme", connection, &format!("throttled {i}"))
            .await;
        let post = wait_for_error(&stack, &id).await;
        assert_eq!(post["last_error"]["code"], "RATE_LIMITED", "{post}");
        waiting.push(id);
    }
    let sent_before_pause = posts_sent();
    assert_eq!(sent_before_pause, 4, "one published, three refused");

    // A fifth member's post is held back without being sent: the application is paused.
    let held = stack
        .publish_text("acme", &connections[4], "held back")
        .await;
    let post = wait_for_error(&stack, &held).await;
    assert_eq!(post["status"], "queued", "{post}");
    assert_eq!(post["last_error"]["code"], "RATE_LIMITED", "{post}");
    let message = post["last_error"]["message"].as_str().unwrap();
    assert!(message.contains("this application"), "{message}");
    let resumes = &post["next_attempt_at"].as_str().unwrap()[..19];
    assert!(message.contains(resumes), "says when it resumes: {post}");
    assert_eq!(
        post["attempts"], 0,
        "holding back is not an attempt: {post}"
    );
    assert_eq!(posts_sent(), sent_before_pause, "nothing sent while paused");
    // The throttled members' connections say until when.
    let connection = stack
        .get("acme", &format!("/v1/connections/{}", connections[1]))
        .await
        .1;
    assert!(connection["rate_limited_until"].is_string(), "{connection}");

    // LinkedIn's day turns (and this app's allowance covers the day's posts); at the reset
    // every waiting post goes out, once.
    stack.simulator().advance(Duration::from_secs(86_400));
    stack
        .simulator()
        .configure(|c| c.app_daily_post_limit = 100);
    for id in waiting.iter().chain([&held]) {
        stack
            .wait_for_post("acme", id, &["published"], SLOW * 2)
            .await;
    }
    assert_eq!(stack.simulator().live_posts().len(), 5);
}

/// One member at LinkedIn's daily limit: their next post is held back unsent until the reset,
/// while other members publish (the application is not paused by one member).
#[tokio::test]
async fn a_member_s_429_backs_off_that_member_only() {
    let stack = test_stack(|o| o.simulator.member_daily_post_limit = 1).await;
    let ada = stack.connect("acme", None).await;
    let grace = stack.connect("acme", Some("sim-grace-9q2w")).await;
    let posts_sent = || stack.simulator().count("POST", "/rest/posts");

    let first = stack.publish_text("acme", &ada, "first").await;
    stack
        .wait_for_post("acme", &first, &["published"], SLOW)
        .await;
    let refused = stack.publish_text("acme", &ada, "second").await;
    let post = wait_for_error(&stack, &refused).await;
    assert_eq!(post["last_error"]["code"], "RATE_LIMITED", "{post}");
    assert_eq!(posts_sent(), 2);

    let held = stack.publish_text("acme", &ada, "third").await;
    let post = wait_for_error(&stack, &held).await;
    let message = post["last_error"]["message"].as_str().unwrap();
    assert!(message.contains("this member"), "{message}");
    assert_eq!(post["attempts"], 0, "{post}");
    assert_eq!(
        posts_sent(),
        2,
        "the member's post was not sent into the same refusal"
    );

    let other = stack.publish_text("acme", &grace, "other member").await;
    stack
        .wait_for_post("acme", &other, &["published"], SLOW)
        .await;
    let connection = stack.get("acme", &format!("/v1/connections/{ada}")).await.1;
    assert!(connection["rate_limited_until"].is_string(), "{connection}");
    let connection = stack
        .get("acme", &format!("/v1/connections/{grace}"))
        .await
        .1;
    assert!(connection["rate_limited_until"].is_null(), "{connection}");
}

/// Polls until the post carries an error.
async fn wait_for_error(stack: &local_stack::LocalStack, id: &str) -> Value {
    let started = std::time::Instant::now();
    loop {
        let post = stack.post("acme", id).await;
        if !post["last_error"].is_null() {
            return post;
        }
        assert!(started.elapsed() < SLOW, "no error on {post}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
