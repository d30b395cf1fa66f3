//! Posting and media: both of LinkedIn's dialects behind one set of calls.

use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use tracing::warn;
use url::Url;

use super::{body_text, decode, request_id_of, ApiFlavour, LinkedInClient, LinkedInError};
use crate::config::PostsApi;

/// What to post, in LinkedIn's terms.
#[derive(Debug, Clone)]
pub struct PostContent {
    /// `urn:li:person:…` or `urn:li:organization:…`.
    pub author: String,
    pub text: String,
    /// `PUBLIC` or `CONNECTIONS`.
    pub visibility: String,
    /// Uploaded images (image or digitalmediaAsset URNs) with their alternative text.
    pub images: Vec<(String, Option<String>)>,
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

const RESERVED: &[char] = &[
    '\\', '|', '{', '}', '@', '[', ']', '(', ')', '<', '>', '#', '*', '_', '~',
];

/// Escapes LinkedIn's "little text" reserved characters; unescaped, LinkedIn silently cuts the
/// commentary short at the first one.
pub fn escape_little_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if RESERVED.contains(&c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
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
                let image = |(id, alt): &(String, Option<String>)| match alt {
                    Some(alt) => json!({ "id": id, "altText": alt }),
                    None => json!({ "id": id }),
                };
                match content.images.as_slice() {
                    [] => {}
                    [one] => body["content"] = json!({ "media": image(one) }),
                    many => {
                        body["content"] = json!({ "multiImage": { "images": many.iter().map(image).collect::<Vec<_>>() } })
                    }
                }
                ("/rest/posts", ApiFlavour::Versioned, body)
            }
            PostsApi::Ugc => {
                let media: Vec<Value> = content
                    .images
                    .iter()
                    .map(|(urn, alt)| {
                        let mut m = json!({ "status": "READY", "media": urn });
                        if let Some(alt) = alt {
                            m["description"] = json!({ "text": alt });
                        }
                        m
                    })
                    .collect();
                let body = json!({
                    "author": content.author,
                    "lifecycleState": "PUBLISHED",
                    "specificContent": {
                        "com.linkedin.ugc.ShareContent": {
                            "shareCommentary": { "text": commentary },
                            "shareMediaCategory": if media.is_empty() { "NONE" } else { "IMAGE" },
                            "media": media,
                        }
                    },
                    "visibility": { "com.linkedin.ugc.MemberNetworkVisibility": content.visibility },
                });
                ("/v2/ugcPosts", ApiFlavour::Restli2, body)
            }
        };
        let response = self
            .api_with_body(Method::POST, path, access_token, flavour, Some(&body))
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
        self.api(Method::DELETE, &path, access_token, flavour)
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
            .http
            .put(destination)
            .bearer_auth(access_token.expose_secret())
            .header("content-type", "application/octet-stream")
            .body(bytes);
        let response = self.send(request).await?;
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
        let response = self.api(Method::GET, &path, access_token, flavour).await?;
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

    #[test]
    fn reserved_characters_are_escaped_and_others_kept() {
        assert_eq!(
            escape_little_text("Launch (beta) #rust @team *now* a_b ~ok~ [x] {y} <z> | \\"),
            "Launch \\(beta\\) \\#rust \\@team \\*now\\* a\\_b \\~ok\\~ \\[x\\] \\{y\\} \\<z\\> \\| \\\\"
        );
        assert_eq!(escape_little_text("Grüße, 世界!"), "Grüße, 世界!");
    }

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

    fn client(api_base: &str) -> LinkedInClient {
        let vars = std::collections::HashMap::from([
            ("LINKEDIN_CLIENT_ID", "cid".to_owned()),
            ("LINKEDIN_CLIENT_SECRET", "shh".to_owned()),
            (
                "LINKEDIN_REDIRECT_URI",
                "https://api.example.com/cb".to_owned(),
            ),
            ("TABLE_NAME", "t".to_owned()),
            ("TOKEN_KEY_ID", "k".to_owned()),
            ("LINKEDIN_API_BASE_URL", api_base.to_owned()),
        ]);
        let config = crate::config::Config::from_lookup(|k| vars.get(k).cloned()).unwrap();
        LinkedInClient::new(config.linkedin).unwrap()
    }

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

    #[test]
    fn urns_are_url_encoded_in_paths() {
        assert_eq!(encode_urn("urn:li:share:123"), "urn%3Ali%3Ashare%3A123");
    }
}
