//! Posts and idempotency keys (DLQ records: [`super::dlq`]).
//!
//! | item | PK | SK |
//! |---|---|---|
//! | post | `TENANT#{tenant}` | `POST#{post_id}` |
//! | idempotency key | `TENANT#{tenant}` | `IDEMPOTENCY#{key}` |
//!
//! While a post is `scheduled` it is also in the sparse `ScheduledDue` index
//! (`scheduled_shard`, `scheduled_at`), where the reconciler finds posts whose time passed
//! without a run.
//!
//! Every change to a post is a whole-item write conditional on the version that was read, so
//! two invocations acting on the same post never both succeed. A new post is counted toward
//! its tenant's limits in the transaction that records it; a post leaving `scheduled` gives
//! its scheduled-post slot back in the write that moves it.
//!
//! Retention: idempotency keys, finished posts and DLQ records carry the table's TTL attribute
//! `ttl` (epoch seconds; DynamoDB deletes the item after it, usually within days), per
//! [`Retention`]. A post gets it only once it is finished (published, failed, cancelled or
//! deleted, with no delete at LinkedIn pending), counted from its last change; every write
//! recomputes it, so a scheduled, queued or publishing post never carries one.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;

use super::connections::{unchanged as connection_unchanged, StoredConnection};
use super::limits::{counter_update, member_day_update};
use super::{
    classify, due_page, from_item, page, shard_of, tenant_pk, tenant_query, to_item, Item, Keyed,
    StoreError, INDEX_SHARDS,
};
use crate::domain::limits::{Limit, LimitReached, TenantLimits};
use crate::domain::posts::{publish_day, Job, Post, PostId, PostStatus};
use crate::domain::{Connection, ConnectionId, TenantId};

/// The sparse index of scheduled posts by time.
pub const SCHEDULED_INDEX: &str = "ScheduledDue";
/// The sparse index of posts in `queued` or `publishing`, by the time from which they count as
/// stranded (`stranded_at`); the reconciler's second view.
pub const STRANDED_INDEX: &str = "StrandedDue";

#[derive(Debug, Clone)]
pub struct PostStore {
    pub(super) client: aws_sdk_dynamodb::Client,
    pub(super) table: String,
    pub(super) retention: Retention,
}

/// How long records the table keeps only for a while are kept (`RETENTION_*_DAYS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// An idempotency key, from the post's creation. It must outlive every retry a client
    /// makes of its request (clients retry for minutes or hours, never days).
    pub idempotency_key: chrono::Duration,
    /// A finished post, from its last change: over a year, so a year's posts can be read back
    /// (and a published one deleted at LinkedIn) from the API.
    pub finished_post: chrono::Duration,
    /// A DLQ record, from its creation: a month to review it (the failed post itself keeps its
    /// code for `finished_post`).
    pub dlq_record: chrono::Duration,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            idempotency_key: chrono::Duration::days(7),
            finished_post: chrono::Duration::days(400),
            dlq_record: chrono::Duration::days(30),
        }
    }
}

/// The table's TTL attribute (template.yaml `TimeToLiveSpecification`), epoch seconds.
#[derive(Serialize)]
pub(super) struct Expiry {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) ttl: Option<i64>,
}

/// What recording a new post found.
#[derive(Debug)]
pub enum Recorded {
    Created,
    /// The idempotency key was used before with the same request: that post.
    Replayed(Box<Post>),
    /// The idempotency key was used before with a different request.
    KeyReused,
    /// The tenant is at one of its limits: nothing was recorded.
    Limited(LimitReached),
}

/// The outcome of trying to take a post for a publish attempt.
#[derive(Debug)]
pub enum Claim {
    /// Taken for this attempt. `connection` is the post's connection as the caller knew it,
    /// if the claim's own write proved it unchanged (so the attempt need not read it again).
    Claimed {
        post: Box<Post>,
        connection: Option<Box<StoredConnection>>,
    },
    /// Someone else holds it, or it is past publishing (published, cancelled, failed…).
    NotClaimable(Box<Post>),
    Missing,
}

