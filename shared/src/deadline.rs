//! The time an invocation has. Lambda kills a function at its deadline, and with it every job
//! in flight; so no LinkedIn call, upload or fetch starts unless the time left covers it plus
//! a margin for recording what happened. Work that does not fit is handed back to its queue.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Kept back from every step for recording its result (a DynamoDB write or two).
pub const MARGIN: Duration = Duration::from_secs(3);

#[derive(Debug, Clone, Copy)]
pub struct Deadline(Option<Instant>);

impl Deadline {
    /// Lambda's deadline: milliseconds since the Unix epoch (`Context::deadline`). A value
    /// that cannot be an epoch time (before 2001) is read as a time span: cargo lambda's
    /// runtime emulator sends the function's timeout there.
    pub fn from_epoch_millis(deadline_ms: u64) -> Self {
        const YEAR_2001_MS: u64 = 978_307_200_000;
        if deadline_ms < YEAR_2001_MS {
            return Self::after(Duration::from_millis(deadline_ms));
        }
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or_default();
        Self::after(Duration::from_millis(deadline_ms.saturating_sub(now_ms)))
    }

    /// A deadline `left` from now.
    pub fn after(left: Duration) -> Self {
        Self(Some(Instant::now() + left))
    }

    /// No deadline (a caller that is not a Lambda invocation).
    pub fn none() -> Self {
        Self(None)
    }

    /// Time left, or `None` when there is no deadline.
    pub fn remaining(&self) -> Option<Duration> {
        self.0
            .map(|at| at.saturating_duration_since(Instant::now()))
    }

    /// Whether a step that may take `step` can start now and still leave [`MARGIN`].
    pub fn allows(&self, step: Duration) -> bool {
        self.remaining().is_none_or(|left| left >= step + MARGIN)
    }

    /// `limit`, shortened to what the deadline leaves after [`MARGIN`].
    pub fn cap(&self, limit: Duration) -> Duration {
        self.remaining()
            .map_or(limit, |left| limit.min(left.saturating_sub(MARGIN)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_starts_only_if_it_fits_with_the_margin() {
        let deadline = Deadline::after(Duration::from_secs(20));
        assert!(deadline.allows(Duration::from_secs(10)));
        assert!(!deadline.allows(Duration::from_secs(18)));
        assert!(Deadline::none().allows(Duration::from_secs(3600)));
        assert!(!Deadline::after(Duration::ZERO).allows(Duration::ZERO));
    }

    #[test]
    fn caps_shorten_to_the_time_left() {
        let deadline = Deadline::after(Duration::from_secs(10));
        assert!(deadline.cap(Duration::from_secs(20)) <= Duration::from_secs(7));
        assert_eq!(
            Deadline::none().cap(Duration::from_secs(20)),
            Duration::from_secs(20)
        );
    }

    #[test]
    fn lambdas_epoch_deadline_is_read_as_time_left() {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let left = Deadline::from_epoch_millis(now_ms + 30_000)
            .remaining()
            .unwrap();
        assert!(left > Duration::from_secs(28) && left <= Duration::from_secs(30));
        assert_eq!(
            Deadline::from_epoch_millis(now_ms - 5).remaining(),
            Some(Duration::ZERO)
        );
        // cargo lambda's emulator sends the timeout itself.
        let span = Deadline::from_epoch_millis(60_000).remaining().unwrap();
        assert!(span > Duration::from_secs(59) && span <= Duration::from_secs(60));
    }
}
