//! One-time EventBridge schedules, all in the product's schedule group: scheduled posts and
//! retries longer than SQS allows (LinkedIn's daily limits reset at midnight UTC) put a job on
//! the publish queue at their time; refresh windows invoke the refresher.

use crate::aws_clients::LazyClient;

use aws_sdk_scheduler::error::ProvideErrorMetadata;
use aws_sdk_scheduler::types::{
    ActionAfterCompletion, DeadLetterConfig, FlexibleTimeWindow, FlexibleTimeWindowMode,
    RetryPolicy, Target,
};

use chrono::{DateTime, Utc};

use serde::{Deserialize, Serialize};

use crate::aws_errors::{self, AwsError};
use crate::domain::posts::{Job, Post, PostId};
use crate::domain::{
    as_of, runways_ahead, windows_ahead, ConnectionId, ReconnectRunway, RefreshWindow, TenantId,
};

/// EventBridge Scheduler replaces this in a target's input with the time the schedule was due.
pub const SCHEDULED_TIME: &str = "<aws.scheduler.scheduled-time>";

#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    #[error("scheduler unavailable: {0}")]
    Unavailable(String),
    #[error("scheduler refused: {0}")]
    Refused(String),
}

impl ScheduleError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

/// Where schedules live and what they target.
#[derive(Debug, Clone)]
pub struct ScheduleSettings {
    pub group: String,
    /// The role EventBridge Scheduler assumes to send to the queue or invoke the refresher.
    pub role_arn: String,
    pub queue_arn: String,
    /// Where a schedule's event goes when delivery keeps failing.
    pub dead_letter_arn: Option<String>,
    /// The refresher function, target of the refresh windows.
    pub refresher_arn: Option<String>,
}

/// What the refresher receives when a window opens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshRequest {
    pub tenant_id: TenantId,
    pub connection_id: ConnectionId,
    pub window: RefreshWindow,
    /// When the window opened, as the scheduler fills it in ([`SCHEDULED_TIME`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled_time: Option<String>,
}

impl RefreshRequest {
    /// The time to reason about the window at (see [`as_of`]).
    pub fn as_of(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        as_of(self.scheduled_time.as_deref(), now)
    }
}

/// What the refresher receives when a connection's reconnect runway comes (14, 7, 1 days
/// before the member must reconnect, and at the deadline).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunwayRequest {
    pub tenant_id: TenantId,
    pub connection_id: ConnectionId,
    pub runway: ReconnectRunway,
    /// When the runway came, as the scheduler fills it in ([`SCHEDULED_TIME`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled_time: Option<String>,
}

impl RunwayRequest {
    /// The time to reason about the runway at (see [`as_of`]).
    pub fn as_of(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        as_of(self.scheduled_time.as_deref(), now)
    }
}

/// Everything the refresher's schedules send it: a refresh window or a reconnect runway
/// (told apart by their `window` or `runway` field).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RefresherEvent {
    Window(RefreshRequest),
    Runway(RunwayRequest),
}

/// The one-time schedule that UpdateSchedule and CreateSchedule both describe (their
/// builders are different types with the same setters).
macro_rules! one_time {
    ($builder:expr, $scheduler:expr, $name:expr, $at:expr, $window:expr, $target:expr) => {
        $builder
            .name($name)
            .group_name(&$scheduler.settings.group)
            .schedule_expression(at_expression($at))
            .schedule_expression_timezone("UTC")
            .flexible_time_window($window)
            .action_after_completion(ActionAfterCompletion::Delete)
            .target($target)
    };
}

#[derive(Debug, Clone)]
pub struct JobScheduler {
    /// Built at the first schedule call, not at cold start: each AWS service's first client
    /// costs a function's init about half a millisecond (`make bench-coldstart`), and most
    /// invocations of the functions that hold one schedule nothing. Clones share it.
    client: LazyClient<aws_sdk_scheduler::Client>,
    settings: ScheduleSettings,
}

/// Whether a schedule about to be put is expected to exist: a new connection's windows and a
/// new post's schedule do not, a refresh's windows and a moved post's do. Only the order of
/// the calls depends on it; a wrong guess costs one call more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    New,
    Existing,
}

/// `at(…)` in UTC, to the second, as EventBridge Scheduler takes it.
pub fn at_expression(at: DateTime<Utc>) -> String {
    format!("at({})", at.format("%Y-%m-%dT%H:%M:%S"))
}

