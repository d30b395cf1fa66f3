//! DynamoDB: one table (`PK`, `SK`) for connections, authorization states, posts, failure
//! records and tenant settings. Each submodule owns its items; the helpers here are shared.

mod connections;
mod dlq;
mod limits;
mod metrics;
mod posts;
mod tenants;
mod webhooks;

use std::collections::HashMap;

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::aws_errors::{self, AwsError};

pub use connections::{
    Change, ConnectionStore, StoredConnection, Updated, HEALTH_INDEX, UPDATE_TRIES,
};
pub use dlq::{DlqDayCount, DlqFilter, DlqRecord, DlqRecordId, DlqStatus};
pub use limits::{Admission, LimitStore};
pub use metrics::{MetricsDay, MEMBER_READINGS_KEPT, METRICS_INDEX};
pub use posts::{Claim, PostStore, Recorded, Retention, SCHEDULED_INDEX, STRANDED_INDEX};
pub use tenants::TenantStore;
pub use webhooks::WebhookStore;

type Item = HashMap<String, AttributeValue>;

/// The partition holding everything of one tenant's.
pub(crate) fn tenant_pk(tenant: &crate::domain::TenantId) -> String {
    format!("TENANT#{tenant}")
}

/// A query of one tenant's items whose sort key starts with `prefix`, one page of `limit`,
/// resuming after `cursor` (which must be one of ours for the same prefix).
pub(crate) fn tenant_query(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    tenant: &crate::domain::TenantId,
    prefix: &str,
    limit: i32,
    cursor: Option<&str>,
) -> Result<aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder, StoreError> {
    let mut query = client
        .query()
        .table_name(table)
        .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
        .expression_attribute_values(":pk", AttributeValue::S(tenant_pk(tenant)))
        .expression_attribute_values(":prefix", AttributeValue::S(prefix.into()))
        .limit(limit);
    if let Some(cursor) = cursor {
        query = query
            .exclusive_start_key("PK", AttributeValue::S(tenant_pk(tenant)))
            .exclusive_start_key("SK", AttributeValue::S(decode_cursor(cursor, prefix)?));
    }
    Ok(query)
}

/// The items of a query page, decoded, and the cursor to the next page.
pub(crate) fn page<T>(
    out: aws_sdk_dynamodb::operation::query::QueryOutput,
    decode: impl Fn(Item) -> Result<T, StoreError>,
) -> Result<(Vec<T>, Option<String>), StoreError> {
    let next = out
        .last_evaluated_key
        .as_ref()
        .and_then(|k| k.get("SK"))
        .and_then(|v| v.as_s().ok())
        .map(|sk| encode_cursor(sk));
    let items = out
        .items
        .unwrap_or_default()
        .into_iter()
        .map(decode)
        .collect::<Result<Vec<_>, _>>()?;
    Ok((items, next))
}

/// One page of a sparse "due" index (partition `shard_attr` = `shard`, sort `due_attr` up to
/// `as_of`): the projected `tenant_id` and what `id_of` reads of each item, and an opaque
/// cursor to the next page. Never a table scan.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn due_page<T>(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    index: &str,
    (shard_attr, shard): (&str, String),
    due_attr: &str,
    as_of: chrono::DateTime<chrono::Utc>,
    limit: i32,
    cursor: Option<&str>,
    id_of: impl Fn(&Item) -> Option<T>,
) -> Result<(Vec<(crate::domain::TenantId, T)>, Option<String>), StoreError> {
    let mut query = client
        .query()
        .table_name(table)
        .index_name(index)
        .key_condition_expression("#shard = :shard AND #due <= :as_of")
        .expression_attribute_names("#shard", shard_attr)
        .expression_attribute_names("#due", due_attr)
        .expression_attribute_values(":shard", AttributeValue::S(shard))
        .expression_attribute_values(
            ":as_of",
            AttributeValue::S(as_of.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)),
        )
        .limit(limit);
    if let Some(cursor) = cursor {
        let key: HashMap<String, String> = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(cursor)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| StoreError::Invalid(format!("{index} cursor is not one of ours")))?;
        for (k, v) in key {
            query = query.exclusive_start_key(k, AttributeValue::S(v));
        }
    }
    let out = query
        .send()
        .await
        .map_err(|e| classify(&format!("Query {index}"), e))?;
    let next = out.last_evaluated_key.as_ref().map(|key| {
        let plain: HashMap<&String, &String> = key
            .iter()
            .filter_map(|(k, v)| v.as_s().ok().map(|s| (k, s)))
            .collect();
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(&plain).expect("strings serialize"))
    });
    let refs = out
        .items
        .unwrap_or_default()
        .into_iter()
        .filter_map(|item| {
            let tenant = item
                .get("tenant_id")?
                .as_s()
                .ok()
                .and_then(|t| crate::domain::TenantId::parse(t))?;
            Some((tenant, id_of(&item)?))
        })
        .collect();
    Ok((refs, next))
}

