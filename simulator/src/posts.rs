//! Posting and media on the simulated API host: the versioned Posts/Images APIs and the legacy
//! ugcPosts/assets APIs, with LinkedIn's duplicate detection, daily limits, organization roles
//! and little-text truncation.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::post_content::{self, Accepted};
use super::rest::{api_error, authenticate, check_version, versioned_caller};
use super::{AccessRecord, Shared, SimState};

/// A post as the simulator keeps it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SimPost {
    pub urn: String,
    pub author: String,
    /// As LinkedIn stored it: unescaped reserved characters cut the text short.
    pub commentary: String,
    /// Every medium the post names (images, a link card's thumbnail, a document, a video).
    pub media: Vec<String>,
    /// `content` as LinkedIn took it (`/rest/posts`), or the legacy ShareContent's
    /// `{shareMediaCategory, media}`; `None` for text only.
    pub content: Option<Value>,
    pub visibility: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum ImageStatus {
    WaitingUpload,
    Processing,
    Available,
    ProcessingFailed,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct SimImage {
    pub urn: String,
    pub owner: String,
    pub upload_token: String,
    pub uploaded_at: Option<DateTime<Utc>>,
    pub bytes: usize,
    pub failed: bool,
}

impl SimImage {
    pub fn status(&self, now: DateTime<Utc>, processing: std::time::Duration) -> ImageStatus {
        match self.uploaded_at {
            None => ImageStatus::WaitingUpload,
            Some(_) if self.failed => ImageStatus::ProcessingFailed,
            Some(at) if (now - at).to_std().unwrap_or_default() < processing => {
                ImageStatus::Processing
            }
            Some(_) => ImageStatus::Available,
        }
    }
}

fn status_name(s: ImageStatus) -> &'static str {
    match s {
        ImageStatus::WaitingUpload => "WAITING_UPLOAD",
        ImageStatus::Processing => "PROCESSING",
        ImageStatus::Available => "AVAILABLE",
        ImageStatus::ProcessingFailed => "PROCESSING_FAILED",
    }
}

/// LinkedIn's little-text format: see [`crate::little_text`].
pub fn store_little_text(text: &str) -> String {
    crate::little_text::store_little_text(text).text
}

pub(crate) fn member_urn(record: &AccessRecord) -> String {
    format!("urn:li:person:{}", record.member_sub)
}

pub(crate) fn has(record: &AccessRecord, scope: &str) -> bool {
    record.scopes.iter().any(|s| s == scope)
}

/// Whether the token's member may act as `author`.
pub(crate) fn may_act_as(
    state: &SimState,
    record: &AccessRecord,
    author: &str,
    resource: &str,
) -> Result<(), Response> {
    let denied = || {
        api_error(
            403,
            Some(100),
            Some("ACCESS_DENIED"),
            &format!("Not enough permissions to access: {resource}"),
        )
    };
    if author == member_urn(record) {
        return if has(record, "w_member_social") {
            Ok(())
        } else {
            Err(denied())
        };
    }
    if author.starts_with("urn:li:organization:") {
        let role_ok = state.member(&record.member_sub).is_some_and(|m| {
            m.organizations.iter().any(|(org, role)| {
                org == author
                    && matches!(
                        role.as_str(),
                        "ADMINISTRATOR"
                            | "DIRECT_SPONSORED_CONTENT_POSTER"
                            | "CONTENT_ADMIN"
                            | "CONTENT_ADMINISTRATOR"
                    )
            })
        });
        return if role_ok && has(record, "w_organization_social") {
            Ok(())
        } else {
            Err(denied())
        };
    }
    Err(api_error(
        400,
        None,
        Some("INVALID_AUTHOR"),
        &format!("Invalid author {author}"),
    ))
}

/// Who uploaded the medium `id` and where its processing stands, wherever the simulator keeps
/// it; `None` if it does not exist.
fn uploaded(state: &SimState, id: &str, now: DateTime<Utc>) -> Option<(String, ImageStatus)> {
    state.images.get(id).map(|i| {
        (
            i.owner.clone(),
            i.status(now, state.config.media_processing),
        )
    })
}

