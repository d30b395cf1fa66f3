//! One batch of the daily metrics round: the posts of a `metrics_read` task, read from
//! LinkedIn by connection — member posts through member post analytics, organization posts
//! through their organization's share statistics, up to 20 posts a call — and recorded on each
//! post with the day's reading. A post whose metrics cannot be read says why once and leaves the
//! round; one LinkedIn could not answer for now stays due and is read in the next round.
//! Readings are made at the round's time (`as_of`: the schedule's, which the local stack's
//! clock may move ahead), like the health checks.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use connector::deadline::Deadline;
use connector::domain::posts::{MetricCounts, MetricsSource, MetricsUnavailable, Post, PostId};
use connector::domain::{ConnectionId, TenantId};
use connector::linkedin::{LinkedInError, RetryClass, SHARE_STATISTICS_BATCH};
use connector::store::StoreError;
use connector::vault::{SealedTokens, VaultContext};
use tracing::{info, warn};

use crate::Health;

/// What one batch did, by post.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetricsRead {
    /// Posts of connections not reached before the invocation's deadline: for another task.
    pub left_over: Vec<(TenantId, PostId)>,
    pub read: usize,
    /// Said once why not, and out of the round.
    pub unavailable: usize,
    /// LinkedIn could not answer now (throttled, down, the token refused): due again next round.
    pub deferred: usize,
    /// Not due any more, changed meanwhile, or out of the round without a reason.
    pub skipped: usize,
}

/// Reads and records the metrics of `posts` due by `as_of`. Each reading (a call and its
/// writes) starts only if the invocation's time covers it; what is not reached goes back on
/// the queue (`left_over`).
pub async fn read(
    health: &Health,
    as_of: DateTime<Utc>,
    posts: &[(TenantId, PostId)],
    deadline: Deadline,
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
    let step = health.keeper.linkedin.settings().request_timeout * 2;
    for ((tenant, connection), posts) in by_connection {
        if !deadline.allows(step) {
            done.left_over
                .extend(posts.iter().map(|p| (tenant.clone(), p.id)));
            continue;
        }
        let (sealed, work) = plan(health, &tenant, connection, posts, as_of, &mut done).await?;
        if let Some(sealed) = sealed {
            let reading = (tenant.clone(), connection, sealed);
            read_connection(health, &reading, work, as_of, deadline, &mut done).await?;
        }
    }
    info!(
        read = done.read,
        unavailable = done.unavailable,
        deferred = done.deferred,
        skipped = done.skipped,
        left_over = done.left_over.len(),
        "metrics batch read"
    );
    Ok(done)
}

/// One call's worth of readings of a connection.
enum Work {
    /// A member post: member post analytics (five calls).
    Member(Box<Post>, String),
    /// Up to [`SHARE_STATISTICS_BATCH`] posts of one organization: one share-statistics call.
    Organization(String, Vec<(Post, String)>),
}

impl Work {
    fn posts(&self) -> Vec<&Post> {
        match self {
            Self::Member(post, _) => vec![post.as_ref()],
            Self::Organization(_, batch) => batch.iter().map(|(p, _)| p).collect(),
        }
    }
}

