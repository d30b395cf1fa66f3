//! The Documents and Videos APIs (linkedin-api.md, "More post content"), strict as LinkedIn:
//!
//! - `POST /rest/documents?action=initializeUpload` → one upload URL; ONE PUT of the whole file
//!   (at most 100 MB: more answers 400 as soon as the count passes it). The type is read from
//!   the first bytes (PDF `%PDF`, DOC/PPT OLE `D0 CF 11 E0 A1 B1 1A E1`, DOCX/PPTX zip
//!   `PK\x03\x04`); anything else is taken and then fails processing (PROCESSING_FAILED), as
//!   LinkedIn only finds out when it converts the file.
//! - `POST /rest/videos?action=initializeUpload` (75 KB – 500 MB, else 400) → parts of 4 MiB,
//!   each with its own URL; a part's PUT must carry exactly its byte range (else 400) and answers
//!   an `ETag`; `finalizeUpload` needs every part's ETag, in order. A video that is not MP4
//!   (`ftyp` at offset 4) fails processing.
//! - Upload URLs expire ([`SimulatorConfig::upload_url_ttl`]): a PUT after expiry answers 403,
//!   as an expired pre-signed URL does.
//! - Status moves WAITING_UPLOAD → PROCESSING → AVAILABLE on the simulator's clock
//!   ([`SimulatorConfig::video_processing`] for videos, `media_processing` for documents), or
//!   PROCESSING_FAILED ([`SimulatorConfig::fail_media_processing`] fails the next N).
//!
//! Uploads are streamed and counted, never held: a 500 MB video costs the simulator nothing.
//!
//! [`SimulatorConfig::upload_url_ttl`]: crate::SimulatorConfig::upload_url_ttl
//! [`SimulatorConfig::video_processing`]: crate::SimulatorConfig::video_processing
//! [`SimulatorConfig::fail_media_processing`]: crate::SimulatorConfig::fail_media_processing

use std::collections::HashMap;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde_json::{json, Value};

use super::posts::may_act_as;
use super::rest::{api_error, authenticate, check_version, versioned_caller};
use super::{Shared, SimState};

/// LinkedIn's limit for a document.
pub const MAX_DOCUMENT_BYTES: u64 = 100 * 1024 * 1024;
/// LinkedIn's limits for a video's `fileSizeBytes`.
pub const MIN_VIDEO_BYTES: u64 = 75 * 1024;
pub const MAX_VIDEO_BYTES: u64 = 500 * 1024 * 1024;
/// The size of each video part but the last.
pub const VIDEO_PART_BYTES: u64 = 4 * 1024 * 1024;

/// Where a document or video is in LinkedIn's processing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum MediaState {
    WaitingUpload,
    Processing,
    Available,
    ProcessingFailed,
}

impl MediaState {
    fn name(self) -> &'static str {
        match self {
            Self::WaitingUpload => "WAITING_UPLOAD",
            Self::Processing => "PROCESSING",
            Self::Available => "AVAILABLE",
            Self::ProcessingFailed => "PROCESSING_FAILED",
        }
    }
}

fn state_at(
    done_at: Option<DateTime<Utc>>,
    failed: bool,
    now: DateTime<Utc>,
    processing: std::time::Duration,
) -> MediaState {
    match done_at {
        None => MediaState::WaitingUpload,
        Some(_) if failed => MediaState::ProcessingFailed,
        Some(at) if (now - at).to_std().unwrap_or_default() < processing => MediaState::Processing,
        Some(_) => MediaState::Available,
    }
}

/// A document as the simulator keeps it: what arrived, never the bytes.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SimDocument {
    pub urn: String,
    pub owner: String,
    pub upload_token: String,
    pub upload_expires_at: DateTime<Utc>,
    pub uploaded_at: Option<DateTime<Utc>>,
    pub bytes: u64,
    /// How many PUTs reached the upload URL (LinkedIn takes one).
    pub puts: u32,
    pub failed: bool,
}

impl SimDocument {
    pub fn status(&self, now: DateTime<Utc>, processing: std::time::Duration) -> MediaState {
        state_at(self.uploaded_at, self.failed, now, processing)
    }
}

/// One part of a video's upload.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SimPart {
    pub upload_token: String,
    pub first_byte: u64,
    pub last_byte: u64,
    /// Set once the part's bytes all arrived.
    pub etag: Option<String>,
}

