//! Documents and videos: the simulator's Documents and Videos APIs as linkedin-api.md says
//! LinkedIn's behave, then posts published end to end through the publisher, with faults.

use std::time::Duration;

use chrono::Utc;
use connector::config::DEFAULT_LINKEDIN_API_VERSION;
use connector::domain::posts::{MediaItem, MediaKind, PostId};
use linkedin_simulator::{Fault, MediaState, Simulator, SimulatorConfig, VIDEO_PART_BYTES};
use local_stack::LocalStack;
use serde_json::{json, Value};
use url::Url;

use crate::support::*;

const AUTHOR: &str = "urn:li:person:sim-ada-7f3k";
const PDF: &[u8] = b"%PDF-1.7\n";
const MP4_HEAD: &[u8] = b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00";

struct Api {
    sim: Simulator,
    token: String,
}

async fn api(change: impl FnOnce(&mut SimulatorConfig)) -> Api {
    let mut config = SimulatorConfig::default();
    change(&mut config);
    let sim = Simulator::start(config).await.unwrap();
    let (token, _) = sim.issue_directly(
        "sim-ada-7f3k",
        &["w_member_social"],
        Duration::from_secs(60),
    );
    Api { sim, token }
}

impl Api {
    fn post(&self, path: &str) -> reqwest::RequestBuilder {
        http()
            .post(self.sim.base_url().join(path).unwrap())
            .bearer_auth(&self.token)
            .header("LinkedIn-Version", DEFAULT_LINKEDIN_API_VERSION)
            .header("X-Restli-Protocol-Version", "2.0.0")
    }

