//! The `publisher` function: takes publish and delete jobs from SQS and carries them out at
//! LinkedIn exactly once. Retries are redeliveries (message visibility), never sleeps; jobs
//! that cannot succeed end as failed posts with a DLQ record.
//!
//! - `attempt`: one attempt at a post, and what follows each outcome (retry, fail, hand back);
//! - `publish`: claim, tokens, media, create;
//! - `body`: what LinkedIn is sent beside the text, by the post's kind;
//! - `article`: a link card filled from its page's Open Graph tags, its thumbnail uploaded;
//! - `delete`: delete at LinkedIn (asked for, or a cancel that found its post live);
//! - `edit`: a published post's text edited at LinkedIn;
//! - `comment`: the first comment, once the post is published.

mod article;
mod attempt;
mod body;
mod comment;
mod delete;
mod edit;
pub mod known_connections;
mod media;
mod mentions;
mod publish;
mod tenant_detail;
pub mod throttle;

use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use chrono::Utc;
use connector::config::{Config, MediaSettings, PostsApi};
use connector::deadline::Deadline;
use connector::domain::posts::{Job, JobAction};
use connector::linkedin::LinkedInClient;
use connector::queue::{batch_response, PublishQueue, MAX_VISIBILITY};
use connector::schedules::JobScheduler;
use connector::store::{LimitStore, PostStore};
use connector::tokens::TokenKeeper;
use tracing::{error, info, warn, Instrument};

/// How long one attempt owns a post: longer than the function's timeout (60 s in the template).
pub const CLAIM_LEASE: Duration = Duration::from_secs(90);

pub struct Publisher {
    pub posts: PostStore,
    pub keeper: TokenKeeper,
    pub queue: PublishQueue,
    /// For waits longer than SQS's visibility allows.
    pub scheduler: JobScheduler,
    pub dialect: PostsApi,
    pub media: MediaSettings,
    pub lease: Duration,
    /// LinkedIn's daily limits: members backed off, the application paused.
    pub throttle: throttle::Throttle,
    /// Connections this instance read, offered to the next claim's check.
    pub known_connections: known_connections::KnownConnections,
}

impl Publisher {
    pub fn from_config(config: &Config, sdk: &aws_config::SdkConfig) -> anyhow::Result<Self> {
        let dynamo = aws_sdk_dynamodb::Client::new(sdk);
        Ok(Self {
            posts: PostStore::new(dynamo.clone(), config.table_name.clone())
                .with_retention(config.retention),
            keeper: TokenKeeper::from_config(config, sdk, &dynamo)?,
            queue: PublishQueue::new(
                connector::aws_clients::LazyClient::from_sdk(sdk, aws_sdk_sqs::Client::new),
                config.require_publish_queue()?.to_owned(),
            ),
            scheduler: JobScheduler::new(sdk, config.require_schedules()?.clone()),
            dialect: config.posts_api,
            media: config.media.clone(),
            lease: CLAIM_LEASE,
            throttle: throttle::Throttle::new(
                LimitStore::new(dynamo, config.table_name.clone()),
                config.throttle,
            ),
            known_connections: known_connections::KnownConnections::default(),
        })
    }

    fn linkedin(&self) -> &LinkedInClient {
        &self.keeper.linkedin
    }

    /// The function's metrics (the LinkedIn client's, which times every call).
    fn metrics(&self) -> &connector::metrics::Metrics {
        self.linkedin().metrics()
    }

    /// The longest one LinkedIn call may take.
    fn call_time(&self) -> Duration {
        self.linkedin().settings().request_timeout
    }
}

/// A store failure that ends the invocation's handling of a job, with what it was doing.
pub(crate) fn crashed(
    context: &'static str,
) -> impl FnOnce(connector::store::StoreError) -> Disposition {
    move |e| Disposition::Crashed(anyhow::Error::new(e).context(context))
}

