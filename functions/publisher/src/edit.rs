//! An edit job: carry a published post's pending edit out at LinkedIn (PARTIAL_UPDATE of its
//! commentary). An edit is idempotent, so a retry simply sends again; an attempt after one
//! whose outcome is unknown first reads the post back where the connection's scopes allow
//! (organization posts), and records the edit without sending it again if LinkedIn has it.
//! What follows a failure is the library's `next_step`, counting the edit's attempts.

use std::time::Duration;

use chrono::Utc;
use connector::domain::posts::{JobAction, Outcome, Post};
use connector::linkedin::can_read_post;
use connector::store::StoreError;
use tracing::info;

use crate::attempt::Attempt;
use crate::crashed;
use crate::{Delivery, Disposition, Publisher};

/// A redelivery comes back this soon when a later edit replaced the one just sent.
const AGAIN: Duration = Duration::from_secs(1);

pub(crate) async fn edit_job(delivery: &Delivery<'_>, publisher: &Publisher) -> Disposition {
    let job = delivery.job;
    let post = match publisher.posts.get(&job.tenant_id, job.post_id).await {
        Ok(Some(post)) => post,
        Ok(None) => return Disposition::Done,
        Err(e) => return crashed("reading the post")(e),
    };
    // Sent already, given up, or a delete recorded since (a delete wins over an edit).
    let Some(pending) = post.edit_to_send().cloned() else {
        info!(status = post.status.as_str(), "no edit to carry out");
        return Disposition::Done;
    };
    let urn = post.linkedin_urn.clone().unwrap_or_default();
    // A read, an edit and the record of it.
    if !delivery.deadline.allows(publisher.call_time() * 3) {
        return Disposition::RetryAfter(AGAIN);
    }
    let attempt = Attempt {
        publisher,
        delivery,
        post,
        action: JobAction::Edit,
        connection: None,
    };
    let (attempt, tokens, scopes) = match attempt.open_tokens_with_scopes().await {
        Ok(opened) => opened,
        Err(disposition) => return disposition,
    };
    let linkedin = publisher.linkedin();
    if pending.outcome_unknown && can_read_post(&scopes, attempt.post.author.urn()) {
        match linkedin.read_post(&tokens.access_token, &urn).await {
            Ok(reading) if reading.has_text(&pending.text) => {
                info!("unknown outcome resolved: LinkedIn has the edit");
                return applied(attempt, &pending.text).await;
            }
            Ok(_) => info!("unknown outcome resolved: LinkedIn does not have the edit"),
            Err(e) => return attempt.after(Outcome::LinkedIn(&e)).await,
        }
    }
    match linkedin
        .edit_commentary(&tokens.access_token, &urn, &pending.text)
        .await
    {
        Ok(()) => applied(attempt, &pending.text).await,
        Err(e) => attempt.after(Outcome::LinkedIn(&e)).await,
    }
}

/// LinkedIn has `sent`: recorded on the latest version if it is still the pending edit. A
/// later edit recorded meanwhile is sent on redelivery; a delete recorded meanwhile wins.
async fn applied(attempt: Attempt<'_>, sent: &str) -> Disposition {
    let posts = &attempt.publisher.posts;
    let mut post: Post = attempt.post;
    for _ in 0..3 {
        let Some(next) = post.edit_applied(sent, Utc::now()) else {
            if post.edit_to_send().is_some() {
                info!("a later edit replaced the one sent; sending that one");
                return Disposition::RetryAfter(AGAIN);
            }
            info!("the post changed meanwhile; nothing to record");
            return Disposition::Done;
        };
        match posts.replace(&next).await {
            Ok(()) => {
                info!(edits = next.edits.len(), "post edited at LinkedIn");
                return Disposition::Done;
            }
            Err(StoreError::Conflict(_)) => match posts.get(&post.tenant_id, post.id).await {
                Ok(Some(latest)) => post = latest,
                Ok(None) => return Disposition::Done,
                Err(e) => return crashed("re-reading the post")(e),
            },
            Err(e) => return crashed("recording the edit")(e),
        }
    }
    Disposition::RetryAfter(AGAIN)
}