/// The checks both dialects share once their body is parsed: limits, media, duplicates.
fn create(
    state: &mut SimState,
    record: &AccessRecord,
    author: String,
    text: &str,
    accepted: Accepted,
    visibility: String,
    urn_kind: &str,
) -> Response {
    let now = state.now();
    let member = member_urn(record);
    let today = now.date_naive();
    let today_posts = || {
        state
            .posts
            .iter()
            .filter(|p| p.created_at.date_naive() == today)
    };
    let app_posted_today = today_posts().count() as u32;
    let posted_today = today_posts().filter(|p| p.created_by == member).count() as u32;
    if posted_today >= state.config.member_daily_post_limit
        || app_posted_today >= state.config.app_daily_post_limit
    {
        // A daily limit, the member's or the application's (the answer does not say which):
        // no Retry-After; it resets at midnight UTC.
        let mut refused = api_error(
            429,
            Some(101),
            None,
            "Resource level throttle limit for calls to this resource is reached.",
        );
        if let Some(after) = state.config.daily_limit_retry_after {
            refused.headers_mut().insert(
                "retry-after",
                after.as_secs().max(1).to_string().parse().expect("digits"),
            );
        }
        return refused;
    }
    let Accepted { media, content } = accepted;
    // Every medium must be the author's own upload, and processed.
    for id in &media {
        match super::media::check_media_for_post(state, id, &author) {
            Ok(true) => continue,
            Ok(false) => {}
            Err(refused) => return refused,
        }
        let status = uploaded(state, id, now)
            .filter(|(owner, _)| *owner == author)
            .map(|(_, status)| status);
        match status {
            Some(ImageStatus::Available) => {}
            // Uploaded by the author but not processed yet: LinkedIn says to try again later.
            Some(ImageStatus::WaitingUpload | ImageStatus::Processing) => {
                return api_error(
                    400,
                    None,
                    Some("MEDIA_ASSET_WAITING_UPLOAD"),
                    &format!("Media {id} is not ready yet; retry once it is AVAILABLE"),
                )
            }
            Some(ImageStatus::ProcessingFailed) | None => {
                return api_error(
                    400,
                    None,
                    Some("INVALID_CONTENT"),
                    &format!("Media {id} is not available for author {author}"),
                )
            }
        }
    }
    let commentary = store_little_text(text);
    // The same content from the same author is a duplicate, also for a while after a delete.
    if let Some(existing) = state.posts.iter().find(|p| {
        p.author == author
            && p.commentary == commentary
            && p.media == media
            && p.content == content
            && p.deleted_at
                .is_none_or(|d| now - d < chrono::Duration::hours(48))
    }) {
        return api_error(
            422,
            None,
            Some("DUPLICATE_POST"),
            &format!("Content is a duplicate of {}", existing.urn),
        );
    }
    state.next_post_id += 1;
    let urn = format!(
        "urn:li:{urn_kind}:{}",
        7_000_000_000_000_000_000u64 + state.next_post_id
    );
    state.posts.push(SimPost {
        urn: urn.clone(),
        author,
        commentary,
        media,
        content,
        visibility,
        created_by: member,
        created_at: now,
        deleted_at: None,
    });
    (StatusCode::CREATED, [("x-restli-id", urn.as_str())]).into_response()
}

fn bad(message: &str) -> Response {
    api_error(400, None, Some("INVALID_REQUEST"), message)
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter()
        .try_fold(v, |v, k| v.get(*k))
        .and_then(Value::as_str)
}

/// `POST /rest/posts`.
pub(crate) async fn create_rest(
    State(shared): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut state = shared.lock();
    let record = match versioned_caller(&state, &headers) {
        Ok(r) => r,
        Err(e) => return e,
    };
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return bad("Request body is not JSON");
    };
    let (Some(author), Some(commentary)) =
        (str_at(&body, &["author"]), str_at(&body, &["commentary"]))
    else {
        return bad("author and commentary are required");
    };
    if str_at(&body, &["lifecycleState"]) != Some("PUBLISHED") {
        return bad("lifecycleState must be PUBLISHED");
    }
    let visibility = str_at(&body, &["visibility"])
        .unwrap_or_default()
        .to_owned();
    if !matches!(visibility.as_str(), "PUBLIC" | "CONNECTIONS" | "LOGGED_IN") {
        return bad("visibility must be PUBLIC, CONNECTIONS or LOGGED_IN");
    }
    if str_at(&body, &["distribution", "feedDistribution"]).is_none() {
        return bad("distribution.feedDistribution is required");
    }
    let accepted = match post_content::rest(body.get("content")) {
        Ok(a) => a,
        Err(e) => return e,
    };
    if let Err(e) = may_act_as(&state, &record, author, "posts.CREATE") {
        return e;
    }
    let (author, commentary) = (author.to_owned(), commentary.to_owned());
    create(
        &mut state,
        &record,
        author,
        &commentary,
        accepted,
        visibility,
        "share",
    )
}