/// What [`attempt::Attempt::after`] comes to, on the heap.
pub(crate) type BoxedDisposition<'o> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Disposition> + Send + 'o>>;

/// What becomes of one message.
#[derive(Debug)]
pub(crate) enum Disposition {
    /// Finished (published, failed for good, or nothing to do): delete the message.
    Done,
    /// Try again after this long: the message is redelivered then.
    RetryAfter(Duration),
    /// Something unexpected (the store is down…): let SQS redeliver, and redrive to the DLQ
    /// after too many receives.
    Crashed(anyhow::Error),
}

/// One message's job, with what the attempt needs to know about its delivery.
pub(crate) struct Delivery<'a> {
    pub job: &'a Job,
    pub message: &'a SqsMessage,
    pub deadline: Deadline,
}

/// Handles one SQS batch within the invocation's `deadline`; answers the ids of the messages
/// to redeliver (partial failure).
pub async fn handle(
    event: SqsEvent,
    publisher: &Publisher,
    deadline: Deadline,
) -> SqsBatchResponse {
    let results = futures::future::join_all(
        event
            .records
            .iter()
            .map(|m| process(m, publisher, deadline)),
    )
    .await;
    batch_response(event.records.iter().zip(results))
}

async fn process(message: &SqsMessage, publisher: &Publisher, deadline: Deadline) -> bool {
    let Some(job) = message
        .body
        .as_deref()
        .and_then(|b| serde_json::from_str::<Job>(b).ok())
    else {
        error!(message_id = ?message.message_id, "unreadable job; leaving it to the queue's redrive");
        return false;
    };
    let receive_count: u32 = message
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|c| c.parse().ok())
        .unwrap_or(1);
    let span = tracing::info_span!(
        "job",
        action = ?job.action,
        tenant_id = %job.tenant_id,
        post_id = %job.post_id,
        message_id = message.message_id.as_deref().unwrap_or(""),
        receive_count,
    );
    let delivery = Delivery {
        job: &job,
        message,
        deadline,
    };
    async {
        // Each job's future is large (every step's state): on the heap, not the stack.
        let outcome = match job.action {
            JobAction::Publish => Box::pin(publish::publish(&delivery, publisher)).await,
            JobAction::Delete => Box::pin(delete::delete_job(&delivery, publisher)).await,
            JobAction::Edit => Box::pin(edit::edit_job(&delivery, publisher)).await,
            JobAction::Comment => Box::pin(comment::comment_job(&delivery, publisher)).await,
        };
        match outcome {
            Disposition::Done => true,
            Disposition::RetryAfter(delay) if delay > MAX_VISIBILITY => {
                // Longer than a message can stay invisible (LinkedIn's daily reset): a one-time
                // schedule puts the job back on the queue then, and this message is done.
                let at = Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default();
                let name = format!("retry-{}-{}", job.post_id, at.timestamp());
                match publisher.scheduler.enqueue_at(&name, &job, at).await {
                    Ok(()) => {
                        info!(at = %at, schedule = name.as_str(), "retry scheduled past the queue's limit");
                        true
                    }
                    Err(e) => {
                        warn!(error = %e, "could not schedule the retry; redelivering after 12 h instead");
                        let receipt = message.receipt_handle.as_deref().unwrap_or_default();
                        let _ = publisher.queue.redeliver_after(receipt, MAX_VISIBILITY).await;
                        false
                    }
                }
            }
            Disposition::RetryAfter(delay) => {
                let receipt = message.receipt_handle.as_deref().unwrap_or_default();
                info!(delay_ms = delay.as_millis() as u64, "retry scheduled");
                if let Err(e) = publisher.queue.redeliver_after(receipt, delay).await {
                    warn!(error = %e, "could not delay the redelivery; the queue's visibility timeout applies");
                }
                false
            }
            Disposition::Crashed(e) => {
                error!(error = format!("{e:#}"), "job crashed; SQS will redeliver it");
                false
            }
        }
    }
    .instrument(span)
    .await
}