/// A video as the simulator keeps it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SimVideo {
    pub urn: String,
    pub owner: String,
    /// The token `finalizeUpload` must name.
    pub upload_token: String,
    pub file_size: u64,
    pub parts: Vec<SimPart>,
    pub thumbnail_token: Option<String>,
    pub captions_token: Option<String>,
    pub thumbnail_bytes: Option<u64>,
    pub captions_bytes: Option<u64>,
    pub upload_expires_at: DateTime<Utc>,
    /// The first bytes of the file (from part 1), for the type check at finalize.
    pub head: Vec<u8>,
    pub finalized_at: Option<DateTime<Utc>>,
    pub failed: bool,
}

impl SimVideo {
    pub fn status(&self, now: DateTime<Utc>, processing: std::time::Duration) -> MediaState {
        state_at(self.finalized_at, self.failed, now, processing)
    }
}

fn bad(message: &str) -> Response {
    api_error(400, None, Some("INVALID_REQUEST"), message)
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter()
        .try_fold(v, |v, k| v.get(*k))
        .and_then(Value::as_str)
}

fn upload_url(state: &SimState, kind: &str, token: &str) -> String {
    state
        .media_base_url
        .join(&format!("/_media/{kind}/{token}"))
        .expect("valid")
        .to_string()
}

fn expiry(state: &SimState) -> DateTime<Utc> {
    state.now() + chrono::Duration::from_std(state.config.upload_url_ttl).expect("bounded")
}

/// Whether the next processing fails ([`crate::SimulatorConfig::fail_media_processing`]).
fn take_processing_failure(state: &mut SimState) -> bool {
    let left = &mut state.config.fail_media_processing;
    if *left > 0 {
        *left -= 1;
        true
    } else {
        false
    }
}

/// The checks every initialize shares: version, token, action, owner and the right to act as
/// the owner. Returns the owner and the request body.
fn initialize_request(
    state: &SimState,
    headers: &HeaderMap,
    query: &HashMap<String, String>,
    body: &Bytes,
    action: &str,
    resource: &str,
) -> Result<(String, Value), Response> {
    check_version(state, headers)?;
    let record = authenticate(state, headers)?;
    if query.get("action").map(String::as_str) != Some(action) {
        return Err(bad(&format!("action must be {action}")));
    }
    let Ok(body) = serde_json::from_slice::<Value>(body) else {
        return Err(bad("Request body is not JSON"));
    };
    let owner = match (action, str_at(&body, &["initializeUploadRequest", "owner"])) {
        ("initializeUpload", Some(owner)) => owner.to_owned(),
        ("initializeUpload", None) => return Err(bad("initializeUploadRequest.owner is required")),
        _ => String::new(),
    };
    if !owner.is_empty() {
        may_act_as(state, &record, &owner, resource)?;
    }
    Ok((owner, body))
}

/// `POST /rest/documents?action=initializeUpload`.
pub(crate) async fn initialize_document_upload(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let mut state = shared.lock();
    let owner = match initialize_request(
        &state,
        &headers,
        &query,
        &body,
        "initializeUpload",
        "documents.ACTION-initializeUpload",
    ) {
        Ok((owner, _)) => owner,
        Err(e) => return e,
    };
    state.next_media_id += 1;
    let urn = format!("urn:li:document:D4D{:012}", state.next_media_id);
    let token = super::new_secret("doc", 24);
    let expires_at = expiry(&state);
    let url = upload_url(&state, "documents", &token);
    state.documents.insert(
        urn.clone(),
        SimDocument {
            urn: urn.clone(),
            owner,
            upload_token: token,
            upload_expires_at: expires_at,
            uploaded_at: None,
            bytes: 0,
            puts: 0,
            failed: false,
        },
    );
    Json(json!({ "value": {
        "uploadUrlExpiresAt": expires_at.timestamp_millis(),
        "uploadUrl": url,
        "document": urn,
    }}))
    .into_response()
}

/// `POST /rest/videos?action=initializeUpload` and `?action=finalizeUpload`.
pub(crate) async fn video_action(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    match query.get("action").map(String::as_str) {
        Some("finalizeUpload") => finalize_video(&shared, &headers, &query, &body),
        _ => initialize_video(&shared, &headers, &query, &body),
    }
}

