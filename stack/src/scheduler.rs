//! The local stack's EventBridge Scheduler. moto stores schedules but never fires them; this
//! reads the schedule group from moto and fires what is due, the way the service does:
//!
//! - `at(…)` fires once at its time, or at a fixed point inside its flexible window; then
//!   ActionAfterCompletion `DELETE` deletes it, `NONE` leaves it (it never fires again unless
//!   its expression changes). `rate(N unit)` fires every period after the schedule was created
//!   (a jump of the clock over several periods fires once). `cron(…)` is not supported.
//!   Disabled schedules, and those outside their start and end dates, do not fire.
//! - SQS targets get `SendMessage`; Lambda targets are the stack's in-process functions,
//!   invoked asynchronously as the service does: the invoke is accepted, the schedule completes
//!   (and is deleted if so configured), then the function runs; its own failure is retried
//!   twice, as Lambda retries asynchronous invokes.
//! - A delivery that fails is retried as the target's retry policy allows (attempts and event
//!   age), then the event goes to the target's dead-letter queue with EventBridge's error
//!   attributes.
//! - `<aws.scheduler.scheduled-time>`, `…execution-id>`, `…attempt-number>` and
//!   `…schedule-arn>` in a target's input are filled in.
//!
//! Time is the wall clock plus an offset that [`LocalScheduler::advance`] moves, so "T-7d" or
//! "in a year" take seconds in a test.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context};
use aws_sdk_scheduler::types::{ActionAfterCompletion, FlexibleTimeWindowMode, ScheduleState};
use aws_sdk_sqs::types::MessageAttributeValue;
use chrono::{DateTime, NaiveDateTime, Utc};
use futures::future::BoxFuture;

/// An in-process Lambda function: takes the event's JSON.
pub type Invoke = Arc<dyn Fn(String) -> BoxFuture<'static, anyhow::Result<()>> + Send + Sync>;

/// Lambda's own retries of a failed asynchronous invocation (the template's EventInvokeConfig).
const LAMBDA_ASYNC_RETRIES: u32 = 2;

/// An accepted asynchronous invoke, run once the schedule has completed.
struct Accepted {
    arn: String,
    invoke: Invoke,
    input: String,
}

impl Accepted {
    async fn run(self) {
        let mut result = (self.invoke)(self.input.clone()).await;
        for _ in 0..LAMBDA_ASYNC_RETRIES {
            if result.is_ok() {
                break;
            }
            result = (self.invoke)(self.input.clone()).await;
        }
        if let Err(e) = result {
            tracing::warn!(function = %self.arn, error = format!("{e:#}"), "function failed after Lambda's retries");
        }
    }
}

pub struct LocalScheduler {
    client: aws_sdk_scheduler::Client,
    sqs: aws_sdk_sqs::Client,
    group: String,
    offset_ms: AtomicI64,
    lambdas: HashMap<String, Invoke>,
    state: tokio::sync::Mutex<Fired>,
}

#[derive(Default)]
struct Fired {
    /// One-time schedules already fired, by name and expression.
    once: HashSet<(String, String)>,
    /// Recurring schedules: when each fires next.
    next: HashMap<String, DateTime<Utc>>,
}

/// What firing one schedule did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Firing {
    pub name: String,
    pub target_arn: String,
    /// The time the schedule was due (what `<aws.scheduler.scheduled-time>` became).
    pub due: DateTime<Utc>,
    pub input: String,
    /// Delivery attempts made (1 unless delivery failed).
    pub attempts: u32,
    pub delivered: bool,
    pub dead_lettered: bool,
    /// The schedule was deleted after firing (ActionAfterCompletion DELETE).
    pub deleted: bool,
}

/// A schedule as read from moto, with what firing needs.
struct Schedule {
    name: String,
    arn: String,
    expression: String,
    enabled: bool,
    flexible_minutes: i64,
    delete_after: bool,
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
    created: DateTime<Utc>,
    target_arn: String,
    input: String,
    max_attempts: u32,
    max_age: chrono::Duration,
    dead_letter_arn: Option<String>,
}

enum Expression {
    At(DateTime<Utc>),
    Rate(chrono::Duration),
}

/// The time of a one-time schedule's `at(yyyy-mm-ddThh:mm:ss)` expression (UTC, as the
/// product writes it); `None` for any other expression.
pub fn at_time(expression: &str) -> Option<DateTime<Utc>> {
    let at = expression
        .strip_prefix("at(")
        .and_then(|e| e.strip_suffix(')'))?;
    Some(
        NaiveDateTime::parse_from_str(at, "%Y-%m-%dT%H:%M:%S")
            .ok()?
            .and_utc(),
    )
}

