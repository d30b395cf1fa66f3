//! Posts: what a tenant asks to publish, the record's life (its state machine), the queue job
//! and the retry schedule. No I/O here.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::{Connection, ConnectionId, MemberUrn, TenantId};

mod approval;
mod content;
mod edit;
mod failure;
mod metrics;
mod next_step;
mod redrive;
mod warnings;

pub use approval::ApprovalJob;
pub use content::{
    Article, CommentStatus, FirstComment, MediaItem, MediaKind, Poll, PollDuration, PostKind,
    PostWarning, ResolvedCard, MAX_ALT_TEXT_CHARS, MAX_ARTICLE_DESCRIPTION_CHARS,
    MAX_DOCUMENT_BYTES, MAX_IMAGES, MAX_POLL_OPTION_CHARS, MAX_POLL_QUESTION_CHARS,
    MAX_TITLE_CHARS, MAX_VIDEO_BYTES, MIN_VIDEO_BYTES, POLL_OPTIONS,
};
pub use edit::{EditDecision, PendingEdit, PostEdit};
pub use failure::FailureCode;
pub use metrics::{
    MetricCounts, MetricsSource, MetricsStatus, PostMetrics, Unavailable as MetricsUnavailable,
    DEFAULT_METRICS_MAX_AGE, METRICS_INTERVAL,
};
pub use next_step::{next_step, Outcome, Step, ThrottleScope, AFTER_REFRESH};
pub use redrive::Redrive;
pub use warnings::{
    publish_day, warnings, MEMBER_DAILY_LIMIT, MEMBER_POSTS_PER_DAY, RECONNECT_BEFORE_PUBLISH,
};

/// LinkedIn's commentary limit.
pub const MAX_TEXT_CHARS: usize = 3000;
/// Attempts per job, the first included (the spec's "at most 4 attempts"). A post whose
/// outcome is unknown keeps trying past this, more slowly, until it is resolved or the job
/// is [`MAX_JOB_AGE`] old: failing it could report a live post as failed.
pub const MAX_ATTEMPTS: u32 = 4;
/// The wait between attempts that only try to resolve an unknown outcome after
/// [`MAX_ATTEMPTS`].
pub const RESOLVE_INTERVAL: Duration = Duration::from_secs(15 * 60);
/// A post `queued` or `publishing` with no live lease and no change for this long is stranded.
pub const STRANDED_AFTER: chrono::Duration = chrono::Duration::minutes(15);
/// Rescues of a stranded post before it fails as STRANDED (nothing loops forever).
pub const MAX_RESCUES: u32 = 3;
/// A job older than this goes to the DLQ instead of being tried again.
pub const MAX_JOB_AGE: chrono::Duration = chrono::Duration::days(7);
/// How far ahead a post may be scheduled.
pub const MAX_SCHEDULE_AHEAD: chrono::Duration = chrono::Duration::days(365);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PostId(Uuid);

impl PostId {
    /// The name of the post's one-time schedule (one per post, so a move replaces it).
    pub fn schedule_name(self) -> String {
        format!("post-{self}")
    }

    /// The name of the reminder to approve the post, an hour before its time.
    pub fn reminder_schedule_name(self) -> String {
        format!("post-{self}-reminder")
    }

    pub fn new() -> Self {
        Self(Uuid::new_v4())
    }
    pub fn parse(raw: &str) -> Option<Self> {
        Uuid::parse_str(raw).ok().map(Self)
    }
}

impl Default for PostId {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Display for PostId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::EnumString,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum PostStatus {
    /// Waiting for the tenant's approval before it may go out (`requires_approval`).
    PendingApproval,
    Scheduled,
    Queued,
    Publishing,
    Published,
    Failed,
    Cancelled,
    Deleted,
    /// Not approved: it never goes out.
    Rejected,
    /// Still waiting for approval at its time: it did not go out.
    ApprovalExpired,
}

impl PostStatus {
    /// The status as the API shows it (serde's and strum's names are the same).
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Visibility {
    Public,
    Connections,
}

/// Who a post is by: the connection's member, or an organization the member may post for.
/// Stored and shown as its URN.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Author {
    Member(MemberUrn),
    /// `urn:li:organization:N`.
    Organization(String),
}

impl Author {
    pub fn urn(&self) -> &str {
        match self {
            Self::Member(urn) => urn.as_str(),
            Self::Organization(urn) => urn,
        }
    }

    pub fn is_organization(&self) -> bool {
        matches!(self, Self::Organization(_))
    }

