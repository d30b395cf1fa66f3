//! A publish job: claim the post, open its tokens, upload its media, create it at LinkedIn.

use std::time::{Duration, Instant};

use chrono::Utc;
use connector::domain::posts::{JobAction, Outcome, PostStatus, ThrottleScope, MAX_JOB_AGE};
use connector::linkedin::{MediaStatus, PostContent};
use connector::media::{fetch_image, MediaBudget};
use connector::store::Claim;
use connector::vault::TokenSet;
use tracing::{info, warn};

use crate::attempt::Attempt;
use crate::body;
use crate::crashed;
use crate::{Delivery, Disposition, Publisher};

/// A job fired for a post still waiting for approval: at its time it expires (it does not go
/// out), an hour before it records the reminder; anything else does nothing. A lost race (an
/// approval, a reject or a cancel written meanwhile) is handed back to be looked at again.
async fn approval_job(
    publisher: &Publisher,
    post: &connector::domain::posts::Post,
    job: &connector::domain::posts::Job,
    now: chrono::DateTime<Utc>,
) -> Disposition {
    use connector::domain::posts::ApprovalJob;
    let (next, what) = match post.on_approval_job(job, now) {
        ApprovalJob::Expire(next) => (next, "approval expired: the post did not go out"),
        ApprovalJob::Remind(next) => (next, "reminder to approve the post recorded"),
        ApprovalJob::Nothing => return Disposition::Done,
    };
    match publisher.posts.replace(&next).await {
        Ok(()) => {
            info!(status = next.status.as_str(), "{what}");
            Disposition::Done
        }
        Err(connector::store::StoreError::Conflict(_)) => {
            Disposition::RetryAfter(Duration::from_secs(1))
        }
        Err(e) => crashed("recording an approval's expiry or reminder")(e),
    }
}

/// No image fetch starts with less time than this for it.
const MIN_FETCH: Duration = Duration::from_secs(1);

pub(crate) async fn publish(delivery: &Delivery<'_>, publisher: &Publisher) -> Disposition {
    let job = delivery.job;
    let now = Utc::now();
    // Nothing is claimed that this invocation could not carry through to a recorded result.
    if !delivery.deadline.allows(publisher.call_time()) {
        info!(
            time_left_ms = delivery.deadline.remaining().map(|d| d.as_millis() as u64),
            "too little time left to start; handing the job back"
        );
        return Disposition::RetryAfter(Duration::from_secs(1));
    }
    let claim = match publisher
        .posts
        .claim(job, now, publisher.lease, |post| {
            let known = &publisher.known_connections;
            known.get(&post.tenant_id, post.connection_id, Instant::now())
        })
        .await
    {
        Ok(c) => c,
        Err(e) => return crashed("claiming the post")(e),
    };
    let (post, connection) = match claim {
        Claim::Claimed { post, connection } => (*post, connection.map(|c| *c)),
        Claim::NotClaimable(post)
            if post.status == PostStatus::Published && post.delete_requested_at.is_some() =>
        {
            // A cancel found its post live; the delete at LinkedIn is still to be done.
            return crate::delete::delete_at_linkedin(delivery, publisher, *post).await;
        }
        Claim::NotClaimable(post)
            if post.comment_to_post().is_some_and(|c| c.attempts == 0)
                && post.comment_lease_until.is_none() =>
        {
            // Published, but its first comment's job could not be queued then: queue it now
            // (a duplicate is harmless: each comment attempt is claimed under a lease).
            return match publisher.queue.enqueue(&post.comment_job(now)).await {
                Ok(()) => Disposition::Done,
                Err(e) => Disposition::Crashed(
                    anyhow::Error::new(e).context("enqueueing the first comment"),
                ),
            };
        }
        Claim::NotClaimable(post) if post.status == PostStatus::PendingApproval => {
            return approval_job(publisher, &post, job, now).await;
        }
        Claim::NotClaimable(post) => {
            // A duplicate delivery, a cancelled post, a scheduled post's firing for a time it
            // was moved from, or another invocation holds it now.
            info!(
                status = post.status.as_str(),
                "nothing to do for this delivery"
            );
            return Disposition::Done;
        }
        Claim::Missing => {
            warn!(
                table = publisher.posts.table(),
                "job for a post that does not exist"
            );
            return Disposition::Done;
        }
    };
    let mut attempt = Attempt {
        publisher,
        delivery,
        post,
        action: JobAction::Publish,
        connection,
    };
    if attempt.post.cancel_pending() && !attempt.post.outcome_unknown {
        // Cancelled while queued, and no attempt ever reached LinkedIn: proven never live.
        let next = attempt.post.cancelled(Utc::now());
        if let Err(outcome) = attempt.save(next).await {
            return outcome;
        }
        info!("post cancelled; it never reached LinkedIn");
        return Disposition::Done;
    }
    if now - job.enqueued_at > MAX_JOB_AGE {
        return attempt.after(Outcome::JobExpired).await;
    }
    // The API refuses such a post; one recorded before the dialect was changed fails here,
    // before anything is uploaded.
    if let Err(code) = body::carried(&attempt.post, publisher.dialect) {
        let detail = "the legacy ugcPosts dialect cannot carry this kind of post";
        return attempt.after(Outcome::Unsendable { code, detail }).await;
    }
    // LinkedIn's daily limit for the whole application is used up: nothing is sent until the
    // reset, for any tenant.
    if let Some(until) = publisher.throttle.app_paused(job.clock(now)).await {
        let scope = ThrottleScope::App;
        return attempt.after(Outcome::Throttled { scope, until }).await;
    }

    let (attempt, tokens) = match attempt.open_tokens().await {
        Ok(opened) => opened,
        Err(disposition) => return disposition,
    };

    let attempt = match Box::pin(crate::mentions::check(attempt, &tokens)).await {
        Ok(checked) => checked,
        Err(outcome) => return outcome,
    };
    let attempt = match Box::pin(prepare_media(attempt, &tokens)).await {
        Ok(ready) => ready,
        Err(outcome) => return outcome,
    };
    let attempt = match Box::pin(crate::article::prepare_card(attempt, &tokens)).await {
        Ok(ready) => ready,
        Err(outcome) => return outcome,
    };
    if !attempt.fits(publisher.call_time()) {
        return attempt.out_of_time().await;
    }
    let body = match body::post_body(&attempt.post) {
        Ok(body) => body,
        // A step above did not finish what the body needs: waited for like media.
        Err(missing) => {
            return attempt
                .after(Outcome::MediaProcessing { urn: missing })
                .await
        }
    };
    let content = PostContent {
        author: attempt.post.author.urn().to_owned(),
        text: attempt.post.text.clone(),
        visibility: serde_json::to_value(attempt.post.visibility)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_else(|| "PUBLIC".into()),
        body,
    };
    match publisher
        .linkedin()
        .create_post(&tokens.access_token, publisher.dialect, &content)
        .await
    {
        Ok(urn) => attempt.published(&urn).await,
        Err(e) => attempt.after(Outcome::LinkedIn(&e)).await,
    }
}