impl JobScheduler {
    /// A scheduler whose EventBridge Scheduler client is built from `sdk` at its first call.
    pub fn new(sdk: &aws_config::SdkConfig, settings: ScheduleSettings) -> Self {
        Self {
            client: LazyClient::from_sdk(sdk, aws_sdk_scheduler::Client::new),
            settings,
        }
    }

    pub fn settings(&self) -> &ScheduleSettings {
        &self.settings
    }

    /// Puts the connection's refresh windows in place for a token expiring at `expires_at`:
    /// each window's schedule is updated if it exists and created if not, so refreshing
    /// replaces the old windows instead of piling up new ones. Windows already past are
    /// removed. Returns how many windows are scheduled.
    pub async fn put_refresh_windows(
        &self,
        tenant: &TenantId,
        connection: ConnectionId,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
        expect: Expect,
    ) -> Result<usize, ScheduleError> {
        let ahead = windows_ahead(expires_at, now);
        let plan = RefreshWindow::ALL.map(|window| {
            let at = ahead.iter().find(|(w, _)| *w == window).map(|(_, at)| *at);
            let request = RefresherEvent::Window(RefreshRequest {
                tenant_id: tenant.clone(),
                connection_id: connection,
                window,
                scheduled_time: Some(SCHEDULED_TIME.into()),
            });
            (window.schedule_name(connection), at, request)
        });
        self.put_refresher_schedules(plan, expect).await?;
        Ok(ahead.len())
    }

    /// Puts the connection's reconnect runways in place for a member who must reconnect by
    /// `reconnect_by`: like the refresh windows, each runway's schedule is replaced, and
    /// those already past are removed (a reconnect moves the deadline). Returns how many
    /// runways are scheduled.
    pub async fn put_reconnect_runways(
        &self,
        tenant: &TenantId,
        connection: ConnectionId,
        reconnect_by: DateTime<Utc>,
        now: DateTime<Utc>,
        expect: Expect,
    ) -> Result<usize, ScheduleError> {
        let ahead = runways_ahead(reconnect_by, now);
        let plan = ReconnectRunway::ALL.map(|runway| {
            let at = ahead.iter().find(|(r, _)| *r == runway).map(|(_, at)| *at);
            let request = RefresherEvent::Runway(RunwayRequest {
                tenant_id: tenant.clone(),
                connection_id: connection,
                runway,
                scheduled_time: Some(SCHEDULED_TIME.into()),
            });
            (runway.schedule_name(connection), at, request)
        });
        self.put_refresher_schedules(plan, expect).await?;
        Ok(ahead.len())
    }

    /// Puts each `(name, at, request)` in place as a one-time schedule invoking the refresher
    /// anywhere in the half hour after `at`, or deletes it when it has no time (past).
    async fn put_refresher_schedules<const N: usize>(
        &self,
        plan: [(String, Option<DateTime<Utc>>, RefresherEvent); N],
        expect: Expect,
    ) -> Result<(), ScheduleError> {
        let refresher = self
            .settings
            .refresher_arn
            .clone()
            .ok_or_else(|| ScheduleError::Refused("REFRESHER_ARN is not configured".into()))?;
        for (name, at, request) in plan {
            let Some(at) = at else {
                // A new connection has no schedule to remove.
                if expect == Expect::Existing {
                    self.delete(&name).await?;
                }
                continue;
            };
            let input = serde_json::to_string(&request).expect("requests serialize");
            let target = self.target(&refresher, input, 6 * 3600)?;
            self.put(&name, at, self.flexible(30)?, target, expect)
                .await?;
        }
        Ok(())
    }

    /// Creates the schedule `name`, or replaces it if it exists: never two of one name. The
    /// call tried first is the one `expect` says will do (the other follows if it was wrong),
    /// so a new connection's or post's schedules cost one call each, not two.
    async fn put(
        &self,
        name: &str,
        at: DateTime<Utc>,
        window: FlexibleTimeWindow,
        target: Target,
        expect: Expect,
    ) -> Result<(), ScheduleError> {
        if expect == Expect::New {
            match self.create(name, at, window.clone(), target.clone()).await {
                Err(Failed::Conflict(_)) => {}
                other => return other.map_err(create_failed),
            }
        }
        match self.update(name, at, window.clone(), target.clone()).await {
            Ok(()) => Ok(()),
            Err(Failed::NotFound(_)) => self
                .create(name, at, window, target)
                .await
                .map_err(create_failed),
            Err(e) => Err(e.into()),
        }
    }

