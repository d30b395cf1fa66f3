//! Each kind of post published end to end (API -> SQS -> publisher -> the simulator): several
//! images, link cards filled from a page's Open Graph tags or from the request, a link card
//! without a title, and a poll. Each test counts the LinkedIn and AWS calls its post took (the
//! publisher is driven by hand, so the counts are the post's own and not a poller's idling).

use std::collections::BTreeMap;
use std::time::Duration;

use local_stack::LocalStack;
use serde_json::{json, Value};

use crate::support::*;

/// A post as it ended, and the calls it took: LinkedIn's (`METHOD path`, in order) and AWS's
/// (per operation: the API's recording and the publisher's work, not the test's reads).
struct Counted {
    post: Value,
    linkedin: Vec<String>,
    aws: BTreeMap<String, usize>,
}

impl Counted {
    fn linkedin_calls(&self, prefix: &str) -> usize {
        self.linkedin
            .iter()
            .filter(|c| c.starts_with(prefix))
            .count()
    }

    fn report(&self, kind: &str) {
        let aws_total: usize = self.aws.values().sum();
        println!(
            "calls for a {kind} post: LinkedIn {} {:?}; AWS {aws_total} {:?}",
            self.linkedin.len(),
            self.linkedin,
            self.aws
        );
    }
}

async fn stack() -> (LocalStack, String) {
    connected(|o| o.run_publisher = false).await
}

