//! The `publisher` function: takes publish and delete jobs from SQS and carries them out at
//! LinkedIn exactly once. Retries are redeliveries (message visibility), never sleeps; jobs
//! that cannot succeed end as failed posts with a DLQ record.

use std::time::Duration;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use chrono::Utc;
use connector::config::{Config, MediaSettings, PostsApi};
use connector::domain::{ConnectionStatus, PLATFORM};
use connector::linkedin::{LinkedInClient, LinkedInError, MediaStatus, PostContent, RetryClass};
use connector::media::{fetch_image, MediaError};
use connector::posts::{
    retry_delay, Job, JobAction, Post, PostError, PostStatus, MAX_ATTEMPTS, MAX_JOB_AGE,
};
use connector::queue::{PublishQueue, MAX_VISIBILITY};
use connector::schedules::JobScheduler;
use connector::store::{Claim, DlqRecord, PostStore, StoreError};
use connector::tokens::{KeeperError, RefreshOutcome, TokenKeeper};
use connector::vault::{KmsKeys, TokenSet, VaultError};
use tracing::{error, info, warn, Instrument};

/// How long one attempt owns a post: longer than the function's timeout (60 s in the template).
pub const CLAIM_LEASE: Duration = Duration::from_secs(90);
/// Wait after a refresh (or for a token still propagating) before trying again.
const AFTER_REFRESH: Duration = Duration::from_secs(5);
/// Poll interval while LinkedIn processes uploaded images, and how long to wait in all.
const MEDIA_POLL: Duration = Duration::from_secs(2);
const MEDIA_WAIT_LIMIT: chrono::Duration = chrono::Duration::minutes(15);

pub struct Publisher {
    pub posts: PostStore,
    pub keeper: TokenKeeper<KmsKeys>,
    pub queue: PublishQueue,
    /// For waits longer than SQS's visibility allows.
    pub scheduler: JobScheduler,
    pub dialect: PostsApi,
    pub media: MediaSettings,
    pub lease: Duration,
}

impl Publisher {
    pub fn from_config(config: &Config, sdk: &aws_config::SdkConfig) -> anyhow::Result<Self> {
        let dynamo = aws_sdk_dynamodb::Client::new(sdk);
        Ok(Self {
            posts: PostStore::new(dynamo.clone(), config.table_name.clone()),
            keeper: TokenKeeper::from_config(config, sdk)?,
            queue: PublishQueue::new(
                aws_sdk_sqs::Client::new(sdk),
                config.require_publish_queue()?.to_owned(),
            ),
            scheduler: JobScheduler::new(
                aws_sdk_scheduler::Client::new(sdk),
                config.require_schedules()?.clone(),
            ),
            dialect: config.posts_api,
            media: config.media.clone(),
            lease: CLAIM_LEASE,
        })
    }

    fn linkedin(&self) -> &LinkedInClient {
        &self.keeper.linkedin
    }
}

/// What became of one message.
#[derive(Debug)]
enum Outcome {
    /// Finished (published, failed for good, or nothing to do): delete the message.
    Done,
    /// Try again after this long: the message is redelivered then.
    RetryAfter(Duration),
    /// Something unexpected (the store is down…): let SQS redeliver, and redrive to the DLQ
    /// after too many receives.
    Crashed(anyhow::Error),
}

/// Handles one SQS batch; answers the ids of the messages to redeliver (partial failure).
pub async fn handle(event: SqsEvent, publisher: &Publisher) -> SqsBatchResponse {
    let results =
        futures::future::join_all(event.records.iter().map(|m| process(m, publisher))).await;
    let mut response = SqsBatchResponse::default();
    for (message, ok) in event.records.iter().zip(results) {
        if !ok {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = message.message_id.clone().unwrap_or_default();
            response.batch_item_failures.push(failure);
        }
    }
    response
}