/// Uploads the post's images that are not uploaded yet (remembering each, so a retry does not
/// upload again), then checks LinkedIn has processed them all. Fetches share one budget of
/// bytes and time per attempt; no step starts that the invocation's time would not cover.
async fn prepare_media<'a>(
    mut attempt: Attempt<'a>,
    tokens: &TokenSet,
) -> Result<Attempt<'a>, Disposition> {
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
        if let Some(kind) = crate::media::large_kind(&item) {
            attempt = Box::pin(crate::media::upload(attempt, tokens, &item, kind)).await?;
            continue;
        }
        if budget.time_left() < MIN_FETCH || !attempt.fits(MIN_FETCH + call * 3) {
            // Images uploaded so far are remembered; the next attempt goes on from here.
            return Err(attempt.out_of_time().await);
        }
        let image = match fetch_image(&item.url, &publisher.media, &mut budget).await {
            Ok(image) => image,
            Err(e) => return Err(attempt.after(Outcome::MediaFetch(&e)).await),
        };
        if !attempt.fits(call * 3) {
            return Err(attempt.out_of_time().await);
        }
        let upload = match publisher
            .linkedin()
            .start_image_upload(
                &tokens.access_token,
                publisher.dialect,
                attempt.post.author.urn(),
            )
            .await
        {
            Ok(u) => u,
            Err(e) => return Err(attempt.after(Outcome::LinkedIn(&e)).await),
        };
        if let Err(e) = publisher
            .linkedin()
            .upload_image(&tokens.access_token, &upload, image.bytes)
            .await
        {
            return Err(attempt.after(Outcome::LinkedIn(&e)).await);
        }
        let mut urns = attempt.post.media_urns.clone();
        urns.push(upload.urn);
        let next = attempt.post.with_media_urns(urns, Utc::now());
        attempt.save(next).await?;
    }
    for urn in attempt.post.media_urns.clone() {
        if !attempt.fits(call * 2) {
            return Err(attempt.out_of_time().await);
        }
        if crate::media::is_large(&urn) {
            attempt = crate::media::check_ready(attempt, tokens, &urn).await?;
            continue;
        }
        match publisher
            .linkedin()
            .media_status(&tokens.access_token, publisher.dialect, &urn)
            .await
        {
            Ok(MediaStatus::Available) => {}
            Ok(MediaStatus::Failed) => {
                return Err(attempt.after(Outcome::MediaFailed { urn: &urn }).await)
            }
            // Waited for by redelivery, not by sleeping; waiting is not a failed attempt.
            Ok(MediaStatus::Processing | MediaStatus::WaitingUpload) => {
                return Err(attempt.after(Outcome::MediaProcessing { urn: &urn }).await)
            }
            Err(e) => return Err(attempt.after(Outcome::LinkedIn(&e)).await),
        }
    }
    Ok(attempt)
}
