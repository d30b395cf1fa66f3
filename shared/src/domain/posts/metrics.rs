//! Engagement metrics, polled every 24 hours (LinkedIn has no webhooks for member posts): which
//! published posts are read, how (member post analytics, or the organization's share
//! statistics), and what a reading, or a refusal, makes of the post. A post is read while it is
//! younger than the configured age; one whose metrics cannot be read says so once and leaves
//! the round, instead of failing every day.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Author, Post, PostStatus};
use crate::domain::capabilities::Capabilities;
use crate::domain::{Connection, ConnectionStatus};
use crate::linkedin::{MemberPostCounts, ShareCounts};

/// How often a post's metrics are read.
pub const METRICS_INTERVAL: chrono::Duration = chrono::Duration::hours(24);
/// Posts older than this are no longer read (configurable: `METRICS_MAX_AGE_DAYS`).
pub const DEFAULT_METRICS_MAX_AGE: chrono::Duration = chrono::Duration::days(30);

/// Lifetime totals as LinkedIn counts them. Both sources give impressions, reactions (likes
/// for organization posts), comments and shares (reshares for member posts); the rest only
/// one of them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MetricCounts {
    pub impressions: u64,
    /// Organization posts: unique impressions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unique_impressions: Option<u64>,
    /// Member posts: members reached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub members_reached: Option<u64>,
    /// Organization posts: clicks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clicks: Option<u64>,
    pub reactions: u64,
    pub comments: u64,
    pub shares: u64,
    /// Organization posts: LinkedIn's engagement rate ((clicks + likes + comments + shares) /
    /// impressions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engagement: Option<f64>,
}

impl From<MemberPostCounts> for MetricCounts {
    fn from(c: MemberPostCounts) -> Self {
        Self {
            impressions: c.impressions,
            members_reached: Some(c.members_reached),
            reactions: c.reactions,
            comments: c.comments,
            shares: c.reshares,
            ..Self::default()
        }
    }
}

impl From<ShareCounts> for MetricCounts {
    fn from(c: ShareCounts) -> Self {
        Self {
            impressions: c.impressions,
            unique_impressions: Some(c.unique_impressions),
            clicks: Some(c.clicks),
            reactions: c.likes,
            comments: c.comments,
            shares: c.shares,
            engagement: Some(c.engagement),
            members_reached: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum MetricsStatus {
    Available,
    Unavailable,
}

/// A post's latest metrics, as the post shows them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PostMetrics {
    pub status: MetricsStatus,
    /// When read (or found unreadable).
    pub fetched_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counts: Option<MetricCounts>,
    /// Why they cannot be read (fixed texts, see [`Unavailable`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Why a post's metrics cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unavailable {
    /// A member post without `r_member_postAnalytics` granted.
    NoMemberAnalytics,
    /// An organization post without `rw_organization_admin` and the ADMINISTRATOR role.
    NoOrganizationStatistics,
    /// LinkedIn refused to give them (403 or 404).
    RefusedByLinkedIn,
    /// A post LinkedIn's analytics do not cover (neither a share nor a ugcPost).
    UnsupportedPost,
}

impl Unavailable {
    pub fn message(self) -> &'static str {
        match self {
            Self::NoMemberAnalytics => "member post analytics need the r_member_postAnalytics permission, which LinkedIn did not grant this connection",
            Self::NoOrganizationStatistics => "organization post statistics need the rw_organization_admin permission and the ADMINISTRATOR role on the organization",
            Self::RefusedByLinkedIn => "LinkedIn refused to give this post's metrics",
            Self::UnsupportedPost => "LinkedIn gives metrics for shares and ugcPosts only",
        }
    }
}

/// How a post's metrics are read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetricsSource {
    /// Member post analytics (five calls).
    Member { urn: String },
    /// The organization's share statistics (batched with its other posts).
    Organization { organization: String, urn: String },
    /// Not at all: the post says why, once.
    Unavailable(Unavailable),
    /// Not now (the post is not published any more, or its connection is disconnected): the
    /// post leaves the round without a reason of its own.
    Skip,
}

