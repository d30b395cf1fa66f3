//! AWS faults injected in the stack's proxy in front of moto, and how the SDK's own retries
//! (standard mode, 3 attempts) meet them.

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use local_stack::counting::{AwsFault, AwsFaultKind, RandomFaults};
use local_stack::{test_stack, LocalStack};

fn dynamo(stack: &LocalStack) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&stack.sdk)
}

/// A client that makes one attempt: what the caller sees without the SDK's retries.
fn dynamo_without_retries(stack: &LocalStack) -> aws_sdk_dynamodb::Client {
    let config = aws_sdk_dynamodb::config::Builder::from(&stack.sdk)
        .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled())
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

fn put(
    client: &aws_sdk_dynamodb::Client,
    stack: &LocalStack,
    key: &str,
) -> aws_sdk_dynamodb::operation::put_item::builders::PutItemFluentBuilder {
    client
        .put_item()
        .table_name(&stack.config.table_name)
        .item("PK", AttributeValue::S(format!("TEST#{key}")))
        .item("SK", AttributeValue::S("A".into()))
}

async fn exists(stack: &LocalStack, key: &str) -> bool {
    dynamo(stack)
        .get_item()
        .table_name(&stack.config.table_name)
        .key("PK", AttributeValue::S(format!("TEST#{key}")))
        .key("SK", AttributeValue::S("A".into()))
        .send()
        .await
        .unwrap()
        .item
        .is_some()
}

#[tokio::test]
async fn a_put_whose_answer_is_lost_is_applied_although_the_caller_saw_an_error() {
    let stack = test_stack(|o| o.run_publisher = false).await;
    let faults = stack.aws_faults();

    faults.inject(
        AwsFault::new("DynamoDB", AwsFaultKind::DropAfterApply)
            .operation("PutItem")
            .times(1),
    );
    let error = put(&dynamo_without_retries(&stack), &stack, "once")
        .send()
        .await
        .expect_err("no answer");
    assert!(
        matches!(error, aws_sdk_dynamodb::error::SdkError::DispatchFailure(_)),
        "{error:?}"
    );
    assert!(exists(&stack, "once").await, "moto applied it");

    // With the SDK's retries, a conditional create meets its own first write.
    faults.inject(
        AwsFault::new("DynamoDB", AwsFaultKind::DropAfterApply)
            .operation("PutItem")
            .times(1),
    );
    let error = put(&dynamo(&stack), &stack, "conditional")
        .condition_expression("attribute_not_exists(PK)")
        .send()
        .await
        .expect_err("the retry finds the item");
    assert!(
        error
            .as_service_error()
            .is_some_and(|e| e.is_conditional_check_failed_exception()),
        "{error:?}"
    );
    assert!(exists(&stack, "conditional").await);
    assert_eq!(faults.applied_by_kind()["DropAfterApply"], 2);
}

#[tokio::test]
async fn a_connection_lost_before_moto_applies_nothing() {
    let stack = test_stack(|o| o.run_publisher = false).await;
    stack.aws_faults().inject(
        AwsFault::new("DynamoDB", AwsFaultKind::DropBeforeApply)
            .operation("PutItem")
            .times(1),
    );
    assert!(put(&dynamo_without_retries(&stack), &stack, "lost")
        .send()
        .await
        .is_err());
    assert!(!exists(&stack, "lost").await);
}

#[tokio::test]
async fn one_throttle_per_service_is_absorbed_by_the_sdks_retry() {
    let stack = test_stack(|o| o.run_publisher = false).await;
    let faults = stack.aws_faults();
    for service in ["DynamoDB", "KMS", "SQS", "scheduler"] {
        faults.inject(AwsFault::new(service, AwsFaultKind::Throttle).times(1));
    }
    stack.aws_calls().take();
    put(&dynamo(&stack), &stack, "throttled")
        .send()
        .await
        .unwrap();
    aws_sdk_kms::Client::new(&stack.sdk)
        .describe_key()
        .key_id(&stack.config.token_key_id)
        .send()
        .await
        .unwrap();
    aws_sdk_sqs::Client::new(&stack.sdk)
        .get_queue_attributes()
        .queue_url(stack.config.publish_queue_url.as_deref().unwrap())
        .send()
        .await
        .unwrap();
    aws_sdk_scheduler::Client::new(&stack.sdk)
        .list_schedules()
        .send()
        .await
        .unwrap();
    let calls = stack.aws_calls().take();
    assert_eq!(calls["DynamoDB.PutItem"], 2, "{calls:?}");
    assert_eq!(calls["KMS.DescribeKey"], 2, "{calls:?}");
    assert_eq!(calls["SQS.GetQueueAttributes"], 2, "{calls:?}");
    assert_eq!(calls["scheduler.ListSchedules"], 2, "{calls:?}");
    assert_eq!(faults.applied_by_kind()["Throttle"], 4);
}