    /// The author a request names for `connection`: `member` (the default) or an
    /// organization the member administers with a role LinkedIn lets post. The error says why
    /// not, for the tenant.
    pub fn for_connection(raw: Option<&str>, connection: &Connection) -> Result<Self, String> {
        match raw {
            None | Some("member") => Ok(Self::Member(connection.member_urn.clone())),
            Some(urn) if urn.starts_with(ORGANIZATION_PREFIX) => {
                match connection.organizations.iter().find(|o| o.urn == urn) {
                    Some(org) if org.can_post() => Ok(Self::Organization(urn.to_owned())),
                    Some(org) => Err(format!(
                        "the member's role {} on {urn} cannot post; ADMINISTRATOR, CONTENT_ADMINISTRATOR or DIRECT_SPONSORED_CONTENT_POSTER can",
                        org.role
                    )),
                    None => Err(format!("the connection does not administer {urn}")),
                }
            }
            Some(_) => Err(
                "author must be \"member\" or an urn:li:organization:N the connection administers"
                    .into(),
            ),
        }
    }
}

const ORGANIZATION_PREFIX: &str = "urn:li:organization:";

impl TryFrom<String> for Author {
    type Error = String;

    fn try_from(urn: String) -> Result<Self, String> {
        if let Some(member) = MemberUrn::parse(&urn) {
            return Ok(Self::Member(member));
        }
        match urn.strip_prefix(ORGANIZATION_PREFIX) {
            Some(n) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
                Ok(Self::Organization(urn))
            }
            _ => Err(format!("{urn} is not a person or organization URN")),
        }
    }
}

impl From<Author> for String {
    fn from(author: Author) -> Self {
        author.urn().to_owned()
    }
}

impl std::fmt::Display for Author {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.urn())
    }
}

/// A validated post, ready to record.
#[derive(Debug, Clone, PartialEq)]
pub struct PostDraft {
    pub connection_id: ConnectionId,
    pub author: Author,
    pub text: String,
    pub media: Vec<MediaItem>,
    pub article: Option<Article>,
    pub poll: Option<Poll>,
    /// The author's first comment, posted once the post is published.
    pub first_comment: Option<String>,
    pub visibility: Visibility,
    /// When to publish; `None` publishes now.
    pub scheduled_at: Option<DateTime<Utc>>,
    /// What the tenant should know before the post goes out (it is accepted).
    pub warnings: Vec<PostWarning>,
    /// Held as `pending_approval` until the tenant approves it.
    pub requires_approval: bool,
}

impl PostDraft {
    /// A public text post by `author`, to publish now: the other fields are set from here.
    pub fn new(connection_id: ConnectionId, author: Author, text: impl Into<String>) -> Self {
        Self {
            connection_id,
            author,
            text: text.into(),
            media: Vec::new(),
            article: None,
            poll: None,
            first_comment: None,
            visibility: Visibility::Public,
            scheduled_at: None,
            warnings: Vec::new(),
            requires_approval: false,
        }
    }
}

/// Why the last attempt failed, as shown to the tenant: a code and its fixed text (never what
/// LinkedIn or AWS said, which goes to the logs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PostError {
    pub code: FailureCode,
    pub message: String,
}

impl PostError {
    /// `code` with its fixed text.
    pub fn new(code: FailureCode) -> Self {
        Self {
            code,
            message: code.message().into(),
        }
    }

    /// `code` for an image of the tenant's: the image's own fixed text, which says what the
    /// tenant can fix (address, size, type) and nothing about how its host answered.
    pub fn of_image(code: FailureCode, image: &crate::media::MediaError) -> Self {
        Self {
            code,
            message: image.to_string(),
        }
    }
}

/// A post as recorded. (The API shows its own view of it.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Post {
    #[serde(rename = "post_id")]
    pub id: PostId,
    pub tenant_id: TenantId,
    pub connection_id: ConnectionId,
    pub author: Author,
    pub text: String,
    pub media: Vec<MediaItem>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub article: Option<Article>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poll: Option<Poll>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_comment: Option<FirstComment>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<PostWarning>,
    pub visibility: Visibility,
    pub status: PostStatus,
    /// When a scheduled post is to be published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linkedin_urn: Option<String>,
    /// Publish attempts so far, the current one included.
    pub attempts: u32,
    /// Delete attempts that failed and will be retried.
    #[serde(default)]
    pub delete_attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<PostError>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_requested_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<DateTime<Utc>>,
    pub version: u64,
    /// The last attempt's outcome is unknown (timeout or 5xx after sending): the next attempt
    /// must find out what happened instead of posting blindly.
    #[serde(default)]
    pub outcome_unknown: bool,
    /// Uploaded media, in order, so a retry does not upload again.
    #[serde(default)]
    pub media_urns: Vec<String>,
    /// A link card as it goes out, once the publisher has read its page and uploaded its
    /// thumbnail (see [`ResolvedCard`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card: Option<ResolvedCard>,
    /// While `publishing`: until when the claiming invocation owns the post.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_until: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_attempt_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// Names the write that produced this version. A conditional write whose answer was lost
    /// (and whose SDK retry then failed its own condition) reads the record back: if it holds
    /// this token, the write was ours and it took effect.
    #[serde(default)]
    pub write_token: Uuid,
    /// How many times the reconciler put this post back on the queue after it was stranded
    /// (no live lease, no retry due); after [`MAX_RESCUES`] it fails as STRANDED.
    #[serde(default)]
    pub rescues: u32,
    /// While `queued` after a failed attempt: when the next attempt is due.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// A published post's edit that LinkedIn has not taken yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_edit: Option<PendingEdit>,
    /// Changes of the text, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub edits: Vec<PostEdit>,
    /// Created with `requires_approval`: held until approved.
    #[serde(default)]
    pub requires_approval: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_at: Option<DateTime<Utc>>,
    /// When the reminder to approve it went out (an hour before its time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_reminded_at: Option<DateTime<Utc>>,
    /// When the reconciler found the post's time passed without its schedule firing (and
    /// put it on the queue late).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_missed_at: Option<DateTime<Utc>>,
    /// The latest engagement metrics (or why there are none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<PostMetrics>,
    /// While published and young enough: when its metrics are read next.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_due_at: Option<DateTime<Utc>>,
    /// While the first comment is being posted: until when the attempt owns it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment_lease_until: Option<DateTime<Utc>>,
    /// The status of the version this one was made from (not stored): the store sees a post
    /// leave `scheduled` by it, which gives back one of its tenant's scheduled-post slots in
    /// the same write.
    #[serde(skip)]
    made_from: Option<PostStatus>,
}