/// What a claim's write came to.
enum ClaimWrite {
    Claimed(Claim),
    /// The post is not the version the claim started from.
    PostChanged,
}

/// What a write checked against a connection came to.
enum Checked {
    Written,
    /// Refused because the post changed (whatever the connection did).
    PostChanged,
    /// Refused only because the connection changed: the post may be written without the check.
    ConnectionChanged,
    /// Written without a check.
    Unchecked(Result<(), StoreError>),
}

/// The index attributes a post's state puts it in, beside the record's own.
#[derive(Serialize)]
struct PostIndexes {
    /// Present only while the post is scheduled: its partition of the ScheduledDue index.
    #[serde(skip_serializing_if = "Option::is_none")]
    scheduled_shard: Option<String>,
    /// Present only while the post is queued or publishing: its partition of StrandedDue.
    #[serde(skip_serializing_if = "Option::is_none")]
    active_shard: Option<String>,
    /// When it counts as stranded if nothing changes it (see [`Post::stranded_from`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    stranded_at: Option<DateTime<Utc>>,
    /// Present only while published with a reading due (`metrics_due_at`, the record's own
    /// attribute, sorts it): its partition of MetricsDue.
    #[serde(skip_serializing_if = "Option::is_none")]
    metrics_shard: Option<String>,
    /// Only once the post is finished: when DynamoDB may delete it.
    #[serde(flatten)]
    expiry: Expiry,
}

/// A post nothing will change any more, unless its tenant asks for a delete at LinkedIn.
fn is_finished(p: &Post) -> bool {
    matches!(
        p.status,
        PostStatus::Published
            | PostStatus::Failed
            | PostStatus::Cancelled
            | PostStatus::Deleted
            | PostStatus::Rejected
            | PostStatus::ApprovalExpired
    ) && p.delete_requested_at.is_none()
}

fn post_sk(id: PostId) -> String {
    format!("POST#{id}")
}
fn idempotency_sk(key: &str) -> String {
    format!("IDEMPOTENCY#{key}")
}

pub(super) fn post_item(p: &Post, retention: &Retention) -> Result<Item, StoreError> {
    let shard = |prefix: &str| format!("{prefix}#{}", shard_of(&p.id.to_string(), INDEX_SHARDS));
    let indexes = PostIndexes {
        // Posts waiting for approval with a time are in it too: the reconciler expires one
        // whose schedule was lost.
        scheduled_shard: p.holds_scheduled_slot().then(|| shard("SCHEDULED")),
        active_shard: p.stranded_from().map(|_| shard("ACTIVE")),
        stranded_at: p.stranded_from(),
        // By connection, not by post: a connection's due posts come in one page, so their
        // readings are batched (one token, one statistics call per organization).
        metrics_shard: (p.status == PostStatus::Published && p.metrics_due_at.is_some()).then(
            || {
                format!(
                    "METRICS#{}",
                    shard_of(&p.connection_id.to_string(), INDEX_SHARDS)
                )
            },
        ),
        expiry: Expiry {
            ttl: is_finished(p).then(|| (p.updated_at + retention.finished_post).timestamp()),
        },
    };
    to_item(&Keyed::new(tenant_pk(&p.tenant_id), post_sk(p.id), "post", p).with(indexes))
}

/// The limits a new post counts toward.
fn counted_limits(post: &Post) -> Vec<Limit> {
    let mut limits = vec![Limit::RequestsPerSecond, Limit::PostsPerDay];
    if post.holds_scheduled_slot() {
        limits.push(Limit::ScheduledPosts);
    }
    limits
}

/// Gives back the scheduled-post slot `post` held.
fn release_scheduled_slot(table: &str, post: &Post) -> Result<TransactWriteItem, StoreError> {
    counter_update(
        table,
        &post.tenant_id,
        Limit::ScheduledPosts,
        0,
        -1,
        post.updated_at,
    )
}

