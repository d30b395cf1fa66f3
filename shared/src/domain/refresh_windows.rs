//! Refresh windows: when a connection's access token is refreshed before it expires, and the
//! time a scheduled invocation reasons at. The EventBridge adapter (`schedules`) only carries
//! them out.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ConnectionId;

/// When a connection's access token is refreshed, before it expires (the spec's T-7d, T-1d,
/// T-12h). The later ones are there in case the earlier ones failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RefreshWindow {
    #[serde(rename = "T-7d")]
    SevenDays,
    #[serde(rename = "T-1d")]
    OneDay,
    #[serde(rename = "T-12h")]
    TwelveHours,
}

impl RefreshWindow {
    pub const ALL: [RefreshWindow; 3] = [Self::SevenDays, Self::OneDay, Self::TwelveHours];

    pub fn before_expiry(self) -> chrono::Duration {
        match self {
            Self::SevenDays => chrono::Duration::days(7),
            Self::OneDay => chrono::Duration::days(1),
            Self::TwelveHours => chrono::Duration::hours(12),
        }
    }

    pub fn is_last(self) -> bool {
        self == Self::TwelveHours
    }

    fn suffix(self) -> &'static str {
        match self {
            Self::SevenDays => "7d",
            Self::OneDay => "1d",
            Self::TwelveHours => "12h",
        }
    }

    /// The schedule's name: one per connection and window, so new windows replace old ones.
    pub fn schedule_name(self, connection: ConnectionId) -> String {
        format!("refresh-{connection}-{}", self.suffix())
    }
}

/// The time a scheduled invocation reasons at: the schedule's time as the scheduler filled it
/// in, or `now` if that is later (or missing, or not a time). A scheduler on a clock ahead of
/// ours (the local stack's time travel) is believed; in AWS the two are a moment apart.
pub fn as_of(scheduled_time: Option<&str>, now: DateTime<Utc>) -> DateTime<Utc> {
    scheduled_time
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map_or(now, |t| now.max(t.with_timezone(&Utc)))
}

/// The windows still ahead for a token expiring at `expires_at`.
pub fn windows_ahead(
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Vec<(RefreshWindow, DateTime<Utc>)> {
    RefreshWindow::ALL
        .into_iter()
        .map(|w| (w, expires_at - w.before_expiry()))
        .filter(|(_, at)| *at > now)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn windows_fall_7_days_1_day_and_12_hours_before_expiry() {
        let now = Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap();
        let expiry = now + chrono::Duration::days(60);
        let ahead = windows_ahead(expiry, now);
        assert_eq!(ahead.len(), 3);
        assert_eq!(
            ahead[0],
            (RefreshWindow::SevenDays, expiry - chrono::Duration::days(7))
        );
        assert_eq!(
            ahead[2],
            (
                RefreshWindow::TwelveHours,
                expiry - chrono::Duration::hours(12)
            )
        );
    }

    #[test]
    fn windows_already_past_are_not_scheduled() {
        let now = Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap();
        let ahead = windows_ahead(now + chrono::Duration::hours(20), now);
        assert_eq!(
            ahead.iter().map(|(w, _)| *w).collect::<Vec<_>>(),
            [RefreshWindow::TwelveHours]
        );
    }

    #[test]
    fn a_scheduled_time_ahead_of_now_is_believed_and_a_placeholder_is_not() {
        let now = Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap();
        assert_eq!(
            as_of(Some("2027-01-15T09:00:00Z"), now).to_rfc3339(),
            "2027-01-15T09:00:00+00:00"
        );
        assert_eq!(as_of(Some("2026-11-23T08:59:58Z"), now), now);
        assert_eq!(as_of(Some("<aws.scheduler.scheduled-time>"), now), now);
        assert_eq!(as_of(None, now), now);
    }
}
