//! The `health` function: every 6 hours every connection is checked with `GET /v2/userinfo`.
//!
//! It scales by fanning out through its own queue, never by scanning: a `plan` task (sent by
//! the rate(6 hours) schedule) becomes one `page` task per shard of the sparse health index; a
//! page reads up to 100 due connections and sends them on as `check` tasks of 25 (and the next
//! page as another task); a check task checks its connections with bounded concurrency. A 401
//! goes through the one single-flight refresh, then the connection is checked again.
//!
//! The daily engagement-metrics round fans out the same way over the sparse MetricsDue index
//! of published posts: `metrics_plan` (sent by the rate(24 hours) schedule) → `metrics_page`
//! per shard → `metrics_read` tasks of 25 posts ([`metrics`]).

mod check;
pub mod metrics;
mod paging;
mod revoke;

use paging::page_tasks;

pub use check::check;
pub use revoke::revoke;

use anyhow::Context as _;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use chrono::{DateTime, Utc};
use connector::config::Config;
use connector::deadline::Deadline;
use connector::domain::posts::PostId;
use connector::domain::{ConnectionId, TenantId};
use connector::queue::{batch_response, PublishQueue, RevokeJob};
use connector::store::{PostStore, INDEX_SHARDS};
use connector::tokens::TokenKeeper;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

/// Connections read per page of the health index (projected items are small: 1,000 of them
/// stay far below a Query's 1 MB page).
pub const PAGE: i32 = 1000;
/// Connections per check task.
pub const CHECKS_PER_TASK: usize = 25;
/// Posts per metrics task: a member post costs five LinkedIn calls, 20 organization posts one.
pub const METRICS_PER_TASK: usize = 25;
/// Checks in flight at once within one task.
pub const CONCURRENCY: usize = 8;
/// When LinkedIn could not be asked, try again sooner than the regular interval.
const RETRY_AFTER_FAILURE: chrono::Duration = chrono::Duration::minutes(30);

/// A message on the health queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "task", rename_all = "snake_case")]
pub enum HealthTask {
    /// Start a round of what is due by `as_of`: the schedule sends its scheduled time (a
    /// local scheduler's clock may run ahead); none means now.
    Plan {
        #[serde(default)]
        as_of: Option<DateTime<Utc>>,
    },
    Page {
        shard: u32,
        as_of: DateTime<Utc>,
        #[serde(default)]
        cursor: Option<String>,
    },
    Check {
        as_of: DateTime<Utc>,
        connections: Vec<(TenantId, ConnectionId)>,
    },
    /// Revoke a disconnected connection's tokens at LinkedIn (sent by the API's disconnect
    /// when LinkedIn did not confirm at once, then by itself with backoff).
    Revoke(RevokeJob),
    /// Start a metrics round of the posts due by `as_of` (none: now).
    MetricsPlan {
        #[serde(default)]
        as_of: Option<DateTime<Utc>>,
    },
    MetricsPage {
        shard: u32,
        as_of: DateTime<Utc>,
        #[serde(default)]
        cursor: Option<String>,
    },
    MetricsRead {
        as_of: DateTime<Utc>,
        posts: Vec<(TenantId, PostId)>,
    },
}

pub struct Health {
    pub keeper: TokenKeeper,
    /// Published posts, for the metrics round.
    pub posts: PostStore,
    /// Posts younger than this have their metrics read (`METRICS_MAX_AGE_DAYS`).
    pub metrics_max_age: chrono::Duration,
    pub sqs: connector::aws_clients::LazyClient<aws_sdk_sqs::Client>,
    pub queue_url: String,
    /// The same queue, for single delayed messages (the revoke job's next try).
    pub queue: PublishQueue,
}

impl Health {
    pub fn from_config(config: &Config, sdk: &aws_config::SdkConfig) -> anyhow::Result<Self> {
        let sqs = connector::aws_clients::LazyClient::from_sdk(sdk, aws_sdk_sqs::Client::new);
        let queue_url = config.require_health_queue()?.to_owned();
        let dynamo = aws_sdk_dynamodb::Client::new(sdk);
        Ok(Self {
            keeper: TokenKeeper::from_config(config, sdk, &dynamo)?,
            posts: PostStore::new(dynamo, config.table_name.clone())
                .with_retention(config.retention),
            metrics_max_age: config.metrics_max_age,
            queue: PublishQueue::new(sqs.clone(), queue_url.clone()),
            sqs,
            queue_url,
        })
    }

    /// Sends tasks in batches of 10 (SQS's limit).
    pub async fn send(&self, tasks: &[HealthTask]) -> anyhow::Result<()> {
        for chunk in tasks.chunks(10) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(serde_json::to_string(t).expect("tasks serialize"))
                        .build()
                        .context("health task entry")
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let out = self
                .sqs
                .send_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .context("sending health tasks")?;
            anyhow::ensure!(
                out.failed().is_empty(),
                "{} health tasks were not accepted",
                out.failed().len()
            );
        }
        Ok(())
    }
}

/// What one check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checked {
    Healthy,
    /// Refreshed after a 401; confirmed again (or to be confirmed after propagation).
    Refreshed,
    NeedsAttention,
    /// LinkedIn could not be asked (5xx, timeout); checked again sooner.
    Unavailable,
    /// Revoked, missing, or not due (a duplicate task).
    Skipped,
}