/// A string attribute of an item, if it has one.
pub(crate) fn text<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)?.as_s().ok().map(String::as_str)
}

/// Partitions of every sparse "due" index (connections' health checks, scheduled posts, posts
/// that may be stranded): an item's shard comes from its random id, so one tenant's burst
/// (a thousand posts scheduled for 9:00) spreads over all of them instead of making one hot
/// partition, and each round reads every shard. Raising it is safe (items keep the shard
/// they were written with, which stays below the new count); lowering it would hide items.
pub const INDEX_SHARDS: u32 = 16;

/// A shard number from an id's text, stable across processes.
pub(crate) fn shard_of(id: &str, shards: u32) -> u32 {
    id.bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(b as u32))
        % shards
}

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

/// An item as written: the table's keys, the entity's name and any index attributes, then the
/// record's own attributes, mapped by serde. Read back, the record ignores the rest.
#[derive(Serialize)]
pub(crate) struct Keyed<'a, T, I = NoIndexes> {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    entity: &'static str,
    #[serde(flatten)]
    indexes: I,
    #[serde(flatten)]
    record: &'a T,
}

/// No index attributes.
#[derive(Serialize)]
pub(crate) struct NoIndexes {}

impl<'a, T> Keyed<'a, T> {
    pub fn new(pk: String, sk: String, entity: &'static str, record: &'a T) -> Self {
        Self {
            pk,
            sk,
            entity,
            indexes: NoIndexes {},
            record,
        }
    }

