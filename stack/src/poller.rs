//! What Lambda's SQS event source mapping does, for the local stack: receive a batch, invoke
//! the publisher with it, delete the messages it did not report as failed. Failed ones come
//! back when their visibility timeout ends (the publisher shortens or lengthens it for
//! retries), and the queue's redrive policy moves them to the DLQ after too many receives.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::SqsBatchResponse;
use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName};
use futures::future::BoxFuture;

/// A function consuming an SQS batch, as Lambda would invoke it.
pub type Consumer = Arc<dyn Fn(SqsEvent) -> BoxFuture<'static, SqsBatchResponse> + Send + Sync>;

/// The publisher function's timeout in the template: Lambda's deadline for each invocation.
pub const PUBLISHER_TIMEOUT: Duration = Duration::from_secs(60);
/// The health function's timeout in the template.
pub const HEALTH_TIMEOUT: Duration = Duration::from_secs(60);

pub fn publisher(publisher: Arc<publisher_function::Publisher>) -> Consumer {
    Arc::new(move |event| {
        let p = publisher.clone();
        Box::pin(async move {
            let deadline = connector::deadline::Deadline::after(PUBLISHER_TIMEOUT);
            publisher_function::handle(event, &p, deadline).await
        })
    })
}

pub fn health(health: Arc<health_function::Health>) -> Consumer {
    Arc::new(move |event| {
        let h = health.clone();
        Box::pin(async move {
            health_function::handle(
                event,
                &h,
                connector::deadline::Deadline::after(HEALTH_TIMEOUT),
            )
            .await
        })
    })
}

/// The notifier function's timeout in the template.
pub const NOTIFIER_TIMEOUT: Duration = Duration::from_secs(60);

pub fn notifier(notifier: Arc<notifier_function::Notifier>) -> Consumer {
    Arc::new(move |event| {
        let n = notifier.clone();
        Box::pin(async move { notifier_function::handle(event, &n).await })
    })
}

/// Receives one batch and hands it to `consumer`; returns how many messages there were.
pub async fn poll_once(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    consumer: &Consumer,
    batch_size: i32,
    wait_seconds: i32,
) -> usize {
    let received = sqs
        .receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(batch_size)
        .wait_time_seconds(wait_seconds)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await;
    let messages = match received {
        Ok(out) => out.messages.unwrap_or_default(),
        Err(e) => {
            tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(&e), "poller: receive failed");
            tokio::time::sleep(Duration::from_secs(1)).await;
            return 0;
        }
    };
    if messages.is_empty() {
        return 0;
    }
    let mut event = SqsEvent::default();
    event.records = messages.iter().map(to_event_record).collect();
    let ids: Vec<String> = messages
        .iter()
        .filter_map(|m| m.message_id().map(str::to_owned))
        .collect();
    tracing::debug!(messages = ?ids, "poller: batch received");
    // Lambda would time the invocation out; here a stuck batch stops the poller, so say so.
    let watched = consumer(event);
    tokio::pin!(watched);
    let response = loop {
        tokio::select! {
            response = &mut watched => break response,
            _ = tokio::time::sleep(Duration::from_secs(30)) => {
                tracing::error!(messages = ?ids, "poller: batch still running after 30 s");
            }
        }
    };
    tracing::debug!(messages = ?ids, "poller: batch handled");
    let failed: HashSet<String> = response
        .batch_item_failures
        .into_iter()
        .map(|f| f.item_identifier)
        .collect();
    let done: Vec<_> = messages
        .iter()
        .enumerate()
        .filter(|(_, m)| !failed.contains(m.message_id().unwrap_or_default()))
        .filter_map(|(i, m)| {
            DeleteMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .receipt_handle(m.receipt_handle().unwrap_or_default())
                .build()
                .ok()
        })
        .collect();
    if !done.is_empty() {
        if let Err(e) = sqs
            .delete_message_batch()
            .queue_url(queue_url)
            .set_entries(Some(done))
            .send()
            .await
        {
            tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(&e), "poller: delete failed");
        }
    }
    messages.len()
}

pub fn spawn(
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    consumer: Consumer,
    batch_size: i32,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            poll_once(&sqs, &queue_url, &consumer, batch_size, 1).await;
        }
    })
}

fn to_event_record(m: &aws_sdk_sqs::types::Message) -> SqsMessage {
    let mut record = SqsMessage::default();
    record.message_id = m.message_id().map(str::to_owned);
    record.receipt_handle = m.receipt_handle().map(str::to_owned);
    record.body = m.body().map(str::to_owned);
    record.md5_of_body = m.md5_of_body().map(str::to_owned);
    record.event_source = Some("aws:sqs".into());
    record.aws_region = Some("us-east-1".into());
    if let Some(attributes) = m.attributes() {
        record.attributes = attributes
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.clone()))
            .collect();
    }
    record
}
