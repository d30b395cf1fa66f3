//! Redrive: a job the DLQ recorded, put back for the same post after the cause was dealt with
//! (a reconnect, a new LinkedIn-Version, a fixed image). The post record decides, as for every
//! other change: a post that is live at LinkedIn is never published again.

use chrono::{DateTime, Utc};

use super::{CommentStatus, DeleteDecision, Job, JobAction, Post, PostStatus};

/// What retrying a failed job does to its post.
#[derive(Debug, Clone, PartialEq)]
pub enum Redrive {
    /// The post as it goes back to work, and the job that does it.
    Again(Box<Post>, Job),
    /// The job cannot run again; the text says why (shown to the tenant).
    Refuse(&'static str),
}

impl Post {
    /// The post with its failed `action` put back: a failed publish is queued again with its
    /// attempts given back, a failed delete of a live post asked for again, a failed first
    /// comment made pending again. An edit is not replayed: its text went with the failure,
    /// and the tenant sends it again.
    ///
    /// A publish whose outcome stayed unknown keeps that mark: the retry's create is answered
    /// with LinkedIn's duplicate error naming the live post if it was live after all, and the
    /// post ends published with that URN instead of twice.
    pub fn redrive(&self, action: JobAction, now: DateTime<Utc>) -> Redrive {
        match action {
            JobAction::Publish => self.publish_again(now),
            JobAction::Delete => self.delete_again(now),
            JobAction::Comment => self.comment_again(now),
            JobAction::Edit => Redrive::Refuse(
                "an edit LinkedIn refused is not replayed; send the text again with PATCH /v1/posts/{id}",
            ),
        }
    }

    /// Undoes a change whose job could not be queued (a redrive, an approval): the post as it
    /// was `before`, as the next version of this one (so the write is conditional like every
    /// other).
    pub fn back_to(&self, before: &Post, now: DateTime<Utc>) -> Self {
        let next = self.next(now);
        Self {
            version: next.version,
            updated_at: next.updated_at,
            write_token: next.write_token,
            made_from: next.made_from,
            ..before.clone()
        }
    }

    fn publish_again(&self, now: DateTime<Utc>) -> Redrive {
        match self.status {
            PostStatus::Failed => {
                let mut next = self.next(now);
                next.status = PostStatus::Queued;
                next.attempts = 0;
                next.rescues = 0;
                next.last_error = None;
                next.next_attempt_at = None;
                next.lease_until = None;
                next.first_attempt_at = None;
                // The job is new: its age counts from now, not from a scheduled time.
                let job = next.job(JobAction::Publish, now);
                Redrive::Again(Box::new(next), job)
            }
            PostStatus::Published | PostStatus::Deleted => Redrive::Refuse(
                "the post is live at LinkedIn (or was deleted there); it is not published again",
            ),
            _ => Redrive::Refuse("the post is not failed; nothing to retry"),
        }
    }

    fn delete_again(&self, now: DateTime<Utc>) -> Redrive {
        if self.status != PostStatus::Published {
            return Redrive::Refuse("the post is not live at LinkedIn; nothing to delete");
        }
        match self.request_delete(now) {
            DeleteDecision::DeleteAtLinkedIn(mut next) => {
                next.delete_attempts = 0;
                let job = next.job(JobAction::Delete, now);
                Redrive::Again(Box::new(next), job)
            }
            _ => Redrive::Refuse("a delete of this post is already under way"),
        }
    }

