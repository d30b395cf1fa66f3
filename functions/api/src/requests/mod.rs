//! The API's wire types: what a tenant sends (`POST /v1/posts`, `PATCH /v1/posts/{id}`, the
//! `Idempotency-Key` header), parsed at the boundary into the domain's draft, so nothing inside
//! validates again. Every rule LinkedIn would enforce is checked here, before anything is
//! recorded; a broken rule names its field.
//!
//! Sizes are bounded before they cost anything: the body's (256 KB, `http::bounded_body`),
//! each URL's (2 KB), and a list's count while it is read — the 21st image ends the parse, so
//! a list of 10,000 is refused without reading the rest. With LinkedIn's own limits (3,000
//! characters of text, 20 images with alternative texts of 4,086 characters) every post fits
//! a DynamoDB item (400 KB) with room to spare.

use std::fmt;

use chrono::{DateTime, Utc};
use connector::config::PostsApi;
use connector::domain::capabilities::Capabilities;
use connector::domain::posts::{
    Author, PostDraft, Visibility, MAX_IMAGES, MAX_SCHEDULE_AHEAD, MAX_TEXT_CHARS,
};
use connector::domain::{Connection, ConnectionId, ConnectionStatus};
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;

mod content;

pub use content::{RawArticle, RawComment, RawMedia, RawMention, RawPoll};

mod edit;
pub use edit::{PostChange, PostPatch};

/// The longest URL a request may carry, in bytes.
pub const MAX_URL_BYTES: usize = 2048;

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

/// `POST /v1/posts` as the caller sent it.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostRequest {
    // Fields are read leniently (a missing or wrong one is a 400 naming it); the document
    // shows what is required and of which type.
    #[schema(value_type = uuid::Uuid)]
    pub connection_id: Option<String>,
    /// `member` (the default) or an organization's URN (`urn:li:organization:N`).
    pub author: Option<String>,
    /// 1–3000 characters.
    #[schema(value_type = String)]
    pub text: Option<String>,
    #[serde(default, deserialize_with = "at_most_max_images")]
    pub media: Option<Vec<RawMedia>>,
    pub article: Option<RawArticle>,
    pub poll: Option<RawPoll>,
    #[serde(default, deserialize_with = "at_most_max_mentions")]
    pub mentions: Option<Vec<RawMention>>,
    pub first_comment: Option<RawComment>,
    #[schema(value_type = Option<connector::domain::posts::Visibility>)]
    pub visibility: Option<String>,
    /// RFC 3339 with an offset, within a year.
    #[schema(value_type = Option<chrono::DateTime<chrono::Utc>>)]
    pub scheduled_at: Option<String>,
    /// Hold the post as `pending_approval` until `POST /v1/posts/{id}/approve`.
    pub requires_approval: Option<bool>,
}

/// `PATCH /v1/posts/{id}`: move a scheduled post.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostMove {
    #[schema(value_type = chrono::DateTime<chrono::Utc>)]
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

/// The fields of [`PostRequest`], to name the one a malformed body broke.
const POST_FIELDS: &[&str] = &[
    "connection_id",
    "author",
    "text",
    "media",
    "article",
    "poll",
    "mentions",
    "first_comment",
    "visibility",
    "scheduled_at",
    "requires_approval",
];

/// `media`, read item by item and refused at the first item past [`MAX_IMAGES`]: the rest of
/// the list is never parsed.
fn at_most_max_images<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Vec<RawMedia>>, D::Error> {
    bounded_list(deserializer, MAX_IMAGES, "images")
}

/// A list of at most `max` items, read item by item: one past the limit ends the parse.
fn bounded_list<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
    max: usize,
    what: &'static str,
) -> Result<Option<Vec<T>>, D::Error> {
    struct Bounded<T> {
        max: usize,
        what: &'static str,
        item: std::marker::PhantomData<T>,
    }
    impl<'de, T: Deserialize<'de>> Visitor<'de> for Bounded<T> {
        type Value = Option<Vec<T>>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "a list of at most {} {}", self.max, self.what)
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(self.max));
            // One past the limit is enough to refuse the list; what follows is not read.
            while items.len() <= self.max {
                match seq.next_element::<T>()? {
                    Some(item) => items.push(item),
                    None => return Ok(Some(items)),
                }
            }
            Err(de::Error::custom(format!(
                "more than {max} {what}; LinkedIn takes at most {max}",
                max = self.max,
                what = self.what
            )))
        }
    }
    deserializer.deserialize_any(Bounded {
        max,
        what,
        item: std::marker::PhantomData,
    })
}

/// `mentions`, refused at the first past [`content::MAX_MENTIONS`] without reading the rest.
fn at_most_max_mentions<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Vec<RawMention>>, D::Error> {
    bounded_list(deserializer, content::MAX_MENTIONS, "mentions")
}

impl PostRequest {
    /// The request from its (size-checked) body. A malformed body names the field it broke.
    pub fn from_body(body: &[u8]) -> Result<Self, Invalid> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self::default());
        }
        let json = &mut serde_json::Deserializer::from_slice(body);
        let parsed: Result<Self, _> = serde_path_to_error::deserialize(json);
        parsed.map_err(|e| {
            let field = e
                .path()
                .iter()
                .next()
                .and_then(|segment| match segment {
                    serde_path_to_error::Segment::Map { key } => {
                        POST_FIELDS.iter().find(|f| **f == key.as_str()).copied()
                    }
                    _ => None,
                })
                .unwrap_or("body");
            invalid(field, format!("invalid JSON body: {}", e.inner()))
        })
    }

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
        dialect: PostsApi,
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

        let author = Author::for_connection(self.author.as_deref(), connection)
            .map_err(|message| invalid("author", message))?;

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

        let text = match self.mentions.clone() {
            Some(mentions) => content::mentions(&text, mentions)?,
            None => text,
        };
        let media = content::media(self.media.clone().unwrap_or_default())?;
        let article = self.article.clone().map(content::article).transpose()?;
        let poll = self.poll.clone().map(content::poll).transpose()?;
        content::one_kind(&media, article.as_ref(), poll.as_ref(), dialect)?;
        let first_comment = self
            .first_comment
            .clone()
            .map(content::first_comment)
            .transpose()?;

        let is_org = author.is_organization();
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

        let draft = PostDraft {
            media,
            article,
            poll,
            first_comment,
            visibility,
            scheduled_at,
            requires_approval: self.requires_approval.unwrap_or(false),
            ..PostDraft::new(connection_id, author, text)
        };
        // What the connection cannot do is refused now, naming the field that asks for it.
        Capabilities::of(connection)
            .check(&draft)
            .map_err(|missing| invalid(missing.field, missing.message))?;
        Ok(draft)
    }
}

/// The `Idempotency-Key` header: 1 to 255 printable characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn parse(raw: &[u8]) -> Result<Self, Invalid> {
        std::str::from_utf8(raw)
            .ok()
            .filter(|k| !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| b.is_ascii_graphic()))
            .map(|k| Self(k.to_owned()))
            .ok_or_else(|| {
                invalid(
                    "Idempotency-Key",
                    "Idempotency-Key must be 1 to 255 printable characters",
                )
            })
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests;
