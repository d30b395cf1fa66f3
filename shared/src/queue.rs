//! The publish queue (SQS): jobs in, and delayed redelivery for retries. The same adapter
//! sends the health queue's revoke jobs.

use crate::aws_clients::LazyClient;
use std::time::Duration;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsMessage};
use aws_sdk_sqs::error::ProvideErrorMetadata;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::aws_errors::{self, AwsError};
use crate::domain::posts::Job;
use crate::domain::{ConnectionId, TenantId};

/// How long a disconnect keeps asking LinkedIn to revoke the tokens before it destroys them
/// anyway (and says so on the connection).
pub const REVOKE_BOUND: chrono::Duration = chrono::Duration::hours(24);

/// Revoking a disconnected connection's tokens at LinkedIn, a task on the health queue: tried
/// with backoff until LinkedIn confirms; the sealed tokens are destroyed only then (or when
/// [`REVOKE_BOUND`] is reached).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokeJob {
    pub tenant_id: TenantId,
    pub connection_id: ConnectionId,
    /// When the member's app asked to disconnect.
    pub requested_at: DateTime<Utc>,
    /// The connection's `connect_count` then: a reconnect since makes the job moot.
    pub connect_count: u32,
    #[serde(default)]
    pub attempt: u32,
}

impl RevokeJob {
    /// The job's body on the health queue (`{"task":"revoke", …}`).
    pub fn body(&self) -> String {
        #[derive(Serialize)]
        struct Tagged<'a> {
            task: &'static str,
            #[serde(flatten)]
            job: &'a RevokeJob,
        }
        serde_json::to_string(&Tagged {
            task: "revoke",
            job: self,
        })
        .expect("revoke jobs serialize")
    }

    /// The next try, after 30 s doubling up to SQS's longest message delay (15 min).
    pub fn next(&self) -> (Self, Duration) {
        let delay = Duration::from_secs(30u64 << self.attempt.min(5)).min(Duration::from_secs(900));
        (
            Self {
                attempt: self.attempt + 1,
                ..self.clone()
            },
            delay,
        )
    }
}

/// SQS's longest visibility timeout (12 h). Longer waits go through a one-time schedule.
pub const MAX_VISIBILITY: Duration = Duration::from_secs(12 * 3600);

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("queue unavailable: {0}")]
    Unavailable(String),
    #[error("queue refused: {0}")]
    Refused(String),
}

impl QueueError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

#[derive(Debug, Clone)]
pub struct PublishQueue {
    client: LazyClient<aws_sdk_sqs::Client>,
    url: String,
}

impl PublishQueue {
    /// A queue reached through `client` (an SQS client, or one built at the first call).
    pub fn new(client: impl Into<LazyClient<aws_sdk_sqs::Client>>, url: impl Into<String>) -> Self {
        Self {
            client: client.into(),
            url: url.into(),
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub async fn enqueue(&self, job: &Job) -> Result<(), QueueError> {
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(serde_json::to_string(job).expect("jobs serialize"))
            .send()
            .await
            .map_err(|e| classify("SendMessage", e))?;
        Ok(())
    }

    /// Sends a message body as it is, delivered after `delay` (at most 15 min).
    pub async fn send(&self, body: String, delay: Duration) -> Result<(), QueueError> {
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .delay_seconds(delay.as_secs().min(900) as i32)
            .send()
            .await
            .map_err(|e| classify("SendMessage", e))?;
        Ok(())
    }

    /// Makes a received message visible again only after `delay` (at most 12 h): the retry
    /// is a redelivery, not a sleep in a Lambda.
    pub async fn redeliver_after(
        &self,
        receipt_handle: &str,
        delay: Duration,
    ) -> Result<(), QueueError> {
        let seconds = delay.min(MAX_VISIBILITY).as_secs().max(1);
        self.client
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(seconds as i32)
            .send()
            .await
            .map_err(|e| classify("ChangeMessageVisibility", e))?;
        Ok(())
    }
}

fn classify<E>(operation: &str, error: AwsError<E>) -> QueueError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    aws_errors::classify(
        operation,
        &error,
        QueueError::Unavailable,
        QueueError::Refused,
    )
}

/// The answer to an SQS batch: the messages that were not handled (`handled` false), which
/// SQS makes visible again; the others are deleted (partial batch response).
pub fn batch_response<'a>(
    outcomes: impl IntoIterator<Item = (&'a SqsMessage, bool)>,
) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for (message, handled) in outcomes {
        if !handled {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = message.message_id.clone().unwrap_or_default();
            response.batch_item_failures.push(failure);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws_errors::fixtures::{code, modeled, service, transient};
    use aws_sdk_sqs::operation::send_message::SendMessageError as Send;
    use aws_sdk_sqs::types::error::{InvalidMessageContents, QueueDoesNotExist, RequestThrottled};

    #[test]
    fn queue_failures_are_retryable_or_refused() {
        let mut cases = transient(Send::generic, true);
        cases.extend([
            (
                "throttled",
                service(400, Send::RequestThrottled(modeled!(RequestThrottled))),
                true,
            ),
            (
                "internal",
                service(500, Send::generic(code("InternalError"))),
                true,
            ),
            (
                "unavailable",
                service(400, Send::generic(code("ServiceUnavailable"))),
                true,
            ),
            (
                "no such queue",
                service(400, Send::QueueDoesNotExist(modeled!(QueueDoesNotExist))),
                false,
            ),
            (
                "invalid message",
                service(
                    400,
                    Send::InvalidMessageContents(modeled!(InvalidMessageContents)),
                ),
                false,
            ),
            (
                "access denied",
                service(400, Send::generic(code("AccessDenied"))),
                false,
            ),
        ]);
        for (name, error, retryable) in cases {
            let sorted = classify("SendMessage", error);
            assert_eq!(sorted.is_retryable(), retryable, "{name}: {sorted:?}");
        }
    }
}
