//! What a post carries beside its commentary, checked as LinkedIn checks it (linkedin-api.md,
//! "More post content"): one kind per post — one medium, several images, a link card or a
//! poll — each with LinkedIn's limits. Whether the media it names are the author's and
//! AVAILABLE is decided by the caller, with the daily limits, in LinkedIn's order.

use axum::response::Response;
use serde_json::{json, Value};
use url::Url;

use super::rest::api_error;

/// The kinds `content` may hold, exactly one of them.
const KINDS: [&str; 4] = ["media", "multiImage", "article", "poll"];
/// LinkedIn's multi-image posts: 2 to 20 images.
pub const MULTI_IMAGE: std::ops::RangeInclusive<usize> = 2..=20;
pub const POLL_QUESTION_MAX: usize = 140;
pub const POLL_OPTION_MAX: usize = 30;
pub const POLL_OPTIONS: std::ops::RangeInclusive<usize> = 2..=4;
pub const POLL_DURATIONS: [&str; 4] = ["ONE_DAY", "THREE_DAYS", "SEVEN_DAYS", "FOURTEEN_DAYS"];
/// A document's title.
pub const TITLE_MAX: usize = 400;
/// An image's alternative text.
pub const ALT_TEXT_MAX: usize = 4086;
/// The legacy ShareContent's images.
pub const UGC_IMAGES: std::ops::RangeInclusive<usize> = 1..=20;

/// Content LinkedIn accepted the shape of: the media it names (images, a thumbnail, a
/// document, a video), which must be the author's and AVAILABLE, and the content to record.
#[derive(Debug, Clone, PartialEq)]
pub struct Accepted {
    pub media: Vec<String>,
    pub content: Option<Value>,
}

fn invalid(message: &str) -> Response {
    api_error(400, None, Some("INVALID_CONTENT"), message)
}

/// An image's `altText`, if any, is a string of at most [`ALT_TEXT_MAX`] characters.
fn check_alt_text(image: &Value, field: &str) -> Result<(), Response> {
    match image.get("altText") {
        None => Ok(()),
        Some(Value::String(t)) if t.chars().count() <= ALT_TEXT_MAX => Ok(()),
        Some(_) => Err(invalid(&format!(
            "{field}.altText must be a string of at most {ALT_TEXT_MAX} characters"
        ))),
    }
}

fn text<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// A URN of `kind` (`image`, `document`, …) with an id after it.
fn is_urn(id: &str, kinds: &[&str]) -> bool {
    kinds.iter().any(|kind| {
        id.strip_prefix("urn:li:")
            .and_then(|rest| rest.strip_prefix(kind))
            .and_then(|rest| rest.strip_prefix(':'))
            .is_some_and(|n| !n.is_empty())
    })
}

/// `content` of a `POST /rest/posts` body.
pub fn rest(content: Option<&Value>) -> Result<Accepted, Response> {
    let Some(content) = content else {
        return Ok(Accepted {
            media: Vec::new(),
            content: None,
        });
    };
    let Some(fields) = content.as_object() else {
        return Err(invalid("content must be an object"));
    };
    if let Some(unknown) = fields.keys().find(|k| !KINDS.contains(&k.as_str())) {
        return Err(invalid(&format!(
            "content.{unknown} is not a content type LinkedIn knows"
        )));
    }
    let present: Vec<&str> = KINDS
        .iter()
        .copied()
        .filter(|k| fields.contains_key(*k))
        .collect();
    let kind = match present.as_slice() {
        [one] => *one,
        [] => {
            return Err(invalid(
                "content must hold one of media, multiImage, article, poll",
            ))
        }
        many => {
            return Err(invalid(&format!(
                "content holds {}: a post carries one kind of content only",
                many.join(" and ")
            )))
        }
    };
    let part = &content[kind];
    let media = match kind {
        "media" => media(part)?,
        "multiImage" => multi_image(part)?,
        "article" => article(part)?,
        _ => {
            poll(part)?;
            Vec::new()
        }
    };
    Ok(Accepted {
        media,
        content: Some(content.clone()),
    })
}