impl Post {
    /// Whether it is read at `as_of` (in the index and due).
    pub fn metrics_due(&self, as_of: DateTime<Utc>) -> bool {
        self.status == PostStatus::Published && self.metrics_due_at.is_some_and(|at| at <= as_of)
    }

    /// When its metrics are read next, while it is published and young enough.
    pub fn next_metrics_reading(&self) -> Option<DateTime<Utc>> {
        self.metrics_due_at
            .filter(|_| self.status == PostStatus::Published)
    }

    /// How this post's metrics are read, with what its connection can do.
    pub fn metrics_source(&self, connection: &Connection) -> MetricsSource {
        let Some(urn) = self.linkedin_urn.clone() else {
            return MetricsSource::Skip;
        };
        if self.status != PostStatus::Published || connection.status == ConnectionStatus::Revoked {
            return MetricsSource::Skip;
        }
        if !(urn.starts_with("urn:li:share:") || urn.starts_with("urn:li:ugcPost:")) {
            return MetricsSource::Unavailable(Unavailable::UnsupportedPost);
        }
        let capabilities = Capabilities::of(connection);
        match &self.author {
            Author::Member(_) if capabilities.member_analytics => MetricsSource::Member { urn },
            Author::Member(_) => MetricsSource::Unavailable(Unavailable::NoMemberAnalytics),
            Author::Organization(org) => {
                let may = capabilities
                    .organizations
                    .iter()
                    .any(|o| o.urn == *org && o.read_statistics);
                if may {
                    MetricsSource::Organization {
                        organization: org.clone(),
                        urn,
                    }
                } else {
                    MetricsSource::Unavailable(Unavailable::NoOrganizationStatistics)
                }
            }
        }
    }

    /// Metrics read at `now`; read again in [`METRICS_INTERVAL`] while the post is younger
    /// than `max_age`.
    pub fn metrics_read(
        &self,
        counts: MetricCounts,
        now: DateTime<Utc>,
        max_age: chrono::Duration,
    ) -> Self {
        let mut next = self.next(now);
        next.metrics = Some(PostMetrics {
            status: MetricsStatus::Available,
            fetched_at: now,
            counts: Some(counts),
            reason: None,
        });
        let again = now + METRICS_INTERVAL;
        next.metrics_due_at = self
            .published_at
            .filter(|published| again - *published <= max_age)
            .map(|_| again);
        next
    }

    /// Metrics that cannot be read: said once, and the post leaves the round.
    pub fn metrics_unavailable(&self, why: Unavailable, now: DateTime<Utc>) -> Self {
        let mut next = self.next(now);
        next.metrics = Some(PostMetrics {
            status: MetricsStatus::Unavailable,
            fetched_at: now,
            counts: None,
            reason: Some(why.message().to_owned()),
        });
        next.metrics_due_at = None;
        next
    }