impl Post {
    pub fn new(id: PostId, tenant_id: TenantId, draft: PostDraft, now: DateTime<Utc>) -> Self {
        Self {
            id,
            tenant_id,
            connection_id: draft.connection_id,
            author: draft.author,
            text: draft.text,
            media: draft.media,
            article: draft.article,
            poll: draft.poll,
            first_comment: draft.first_comment.map(FirstComment::pending),
            warnings: draft.warnings,
            visibility: draft.visibility,
            status: if draft.requires_approval {
                PostStatus::PendingApproval
            } else if draft.scheduled_at.is_some() {
                PostStatus::Scheduled
            } else {
                PostStatus::Queued
            },
            requires_approval: draft.requires_approval,
            approved_at: None,
            approval_reminded_at: None,
            scheduled_at: draft.scheduled_at,
            linkedin_urn: None,
            attempts: 0,
            delete_attempts: 0,
            last_error: None,
            created_at: now,
            updated_at: now,
            published_at: None,
            delete_requested_at: None,
            deleted_at: None,
            version: 1,
            outcome_unknown: false,
            media_urns: Vec::new(),
            card: None,
            lease_until: None,
            first_attempt_at: None,
            last_attempt_at: None,
            write_token: Uuid::new_v4(),
            rescues: 0,
            next_attempt_at: None,
            pending_edit: None,
            edits: Vec::new(),
            comment_lease_until: None,
            schedule_missed_at: None,
            metrics: None,
            metrics_due_at: None,
            made_from: None,
        }
    }

    fn next(&self, now: DateTime<Utc>) -> Self {
        Self {
            version: self.version + 1,
            updated_at: now,
            write_token: Uuid::new_v4(),
            made_from: Some(self.status),
            ..self.clone()
        }
    }

    /// What the post carries, which decides what is uploaded and sent.
    pub fn kind(&self) -> PostKind {
        PostKind::of(&self.media, self.article.as_ref(), self.poll.as_ref())
    }

    /// Whether the post holds one of its tenant's scheduled-post slots: scheduled, or waiting
    /// for approval with a time.
    pub fn holds_scheduled_slot(&self) -> bool {
        holds_slot(self.status, self.scheduled_at)
    }

    /// A scheduled post whose time passed without its schedule firing, found at `now`: the
    /// miss is recorded once (tenants are told from the change). A post waiting for approval
    /// is not: its time passing expires it.
    pub fn schedule_missed(&self, now: DateTime<Utc>) -> Option<Self> {
        let missed = self.status == PostStatus::Scheduled
            && self.schedule_missed_at.is_none()
            && self.scheduled_at.is_some_and(|at| at <= now);
        missed.then(|| {
            let mut next = self.next(now);
            next.schedule_missed_at = Some(now);
            next
        })
    }

    /// Whether this version gives up the post's scheduled-post slot (it goes out, is
    /// cancelled, rejected or expired): its tenant's count goes down with it.
    pub fn leaves_scheduled(&self) -> bool {
        self.made_from
            .is_some_and(|before| holds_slot(before, self.scheduled_at))
            && !self.holds_scheduled_slot()
    }

    /// Takes the post for one publish attempt, if nobody holds it: a queued post, one whose
    /// previous holder's lease ran out (it crashed or timed out mid-attempt), or a scheduled
    /// post whose time the job was made for (`fired_for`): a job from before a move, or for a
    /// cancelled post, takes nothing. A post taken over from an expired lease has an unknown
    /// outcome: its earlier holder may have sent it to LinkedIn before it vanished.
    pub fn claim(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        fired_for: Option<DateTime<Utc>>,
    ) -> Option<Self> {
        let free = match self.status {
            PostStatus::Queued => true,
            PostStatus::Scheduled => fired_for.is_some() && fired_for == self.scheduled_at,
            PostStatus::Publishing => self.lease_until.is_none_or(|until| until <= now),
            _ => false,
        };
        free.then(|| {
            let mut next = self.next(now);
            next.outcome_unknown |= self.status == PostStatus::Publishing;
            next.status = PostStatus::Publishing;
            next.next_attempt_at = None;
            next.attempts += 1;
            next.lease_until =
                Some(now + chrono::Duration::from_std(lease).expect("bounded lease"));
            next.first_attempt_at.get_or_insert(now);
            next.last_attempt_at = Some(now);
            next
        })
    }

