//! The wire rules, one test each.

use super::*;
use connector::domain::examples;

const REST: PostsApi = PostsApi::Rest;

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
    let draft = request(&c).validate(Some(&c), REST, Utc::now()).unwrap();
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
        assert_eq!(field_of(r.validate(Some(&c), REST, Utc::now())), "text");
    }
    let r = PostRequest {
        text: None,
        ..request(&c)
    };
    assert_eq!(field_of(r.validate(Some(&c), REST, Utc::now())), "text");
    // Characters, not bytes: 3000 two-byte characters are fine, 3001 are not.
    let r = PostRequest {
        text: Some("é".repeat(3000)),
        ..request(&c)
    };
    assert!(r.validate(Some(&c), REST, Utc::now()).is_ok());
    let r = PostRequest {
        text: Some("é".repeat(3001)),
        ..request(&c)
    };
    assert_eq!(field_of(r.validate(Some(&c), REST, Utc::now())), "text");
}

#[test]
fn the_connection_must_exist_and_not_be_revoked() {
    let mut c = examples::connection();
    assert_eq!(
        field_of(request(&c).validate(None, REST, Utc::now())),
        "connection_id"
    );
    c.status = ConnectionStatus::Revoked;
    assert_eq!(
        field_of(request(&c).validate(Some(&c), REST, Utc::now())),
        "connection_id"
    );
    let r = PostRequest {
        connection_id: Some("nope".into()),
        ..request(&c)
    };
    assert_eq!(
        field_of(r.validate(Some(&c), REST, Utc::now())),
        "connection_id"
    );
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
            .validate(Some(&c), REST, Utc::now())
            .unwrap()
            .author
            .urn(),
        "urn:li:organization:1"
    );
    assert_eq!(
        field_of(as_org("urn:li:organization:2").validate(Some(&c), REST, Utc::now())),
        "author"
    );
    assert_eq!(
        field_of(as_org("urn:li:organization:3").validate(Some(&c), REST, Utc::now())),
        "author"
    );
    assert_eq!(
        field_of(as_org("urn:li:person:other").validate(Some(&c), REST, Utc::now())),
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
            .validate(Some(&c), REST, Utc::now())
            .unwrap()
            .visibility,
        Visibility::Connections
    );
    assert_eq!(
        field_of(with("FRIENDS", None).validate(Some(&c), REST, Utc::now())),
        "visibility"
    );
    assert_eq!(
        field_of(with("CONNECTIONS", Some("urn:li:organization:1")).validate(
            Some(&c),
            REST,
            Utc::now()
        )),
        "visibility"
    );
}

#[test]
fn media_are_images_given_as_urls_within_linkedins_count() {
    let c = examples::connection();
    let image = |url: &str| RawMedia {
        kind: Some("image".into()),
        url: Some(url.into()),
        ..Default::default()
    };
    let with = |media: Vec<RawMedia>| PostRequest {
        media: Some(media),
        ..request(&c)
    };
    assert_eq!(
        with(vec![image("https://cdn.example.com/a.png")])
            .validate(Some(&c), REST, Utc::now())
            .unwrap()
            .media
            .len(),
        1
    );
    assert_eq!(
        field_of(with(vec![image("ftp://x/a.png")]).validate(Some(&c), REST, Utc::now())),
        "media"
    );
    assert_eq!(
        field_of(with(vec![image("not a url")]).validate(Some(&c), REST, Utc::now())),
        "media"
    );
    let gif = RawMedia {
        kind: Some("gif".into()),
        ..image("https://x.example/v.gif")
    };
    assert_eq!(
        field_of(with(vec![gif]).validate(Some(&c), REST, Utc::now())),
        "media"
    );
    let many = (0..21)
        .map(|i| image(&format!("https://cdn.example.com/{i}.png")))
        .collect();
    assert_eq!(
        field_of(with(many).validate(Some(&c), REST, Utc::now())),
        "media"
    );
    let long_alt = RawMedia {
        alt_text: Some("a".repeat(4087)),
        ..image("https://x.example/a.png")
    };
    assert_eq!(
        field_of(with(vec![long_alt]).validate(Some(&c), REST, Utc::now())),
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
    assert_eq!(
        field_of(r.validate(Some(&c), REST, Utc::now())),
        "scheduled_at"
    );
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

/// A list's count is checked while it is read: the 21st image ends the parse, so what follows
/// is never read (here, items that would not even parse as images).
#[test]
fn a_list_of_10000_images_is_refused_at_the_21st_without_reading_the_rest() {
    let mut items = vec![r#"{"type":"image","url":"https://cdn.example.com/a.png"}"#; 21];
    items.extend(std::iter::repeat_n(
        r#"{"type":5,"surprise":true}"#,
        10_000 - 21,
    ));
    let body = format!(
        r#"{{"connection_id":"x","text":"hi","media":[{}]}}"#,
        items.join(",")
    );
    let refused = PostRequest::from_body(body.as_bytes()).unwrap_err();
    assert_eq!(refused.field, "media");
    assert!(
        refused.message.contains("at most 20"),
        "{}",
        refused.message
    );

    let twenty = vec![r#"{"type":"image","url":"https://cdn.example.com/a.png"}"#; 20];
    let body = format!(r#"{{"text":"hi","media":[{}]}}"#, twenty.join(","));
    let parsed = PostRequest::from_body(body.as_bytes()).unwrap();
    assert_eq!(parsed.media.unwrap().len(), 20);
    let parsed = PostRequest::from_body(br#"{"text":"hi","media":null}"#).unwrap();
    assert!(parsed.media.is_none());
}

#[test]
fn a_malformed_body_names_the_field_it_broke() {
    for (body, field) in [
        (r#"{"text": 5}"#.to_owned(), "text"),
        (
            r#"{"media": [{"type": "image", "url": 7}]}"#.to_owned(),
            "media",
        ),
        (r#"{"media": "many"}"#.to_owned(), "media"),
        (r#"{"colour": "red"}"#.to_owned(), "body"),
        ("not json".to_owned(), "body"),
    ] {
        let refused = PostRequest::from_body(body.as_bytes()).unwrap_err();
        assert_eq!(refused.field, field, "{body}: {}", refused.message);
    }
}

#[test]
fn an_image_url_may_be_at_most_2_kb() {
    let c = examples::connection();
    let url = |len: usize| {
        let base = "https://cdn.example.com/a.png?p=";
        format!("{base}{}", "x".repeat(len - base.len()))
    };
    let with = |u: String| PostRequest {
        media: Some(vec![RawMedia {
            kind: Some("image".into()),
            url: Some(u),
            ..Default::default()
        }]),
        ..request(&c)
    };
    assert!(with(url(MAX_URL_BYTES))
        .validate(Some(&c), REST, Utc::now())
        .is_ok());
    let refused = with(url(MAX_URL_BYTES + 1))
        .validate(Some(&c), REST, Utc::now())
        .unwrap_err();
    assert_eq!(refused.field, "media");
    assert!(refused.message.contains("2048"), "{}", refused.message);
}