    fn comment_again(&self, now: DateTime<Utc>) -> Redrive {
        let failed = self
            .first_comment
            .as_ref()
            .is_some_and(|c| c.status == CommentStatus::Failed);
        let live = self.status == PostStatus::Published
            && self.linkedin_urn.is_some()
            && self.delete_requested_at.is_none();
        if !(failed && live) {
            return Redrive::Refuse(
                "the first comment is not failed, or its post is no longer live; nothing to retry",
            );
        }
        let mut next = self.next(now);
        next.comment_lease_until = None;
        if let Some(c) = next.first_comment.as_mut() {
            c.status = CommentStatus::Pending;
            c.attempts = 0;
            c.last_error = None;
        }
        let job = next.comment_job(now);
        Redrive::Again(Box::new(next), job)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::examples;
    use crate::domain::posts::{Author, FailureCode, PostDraft, PostError, PostId};
    use std::time::Duration;

    const LEASE: Duration = Duration::from_secs(90);

    fn draft() -> Post {
        let c = examples::connection();
        let at = Utc::now() - chrono::Duration::days(20);
        let draft = PostDraft {
            scheduled_at: Some(at + chrono::Duration::days(1)),
            first_comment: Some("First!".into()),
            ..PostDraft::new(c.id, Author::Member(c.member_urn.clone()), "Hello")
        };
        Post::new(PostId::new(), c.tenant_id.clone(), draft, at)
    }

    fn failed(outcome_unknown: bool) -> Post {
        let now = Utc::now() - chrono::Duration::days(18);
        let scheduled = draft();
        let mut claimed = scheduled.claim(now, LEASE, scheduled.scheduled_at).unwrap();
        claimed.outcome_unknown = outcome_unknown;
        claimed.failed(PostError::new(FailureCode::OutcomeUnknown), now)
    }

    fn published() -> Post {
        let now = Utc::now();
        let mut p = draft();
        p.status = PostStatus::Queued;
        p.claim(now, LEASE, None)
            .unwrap()
            .published("urn:li:share:1", now)
    }

    fn shape(r: &Redrive) -> String {
        match r {
            Redrive::Again(post, job) => format!("{:?} {:?}", post.status, job.action),
            Redrive::Refuse(_) => "refuse".into(),
        }
    }

    /// Each action from each state it can meet: only what failed goes back to work.
    #[test]
    fn only_a_failed_job_goes_back_and_a_live_post_is_never_published_again() {
        let now = Utc::now();
        let mut deleting = published();
        deleting.delete_requested_at = Some(now);
        let mut comment_failed =
            published().comment_failed(PostError::new(FailureCode::Forbidden), now);
        let comment_posted = published().comment_posted("urn:li:comment:1", now);
        let deleted = published().deleted(now);
        let mut queued = draft();
        queued.status = PostStatus::Queued;
        let (failed_known, failed_unknown, live, scheduled) =
            (failed(false), failed(true), published(), draft());
        let rows: Vec<(&str, &Post, JobAction, &str)> = vec![
            (
                "failed publish",
                &failed_known,
                JobAction::Publish,
                "Queued Publish",
            ),
            (
                "failed, maybe live",
                &failed_unknown,
                JobAction::Publish,
                "Queued Publish",
            ),
            ("published", &live, JobAction::Publish, "refuse"),
            ("deleted", &deleted, JobAction::Publish, "refuse"),
            ("scheduled", &scheduled, JobAction::Publish, "refuse"),
            ("queued", &queued, JobAction::Publish, "refuse"),
            (
                "live, delete failed",
                &live,
                JobAction::Delete,
                "Published Delete",
            ),
            ("delete under way", &deleting, JobAction::Delete, "refuse"),
            ("deleted, delete", &deleted, JobAction::Delete, "refuse"),
            ("failed, delete", &failed_known, JobAction::Delete, "refuse"),
            (
                "comment failed",
                &comment_failed,
                JobAction::Comment,
                "Published Comment",
            ),
            (
                "comment posted",
                &comment_posted,
                JobAction::Comment,
                "refuse",
            ),
            ("edit", &live, JobAction::Edit, "refuse"),
        ];
        for (name, post, action, want) in rows {
            assert_eq!(shape(&post.redrive(action, now)), want, "{name}");
        }
        comment_failed.delete_requested_at = Some(now);
        assert_eq!(
            shape(&comment_failed.redrive(JobAction::Comment, now)),
            "refuse",
            "a comment on a post being deleted"
        );
    }

    /// A redriven publish starts afresh (attempts, rescues, error, a job aged from now) but
    /// keeps what it knows: an unknown outcome and the media already uploaded.
    #[test]
    fn a_redriven_publish_starts_afresh_and_keeps_an_unknown_outcome() {
        let now = Utc::now();
        let mut before = failed(true);
        before.rescues = 2;
        before.media_urns = vec!["urn:li:image:1".into()];
        let Redrive::Again(next, job) = before.redrive(JobAction::Publish, now) else {
            panic!("not redriven");
        };
        assert_eq!(next.status, PostStatus::Queued);
        assert_eq!((next.attempts, next.rescues), (0, 0));
        assert_eq!(next.last_error, None);
        assert_eq!(next.first_attempt_at, None);
        assert!(next.outcome_unknown, "only LinkedIn's answer resolves it");
        assert_eq!(next.media_urns, before.media_urns);
        assert_eq!(next.version, before.version + 1);
        assert_eq!((job.action, job.post_id), (JobAction::Publish, before.id));
        assert_eq!((job.enqueued_at, job.scheduled_at), (now, None));
        // The queued post can be claimed by that job.
        assert!(next.claim(now, LEASE, job.scheduled_at).is_some());
    }

    #[test]
    fn a_back_to_is_the_post_as_it_was_one_version_on() {
        let now = Utc::now();
        let before = failed(false);
        let Redrive::Again(next, _) = before.redrive(JobAction::Publish, now) else {
            panic!("not redriven");
        };
        let back = next.back_to(&before, now);
        assert_eq!(back.status, PostStatus::Failed);
        assert_eq!(back.attempts, before.attempts);
        assert_eq!(back.last_error, before.last_error);
        assert_eq!(back.version, before.version + 2);
        assert_ne!(back.write_token, next.write_token);
    }

    #[test]
    fn a_redriven_delete_and_comment_start_their_count_again() {
        let now = Utc::now();
        let mut live = published();
        live.delete_attempts = 3;
        let Redrive::Again(next, _) = live.redrive(JobAction::Delete, now) else {
            panic!("delete not redriven");
        };
        assert_eq!(next.delete_attempts, 0);
        assert_eq!(next.delete_requested_at, Some(now));

        let mut failed = published().comment_failed(PostError::new(FailureCode::Forbidden), now);
        failed.first_comment.as_mut().unwrap().attempts = 4;
        let Redrive::Again(next, job) = failed.redrive(JobAction::Comment, now) else {
            panic!("comment not redriven");
        };
        let comment = next.first_comment.as_ref().unwrap();
        assert_eq!(
            (comment.status, comment.attempts),
            (CommentStatus::Pending, 0)
        );
        assert!(next.comment_to_post().is_some());
        assert_eq!(job.action, JobAction::Comment);
    }
}
