//! DLQ records: the jobs that will not be retried, kept for the tenant to review, retry
//! (redrive) or dismiss.
//!
//! | item | PK | SK |
//! |---|---|---|
//! | DLQ record | `TENANT#{tenant}` | `DLQ#{record id}` |
//!
//! A record's id is a UUIDv7: its first 48 bits are the creation time in milliseconds, so the
//! sort key orders records by time and a time range is a sort-key range (newest first, `since`
//! and `until` without a filter). Connection, action, error code and status are filters on
//! that range: DynamoDB applies them after reading a page, so a filtered page may hold fewer
//! records than asked for (or none) and still carry a cursor.
//!
//! A retried record stays, marked `retried` with the times it was retried, until its TTL
//! (`RETENTION_DLQ_RECORD_DAYS` from its creation); a dismissed one is deleted.
//!
//! The daily review counts records as they are written, in the same transaction, so the
//! reconciler reads a day's counts with one query instead of scanning tenants:
//!
//! | item | PK | SK |
//! |---|---|---|
//! | records of a day | `DLQDAY#{YYYY-MM-DD}` | `COUNT#{tenant}#{error code}` (`n`) |
//! | the day reviewed | `DLQDAY#{YYYY-MM-DD}` | `REVIEWED` |

use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::posts::Expiry;
use super::{
    classify, decode_cursor, from_item, page, tenant_pk, to_item, Item, Keyed, PostStore,
    Retention, StoreError,
};
use crate::domain::posts::{FailureCode, JobAction, Post, PostId};
use crate::domain::{ConnectionId, TenantId};

const SK_PREFIX: &str = "DLQ#";
/// How long a day's counts are kept: long enough for any late review.
const DAY_COUNTS_KEPT: chrono::Duration = chrono::Duration::days(40);

fn day_pk(day: NaiveDate) -> String {
    format!("DLQDAY#{day}")
}

/// New DLQ records of one tenant with one error code on one UTC day.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct DlqDayCount {
    pub tenant_id: TenantId,
    pub error_code: FailureCode,
    pub n: u64,
}

/// A DLQ record's id (a UUIDv7, ordered by its creation time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DlqRecordId(Uuid);

impl DlqRecordId {
    /// A new id for a record made at `at`.
    pub fn at(at: DateTime<Utc>) -> Self {
        let ms = u64::try_from(at.timestamp_millis()).unwrap_or_default();
        let ts = uuid::Timestamp::from_unix(
            uuid::NoContext,
            ms / 1000,
            u32::try_from((ms % 1000) * 1_000_000).unwrap_or_default(),
        );
        Self(Uuid::new_v7(ts))
    }

    /// An id from the API's path; `None` for anything that is not a UUID.
    pub fn parse(raw: &str) -> Option<Self> {
        Uuid::parse_str(raw).ok().map(Self)
    }

    fn sk(self) -> String {
        format!("{SK_PREFIX}{}", self.0.hyphenated())
    }

    /// The lowest (or, with `highest`, the highest) id a record made in `at`'s millisecond can
    /// have: the bounds of a time range.
    fn bound(at: DateTime<Utc>, highest: bool) -> String {
        let ms = u128::from(u64::try_from(at.timestamp_millis()).unwrap_or_default());
        let rest: u128 = if highest { (1 << 80) - 1 } else { 0 };
        format!(
            "{SK_PREFIX}{}",
            Uuid::from_u128((ms << 80) | rest).hyphenated()
        )
    }
}

impl std::fmt::Display for DlqRecordId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

/// Whether a record's job was put back.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    strum::EnumString,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum DlqStatus {
    /// Waiting for review.
    #[default]
    Open,
    /// Its job was put back on the queue (see `retried_at`).
    Retried,
}

