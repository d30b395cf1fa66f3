//! Each kind of content, and each way to get it wrong, through the request's JSON.

use chrono::Utc;
use connector::config::PostsApi;
use connector::domain::posts::{PollDuration, PostDraft, PostKind};
use connector::domain::{examples, Connection};
use serde_json::{json, Value};

use crate::requests::{Invalid, PostRequest};

fn draft(extra: Value, dialect: PostsApi) -> Result<PostDraft, Invalid> {
    let mut c = examples::connection();
    c.scopes.push("w_member_social_feed".into());
    draft_by(&c, extra, dialect)
}

fn draft_by(c: &Connection, extra: Value, dialect: PostsApi) -> Result<PostDraft, Invalid> {
    let mut body = json!({"connection_id": c.id.to_string(), "text": "Hi Ada, see Acme"});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    PostRequest::from_body(body.to_string().as_bytes())?.validate(Some(c), dialect, Utc::now())
}

fn kind_of(extra: Value) -> PostKind {
    let d = draft(extra, PostsApi::Rest).expect("valid");
    PostKind::of(&d.media, d.article.as_ref(), d.poll.as_ref())
}

const DOC: &str = "https://cdn.example.com/deck.pdf";
const VIDEO: &str = "https://cdn.example.com/clip.mp4";
const IMAGE: &str = "https://cdn.example.com/a.png";

#[test]
fn every_kind_of_content_is_accepted_in_its_shape() {
    let cases = [
        (json!({}), PostKind::Text),
        (
            json!({"media": [{"type": "image", "url": IMAGE, "alt_text": "a"}]}),
            PostKind::Image,
        ),
        (
            json!({"media": [{"type": "image", "url": IMAGE}, {"type": "image", "url": IMAGE}]}),
            PostKind::MultiImage,
        ),
        (
            json!({"media": [{"type": "document", "url": DOC, "title": "Q3 deck"}]}),
            PostKind::Document,
        ),
        (
            json!({"media": [{"type": "video", "url": VIDEO}]}),
            PostKind::Video,
        ),
        (
            json!({"media": [{"type": "video", "url": VIDEO, "title": "Launch",
                "thumbnail_url": IMAGE, "captions_url": "https://cdn.example.com/c.srt"}]}),
            PostKind::Video,
        ),
        (
            json!({"article": {"url": "https://example.com/story"}}),
            PostKind::Article,
        ),
        (
            json!({"article": {"url": "https://example.com/story", "title": "Story",
                "description": "What happened", "thumbnail_url": IMAGE}}),
            PostKind::Article,
        ),
        (
            json!({"poll": {"question": "Which?", "options": ["A", "B", "C", "D"], "duration": "7d"}}),
            PostKind::Poll,
        ),
    ];
    for (extra, kind) in cases {
        assert_eq!(kind_of(extra.clone()), kind, "{extra}");
    }
    let poll = draft(
        json!({"poll": {"question": "Q?", "options": ["A", "B"], "duration": "14d"}}),
        PostsApi::Rest,
    )
    .unwrap()
    .poll
    .unwrap();
    assert_eq!(poll.duration, PollDuration::FourteenDays);
}

