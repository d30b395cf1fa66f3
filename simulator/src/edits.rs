//! Editing, reading and commenting on posts (linkedin-api.md, "Editing and reading" and
//! "Comments"): `POST /rest/posts/{encoded urn}` as PARTIAL_UPDATE of the commentary only,
//! `GET /rest/posts/{encoded urn}` under the read scopes, and the author's comments under
//! `/rest/socialActions/{encoded urn}/comments`, which a fresh post refuses with 404 for a while.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::posts::{has, may_act_as, member_urn, store_little_text, SimPost};
use super::rest::{api_error, versioned_caller};
use super::{AccessRecord, Shared, SimState};

/// One commentary edit as LinkedIn applied it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SimEdit {
    /// As sent (little text, escaped).
    pub raw: String,
    /// As stored: what the feed shows.
    pub commentary: String,
    pub previous: String,
    pub at: DateTime<Utc>,
}

/// A comment on a post.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SimComment {
    pub urn: String,
    pub post: String,
    pub actor: String,
    /// As stored (little text applied).
    pub text: String,
    pub at: DateTime<Utc>,
}

fn bad(message: &str) -> Response {
    api_error(400, None, Some("INVALID_REQUEST"), message)
}

fn not_found(urn: &str) -> Response {
    api_error(
        404,
        None,
        Some("NOT_FOUND"),
        &format!("Post {urn} not found"),
    )
}

fn denied(resource: &str) -> Response {
    api_error(
        403,
        Some(100),
        Some("ACCESS_DENIED"),
        &format!("Not enough permissions to access: {resource}"),
    )
}

/// URNs in a path must be percent-encoded (Rest.li); axum decodes them, so the raw path is
/// checked.
fn encoded_in_path(uri: &Uri, prefix: &str) -> Result<(), Response> {
    let raw = uri.path().strip_prefix(prefix).unwrap_or_default();
    let segment = raw.split('/').next().unwrap_or_default();
    if segment.contains(':') {
        return Err(bad("Syntax exception in path variables"));
    }
    Ok(())
}

/// The post, live, or LinkedIn's 404.
fn live_post<'a>(state: &'a SimState, urn: &str) -> Result<(usize, &'a SimPost), Response> {
    state
        .posts
        .iter()
        .enumerate()
        .find(|(_, p)| p.urn == urn && p.deleted_at.is_none())
        .ok_or_else(|| not_found(urn))
}

/// The commentary in little text, as LinkedIn answers a read: what was last sent if it was an
/// edit, else the stored text escaped again.
fn little_text_of(state: &SimState, post: &SimPost) -> String {
    state
        .post_edits
        .get(&post.urn)
        .and_then(|edits| edits.last())
        .map(|e| e.raw.clone())
        .unwrap_or_else(|| escape(&post.commentary))
}

