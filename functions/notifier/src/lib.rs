//! The `notifier` function: consumes the webhook queue and delivers events to the tenants'
//! webhook endpoints (Standard Webhooks signatures), concurrently, each attempt within 10 s.
//!
//! An `event` task reads the tenant's endpoints (one Query) and makes the first attempt for
//! every enabled endpoint subscribed to its type; an `attempt` task tries one recorded
//! delivery again once it is due. A failed attempt is tried again with backoff and jitter for
//! 24 h from the first (`domain::webhooks`): the wait is a chain of delayed messages (SQS
//! delays one by 15 minutes at most), never a sleep here. Every attempt is recorded on the
//! delivery; an endpoint failing every attempt for 24 h is disabled (`webhook.disabled`).

mod deliver;

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use chrono::{DateTime, Utc};
use connector::config::Config;
use connector::domain::webhooks::DELIVERY_TIMEOUT;
use connector::events::{EventQueue, WebhookTask};
use connector::queue::{batch_response, QueueError};
use connector::store::{StoreError, WebhookStore};
use connector::webhooks::WebhookSigner;
use tracing::{error, warn, Instrument};

/// SQS's longest message delay: a longer wait is a chain of messages.
pub const MAX_QUEUE_DELAY: Duration = Duration::from_secs(900);

/// Why a message could not be handled; only a retryable failure gives it back to the queue.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

impl NotifyError {
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Store(e) => e.is_retryable() || matches!(e, StoreError::Conflict(_)),
            Self::Queue(e) => e.is_retryable(),
        }
    }
}

/// The time as the notifier sees it (the local stack moves it ahead in tests).
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

pub struct Notifier {
    pub webhooks: WebhookStore,
    /// The webhook queue: delayed attempts and `webhook.disabled` events go back on it.
    pub queue: EventQueue,
    pub signer: WebhookSigner,
    /// Loopback endpoints allowed (the local stack only).
    pub allow_loopback: bool,
    /// One attempt's time, connect to last byte.
    pub timeout: Duration,
    /// The longest delay of one message of a chain ([`MAX_QUEUE_DELAY`]; the local stack
    /// shortens it so that a clock it moves ahead is seen at once).
    pub max_delay: Duration,
    pub clock: Clock,
    /// Every attempt's result is counted ([`connector::metrics::Metric::WebhookDeliveries`]).
    pub metrics: connector::metrics::Metrics,
}

impl Notifier {
    pub fn from_config(config: &Config, sdk: &aws_config::SdkConfig) -> anyhow::Result<Self> {
        let (queue_url, secret) = config.require_webhooks()?;
        Ok(Self {
            webhooks: WebhookStore::new(
                aws_sdk_dynamodb::Client::new(sdk),
                config.table_name.clone(),
            ),
            queue: EventQueue::new(
                connector::aws_clients::LazyClient::from_sdk(sdk, aws_sdk_sqs::Client::new),
                queue_url.to_owned(),
            ),
            signer: WebhookSigner::new(secret.clone()),
            allow_loopback: config.webhooks.allow_loopback,
            timeout: DELIVERY_TIMEOUT,
            max_delay: MAX_QUEUE_DELAY,
            clock: Arc::new(Utc::now),
            metrics: config.metrics.clone(),
        })
    }

    fn now(&self) -> DateTime<Utc> {
        (self.clock)()
    }
}

/// Handles a batch, its messages concurrently; the ones whose failure a retry can mend are
/// reported back (partial batch response).
pub async fn handle(event: SqsEvent, notifier: &Notifier) -> SqsBatchResponse {
    let outcomes = futures::future::join_all(
        event
            .records
            .iter()
            .map(|message| handle_message(message, notifier)),
    )
    .await;
    batch_response(event.records.iter().zip(outcomes))
}

/// Whether the message is done with (handled, or never handleable).
async fn handle_message(message: &SqsMessage, notifier: &Notifier) -> bool {
    let span = tracing::info_span!(
        "notifier",
        message_id = message.message_id.as_deref().unwrap_or_default(),
        tenant_id = tracing::field::Empty,
    );
    async move {
        let task = match WebhookTask::parse(message.body.as_deref().unwrap_or("")) {
            Ok(task) => task,
            Err(e) => {
                // Retrying cannot mend a body; the queue's DLQ would only keep it.
                error!(error = %e, "webhook task is not one of ours; dropped");
                return true;
            }
        };
        let outcome = match task {
            WebhookTask::Event { event, endpoint_id } => {
                tracing::Span::current().record("tenant_id", event.tenant_id.as_str());
                deliver::event(notifier, &event, endpoint_id).await
            }
            WebhookTask::Attempt {
                tenant_id,
                endpoint_id,
                delivery_id,
                due_at,
                resend,
            } => {
                tracing::Span::current().record("tenant_id", tenant_id.as_str());
                deliver::again(
                    notifier,
                    &tenant_id,
                    endpoint_id,
                    delivery_id,
                    due_at,
                    resend,
                )
                .await
            }
        };
        match outcome {
            Ok(()) => true,
            Err(e) if e.is_retryable() => {
                warn!(error = %e, "webhook task failed; the queue gives it back");
                false
            }
            Err(e) => {
                error!(error = %e, "webhook task failed; dropped");
                true
            }
        }
    }
    .instrument(span)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    /// A notifier whose AWS clients point nowhere: these tests must not reach them.
    fn offline() -> Notifier {
        let sdk = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .build();
        Notifier {
            webhooks: WebhookStore::new(aws_sdk_dynamodb::Client::new(&sdk), "table"),
            queue: EventQueue::new(aws_sdk_sqs::Client::new(&sdk), "http://127.0.0.1:9/q"),
            signer: WebhookSigner::new(SecretString::from("master")),
            allow_loopback: false,
            timeout: DELIVERY_TIMEOUT,
            max_delay: MAX_QUEUE_DELAY,
            clock: Arc::new(Utc::now),
            metrics: connector::metrics::Metrics::captured("Test"),
        }
    }

    fn message(id: &str, body: &str) -> SqsMessage {
        let mut message = SqsMessage::default();
        message.message_id = Some(id.into());
        message.body = Some(body.into());
        message
    }

    #[tokio::test]
    async fn a_message_that_is_no_webhook_task_is_dropped_not_given_back() {
        let mut event = SqsEvent::default();
        event.records = vec![
            message("m1", "not json"),
            message("m2", r#"{"task":"explode"}"#),
        ];
        let response = handle(event, &offline()).await;
        assert!(response.batch_item_failures.is_empty());
    }

    #[test]
    fn the_sample_event_carries_a_webhook_task() {
        let sample: SqsEvent =
            serde_json::from_str(include_str!("../../../events/notifier-sqs.json"))
                .expect("an SQS event");
        for record in sample.records {
            let task = WebhookTask::parse(record.body.as_deref().unwrap()).unwrap();
            assert!(matches!(
                task,
                WebhookTask::Event {
                    endpoint_id: None,
                    ..
                }
            ));
        }
    }

    #[test]
    fn only_failures_a_retry_can_mend_give_a_message_back() {
        let rows = [
            (
                NotifyError::Store(StoreError::Unavailable("x".into())),
                true,
            ),
            (NotifyError::Store(StoreError::Conflict("x".into())), true),
            (NotifyError::Store(StoreError::Invalid("x".into())), false),
            (
                NotifyError::Queue(QueueError::Unavailable("x".into())),
                true,
            ),
            (NotifyError::Queue(QueueError::Refused("x".into())), false),
        ];
        for (error, retryable) in rows {
            assert_eq!(error.is_retryable(), retryable, "{error:?}");
        }
    }
}
