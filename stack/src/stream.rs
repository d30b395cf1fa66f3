//! The table's stream, read the way Lambda's DynamoDB event source mapping reads it for the
//! `events` function: shards in order from the start, a batch at a time, and a batch whose
//! records could not all be handled is read again from the first that failed. moto keeps the
//! stream; nothing reads it locally but this.

use std::collections::HashMap;

use anyhow::Context;
use aws_lambda_events::event::dynamodb::EventRecord;
use aws_sdk_dynamodbstreams::types::ShardIteratorType;
use tokio::sync::Mutex;

pub struct TableStream {
    client: aws_sdk_dynamodbstreams::Client,
    arn: String,
    /// Each shard's next iterator, and records read but not yet handled.
    state: Mutex<(HashMap<String, String>, Vec<EventRecord>)>,
}

impl TableStream {
    pub async fn open(sdk: &aws_config::SdkConfig, table: &str) -> anyhow::Result<Self> {
        let arn = aws_sdk_dynamodb::Client::new(sdk)
            .describe_table()
            .table_name(table)
            .send()
            .await
            .context("describing the table")?
            .table
            .and_then(|t| t.latest_stream_arn)
            .context("the table has no stream")?;
        Ok(Self {
            client: aws_sdk_dynamodbstreams::Client::new(sdk),
            arn,
            state: Mutex::new((HashMap::new(), Vec::new())),
        })
    }

    /// Hands what the stream holds now to `events`; returns how many records it handled.
    pub async fn run_once(&self, events: &events_function::Events) -> anyhow::Result<usize> {
        let mut state = self.state.lock().await;
        let (iterators, pending) = &mut *state;
        let shards = self
            .client
            .describe_stream()
            .stream_arn(&self.arn)
            .send()
            .await
            .context("describing the stream")?
            .stream_description
            .and_then(|d| d.shards)
            .unwrap_or_default();
        for shard in shards {
            let Some(shard_id) = shard.shard_id else {
                continue;
            };
            let iterator = match iterators.get(&shard_id) {
                Some(i) => i.clone(),
                None => self
                    .client
                    .get_shard_iterator()
                    .stream_arn(&self.arn)
                    .shard_id(&shard_id)
                    .shard_iterator_type(ShardIteratorType::TrimHorizon)
                    .send()
                    .await
                    .context("opening a shard")?
                    .shard_iterator
                    .context("no shard iterator")?,
            };
            let out = self
                .client
                .get_records()
                .shard_iterator(iterator)
                .send()
                .await
                .context("reading the stream")?;
            pending.extend(
                out.records
                    .unwrap_or_default()
                    .into_iter()
                    .map(lambda_record),
            );
            if let Some(next) = out.next_shard_iterator {
                iterators.insert(shard_id, next);
            }
        }
        if pending.is_empty() {
            return Ok(0);
        }
        let (response, told) = events_function::handle(pending, events).await;
        match response.batch_item_failures.first() {
            None => pending.clear(),
            Some(failure) => {
                let from = pending
                    .iter()
                    .position(|r| r.change.sequence_number == failure.item_identifier)
                    .unwrap_or(0);
                pending.drain(..from);
            }
        }
        Ok(told.records)
    }
}

/// A stream record as Lambda hands it to a function.
fn lambda_record(record: aws_sdk_dynamodbstreams::types::Record) -> EventRecord {
    let mut out = EventRecord::default();
    out.event_id = record.event_id.unwrap_or_default();
    out.event_name = record
        .event_name
        .map(|n| n.as_str().to_owned())
        .unwrap_or_default();
    out.event_source = Some("aws:dynamodb".into());
    if let Some(change) = record.dynamodb {
        let item =
            |image: Option<HashMap<_, _>>| image.map(serde_dynamo::Item::from).unwrap_or_default();
        out.change.keys = item(change.keys);
        out.change.new_image = item(change.new_image);
        out.change.old_image = item(change.old_image);
        out.change.sequence_number = change.sequence_number;
    }
    out
}