/// `POST /v2/ugcPosts` (ShareContent).
pub(crate) async fn create_ugc(
    State(shared): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut state = shared.lock();
    let record = match authenticate(&state, &headers) {
        Ok(r) => r,
        Err(e) => return e,
    };
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return bad("Request body is not JSON");
    };
    let share = &body["specificContent"]["com.linkedin.ugc.ShareContent"];
    let (Some(author), Some(text)) = (
        str_at(&body, &["author"]),
        str_at(share, &["shareCommentary", "text"]),
    ) else {
        return bad("author and specificContent.com.linkedin.ugc.ShareContent.shareCommentary.text are required");
    };
    if str_at(&body, &["lifecycleState"]) != Some("PUBLISHED") {
        return bad("lifecycleState must be PUBLISHED");
    }
    let visibility = str_at(
        &body,
        &["visibility", "com.linkedin.ugc.MemberNetworkVisibility"],
    )
    .unwrap_or_default()
    .to_owned();
    if !matches!(visibility.as_str(), "PUBLIC" | "CONNECTIONS") {
        return bad(
            "visibility.com.linkedin.ugc.MemberNetworkVisibility must be PUBLIC or CONNECTIONS",
        );
    }
    let accepted = match post_content::ugc(share) {
        Ok(a) => a,
        Err(e) => return e,
    };
    if let Err(e) = may_act_as(&state, &record, author, "ugcPosts.CREATE.NO_VERSION") {
        return e;
    }
    let author = author.to_owned();
    create(
        &mut state, &record, author, text, accepted, visibility, "ugcPost",
    )
}

/// `DELETE /rest/posts/{urn}` and `/v2/ugcPosts/{urn}`: 204, also when already deleted.
pub(crate) async fn delete(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Path(urn): Path<String>,
) -> Response {
    let mut state = shared.lock();
    let record = match authenticate(&state, &headers) {
        Ok(r) => r,
        Err(e) => return e,
    };
    let now = state.now();
    let Some(index) = state.posts.iter().position(|p| p.urn == urn) else {
        return api_error(
            404,
            None,
            Some("NOT_FOUND"),
            &format!("Post {urn} not found"),
        );
    };
    let author = state.posts[index].author.clone();
    if let Err(e) = may_act_as(&state, &record, &author, "posts.DELETE") {
        return e;
    }
    state.posts[index].deleted_at.get_or_insert(now);
    StatusCode::NO_CONTENT.into_response()
}

fn new_upload(state: &mut SimState, owner: &str, urn_kind: &str) -> (String, String) {
    state.next_image_id += 1;
    let urn = format!("urn:li:{urn_kind}:C4E{:012}", state.next_image_id);
    let token = super::new_secret("up", 24);
    state.images.insert(
        urn.clone(),
        SimImage {
            urn: urn.clone(),
            owner: owner.to_owned(),
            upload_token: token.clone(),
            uploaded_at: None,
            bytes: 0,
            failed: false,
        },
    );
    let upload_url = state
        .media_base_url
        .join(&format!("/_media/upload/{token}"))
        .expect("valid");
    (urn, upload_url.to_string())
}

/// `POST /rest/images?action=initializeUpload`.
pub(crate) async fn initialize_image_upload(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let mut state = shared.lock();
    let record = match versioned_caller(&state, &headers) {
        Ok(r) => r,
        Err(e) => return e,
    };
    if query.get("action").map(String::as_str) != Some("initializeUpload") {
        return bad("action must be initializeUpload");
    }
    let body: Value = serde_json::from_slice(&body).unwrap_or_default();
    let Some(owner) = str_at(&body, &["initializeUploadRequest", "owner"]).map(str::to_owned)
    else {
        return bad("initializeUploadRequest.owner is required");
    };
    if let Err(e) = may_act_as(&state, &record, &owner, "images.ACTION-initializeUpload") {
        return e;
    }
    let (image, upload_url) = new_upload(&mut state, &owner, "image");
    let expires = (state.now() + chrono::Duration::hours(1)).timestamp_millis();
    Json(json!({ "value": { "uploadUrlExpiresAt": expires, "uploadUrl": upload_url, "image": image } })).into_response()
}

