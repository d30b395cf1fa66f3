//! Limits that keep tenants from starving each other, and LinkedIn's own limits, which all
//! tenants share: the decisions only, no I/O. The store keeps the counters
//! (`store::limits`); the API and the publisher ask these types what a count means.
//!
//! - A tenant's limits ([`TenantLimits`]): requests per second on the HTTP API, posts accepted
//!   per UTC day, scheduled posts outstanding. Each is a counter item in the tenant's partition,
//!   raised by a conditional write that fails at the limit, so a tenant over a limit is refused
//!   (429 naming it) and nothing is half-written.
//! - LinkedIn's daily limits ([`AppThrottle`]): a 429 for one member backs off that member (its
//!   connection records until when); 429s for [`ThrottleSettings::app_members`] different
//!   members in a row within [`ThrottleSettings::app_window`], with no publish succeeding in
//!   between, mean the application's own limit is used up: publishing pauses for everyone
//!   until the reset, and the posts waiting say so.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One tenant's limits, the same for every tenant of a deployment (template parameters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TenantLimits {
    pub requests_per_second: u32,
    pub posts_per_day: u32,
    pub scheduled_posts: u32,
    /// Webhook endpoints a tenant may have registered.
    pub webhook_endpoints: u32,
}

impl Default for TenantLimits {
    fn default() -> Self {
        Self {
            requests_per_second: 25,
            posts_per_day: 5_000,
            scheduled_posts: 10_000,
            webhook_endpoints: 10,
        }
    }
}

/// A limit a tenant can reach; its name is what a 429 says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::VariantArray)]
#[strum(serialize_all = "snake_case")]
pub enum Limit {
    RequestsPerSecond,
    PostsPerDay,
    ScheduledPosts,
    WebhookEndpoints,
}

impl Limit {
    pub fn name(self) -> &'static str {
        self.into()
    }

    pub fn max(self, limits: &TenantLimits) -> u32 {
        match self {
            Self::RequestsPerSecond => limits.requests_per_second,
            Self::PostsPerDay => limits.posts_per_day,
            Self::ScheduledPosts => limits.scheduled_posts,
            Self::WebhookEndpoints => limits.webhook_endpoints,
        }
    }

    /// The counter that counts toward this limit at `now`: one per second, one per UTC day,
    /// or one for good (scheduled posts are counted in and out).
    pub fn counter(self, now: DateTime<Utc>) -> String {
        match self {
            Self::RequestsPerSecond => format!("LIMIT#requests_per_second#{}", now.timestamp()),
            Self::PostsPerDay => format!("LIMIT#posts_per_day#{}", now.format("%Y-%m-%d")),
            Self::ScheduledPosts => "LIMIT#scheduled_posts".into(),
            Self::WebhookEndpoints => "LIMIT#webhook_endpoints".into(),
        }
    }

    /// When a counter of this limit may be dropped (DynamoDB's TTL), if ever.
    pub fn counter_expires_at(self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Self::RequestsPerSecond => Some(now + chrono::Duration::minutes(2)),
            Self::PostsPerDay => Some(next_utc_midnight(now) + chrono::Duration::days(1)),
            Self::ScheduledPosts | Self::WebhookEndpoints => None,
        }
    }

    /// What `Retry-After` says: the next second, the next UTC day, or a minute (a scheduled
    /// post's slot frees when one goes out or is cancelled, which we cannot foresee).
    pub fn retry_after(self, now: DateTime<Utc>) -> Duration {
        match self {
            Self::RequestsPerSecond => Duration::from_secs(1),
            Self::PostsPerDay => {
                crate::linkedin::until_next_utc_midnight(now).max(Duration::from_secs(1))
            }
            // A slot frees only when the tenant deletes an endpoint.
            Self::ScheduledPosts | Self::WebhookEndpoints => Duration::from_secs(60),
        }
    }

    /// The fixed text a tenant sees.
    pub fn message(self, limits: &TenantLimits) -> String {
        let max = self.max(limits);
        match self {
            Self::RequestsPerSecond => {
                format!("this tenant is over its limit of {max} requests per second")
            }
            Self::PostsPerDay => {
                format!("this tenant has reached its limit of {max} posts per day (UTC)")
            }
            Self::ScheduledPosts => {
                format!("this tenant has reached its limit of {max} scheduled posts outstanding")
            }
            Self::WebhookEndpoints => {
                format!("this tenant has reached its limit of {max} webhook endpoints; delete one first")
            }
        }
    }
}

