//! The product's guarantees when AWS fails: each AWS call of the publish pipeline and of a
//! refresh fails once in turn (a 500, and "applied, then the answer lost"), and still nothing
//! is published twice, nothing is lost, nothing is half-written, and a waiting caller gets a
//! clear 503.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::Utc;
use connector::domain::{ConnectionId, TenantId};
use local_stack::counting::{AwsFault, AwsFaultKind};
use local_stack::LocalStack;
use serde_json::json;

use crate::support::*;

const KINDS: [AwsFaultKind; 2] = [AwsFaultKind::ServerError, AwsFaultKind::DropAfterApply];

/// For each call in `clean` ("Service.Operation" -> how many), and each kind of fault: the
/// fault that makes that one call fail once, named for the case it makes.
fn each_call_failing_once(clean: &BTreeMap<String, usize>) -> Vec<(String, AwsFault)> {
    let mut cases = Vec::new();
    for (op, count) in clean {
        let (service, operation) = op.split_once('.').expect("Service.Operation");
        for nth in 0..*count as u32 {
            for kind in KINDS {
                let fault = AwsFault::new(service, kind)
                    .operation(operation)
                    .after(nth)
                    .times(1);
                cases.push((format!("{op} call {nth} {}", kind.name()), fault));
            }
        }
    }
    cases
}

/// The calls `work` makes, by "Service.Operation".
async fn calls_of<F: std::future::Future<Output = ()>>(
    stack: &LocalStack,
    work: F,
) -> BTreeMap<String, usize> {
    stack.aws_calls().take();
    work.await;
    stack.aws_calls().take()
}