fn parse_expression(expression: &str) -> Option<Expression> {
    if expression.starts_with("at(") {
        return at_time(expression).map(Expression::At);
    }
    let rate = expression
        .strip_prefix("rate(")
        .and_then(|e| e.strip_suffix(')'))?;
    let (n, unit) = rate.split_once(' ')?;
    let n: i64 = n.parse().ok()?;
    let period = match unit.trim_end_matches('s') {
        "minute" => chrono::Duration::minutes(n),
        "hour" => chrono::Duration::hours(n),
        "day" => chrono::Duration::days(n),
        _ => return None,
    };
    Some(Expression::Rate(period))
}

fn from_smithy(t: &aws_sdk_scheduler::primitives::DateTime) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(t.secs(), t.subsec_nanos())
}

/// A fixed point in `[0, window)` for this schedule, so a flexible window is honoured without
/// making tests random: the same schedule always lands at the same offset.
fn flexible_offset(name: &str, expression: &str, minutes: i64) -> chrono::Duration {
    if minutes <= 0 {
        return chrono::Duration::zero();
    }
    let hash = name
        .bytes()
        .chain(expression.bytes())
        .fold(0xcbf29ce484222325u64, |h, b| {
            (h ^ b as u64).wrapping_mul(0x100000001b3)
        });
    chrono::Duration::seconds((hash % (minutes as u64 * 60)) as i64)
}

impl LocalScheduler {
    pub fn new(
        sdk: &aws_config::SdkConfig,
        group: impl Into<String>,
        lambdas: HashMap<String, Invoke>,
    ) -> Self {
        Self {
            client: aws_sdk_scheduler::Client::new(sdk),
            sqs: aws_sdk_sqs::Client::new(sdk),
            group: group.into(),
            offset_ms: AtomicI64::new(0),
            lambdas,
            state: Default::default(),
        }
    }

