//! One attempt at a post's job, publish or delete, and the carrying out of what the library's
//! [`next_step`] decides after each outcome. Nothing here decides: it records and redelivers.
//!
//! What the tenant reads on the post and its DLQ record is the failure code's fixed text (or an
//! image's own fixed text); the step's detailed message — LinkedIn's words, AWS's errors — goes
//! to the log only.

use std::time::Duration;

use chrono::Utc;
use connector::domain::posts::{
    next_step, retry_delay, FailureCode, JobAction, Outcome, Post, PostError, Step, ThrottleScope,
};
use connector::domain::{ConnectionReason, ConnectionStatus};
use connector::linkedin::LinkedInError;
use connector::store::{DlqRecord, StoreError, StoredConnection};
use connector::vault::TokenSet;
use tracing::{info, warn};

use crate::tenant_detail::TenantDetail;
use crate::{crashed, BoxedDisposition, Delivery, Disposition, Publisher};

/// A job handed back for lack of time comes back this soon, to another invocation.
const HAND_BACK_DELAY: Duration = Duration::from_secs(1);

/// Everything an attempt needs to finish a post's job one way or another.
pub(crate) struct Attempt<'a> {
    pub publisher: &'a Publisher,
    pub delivery: &'a Delivery<'a>,
    pub post: Post,
    /// What is being attempted: a publish job can end in a delete (a cancel found its post live).
    pub action: JobAction,
    /// The post's connection, if the claim's write proved this row current: the tokens are
    /// opened from it without reading it again.
    pub connection: Option<StoredConnection>,
}

impl<'a> Attempt<'a> {
    /// The time for deciding whether a wait is over: now, as the job knows it.
    fn clock(&self) -> chrono::DateTime<Utc> {
        self.delivery.job.clock(Utc::now())
    }

    /// Whether a step that may take `step` still fits the invocation's time.
    pub fn fits(&self, step: Duration) -> bool {
        self.delivery.deadline.allows(step)
    }

    pub async fn save(&mut self, next: Post) -> Result<(), Disposition> {
        self.publisher
            .posts
            .replace(&next)
            .await
            .map_err(crashed("recording the attempt"))?;
        self.post = next;
        Ok(())
    }

    /// Records `change` made to the latest version: a lost race (an edit or a delete recorded
    /// meanwhile) re-reads the post and applies it again, a few times.
    pub async fn save_onto_latest(
        &mut self,
        change: impl Fn(&Post) -> Post,
    ) -> Result<(), Disposition> {
        for _ in 0..3 {
            let next = change(&self.post);
            match self.publisher.posts.replace(&next).await {
                Ok(()) => {
                    self.post = next;
                    return Ok(());
                }
                Err(StoreError::Conflict(_)) => {
                    let (tenant, id) = (&self.post.tenant_id, self.post.id);
                    match self.publisher.posts.get(tenant, id).await {
                        Ok(Some(latest)) => self.post = latest,
                        Ok(None) => return Err(Disposition::Done),
                        Err(e) => return Err(crashed("re-reading the post")(e)),
                    }
                }
                Err(e) => return Err(crashed("recording the attempt")(e)),
            }
        }
        Err(Disposition::RetryAfter(HAND_BACK_DELAY))
    }

    /// The connection's tokens, or what their absence does to the job.
    pub async fn open_tokens(self) -> Result<(Self, TokenSet), Disposition> {
        let (attempt, tokens, _) = self.open_tokens_with_scopes().await?;
        Ok((attempt, tokens))
    }

    /// The connection's tokens and the scopes LinkedIn granted them.
    pub async fn open_tokens_with_scopes(
        mut self,
    ) -> Result<(Self, TokenSet, Vec<String>), Disposition> {
        let current = self.connection.take();
        let publisher = self.publisher;
        let known = &publisher.known_connections;
        match known.open(&publisher.keeper, &self.post, current).await {
            Ok((stored, _)) if stored.connection.status == ConnectionStatus::Revoked => {
                Err(self.after(Outcome::Revoked).await)
            }
            // LinkedIn throttles this member: its posts wait for the reset, nothing is sent.
            Ok((stored, _)) if stored.connection.throttled(self.clock()).is_some() => {
                let until = stored.connection.throttled_until.unwrap_or_default();
                let scope = ThrottleScope::Member;
                Err(self.after(Outcome::Throttled { scope, until }).await)
            }
            Ok((stored, tokens)) => Ok((self, tokens, stored.connection.scopes)),
            Err(e) => Err(self.after(Outcome::Tokens(&e)).await),
        }
    }

