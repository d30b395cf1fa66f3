//! One batch of the daily metrics round: the posts of a `metrics_read` task, read from
//! LinkedIn by connection — member posts through member post analytics, organization posts
//! through their organization's share statistics, up to 20 posts a call — and recorded on each
//! post with the day's reading. A post whose metrics cannot be read says why once and leaves the
//! round; one LinkedIn could not answer for now stays due and is read in the next round.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use connector::domain::posts::{MetricCounts, MetricsSource, MetricsUnavailable, Post, PostId};
use connector::domain::{ConnectionId, TenantId};
use connector::linkedin::{LinkedInError, RetryClass, SHARE_STATISTICS_BATCH};
use connector::store::StoreError;
use tracing::{info, warn};

use crate::Health;

/// What one batch did, by post.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetricsRead {
    pub read: usize,
    /// Said once why not, and out of the round.
    pub unavailable: usize,
    /// LinkedIn could not answer now (throttled, down, the token refused): due again next round.
    pub deferred: usize,
    /// Not due any more, changed meanwhile, or out of the round without a reason.
    pub skipped: usize,
}

/// Reads and records the metrics of `posts` due by `as_of`.
pub async fn read(
    health: &Health,
    as_of: DateTime<Utc>,
    posts: &[(TenantId, PostId)],
) -> anyhow::Result<MetricsRead> {
    let mut done = MetricsRead::default();
    let mut by_connection: BTreeMap<(TenantId, ConnectionId), Vec<Post>> = BTreeMap::new();
    for (tenant, id) in posts {
        match health.posts.get(tenant, *id).await? {
            Some(post) if post.metrics_due(as_of) => by_connection
                .entry((tenant.clone(), post.connection_id))
                .or_default()
                .push(post),
            _ => done.skipped += 1,
        }
    }
    for ((tenant, connection), posts) in by_connection {
        read_connection(health, &tenant, connection, posts, &mut done).await?;
    }
    info!(
        read = done.read,
        unavailable = done.unavailable,
        deferred = done.deferred,
        skipped = done.skipped,
        "metrics batch read"
    );
    Ok(done)
}

async fn read_connection(
    health: &Health,
    tenant: &TenantId,
    connection: ConnectionId,
    posts: Vec<Post>,
    done: &mut MetricsRead,
) -> anyhow::Result<()> {
    let keeper = &health.keeper;
    let Some(stored) = keeper
        .connections
        .get_stored_connection(tenant, connection)
        .await?
    else {
        for post in posts {
            record(
                health,
                post.metrics_stopped(Utc::now()),
                done,
                Counted::Skipped,
            )
            .await?;
        }
        return Ok(());
    };
    let mut member = Vec::new();
    let mut organizations: HashMap<String, Vec<(Post, String)>> = HashMap::new();
    for post in posts {
        match post.metrics_source(&stored.connection) {
            MetricsSource::Member { urn } => member.push((post, urn)),
            MetricsSource::Organization { organization, urn } => organizations
                .entry(organization)
                .or_default()
                .push((post, urn)),
            MetricsSource::Unavailable(why) => {
                let next = post.metrics_unavailable(why, Utc::now());
                record(health, next, done, Counted::Unavailable).await?;
            }
            MetricsSource::Skip => {
                record(
                    health,
                    post.metrics_stopped(Utc::now()),
                    done,
                    Counted::Skipped,
                )
                .await?;
            }
        }
    }
    if member.is_empty() && organizations.is_empty() {
        return Ok(());
    }
    let token = match keeper.open(tenant, connection).await {
        Ok((_, tokens)) => tokens.access_token,
        Err(e) => {
            warn!(%tenant, connection_id = %connection, error = %e, "metrics: the connection's tokens could not be opened; its posts wait for the next round");
            done.deferred += member.len() + organizations.values().map(Vec::len).sum::<usize>();
            return Ok(());
        }
    };
    let linkedin = &keeper.linkedin;
    let mut member = member.into_iter();
    while let Some((post, urn)) = member.next() {
        match linkedin.member_post_analytics(&token, &urn).await {
            Ok(counts) => {
                let next = post.metrics_read(counts.into(), Utc::now(), health.metrics_max_age);
                record(health, next, done, Counted::Read).await?;
            }
            Err(e) => match refused(&e) {
                Some(why) => {
                    let next = post.metrics_unavailable(why, Utc::now());
                    record(health, next, done, Counted::Unavailable).await?;
                }
                None => {
                    // Throttled, down, or the token refused: this connection's other posts
                    // would meet the same answer; all of them wait for the next round.
                    deferred(connection, &e);
                    done.deferred +=
                        1 + member.len() + organizations.values().map(Vec::len).sum::<usize>();
                    return Ok(());
                }
            },
        }
    }
    for (organization, posts) in organizations {
        for batch in posts.chunks(SHARE_STATISTICS_BATCH) {
            let urns: Vec<String> = batch.iter().map(|(_, urn)| urn.clone()).collect();
            match linkedin
                .share_statistics(&token, &organization, &urns)
                .await
            {
                Ok(mut stats) => {
                    for (post, urn) in batch {
                        // LinkedIn leaves out posts without activity: all counts are 0.
                        let counts = stats.remove(urn).unwrap_or_default();
                        let next = post.metrics_read(
                            MetricCounts::from(counts),
                            Utc::now(),
                            health.metrics_max_age,
                        );
                        record(health, next, done, Counted::Read).await?;
                    }
                }
                Err(e) => match refused(&e) {
                    Some(why) => {
                        for (post, _) in batch {
                            let next = post.metrics_unavailable(why, Utc::now());
                            record(health, next, done, Counted::Unavailable).await?;
                        }
                    }
                    None => {
                        deferred(connection, &e);
                        done.deferred += batch.len();
                    }
                },
            }
        }
    }
    Ok(())
}

/// Whether LinkedIn's answer says the metrics will not be given (a refusal of the post's
/// reading, not of the token, the version or the moment).
fn refused(error: &LinkedInError) -> Option<MetricsUnavailable> {
    match (error.retry_class(), error) {
        (_, LinkedInError::VersionRetired { .. }) => None,
        (RetryClass::FailFast, _) => Some(MetricsUnavailable::RefusedByLinkedIn),
        (RetryClass::RefreshThenRetry | RetryClass::RetryLater { .. }, _) => None,
    }
}

fn deferred(connection: ConnectionId, error: &LinkedInError) {
    warn!(
        r#type = "metrics_deferred",
        connection_id = %connection,
        error = %error,
        "LinkedIn could not give metrics now; the posts are read in the next round"
    );
}

#[derive(Clone, Copy)]
enum Counted {
    Read,
    Unavailable,
    Skipped,
}

/// Records `next`; a post changed meanwhile (edited, deleted) is left to the next round.
async fn record(
    health: &Health,
    next: Post,
    done: &mut MetricsRead,
    counted: Counted,
) -> anyhow::Result<()> {
    match health.posts.record_metrics(&next).await {
        Ok(()) => {
            match counted {
                Counted::Read => done.read += 1,
                Counted::Unavailable => done.unavailable += 1,
                Counted::Skipped => done.skipped += 1,
            }
            Ok(())
        }
        Err(StoreError::Conflict(_)) => {
            done.skipped += 1;
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}