    async fn call(&self, path: &str, body: Value) -> (u16, Value) {
        let response = self.post(path).json(&body).send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn status(&self, resource: &str, urn: &str) -> String {
        let encoded: String = url::form_urlencoded::byte_serialize(urn.as_bytes()).collect();
        let body: Value = http()
            .get(
                self.sim
                    .base_url()
                    .join(&format!("/rest/{resource}/{encoded}"))
                    .unwrap(),
            )
            .bearer_auth(&self.token)
            .header("LinkedIn-Version", DEFAULT_LINKEDIN_API_VERSION)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        body["status"].as_str().unwrap_or_default().to_owned()
    }

    async fn put(&self, url: &str, bytes: Vec<u8>) -> reqwest::Response {
        http()
            .put(url)
            .bearer_auth(&self.token)
            .body(bytes)
            .send()
            .await
            .unwrap()
    }

    async fn new_document(&self) -> (String, String) {
        let (status, body) = self
            .call(
                "/rest/documents?action=initializeUpload",
                json!({"initializeUploadRequest": {"owner": AUTHOR}}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let v = &body["value"];
        assert!(v["uploadUrlExpiresAt"].as_i64().is_some(), "{body}");
        (
            v["document"].as_str().unwrap().into(),
            v["uploadUrl"].as_str().unwrap().into(),
        )
    }

    async fn new_video(&self, size: u64) -> Value {
        let (status, body) = self
            .call(
                "/rest/videos?action=initializeUpload",
                json!({"initializeUploadRequest": {"owner": AUTHOR, "fileSizeBytes": size, "uploadCaptions": false, "uploadThumbnail": true}}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["value"].clone()
    }

    /// Uploads every part of `video` with its exact range (MP4 bytes); returns the ETags.
    async fn upload_parts(&self, video: &Value) -> Vec<String> {
        let mut etags = Vec::new();
        for (i, part) in video["uploadInstructions"]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
        {
            let len = part["lastByte"].as_u64().unwrap() - part["firstByte"].as_u64().unwrap() + 1;
            let mut bytes = vec![0u8; len as usize];
            if i == 0 {
                bytes[..MP4_HEAD.len()].copy_from_slice(MP4_HEAD);
            }
            let response = self.put(part["uploadUrl"].as_str().unwrap(), bytes).await;
            assert_eq!(response.status(), 200);
            etags.push(response.headers()["etag"].to_str().unwrap().to_owned());
        }
        etags
    }

    async fn finalize(&self, video: &Value, etags: &[String]) -> (u16, Value) {
        self.call(
            "/rest/videos?action=finalizeUpload",
            json!({"finalizeUploadRequest": {"video": video["video"], "uploadToken": video["uploadToken"], "uploadedPartIds": etags}}),
        )
        .await
    }

    async fn post_with(&self, media: &str) -> (u16, Value) {
        self.call(
            "/rest/posts",
            json!({
                "author": AUTHOR,
                "commentary": format!("with {media}"),
                "visibility": "PUBLIC",
                "distribution": {"feedDistribution": "MAIN_FEED", "targetEntities": [], "thirdPartyDistributionChannels": []},
                "content": {"media": {"id": media, "title": "Deck"}},
                "lifecycleState": "PUBLISHED",
                "isReshareDisabledByAuthor": false,
            }),
        )
        .await
    }
}

#[tokio::test]
async fn a_document_is_uploaded_in_one_put_typed_by_its_bytes_and_posted_once_available() {
    let api = api(|c| c.media_processing = Duration::from_secs(10)).await;
    let (document, url) = api.new_document().await;
    assert!(document.starts_with("urn:li:document:"));
    assert!(url.starts_with(api.sim.media_base_url().as_str()), "{url}");
    assert_eq!(api.status("documents", &document).await, "WAITING_UPLOAD");
    let (status, body) = api.post_with(&document).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("MEDIA_ASSET_WAITING_UPLOAD"))
    );

    let mut pdf = PDF.to_vec();
    pdf.resize(300_000, b' ');
    assert_eq!(api.put(&url, pdf.clone()).await.status(), 201);
    assert_eq!(api.status("documents", &document).await, "PROCESSING");
    let again = api.put(&url, pdf).await;
    assert_eq!(again.status(), 400, "one PUT of the whole file");
    api.sim.advance(Duration::from_secs(11));
    assert_eq!(api.status("documents", &document).await, "AVAILABLE");
    let docs = api.sim.documents();
    assert_eq!((docs[0].bytes, docs[0].puts), (300_000, 2));

    let (status, body) = api.post_with(&document).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(api.sim.live_posts()[0].media, vec![document]);
}

#[tokio::test]
async fn a_file_that_is_no_document_fails_processing_and_cannot_be_posted() {
    let api = api(|_| {}).await;
    for (head, expected) in [
        (&b"<html>"[..], MediaState::ProcessingFailed),
        (
            &[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1][..],
            MediaState::Available,
        ),
        (&b"PK\x03\x04"[..], MediaState::Available),
    ] {
        let (document, url) = api.new_document().await;
        let mut bytes = head.to_vec();
        bytes.resize(1000, 0);
        assert_eq!(api.put(&url, bytes).await.status(), 201);
        let held = api
            .sim
            .documents()
            .into_iter()
            .find(|d| d.urn == document)
            .unwrap();
        assert_eq!(
            held.status(Utc::now(), Duration::ZERO),
            expected,
            "{head:?}"
        );
        if expected == MediaState::ProcessingFailed {
            assert_eq!(
                api.status("documents", &document).await,
                "PROCESSING_FAILED"
            );
            let (status, body) = api.post_with(&document).await;
            assert_eq!(
                (status, body["code"].as_str()),
                (400, Some("INVALID_CONTENT"))
            );
        }
    }
}

#[tokio::test]
async fn a_document_over_100_mb_is_refused_while_streaming() {
    let api = api(|_| {}).await;
    let (_, url) = api.new_document().await;
    let mut bytes = PDF.to_vec();
    bytes.resize(100 * 1024 * 1024 + 1, 0);
    let response = api.put(&url, bytes).await;
    assert_eq!(response.status(), 400);
    assert_eq!(api.sim.documents()[0].uploaded_at, None);
}

#[tokio::test]
async fn a_video_size_outside_75_kb_to_500_mb_is_refused_at_initialize() {
    let api = api(|_| {}).await;
    for (size, status) in [
        (75 * 1024 - 1, 400),
        (75 * 1024, 200),
        (500 * 1024 * 1024, 200),
        (500 * 1024 * 1024 + 1, 400),
    ] {
        let (got, body) = api
            .call(
                "/rest/videos?action=initializeUpload",
                json!({"initializeUploadRequest": {"owner": AUTHOR, "fileSizeBytes": size, "uploadCaptions": false, "uploadThumbnail": false}}),
            )
            .await;
        assert_eq!(got, status, "{size}: {body}");
    }
}

#[tokio::test]
async fn a_video_goes_up_in_exact_4_mib_parts_and_is_finalized_with_every_etag_in_order() {
    let api = api(|c| c.video_processing = Duration::from_secs(120)).await;
    let size = 2 * VIDEO_PART_BYTES + 1000;
    let video = api.new_video(size).await;
    let urn = video["video"].as_str().unwrap().to_owned();
    let parts = video["uploadInstructions"].as_array().unwrap();
    let ranges: Vec<(u64, u64)> = parts
        .iter()
        .map(|p| {
            (
                p["firstByte"].as_u64().unwrap(),
                p["lastByte"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        ranges,
        vec![
            (0, VIDEO_PART_BYTES - 1),
            (VIDEO_PART_BYTES, 2 * VIDEO_PART_BYTES - 1),
            (2 * VIDEO_PART_BYTES, size - 1)
        ]
    );
    let urls: Vec<&str> = parts
        .iter()
        .map(|p| p["uploadUrl"].as_str().unwrap())
        .collect();
    assert_eq!(
        urls.iter().collect::<std::collections::HashSet<_>>().len(),
        3,
        "each its own URL"
    );
    assert!(video["thumbnailUploadUrl"].is_string() && video["captionsUploadUrl"].is_null());

    // A part of the wrong length is refused.
    assert_eq!(api.put(urls[2], vec![0; 999]).await.status(), 400);
    assert_eq!(api.put(urls[2], vec![0; 1001]).await.status(), 400);
    // Finalize before every part is there: refused.
    assert_eq!(api.finalize(&video, &[]).await.0, 400);

    let etags = api.upload_parts(&video).await;
    let mut swapped = etags.clone();
    swapped.swap(0, 1);
    assert_eq!(api.finalize(&video, &swapped).await.0, 400, "order matters");
    assert_eq!(api.finalize(&video, &etags[..2]).await.0, 400, "every part");
    let wrong_token = json!({"finalizeUploadRequest": {"video": urn, "uploadToken": "nope", "uploadedPartIds": etags}});
    assert_eq!(
        api.call("/rest/videos?action=finalizeUpload", wrong_token)
            .await
            .0,
        400
    );
    assert_eq!(api.status("videos", &urn).await, "WAITING_UPLOAD");

    let (status, body) = api.finalize(&video, &etags).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(api.status("videos", &urn).await, "PROCESSING");
    let (status, body) = api.post_with(&urn).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("MEDIA_ASSET_WAITING_UPLOAD"))
    );

    api.sim.advance(Duration::from_secs(121));
    assert_eq!(api.status("videos", &urn).await, "AVAILABLE");
    assert_eq!(api.post_with(&urn).await.0, 201);
}

#[tokio::test]
async fn an_expired_upload_url_answers_403_and_a_foreign_host_404() {
    let api = api(|c| c.upload_url_ttl = Duration::from_secs(60)).await;
    let (_, url) = api.new_document().await;
    // The same server under its API host name is not the media host.
    let mut on_api_host = Url::parse(&url).unwrap();
    on_api_host.set_host(Some("127.0.0.1")).unwrap();
    assert_eq!(
        api.put(on_api_host.as_str(), PDF.to_vec()).await.status(),
        404
    );
    api.sim.advance(Duration::from_secs(61));
    assert_eq!(api.put(&url, PDF.to_vec()).await.status(), 403);
    let video = api.new_video(100 * 1024).await;
    api.sim.advance(Duration::from_secs(61));
    let part = video["uploadInstructions"][0]["uploadUrl"]
        .as_str()
        .unwrap();
    assert_eq!(api.put(part, vec![0; 100 * 1024]).await.status(), 403);
}

#[tokio::test]
async fn processing_fails_for_the_next_n_and_for_a_video_that_is_not_mp4() {
    let api = api(|c| {
        c.fail_media_processing = 1;
        c.video_processing = Duration::ZERO;
    })
    .await;
    let mut statuses = Vec::new();
    for _ in 0..2 {
        let video = api.new_video(100 * 1024).await;
        let etags = api.upload_parts(&video).await;
        assert_eq!(api.finalize(&video, &etags).await.0, 200);
        statuses.push(api.status("videos", video["video"].as_str().unwrap()).await);
    }
    assert_eq!(statuses, ["PROCESSING_FAILED", "AVAILABLE"]);
    let failed = api.sim.videos().into_iter().find(|v| v.failed).unwrap();
    let (status, body) = api.post_with(&failed.urn).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("INVALID_CONTENT"))
    );

    // Not MP4: fails at processing.
    let video = api.new_video(100 * 1024).await;
    let part = video["uploadInstructions"][0]["uploadUrl"]
        .as_str()
        .unwrap();
    let etag = api.put(part, vec![b'x'; 100 * 1024]).await.headers()["etag"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(api.finalize(&video, &[etag]).await.0, 200);
    assert_eq!(
        api.status("videos", video["video"].as_str().unwrap()).await,
        "PROCESSING_FAILED"
    );
}

#[tokio::test]
async fn another_members_video_cannot_be_posted() {
    let api = api(|c| c.video_processing = Duration::ZERO).await;
    let video = api.new_video(100 * 1024).await;
    let etags = api.upload_parts(&video).await;
    assert_eq!(api.finalize(&video, &etags).await.0, 200);
    let (grace, _) = api.sim.issue_directly(
        "sim-grace-9q2w",
        &["w_member_social"],
        Duration::from_secs(60),
    );
    // Grace posting as herself with Ada's video.
    let response = http()
        .post(api.sim.base_url().join("/rest/posts").unwrap())
        .bearer_auth(&grace)
        .header("LinkedIn-Version", DEFAULT_LINKEDIN_API_VERSION)
        .json(&json!({
            "author": "urn:li:person:sim-grace-9q2w",
            "commentary": "not mine",
            "visibility": "PUBLIC",
            "distribution": {"feedDistribution": "MAIN_FEED"},
            "content": {"media": {"id": video["video"]}},
            "lifecycleState": "PUBLISHED",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert!(api.sim.posts().is_empty());
}

// ---- end to end, through the publisher ----

/// A stack whose publisher runs only when the test says, with one connection of `acme`.
async fn media_stack(change: impl FnOnce(&mut SimulatorConfig)) -> (LocalStack, String) {
    connected(|o| {
        o.run_publisher = false;
        change(&mut o.simulator);
    })
    .await
}

/// A queued post of `acme`'s carrying `item`, set on the stored post: for items the API would
/// refuse up front (too small a video, a URL that is no document), to see the publisher's own
/// refusal, and for fault cases that need no request parsing.
async fn queue_media_post(
    stack: &LocalStack,
    connection: &str,
    text: &str,
    item: MediaItem,
) -> String {
    let (status, body) = stack
        .create_post(
            "acme",
            json!({ "connection_id": connection, "text": text }),
            None,
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let id = body["id"].as_str().unwrap().to_owned();
    let (tenant, _) = ids(connection);
    let posts = &stack.publisher.posts;
    let post = posts
        .get(&tenant, PostId::parse(&id).unwrap())
        .await
        .unwrap()
        .unwrap();
    let mut next = post.with_media_urns(Vec::new(), Utc::now());
    next.media = vec![item];
    posts.replace(&next).await.unwrap();
    id
}

fn item(kind: MediaKind, url: Url) -> MediaItem {
    MediaItem {
        kind,
        title: Some("Deck".into()),
        ..MediaItem::image(url, None)
    }
}

/// Runs the publisher over the queue until the post is in one of `states` (redeliveries come
/// back after their visibility delay), advancing the simulator's clock by `tick` each round.
async fn publish_until(stack: &LocalStack, id: &str, states: &[&str], tick: Duration) -> Value {
    let until = std::time::Instant::now() + SLOW;
    loop {
        stack.run_publish_queue().await;
        let post = stack.post("acme", id).await;
        if states.contains(&post["status"].as_str().unwrap_or_default()) {
            return post;
        }
        assert!(
            std::time::Instant::now() < until,
            "post never got to {states:?}: {post}"
        );
        stack.simulator().advance(tick);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test]
async fn a_document_post_is_streamed_to_linkedin_and_published() {
    let (stack, connection) = media_stack(|_| {}).await;
    let url = stack.cdn.url("/gen/pdf/3000000");
    let id = queue_media_post(
        &stack,
        &connection,
        "Our deck",
        item(MediaKind::Document, url),
    )
    .await;
    let post = publish_until(&stack, &id, &["published", "failed"], Duration::ZERO).await;
    assert_eq!(post["status"], "published", "{post}");
    let sim = stack.simulator();
    let docs = sim.documents();
    assert_eq!((docs.len(), docs[0].bytes, docs[0].puts), (1, 3_000_000, 1));
    assert_eq!(sim.live_posts()[0].media, vec![docs[0].urn.clone()]);
}

#[tokio::test]
async fn a_document_and_a_video_requested_through_the_api_are_published() {
    let (stack, connection) = media_stack(|c| c.video_processing = Duration::from_secs(20)).await;
    let bodies = [
        json!({"connection_id": connection, "text": "The deck", "media": [{"type": "document", "url": stack.cdn.url("/gen/pdf/2500000"), "title": "Q3 deck"}]}),
        json!({"connection_id": connection, "text": "The film", "media": [{"type": "video", "url": stack.cdn.url(&format!("/gen/mp4/{}", VIDEO_PART_BYTES + 77)), "title": "Launch"}]}),
    ];
    for body in bodies {
        let (status, created) = stack.create_post("acme", body, None).await;
        assert_eq!(status, 202, "{created}");
        let id = created["id"].as_str().unwrap().to_owned();
        let post = publish_until(
            &stack,
            &id,
            &["published", "failed"],
            Duration::from_secs(10),
        )
        .await;
        assert_eq!(post["status"], "published", "{post}");
    }
    let sim = stack.simulator();
    let live = sim.live_posts();
    assert_eq!(live.len(), 2);
    assert!(
        live[0].media[0].starts_with("urn:li:document:"),
        "{:?}",
        live[0].media
    );
    assert!(
        live[1].media[0].starts_with("urn:li:video:"),
        "{:?}",
        live[1].media
    );
}

#[tokio::test]
async fn a_video_post_goes_up_in_parts_waits_for_processing_and_is_published() {
    let (stack, connection) = media_stack(|c| c.video_processing = Duration::from_secs(30)).await;
    let size = 2 * VIDEO_PART_BYTES + 12_345;
    let url = stack.cdn.url(&format!("/gen/mp4/{size}"));
    let mut video = item(MediaKind::Video, url);
    video.thumbnail_url = Some(stack.cdn.url("/img/thumb.png"));
    video.captions_url = Some(stack.cdn.url("/captions.srt"));
    let id = queue_media_post(&stack, &connection, "Our launch video", video).await;

    stack.run_publish_queue().await;
    let post = stack.post("acme", &id).await;
    assert_eq!(
        post["status"], "queued",
        "waiting for LinkedIn's processing: {post}"
    );
    let sim = stack.simulator();
    let videos = sim.videos();
    assert_eq!(videos.len(), 1);
    assert!(videos[0].finalized_at.is_some());
    assert_eq!(videos[0].parts.len(), 3);
    assert!(videos[0].thumbnail_bytes.is_some() && videos[0].captions_bytes.is_some());

    let post = publish_until(
        &stack,
        &id,
        &["published", "failed"],
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(post["status"], "published", "{post}");
    assert_eq!(post["attempts"], 1, "waiting is not a failed attempt");
    assert_eq!(
        sim.videos().len(),
        1,
        "a redelivery waits, it does not upload again"
    );
    assert_eq!(
        sim.count("PUT", "/_media/videos/"),
        5,
        "3 parts, a thumbnail, captions"
    );
    assert_eq!(sim.live_posts()[0].media, vec![videos[0].urn.clone()]);
}

#[tokio::test]
async fn a_video_part_failing_once_is_retried_from_a_new_upload() {
    let (stack, connection) = media_stack(|c| c.video_processing = Duration::ZERO).await;
    stack
        .simulator()
        .inject(Fault::status("PUT", "/_media/videos/", 503).times(1));
    let url = stack
        .cdn
        .url(&format!("/gen/mp4/{}", VIDEO_PART_BYTES + 5000));
    let id = queue_media_post(&stack, &connection, "Retry me", item(MediaKind::Video, url)).await;
    let post = publish_until(&stack, &id, &["published", "failed"], Duration::ZERO).await;
    assert_eq!(post["status"], "published", "{post}");
    assert_eq!(post["attempts"], 2);
    let sim = stack.simulator();
    assert_eq!(
        sim.videos().len(),
        2,
        "the second attempt initialized a new upload"
    );
    assert_eq!(sim.live_posts().len(), 1);
}

#[tokio::test]
async fn a_video_linkedin_cannot_process_fails_the_post_with_its_code() {
    let (stack, connection) = media_stack(|c| {
        c.video_processing = Duration::ZERO;
        c.fail_media_processing = 1;
    })
    .await;
    let url = stack.cdn.url("/gen/mp4/200000");
    let id = queue_media_post(&stack, &connection, "Broken", item(MediaKind::Video, url)).await;
    let post = publish_until(&stack, &id, &["published", "failed"], Duration::ZERO).await;
    assert_eq!(post["status"], "failed", "{post}");
    assert_eq!(post["last_error"]["code"], "MEDIA_PROCESSING_FAILED");
    assert!(stack.simulator().live_posts().is_empty());
}

#[tokio::test]
async fn an_expired_upload_url_is_initialized_again_once_then_fails_the_post() {
    // Every upload URL expires at once: the first initialize and the one retry both see 403.
    let (stack, connection) = media_stack(|c| c.upload_url_ttl = Duration::ZERO).await;
    let url = stack.cdn.url("/gen/pdf/100000");
    let id = queue_media_post(&stack, &connection, "Late", item(MediaKind::Document, url)).await;
    let post = publish_until(&stack, &id, &["published", "failed"], Duration::ZERO).await;
    assert_eq!(post["status"], "failed", "{post}");
    assert_eq!(post["last_error"]["code"], "MEDIA_UPLOAD_EXPIRED");
    assert_eq!(
        stack.simulator().documents().len(),
        2,
        "initialized again exactly once"
    );

    // One expiry only: the second initialize's URL works.
    let (stack, connection) = media_stack(|_| {}).await;
    stack.simulator().inject(
        Fault::status("PUT", "/_media/documents/", 403)
            .body("Request has expired")
            .times(1),
    );
    let url = stack.cdn.url("/gen/pdf/100000");
    let id = queue_media_post(
        &stack,
        &connection,
        "Late once",
        item(MediaKind::Document, url),
    )
    .await;
    let post = publish_until(&stack, &id, &["published", "failed"], Duration::ZERO).await;
    assert_eq!(post["status"], "published", "{post}");
    assert_eq!(post["attempts"], 1);
    assert_eq!(stack.simulator().documents().len(), 2);
}

#[tokio::test]
async fn media_the_tenant_must_fix_is_refused_with_a_text_saying_what() {
    let (stack, connection) = media_stack(|_| {}).await;
    let cases = [
        (
            MediaKind::Document,
            "/gen/html/5000",
            "not a PDF, PPT, PPTX, DOC or DOCX",
        ),
        (
            MediaKind::Document,
            &format!("/gen/pdf/{}", 100 * 1024 * 1024 + 1) as &str,
            "larger than 104857600",
        ),
        (MediaKind::Video, "/gen/pdf/200000", "not an MP4 video"),
        (MediaKind::Video, "/gen/mp4/1000", "between 76800 bytes"),
        (
            MediaKind::Video,
            "/gen-unsized/mp4/200000",
            "announce its size",
        ),
    ];
    for (kind, path, says) in cases {
        let id = queue_media_post(&stack, &connection, path, item(kind, stack.cdn.url(path))).await;
        let post = publish_until(&stack, &id, &["published", "failed"], Duration::ZERO).await;
        assert_eq!(post["status"], "failed", "{path}: {post}");
        assert_eq!(post["last_error"]["code"], "MEDIA_REJECTED", "{path}");
        let message = post["last_error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{path}: {message}");
    }
    assert!(stack.simulator().documents().is_empty() && stack.simulator().videos().is_empty());
}

#[tokio::test]
async fn a_video_that_cannot_be_uploaded_within_the_invocation_fails_instead_of_looping() {
    let (stack, connection) = connected(|o| {
        o.run_publisher = false;
        o.settings
            .insert("LINKEDIN_TIMEOUT_SECONDS".into(), "1".into());
    })
    .await;
    // Each part takes 2 s to be taken; three parts do not fit the ~4 s the invocation leaves.
    stack.simulator().inject(Fault::delay(
        "PUT",
        "/_media/videos/",
        Duration::from_secs(2),
    ));
    let url = stack
        .cdn
        .url(&format!("/gen/mp4/{}", 2 * VIDEO_PART_BYTES + 1));
    let id = queue_media_post(&stack, &connection, "Too slow", item(MediaKind::Video, url)).await;
    let event = batch(vec![job_message("acme", &id, "m-slow", Utc::now())]);
    let response = publisher_function::handle(
        event,
        &stack.publisher,
        connector::deadline::Deadline::after(Duration::from_secs(9)),
    )
    .await;
    assert!(response.batch_item_failures.is_empty(), "the job ends");
    let post = stack.post("acme", &id).await;
    assert_eq!(post["status"], "failed", "{post}");
    assert_eq!(post["last_error"]["code"], "MEDIA_UPLOAD_TIMED_OUT");
    assert!(stack.simulator().videos()[0].finalized_at.is_none());
}

#[tokio::test]
async fn a_host_that_sends_fewer_bytes_than_announced_is_retried_and_nothing_half_is_kept() {
    let (stack, connection) = media_stack(|_| {}).await;
    for (kind, path) in [
        (MediaKind::Document, "/gen-short/pdf/300000"),
        (MediaKind::Video, "/gen-short/mp4/300000"),
    ] {
        let id = queue_media_post(&stack, &connection, path, item(kind, stack.cdn.url(path))).await;
        stack.run_publish_queue().await;
        let post = stack.post("acme", &id).await;
        assert_eq!(post["status"], "queued", "{path}: retried, {post}");
        assert_eq!(post["last_error"]["code"], "MEDIA_UNAVAILABLE", "{path}");
        let (tenant, _) = ids(&connection);
        let stored = stack
            .publisher
            .posts
            .get(&tenant, PostId::parse(&id).unwrap())
            .await
            .unwrap()
            .unwrap();
        assert!(
            stored.media_urns.is_empty(),
            "{path}: nothing half-uploaded is remembered"
        );
    }
    let sim = stack.simulator();
    assert!(sim.documents().iter().all(|d| d.uploaded_at.is_none()));
    assert!(sim.videos().iter().all(|v| v.finalized_at.is_none()));
    assert!(sim.live_posts().is_empty());
}
