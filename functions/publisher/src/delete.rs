//! Deleting a published post at LinkedIn: asked for by the tenant, or a cancel that found its
//! post live. LinkedIn's delete is idempotent (204 again, or 404 once gone), so an unknown
//! outcome is resolved by simply deleting again.

use std::time::Duration;

use chrono::Utc;
use connector::linkedin::{LinkedInError, RetryClass};
use connector::posts::{retry_delay, Post, PostError, PostStatus, MAX_ATTEMPTS};
use connector::store::StoreError;
use connector::tokens::RefreshOutcome;
use tracing::{info, warn};

use crate::attempt::{crashed, dlq_record, error_code, AFTER_REFRESH};
use crate::{Delivery, Outcome, Publisher};

/// A delete job from the queue.
pub(crate) async fn delete_job(delivery: &Delivery<'_>, publisher: &Publisher) -> Outcome {
    let job = delivery.job;
    match publisher.posts.get(&job.tenant_id, job.post_id).await {
        Ok(Some(post)) => delete_at_linkedin(delivery, publisher, post).await,
        Ok(None) => Outcome::Done,
        Err(e) => crashed("reading the post")(e),
    }
}

pub(crate) async fn delete_at_linkedin(
    delivery: &Delivery<'_>,
    publisher: &Publisher,
    post: Post,
) -> Outcome {
    let receive_count = delivery.receive_count;
    let Some(urn) = post
        .linkedin_urn
        .clone()
        .filter(|_| post.status == PostStatus::Published)
    else {
        info!(status = post.status.as_str(), "nothing to delete");
        return Outcome::Done;
    };
    if !delivery.deadline.allows(publisher.call_time() * 2) {
        return Outcome::RetryAfter(Duration::from_secs(1));
    }
    let tokens = match publisher
        .keeper
        .open(&post.tenant_id, post.connection_id)
        .await
    {
        Ok((_, tokens)) => tokens,
        Err(e) if e.is_retryable() => return Outcome::RetryAfter(retry_delay(receive_count, None)),
        Err(e) => {
            return delete_failed(
                delivery,
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
                        delete_failed(delivery, publisher, post, "UNRETRYABLE_AUTH", reason).await
                    }
                    _ if receive_count >= MAX_ATTEMPTS => {
                        delete_failed(
                            delivery,
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
                    delivery,
                    publisher,
                    post,
                    "RETRIES_EXHAUSTED",
                    e.to_string(),
                )
                .await
            }
            RetryClass::FailFast => {
                let code = error_code(&e);
                delete_failed(delivery, publisher, post, code, e.to_string()).await
            }
        },
    }
}

/// A delete that will not succeed: the post stays published, with the error, and a DLQ record.
async fn delete_failed(
    delivery: &Delivery<'_>,
    publisher: &Publisher,
    post: Post,
    code: &str,
    error: String,
) -> Outcome {
    let next = post.delete_failed(
        PostError {
            code: code.into(),
            message: error.clone(),
        },
        Utc::now(),
    );
    if let Err(e) = publisher.posts.replace(&next).await {
        warn!(error = %e, "could not record the failed delete on the post");
    }
    warn!(code, error = %error, "delete at LinkedIn failed");
    let record = dlq_record(
        delivery,
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
