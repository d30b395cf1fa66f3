//! Posting and media: both of LinkedIn's dialects behind one set of calls.

use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use tracing::warn;
use url::Url;

use super::little_text::escape_little_text;
use super::{body_text, decode, request_id_of, ApiFlavour, LinkedInClient, LinkedInError};
use crate::config::PostsApi;
use crate::domain::posts::PollDuration;
use crate::metrics::LinkedInCall;

/// What to post, in LinkedIn's terms.
#[derive(Debug, Clone)]
pub struct PostContent {
    /// `urn:li:person:…` or `urn:li:organization:…`.
    pub author: String,
    pub text: String,
    /// `PUBLIC` or `CONNECTIONS`.
    pub visibility: String,
    /// What the post carries beside its text: one kind only (LinkedIn refuses mixed content).
    pub body: PostBody,
}

/// An uploaded image (an image or digitalmediaAsset URN) with its alternative text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostImage {
    pub id: String,
    pub alt_text: Option<String>,
}

/// A link card as LinkedIn takes it: LinkedIn does not read the page, so the title is required
/// and the thumbnail is an image the author uploaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArticleCard {
    pub source: Url,
    pub title: String,
    pub description: Option<String>,
    /// An image URN uploaded by the post's author.
    pub thumbnail: Option<String>,
}

/// The one kind of content a post carries beside its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostBody {
    /// Text only.
    None,
    Image(PostImage),
    /// 2–20 images, in order.
    MultiImage(Vec<PostImage>),
    /// An uploaded document (`urn:li:document:…`) and its title (LinkedIn wants one).
    Document {
        id: String,
        title: String,
    },
    /// An uploaded video (`urn:li:video:…`), AVAILABLE at LinkedIn.
    Video {
        id: String,
        title: Option<String>,
    },
    Article(ArticleCard),
    Poll {
        question: String,
        options: Vec<String>,
        duration: PollDuration,
    },
}

impl PostBody {
    /// Images as one post carries them: one is `Image`, more are `MultiImage`.
    pub fn images(mut images: Vec<PostImage>) -> Self {
        match images.len() {
            0 => Self::None,
            1 => Self::Image(images.remove(0)),
            _ => Self::MultiImage(images),
        }
    }

    /// `content` of a versioned `/rest/posts` body (linkedin-api.md, "More post content");
    /// `None` for a text post.
    pub fn rest_content(&self) -> Option<Value> {
        let image = |i: &PostImage| {
            let mut v = json!({ "id": i.id });
            if let Some(alt) = &i.alt_text {
                v["altText"] = json!(alt);
            }
            v
        };
        Some(match self {
            Self::None => return None,
            Self::Image(one) => json!({ "media": image(one) }),
            Self::MultiImage(many) => {
                json!({ "multiImage": { "images": many.iter().map(image).collect::<Vec<_>>() } })
            }
            Self::Document { id, title } => json!({ "media": { "id": id, "title": title } }),
            Self::Video { id, title } => {
                let mut media = json!({ "id": id });
                if let Some(title) = title {
                    media["title"] = json!(title);
                }
                json!({ "media": media })
            }
            Self::Article(card) => {
                let mut article = json!({ "source": card.source.as_str(), "title": card.title });
                if let Some(description) = &card.description {
                    article["description"] = json!(description);
                }
                if let Some(thumbnail) = &card.thumbnail {
                    article["thumbnail"] = json!(thumbnail);
                }
                json!({ "article": article })
            }
            Self::Poll {
                question,
                options,
                duration,
            } => json!({ "poll": {
                "question": question,
                "options": options.iter().map(|text| json!({ "text": text })).collect::<Vec<_>>(),
                "settings": { "duration": duration.linkedin_name() },
            }}),
        })
    }

    /// `(shareMediaCategory, media)` of a legacy `/v2/ugcPosts` ShareContent: this product
    /// sends only text and images there. `None` for a kind it does not send that way.
    pub fn ugc_media(&self) -> Option<(&'static str, Vec<Value>)> {
        let image = |i: &PostImage| {
            let mut m = json!({ "status": "READY", "media": i.id });
            if let Some(alt) = &i.alt_text {
                m["description"] = json!({ "text": alt });
            }
            m
        };
        match self {
            Self::None => Some(("NONE", Vec::new())),
            Self::Image(one) => Some(("IMAGE", vec![image(one)])),
            Self::MultiImage(many) => Some(("IMAGE", many.iter().map(image).collect())),
            _ => None,
        }
    }
}