/// A job that will not be retried, kept for review (the spec's DLQ record).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DlqRecord {
    pub id: DlqRecordId,
    pub job_id: String,
    pub tenant_id: TenantId,
    pub connection_id: ConnectionId,
    pub post_id: PostId,
    pub platform: String,
    pub action: JobAction,
    /// The job without secrets: ids, author, text, media URLs.
    pub payload: serde_json::Value,
    pub error_code: FailureCode,
    pub error_message: String,
    pub retry_count: u32,
    pub first_attempt: Option<DateTime<Utc>>,
    pub last_attempt: Option<DateTime<Utc>>,
    pub reason: String,
    pub created_at: DateTime<Utc>,
    #[serde(default)]
    pub status: DlqStatus,
    /// When the job was put back, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retried_at: Vec<DateTime<Utc>>,
}

impl DlqRecord {
    /// The record of a post's job that will not be retried: the post without secrets (ids,
    /// author, text, media URLs, its URN if it has one) and why.
    pub fn for_post(
        post: &Post,
        job_id: String,
        action: JobAction,
        (code, message): (FailureCode, &str),
        reason: &str,
    ) -> Self {
        let now = Utc::now();
        Self {
            id: DlqRecordId::at(now),
            job_id,
            tenant_id: post.tenant_id.clone(),
            connection_id: post.connection_id,
            post_id: post.id,
            platform: crate::domain::PLATFORM.into(),
            action,
            payload: serde_json::json!({
                "post_id": post.id,
                "author": post.author,
                "text": post.text,
                "media": post.media.iter().map(|m| m.url.as_str()).collect::<Vec<_>>(),
                "visibility": post.visibility,
                "linkedin_urn": post.linkedin_urn,
            }),
            error_code: code,
            error_message: message.into(),
            retry_count: post.attempt_number(action),
            first_attempt: post.first_attempt_at,
            last_attempt: post.last_attempt_at,
            reason: reason.into(),
            created_at: now,
            status: DlqStatus::Open,
            retried_at: Vec::new(),
        }
    }

    /// The record once its job was put back at `now`.
    pub fn retried(&self, now: DateTime<Utc>) -> Self {
        let mut next = self.clone();
        next.status = DlqStatus::Retried;
        next.retried_at.push(now);
        next
    }
}

/// Which records a listing shows: all of them by default.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DlqFilter {
    pub connection: Option<ConnectionId>,
    pub action: Option<JobAction>,
    pub error_code: Option<FailureCode>,
    pub status: Option<DlqStatus>,
    /// Made at or after.
    pub since: Option<DateTime<Utc>>,
    /// Made at or before.
    pub until: Option<DateTime<Utc>>,
}

pub(crate) fn dlq_item(record: &DlqRecord, retention: &Retention) -> Result<Item, StoreError> {
    let expiry = Expiry {
        ttl: Some((record.created_at + retention.dlq_record).timestamp()),
    };
    to_item(
        &Keyed::new(
            tenant_pk(&record.tenant_id),
            record.id.sk(),
            "dlq_record",
            record,
        )
        .with(expiry),
    )
}

