//! `POST /rest/posts` and `/v2/ugcPosts` refuse what LinkedIn refuses about a post's content:
//! mixed kinds, LinkedIn's limits, and media that are not the author's own AVAILABLE uploads.
//! Driven through the simulator's router, as a client would call it.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::Datelike;
use serde_json::{json, Value};
use tower::ServiceExt;

use crate::{Simulator, SimulatorConfig};

const ADA: &str = "sim-ada-7f3k";
const GRACE: &str = "sim-grace-9q2w";
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n0000";

struct Client {
    sim: Simulator,
}

fn version() -> String {
    let now = chrono::Utc::now();
    format!("{}{:02}", now.year(), now.month())
}

impl Client {
    async fn start(processing: Duration) -> Self {
        let config = SimulatorConfig {
            media_processing: processing,
            ..Default::default()
        };
        Self {
            sim: Simulator::start(config).await.unwrap(),
        }
    }

    fn token(&self, sub: &str) -> String {
        self.sim
            .issue_directly(sub, &["w_member_social"], Duration::from_secs(3600))
            .0
    }

    async fn call(&self, request: Request<Body>) -> (StatusCode, Value, Option<String>) {
        let response = crate::router(self.sim.shared.clone())
            .oneshot(request)
            .await
            .unwrap();
        let status = response.status();
        let id = response
            .headers()
            .get("x-restli-id")
            .map(|v| v.to_str().unwrap().to_owned());
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            id,
        )
    }

    fn post(path: &str, token: &str, body: &Value) -> Request<Body> {
        Request::post(path)
            .header("authorization", format!("Bearer {token}"))
            .header("linkedin-version", version())
            .header("x-restli-protocol-version", "2.0.0")
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap()
    }

    /// An image `sub` uploaded (with image bytes, so it processes to AVAILABLE).
    async fn image_of(&self, token: &str, sub: &str) -> String {
        let owner = format!("urn:li:person:{sub}");
        let (status, body, _) = self
            .call(Self::post(
                "/rest/images?action=initializeUpload",
                token,
                &json!({ "initializeUploadRequest": { "owner": owner } }),
            ))
            .await;
        assert_eq!(status, 200, "{body}");
        let url = url::Url::parse(body["value"]["uploadUrl"].as_str().unwrap()).unwrap();
        let host = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap());
        let put = Request::put(url.path())
            .header("host", host)
            .header("authorization", format!("Bearer {token}"))
            .body(Body::from(PNG))
            .unwrap();
        let (status, _, _) = self.call(put).await;
        assert_eq!(status, 201);
        body["value"]["image"].as_str().unwrap().to_owned()
    }

    async fn create(&self, token: &str, text: &str, content: Value) -> (StatusCode, Value) {
        let body = json!({
            "author": format!("urn:li:person:{ADA}"),
            "commentary": text,
            "visibility": "PUBLIC",
            "distribution": { "feedDistribution": "MAIN_FEED", "targetEntities": [], "thirdPartyDistributionChannels": [] },
            "lifecycleState": "PUBLISHED",
            "isReshareDisabledByAuthor": false,
            "content": content,
        });
        let (status, body, _) = self.call(Self::post("/rest/posts", token, &body)).await;
        (status, body)
    }
}

fn multi(ids: &[String]) -> Value {
    let images: Vec<Value> = ids
        .iter()
        .map(|id| json!({ "id": id, "altText": format!("alt {id}") }))
        .collect();
    json!({ "multiImage": { "images": images } })
}

fn poll(options: &[&str]) -> Value {
    let options: Vec<Value> = options.iter().map(|t| json!({ "text": t })).collect();
    json!({ "poll": { "question": "Which one?", "options": options, "settings": { "duration": "THREE_DAYS" } } })
}

