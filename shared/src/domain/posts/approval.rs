//! Approval before an automatic publish (the specification's "notification to user for manual
//! approval before auto-publish"): a post created with `requires_approval` waits in
//! `pending_approval` until the tenant approves it (then it follows its normal path, scheduled
//! or now) or rejects it. A post for later that is still waiting at its time does not go out:
//! it ends `approval_expired`. Approve, reject, cancel and the expiry race through the post's
//! version like every change, so exactly one of them wins.
//!
//! A pending post for later has its ordinary schedule (the publish job at its time) and, when
//! there is more than an hour to go, a reminder an hour before: the same kind of job without a
//! time of its own. What a firing does is the post's to decide ([`Post::on_approval_job`]).

use chrono::{DateTime, Utc};

use super::{Job, JobAction, Post, PostStatus};

/// How long before its time a post still waiting for approval is recalled to the tenant.
pub const APPROVAL_REMINDER: chrono::Duration = chrono::Duration::hours(1);

/// What a publish job's firing does to a post waiting for approval.
#[derive(Debug, Clone, PartialEq)]
pub enum ApprovalJob {
    /// The reminder an hour before: recorded on the post (tenants are told from the change).
    Remind(Box<Post>),
    /// Its time came without an approval: it does not go out.
    Expire(Box<Post>),
    /// Nothing to do (not waiting, reminded already, or a job for another time).
    Nothing,
}

