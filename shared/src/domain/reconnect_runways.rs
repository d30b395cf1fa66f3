//! Reconnect runways: a connection's tokens end for good at its `reconnect_by` (the refresh
//! token's end, 365 days from the consent; without a refresh token, the access token's), and
//! only the member can renew them. The tenant is told ahead — 14, 7 and 1 day before, and at
//! the deadline — with the scheduled posts that fall after it, so the member reconnects in
//! time. Each runway is a one-time schedule like a refresh window; what a firing records on
//! the connection is decided here.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::posts::PostId;
use super::{Connection, ConnectionId};

/// When the tenant is told that a connection must be reconnected, before its deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ReconnectRunway {
    #[serde(rename = "T-14d")]
    FourteenDays,
    #[serde(rename = "T-7d")]
    SevenDays,
    #[serde(rename = "T-1d")]
    OneDay,
    /// The deadline itself: the tokens end now.
    #[serde(rename = "T-0")]
    Deadline,
}

/// At most this many posts at risk are listed on a notice (their count is always whole).
pub const MAX_POSTS_AT_RISK: usize = 100;

impl ReconnectRunway {
    pub const ALL: [ReconnectRunway; 4] = [
        Self::FourteenDays,
        Self::SevenDays,
        Self::OneDay,
        Self::Deadline,
    ];

    pub fn before_deadline(self) -> chrono::Duration {
        match self {
            Self::FourteenDays => chrono::Duration::days(14),
            Self::SevenDays => chrono::Duration::days(7),
            Self::OneDay => chrono::Duration::days(1),
            Self::Deadline => chrono::Duration::zero(),
        }
    }

    fn suffix(self) -> &'static str {
        match self {
            Self::FourteenDays => "14d",
            Self::SevenDays => "7d",
            Self::OneDay => "1d",
            Self::Deadline => "0d",
        }
    }

    /// The schedule's name: one per connection and runway, so a reconnect replaces them.
    pub fn schedule_name(self, connection: ConnectionId) -> String {
        format!("runway-{connection}-{}", self.suffix())
    }
}

/// The runways still ahead for a connection to be reconnected by `reconnect_by`.
pub fn runways_ahead(
    reconnect_by: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Vec<(ReconnectRunway, DateTime<Utc>)> {
    ReconnectRunway::ALL
        .into_iter()
        .map(|r| (r, reconnect_by - r.before_deadline()))
        .filter(|(_, at)| *at > now)
        .collect()
}

/// The last time the tenant was told to reconnect a connection, as the connection shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReconnectDue {
    pub runway: ReconnectRunway,
    pub reconnect_by: DateTime<Utc>,
    /// Scheduled posts of the connection (waiting for approval too) whose time falls after
    /// the deadline, earliest first, at most [`MAX_POSTS_AT_RISK`].
    pub posts_at_risk: Vec<PostId>,
    /// How many there are in all.
    pub posts_at_risk_count: usize,
    pub told_at: DateTime<Utc>,
}

/// Whether two readings of a deadline are the same one: a refresh token's end is read as
/// "expires in N seconds" at the time of each grant, so one deadline reads a few seconds apart.
pub fn same_deadline(a: DateTime<Utc>, b: DateTime<Utc>) -> bool {
    (a - b).abs() < chrono::Duration::hours(1)
}

/// What a runway's firing does.
#[derive(Debug, Clone, PartialEq)]
pub enum RunwayFiring {
    /// Early against the connection's deadline now: it was reconnected since (or its
    /// deadline moved), and the runways of the new deadline are planned.
    Stale,
    /// This runway of this deadline was told already (a retried or duplicate firing).
    AlreadyTold,
    /// Tell: the connection records the notice (tenants are told from the change).
    Tell,
}

/// A runway invoked this long before it was due was planned for another deadline.
const EARLY: chrono::Duration = chrono::Duration::minutes(5);

impl Connection {
    /// The date the member must reconnect by: the refresh token's end when there is one,
    /// else the access token's.
    pub fn reconnect_by(&self) -> DateTime<Utc> {
        self.refresh_token_expires_at
            .unwrap_or(self.access_token_expires_at)
    }

    /// What `runway` firing at `now` does to this connection.
    pub fn on_runway(&self, runway: ReconnectRunway, now: DateTime<Utc>) -> RunwayFiring {
        let deadline = self.reconnect_by();
        if now < deadline - runway.before_deadline() - EARLY {
            return RunwayFiring::Stale;
        }
        match &self.reconnect_due {
            Some(due) if due.runway == runway && same_deadline(due.reconnect_by, deadline) => {
                RunwayFiring::AlreadyTold
            }
            _ => RunwayFiring::Tell,
        }
    }

