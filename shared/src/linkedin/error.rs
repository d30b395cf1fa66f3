//! The one classification of LinkedIn failures. Every caller (OAuth callback, publisher,
//! refresher, health check) asks `retry_class()` rather than looking at status codes itself.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;

/// What a caller should do about a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryClass {
    /// Retrying the same request cannot help (400/403/404/422, bad configuration).
    FailFast,
    /// A transient failure: try again later, not before `after` when LinkedIn said so.
    RetryLater { after: Option<Duration> },
    /// The access token was refused (401 with 65600/65601/65602). Refresh once, then retry
    /// later: a token seconds old may simply not have propagated yet.
    RefreshThenRetry,
}

#[derive(Debug, thiserror::Error)]
pub enum LinkedInError {
    #[error("LinkedIn refused the access token (401{}): {message}", codes(.service_error_code, &None))]
    Unauthorized {
        service_error_code: Option<u32>,
        message: String,
        request_id: Option<String>,
    },
    #[error("LinkedIn throttled the request (429{}); retry in {}s", if *.daily_limit { ", daily limit" } else { "" }, .retry_after.as_secs())]
    Throttled {
        retry_after: Duration,
        /// No Retry-After: LinkedIn's limits are per day and reset at midnight UTC.
        daily_limit: bool,
        request_id: Option<String>,
    },
    #[error("LinkedIn is unavailable ({status}): {message}")]
    Unavailable {
        status: u16,
        message: String,
        retry_after: Option<Duration>,
        request_id: Option<String>,
    },
    /// No (whole) answer. Unless the connection could not even be made (`sent` false:
    /// refused, DNS), the request may have reached LinkedIn and been applied.
    #[error("no answer from LinkedIn ({}): {source}", if !*.sent { "could not connect" } else if *.timed_out { "timed out" } else { "connection lost" })]
    Transport {
        timed_out: bool,
        /// Whether any of the request may have left: false only for failures to connect.
        sent: bool,
        #[source]
        source: reqwest::Error,
    },
    #[error("LinkedIn refused the request ({status}{}): {message}", codes(.service_error_code, .code))]
    Rejected {
        status: u16,
        service_error_code: Option<u32>,
        code: Option<String>,
        message: String,
        request_id: Option<String>,
    },
    #[error("LinkedIn says the content duplicates {existing_urn}")]
    DuplicatePost {
        existing_urn: String,
        request_id: Option<String>,
    },
    /// 400 MEDIA_ASSET_WAITING_UPLOAD: a post made before its image, video or document was
    /// AVAILABLE. Not the post's fault: wait for the media, then post again.
    #[error("LinkedIn has not finished processing the post's media (400 MEDIA_ASSET_WAITING_UPLOAD): {message}")]
    MediaNotReady {
        message: String,
        request_id: Option<String>,
    },
    #[error("LinkedIn no longer serves API version {version} (426 NONEXISTENT_VERSION): set LINKEDIN_API_VERSION to an active YYYYMM version")]
    VersionRetired {
        version: String,
        request_id: Option<String>,
    },
    #[error("LinkedIn's OAuth endpoint answered {status} {error}: {description}")]
    OAuth {
        status: u16,
        error: String,
        description: String,
    },
    #[error("unexpected answer from LinkedIn ({status}): {detail}")]
    Unexpected { status: u16, detail: String },
}

/// ", serviceErrorCode 100, ACCESS_DENIED" — whichever LinkedIn gave.
fn codes(service_error_code: &Option<u32>, code: &Option<String>) -> String {
    let mut out = String::new();
    if let Some(n) = service_error_code {
        out.push_str(&format!(", serviceErrorCode {n}"));
    }
    if let Some(c) = code {
        out.push_str(&format!(", {c}"));
    }
    out
}

