//! What `POST /v1/posts` accepts beside text, through the gateway: refusals name their field
//! and record nothing; mentions become markup LinkedIn reads as names; a post for later comes
//! back with the warnings the tenant can still act on.

use chrono::{Duration, Utc};
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn content_breaking_linkedin_s_rules_is_refused_naming_the_field_and_nothing_is_recorded() {
    let (stack, connection) = connected(|_| {}).await;
    let before = stack.scan_table().await.unwrap();
    let image = json!({"type": "image", "url": "https://cdn.example.com/a.png"});
    for (body, field) in [
        (
            json!({"media": [image, {"type": "document", "url": "https://cdn.example.com/d.pdf", "title": "D"}]}),
            "media",
        ),
        (
            json!({"media": [{"type": "document", "url": "https://cdn.example.com/d.pdf"}]}),
            "media",
        ),
        (
            json!({"article": {"url": "https://example.com"}, "media": [image]}),
            "article",
        ),
        (
            json!({"poll": {"question": "Q?", "options": ["only"], "duration": "1d"}}),
            "poll",
        ),
        (
            json!({"mentions": [{"name": "Nobody", "urn": "urn:li:person:x"}]}),
            "mentions",
        ),
        (json!({"first_comment": {"text": ""}}), "first_comment"),
    ] {
        let mut request = json!({"connection_id": connection, "text": "Hello Ada"});
        for (k, v) in body.as_object().unwrap() {
            request[k] = v.clone();
        }
        let (status, answer) = stack.create_post("acme", request, None).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert_eq!(answer["error"]["field"], field, "{body}: {answer}");
    }
    let after = stack.scan_table().await.unwrap();
    type Item = std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>;
    let posts = |items: &[Item]| {
        items
            .iter()
            .filter(|i| {
                i.get("SK")
                    .and_then(|v| v.as_s().ok())
                    .is_some_and(|s| s.starts_with("POST#"))
            })
            .count()
    };
    assert_eq!(posts(&after), posts(&before), "nothing recorded");
    assert_eq!(stack.simulator().count("POST", "/rest/posts"), 0);
}

#[tokio::test]
async fn the_legacy_dialect_refuses_a_kind_it_cannot_carry_naming_linkedin_posts_api() {
    let (stack, connection) = connected(|o| {
        o.settings.insert("LINKEDIN_POSTS_API".into(), "ugc".into());
    })
    .await;
    let (status, answer) = stack
        .create_post(
            "acme",
            json!({"connection_id": connection, "text": "Vote",
                   "poll": {"question": "Which?", "options": ["A", "B"], "duration": "3d"}}),
            None,
        )
        .await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["error"]["field"], "poll");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(message.contains("LINKEDIN_POSTS_API"), "{message}");
}