    /// The tenant told at `now` that the connection must be reconnected by its deadline,
    /// with the posts (all of them: `posts_at_risk`, ids with their times) that fall after it.
    pub fn reconnect_told(
        &self,
        runway: ReconnectRunway,
        mut posts_at_risk: Vec<(DateTime<Utc>, PostId)>,
        now: DateTime<Utc>,
    ) -> Self {
        posts_at_risk.sort_by_key(|(at, _)| *at);
        let count = posts_at_risk.len();
        let mut next = self.next(now);
        next.reconnect_due = Some(ReconnectDue {
            runway,
            reconnect_by: self.reconnect_by(),
            posts_at_risk: posts_at_risk
                .into_iter()
                .take(MAX_POSTS_AT_RISK)
                .map(|(_, id)| id)
                .collect(),
            posts_at_risk_count: count,
            told_at: now,
        });
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::examples;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 7, 9, 0, 0).unwrap()
    }

    #[test]
    fn runways_fall_14_7_and_1_days_before_the_deadline_and_at_it() {
        let deadline = now() + chrono::Duration::days(60);
        let ahead = runways_ahead(deadline, now());
        assert_eq!(
            ahead,
            [
                (
                    ReconnectRunway::FourteenDays,
                    deadline - chrono::Duration::days(14)
                ),
                (
                    ReconnectRunway::SevenDays,
                    deadline - chrono::Duration::days(7)
                ),
                (
                    ReconnectRunway::OneDay,
                    deadline - chrono::Duration::days(1)
                ),
                (ReconnectRunway::Deadline, deadline),
            ]
        );
        // Ten days to go: the 14-day runway is past and not planned.
        let close = runways_ahead(now() + chrono::Duration::days(10), now());
        assert_eq!(
            close.iter().map(|(r, _)| *r).collect::<Vec<_>>(),
            [
                ReconnectRunway::SevenDays,
                ReconnectRunway::OneDay,
                ReconnectRunway::Deadline
            ]
        );
        assert!(runways_ahead(now(), now()).is_empty());
    }

    #[test]
    fn the_deadline_is_the_refresh_tokens_end_else_the_access_tokens() {
        let mut c = examples::connection();
        c.refresh_token_expires_at = None;
        assert_eq!(c.reconnect_by(), c.access_token_expires_at);
        let lapse = c.access_token_expires_at + chrono::Duration::days(300);
        c.refresh_token_expires_at = Some(lapse);
        assert_eq!(c.reconnect_by(), lapse);
    }

    #[test]
    fn a_firing_tells_once_per_runway_and_deadline_and_never_early() {
        let mut c = examples::connection();
        c.refresh_token_expires_at = None;
        c.access_token_expires_at = now() + chrono::Duration::days(7);
        let seven = ReconnectRunway::SevenDays;
        let fourteen = ReconnectRunway::FourteenDays;
        let one = ReconnectRunway::OneDay;
        // (what fires, on what connection, when, what it does)
        let told = c.reconnect_told(fourteen, Vec::new(), now() - chrono::Duration::days(7));
        let told_seven = c.reconnect_told(seven, Vec::new(), now());
        let mut drifted = told_seven.clone();
        drifted.access_token_expires_at += chrono::Duration::seconds(1);
        let mut reconnected = told_seven.clone();
        reconnected.access_token_expires_at = now() + chrono::Duration::days(60);
        let rows: Vec<(
            &str,
            ReconnectRunway,
            &Connection,
            DateTime<Utc>,
            RunwayFiring,
        )> = vec![
            ("on time", seven, &c, now(), RunwayFiring::Tell),
            (
                "late",
                seven,
                &c,
                now() + chrono::Duration::hours(3),
                RunwayFiring::Tell,
            ),
            (
                "within the flexible window's slack",
                seven,
                &c,
                now() - chrono::Duration::minutes(4),
                RunwayFiring::Tell,
            ),
            ("a day early", one, &c, now(), RunwayFiring::Stale),
            (
                "after an earlier runway's notice",
                seven,
                &told,
                now(),
                RunwayFiring::Tell,
            ),
            (
                "a duplicate firing",
                seven,
                &told_seven,
                now(),
                RunwayFiring::AlreadyTold,
            ),
            (
                "planned for the deadline before a reconnect",
                seven,
                &reconnected,
                now(),
                RunwayFiring::Stale,
            ),
        ];
        for (name, runway, connection, at, expected) in rows {
            assert_eq!(connection.on_runway(runway, at), expected, "{name}");
        }
    }

    #[test]
    fn a_notice_lists_the_posts_at_risk_earliest_first_at_most_a_hundred() {
        let c = examples::connection();
        let posts: Vec<(DateTime<Utc>, PostId)> = (0..150)
            .rev()
            .map(|i| (now() + chrono::Duration::hours(i), PostId::new()))
            .collect();
        let earliest = posts.last().unwrap().1;
        let told = c.reconnect_told(ReconnectRunway::OneDay, posts, now());
        let due = told.reconnect_due.as_ref().unwrap();
        assert_eq!(due.posts_at_risk.len(), MAX_POSTS_AT_RISK);
        assert_eq!(due.posts_at_risk_count, 150);
        assert_eq!(due.posts_at_risk[0], earliest);
        assert_eq!(due.reconnect_by, c.reconnect_by());
        assert_eq!(due.told_at, now());
        assert_eq!(told.version, c.version + 1);
    }
}
