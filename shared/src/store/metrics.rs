//! Engagement metrics: the posts due a reading (the sparse `MetricsDue` index: published posts
//! while they are young enough, by when they are read next) and each post's daily readings.
//!
//! | item | PK | SK |
//! |---|---|---|
//! | a day's reading | `TENANT#{tenant}` | `METRICS#{post_id}#{YYYY-MM-DD}` |
//!
//! A day's reading is written before the post takes it (a retry of the day overwrites the same
//! item). Readings of organization posts are kept as long as finished posts; readings of member
//! posts 48 hours, as LinkedIn allows member social activity data to be kept.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::posts::Expiry;
use super::{
    classify, due_page, from_item, page, tenant_pk, tenant_query, text, to_item, Keyed, PostStore,
    StoreError,
};
use crate::domain::posts::{Author, MetricCounts, Post, PostId};
use crate::domain::{ConnectionId, TenantId};

/// The sparse index of published posts by when their metrics are read next.
pub const METRICS_INDEX: &str = "MetricsDue";
/// How long a member post's readings are kept (LinkedIn's rule for member activity data).
pub const MEMBER_READINGS_KEPT: chrono::Duration = chrono::Duration::hours(48);

/// One day's reading of a post's metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MetricsDay {
    pub post_id: PostId,
    pub date: NaiveDate,
    pub fetched_at: DateTime<Utc>,
    pub counts: MetricCounts,
}

fn day_sk(post: PostId, date: Option<NaiveDate>) -> String {
    match date {
        Some(d) => format!("METRICS#{post}#{d}"),
        None => format!("METRICS#{post}#"),
    }
}

impl PostStore {
    /// One page of shard `shard`'s published posts whose metrics are due by `as_of`, with
    /// their connections, from the MetricsDue index, and the cursor to the next page. A
    /// connection's posts share a shard, so a page holds all of a connection's due posts up
    /// to its size: its readings are batched.
    pub async fn metrics_due(
        &self,
        shard: u32,
        as_of: DateTime<Utc>,
        limit: i32,
        cursor: Option<&str>,
    ) -> Result<(Vec<(TenantId, ConnectionId, PostId)>, Option<String>), StoreError> {
        let (due, next) = due_page(
            &self.client,
            &self.table,
            METRICS_INDEX,
            ("metrics_shard", format!("METRICS#{shard}")),
            "metrics_due_at",
            as_of,
            limit,
            cursor,
            |item| {
                let connection = text(item, "connection_id").and_then(ConnectionId::parse)?;
                Some((connection, text(item, "post_id").and_then(PostId::parse)?))
            },
        )
        .await?;
        let due = due
            .into_iter()
            .map(|(tenant, (connection, post))| (tenant, connection, post))
            .collect();
        Ok((due, next))
    }

    /// Records `next` (a post that took a reading at `fetched_at`, or says why it cannot),
    /// after the day's reading when there is one. Conditional on the post's version like every
    /// change of a post.
    pub async fn record_metrics(&self, next: &Post) -> Result<(), StoreError> {
        if let Some(counts) = next.metrics.as_ref().and_then(|m| m.counts) {
            let fetched_at = next
                .metrics
                .as_ref()
                .map_or(next.updated_at, |m| m.fetched_at);
            let day = MetricsDay {
                post_id: next.id,
                date: fetched_at.date_naive(),
                fetched_at,
                counts,
            };
            let kept = match next.author {
                Author::Member(_) => MEMBER_READINGS_KEPT,
                Author::Organization(_) => self.retention.finished_post,
            };
            #[derive(Serialize)]
            struct Expiring {
                #[serde(flatten)]
                expiry: Expiry,
            }
            let item = to_item(
                &Keyed::new(
                    tenant_pk(&next.tenant_id),
                    day_sk(next.id, Some(day.date)),
                    "post_metrics",
                    &day,
                )
                .with(Expiring {
                    expiry: Expiry {
                        ttl: Some((fetched_at + kept).timestamp()),
                    },
                }),
            )?;
            self.client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item))
                .send()
                .await
                .map_err(|e| classify("PutItem post metrics", e))?;
        }
        self.replace(next).await
    }

    /// The post's daily readings still kept at `now`, oldest first (at most 400).
    pub async fn metrics_history(
        &self,
        tenant: &TenantId,
        post: PostId,
        now: DateTime<Utc>,
    ) -> Result<Vec<MetricsDay>, StoreError> {
        let out = tenant_query(
            &self.client,
            &self.table,
            tenant,
            &day_sk(post, None),
            400,
            None,
        )?
        // DynamoDB deletes expired items within days, not at once: they are not shown.
        .filter_expression("attribute_not_exists(#ttl) OR #ttl > :now")
        .expression_attribute_names("#ttl", "ttl")
        .expression_attribute_values(
            ":now",
            aws_sdk_dynamodb::types::AttributeValue::N(now.timestamp().to_string()),
        )
        .send()
        .await
        .map_err(|e| classify("Query post metrics", e))?;
        Ok(page(out, from_item::<MetricsDay>)?.0)
    }
}