impl LinkedInError {
    pub fn retry_class(&self) -> RetryClass {
        match self {
            // 65600 invalid, 65601 revoked (or not yet propagated), 65602 expired; a 401
            // without a code ("Empty oauth2_access_token") is treated the same way: only a
            // failed refresh shows the connection is really broken.
            Self::Unauthorized { .. } => RetryClass::RefreshThenRetry,
            Self::Throttled { retry_after, .. } => RetryClass::RetryLater {
                after: Some(*retry_after),
            },
            Self::Unavailable { retry_after, .. } => RetryClass::RetryLater {
                after: *retry_after,
            },
            Self::Transport { .. } | Self::MediaNotReady { .. } => {
                RetryClass::RetryLater { after: None }
            }
            Self::OAuth { status, .. } if *status >= 500 => RetryClass::RetryLater { after: None },
            Self::Unexpected { status, .. } if *status >= 500 => {
                RetryClass::RetryLater { after: None }
            }
            Self::Rejected { .. }
            | Self::DuplicatePost { .. }
            | Self::VersionRetired { .. }
            | Self::OAuth { .. }
            | Self::Unexpected { .. } => RetryClass::FailFast,
        }
    }

    /// LinkedIn's `x-li-uuid`, for support tickets.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Self::Unauthorized { request_id, .. }
            | Self::Throttled { request_id, .. }
            | Self::Unavailable { request_id, .. }
            | Self::Rejected { request_id, .. }
            | Self::DuplicatePost { request_id, .. }
            | Self::MediaNotReady { request_id, .. }
            | Self::VersionRetired { request_id, .. } => request_id.as_deref(),
            _ => None,
        }
    }

    /// Whether LinkedIn may have carried the request out although this answer says it
    /// failed: a timeout, a dropped or reset connection, an answer cut short, a 5xx. Only a
    /// failure to connect at all proves nothing was sent.
    pub fn outcome_unknown(&self) -> bool {
        match self {
            Self::Transport { sent, .. } => *sent,
            Self::Unavailable { .. } => true,
            Self::Unexpected { status, .. } | Self::OAuth { status, .. } => *status >= 500,
            _ => false,
        }
    }

    /// A transport failure of reqwest's, classified by whether anything was sent.
    pub fn transport(source: reqwest::Error) -> Self {
        Self::Transport {
            timed_out: source.is_timeout(),
            sent: !source.is_connect(),
            source: source.without_url(),
        }
    }

    /// 401 codes that can mean "this token has not propagated yet" right after issue.
    pub fn may_be_propagation_delay(&self) -> bool {
        matches!(
            self,
            Self::Unauthorized {
                service_error_code: Some(65601 | 65602),
                ..
            }
        )
    }

    /// A refresh failure that means the member must reconnect (grant invalid, revoked or
    /// expired), as opposed to LinkedIn being briefly unavailable.
    pub fn is_invalid_grant(&self) -> bool {
        matches!(self, Self::OAuth { status: 400 | 401, error, .. } if error != "invalid_client_id" && error != "invalid_client")
    }
}

/// LinkedIn's API error body: `{"status", "serviceErrorCode", "code"?, "message"}`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ApiErrorBody {
    pub service_error_code: Option<u32>,
    pub code: Option<String>,
    pub message: Option<String>,
}

/// The OAuth endpoints' error body: `{"error", "error_description"}`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct OAuthErrorBody {
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// Builds the classified error for a non-success answer of the REST API.
pub(crate) fn classify_api_failure(
    status: u16,
    retry_after: Option<Duration>,
    request_id: Option<String>,
    body: &str,
    now: DateTime<Utc>,
) -> LinkedInError {
    let parsed: ApiErrorBody = serde_json::from_str(body).unwrap_or_default();
    let message = parsed
        .message
        .clone()
        .unwrap_or_else(|| truncate(body, 300));
    match status {
        401 => LinkedInError::Unauthorized {
            service_error_code: parsed.service_error_code,
            message,
            request_id,
        },
        429 => LinkedInError::Throttled {
            daily_limit: retry_after.is_none(),
            retry_after: retry_after.unwrap_or_else(|| until_next_utc_midnight(now)),
            request_id,
        },
        408 | 500..=599 => LinkedInError::Unavailable {
            status,
            message,
            retry_after,
            request_id,
        },
        400 if parsed.code.as_deref() == Some("MEDIA_ASSET_WAITING_UPLOAD") => {
            LinkedInError::MediaNotReady {
                message,
                request_id,
            }
        }
        426 => LinkedInError::VersionRetired {
            version: version_named_in(&message).unwrap_or_else(|| "(unknown)".into()),
            request_id,
        },
        422 if parsed.code.as_deref() == Some("DUPLICATE_POST")
            || message.contains("duplicate") =>
        {
            match duplicate_urn_in(&message) {
                Some(existing_urn) => LinkedInError::DuplicatePost {
                    existing_urn,
                    request_id,
                },
                None => LinkedInError::Rejected {
                    status,
                    service_error_code: parsed.service_error_code,
                    code: parsed.code,
                    message,
                    request_id,
                },
            }
        }
        _ => LinkedInError::Rejected {
            status,
            service_error_code: parsed.service_error_code,
            code: parsed.code,
            message,
            request_id,
        },
    }
}

