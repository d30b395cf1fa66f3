//! The `LinkedIn-Version` lifecycle. LinkedIn supports a monthly version for about a year and
//! then answers 426 NONEXISTENT_VERSION, so a version `YYYYMM` is taken as retired from the
//! first day of the same month one year later (../shared/linkedin-api.md, "Versions"). This is
//! a fact the product reasons with: functions warn at cold start, the health round reports the
//! days left (a metric and an alarm watch them), and a test fails the build well before.

use chrono::{DateTime, NaiveDate, Utc};
use tracing::{error, info, warn};

/// Warn at cold start when the version in force retires within this many days.
pub const WARN_DAYS_BEFORE_RETIREMENT: i64 = 60;

/// A `LinkedIn-Version` month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ApiVersion {
    year: i32,
    month: u32,
}

/// Where a version stands on a given day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionState {
    /// Its month has not begun: LinkedIn does not serve it yet.
    NotReleased,
    /// Served; `days_left` until it retires.
    Active { days_left: i64 },
    /// Served, but retiring within [`WARN_DAYS_BEFORE_RETIREMENT`] days.
    RetiringSoon { days_left: i64 },
    /// LinkedIn answers 426 to it.
    Retired,
}

impl ApiVersion {
    /// `YYYYMM`, as the `LINKEDIN_API_VERSION` setting and the header take it.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let bad = || format!("{raw:?} is not a YYYYMM version, e.g. 202610");
        if raw.len() != 6 || !raw.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let year: i32 = raw[..4].parse().map_err(|_| bad())?;
        let month: u32 = raw[4..].parse().map_err(|_| bad())?;
        if !(1..=12).contains(&month) || year < 2020 {
            return Err(bad());
        }
        Ok(Self { year, month })
    }

    /// The first day LinkedIn serves it.
    pub fn released_on(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, self.month, 1).expect("month checked at parse")
    }

    /// The first day LinkedIn no longer serves it: the same month one year later.
    pub fn retires_on(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year + 1, self.month, 1).expect("month checked at parse")
    }

    pub fn state_on(self, today: NaiveDate) -> VersionState {
        if today < self.released_on() {
            return VersionState::NotReleased;
        }
        let days_left = (self.retires_on() - today).num_days();
        match days_left {
            d if d <= 0 => VersionState::Retired,
            d if d <= WARN_DAYS_BEFORE_RETIREMENT => VersionState::RetiringSoon { days_left: d },
            d => VersionState::Active { days_left: d },
        }
    }

    /// Days until it retires (negative once retired).
    pub fn days_left(self, today: NaiveDate) -> i64 {
        (self.retires_on() - today).num_days()
    }
}

impl std::fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}{:02}", self.year, self.month)
    }
}

/// Logs where the version in force stands: at cold start and in every health round. A warning
/// within [`WARN_DAYS_BEFORE_RETIREMENT`] days, an error once retired or not yet released. The
/// health round's line is what the template's metric and alarm watch.
pub fn log_version_state(version: ApiVersion, now: DateTime<Utc>) -> VersionState {
    let today = now.date_naive();
    let state = version.state_on(today);
    let retires_on = version.retires_on().to_string();
    let days_left = version.days_left(today);
    let linkedin_version = version.to_string();
    // Every line carries `type = "linkedin_version"` and `days_left`: the template's metric
    // filter turns them into the LinkedInVersionDaysLeft metric.
    match state {
        VersionState::Active { .. } => info!(
            r#type = "linkedin_version",
            linkedin_version,
            retires_on, days_left, "linkedin api version"
        ),
        VersionState::RetiringSoon { .. } => warn!(
            r#type = "linkedin_version",
            linkedin_version,
            retires_on,
            days_left,
            setting = "LINKEDIN_API_VERSION",
            "linkedin api version retires soon: set LINKEDIN_API_VERSION to a newer YYYYMM version"
        ),
        VersionState::Retired => error!(
            r#type = "linkedin_version",
            linkedin_version,
            retires_on,
            days_left,
            setting = "LINKEDIN_API_VERSION",
            "linkedin api version is retired: every versioned LinkedIn call fails with 426 until LINKEDIN_API_VERSION is set to an active YYYYMM version"
        ),
        VersionState::NotReleased => error!(
            r#type = "linkedin_version",
            linkedin_version,
            days_left,
            released_on = version.released_on().to_string(),
            setting = "LINKEDIN_API_VERSION",
            "linkedin api version is from the future: LinkedIn answers 426 until its month begins"
        ),
    }
    state
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn a_version_retires_the_same_month_one_year_later() {
        let v = ApiVersion::parse("202510").unwrap();
        assert_eq!(v.retires_on(), day("2026-10-01"));
        assert_eq!(v.released_on(), day("2025-10-01"));
    }

    #[test]
    fn states_through_a_versions_life() {
        let v = ApiVersion::parse("202610").unwrap();
        let cases = [
            ("2026-09-30", VersionState::NotReleased),
            ("2026-10-01", VersionState::Active { days_left: 365 }),
            ("2027-08-02", VersionState::RetiringSoon { days_left: 60 }),
            ("2027-08-01", VersionState::Active { days_left: 61 }),
            ("2027-09-30", VersionState::RetiringSoon { days_left: 1 }),
            ("2027-10-01", VersionState::Retired),
            ("2030-01-01", VersionState::Retired),
        ];
        for (today, want) in cases {
            assert_eq!(v.state_on(day(today)), want, "on {today}");
        }
    }

    #[test]
    fn malformed_versions_are_refused() {
        for raw in [
            "2025-10", "20251", "202513", "202500", "abcdef", "2025101", "190001",
        ] {
            assert!(ApiVersion::parse(raw).is_err(), "{raw}");
        }
        assert_eq!(ApiVersion::parse("202612").unwrap().to_string(), "202612");
    }
}
