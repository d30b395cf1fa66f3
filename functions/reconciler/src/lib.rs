//! The `reconciler` function: every hour it finds scheduled posts whose time passed without a
//! run (their schedule was lost, or creating it failed after the post was recorded) and puts
//! them on the publish queue. It reads the sparse ScheduledDue index, never the whole table,
//! and says what it found.

use chrono::{DateTime, Utc};
use connector::config::Config;
use connector::posts::PostStatus;
use connector::queue::PublishQueue;
use connector::store::{PostStore, SCHEDULED_SHARDS};
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

/// A post is missed once its time is this far behind: EventBridge Scheduler fires `at()`
/// schedules within about a minute, and retries delivery for a while.
pub const GRACE: chrono::Duration = chrono::Duration::minutes(10);
/// Index entries read per query.
const PAGE: i32 = 500;
/// At most this many posts are enqueued per run; the next run takes the rest.
pub const MAX_PER_RUN: usize = 5_000;

pub struct Reconciler {
    pub posts: PostStore,
    pub queue: PublishQueue,
}

impl Reconciler {
    pub fn from_config(config: &Config, sdk: &aws_config::SdkConfig) -> anyhow::Result<Self> {
        Ok(Self {
            posts: PostStore::new(
                aws_sdk_dynamodb::Client::new(sdk),
                config.table_name.clone(),
            ),
            queue: PublishQueue::new(
                aws_sdk_sqs::Client::new(sdk),
                config.require_publish_queue()?.to_owned(),
            ),
        })
    }
}

/// The schedule's input: `{"as_of": "<aws.scheduler.scheduled-time>"}`; empty is fine.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct ReconcileRequest {
    #[serde(default)]
    pub as_of: Option<String>,
}

impl ReconcileRequest {
    /// The run's time (see [`connector::schedules::as_of`]).
    pub fn as_of(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        connector::schedules::as_of(self.as_of.as_deref(), now)
    }
}

/// What one run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Reconciled {
    /// Scheduled posts whose time is more than [`GRACE`] behind.
    pub found: usize,
    /// Of those, put on the publish queue.
    pub enqueued: usize,
    /// Found in the index but no longer scheduled when read (published or cancelled meanwhile).
    pub skipped: usize,
}

pub async fn handle(reconciler: &Reconciler, as_of: DateTime<Utc>) -> anyhow::Result<Reconciled> {
    let missed_by = as_of - GRACE;
    let mut result = Reconciled::default();
    'shards: for shard in 0..SCHEDULED_SHARDS {
        let mut cursor: Option<String> = None;
        loop {
            let (refs, next) = reconciler
                .posts
                .scheduled_due(shard, missed_by, PAGE, cursor.as_deref())
                .await?;
            for (tenant, id) in refs {
                if result.enqueued >= MAX_PER_RUN {
                    warn!(
                        limit = MAX_PER_RUN,
                        "more missed posts than one run takes; the next run continues"
                    );
                    break 'shards;
                }
                let Some(post) = reconciler.posts.get(&tenant, id).await? else {
                    continue;
                };
                let missed = post.status == PostStatus::Scheduled
                    && post.scheduled_at.is_some_and(|at| at <= missed_by);
                if !missed {
                    result.skipped += 1;
                    continue;
                }
                result.found += 1;
                // The job is made for the post's time, so it claims the post exactly like the
                // lost schedule would have; if that schedule fires after all, one of them wins.
                reconciler.queue.enqueue(&post.publish_job(as_of)).await?;
                result.enqueued += 1;
                warn!(
                    r#type = "missed_scheduled_post",
                    tenant_id = %tenant,
                    post_id = %id,
                    scheduled_at = ?post.scheduled_at,
                    "scheduled post missed its time; enqueued now"
                );
            }
            match next {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
    }
    info!(
        found = result.found,
        enqueued = result.enqueued,
        skipped = result.skipped,
        as_of = %as_of,
        "reconciled scheduled posts"
    );
    Ok(result)
}
