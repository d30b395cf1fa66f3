//! The publish queue (SQS): jobs in, and delayed redelivery for retries.

use std::time::Duration;

use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};

use crate::posts::Job;

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
    client: aws_sdk_sqs::Client,
    url: String,
}

impl PublishQueue {
    pub fn new(client: aws_sdk_sqs::Client, url: impl Into<String>) -> Self {
        Self {
            client,
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

fn classify<E, R>(operation: &str, error: SdkError<E, R>) -> QueueError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let detail = format!(
        "{operation}: {}",
        aws_sdk_sqs::error::DisplayErrorContext(&error)
    );
    match &error {
        SdkError::ServiceError(s)
            if !matches!(
                s.err().code(),
                Some(
                    "ThrottlingException"
                        | "RequestThrottled"
                        | "InternalError"
                        | "ServiceUnavailable"
                )
            ) =>
        {
            QueueError::Refused(detail)
        }
        _ => QueueError::Unavailable(detail),
    }
}