    pub fn published(&self, urn: &str, now: DateTime<Utc>) -> Self {
        let mut next = self.next(now);
        next.status = PostStatus::Published;
        next.linkedin_urn = Some(urn.to_owned());
        next.published_at = Some(now);
        next.lease_until = None;
        next.last_error = None;
        next.outcome_unknown = false;
        next.metrics_due_at = Some(now + METRICS_INTERVAL);
        next
    }

    /// Back to the queue for a later attempt. `outcome_unknown` is sticky until resolved.
    pub fn retry_later(
        &self,
        error: PostError,
        outcome_unknown: bool,
        now: DateTime<Utc>,
        retry_at: DateTime<Utc>,
    ) -> Self {
        let mut next = self.next(now);
        next.status = PostStatus::Queued;
        next.lease_until = None;
        next.last_error = Some(error);
        next.outcome_unknown |= outcome_unknown;
        next.next_attempt_at = Some(retry_at);
        next
    }

    pub fn failed(&self, error: PostError, now: DateTime<Utc>) -> Self {
        let mut next = self.next(now);
        next.status = PostStatus::Failed;
        next.lease_until = None;
        next.last_error = Some(error);
        next
    }

    /// Back to the queue with the attempt this claim counted given back, when waiting is not
    /// a failed attempt: LinkedIn is processing the post's images, the invocation ran short of
    /// time before anything was sent, or a token is outliving LinkedIn's propagation delay.
    pub fn handed_back(&self, now: DateTime<Utc>, retry_at: DateTime<Utc>) -> Self {
        let mut next = self.next(now);
        next.status = PostStatus::Queued;
        next.lease_until = None;
        next.attempts = next.attempts.saturating_sub(1);
        next.next_attempt_at = Some(retry_at);
        next
    }

    /// Held back until `until` by a limit of LinkedIn's, with the attempt given back and the
    /// reason on the post: nothing was sent.
    pub fn waiting(&self, error: PostError, now: DateTime<Utc>, until: DateTime<Utc>) -> Self {
        let mut next = self.handed_back(now, until);
        next.last_error = Some(error);
        next
    }

    pub fn with_media_urns(&self, urns: Vec<String>, now: DateTime<Utc>) -> Self {
        let mut next = self.next(now);
        next.media_urns = urns;
        next
    }

    /// The link card as it will go out, remembered for the attempts that follow.
    pub fn with_card(&self, card: ResolvedCard, now: DateTime<Utc>) -> Self {
        let mut next = self.next(now);
        next.card = Some(card);
        next
    }

    /// A cancel whose post may be live: the last attempt's outcome is unknown. The next attempt
    /// finds out (LinkedIn's duplicate answer names the live post) and deletes it; only a post
    /// proven never live ends `cancelled`.
    pub fn cancel_pending(&self) -> bool {
        self.delete_requested_at.is_some()
            && matches!(self.status, PostStatus::Queued | PostStatus::Publishing)
    }

    /// The cancel of a post proven never live.
    pub fn cancelled(&self, now: DateTime<Utc>) -> Self {
        let mut next = self.next(now);
        next.status = PostStatus::Cancelled;
        next.lease_until = None;
        next
    }

    /// A delete at LinkedIn that will not succeed: the post stays published, with the error.
    pub fn delete_failed(&self, error: PostError, now: DateTime<Utc>) -> Self {
        let mut next = self.next(now);
        next.delete_requested_at = None;
        next.last_error = Some(error);
        next
    }

    /// A delete at LinkedIn that failed and will be tried again: counted, with the error.
    pub fn delete_retry_later(&self, error: PostError, now: DateTime<Utc>) -> Self {
        let mut next = self.next(now);
        next.delete_attempts += 1;
        next.last_error = Some(error);
        next
    }

    /// The number of the current attempt at `action`: a publish's and a first comment's
    /// attempts are counted when they are claimed, a delete's and an edit's when one fails.
    pub fn attempt_number(&self, action: JobAction) -> u32 {
        match action {
            JobAction::Publish => self.attempts,
            JobAction::Delete => self.delete_attempts + 1,
            JobAction::Edit => self.pending_edit.as_ref().map_or(0, |p| p.attempts) + 1,
            JobAction::Comment => self.first_comment.as_ref().map_or(0, |c| c.attempts),
        }
    }

    /// A delete request withdrawn because its job could not be enqueued (a later DELETE
    /// tries again).
    pub fn delete_withdrawn(&self, now: DateTime<Utc>) -> Self {
        let mut next = self.next(now);
        next.delete_requested_at = None;
        next
    }