    /// Out of the round without a reason (disconnected, not published any more).
    pub fn metrics_stopped(&self, now: DateTime<Utc>) -> Self {
        let mut next = self.next(now);
        next.metrics_due_at = None;
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::examples;
    use crate::domain::posts::{PostDraft, PostId};
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 7, 9, 0, 0).unwrap()
    }

    fn published(author: Author, urn: &str) -> Post {
        let c = examples::connection();
        let draft = PostDraft::new(c.id, author, "Hello");
        Post::new(PostId::new(), c.tenant_id.clone(), draft, now()).published(urn, now())
    }

    #[test]
    fn a_published_post_is_read_a_day_later_and_daily_until_it_is_too_old() {
        let c = examples::connection();
        let post = published(Author::Member(c.member_urn.clone()), "urn:li:share:1");
        assert_eq!(post.metrics_due_at, Some(now() + METRICS_INTERVAL));
        assert!(!post.metrics_due(now()));
        assert!(post.metrics_due(now() + METRICS_INTERVAL));
        let max = DEFAULT_METRICS_MAX_AGE;
        let day = |n: i64| now() + chrono::Duration::days(n);
        let counts = MetricCounts {
            impressions: 10,
            ..MetricCounts::default()
        };
        // (read on day, next reading)
        let rows = [
            (1, Some(day(2))),
            (29, Some(day(30))),
            (30, None),
            (31, None),
        ];
        for (read_on, again) in rows {
            let read = post.metrics_read(counts, day(read_on), max);
            assert_eq!(read.metrics_due_at, again, "read on day {read_on}");
            assert_eq!(read.metrics.as_ref().unwrap().counts, Some(counts));
            assert_eq!(
                read.metrics.as_ref().unwrap().status,
                MetricsStatus::Available
            );
        }
        // Unavailable: said once, out of the round.
        let off = post.metrics_unavailable(Unavailable::NoMemberAnalytics, day(1));
        assert_eq!(off.metrics_due_at, None);
        assert!(!off.metrics_due(day(2)));
        assert_eq!(
            off.metrics.unwrap().reason.as_deref(),
            Some(Unavailable::NoMemberAnalytics.message())
        );
    }

    #[test]
    fn the_source_follows_the_author_and_what_the_connection_may_read() {
        let mut c = examples::connection();
        let org = c.organizations[0].urn.clone();
        let member = Author::Member(c.member_urn.clone());
        let by_member = published(member.clone(), "urn:li:share:1");
        let by_org = published(Author::Organization(org.clone()), "urn:li:ugcPost:2");
        let odd = published(member, "urn:li:activity:3");
        let plain = c.clone();
        c.scopes.push("r_member_postAnalytics".into());
        c.scopes.push("rw_organization_admin".into());
        c.organizations[0].role = "ADMINISTRATOR".into();
        let mut content_admin = c.clone();
        content_admin.organizations[0].role = "CONTENT_ADMINISTRATOR".into();
        let mut revoked = c.clone();
        revoked.status = ConnectionStatus::Revoked;
        let deleted = by_member.deleted(now());
        let rows: Vec<(&str, &Post, &Connection, MetricsSource)> = vec![
            (
                "member, granted",
                &by_member,
                &c,
                MetricsSource::Member {
                    urn: "urn:li:share:1".into(),
                },
            ),
            (
                "member, not granted",
                &by_member,
                &plain,
                MetricsSource::Unavailable(Unavailable::NoMemberAnalytics),
            ),
            (
                "organization, administrator",
                &by_org,
                &c,
                MetricsSource::Organization {
                    organization: org.clone(),
                    urn: "urn:li:ugcPost:2".into(),
                },
            ),
            (
                "organization, content administrator",
                &by_org,
                &content_admin,
                MetricsSource::Unavailable(Unavailable::NoOrganizationStatistics),
            ),
            (
                "organization, no admin scope",
                &by_org,
                &plain,
                MetricsSource::Unavailable(Unavailable::NoOrganizationStatistics),
            ),
            (
                "an activity urn",
                &odd,
                &c,
                MetricsSource::Unavailable(Unavailable::UnsupportedPost),
            ),
            ("disconnected", &by_member, &revoked, MetricsSource::Skip),
            ("deleted", &deleted, &c, MetricsSource::Skip),
        ];
        for (name, post, connection, expected) in rows {
            assert_eq!(post.metrics_source(connection), expected, "{name}");
        }
    }

    #[test]
    fn counts_keep_what_each_source_gives() {
        let member = MetricCounts::from(MemberPostCounts {
            impressions: 100,
            members_reached: 80,
            reshares: 2,
            reactions: 7,
            comments: 3,
        });
        assert_eq!(
            (member.shares, member.members_reached, member.clicks),
            (2, Some(80), None)
        );
        let org = MetricCounts::from(ShareCounts {
            impressions: 200,
            unique_impressions: 150,
            clicks: 9,
            likes: 11,
            comments: 4,
            shares: 1,
            engagement: 0.125,
        });
        assert_eq!(
            (org.reactions, org.unique_impressions, org.engagement),
            (11, Some(150), Some(0.125))
        );
        let json = serde_json::to_value(org).unwrap();
        assert!(json.get("members_reached").is_none());
    }
}