    async fn update(
        &self,
        name: &str,
        at: DateTime<Utc>,
        window: FlexibleTimeWindow,
        target: Target,
    ) -> Result<(), Failed> {
        one_time!(
            self.client.update_schedule(),
            self,
            name,
            at,
            window,
            target
        )
        .send()
        .await
        .map(|_| ())
        .map_err(|e| Failed::of("UpdateSchedule", e))
    }

    async fn create(
        &self,
        name: &str,
        at: DateTime<Utc>,
        window: FlexibleTimeWindow,
        target: Target,
    ) -> Result<(), Failed> {
        one_time!(
            self.client.create_schedule(),
            self,
            name,
            at,
            window,
            target
        )
        .send()
        .await
        .map(|_| ())
        .map_err(|e| Failed::of("CreateSchedule", e))
    }

    /// Puts a scheduled post's one-time schedule in place at its `scheduled_at`: created, or
    /// replaced when the post moves. Its target is the publish queue with the job made for
    /// that time, exactly then (no flexible window), with a retry policy and the DLQ.
    pub async fn schedule_post(&self, post: &Post, expect: Expect) -> Result<(), ScheduleError> {
        let at = post
            .scheduled_at
            .ok_or_else(|| ScheduleError::Refused("the post has no scheduled_at".into()))?;
        let input = serde_json::to_string(&post.publish_job(at)).expect("jobs serialize");
        let target = self.target(&self.settings.queue_arn, input, 86_400)?;
        let exact = FlexibleTimeWindow::builder()
            .mode(FlexibleTimeWindowMode::Off)
            .build()
            .map_err(|e| ScheduleError::Refused(e.to_string()))?;
        self.put(&post.id.schedule_name(), at, exact, target, expect)
            .await
    }

