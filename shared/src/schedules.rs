//! One-time EventBridge schedules that put a job back on the publish queue at a given time:
//! for waits longer than SQS allows (LinkedIn's daily limits reset at midnight UTC), and
//! later for scheduled posts.

use aws_sdk_scheduler::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_scheduler::types::{
    ActionAfterCompletion, DeadLetterConfig, FlexibleTimeWindow, FlexibleTimeWindowMode,
    RetryPolicy, Target,
};
use chrono::{DateTime, Utc};

use crate::posts::Job;

#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    #[error("scheduler unavailable: {0}")]
    Unavailable(String),
    #[error("scheduler refused: {0}")]
    Refused(String),
}

/// Where schedules live and what they target.
#[derive(Debug, Clone)]
pub struct ScheduleSettings {
    pub group: String,
    /// The role EventBridge Scheduler assumes to send to the queue.
    pub role_arn: String,
    pub queue_arn: String,
    /// Where a schedule's event goes when delivery keeps failing.
    pub dead_letter_arn: Option<String>,
}

#[derive(Debug, Clone)]
pub struct JobScheduler {
    client: aws_sdk_scheduler::Client,
    settings: ScheduleSettings,
}

/// `at(…)` in UTC, to the second, as EventBridge Scheduler takes it.
pub fn at_expression(at: DateTime<Utc>) -> String {
    format!("at({})", at.format("%Y-%m-%dT%H:%M:%S"))
}

impl JobScheduler {
    pub fn new(client: aws_sdk_scheduler::Client, settings: ScheduleSettings) -> Self {
        Self { client, settings }
    }

    pub fn settings(&self) -> &ScheduleSettings {
        &self.settings
    }

    /// Sends `job` to the publish queue at `at` (within a 15-minute flexible window, so that
    /// many posts held by the same daily reset do not all land in the same second). Creating
    /// the same schedule twice is not an error.
    pub async fn enqueue_at(
        &self,
        name: &str,
        job: &Job,
        at: DateTime<Utc>,
    ) -> Result<(), ScheduleError> {
        let mut target = Target::builder()
            .arn(&self.settings.queue_arn)
            .role_arn(&self.settings.role_arn)
            .input(serde_json::to_string(job).expect("jobs serialize"))
            .retry_policy(
                RetryPolicy::builder()
                    .maximum_retry_attempts(10)
                    .maximum_event_age_in_seconds(86_400)
                    .build(),
            );
        if let Some(dlq) = &self.settings.dead_letter_arn {
            target = target.dead_letter_config(DeadLetterConfig::builder().arn(dlq).build());
        }
        let target = target
            .build()
            .map_err(|e| ScheduleError::Refused(e.to_string()))?;
        let window = FlexibleTimeWindow::builder()
            .mode(FlexibleTimeWindowMode::Flexible)
            .maximum_window_in_minutes(15)
            .build()
            .map_err(|e| ScheduleError::Refused(e.to_string()))?;
        let created = self
            .client
            .create_schedule()
            .name(name)
            .group_name(&self.settings.group)
            .schedule_expression(at_expression(at))
            .schedule_expression_timezone("UTC")
            .flexible_time_window(window)
            .action_after_completion(ActionAfterCompletion::Delete)
            .target(target)
            .send()
            .await;
        match created {
            Ok(_) => Ok(()),
            Err(e) => match classify(e) {
                ScheduleError::Refused(detail) if detail.contains("ConflictException") => Ok(()),
                other => Err(other),
            },
        }
    }
}

fn classify<E, R>(error: SdkError<E, R>) -> ScheduleError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let detail = format!("{}", aws_sdk_scheduler::error::DisplayErrorContext(&error));
    match &error {
        SdkError::ServiceError(s)
            if !matches!(
                s.err().code(),
                Some("ThrottlingException" | "InternalServerException")
            ) =>
        {
            ScheduleError::Refused(detail)
        }
        _ => ScheduleError::Unavailable(detail),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn at_expressions_are_utc_to_the_second() {
        let at = Utc.with_ymd_and_hms(2026, 11, 24, 0, 0, 7).unwrap();
        assert_eq!(at_expression(at), "at(2026-11-24T00:00:07)");
    }
}
