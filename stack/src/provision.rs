//! Creates what the product needs in an AWS account (moto here): the table, the token key,
//! the queues. Idempotent, so `make dev` can run against an emulator that already has them.

use anyhow::Context;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;

/// SDK configuration for an emulator endpoint with dummy credentials (without them the SDK
/// would look for instance metadata and stall).
pub async fn emulator_sdk_config(endpoint: &str, region: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new(region.to_owned()))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test", "test", None, None, "emulator",
        ))
        .load()
        .await
}

pub async fn create_table(sdk: &aws_config::SdkConfig, table: &str) -> anyhow::Result<()> {
    let client = aws_sdk_dynamodb::Client::new(sdk);
    let key = |name: &str, kind: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .expect("complete key schema")
    };
    let attr = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .expect("complete attribute")
    };
    let created = client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        // As the template: the events function reads every change with its images.
        .stream_specification(
            aws_sdk_dynamodb::types::StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(aws_sdk_dynamodb::types::StreamViewType::NewAndOldImages)
                .build()
                .expect("complete stream spec"),
        )
        .key_schema(key("PK", KeyType::Hash))
        .key_schema(key("SK", KeyType::Range))
        .attribute_definitions(attr("PK"))
        .attribute_definitions(attr("SK"))
        .attribute_definitions(attr("health_shard"))
        .attribute_definitions(attr("next_health_check_at"))
        .attribute_definitions(attr("scheduled_shard"))
        .attribute_definitions(attr("scheduled_at"))
        .attribute_definitions(attr("active_shard"))
        .attribute_definitions(attr("stranded_at"))
        .attribute_definitions(attr("metrics_shard"))
        .attribute_definitions(attr("metrics_due_at"))
        // Sparse: only connections with a next check (not revoked ones) are in it.
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(connector::store::HEALTH_INDEX)
                .key_schema(key("health_shard", KeyType::Hash))
                .key_schema(key("next_health_check_at", KeyType::Range))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::Include)
                        .non_key_attributes("tenant_id")
                        .non_key_attributes("connection_id")
                        .build(),
                )
                .build()
                .expect("complete index"),
        )
        // Sparse: only posts in `scheduled` are in it (the reconciler's view).
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(connector::store::SCHEDULED_INDEX)
                .key_schema(key("scheduled_shard", KeyType::Hash))
                .key_schema(key("scheduled_at", KeyType::Range))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::Include)
                        .non_key_attributes("tenant_id")
                        .non_key_attributes("post_id")
                        .build(),
                )
                .build()
                .expect("complete index"),
        )
        // Sparse: only published posts with a metrics reading due are in it.
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(connector::store::METRICS_INDEX)
                .key_schema(key("metrics_shard", KeyType::Hash))
                .key_schema(key("metrics_due_at", KeyType::Range))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::Include)
                        .non_key_attributes("tenant_id")
                        .non_key_attributes("post_id")
                        .non_key_attributes("connection_id")
                        .build(),
                )
                .build()
                .expect("complete index"),
        )
        // Sparse: only posts in `queued` or `publishing` are in it (stranded posts).
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(connector::store::STRANDED_INDEX)
                .key_schema(key("active_shard", KeyType::Hash))
                .key_schema(key("stranded_at", KeyType::Range))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::Include)
                        .non_key_attributes("tenant_id")
                        .non_key_attributes("post_id")
                        .build(),
                )
                .build()
                .expect("complete index"),
        )
        .send()
        .await;
    match created {
        Ok(_) => {}
        Err(e) if format!("{e:?}").contains("ResourceInUseException") => return Ok(()),
        Err(e) => return Err(anyhow::Error::new(e).context(format!("creating table {table}"))),
    }
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name("ttl")
                .enabled(true)
                .build()
                .expect("complete TTL spec"),
        )
        .send()
        .await
        .context("enabling TTL")?;
    Ok(())
}