async fn process(message: &SqsMessage, publisher: &Publisher) -> bool {
    let Some(job) = message
        .body
        .as_deref()
        .and_then(|b| serde_json::from_str::<Job>(b).ok())
    else {
        error!(message_id = ?message.message_id, "unreadable job; leaving it to the queue's redrive");
        return false;
    };
    let receive_count: u32 = message
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|c| c.parse().ok())
        .unwrap_or(1);
    let span = tracing::info_span!(
        "job",
        action = ?job.action,
        tenant_id = %job.tenant_id,
        post_id = %job.post_id,
        message_id = message.message_id.as_deref().unwrap_or(""),
        receive_count,
    );
    async {
        let outcome = match job.action {
            JobAction::Publish => publish(&job, message, publisher).await,
            JobAction::Delete => delete_at_linkedin(&job, message, receive_count, publisher).await,
        };
        match outcome {
            Outcome::Done => true,
            Outcome::RetryAfter(delay) if delay > MAX_VISIBILITY => {
                // Longer than a message can stay invisible (LinkedIn's daily reset): a one-time
                // schedule puts the job back on the queue then, and this message is done.
                let at = Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default();
                let name = format!("retry-{}-{}", job.post_id, at.timestamp());
                match publisher.scheduler.enqueue_at(&name, &job, at).await {
                    Ok(()) => {
                        info!(at = %at, schedule = name.as_str(), "retry scheduled past the queue's limit");
                        true
                    }
                    Err(e) => {
                        warn!(error = %e, "could not schedule the retry; redelivering after 12 h instead");
                        let receipt = message.receipt_handle.as_deref().unwrap_or_default();
                        let _ = publisher.queue.redeliver_after(receipt, MAX_VISIBILITY).await;
                        false
                    }
                }
            }
            Outcome::RetryAfter(delay) => {
                let receipt = message.receipt_handle.as_deref().unwrap_or_default();
                info!(delay_ms = delay.as_millis() as u64, "retry scheduled");
                if let Err(e) = publisher.queue.redeliver_after(receipt, delay).await {
                    warn!(error = %e, "could not delay the redelivery; the queue's visibility timeout applies");
                }
                false
            }
            Outcome::Crashed(e) => {
                error!(error = format!("{e:#}"), "job crashed; SQS will redeliver it");
                false
            }
        }
    }
    .instrument(span)
    .await
}

fn crashed(context: &'static str) -> impl FnOnce(StoreError) -> Outcome {
    move |e| Outcome::Crashed(anyhow::Error::new(e).context(context))
}

fn error_code(e: &LinkedInError) -> &'static str {
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
struct Attempt<'a> {
    publisher: &'a Publisher,
    job: &'a Job,
    message: &'a SqsMessage,
    post: Post,
}

