//! The codes a tenant sees: a post's `last_error.code` and a DLQ record's `error_code`. One
//! list, serialised SCREAMING_SNAKE_CASE; the README's "Failure codes" table is checked
//! against it by a unit test.

use serde::{Deserialize, Serialize};

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::Display,
    strum::EnumString,
    strum::VariantArray,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum FailureCode {
    // LinkedIn's answers.
    Unauthorized,
    RateLimited,
    LinkedinUnavailable,
    Forbidden,
    NotFound,
    ValidationError,
    DuplicateContent,
    ApiVersionRetired,
    LinkedinError,
    // Attempts and time.
    RetriesExhausted,
    RateLimitExhausted,
    OutcomeUnknown,
    JobExpired,
    Stranded,
    // The connection and its tokens.
    UnretryableAuth,
    TokenRefreshed,
    TokenRefreshFailed,
    TokensUnavailable,
    TokensUnreadable,
    ConnectionRevoked,
    ConnectionGone,
    // Media.
    MediaRejected,
    MediaUnavailable,
    MediaNotReady,
    MediaProcessingFailed,
    MediaUploadExpired,
    MediaUploadTimedOut,
    // Content.
    ArticleTitleMissing,
    ArticlePageRefused,
    ArticlePageUnavailable,
    PostsApiCannotCarry,
    MentionUnknown,
    // The first comment.
    CommentUnconfirmed,
}

impl FailureCode {
    /// The code as the tenant sees it (serde's and strum's names are the same).
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// What the tenant reads beside the code (a post's `last_error.message`, a DLQ record's
    /// `error_message`): a fixed text per code. What LinkedIn or AWS said in detail (their
    /// messages, request ids, ARNs, table names) goes to the logs only: LinkedIn's `message`
    /// can quote internal resource names and AWS's can name accounts and tables.
    pub fn message(self) -> &'static str {
        match self {
            Self::Unauthorized => "LinkedIn refused the connection's access token; it is being refreshed and the post will be tried again",
            Self::RateLimited => "LinkedIn throttled the request; the post will be tried again when LinkedIn allows it",
            Self::LinkedinUnavailable => "LinkedIn failed or did not answer; the post will be tried again",
            Self::Forbidden => "LinkedIn refused the member's or organization's permission for this request",
            Self::NotFound => "LinkedIn does not know what the request names",
            Self::ValidationError => "LinkedIn refused the request as invalid",
            Self::DuplicateContent => "LinkedIn already has this text from an earlier post",
            Self::ApiVersionRetired => "LinkedIn no longer serves the API version this service uses; its operator must set LINKEDIN_API_VERSION to an active version",
            Self::LinkedinError => "LinkedIn answered in a way this service does not understand",
            Self::RetriesExhausted => "every attempt failed, each in a way that proves nothing was published",
            Self::RateLimitExhausted => "every attempt failed, the last one throttled by LinkedIn; nothing was published",
            Self::OutcomeUnknown => "LinkedIn could not be asked for 7 days whether the post went out; check the member's feed",
            Self::JobExpired => "the post waited more than 7 days to be published",
            Self::Stranded => "publishing the post was interrupted too many times",
            Self::UnretryableAuth => "LinkedIn refused the connection's tokens and refreshing them did not help; the member must reconnect",
            Self::TokenRefreshed => "the access token was refused and has been refreshed; the post will be tried again",
            Self::TokenRefreshFailed => "refreshing the connection's tokens failed for a reason that may pass; the post will be tried again",
            Self::TokensUnavailable => "the connection's tokens could not be read just now; the post will be tried again",
            Self::TokensUnreadable => "the connection's stored tokens cannot be read; the member must reconnect",
            Self::ConnectionRevoked => "the connection was disconnected",
            Self::ConnectionGone => "the connection no longer exists",
            Self::MediaRejected => "a media file cannot be used (its address, size or type) or LinkedIn could not process an image",
            Self::MediaUnavailable => "a media file could not be fetched from its URL; the post will be tried again",
            Self::MediaNotReady => "LinkedIn was still processing the post's media 15 minutes after the first attempt",
            Self::MediaProcessingFailed => "LinkedIn could not process the post's document or video",
            Self::MediaUploadExpired => "LinkedIn's upload address for the post's document or video expired twice; nothing was published",
            Self::MediaUploadTimedOut => "the document or video could not be passed from its URL to LinkedIn within the publisher's time; a faster host or a smaller file is needed",
            Self::ArticleTitleMissing => "the link card has no title: the request gave none and its page has neither an og:title nor a title tag",
            Self::ArticlePageRefused => "the link card's page cannot be read (its address is not a public internet address, it is not an HTML page, or it is not an absolute http(s) address) and the request gave no title",
            Self::ArticlePageUnavailable => "the link card's page could not be fetched; the post will be tried again",
            Self::PostsApiCannotCarry => "this kind of post needs LinkedIn's versioned posts API; the service's operator must set LINKEDIN_POSTS_API to rest",
            Self::MentionUnknown => "the text mentions an organization LinkedIn does not know: check the organization number of each mention",
            Self::CommentUnconfirmed => "LinkedIn did not confirm the first comment; it was not sent again so that it cannot appear twice: check the post",
        }
    }
}