    /// Stranded in `queued` or `publishing` with nothing due to move it: no live lease, no
    /// retry due, and no change for [`STRANDED_AFTER`] (a queued post's job may simply be
    /// waiting its turn, so it gets that long after its last change or its planned retry).
    pub fn is_stranded(&self, now: DateTime<Utc>) -> bool {
        self.stranded_from().is_some_and(|at| at <= now)
    }

    /// From when the post counts as stranded if nothing changes it: [`STRANDED_AFTER`] past
    /// its last change, its planned retry or the end of its claim's lease, whichever is last.
    /// `None` for posts that nothing needs to move (scheduled or finished).
    pub fn stranded_from(&self) -> Option<DateTime<Utc>> {
        let quiet_since = match self.status {
            PostStatus::Queued => self
                .updated_at
                .max(self.next_attempt_at.unwrap_or_default()),
            PostStatus::Publishing => self.updated_at.max(self.lease_until.unwrap_or_default()),
            _ => return None,
        };
        Some(quiet_since + STRANDED_AFTER)
    }

    /// What the reconciler does with this post, found stranded: put it back on the queue
    /// (counted), or after [`MAX_RESCUES`] give it up as STRANDED. A post that may be live (its
    /// outcome unknown, or taken from `publishing`) is never given up on a count: only
    /// LinkedIn's answer can say, so it is put back until it is [`MAX_JOB_AGE`] old, and then
    /// fails OUTCOME_UNKNOWN (check the member's feed), never STRANDED.
    pub fn after_stranded(&self, now: DateTime<Utc>) -> Stranded {
        if self.rescues < MAX_RESCUES {
            return Stranded::Rescue(Box::new(self.rescued(now)));
        }
        let may_be_live = self.outcome_unknown || self.status == PostStatus::Publishing;
        let since = self.first_attempt_at.unwrap_or(self.created_at);
        match (may_be_live, now - since > MAX_JOB_AGE) {
            (true, false) => Stranded::Rescue(Box::new(self.rescued(now))),
            (true, true) => Stranded::GiveUp(FailureCode::OutcomeUnknown),
            (false, _) => Stranded::GiveUp(FailureCode::Stranded),
        }
    }

    /// Back on the queue after being stranded, counted. A post that was `publishing` keeps an
    /// unknown outcome.
    pub fn rescued(&self, now: DateTime<Utc>) -> Self {
        let mut next = self.next(now);
        next.outcome_unknown |= self.status == PostStatus::Publishing;
        next.status = PostStatus::Queued;
        next.lease_until = None;
        next.rescues += 1;
        next
    }

    /// What `DELETE /v1/posts/{id}` does to a post in each state.
    pub fn request_delete(&self, now: DateTime<Utc>) -> DeleteDecision {
        match self.status {
            PostStatus::Queued if self.outcome_unknown => {
                if self.delete_requested_at.is_some() {
                    return DeleteDecision::Unchanged;
                }
                let mut next = self.next(now);
                next.delete_requested_at = Some(now);
                DeleteDecision::ResolveThenDelete(next)
            }
            PostStatus::PendingApproval | PostStatus::Scheduled | PostStatus::Queued => {
                let mut next = self.next(now);
                next.status = PostStatus::Cancelled;
                DeleteDecision::Cancel(next)
            }
            PostStatus::Published if self.delete_requested_at.is_none() => {
                let mut next = self.next(now);
                next.delete_requested_at = Some(now);
                DeleteDecision::DeleteAtLinkedIn(next)
            }
            PostStatus::Published
            | PostStatus::Cancelled
            | PostStatus::Deleted
            | PostStatus::Rejected
            | PostStatus::ApprovalExpired => DeleteDecision::Unchanged,
            PostStatus::Publishing => DeleteDecision::Refuse(
                "the post is being published right now; try again in a minute",
            ),
            PostStatus::Failed => {
                DeleteDecision::Refuse("a failed post was never published; nothing to delete")
            }
        }
    }

    /// A scheduled post moved to `at`; `None` if it is no longer scheduled.
    pub fn moved(&self, at: DateTime<Utc>, now: DateTime<Utc>) -> Option<Self> {
        (self.status == PostStatus::Scheduled).then(|| {
            let mut next = self.next(now);
            next.scheduled_at = Some(at);
            next
        })
    }

    /// A move undone (its schedule could not be moved): back at `original`'s time, as a new
    /// version.
    pub fn moved_back(&self, original: &Post, now: DateTime<Utc>) -> Self {
        let mut next = self.next(now);
        next.scheduled_at = original.scheduled_at;
        next
    }

    /// The job that publishes this post: for a scheduled post, made for its time.
    pub fn publish_job(&self, enqueued_at: DateTime<Utc>) -> Job {
        Job {
            action: JobAction::Publish,
            tenant_id: self.tenant_id.clone(),
            post_id: self.id,
            enqueued_at: self.scheduled_at.unwrap_or(enqueued_at),
            scheduled_at: self.scheduled_at,
            due_at: Some(enqueued_at),
            post: None,
        }
    }