/// The token key behind `alias`, created on first use. Returns the alias.
pub async fn ensure_token_key(sdk: &aws_config::SdkConfig, alias: &str) -> anyhow::Result<String> {
    let kms = aws_sdk_kms::Client::new(sdk);
    let aliases = kms
        .list_aliases()
        .send()
        .await
        .context("listing KMS aliases")?;
    if aliases
        .aliases()
        .iter()
        .any(|a| a.alias_name() == Some(alias))
    {
        return Ok(alias.to_owned());
    }
    let key = kms
        .create_key()
        .description("LinkedIn connector token vault (local)")
        .send()
        .await
        .context("creating the KMS key")?;
    let key_id = key
        .key_metadata()
        .map(|m| m.key_id().to_owned())
        .context("CreateKey returned no key id")?;
    match kms
        .create_alias()
        .alias_name(alias)
        .target_key_id(&key_id)
        .send()
        .await
    {
        Ok(_) => Ok(alias.to_owned()),
        // Another process provisioned it first (parallel tests share one moto): use theirs.
        Err(e) if format!("{e:?}").contains("AlreadyExistsException") => {
            let _ = kms
                .schedule_key_deletion()
                .key_id(&key_id)
                .pending_window_in_days(7)
                .send()
                .await;
            Ok(alias.to_owned())
        }
        Err(e) => Err(anyhow::Error::new(e).context("creating the KMS alias")),
    }
}

/// The publish queue and its dead-letter queue.
pub struct Queues {
    pub url: String,
    pub arn: String,
    pub dlq_url: String,
    pub dlq_arn: String,
}

async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> anyhow::Result<String> {
    sqs.get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .context("reading a queue's ARN")?
        .attributes
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .context("the queue has no ARN")
}

/// The health queue (tasks of the health check) and its DLQ; returns its URL and ARN.
pub async fn ensure_health_queue(
    sdk: &aws_config::SdkConfig,
    name: &str,
) -> anyhow::Result<(String, String)> {
    ensure_queue_with_dlq(sdk, name).await
}

/// The webhook queue (events and delayed attempts, for the notifier) and its DLQ; returns
/// its URL and ARN.
pub async fn ensure_webhook_queue(
    sdk: &aws_config::SdkConfig,
    name: &str,
) -> anyhow::Result<(String, String)> {
    ensure_queue_with_dlq(sdk, name).await
}

/// A queue whose messages go to `{name}-dlq` after 5 receives.
async fn ensure_queue_with_dlq(
    sdk: &aws_config::SdkConfig,
    name: &str,
) -> anyhow::Result<(String, String)> {
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let dlq_url = sqs
        .create_queue()
        .queue_name(format!("{name}-dlq"))
        .send()
        .await
        .with_context(|| format!("creating {name}-dlq"))?
        .queue_url
        .context("CreateQueue returned no URL")?;
    let redrive = serde_json::json!({ "deadLetterTargetArn": queue_arn(&sqs, &dlq_url).await?, "maxReceiveCount": 5 });
    let url = sqs
        .create_queue()
        .queue_name(name)
        .attributes(QueueAttributeName::VisibilityTimeout, "360")
        .attributes(QueueAttributeName::RedrivePolicy, redrive.to_string())
        .send()
        .await
        .with_context(|| format!("creating {name}"))?
        .queue_url
        .context("CreateQueue returned no URL")?;
    let arn = queue_arn(&sqs, &url).await?;
    Ok((url, arn))
}

/// The schedule group one-time schedules go in.
pub async fn ensure_schedule_group(sdk: &aws_config::SdkConfig, name: &str) -> anyhow::Result<()> {
    let scheduler = aws_sdk_scheduler::Client::new(sdk);
    match scheduler.create_schedule_group().name(name).send().await {
        Ok(_) => Ok(()),
        Err(e) if format!("{e:?}").contains("Conflict") => Ok(()),
        Err(e) => Err(anyhow::Error::new(e).context("creating the schedule group")),
    }
}