/// What is to be asked of LinkedIn for the connection's posts, and the connection's sealed
/// tokens (none when nothing is to be asked); the posts that need no call (unavailable, or out
/// of the round) are recorded here.
async fn plan(
    health: &Health,
    tenant: &TenantId,
    connection: ConnectionId,
    posts: Vec<Post>,
    as_of: DateTime<Utc>,
    done: &mut MetricsRead,
) -> anyhow::Result<(Option<SealedTokens>, Vec<Work>)> {
    let stored = health
        .keeper
        .connections
        .get_stored_connection(tenant, connection)
        .await?;
    let Some(stored) = stored else {
        for post in posts {
            record(health, post.metrics_stopped(as_of), done, Counted::Skipped).await?;
        }
        return Ok((None, Vec::new()));
    };
    let mut work = Vec::new();
    let mut organizations: BTreeMap<String, Vec<(Post, String)>> = BTreeMap::new();
    for post in posts {
        match post.metrics_source(&stored.connection) {
            MetricsSource::Member { urn } => work.push(Work::Member(Box::new(post), urn)),
            MetricsSource::Organization { organization, urn } => organizations
                .entry(organization)
                .or_default()
                .push((post, urn)),
            MetricsSource::Unavailable(why) => {
                let next = post.metrics_unavailable(why, as_of);
                record(health, next, done, Counted::Unavailable).await?;
            }
            MetricsSource::Skip => {
                record(health, post.metrics_stopped(as_of), done, Counted::Skipped).await?;
            }
        }
    }
    for (organization, posts) in organizations {
        for batch in posts.chunks(SHARE_STATISTICS_BATCH) {
            work.push(Work::Organization(organization.clone(), batch.to_vec()));
        }
    }
    Ok(((!work.is_empty()).then_some(stored.tokens), work))
}

async fn read_connection(
    health: &Health,
    (tenant, connection, sealed): &(TenantId, ConnectionId, SealedTokens),
    work: Vec<Work>,
    as_of: DateTime<Utc>,
    deadline: Deadline,
    done: &mut MetricsRead,
) -> anyhow::Result<()> {
    let (tenant, connection) = (tenant, *connection);
    let keeper = &health.keeper;
    let waiting = |work: &[Work]| work.iter().map(|w| w.posts().len()).sum::<usize>();
    let context = VaultContext::new(tenant, connection);
    let token = match keeper.vault.open(&context, sealed).await {
        Ok(tokens) => tokens.access_token,
        Err(e) => {
            warn!(%tenant, connection_id = %connection, error = %e, "metrics: the connection's tokens could not be opened; its posts wait for the next round");
            done.deferred += waiting(&work);
            return Ok(());
        }
    };
    let linkedin = &keeper.linkedin;
    let step = linkedin.settings().request_timeout * 2;
    for (i, item) in work.iter().enumerate() {
        if !deadline.allows(step) {
            done.left_over.extend(
                work[i..]
                    .iter()
                    .flat_map(Work::posts)
                    .map(|p| (tenant.clone(), p.id)),
            );
            return Ok(());
        }
        let answer = match item {
            Work::Member(_, urn) => linkedin
                .member_post_analytics(&token, urn)
                .await
                .map(|counts| HashMap::from([(urn.clone(), MetricCounts::from(counts))])),
            Work::Organization(organization, batch) => {
                let urns: Vec<String> = batch.iter().map(|(_, urn)| urn.clone()).collect();
                linkedin
                    .share_statistics(&token, organization, &urns)
                    .await
                    .map(|stats| {
                        stats
                            .into_iter()
                            .map(|(urn, counts)| (urn, MetricCounts::from(counts)))
                            .collect()
                    })
            }
        };
        let posts: Vec<(&Post, &String)> = match item {
            Work::Member(post, urn) => vec![(post.as_ref(), urn)],
            Work::Organization(_, batch) => batch.iter().map(|(p, u)| (p, u)).collect(),
        };
        match answer {
            Ok(mut counts) => {
                for (post, urn) in posts {
                    // Share statistics leave out posts without activity: all their counts are 0.
                    let read = counts.remove(urn).unwrap_or_else(|| {
                        MetricCounts::from(connector::linkedin::ShareCounts::default())
                    });
                    let next = post.metrics_read(read, as_of, health.metrics_max_age);
                    record(health, next, done, Counted::Read).await?;
                }
            }
            Err(e) => match refused(&e) {
                Some(why) => {
                    for (post, _) in posts {
                        let next = post.metrics_unavailable(why, as_of);
                        record(health, next, done, Counted::Unavailable).await?;
                    }
                }
                None => {
                    // Throttled, down, or the token refused: the connection's other readings
                    // would meet the same answer; all of them wait for the next round.
                    deferred(connection, &e);
                    done.deferred += waiting(&work[i..]);
                    return Ok(());
                }
            },
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