pub(crate) fn classify_oauth_failure(status: u16, body: &str) -> LinkedInError {
    match serde_json::from_str::<OAuthErrorBody>(body) {
        Ok(OAuthErrorBody {
            error: Some(error),
            error_description,
        }) => LinkedInError::OAuth {
            status,
            error,
            description: error_description.unwrap_or_default(),
        },
        _ => LinkedInError::Unexpected {
            status,
            detail: truncate(body, 300),
        },
    }
}

/// `Retry-After` as delta-seconds or an HTTP date.
pub(crate) fn parse_retry_after(raw: &str, now: DateTime<Utc>) -> Option<Duration> {
    if let Ok(seconds) = raw.trim().parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = DateTime::parse_from_rfc2822(raw.trim()).ok()?;
    Some(
        (at.with_timezone(&Utc) - now)
            .to_std()
            .unwrap_or(Duration::ZERO),
    )
}

pub fn until_next_utc_midnight(now: DateTime<Utc>) -> Duration {
    (crate::domain::limits::next_utc_midnight(now) - now)
        .to_std()
        .unwrap_or(Duration::ZERO)
}

fn duplicate_urn_in(message: &str) -> Option<String> {
    message
        .split(|c: char| c.is_whitespace() || c == '"' || c == ',')
        .find(|w| w.starts_with("urn:li:"))
        .map(|w| w.trim_end_matches(['.', ')']).to_owned())
}

fn version_named_in(message: &str) -> Option<String> {
    message
        .split_whitespace()
        .find(|w| w.len() >= 6 && w.bytes().all(|b| b.is_ascii_digit()))
        .map(str::to_owned)
}

fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 22, 30, 0).unwrap()
    }

    fn classify(status: u16, body: &str) -> LinkedInError {
        classify_api_failure(status, None, Some("uuid-1".into()), body, now())
    }

    #[test]
    fn a_401_with_a_token_code_refreshes_then_retries() {
        for code in [65600, 65601, 65602] {
            let e = classify(
                401,
                &format!(r#"{{"status":401,"serviceErrorCode":{code},"message":"x"}}"#),
            );
            assert_eq!(e.retry_class(), RetryClass::RefreshThenRetry);
        }
    }

    #[test]
    fn only_65601_and_65602_may_be_propagation_delay() {
        let e = classify(
            401,
            r#"{"status":401,"serviceErrorCode":65601,"code":"REVOKED_ACCESS_TOKEN","message":"The token used in the request has been revoked by the user"}"#,
        );
        assert!(e.may_be_propagation_delay());
        let e = classify(
            401,
            r#"{"status":401,"serviceErrorCode":65600,"message":"Invalid access token"}"#,
        );
        assert!(!e.may_be_propagation_delay());
    }

    #[test]
    fn client_errors_fail_fast_and_keep_the_request_id() {
        for status in [400, 403, 404, 422] {
            let e = classify(
                status,
                r#"{"status":403,"serviceErrorCode":100,"code":"ACCESS_DENIED","message":"Not enough permissions to access: me.GET.NO_VERSION"}"#,
            );
            assert_eq!(e.retry_class(), RetryClass::FailFast, "{status}");
            assert_eq!(e.request_id(), Some("uuid-1"));
        }
    }

    /// Only a refused connection proves nothing reached LinkedIn; a connection dropped after
    /// the request went out, or a timeout, leaves the outcome unknown.
    #[tokio::test]
    async fn only_a_failure_to_connect_proves_nothing_was_sent() {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_millis(300))
            .build()
            .unwrap();
        let post = |port: u16| {
            http.post(format!("http://127.0.0.1:{port}/rest/posts"))
                .body("{}")
                .send()
        };

        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        let refused = LinkedInError::transport(post(port).await.unwrap_err());
        assert!(!refused.outcome_unknown(), "{refused}");

        // Reads the request, then hangs up without a word.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            use tokio::io::AsyncReadExt;
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut buf = [0u8; 4096];
                let _ = socket.read(&mut buf).await;
                drop(socket);
            }
        });
        let dropped = LinkedInError::transport(post(port).await.unwrap_err());
        assert!(dropped.outcome_unknown(), "{dropped}");

        // Accepts and never answers.
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = silent.local_addr().unwrap().port();
        let timed_out = LinkedInError::transport(post(port).await.unwrap_err());
        assert!(timed_out.outcome_unknown(), "{timed_out}");
        drop(silent);

        for status in [500, 502, 503, 504] {
            assert!(classify(status, "oops").outcome_unknown(), "{status}");
        }
        for status in [400, 401, 403, 404, 422, 426, 429] {
            assert!(!classify(status, "{}").outcome_unknown(), "{status}");
        }
    }

    #[test]
    fn server_errors_and_timeouts_retry_later() {
        for status in [408, 500, 502, 503, 504] {
            assert_eq!(
                classify(status, "oops").retry_class(),
                RetryClass::RetryLater { after: None }
            );
        }
    }

    #[test]
    fn a_429_honours_retry_after() {
        let e = classify_api_failure(429, Some(Duration::from_secs(7)), None, "{}", now());
        assert_eq!(
            e.retry_class(),
            RetryClass::RetryLater {
                after: Some(Duration::from_secs(7))
            }
        );
    }

    #[test]
    fn a_429_without_retry_after_waits_for_midnight_utc() {
        let e = classify(
            429,
            r#"{"status":429,"serviceErrorCode":101,"message":"Resource level throttle limit for calls to this resource is reached."}"#,
        );
        assert_eq!(
            e.retry_class(),
            RetryClass::RetryLater {
                after: Some(Duration::from_secs(90 * 60))
            }
        );
        assert!(matches!(
            e,
            LinkedInError::Throttled {
                daily_limit: true,
                ..
            }
        ));
    }

    #[test]
    fn messages_name_linkedins_codes_plainly() {
        let e = classify(
            403,
            r#"{"status":403,"serviceErrorCode":100,"code":"ACCESS_DENIED","message":"Not enough permissions"}"#,
        );
        assert_eq!(
            e.to_string(),
            "LinkedIn refused the request (403, serviceErrorCode 100, ACCESS_DENIED): Not enough permissions"
        );
        let e = classify(
            401,
            r#"{"status":401,"message":"Empty oauth2_access_token"}"#,
        );
        assert_eq!(
            e.to_string(),
            "LinkedIn refused the access token (401): Empty oauth2_access_token"
        );
    }

    #[test]
    fn a_duplicate_names_the_existing_post() {
        let e = classify(
            422,
            r#"{"status":422,"code":"DUPLICATE_POST","message":"Content is a duplicate of urn:li:share:7012345"}"#,
        );
        match e {
            LinkedInError::DuplicatePost { existing_urn, .. } => {
                assert_eq!(existing_urn, "urn:li:share:7012345")
            }
            other => panic!("expected DuplicatePost, got {other:?}"),
        }
    }

    #[test]
    fn a_retired_version_names_the_setting_to_change() {
        let e = classify(
            426,
            r#"{"status":426,"code":"NONEXISTENT_VERSION","message":"Requested version 20241101 is not active"}"#,
        );
        assert_eq!(e.retry_class(), RetryClass::FailFast);
        let text = e.to_string();
        assert!(
            text.contains("LINKEDIN_API_VERSION") && text.contains("20241101"),
            "{text}"
        );
    }

    #[test]
    fn an_invalid_grant_means_reconnect_but_bad_client_credentials_do_not() {
        let grant = classify_oauth_failure(
            400,
            r#"{"error":"invalid_request","error_description":"The provided authorization grant or refresh token is invalid, expired or revoked"}"#,
        );
        assert!(grant.is_invalid_grant());
        assert_eq!(grant.retry_class(), RetryClass::FailFast);
        let client = classify_oauth_failure(
            401,
            r#"{"error":"invalid_client_id","error_description":"Client authentication failed"}"#,
        );
        assert!(!client.is_invalid_grant());
    }

    #[test]
    fn retry_after_accepts_seconds_and_http_dates() {
        assert_eq!(
            parse_retry_after("30", now()),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Mon, 23 Nov 2026 22:31:00 GMT", now()),
            Some(Duration::from_secs(60))
        );
        assert_eq!(parse_retry_after("soon", now()), None);
    }
}
