//! Documents and videos (linkedin-api.md, "More post content"): initialize, PUT (a document
//! in one streamed body, a video part by part, each to its own URL with its exact byte range),
//! finalize, read the status. Every upload URL passes the upload-host allow-list before the
//! access token goes to it, as an image's does.

use bytes::Bytes;
use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};

use super::posts::encode_urn;
use super::MediaStatus;
use super::{body_text, decode, request_id_of, ApiFlavour, LinkedInClient, LinkedInError};
use crate::metrics::LinkedInCall;

/// Where to PUT a document, and the URN it will have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentUpload {
    pub urn: String,
    pub upload_url: String,
}

/// One part of a video: PUT exactly bytes `first_byte..=last_byte` to `upload_url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoPart {
    pub upload_url: String,
    pub first_byte: u64,
    pub last_byte: u64,
}

impl VideoPart {
    pub fn len(&self) -> u64 {
        self.last_byte - self.first_byte + 1
    }
    pub fn is_empty(&self) -> bool {
        false
    }
}

/// What `initializeUpload` gave for a video.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoUpload {
    pub urn: String,
    /// Named again at finalize.
    pub upload_token: String,
    /// In file order.
    pub parts: Vec<VideoPart>,
    pub thumbnail_upload_url: Option<String>,
    pub captions_upload_url: Option<String>,
}

/// Why a PUT to an upload URL failed.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// The upload host answered 403: the pre-signed URL has expired. Initializing again gives
    /// new URLs.
    #[error("the upload URL has expired (403 from the upload host)")]
    UrlExpired,
    #[error(transparent)]
    LinkedIn(#[from] LinkedInError),
}

fn unexpected(detail: &str) -> LinkedInError {
    LinkedInError::Unexpected {
        status: 200,
        detail: detail.into(),
    }
}

impl LinkedInClient {
    /// `POST /rest/documents?action=initializeUpload` for `owner` (the post's author).
    #[tracing::instrument(name = "linkedin.initialize_document_upload", skip_all)]
    pub async fn initialize_document_upload(
        &self,
        access_token: &SecretString,
        owner: &str,
    ) -> Result<DocumentUpload, LinkedInError> {
        let body = json!({ "initializeUploadRequest": { "owner": owner } });
        let v = self
            .versioned_post(
                LinkedInCall::DocumentsInitialize,
                "/rest/documents?action=initializeUpload",
                access_token,
                &body,
            )
            .await?;
        let (Some(urn), Some(url)) = (
            v["value"]["document"].as_str(),
            v["value"]["uploadUrl"].as_str(),
        ) else {
            return Err(unexpected("initializeUpload without document or uploadUrl"));
        };
        self.upload_destination(url)?;
        Ok(DocumentUpload {
            urn: urn.into(),
            upload_url: url.into(),
        })
    }

    /// The one PUT of a whole document, its body streamed from the source.
    #[tracing::instrument(name = "linkedin.upload_document", skip_all, fields(bytes = size))]
    pub async fn upload_document(
        &self,
        access_token: &SecretString,
        upload: &DocumentUpload,
        body: reqwest::Body,
        size: u64,
    ) -> Result<(), UploadError> {
        self.put_upload(access_token, &upload.upload_url, body, size)
            .await
            .map(drop)
    }

