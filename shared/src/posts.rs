//! Posts: what a tenant asks to publish, the record's life (its state machine), the queue job
//! and the retry schedule. No I/O here.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;
use serde::{Deserialize, Serialize};
use url::Url;
use uuid::Uuid;

use crate::domain::{Connection, ConnectionId, ConnectionStatus, TenantId};

/// LinkedIn's commentary limit.
pub const MAX_TEXT_CHARS: usize = 3000;
/// LinkedIn's multi-image posts take 2 to 20 images.
pub const MAX_IMAGES: usize = 20;
/// LinkedIn's limit on an image's alternative text.
pub const MAX_ALT_TEXT_CHARS: usize = 4086;
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

/// `scheduled_at` as the caller sent it: RFC 3339 with an offset, after `now` and at most a
/// year ahead. Kept to the second, as EventBridge Scheduler's `at()` takes it.
pub fn parse_scheduled_at(raw: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, Invalid> {
    let at = DateTime::parse_from_rfc3339(raw)
        .map_err(|_| {
            invalid(
                "scheduled_at",
                "scheduled_at must be an RFC 3339 time with an offset, like 2026-12-01T09:00:00+01:00",
            )
        })?
        .with_timezone(&Utc);
    let at = at - chrono::Duration::nanoseconds(at.timestamp_subsec_nanos() as i64);
    if at <= now {
        return Err(invalid(
            "scheduled_at",
            format!("scheduled_at {raw} is in the past; omit it to publish now"),
        ));
    }
    if at > now + MAX_SCHEDULE_AHEAD {
        return Err(invalid(
            "scheduled_at",
            "scheduled_at may be at most one year ahead",
        ));
    }
    Ok(at)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PostId(Uuid);

impl PostId {
    /// The name of the post's one-time schedule (one per post, so a move replaces it).
    pub fn schedule_name(self) -> String {
        format!("post-{self}")
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PostStatus {
    Scheduled,
    Queued,
    Publishing,
    Published,
    Failed,
    Cancelled,
    Deleted,
}

impl PostStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scheduled => "scheduled",
            Self::Queued => "queued",
            Self::Publishing => "publishing",
            Self::Published => "published",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
            Self::Deleted => "deleted",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [
            Self::Scheduled,
            Self::Queued,
            Self::Publishing,
            Self::Published,
            Self::Failed,
            Self::Cancelled,
            Self::Deleted,
        ]
        .into_iter()
        .find(|s| s.as_str() == raw)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Visibility {
    Public,
    Connections,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaItem {
    #[serde(rename = "type")]
    pub kind: String,
    pub url: Url,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alt_text: Option<String>,
}

/// `POST /v1/posts` as the caller sent it.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PostRequest {
    pub connection_id: Option<String>,
    pub author: Option<String>,
    pub text: Option<String>,
    pub media: Option<Vec<RawMedia>>,
    pub visibility: Option<String>,
    pub scheduled_at: Option<String>,
}

/// `PATCH /v1/posts/{id}`: move a scheduled post.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PostMove {
    pub scheduled_at: Option<String>,
}

impl PostMove {
    pub fn validate(&self, now: DateTime<Utc>) -> Result<DateTime<Utc>, Invalid> {
        let raw = self
            .scheduled_at
            .as_deref()
            .ok_or_else(|| invalid("scheduled_at", "scheduled_at is required"))?;
        parse_scheduled_at(raw, now)
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawMedia {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub url: Option<String>,
    pub alt_text: Option<String>,
}

/// A request that broke a rule, naming the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub field: &'static str,
    pub message: String,
}

fn invalid(field: &'static str, message: impl Into<String>) -> Invalid {
    Invalid {
        field,
        message: message.into(),
    }
}

/// A validated post, ready to record.
#[derive(Debug, Clone, PartialEq)]
pub struct PostDraft {
    pub connection_id: ConnectionId,
    /// `urn:li:person:…` or `urn:li:organization:…`.
    pub author: String,
    pub text: String,
    pub media: Vec<MediaItem>,
    pub visibility: Visibility,
    /// When to publish; `None` publishes now.
    pub scheduled_at: Option<DateTime<Utc>>,
}

impl PostRequest {
    /// The connection id alone, checked first: the rest is validated against the connection.
    pub fn connection_id(&self) -> Result<ConnectionId, Invalid> {
        let raw = self
            .connection_id
            .as_deref()
            .ok_or_else(|| invalid("connection_id", "connection_id is required"))?;
        ConnectionId::parse(raw).ok_or_else(|| {
            invalid(
                "connection_id",
                "connection_id is not a connection of yours",
            )
        })
    }

    /// Every rule LinkedIn would enforce, checked before anything is recorded.
    /// `connection` is the tenant's connection named by `connection_id`, if it exists.
    pub fn validate(
        &self,
        connection: Option<&Connection>,
        now: DateTime<Utc>,
    ) -> Result<PostDraft, Invalid> {
        let connection_id = self.connection_id()?;
        let connection = connection.ok_or_else(|| {
            invalid(
                "connection_id",
                "connection_id is not a connection of yours",
            )
        })?;
        if connection.status == ConnectionStatus::Revoked {
            return Err(invalid(
                "connection_id",
                "the connection was disconnected; reconnect the account first",
            ));
        }

        let author = match self.author.as_deref() {
            None | Some("member") => connection.member_urn.to_string(),
            Some(urn) if urn.starts_with("urn:li:organization:") => {
                let org = connection.organizations.iter().find(|o| o.urn == urn);
                match org {
                    Some(org) if org.can_post() => urn.to_owned(),
                    Some(org) => {
                        return Err(invalid(
                            "author",
                            format!(
                                "the member's role {} on {urn} cannot post; ADMINISTRATOR, CONTENT_ADMINISTRATOR or DIRECT_SPONSORED_CONTENT_POSTER can",
                                org.role
                            ),
                        ))
                    }
                    None => {
                        return Err(invalid(
                            "author",
                            format!("the connection does not administer {urn}"),
                        ))
                    }
                }
            }
            Some(_) => return Err(invalid(
                "author",
                "author must be \"member\" or an urn:li:organization:N the connection administers",
            )),
        };

        let text = self
            .text
            .clone()
            .ok_or_else(|| invalid("text", "text is required"))?;
        let chars = text.chars().count();
        if text.trim().is_empty() {
            return Err(invalid("text", "text must not be blank"));
        }
        if chars > MAX_TEXT_CHARS {
            return Err(invalid(
                "text",
                format!("text is {chars} characters; LinkedIn takes at most {MAX_TEXT_CHARS}"),
            ));
        }

        let media = self
            .media
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(validate_media)
            .collect::<Result<Vec<_>, _>>()?;
        if media.len() > MAX_IMAGES {
            return Err(invalid(
                "media",
                format!(
                    "{} images; LinkedIn takes at most {MAX_IMAGES}",
                    media.len()
                ),
            ));
        }

        let is_org = author.starts_with("urn:li:organization:");
        let visibility = match self.visibility.as_deref() {
            None | Some("PUBLIC") => Visibility::Public,
            Some("CONNECTIONS") if !is_org => Visibility::Connections,
            Some("CONNECTIONS") => {
                return Err(invalid(
                    "visibility",
                    "organization posts are PUBLIC; CONNECTIONS is for member posts",
                ))
            }
            Some(other) => {
                return Err(invalid(
                    "visibility",
                    format!("visibility {other:?} is not PUBLIC or CONNECTIONS"),
                ))
            }
        };
        let scheduled_at = self
            .scheduled_at
            .as_deref()
            .map(|raw| parse_scheduled_at(raw, now))
            .transpose()?;

        Ok(PostDraft {
            connection_id,
            author,
            text,
            media,
            visibility,
            scheduled_at,
        })
    }
}

fn validate_media(raw: RawMedia) -> Result<MediaItem, Invalid> {
    match raw.kind.as_deref() {
        Some("image") => {}
        Some(other) => {
            return Err(invalid(
                "media",
                format!("media type {other:?} is not supported; use \"image\""),
            ))
        }
        None => return Err(invalid("media", "each media item needs a type")),
    }
    let url = raw
        .url
        .as_deref()
        .and_then(|u| Url::parse(u).ok())
        .filter(|u| matches!(u.scheme(), "https" | "http") && u.host().is_some())
        .ok_or_else(|| invalid("media", "each image needs an absolute http(s) url"))?;
    if let Some(alt) = &raw.alt_text {
        if alt.chars().count() > MAX_ALT_TEXT_CHARS {
            return Err(invalid(
                "media",
                format!("alt_text is longer than LinkedIn's {MAX_ALT_TEXT_CHARS} characters"),
            ));
        }
    }
    Ok(MediaItem {
        kind: "image".into(),
        url,
        alt_text: raw.alt_text,
    })
}

/// Why the last attempt failed, as shown to the tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostError {
    pub code: String,
    pub message: String,
}

/// A post as recorded and as `GET /v1/posts/{id}` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Post {
    pub id: PostId,
    #[serde(skip)]
    pub tenant_id: TenantId,
    pub connection_id: ConnectionId,
    pub author: String,
    pub text: String,
    pub media: Vec<MediaItem>,
    pub visibility: Visibility,
    pub status: PostStatus,
    /// When a scheduled post is to be published.
    pub scheduled_at: Option<DateTime<Utc>>,
    pub linkedin_urn: Option<String>,
    pub attempts: u32,
    pub last_error: Option<PostError>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub published_at: Option<DateTime<Utc>>,
    pub delete_requested_at: Option<DateTime<Utc>>,
    pub deleted_at: Option<DateTime<Utc>>,
    #[serde(skip)]
    pub version: u64,
    /// The last attempt's outcome is unknown (timeout or 5xx after sending): the next attempt
    /// must find out what happened instead of posting blindly.
    #[serde(skip)]
    pub outcome_unknown: bool,
    /// Uploaded media, in order, so a retry does not upload again.
    #[serde(skip)]
    pub media_urns: Vec<String>,
    /// While `publishing`: until when the claiming invocation owns the post.
    #[serde(skip)]
    pub lease_until: Option<DateTime<Utc>>,
    #[serde(skip)]
    pub first_attempt_at: Option<DateTime<Utc>>,
    #[serde(skip)]
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// Names the write that produced this version. A conditional write whose answer was lost
    /// (and whose SDK retry then failed its own condition) reads the record back: if it holds
    /// this token, the write was ours and it took effect.
    #[serde(skip)]
    pub write_token: Uuid,
    /// How many times the reconciler put this post back on the queue after it was stranded
    /// (no live lease, no retry due); after [`MAX_RESCUES`] it fails as STRANDED.
    #[serde(skip)]
    pub rescues: u32,
    /// While `queued` after a failed attempt: when the next attempt is due.
    #[serde(skip)]
    pub next_attempt_at: Option<DateTime<Utc>>,
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
            visibility: draft.visibility,
            status: if draft.scheduled_at.is_some() {
                PostStatus::Scheduled
            } else {
                PostStatus::Queued
            },
            scheduled_at: draft.scheduled_at,
            linkedin_urn: None,
            attempts: 0,
            last_error: None,
            created_at: now,
            updated_at: now,
            published_at: None,
            delete_requested_at: None,
            deleted_at: None,
            version: 1,
            outcome_unknown: false,
            media_urns: Vec::new(),
            lease_until: None,
            first_attempt_at: None,
            last_attempt_at: None,
            write_token: Uuid::new_v4(),
            rescues: 0,
            next_attempt_at: None,
        }
    }

    fn next(&self, now: DateTime<Utc>) -> Self {
        Self {
            version: self.version + 1,
            updated_at: now,
            write_token: Uuid::new_v4(),
            ..self.clone()
        }
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

    pub fn with_media_urns(&self, urns: Vec<String>, now: DateTime<Utc>) -> Self {
        let mut next = self.next(now);
        next.media_urns = urns;
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

    /// The reconciler puts a stranded post back on the queue (counted), or after
    /// [`MAX_RESCUES`] gives it up. A post that was `publishing` keeps an unknown outcome.
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
            PostStatus::Scheduled | PostStatus::Queued => {
                let mut next = self.next(now);
                next.status = PostStatus::Cancelled;
                DeleteDecision::Cancel(next)
            }
            PostStatus::Published if self.delete_requested_at.is_none() => {
                let mut next = self.next(now);
                next.delete_requested_at = Some(now);
                DeleteDecision::DeleteAtLinkedIn(next)
            }
            PostStatus::Published | PostStatus::Cancelled | PostStatus::Deleted => {
                DeleteDecision::Unchanged
            }
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
        }
    }

    pub fn deleted(&self, now: DateTime<Utc>) -> Self {
        let mut next = self.next(now);
        next.status = PostStatus::Deleted;
        next.deleted_at = Some(now);
        next
    }
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    pub action: JobAction,
    pub tenant_id: TenantId,
    pub post_id: PostId,
    /// When the job went on the queue (for a scheduled post: its time).
    pub enqueued_at: DateTime<Utc>,
    /// For a scheduled post, the time this job was made for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobAction {
    Publish,
    Delete,
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
    use crate::domain::{MemberUrn, Organization, PLATFORM};

    fn connection() -> Connection {
        let now = Utc::now();
        Connection {
            id: ConnectionId::new(),
            tenant_id: TenantId::parse("acme").unwrap(),
            platform: PLATFORM,
            member_urn: MemberUrn::from_member_id("abc"),
            name: "Ada".into(),
            email: None,
            picture: None,
            status: ConnectionStatus::Healthy,
            reason: None,
            scopes: vec![],
            access_token_expires_at: now,
            refresh_token_expires_at: None,
            authorized_at: now,
            last_health_check_at: None,
            last_health_error: None,
            next_health_check_at: None,
            organizations: vec![
                Organization {
                    urn: "urn:li:organization:1".into(),
                    role: "ADMINISTRATOR".into(),
                },
                Organization {
                    urn: "urn:li:organization:2".into(),
                    role: "ANALYST".into(),
                },
            ],
            created_at: now,
            updated_at: now,
            connect_count: 1,
            token_issued_at: now,
            refresh_lease_until: None,
            version: 1,
        }
    }

    fn request(c: &Connection) -> PostRequest {
        PostRequest {
            connection_id: Some(c.id.to_string()),
            text: Some("Hello LinkedIn".into()),
            ..Default::default()
        }
    }

    fn field_of(result: Result<PostDraft, Invalid>) -> &'static str {
        result.expect_err("should be invalid").field
    }

    #[test]
    fn a_plain_text_post_is_by_the_member_and_public() {
        let c = connection();
        let draft = request(&c).validate(Some(&c), Utc::now()).unwrap();
        assert_eq!(draft.author, "urn:li:person:abc");
        assert_eq!(draft.visibility, Visibility::Public);
    }

    #[test]
    fn text_must_be_between_1_and_3000_characters() {
        let c = connection();
        for bad in ["", "   "] {
            let r = PostRequest {
                text: Some(bad.into()),
                ..request(&c)
            };
            assert_eq!(field_of(r.validate(Some(&c), Utc::now())), "text");
        }
        let r = PostRequest {
            text: None,
            ..request(&c)
        };
        assert_eq!(field_of(r.validate(Some(&c), Utc::now())), "text");
        // Characters, not bytes: 3000 two-byte characters are fine, 3001 are not.
        let r = PostRequest {
            text: Some("é".repeat(3000)),
            ..request(&c)
        };
        assert!(r.validate(Some(&c), Utc::now()).is_ok());
        let r = PostRequest {
            text: Some("é".repeat(3001)),
            ..request(&c)
        };
        assert_eq!(field_of(r.validate(Some(&c), Utc::now())), "text");
    }

    #[test]
    fn the_connection_must_exist_and_not_be_revoked() {
        let mut c = connection();
        assert_eq!(
            field_of(request(&c).validate(None, Utc::now())),
            "connection_id"
        );
        c.status = ConnectionStatus::Revoked;
        assert_eq!(
            field_of(request(&c).validate(Some(&c), Utc::now())),
            "connection_id"
        );
        let r = PostRequest {
            connection_id: Some("nope".into()),
            ..request(&c)
        };
        assert_eq!(field_of(r.validate(Some(&c), Utc::now())), "connection_id");
    }

    #[test]
    fn an_organization_author_must_be_administered_with_a_posting_role() {
        let c = connection();
        let as_org = |urn: &str| PostRequest {
            author: Some(urn.into()),
            ..request(&c)
        };
        assert_eq!(
            as_org("urn:li:organization:1")
                .validate(Some(&c), Utc::now())
                .unwrap()
                .author,
            "urn:li:organization:1"
        );
        assert_eq!(
            field_of(as_org("urn:li:organization:2").validate(Some(&c), Utc::now())),
            "author"
        );
        assert_eq!(
            field_of(as_org("urn:li:organization:3").validate(Some(&c), Utc::now())),
            "author"
        );
        assert_eq!(
            field_of(as_org("urn:li:person:other").validate(Some(&c), Utc::now())),
            "author"
        );
    }

    #[test]
    fn visibility_is_public_or_connections_and_organizations_post_publicly() {
        let c = connection();
        let with = |v: &str, author: Option<&str>| PostRequest {
            visibility: Some(v.into()),
            author: author.map(String::from),
            ..request(&c)
        };
        assert_eq!(
            with("CONNECTIONS", None)
                .validate(Some(&c), Utc::now())
                .unwrap()
                .visibility,
            Visibility::Connections
        );
        assert_eq!(
            field_of(with("FRIENDS", None).validate(Some(&c), Utc::now())),
            "visibility"
        );
        assert_eq!(
            field_of(
                with("CONNECTIONS", Some("urn:li:organization:1")).validate(Some(&c), Utc::now())
            ),
            "visibility"
        );
    }

    #[test]
    fn media_are_images_given_as_urls_within_linkedins_count() {
        let c = connection();
        let image = |url: &str| RawMedia {
            kind: Some("image".into()),
            url: Some(url.into()),
            alt_text: None,
        };
        let with = |media: Vec<RawMedia>| PostRequest {
            media: Some(media),
            ..request(&c)
        };
        assert_eq!(
            with(vec![image("https://cdn.example.com/a.png")])
                .validate(Some(&c), Utc::now())
                .unwrap()
                .media
                .len(),
            1
        );
        assert_eq!(
            field_of(with(vec![image("ftp://x/a.png")]).validate(Some(&c), Utc::now())),
            "media"
        );
        assert_eq!(
            field_of(with(vec![image("not a url")]).validate(Some(&c), Utc::now())),
            "media"
        );
        let video = RawMedia {
            kind: Some("video".into()),
            ..image("https://x.example/v.mp4")
        };
        assert_eq!(
            field_of(with(vec![video]).validate(Some(&c), Utc::now())),
            "media"
        );
        let many = (0..21)
            .map(|i| image(&format!("https://cdn.example.com/{i}.png")))
            .collect();
        assert_eq!(field_of(with(many).validate(Some(&c), Utc::now())), "media");
        let long_alt = RawMedia {
            alt_text: Some("a".repeat(4087)),
            ..image("https://x.example/a.png")
        };
        assert_eq!(
            field_of(with(vec![long_alt]).validate(Some(&c), Utc::now())),
            "media"
        );
    }

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

    #[test]
    fn scheduled_at_is_rfc3339_with_an_offset_in_the_future_and_within_a_year() {
        let now = DateTime::parse_from_rfc3339("2026-11-23T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let at = parse_scheduled_at("2026-11-23T14:00:30.750+01:00", now).unwrap();
        assert_eq!(at.to_rfc3339(), "2026-11-23T13:00:30+00:00");
        for bad in [
            "2026-11-23T11:59:59Z",
            "2026-11-23T12:00:00Z",
            "2027-11-24T12:00:00Z",
            "2026-11-24T09:00:00",
            "tomorrow",
        ] {
            assert_eq!(
                parse_scheduled_at(bad, now).unwrap_err().field,
                "scheduled_at",
                "{bad}"
            );
        }
        assert!(parse_scheduled_at("2027-11-23T12:00:00Z", now).is_ok());
        let c = connection();
        let r = PostRequest {
            scheduled_at: Some("2020-01-01T00:00:00Z".into()),
            ..request(&c)
        };
        assert_eq!(field_of(r.validate(Some(&c), Utc::now())), "scheduled_at");
    }

    fn queued_post() -> Post {
        let c = connection();
        let now = Utc::now();
        let draft = request(&c).validate(Some(&c), now).unwrap();
        Post::new(PostId::new(), c.tenant_id.clone(), draft, now)
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
            code: "LINKEDIN_UNAVAILABLE".into(),
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
            code: "RATE_LIMITED".into(),
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

    #[test]
    fn a_scheduled_post_is_claimed_only_by_a_job_made_for_its_time() {
        let c = connection();
        let now = Utc::now();
        let at = now + chrono::Duration::hours(1);
        let draft = PostRequest {
            scheduled_at: Some(at.to_rfc3339()),
            ..request(&c)
        }
        .validate(Some(&c), now)
        .unwrap();
        let post = Post::new(PostId::new(), c.tenant_id.clone(), draft, now);
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
            assert_eq!(PostStatus::parse(s).unwrap().as_str(), s);
        }
        assert!(PostStatus::parse("done").is_none());
    }
}