/// Where to PUT an image's bytes, and the URN it will have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageUpload {
    pub urn: String,
    /// Exactly as LinkedIn returned it: it is pre-signed and may be on another host.
    pub upload_url: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaStatus {
    WaitingUpload,
    Processing,
    Available,
    Failed,
}

pub(super) fn encode_urn(urn: &str) -> String {
    url::form_urlencoded::byte_serialize(urn.as_bytes()).collect()
}

impl LinkedInClient {
    /// Creates a post; returns its URN (from `x-restli-id`).
    #[tracing::instrument(name = "linkedin.create_post", skip_all, fields(dialect = ?dialect))]
    pub async fn create_post(
        &self,
        access_token: &SecretString,
        dialect: PostsApi,
        content: &PostContent,
    ) -> Result<String, LinkedInError> {
        let commentary = escape_little_text(&content.text);
        let (path, flavour, body) = match dialect {
            PostsApi::Rest => {
                let mut body = json!({
                    "author": content.author,
                    "commentary": commentary,
                    "visibility": content.visibility,
                    "distribution": {
                        "feedDistribution": "MAIN_FEED",
                        "targetEntities": [],
                        "thirdPartyDistributionChannels": [],
                    },
                    "lifecycleState": "PUBLISHED",
                    "isReshareDisabledByAuthor": false,
                });
                if let Some(c) = content.body.rest_content() {
                    body["content"] = c;
                }
                ("/rest/posts", ApiFlavour::Versioned, body)
            }
            PostsApi::Ugc => {
                // The publisher never sends another kind here; should one arrive, nothing is
                // sent rather than a post without its content.
                let Some((category, media)) = content.body.ugc_media() else {
                    return Err(LinkedInError::Unexpected {
                        status: 0,
                        detail: "the legacy ugcPosts API is not sent this kind of post".into(),
                    });
                };
                let body = json!({
                    "author": content.author,
                    "lifecycleState": "PUBLISHED",
                    "specificContent": {
                        "com.linkedin.ugc.ShareContent": {
                            "shareCommentary": { "text": commentary },
                            "shareMediaCategory": category,
                            "media": media,
                        }
                    },
                    "visibility": { "com.linkedin.ugc.MemberNetworkVisibility": content.visibility },
                });
                ("/v2/ugcPosts", ApiFlavour::Restli2, body)
            }
        };
        let response = self
            .api_with_body(
                LinkedInCall::PostsCreate,
                Method::POST,
                path,
                access_token,
                flavour,
                Some(&body),
            )
            .await?;
        let status = response.status().as_u16();
        let urn = response
            .headers()
            .get("x-restli-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        urn.ok_or_else(|| LinkedInError::Unexpected {
            status,
            detail: "post created without an x-restli-id header".into(),
        })
    }

    /// Deletes a post. LinkedIn answers 204 also for an already deleted one.
    #[tracing::instrument(name = "linkedin.delete_post", skip_all)]
    pub async fn delete_post(
        &self,
        access_token: &SecretString,
        dialect: PostsApi,
        urn: &str,
    ) -> Result<(), LinkedInError> {
        let (path, flavour) = match dialect {
            PostsApi::Rest => (
                format!("/rest/posts/{}", encode_urn(urn)),
                ApiFlavour::Versioned,
            ),
            PostsApi::Ugc => (
                format!("/v2/ugcPosts/{}", encode_urn(urn)),
                ApiFlavour::Restli2,
            ),
        };
        self.api(
            LinkedInCall::PostsDelete,
            Method::DELETE,
            &path,
            access_token,
            flavour,
        )
        .await?;
        Ok(())
    }

    /// Registers an image upload for `owner` (the post's author).
    #[tracing::instrument(name = "linkedin.start_image_upload", skip_all)]
    pub async fn start_image_upload(
        &self,
        access_token: &SecretString,
        dialect: PostsApi,
        owner: &str,
    ) -> Result<ImageUpload, LinkedInError> {
        match dialect {
            PostsApi::Rest => {
                let body = json!({ "initializeUploadRequest": { "owner": owner } });
                let response = self
                    .api_with_body(
                        LinkedInCall::ImagesInitialize,
                        Method::POST,
                        "/rest/images?action=initializeUpload",
                        access_token,
                        ApiFlavour::Versioned,
                        Some(&body),
                    )
                    .await?;
                let v: Value = decode(200, response).await?;
                match (
                    v["value"]["image"].as_str(),
                    v["value"]["uploadUrl"].as_str(),
                ) {
                    (Some(urn), Some(url)) => {
                        self.upload_destination(url)?;
                        Ok(ImageUpload {
                            urn: urn.into(),
                            upload_url: url.into(),
                        })
                    }
                    _ => Err(LinkedInError::Unexpected {
                        status: 200,
                        detail: "initializeUpload without image or uploadUrl".into(),
                    }),
                }
            }
            PostsApi::Ugc => {
                let body = json!({ "registerUploadRequest": {
                    "recipes": ["urn:li:digitalmediaRecipe:feedshare-image"],
                    "owner": owner,
                    "serviceRelationships": [{ "relationshipType": "OWNER", "identifier": "urn:li:userGeneratedContent" }],
                }});
                let response = self
                    .api_with_body(
                        LinkedInCall::ImagesInitialize,
                        Method::POST,
                        "/v2/assets?action=registerUpload",
                        access_token,
                        ApiFlavour::Restli2,
                        Some(&body),
                    )
                    .await?;
                let v: Value = decode(200, response).await?;
                let mechanism = &v["value"]["uploadMechanism"]
                    ["com.linkedin.digitalmedia.uploading.MediaUploadHttpRequest"];
                match (
                    v["value"]["asset"].as_str(),
                    mechanism["uploadUrl"].as_str(),
                ) {
                    (Some(urn), Some(url)) => {
                        self.upload_destination(url)?;
                        Ok(ImageUpload {
                            urn: urn.into(),
                            upload_url: url.into(),
                        })
                    }
                    _ => Err(LinkedInError::Unexpected {
                        status: 200,
                        detail: "registerUpload without asset or uploadUrl".into(),
                    }),
                }
            }
        }
    }

    /// An upload URL from LinkedIn's answer, if the access token may go there (see
    /// [`super::UploadHosts`]): otherwise a failure that retrying cannot help, logged.
    pub(super) fn upload_destination(&self, raw: &str) -> Result<Url, LinkedInError> {
        let refused = |why: &str| {
            warn!(
                host = Url::parse(raw)
                    .ok()
                    .and_then(|u| u.host_str().map(str::to_owned))
                    .unwrap_or_default(),
                why, "upload URL refused: the access token goes only to LinkedIn's upload hosts"
            );
            LinkedInError::Unexpected {
                status: 200,
                detail: "LinkedIn's answer named an upload URL off LinkedIn's upload hosts".into(),
            }
        };
        let url = Url::parse(raw).map_err(|_| refused("not a URL"))?;
        if !self
            .settings
            .upload_hosts
            .allows(&url, &self.settings.api_base_url)
        {
            return Err(refused(
                "not on an allowed upload host (LINKEDIN_UPLOAD_HOSTS)",
            ));
        }
        Ok(url)
    }

    /// PUTs the image's bytes to the uploadUrl exactly as LinkedIn returned it, if it is on
    /// one of LinkedIn's upload hosts; the access token is attached only then.
    #[tracing::instrument(name = "linkedin.upload_image", skip_all, fields(bytes = bytes.len()))]
    pub async fn upload_image(
        &self,
        access_token: &SecretString,
        upload: &ImageUpload,
        bytes: Vec<u8>,
    ) -> Result<(), LinkedInError> {
        let destination = self.upload_destination(&upload.upload_url)?;
        let request = self
            .http()?
            .put(destination)
            .bearer_auth(access_token.expose_secret())
            .header("content-type", "application/octet-stream")
            .body(bytes);
        let response = self.send(LinkedInCall::ImagesUpload, request).await?;
        if response.status().is_success() {
            return Ok(());
        }
        let status = response.status().as_u16();
        let request_id = request_id_of(response.headers());
        let body = body_text(response).await?;
        Err(super::error::classify_api_failure(
            status,
            None,
            request_id,
            &body,
            chrono::Utc::now(),
        ))
    }

    pub async fn media_status(
        &self,
        access_token: &SecretString,
        dialect: PostsApi,
        urn: &str,
    ) -> Result<MediaStatus, LinkedInError> {
        let (path, flavour) = match dialect {
            PostsApi::Rest => (
                format!("/rest/images/{}", encode_urn(urn)),
                ApiFlavour::Versioned,
            ),
            PostsApi::Ugc => (
                format!("/v2/assets/{}", urn.rsplit(':').next().unwrap_or(urn)),
                ApiFlavour::Restli2,
            ),
        };
        let call = LinkedInCall::ImagesStatus;
        let response = self
            .api(call, Method::GET, &path, access_token, flavour)
            .await?;
        let v: Value = decode(200, response).await?;
        let status = v["status"]
            .as_str()
            .or_else(|| v["recipes"][0]["status"].as_str())
            .unwrap_or_default();
        Ok(match status {
            "AVAILABLE" => MediaStatus::Available,
            "PROCESSING" => MediaStatus::Processing,
            "WAITING_UPLOAD" => MediaStatus::WaitingUpload,
            _ => MediaStatus::Failed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in for LinkedIn and for a host its answer might name: it records each request
    /// it gets (head only) and answers initializeUpload with `upload_url`, anything else 201.
    async fn recording_host(
        upload_url: impl Fn(&str) -> String + Send + Sync + 'static,
    ) -> (Url, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (record, own) = (seen.clone(), base.to_string());
        let upload_url = std::sync::Arc::new(upload_url);
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut buf = vec![0u8; 65536];
                let n = socket.read(&mut buf).await.unwrap_or(0);
                let head = String::from_utf8_lossy(&buf[..n]).to_string();
                record.lock().unwrap().push(head.clone());
                let (status, body) = if head.starts_with("POST /rest/images") {
                    let url = upload_url(&own);
                    let body = json!({ "value": { "image": "urn:li:image:1", "uploadUrl": url, "uploadUrlExpiresAt": 0 } });
                    ("200 OK", body.to_string())
                } else {
                    ("201 Created", String::new())
                };
                let answer = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(answer.as_bytes()).await;
            }
        });
        (base, seen)
    }

    use super::super::test_client as client;

    /// The access token goes only to LinkedIn's upload hosts: an upload URL elsewhere is
    /// refused before anything is sent there, and retrying cannot help.
    #[tokio::test]
    async fn an_upload_url_off_linkedins_hosts_never_gets_the_token() {
        let token = SecretString::from("member-access-token");
        let (elsewhere, arrived) = recording_host(|_| String::new()).await;

        // An upload on hand whose URL is not LinkedIn's (real LinkedIn as the API base).
        let linkedin = client("https://api.linkedin.com");
        let upload = ImageUpload {
            urn: "urn:li:image:1".into(),
            upload_url: elsewhere.join("/upload?sig=1").unwrap().to_string(),
        };
        let error = linkedin
            .upload_image(&token, &upload, b"\x89PNG\r\n\x1a\n".to_vec())
            .await
            .unwrap_err();
        assert_eq!(error.retry_class(), super::super::RetryClass::FailFast);
        assert!(!error.outcome_unknown());

        // LinkedIn (here a stand-in) answering initializeUpload with another host's URL.
        let target = elsewhere.clone();
        let (api, api_seen) =
            recording_host(move |_| target.join("/steal").unwrap().to_string()).await;
        let linkedin = client(api.as_str());
        let refused = linkedin
            .start_image_upload(&token, PostsApi::Rest, "urn:li:person:abc")
            .await
            .unwrap_err();
        assert_eq!(refused.retry_class(), super::super::RetryClass::FailFast);
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        assert!(
            arrived.lock().unwrap().is_empty(),
            "nothing may reach the other host"
        );
        assert_eq!(
            api_seen.lock().unwrap().len(),
            1,
            "only the initializeUpload call"
        );
    }

    #[tokio::test]
    async fn an_upload_url_on_an_allowed_origin_gets_the_image_with_the_token() {
        let token = SecretString::from("member-access-token");
        let (api, seen) = recording_host(|own| format!("{own}_media/upload/abc")).await;
        let linkedin = client(api.as_str());
        let upload = linkedin
            .start_image_upload(&token, PostsApi::Rest, "urn:li:person:abc")
            .await
            .unwrap();
        linkedin
            .upload_image(&token, &upload, b"\x89PNG\r\n\x1a\n".to_vec())
            .await
            .unwrap();
        let seen = seen.lock().unwrap();
        let put = seen
            .iter()
            .find(|r| r.starts_with("PUT /_media/upload/abc"))
            .unwrap();
        assert!(put
            .to_ascii_lowercase()
            .contains("authorization: bearer member-access-token"));
    }

    fn img(id: &str, alt: Option<&str>) -> PostImage {
        PostImage {
            id: id.into(),
            alt_text: alt.map(str::to_owned),
        }
    }

    /// Each kind's `content` as linkedin-api.md ("More post content") gives it.
    #[test]
    fn each_kind_has_its_own_rest_content() {
        let card = |description: Option<&str>, thumbnail: Option<&str>| {
            PostBody::Article(ArticleCard {
                source: Url::parse("https://example.com/story?a=1").unwrap(),
                title: "The story".into(),
                description: description.map(str::to_owned),
                thumbnail: thumbnail.map(str::to_owned),
            })
        };
        let cases = [
            (PostBody::None, None),
            (
                PostBody::Image(img("urn:li:image:1", Some("a cat"))),
                Some(json!({ "media": { "id": "urn:li:image:1", "altText": "a cat" } })),
            ),
            (
                PostBody::Image(img("urn:li:image:1", None)),
                Some(json!({ "media": { "id": "urn:li:image:1" } })),
            ),
            (
                PostBody::MultiImage(vec![
                    img("urn:li:image:1", Some("first")),
                    img("urn:li:image:2", None),
                    img("urn:li:image:3", Some("third")),
                ]),
                Some(json!({ "multiImage": { "images": [
                    { "id": "urn:li:image:1", "altText": "first" },
                    { "id": "urn:li:image:2" },
                    { "id": "urn:li:image:3", "altText": "third" },
                ] } })),
            ),
            (
                PostBody::Document {
                    id: "urn:li:document:9".into(),
                    title: "Deck".into(),
                },
                Some(json!({ "media": { "id": "urn:li:document:9", "title": "Deck" } })),
            ),
            (
                PostBody::Video {
                    id: "urn:li:video:7".into(),
                    title: None,
                },
                Some(json!({ "media": { "id": "urn:li:video:7" } })),
            ),
            (
                card(Some("What happened"), Some("urn:li:image:5")),
                Some(json!({ "article": {
                    "source": "https://example.com/story?a=1",
                    "title": "The story",
                    "description": "What happened",
                    "thumbnail": "urn:li:image:5",
                } })),
            ),
            (
                card(None, None),
                Some(
                    json!({ "article": { "source": "https://example.com/story?a=1", "title": "The story" } }),
                ),
            ),
            (
                PostBody::Poll {
                    question: "Tabs or spaces?".into(),
                    options: vec!["Tabs".into(), "Spaces".into(), "Both".into()],
                    duration: PollDuration::SevenDays,
                },
                Some(json!({ "poll": {
                    "question": "Tabs or spaces?",
                    "options": [{ "text": "Tabs" }, { "text": "Spaces" }, { "text": "Both" }],
                    "settings": { "duration": "SEVEN_DAYS" },
                } })),
            ),
        ];
        for (body, content) in cases {
            assert_eq!(body.rest_content(), content, "{body:?}");
        }
    }

    #[test]
    fn the_legacy_dialect_is_sent_text_and_images_only() {
        assert_eq!(PostBody::None.ugc_media(), Some(("NONE", vec![])));
        let (category, media) = PostBody::images(vec![
            img("urn:li:digitalmediaAsset:1", Some("one")),
            img("urn:li:digitalmediaAsset:2", None),
        ])
        .ugc_media()
        .unwrap();
        assert_eq!(category, "IMAGE");
        assert_eq!(
            media,
            vec![
                json!({ "status": "READY", "media": "urn:li:digitalmediaAsset:1", "description": { "text": "one" } }),
                json!({ "status": "READY", "media": "urn:li:digitalmediaAsset:2" }),
            ]
        );
        let poll = PostBody::Poll {
            question: "q".into(),
            options: vec!["a".into(), "b".into()],
            duration: PollDuration::OneDay,
        };
        assert_eq!(poll.ugc_media(), None);
    }

    #[test]
    fn images_make_an_image_or_a_multi_image_post() {
        assert_eq!(PostBody::images(vec![]), PostBody::None);
        assert_eq!(
            PostBody::images(vec![img("a", None)]),
            PostBody::Image(img("a", None))
        );
        assert_eq!(
            PostBody::images(vec![img("a", None), img("b", None)]),
            PostBody::MultiImage(vec![img("a", None), img("b", None)])
        );
    }

    /// A kind the legacy dialect cannot carry is never sent there, not even without its content.
    #[tokio::test]
    async fn the_legacy_dialect_sends_nothing_for_a_poll() {
        let (api, seen) = recording_host(|_| String::new()).await;
        let linkedin = client(api.as_str());
        let content = PostContent {
            author: "urn:li:person:abc".into(),
            text: "Vote".into(),
            visibility: "PUBLIC".into(),
            body: PostBody::Poll {
                question: "q".into(),
                options: vec!["a".into(), "b".into()],
                duration: PollDuration::OneDay,
            },
        };
        let error = linkedin
            .create_post(&SecretString::from("t"), PostsApi::Ugc, &content)
            .await
            .unwrap_err();
        assert_eq!(error.retry_class(), super::super::RetryClass::FailFast);
        assert!(seen.lock().unwrap().is_empty());
    }

    #[test]
    fn urns_are_url_encoded_in_paths() {
        assert_eq!(encode_urn("urn:li:share:123"), "urn%3Ali%3Ashare%3A123");
    }
}
