//! The `reconciler` function: every hour it finds scheduled posts whose time passed without a
//! run (their schedule was lost, or creating it failed after the post was recorded), and posts
//! stranded in `queued` or `publishing` (no live lease, no retry due, no change for 15 minutes:
//! a publisher killed mid-batch, a job that went to the SQS DLQ after crashing), and puts them
//! on the publish queue. A post rescued three times fails as STRANDED with a DLQ record, so
//! nothing loops forever. It reads the sparse ScheduledDue and StrandedDue indexes, never the
//! whole table, and says what it found. The first round of each UTC day also reviews the
//! previous day's DLQ records ([`review`]).

pub mod review;

use chrono::{DateTime, Utc};
use connector::config::Config;
use connector::domain::posts::{FailureCode, JobAction, Post, PostError, PostId, Stranded};
use connector::domain::TenantId;
use connector::queue::PublishQueue;
use connector::store::{DlqRecord, PostStore, StoreError, INDEX_SHARDS};
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
    /// A stranded post given up is a failed post like the publisher's.
    pub metrics: connector::metrics::Metrics,
}

impl Reconciler {
    pub fn from_config(config: &Config, sdk: &aws_config::SdkConfig) -> anyhow::Result<Self> {
        Ok(Self {
            posts: PostStore::new(
                aws_sdk_dynamodb::Client::new(sdk),
                config.table_name.clone(),
            )
            .with_retention(config.retention),
            queue: PublishQueue::new(
                connector::aws_clients::LazyClient::from_sdk(sdk, aws_sdk_sqs::Client::new),
                config.require_publish_queue()?.to_owned(),
            ),
            metrics: config.metrics.clone(),
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
    /// The run's time (see [`connector::domain::as_of`]).
    pub fn as_of(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        connector::domain::as_of(self.as_of.as_deref(), now)
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
    /// Posts stranded in `queued` or `publishing`.
    pub stranded: usize,
    /// Of those, put back on the queue.
    pub rescued: usize,
    /// Of those, failed as STRANDED after too many rescues.
    pub gave_up: usize,
    /// The previous day's DLQ review, in the first round of a day.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dlq_review: Option<review::DlqReview>,
}

pub async fn handle(as_of: DateTime<Utc>, reconciler: &Reconciler) -> anyhow::Result<Reconciled> {
    let missed_by = as_of - GRACE;
    let mut result = Reconciled::default();
    'shards: for shard in 0..INDEX_SHARDS {
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
                // A post still waiting for approval at its time is missed too: the job
                // expires it.
                let missed = post.holds_scheduled_slot()
                    && post.scheduled_at.is_some_and(|at| at <= missed_by);
                if !missed {
                    result.skipped += 1;
                    continue;
                }
                // The miss is recorded once (the tenant is told: `post.scheduled_missed`); a
                // post changed meanwhile (its schedule fired after all, a cancel) is left to
                // what changed it.
                let post = match post.schedule_missed(as_of) {
                    Some(missed) => match reconciler.posts.replace(&missed).await {
                        Ok(()) => missed,
                        Err(StoreError::Conflict(_)) => {
                            result.skipped += 1;
                            continue;
                        }
                        Err(e) => return Err(e.into()),
                    },
                    None => post,
                };
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
    rescue_stranded(reconciler, as_of, &mut result).await?;
    let reviewed = review::review_previous_day(&reconciler.posts, as_of).await?;
    result.dlq_review = reviewed.day.is_some().then_some(reviewed);
    info!(
        found = result.found,
        enqueued = result.enqueued,
        skipped = result.skipped,
        stranded = result.stranded,
        rescued = result.rescued,
        gave_up = result.gave_up,
        as_of = %as_of,
        "reconciled scheduled and stranded posts"
    );
    Ok(result)
}

/// Puts posts stranded in `queued` or `publishing` back on the queue with a job made for them,
/// or fails them STRANDED once they have been rescued [`MAX_RESCUES`] times.
async fn rescue_stranded(
    reconciler: &Reconciler,
    as_of: DateTime<Utc>,
    result: &mut Reconciled,
) -> anyhow::Result<()> {
    for shard in 0..INDEX_SHARDS {
        let mut cursor: Option<String> = None;
        loop {
            let (refs, next) = reconciler
                .posts
                .stranded_due(shard, as_of, PAGE, cursor.as_deref())
                .await?;
            for (tenant, id) in refs {
                if result.rescued + result.gave_up >= MAX_PER_RUN {
                    warn!(
                        limit = MAX_PER_RUN,
                        "more stranded posts than one run takes; the next run continues"
                    );
                    return Ok(());
                }
                rescue(reconciler, &tenant, id, as_of, result).await?;
            }
            match next {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
    }
    Ok(())
}

async fn rescue(
    reconciler: &Reconciler,
    tenant: &TenantId,
    id: PostId,
    as_of: DateTime<Utc>,
    result: &mut Reconciled,
) -> anyhow::Result<()> {
    let Some(post) = reconciler.posts.get(tenant, id).await? else {
        return Ok(());
    };
    if !post.is_stranded(as_of) {
        return Ok(());
    }
    result.stranded += 1;
    let now = Utc::now();
    let rescued = match post.after_stranded(now) {
        Stranded::Rescue(rescued) => *rescued,
        Stranded::GiveUp(code) => {
            let failed = post.failed(PostError::new(code), now);
            match reconciler.posts.replace(&failed).await {
                Ok(()) => {}
                // Something moved it meanwhile: it is not stranded after all.
                Err(StoreError::Conflict(_)) => return Ok(()),
                Err(e) => return Err(e.into()),
            }
            reconciler
                .posts
                .put_dlq_record(&stranded_record(&failed, code))
                .await?;
            result.gave_up += 1;
            reconciler.metrics.post_failed(code);
            warn!(
                r#type = "stranded_post",
                tenant_id = %tenant,
                post_id = %id,
                rescues = post.rescues,
                %code,
                "stranded post given up"
            );
            return Ok(());
        }
    };
    match reconciler.posts.replace(&rescued).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => return Ok(()),
        Err(e) => return Err(e.into()),
    }
    // The job is made for the post (its time, if it was scheduled), so it claims it like any
    // other job; a late delivery of the lost one finds it claimed or done.
    reconciler
        .queue
        .enqueue(&rescued.publish_job(as_of))
        .await?;
    result.rescued += 1;
    warn!(
        r#type = "stranded_post",
        tenant_id = %tenant,
        post_id = %id,
        status = post.status.as_str(),
        rescues = rescued.rescues,
        outcome_unknown = rescued.outcome_unknown,
        "stranded post put back on the queue"
    );
    Ok(())
}

fn stranded_record(post: &Post, code: FailureCode) -> DlqRecord {
    DlqRecord::for_post(
        post,
        format!("stranded-{}", post.id),
        JobAction::Publish,
        (code, code.message()),
        "stranded in queued or publishing too many times",
    )
}
