//! Deleting a published post at LinkedIn: asked for by the tenant, or a cancel that found its
//! post live. LinkedIn's delete is idempotent (204 again, or 404 once gone), so an unknown
//! outcome is resolved by simply deleting again. What follows a failure is the library's
//! `next_step`, counting the delete attempts recorded on the post.

use std::time::Duration;

use connector::domain::posts::{JobAction, Outcome, Post, PostStatus};
use tracing::info;

use crate::attempt::Attempt;
use crate::crashed;
use crate::{Delivery, Disposition, Publisher};

/// A delete job from the queue.
pub(crate) async fn delete_job(delivery: &Delivery<'_>, publisher: &Publisher) -> Disposition {
    let job = delivery.job;
    match publisher.posts.get(&job.tenant_id, job.post_id).await {
        Ok(Some(post)) => delete_at_linkedin(delivery, publisher, post).await,
        Ok(None) => Disposition::Done,
        Err(e) => crashed("reading the post")(e),
    }
}

pub(crate) async fn delete_at_linkedin(
    delivery: &Delivery<'_>,
    publisher: &Publisher,
    post: Post,
) -> Disposition {
    let Some(urn) = post
        .linkedin_urn
        .clone()
        .filter(|_| post.status == PostStatus::Published)
    else {
        info!(status = post.status.as_str(), "nothing to delete");
        return Disposition::Done;
    };
    if !delivery.deadline.allows(publisher.call_time() * 2) {
        // Nothing was tried: not an attempt.
        return Disposition::RetryAfter(Duration::from_secs(1));
    }
    let attempt = Attempt {
        publisher,
        delivery,
        post,
        action: JobAction::Delete,
        connection: None,
    };
    let (attempt, tokens) = match attempt.open_tokens().await {
        Ok(opened) => opened,
        Err(disposition) => return disposition,
    };
    let result = publisher
        .linkedin()
        .delete_post(&tokens.access_token, publisher.dialect, &urn)
        .await;
    match result {
        Ok(()) => attempt.deleted().await,
        // A 404 (already gone) is decided like every other answer.
        Err(e) => attempt.after(Outcome::LinkedIn(&e)).await,
    }
}
