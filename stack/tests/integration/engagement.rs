//! Engagement metrics every 24 hours: member posts through member post analytics,
//! organization posts through their organization's share statistics (batched), read while the
//! post is young enough; without the scopes a post says its metrics are unavailable, once.

use chrono::{Duration, Utc};
use linkedin_simulator::{Fault, PostStatistics};
use local_stack::test_stack;
use serde_json::{json, Value};

use crate::support::*;

const PAGES_CLIENT_ID: &str = "dev-pages-client-id";
const MEMBER_ANALYTICS: &str = "/rest/memberCreatorPostAnalytics";
const SHARE_STATISTICS: &str = "/rest/organizationalEntityShareStatistics";

async fn published(stack: &local_stack::LocalStack, body: Value) -> (String, String) {
    let (status, created) = stack.create_post("acme", body, None).await;
    assert_eq!(status, 202, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let post = stack.wait_for_post("acme", &id, &["published"], SLOW).await;
    (id, post["linkedin_urn"].as_str().unwrap().to_owned())
}

async fn metrics(stack: &local_stack::LocalStack, id: &str) -> Value {
    let (status, body) = stack.get("acme", &format!("/v1/posts/{id}/metrics")).await;
    assert_eq!(status, 200, "{body}");
    body
}

fn calls(stack: &local_stack::LocalStack) -> (usize, usize) {
    let sim = stack.simulator();
    (
        sim.count("GET", MEMBER_ANALYTICS),
        sim.count("GET", SHARE_STATISTICS),
    )
}

#[tokio::test]
async fn member_and_organization_posts_are_read_daily_while_they_are_young() {
    let stack = test_stack(|o| {
        o.token_propagation_window = std::time::Duration::ZERO;
        o.settings
            .insert("LINKEDIN_PAGES_CLIENT_ID".into(), PAGES_CLIENT_ID.into());
        o.settings.insert("METRICS_MAX_AGE_DAYS".into(), "3".into());
    })
    .await;
    let done = stack.gateway_url.join("/done").unwrap();
    let url = stack
        .authorization_url("acme", json!({"app": "pages", "redirect_after": done}))
        .await;
    let location = stack.consent_and_return(&url, None, true).await;
    let location = location.headers()["location"].to_str().unwrap().to_owned();
    let connection = query_param(&location, "connection_id").unwrap();
    let org = "urn:li:organization:1001";
    let (member, member_urn) = published(
        &stack,
        json!({"connection_id": connection, "text": "By me"}),
    )
    .await;
    let mut by_org = Vec::new();
    for text in ["Launch", "Hiring", "Quiet"] {
        by_org.push(
            published(
                &stack,
                json!({"connection_id": connection, "author": org, "text": text}),
            )
            .await,
        );
    }
    let sim = stack.simulator();
    sim.set_post_statistics(
        &member_urn,
        PostStatistics {
            impressions: 120,
            members_reached: 90,
            reactions: 7,
            comments: 3,
            shares: 2,
            ..Default::default()
        },
    );
    sim.set_post_statistics(
        &by_org[0].1,
        PostStatistics {
            impressions: 200,
            unique_impressions: 150,
            clicks: 9,
            reactions: 11,
            comments: 4,
            shares: 1,
            ..Default::default()
        },
    );
    sim.set_post_statistics(
        &by_org[1].1,
        PostStatistics {
            impressions: 40,
            unique_impressions: 30,
            reactions: 2,
            ..Default::default()
        },
    );
    // The third has no activity: LinkedIn leaves it out of its answer.

    // Not yet a day old: nothing is read.
    let start = Utc::now();
    stack.run_metrics_round(start).await.unwrap();
    assert_eq!(calls(&stack), (0, 0));
    assert!(stack.post("acme", &member).await["metrics"].is_null());

    // A day later: every post read, the member's with five calls, the organization's three
    // with one.
    stack
        .run_metrics_round(start + Duration::hours(25))
        .await
        .unwrap();
    assert_eq!(calls(&stack), (5, 1));
    let m = stack.post("acme", &member).await["metrics"].clone();
    assert_eq!(m["status"], "available", "{m}");
    assert_eq!(
        m["counts"],
        json!({"impressions": 120, "members_reached": 90, "reactions": 7, "comments": 3, "shares": 2})
    );
    let o = stack.post("acme", &by_org[0].0).await["metrics"].clone();
    assert_eq!(
        o["counts"],
        json!({"impressions": 200, "unique_impressions": 150, "clicks": 9, "reactions": 11, "comments": 4, "shares": 1, "engagement": 0.125})
    );
    let quiet = stack.post("acme", &by_org[2].0).await["metrics"].clone();
    assert_eq!(quiet["counts"]["impressions"], 0, "{quiet}");
    assert_eq!(quiet["counts"]["engagement"], 0.0);
    let history = metrics(&stack, &by_org[0].0).await;
    assert_eq!(history["history"].as_array().unwrap().len(), 1, "{history}");
    assert!(history["next_reading_at"].is_string());

    // A round run twice finds nothing more to read.
    stack
        .run_metrics_round(start + Duration::hours(25))
        .await
        .unwrap();
    assert_eq!(calls(&stack), (5, 1));

    // The next day: read again, the history grows.
    sim.set_post_statistics(
        &by_org[0].1,
        PostStatistics {
            impressions: 300,
            unique_impressions: 200,
            clicks: 12,
            reactions: 15,
            comments: 6,
            shares: 3,
            ..Default::default()
        },
    );
    stack
        .run_metrics_round(start + Duration::hours(49))
        .await
        .unwrap();
    assert_eq!(calls(&stack), (10, 2));
    let history = metrics(&stack, &by_org[0].0).await;
    let days = history["history"].as_array().unwrap();
    assert_eq!(days.len(), 2, "{history}");
    assert_eq!(days[0]["counts"]["impressions"], 200);
    assert_eq!(days[1]["counts"]["impressions"], 300);
    assert_eq!(history["metrics"]["counts"]["impressions"], 300);
    // Three days is the configured age: a post read at 49 hours is not read again.
    assert!(history["next_reading_at"].is_null(), "{history}");
    stack
        .run_metrics_round(start + Duration::hours(73))
        .await
        .unwrap();
    assert_eq!(calls(&stack), (10, 2));
    // Another tenant sees none of it.
    let (status, _) = stack
        .get("globex", &format!("/v1/posts/{member}/metrics"))
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn without_the_scopes_a_post_says_its_metrics_are_unavailable_once() {
    let (stack, connection) = connected(|o| {
        o.settings.insert(
            "LINKEDIN_SCOPES".into(),
            "openid profile email w_member_social r_organization_admin w_organization_social"
                .into(),
        );
    })
    .await;
    let (member, _) = published(
        &stack,
        json!({"connection_id": connection, "text": "No analytics"}),
    )
    .await;
    let (page, _) = published(&stack, json!({"connection_id": connection, "author": "urn:li:organization:1001", "text": "No statistics"})).await;
    let start = Utc::now();
    stack
        .run_metrics_round(start + Duration::hours(25))
        .await
        .unwrap();
    assert_eq!(calls(&stack), (0, 0), "nothing asked of LinkedIn");
    let m = stack.post("acme", &member).await;
    assert_eq!(m["metrics"]["status"], "unavailable", "{m}");
    assert!(m["metrics"]["reason"]
        .as_str()
        .unwrap()
        .contains("r_member_postAnalytics"));
    let p = stack.post("acme", &page).await;
    assert!(
        p["metrics"]["reason"]
            .as_str()
            .unwrap()
            .contains("ADMINISTRATOR"),
        "{p}"
    );
    // Said once: the next rounds neither ask nor write.
    stack
        .run_metrics_round(start + Duration::hours(49))
        .await
        .unwrap();
    let again = stack.post("acme", &member).await;
    assert_eq!(again["updated_at"], m["updated_at"]);
    assert_eq!(calls(&stack), (0, 0));
    assert!(metrics(&stack, &member).await["next_reading_at"].is_null());
}

#[tokio::test]
async fn a_reading_linkedin_cannot_give_now_waits_for_the_next_round() {
    let stack = test_stack(|o| {
        o.token_propagation_window = std::time::Duration::ZERO;
        o.settings
            .insert("LINKEDIN_PAGES_CLIENT_ID".into(), PAGES_CLIENT_ID.into());
    })
    .await;
    let done = stack.gateway_url.join("/done").unwrap();
    let url = stack
        .authorization_url("acme", json!({"app": "pages", "redirect_after": done}))
        .await;
    let location = stack.consent_and_return(&url, None, true).await;
    let location = location.headers()["location"].to_str().unwrap().to_owned();
    let connection = query_param(&location, "connection_id").unwrap();
    let (member, urn) = published(
        &stack,
        json!({"connection_id": connection, "text": "Later"}),
    )
    .await;
    stack.simulator().set_post_statistics(
        &urn,
        PostStatistics {
            impressions: 5,
            ..Default::default()
        },
    );
    stack
        .simulator()
        .inject(Fault::status("GET", MEMBER_ANALYTICS, 503).times(1));
    let start = Utc::now();
    stack
        .run_metrics_round(start + Duration::hours(25))
        .await
        .unwrap();
    assert!(stack.post("acme", &member).await["metrics"].is_null());
    // Still due: the next round reads it.
    stack
        .run_metrics_round(start + Duration::hours(26))
        .await
        .unwrap();
    let m = stack.post("acme", &member).await["metrics"].clone();
    assert_eq!(m["counts"]["impressions"], 5, "{m}");
    // A refusal (403) is an answer: unavailable, once.
    stack
        .simulator()
        .inject(Fault::status("GET", MEMBER_ANALYTICS, 403));
    stack
        .run_metrics_round(start + Duration::hours(50))
        .await
        .unwrap();
    let m = stack.post("acme", &member).await["metrics"].clone();
    assert_eq!(m["status"], "unavailable", "{m}");
    assert_eq!(m["reason"], "LinkedIn refused to give this post's metrics");
}