/// A tenant at one of its limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("limit {} reached", limit.name())]
pub struct LimitReached {
    pub limit: Limit,
    pub retry_after: Duration,
}

/// When LinkedIn's daily limits and the tenants' posts per day reset.
pub fn next_utc_midnight(now: DateTime<Utc>) -> DateTime<Utc> {
    let tomorrow = now.date_naive().succ_opt().expect("a date after today");
    tomorrow.and_hms_opt(0, 0, 0).expect("midnight").and_utc()
}

/// How the product tells LinkedIn's application limit from a member's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleSettings {
    /// Different members throttled in a row (no publish succeeding in between) that mean the
    /// application's limit, not theirs.
    pub app_members: u32,
    /// …within this long of each other.
    pub app_window: chrono::Duration,
}

impl Default for ThrottleSettings {
    fn default() -> Self {
        Self {
            app_members: 3,
            app_window: chrono::Duration::minutes(10),
        }
    }
}

/// What LinkedIn's 429s say about the application, shared by every publisher: the members
/// throttled lately (connection id → when), and, once they show the application's own limit
/// is used up, until when publishing pauses.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppThrottle {
    #[serde(default)]
    pub throttled_members: BTreeMap<String, DateTime<Utc>>,
    /// The latest reset any of them was told (when the application would pause until).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused_until: Option<DateTime<Utc>>,
    #[serde(default)]
    pub version: u64,
}

impl AppThrottle {
    /// Until when publishing is paused, if it is at `now`.
    pub fn paused(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.paused_until.filter(|until| *until > now)
    }

    /// Whether a publish succeeding now tells the others something (members are on record
    /// and the application is not paused): then [`Self::published`] clears the record.
    pub fn suspects(&self, now: DateTime<Utc>) -> bool {
        !self.throttled_members.is_empty() && self.paused(now).is_none()
    }

    /// LinkedIn throttled `member` until `until`. Members throttled longer than the window
    /// ago no longer count; enough different members in a row pause the application until
    /// the latest reset any of them was told.
    pub fn member_throttled(
        &self,
        member: &str,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
        settings: &ThrottleSettings,
    ) -> Self {
        let mut next = self.clone();
        next.version += 1;
        if next.paused(now).is_none() {
            next.paused_until = None;
        }
        next.throttled_members
            .retain(|_, at| *at > now - settings.app_window);
        if next.throttled_members.is_empty() {
            next.reset_at = None;
        }
        next.throttled_members.insert(member.to_owned(), now);
        next.reset_at = Some(next.reset_at.map_or(until, |r| r.max(until)));
        if next.throttled_members.len() as u32 >= settings.app_members.max(1) {
            next.paused_until = next.paused_until.max(next.reset_at);
        }
        next
    }

    /// A publish went through: the members on record were throttled on their own account.
    pub fn published(&self) -> Self {
        Self {
            throttled_members: BTreeMap::new(),
            reset_at: None,
            paused_until: self.paused_until,
            version: self.version + 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 25, h, m, 0).unwrap()
    }

    #[test]
    fn counters_and_retry_after_per_limit() {
        let now = at(22, 30);
        let rows = [
            (
                Limit::RequestsPerSecond,
                format!("LIMIT#requests_per_second#{}", now.timestamp()),
                1,
            ),
            (
                Limit::PostsPerDay,
                "LIMIT#posts_per_day#2026-11-25".into(),
                90 * 60,
            ),
            (Limit::ScheduledPosts, "LIMIT#scheduled_posts".into(), 60),
        ];
        for (limit, counter, retry) in rows {
            assert_eq!(limit.counter(now), counter, "{limit:?}");
            assert_eq!(limit.retry_after(now).as_secs(), retry, "{limit:?}");
        }
        assert_eq!(Limit::ScheduledPosts.counter_expires_at(now), None);
        assert_eq!(
            Limit::PostsPerDay.counter_expires_at(now),
            Some(Utc.with_ymd_and_hms(2026, 11, 27, 0, 0, 0).unwrap())
        );
    }