/// `GET /rest/images/{urn}`.
pub(crate) async fn get_image(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Path(urn): Path<String>,
) -> Response {
    let state = shared.lock();
    if let Err(e) = check_version(&state, &headers) {
        return e;
    }
    if let Err(e) = authenticate(&state, &headers) {
        return e;
    }
    match state.images.get(&urn) {
        Some(image) => Json(json!({
            "id": image.urn,
            "owner": image.owner,
            "status": status_name(image.status(state.now(), state.config.media_processing)),
        }))
        .into_response(),
        None => api_error(
            404,
            None,
            Some("NOT_FOUND"),
            &format!("Image {urn} not found"),
        ),
    }
}

/// `POST /v2/assets?action=registerUpload`.
pub(crate) async fn register_upload(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let mut state = shared.lock();
    let record = match authenticate(&state, &headers) {
        Ok(r) => r,
        Err(e) => return e,
    };
    if query.get("action").map(String::as_str) != Some("registerUpload") {
        return bad("action must be registerUpload");
    }
    let body: Value = serde_json::from_slice(&body).unwrap_or_default();
    let request = &body["registerUploadRequest"];
    let recipe_ok = request["recipes"].as_array().is_some_and(|r| {
        r.iter()
            .any(|r| r == "urn:li:digitalmediaRecipe:feedshare-image")
    });
    let Some(owner) = str_at(request, &["owner"])
        .map(str::to_owned)
        .filter(|_| recipe_ok)
    else {
        return bad("registerUploadRequest needs owner and the feedshare-image recipe");
    };
    if let Err(e) = may_act_as(&state, &record, &owner, "assets.ACTION-registerUpload") {
        return e;
    }
    let (asset, upload_url) = new_upload(&mut state, &owner, "digitalmediaAsset");
    Json(json!({ "value": {
        "uploadMechanism": { "com.linkedin.digitalmedia.uploading.MediaUploadHttpRequest": { "headers": {}, "uploadUrl": upload_url } },
        "mediaArtifact": format!("urn:li:digitalmediaMediaArtifact:({asset},urn:li:digitalmediaMediaArtifactClass:feedshare-uploadedImage)"),
        "asset": asset,
    }}))
    .into_response()
}

/// `GET /v2/assets/{id}`: the asset's recipe status.
pub(crate) async fn get_asset(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let state = shared.lock();
    if let Err(e) = authenticate(&state, &headers) {
        return e;
    }
    let urn = if id.starts_with("urn:") {
        id
    } else {
        format!("urn:li:digitalmediaAsset:{id}")
    };
    match state.images.get(&urn) {
        Some(image) => {
            let status = status_name(image.status(state.now(), state.config.media_processing));
            Json(json!({ "id": urn, "recipes": [{ "recipe": "urn:li:digitalmediaRecipe:feedshare-image", "status": status }] }))
                .into_response()
        }
        None => api_error(
            404,
            None,
            Some("NOT_FOUND"),
            &format!("Asset {urn} not found"),
        ),
    }
}

/// `PUT {uploadUrl}`: only on the media host LinkedIn named, with an image's bytes.
pub(crate) async fn upload(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Path(token): Path<String>,
    body: Bytes,
) -> Response {
    let mut state = shared.lock();
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    let expected = state
        .media_base_url
        .host_str()
        .unwrap_or_default()
        .to_owned();
    if !host.starts_with(&expected) {
        // An uploadUrl rebuilt on another host does not exist.
        return api_error(404, None, None, "No such upload on this host");
    }
    let now = state.now();
    let Some(image) = state.images.values_mut().find(|i| i.upload_token == token) else {
        return api_error(404, None, None, "Unknown upload");
    };
    let is_image = body.starts_with(&[0xFF, 0xD8, 0xFF])
        || body.starts_with(b"\x89PNG\r\n\x1a\n")
        || body.starts_with(b"GIF87a")
        || body.starts_with(b"GIF89a");
    image.bytes = body.len();
    image.failed = !is_image;
    image.uploaded_at = Some(now);
    StatusCode::CREATED.into_response()
}