/// So tests and callers can compare with the code as the tenant sees it.
impl PartialEq<&str> for FailureCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<FailureCode> for &str {
    fn eq(&self, other: &FailureCode) -> bool {
        *self == other.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strum::VariantArray;

    #[test]
    fn every_code_serialises_as_its_tenant_facing_name() {
        for &code in FailureCode::VARIANTS {
            let json = serde_json::to_value(code).unwrap();
            assert_eq!(json, code.as_str(), "{code:?}");
            let back: FailureCode = serde_json::from_value(json).unwrap();
            assert_eq!(back, code);
        }
    }

    /// Every code's tenant text is its own, and none can carry internal detail: no URL, no
    /// ARN, no account id or other long number, no AWS or LinkedIn error vocabulary.
    #[test]
    fn every_code_has_a_fixed_text_of_its_own_without_internal_detail() {
        let mut seen = std::collections::HashSet::new();
        for &code in FailureCode::VARIANTS {
            let text = code.message();
            assert!(!text.is_empty(), "{code}");
            assert!(seen.insert(text), "{code} shares its text");
            let lower = text.to_ascii_lowercase();
            for leak in [
                "arn:",
                "://",
                "?",
                "dynamodb",
                "table",
                "kms",
                "sqs",
                "exception",
                "x-li",
                "serviceerrorcode",
                "urn:",
            ] {
                assert!(!lower.contains(leak), "{code}: {text:?} contains {leak:?}");
            }
            let longest_number = text
                .split(|c: char| !c.is_ascii_digit())
                .map(str::len)
                .max()
                .unwrap_or(0);
            assert!(longest_number <= 2, "{code}: {text:?}");
        }
    }

    #[test]
    fn the_list_has_every_code_once() {
        let mut names: Vec<_> = FailureCode::VARIANTS.iter().map(|c| c.as_str()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), FailureCode::VARIANTS.len());
    }

    /// The README's table of failure codes is what tenants read: every code is in it, and it
    /// names no code the product does not have.
    #[test]
    fn the_readme_lists_every_code_and_no_other() {
        let readme = include_str!("../../../../README.md");
        let table: Vec<&str> = readme
            .lines()
            .skip_while(|l| !l.starts_with("### Failure codes"))
            .skip(1)
            .take_while(|l| !l.starts_with('#'))
            .filter_map(|l| l.strip_prefix("| `"))
            .filter_map(|l| l.split('`').next())
            .collect();
        for &code in FailureCode::VARIANTS {
            assert!(
                table.contains(&code.as_str()),
                "README's failure code table lacks {code}"
            );
        }
        for name in &table {
            assert!(
                FailureCode::VARIANTS.iter().any(|c| c.as_str() == *name),
                "README lists {name}, which is not a failure code"
            );
        }
    }
}