/// Publishes `text` and drives it to an end: the publisher over the queue, and the hourly
/// reconciler's sweep (on a clock moved ahead) for a post whose job a fault lost. Returns the
/// API's status, the post's final status (if it was accepted) and how many sweeps it needed.
async fn publish_through(
    stack: &LocalStack,
    connection: &str,
    text: &str,
) -> (u16, Option<String>, u32) {
    let (status, body) = stack
        .create_post(
            "acme",
            json!({"connection_id": connection, "text": text}),
            None,
        )
        .await;
    if status != 202 {
        return (status, None, 0);
    }
    let id = body["id"].as_str().unwrap().to_owned();
    let started = Instant::now();
    let mut swept = 0;
    loop {
        stack.run_publish_queue().await;
        let (_, post) = stack.get("acme", &format!("/v1/posts/{id}")).await;
        let status = post["status"].as_str().unwrap_or_default().to_owned();
        if ["published", "failed", "cancelled", "deleted"].contains(&status.as_str()) {
            return (202, Some(status), swept);
        }
        if started.elapsed() > Duration::from_secs(4 + 4 * u64::from(swept)) && swept < 3 {
            swept += 1;
            let as_of = Utc::now() + chrono::Duration::minutes(20 * swept as i64);
            reconciler_function::handle(as_of, &stack.reconciler)
                .await
                .unwrap();
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "post never settled: {post}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// How many of the tenant's posts have `text` (recorded), and how many live LinkedIn posts.
async fn copies(stack: &LocalStack, text: &str) -> (usize, usize) {
    let (_, list) = stack.get("acme", "/v1/posts?limit=100").await;
    let recorded = list["posts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["text"] == text)
        .count();
    let live = stack
        .simulator()
        .live_posts()
        .iter()
        .filter(|p| p.commentary == text)
        .count();
    (recorded, live)
}

/// A text post end to end: the API reads the connection, records the post (one transaction)
/// and queues its job; the publisher claims it from the job's copy (one conditional write, no
/// read), reads the connection's tokens, and records the result. The data key is unwrapped by
/// KMS for the connection's first post only; the record of LinkedIn's application limit that
/// all publishers share is read by the first, then at most every 10 seconds.
#[tokio::test]
async fn a_text_post_costs_five_aws_calls_once_its_connection_is_known() {
    let (stack, connection) = connected(|o| o.run_publisher = false).await;
    let started = Instant::now();
    for (n, first) in [(1, true), (2, false), (3, false)] {
        let mut id = String::new();
        let calls = calls_of(&stack, async {
            let (status, body) = stack
                .create_post(
                    "acme",
                    json!({"connection_id": connection, "text": format!("Counted {n}")}),
                    None,
                )
                .await;
            assert_eq!(status, 202, "{body}");
            id = body["id"].as_str().unwrap().to_owned();
            assert_eq!(stack.run_publish_queue().await, 1);
        })
        .await;
        let product: BTreeMap<String, usize> = calls
            .into_iter()
            .filter(|(op, _)| op != "SQS.ReceiveMessage" && !op.starts_with("SQS.DeleteMessage"))
            .collect();
        // The API reads the connection each time. The publisher reads it for the first post
        // (and opens its data key with KMS); then each claim is one transaction that checks
        // the connection is still the version read.
        let mut get_items = if first { 2 } else { 1 };
        // The shared limit record's copy is fresh for 10 s: a slow machine may read it again.
        let throttle_read = first
            || (started.elapsed() >= publisher_function::throttle::APP_THROTTLE_TTL
                && product.get("DynamoDB.GetItem") == Some(&(get_items + 1)));
        get_items += usize::from(throttle_read);
        let mut expected = BTreeMap::from([
            ("DynamoDB.GetItem".to_owned(), get_items),
            ("DynamoDB.PutItem".to_owned(), if first { 2 } else { 1 }),
            (
                "DynamoDB.TransactWriteItems".to_owned(),
                if first { 1 } else { 2 },
            ),
            ("SQS.SendMessage".to_owned(), 1),
        ]);
        if first {
            expected.insert("KMS.Decrypt".to_owned(), 1);
        }
        assert_eq!(product, expected, "post {n}");
        assert_eq!(stack.post("acme", &id).await["status"], "published");
    }
}

/// A connection changed after the publisher read it fails the claim's check: the post is
/// claimed without it and the connection read afresh. Changed harmlessly (a refresh's lease
/// taken and given back), the post goes out; disconnected (before the disconnect reached the
/// post), nothing reaches LinkedIn and the post fails as a disconnected connection's post does.
#[tokio::test]
async fn a_connection_changed_since_the_publisher_read_it_is_read_again() {
    use connector::domain::ConnectionReason;
    use connector::store::Change;
    let (stack, connection) = connected(|o| o.run_publisher = false).await;
    let (tenant, id) = (
        TenantId::parse("acme").unwrap(),
        ConnectionId::parse(&connection).unwrap(),
    );
    let connections = &stack.publisher.keeper.connections;
    let post = |text: &'static str| {
        let stack = &stack;
        let connection = &connection;
        async move {
            let (status, body) = stack
                .create_post(
                    "acme",
                    json!({"connection_id": connection, "text": text}),
                    None,
                )
                .await;
            assert_eq!(status, 202, "{body}");
            body["id"].as_str().unwrap().to_owned()
        }
    };
    post("First").await;
    assert_eq!(stack.run_publish_queue().await, 1);
    assert_eq!(stack.publisher.known_connections.len(), 1);

    let second = post("Second").await;
    for step in [0, 1] {
        connections
            .update(&tenant, id, |s| {
                let now = Utc::now();
                Change::To(if step == 0 {
                    s.connection.refresh_leased(now)
                } else {
                    s.connection.refresh_released(now)
                })
            })
            .await
            .unwrap();
    }
    let calls = calls_of(&stack, async {
        assert_eq!(stack.run_publish_queue().await, 1);
    })
    .await;
    assert_eq!(stack.post("acme", &second).await["status"], "published");
    // The checked claim refused, the claim written without the check, the connection read
    // (and the result recorded).
    assert_eq!(
        calls.get("DynamoDB.TransactWriteItems"),
        Some(&1),
        "{calls:?}"
    );
    assert_eq!(calls.get("DynamoDB.PutItem"), Some(&2), "{calls:?}");
    assert!(
        calls.get("DynamoDB.GetItem").is_some_and(|n| *n >= 1),
        "{calls:?}"
    );

    let third = post("Third").await;
    connections
        .update(&tenant, id, |s| {
            Change::To(
                s.connection
                    .revoked(&ConnectionReason::Disconnecting, Utc::now()),
            )
        })
        .await
        .unwrap();
    let posts_made = stack.simulator().posts().len();
    stack.run_publish_queue().await;
    let post = stack.post("acme", &third).await;
    assert_eq!(post["status"], "failed", "{post}");
    assert_eq!(stack.simulator().posts().len(), posts_made, "nothing sent");
    assert!(stack.publisher.known_connections.is_empty());
}

#[tokio::test]
async fn each_aws_call_of_a_publish_failing_once_loses_and_duplicates_nothing() {
    let (stack, connection) = connected(|o| o.run_publisher = false).await;
    let clean = calls_of(&stack, async {
        let (status, end, _) = publish_through(&stack, &connection, "a clean run").await;
        assert_eq!((status, end.as_deref()), (202, Some("published")));
    })
    .await;
    let mut cases = 0;
    for (text, fault) in each_call_failing_once(&clean) {
        stack.aws_faults().inject(fault.clone());
        let (status, end, swept) = publish_through(&stack, &connection, &text).await;
        stack.aws_faults().clear();
        cases += 1;
        let (recorded, live) = copies(&stack, &text).await;
        match status {
            202 => {
                assert_eq!(end.as_deref(), Some("published"), "{text}");
                assert_eq!((recorded, live), (1, 1), "{text}: once, and live");
                // A lost answer to a DynamoDB write is recognised at once (the record
                // holds the write's token); only a lost message needs the sweep.
                if fault.service == "DynamoDB" {
                    assert_eq!(swept, 0, "{text}: needed the stranded sweep");
                }
            }
            503 => assert_eq!(
                (recorded, live),
                (0, 0),
                "{text}: a 503 leaves nothing half-written"
            ),
            other => panic!("{text}: the API answered {other}"),
        }
    }
    assert!(cases >= 16, "{cases} cases from {clean:?}");
}

#[tokio::test]
async fn each_aws_call_of_a_refresh_failing_once_leaves_working_tokens() {
    let (stack, connection) = connected(|o| {
        o.run_publisher = false;
        o.token_propagation_window = Duration::ZERO;
    })
    .await;
    let tenant = TenantId::parse("acme").unwrap();
    let id = ConnectionId::parse(&connection).unwrap();
    let keeper = &stack.refresher.keeper;
    let refresh = || async {
        let stored = keeper
            .connections
            .get_stored_connection(&tenant, id)
            .await?
            .expect("connection");
        Ok::<_, anyhow::Error>(keeper.refresh(stored, Utc::now()).await?)
    };
    let clean = calls_of(&stack, async {
        refresh().await.unwrap();
    })
    .await;
    for (case, fault) in each_call_failing_once(&clean) {
        stack.aws_faults().inject(fault.clone());
        let first = refresh().await;
        stack.aws_faults().clear();
        // A failed refresh may leave its lease (30 s) behind; a later one gets past it.
        let outcome = match first {
            Ok(connector::tokens::RefreshOutcome::Refreshed) => "refreshed",
            _ => {
                let mut clock = Utc::now();
                loop {
                    let stored = keeper
                        .connections
                        .get_stored_connection(&tenant, id)
                        .await
                        .unwrap()
                        .unwrap();
                    match keeper.refresh(stored, clock).await {
                        Ok(connector::tokens::RefreshOutcome::Refreshed) => break "retried",
                        Ok(connector::tokens::RefreshOutcome::InProgress) => {
                            clock += chrono::Duration::seconds(31);
                        }
                        other => panic!("{case}: {other:?}"),
                    }
                }
            }
        };
        // What is stored opens and LinkedIn takes it.
        let (_, tokens) = keeper.open(&tenant, id).await.unwrap();
        keeper
            .linkedin
            .userinfo(&tokens.access_token)
            .await
            .unwrap_or_else(|e| panic!("{case} ({outcome}): stored token refused: {e}"));
        let c = &stack.connections("acme").await[0];
        assert_eq!(c["status"], "healthy", "{case}");
    }
}

#[tokio::test]
async fn each_aws_call_of_an_oauth_callback_failing_once_leaves_one_working_connection() {
    let (stack, _) = connected(|o| o.run_publisher = false).await;
    let done = stack.gateway_url.join("/done").unwrap();
    let callback = |location: url::Url| async move { http().get(location).send().await.unwrap() };
    let start = || async {
        let url = stack
            .authorization_url("acme", json!({ "redirect_after": done }))
            .await;
        stack.simulator().consent(&url, None, true).unwrap()
    };
    let location = start().await;
    let clean = calls_of(&stack, async {
        assert_eq!(callback(location).await.status(), 302);
    })
    .await;
    let mut cases = 0;
    for (case, fault) in each_call_failing_once(&clean) {
        let location = start().await;
        stack.aws_faults().inject(fault.clone());
        let response = callback(location).await;
        stack.aws_faults().clear();
        cases += 1;
        let status = response.status().as_u16();
        let target = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert!(
            matches!(status, 302 | 400 | 500 | 503),
            "{case}: answered {status}"
        );
        if !(status == 302 && target.contains("connection_id=")) {
            // The member tries again, and it works.
            stack.connect("acme", None).await;
        }
        // One connection for the member, and what it holds works at LinkedIn.
        assert_eq!(
            stack.entities("connection").await.unwrap().len(),
            1,
            "{case}: one connection"
        );
        let c = &stack.connections("acme").await[0];
        assert_eq!(c["status"], "healthy", "{case}: {c}");
        let id = ConnectionId::parse(c["id"].as_str().unwrap()).unwrap();
        let tenant = TenantId::parse("acme").unwrap();
        let (_, tokens) = stack.refresher.keeper.open(&tenant, id).await.unwrap();
        stack
            .refresher
            .keeper
            .linkedin
            .userinfo(&tokens.access_token)
            .await
            .unwrap_or_else(|e| panic!("{case}: stored token refused: {e}"));
    }
    assert!(cases >= 10, "{cases} cases from {clean:?}");
}

/// A first connect creates its seven schedules (three refresh windows, four reconnect runways)
/// with one call each; connecting the same member again replaces them with one call each.
#[tokio::test]
async fn a_connect_puts_each_schedule_with_one_call() {
    let stack = local_stack::test_stack(|_| {}).await;
    let scheduler = |calls: &BTreeMap<String, usize>| {
        calls
            .iter()
            .filter(|(op, _)| op.starts_with("scheduler."))
            .map(|(op, n)| (op.clone(), *n))
            .collect::<BTreeMap<_, _>>()
    };
    let mut first = String::new();
    let calls = calls_of(&stack, async {
        first = stack.connect("acme", None).await;
    })
    .await;
    assert_eq!(
        scheduler(&calls),
        BTreeMap::from([("scheduler.CreateSchedule".to_owned(), 7)])
    );
    let mut again = String::new();
    let calls = calls_of(&stack, async {
        again = stack.connect("acme", None).await;
    })
    .await;
    assert_eq!(again, first, "the same member's connection");
    assert_eq!(
        scheduler(&calls),
        BTreeMap::from([("scheduler.UpdateSchedule".to_owned(), 7)])
    );
}