/// The recurring schedules of the template: the health round every 6 hours and the metrics
/// round every 24 hours (to the health queue), and the reconciler every hour (a Lambda invoke).
/// Each receives its scheduled time.
pub async fn ensure_rounds(
    sdk: &aws_config::SdkConfig,
    settings: &connector::schedules::ScheduleSettings,
    health_queue_arn: &str,
    reconciler_arn: &str,
) -> anyhow::Result<()> {
    use aws_sdk_scheduler::types::{
        FlexibleTimeWindow, FlexibleTimeWindowMode, RetryPolicy, Target,
    };
    let scheduler = aws_sdk_scheduler::Client::new(sdk);
    let time = connector::schedules::SCHEDULED_TIME;
    for (name, expression, arn, input) in [
        (
            "health-round",
            "rate(6 hours)",
            health_queue_arn,
            serde_json::json!({ "task": "plan", "as_of": time }),
        ),
        (
            "metrics-round",
            "rate(24 hours)",
            health_queue_arn,
            serde_json::json!({ "task": "metrics_plan", "as_of": time }),
        ),
        (
            "reconcile-round",
            "rate(1 hour)",
            reconciler_arn,
            serde_json::json!({ "as_of": time }),
        ),
    ] {
        let created = scheduler
            .create_schedule()
            .name(name)
            .group_name(&settings.group)
            .schedule_expression(expression)
            .flexible_time_window(
                FlexibleTimeWindow::builder()
                    .mode(FlexibleTimeWindowMode::Off)
                    .build()?,
            )
            .target(
                Target::builder()
                    .arn(arn)
                    .role_arn(&settings.role_arn)
                    .input(input.to_string())
                    .retry_policy(
                        RetryPolicy::builder()
                            .maximum_retry_attempts(10)
                            .maximum_event_age_in_seconds(3600)
                            .build(),
                    )
                    .build()?,
            )
            .send()
            .await;
        match created {
            Ok(_) => {}
            Err(e) if format!("{e:?}").contains("Conflict") => {}
            Err(e) => return Err(anyhow::Error::new(e).context(format!("creating {name}"))),
        }
    }
    Ok(())
}

/// The publish queue and its dead-letter queue (redrive after 5 receives: a job that crashes
/// the publisher that often is parked there).
pub async fn ensure_queues(
    sdk: &aws_config::SdkConfig,
    name: &str,
    visibility: std::time::Duration,
) -> anyhow::Result<Queues> {
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let dlq_url = sqs
        .create_queue()
        .queue_name(format!("{name}-dlq"))
        .attributes(QueueAttributeName::MessageRetentionPeriod, "1209600")
        .send()
        .await
        .context("creating the DLQ")?
        .queue_url
        .context("CreateQueue returned no URL")?;
    let dlq_arn = queue_arn(&sqs, &dlq_url).await?;
    let redrive = serde_json::json!({ "deadLetterTargetArn": dlq_arn, "maxReceiveCount": 5 });
    let queue_url = sqs
        .create_queue()
        .queue_name(name)
        .attributes(
            QueueAttributeName::VisibilityTimeout,
            visibility.as_secs().to_string(),
        )
        .attributes(QueueAttributeName::RedrivePolicy, redrive.to_string())
        .send()
        .await
        .context("creating the publish queue")?
        .queue_url
        .context("CreateQueue returned no URL")?;
    let arn = queue_arn(&sqs, &queue_url).await?;
    Ok(Queues {
        url: queue_url,
        arn,
        dlq_url,
        dlq_arn,
    })
}

/// The LinkedIn client secret as a Secrets Manager secret named `name` (created, or its value
/// replaced when it exists): the functions get only its ARN and read it through the SDK, as in
/// AWS. Returns the ARN.
pub async fn ensure_client_secret(
    sdk: &aws_config::SdkConfig,
    name: &str,
    value: &str,
) -> anyhow::Result<String> {
    let secrets = aws_sdk_secretsmanager::Client::new(sdk);
    let created = secrets
        .create_secret()
        .name(name)
        .description("a secret of the local stack")
        .secret_string(value)
        .send()
        .await;
    match created {
        Ok(out) => out.arn.context("CreateSecret returned no ARN"),
        // A stack started before against the same emulator: keep the secret, take this value.
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_exists_exception()) =>
        {
            Ok(secrets
                .put_secret_value()
                .secret_id(name)
                .secret_string(value)
                .send()
                .await
                .with_context(|| format!("replacing the value of secret {name}"))?
                .arn
                .context("PutSecretValue returned no ARN")?)
        }
        Err(e) => Err(anyhow::Error::new(e).context(format!("creating secret {name}"))),
    }
}