    /// The scheduler's clock.
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + chrono::Duration::milliseconds(self.offset_ms.load(Ordering::SeqCst))
    }

    /// Moves the scheduler's clock ahead.
    pub fn advance(&self, by: chrono::Duration) {
        self.offset_ms
            .fetch_add(by.num_milliseconds(), Ordering::SeqCst);
    }

    /// Fires every schedule that is due by the scheduler's clock, one pass.
    pub async fn fire_due(&self) -> anyhow::Result<Vec<Firing>> {
        let mut fired = self.state.lock().await;
        let now = self.now();
        let mut firings = Vec::new();
        for name in self.names().await? {
            let Some(schedule) = self.read(&name).await? else {
                continue; // deleted meanwhile
            };
            if !schedule.enabled
                || schedule.start.is_some_and(|s| now < s)
                || schedule.end.is_some_and(|e| now > e)
            {
                continue;
            }
            let due = match parse_expression(&schedule.expression) {
                Some(Expression::At(at)) => {
                    let key = (schedule.name.clone(), schedule.expression.clone());
                    let due = at
                        + flexible_offset(
                            &schedule.name,
                            &schedule.expression,
                            schedule.flexible_minutes,
                        );
                    if due > now || fired.once.contains(&key) {
                        continue;
                    }
                    fired.once.insert(key);
                    due
                }
                Some(Expression::Rate(period)) => {
                    let next = *fired
                        .next
                        .entry(schedule.name.clone())
                        .or_insert(schedule.start.unwrap_or(schedule.created) + period);
                    if next > now {
                        continue;
                    }
                    // Skip periods the clock jumped over: fire once, for the latest.
                    let behind = ((now - next).num_seconds() / period.num_seconds().max(1)) as i32;
                    let due = next + period * behind;
                    fired.next.insert(schedule.name.clone(), due + period);
                    due
                }
                None => {
                    tracing::warn!(schedule = %schedule.name, expression = %schedule.expression, "the local scheduler cannot fire this expression");
                    continue;
                }
            };
            firings.push(self.deliver(&schedule, due, now).await?);
        }
        Ok(firings)
    }

    /// Fires the schedule `name` now, whatever its time: a duplicate delivery, as
    /// EventBridge Scheduler's at-least-once delivery can make. Does not delete it.
    pub async fn fire(&self, name: &str) -> anyhow::Result<Firing> {
        let _guard = self.state.lock().await;
        let schedule = self
            .read(name)
            .await?
            .with_context(|| format!("no schedule {name}"))?;
        let now = self.now();
        let due = match parse_expression(&schedule.expression) {
            Some(Expression::At(at)) => at,
            _ => now,
        };
        let (firing, accepted) = self.deliver_only(&schedule, due, now).await;
        if let Some(accepted) = accepted {
            accepted.run().await;
        }
        Ok(firing)
    }

    /// Runs [`Self::fire_due`] every `every` until dropped.
    pub fn spawn(self: Arc<Self>, every: std::time::Duration) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                if let Err(e) = self.fire_due().await {
                    tracing::warn!(error = format!("{e:#}"), "local scheduler pass failed");
                }
                tokio::time::sleep(every).await;
            }
        })
    }

    async fn deliver(
        &self,
        schedule: &Schedule,
        due: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Firing> {
        let (mut firing, accepted) = self.deliver_only(schedule, due, now).await;
        let one_time = matches!(
            parse_expression(&schedule.expression),
            Some(Expression::At(_))
        );
        if one_time && schedule.delete_after {
            match self
                .client
                .delete_schedule()
                .name(&schedule.name)
                .group_name(&self.group)
                .send()
                .await
            {
                Ok(_) => firing.deleted = true,
                Err(e) if format!("{e:?}").contains("ResourceNotFound") => {}
                Err(e) => {
                    return Err(anyhow::Error::new(e)
                        .context(format!("deleting completed schedule {}", schedule.name)))
                }
            }
        }
        if let Some(accepted) = accepted {
            accepted.run().await;
        }
        tracing::info!(
            schedule = %firing.name,
            target = %firing.target_arn,
            due = %firing.due,
            attempts = firing.attempts,
            delivered = firing.delivered,
            dead_lettered = firing.dead_lettered,
            "local scheduler fired"
        );
        Ok(firing)
    }

    /// Delivers with the retry policy, then to the dead-letter queue if it never got through.
    async fn deliver_only(
        &self,
        schedule: &Schedule,
        due: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> (Firing, Option<Accepted>) {
        let execution = uuid::Uuid::new_v4().to_string();
        let mut attempts = 0;
        let mut last_error = String::new();
        let mut input = String::new();
        // The first attempt plus the retries, while the event is younger than its max age.
        while attempts <= schedule.max_attempts && now - due <= schedule.max_age {
            attempts += 1;
            input = schedule
                .input
                .replace(
                    "<aws.scheduler.scheduled-time>",
                    &due.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                )
                .replace("<aws.scheduler.execution-id>", &execution)
                .replace("<aws.scheduler.attempt-number>", &attempts.to_string())
                .replace("<aws.scheduler.schedule-arn>", &schedule.arn);
            match self.send(&schedule.target_arn, &input).await {
                Ok(accepted) => {
                    let firing = Firing {
                        name: schedule.name.clone(),
                        target_arn: schedule.target_arn.clone(),
                        due,
                        input,
                        attempts,
                        delivered: true,
                        dead_lettered: false,
                        deleted: false,
                    };
                    return (firing, accepted);
                }
                Err(e) => {
                    last_error = format!("{e:#}");
                    tokio::time::sleep(std::time::Duration::from_millis(20 * attempts as u64))
                        .await;
                }
            }
        }
        let mut dead_lettered = false;
        if let Some(dlq) = &schedule.dead_letter_arn {
            let attribute = |v: &str| {
                MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value(v)
                    .build()
                    .expect("complete attribute")
            };
            let sent = match self.queue_url(dlq).await {
                Ok(url) => self
                    .sqs
                    .send_message()
                    .queue_url(url)
                    .message_body(&input)
                    .message_attributes("ERROR_CODE", attribute("TargetDeliveryFailure"))
                    .message_attributes("ERROR_MESSAGE", attribute(&last_error))
                    .message_attributes(
                        "EXHAUSTED_RETRY_CONDITION",
                        attribute(if now - due > schedule.max_age {
                            "MaximumEventAgeInSeconds"
                        } else {
                            "MaximumRetryAttempts"
                        }),
                    )
                    .message_attributes("RETRY_ATTEMPTS", attribute(&attempts.to_string()))
                    .message_attributes("TARGET_ARN", attribute(&schedule.target_arn))
                    .message_attributes("SCHEDULE_ARN", attribute(&schedule.arn))
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(anyhow::Error::new),
                Err(e) => Err(e),
            };
            match sent {
                Ok(()) => dead_lettered = true,
                Err(e) => tracing::warn!(error = %e, "could not dead-letter a failed schedule"),
            }
        }
        tracing::warn!(schedule = %schedule.name, error = %last_error, attempts, dead_lettered, "schedule delivery failed");
        let firing = Firing {
            name: schedule.name.clone(),
            target_arn: schedule.target_arn.clone(),
            due,
            input,
            attempts,
            delivered: false,
            dead_lettered,
            deleted: false,
        };
        (firing, None)
    }

    /// Delivers to an SQS queue, or accepts a Lambda invoke (run later by the caller).
    async fn send(&self, arn: &str, input: &str) -> anyhow::Result<Option<Accepted>> {
        if arn.starts_with("arn:aws:sqs:") {
            let url = self.queue_url(arn).await?;
            self.sqs
                .send_message()
                .queue_url(url)
                .message_body(input)
                .send()
                .await
                .context("SendMessage")?;
            return Ok(None);
        }
        if arn.starts_with("arn:aws:lambda:") {
            let invoke = self
                .lambdas
                .get(arn)
                .with_context(|| format!("no function {arn} in the local stack"))?
                .clone();
            return Ok(Some(Accepted {
                arn: arn.to_owned(),
                invoke,
                input: input.to_owned(),
            }));
        }
        bail!("the local scheduler cannot deliver to {arn}")
    }

    async fn queue_url(&self, arn: &str) -> anyhow::Result<String> {
        let name = arn.rsplit(':').next().context("queue ARN without a name")?;
        let url = self
            .sqs
            .get_queue_url()
            .queue_name(name)
            .send()
            .await
            .with_context(|| format!("no queue {name}"))?
            .queue_url
            .context("GetQueueUrl returned no URL")?;
        Ok(url)
    }

    async fn names(&self) -> anyhow::Result<Vec<String>> {
        let mut names = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let out = self
                .client
                .list_schedules()
                .group_name(&self.group)
                .set_next_token(token)
                .send()
                .await
                .context("listing schedules")?;
            names.extend(
                out.schedules()
                    .iter()
                    .filter_map(|s| s.name().map(String::from)),
            );
            match out.next_token {
                Some(t) if !t.is_empty() => token = Some(t),
                _ => break,
            }
        }
        Ok(names)
    }

    async fn read(&self, name: &str) -> anyhow::Result<Option<Schedule>> {
        let out = match self
            .client
            .get_schedule()
            .name(name)
            .group_name(&self.group)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if format!("{e:?}").contains("ResourceNotFound") => return Ok(None),
            Err(e) => return Err(anyhow::Error::new(e).context(format!("reading schedule {name}"))),
        };
        let target = out.target().context("schedule without a target")?;
        let retry = target.retry_policy();
        let flexible = out.flexible_time_window();
        Ok(Some(Schedule {
            name: name.to_owned(),
            arn: out.arn().unwrap_or_default().to_owned(),
            expression: out.schedule_expression().unwrap_or_default().to_owned(),
            enabled: out.state() != Some(&ScheduleState::Disabled),
            flexible_minutes: flexible
                .filter(|f| f.mode() == &FlexibleTimeWindowMode::Flexible)
                .and_then(|f| f.maximum_window_in_minutes())
                .unwrap_or(0) as i64,
            delete_after: out.action_after_completion() == Some(&ActionAfterCompletion::Delete),
            start: out.start_date().and_then(from_smithy),
            end: out.end_date().and_then(from_smithy),
            created: out
                .creation_date()
                .and_then(from_smithy)
                .unwrap_or_else(Utc::now),
            target_arn: target.arn().to_owned(),
            input: target.input().unwrap_or_default().to_owned(),
            max_attempts: retry
                .and_then(|r| r.maximum_retry_attempts())
                .unwrap_or(185)
                .max(0) as u32,
            max_age: chrono::Duration::seconds(
                retry
                    .and_then(|r| r.maximum_event_age_in_seconds())
                    .unwrap_or(86_400) as i64,
            ),
            dead_letter_arn: target
                .dead_letter_config()
                .and_then(|d| d.arn())
                .map(String::from),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expressions_at_and_rate_parse() {
        let Some(Expression::At(at)) = parse_expression("at(2026-11-24T00:00:07)") else {
            panic!("at");
        };
        assert_eq!(at.to_rfc3339(), "2026-11-24T00:00:07+00:00");
        for (e, minutes) in [
            ("rate(6 hours)", 360),
            ("rate(1 hour)", 60),
            ("rate(5 minutes)", 5),
        ] {
            let Some(Expression::Rate(p)) = parse_expression(e) else {
                panic!("{e}");
            };
            assert_eq!(p.num_minutes(), minutes);
        }
        assert!(parse_expression("cron(0 * * * ? *)").is_none());
    }

    #[test]
    fn a_flexible_window_gives_a_stable_offset_inside_it() {
        let a = flexible_offset("refresh-x-7d", "at(2026-11-24T00:00:00)", 30);
        assert_eq!(
            a,
            flexible_offset("refresh-x-7d", "at(2026-11-24T00:00:00)", 30)
        );
        assert!(a >= chrono::Duration::zero() && a < chrono::Duration::minutes(30));
        assert_eq!(
            flexible_offset("post-x", "at(2026-11-24T00:00:00)", 0),
            chrono::Duration::zero()
        );
    }
}