/// Which items of a cancelled transaction failed their condition, in order (none for any
/// other failure).
fn failed_conditions<R>(
    error: &aws_sdk_dynamodb::error::SdkError<TransactWriteItemsError, R>,
) -> Vec<bool> {
    match error.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => cancelled
            .cancellation_reasons()
            .iter()
            .map(|r| r.code() == Some("ConditionalCheckFailed"))
            .collect(),
        _ => Vec::new(),
    }
}

fn post_from_item(item: Item) -> Result<Post, StoreError> {
    from_item(item)
}

fn idempotency_item(post: &Post, key: &str, request_hash: &str, retention: &Retention) -> Item {
    HashMap::from([
        ("PK".into(), AttributeValue::S(tenant_pk(&post.tenant_id))),
        ("SK".into(), AttributeValue::S(idempotency_sk(key))),
        ("entity".into(), AttributeValue::S("idempotency_key".into())),
        ("post_id".into(), AttributeValue::S(post.id.to_string())),
        (
            "request_hash".into(),
            AttributeValue::S(request_hash.into()),
        ),
        (
            "ttl".into(),
            AttributeValue::N(
                (post.created_at + retention.idempotency_key)
                    .timestamp()
                    .to_string(),
            ),
        ),
    ])
}

impl PostStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            retention: Retention::default(),
        }
    }

    /// The same store, keeping records for `retention` (the configuration's).
    pub fn with_retention(mut self, retention: Retention) -> Self {
        self.retention = retention;
        self
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Records a new post, with its idempotency key if it has one, and counts it toward the
    /// tenant's limits (a request, a post of the day, a scheduled post outstanding), all in
    /// one transaction: the post is recorded and counted, or neither.
    pub async fn record(
        &self,
        post: &Post,
        idempotency: Option<(&str, &str)>,
        limits: &TenantLimits,
    ) -> Result<Recorded, StoreError> {
        let put = |item: Item| {
            Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(PK)")
                .build()
                .map(|p| TransactWriteItem::builder().put(p).build())
                .map_err(|e| StoreError::Invalid(e.to_string()))
        };
        let mut items = vec![put(post_item(post, &self.retention)?)?];
        if let Some((key, request_hash)) = idempotency {
            items.push(put(idempotency_item(
                post,
                key,
                request_hash,
                &self.retention,
            ))?);
        }
        let counted = counted_limits(post);
        let first_counter = items.len();
        for limit in &counted {
            items.push(counter_update(
                &self.table,
                &post.tenant_id,
                *limit,
                limit.max(limits),
                1,
                post.created_at,
            )?);
        }
        // Never refuses: counted after the limits, so a failed condition's index still names
        // the limit.
        let day = publish_day(post.scheduled_at, post.created_at);
        items.push(member_day_update(
            &self.table,
            &post.tenant_id,
            post.connection_id,
            day,
        )?);
        let sent = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        let error = match sent {
            Ok(_) => return Ok(Recorded::Created),
            Err(e) => e,
        };
        let failed = failed_conditions(&error);
        // A counter at its limit, while the post and its key were free: refused, nothing written.
        if !failed[..first_counter.min(failed.len())].iter().any(|f| *f) {
            if let Some(limit) = failed
                .iter()
                .skip(first_counter)
                .position(|f| *f)
                .map(|i| counted[i])
            {
                return Ok(Recorded::Limited(LimitReached {
                    limit,
                    retry_after: limit.retry_after(post.created_at),
                }));
            }
        }
        match classify("TransactWriteItems record post", error) {
            StoreError::Conflict(detail) => {
                // The write may have been applied with its answer lost (the SDK's retry
                // then fails its own condition): then the post is there with our token.
                if self.holds_write(post).await? {
                    return Ok(Recorded::Created);
                }
                let Some((key, request_hash)) = idempotency else {
                    return Err(StoreError::Conflict(detail));
                };
                self.replay(&post.tenant_id, key, request_hash).await
            }
            other => Err(other),
        }
    }

    async fn replay(
        &self,
        tenant: &TenantId,
        key: &str,
        request_hash: &str,
    ) -> Result<Recorded, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("PK", AttributeValue::S(tenant_pk(tenant)))
            .key("SK", AttributeValue::S(idempotency_sk(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify("GetItem idempotency key", e))?;
        let item = out
            .item
            .ok_or_else(|| StoreError::Conflict("post id collision".into()))?;
        let attr = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
        if attr("request_hash").as_deref() != Some(request_hash) {
            return Ok(Recorded::KeyReused);
        }
        let id = attr("post_id")
            .and_then(|s| PostId::parse(&s))
            .ok_or_else(|| StoreError::Invalid("idempotency item without post id".into()))?;
        match self.get(tenant, id).await? {
            Some(post) => Ok(Recorded::Replayed(Box::new(post))),
            None => Err(StoreError::Conflict("idempotent post vanished".into())),
        }
    }

    /// Undoes [`Self::record`] when the post could not be enqueued, so nothing claims to be
    /// queued that will never run. Only a post nobody touched yet is removed.
    pub async fn withdraw(
        &self,
        post: &Post,
        idempotency_key: Option<&str>,
    ) -> Result<(), StoreError> {
        let delete = |sk: String, condition: Option<&str>| {
            let mut d = Delete::builder()
                .table_name(&self.table)
                .key("PK", AttributeValue::S(tenant_pk(&post.tenant_id)))
                .key("SK", AttributeValue::S(sk));
            if let Some(c) = condition {
                d = d
                    .condition_expression(c)
                    .expression_attribute_values(":v", AttributeValue::N(post.version.to_string()));
            }
            d.build()
                .map(|d| TransactWriteItem::builder().delete(d).build())
                .map_err(|e| StoreError::Invalid(e.to_string()))
        };
        let mut write = self
            .client
            .transact_write_items()
            .transact_items(delete(post_sk(post.id), Some("version = :v"))?);
        if let Some(key) = idempotency_key {
            write = write.transact_items(delete(idempotency_sk(key), None)?);
        }
        if post.holds_scheduled_slot() {
            write = write.transact_items(release_scheduled_slot(&self.table, post)?);
        }
        write
            .send()
            .await
            .map_err(|e| classify("TransactWriteItems withdraw post", e))?;
        Ok(())
    }

    pub async fn get(&self, tenant: &TenantId, id: PostId) -> Result<Option<Post>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("PK", AttributeValue::S(tenant_pk(tenant)))
            .key("SK", AttributeValue::S(post_sk(id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify("GetItem post", e))?;
        out.item.map(post_from_item).transpose()
    }

    /// Writes `next` if the stored post is still at `next.version - 1`. A failed condition is
    /// checked against the record: if it holds `next`'s write token, this very write was
    /// applied and only its answer was lost (the SDK retried it), so it succeeded.
    pub async fn replace(&self, next: &Post) -> Result<(), StoreError> {
        let condition = "version = :expected";
        let expected = AttributeValue::N((next.version - 1).to_string());
        let written = if next.leaves_scheduled() {
            // The post leaves `scheduled`: its tenant's count goes down in the same write.
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(post_item(next, &self.retention)?))
                .condition_expression(condition)
                .expression_attribute_values(":expected", expected)
                .build()
                .map_err(|e| StoreError::Invalid(e.to_string()))?;
            self.client
                .transact_write_items()
                .transact_items(TransactWriteItem::builder().put(put).build())
                .transact_items(release_scheduled_slot(&self.table, next)?)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| classify("TransactWriteItems post leaving scheduled", e))
        } else {
            self.client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(post_item(next, &self.retention)?))
                .condition_expression(condition)
                .expression_attribute_values(":expected", expected)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| classify("PutItem post", e))
        };
        match written {
            Err(StoreError::Conflict(detail)) => {
                if self.holds_write(next).await? {
                    Ok(())
                } else {
                    Err(StoreError::Conflict(detail))
                }
            }
            other => other,
        }
    }

    /// Whether the stored post is the one `written` describes (same version and write token).
    async fn holds_write(&self, written: &Post) -> Result<bool, StoreError> {
        let stored = self.get(&written.tenant_id, written.id).await?;
        Ok(stored
            .is_some_and(|s| s.version == written.version && s.write_token == written.write_token))
    }

    /// Takes a post for one publish attempt (see [`Post::claim`]). A lost race re-reads once:
    /// whoever won holds the post now.
    ///
    /// The job may carry the post as recorded when it was queued: every change of a post is a
    /// new version, so while the stored post is still that version it is that post, and the
    /// claim is one conditional write without a read. Once it has changed, the claim reads it.
    ///
    /// `connection_of` gives the post's connection as the caller last read it, if it did: the
    /// claim's write then checks, in the same transaction, that the connection is still that
    /// version, and a `Claimed` returns it — the attempt need not read it. A connection changed
    /// meanwhile (disconnected, refreshed, throttled…) only drops the check.
    pub async fn claim(
        &self,
        job: &Job,
        now: DateTime<Utc>,
        lease: std::time::Duration,
        connection_of: impl Fn(&Post) -> Option<StoredConnection>,
    ) -> Result<Claim, StoreError> {
        let (tenant, id, fired_for) = (&job.tenant_id, job.post_id, job.scheduled_at);
        let known = job.post.as_deref();
        let of = |post: &Post| {
            connection_of(post).filter(|c| {
                c.connection.tenant_id == post.tenant_id && c.connection.id == post.connection_id
            })
        };
        let known = known.filter(|p| p.id == id && p.tenant_id == *tenant);
        if let Some(claimed) = known.and_then(|p| p.claim(now, lease, fired_for)) {
            match self
                .claim_write(claimed, of(known.expect("claimed from it")))
                .await?
            {
                ClaimWrite::Claimed(claim) => return Ok(claim),
                ClaimWrite::PostChanged => {}
            }
        }
        for _ in 0..2 {
            let Some(post) = self.get(tenant, id).await? else {
                return Ok(Claim::Missing);
            };
            let Some(claimed) = post.claim(now, lease, fired_for) else {
                return Ok(Claim::NotClaimable(Box::new(post)));
            };
            let connection = of(&post);
            match self.claim_write(claimed, connection).await? {
                ClaimWrite::Claimed(claim) => return Ok(claim),
                ClaimWrite::PostChanged => continue,
            }
        }
        match self.get(tenant, id).await? {
            Some(post) => Ok(Claim::NotClaimable(Box::new(post))),
            None => Ok(Claim::Missing),
        }
    }

    /// Writes a claimed post, with the check that `connection` is unchanged if given; a
    /// connection found changed is written again without it.
    async fn claim_write(
        &self,
        claimed: Post,
        connection: Option<StoredConnection>,
    ) -> Result<ClaimWrite, StoreError> {
        let checked = match &connection {
            Some(stored) => self.replace_checked(&claimed, &stored.connection).await?,
            None => Checked::Unchecked(self.replace(&claimed).await),
        };
        let written = match checked {
            Checked::Written => Ok(connection),
            Checked::PostChanged => return Ok(ClaimWrite::PostChanged),
            Checked::ConnectionChanged => self.replace(&claimed).await.map(|()| None),
            Checked::Unchecked(written) => written.map(|()| None),
        };
        match written {
            Ok(connection) => Ok(ClaimWrite::Claimed(Claim::Claimed {
                post: Box::new(claimed),
                connection: connection.map(Box::new),
            })),
            Err(StoreError::Conflict(_)) => Ok(ClaimWrite::PostChanged),
            Err(e) => Err(e),
        }
    }

    /// [`Self::replace`] in one transaction with a check that `connection` is still the
    /// version read, telling which of the two changed if the write is refused.
    async fn replace_checked(
        &self,
        next: &Post,
        connection: &Connection,
    ) -> Result<Checked, StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(post_item(next, &self.retention)?))
            .condition_expression("version = :expected")
            .expression_attribute_values(
                ":expected",
                AttributeValue::N((next.version - 1).to_string()),
            )
            .build()
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        let mut items = vec![
            TransactWriteItem::builder().put(put).build(),
            connection_unchanged(&self.table, connection)?,
        ];
        if next.leaves_scheduled() {
            // The post leaves `scheduled`: its tenant's count goes down in the same write.
            items.push(release_scheduled_slot(&self.table, next)?);
        }
        let error = match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => return Ok(Checked::Written),
            Err(e) => e,
        };
        let failed = failed_conditions(&error);
        if failed.is_empty() {
            return Err(classify(
                "TransactWriteItems post with its connection's check",
                error,
            ));
        }
        // Applied with its answer lost (the SDK's retry then fails its own condition): the post
        // is there with our token, and the connection was checked by the write that landed.
        if failed[0] && self.holds_write(next).await? {
            return Ok(Checked::Written);
        }
        Ok(if failed[0] || !failed.get(1).copied().unwrap_or(false) {
            Checked::PostChanged
        } else {
            Checked::ConnectionChanged
        })
    }

    /// One page of the tenant's posts, optionally of one connection and/or in one status.
    pub async fn list(
        &self,
        tenant: &TenantId,
        connection: Option<ConnectionId>,
        status: Option<PostStatus>,
        limit: i32,
        cursor: Option<&str>,
    ) -> Result<(Vec<Post>, Option<String>), StoreError> {
        let mut query = tenant_query(&self.client, &self.table, tenant, "POST#", limit, cursor)?;
        let mut filters = Vec::new();
        if let Some(c) = connection {
            filters.push("connection_id = :c");
            query = query.expression_attribute_values(":c", AttributeValue::S(c.to_string()));
        }
        if let Some(s) = status {
            filters.push("#status = :s");
            query = query
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":s", AttributeValue::S(s.as_str().into()));
        }
        if !filters.is_empty() {
            query = query.filter_expression(filters.join(" AND "));
        }
        let out = query.send().await.map_err(|e| classify("Query posts", e))?;
        page(out, post_from_item)
    }

    /// The connection's posts waiting for a time (scheduled, or waiting for approval with a
    /// time) that falls after `after`, as (time, id): a reconnect runway's posts at risk. One
    /// query of the tenant's posts, paged, with only those fields read back.
    pub async fn scheduled_after(
        &self,
        tenant: &TenantId,
        connection: ConnectionId,
        after: DateTime<Utc>,
    ) -> Result<Vec<(DateTime<Utc>, PostId)>, StoreError> {
        #[derive(Deserialize)]
        struct Waiting {
            post_id: PostId,
            scheduled_at: Option<DateTime<Utc>>,
        }
        let mut found = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let out = tenant_query(
                &self.client,
                &self.table,
                tenant,
                "POST#",
                1000,
                cursor.as_deref(),
            )?
            .filter_expression("connection_id = :c AND #status IN (:scheduled, :pending)")
            .projection_expression("post_id, scheduled_at")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":c", AttributeValue::S(connection.to_string()))
            .expression_attribute_values(
                ":scheduled",
                AttributeValue::S(PostStatus::Scheduled.as_str().into()),
            )
            .expression_attribute_values(
                ":pending",
                AttributeValue::S(PostStatus::PendingApproval.as_str().into()),
            )
            .send()
            .await
            .map_err(|e| classify("Query scheduled posts of a connection", e))?;
            let (waiting, next) = page(out, from_item::<Waiting>)?;
            found.extend(waiting.into_iter().filter_map(|w| {
                w.scheduled_at
                    .filter(|at| *at > after)
                    .map(|at| (at, w.post_id))
            }));
            match next {
                Some(c) => cursor = Some(c),
                None => return Ok(found),
            }
        }
    }

    /// One page of shard `shard`'s scheduled posts whose time is at or before `as_of`, from the
    /// ScheduledDue index, and the cursor to the next page.
    pub async fn scheduled_due(
        &self,
        shard: u32,
        as_of: DateTime<Utc>,
        limit: i32,
        cursor: Option<&str>,
    ) -> Result<(Vec<(TenantId, PostId)>, Option<String>), StoreError> {
        due_page(
            &self.client,
            &self.table,
            SCHEDULED_INDEX,
            ("scheduled_shard", format!("SCHEDULED#{shard}")),
            "scheduled_at",
            as_of,
            limit,
            cursor,
            |item| super::text(item, "post_id").and_then(PostId::parse),
        )
        .await
    }

    /// One page of shard `shard`'s posts in `queued` or `publishing` that count as stranded by
    /// `as_of`, from the StrandedDue index, and the cursor to the next page.
    pub async fn stranded_due(
        &self,
        shard: u32,
        as_of: DateTime<Utc>,
        limit: i32,
        cursor: Option<&str>,
    ) -> Result<(Vec<(TenantId, PostId)>, Option<String>), StoreError> {
        due_page(
            &self.client,
            &self.table,
            STRANDED_INDEX,
            ("active_shard", format!("ACTIVE#{shard}")),
            "stranded_at",
            as_of,
            limit,
            cursor,
            |item| super::text(item, "post_id").and_then(PostId::parse),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::posts::{Author, FailureCode, JobAction, PostDraft, PostError};
    use crate::domain::MemberUrn;
    use crate::store::dlq::dlq_item;
    use crate::store::{from_item, DlqRecord};
    use chrono::TimeZone;
    use url::Url;

    fn at(day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, day, 12, 0, 0).unwrap()
    }

    fn post(scheduled: bool) -> Post {
        let draft = PostDraft {
            scheduled_at: scheduled.then(|| at(30)),
            ..PostDraft::new(
                ConnectionId::new(),
                Author::Member(MemberUrn::from_member_id("abc")),
                "Hello",
            )
        };
        Post::new(
            PostId::new(),
            TenantId::parse("acme").unwrap(),
            draft,
            at(1),
        )
    }

    fn ttl(item: &Item) -> Option<i64> {
        item.get("ttl").map(|v| v.as_n().unwrap().parse().unwrap())
    }

    /// A post expires only once it is finished, counted from its last change: a scheduled,
    /// queued or publishing post never carries the TTL, nor a published one being deleted.
    #[test]
    fn a_post_gets_its_ttl_when_it_finishes_and_not_before() {
        let retention = Retention::default();
        let keep = |p: &Post| ttl(&post_item(p, &retention).unwrap());
        let expires = |p: &Post| Some((p.updated_at + retention.finished_post).timestamp());
        let lease = std::time::Duration::from_secs(90);

        let scheduled = post(true);
        assert_eq!(scheduled.status, PostStatus::Scheduled);
        assert_eq!(keep(&scheduled), None, "scheduled");
        let queued = post(false);
        assert_eq!(keep(&queued), None, "queued");
        let publishing = queued.claim(at(2), lease, None).unwrap();
        assert_eq!(keep(&publishing), None, "publishing");
        let error = PostError::new(FailureCode::LinkedinUnavailable);
        let retrying = publishing.retry_later(error.clone(), false, at(2), at(3));
        assert_eq!(keep(&retrying), None, "queued for a retry");

        let published = publishing.published("urn:li:share:1", at(3));
        assert_eq!(keep(&published), expires(&published), "published");
        assert_eq!(
            keep(&published),
            Some((at(3) + chrono::Duration::days(400)).timestamp())
        );
        let failed = publishing.failed(error, at(4));
        assert_eq!(keep(&failed), expires(&failed), "failed");
        let cancelled = queued.cancelled(at(5));
        assert_eq!(keep(&cancelled), expires(&cancelled), "cancelled");
        let deleted = published.deleted(at(6));
        assert_eq!(keep(&deleted), expires(&deleted), "deleted");

        let mut deleting = published.clone();
        deleting.delete_requested_at = Some(at(7));
        assert_eq!(keep(&deleting), None, "a delete at LinkedIn is pending");
    }

    #[test]
    fn idempotency_keys_and_dlq_records_expire_from_their_creation() {
        let retention = Retention {
            idempotency_key: chrono::Duration::days(2),
            finished_post: chrono::Duration::days(3),
            dlq_record: chrono::Duration::days(5),
        };
        let p = post(true);
        let key = idempotency_item(&p, "key-1", "hash", &retention);
        assert_eq!(
            ttl(&key),
            Some((at(1) + chrono::Duration::days(2)).timestamp())
        );

        let mut record = DlqRecord::for_post(
            &p,
            "job-1".into(),
            JobAction::Publish,
            (FailureCode::Forbidden, FailureCode::Forbidden.message()),
            "LinkedIn refused the request; retrying cannot help",
        );
        record.created_at = at(9);
        let item = dlq_item(&record, &retention).unwrap();
        assert_eq!(
            ttl(&item),
            Some((at(9) + chrono::Duration::days(5)).timestamp())
        );
        // Read back, the record ignores the attribute.
        let back: DlqRecord = from_item(item).unwrap();
        assert_eq!(back, record);
    }

    /// DynamoDB's size of an item: attribute names and values in bytes (numbers counted by
    /// their digits, an upper bound), lists and maps 3 bytes plus their elements.
    fn item_size(item: &Item) -> usize {
        fn value(v: &AttributeValue) -> usize {
            match v {
                AttributeValue::S(s) | AttributeValue::N(s) => s.len(),
                AttributeValue::B(b) => b.as_ref().len(),
                AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
                AttributeValue::L(l) => 3 + l.iter().map(|v| 1 + value(v)).sum::<usize>(),
                AttributeValue::M(m) => {
                    3 + m.iter().map(|(k, v)| 1 + k.len() + value(v)).sum::<usize>()
                }
                AttributeValue::Ss(l) | AttributeValue::Ns(l) => l.iter().map(String::len).sum(),
                other => panic!("unexpected attribute {other:?}"),
            }
        }
        item.iter().map(|(k, v)| k.len() + value(v)).sum()
    }

    /// LinkedIn's own limits bound every post: at 3,000 characters of text and 20 images with
    /// 2 KB URLs and 4,086-character alternative texts, all in 4-byte characters, with every
    /// field a publish adds, the item and its DLQ record stay under DynamoDB's 400 KB.
    #[test]
    fn a_post_at_every_limit_fits_in_a_dynamodb_item() {
        use crate::domain::posts::{MediaItem, MAX_ALT_TEXT_CHARS, MAX_IMAGES, MAX_TEXT_CHARS};
        let wide = '\u{1D54F}'; // 4 bytes in UTF-8
        let url = |i: usize| {
            let base = format!("https://cdn.example.com/{i}.png?p=");
            Url::parse(&format!("{base}{}", "x".repeat(2048 - base.len()))).unwrap()
        };
        let mut p = post(false);
        p.text = std::iter::repeat_n(wide, MAX_TEXT_CHARS).collect();
        p.media = (0..MAX_IMAGES)
            .map(|i| {
                let alt_text = std::iter::repeat_n(wide, MAX_ALT_TEXT_CHARS).collect();
                MediaItem::image(url(i), Some(alt_text))
            })
            .collect();
        assert!(p.media.iter().all(|m| m.url.as_str().len() == 2048));
        let mut p = p
            .claim(at(2), std::time::Duration::from_secs(90), None)
            .unwrap();
        p.media_urns = (0..MAX_IMAGES)
            .map(|i| format!("urn:li:digitalmediaAsset:C4E{i:0>60}"))
            .collect();
        let p = p
            .retry_later(
                PostError::new(FailureCode::TokenRefreshFailed),
                true,
                at(2),
                at(3),
            )
            .published("urn:li:ugcPost:7012345678901234567890", at(3));
        let size = item_size(&post_item(&p, &Retention::default()).unwrap());
        assert!(size > 370_000, "the test post is at the limits: {size}");
        assert!(size < 400 * 1024, "a post item of {size} bytes");

        let record = DlqRecord::for_post(
            &p,
            "a".repeat(100),
            JobAction::Delete,
            (FailureCode::TokenRefreshFailed, FailureCode::TokenRefreshFailed.message()),
            "LinkedIn refused the connection's tokens even after refreshing them; the member must reconnect",
        );
        let size = item_size(&dlq_item(&record, &Retention::default()).unwrap());
        assert!(size < 400 * 1024, "a DLQ record of {size} bytes");
    }
}
