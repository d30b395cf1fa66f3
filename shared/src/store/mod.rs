//! DynamoDB: one table (`PK`, `SK`) for connections, authorization states, posts and failure
//! records. Each submodule owns its items; the helpers here are shared.

mod connections;
mod posts;

use std::collections::HashMap;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use serde::{Deserialize, Serialize};

pub use connections::{ConnectionStore, StoredConnection};
pub use posts::{Claim, DlqRecord, PostStore, Recorded};

type Item = HashMap<String, AttributeValue>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A conditional write lost a race (someone else wrote first). Re-read and decide.
    #[error("conflicting write: {0}")]
    Conflict(String),
    /// DynamoDB throttled or failed: retrying can help.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The request or the stored item is malformed: retrying cannot help.
    #[error("store refused: {0}")]
    Invalid(String),
}

impl StoreError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

pub(crate) fn to_item<T: Serialize>(value: &T) -> Result<Item, StoreError> {
    serde_dynamo::to_item(value).map_err(|e| StoreError::Invalid(format!("encode item: {e}")))
}

pub(crate) fn from_item<T: for<'de> Deserialize<'de>>(item: Item) -> Result<T, StoreError> {
    serde_dynamo::from_item(item).map_err(|e| StoreError::Invalid(format!("decode item: {e}")))
}

pub(crate) fn encode_cursor(sk: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sk)
}

pub(crate) fn decode_cursor(cursor: &str, prefix: &str) -> Result<String, StoreError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .filter(|sk| sk.starts_with(prefix))
        .ok_or_else(|| StoreError::Invalid("cursor is not one this API issued".into()))
}

/// Sorts an SDK failure into conflict, retryable or not.
pub(crate) fn classify<E, R>(operation: &str, error: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let detail = format!(
        "{operation}: {}",
        aws_sdk_dynamodb::error::DisplayErrorContext(&error)
    );
    let SdkError::ServiceError(service) = &error else {
        return StoreError::Unavailable(detail);
    };
    match service.err().code().unwrap_or_default() {
        "ConditionalCheckFailedException" => StoreError::Conflict(detail),
        // A cancelled transaction is a lost race when a condition failed; otherwise (e.g. a
        // TransactionConflict) it is transient.
        "TransactionCanceledException" => {
            if detail.contains("ConditionalCheckFailed") {
                StoreError::Conflict(detail)
            } else {
                StoreError::Unavailable(detail)
            }
        }
        "ProvisionedThroughputExceededException"
        | "ThrottlingException"
        | "RequestLimitExceeded"
        | "InternalServerError"
        | "ServiceUnavailable"
        | "TransactionConflictException" => StoreError::Unavailable(detail),
        _ => StoreError::Invalid(detail),
    }
}
