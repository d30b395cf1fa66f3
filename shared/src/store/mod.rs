//! DynamoDB: one table (`PK`, `SK`) for connections, authorization states, posts and failure
//! records. Each submodule owns its items; the helpers here are shared.

mod connections;
mod posts;

use std::collections::HashMap;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use serde::{Deserialize, Serialize};

pub use connections::{
    Change, ConnectionStore, StoredConnection, Updated, HEALTH_INDEX, HEALTH_SHARDS, UPDATE_TRIES,
};
pub use posts::{
    Claim, DlqRecord, PostStore, Recorded, SCHEDULED_INDEX, SCHEDULED_SHARDS, STRANDED_INDEX,
};

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
/// `as_of`): the projected `(tenant_id, id_attr)` references, parsed by `parse_id`, and an
/// opaque cursor to the next page. Never a table scan.
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
    (id_attr, parse_id): (&str, fn(&str) -> Option<T>),
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
            let id = item.get(id_attr)?.as_s().ok().and_then(|i| parse_id(i))?;
            Some((tenant, id))
        })
        .collect();
    Ok((refs, next))
}

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

/// Sorts an SDK failure into conflict, retryable or not.
pub(crate) fn classify<E>(
    operation: &str,
    error: SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>,
) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let detail = format!(
        "{operation}: {}",
        aws_sdk_dynamodb::error::DisplayErrorContext(&error)
    );
    let SdkError::ServiceError(service) = &error else {
        return StoreError::Unavailable(detail);
    };
    if service.raw().status().is_server_error() {
        // Including a 5xx whose body named no error code.
        return StoreError::Unavailable(detail);
    }
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