    /// Decides what follows `outcome` and carries it out. A refresh the decision asks for is
    /// done here, and decided on in turn.
    ///
    /// Boxed: every step of a job ends here, and its state would otherwise be part of each
    /// caller's future (a debug build's stack overflowed).
    pub fn after<'o>(self, outcome: Outcome<'o>) -> BoxedDisposition<'o>
    where
        'a: 'o,
    {
        Box::pin(self.decide_and_carry_out(outcome))
    }

    async fn decide_and_carry_out(self, outcome: Outcome<'_>) -> Disposition {
        self.publisher.known_connections.after(&outcome, &self.post);
        if let Outcome::LinkedIn(e) = &outcome {
            warn!(
                x_li_uuid = e.request_id().unwrap_or(""),
                outcome_unknown = e.outcome_unknown(),
                error = %e,
                "LinkedIn did not take the attempt"
            );
            if let LinkedInError::Throttled { retry_after, .. } = e {
                let now = Utc::now();
                let until = now + chrono::Duration::from_std(*retry_after).unwrap_or_default();
                let (keeper, post) = (&self.publisher.keeper, &self.post);
                self.publisher
                    .throttle
                    .member_throttled(keeper, post, until, now)
                    .await;
            }
        }
        let tenant_detail = TenantDetail::of(&outcome);
        let mut step = next_step(&self.post, self.action, &outcome, Utc::now());
        if step == Step::Refresh {
            let refreshed = self
                .publisher
                .keeper
                .refresh_after_refusal(&self.post.tenant_id, self.post.connection_id, Utc::now())
                .await;
            step = next_step(
                &self.post,
                self.action,
                &Outcome::Refreshed(&refreshed),
                Utc::now(),
            );
        }
        self.carry_out(step, tenant_detail).await
    }

    async fn carry_out(self, step: Step, detail: TenantDetail) -> Disposition {
        let for_tenant = |code: FailureCode| detail.error(code);
        match step {
            Step::Published { urn } => {
                info!(
                    linkedin_urn = urn.as_str(),
                    "unknown outcome resolved: LinkedIn has the post"
                );
                self.published(&urn).await
            }
            Step::Deleted => self.deleted().await,
            Step::Retry {
                code,
                message,
                outcome_unknown,
                at_least,
            } => {
                self.retry(for_tenant(code), message, outcome_unknown, at_least)
                    .await
            }
            // A refresh is carried out in `after`; asked for again, it is a wait.
            Step::Refresh => Disposition::RetryAfter(connector::domain::posts::AFTER_REFRESH),
            Step::HandBack { why, after } => self.hand_back(why, after).await,
            Step::Wait {
                code,
                message,
                until,
            } => self.wait(code, message, until).await,
            Step::Fail {
                code,
                message,
                reason,
                attention,
            } => {
                if attention {
                    let (tenant, id) = (&self.post.tenant_id, self.post.connection_id);
                    let keeper = &self.publisher.keeper;
                    let why = ConnectionReason::TokensRefusedAfterRefresh;
                    if let Err(e) = keeper.set_attention(tenant, id, &why, Utc::now()).await {
                        warn!(error = %e, "could not put the connection in attention");
                    }
                }
                self.fail(for_tenant(code), message, &reason).await
            }
        }
    }

    /// LinkedIn has the post. A cancel that was waiting for the outcome now deletes it.
    pub async fn published(mut self, urn: &str) -> Disposition {
        let resolved = self.post.outcome_unknown;
        let next = self.post.published(urn, Utc::now());
        if let Err(outcome) = self.save(next).await {
            return outcome;
        }
        self.publisher.metrics().post_published();
        if resolved {
            self.publisher.metrics().outcome_resolved();
        }
        self.publisher.throttle.published(Utc::now()).await;
        info!(
            linkedin_urn = urn,
            attempts = self.post.attempts,
            "post published"
        );
        if self.post.comment_to_post().is_some() {
            // A job of its own, so a failed comment never fails the post.
            let job = self.post.comment_job(Utc::now());
            if let Err(e) = self.publisher.queue.enqueue(&job).await {
                // Redelivered, this job finds the post published and queues the comment.
                warn!(error = %e, "could not enqueue the first comment; trying again");
                return Disposition::RetryAfter(HAND_BACK_DELAY);
            }
        }
        if self.post.delete_requested_at.is_some() {
            info!("the post was cancelled while its outcome was unknown; deleting it at LinkedIn");
            // Boxed: the delete's own attempt may end back here (a decision about a delete).
            let delete =
                crate::delete::delete_at_linkedin(self.delivery, self.publisher, self.post);
            return Box::pin(delete).await;
        }
        Disposition::Done
    }

    /// The post is gone at LinkedIn.
    pub async fn deleted(self) -> Disposition {
        match self
            .publisher
            .posts
            .replace(&self.post.deleted(Utc::now()))
            .await
        {
            // A conflict: someone recorded the post meanwhile; LinkedIn's side is done.
            Ok(()) | Err(StoreError::Conflict(_)) => {
                info!(
                    linkedin_urn = self.post.linkedin_urn.as_deref().unwrap_or(""),
                    "post deleted at LinkedIn"
                );
                Disposition::Done
            }
            Err(e) => crashed("recording the delete")(e),
        }
    }

    /// Given up. A publish fails the post; a delete leaves it published, with the error. Either
    /// way a DLQ record says why.
    /// `detail` is for the log; the tenant reads `error`.
    async fn fail(mut self, error: PostError, detail: String, reason: &str) -> Disposition {
        let now = Utc::now();
        let code = error.code;
        let tenant_text = error.message.clone();
        match self.action {
            JobAction::Publish => {
                if let Err(outcome) = self.save(self.post.failed(error, now)).await {
                    return outcome;
                }
                warn!(%code, error = %detail, reason, "post failed");
                self.publisher.metrics().post_failed(code);
            }
            JobAction::Delete => {
                let next = self.post.delete_failed(error, now);
                if let Err(e) = self.publisher.posts.replace(&next).await {
                    warn!(error = %e, "could not record the failed delete on the post");
                }
                self.post = next;
                warn!(%code, error = %detail, reason, "delete at LinkedIn failed");
            }
            JobAction::Edit => {
                // A lost race leaves a later edit pending; its own job carries it out.
                let next = self.post.edit_failed(error, now);
                if let Err(e) = self.publisher.posts.replace(&next).await {
                    warn!(error = %e, "could not record the failed edit on the post");
                }
                self.post = next;
                warn!(%code, error = %detail, reason, "edit at LinkedIn failed; the post keeps its text");
            }
            JobAction::Comment => {
                let change = |p: &Post| p.comment_failed(error.clone(), now);
                if let Err(outcome) = self.save_onto_latest(change).await {
                    return outcome;
                }
                warn!(%code, error = %detail, reason, "first comment failed; the post stays published");
            }
        }
        let record = self.dlq_record(code, &tenant_text, reason);
        match self.publisher.posts.put_dlq_record(&record).await {
            Ok(()) => Disposition::Done,
            Err(e) => crashed("writing the DLQ record")(e),
        }
    }

    /// Another attempt later, recorded on the post (a publish's unknown outcome stays known).
    async fn retry(
        mut self,
        error: PostError,
        detail: String,
        outcome_unknown: bool,
        at_least: Option<Duration>,
    ) -> Disposition {
        let delay = retry_delay(self.post.attempt_number(self.action), at_least);
        info!(code = %error.code, error = %detail, outcome_unknown, "attempt failed; retrying later");
        let now = Utc::now();
        match self.action {
            JobAction::Publish => {
                let retry_at = now + chrono::Duration::from_std(delay).unwrap_or_default();
                let code = error.code;
                let next = self.post.retry_later(error, outcome_unknown, now, retry_at);
                if let Err(outcome) = self.save(next).await {
                    return outcome;
                }
                self.publisher.metrics().post_retried(code);
            }
            JobAction::Delete => {
                // A lost race only loses the count of one attempt; the delete is idempotent.
                let next = self.post.delete_retry_later(error, now);
                if let Err(e) = self.publisher.posts.replace(&next).await {
                    warn!(error = %e, "could not count the delete attempt");
                }
            }
            JobAction::Edit => {
                // A lost race only loses the count of one attempt; the edit is idempotent.
                let next = self.post.edit_retry_later(error, outcome_unknown, now);
                if let Err(e) = self.publisher.posts.replace(&next).await {
                    warn!(error = %e, "could not count the edit attempt");
                }
            }
            JobAction::Comment => {
                let change = |p: &Post| p.comment_retry_later(error.clone(), now);
                if let Err(outcome) = self.save_onto_latest(change).await {
                    return outcome;
                }
            }
        }
        Disposition::RetryAfter(delay)
    }

    /// Back to the queue without spending an attempt and without holding the claim: the
    /// invocation is running out of time, or a wait is not the job's fault.
    pub async fn hand_back(mut self, why: &str, delay: Duration) -> Disposition {
        if self.action == JobAction::Publish {
            let now = Utc::now();
            let retry_at = now + chrono::Duration::from_std(delay).unwrap_or_default();
            let next = self.post.handed_back(now, retry_at);
            if let Err(outcome) = self.save(next).await {
                return outcome;
            }
        }
        info!(why, delay_ms = delay.as_millis() as u64, "job handed back");
        Disposition::RetryAfter(delay)
    }

    /// Held back by a limit of LinkedIn's until `until`, without spending an attempt; a publish
    /// says so on the post.
    async fn wait(
        mut self,
        code: FailureCode,
        message: String,
        until: chrono::DateTime<Utc>,
    ) -> Disposition {
        let now = Utc::now();
        if self.action == JobAction::Publish {
            let next = self.post.waiting(PostError { code, message }, now, until);
            if let Err(outcome) = self.save(next).await {
                return outcome;
            }
        }
        let delay = (until - self.clock())
            .to_std()
            .unwrap_or_default()
            .max(HAND_BACK_DELAY);
        info!(%code, until = %until, "held back by LinkedIn's daily limit");
        Disposition::RetryAfter(delay)
    }

    /// Handed back because the invocation's time would not cover the next step.
    pub async fn out_of_time(self) -> Disposition {
        self.hand_back(
            "the invocation's time would not cover the next step",
            HAND_BACK_DELAY,
        )
        .await
    }

    fn dlq_record(&self, code: FailureCode, error: &str, reason: &str) -> DlqRecord {
        let job_id = self
            .delivery
            .message
            .message_id
            .clone()
            .unwrap_or_else(|| self.post.id.to_string());
        DlqRecord::for_post(&self.post, job_id, self.action, (code, error), reason)
    }
}
