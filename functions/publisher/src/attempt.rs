//! One attempt at a post and what follows each of its outcomes.

use std::time::Duration;

use chrono::Utc;
use connector::linkedin::{LinkedInError, RetryClass};
use connector::posts::{retry_delay, JobAction, Post, PostError, MAX_ATTEMPTS, RESOLVE_INTERVAL};
use connector::store::{DlqRecord, StoreError};
use connector::tokens::RefreshOutcome;
use tracing::{info, warn};

use crate::{Delivery, Outcome, Publisher};

/// Wait after a refresh before trying again.
pub(crate) const AFTER_REFRESH: Duration = Duration::from_secs(5);
/// Attempts a post may reach through refreshed tokens before the connection counts as broken
/// (tokens can expire again while a post waits out LinkedIn being down).
const MAX_REFRESHED_ATTEMPTS: u32 = 2 * MAX_ATTEMPTS;
/// A job handed back for lack of time comes back this soon, to another invocation.
const HAND_BACK_DELAY: Duration = Duration::from_secs(1);

pub(crate) fn crashed(context: &'static str) -> impl FnOnce(StoreError) -> Outcome {
    move |e| Outcome::Crashed(anyhow::Error::new(e).context(context))
}

pub(crate) fn error_code(e: &LinkedInError) -> &'static str {
    match e {
        LinkedInError::Unauthorized { .. } => "UNAUTHORIZED",
        LinkedInError::Throttled { .. } => "RATE_LIMITED",
        LinkedInError::Unavailable { .. } | LinkedInError::Transport { .. } => {
            "LINKEDIN_UNAVAILABLE"
        }
        LinkedInError::Rejected { status: 403, .. } => "FORBIDDEN",
        LinkedInError::Rejected { status: 404, .. } => "NOT_FOUND",
        LinkedInError::Rejected { .. } => "VALIDATION_ERROR",
        LinkedInError::DuplicatePost { .. } => "DUPLICATE_CONTENT",
        LinkedInError::VersionRetired { .. } => "API_VERSION_RETIRED",
        LinkedInError::OAuth { .. } | LinkedInError::Unexpected { .. } => "LINKEDIN_ERROR",
    }
}

/// Everything an attempt needs to finish a post one way or another.
pub(crate) struct Attempt<'a> {
    pub publisher: &'a Publisher,
    pub delivery: &'a Delivery<'a>,
    pub post: Post,
}

impl<'a> Attempt<'a> {
    /// Whether a step that may take `step` still fits the invocation's time.
    pub fn fits(&self, step: Duration) -> bool {
        self.delivery.deadline.allows(step)
    }

    pub async fn save(&mut self, next: Post) -> Result<(), Outcome> {
        self.publisher
            .posts
            .replace(&next)
            .await
            .map_err(crashed("recording the attempt"))?;
        self.post = next;
        Ok(())
    }

    /// LinkedIn has the post. A cancel that was waiting for the outcome now deletes it.
    pub async fn published(mut self, urn: &str) -> Outcome {
        let next = self.post.published(urn, Utc::now());
        if let Err(outcome) = self.save(next).await {
            return outcome;
        }
        info!(
            linkedin_urn = urn,
            attempts = self.post.attempts,
            "post published"
        );
        if self.post.delete_requested_at.is_some() {
            info!("the post was cancelled while its outcome was unknown; deleting it at LinkedIn");
            return crate::delete::delete_at_linkedin(self.delivery, self.publisher, self.post)
                .await;
        }
        Outcome::Done
    }

    pub async fn fail(mut self, code: &str, message: String, reason: &str) -> Outcome {
        let now = Utc::now();
        let error = PostError {
            code: code.into(),
            message: message.clone(),
        };
        if let Err(outcome) = self.save(self.post.failed(error, now)).await {
            return outcome;
        }
        warn!(code, error = %message, reason, "post failed");
        let record = dlq_record(self.delivery, &self.post, code, &message, reason);
        if let Err(e) = self.publisher.posts.put_dlq_record(&record).await {
            return Outcome::Crashed(anyhow::Error::new(e).context("writing the DLQ record"));
        }
        Outcome::Done
    }

    /// Another attempt later, unless the attempts are used up. A post whose outcome is
    /// unknown is never given up here: failing it could report a live post as failed, so it
    /// keeps trying, every [`RESOLVE_INTERVAL`], until LinkedIn says (the job's age bounds it).
    pub async fn retry(
        self,
        code: &str,
        message: String,
        outcome_unknown: bool,
        at_least: Option<Duration>,
    ) -> Outcome {
        let unknown = outcome_unknown || self.post.outcome_unknown;
        let exhausted = self.post.attempts >= MAX_ATTEMPTS;
        if exhausted && !unknown {
            let code = if code == "RATE_LIMITED" {
                "RATE_LIMIT_EXHAUSTED"
            } else {
                "RETRIES_EXHAUSTED"
            };
            let reason = format!("gave up after {} attempts", self.post.attempts);
            return self.fail(code, message, &reason).await;
        }
        self.retry_past_limit(code, message, unknown, at_least)
            .await
    }

    /// Another attempt later, whatever the count: for a failure that is not the post's own (a
    /// token that had expired and is refreshed now), or one that may have gone out.
    async fn retry_past_limit(
        mut self,
        code: &str,
        message: String,
        unknown: bool,
        at_least: Option<Duration>,
    ) -> Outcome {
        let mut delay = retry_delay(self.post.attempts, at_least);
        if unknown && self.post.attempts >= MAX_ATTEMPTS {
            // Only resolving now: slowly.
            delay = delay.max(RESOLVE_INTERVAL);
        }
        let error = PostError {
            code: code.into(),
            message,
        };
        let now = Utc::now();
        let retry_at = now + chrono::Duration::from_std(delay).unwrap_or_default();
        let next = self.post.retry_later(error, unknown, now, retry_at);
        if let Err(outcome) = self.save(next).await {
            return outcome;
        }
        Outcome::RetryAfter(delay)
    }

