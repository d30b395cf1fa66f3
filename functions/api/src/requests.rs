//! The API's wire types: what a tenant sends (`POST /v1/posts`, `PATCH /v1/posts/{id}`, the
//! `Idempotency-Key` header), parsed at the boundary into the domain's draft, so nothing inside
//! validates again. Every rule LinkedIn would enforce is checked here, before anything is
//! recorded; a broken rule names its field.

use chrono::{DateTime, Utc};
use connector::domain::posts::{
    Author, MediaItem, PostDraft, Visibility, MAX_ALT_TEXT_CHARS, MAX_IMAGES, MAX_SCHEDULE_AHEAD,
    MAX_TEXT_CHARS,
};
use connector::domain::{Connection, ConnectionId, ConnectionStatus};
use serde::Deserialize;
use url::Url;

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
#[derive(Debug, Clone, Default, Deserialize)]
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
#[derive(Debug, Clone, Default, Deserialize)]
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

#[derive(Debug, Clone, Default, Deserialize)]
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

        let media = self
            .media
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(MediaItem::try_from)
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

/// An image as the caller sent it, checked: the domain's media item.
impl TryFrom<RawMedia> for MediaItem {
    type Error = Invalid;

    fn try_from(raw: RawMedia) -> Result<Self, Invalid> {
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
            url,
            alt_text: raw.alt_text,
        })
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
mod tests {
    use super::*;
    use connector::domain::examples;

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
        let c = examples::connection();
        let draft = request(&c).validate(Some(&c), Utc::now()).unwrap();
        assert_eq!(draft.author.urn(), "urn:li:person:abc");
        assert_eq!(draft.visibility, Visibility::Public);
    }

    #[test]
    fn text_must_be_between_1_and_3000_characters() {
        let c = examples::connection();
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
        let mut c = examples::connection();
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
        let c = examples::connection();
        let as_org = |urn: &str| PostRequest {
            author: Some(urn.into()),
            ..request(&c)
        };
        assert_eq!(
            as_org("urn:li:organization:1")
                .validate(Some(&c), Utc::now())
                .unwrap()
                .author
                .urn(),
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
        let c = examples::connection();
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
        let c = examples::connection();
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
        let c = examples::connection();
        let r = PostRequest {
            scheduled_at: Some("2020-01-01T00:00:00Z".into()),
            ..request(&c)
        };
        assert_eq!(field_of(r.validate(Some(&c), Utc::now())), "scheduled_at");
    }

    #[test]
    fn an_idempotency_key_is_1_to_255_printable_characters() {
        assert_eq!(
            IdempotencyKey::parse(b"order-42").unwrap().as_str(),
            "order-42"
        );
        for bad in [&b""[..], b"has space", &[b'k'; 256], b"caf\xc3\xa9"] {
            assert_eq!(
                IdempotencyKey::parse(bad).unwrap_err().field,
                "Idempotency-Key"
            );
        }
    }
}
