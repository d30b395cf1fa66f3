//! What happens after each outcome of an attempt at a post's job, publish or delete: one pure
//! function, [`next_step`], and its table of tests. The publisher carries the step out (records
//! it, redelivers the message, writes the DLQ record); it decides nothing itself.
//!
//! Attempts are the post's own: a publish counts the claims of the post (`attempts`), a delete
//! the delete attempts recorded on it (`delete_attempts`), so a redelivery that did nothing
//! (a duplicate message, an invocation out of time) never uses one up.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{FailureCode, JobAction, Post, MAX_ATTEMPTS, RESOLVE_INTERVAL};
use crate::linkedin::{LinkedInError, RetryClass};
use crate::media::MediaError;
use crate::tokens::{KeeperError, RefreshOutcome};
use crate::vault::VaultError;

/// Wait after a refresh before trying again (LinkedIn's propagation delay).
pub const AFTER_REFRESH: Duration = Duration::from_secs(5);
/// Attempts a job may reach through refreshed tokens before the connection counts as broken
/// (tokens can expire again while a post waits out LinkedIn being down).
const MAX_REFRESHED_ATTEMPTS: u32 = 2 * MAX_ATTEMPTS;
/// How often LinkedIn is asked whether it has processed a post's media…
const MEDIA_POLL: Duration = Duration::from_secs(2);
/// …and for how long, from the post's first attempt.
const MEDIA_WAIT_LIMIT: chrono::Duration = chrono::Duration::minutes(15);

