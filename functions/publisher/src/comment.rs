//! A first-comment job, queued when a post's publish is recorded: the author comments on the
//! post. A job of its own, so a failed comment never fails the post. LinkedIn answers 404 for
//! a while on a fresh post: waited out by redelivery with backoff, bounded by the attempts. A
//! comment is not idempotent: each attempt is claimed (counted, under a lease) before it is
//! sent, and one whose outcome is unknown is not sent again (`next_step`).

use std::time::Duration;

use chrono::Utc;
use connector::domain::posts::{JobAction, Outcome};
use connector::store::StoreError;
use tracing::info;

use crate::attempt::Attempt;
use crate::crashed;
use crate::{Delivery, Disposition, Publisher};

pub(crate) async fn comment_job(delivery: &Delivery<'_>, publisher: &Publisher) -> Disposition {
    let job = delivery.job;
    let post = match publisher.posts.get(&job.tenant_id, job.post_id).await {
        Ok(Some(post)) => post,
        Ok(None) => return Disposition::Done,
        Err(e) => return crashed("reading the post")(e),
    };
    if !delivery.deadline.allows(publisher.call_time() * 2) {
        return Disposition::RetryAfter(Duration::from_secs(1));
    }
    let Some(claimed) = post.comment_claimed(Utc::now(), publisher.lease) else {
        info!(
            status = post.status.as_str(),
            "no first comment to post (posted, failed, held by another attempt, or none)"
        );
        return Disposition::Done;
    };
    match publisher.posts.replace(&claimed).await {
        Ok(()) => {}
        // Changed meanwhile (an edit, another delivery): decided again on redelivery.
        Err(StoreError::Conflict(_)) => return Disposition::RetryAfter(Duration::from_secs(1)),
        Err(e) => return crashed("claiming the first comment")(e),
    }
    let attempt = Attempt {
        publisher,
        delivery,
        post: claimed,
        action: JobAction::Comment,
        connection: None,
    };
    let (mut attempt, tokens) = match attempt.open_tokens().await {
        Ok(opened) => opened,
        Err(disposition) => return disposition,
    };
    let post = &attempt.post;
    let (urn, actor) = (
        post.linkedin_urn.clone().unwrap_or_default(),
        post.author.urn().to_owned(),
    );
    let text = post
        .first_comment
        .as_ref()
        .map(|c| c.text.clone())
        .unwrap_or_default();
    match publisher
        .linkedin()
        .create_comment(&tokens.access_token, &urn, &actor, &text)
        .await
    {
        Ok(comment) => {
            let now = Utc::now();
            if let Err(outcome) = attempt
                .save_onto_latest(|p| p.comment_posted(&comment, now))
                .await
            {
                return outcome;
            }
            info!(comment_urn = comment.as_str(), "first comment posted");
            Disposition::Done
        }
        Err(e) => attempt.after(Outcome::LinkedIn(&e)).await,
    }
}
