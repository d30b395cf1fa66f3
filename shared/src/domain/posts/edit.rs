//! Edits of a post's text and its first comment: what `PATCH /v1/posts/{id}` does to a post in
//! each state, and the record changes the publisher's edit and comment jobs make. No I/O.
//!
//! Races are settled by the record's version: every change here is a new version written
//! conditionally, so of two requests that read the same version one wins and the other is
//! told to try again (409). What wins between an edit and a delete: whichever is recorded
//! first; a delete recorded after an edit makes the edit job do nothing (the post is going),
//! and an edit asked for once a delete is recorded is refused. Between two edits of a
//! published post, the later one wins: it replaces the pending text, and whichever job runs
//! sends the text pending at that moment (an edit is idempotent), recording it only if it is
//! still the pending one.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{CommentStatus, Job, JobAction, Post, PostError, PostStatus};

/// One change of a post's text, as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PostEdit {
    pub text: String,
    pub previous_text: String,
    pub requested_at: DateTime<Utc>,
    /// When the text changed: at once for a post not yet published, once LinkedIn took it for
    /// a published one.
    pub applied_at: DateTime<Utc>,
}

/// An edit of a published post that LinkedIn has not taken yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PendingEdit {
    pub text: String,
    pub requested_at: DateTime<Utc>,
    /// Failed attempts so far.
    #[serde(default)]
    pub attempts: u32,
    /// The last attempt may have reached LinkedIn: the next one reads the post back where the
    /// scopes allow (else it simply sends again: an edit is idempotent).
    #[serde(default)]
    pub outcome_unknown: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<PostError>,
}

/// What `PATCH /v1/posts/{id}` with `{text}` does to a post.
#[derive(Debug, Clone, PartialEq)]
pub enum EditDecision {
    /// Not yet published: the text changes in the record, nothing goes to LinkedIn.
    Local(Post),
    /// Published: the edit is recorded as pending; a job carries it out at LinkedIn.
    AtLinkedIn(Post),
    /// The text is already this (and nothing is pending): nothing changes.
    Unchanged,
    /// Not now, or never (409), with the reason for the tenant.
    Refuse(&'static str),
}

impl Post {
    /// What an edit of the text to `text` does to this post (see [`EditDecision`]).
    pub fn request_edit(&self, text: &str, now: DateTime<Utc>) -> EditDecision {
        match self.status {
            PostStatus::Queued if self.outcome_unknown => EditDecision::Refuse(
                "the post's last attempt may have reached LinkedIn and is being resolved; try again in a few minutes",
            ),
            PostStatus::Scheduled | PostStatus::Queued if self.delete_requested_at.is_some() => {
                EditDecision::Refuse("the post is being cancelled")
            }
            PostStatus::PendingApproval | PostStatus::Scheduled | PostStatus::Queued => {
                if self.text == text {
                    return EditDecision::Unchanged;
                }
                let mut next = self.next(now);
                next.edits.push(PostEdit {
                    text: text.to_owned(),
                    previous_text: self.text.clone(),
                    requested_at: now,
                    applied_at: now,
                });
                next.text = text.to_owned();
                EditDecision::Local(next)
            }
            PostStatus::Publishing => EditDecision::Refuse(
                "the post is being published right now; try again in a minute",
            ),
            PostStatus::Published if self.delete_requested_at.is_some() => {
                EditDecision::Refuse("the post is being deleted")
            }
            PostStatus::Published => {
                let pending_text = self.pending_edit.as_ref().map(|p| p.text.as_str());
                if pending_text.unwrap_or(&self.text) == text {
                    return EditDecision::Unchanged;
                }
                let mut next = self.next(now);
                next.pending_edit = Some(PendingEdit {
                    text: text.to_owned(),
                    requested_at: now,
                    attempts: 0,
                    outcome_unknown: false,
                    last_error: None,
                });
                EditDecision::AtLinkedIn(next)
            }
            PostStatus::Failed
            | PostStatus::Cancelled
            | PostStatus::Deleted
            | PostStatus::Rejected
            | PostStatus::ApprovalExpired => EditDecision::Refuse(
                "only a post waiting for approval, scheduled, queued or published can be edited",
            ),
        }
    }

    /// The text an edit job should send now: a published post's pending edit, unless a delete
    /// is under way.
    pub fn edit_to_send(&self) -> Option<&PendingEdit> {
        self.pending_edit.as_ref().filter(|_| {
            self.status == PostStatus::Published
                && self.delete_requested_at.is_none()
                && self.linkedin_urn.is_some()
        })
    }

    /// LinkedIn took `sent`: recorded in the history, if it is still the pending edit (a later
    /// edit replaced it otherwise, and that one is still to be sent).
    pub fn edit_applied(&self, sent: &str, now: DateTime<Utc>) -> Option<Self> {
        let pending = self.edit_to_send().filter(|p| p.text == sent)?;
        let mut next = self.next(now);
        next.edits.push(PostEdit {
            text: pending.text.clone(),
            previous_text: self.text.clone(),
            requested_at: pending.requested_at,
            applied_at: now,
        });
        next.text = pending.text.clone();
        next.pending_edit = None;
        Some(next)
    }