fn initialize_video(
    shared: &Shared,
    headers: &HeaderMap,
    query: &HashMap<String, String>,
    body: &Bytes,
) -> Response {
    let mut state = shared.lock();
    let (owner, body) = match initialize_request(
        &state,
        headers,
        query,
        body,
        "initializeUpload",
        "videos.ACTION-initializeUpload",
    ) {
        Ok(found) => found,
        Err(e) => return e,
    };
    let request = &body["initializeUploadRequest"];
    let Some(size) = request["fileSizeBytes"].as_u64() else {
        return bad("initializeUploadRequest.fileSizeBytes is required");
    };
    if !(MIN_VIDEO_BYTES..=MAX_VIDEO_BYTES).contains(&size) {
        return bad(&format!(
            "fileSizeBytes {size} is outside {MIN_VIDEO_BYTES}..{MAX_VIDEO_BYTES}"
        ));
    }
    let wants = |field: &str| request[field].as_bool().unwrap_or(false);
    let (with_thumbnail, with_captions) = (wants("uploadThumbnail"), wants("uploadCaptions"));
    state.next_media_id += 1;
    let urn = format!("urn:li:video:D5V{:012}", state.next_media_id);
    let parts: Vec<SimPart> = (0..size.div_ceil(VIDEO_PART_BYTES))
        .map(|i| SimPart {
            upload_token: super::new_secret("part", 24),
            first_byte: i * VIDEO_PART_BYTES,
            last_byte: ((i + 1) * VIDEO_PART_BYTES).min(size) - 1,
            etag: None,
        })
        .collect();
    let instructions: Vec<Value> = parts
        .iter()
        .map(|p| {
            json!({
                "uploadUrl": upload_url(&state, "videos", &p.upload_token),
                "firstByte": p.first_byte,
                "lastByte": p.last_byte,
            })
        })
        .collect();
    let thumbnail_token = with_thumbnail.then(|| super::new_secret("thumb", 24));
    let captions_token = with_captions.then(|| super::new_secret("capt", 24));
    let upload_token = super::new_secret("vt", 32);
    let expires_at = expiry(&state);
    let mut value = json!({
        "video": urn,
        "uploadToken": upload_token,
        "uploadInstructions": instructions,
        "uploadUrlsExpireAt": expires_at.timestamp_millis(),
    });
    if let Some(t) = &thumbnail_token {
        value["thumbnailUploadUrl"] = upload_url(&state, "videos", t).into();
    }
    if let Some(t) = &captions_token {
        value["captionsUploadUrl"] = upload_url(&state, "videos", t).into();
    }
    state.videos.insert(
        urn.clone(),
        SimVideo {
            urn,
            owner,
            upload_token,
            file_size: size,
            parts,
            thumbnail_token,
            captions_token,
            thumbnail_bytes: None,
            captions_bytes: None,
            upload_expires_at: expires_at,
            head: Vec::new(),
            finalized_at: None,
            failed: false,
        },
    );
    Json(json!({ "value": value })).into_response()
}

fn finalize_video(
    shared: &Shared,
    headers: &HeaderMap,
    query: &HashMap<String, String>,
    body: &Bytes,
) -> Response {
    let mut state = shared.lock();
    let body = match initialize_request(
        &state,
        headers,
        query,
        body,
        "finalizeUpload",
        "videos.ACTION-finalizeUpload",
    ) {
        Ok((_, body)) => body,
        Err(e) => return e,
    };
    let record = match authenticate(&state, headers) {
        Ok(r) => r,
        Err(e) => return e,
    };
    let request = &body["finalizeUploadRequest"];
    let (Some(urn), Some(token), Some(ids)) = (
        str_at(request, &["video"]),
        str_at(request, &["uploadToken"]),
        request["uploadedPartIds"].as_array(),
    ) else {
        return bad("finalizeUploadRequest needs video, uploadToken and uploadedPartIds");
    };
    let ids: Vec<&str> = ids.iter().filter_map(Value::as_str).collect();
    let Some(video) = state.videos.get(urn).cloned() else {
        return api_error(
            404,
            None,
            Some("NOT_FOUND"),
            &format!("Video {urn} not found"),
        );
    };
    if let Err(e) = may_act_as(
        &state,
        &record,
        &video.owner,
        "videos.ACTION-finalizeUpload",
    ) {
        return e;
    }
    if video.upload_token != token {
        return bad("uploadToken does not belong to this video");
    }
    if video.finalized_at.is_some() {
        return bad("the video's upload is already finalized");
    }
    let etags: Vec<Option<&str>> = video.parts.iter().map(|p| p.etag.as_deref()).collect();
    if etags.iter().any(Option::is_none) {
        return bad("not every part of the video has been uploaded");
    }
    if etags.into_iter().flatten().ne(ids.iter().copied()) {
        return bad("uploadedPartIds must be every part's ETag, in the order of the parts");
    }
    let is_mp4 = video.head.get(4..8) == Some(b"ftyp".as_slice());
    let failed = take_processing_failure(&mut state) || !is_mp4;
    let now = state.now();
    let video = state.videos.get_mut(urn).expect("found above");
    video.finalized_at = Some(now);
    video.failed = failed;
    Json(json!({})).into_response()
}