impl PostStore {
    /// Writes the record and counts it toward its day's review, in one transaction.
    pub async fn put_dlq_record(&self, record: &DlqRecord) -> Result<(), StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(dlq_item(record, &self.retention)?))
            .build()
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        let day = record.created_at.date_naive();
        let count = Update::builder()
            .table_name(&self.table)
            .key("PK", AttributeValue::S(day_pk(day)))
            .key(
                "SK",
                AttributeValue::S(format!("COUNT#{}#{}", record.tenant_id, record.error_code)),
            )
            .update_expression(
                "ADD n :one SET tenant_id = :tenant, error_code = :code, #ttl = :ttl",
            )
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":tenant", AttributeValue::S(record.tenant_id.to_string()))
            .expression_attribute_values(":code", AttributeValue::S(record.error_code.to_string()))
            .expression_attribute_values(
                ":ttl",
                AttributeValue::N(
                    (record.created_at + DAY_COUNTS_KEPT)
                        .timestamp()
                        .to_string(),
                ),
            )
            .build()
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        self.client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(put).build())
            .transact_items(TransactWriteItem::builder().update(count).build())
            .send()
            .await
            .map_err(|e| classify("TransactWriteItems DLQ record and its day's count", e))?;
        Ok(())
    }

    /// Takes `day`'s review: `true` for the one caller that marks it first (so a day is
    /// reviewed once however many rounds run after it).
    pub async fn take_dlq_review(&self, day: NaiveDate) -> Result<bool, StoreError> {
        let written = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("PK", AttributeValue::S(day_pk(day)))
            .item("SK", AttributeValue::S("REVIEWED".into()))
            .item(
                "ttl",
                AttributeValue::N(
                    (day.and_time(chrono::NaiveTime::MIN).and_utc() + DAY_COUNTS_KEPT)
                        .timestamp()
                        .to_string(),
                ),
            )
            .condition_expression("attribute_not_exists(SK)")
            .send()
            .await
            .map_err(|e| classify("PutItem DLQ review mark", e));
        match written {
            Ok(_) => Ok(true),
            Err(StoreError::Conflict(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// `day`'s new DLQ records by tenant and error code.
    pub async fn dlq_day_counts(&self, day: NaiveDate) -> Result<Vec<DlqDayCount>, StoreError> {
        let mut counts = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("PK = :pk AND begins_with(SK, :count)")
                .expression_attribute_values(":pk", AttributeValue::S(day_pk(day)))
                .expression_attribute_values(":count", AttributeValue::S("COUNT#".into()))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| classify("Query DLQ day counts", e))?;
            for item in out.items.unwrap_or_default() {
                counts.push(from_item(item)?);
            }
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(counts);
            }
        }
    }

    /// One page of the tenant's DLQ records that `filter` lets through, newest first, and the
    /// cursor to the next page (see the module's note on filtered pages).
    pub async fn dlq_records(
        &self,
        tenant: &TenantId,
        filter: &DlqFilter,
        limit: i32,
        cursor: Option<&str>,
    ) -> Result<(Vec<DlqRecord>, Option<String>), StoreError> {
        let from = filter.since.map_or_else(
            || format!("{SK_PREFIX}0"),
            |at| DlqRecordId::bound(at, false),
        );
        let to = filter.until.map_or_else(
            || format!("{SK_PREFIX}g"),
            |at| DlqRecordId::bound(at, true),
        );
        let mut query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk AND SK BETWEEN :from AND :to")
            .expression_attribute_values(":pk", AttributeValue::S(tenant_pk(tenant)))
            .expression_attribute_values(":from", AttributeValue::S(from))
            .expression_attribute_values(":to", AttributeValue::S(to))
            .scan_index_forward(false)
            .limit(limit);
        if let Some(cursor) = cursor {
            query = query
                .exclusive_start_key("PK", AttributeValue::S(tenant_pk(tenant)))
                .exclusive_start_key("SK", AttributeValue::S(decode_cursor(cursor, SK_PREFIX)?));
        }
        let mut equal: Vec<(&str, String)> = Vec::new();
        if let Some(c) = filter.connection {
            equal.push(("connection_id", c.to_string()));
        }
        if let Some(a) = filter.action {
            equal.push(("action", a.as_str().to_owned()));
        }
        if let Some(code) = filter.error_code {
            equal.push(("error_code", code.to_string()));
        }
        if filter.status == Some(DlqStatus::Retried) {
            equal.push(("status", "retried".into()));
        }
        let mut filters = Vec::new();
        for (n, (attribute, value)) in equal.into_iter().enumerate() {
            filters.push(format!("#f{n} = :f{n}"));
            query = query
                .expression_attribute_names(format!("#f{n}"), attribute)
                .expression_attribute_values(format!(":f{n}"), AttributeValue::S(value));
        }
        if filter.status == Some(DlqStatus::Open) {
            filters.push("#open = :open".into());
            query = query
                .expression_attribute_names("#open", "status")
                .expression_attribute_values(":open", AttributeValue::S("open".into()));
        }
        if !filters.is_empty() {
            query = query.filter_expression(filters.join(" AND "));
        }
        let out = query
            .send()
            .await
            .map_err(|e| classify("Query DLQ records", e))?;
        page(out, from_item)
    }

    pub async fn dlq_record(
        &self,
        tenant: &TenantId,
        id: DlqRecordId,
    ) -> Result<Option<DlqRecord>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("PK", AttributeValue::S(tenant_pk(tenant)))
            .key("SK", AttributeValue::S(id.sk()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify("GetItem DLQ record", e))?;
        out.item.map(from_item).transpose()
    }

    /// Writes `retried` (the record marked retried) if the stored record is still open: two
    /// retries of one record never both count.
    pub async fn mark_dlq_retried(&self, retried: &DlqRecord) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(dlq_item(retried, &self.retention)?))
            .condition_expression("attribute_exists(SK) AND #status = :open")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":open", AttributeValue::S("open".into()))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("PutItem DLQ record retried", e))
    }

    /// Dismisses a record: `false` when there was none.
    pub async fn delete_dlq_record(
        &self,
        tenant: &TenantId,
        id: DlqRecordId,
    ) -> Result<bool, StoreError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("PK", AttributeValue::S(tenant_pk(tenant)))
            .key("SK", AttributeValue::S(id.sk()))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| classify("DeleteItem DLQ record", e))?;
        Ok(out.attributes.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    /// Ids sort as their times do, and a time's bounds hold exactly the ids of its millisecond.
    #[test]
    fn record_ids_sort_by_time_and_a_time_range_is_a_key_range() {
        let t = Utc.with_ymd_and_hms(2026, 12, 7, 12, 0, 0).unwrap();
        let ms = chrono::Duration::milliseconds(1);
        let ids: Vec<String> = [t - ms, t, t, t + ms]
            .into_iter()
            .map(|at| DlqRecordId::at(at).sk())
            .collect();
        assert!(ids[0] < ids[1] && ids[0] < ids[2], "{ids:?}");
        assert!(ids[1] < ids[3] && ids[2] < ids[3], "{ids:?}");
        let (low, high) = (DlqRecordId::bound(t, false), DlqRecordId::bound(t, true));
        assert!(low <= ids[1] && ids[1] <= high);
        assert!(low <= ids[2] && ids[2] <= high);
        assert!(ids[0] < low && high < ids[3]);
        // The open-ended range of a listing covers every id.
        assert!(format!("{SK_PREFIX}0") < ids[0] && ids[3] < format!("{SK_PREFIX}g"));
        let id = DlqRecordId::at(t);
        assert_eq!(DlqRecordId::parse(&id.to_string()), Some(id));
        assert_eq!(DlqRecordId::parse("not-an-id"), None);
    }

    #[test]
    fn a_retried_record_keeps_its_history() {
        use crate::domain::posts::{Author, PostDraft};
        let c = crate::domain::examples::connection();
        let draft = PostDraft::new(c.id, Author::Member(c.member_urn.clone()), "Hello");
        let post = Post::new(PostId::new(), c.tenant_id.clone(), draft, Utc::now());
        let record = DlqRecord::for_post(
            &post,
            "job-1".into(),
            JobAction::Publish,
            (FailureCode::Forbidden, FailureCode::Forbidden.message()),
            "refused",
        );
        assert_eq!(record.status, DlqStatus::Open);
        assert_eq!(record.post_id, post.id);
        let t = Utc::now();
        let twice = record.retried(t).retried(t + chrono::Duration::hours(1));
        assert_eq!(twice.status, DlqStatus::Retried);
        assert_eq!(twice.retried_at, vec![t, t + chrono::Duration::hours(1)]);
        // Read back from its item, the record is the same.
        let item = dlq_item(&twice, &Retention::default()).unwrap();
        assert_eq!(from_item::<DlqRecord>(item).unwrap(), twice);
    }
}