/// `content.media{id, altText?, title?}`: an image, a document (with its title) or a video.
fn media(part: &Value) -> Result<Vec<String>, Response> {
    let Some(id) = text(part, "id") else {
        return Err(invalid("content.media.id is required"));
    };
    if !is_urn(id, &["image", "document", "video"]) {
        return Err(invalid(&format!(
            "content.media.id {id} is not an image, document or video URN"
        )));
    }
    check_alt_text(part, "content.media")?;
    let title = part.get("title");
    if title.is_some_and(|t| !t.is_string()) {
        return Err(invalid("content.media.title must be a string"));
    }
    if is_urn(id, &["document"]) {
        match title.and_then(Value::as_str) {
            Some(t) if !t.trim().is_empty() && t.chars().count() <= TITLE_MAX => {}
            _ => {
                return Err(invalid(&format!(
                    "content.media.title is required for a document (1 to {TITLE_MAX} characters)"
                )))
            }
        }
    }
    Ok(vec![id.to_owned()])
}

/// `content.multiImage{images:[{id, altText?}]}`: 2 to 20 images.
fn multi_image(part: &Value) -> Result<Vec<String>, Response> {
    let Some(images) = part.get("images").and_then(Value::as_array) else {
        return Err(invalid("content.multiImage.images is required"));
    };
    if !MULTI_IMAGE.contains(&images.len()) {
        return Err(invalid(&format!(
            "content.multiImage.images holds {} images; a multi-image post takes {} to {}",
            images.len(),
            MULTI_IMAGE.start(),
            MULTI_IMAGE.end()
        )));
    }
    images
        .iter()
        .enumerate()
        .map(|(i, image)| match text(image, "id") {
            Some(id) if is_urn(id, &["image"]) => {
                check_alt_text(image, &format!("content.multiImage.images[{i}]"))?;
                Ok(id.to_owned())
            }
            _ => Err(invalid(&format!(
                "content.multiImage.images[{i}].id must be an image URN"
            ))),
        })
        .collect()
}

/// `content.article{source, title, description?, thumbnail?}`: LinkedIn does not read the page.
fn article(part: &Value) -> Result<Vec<String>, Response> {
    let source = text(part, "source").and_then(|s| Url::parse(s).ok());
    if !source.is_some_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some()) {
        return Err(invalid(
            "content.article.source is required and must be an absolute URL",
        ));
    }
    if text(part, "title").is_none_or(|t| t.trim().is_empty()) {
        return Err(invalid("content.article.title is required"));
    }
    if part.get("description").is_some_and(|d| !d.is_string()) {
        return Err(invalid("content.article.description must be a string"));
    }
    match part.get("thumbnail") {
        None => Ok(Vec::new()),
        Some(Value::String(id)) if is_urn(id, &["image"]) => Ok(vec![id.clone()]),
        Some(_) => Err(invalid("content.article.thumbnail must be an image URN")),
    }
}

/// `content.poll{question, options:[{text}], settings:{duration}}`.
fn poll(part: &Value) -> Result<(), Response> {
    match text(part, "question") {
        Some(q) if !q.trim().is_empty() && q.chars().count() <= POLL_QUESTION_MAX => {}
        _ => {
            return Err(invalid(&format!(
                "content.poll.question is required, at most {POLL_QUESTION_MAX} characters"
            )))
        }
    }
    let options = part
        .get("options")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    if !POLL_OPTIONS.contains(&options.len()) {
        return Err(invalid(&format!(
            "content.poll.options holds {} options; a poll takes {} to {}",
            options.len(),
            POLL_OPTIONS.start(),
            POLL_OPTIONS.end()
        )));
    }
    for (i, option) in options.iter().enumerate() {
        match text(option, "text") {
            Some(t) if !t.trim().is_empty() && t.chars().count() <= POLL_OPTION_MAX => {}
            _ => {
                return Err(invalid(&format!(
                "content.poll.options[{i}].text is required, at most {POLL_OPTION_MAX} characters"
            )))
            }
        }
    }
    let duration = part
        .get("settings")
        .and_then(|s| text(s, "duration"))
        .unwrap_or_default();
    if !POLL_DURATIONS.contains(&duration) {
        return Err(invalid(&format!(
            "content.poll.settings.duration must be one of {}",
            POLL_DURATIONS.join(", ")
        )));
    }
    Ok(())
}

