//! `POST /v1/posts/{id}/approve` and `/reject`: the tenant's decision on a post created with
//! `requires_approval` (see [`connector::domain::posts`]'s approval rules). Each is one
//! conditional write of the post, so an approve, a reject, a cancel and the expiry at the
//! post's time race to exactly one end.

use chrono::Utc;
use connector::domain::posts::{Post, PostId, PostStatus};
use connector::http::{self, ApiError};
use connector::store::StoreError;
use connector::views::PostView;
use lambda_http::{Body, Request, Response};
use tracing::{info, warn};

use crate::{store_error, ApiService};

#[utoipa::path(
    post,
    path = "/v1/posts/{id}/approve",
    operation_id = "approve_post",
    tag = "posts",
    params(("id" = uuid::Uuid, Path, description = "The post")),
    responses((status = 200, description = "Approved: scheduled or queued", body = connector::views::PostView), (status = 404, description = "No such post of the tenant", body = connector::http::ErrorBody), (status = 409, description = "Decided already, or its time has come", body = connector::http::ErrorBody)),
)]
/// Approved: a post for later is `scheduled` (its schedule is already there), a post for now
/// is `queued` and goes on the queue (if the queue refuses, the approval is taken back: 503).
pub async fn approve(
    request: &Request,
    service: &ApiService,
    raw_id: &str,
) -> Result<Response<Body>, ApiError> {
    let (post, now) = (pending(request, service, raw_id).await?, Utc::now());
    let next = post
        .approve(now)
        .map_err(|reason| ApiError::Conflict(reason.into()))?;
    service.posts.replace(&next).await.map_err(lost_race)?;
    if next.status == PostStatus::Queued {
        if let Err(e) = service.queue.enqueue(&next.publish_job(now)).await {
            let back = next.back_to(&post, Utc::now());
            if let Err(undo) = service.posts.replace(&back).await {
                // Queued with no job: the reconciler's sweep of stranded posts queues it.
                warn!(post_id = %post.id, error = %undo, "could not take back an approval whose job was not queued");
            }
            return Err(ApiError::Unavailable(
                anyhow::Error::new(e).context("enqueueing an approved post"),
            ));
        }
    }
    forget_reminder(service, &next).await;
    info!(post_id = %post.id, status = next.status.as_str(), "post approved");
    Ok(http::json(200, &PostView::from(&next)))
}

#[utoipa::path(
    post,
    path = "/v1/posts/{id}/reject",
    operation_id = "reject_post",
    tag = "posts",
    params(("id" = uuid::Uuid, Path, description = "The post")),
    responses((status = 200, description = "Rejected", body = connector::views::PostView), (status = 404, description = "No such post of the tenant", body = connector::http::ErrorBody), (status = 409, description = "Decided already, or its time has come", body = connector::http::ErrorBody)),
)]
/// Rejected: it never goes out; its schedules are deleted (a firing finds it rejected).
pub async fn reject(
    request: &Request,
    service: &ApiService,
    raw_id: &str,
) -> Result<Response<Body>, ApiError> {
    let post = pending(request, service, raw_id).await?;
    let next = post
        .reject(Utc::now())
        .map_err(|reason| ApiError::Conflict(reason.into()))?;
    service.posts.replace(&next).await.map_err(lost_race)?;
    if post.scheduled_at.is_some() {
        if let Err(e) = service.scheduler.unschedule_post(post.id).await {
            warn!(post_id = %post.id, error = %e, "could not delete a rejected post's schedule; its firing will do nothing");
        }
    }
    forget_reminder(service, &next).await;
    info!(post_id = %post.id, "post rejected");
    Ok(http::json(200, &PostView::from(&next)))
}

/// Deletes a post's approval reminder once it no longer waits (best effort: a reminder that
/// fires anyway finds the post decided and does nothing).
pub(crate) async fn forget_reminder(service: &ApiService, post: &Post) {
    if post.scheduled_at.is_none() {
        return;
    }
    if let Err(e) = service
        .scheduler
        .unschedule_approval_reminder(post.id)
        .await
    {
        warn!(post_id = %post.id, error = %e, "could not delete an approval reminder; its firing will do nothing");
    }
}

async fn pending(request: &Request, service: &ApiService, raw_id: &str) -> Result<Post, ApiError> {
    let tenant = http::tenant_of(request)?;
    let id = PostId::parse(raw_id).ok_or(ApiError::NotFound("post"))?;
    service
        .posts
        .get(&tenant, id)
        .await
        .map_err(store_error("reading a post"))?
        .ok_or(ApiError::NotFound("post"))
}

fn lost_race(e: StoreError) -> ApiError {
    match e {
        StoreError::Conflict(_) => ApiError::Conflict(
            "the post changed meanwhile (approved, rejected, cancelled or expired); read it again"
                .into(),
        ),
        e => store_error("deciding on a post")(e),
    }
}