    /// An edit LinkedIn will not take: the post stays published with its text, and says why.
    pub fn edit_failed(&self, error: PostError, now: DateTime<Utc>) -> Self {
        let mut next = self.next(now);
        next.pending_edit = None;
        next.last_error = Some(error);
        next
    }

    /// An edit attempt that failed and will be tried again: counted, with the error.
    pub fn edit_retry_later(
        &self,
        error: PostError,
        outcome_unknown: bool,
        now: DateTime<Utc>,
    ) -> Self {
        let mut next = self.next(now);
        if let Some(pending) = next.pending_edit.as_mut() {
            pending.attempts += 1;
            pending.outcome_unknown |= outcome_unknown;
            pending.last_error = Some(error);
        }
        next
    }

    /// An edit request withdrawn because its job could not be enqueued: the pending edit as
    /// it was before (a later PATCH tries again).
    pub fn edit_withdrawn(&self, before: &Post, now: DateTime<Utc>) -> Self {
        let mut next = self.next(now);
        next.pending_edit = before.pending_edit.clone();
        next
    }

    /// The first comment, if one is still to be posted on this published post.
    pub fn comment_to_post(&self) -> Option<&super::FirstComment> {
        self.first_comment.as_ref().filter(|c| {
            c.status == CommentStatus::Pending
                && self.status == PostStatus::Published
                && self.delete_requested_at.is_none()
                && self.linkedin_urn.is_some()
        })
    }

    /// Taken for one attempt at the first comment: counted before anything is sent, so of two
    /// deliveries of the job only the one whose write wins sends.
    /// While `lease` runs, no other delivery takes it (a comment is not idempotent).
    pub fn comment_claimed(&self, now: DateTime<Utc>, lease: std::time::Duration) -> Option<Self> {
        self.comment_to_post()?;
        if self.comment_lease_until.is_some_and(|until| until > now) {
            return None;
        }
        let mut next = self.next(now);
        if let Some(c) = next.first_comment.as_mut() {
            c.attempts += 1;
        }
        next.comment_lease_until =
            Some(now + chrono::Duration::from_std(lease).unwrap_or_default());
        Some(next)
    }

    pub fn comment_posted(&self, urn: &str, now: DateTime<Utc>) -> Self {
        let mut next = self.next(now);
        next.comment_lease_until = None;
        if let Some(c) = next.first_comment.as_mut() {
            c.status = CommentStatus::Posted;
            c.urn = Some(urn.to_owned());
            c.posted_at = Some(now);
            c.last_error = None;
        }
        next
    }

    /// The comment will not be posted; the post stays as it is.
    pub fn comment_failed(&self, error: PostError, now: DateTime<Utc>) -> Self {
        let mut next = self.next(now);
        next.comment_lease_until = None;
        if let Some(c) = next.first_comment.as_mut() {
            c.status = CommentStatus::Failed;
            c.last_error = Some(error);
        }
        next
    }

    /// The comment's attempt failed and will be tried again, with the error.
    pub fn comment_retry_later(&self, error: PostError, now: DateTime<Utc>) -> Self {
        let mut next = self.next(now);
        next.comment_lease_until = None;
        if let Some(c) = next.first_comment.as_mut() {
            c.last_error = Some(error);
        }
        next
    }

    /// The job that carries out this post's pending edit at LinkedIn.
    pub fn edit_job(&self, now: DateTime<Utc>) -> Job {
        self.job(JobAction::Edit, now)
    }

    /// The job that posts this post's first comment.
    pub fn comment_job(&self, now: DateTime<Utc>) -> Job {
        self.job(JobAction::Comment, now)
    }

