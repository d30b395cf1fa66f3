//! What LinkedIn is sent beside a post's text, by the post's kind: a pure decision, from what
//! the post carries and what the publisher has uploaded and resolved for it so far.

use connector::config::PostsApi;
use connector::domain::posts::{FailureCode, Post, PostKind};
use connector::linkedin::{ArticleCard, PostBody, PostImage};

/// Whether the deployment's dialect can carry the post at all: the legacy `ugc` dialect is
/// sent text and images only. Checked before anything is uploaded.
pub(crate) fn carried(post: &Post, dialect: PostsApi) -> Result<(), FailureCode> {
    match dialect {
        PostsApi::Ugc if !post.kind().legacy_can_carry() => Err(FailureCode::PostsApiCannotCarry),
        _ => Ok(()),
    }
}

/// The post's body, once its media are uploaded (`media_urns`, in order) and a link card is
/// resolved (`card`). `Err` names what is missing: a step before this one did not finish.
pub(crate) fn post_body(post: &Post) -> Result<PostBody, &'static str> {
    let uploaded = |i: usize| {
        post.media_urns
            .get(i)
            .cloned()
            .ok_or("a medium of the post is not uploaded")
    };
    Ok(match post.kind() {
        PostKind::Text => PostBody::None,
        PostKind::Image | PostKind::MultiImage => {
            if post.media_urns.len() != post.media.len() {
                return Err("an image of the post is not uploaded");
            }
            PostBody::images(
                post.media_urns
                    .iter()
                    .zip(&post.media)
                    .map(|(id, item)| PostImage {
                        id: id.clone(),
                        alt_text: item.alt_text.clone(),
                    })
                    .collect(),
            )
        }
        PostKind::Document => PostBody::Document {
            id: uploaded(0)?,
            title: post.media[0]
                .title
                .clone()
                .ok_or("a document needs a title")?,
        },
        PostKind::Video => PostBody::Video {
            id: uploaded(0)?,
            title: post.media[0].title.clone(),
        },
        PostKind::Article => {
            let (Some(article), Some(card)) = (&post.article, &post.card) else {
                return Err("the link card is not resolved");
            };
            if card.thumbnail_url.is_some() && card.thumbnail_urn.is_none() {
                return Err("the link card's thumbnail is not uploaded");
            }
            PostBody::Article(ArticleCard {
                source: article.url.clone(),
                title: card.title.clone(),
                description: card.description.clone(),
                thumbnail: card.thumbnail_urn.clone(),
            })
        }
        PostKind::Poll => {
            let poll = post.poll.as_ref().ok_or("a poll post without its poll")?;
            PostBody::Poll {
                question: poll.question.clone(),
                options: poll.options.clone(),
                duration: poll.duration,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use connector::domain::posts::{
        Article, Author, MediaItem, MediaKind, Poll, PollDuration, PostDraft, PostId, ResolvedCard,
    };
    use connector::domain::{ConnectionId, MemberUrn, TenantId};

    fn post(change: impl FnOnce(&mut PostDraft)) -> Post {
        let author = Author::Member(MemberUrn::from_member_id("abc"));
        let mut draft = PostDraft::new(ConnectionId::new(), author, "Hello");
        change(&mut draft);
        Post::new(
            PostId::new(),
            TenantId::parse("acme").unwrap(),
            draft,
            Utc::now(),
        )
    }

    fn uploaded(mut post: Post, urns: &[&str]) -> Post {
        post.media_urns = urns.iter().map(|u| u.to_string()).collect();
        post
    }

    fn image(n: usize, alt: Option<&str>) -> MediaItem {
        let url = format!("https://cdn.example.com/{n}.png").parse().unwrap();
        MediaItem::image(url, alt.map(str::to_owned))
    }

    fn article(title: Option<&str>) -> Article {
        Article {
            url: "https://example.com/story".parse().unwrap(),
            title: title.map(str::to_owned),
            description: None,
            thumbnail_url: None,
        }
    }

    fn card(thumbnail: Option<&str>) -> ResolvedCard {
        ResolvedCard {
            title: "The story".into(),
            description: Some("What happened".into()),
            thumbnail_url: thumbnail.map(|_| "https://example.com/t.png".parse().unwrap()),
            thumbnail_from_page: true,
            thumbnail_urn: thumbnail.map(str::to_owned),
        }
    }

    fn poll() -> Poll {
        Poll {
            question: "Which?".into(),
            options: vec!["a".into(), "b".into()],
            duration: PollDuration::FourteenDays,
        }
    }

    #[test]
    fn each_kind_is_sent_as_what_it_carries() {
        let three = uploaded(
            post(|d| {
                d.media = vec![
                    image(1, Some("one")),
                    image(2, None),
                    image(3, Some("three")),
                ]
            }),
            &["urn:li:image:1", "urn:li:image:2", "urn:li:image:3"],
        );
        let document = uploaded(
            post(|d| {
                d.media = vec![MediaItem {
                    kind: MediaKind::Document,
                    title: Some("Deck".into()),
                    ..image(1, None)
                }]
            }),
            &["urn:li:document:1"],
        );
        let card_post = |card: ResolvedCard| {
            let mut p = post(|d| d.article = Some(article(None)));
            p.card = Some(card);
            p
        };
        let img = |id: &str, alt: Option<&str>| PostImage {
            id: id.into(),
            alt_text: alt.map(str::to_owned),
        };
        let rows: Vec<(&str, Post, Result<PostBody, &str>)> = vec![
            ("text", post(|_| {}), Ok(PostBody::None)),
            (
                "three images, alt texts in order",
                three,
                Ok(PostBody::MultiImage(vec![
                    img("urn:li:image:1", Some("one")),
                    img("urn:li:image:2", None),
                    img("urn:li:image:3", Some("three")),
                ])),
            ),
            (
                "images not all uploaded",
                uploaded(
                    post(|d| d.media = vec![image(1, None), image(2, None)]),
                    &["urn:li:image:1"],
                ),
                Err("an image of the post is not uploaded"),
            ),
            (
                "a document with its title",
                document,
                Ok(PostBody::Document {
                    id: "urn:li:document:1".into(),
                    title: "Deck".into(),
                }),
            ),
            (
                "a link card with its uploaded thumbnail",
                card_post(card(Some("urn:li:image:9"))),
                Ok(PostBody::Article(ArticleCard {
                    source: "https://example.com/story".parse().unwrap(),
                    title: "The story".into(),
                    description: Some("What happened".into()),
                    thumbnail: Some("urn:li:image:9".into()),
                })),
            ),
            (
                "a link card not resolved yet",
                post(|d| d.article = Some(article(Some("t")))),
                Err("the link card is not resolved"),
            ),
            (
                "a link card whose thumbnail is not uploaded yet",
                card_post(ResolvedCard {
                    thumbnail_urn: None,
                    ..card(Some("x"))
                }),
                Err("the link card's thumbnail is not uploaded"),
            ),
            (
                "a poll",
                post(|d| d.poll = Some(poll())),
                Ok(PostBody::Poll {
                    question: "Which?".into(),
                    options: vec!["a".into(), "b".into()],
                    duration: PollDuration::FourteenDays,
                }),
            ),
        ];
        for (name, post, expected) in rows {
            assert_eq!(post_body(&post), expected, "{name}");
        }
    }

    #[test]
    fn the_legacy_dialect_carries_text_and_images_only() {
        let rows = [
            (post(|_| {}), Ok(())),
            (
                post(|d| d.media = vec![image(1, None), image(2, None)]),
                Ok(()),
            ),
            (
                post(|d| d.poll = Some(poll())),
                Err(FailureCode::PostsApiCannotCarry),
            ),
            (
                post(|d| d.article = Some(article(Some("t")))),
                Err(FailureCode::PostsApiCannotCarry),
            ),
        ];
        for (post, expected) in rows {
            assert_eq!(carried(&post, PostsApi::Ugc), expected, "{:?}", post.kind());
            assert_eq!(carried(&post, PostsApi::Rest), Ok(()));
        }
    }
}