#[test]
fn content_that_breaks_a_rule_names_its_field() {
    let long = |n: usize| "x".repeat(n);
    let cases = [
        // Media.
        (
            json!({"media": [{"type": "document", "url": DOC}]}),
            "media",
            "needs a title",
        ),
        (
            json!({"media": [{"type": "document", "url": DOC, "title": long(401)}]}),
            "media",
            "400",
        ),
        (
            json!({"media": [{"type": "document", "url": DOC, "title": "D"}, {"type": "image", "url": IMAGE}]}),
            "media",
            "does not mix",
        ),
        (
            json!({"media": [{"type": "video", "url": VIDEO}, {"type": "video", "url": VIDEO}]}),
            "media",
            "does not mix",
        ),
        (
            json!({"media": [{"type": "video", "url": VIDEO, "alt_text": "a"}]}),
            "media",
            "alt_text is for images",
        ),
        (
            json!({"media": [{"type": "image", "url": IMAGE, "title": "t"}]}),
            "media",
            "title is for documents and videos",
        ),
        (
            json!({"media": [{"type": "video", "url": VIDEO, "thumbnail_url": "file:///etc/passwd"}]}),
            "media",
            "absolute http(s)",
        ),
        (
            json!({"media": [{"type": "video", "url": VIDEO, "size": 3}]}),
            "media",
            "unknown field",
        ),
        // Link cards.
        (
            json!({"article": {"title": "No url"}}),
            "article",
            "article.url is required",
        ),
        (
            json!({"article": {"url": "ftp://example.com/x"}}),
            "article",
            "absolute http(s)",
        ),
        (
            json!({"article": {"url": "https://example.com", "title": " "}}),
            "article",
            "must not be blank",
        ),
        (
            json!({"article": {"url": "https://example.com"}, "media": [{"type": "image", "url": IMAGE}]}),
            "article",
            "one of media, article or poll",
        ),
        // Polls.
        (
            json!({"poll": {"question": "Q?", "options": ["A"], "duration": "1d"}}),
            "poll",
            "2 to 4 options",
        ),
        (
            json!({"poll": {"question": "Q?", "options": ["A", "B", "C", "D", "E"], "duration": "1d"}}),
            "poll",
            "2 to 4 options",
        ),
        (
            json!({"poll": {"question": "Q?", "options": ["A", long(31)], "duration": "1d"}}),
            "poll",
            "30 characters",
        ),
        (
            json!({"poll": {"question": "Q?", "options": ["A", "A"], "duration": "1d"}}),
            "poll",
            "given twice",
        ),
        (
            json!({"poll": {"question": long(141), "options": ["A", "B"], "duration": "1d"}}),
            "poll",
            "140 characters",
        ),
        (
            json!({"poll": {"question": "Q?", "options": ["A", "B"], "duration": "2d"}}),
            "poll",
            "\"1d\", \"3d\"",
        ),
        (
            json!({"poll": {"question": "Q?", "options": ["A", "B"]}}),
            "poll",
            "duration is required",
        ),
        (
            json!({"poll": {"question": "Q?", "options": ["A", "B"], "duration": "1d"},
                "article": {"url": "https://example.com"}}),
            "poll",
            "article and poll",
        ),
        // Mentions and the first comment.
        (
            json!({"mentions": [{"name": "Bob", "urn": "urn:li:person:b1"}]}),
            "mentions",
            "does not contain \"Bob\"",
        ),
        (
            json!({"mentions": [{"name": "Ada", "urn": "urn:li:company:1"}]}),
            "mentions",
            "is not a urn",
        ),
        (
            json!({"mentions": [{"name": "Ada"}]}),
            "mentions",
            "a name and a urn",
        ),
        (
            json!({"first_comment": {"text": "  "}}),
            "first_comment",
            "must not be blank",
        ),
        (
            json!({"first_comment": {"text": long(1251)}}),
            "first_comment",
            "1250",
        ),
        (json!({"first_comment": {}}), "first_comment", "is required"),
    ];
    for (extra, field, says) in cases {
        let e = draft(extra.clone(), PostsApi::Rest).expect_err("invalid");
        assert_eq!(e.field, field, "{extra}: {}", e.message);
        assert!(e.message.contains(says), "{extra}: {}", e.message);
    }
}

#[test]
fn mentions_asked_for_become_markup_in_the_text() {
    let d = draft(
        json!({"mentions": [{"name": "Ada", "urn": "urn:li:person:a1"},
                            {"name": "Acme", "urn": "urn:li:organization:7"}],
               "first_comment": {"text": "More at #rust, @[Ada](urn:li:person:a1)"}}),
        PostsApi::Rest,
    )
    .unwrap();
    assert_eq!(
        d.text,
        "Hi @[Ada](urn:li:person:a1), see @[Acme](urn:li:organization:7)"
    );
    assert_eq!(
        d.first_comment.as_deref(),
        Some("More at #rust, @[Ada](urn:li:person:a1)")
    );
}

#[test]
fn the_legacy_dialect_refuses_what_it_cannot_carry_naming_linkedin_posts_api() {
    for (extra, field) in [
        (json!({"media": [{"type": "video", "url": VIDEO}]}), "media"),
        (
            json!({"media": [{"type": "document", "url": DOC, "title": "D"}]}),
            "media",
        ),
        (
            json!({"article": {"url": "https://example.com"}}),
            "article",
        ),
        (
            json!({"poll": {"question": "Q?", "options": ["A", "B"], "duration": "1d"}}),
            "poll",
        ),
    ] {
        let e = draft(extra.clone(), PostsApi::Ugc).expect_err("refused on ugc");
        assert_eq!(e.field, field, "{extra}");
        assert!(e.message.contains("LINKEDIN_POSTS_API"), "{}", e.message);
        assert!(draft(extra, PostsApi::Rest).is_ok());
    }
    for extra in [
        json!({}),
        json!({"media": [{"type": "image", "url": IMAGE}, {"type": "image", "url": IMAGE}]}),
    ] {
        assert!(draft(extra, PostsApi::Ugc).is_ok());
    }
}

#[test]
fn what_the_connection_cannot_do_is_refused_naming_the_field_and_the_scope() {
    let c = examples::connection();
    let e = draft_by(
        &c,
        json!({"first_comment": {"text": "First!"}}),
        PostsApi::Rest,
    )
    .expect_err("no comment scope");
    assert_eq!(e.field, "first_comment");
    assert!(e.message.contains("w_member_social_feed"), "{}", e.message);
    assert!(draft(json!({"first_comment": {"text": "First!"}}), PostsApi::Rest).is_ok());
}