    /// Back to the queue without spending an attempt and without holding the claim: the
    /// invocation is running out of time, or a wait is not the post's fault.
    pub async fn hand_back(mut self, why: &str, delay: Duration) -> Outcome {
        let now = Utc::now();
        let retry_at = now + chrono::Duration::from_std(delay).unwrap_or_default();
        let next = self.post.handed_back(now, retry_at);
        if let Err(outcome) = self.save(next).await {
            return outcome;
        }
        info!(why, delay_ms = delay.as_millis() as u64, "job handed back");
        Outcome::RetryAfter(delay)
    }

    /// Handed back because the invocation's time would not cover the next step.
    pub async fn out_of_time(self) -> Outcome {
        self.hand_back(
            "the invocation's time would not cover the next step",
            HAND_BACK_DELAY,
        )
        .await
    }

    /// One classification for every LinkedIn failure of a publish attempt.
    pub async fn linkedin_failed(self, e: LinkedInError) -> Outcome {
        let message = e.to_string();
        warn!(
            x_li_uuid = e.request_id().unwrap_or(""),
            outcome_unknown = e.outcome_unknown(),
            error = %message,
            "LinkedIn did not take the attempt"
        );
        if let LinkedInError::DuplicatePost { existing_urn, .. } = &e {
            if self.post.outcome_unknown {
                // Our earlier attempt reached LinkedIn after all: that post is ours.
                info!(
                    linkedin_urn = existing_urn.as_str(),
                    "unknown outcome resolved: LinkedIn has the post"
                );
                let urn = existing_urn.clone();
                return self.published(&urn).await;
            }
            return self
                .fail(
                    "DUPLICATE_CONTENT",
                    message,
                    "LinkedIn already has this content",
                )
                .await;
        }
        match e.retry_class() {
            RetryClass::FailFast => {
                let code = error_code(&e);
                self.fail(
                    code,
                    message,
                    "LinkedIn refused the request; retrying cannot help",
                )
                .await
            }
            RetryClass::RetryLater { after } => {
                // Anything after the request may have reached LinkedIn leaves the outcome
                // unknown; the next attempt resolves it.
                let unknown = e.outcome_unknown();
                let code = error_code(&e);
                self.retry(code, message, unknown, after).await
            }
            RetryClass::RefreshThenRetry => self.refresh_then_retry(message).await,
        }
    }

    /// A 401: a token still propagating is waited for (the attempt given back) until it is
    /// older than the propagation window; then it is refreshed. Only a refresh that fails puts
    /// the connection in `attention` and fails the post UNRETRYABLE_AUTH; 401s alone never
    /// exhaust a post's retries.
    async fn refresh_then_retry(self, message: String) -> Outcome {
        let keeper = &self.publisher.keeper;
        let (tenant, connection) = (self.post.tenant_id.clone(), self.post.connection_id);
        match keeper
            .refresh_after_refusal(&tenant, connection, Utc::now())
            .await
        {
            Ok(RefreshOutcome::Refreshed) if self.post.attempts >= MAX_REFRESHED_ATTEMPTS => {
                // Token after token refreshed and still refused: the connection is broken.
                let reason = "LinkedIn refused the connection's tokens even after refreshing them; the member must reconnect";
                if let Err(e) = keeper
                    .set_attention(&tenant, connection, reason, Utc::now())
                    .await
                {
                    warn!(error = %e, "could not put the connection in attention");
                }
                self.fail("UNRETRYABLE_AUTH", message, reason).await
            }
            Ok(RefreshOutcome::Refreshed) => {
                // An expired token is not the post's failure: the attempt after a refresh is
                // allowed past the limit (up to the bound in the arm above).
                self.retry_past_limit("TOKEN_REFRESHED", message, false, Some(AFTER_REFRESH))
                    .await
            }
            Ok(RefreshOutcome::TooFresh) => {
                // Tried again soon, the attempt given back; once the token is older than the
                // propagation window, its next 401 is refreshed (so this wait is bounded).
                self.hand_back("token still propagating", AFTER_REFRESH)
                    .await
            }
            Ok(RefreshOutcome::InProgress) => {
                self.hand_back("another refresh is under way", AFTER_REFRESH)
                    .await
            }
            Ok(RefreshOutcome::NeedsReconnect(reason)) => {
                self.fail(
                    "UNRETRYABLE_AUTH",
                    reason,
                    "the connection needs a reconnect",
                )
                .await
            }
            Err(e) if e.is_retryable() => {
                self.retry("TOKEN_REFRESH_FAILED", e.to_string(), false, None)
                    .await
            }
            Err(e) => {
                self.fail(
                    "UNRETRYABLE_AUTH",
                    e.to_string(),
                    "the token could not be refreshed",
                )
                .await
            }
        }
    }
}

pub(crate) fn dlq_record(
    delivery: &Delivery<'_>,
    post: &Post,
    code: &str,
    error: &str,
    reason: &str,
) -> DlqRecord {
    let job_id = delivery
        .message
        .message_id
        .clone()
        .unwrap_or_else(|| post.id.to_string());
    let action = match delivery.job.action {
        JobAction::Publish => "publish",
        JobAction::Delete => "delete",
    };
    DlqRecord::for_post(post, job_id, action, (code, error), reason)
}
