//! The `events` function: reads the table's stream (DynamoDB Streams, new and old images) and
//! puts on the webhook queue what each change means for its tenant (see
//! [`connector::events::changes`]). The stream is the outbox: an event exists exactly when the
//! change that causes it was written, with no second write in the functions that change records.
//!
//! Records are handled in order; the first whose events cannot be queued is reported as the
//! batch's failure, so Lambda retries from it (the events before it may go twice: their ids are
//! derived from the change, and receivers drop a `webhook-id` they have seen).

use aws_lambda_events::event::dynamodb::EventRecord;
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use connector::config::Config;
use connector::events::changes::{events_of, Change, Record};
use connector::events::EventQueue;
use tracing::{error, info, warn};

pub struct Events {
    pub queue: EventQueue,
}

impl Events {
    pub fn from_config(config: &Config, sdk: &aws_config::SdkConfig) -> anyhow::Result<Self> {
        Ok(Self {
            queue: EventQueue::new(
                connector::aws_clients::LazyClient::from_sdk(sdk, aws_sdk_sqs::Client::new),
                config.require_webhook_queue()?.to_owned(),
            ),
        })
    }
}

/// What one batch came to.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Told {
    pub records: usize,
    pub events: usize,
}

/// Handles one batch of stream records, in order.
pub async fn handle(records: &[EventRecord], events: &Events) -> (DynamoDbEventResponse, Told) {
    let mut response = DynamoDbEventResponse::default();
    let mut told = Told::default();
    for record in records {
        let change = match change_of(record) {
            Ok(change) => change,
            Err(e) => {
                // An item this product cannot read is not a change it can tell; retrying would
                // not read it better, and holding the stream back would stop every tenant's
                // events.
                error!(event_id = %record.event_id, error = %e, "a stream record could not be read; skipped");
                continue;
            }
        };
        told.records += 1;
        for event in events_of(&change) {
            if let Err(e) = events.queue.emit(&event).await {
                warn!(event_id = %event.id, error = %e, "an event could not be queued; the batch is retried from its record");
                let mut failure = DynamoDbBatchItemFailure::default();
                failure.item_identifier = record.change.sequence_number.clone();
                response.batch_item_failures.push(failure);
                return (response, told);
            }
            told.events += 1;
            info!(
                event_id = %event.id,
                r#type = event.r#type.as_str(),
                tenant_id = %event.tenant_id,
                "event queued"
            );
        }
    }
    (response, told)
}

/// The change a stream record shows (an absent image is an empty item).
pub fn change_of(record: &EventRecord) -> Result<Change, serde_dynamo::Error> {
    let side = |item: &serde_dynamo::Item| -> Result<Option<Record>, serde_dynamo::Error> {
        if item.is_empty() {
            Ok(None)
        } else {
            Record::from_item(item.clone()).map(Some)
        }
    };
    Ok(Change {
        old: side(&record.change.old_image)?,
        new: side(&record.change.new_image)?,
    })
}