/// `GET /rest/documents/{urn}`.
pub(crate) async fn get_document(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Path(urn): Path<String>,
) -> Response {
    let state = shared.lock();
    if let Err(e) = versioned_caller(&state, &headers) {
        return e;
    }
    let processing = state.config.media_processing;
    match state.documents.get(&urn) {
        Some(d) => Json(json!({
            "id": d.urn,
            "owner": d.owner,
            "status": d.status(state.now(), processing).name(),
        }))
        .into_response(),
        None => api_error(
            404,
            None,
            Some("NOT_FOUND"),
            &format!("Document {urn} not found"),
        ),
    }
}

/// `GET /rest/videos/{urn}`.
pub(crate) async fn get_video(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Path(urn): Path<String>,
) -> Response {
    let state = shared.lock();
    if let Err(e) = versioned_caller(&state, &headers) {
        return e;
    }
    let processing = state.config.video_processing;
    match state.videos.get(&urn) {
        Some(v) => Json(json!({
            "id": v.urn,
            "owner": v.owner,
            "status": v.status(state.now(), processing).name(),
        }))
        .into_response(),
        None => api_error(
            404,
            None,
            Some("NOT_FOUND"),
            &format!("Video {urn} not found"),
        ),
    }
}

/// Whether `content.media.id` may be posted by `author`: a document or video of the author's,
/// AVAILABLE. `Ok(false)` when `urn` is neither (an image: the caller checks it).
pub(crate) fn check_media_for_post(
    state: &SimState,
    urn: &str,
    author: &str,
) -> Result<bool, Response> {
    let now = state.now();
    let status = if urn.starts_with("urn:li:document:") {
        state
            .documents
            .get(urn)
            .filter(|d| d.owner == author)
            .map(|d| d.status(now, state.config.media_processing))
    } else if urn.starts_with("urn:li:video:") {
        state
            .videos
            .get(urn)
            .filter(|v| v.owner == author)
            .map(|v| v.status(now, state.config.video_processing))
    } else {
        return Ok(false);
    };
    match status {
        Some(MediaState::Available) => Ok(true),
        Some(MediaState::WaitingUpload | MediaState::Processing) => Err(api_error(
            400,
            None,
            Some("MEDIA_ASSET_WAITING_UPLOAD"),
            &format!("Media {urn} is not ready yet; retry once it is AVAILABLE"),
        )),
        Some(MediaState::ProcessingFailed) | None => Err(api_error(
            400,
            None,
            Some("INVALID_CONTENT"),
            &format!("Media {urn} is not available for author {author}"),
        )),
    }
}

/// What an upload URL's token stands for.
enum Target {
    Document { urn: String },
    Part { urn: String, index: usize },
    Thumbnail { urn: String },
    Captions { urn: String },
}

/// Whether the request came to the media host, and what the token names (with its expiry).
fn target_of(
    state: &SimState,
    headers: &HeaderMap,
    kind: &str,
    token: &str,
) -> Result<(Target, DateTime<Utc>), Response> {
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    let expected = state.media_base_url.host_str().unwrap_or_default();
    if !host.starts_with(expected) {
        // An uploadUrl rebuilt on another host does not exist.
        return Err(api_error(404, None, None, "No such upload on this host"));
    }
    let unknown = || api_error(404, None, None, "Unknown upload");
    if kind == "documents" {
        let d = state
            .documents
            .values()
            .find(|d| d.upload_token == token)
            .ok_or_else(unknown)?;
        return Ok((Target::Document { urn: d.urn.clone() }, d.upload_expires_at));
    }
    if kind != "videos" {
        return Err(unknown());
    }
    for v in state.videos.values() {
        let urn = v.urn.clone();
        if let Some(index) = v.parts.iter().position(|p| p.upload_token == token) {
            return Ok((Target::Part { urn, index }, v.upload_expires_at));
        }
        if v.thumbnail_token.as_deref() == Some(token) {
            return Ok((Target::Thumbnail { urn }, v.upload_expires_at));
        }
        if v.captions_token.as_deref() == Some(token) {
            return Ok((Target::Captions { urn }, v.upload_expires_at));
        }
    }
    Err(unknown())
}