    #[test]
    fn every_limit_names_itself_and_its_maximum() {
        let limits = TenantLimits {
            requests_per_second: 7,
            posts_per_day: 8,
            scheduled_posts: 9,
            webhook_endpoints: 6,
        };
        for (limit, name, max) in [
            (Limit::RequestsPerSecond, "requests_per_second", "7"),
            (Limit::PostsPerDay, "posts_per_day", "8"),
            (Limit::ScheduledPosts, "scheduled_posts", "9"),
            (Limit::WebhookEndpoints, "webhook_endpoints", "6"),
        ] {
            assert_eq!(limit.name(), name);
            assert!(limit.message(&limits).contains(max), "{name}");
        }
    }

    /// Each row: the 429s (member, minutes past 12:00) and publishes in order, and whether
    /// the application ends paused (until the latest reset told).
    #[test]
    fn when_429s_mean_the_application_limit() {
        let settings = ThrottleSettings::default();
        let midnight = Utc.with_ymd_and_hms(2026, 11, 26, 0, 0, 0).unwrap();
        enum Event {
            Throttled(&'static str, u32),
            Published,
        }
        use Event::*;
        let rows: Vec<(&str, Vec<Event>, bool)> = vec![
            ("one member", vec![Throttled("a", 0)], false),
            (
                "the same member three times",
                vec![Throttled("a", 0), Throttled("a", 1), Throttled("a", 2)],
                false,
            ),
            (
                "three members in a row",
                vec![Throttled("a", 0), Throttled("b", 1), Throttled("c", 2)],
                true,
            ),
            (
                "a publish in between: members on their own limits",
                vec![
                    Throttled("a", 0),
                    Throttled("b", 1),
                    Published,
                    Throttled("c", 2),
                ],
                false,
            ),
            (
                "spread wider than the window",
                vec![Throttled("a", 0), Throttled("b", 6), Throttled("c", 12)],
                false,
            ),
            (
                "the first one aged out, three others within the window",
                vec![
                    Throttled("a", 0),
                    Throttled("b", 11),
                    Throttled("c", 12),
                    Throttled("d", 13),
                ],
                true,
            ),
        ];
        for (name, events, paused) in rows {
            let mut t = AppThrottle::default();
            let mut now = at(12, 0);
            for event in events {
                match event {
                    Throttled(member, minute) => {
                        now = at(12, minute);
                        t = t.member_throttled(member, midnight, now, &settings);
                    }
                    Published => t = t.published(),
                }
            }
            let expected = paused.then_some(midnight);
            assert_eq!(t.paused(now), expected, "{name}");
            assert_eq!(t.suspects(now), !paused && !t.throttled_members.is_empty());
        }
    }

    #[test]
    fn a_pause_ends_at_the_reset_and_a_publish_does_not_lift_it_early() {
        let settings = ThrottleSettings::default();
        let reset = at(12, 30);
        let mut t = AppThrottle::default();
        for (i, member) in ["a", "b", "c"].into_iter().enumerate() {
            t = t.member_throttled(member, reset, at(12, i as u32), &settings);
        }
        assert_eq!(t.paused(at(12, 29)), Some(reset));
        // A publisher that had not heard of the pause got one through: LinkedIn's limit is
        // what it is; the pause stays to the reset.
        assert_eq!(t.published().paused(at(12, 29)), Some(reset));
        assert_eq!(t.paused(reset), None, "resumes at the reset");
        // After the reset, one member's 429 starts a new count; it does not pause again.
        let after = t.member_throttled("d", at(23, 59), at(12, 31), &settings);
        assert_eq!(after.paused(at(12, 31)), None);
        assert_eq!(after.throttled_members.len(), 1, "{after:?}");
    }
}
