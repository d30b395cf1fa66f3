//! A publish job: claim the post, open its tokens, upload its media, create it at LinkedIn.

use std::time::Duration;

use chrono::Utc;
use connector::domain::ConnectionStatus;
use connector::linkedin::{MediaStatus, PostContent};
use connector::media::{fetch_image, MediaBudget, MediaError};
use connector::posts::{PostStatus, MAX_JOB_AGE};
use connector::store::Claim;
use connector::tokens::KeeperError;
use connector::vault::{TokenSet, VaultError};
use tracing::{info, warn};

use crate::attempt::{crashed, Attempt};
use crate::{Delivery, Outcome, Publisher};

/// Poll interval while LinkedIn processes uploaded images, and how long to wait in all.
const MEDIA_POLL: Duration = Duration::from_secs(2);
const MEDIA_WAIT_LIMIT: chrono::Duration = chrono::Duration::minutes(15);
/// No image fetch starts with less time than this for it.
const MIN_FETCH: Duration = Duration::from_secs(1);

pub(crate) async fn publish(delivery: &Delivery<'_>, publisher: &Publisher) -> Outcome {
    let job = delivery.job;
    let now = Utc::now();
    // Nothing is claimed that this invocation could not carry through to a recorded result.
    if !delivery.deadline.allows(publisher.call_time()) {
        info!(
            time_left_ms = delivery.deadline.remaining().map(|d| d.as_millis() as u64),
            "too little time left to start; handing the job back"
        );
        return Outcome::RetryAfter(Duration::from_secs(1));
    }
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
        Claim::NotClaimable(post)
            if post.status == PostStatus::Published && post.delete_requested_at.is_some() =>
        {
            // A cancel found its post live; the delete at LinkedIn is still to be done.
            return crate::delete::delete_at_linkedin(delivery, publisher, *post).await;
        }
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
    let mut attempt = Attempt {
        publisher,
        delivery,
        post,
    };
    if attempt.post.cancel_pending() && !attempt.post.outcome_unknown {
        // Cancelled while queued, and no attempt ever reached LinkedIn: proven never live.
        let next = attempt.post.cancelled(Utc::now());
        if let Err(outcome) = attempt.save(next).await {
            return outcome;
        }
        info!("post cancelled; it never reached LinkedIn");
        return Outcome::Done;
    }
    if now - job.enqueued_at > MAX_JOB_AGE {
        let (code, message) = if attempt.post.outcome_unknown {
            (
                "OUTCOME_UNKNOWN",
                "LinkedIn could not be asked for 7 days whether the post went out; check the member's feed",
            )
        } else {
            ("JOB_EXPIRED", "the job waited more than 7 days")
        };
        return attempt
            .fail(code, message.into(), "job older than 7 days")
            .await;
    }

    let tokens = match open_tokens(&attempt).await {
        Ok(tokens) => tokens,
        Err(failure) => return failure.finish(attempt).await,
    };

    let (attempt, images) = match prepare_media(attempt, &tokens).await {
        Ok(ready) => ready,
        Err(outcome) => return outcome,
    };
    if !attempt.fits(publisher.call_time()) {
        return attempt.out_of_time().await;
    }
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

/// Why the tokens could not be opened, and what that does to the post.
enum TokenFailure {
    Fail(&'static str, String, &'static str),
    Retry(String),
}

impl TokenFailure {
    async fn finish(self, attempt: Attempt<'_>) -> Outcome {
        match self {
            Self::Fail(code, message, reason) => attempt.fail(code, message, reason).await,
            Self::Retry(message) => {
                attempt
                    .retry("TOKENS_UNAVAILABLE", message, false, None)
                    .await
            }
        }
    }
}

async fn open_tokens(attempt: &Attempt<'_>) -> Result<TokenSet, TokenFailure> {
    let revoked = || {
        TokenFailure::Fail(
            "CONNECTION_REVOKED",
            "the connection was disconnected".into(),
            "connection revoked",
        )
    };
    match attempt
        .publisher
        .keeper
        .open(&attempt.post.tenant_id, attempt.post.connection_id)
        .await
    {
        Ok((stored, _)) if stored.connection.status == ConnectionStatus::Revoked => Err(revoked()),
        Ok((_, tokens)) => Ok(tokens),
        Err(KeeperError::Vault(VaultError::Destroyed)) => Err(revoked()),
        Err(KeeperError::Missing) => Err(TokenFailure::Fail(
            "CONNECTION_GONE",
            "the connection no longer exists".into(),
            "connection missing",
        )),
        Err(e) if e.is_retryable() => Err(TokenFailure::Retry(e.to_string())),
        Err(e) => Err(TokenFailure::Fail(
            "TOKENS_UNREADABLE",
            e.to_string(),
            "the stored tokens cannot be opened",
        )),
    }
}

/// Uploads the post's images that are not uploaded yet (remembering each, so a retry does not
/// upload again), then checks LinkedIn has processed them all. Fetches share one budget of
/// bytes and time per attempt; no step starts that the invocation's time would not cover.
async fn prepare_media<'a>(
    mut attempt: Attempt<'a>,
    tokens: &TokenSet,
) -> Result<(Attempt<'a>, Vec<(String, Option<String>)>), Outcome> {
    let publisher = attempt.publisher;
    let call = publisher.call_time();
    let pending: Vec<_> = attempt.post.media[attempt.post.media_urns.len()..].to_vec();
    // Fetching may take what the invocation leaves after an upload start, an upload and the
    // final create; each later step checks the time again.
    let fetch_time = attempt
        .delivery
        .deadline
        .cap(publisher.media.post_fetch_budget + call * 3)
        .saturating_sub(call * 3);
    let mut budget = MediaBudget::for_post(&publisher.media).within(fetch_time);
    for item in pending {
        if budget.time_left() < MIN_FETCH || !attempt.fits(MIN_FETCH + call * 3) {
            // Images uploaded so far are remembered; the next attempt goes on from here.
            return Err(attempt.out_of_time().await);
        }
        let image = match fetch_image(&item.url, &publisher.media, &mut budget).await {
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
        if !attempt.fits(call * 3) {
            return Err(attempt.out_of_time().await);
        }
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
        if !attempt.fits(call * 2) {
            return Err(attempt.out_of_time().await);
        }
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
                // Wait by redelivery, not by sleeping; waiting is not a failed attempt.
                return Err(attempt
                    .hand_back("LinkedIn is processing the images", MEDIA_POLL)
                    .await);
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
