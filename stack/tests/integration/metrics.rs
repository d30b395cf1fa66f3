//! What an operator's dashboard is drawn from: the EMF lines the functions write as they
//! work, read here from the test's own stack (each stack keeps its functions' lines apart
//! from the other tests').

use std::time::{Duration, Instant};

use linkedin_simulator::Fault;
use serde_json::{json, Value};

use crate::support::*;

/// The stack's EMF documents, each checked to be one: a JSON object whose `_aws` metadata
/// names the product's namespace and metrics present on the document.
fn documents(stack: &local_stack::LocalStack) -> Vec<Value> {
    stack
        .metric_lines()
        .iter()
        .map(|line| {
            let doc: Value = serde_json::from_str(line).expect("an EMF line is JSON");
            let directive = &doc["_aws"]["CloudWatchMetrics"][0];
            assert_eq!(directive["Namespace"], "LinkedInConnector", "{line}");
            assert!(doc["_aws"]["Timestamp"].is_i64(), "{line}");
            for metric in directive["Metrics"].as_array().expect("metrics") {
                assert!(doc[metric["Name"].as_str().unwrap()].is_number(), "{line}");
            }
            doc
        })
        .collect()
}

/// The documents of `metric`, once at least one is there (the publisher records the post
/// before it writes the line, so the post may be seen a moment earlier).
async fn wait_for(stack: &local_stack::LocalStack, metric: &str) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let all = documents(stack);
        if all.iter().any(|d| d.get(metric).is_some()) || Instant::now() > deadline {
            return all;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn of<'a>(docs: &'a [Value], metric: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d.get(metric).is_some()).collect()
}

#[tokio::test]
async fn a_publish_counts_one_published_post_and_times_its_linkedin_calls_by_name() {
    let (stack, connection) = connected(|_| {}).await;

    let id = stack
        .publish_text("acme", &connection, "Measured post")
        .await;
    stack.wait_for_post("acme", &id, &["published"], SLOW).await;

    let docs = wait_for(&stack, "PostsPublished").await;
    let published = of(&docs, "PostsPublished");
    assert_eq!(published.len(), 1, "{docs:#?}");
    assert_eq!(published[0]["PostsPublished"], 1.0);
    assert_eq!(
        published[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        json!([[]])
    );
    let creates: Vec<_> = of(&docs, "LinkedInLatency")
        .into_iter()
        .filter(|d| d["Call"] == "posts.create")
        .collect();
    assert_eq!(creates.len(), 1, "one create at LinkedIn: {docs:#?}");
    assert!(creates[0]["LinkedInLatency"].as_f64().unwrap() > 0.0);
    assert_eq!(
        creates[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        json!([["Call"], []])
    );
    assert_eq!(
        creates[0]["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"],
        "Milliseconds"
    );
    assert!(of(&docs, "PostsFailed").is_empty(), "{docs:#?}");
    // No line names a tenant, a connection or a post: those are not dimensions.
    let lines = stack.metric_lines().join("\n");
    for id in [id.as_str(), connection.as_str(), "acme"] {
        assert!(!lines.contains(id), "{id} in {lines}");
    }
}

#[tokio::test]
async fn a_post_linkedin_refuses_counts_as_failed_by_its_code() {
    let (stack, connection) = connected(|_| {}).await;
    stack.simulator().inject(
        Fault::status("POST", "/rest/posts", 403)
            .body(json!({"status": 403, "message": "refused"}).to_string()),
    );

    let id = stack
        .publish_text("acme", &connection, "Refused post")
        .await;
    stack.wait_for_post("acme", &id, &["failed"], SLOW).await;

    let docs = wait_for(&stack, "PostsFailed").await;
    let failed = of(&docs, "PostsFailed");
    assert_eq!(failed.len(), 1, "{docs:#?}");
    assert_eq!(failed[0]["ErrorCode"], "FORBIDDEN");
    assert_eq!(
        failed[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        json!([["ErrorCode"], []])
    );
    assert!(of(&docs, "PostsPublished").is_empty(), "{docs:#?}");
    assert!(
        of(&docs, "LinkedInLatency")
            .iter()
            .any(|d| d["Call"] == "posts.create"),
        "a refused call is timed too: {docs:#?}"
    );
}
