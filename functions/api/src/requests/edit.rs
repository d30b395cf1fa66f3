//! `PATCH /v1/posts/{id}`: `{text}` edits the post's text, `{scheduled_at}` moves a scheduled
//! post. One change per request: both at once is refused (400 naming `scheduled_at`), so each
//! request is one version-conditional write and either happens whole or not at all. The
//! content (media, article, poll) cannot change: LinkedIn edits commentary only, so that needs
//! a new post.

use chrono::{DateTime, Utc};
use connector::domain::posts::MAX_TEXT_CHARS;
use serde::Deserialize;

use super::{invalid, parse_scheduled_at, Invalid};

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostPatch {
    /// 1–3000 characters.
    pub text: Option<String>,
    #[schema(value_type = Option<chrono::DateTime<chrono::Utc>>)]
    pub scheduled_at: Option<String>,
    // Named so the refusal can say why, rather than "unknown field"; not part of the
    // documented body.
    #[schema(ignore)]
    pub media: Option<serde_json::Value>,
    #[schema(ignore)]
    pub article: Option<serde_json::Value>,
    #[schema(ignore)]
    pub poll: Option<serde_json::Value>,
}

/// What a valid patch asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostChange {
    Text(String),
    Move(DateTime<Utc>),
}

impl PostPatch {
    pub fn validate(&self, now: DateTime<Utc>) -> Result<PostChange, Invalid> {
        for (field, given) in [
            ("media", self.media.is_some()),
            ("article", self.article.is_some()),
            ("poll", self.poll.is_some()),
        ] {
            if given {
                return Err(invalid(
                    field,
                    format!("a post's {field} cannot change (LinkedIn edits the text only); publish a new post instead"),
                ));
            }
        }
        match (&self.text, &self.scheduled_at) {
            (Some(_), Some(_)) => Err(invalid(
                "scheduled_at",
                "change text or scheduled_at, one per request",
            )),
            (Some(text), None) => validate_text(text).map(PostChange::Text),
            (None, Some(at)) => parse_scheduled_at(at, now).map(PostChange::Move),
            // Named as before text could be patched, for clients that only move posts.
            (None, None) => Err(invalid("scheduled_at", "scheduled_at or text is required")),
        }
    }
}

/// A post's text, by the rules of a new post: not blank, at most LinkedIn's limit.
pub fn validate_text(text: &str) -> Result<String, Invalid> {
    if text.trim().is_empty() {
        return Err(invalid("text", "text must not be blank"));
    }
    let chars = text.chars().count();
    if chars > MAX_TEXT_CHARS {
        return Err(invalid(
            "text",
            format!("text is {chars} characters; LinkedIn takes at most {MAX_TEXT_CHARS}"),
        ));
    }
    Ok(text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patch(json: &str) -> Result<PostChange, Invalid> {
        let patch: PostPatch = serde_json::from_str(json).expect("shape");
        patch.validate(Utc::now())
    }

    fn field(json: &str) -> &'static str {
        patch(json).expect_err(json).field
    }

    #[test]
    fn a_patch_changes_the_text_or_the_time_never_the_content() {
        assert_eq!(
            patch(r#"{"text":"New"}"#),
            Ok(PostChange::Text("New".into()))
        );
        let at = (Utc::now() + chrono::Duration::hours(2)).to_rfc3339();
        assert!(matches!(
            patch(&format!(r#"{{"scheduled_at":"{at}"}}"#)),
            Ok(PostChange::Move(_))
        ));
        assert_eq!(field(r#"{"text":"  "}"#), "text");
        let long = "x".repeat(MAX_TEXT_CHARS + 1);
        assert_eq!(field(&format!(r#"{{"text":"{long}"}}"#)), "text");
        assert!(patch(&format!(r#"{{"text":"{}"}}"#, "x".repeat(MAX_TEXT_CHARS))).is_ok());
        assert_eq!(
            field(&format!(r#"{{"text":"a","scheduled_at":"{at}"}}"#)),
            "scheduled_at"
        );
        assert_eq!(field("{}"), "scheduled_at");
        for content in [
            r#"{"text":"a","media":[{"type":"image","url":"https://x/a.png"}]}"#,
            r#"{"article":{"url":"https://x"}}"#,
            r#"{"poll":{"question":"q"}}"#,
        ] {
            let refused = patch(content).expect_err(content);
            assert!(refused.message.contains("new post"), "{}", refused.message);
        }
        assert!(serde_json::from_str::<PostPatch>(r#"{"txt":"a"}"#).is_err());
    }
}