    /// `POST /rest/videos?action=initializeUpload`: the parts to PUT, each with its own URL.
    #[tracing::instrument(name = "linkedin.initialize_video_upload", skip_all, fields(bytes = file_size))]
    pub async fn initialize_video_upload(
        &self,
        access_token: &SecretString,
        owner: &str,
        file_size: u64,
        thumbnail: bool,
        captions: bool,
    ) -> Result<VideoUpload, LinkedInError> {
        let body = json!({ "initializeUploadRequest": {
            "owner": owner,
            "fileSizeBytes": file_size,
            "uploadCaptions": captions,
            "uploadThumbnail": thumbnail,
        }});
        let v = self
            .versioned_post(
                LinkedInCall::VideosInitialize,
                "/rest/videos?action=initializeUpload",
                access_token,
                &body,
            )
            .await?;
        let value = &v["value"];
        let (Some(urn), Some(token), Some(instructions)) = (
            value["video"].as_str(),
            value["uploadToken"].as_str(),
            value["uploadInstructions"].as_array(),
        ) else {
            return Err(unexpected(
                "initializeUpload without video, uploadToken or uploadInstructions",
            ));
        };
        let mut parts = Vec::with_capacity(instructions.len());
        let mut next_byte = 0;
        for i in instructions {
            let (Some(url), Some(first), Some(last)) = (
                i["uploadUrl"].as_str(),
                i["firstByte"].as_u64(),
                i["lastByte"].as_u64(),
            ) else {
                return Err(unexpected(
                    "an upload instruction without uploadUrl or byte range",
                ));
            };
            // The parts must tile the file; anything else cannot be uploaded as told.
            if first != next_byte || last < first {
                return Err(unexpected(
                    "upload instructions do not cover the file in order",
                ));
            }
            next_byte = last + 1;
            self.upload_destination(url)?;
            parts.push(VideoPart {
                upload_url: url.into(),
                first_byte: first,
                last_byte: last,
            });
        }
        if next_byte != file_size {
            return Err(unexpected("upload instructions do not cover the file"));
        }
        let extra = |field: &str| -> Result<Option<String>, LinkedInError> {
            match value[field].as_str() {
                Some(url) => self.upload_destination(url).map(|_| Some(url.to_owned())),
                None => Ok(None),
            }
        };
        Ok(VideoUpload {
            urn: urn.into(),
            upload_token: token.into(),
            parts,
            thumbnail_upload_url: extra("thumbnailUploadUrl")?,
            captions_upload_url: extra("captionsUploadUrl")?,
        })
    }

    /// PUTs one part (exactly its byte range); returns its `ETag`, verbatim, for finalize.
    #[tracing::instrument(name = "linkedin.upload_video_part", skip_all, fields(first_byte = part.first_byte))]
    pub async fn upload_video_part(
        &self,
        access_token: &SecretString,
        part: &VideoPart,
        bytes: Bytes,
    ) -> Result<String, UploadError> {
        let size = bytes.len() as u64;
        let headers = self
            .put_upload(access_token, &part.upload_url, bytes.into(), size)
            .await?;
        headers
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .ok_or_else(|| UploadError::LinkedIn(unexpected("a part's upload without an ETag")))
    }

    /// PUTs a thumbnail or captions file to the URL initializeUpload named for it.
    pub async fn upload_video_extra(
        &self,
        access_token: &SecretString,
        upload_url: &str,
        bytes: Vec<u8>,
    ) -> Result<(), UploadError> {
        let size = bytes.len() as u64;
        self.put_upload(access_token, upload_url, bytes.into(), size)
            .await
            .map(drop)
    }

    /// `POST /rest/videos?action=finalizeUpload` with every part's ETag, in order.
    #[tracing::instrument(name = "linkedin.finalize_video_upload", skip_all)]
    pub async fn finalize_video_upload(
        &self,
        access_token: &SecretString,
        upload: &VideoUpload,
        etags: &[String],
    ) -> Result<(), LinkedInError> {
        let body = json!({ "finalizeUploadRequest": {
            "video": upload.urn,
            "uploadToken": upload.upload_token,
            "uploadedPartIds": etags,
        }});
        self.api_with_body(
            LinkedInCall::VideosFinalize,
            Method::POST,
            "/rest/videos?action=finalizeUpload",
            access_token,
            ApiFlavour::Versioned,
            Some(&body),
        )
        .await
        .map(drop)
    }

    /// The status of a document (`urn:li:document:…`) or a video (`urn:li:video:…`).
    pub async fn document_or_video_status(
        &self,
        access_token: &SecretString,
        urn: &str,
    ) -> Result<MediaStatus, LinkedInError> {
        let resource = if urn.starts_with("urn:li:video:") {
            "videos"
        } else {
            "documents"
        };
        let path = format!("/rest/{resource}/{}", encode_urn(urn));
        let response = self
            .api(
                LinkedInCall::MediaStatus,
                Method::GET,
                &path,
                access_token,
                ApiFlavour::Versioned,
            )
            .await?;
        let v: Value = decode(200, response).await?;
        Ok(match v["status"].as_str().unwrap_or_default() {
            "AVAILABLE" => MediaStatus::Available,
            "PROCESSING" => MediaStatus::Processing,
            "WAITING_UPLOAD" => MediaStatus::WaitingUpload,
            _ => MediaStatus::Failed,
        })
    }

    async fn versioned_post(
        &self,
        call: LinkedInCall,
        path: &str,
        access_token: &SecretString,
        body: &Value,
    ) -> Result<Value, LinkedInError> {
        let response = self
            .api_with_body(
                call,
                Method::POST,
                path,
                access_token,
                ApiFlavour::Versioned,
                Some(body),
            )
            .await?;
        decode(200, response).await
    }