impl Post {
    /// Approved at `now`: scheduled for its time, or queued to go out now. Refused when it
    /// is not waiting for approval or its time has come (it expires, or expired).
    pub fn approve(&self, now: DateTime<Utc>) -> Result<Self, &'static str> {
        self.awaiting_approval()?;
        if self.scheduled_at.is_some_and(|at| at <= now) {
            return Err("the post's time has come without an approval; it will not go out");
        }
        let mut next = self.next(now);
        next.status = match self.scheduled_at {
            Some(_) => PostStatus::Scheduled,
            None => PostStatus::Queued,
        };
        next.approved_at = Some(now);
        Ok(next)
    }

    /// Rejected at `now`: it never goes out.
    pub fn reject(&self, now: DateTime<Utc>) -> Result<Self, &'static str> {
        self.awaiting_approval()?;
        let mut next = self.next(now);
        next.status = PostStatus::Rejected;
        Ok(next)
    }

    fn awaiting_approval(&self) -> Result<(), &'static str> {
        match self.status {
            PostStatus::PendingApproval => Ok(()),
            PostStatus::Rejected => Err("the post was rejected"),
            PostStatus::ApprovalExpired => Err("the post's time came without an approval"),
            _ if self.approved_at.is_some() => Err("the post was approved already"),
            _ => Err("the post is not waiting for approval"),
        }
    }

    /// What a publish job fired for this post does while it waits for approval: the job made
    /// for its time expires it; a job without a time (the reminder) records the reminder once.
    pub fn on_approval_job(&self, job: &Job, now: DateTime<Utc>) -> ApprovalJob {
        if self.status != PostStatus::PendingApproval || job.action != JobAction::Publish {
            return ApprovalJob::Nothing;
        }
        match (job.scheduled_at, self.scheduled_at) {
            (Some(fired_for), Some(at)) if fired_for == at && at <= job.clock(now) => {
                let mut next = self.next(now);
                next.status = PostStatus::ApprovalExpired;
                ApprovalJob::Expire(Box::new(next))
            }
            (None, Some(at)) if self.approval_reminded_at.is_none() && now < at => {
                let mut next = self.next(now);
                next.approval_reminded_at = Some(now);
                ApprovalJob::Remind(Box::new(next))
            }
            _ => ApprovalJob::Nothing,
        }
    }

    /// The reminder's job and time, for a post for later still waiting with more than
    /// [`APPROVAL_REMINDER`] to go.
    pub fn approval_reminder(&self, now: DateTime<Utc>) -> Option<(DateTime<Utc>, Job)> {
        let at = self.scheduled_at? - APPROVAL_REMINDER;
        (self.status == PostStatus::PendingApproval && at > now).then(|| {
            let mut job = self.job(JobAction::Publish, now);
            job.due_at = Some(at);
            (at, job)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::examples;
    use crate::domain::posts::{Author, PostDraft, PostId};

    fn pending(scheduled_at: Option<DateTime<Utc>>) -> Post {
        let c = examples::connection();
        let draft = PostDraft {
            scheduled_at,
            requires_approval: true,
            ..PostDraft::new(c.id, Author::Member(c.member_urn.clone()), "Hello")
        };
        Post::new(PostId::new(), c.tenant_id.clone(), draft, Utc::now())
    }

    fn shape(r: Result<Post, &str>) -> String {
        r.map(|p| p.status.as_str().to_owned())
            .unwrap_or_else(|_| "refused".into())
    }

    #[test]
    fn approve_and_reject_decide_once_and_only_while_waiting() {
        let now = Utc::now();
        let later = Some(now + chrono::Duration::hours(3));
        let past = Some(now - chrono::Duration::minutes(1));
        assert_eq!(pending(None).status, PostStatus::PendingApproval);
        let approved = pending(later).approve(now).unwrap();
        let rejected = pending(later).reject(now).unwrap();
        let rows: Vec<(&str, Result<Post, &str>, &str)> = vec![
            ("for now, approved", pending(None).approve(now), "queued"),
            (
                "for later, approved",
                pending(later).approve(now),
                "scheduled",
            ),
            ("its time passed", pending(past).approve(now), "refused"),
            ("rejected", pending(later).reject(now), "rejected"),
            ("approved twice", approved.approve(now), "refused"),
            ("rejected after approval", approved.reject(now), "refused"),
            ("approved after rejection", rejected.approve(now), "refused"),
            ("rejected twice", rejected.reject(now), "refused"),
        ];
        for (name, result, want) in rows {
            assert_eq!(shape(result), want, "{name}");
        }
        assert_eq!(approved.approved_at, Some(now));
        assert_eq!(approved.version, pending(later).version + 1);
    }

    /// The slot a pending post for later holds stays held when it is approved and is given
    /// back when it is rejected, expires or goes out.
    #[test]
    fn a_pending_post_for_later_holds_its_scheduled_slot_until_it_ends() {
        let now = Utc::now();
        let later = Some(now + chrono::Duration::hours(3));
        assert!(pending(later).holds_scheduled_slot());
        assert!(!pending(None).holds_scheduled_slot());
        let approved = pending(later).approve(now).unwrap();
        assert!(approved.holds_scheduled_slot() && !approved.leaves_scheduled());
        assert!(pending(later).reject(now).unwrap().leaves_scheduled());
        let queued = pending(None).approve(now).unwrap();
        assert!(!queued.leaves_scheduled(), "held no slot");
    }

    #[test]
    fn the_job_at_its_time_expires_it_and_the_job_before_reminds_once() {
        let now = Utc::now();
        let at = now + chrono::Duration::hours(3);
        let post = pending(Some(at));
        let (remind_at, reminder) = post.approval_reminder(now).unwrap();
        assert_eq!(remind_at, at - APPROVAL_REMINDER);
        assert_eq!(
            reminder.scheduled_at, None,
            "the reminder can never claim the post"
        );
        let reminded = match post.on_approval_job(&reminder, remind_at) {
            ApprovalJob::Remind(p) => *p,
            other => panic!("{other:?}"),
        };
        assert_eq!(reminded.approval_reminded_at, Some(remind_at));
        assert_eq!(
            reminded.on_approval_job(&reminder, remind_at),
            ApprovalJob::Nothing
        );

        let at_its_time = post.publish_job(at);
        match reminded.on_approval_job(&at_its_time, at) {
            ApprovalJob::Expire(p) => assert_eq!(p.status, PostStatus::ApprovalExpired),
            other => panic!("{other:?}"),
        }
        // A job for a time it was moved from, or an approved post: nothing.
        let mut moved = at_its_time.clone();
        moved.scheduled_at = Some(at - chrono::Duration::minutes(5));
        assert_eq!(post.on_approval_job(&moved, at), ApprovalJob::Nothing);
        let approved = post.approve(now).unwrap();
        assert_eq!(
            approved.on_approval_job(&at_its_time, at),
            ApprovalJob::Nothing
        );
        // No reminder within the hour, nor for a post for now.
        assert!(pending(Some(now + chrono::Duration::minutes(30)))
            .approval_reminder(now)
            .is_none());
        assert!(pending(None).approval_reminder(now).is_none());
    }
}
