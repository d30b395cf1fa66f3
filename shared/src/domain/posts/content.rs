//! What a post carries besides its text: images, a document, a video, a link card or a poll
//! (one kind per post: LinkedIn refuses mixed content), and a first comment. No I/O here.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use url::Url;

use super::PostError;

/// LinkedIn's multi-image posts take 2 to 20 images.
pub const MAX_IMAGES: usize = 20;
/// LinkedIn's limit on an image's alternative text.
pub const MAX_ALT_TEXT_CHARS: usize = 4086;
/// A document's or video's title, as LinkedIn takes it.
pub const MAX_TITLE_CHARS: usize = 400;
/// LinkedIn's documents: at most 100 MB.
pub const MAX_DOCUMENT_BYTES: u64 = 100 * 1024 * 1024;
/// LinkedIn's videos: 75 KB to 500 MB.
pub const MAX_VIDEO_BYTES: u64 = 500 * 1024 * 1024;
pub const MIN_VIDEO_BYTES: u64 = 75 * 1024;
/// A poll's question and options, as LinkedIn takes them.
pub const MAX_POLL_QUESTION_CHARS: usize = 140;
pub const MAX_POLL_OPTION_CHARS: usize = 30;
pub const POLL_OPTIONS: std::ops::RangeInclusive<usize> = 2..=4;
/// A link card's description.
pub const MAX_ARTICLE_DESCRIPTION_CHARS: usize = 4086;

/// What a media item is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum MediaKind {
    /// Records from before documents and videos have no type: they are images.
    #[default]
    Image,
    Document,
    Video,
}

impl MediaKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Image => "image",
            Self::Document => "document",
            Self::Video => "video",
        }
    }
}

/// A medium of a post, fetched from the tenant's URL when the post is published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MediaItem {
    #[serde(rename = "type", default)]
    pub kind: MediaKind,
    pub url: Url,
    /// Images: the alternative text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alt_text: Option<String>,
    /// Documents (required) and videos (optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Videos: a thumbnail image and a captions file (SRT), uploaded with the video.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbnail_url: Option<Url>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub captions_url: Option<Url>,
}

impl MediaItem {
    /// An image at `url`.
    pub fn image(url: Url, alt_text: Option<String>) -> Self {
        Self {
            kind: MediaKind::Image,
            url,
            alt_text,
            title: None,
            thumbnail_url: None,
            captions_url: None,
        }
    }
}

/// A link card. LinkedIn does not read the page: what the request leaves out, the publisher
/// takes from the page's Open Graph tags.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Article {
    pub url: Url,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbnail_url: Option<Url>,
}

/// A link card as it goes out to LinkedIn: what the request gave, filled in from the page's
/// Open Graph tags where it left something out, and its thumbnail once uploaded. Kept on the
/// post, so a retry neither reads the page nor uploads the thumbnail again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolvedCard {
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The thumbnail to upload: the request's, else the page's `og:image`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbnail_url: Option<Url>,
    /// The thumbnail is the page's, not the request's: if it cannot be used, the card goes out
    /// without one rather than failing the post the tenant did not ask a picture for.
    #[serde(default)]
    pub thumbnail_from_page: bool,
    /// The thumbnail uploaded as an image of the post's author.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbnail_urn: Option<String>,
}

impl ResolvedCard {
    /// The card without its thumbnail (the page's could not be used).
    pub fn without_thumbnail(&self) -> Self {
        Self {
            thumbnail_url: None,
            thumbnail_from_page: false,
            thumbnail_urn: None,
            ..self.clone()
        }
    }
}

/// How long a poll stays open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum PollDuration {
    #[serde(rename = "1d")]
    OneDay,
    #[serde(rename = "3d")]
    ThreeDays,
    #[serde(rename = "7d")]
    SevenDays,
    #[serde(rename = "14d")]
    FourteenDays,
}

impl PollDuration {
    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "1d" => Self::OneDay,
            "3d" => Self::ThreeDays,
            "7d" => Self::SevenDays,
            "14d" => Self::FourteenDays,
            _ => return None,
        })
    }

    /// LinkedIn's name for it (`settings.duration`).
    pub fn linkedin_name(self) -> &'static str {
        match self {
            Self::OneDay => "ONE_DAY",
            Self::ThreeDays => "THREE_DAYS",
            Self::SevenDays => "SEVEN_DAYS",
            Self::FourteenDays => "FOURTEEN_DAYS",
        }
    }
}

/// A poll: a question and 2–4 options, no media with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Poll {
    pub question: String,
    pub options: Vec<String>,
    pub duration: PollDuration,
}