/// Each refusal is a 400 and leaves no post behind.
#[tokio::test]
async fn content_linkedin_refuses_is_refused_and_nothing_is_posted() {
    let client = Client::start(Duration::ZERO).await;
    let ada = client.token(ADA);
    let grace = client.token(GRACE);
    let mut ada_images = Vec::new();
    for _ in 0..21 {
        ada_images.push(client.image_of(&ada, ADA).await);
    }
    let graces_image = client.image_of(&grace, GRACE).await;
    let article = |thumbnail: &str| json!({ "article": { "source": "https://example.com/story", "title": "A story", "thumbnail": thumbnail } });
    let rows = [
        (
            json!({ "media": { "id": ada_images[0] }, "poll": poll(&["a", "b"])["poll"] }),
            "a poll with an image",
        ),
        (
            json!({ "multiImage": multi(&ada_images[..2])["multiImage"], "article": article(&ada_images[2])["article"] }),
            "images with a link card",
        ),
        (multi(&ada_images[..1]), "a multi-image of one"),
        (multi(&ada_images[..21]), "a multi-image of 21"),
        (
            json!({ "article": { "source": "https://example.com/story" } }),
            "an article without a title",
        ),
        (
            article(&graces_image),
            "a thumbnail another member uploaded",
        ),
        (
            multi(&[ada_images[0].clone(), graces_image.clone()]),
            "an image of another member among the images",
        ),
        (
            json!({ "media": { "id": "urn:li:image:C4E999999999999" } }),
            "an image that was never uploaded",
        ),
        (poll(&["only"]), "a poll of one option"),
        (poll(&["a", "b", "c", "d", "e"]), "a poll of five options"),
        (
            poll(&["an option that is longer than thirty", "b"]),
            "an option over 30 characters",
        ),
    ];
    for (content, why) in rows {
        let (status, body) = client.create(&ada, why, content).await;
        assert_eq!(status, 400, "{why}: {body}");
        assert_eq!(body["status"], 400, "{why}: LinkedIn's error body");
    }
    assert!(client.sim.posts().is_empty());

    // The same posts within LinkedIn's rules are taken.
    let (status, _) = client
        .create(&ada, "twenty images", multi(&ada_images[..20]))
        .await;
    assert_eq!(status, 201);
    let (status, _) = client
        .create(&ada, "a card", article(&ada_images[20]))
        .await;
    assert_eq!(status, 201);
    let (status, _) = client
        .create(&ada, "a poll", poll(&["a", "b", "c", "d"]))
        .await;
    assert_eq!(status, 201);
    let posts = client.sim.posts();
    assert_eq!(posts.len(), 3);
    assert_eq!(posts[0].media, ada_images[..20].to_vec());
    let sent = posts[0].content.as_ref().unwrap();
    assert_eq!(
        sent["multiImage"]["images"][19]["altText"],
        format!("alt {}", ada_images[19])
    );
    assert_eq!(posts[1].media, vec![ada_images[20].clone()]);
    assert_eq!(
        posts[2].content.as_ref().unwrap()["poll"]["settings"]["duration"],
        "THREE_DAYS"
    );
}

/// An image still processing is "not ready, retry later"; one that failed processing is gone
/// for good. Both are refused for a multi-image post and for a link card's thumbnail.
#[tokio::test]
async fn an_image_not_available_is_refused_as_linkedin_does() {
    let client = Client::start(Duration::from_secs(3600)).await;
    let ada = client.token(ADA);
    let (first, second) = (
        client.image_of(&ada, ADA).await,
        client.image_of(&ada, ADA).await,
    );
    let (status, body) = client
        .create(&ada, "too early", multi(&[first.clone(), second.clone()]))
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["code"], "MEDIA_ASSET_WAITING_UPLOAD", "{body}");
    let card = json!({ "article": { "source": "https://example.com/a", "title": "A", "thumbnail": first } });
    let (status, body) = client.create(&ada, "too early card", card).await;
    assert_eq!(status, 400);
    assert_eq!(body["code"], "MEDIA_ASSET_WAITING_UPLOAD", "{body}");

    client.sim.advance(Duration::from_secs(3601));
    client
        .sim
        .shared
        .lock()
        .images
        .get_mut(&second)
        .unwrap()
        .failed = true;
    let (status, body) = client
        .create(&ada, "one failed", multi(&[first.clone(), second]))
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["code"], "INVALID_CONTENT", "{body}");
    assert!(client.sim.posts().is_empty());
}

/// The legacy ShareContent takes NONE and IMAGE (one or several assets), as this product sends
/// them; a category it does not simulate is refused rather than half-checked.
#[tokio::test]
async fn the_legacy_share_takes_text_and_images_only() {
    let client = Client::start(Duration::ZERO).await;
    let ada = client.token(ADA);
    let share = |category: &str, media: Value| {
        json!({
            "author": format!("urn:li:person:{ADA}"),
            "lifecycleState": "PUBLISHED",
            "specificContent": { "com.linkedin.ugc.ShareContent": {
                "shareCommentary": { "text": format!("a {category} share") },
                "shareMediaCategory": category,
                "media": media,
            }},
            "visibility": { "com.linkedin.ugc.MemberNetworkVisibility": "PUBLIC" },
        })
    };
    let article = json!([{ "status": "READY", "originalUrl": "https://example.com/a" }]);
    let (status, body, _) = client
        .call(Client::post(
            "/v2/ugcPosts",
            &ada,
            &share("ARTICLE", article),
        ))
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, _, id) = client
        .call(Client::post(
            "/v2/ugcPosts",
            &ada,
            &share("NONE", json!([])),
        ))
        .await;
    assert_eq!(status, 201);
    assert!(id.unwrap().starts_with("urn:li:ugcPost:"));
}