impl Attempt<'_> {
    async fn save(&mut self, next: Post) -> Result<(), Outcome> {
        self.publisher
            .posts
            .replace(&next)
            .await
            .map_err(crashed("recording the attempt"))?;
        self.post = next;
        Ok(())
    }

    async fn published(mut self, urn: &str) -> Outcome {
        let next = self.post.published(urn, Utc::now());
        match self.save(next).await {
            Ok(()) => {
                info!(
                    linkedin_urn = urn,
                    attempts = self.post.attempts,
                    "post published"
                );
                Outcome::Done
            }
            Err(outcome) => outcome,
        }
    }

    async fn fail(mut self, code: &str, message: String, reason: &str) -> Outcome {
        let now = Utc::now();
        let error = PostError {
            code: code.into(),
            message: message.clone(),
        };
        if let Err(outcome) = self.save(self.post.failed(error, now)).await {
            return outcome;
        }
        warn!(code, error = %message, reason, "post failed");
        let record = dlq_record(self.job, self.message, &self.post, code, &message, reason);
        if let Err(e) = self.publisher.posts.put_dlq_record(&record).await {
            return Outcome::Crashed(anyhow::Error::new(e).context("writing the DLQ record"));
        }
        Outcome::Done
    }

    /// Another attempt later, unless the attempts are used up.
    async fn retry(
        mut self,
        code: &str,
        message: String,
        outcome_unknown: bool,
        at_least: Option<Duration>,
    ) -> Outcome {
        if self.post.attempts >= MAX_ATTEMPTS {
            let exhausted = if code == "RATE_LIMITED" {
                "RATE_LIMIT_EXHAUSTED"
            } else {
                "RETRIES_EXHAUSTED"
            };
            let reason = format!("gave up after {} attempts", self.post.attempts);
            return self.fail(exhausted, message, &reason).await;
        }
        let error = PostError {
            code: code.into(),
            message,
        };
        let next = self.post.retry_later(error, outcome_unknown, Utc::now());
        if let Err(outcome) = self.save(next).await {
            return outcome;
        }
        Outcome::RetryAfter(retry_delay(self.post.attempts, at_least))
    }

    /// One classification for every LinkedIn failure of a publish attempt.
    async fn linkedin_failed(self, e: LinkedInError) -> Outcome {
        let message = e.to_string();
        if let Some(id) = e.request_id() {
            warn!(x_li_uuid = id, error = %message, "LinkedIn refused the attempt");
        }
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
                // A timeout or a 5xx may come after LinkedIn applied the post.
                let unknown = matches!(
                    e,
                    LinkedInError::Transport {
                        timed_out: true,
                        ..
                    } | LinkedInError::Unavailable { .. }
                );
                let code = error_code(&e);
                self.retry(code, message, unknown, after).await
            }
            RetryClass::RefreshThenRetry => self.refresh_then_retry(message).await,
        }
    }

    async fn refresh_then_retry(self, message: String) -> Outcome {
        let keeper = &self.publisher.keeper;
        match keeper
            .refresh_after_refusal(&self.post.tenant_id, self.post.connection_id, Utc::now())
            .await
        {
            Ok(RefreshOutcome::Refreshed) => {
                self.retry("TOKEN_REFRESHED", message, false, Some(AFTER_REFRESH))
                    .await
            }
            Ok(RefreshOutcome::TooFresh | RefreshOutcome::InProgress) => {
                self.retry("TOKEN_PROPAGATING", message, false, Some(AFTER_REFRESH))
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

fn dlq_record(
    job: &Job,
    message: &SqsMessage,
    post: &Post,
    code: &str,
    error: &str,
    reason: &str,
) -> DlqRecord {
    DlqRecord {
        job_id: message
            .message_id
            .clone()
            .unwrap_or_else(|| post.id.to_string()),
        tenant_id: post.tenant_id.clone(),
        connection_id: post.connection_id,
        platform: PLATFORM.into(),
        action: match job.action {
            JobAction::Publish => "publish",
            JobAction::Delete => "delete",
        }
        .into(),
        payload: serde_json::json!({
            "post_id": post.id,
            "author": post.author,
            "text": post.text,
            "media": post.media.iter().map(|m| m.url.as_str()).collect::<Vec<_>>(),
            "visibility": post.visibility,
            "linkedin_urn": post.linkedin_urn,
        }),
        error_code: code.into(),
        error_message: error.into(),
        retry_count: post.attempts,
        first_attempt: post.first_attempt_at,
        last_attempt: post.last_attempt_at,
        reason: reason.into(),
        created_at: Utc::now(),
    }
}

async fn publish(job: &Job, message: &SqsMessage, publisher: &Publisher) -> Outcome {
    let now = Utc::now();
    let claim = match publisher
        .posts
        .claim(
            &job.tenant_id,
            job.post_id,
            now,
            publisher.lease,
            job.scheduled_at,
        )
        .await
    {
        Ok(c) => c,
        Err(e) => return crashed("claiming the post")(e),
    };
    let post = match claim {
        Claim::Claimed(post) => *post,
        Claim::NotClaimable(post) => {
            // A duplicate delivery, a cancelled post, a scheduled post's firing for a time it
            // was moved from, or another invocation holds it now.
            info!(
                status = post.status.as_str(),
                "nothing to do for this delivery"
            );
            return Outcome::Done;
        }
        Claim::Missing => {
            warn!(
                table = publisher.posts.table(),
                "job for a post that does not exist"
            );
            return Outcome::Done;
        }
    };
    let attempt = Attempt {
        publisher,
        job,
        message,
        post,
    };
    if now - job.enqueued_at > MAX_JOB_AGE {
        return attempt
            .fail(
                "JOB_EXPIRED",
                "the job waited more than 7 days".into(),
                "job older than 7 days",
            )
            .await;
    }

    let tokens = match publisher
        .keeper
        .open(&attempt.post.tenant_id, attempt.post.connection_id)
        .await
    {
        Ok((stored, _)) if stored.connection.status == ConnectionStatus::Revoked => {
            return attempt
                .fail(
                    "CONNECTION_REVOKED",
                    "the connection was disconnected".into(),
                    "connection revoked",
                )
                .await
        }
        Ok((_, tokens)) => tokens,
        Err(KeeperError::Vault(VaultError::Destroyed)) => {
            return attempt
                .fail(
                    "CONNECTION_REVOKED",
                    "the connection was disconnected".into(),
                    "connection revoked",
                )
                .await
        }
        Err(KeeperError::Missing) => {
            return attempt
                .fail(
                    "CONNECTION_GONE",
                    "the connection no longer exists".into(),
                    "connection missing",
                )
                .await
        }
        Err(e) if e.is_retryable() => {
            return attempt
                .retry("TOKENS_UNAVAILABLE", e.to_string(), false, None)
                .await
        }
        Err(e) => {
            return attempt
                .fail(
                    "TOKENS_UNREADABLE",
                    e.to_string(),
                    "the stored tokens cannot be opened",
                )
                .await
        }
    };

    let (attempt, images) = match prepare_media(attempt, &tokens).await {
        Ok(ready) => ready,
        Err(outcome) => return outcome,
    };
    let content = PostContent {
        author: attempt.post.author.clone(),
        text: attempt.post.text.clone(),
        visibility: serde_json::to_value(attempt.post.visibility)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_else(|| "PUBLIC".into()),
        images,
    };
    match publisher
        .linkedin()
        .create_post(&tokens.access_token, publisher.dialect, &content)
        .await
    {
        Ok(urn) => attempt.published(&urn).await,
        Err(e) => attempt.linkedin_failed(e).await,
    }
}

/// Uploads the post's images that are not uploaded yet (remembering each, so a retry does not
/// upload again), then checks LinkedIn has processed them all.
async fn prepare_media<'a>(
    mut attempt: Attempt<'a>,
    tokens: &TokenSet,
) -> Result<(Attempt<'a>, Vec<(String, Option<String>)>), Outcome> {
    let publisher = attempt.publisher;
    let pending: Vec<_> = attempt.post.media[attempt.post.media_urns.len()..].to_vec();
    for item in pending {
        let image = match fetch_image(&item.url, &publisher.media).await {
            Ok(image) => image,
            Err(MediaError::Rejected(reason)) => {
                return Err(attempt
                    .fail("MEDIA_REJECTED", reason, "an image cannot be used")
                    .await)
            }
            Err(MediaError::Unavailable(reason)) => {
                return Err(attempt
                    .retry("MEDIA_UNAVAILABLE", reason, false, None)
                    .await)
            }
        };
        let upload = match publisher
            .linkedin()
            .start_image_upload(
                &tokens.access_token,
                publisher.dialect,
                &attempt.post.author,
            )
            .await
        {
            Ok(u) => u,
            Err(e) => return Err(attempt.linkedin_failed(e).await),
        };
        if let Err(e) = publisher
            .linkedin()
            .upload_image(&tokens.access_token, &upload, image.bytes)
            .await
        {
            return Err(attempt.linkedin_failed(e).await);
        }
        let mut urns = attempt.post.media_urns.clone();
        urns.push(upload.urn);
        let next = attempt.post.with_media_urns(urns, Utc::now());
        attempt.save(next).await?;
    }
    for urn in &attempt.post.media_urns {
        match publisher
            .linkedin()
            .media_status(&tokens.access_token, publisher.dialect, urn)
            .await
        {
            Ok(MediaStatus::Available) => {}
            Ok(MediaStatus::Failed) => {
                let reason = format!("LinkedIn could not process image {urn}");
                return Err(attempt
                    .fail("MEDIA_REJECTED", reason, "an image failed processing")
                    .await);
            }
            Ok(MediaStatus::Processing | MediaStatus::WaitingUpload) => {
                let waited = attempt
                    .post
                    .first_attempt_at
                    .map(|t| Utc::now() - t)
                    .unwrap_or_default();
                if waited > MEDIA_WAIT_LIMIT {
                    let reason = format!("image {urn} was still processing after 15 minutes");
                    return Err(attempt
                        .fail("MEDIA_NOT_READY", reason, "images never became available")
                        .await);
                }
                // Wait by redelivery, not by sleeping.
                let next = attempt.post.waiting_for_media(Utc::now());
                attempt.save(next).await?;
                return Err(Outcome::RetryAfter(MEDIA_POLL));
            }
            Err(e) => return Err(attempt.linkedin_failed(e).await),
        }
    }
    let images = attempt
        .post
        .media_urns
        .iter()
        .cloned()
        .zip(attempt.post.media.iter().map(|m| m.alt_text.clone()))
        .collect();
    Ok((attempt, images))
}

async fn delete_at_linkedin(
    job: &Job,
    message: &SqsMessage,
    receive_count: u32,
    publisher: &Publisher,
) -> Outcome {
    let post = match publisher.posts.get(&job.tenant_id, job.post_id).await {
        Ok(Some(post)) => post,
        Ok(None) => return Outcome::Done,
        Err(e) => return crashed("reading the post")(e),
    };
    let Some(urn) = post
        .linkedin_urn
        .clone()
        .filter(|_| post.status == PostStatus::Published)
    else {
        info!(status = post.status.as_str(), "nothing to delete");
        return Outcome::Done;
    };
    let tokens = match publisher
        .keeper
        .open(&post.tenant_id, post.connection_id)
        .await
    {
        Ok((_, tokens)) => tokens,
        Err(e) if e.is_retryable() => return Outcome::RetryAfter(retry_delay(receive_count, None)),
        Err(e) => {
            return delete_failed(
                job,
                message,
                publisher,
                post,
                "TOKENS_UNREADABLE",
                e.to_string(),
            )
            .await
        }
    };
    let result = publisher
        .linkedin()
        .delete_post(&tokens.access_token, publisher.dialect, &urn)
        .await;
    match result {
        // LinkedIn's 204, and a 404 (already gone), both end as deleted.
        Ok(()) | Err(LinkedInError::Rejected { status: 404, .. }) => {
            match publisher.posts.replace(&post.deleted(Utc::now())).await {
                Ok(()) | Err(StoreError::Conflict(_)) => {
                    info!(linkedin_urn = urn.as_str(), "post deleted at LinkedIn");
                    Outcome::Done
                }
                Err(e) => crashed("recording the delete")(e),
            }
        }
        Err(e) => match e.retry_class() {
            RetryClass::RefreshThenRetry => {
                match publisher
                    .keeper
                    .refresh_after_refusal(&post.tenant_id, post.connection_id, Utc::now())
                    .await
                {
                    Ok(RefreshOutcome::NeedsReconnect(reason)) => {
                        delete_failed(job, message, publisher, post, "UNRETRYABLE_AUTH", reason)
                            .await
                    }
                    _ if receive_count >= MAX_ATTEMPTS => {
                        delete_failed(
                            job,
                            message,
                            publisher,
                            post,
                            "RETRIES_EXHAUSTED",
                            e.to_string(),
                        )
                        .await
                    }
                    _ => Outcome::RetryAfter(AFTER_REFRESH),
                }
            }
            RetryClass::RetryLater { after } if receive_count < MAX_ATTEMPTS => {
                Outcome::RetryAfter(retry_delay(receive_count, after))
            }
            RetryClass::RetryLater { .. } => {
                delete_failed(
                    job,
                    message,
                    publisher,
                    post,
                    "RETRIES_EXHAUSTED",
                    e.to_string(),
                )
                .await
            }
            RetryClass::FailFast => {
                let code = error_code(&e);
                delete_failed(job, message, publisher, post, code, e.to_string()).await
            }
        },
    }
}

/// A delete that will not succeed: the post stays published, with the error, and a DLQ record.
async fn delete_failed(
    job: &Job,
    message: &SqsMessage,
    publisher: &Publisher,
    post: Post,
    code: &str,
    error: String,
) -> Outcome {
    let mut next = post.clone();
    next.version += 1;
    next.updated_at = Utc::now();
    next.delete_requested_at = None;
    next.last_error = Some(PostError {
        code: code.into(),
        message: error.clone(),
    });
    if let Err(e) = publisher.posts.replace(&next).await {
        warn!(error = %e, "could not record the failed delete on the post");
    }
    warn!(code, error = %error, "delete at LinkedIn failed");
    let record = dlq_record(
        job,
        message,
        &next,
        code,
        &error,
        "the post could not be deleted at LinkedIn",
    );
    match publisher.posts.put_dlq_record(&record).await {
        Ok(()) => Outcome::Done,
        Err(e) => crashed("writing the DLQ record")(e),
    }
}