/// What an attempt came to, as far as deciding what follows needs to know.
#[derive(Debug)]
pub enum Outcome<'a> {
    /// LinkedIn refused the call, or did not (wholly) answer it.
    LinkedIn(&'a LinkedInError),
    /// What refreshing the connection's tokens came to, after a [`Step::Refresh`].
    Refreshed(&'a Result<RefreshOutcome, KeeperError>),
    /// The connection's tokens could not be opened.
    Tokens(&'a KeeperError),
    /// The connection was disconnected.
    Revoked,
    /// One of the post's images could not be fetched from the tenant's URL.
    MediaFetch(&'a MediaError),
    /// LinkedIn could not process one of the post's media.
    MediaFailed { urn: &'a str },
    /// LinkedIn is still processing one of the post's media.
    MediaProcessing { urn: &'a str },
    /// LinkedIn is still processing the post's video: minutes are normal.
    VideoProcessing { urn: &'a str },
    /// A document's or video's upload URL expired (403) again after one new initialization.
    MediaUploadExpired,
    /// The video could not be passed from its URL to LinkedIn within the invocation's time.
    MediaUploadTimedOut,
    /// The post's content cannot go to LinkedIn as it is (a link card without a title, a kind
    /// the deployment's dialect cannot carry): nothing was sent, and retrying cannot help.
    Unsendable { code: FailureCode, detail: &'a str },
    /// A link card's page, needed for its title, could not be fetched just now.
    PageUnavailable,
    /// The job waited longer than [`super::MAX_JOB_AGE`].
    JobExpired,
    /// LinkedIn's daily limit is known to be reached until `until`, for the post's member or
    /// for the whole application: the attempt was held back, nothing was sent.
    Throttled {
        scope: ThrottleScope,
        until: DateTime<Utc>,
    },
}

/// Whose daily limit LinkedIn has reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThrottleScope {
    /// The post's member (their connection records until when).
    Member,
    /// The application, shared by every tenant: publishing pauses for everyone.
    App,
}

/// What to do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// LinkedIn has the post after all (its duplicate answer names the live post, which an
    /// earlier attempt whose outcome was unknown made): record it as published.
    Published { urn: String },
    /// The post is gone at LinkedIn (a delete's 404): record it as deleted.
    Deleted,
    /// Try again later: not before `at_least` (and the backoff of the attempt count).
    Retry {
        code: FailureCode,
        message: String,
        /// The attempt may have reached LinkedIn: the next one must find out, not post blindly.
        outcome_unknown: bool,
        at_least: Option<Duration>,
    },
    /// Refresh the connection's tokens, then decide again on [`Outcome::Refreshed`].
    Refresh,
    /// Back to the queue after `after` without counting the attempt: waiting is not a failure.
    HandBack { why: &'static str, after: Duration },
    /// Held back until `until` without counting the attempt, saying why on the post (the
    /// tenant sees the code and when it resumes).
    Wait {
        code: FailureCode,
        message: String,
        until: DateTime<Utc>,
    },
    /// Give up: the post fails (a delete given up leaves the post published), with a DLQ
    /// record. `attention`: the connection is broken too.
    Fail {
        code: FailureCode,
        message: String,
        reason: String,
        attention: bool,
    },
}

impl Step {
    fn fail(code: FailureCode, message: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Fail {
            code,
            message: message.into(),
            reason: reason.into(),
            attention: false,
        }
    }
}

/// The code a tenant sees for a LinkedIn failure.
fn linkedin_code(e: &LinkedInError) -> FailureCode {
    match e {
        LinkedInError::Unauthorized { .. } => FailureCode::Unauthorized,
        LinkedInError::Throttled { .. } => FailureCode::RateLimited,
        LinkedInError::Unavailable { .. } | LinkedInError::Transport { .. } => {
            FailureCode::LinkedinUnavailable
        }
        LinkedInError::Rejected { status: 403, .. } => FailureCode::Forbidden,
        LinkedInError::Rejected { status: 404, .. } => FailureCode::NotFound,
        LinkedInError::Rejected { .. } => FailureCode::ValidationError,
        LinkedInError::DuplicatePost { .. } => FailureCode::DuplicateContent,
        LinkedInError::MediaNotReady { .. } => FailureCode::MediaNotReady,
        LinkedInError::VersionRetired { .. } => FailureCode::ApiVersionRetired,
        LinkedInError::OAuth { .. } | LinkedInError::Unexpected { .. } => {
            FailureCode::LinkedinError
        }
    }
}

/// What follows `outcome` of the current attempt at `post`'s `action`.
pub fn next_step(
    post: &Post,
    action: JobAction,
    outcome: &Outcome<'_>,
    now: DateTime<Utc>,
) -> Step {
    let attempt = post.attempt_number(action);
    let exhausted = attempt >= MAX_ATTEMPTS;
    // Only a publish can leave a live post nobody knows of; a delete is idempotent.
    let resolving = action == JobAction::Publish && post.outcome_unknown;

    // Another attempt later, unless the attempts are used up. A post whose outcome is unknown
    // is never given up here: failing it could report a live post as failed, so it keeps
    // trying, every RESOLVE_INTERVAL, until LinkedIn says (the job's age bounds it).
    // An edit's unknown outcome is flagged so the next attempt can read the post back, but it
    // never keeps an edit going past the limit: sending it again is harmless.
    let retry = |code: FailureCode, message: String, sent: bool, at_least: Option<Duration>| {
        let unknown = (action == JobAction::Publish && sent) || resolving;
        if exhausted && !unknown {
            let code = match code {
                FailureCode::RateLimited => FailureCode::RateLimitExhausted,
                _ => FailureCode::RetriesExhausted,
            };
            return Step::fail(code, message, format!("gave up after {attempt} attempts"));
        }
        let flagged = unknown || (action == JobAction::Edit && sent);
        retry_past_limit(code, message, flagged, at_least, exhausted)
    };

    match outcome {
        Outcome::LinkedIn(e @ LinkedInError::DuplicatePost { existing_urn, .. })
            if action == JobAction::Publish =>
        {
            if resolving {
                // Our earlier attempt reached LinkedIn after all: that post is ours.
                Step::Published {
                    urn: existing_urn.clone(),
                }
            } else {
                Step::fail(
                    FailureCode::DuplicateContent,
                    e.to_string(),
                    "LinkedIn already has this content",
                )
            }
        }
        Outcome::LinkedIn(LinkedInError::Rejected { status: 404, .. })
            if action == JobAction::Delete =>
        {
            // Already gone: LinkedIn's delete is idempotent.
            Step::Deleted
        }
        // A fresh post is not yet known to LinkedIn's comments for a while: wait by redelivery,
        // bounded by the attempts.
        Outcome::LinkedIn(e @ LinkedInError::Rejected { status: 404, .. })
            if action == JobAction::Comment =>
        {
            retry(FailureCode::NotFound, e.to_string(), false, None)
        }
        // A comment is not idempotent and cannot be read back with the scopes a poster has:
        // one whose outcome is unknown is not sent again, so it can never appear twice.
        Outcome::LinkedIn(e) if action == JobAction::Comment && e.outcome_unknown() => {
            Step::fail(
                FailureCode::CommentUnconfirmed,
                e.to_string(),
                "LinkedIn did not confirm the first comment",
            )
        }
        Outcome::LinkedIn(LinkedInError::MediaNotReady { .. }) => media_wait(post, now, || {
            "LinkedIn still had the post's media processing after 15 minutes".into()
        }),
        Outcome::LinkedIn(e) => match e.retry_class() {
            RetryClass::FailFast => Step::fail(
                linkedin_code(e),
                e.to_string(),
                "LinkedIn refused the request; retrying cannot help",
            ),
            // Anything after the request may have reached LinkedIn leaves the outcome unknown.
            RetryClass::RetryLater { after } => retry(
                linkedin_code(e),
                e.to_string(),
                e.outcome_unknown(),
                after,
            ),
            RetryClass::RefreshThenRetry => Step::Refresh,
        },

        // A 401: a token still propagating is waited for until it is older than the
        // propagation window, then refreshed. Only a refresh that fails (or tokens refused
        // however often they are refreshed) shows the connection is broken; 401s alone never
        // exhaust a post's attempts.
        Outcome::Refreshed(Ok(RefreshOutcome::Refreshed)) if attempt >= MAX_REFRESHED_ATTEMPTS => {
            Step::Fail {
                code: FailureCode::UnretryableAuth,
                message: "LinkedIn refused the connection's tokens after every refresh".into(),
                reason: "LinkedIn refused the connection's tokens even after refreshing them; the member must reconnect".into(),
                attention: true,
            }
        }
        // An expired token is not the job's failure: the attempt after a refresh is allowed
        // past the limit (up to the bound above).
        Outcome::Refreshed(Ok(RefreshOutcome::Refreshed)) => retry_past_limit(
            FailureCode::TokenRefreshed,
            "the access token was refused and has been refreshed".into(),
            false,
            Some(AFTER_REFRESH),
            exhausted,
        ),
        Outcome::Refreshed(Ok(RefreshOutcome::TooFresh)) => Step::HandBack {
            why: "token still propagating",
            after: AFTER_REFRESH,
        },
        Outcome::Refreshed(Ok(RefreshOutcome::InProgress)) => Step::HandBack {
            why: "another refresh is under way",
            after: AFTER_REFRESH,
        },
        Outcome::Refreshed(Ok(RefreshOutcome::NeedsReconnect(reason))) => Step::fail(
            FailureCode::UnretryableAuth,
            reason.clone(),
            "the connection needs a reconnect",
        ),
        Outcome::Refreshed(Err(e)) if e.is_retryable() => {
            retry(FailureCode::TokenRefreshFailed, e.to_string(), false, None)
        }
        Outcome::Refreshed(Err(e)) => Step::fail(
            FailureCode::UnretryableAuth,
            e.to_string(),
            "the token could not be refreshed",
        ),

        Outcome::Revoked | Outcome::Tokens(KeeperError::Vault(VaultError::Destroyed)) => {
            Step::fail(
                FailureCode::ConnectionRevoked,
                "the connection was disconnected",
                "connection revoked",
            )
        }
        Outcome::Tokens(KeeperError::Missing) => Step::fail(
            FailureCode::ConnectionGone,
            "the connection no longer exists",
            "connection missing",
        ),
        Outcome::Tokens(e) if e.is_retryable() => {
            retry(FailureCode::TokensUnavailable, e.to_string(), false, None)
        }
        Outcome::Tokens(e) => Step::fail(
            FailureCode::TokensUnreadable,
            e.to_string(),
            "the stored tokens cannot be opened",
        ),

        Outcome::MediaFetch(e @ MediaError::Rejected(_)) => Step::fail(
            FailureCode::MediaRejected,
            e.to_string(),
            "an image cannot be used",
        ),
        Outcome::MediaFetch(e @ MediaError::Unavailable) => {
            retry(FailureCode::MediaUnavailable, e.to_string(), false, None)
        }
        Outcome::MediaFailed { urn }
            if urn.starts_with("urn:li:document:") || urn.starts_with("urn:li:video:") =>
        {
            Step::fail(
                FailureCode::MediaProcessingFailed,
                format!("LinkedIn could not process {urn}"),
                "a document or video failed processing",
            )
        }
        Outcome::MediaFailed { urn } => Step::fail(
            FailureCode::MediaRejected,
            format!("LinkedIn could not process image {urn}"),
            "an image failed processing",
        ),
        Outcome::VideoProcessing { .. } => Step::HandBack {
            why: "LinkedIn is processing the video",
            after: video_poll(post, now),
        },
        Outcome::MediaUploadExpired => Step::fail(
            FailureCode::MediaUploadExpired,
            "the upload URL expired twice",
            "upload URL expired after a new initialization",
        ),
        Outcome::MediaUploadTimedOut => Step::fail(
            FailureCode::MediaUploadTimedOut,
            "the video's upload did not fit the invocation's time",
            "video upload out of time",
        ),
        Outcome::MediaProcessing { urn } => media_wait(post, now, || {
            format!("image {urn} was still processing after 15 minutes")
        }),

        Outcome::Unsendable { code, detail } => {
            Step::fail(*code, *detail, "the post's content cannot be sent as it is")
        }
        Outcome::PageUnavailable => retry(
            FailureCode::ArticlePageUnavailable,
            "the link card's page could not be fetched".into(),
            false,
            None,
        ),

        Outcome::JobExpired if resolving => Step::fail(
            FailureCode::OutcomeUnknown,
            "LinkedIn could not be asked for 7 days whether the post went out; check the member's feed",
            "job older than 7 days",
        ),
        Outcome::JobExpired => Step::fail(
            FailureCode::JobExpired,
            "the job waited more than 7 days",
            "job older than 7 days",
        ),
        Outcome::Throttled { scope, until } => Step::Wait {
            code: FailureCode::RateLimited,
            message: format!(
                "LinkedIn's daily limit for {} is reached; publishing resumes at {}",
                match scope {
                    ThrottleScope::Member => "this member",
                    ThrottleScope::App => "this application (shared by every tenant)",
                },
                until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
            until: *until,
        },
    }
}

/// Another attempt later, whatever the count. Only resolving an unknown outcome past the
/// limit: slowly.
fn retry_past_limit(
    code: FailureCode,
    message: String,
    outcome_unknown: bool,
    at_least: Option<Duration>,
    exhausted: bool,
) -> Step {
    let at_least = if outcome_unknown && exhausted {
        Some(at_least.unwrap_or_default().max(RESOLVE_INTERVAL))
    } else {
        at_least
    };
    Step::Retry {
        code,
        message,
        outcome_unknown,
        at_least,
    }
}

/// How long until a processing video is asked about again: a quarter of the time waited so far,
/// from 2 s up to 5 minutes. Minutes of processing are normal for a video; the wait has no
/// limit of its own (the job's age, [`super::MAX_JOB_AGE`], bounds it) and spends no attempt.
fn video_poll(post: &Post, now: DateTime<Utc>) -> Duration {
    let waited = post
        .first_attempt_at
        .map(|t| (now - t).to_std().unwrap_or_default())
        .unwrap_or_default();
    (waited / 4).clamp(MEDIA_POLL, Duration::from_secs(300))
}

/// Media LinkedIn is still processing is waited for by redelivery, not counted as a failed
/// attempt, up to [`MEDIA_WAIT_LIMIT`] from the first attempt.
fn media_wait(post: &Post, now: DateTime<Utc>, message: impl FnOnce() -> String) -> Step {
    let waited = post.first_attempt_at.map(|t| now - t).unwrap_or_default();
    if waited > MEDIA_WAIT_LIMIT {
        return Step::fail(
            FailureCode::MediaNotReady,
            message(),
            "media never became available",
        );
    }
    Step::HandBack {
        why: "LinkedIn is processing the media",
        after: MEDIA_POLL,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::posts::{Author, PostDraft, PostId};
    use crate::domain::{ConnectionId, TenantId};
    use crate::linkedin::{classify_api_failure, until_next_utc_midnight};
    use crate::store::StoreError;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 25, 10, 0, 0).unwrap()
    }

    /// A post at its `attempts`-th publish attempt (claimed `attempts` times).
    fn publishing(attempts: u32) -> Post {
        let draft = PostDraft {
            scheduled_at: None,
            ..PostDraft::new(
                ConnectionId::new(),
                Author::Member(crate::domain::MemberUrn::from_member_id("abc")),
                "Hello",
            )
        };
        let mut post = Post::new(
            PostId::new(),
            TenantId::parse("acme").unwrap(),
            draft,
            now(),
        );
        for _ in 0..attempts {
            post = post
                .claim(now(), Duration::from_secs(90), None)
                .expect("claimable");
            post.status = crate::domain::posts::PostStatus::Queued;
        }
        post.status = crate::domain::posts::PostStatus::Publishing;
        post
    }

    fn unknown(attempts: u32) -> Post {
        Post {
            outcome_unknown: true,
            ..publishing(attempts)
        }
    }

    /// A published post at its `n`-th delete attempt.
    fn deleting(n: u32) -> Post {
        let mut post = publishing(1).published("urn:li:share:1", now());
        post.delete_attempts = n - 1;
        post
    }

    fn linkedin(status: u16, body: &str) -> LinkedInError {
        classify_api_failure(status, None, Some("uuid".into()), body, now())
    }

    fn linkedin_after(status: u16, retry_after: u64, body: &str) -> LinkedInError {
        let after = Some(Duration::from_secs(retry_after));
        classify_api_failure(status, after, None, body, now())
    }

    fn error(status: u16, service_error_code: u32, code: &str, message: &str) -> String {
        format!(
            r#"{{"status":{status},"serviceErrorCode":{service_error_code},"code":"{code}","message":"{message}"}}"#
        )
    }

    /// The step in a few words: what the table compares.
    fn shape(step: &Step) -> String {
        match step {
            Step::Published { urn } => format!("published {urn}"),
            Step::Deleted => "deleted".into(),
            Step::Retry {
                code,
                outcome_unknown,
                at_least,
                ..
            } => format!(
                "retry {code}{}{}",
                if *outcome_unknown { " unknown" } else { "" },
                at_least.map_or(String::new(), |d| format!(" after {}s", d.as_secs()))
            ),
            Step::Refresh => "refresh".into(),
            Step::HandBack { after, .. } => format!("hand back {}s", after.as_secs()),
            Step::Wait { code, until, .. } => format!("wait {code} until {until}"),
            Step::Fail {
                code, attention, ..
            } => format!("fail {code}{}", if *attention { " attention" } else { "" }),
        }
    }

    /// A limit of LinkedIn's already known holds the attempt back, whatever the attempt count
    /// (it is not one) and whether the outcome is unknown; the post says until when.
    #[test]
    fn a_known_linkedin_limit_holds_the_attempt_back_without_spending_it() {
        let midnight = now() + chrono::Duration::from_std(until_next_utc_midnight(now())).unwrap();
        for (name, post, scope) in [
            (
                "member, first attempt",
                publishing(1),
                ThrottleScope::Member,
            ),
            ("member, last attempt", publishing(4), ThrottleScope::Member),
            ("application", publishing(2), ThrottleScope::App),
            (
                "application, outcome unknown",
                unknown(3),
                ThrottleScope::App,
            ),
        ] {
            let step = next_step(
                &post,
                JobAction::Publish,
                &Outcome::Throttled {
                    scope,
                    until: midnight,
                },
                now(),
            );
            assert_eq!(
                shape(&step),
                format!("wait RATE_LIMITED until {midnight}"),
                "{name}"
            );
            let Step::Wait { message, .. } = step else {
                unreachable!()
            };
            let resumes = midnight.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            assert!(message.contains(&resumes), "{name}: {message}");
            let whose = match scope {
                ThrottleScope::Member => "this member",
                ThrottleScope::App => "this application",
            };
            assert!(message.contains(whose), "{name}: {message}");
        }
    }

    fn decide(post: &Post, action: JobAction, outcome: Outcome<'_>) -> String {
        shape(&next_step(post, action, &outcome, now()))
    }

    #[test]
    fn linkedin_answers_to_a_publish() {
        let midnight = until_next_utc_midnight(now()).as_secs();
        let duplicate = error(
            422,
            0,
            "DUPLICATE_POST",
            "Content is a duplicate of urn:li:share:7",
        );
        let rows: Vec<(&str, Post, LinkedInError, String)> = vec![
            // The spec's error table.
            (
                "400 validation",
                publishing(1),
                linkedin(400, &error(400, 0, "INVALID", "bad")),
                "fail VALIDATION_ERROR".into(),
            ),
            (
                "401 invalid token 65600",
                publishing(1),
                linkedin(401, &error(401, 65600, "INVALID_ACCESS_TOKEN", "x")),
                "refresh".into(),
            ),
            (
                "401 revoked or propagating 65601",
                publishing(1),
                linkedin(401, &error(401, 65601, "REVOKED_ACCESS_TOKEN", "x")),
                "refresh".into(),
            ),
            (
                "401 expired 65602",
                publishing(1),
                linkedin(401, &error(401, 65602, "EXPIRED_ACCESS_TOKEN", "x")),
                "refresh".into(),
            ),
            (
                "401 without a code",
                publishing(1),
                linkedin(401, "Empty oauth2_access_token"),
                "refresh".into(),
            ),
            (
                "403 ACCESS_DENIED",
                publishing(1),
                linkedin(
                    403,
                    &error(403, 100, "ACCESS_DENIED", "Not enough permissions"),
                ),
                "fail FORBIDDEN".into(),
            ),
            (
                "404",
                publishing(1),
                linkedin(404, &error(404, 0, "NOT_FOUND", "gone")),
                "fail NOT_FOUND".into(),
            ),
            (
                "429 with Retry-After",
                publishing(1),
                linkedin_after(429, 30, ""),
                "retry RATE_LIMITED after 30s".into(),
            ),
            (
                "429 daily limit, no Retry-After",
                publishing(1),
                linkedin(429, &error(429, 101, "", "throttle")),
                format!("retry RATE_LIMITED after {midnight}s"),
            ),
            (
                "500",
                publishing(1),
                linkedin(500, "oops"),
                "retry LINKEDIN_UNAVAILABLE unknown".into(),
            ),
            (
                "502",
                publishing(2),
                linkedin(502, ""),
                "retry LINKEDIN_UNAVAILABLE unknown".into(),
            ),
            (
                "503 with Retry-After",
                publishing(1),
                linkedin_after(503, 120, ""),
                "retry LINKEDIN_UNAVAILABLE unknown after 120s".into(),
            ),
            (
                "504",
                publishing(3),
                linkedin(504, ""),
                "retry LINKEDIN_UNAVAILABLE unknown".into(),
            ),
            (
                "408",
                publishing(1),
                linkedin(408, ""),
                "retry LINKEDIN_UNAVAILABLE unknown".into(),
            ),
            // LinkedIn's own codes.
            (
                "426 NONEXISTENT_VERSION",
                publishing(1),
                linkedin(
                    426,
                    &error(
                        426,
                        0,
                        "NONEXISTENT_VERSION",
                        "Requested version 20231101 is not active",
                    ),
                ),
                "fail API_VERSION_RETIRED".into(),
            ),
            (
                "422 DUPLICATE_POST, nothing sent before",
                publishing(1),
                linkedin(422, &duplicate),
                "fail DUPLICATE_CONTENT".into(),
            ),
            (
                "422 DUPLICATE_POST after an unknown outcome",
                unknown(2),
                linkedin(422, &duplicate),
                "published urn:li:share:7".into(),
            ),
            (
                "400 MEDIA_ASSET_WAITING_UPLOAD",
                publishing(1),
                linkedin(
                    400,
                    &error(400, 0, "MEDIA_ASSET_WAITING_UPLOAD", "not ready"),
                ),
                "hand back 2s".into(),
            ),
            // Attempts used up.
            // A 5xx may have been applied: never given up, resolved slowly past the limit.
            (
                "503 on the 4th attempt",
                publishing(4),
                linkedin(503, ""),
                "retry LINKEDIN_UNAVAILABLE unknown after 900s".into(),
            ),
            (
                "429 on the 4th attempt",
                publishing(4),
                linkedin_after(429, 30, ""),
                "fail RATE_LIMIT_EXHAUSTED".into(),
            ),
            (
                "503 on the 4th attempt of a post that may be live",
                unknown(4),
                linkedin(503, ""),
                "retry LINKEDIN_UNAVAILABLE unknown after 900s".into(),
            ),
            (
                "400 on the 4th attempt of a post that may be live",
                unknown(4),
                linkedin(400, &error(400, 0, "INVALID", "bad")),
                "fail VALIDATION_ERROR".into(),
            ),
        ];
        for (name, post, e, expected) in rows {
            assert_eq!(
                decide(&post, JobAction::Publish, Outcome::LinkedIn(&e)),
                expected,
                "{name}"
            );
        }
    }

    #[test]
    fn what_a_refresh_after_a_401_came_to() {
        let store_down: Result<RefreshOutcome, KeeperError> =
            Err(StoreError::Unavailable("throttled".into()).into());
        let rows: Vec<(&str, Post, Result<RefreshOutcome, KeeperError>, &str)> = vec![
            (
                "refreshed",
                publishing(1),
                Ok(RefreshOutcome::Refreshed),
                "retry TOKEN_REFRESHED after 5s",
            ),
            (
                "refreshed past the attempt limit",
                publishing(5),
                Ok(RefreshOutcome::Refreshed),
                "retry TOKEN_REFRESHED after 5s",
            ),
            (
                "refreshed and refused 8 times",
                publishing(8),
                Ok(RefreshOutcome::Refreshed),
                "fail UNRETRYABLE_AUTH attention",
            ),
            (
                "token younger than the propagation window",
                publishing(1),
                Ok(RefreshOutcome::TooFresh),
                "hand back 5s",
            ),
            (
                "another refresh under way",
                publishing(1),
                Ok(RefreshOutcome::InProgress),
                "hand back 5s",
            ),
            (
                "grant revoked",
                publishing(1),
                Ok(RefreshOutcome::NeedsReconnect("revoked".into())),
                "fail UNRETRYABLE_AUTH",
            ),
            (
                "store unavailable",
                publishing(1),
                store_down,
                "retry TOKEN_REFRESH_FAILED",
            ),
            (
                "connection gone",
                publishing(1),
                Err(KeeperError::Missing),
                "fail UNRETRYABLE_AUTH",
            ),
            (
                "store unavailable on the 4th attempt",
                publishing(4),
                Err(StoreError::Unavailable("x".into()).into()),
                "fail RETRIES_EXHAUSTED",
            ),
        ];
        for (name, post, refreshed, expected) in rows {
            for action in [JobAction::Publish, JobAction::Delete, JobAction::Edit] {
                let post = match action {
                    JobAction::Publish => post.clone(),
                    JobAction::Delete => deleting(post.attempts),
                    JobAction::Edit => editing(post.attempts),
                    JobAction::Comment => commenting(post.attempts),
                };
                assert_eq!(
                    decide(&post, action, Outcome::Refreshed(&refreshed)),
                    expected,
                    "{name} ({action:?})"
                );
            }
        }
    }

    #[test]
    fn tokens_that_cannot_be_opened() {
        let rows: Vec<(&str, Outcome<'_>, &str)> = vec![
            ("disconnected", Outcome::Revoked, "fail CONNECTION_REVOKED"),
            (
                "tokens destroyed",
                Outcome::Tokens(&KeeperError::Vault(VaultError::Destroyed)),
                "fail CONNECTION_REVOKED",
            ),
            (
                "connection gone",
                Outcome::Tokens(&KeeperError::Missing),
                "fail CONNECTION_GONE",
            ),
        ];
        for (name, outcome, expected) in rows {
            assert_eq!(
                decide(&publishing(1), JobAction::Publish, outcome),
                expected,
                "{name}"
            );
        }
        let kms_down = KeeperError::Vault(VaultError::KeyServiceUnavailable("throttled".into()));
        let tampered = KeeperError::Vault(VaultError::Integrity);
        assert_eq!(
            decide(
                &publishing(1),
                JobAction::Publish,
                Outcome::Tokens(&kms_down)
            ),
            "retry TOKENS_UNAVAILABLE"
        );
        assert_eq!(
            decide(
                &publishing(4),
                JobAction::Publish,
                Outcome::Tokens(&kms_down)
            ),
            "fail RETRIES_EXHAUSTED"
        );
        assert_eq!(
            decide(&deleting(1), JobAction::Delete, Outcome::Tokens(&tampered)),
            "fail TOKENS_UNREADABLE"
        );
    }

    #[test]
    fn media_that_cannot_be_used_yet_or_ever() {
        let later = |minutes: i64| Post {
            first_attempt_at: Some(now() - chrono::Duration::minutes(minutes)),
            ..publishing(1)
        };
        let refused = MediaError::Rejected(crate::media::MediaRefusal::NotAnImage);
        let host_down = MediaError::Unavailable;
        let urn = "urn:li:image:1";
        let waiting = linkedin(400, &error(400, 0, "MEDIA_ASSET_WAITING_UPLOAD", "x"));
        let rows: Vec<(&str, Post, Outcome<'_>, &str)> = vec![
            (
                "image refused",
                later(0),
                Outcome::MediaFetch(&refused),
                "fail MEDIA_REJECTED",
            ),
            (
                "image host down",
                later(0),
                Outcome::MediaFetch(&host_down),
                "retry MEDIA_UNAVAILABLE",
            ),
            (
                "processing failed",
                later(0),
                Outcome::MediaFailed { urn },
                "fail MEDIA_REJECTED",
            ),
            (
                "still processing",
                later(14),
                Outcome::MediaProcessing { urn },
                "hand back 2s",
            ),
            (
                "still processing after 15 minutes",
                later(16),
                Outcome::MediaProcessing { urn },
                "fail MEDIA_NOT_READY",
            ),
            (
                "posted before the media was ready",
                later(16),
                Outcome::LinkedIn(&waiting),
                "fail MEDIA_NOT_READY",
            ),
            (
                "a document failed processing",
                later(0),
                Outcome::MediaFailed {
                    urn: "urn:li:document:D1",
                },
                "fail MEDIA_PROCESSING_FAILED",
            ),
            (
                "a video failed processing",
                later(0),
                Outcome::MediaFailed {
                    urn: "urn:li:video:D1",
                },
                "fail MEDIA_PROCESSING_FAILED",
            ),
            (
                "a video just finalized is asked about soon",
                later(0),
                Outcome::VideoProcessing {
                    urn: "urn:li:video:D1",
                },
                "hand back 2s",
            ),
            (
                "a video processing for 20 minutes waits longer, spending no attempt",
                later(20),
                Outcome::VideoProcessing {
                    urn: "urn:li:video:D1",
                },
                "hand back 300s",
            ),
            (
                "a video processing for 8 minutes is asked about after 2 minutes",
                later(8),
                Outcome::VideoProcessing {
                    urn: "urn:li:video:D1",
                },
                "hand back 120s",
            ),
            (
                "an upload URL expired twice",
                later(0),
                Outcome::MediaUploadExpired,
                "fail MEDIA_UPLOAD_EXPIRED",
            ),
            (
                "a video that does not fit the invocation",
                later(0),
                Outcome::MediaUploadTimedOut,
                "fail MEDIA_UPLOAD_TIMED_OUT",
            ),
            (
                "a link card without a title",
                later(0),
                Outcome::Unsendable {
                    code: FailureCode::ArticleTitleMissing,
                    detail: "no og:title",
                },
                "fail ARTICLE_TITLE_MISSING",
            ),
            (
                "a link card's page down",
                later(0),
                Outcome::PageUnavailable,
                "retry ARTICLE_PAGE_UNAVAILABLE",
            ),
            (
                "a link card's page down at the last attempt",
                publishing(MAX_ATTEMPTS),
                Outcome::PageUnavailable,
                "fail RETRIES_EXHAUSTED",
            ),
        ];
        for (name, post, outcome, expected) in rows {
            assert_eq!(
                decide(&post, JobAction::Publish, outcome),
                expected,
                "{name}"
            );
        }
    }

    #[test]
    fn an_old_job_fails_and_says_whether_the_post_may_be_live() {
        assert_eq!(
            decide(&publishing(2), JobAction::Publish, Outcome::JobExpired),
            "fail JOB_EXPIRED"
        );
        assert_eq!(
            decide(&unknown(9), JobAction::Publish, Outcome::JobExpired),
            "fail OUTCOME_UNKNOWN"
        );
    }

    /// A delete counts its own attempts (recorded on the post), not the publish's nor the
    /// queue's receive count, and an unknown outcome of a delete is just retried: deleting
    /// again is harmless.
    #[test]
    fn linkedin_answers_to_a_delete() {
        let rows: Vec<(&str, Post, LinkedInError, &str)> = vec![
            (
                "404: already gone",
                deleting(1),
                linkedin(404, &error(404, 0, "NOT_FOUND", "x")),
                "deleted",
            ),
            (
                "503",
                deleting(1),
                linkedin(503, ""),
                "retry LINKEDIN_UNAVAILABLE",
            ),
            (
                "503 on the 3rd attempt",
                deleting(3),
                linkedin(503, ""),
                "retry LINKEDIN_UNAVAILABLE",
            ),
            (
                "503 on the 4th attempt",
                deleting(4),
                linkedin(503, ""),
                "fail RETRIES_EXHAUSTED",
            ),
            (
                "429 on the 4th attempt",
                deleting(4),
                linkedin_after(429, 60, ""),
                "fail RATE_LIMIT_EXHAUSTED",
            ),
            (
                "401",
                deleting(1),
                linkedin(401, &error(401, 65601, "REVOKED_ACCESS_TOKEN", "x")),
                "refresh",
            ),
            (
                "403",
                deleting(1),
                linkedin(403, &error(403, 100, "ACCESS_DENIED", "x")),
                "fail FORBIDDEN",
            ),
            (
                "426",
                deleting(1),
                linkedin(426, &error(426, 0, "NONEXISTENT_VERSION", "x")),
                "fail API_VERSION_RETIRED",
            ),
        ];
        for (name, post, e, expected) in rows {
            assert_eq!(
                decide(&post, JobAction::Delete, Outcome::LinkedIn(&e)),
                expected,
                "{name}"
            );
        }
        // The publish's many attempts do not count against its delete.
        let mut post = deleting(1);
        post.attempts = 4;
        assert_eq!(
            decide(
                &post,
                JobAction::Delete,
                Outcome::LinkedIn(&linkedin(503, ""))
            ),
            "retry LINKEDIN_UNAVAILABLE"
        );
    }

    /// A failure to connect proves nothing was sent; a connection lost after sending does not.
    #[tokio::test]
    async fn no_answer_is_an_unknown_outcome_only_if_something_was_sent() {
        let refused = reqwest::Client::new()
            .get("http://127.0.0.1:1/")
            .send()
            .await
            .expect_err("nothing listens on port 1");
        let not_sent = LinkedInError::transport(refused);
        assert_eq!(
            decide(
                &publishing(1),
                JobAction::Publish,
                Outcome::LinkedIn(&not_sent)
            ),
            "retry LINKEDIN_UNAVAILABLE"
        );
        assert_eq!(
            decide(
                &unknown(2),
                JobAction::Publish,
                Outcome::LinkedIn(&not_sent)
            ),
            "retry LINKEDIN_UNAVAILABLE unknown",
            "an earlier attempt's unknown outcome stays unknown"
        );
    }

    /// A published post with a pending edit at its `n`-th attempt.
    fn editing(n: u32) -> Post {
        let mut post = deleting(1);
        post.pending_edit = Some(crate::domain::posts::PendingEdit {
            text: "new".into(),
            requested_at: now(),
            attempts: n - 1,
            outcome_unknown: false,
            last_error: None,
        });
        post
    }

    /// A published post whose first comment is at its `n`-th attempt (claimed `n` times).
    fn commenting(n: u32) -> Post {
        let mut post = deleting(1);
        let mut comment = crate::domain::posts::FirstComment::pending("First!".into());
        comment.attempts = n;
        post.first_comment = Some(comment);
        post
    }

    /// An edit is idempotent: a 5xx or timeout is retried (flagged unknown, so the next attempt
    /// reads back where it may) and given up after the attempts; a 404 fails (the post is gone
    /// at LinkedIn), never "deleted".
    #[test]
    fn linkedin_answers_to_an_edit() {
        let rows: Vec<(&str, Post, LinkedInError, &str)> = vec![
            (
                "500, first attempt",
                editing(1),
                linkedin(500, "oops"),
                "retry LINKEDIN_UNAVAILABLE unknown",
            ),
            (
                "500, last attempt",
                editing(4),
                linkedin(500, "oops"),
                "fail RETRIES_EXHAUSTED",
            ),
            (
                "400",
                editing(1),
                linkedin(400, &error(400, 0, "INVALID", "bad")),
                "fail VALIDATION_ERROR",
            ),
            (
                "403",
                editing(1),
                linkedin(403, &error(403, 100, "ACCESS_DENIED", "no")),
                "fail FORBIDDEN",
            ),
            (
                "404",
                editing(1),
                linkedin(404, &error(404, 0, "NOT_FOUND", "gone")),
                "fail NOT_FOUND",
            ),
            (
                "401",
                editing(1),
                linkedin(401, &error(401, 65600, "INVALID_ACCESS_TOKEN", "x")),
                "refresh",
            ),
            (
                "429",
                editing(2),
                linkedin_after(429, 30, ""),
                "retry RATE_LIMITED after 30s",
            ),
        ];
        for (name, post, e, expected) in rows {
            assert_eq!(
                decide(&post, JobAction::Edit, Outcome::LinkedIn(&e)),
                expected,
                "{name}"
            );
        }
    }

    /// A first comment waits out LinkedIn's early 404 by redelivery (bounded), fails on a 403,
    /// and is never sent twice: an unknown outcome fails it as unconfirmed.
    #[test]
    fn linkedin_answers_to_a_first_comment() {
        let rows: Vec<(&str, Post, LinkedInError, &str)> = vec![
            (
                "early 404",
                commenting(1),
                linkedin(404, &error(404, 0, "NOT_FOUND", "x")),
                "retry NOT_FOUND",
            ),
            (
                "404 at the last attempt",
                commenting(4),
                linkedin(404, &error(404, 0, "NOT_FOUND", "x")),
                "fail RETRIES_EXHAUSTED",
            ),
            (
                "403 missing scope",
                commenting(1),
                linkedin(403, &error(403, 100, "ACCESS_DENIED", "no")),
                "fail FORBIDDEN",
            ),
            (
                "500 after sending",
                commenting(1),
                linkedin(500, "oops"),
                "fail COMMENT_UNCONFIRMED",
            ),
            (
                "429",
                commenting(1),
                linkedin_after(429, 30, ""),
                "retry RATE_LIMITED after 30s",
            ),
        ];
        for (name, post, e, expected) in rows {
            assert_eq!(
                decide(&post, JobAction::Comment, Outcome::LinkedIn(&e)),
                expected,
                "{name}"
            );
        }
    }
}