    /// A PUT to an upload URL LinkedIn named, if the allow-list lets the token go there. A 403
    /// from the upload host is an expired pre-signed URL; other failures are classified as
    /// LinkedIn's.
    async fn put_upload(
        &self,
        access_token: &SecretString,
        raw_url: &str,
        body: reqwest::Body,
        size: u64,
    ) -> Result<reqwest::header::HeaderMap, UploadError> {
        let destination = self.upload_destination(raw_url)?;
        let request = self
            .http()?
            .put(destination)
            .bearer_auth(access_token.expose_secret())
            .header("content-type", "application/octet-stream")
            .header("content-length", size)
            .body(body);
        // A large upload takes longer than an API call: only the connect is bounded here, the
        // transfer by the invocation's deadline.
        let request = request.timeout(upload_timeout(size));
        let response = self.send(LinkedInCall::MediaUpload, request).await?;
        if response.status().is_success() {
            return Ok(response.headers().clone());
        }
        let status = response.status().as_u16();
        if status == 403 {
            return Err(UploadError::UrlExpired);
        }
        let request_id = request_id_of(response.headers());
        let body = body_text(response).await?;
        Err(UploadError::LinkedIn(super::error::classify_api_failure(
            status,
            None,
            request_id,
            &body,
            chrono::Utc::now(),
        )))
    }
}

/// An upload may take 10 s plus a second per MiB (at least 1 MiB/s from the source to LinkedIn).
fn upload_timeout(size: u64) -> std::time::Duration {
    std::time::Duration::from_secs(10 + size / (1024 * 1024))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// A stand-in answering every request 200 with `body(its own base URL)`, counting them.
    async fn answering(
        body: impl Fn(&str) -> String + Send + Sync + 'static,
    ) -> (url::Url, Arc<AtomicUsize>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = url::Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
        let count = Arc::new(AtomicUsize::new(0));
        let (seen, own) = (count.clone(), base.to_string());
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut buf = vec![0u8; 65536];
                let _ = socket.read(&mut buf).await;
                seen.fetch_add(1, Ordering::SeqCst);
                let body = body(&own);
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(answer.as_bytes()).await;
            }
        });
        (base, count)
    }

    use super::super::test_client as client;

    /// A part's first and last byte, and its host (`None`: the stand-in's own origin).
    type Part = (u64, u64, Option<String>);

    /// initializeUpload's answer for `parts`.
    fn video_answer(own: &str, parts: &[Part]) -> String {
        let instructions: Vec<Value> = parts
            .iter()
            .enumerate()
            .map(|(i, (first, last, host))| {
                let host = host.as_deref().unwrap_or(own);
                json!({"uploadUrl": format!("{host}part/{i}"), "firstByte": first, "lastByte": last})
            })
            .collect();
        json!({"value": {"video": "urn:li:video:1", "uploadToken": "t", "uploadInstructions": instructions}})
            .to_string()
    }

    /// One part's URL off LinkedIn's upload hosts refuses the whole upload before anything is
    /// sent anywhere; instructions that do not tile the file are refused too; good ones pass.
    #[tokio::test]
    async fn every_part_url_must_be_on_an_upload_host_and_the_parts_must_tile_the_file() {
        let token = SecretString::from("member-access-token");
        let (elsewhere, arrived) = answering(|_| String::new()).await;
        let off = Some(elsewhere.to_string());
        let cases: Vec<(&str, Vec<Part>, bool)> = vec![
            (
                "tiled, on the API's origin",
                vec![(0, 99, None), (100, 199, None)],
                true,
            ),
            (
                "a part off the upload hosts",
                vec![(0, 99, None), (100, 199, off)],
                false,
            ),
            ("a gap", vec![(0, 99, None), (150, 199, None)], false),
            ("short of the file", vec![(0, 99, None)], false),
        ];
        for (case, parts, ok) in cases {
            let (api, _) = answering(move |own| video_answer(own, &parts)).await;
            let answer = client(api.as_str())
                .initialize_video_upload(&token, "urn:li:person:abc", 200, false, false)
                .await;
            match (answer, ok) {
                (Ok(upload), true) => assert_eq!(upload.parts.len(), 2, "{case}"),
                (Err(LinkedInError::Unexpected { .. }), false) => {}
                (other, _) => panic!("{case}: {other:?}"),
            }
        }
        assert_eq!(
            arrived.load(Ordering::SeqCst),
            0,
            "nothing reached the other host"
        );
    }
}