    pub fn deleted(&self, now: DateTime<Utc>) -> Self {
        let mut next = self.next(now);
        next.status = PostStatus::Deleted;
        next.deleted_at = Some(now);
        next.last_error = None;
        next
    }
}

fn holds_slot(status: PostStatus, scheduled_at: Option<DateTime<Utc>>) -> bool {
    status == PostStatus::Scheduled
        || (status == PostStatus::PendingApproval && scheduled_at.is_some())
}

/// What becomes of a stranded post (see [`Post::after_stranded`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Stranded {
    Rescue(Box<Post>),
    GiveUp(FailureCode),
}

#[derive(Debug, Clone, PartialEq)]
pub enum DeleteDecision {
    Cancel(Post),
    DeleteAtLinkedIn(Post),
    /// The post may be live (its last attempt's outcome is unknown): the intent is recorded
    /// and the next attempt resolves it (deleted if live, cancelled if proven never live).
    ResolveThenDelete(Post),
    Unchanged,
    Refuse(&'static str),
}

/// What the publisher is asked to do, as an SQS message body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub action: JobAction,
    pub tenant_id: TenantId,
    pub post_id: PostId,
    /// When the job went on the queue (for a scheduled post: its time).
    pub enqueued_at: DateTime<Utc>,
    /// For a scheduled post, the time this job was made for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled_at: Option<DateTime<Utc>>,
    /// The time the job was set to run at (a wait past SQS's longest delay, a sweep), by the
    /// clock of whoever set it: see [`Job::clock`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_at: Option<DateTime<Utc>>,
    /// The post as whoever queued the job had just recorded it: the claim starts from it
    /// instead of reading it, and is one conditional write while the post is still that
    /// version (see `PostStore::claim`). Only the API's first enqueue carries it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post: Option<Box<Post>>,
}

impl Job {
    /// This job, carrying `post` as just recorded.
    pub fn carrying(self, post: &Post) -> Self {
        Self {
            post: Some(Box::new(post.clone())),
            ..self
        }
    }

    /// The time as this job knows it: `now`, or the time it was set to run at if that is
    /// later. A job delivered for its time is at its time, even by a clock that lags the
    /// scheduler's (so a wait for LinkedIn's reset is not waited again).
    pub fn clock(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now.max(self.due_at.unwrap_or(now))
    }

    /// This job, set to run at `at`.
    pub fn due(&self, at: DateTime<Utc>) -> Self {
        Self {
            due_at: Some(at),
            ..self.clone()
        }
    }
}

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::EnumString,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum JobAction {
    Publish,
    Delete,
    /// Carry a published post's pending edit out at LinkedIn.
    Edit,
    /// Post a published post's first comment.
    Comment,
}