/// What a streamed body held: how many bytes, its first ones, whether it stopped past `limit`.
struct Counted {
    bytes: u64,
    head: Vec<u8>,
    over: bool,
    broken: bool,
}

/// Reads the body chunk by chunk, keeping only a count and the first 16 bytes; stops reading
/// once more than `limit` bytes have come.
async fn count_body(body: Body, limit: u64) -> Counted {
    let mut counted = Counted {
        bytes: 0,
        head: Vec::new(),
        over: false,
        broken: false,
    };
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let Ok(chunk) = chunk else {
            counted.broken = true;
            break;
        };
        if counted.head.len() < 16 {
            let take = (16 - counted.head.len()).min(chunk.len());
            counted.head.extend_from_slice(&chunk[..take]);
        }
        counted.bytes += chunk.len() as u64;
        if counted.bytes > limit {
            counted.over = true;
            break;
        }
    }
    counted
}

fn is_document(head: &[u8]) -> bool {
    head.starts_with(b"%PDF")
        || head.starts_with(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1])
        || head.starts_with(b"PK\x03\x04")
}

/// `PUT {uploadUrl}` of a document, a video part, a thumbnail or captions: on the media host
/// LinkedIn named, before the URL expires, streamed.
pub(crate) async fn upload(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Path((kind, token)): Path<(String, String)>,
    body: Body,
) -> Response {
    let (target, limit) = {
        let state = shared.lock();
        let (target, expires_at) = match target_of(&state, &headers, &kind, &token) {
            Ok(found) => found,
            Err(e) => return e,
        };
        if state.now() >= expires_at {
            // What an expired pre-signed URL answers; not LinkedIn's JSON.
            return (StatusCode::FORBIDDEN, "Request has expired").into_response();
        }
        let limit = match &target {
            Target::Document { .. } => MAX_DOCUMENT_BYTES,
            Target::Part { urn, index } => {
                let p = &state.videos[urn].parts[*index];
                p.last_byte - p.first_byte + 1
            }
            Target::Thumbnail { .. } | Target::Captions { .. } => 10 * 1024 * 1024,
        };
        (target, limit)
    };
    let counted = count_body(body, limit).await;
    if counted.broken {
        return bad("the upload's body broke off");
    }
    let mut state = shared.lock();
    let now = state.now();
    match target {
        Target::Document { urn } => {
            if counted.over {
                return bad(&format!(
                    "a document may be at most {MAX_DOCUMENT_BYTES} bytes"
                ));
            }
            let Some(d) = state.documents.get_mut(&urn) else {
                return api_error(404, None, None, "Unknown upload");
            };
            d.puts += 1;
            if d.uploaded_at.is_some() {
                return bad("the document was already uploaded: one PUT of the whole file");
            }
            let fail = take_processing_failure(&mut state) || !is_document(&counted.head);
            let d = state.documents.get_mut(&urn).expect("found above");
            d.bytes = counted.bytes;
            d.failed = fail;
            d.uploaded_at = Some(now);
            StatusCode::CREATED.into_response()
        }
        Target::Part { urn, index } => {
            let Some(v) = state.videos.get_mut(&urn) else {
                return api_error(404, None, None, "Unknown upload");
            };
            let part = &mut v.parts[index];
            let expected = part.last_byte - part.first_byte + 1;
            if counted.over || counted.bytes != expected {
                return bad(&format!(
                    "part {} must carry exactly {expected} bytes (bytes {}..={})",
                    index + 1,
                    part.first_byte,
                    part.last_byte
                ));
            }
            let etag = format!("/ambry-video/signedId/{}", super::new_secret("e", 20));
            part.etag = Some(etag.clone());
            if index == 0 {
                v.head = counted.head;
            }
            (StatusCode::OK, [("etag", etag)]).into_response()
        }
        Target::Thumbnail { .. } | Target::Captions { .. } if counted.over => {
            bad("thumbnails and captions may be at most 10 MB")
        }
        Target::Thumbnail { urn } => {
            if let Some(v) = state.videos.get_mut(&urn) {
                v.thumbnail_bytes = Some(counted.bytes);
            }
            StatusCode::CREATED.into_response()
        }
        Target::Captions { urn } => {
            if let Some(v) = state.videos.get_mut(&urn) {
                v.captions_bytes = Some(counted.bytes);
            }
            StatusCode::CREATED.into_response()
        }
    }
}