/// The kind of a post, which decides what the publisher uploads and what LinkedIn is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PostKind {
    Text,
    Image,
    MultiImage,
    Document,
    Video,
    Article,
    Poll,
}

impl PostKind {
    /// What a post with these parts is. Validation keeps the kinds apart; a record that mixes
    /// them anyway is taken by its media first.
    pub fn of(media: &[MediaItem], article: Option<&Article>, poll: Option<&Poll>) -> Self {
        match (media, article, poll) {
            ([one], _, _) => match one.kind {
                MediaKind::Image => Self::Image,
                MediaKind::Document => Self::Document,
                MediaKind::Video => Self::Video,
            },
            ([_, _, ..], _, _) => Self::MultiImage,
            ([], Some(_), _) => Self::Article,
            ([], None, Some(_)) => Self::Poll,
            ([], None, None) => Self::Text,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Image => "image",
            Self::MultiImage => "multi_image",
            Self::Document => "document",
            Self::Video => "video",
            Self::Article => "article",
            Self::Poll => "poll",
        }
    }

    /// Whether LinkedIn's legacy `/v2/ugcPosts` can carry it (text, images and links only;
    /// this product sends only text and images there).
    pub fn legacy_can_carry(self) -> bool {
        matches!(self, Self::Text | Self::Image | Self::MultiImage)
    }
}

/// Where a post's first comment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum CommentStatus {
    /// Waiting for the post to be published, or for LinkedIn to know the fresh post.
    Pending,
    Posted,
    /// It could not be posted; the post itself stands.
    Failed,
}

/// The author's first comment under a post, posted once the post is published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FirstComment {
    pub text: String,
    pub status: CommentStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urn: Option<String>,
    #[serde(default)]
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<PostError>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub posted_at: Option<DateTime<Utc>>,
}

impl FirstComment {
    pub fn pending(text: String) -> Self {
        Self {
            text,
            status: CommentStatus::Pending,
            urn: None,
            attempts: 0,
            last_error: None,
            posted_at: None,
        }
    }
}

/// Something the tenant should know about a post it may still fix; the post was accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PostWarning {
    /// `RECONNECT_BEFORE_PUBLISH`, `MEMBER_DAILY_LIMIT`, …
    pub code: String,
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(kind: MediaKind) -> MediaItem {
        MediaItem {
            kind,
            ..MediaItem::image("https://cdn.example.com/a".parse().unwrap(), None)
        }
    }

    #[test]
    fn a_post_s_kind_follows_what_it_carries() {
        let article = Article {
            url: "https://example.com/story".parse().unwrap(),
            title: None,
            description: None,
            thumbnail_url: None,
        };
        let poll = Poll {
            question: "Which?".into(),
            options: vec!["a".into(), "b".into()],
            duration: PollDuration::ThreeDays,
        };
        let image = item(MediaKind::Image);
        type Case<'a> = (
            Vec<MediaItem>,
            Option<&'a Article>,
            Option<&'a Poll>,
            PostKind,
        );
        let cases: Vec<Case> = vec![
            (vec![], None, None, PostKind::Text),
            (vec![image.clone()], None, None, PostKind::Image),
            (vec![image.clone(), image], None, None, PostKind::MultiImage),
            (
                vec![item(MediaKind::Document)],
                None,
                None,
                PostKind::Document,
            ),
            (vec![item(MediaKind::Video)], None, None, PostKind::Video),
            (vec![], Some(&article), None, PostKind::Article),
            (vec![], None, Some(&poll), PostKind::Poll),
        ];
        for (media, article, poll, kind) in cases {
            assert_eq!(PostKind::of(&media, article, poll), kind);
        }
        assert!(PostKind::MultiImage.legacy_can_carry());
        assert!(!PostKind::Video.legacy_can_carry());
    }

    #[test]
    fn a_stored_image_without_a_type_reads_as_an_image() {
        let item: MediaItem =
            serde_json::from_str(r#"{"url":"https://cdn.example.com/a.png"}"#).unwrap();
        assert_eq!(item.kind, MediaKind::Image);
        let shown = serde_json::to_value(&item).unwrap();
        assert_eq!(shown["type"], "image");
    }

    #[test]
    fn poll_durations_read_and_name_as_linkedin_does() {
        for (raw, name) in [
            ("1d", "ONE_DAY"),
            ("3d", "THREE_DAYS"),
            ("7d", "SEVEN_DAYS"),
            ("14d", "FOURTEEN_DAYS"),
        ] {
            let d = PollDuration::parse(raw).unwrap();
            assert_eq!(d.linkedin_name(), name);
            assert_eq!(serde_json::to_value(d).unwrap(), raw);
        }
        assert_eq!(PollDuration::parse("2d"), None);
    }
}