/// The legacy ShareContent's media, as this simulator takes them: `NONE`, or `IMAGE` with 1
/// to 20 uploaded assets. (LinkedIn's ARTICLE and VIDEO categories are not simulated, so they
/// are refused rather than half-checked.)
pub fn ugc(share: &Value) -> Result<Accepted, Response> {
    let category = text(share, "shareMediaCategory").unwrap_or("NONE");
    let media = share
        .get("media")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let ids: Vec<String> = media
        .iter()
        .filter_map(|m| text(m, "media").map(str::to_owned))
        .collect();
    match category {
        "NONE" if media.is_empty() => Ok(Accepted {
            media: Vec::new(),
            content: None,
        }),
        "NONE" => Err(invalid("shareMediaCategory does not match the media given")),
        "IMAGE" => {
            if !UGC_IMAGES.contains(&media.len()) || ids.len() != media.len() {
                return Err(invalid(&format!(
                    "shareMediaCategory IMAGE takes {} to {} media, each naming its asset",
                    UGC_IMAGES.start(),
                    UGC_IMAGES.end()
                )));
            }
            if let Some(id) = ids
                .iter()
                .find(|id| !is_urn(id, &["digitalmediaAsset", "image"]))
            {
                return Err(invalid(&format!("{id} is not an image asset")));
            }
            Ok(Accepted {
                media: ids,
                content: Some(json!({ "shareMediaCategory": category, "media": media })),
            })
        }
        other => Err(invalid(&format!(
            "shareMediaCategory {other} is not supported by this simulator's ugcPosts"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(content: Value) -> bool {
        rest(Some(&content)).is_err()
    }

    fn images(n: usize) -> Value {
        let images: Vec<Value> = (0..n)
            .map(|i| json!({ "id": format!("urn:li:image:{i}") }))
            .collect();
        json!({ "multiImage": { "images": images } })
    }

    fn poll_of(question: &str, options: &[&str], duration: &str) -> Value {
        let options: Vec<Value> = options.iter().map(|t| json!({ "text": t })).collect();
        json!({ "poll": { "question": question, "options": options, "settings": { "duration": duration } } })
    }

    /// Each row: content LinkedIn refuses, and why.
    #[test]
    fn content_linkedin_refuses_is_refused() {
        let long_question = "q".repeat(POLL_QUESTION_MAX + 1);
        let long_option = "o".repeat(POLL_OPTION_MAX + 1);
        let rows = [
            (
                json!({ "media": { "id": "urn:li:image:1" }, "poll": poll_of("q", &["a", "b"], "ONE_DAY")["poll"] }),
                "a poll with media",
            ),
            (
                json!({ "media": { "id": "urn:li:image:1" }, "article": { "source": "https://e.com", "title": "t" } }),
                "media with a link card",
            ),
            (
                json!({ "multiImage": images(2)["multiImage"], "media": { "id": "urn:li:image:1" } }),
                "several images and one medium",
            ),
            (json!({}), "empty content"),
            (json!({ "carousel": {} }), "an unknown kind"),
            (images(1), "a multi-image of one"),
            (images(21), "a multi-image of 21"),
            (
                json!({ "multiImage": { "images": [{ "id": "urn:li:image:1" }, { "id": "urn:li:video:2" }] } }),
                "a video among the images",
            ),
            (json!({ "media": {} }), "media without an id"),
            (
                json!({ "media": { "id": "urn:li:image:1", "altText": "a".repeat(ALT_TEXT_MAX + 1) } }),
                "an alt text over LinkedIn's limit",
            ),
            (
                json!({ "multiImage": { "images": [{ "id": "urn:li:image:1" }, { "id": "urn:li:image:2", "altText": 7 }] } }),
                "an alt text that is not text",
            ),
            (
                json!({ "media": { "id": "https://cdn.example/a.png" } }),
                "media that is not a URN",
            ),
            (
                json!({ "media": { "id": "urn:li:document:1" } }),
                "a document without a title",
            ),
            (
                json!({ "article": { "source": "https://example.com/a" } }),
                "an article without a title",
            ),
            (
                json!({ "article": { "source": "https://example.com/a", "title": "  " } }),
                "an article with a blank title",
            ),
            (
                json!({ "article": { "title": "t" } }),
                "an article without a source",
            ),
            (
                json!({ "article": { "source": "/relative", "title": "t" } }),
                "an article with a relative source",
            ),
            (
                json!({ "article": { "source": "https://example.com", "title": "t", "thumbnail": "https://e.com/a.png" } }),
                "a thumbnail that is a URL, not an uploaded image",
            ),
            (poll_of("q", &["a"], "ONE_DAY"), "a poll of one option"),
            (
                poll_of("q", &["a", "b", "c", "d", "e"], "ONE_DAY"),
                "a poll of five options",
            ),
            (
                poll_of(&long_question, &["a", "b"], "ONE_DAY"),
                "a question over 140",
            ),
            (
                poll_of("q", &["a", &long_option], "ONE_DAY"),
                "an option over 30",
            ),
            (poll_of("q", &["a", ""], "ONE_DAY"), "an empty option"),
            (poll_of("", &["a", "b"], "ONE_DAY"), "no question"),
            (
                poll_of("q", &["a", "b"], "TWO_DAYS"),
                "a duration LinkedIn has not",
            ),
            (
                json!({ "poll": { "question": "q", "options": [{ "text": "a" }, { "text": "b" }] } }),
                "a poll without its duration",
            ),
        ];
        for (content, why) in rows {
            assert!(refused(content), "{why} must be refused");
        }
    }

    #[test]
    fn content_linkedin_takes_is_taken_with_the_media_it_names() {
        let long_question = "q".repeat(POLL_QUESTION_MAX);
        let long_option = "o".repeat(POLL_OPTION_MAX);
        let rows = [
            (
                json!({ "media": { "id": "urn:li:image:1", "altText": "a" } }),
                vec!["urn:li:image:1"],
            ),
            (
                json!({ "media": { "id": "urn:li:document:1", "title": "Deck" } }),
                vec!["urn:li:document:1"],
            ),
            (
                json!({ "media": { "id": "urn:li:video:1" } }),
                vec!["urn:li:video:1"],
            ),
            (images(2), vec!["urn:li:image:0", "urn:li:image:1"]),
            (
                json!({ "article": { "source": "https://example.com/a", "title": "t", "description": "d", "thumbnail": "urn:li:image:4" } }),
                vec!["urn:li:image:4"],
            ),
            (
                json!({ "article": { "source": "https://example.com/a", "title": "t" } }),
                vec![],
            ),
            (
                poll_of(
                    &long_question,
                    &["a", &long_option, "c", "d"],
                    "FOURTEEN_DAYS",
                ),
                vec![],
            ),
        ];
        for (content, media) in rows {
            let accepted = rest(Some(&content)).unwrap_or_else(|_| panic!("{content}"));
            assert_eq!(accepted.media, media, "{content}");
            assert_eq!(accepted.content, Some(content));
        }
        assert_eq!(rest(Some(&images(20))).unwrap().media.len(), 20);
        assert_eq!(rest(None).unwrap().content, None);
    }

    #[test]
    fn the_legacy_share_takes_none_and_images_only() {
        let asset =
            |i: u32| json!({ "status": "READY", "media": format!("urn:li:digitalmediaAsset:{i}") });
        assert!(ugc(&json!({ "shareMediaCategory": "NONE" })).is_ok());
        let two =
            ugc(&json!({ "shareMediaCategory": "IMAGE", "media": [asset(1), asset(2)] })).unwrap();
        assert_eq!(two.media.len(), 2);
        for refused in [
            json!({ "shareMediaCategory": "NONE", "media": [asset(1)] }),
            json!({ "shareMediaCategory": "IMAGE", "media": [] }),
            json!({ "shareMediaCategory": "IMAGE", "media": (0..21).map(asset).collect::<Vec<_>>() }),
            json!({ "shareMediaCategory": "ARTICLE", "media": [{ "status": "READY", "originalUrl": "https://e.com" }] }),
            json!({ "shareMediaCategory": "IMAGE", "media": [{ "status": "READY", "media": "urn:li:video:1" }] }),
        ] {
            assert!(ugc(&refused).is_err(), "{refused}");
        }
    }
}