    /// The time the post's schedule is made for now (`None` when there is none): after a
    /// put whose answer was lost, this says whether it took effect.
    pub async fn post_schedule_time(
        &self,
        id: PostId,
    ) -> Result<Option<DateTime<Utc>>, ScheduleError> {
        let got = self
            .client
            .get_schedule()
            .name(id.schedule_name())
            .group_name(&self.settings.group)
            .send()
            .await
            .map_err(|e| Failed::of("GetSchedule", e));
        match got {
            Ok(schedule) => Ok(schedule
                .target()
                .map(|t| t.input().unwrap_or_default())
                .and_then(|input| serde_json::from_str::<Job>(input).ok())
                .and_then(|job| job.scheduled_at)),
            Err(Failed::NotFound(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// A post waiting for approval for later: its reminder an hour before its time, when
    /// there is more than an hour to go (see [`Post::approval_reminder`]).
    pub async fn schedule_approval_reminder(
        &self,
        post: &Post,
        now: DateTime<Utc>,
    ) -> Result<(), ScheduleError> {
        match post.approval_reminder(now) {
            Some((at, job)) => {
                self.enqueue_at(&post.id.reminder_schedule_name(), &job, at)
                    .await
            }
            None => Ok(()),
        }
    }

    /// Deletes a post's approval reminder; one already gone is fine.
    pub async fn unschedule_approval_reminder(&self, id: PostId) -> Result<(), ScheduleError> {
        self.delete(&id.reminder_schedule_name()).await
    }

    /// Deletes a scheduled post's schedule; one already gone (fired, or never made) is fine.
    pub async fn unschedule_post(&self, id: PostId) -> Result<(), ScheduleError> {
        self.delete(&id.schedule_name()).await
    }

    /// Removes the connection's refresh windows and reconnect runways (disconnect).
    pub async fn delete_connection_schedules(
        &self,
        connection: ConnectionId,
    ) -> Result<(), ScheduleError> {
        let windows = RefreshWindow::ALL.map(|w| w.schedule_name(connection));
        let runways = ReconnectRunway::ALL.map(|r| r.schedule_name(connection));
        for name in windows.iter().chain(&runways) {
            self.delete(name).await?;
        }
        Ok(())
    }

    async fn delete(&self, name: &str) -> Result<(), ScheduleError> {
        match self
            .client
            .delete_schedule()
            .name(name)
            .group_name(&self.settings.group)
            .send()
            .await
            .map_err(|e| Failed::of("DeleteSchedule", e))
        {
            Ok(_) => Ok(()),
            Err(Failed::NotFound(_)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    fn target(
        &self,
        arn: &str,
        input: String,
        max_age_seconds: i32,
    ) -> Result<Target, ScheduleError> {
        let mut target = Target::builder()
            .arn(arn)
            .role_arn(&self.settings.role_arn)
            .input(input)
            .retry_policy(
                RetryPolicy::builder()
                    .maximum_retry_attempts(10)
                    .maximum_event_age_in_seconds(max_age_seconds)
                    .build(),
            );
        if let Some(dlq) = &self.settings.dead_letter_arn {
            target = target.dead_letter_config(DeadLetterConfig::builder().arn(dlq).build());
        }
        target
            .build()
            .map_err(|e| ScheduleError::Refused(e.to_string()))
    }

    fn flexible(&self, minutes: i32) -> Result<FlexibleTimeWindow, ScheduleError> {
        FlexibleTimeWindow::builder()
            .mode(FlexibleTimeWindowMode::Flexible)
            .maximum_window_in_minutes(minutes)
            .build()
            .map_err(|e| ScheduleError::Refused(e.to_string()))
    }

    /// Sends `job` to the publish queue at `at` (within a 15-minute flexible window, so that
    /// many posts held by the same daily reset do not all land in the same second). Putting
    /// the same schedule twice replaces it.
    pub async fn enqueue_at(
        &self,
        name: &str,
        job: &Job,
        at: DateTime<Utc>,
    ) -> Result<(), ScheduleError> {
        let input = serde_json::to_string(&job.due(at)).expect("jobs serialize");
        let target = self.target(&self.settings.queue_arn, input, 86_400)?;
        self.put(name, at, self.flexible(15)?, target, Expect::Existing)
            .await
    }
}

/// A failed scheduler call: the typed errors this adapter makes something of, and the rest
/// as every adapter sorts them.
#[derive(Debug)]
enum Failed {
    /// There is no such schedule.
    NotFound(String),
    /// A schedule of that name exists already, or is being changed.
    Conflict(String),
    Other(ScheduleError),
}

impl Failed {
    fn of<E>(operation: &str, error: AwsError<E>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        aws_sdk_scheduler::Error: From<AwsError<E>>,
    {
        aws_errors::classify_typed(
            operation,
            error,
            |typed| match typed {
                aws_sdk_scheduler::Error::ResourceNotFoundException(_) => Some(Self::NotFound),
                aws_sdk_scheduler::Error::ConflictException(_) => Some(Self::Conflict),
                _ => None,
            },
            |detail| Self::Other(ScheduleError::Unavailable(detail)),
            |detail| Self::Other(ScheduleError::Refused(detail)),
        )
    }
}

/// A missing schedule or a conflict the caller did not expect is a refusal.
impl From<Failed> for ScheduleError {
    fn from(failed: Failed) -> Self {
        match failed {
            Failed::NotFound(detail) | Failed::Conflict(detail) => Self::Refused(detail),
            Failed::Other(e) => e,
        }
    }
}

/// A failed create: one of the same name made meanwhile by a concurrent put is retried (this
/// put's content then wins).
fn create_failed(failed: Failed) -> ScheduleError {
    match failed {
        Failed::Conflict(detail) => ScheduleError::Unavailable(detail),
        other => other.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn schedule_names_fit_eventbridges_limit_and_name_the_window() {
        let id = ConnectionId::new();
        let name = RefreshWindow::TwelveHours.schedule_name(id);
        assert!(name.len() <= 64 && name.ends_with("-12h"), "{name}");
        let request: RefreshRequest = serde_json::from_str(&format!(
            r#"{{"tenant_id":"acme","connection_id":"{id}","window":"T-7d"}}"#
        ))
        .unwrap();
        assert_eq!(request.window, RefreshWindow::SevenDays);
    }

    #[test]
    fn at_expressions_are_utc_to_the_second() {
        let at = Utc.with_ymd_and_hms(2026, 11, 24, 0, 0, 7).unwrap();
        assert_eq!(at_expression(at), "at(2026-11-24T00:00:07)");
    }

    mod failures {
        use super::super::*;
        use crate::aws_errors::fixtures::{code, modeled, service, transient};
        use aws_sdk_scheduler::operation::create_schedule::CreateScheduleError as Create;
        use aws_sdk_scheduler::operation::delete_schedule::DeleteScheduleError as Delete;
        use aws_sdk_scheduler::operation::get_schedule::GetScheduleError as Get;
        use aws_sdk_scheduler::operation::update_schedule::UpdateScheduleError as Update;
        use aws_sdk_scheduler::types::error::{
            ConflictException, InternalServerException, ResourceNotFoundException,
            ServiceQuotaExceededException, ThrottlingException, ValidationException,
        };

        /// The class a failure ends in: what the adapter makes of it, or the error it returns.
        fn class(failed: Failed) -> &'static str {
            match failed {
                Failed::NotFound(_) => "not found",
                Failed::Conflict(_) => "conflict",
                Failed::Other(e) if e.is_retryable() => "retryable",
                Failed::Other(_) => "refused",
            }
        }

        fn not_found() -> ResourceNotFoundException {
            modeled!(ResourceNotFoundException).unwrap()
        }

        fn conflict() -> ConflictException {
            modeled!(ConflictException).unwrap()
        }

        #[test]
        fn update_failures_tell_a_missing_schedule_from_the_rest() {
            let mut cases = transient(Update::generic, "retryable");
            cases.extend([
                (
                    "no such schedule",
                    service(404, Update::ResourceNotFoundException(not_found())),
                    "not found",
                ),
                (
                    "conflict",
                    service(409, Update::ConflictException(conflict())),
                    "conflict",
                ),
                (
                    "throttled",
                    service(
                        429,
                        Update::ThrottlingException(modeled!(ThrottlingException).unwrap()),
                    ),
                    "retryable",
                ),
                (
                    "internal",
                    service(
                        500,
                        Update::InternalServerException(modeled!(InternalServerException).unwrap()),
                    ),
                    "retryable",
                ),
                (
                    "invalid",
                    service(
                        400,
                        Update::ValidationException(modeled!(ValidationException).unwrap()),
                    ),
                    "refused",
                ),
            ]);
            for (name, error, expected) in cases {
                assert_eq!(
                    class(Failed::of("UpdateSchedule", error)),
                    expected,
                    "{name}"
                );
            }
        }

        #[test]
        fn a_create_raced_by_another_put_is_retried_and_other_refusals_are_not() {
            let cases = [
                (
                    "created meanwhile",
                    service(409, Create::ConflictException(conflict())),
                    true,
                ),
                (
                    "no such group",
                    service(404, Create::ResourceNotFoundException(not_found())),
                    false,
                ),
                (
                    "quota",
                    service(
                        402,
                        Create::ServiceQuotaExceededException(
                            modeled!(ServiceQuotaExceededException).unwrap(),
                        ),
                    ),
                    false,
                ),
                (
                    "throttled",
                    service(400, Create::generic(code("ThrottlingException"))),
                    true,
                ),
            ];
            for (name, error, retryable) in cases {
                let e = create_failed(Failed::of("CreateSchedule", error));
                assert_eq!(e.is_retryable(), retryable, "{name}: {e:?}");
                assert!(e.to_string().contains("CreateSchedule: "), "{name}: {e}");
            }
        }

        #[test]
        fn reading_or_deleting_a_missing_schedule_is_told_apart() {
            let read = [
                (
                    service(404, Get::ResourceNotFoundException(not_found())),
                    "not found",
                ),
                (
                    service(400, Get::generic(code("AccessDeniedException"))),
                    "refused",
                ),
                (
                    service(500, Get::generic(code("InternalServerException"))),
                    "retryable",
                ),
            ];
            for (error, expected) in read {
                assert_eq!(class(Failed::of("GetSchedule", error)), expected);
            }
            let deleted = [
                (
                    service(404, Delete::ResourceNotFoundException(not_found())),
                    "not found",
                ),
                (
                    service(409, Delete::ConflictException(conflict())),
                    "conflict",
                ),
                (
                    service(400, Delete::generic(code("ThrottlingException"))),
                    "retryable",
                ),
            ];
            for (error, expected) in deleted {
                assert_eq!(class(Failed::of("DeleteSchedule", error)), expected);
            }
        }

        #[test]
        fn an_unexpected_missing_schedule_or_conflict_is_refused() {
            for failed in [
                Failed::NotFound("gone".into()),
                Failed::Conflict("busy".into()),
                Failed::Other(ScheduleError::Refused("no".into())),
            ] {
                let e = ScheduleError::from(failed);
                assert!(matches!(e, ScheduleError::Refused(_)), "{e:?}");
                assert!(!e.is_retryable());
            }
            let later = Failed::Other(ScheduleError::Unavailable("later".into()));
            assert!(ScheduleError::from(later).is_retryable());
        }
    }
}