    pub fn with<I>(self, indexes: I) -> Keyed<'a, T, I> {
        Keyed {
            pk: self.pk,
            sk: self.sk,
            entity: self.entity,
            indexes,
            record: self.record,
        }
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

/// Sorts an SDK failure into conflict, retryable or not: lost races by DynamoDB's typed
/// errors, the rest as every adapter does ([`aws_errors::is_transient`]).
pub(crate) fn classify<E>(operation: &str, error: AwsError<E>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    aws_sdk_dynamodb::Error: From<AwsError<E>>,
{
    use aws_sdk_dynamodb::Error;
    aws_errors::classify_typed(
        operation,
        error,
        |typed| match typed {
            Error::ConditionalCheckFailedException(_) => Some(StoreError::Conflict),
            // A cancelled transaction is a lost race when a condition failed; otherwise (e.g.
            // a TransactionConflict) it is transient.
            Error::TransactionCanceledException(cancelled) => Some(
                if cancelled
                    .cancellation_reasons()
                    .iter()
                    .any(|reason| reason.code() == Some("ConditionalCheckFailed"))
                {
                    StoreError::Conflict
                } else {
                    StoreError::Unavailable
                },
            ),
            _ => None,
        },
        StoreError::Unavailable,
        StoreError::Invalid,
    )
}

/// A post's item as the store writes it, for tests of what reads items elsewhere.
#[cfg(test)]
pub(crate) fn post_item_for_tests(post: &crate::domain::posts::Post) -> Item {
    posts::post_item(post, &Retention::default()).expect("posts encode")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws_errors::fixtures::{code, modeled, service, transient};
    use aws_sdk_dynamodb::operation::put_item::PutItemError as Put;
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError as Transact;
    use aws_sdk_dynamodb::types::error::{
        ConditionalCheckFailedException, InternalServerError,
        ProvisionedThroughputExceededException, ResourceNotFoundException,
        TransactionCanceledException, TransactionConflictException,
    };
    use aws_sdk_dynamodb::types::CancellationReason;

    #[derive(Debug, Clone, PartialEq)]
    enum Class {
        Conflict,
        Unavailable,
        Invalid,
    }

    fn class(error: &StoreError) -> Class {
        match error {
            StoreError::Conflict(_) => Class::Conflict,
            StoreError::Unavailable(_) => Class::Unavailable,
            StoreError::Invalid(_) => Class::Invalid,
        }
    }

    fn cancelled(reasons: &[&str]) -> AwsError<Transact> {
        let exception = reasons.iter().fold(
            TransactionCanceledException::builder().meta(code("TransactionCanceledException")),
            |exception, reason| {
                exception.cancellation_reasons(CancellationReason::builder().code(*reason).build())
            },
        );
        service(
            400,
            Transact::TransactionCanceledException(exception.build()),
        )
    }

    /// A burst of one tenant's posts (random ids) spreads over every shard, none much hotter
    /// than the rest.
    #[test]
    fn a_burst_spreads_over_every_index_shard() {
        let mut counts = vec![0u32; INDEX_SHARDS as usize];
        for _ in 0..(INDEX_SHARDS * 200) {
            counts[shard_of(&uuid::Uuid::new_v4().to_string(), INDEX_SHARDS) as usize] += 1;
        }
        const { assert!(INDEX_SHARDS >= 16) };
        assert!(counts.iter().all(|c| (120..=280).contains(c)), "{counts:?}");
    }

    #[test]
    fn transactions_cancelled_by_a_failed_condition_are_conflicts() {
        let reasons: [(&[&str], Class); 6] = [
            (&["None", "ConditionalCheckFailed"], Class::Conflict),
            (&["ConditionalCheckFailed"], Class::Conflict),
            (&["None", "TransactionConflict"], Class::Unavailable),
            (&["ThrottlingError"], Class::Unavailable),
            (&["ValidationError"], Class::Unavailable),
            (&[], Class::Unavailable),
        ];
        for (reasons, expected) in reasons {
            let sorted = classify("TransactWriteItems", cancelled(reasons));
            assert_eq!(class(&sorted), expected, "{reasons:?}: {sorted:?}");
        }
        let mut others = transient(Transact::generic, Class::Unavailable);
        let invalid = service(400, Transact::generic(code("ValidationException")));
        others.push(("not cancelled", invalid, Class::Invalid));
        for (name, error, expected) in others {
            let sorted = classify("TransactWriteItems", error);
            assert_eq!(class(&sorted), expected, "{name}: {sorted:?}");
        }
    }

    #[test]
    fn single_item_failures_are_conflicts_unavailable_or_invalid() {
        let mut cases = transient(Put::generic, Class::Unavailable);
        cases.extend([
            (
                "condition failed",
                service(
                    400,
                    Put::ConditionalCheckFailedException(modeled!(ConditionalCheckFailedException)),
                ),
                Class::Conflict,
            ),
            (
                "provisioned throughput exceeded",
                service(
                    400,
                    Put::ProvisionedThroughputExceededException(modeled!(
                        ProvisionedThroughputExceededException
                    )),
                ),
                Class::Unavailable,
            ),
            (
                "transaction conflict",
                service(
                    400,
                    Put::TransactionConflictException(modeled!(TransactionConflictException)),
                ),
                Class::Unavailable,
            ),
            (
                "request limit",
                service(400, Put::generic(code("RequestLimitExceeded"))),
                Class::Unavailable,
            ),
            (
                "internal",
                service(500, Put::InternalServerError(modeled!(InternalServerError))),
                Class::Unavailable,
            ),
            (
                "unavailable",
                service(400, Put::generic(code("ServiceUnavailable"))),
                Class::Unavailable,
            ),
            (
                "no such table",
                service(
                    400,
                    Put::ResourceNotFoundException(modeled!(ResourceNotFoundException)),
                ),
                Class::Invalid,
            ),
            (
                "invalid",
                service(400, Put::generic(code("ValidationException"))),
                Class::Invalid,
            ),
        ]);
        for (name, error, expected) in cases {
            let sorted = classify("PutItem", error);
            assert_eq!(class(&sorted), expected, "{name}: {sorted:?}");
            assert!(sorted.to_string().contains("PutItem: "), "{name}: {sorted}");
        }
    }
}