/// Creates the post as tenant `acme`, then runs the publisher over the queue until the post is
/// published or failed.
async fn publish_counted(stack: &LocalStack, body: Value) -> Counted {
    let seen = stack.simulator().requests().len();
    stack.aws_calls().take();
    let (status, created) = stack.create_post("acme", body, None).await;
    assert_eq!(status, 202, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let mut aws = stack.aws_calls().take();
    for _ in 0..50 {
        stack.run_publish_queue().await;
        for (operation, n) in stack.aws_calls().take() {
            *aws.entry(operation).or_default() += n;
        }
        let (_, post) = stack.get("acme", &format!("/v1/posts/{id}")).await;
        // The test's own reads are not the post's.
        stack.aws_calls().take();
        if matches!(post["status"].as_str(), Some("published" | "failed")) {
            let linkedin = stack.simulator().requests()[seen..]
                .iter()
                .map(|r| format!("{} {}", r.method, r.path))
                .collect();
            return Counted {
                post,
                linkedin,
                aws,
            };
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("post {id} neither published nor failed");
}

#[tokio::test]
async fn a_multi_image_post_of_three_keeps_its_images_and_alt_texts_in_order() {
    let (stack, connection) = stack().await;
    let media: Vec<Value> = ["one", "two", "three"]
        .iter()
        .map(|n| json!({ "type": "image", "url": stack.cdn.url(&format!("/img/{n}.png")), "alt_text": format!("picture {n}") }))
        .collect();
    let counted = publish_counted(
        &stack,
        json!({ "connection_id": connection, "text": "Three pictures", "media": media }),
    )
    .await;
    counted.report("multi-image (3)");
    assert_eq!(counted.post["status"], "published", "{}", counted.post);

    let live = stack.simulator().live_posts();
    assert_eq!(live.len(), 1);
    let images = &live[0].content.as_ref().unwrap()["multiImage"]["images"];
    let alt_texts: Vec<&str> = (0..3)
        .map(|i| images[i]["altText"].as_str().unwrap())
        .collect();
    assert_eq!(alt_texts, ["picture one", "picture two", "picture three"]);
    // In the order uploaded, which is the request's order.
    let ids: Vec<&str> = (0..3).map(|i| images[i]["id"].as_str().unwrap()).collect();
    let mut uploaded = stack.simulator().images();
    uploaded.sort_by(|a, b| a.urn.cmp(&b.urn));
    assert_eq!(
        ids,
        uploaded.iter().map(|i| i.urn.as_str()).collect::<Vec<_>>()
    );
    assert_eq!(live[0].media, ids);

    // Per image: initializeUpload, the PUT, a status read; then the post.
    assert_eq!(counted.linkedin_calls("POST /rest/images"), 3);
    assert_eq!(counted.linkedin_calls("PUT /_media/upload/"), 3);
    assert_eq!(counted.linkedin_calls("GET /rest/images/"), 3);
    assert_eq!(counted.linkedin_calls("POST /rest/posts"), 1);
    assert_eq!(counted.linkedin.len(), 10);
}

#[tokio::test]
async fn a_link_card_takes_title_description_and_thumbnail_from_the_page() {
    let (stack, connection) = stack().await;
    // Through a redirect: the card's image is relative to where the page really is.
    let url = stack.cdn.url("/pages/moved");
    let counted = publish_counted(
        &stack,
        json!({ "connection_id": connection, "text": "Read this", "article": { "url": url } }),
    )
    .await;
    counted.report("link card (page's title, description and thumbnail)");
    assert_eq!(counted.post["status"], "published", "{}", counted.post);

    let live = stack.simulator().live_posts();
    let article = &live[0].content.as_ref().unwrap()["article"];
    assert_eq!(
        article["source"],
        url.as_str(),
        "the address the tenant gave"
    );
    assert_eq!(article["title"], "Launch day & what's next");
    assert_eq!(article["description"], "Everything we shipped this week");
    // The page's og:image, uploaded as an image of the author.
    let images = stack.simulator().images();
    assert_eq!(images.len(), 1);
    assert_eq!(images[0].owner, "urn:li:person:sim-ada-7f3k");
    assert!(images[0].bytes > 0);
    assert_eq!(article["thumbnail"], images[0].urn.as_str());
    assert_eq!(live[0].media, vec![images[0].urn.clone()]);

    assert_eq!(counted.linkedin_calls("POST /rest/images"), 1);
    assert_eq!(counted.linkedin_calls("PUT /_media/upload/"), 1);
    assert_eq!(counted.linkedin_calls("GET /rest/images/"), 1);
    assert_eq!(counted.linkedin_calls("POST /rest/posts"), 1);
    assert_eq!(counted.linkedin.len(), 4);
}

#[tokio::test]
async fn a_link_card_keeps_the_title_and_description_the_request_gives() {
    let (stack, connection) = stack().await;
    let url = stack.cdn.url("/pages/launch.html");
    let counted = publish_counted(
        &stack,
        json!({ "connection_id": connection, "text": "Ours", "article": {
            "url": url, "title": "Our own title", "description": "Our own words",
        }}),
    )
    .await;
    counted.report("link card (request's title and description)");
    assert_eq!(counted.post["status"], "published", "{}", counted.post);
    let live = stack.simulator().live_posts();
    let article = &live[0].content.as_ref().unwrap()["article"];
    assert_eq!(article["title"], "Our own title");
    assert_eq!(article["description"], "Our own words");
    // The request left the thumbnail out: the page's is used.
    assert_eq!(
        article["thumbnail"],
        stack.simulator().images()[0].urn.as_str()
    );

    // Given a title, a description and a thumbnail, the page is not needed: no image of the
    // page's, the request's own thumbnail uploaded.
    let thumbnail = stack.cdn.url("/img/own-thumbnail.png");
    let counted = publish_counted(
        &stack,
        json!({ "connection_id": connection, "text": "All given", "article": {
            "url": stack.cdn.url("/pages/untitled.html"), "title": "Given", "description": "Given too",
            "thumbnail_url": thumbnail,
        }}),
    )
    .await;
    assert_eq!(counted.post["status"], "published", "{}", counted.post);
    let live = stack.simulator().live_posts();
    let article = &live[1].content.as_ref().unwrap()["article"];
    assert_eq!(article["title"], "Given");
    assert_eq!(stack.simulator().images().len(), 2);
}

#[tokio::test]
async fn a_link_card_whose_page_has_no_title_fails_with_its_code() {
    let (stack, connection) = stack().await;
    let counted = publish_counted(
        &stack,
        json!({ "connection_id": connection, "text": "Untitled", "article": { "url": stack.cdn.url("/pages/untitled.html") } }),
    )
    .await;
    assert_eq!(counted.post["status"], "failed", "{}", counted.post);
    assert_eq!(counted.post["last_error"]["code"], "ARTICLE_TITLE_MISSING");
    assert_eq!(
        counted.post["last_error"]["message"],
        "the link card has no title: the request gave none and its page has neither an og:title nor a title tag"
    );
    assert_eq!(counted.post["attempts"], 1, "retrying cannot help");
    assert!(counted.linkedin.is_empty(), "nothing reached LinkedIn");
    assert!(stack.simulator().posts().is_empty());
}

#[tokio::test]
async fn a_poll_is_published_with_its_question_options_and_duration() {
    let (stack, connection) = stack().await;
    let counted = publish_counted(
        &stack,
        json!({ "connection_id": connection, "text": "Tell us", "poll": {
            "question": "Which feature next?",
            "options": ["Video", "Documents", "Polls"],
            "duration": "7d",
        }}),
    )
    .await;
    counted.report("poll");
    assert_eq!(counted.post["status"], "published", "{}", counted.post);
    let live = stack.simulator().live_posts();
    assert_eq!(
        live[0].content,
        Some(json!({ "poll": {
            "question": "Which feature next?",
            "options": [{ "text": "Video" }, { "text": "Documents" }, { "text": "Polls" }],
            "settings": { "duration": "SEVEN_DAYS" },
        }}))
    );
    assert_eq!(counted.linkedin, vec!["POST /rest/posts".to_owned()]);
}

/// LinkedIn's upper bound: twenty images are one multi-image post, in order.
#[tokio::test]
async fn twenty_images_are_one_multi_image_post() {
    let (stack, connection) = stack().await;
    let media: Vec<Value> = (0..20)
        .map(|i| json!({ "type": "image", "url": stack.cdn.url(&format!("/img/{i}.png")), "alt_text": format!("#{i}") }))
        .collect();
    let counted = publish_counted(
        &stack,
        json!({ "connection_id": connection, "text": "Twenty", "media": media }),
    )
    .await;
    counted.report("multi-image (20)");
    assert_eq!(counted.post["status"], "published", "{}", counted.post);
    let live = stack.simulator().live_posts();
    let images = live[0].content.as_ref().unwrap()["multiImage"]["images"]
        .as_array()
        .unwrap()
        .clone();
    let alt_texts: Vec<String> = images
        .iter()
        .map(|i| i["altText"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        alt_texts,
        (0..20).map(|i| format!("#{i}")).collect::<Vec<_>>()
    );
    assert_eq!(counted.linkedin_calls("POST /rest/posts"), 1);
}

/// The page named a thumbnail the tenant did not ask for, and it is not an image: the card
/// goes out without a thumbnail rather than failing.
#[tokio::test]
async fn a_page_s_thumbnail_that_is_not_an_image_is_left_out() {
    let (stack, connection) = stack().await;
    let counted = publish_counted(
        &stack,
        json!({ "connection_id": connection, "text": "No picture", "article": { "url": stack.cdn.url("/pages/broken-image.html") } }),
    )
    .await;
    assert_eq!(counted.post["status"], "published", "{}", counted.post);
    let live = stack.simulator().live_posts();
    let article = &live[0].content.as_ref().unwrap()["article"];
    assert_eq!(article["title"], "A card whose image is not one");
    assert!(article.get("thumbnail").is_none(), "{article}");
    assert!(stack.simulator().images().is_empty());
    assert_eq!(counted.linkedin, vec!["POST /rest/posts".to_owned()]);
}

/// A link card without a title needs its page: one that is not HTML can never give it (the
/// post fails), one whose host fails just now is tried again.
#[tokio::test]
async fn a_link_card_s_page_that_is_not_html_fails_and_one_that_is_down_is_retried() {
    let (stack, connection) = stack().await;
    let counted = publish_counted(
        &stack,
        json!({ "connection_id": connection, "text": "An image, not a page", "article": { "url": stack.cdn.url("/img/a.png") } }),
    )
    .await;
    assert_eq!(counted.post["status"], "failed", "{}", counted.post);
    assert_eq!(counted.post["last_error"]["code"], "ARTICLE_PAGE_REFUSED");
    assert!(counted.linkedin.is_empty());

    let (status, created) = stack
        .create_post(
            "acme",
            json!({ "connection_id": connection, "text": "Down", "article": { "url": stack.cdn.url("/flaky.png") } }),
            None,
        )
        .await;
    assert_eq!(status, 202, "{created}");
    stack.run_publish_queue().await;
    let (_, post) = stack
        .get(
            "acme",
            &format!("/v1/posts/{}", created["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(post["status"], "queued", "{post}");
    assert_eq!(
        post["last_error"]["code"], "ARTICLE_PAGE_UNAVAILABLE",
        "{post}"
    );
    assert!(stack.simulator().posts().is_empty());
}

/// A thumbnail the tenant asked for is an image of theirs like any other: one that is not an
/// image fails the post, as an image post would.
#[tokio::test]
async fn a_requested_thumbnail_that_is_not_an_image_fails_the_post() {
    let (stack, connection) = stack().await;
    let counted = publish_counted(
        &stack,
        json!({ "connection_id": connection, "text": "Bad thumbnail", "article": {
            "url": stack.cdn.url("/pages/launch.html"), "title": "T", "description": "D",
            "thumbnail_url": stack.cdn.url("/page.html"),
        }}),
    )
    .await;
    assert_eq!(counted.post["status"], "failed", "{}", counted.post);
    assert_eq!(counted.post["last_error"]["code"], "MEDIA_REJECTED");
    assert!(stack.simulator().posts().is_empty());
}

/// The legacy dialect carries several images too, as ShareContent media with their alt texts
/// (`description`) in order.
#[tokio::test]
async fn the_legacy_dialect_sends_several_images_with_their_alt_texts_in_order() {
    let (stack, connection) = connected(|o| {
        o.run_publisher = false;
        o.settings.insert("LINKEDIN_POSTS_API".into(), "ugc".into());
    })
    .await;
    let media: Vec<Value> = ["a", "b", "c"]
        .iter()
        .map(|n| json!({ "type": "image", "url": stack.cdn.url(&format!("/img/{n}.png")), "alt_text": format!("alt {n}") }))
        .collect();
    let counted = publish_counted(
        &stack,
        json!({ "connection_id": connection, "text": "Legacy three", "media": media }),
    )
    .await;
    counted.report("legacy multi-image (3)");
    assert_eq!(counted.post["status"], "published", "{}", counted.post);
    let live = stack.simulator().live_posts();
    let content = live[0].content.as_ref().unwrap();
    assert_eq!(content["shareMediaCategory"], "IMAGE");
    let alt_texts: Vec<&str> = (0..3)
        .map(|i| content["media"][i]["description"]["text"].as_str().unwrap())
        .collect();
    assert_eq!(alt_texts, ["alt a", "alt b", "alt c"]);
    assert_eq!(live[0].media.len(), 3);
    assert!(live[0]
        .media
        .iter()
        .all(|m| m.starts_with("urn:li:digitalmediaAsset:")));
}