    pub(super) fn job(&self, action: JobAction, now: DateTime<Utc>) -> Job {
        Job {
            action,
            tenant_id: self.tenant_id.clone(),
            post_id: self.id,
            enqueued_at: now,
            scheduled_at: None,
            due_at: None,
            post: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::examples;
    use crate::domain::posts::{Author, FailureCode, PostDraft, PostId};
    use std::time::Duration;

    fn post(scheduled: bool) -> Post {
        let c = examples::connection();
        let now = Utc::now();
        let draft = PostDraft {
            scheduled_at: scheduled.then(|| now + chrono::Duration::hours(1)),
            first_comment: Some("First!".into()),
            ..PostDraft::new(c.id, Author::Member(c.member_urn.clone()), "Hello")
        };
        Post::new(PostId::new(), c.tenant_id.clone(), draft, now)
    }

    fn published() -> Post {
        let now = Utc::now();
        post(false)
            .claim(now, Duration::from_secs(90), None)
            .unwrap()
            .published("urn:li:share:1", now)
    }

    fn shape(d: &EditDecision) -> String {
        match d {
            EditDecision::Local(p) => format!("local {}", p.text),
            EditDecision::AtLinkedIn(p) => {
                format!("linkedin {}", p.pending_edit.as_ref().unwrap().text)
            }
            EditDecision::Unchanged => "unchanged".into(),
            EditDecision::Refuse(_) => "refuse".into(),
        }
    }

    #[test]
    fn an_edit_is_local_before_publishing_at_linkedin_after_and_refused_in_between() {
        let now = Utc::now();
        let mut unknown = post(false);
        unknown.outcome_unknown = true;
        let mut deleting = published();
        deleting.delete_requested_at = Some(now);
        let publishing = post(false)
            .claim(now, Duration::from_secs(90), None)
            .unwrap();
        let pending = match published().request_edit("first", now) {
            EditDecision::AtLinkedIn(p) => p,
            other => panic!("{other:?}"),
        };
        let rows = [
            ("scheduled", post(true), "Bye", "local Bye"),
            ("queued", post(false), "Bye", "local Bye"),
            ("queued, same text", post(false), "Hello", "unchanged"),
            ("queued, outcome unknown", unknown, "Bye", "refuse"),
            ("publishing", publishing, "Bye", "refuse"),
            ("published", published(), "Bye", "linkedin Bye"),
            ("published, same text", published(), "Hello", "unchanged"),
            ("published, being deleted", deleting, "Bye", "refuse"),
            (
                "an edit pending: the later wins",
                pending.clone(),
                "second",
                "linkedin second",
            ),
            ("the pending text again", pending, "first", "unchanged"),
            ("deleted", published().deleted(now), "Bye", "refuse"),
            ("cancelled", post(true).cancelled(now), "Bye", "refuse"),
        ];
        for (name, post, text, expected) in rows {
            assert_eq!(shape(&post.request_edit(text, now)), expected, "{name}");
        }
    }

    #[test]
    fn a_local_edit_is_in_the_history_at_once() {
        let now = Utc::now();
        let EditDecision::Local(edited) = post(true).request_edit("Bye", now) else {
            panic!("local");
        };
        assert_eq!(edited.text, "Bye");
        assert_eq!(edited.version, 2, "a new version, written conditionally");
        let edit = &edited.edits[0];
        assert_eq!(
            (edit.text.as_str(), edit.previous_text.as_str()),
            ("Bye", "Hello")
        );
        assert_eq!(edit.applied_at, now);
    }

    #[test]
    fn an_edit_is_recorded_only_if_it_is_still_the_pending_one() {
        let now = Utc::now();
        let EditDecision::AtLinkedIn(first) = published().request_edit("first", now) else {
            panic!()
        };
        let EditDecision::AtLinkedIn(second) = first.request_edit("second", now) else {
            panic!()
        };
        assert!(
            second.edit_applied("first", now).is_none(),
            "replaced meanwhile"
        );
        let applied = second.edit_applied("second", now).unwrap();
        assert_eq!(applied.text, "second");
        assert!(applied.pending_edit.is_none());
        assert_eq!(applied.edits.len(), 1);
        assert_eq!(applied.edits[0].previous_text, "Hello");
        assert!(applied.edit_to_send().is_none());

        let mut deleting = second.clone();
        deleting.delete_requested_at = Some(now);
        assert!(
            deleting.edit_to_send().is_none(),
            "a delete wins over an edit"
        );
        assert!(deleting.edit_applied("second", now).is_none());

        let failed = second.edit_failed(PostError::new(FailureCode::Forbidden), now);
        assert_eq!(failed.status, PostStatus::Published);
        assert_eq!(failed.text, "Hello", "the old text stays");
        assert!(failed.pending_edit.is_none());
        let retried =
            second.edit_retry_later(PostError::new(FailureCode::LinkedinUnavailable), true, now);
        let p = retried.pending_edit.unwrap();
        assert_eq!((p.attempts, p.outcome_unknown), (1, true));
    }

    #[test]
    fn a_first_comment_is_claimed_once_per_attempt_and_only_on_a_published_post() {
        let now = Utc::now();
        let lease = Duration::from_secs(90);
        assert!(
            post(false).comment_claimed(now, lease).is_none(),
            "not published yet"
        );
        let claimed = published().comment_claimed(now, lease).unwrap();
        assert!(
            claimed.comment_claimed(now, lease).is_none(),
            "the lease holds"
        );
        assert_eq!(claimed.first_comment.as_ref().unwrap().attempts, 1);
        let posted = claimed.comment_posted("urn:li:comment:(urn:li:activity:1,2)", now);
        let c = posted.first_comment.as_ref().unwrap();
        assert_eq!(c.status, CommentStatus::Posted);
        let later = now + chrono::Duration::seconds(91);
        assert!(
            posted.comment_claimed(later, lease).is_none(),
            "posted once"
        );
        let retried = claimed.comment_retry_later(PostError::new(FailureCode::NotFound), now);
        assert!(
            retried.comment_claimed(now, lease).is_some(),
            "a retry frees it"
        );
        let failed = claimed.comment_failed(PostError::new(FailureCode::Forbidden), now);
        assert_eq!(failed.first_comment.unwrap().status, CommentStatus::Failed);
        assert_eq!(
            failed.status,
            PostStatus::Published,
            "the post stays published"
        );
    }
}