impl JobAction {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// The wait before attempt `attempt + 1`: 1 s × 2^attempt plus up to 1 s of jitter, capped at
/// 60 s, and never shorter than what LinkedIn asked for (Retry-After, daily reset).
pub fn retry_delay(attempt: u32, at_least: Option<Duration>) -> Duration {
    let base = Duration::from_secs(1u64 << attempt.min(6)).min(Duration::from_secs(60));
    let jitter = Duration::from_millis(rand::rng().random_range(0..1000));
    let backoff = (base + jitter).min(Duration::from_secs(60));
    at_least.map_or(backoff, |floor| floor.max(backoff))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::examples;

    #[test]
    fn retries_back_off_exponentially_with_jitter_up_to_a_minute() {
        for attempt in 0..10 {
            let d = retry_delay(attempt, None);
            let base = Duration::from_secs(1 << attempt.min(6)).min(Duration::from_secs(60));
            assert!(
                d >= base.min(Duration::from_secs(60))
                    && d <= Duration::from_secs(60).max(base + Duration::from_secs(1)),
                "{attempt}: {d:?}"
            );
            assert!(d <= Duration::from_secs(60));
        }
    }

    #[test]
    fn a_retry_never_comes_before_linkedin_allows_it() {
        let d = retry_delay(0, Some(Duration::from_secs(3600)));
        assert_eq!(d, Duration::from_secs(3600));
    }

    fn draft(c: &Connection, scheduled_at: Option<DateTime<Utc>>) -> PostDraft {
        PostDraft {
            scheduled_at,
            ..PostDraft::new(c.id, Author::Member(c.member_urn.clone()), "Hello LinkedIn")
        }
    }

    fn queued_post() -> Post {
        let c = examples::connection();
        let now = Utc::now();
        Post::new(PostId::new(), c.tenant_id.clone(), draft(&c, None), now)
    }

    #[test]
    fn an_author_is_the_member_or_an_organization_the_member_may_post_for() {
        let c = examples::connection();
        let author = |raw| Author::for_connection(raw, &c);
        assert_eq!(author(None).unwrap().urn(), "urn:li:person:abc");
        assert_eq!(author(Some("member")).unwrap().urn(), "urn:li:person:abc");
        let org = author(Some("urn:li:organization:1")).unwrap();
        assert!(org.is_organization());
        assert!(author(Some("urn:li:organization:2")).is_err(), "an analyst");
        assert!(
            author(Some("urn:li:organization:3")).is_err(),
            "not administered"
        );
        assert!(author(Some("urn:li:person:other")).is_err());
        for urn in ["urn:li:person:abc", "urn:li:organization:1"] {
            let json = serde_json::to_value(Author::try_from(urn.to_owned()).unwrap()).unwrap();
            assert_eq!(json, urn, "stored and shown as its URN");
        }
        assert!(Author::try_from("urn:li:organization:x".to_owned()).is_err());
    }

    /// A stranded post is put back until it has been rescued MAX_RESCUES times; then it fails
    /// STRANDED, unless it may be live: that one is put back until the job's age bound, and
    /// only then fails, as OUTCOME_UNKNOWN.
    #[test]
    fn a_stranded_post_that_may_be_live_is_never_failed_as_stranded() {
        let now = Utc::now();
        let post = |rescues: u32, unknown: bool, started_days_ago: i64| {
            let mut p = queued_post();
            p.rescues = rescues;
            p.outcome_unknown = unknown;
            p.first_attempt_at = Some(now - chrono::Duration::days(started_days_ago));
            p
        };
        let rows = [
            ("first time", post(0, false, 0), None),
            ("last rescue", post(MAX_RESCUES - 1, false, 0), None),
            (
                "never live, rescued enough",
                post(MAX_RESCUES, false, 0),
                Some(FailureCode::Stranded),
            ),
            (
                "may be live, rescued enough",
                post(MAX_RESCUES, true, 1),
                None,
            ),
            (
                "may be live, 6 days on",
                post(MAX_RESCUES + 20, true, 6),
                None,
            ),
            (
                "may be live, past the job's age",
                post(MAX_RESCUES + 20, true, 8),
                Some(FailureCode::OutcomeUnknown),
            ),
        ];
        for (name, post, gives_up) in rows {
            match (post.after_stranded(now), gives_up) {
                (Stranded::Rescue(next), None) => {
                    assert_eq!(next.rescues, post.rescues + 1, "{name}");
                    assert_eq!(next.status, PostStatus::Queued, "{name}");
                }
                (Stranded::GiveUp(code), Some(expected)) => assert_eq!(code, expected, "{name}"),
                (other, _) => panic!("{name}: {other:?}"),
            }
        }
        let mut taken = post(MAX_RESCUES, false, 1);
        taken.status = PostStatus::Publishing;
        assert!(
            matches!(taken.after_stranded(now), Stranded::Rescue(_)),
            "taken from publishing: it may be live"
        );
    }

    #[test]
    fn a_post_taken_over_from_an_expired_claim_has_an_unknown_outcome() {
        let now = Utc::now();
        let lease = Duration::from_secs(90);
        let claimed = queued_post().claim(now, lease, None).unwrap();
        assert!(
            !claimed.outcome_unknown,
            "a first claim knows nothing was sent"
        );
        assert!(claimed.claim(now, lease, None).is_none(), "the lease holds");
        let later = now + chrono::Duration::seconds(91);
        let taken_over = claimed.claim(later, lease, None).unwrap();
        assert!(taken_over.outcome_unknown, "its holder may have sent it");
        assert_eq!(taken_over.attempts, 2);
    }

    #[test]
    fn a_cancel_is_recorded_not_done_while_the_post_may_be_live() {
        let now = Utc::now();
        let error = PostError {
            code: FailureCode::LinkedinUnavailable,
            message: "504".into(),
        };
        let attempted = queued_post()
            .claim(now, Duration::from_secs(90), None)
            .unwrap();
        let known = attempted.retry_later(error.clone(), false, now, now);
        assert!(
            matches!(known.request_delete(now), DeleteDecision::Cancel(p) if p.status == PostStatus::Cancelled)
        );
        let unknown = attempted.retry_later(error, true, now, now);
        let DeleteDecision::ResolveThenDelete(pending) = unknown.request_delete(now) else {
            panic!("a post that may be live is not simply cancelled");
        };
        assert_eq!(pending.status, PostStatus::Queued);
        assert!(pending.cancel_pending());
        assert_eq!(
            pending.request_delete(now),
            DeleteDecision::Unchanged,
            "asked once"
        );
    }

    #[test]
    fn stranded_means_quiet_for_15_minutes_after_the_last_change_retry_or_lease() {
        let now = Utc::now();
        let minutes = chrono::Duration::minutes;
        let queued = queued_post();
        assert_eq!(
            queued.stranded_from(),
            Some(queued.updated_at + minutes(15))
        );
        assert!(!queued.is_stranded(now + minutes(14)));
        assert!(queued.is_stranded(now + minutes(16)));

        let error = PostError {
            code: FailureCode::RateLimited,
            message: "daily limit".into(),
        };
        let waiting = queued.retry_later(error, false, now, now + minutes(600));
        assert!(!waiting.is_stranded(now + minutes(300)), "a retry is due");
        assert!(waiting.is_stranded(now + minutes(616)));

        let publishing = queued.claim(now, Duration::from_secs(90), None).unwrap();
        assert!(
            !publishing.is_stranded(now + minutes(15)),
            "the lease counts"
        );
        assert!(publishing.is_stranded(now + minutes(17)));
        let rescued = publishing.rescued(now + minutes(17));
        assert_eq!((rescued.status, rescued.rescues), (PostStatus::Queued, 1));
        assert!(rescued.outcome_unknown, "it may have been sent");

        for done in [
            publishing.published("urn:li:share:1", now),
            publishing.cancelled(now),
        ] {
            assert_eq!(done.stranded_from(), None);
        }
    }

    /// A job delivered for its time is at its time, even by a clock that lags the one that
    /// set it; otherwise it is now.
    #[test]
    fn a_job_knows_the_time_it_was_set_for() {
        let now = Utc::now();
        let job = queued_post().publish_job(now);
        assert_eq!(job.clock(now), now);
        let later = now + chrono::Duration::hours(3);
        assert_eq!(
            job.due(later).clock(now),
            later,
            "set for later by a clock ahead"
        );
        assert_eq!(job.due(now).clock(later), later, "the clock moved on");
        let decoded: Job =
            serde_json::from_str(&serde_json::to_string(&job.due(later)).unwrap()).unwrap();
        assert_eq!(decoded.due_at, Some(later));
    }

    #[test]
    fn a_scheduled_post_is_claimed_only_by_a_job_made_for_its_time() {
        let c = examples::connection();
        let now = Utc::now();
        let at = now + chrono::Duration::hours(1);
        let post = Post::new(PostId::new(), c.tenant_id.clone(), draft(&c, Some(at)), now);
        assert_eq!(post.status, PostStatus::Scheduled);
        let lease = Duration::from_secs(90);
        let job = post.publish_job(now);
        assert_eq!(job.scheduled_at, post.scheduled_at);
        assert!(post.claim(now, lease, None).is_none(), "a publish-now job");
        assert!(post.claim(now, lease, job.scheduled_at).is_some());
        // Moved: the old time's job takes nothing, the new one does.
        let moved = post.moved(at + chrono::Duration::hours(1), now).unwrap();
        assert!(moved.claim(now, lease, job.scheduled_at).is_none());
        let new_job = moved.publish_job(now);
        assert!(moved.claim(now, lease, new_job.scheduled_at).is_some());
        // Cancelled: nothing takes it, and it can no longer be moved.
        let DeleteDecision::Cancel(cancelled) = moved.request_delete(now) else {
            panic!("a scheduled post is cancelled");
        };
        assert!(cancelled.claim(now, lease, new_job.scheduled_at).is_none());
        assert!(cancelled.moved(at, now).is_none());
    }

    #[test]
    fn a_missed_schedule_is_recorded_once_and_only_on_a_scheduled_post_whose_time_passed() {
        let c = examples::connection();
        let now = Utc::now();
        let at = now + chrono::Duration::hours(1);
        let later = at + chrono::Duration::minutes(15);
        let scheduled = Post::new(PostId::new(), c.tenant_id.clone(), draft(&c, Some(at)), now);
        let missed = scheduled.schedule_missed(later).expect("its time passed");
        assert_eq!(missed.schedule_missed_at, Some(later));
        assert_eq!(missed.status, PostStatus::Scheduled);
        assert_eq!(missed.version, scheduled.version + 1);
        let pending = Post::new(
            PostId::new(),
            c.tenant_id.clone(),
            PostDraft {
                requires_approval: true,
                ..draft(&c, Some(at))
            },
            now,
        );
        let queued = queued_post();
        let rows: Vec<(&str, &Post, DateTime<Utc>, bool)> = vec![
            ("time passed", &scheduled, later, true),
            ("time not come", &scheduled, now, false),
            ("recorded already", &missed, later, false),
            (
                "waiting for approval: it expires instead",
                &pending,
                later,
                false,
            ),
            ("queued now", &queued, later, false),
        ];
        for (name, post, at, expected) in rows {
            assert_eq!(post.schedule_missed(at).is_some(), expected, "{name}");
        }
        // The recorded miss does not keep the job made for its time from claiming it.
        let job = missed.publish_job(later);
        assert!(missed
            .claim(later, Duration::from_secs(90), job.scheduled_at)
            .is_some());
    }

    #[test]
    fn statuses_round_trip_through_their_names() {
        for s in [
            "scheduled",
            "queued",
            "publishing",
            "published",
            "failed",
            "cancelled",
            "deleted",
        ] {
            assert_eq!(s.parse::<PostStatus>().unwrap().as_str(), s);
            assert_eq!(
                serde_json::to_value(s.parse::<PostStatus>().unwrap()).unwrap(),
                s
            );
        }
        assert!("done".parse::<PostStatus>().is_err());
    }
}
