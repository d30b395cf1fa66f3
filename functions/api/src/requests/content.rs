//! What a post carries beside its text, as the caller sent it, checked against LinkedIn's
//! rules: `media` (1–20 images, one document or one video), `article` (a link card), `poll`,
//! `mentions` and `first_comment`. A post carries one kind only; the legacy `ugc` dialect
//! carries text and images only.

use connector::config::PostsApi;
use connector::domain::posts::{
    Article, MediaItem, MediaKind, Poll, PollDuration, PostKind, MAX_ALT_TEXT_CHARS,
    MAX_ARTICLE_DESCRIPTION_CHARS, MAX_IMAGES, MAX_POLL_OPTION_CHARS, MAX_POLL_QUESTION_CHARS,
    MAX_TITLE_CHARS, POLL_OPTIONS,
};
use connector::linkedin::{with_mentions, Mention};
use serde::Deserialize;
use url::Url;

use super::{invalid, Invalid, MAX_URL_BYTES};

/// LinkedIn's limit on a comment.
pub const MAX_COMMENT_CHARS: usize = 1250;
/// Mentions one request may ask for.
pub const MAX_MENTIONS: usize = 50;

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RawMedia {
    #[serde(rename = "type")]
    #[schema(value_type = connector::domain::posts::MediaKind)]
    pub kind: Option<String>,
    #[schema(value_type = String)]
    pub url: Option<String>,
    pub alt_text: Option<String>,
    pub title: Option<String>,
    pub thumbnail_url: Option<String>,
    pub captions_url: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RawArticle {
    #[schema(value_type = String)]
    pub url: Option<String>,
    pub title: Option<String>,
    pub description: Option<String>,
    pub thumbnail_url: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RawPoll {
    #[schema(value_type = String)]
    pub question: Option<String>,
    #[schema(value_type = Vec<String>)]
    pub options: Option<Vec<String>>,
    #[schema(value_type = connector::domain::posts::PollDuration)]
    pub duration: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RawMention {
    pub name: Option<String>,
    pub urn: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RawComment {
    #[schema(value_type = String)]
    pub text: Option<String>,
}

/// An absolute http(s) URL of at most [`MAX_URL_BYTES`], or a 400 naming `field`.
pub fn http_url(field: &'static str, what: &str, raw: Option<&str>) -> Result<Url, Invalid> {
    let raw = raw.ok_or_else(|| invalid(field, format!("{what} is required")))?;
    if raw.len() > MAX_URL_BYTES {
        return Err(invalid(
            field,
            format!("{what} must be at most {MAX_URL_BYTES} bytes"),
        ));
    }
    Url::parse(raw)
        .ok()
        .filter(|u| matches!(u.scheme(), "https" | "http") && u.host().is_some())
        .ok_or_else(|| invalid(field, format!("{what} must be an absolute http(s) url")))
}

fn optional_url(
    field: &'static str,
    what: &str,
    raw: Option<&str>,
) -> Result<Option<Url>, Invalid> {
    raw.map(|r| http_url(field, what, Some(r))).transpose()
}

/// `raw` if it is not blank and at most `max` characters.
fn bounded_text(
    field: &'static str,
    what: &str,
    raw: Option<&str>,
    max: usize,
) -> Result<Option<String>, Invalid> {
    match raw {
        None => Ok(None),
        Some(t) if t.trim().is_empty() => Err(invalid(field, format!("{what} must not be blank"))),
        Some(t) if t.chars().count() > max => Err(invalid(
            field,
            format!("{what} is longer than LinkedIn's {max} characters"),
        )),
        Some(t) => Ok(Some(t.to_owned())),
    }
}

/// The post's media: 1 to 20 images, or one document, or one video.
pub fn media(raw: Vec<RawMedia>) -> Result<Vec<MediaItem>, Invalid> {
    let items = raw
        .into_iter()
        .map(media_item)
        .collect::<Result<Vec<_>, _>>()?;
    match items.as_slice() {
        [] | [_] => {}
        many if many.iter().all(|m| m.kind == MediaKind::Image) => {
            if many.len() > MAX_IMAGES {
                return Err(invalid(
                    "media",
                    format!(
                        "{} images; LinkedIn takes at most {MAX_IMAGES}",
                        many.len()
                    ),
                ));
            }
        }
        _ => {
            return Err(invalid(
                "media",
                "a post carries 1 to 20 images, or one document, or one video; LinkedIn does not mix them",
            ))
        }
    }
    Ok(items)
}

fn media_item(raw: RawMedia) -> Result<MediaItem, Invalid> {
    let kind = match raw.kind.as_deref() {
        Some("image") => MediaKind::Image,
        Some("document") => MediaKind::Document,
        Some("video") => MediaKind::Video,
        Some(other) => {
            return Err(invalid(
                "media",
                format!(
                "media type {other:?} is not supported; use \"image\", \"document\" or \"video\""
            ),
            ))
        }
        None => return Err(invalid("media", "each media item needs a type")),
    };
    let what = kind.as_str();
    let url = http_url("media", &format!("each {what} url"), raw.url.as_deref())?;
    let only = |present: bool, field: &str, kinds: &str| {
        if present {
            Err(invalid(
                "media",
                format!("{field} is for {kinds}, not for a {what}"),
            ))
        } else {
            Ok(())
        }
    };
    let title = bounded_text("media", "title", raw.title.as_deref(), MAX_TITLE_CHARS)?;
    match kind {
        MediaKind::Image => {
            only(title.is_some(), "title", "documents and videos")?;
            only(raw.thumbnail_url.is_some(), "thumbnail_url", "videos")?;
            only(raw.captions_url.is_some(), "captions_url", "videos")?;
        }
        MediaKind::Document => {
            only(raw.alt_text.is_some(), "alt_text", "images")?;
            only(raw.thumbnail_url.is_some(), "thumbnail_url", "videos")?;
            only(raw.captions_url.is_some(), "captions_url", "videos")?;
            if title.is_none() {
                return Err(invalid(
                    "media",
                    "a document needs a title (LinkedIn shows it on the document)",
                ));
            }
        }
        MediaKind::Video => only(raw.alt_text.is_some(), "alt_text", "images")?,
    }
    let alt_text = bounded_text(
        "media",
        "alt_text",
        raw.alt_text.as_deref(),
        MAX_ALT_TEXT_CHARS,
    )
    .or_else(|e| match raw.alt_text.as_deref() {
        // An empty alternative text is no alternative text.
        Some(t) if t.trim().is_empty() => Ok(None),
        _ => Err(e),
    })?;
    Ok(MediaItem {
        kind,
        url,
        alt_text,
        title,
        thumbnail_url: optional_url("media", "thumbnail_url", raw.thumbnail_url.as_deref())?,
        captions_url: optional_url("media", "captions_url", raw.captions_url.as_deref())?,
    })
}

pub fn article(raw: RawArticle) -> Result<Article, Invalid> {
    Ok(Article {
        url: http_url("article", "article.url", raw.url.as_deref())?,
        title: bounded_text(
            "article",
            "article.title",
            raw.title.as_deref(),
            MAX_TITLE_CHARS,
        )?,
        description: bounded_text(
            "article",
            "article.description",
            raw.description.as_deref(),
            MAX_ARTICLE_DESCRIPTION_CHARS,
        )?,
        thumbnail_url: optional_url(
            "article",
            "article.thumbnail_url",
            raw.thumbnail_url.as_deref(),
        )?,
    })
}

pub fn poll(raw: RawPoll) -> Result<Poll, Invalid> {
    let question = bounded_text(
        "poll",
        "poll.question",
        raw.question.as_deref(),
        MAX_POLL_QUESTION_CHARS,
    )?
    .ok_or_else(|| invalid("poll", "poll.question is required"))?;
    let options = raw
        .options
        .ok_or_else(|| invalid("poll", "poll.options is required"))?;
    if !POLL_OPTIONS.contains(&options.len()) {
        return Err(invalid(
            "poll",
            format!(
                "a poll has {} to {} options; this one has {}",
                POLL_OPTIONS.start(),
                POLL_OPTIONS.end(),
                options.len()
            ),
        ));
    }
    for (i, option) in options.iter().enumerate() {
        bounded_text(
            "poll",
            "each poll option",
            Some(option),
            MAX_POLL_OPTION_CHARS,
        )?;
        if options[..i].contains(option) {
            return Err(invalid(
                "poll",
                format!("the option {option:?} is given twice"),
            ));
        }
    }
    let duration = match raw.duration.as_deref() {
        Some(d) => PollDuration::parse(d).ok_or_else(|| {
            invalid(
                "poll",
                format!("poll.duration {d:?} is not one of \"1d\", \"3d\", \"7d\", \"14d\""),
            )
        })?,
        None => return Err(invalid("poll", "poll.duration is required")),
    };
    Ok(Poll {
        question,
        options,
        duration,
    })
}

/// `text` with the mentions asked for written as LinkedIn's markup.
pub fn mentions(text: &str, raw: Vec<RawMention>) -> Result<String, Invalid> {
    if raw.len() > MAX_MENTIONS {
        return Err(invalid(
            "mentions",
            format!("at most {MAX_MENTIONS} mentions per post"),
        ));
    }
    let mentions = raw
        .into_iter()
        .map(|m| match (m.name, m.urn) {
            (Some(name), Some(urn)) => Ok(Mention { name, urn }),
            _ => Err(invalid("mentions", "each mention needs a name and a urn")),
        })
        .collect::<Result<Vec<_>, _>>()?;
    with_mentions(text, &mentions).map_err(|message| invalid("mentions", message))
}

pub fn first_comment(raw: RawComment) -> Result<String, Invalid> {
    bounded_text(
        "first_comment",
        "first_comment.text",
        raw.text.as_deref(),
        MAX_COMMENT_CHARS,
    )?
    .ok_or_else(|| invalid("first_comment", "first_comment.text is required"))
}

/// One kind per post, and one the deployment's dialect can carry. `field` names the part the
/// caller sent that breaks the rule.
pub fn one_kind(
    media: &[MediaItem],
    article: Option<&Article>,
    poll: Option<&Poll>,
    dialect: PostsApi,
) -> Result<(), Invalid> {
    let sent = [
        (!media.is_empty()).then_some("media"),
        article.map(|_| "article"),
        poll.map(|_| "poll"),
    ];
    let sent: Vec<_> = sent.into_iter().flatten().collect();
    if let [_, second, ..] = sent.as_slice() {
        return Err(invalid(
            second,
            format!(
                "a post carries one of media, article or poll; this one has {}",
                sent.join(" and ")
            ),
        ));
    }
    let kind = PostKind::of(media, article, poll);
    if dialect == PostsApi::Ugc && !kind.legacy_can_carry() {
        return Err(invalid(
            sent.first().copied().unwrap_or("media"),
            format!(
                "this deployment publishes through LinkedIn's legacy ugcPosts API (LINKEDIN_POSTS_API=ugc), which cannot carry a {} post; set LINKEDIN_POSTS_API=rest",
                kind.as_str().replace('_', "-")
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
#[path = "content_tests.rs"]
mod tests;