#[tokio::test]
async fn without_retries_the_throttle_and_server_error_codes_are_the_services() {
    let stack = test_stack(|o| o.run_publisher = false).await;
    let faults = stack.aws_faults();
    faults.inject(AwsFault::new("DynamoDB", AwsFaultKind::Throttle).times(1));
    let error = put(&dynamo_without_retries(&stack), &stack, "x")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_dynamodb::error::ProvideErrorMetadata::code(&error),
        Some("ThrottlingException")
    );
    let sqs = aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::config::Builder::from(&stack.sdk)
            .retry_config(aws_sdk_sqs::config::retry::RetryConfig::disabled())
            .build(),
    );
    faults.inject(AwsFault::new("SQS", AwsFaultKind::Throttle).times(1));
    faults.inject(
        AwsFault::new("SQS", AwsFaultKind::ServerError)
            .after(1)
            .times(1),
    );
    let queue = stack.config.publish_queue_url.clone().unwrap();
    let throttled = sqs
        .get_queue_attributes()
        .queue_url(&queue)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_sqs::error::ProvideErrorMetadata::code(&throttled),
        Some("RequestThrottled")
    );
    let failed = sqs
        .get_queue_attributes()
        .queue_url(&queue)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        failed.raw_response().map(|r| r.status().as_u16()),
        Some(500)
    );
}

#[tokio::test]
async fn after_and_times_pick_the_nth_matching_call() {
    let stack = test_stack(|o| o.run_publisher = false).await;
    let faults = stack.aws_faults();
    let client = dynamo_without_retries(&stack);
    // The 2nd and 3rd PutItem fail; other operations do not count.
    faults.inject(
        AwsFault::new("DynamoDB", AwsFaultKind::ServerError)
            .operation("PutItem")
            .after(1)
            .times(2),
    );
    let mut results = Vec::new();
    for i in 0..4 {
        exists(&stack, "unrelated").await;
        results.push(put(&client, &stack, &format!("n{i}")).send().await.is_ok());
    }
    assert_eq!(results, [true, false, false, true]);
    let applied = faults.applied();
    assert_eq!(applied.len(), 2);
    assert!(applied.iter().all(|f| f.operation == "DynamoDB.PutItem"));
}

#[tokio::test]
async fn random_faults_replay_from_their_seed() {
    let stack = test_stack(|o| o.run_publisher = false).await;
    let faults = stack.aws_faults();
    let client = dynamo_without_retries(&stack);
    let run = || async {
        let start = faults.calls();
        let before = faults.applied().len();
        faults.set_random(Some(RandomFaults {
            seed: 42,
            rate: 0.25,
            services: vec!["DynamoDB".into()],
            mix: vec![
                (AwsFaultKind::Slow(Duration::from_millis(1)), 1),
                (AwsFaultKind::ServerError, 1),
            ],
        }));
        for i in 0..40 {
            let _ = put(&client, &stack, &format!("r{i}")).send().await;
        }
        faults.set_random(None);
        faults.applied()[before..]
            .iter()
            .map(|f| (f.call - start, f.kind))
            .collect::<Vec<_>>()
    };
    let first = run().await;
    let second = run().await;
    assert!(first.len() >= 3, "{first:?}");
    assert_eq!(first, second);
}

#[tokio::test]
async fn the_sdk_retries_lost_connections_and_never_hangs() {
    let stack = test_stack(|o| o.run_publisher = false).await;
    let faults = stack.aws_faults();
    put(&dynamo(&stack), &stack, "there").send().await.unwrap();
    for kind in [AwsFaultKind::DropBeforeApply, AwsFaultKind::DropAfterApply] {
        faults.inject(
            AwsFault::new("DynamoDB", kind)
                .operation("GetItem")
                .times(1),
        );
        let found = tokio::time::timeout(Duration::from_secs(10), exists(&stack, "there"))
            .await
            .expect("answered within 10 s");
        assert!(found);
    }
    faults.inject(AwsFault::new("SQS", AwsFaultKind::DropBeforeApply).times(1));
    tokio::time::timeout(
        Duration::from_secs(10),
        aws_sdk_sqs::Client::new(&stack.sdk)
            .receive_message()
            .queue_url(stack.config.publish_queue_url.as_deref().unwrap())
            .wait_time_seconds(1)
            .send(),
    )
    .await
    .expect("answered within 10 s")
    .unwrap();
}

#[tokio::test]
async fn sqs_waits_can_be_capped_for_a_run_on_an_advanced_clock() {
    let stack = test_stack(|o| o.run_publisher = false).await;
    stack
        .aws_proxy
        .sqs_wait_cap
        .set(Some(Duration::from_secs(1)));
    let sqs = aws_sdk_sqs::Client::new(&stack.sdk);
    let queue = stack.config.publish_queue_url.clone().unwrap();
    sqs.send_message()
        .queue_url(&queue)
        .message_body("{}")
        .send()
        .await
        .unwrap();
    let received = sqs
        .receive_message()
        .queue_url(&queue)
        .send()
        .await
        .unwrap();
    let handle = received.messages()[0].receipt_handle().unwrap().to_owned();
    tokio::time::timeout(
        Duration::from_secs(5),
        sqs.change_message_visibility()
            .queue_url(&queue)
            .receipt_handle(handle)
            .visibility_timeout(3600)
            .send(),
    )
    .await
    .expect("answered")
    .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let again = sqs
        .receive_message()
        .queue_url(&queue)
        .send()
        .await
        .unwrap();
    assert_eq!(
        again.messages().len(),
        1,
        "visible again after the capped wait"
    );
}