fn escape(text: &str) -> String {
    const RESERVED: &[char] = &[
        '\\', '|', '{', '}', '@', '[', ']', '(', ')', '<', '>', '#', '*', '_', '~',
    ];
    let mut out = String::new();
    for c in text.chars() {
        if RESERVED.contains(&c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `POST /rest/posts/{encoded urn}` with `X-RestLi-Method: PARTIAL_UPDATE`: only the
/// commentary may be `$set`; 204.
pub(crate) async fn partial_update(
    State(shared): State<Shared>,
    headers: HeaderMap,
    uri: Uri,
    Path(urn): Path<String>,
    body: Bytes,
) -> Response {
    let mut state = shared.lock();
    let record = match versioned_caller(&state, &headers) {
        Ok(r) => r,
        Err(e) => return e,
    };
    if let Err(e) = encoded_in_path(&uri, "/rest/posts/") {
        return e;
    }
    let method = headers
        .get("x-restli-method")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !method.eq_ignore_ascii_case("PARTIAL_UPDATE") {
        // A POST to an entity without the method header is not a create either.
        return bad("X-RestLi-Method must be PARTIAL_UPDATE to update a post");
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return bad("Request body is not JSON");
    };
    let Some(set) = body
        .get("patch")
        .and_then(|p| p.get("$set"))
        .and_then(Value::as_object)
    else {
        return bad("patch.$set is required");
    };
    if let Some(other) = set.keys().find(|k| *k != "commentary") {
        return bad(&format!(
            "Field {other} cannot be updated; only commentary can be changed"
        ));
    }
    if body
        .get("patch")
        .and_then(Value::as_object)
        .is_some_and(|p| p.keys().any(|k| k != "$set"))
    {
        return bad("Only $set of commentary is supported");
    }
    let Some(raw) = set.get("commentary").and_then(Value::as_str) else {
        return bad("patch.$set.commentary must be a string");
    };
    let (index, post) = match live_post(&state, &urn) {
        Ok(found) => found,
        Err(e) => return e,
    };
    let author = post.author.clone();
    if author.starts_with("urn:li:person:") && author != member_urn(&record) {
        // Another member's post.
        return denied("posts.PARTIAL_UPDATE");
    }
    if let Err(e) = may_act_as(&state, &record, &author, "posts.PARTIAL_UPDATE") {
        return e;
    }
    let now = state.now();
    let commentary = store_little_text(raw);
    let previous = std::mem::replace(&mut state.posts[index].commentary, commentary.clone());
    state.post_edits.entry(urn).or_default().push(SimEdit {
        raw: raw.to_owned(),
        commentary,
        previous,
        at: now,
    });
    StatusCode::NO_CONTENT.into_response()
}

/// Whether the token may read `post`: organization posts with r_organization_social or
/// rw_organization_admin and a role on the organization; member posts only with the closed
/// r_member_social.
fn may_read(state: &SimState, record: &AccessRecord, post: &SimPost) -> bool {
    if post.author.starts_with("urn:li:organization:") {
        let role = state
            .member(&record.member_sub)
            .is_some_and(|m| m.organizations.iter().any(|(org, _)| *org == post.author));
        role && (has(record, "r_organization_social") || has(record, "rw_organization_admin"))
    } else {
        has(record, "r_member_social")
    }
}

/// `GET /rest/posts/{encoded urn}`.
pub(crate) async fn get_post(
    State(shared): State<Shared>,
    headers: HeaderMap,
    uri: Uri,
    Path(urn): Path<String>,
) -> Response {
    let state = shared.lock();
    let record = match versioned_caller(&state, &headers) {
        Ok(r) => r,
        Err(e) => return e,
    };
    if let Err(e) = encoded_in_path(&uri, "/rest/posts/") {
        return e;
    }
    let post = match live_post(&state, &urn) {
        Ok((_, post)) => post,
        Err(e) => return e,
    };
    if !may_read(&state, &record, post) {
        return denied("posts.GET");
    }
    Json(json!({
        "id": post.urn,
        "author": post.author,
        "commentary": little_text_of(&state, post),
        "visibility": post.visibility,
        "lifecycleState": "PUBLISHED",
        "createdAt": post.created_at.timestamp_millis(),
        "lastModifiedAt": state
            .post_edits
            .get(&post.urn)
            .and_then(|e| e.last())
            .map_or(post.created_at, |e| e.at)
            .timestamp_millis(),
    }))
    .into_response()
}

/// `POST /rest/socialActions/{encoded urn}/comments` `{actor, object, message:{text}}`: 201
/// with the comment's URN in `x-restli-id`.
pub(crate) async fn create_comment(
    State(shared): State<Shared>,
    headers: HeaderMap,
    uri: Uri,
    Path(urn): Path<String>,
    body: Bytes,
) -> Response {
    let mut state = shared.lock();
    let record = match versioned_caller(&state, &headers) {
        Ok(r) => r,
        Err(e) => return e,
    };
    if let Err(e) = encoded_in_path(&uri, "/rest/socialActions/") {
        return e;
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return bad("Request body is not JSON");
    };
    let field = |path: &[&str]| {
        path.iter()
            .try_fold(&body, |v, k| v.get(*k))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let (Some(actor), Some(object), Some(text)) = (
        field(&["actor"]),
        field(&["object"]),
        field(&["message", "text"]),
    ) else {
        return bad("actor, object and message.text are required");
    };
    if object != urn {
        return bad("object must be the post the comment is on");
    }
    let allowed = if actor == member_urn(&record) {
        has(&record, "w_member_social_feed")
    } else if actor.starts_with("urn:li:organization:") {
        let role = state.member(&record.member_sub).is_some_and(|m| {
            m.organizations.iter().any(|(org, role)| {
                *org == actor
                    && matches!(
                        role.as_str(),
                        "ADMINISTRATOR"
                            | "DIRECT_SPONSORED_CONTENT_POSTER"
                            | "CONTENT_ADMIN"
                            | "CONTENT_ADMINISTRATOR"
                    )
            })
        });
        role && has(&record, "w_organization_social_feed")
    } else {
        false
    };
    if !allowed {
        return denied("socialActions.comments.CREATE");
    }
    let now = state.now();
    let created_at = match live_post(&state, &urn) {
        Ok((_, post)) => post.created_at,
        Err(e) => return e,
    };
    let fresh =
        chrono::Duration::from_std(state.config.comment_unavailable_after_post).unwrap_or_default();
    if now - created_at < fresh {
        // A fresh post is not yet known to the social actions service.
        return not_found(&urn);
    }
    state.next_comment_id += 1;
    let activity = urn.rsplit(':').next().unwrap_or_default().to_owned();
    let comment = format!(
        "urn:li:comment:(urn:li:activity:{activity},{})",
        6_000_000_000_000_000_000u64 + state.next_comment_id
    );
    state.comments.push(SimComment {
        urn: comment.clone(),
        post: urn,
        actor,
        text: store_little_text(&text),
        at: now,
    });
    (StatusCode::CREATED, [("x-restli-id", comment.as_str())]).into_response()
}
