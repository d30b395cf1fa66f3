//! `PATCH /v1/posts/{id}`: `{text}` edits a post, `{scheduled_at}` moves a scheduled one (see
//! `requests::edit` for the request's rules).
//!
//! A scheduled or queued post is edited in its record (a version-conditional write) before it
//! goes out. A published post's edit is recorded as pending and carried out at LinkedIn by an
//! edit job on the publish queue, like a delete (202). The legacy ugcPosts API has no edit, so
//! a deployment on that dialect refuses to edit a published post. Races: see
//! `connector::domain::posts::EditDecision` (one write wins; the loser is told to retry).

use chrono::Utc;
use connector::config::PostsApi;
use connector::domain::posts::{EditDecision, PostStatus};
use connector::http::{self, ApiError};
use connector::store::StoreError;
use lambda_http::{Body, Request, Response};
use tracing::{info, warn};

use crate::requests::{PostChange, PostPatch};
use crate::{posts, store_error, ApiService};
use connector::views::PostView;

#[utoipa::path(
    patch,
    path = "/v1/posts/{id}",
    operation_id = "update_post",
    tag = "posts",
    params(("id" = uuid::Uuid, Path, description = "The post")),
    request_body = PostPatch,
    responses((status = 200, description = "Moved, or edited before it went out", body = connector::views::PostView), (status = 202, description = "A published post: the edit goes to LinkedIn (`pending_edit`)", body = connector::views::PostView), (status = 400, description = "A bad change, or both at once", body = connector::http::ErrorBody), (status = 404, description = "No such post of the tenant", body = connector::http::ErrorBody), (status = 409, description = "The post cannot change now", body = connector::http::ErrorBody)),
)]
pub async fn patch(
    request: &Request,
    service: &ApiService,
    raw_id: &str,
) -> Result<Response<Body>, ApiError> {
    let tenant = http::tenant_of(request)?;
    let body: PostPatch = http::json_body(request)?;
    let text = match body
        .validate(Utc::now())
        .map_err(|i| ApiError::validation(i.field, i.message))?
    {
        PostChange::Move(_) => return posts::reschedule(request, service, raw_id).await,
        PostChange::Text(text) => text,
    };
    let id = connector::domain::posts::PostId::parse(raw_id).ok_or(ApiError::NotFound("post"))?;
    let post = service
        .posts
        .get(&tenant, id)
        .await
        .map_err(store_error("reading a post"))?
        .ok_or(ApiError::NotFound("post"))?;
    if post.status == PostStatus::Published && service.posts_api == PostsApi::Ugc {
        return Err(ApiError::validation(
            "text",
            "this deployment publishes through LinkedIn's legacy ugcPosts API (LINKEDIN_POSTS_API=ugc), which cannot edit a published post; delete it and publish a new one",
        ));
    }
    let now = Utc::now();
    match post.request_edit(&text, now) {
        EditDecision::Local(next) => {
            service.posts.replace(&next).await.map_err(conflict)?;
            info!(post_id = %id, status = next.status.as_str(), "post edited before publishing");
            Ok(http::json(200, &PostView::from(&next)))
        }
        EditDecision::AtLinkedIn(next) => {
            service.posts.replace(&next).await.map_err(conflict)?;
            // A job per request, even with one pending: whichever runs sends the text pending
            // then, so no edit is left without a job whatever the races.
            if let Err(e) = service.queue.enqueue(&next.edit_job(now)).await {
                let undo = next.edit_withdrawn(&post, Utc::now());
                if let Err(u) = service.posts.replace(&undo).await {
                    warn!(post_id = %id, error = %u, "could not undo an edit that was never enqueued");
                }
                return Err(ApiError::Unavailable(
                    anyhow::Error::new(e).context("enqueueing the edit"),
                ));
            }
            info!(post_id = %id, "edit at LinkedIn queued");
            Ok(http::json(202, &PostView::from(&next)))
        }
        EditDecision::Unchanged => Ok(http::json(200, &PostView::from(&post))),
        EditDecision::Refuse(reason) => Err(ApiError::Conflict(reason.into())),
    }
}

/// A lost race on the post's version is the caller's to retry.
fn conflict(e: StoreError) -> ApiError {
    match e {
        StoreError::Conflict(_) => {
            ApiError::Conflict("the post changed meanwhile; try again".into())
        }
        e => store_error("updating a post")(e),
    }
}