#[tokio::test]
async fn mentions_by_name_reach_linkedin_as_names_and_hashtags_stay_hashtags() {
    let (stack, connection) = connected(|_| {}).await;
    let (status, body) = stack
        .create_post(
            "acme",
            json!({"connection_id": connection,
                   "text": "Thanks Grace Hopper (and @[Ada Lovelace](urn:li:person:sim-ada-7f3k)) #rust {hashtag|\\#|lambda} C# a@b",
                   "mentions": [{"name": "Grace Hopper", "urn": "urn:li:person:grace-1"}]}),
            None,
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let post = stack
        .wait_for_post("acme", body["id"].as_str().unwrap(), &["published"], SLOW)
        .await;
    assert_eq!(
        post["text"],
        "Thanks @[Grace Hopper](urn:li:person:grace-1) (and @[Ada Lovelace](urn:li:person:sim-ada-7f3k)) #rust {hashtag|\\#|lambda} C# a@b"
    );
    let live = stack.simulator().live_posts();
    assert_eq!(
        live[0].commentary, "Thanks Grace Hopper (and Ada Lovelace) #rust #lambda C# a@b",
        "every other reserved character escaped, so nothing was cut"
    );
}

#[tokio::test]
async fn a_post_for_later_is_warned_when_the_member_must_reconnect_before_its_time() {
    let (stack, connection) = connected(|o| o.simulator.issue_refresh_tokens = false).await;
    let (_, shown) = stack
        .get("acme", &format!("/v1/connections/{connection}"))
        .await;
    let access_ends =
        chrono::DateTime::parse_from_rfc3339(shown["access_token_expires_at"].as_str().unwrap())
            .unwrap();
    let before = (access_ends - Duration::days(1)).with_timezone(&Utc);
    let after = (access_ends + Duration::days(1)).with_timezone(&Utc);
    let schedule = |at: chrono::DateTime<Utc>| {
        json!({"connection_id": connection, "text": "Later",
               "scheduled_at": at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)})
    };
    let (status, early) = stack.create_post("acme", schedule(before), None).await;
    assert_eq!(status, 202, "{early}");
    assert!(early.get("warnings").is_none(), "{early}");
    let (status, late) = stack.create_post("acme", schedule(after), None).await;
    assert_eq!(status, 202, "accepted all the same: {late}");
    assert_eq!(
        late["warnings"][0]["code"], "RECONNECT_BEFORE_PUBLISH",
        "{late}"
    );
    let (_, post) = stack
        .get(
            "acme",
            &format!("/v1/posts/{}", late["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(post["warnings"], late["warnings"]);
}

#[tokio::test]
async fn a_post_for_a_day_the_member_already_has_150_posts_is_warned() {
    let (stack, connection) = connected(|_| {}).await;
    let day = Utc::now() + Duration::days(2);
    // 150 posts on that UTC day; the day's counter is what the warning reads. (Within the
    // tenant's default limits: 25 requests a second is kept by pacing.)
    let day_start = day.date_naive().and_hms_opt(0, 0, 0).unwrap().and_utc();
    for i in 0..150 {
        let scheduled =
            (day_start + Duration::minutes(i)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let (status, answer) = stack
            .create_post(
                "acme",
                json!({"connection_id": connection, "text": format!("Post {i}"), "scheduled_at": scheduled}),
                None,
            )
            .await;
        assert_eq!(status, 202, "{answer}");
        assert!(answer.get("warnings").is_none(), "post {i}: {answer}");
        if i % 20 == 19 {
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
    }
    let next_day = (day_start + Duration::days(1) + Duration::hours(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let (status, other_day) = stack
        .create_post(
            "acme",
            json!({"connection_id": connection, "text": "Next day", "scheduled_at": next_day}),
            None,
        )
        .await;
    assert_eq!(status, 202);
    assert!(other_day.get("warnings").is_none(), "{other_day}");
    let (status, answer) = stack
        .create_post(
            "acme",
            json!({"connection_id": connection, "text": "One too many",
                   "scheduled_at": (day_start + Duration::hours(23)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)}),
            None,
        )
        .await;
    assert_eq!(status, 202);
    assert_eq!(
        answer["warnings"][0]["code"], "MEMBER_DAILY_LIMIT",
        "{answer}"
    );
}

#[tokio::test]
async fn a_mention_of_an_organization_linkedin_does_not_know_fails_the_post_before_it_is_sent() {
    let (stack, connection) = connected(|o| {
        o.settings.insert(
            "LINKEDIN_SCOPES".into(),
            "openid profile email w_member_social rw_organization_admin".into(),
        );
    })
    .await;
    let post = |text: &str| json!({"connection_id": connection, "text": text});
    let (_, known) = stack
        .create_post("acme", post("With @[Acme](urn:li:organization:1001)"), None)
        .await;
    let known = stack
        .wait_for_post("acme", known["id"].as_str().unwrap(), &["published"], SLOW)
        .await;
    assert!(known["linkedin_urn"].is_string());
    let (_, unknown) = stack
        .create_post(
            "acme",
            post("With @[Nobody](urn:li:organization:424242)"),
            None,
        )
        .await;
    let unknown = stack
        .wait_for_post("acme", unknown["id"].as_str().unwrap(), &["failed"], SLOW)
        .await;
    assert_eq!(
        unknown["last_error"]["code"], "MENTION_UNKNOWN",
        "{unknown}"
    );
    let sim = stack.simulator();
    assert_eq!(
        sim.count("GET", "/rest/organizationsLookup"),
        2,
        "one lookup per post"
    );
    assert_eq!(
        sim.live_posts().len(),
        1,
        "the unknown mention was never sent"
    );
}

#[tokio::test]
async fn without_a_scope_to_look_organizations_up_a_mention_goes_out_unchecked() {
    let (stack, connection) = connected(|_| {}).await;
    let (_, body) = stack
        .create_post(
            "acme",
            json!({"connection_id": connection, "text": "With @[Nobody](urn:li:organization:424242)"}),
            None,
        )
        .await;
    stack
        .wait_for_post("acme", body["id"].as_str().unwrap(), &["published"], SLOW)
        .await;
}