/// Handles one SQS batch within the invocation's `deadline`.
pub async fn handle(event: SqsEvent, health: &Health, deadline: Deadline) -> SqsBatchResponse {
    let mut handled = Vec::with_capacity(event.records.len());
    for message in &event.records {
        let task = message
            .body
            .as_deref()
            .and_then(|b| serde_json::from_str::<HealthTask>(b).ok());
        let ok = match task {
            Some(task) => match run(task, health, deadline).await {
                Ok(()) => true,
                Err(e) => {
                    warn!(
                        error = format!("{e:#}"),
                        "health task failed; SQS will redeliver it"
                    );
                    false
                }
            },
            None => {
                warn!(message_id = ?message.message_id, "unreadable health task");
                false
            }
        };
        handled.push((message, ok));
    }
    batch_response(handled)
}

async fn run(task: HealthTask, health: &Health, deadline: Deadline) -> anyhow::Result<()> {
    match task {
        HealthTask::Plan { as_of } => {
            let as_of = as_of.unwrap_or_else(Utc::now);
            let pages: Vec<_> = (0..INDEX_SHARDS)
                .map(|shard| HealthTask::Page {
                    shard,
                    as_of,
                    cursor: None,
                })
                .collect();
            health.send(&pages).await?;
            info!(shards = INDEX_SHARDS, as_of = %as_of, "health round planned");
            // The round reports the LinkedIn-Version in force and its retirement date; the
            // template's LinkedInVersionRetiringAlarm reads `days_left` from this line.
            let version = health.keeper.linkedin.settings().api_version;
            connector::linkedin::log_version_state(version, as_of);
        }
        HealthTask::Page {
            shard,
            as_of,
            cursor,
        } => {
            let (due, next) = health
                .keeper
                .connections
                .due_for_health(shard, as_of, PAGE, cursor.as_deref())
                .await
                .context("reading the health index")?;
            let tasks = page_tasks(
                &due,
                CHECKS_PER_TASK,
                |connections| HealthTask::Check { as_of, connections },
                next.map(|cursor| HealthTask::Page {
                    shard,
                    as_of,
                    cursor: Some(cursor),
                }),
            );
            health.send(&tasks).await?;
        }
        HealthTask::Check { as_of, connections } => {
            // A check (and the refresh a 401 leads to) starts only if the invocation's time
            // covers it; the rest go back on the queue as a task of their own.
            let step = health.keeper.linkedin.settings().request_timeout * 3;
            let left_over = std::sync::Mutex::new(Vec::new());
            let results: Vec<_> = futures::stream::iter(connections)
                .map(|(tenant, id)| {
                    let left_over = &left_over;
                    async move {
                        if !deadline.allows(step) {
                            left_over.lock().expect("not poisoned").push((tenant, id));
                            return (id, Ok(Checked::Skipped));
                        }
                        (id, check(health, &tenant, id, as_of).await)
                    }
                })
                .buffer_unordered(CONCURRENCY)
                .collect()
                .await;
            let left_over = left_over.into_inner().expect("not poisoned");
            if !left_over.is_empty() {
                info!(
                    handed_back = left_over.len(),
                    "too little time left for every check; the rest go back on the queue"
                );
                health
                    .send(&[HealthTask::Check {
                        as_of,
                        connections: left_over,
                    }])
                    .await?;
            }
            // A connection whose check could not be recorded is retried with the task.
            let failed: Vec<_> = results.iter().filter(|(_, r)| r.is_err()).collect();
            if let Some((id, Err(e))) = failed.first() {
                anyhow::bail!("{} checks failed, first {id}: {e:#}", failed.len());
            }
        }
        HealthTask::Revoke(job) => revoke(health, job).await?,
        HealthTask::MetricsPlan { as_of } => {
            let as_of = as_of.unwrap_or_else(Utc::now);
            let pages: Vec<_> = (0..INDEX_SHARDS)
                .map(|shard| HealthTask::MetricsPage {
                    shard,
                    as_of,
                    cursor: None,
                })
                .collect();
            health.send(&pages).await?;
            info!(shards = INDEX_SHARDS, as_of = %as_of, "metrics round planned");
        }
        HealthTask::MetricsPage {
            shard,
            as_of,
            cursor,
        } => {
            let (mut due, next) = health
                .posts
                .metrics_due(shard, as_of, PAGE, cursor.as_deref())
                .await
                .context("reading the metrics index")?;
            // A connection's posts side by side: a batch then holds few connections (one
            // token opened per connection, one statistics call per organization).
            due.sort();
            let posts: Vec<_> = due.into_iter().map(|(t, _, id)| (t, id)).collect();
            let tasks = page_tasks(
                &posts,
                METRICS_PER_TASK,
                |posts| HealthTask::MetricsRead { as_of, posts },
                next.map(|cursor| HealthTask::MetricsPage {
                    shard,
                    as_of,
                    cursor: Some(cursor),
                }),
            );
            health.send(&tasks).await?;
        }
        HealthTask::MetricsRead { as_of, posts } => {
            let read = metrics::read(health, as_of, &posts, deadline).await?;
            if !read.left_over.is_empty() {
                info!(
                    handed_back = read.left_over.len(),
                    "too little time left for every reading; the rest go back on the queue"
                );
                health
                    .send(&[HealthTask::MetricsRead {
                        as_of,
                        posts: read.left_over,
                    }])
                    .await?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_revoke_job_from_the_api_is_a_health_task() {
        let job = RevokeJob {
            tenant_id: TenantId::parse("acme").unwrap(),
            connection_id: ConnectionId::new(),
            requested_at: Utc::now(),
            connect_count: 2,
            attempt: 3,
        };
        let task: HealthTask = serde_json::from_str(&job.body()).unwrap();
        assert_eq!(task, HealthTask::Revoke(job.clone()));
        let (next, delay) = job.next();
        assert_eq!(next.attempt, 4);
        assert_eq!(delay, std::time::Duration::from_secs(240));
        let (_, capped) = RevokeJob { attempt: 9, ..job }.next();
        assert_eq!(capped, std::time::Duration::from_secs(900));
    }
}
