//! `/v1/posts`: publish now or at a time, move, read, list, cancel or delete.

use chrono::Utc;
use connector::domain::posts::{
    publish_day, warnings, DeleteDecision, Job, JobAction, Post, PostId, PostStatus,
};
use connector::domain::ConnectionId;
use connector::http::{self, ApiError};
use connector::store::{Recorded, StoreError};
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;
use tracing::{info, warn};

use crate::requests::{IdempotencyKey, PostMove, PostRequest};
use crate::{dependency_failure, page_limit, store_error, ApiService};
use connector::views::{PostAccepted, PostView};

const IDEMPOTENCY_HEADER: &str = "idempotency-key";

fn idempotency_key(request: &Request) -> Result<Option<IdempotencyKey>, ApiError> {
    request
        .headers()
        .get(IDEMPOTENCY_HEADER)
        .map(|value| IdempotencyKey::parse(value.as_bytes()))
        .transpose()
        .map_err(|i| ApiError::validation(i.field, i.message))
}

/// The same request twice hashes the same, whatever its key order or spacing.
fn request_hash(request: &Request) -> String {
    let canonical = serde_json::from_slice::<serde_json::Value>(request.body().as_ref())
        .map(|v| v.to_string())
        .unwrap_or_default();
    http::sha256_hex(canonical.as_bytes())
}

#[utoipa::path(
    post,
    path = "/v1/posts",
    operation_id = "create_post",
    tag = "posts",
    params(("Idempotency-Key" = Option<String>, Header, description = "The same key with the same body answers the first acceptance again")),
    request_body = PostRequest,
    responses((status = 202, description = "Accepted: queued, scheduled or pending approval", body = connector::views::PostAccepted), (status = 400, description = "A field broke a rule (named in `error.field`); nothing recorded", body = connector::http::ErrorBody), (status = 409, description = "The idempotency key was used with another body", body = connector::http::ErrorBody), (status = 413, description = "The body is over 256 KB", body = connector::http::ErrorBody)),
)]
pub async fn create(request: &Request, service: &ApiService) -> Result<Response<Body>, ApiError> {
    let tenant = http::tenant_of(request)?;
    let body = PostRequest::from_body(http::bounded_body(request)?)
        .map_err(|i| ApiError::validation(i.field, i.message))?;
    let key = idempotency_key(request)?;
    let connection_id = body
        .connection_id()
        .map_err(|i| ApiError::validation(i.field, i.message))?;
    let connection = service
        .connections
        .get_connection(&tenant, connection_id)
        .await
        .map_err(store_error("reading the post's connection"))?;
    let now = Utc::now();
    let mut draft = body
        .validate(connection.as_ref(), service.posts_api, now)
        .map_err(|i| ApiError::validation(i.field, i.message))?;
    if let (Some(at), Some(connection)) = (draft.scheduled_at, connection.as_ref()) {
        // What may stop a post for later is said now, while the tenant can act on it.
        let that_day = service
            .limits
            .member_posts_on(&tenant, connection_id, publish_day(Some(at), now))
            .await
            .map_err(store_error("reading the member's posts of the day"))?;
        draft.warnings = warnings(&draft, connection, that_day);
    }

    let post = Post::new(PostId::new(), tenant.clone(), draft, now);
    let hash = request_hash(request);
    let recorded = service
        .posts
        .record(
            &post,
            key.as_ref().map(|k| (k.as_str(), hash.as_str())),
            &service.tenant_limits,
        )
        .await
        .map_err(store_error("recording the post"))?;
    match recorded {
        Recorded::Created => {}
        Recorded::Limited(reached) => {
            info!(limit = reached.limit.name(), "tenant limit reached");
            return Err(ApiError::limit_reached(reached, &service.tenant_limits));
        }
        Recorded::Replayed(existing) => {
            info!(post_id = %existing.id, "idempotent replay");
            return Ok(http::json(202, &PostAccepted::from(&*existing)));
        }
        Recorded::KeyReused => {
            return Err(ApiError::Conflict(
                "this Idempotency-Key was already used with a different request".into(),
            ))
        }
    }

    // A post for later gets its one-time schedule; a post for now goes on the queue. Either
    // way, if that fails the record is taken back: nothing may claim to be scheduled or queued
    // that will never run.
    // A post waiting for approval goes nowhere yet; one for later still gets its schedule (its
    // firing expires it unless it was approved) and a reminder an hour before.
    let handed_over = match post.scheduled_at {
        Some(_) => schedule(service, &post, now).await,
        None if post.status == PostStatus::PendingApproval => Ok(()),
        None => service
            .queue
            .enqueue(&post.publish_job(now).carrying(&post))
            .await
            .map_err(|e| {
                ApiError::Unavailable(anyhow::Error::new(e).context("enqueueing the post"))
            }),
    };
    if let Err(e) = handed_over {
        if let Err(undo) = service
            .posts
            .withdraw(&post, key.as_ref().map(IdempotencyKey::as_str))
            .await
        {
            tracing::error!(post_id = %post.id, error = %undo, "could not withdraw a post that was never handed over; the reconciler will find it if it was scheduled");
        }
        return Err(e);
    }
    info!(
        post_id = %post.id,
        connection_id = %post.connection_id,
        author = %post.author,
        scheduled_at = ?post.scheduled_at,
        status = post.status.as_str(),
        "post accepted"
    );
    Ok(http::json(202, &PostAccepted::from(&post)))
}

/// The post's schedule, and its approval reminder when it waits for one.
async fn schedule(
    service: &ApiService,
    post: &Post,
    now: chrono::DateTime<Utc>,
) -> Result<(), ApiError> {
    let failed = |context: &'static str| {
        move |e: connector::schedules::ScheduleError| {
            dependency_failure(e.is_retryable(), anyhow::Error::new(e).context(context))
        }
    };
    service
        .scheduler
        .schedule_post(post, connector::schedules::Expect::New)
        .await
        .map_err(failed("scheduling the post"))?;
    service
        .scheduler
        .schedule_approval_reminder(post, now)
        .await
        .map_err(failed("scheduling the approval reminder"))
}

/// `PATCH /v1/posts/{id}` with `{scheduled_at}`: moves a scheduled post. The record moves
/// first, then its schedule is replaced (same name, so never two); if the schedule cannot be
/// replaced the record moves back, and a schedule firing for the old time takes nothing.
pub async fn reschedule(
    request: &Request,
    service: &ApiService,
    raw_id: &str,
) -> Result<Response<Body>, ApiError> {
    let tenant = http::tenant_of(request)?;
    let id = post_id(raw_id)?;
    let body: PostMove = http::json_body(request)?;
    let now = Utc::now();
    let at = body
        .validate(now)
        .map_err(|i| ApiError::validation(i.field, i.message))?;
    let post = service
        .posts
        .get(&tenant, id)
        .await
        .map_err(store_error("reading a post"))?
        .ok_or(ApiError::NotFound("post"))?;
    let Some(moved) = post.moved(at, now) else {
        return Err(ApiError::Conflict(format!(
            "the post is {}; only a scheduled post can be moved",
            post.status.as_str()
        )));
    };
    service.posts.replace(&moved).await.map_err(conflict)?;
    if let Err(e) = service
        .scheduler
        .schedule_post(&moved, connector::schedules::Expect::Existing)
        .await
    {
        // Two systems changed: the schedule may have moved with its answer lost. Ask it
        // rather than assume, so record and schedule agree either way.
        if let Ok(Some(fires_for)) = service.scheduler.post_schedule_time(id).await {
            if fires_for == at {
                info!(post_id = %id, scheduled_at = %at, error = %e, "post moved (the schedule's answer was lost, but it moved)");
                return Ok(http::json(200, &PostView::from(&moved)));
            }
        }
        let back = moved.moved_back(&post, Utc::now());
        if let Err(undo) = service.posts.replace(&back).await {
            warn!(post_id = %id, error = %undo, "could not move a post back after its schedule failed; the reconciler will publish it at the new time");
        }
        return Err(dependency_failure(
            e.is_retryable(),
            anyhow::Error::new(e).context("moving the post's schedule"),
        ));
    }
    info!(post_id = %id, scheduled_at = %at, "post moved");
    Ok(http::json(200, &PostView::from(&moved)))
}

/// A lost race on a post's version is the caller's to retry; the rest is a store failure.
fn conflict(e: StoreError) -> ApiError {
    match e {
        StoreError::Conflict(_) => {
            ApiError::Conflict("the post changed meanwhile; try again".into())
        }
        e => store_error("updating a post")(e),
    }
}

pub(crate) fn post_id(raw: &str) -> Result<PostId, ApiError> {
    PostId::parse(raw).ok_or(ApiError::NotFound("post"))
}

#[utoipa::path(
    get,
    path = "/v1/posts/{id}",
    operation_id = "get_post",
    tag = "posts",
    params(("id" = uuid::Uuid, Path, description = "The post")),
    responses((status = 200, description = "The post", body = connector::views::PostView), (status = 404, description = "No such post of the tenant", body = connector::http::ErrorBody)),
)]
pub async fn get(
    request: &Request,
    service: &ApiService,
    raw_id: &str,
) -> Result<Response<Body>, ApiError> {
    let tenant = http::tenant_of(request)?;
    let post = service
        .posts
        .get(&tenant, post_id(raw_id)?)
        .await
        .map_err(store_error("reading a post"))?
        .ok_or(ApiError::NotFound("post"))?;
    Ok(http::json(200, &PostView::from(&post)))
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct PostPage<'a> {
    posts: Vec<PostView<'a>>,
    next_cursor: Option<String>,
}

#[utoipa::path(
    get,
    path = "/v1/posts",
    operation_id = "list_posts",
    tag = "posts",
    params(("connection_id" = Option<uuid::Uuid>, Query, description = "Only this connection's posts"), ("status" = Option<connector::domain::posts::PostStatus>, Query, description = "Only posts in this status"), ("limit" = Option<i32>, Query, description = "1 to 100, 50 by default"), ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page")),
    responses((status = 200, description = "The posts, a page", body = PostPage), (status = 400, description = "A bad filter, `limit` or `cursor`", body = connector::http::ErrorBody)),
)]
pub async fn list(request: &Request, service: &ApiService) -> Result<Response<Body>, ApiError> {
    let tenant = http::tenant_of(request)?;
    let params = request.query_string_parameters();
    let connection = params
        .first("connection_id")
        .map(|raw| {
            ConnectionId::parse(raw).ok_or_else(|| {
                ApiError::validation("connection_id", "connection_id is not a connection id")
            })
        })
        .transpose()?;
    let status = params
        .first("status")
        .map(|raw| {
            raw.parse::<PostStatus>().map_err(|_| {
                ApiError::validation(
                    "status",
                    "status must be scheduled, queued, publishing, published, failed, cancelled or deleted",
                )
            })
        })
        .transpose()?;
    let limit = page_limit(request)?;
    let cursor = params.first("cursor");
    let (posts, next_cursor) = service
        .posts
        .list(&tenant, connection, status, limit, cursor)
        .await
        .map_err(|e| match e {
            StoreError::Invalid(_) if cursor.is_some() => {
                ApiError::validation("cursor", "cursor is not one this API issued")
            }
            e => store_error("listing posts")(e),
        })?;
    Ok(http::json(
        200,
        &PostPage {
            posts: posts.iter().map(PostView::from).collect(),
            next_cursor,
        },
    ))
}

#[utoipa::path(
    delete,
    path = "/v1/posts/{id}",
    operation_id = "delete_post",
    tag = "posts",
    params(("id" = uuid::Uuid, Path, description = "The post")),
    responses((status = 200, description = "Cancelled, or nothing to change", body = connector::views::PostView), (status = 202, description = "Being deleted at LinkedIn", body = connector::views::PostView), (status = 404, description = "No such post of the tenant", body = connector::http::ErrorBody), (status = 409, description = "The post is publishing", body = connector::http::ErrorBody)),
)]
/// Scheduled or queued: cancel. Published: delete at LinkedIn, asynchronously (202). Already
/// cancelled, deleted or deleting: nothing changes.
pub async fn delete(
    request: &Request,
    service: &ApiService,
    raw_id: &str,
) -> Result<Response<Body>, ApiError> {
    let tenant = http::tenant_of(request)?;
    let id = post_id(raw_id)?;
    let post = service
        .posts
        .get(&tenant, id)
        .await
        .map_err(store_error("reading a post"))?
        .ok_or(ApiError::NotFound("post"))?;
    let now = Utc::now();
    match post.request_delete(now) {
        DeleteDecision::Cancel(next) => {
            service.posts.replace(&next).await.map_err(conflict)?;
            if post.holds_scheduled_slot() {
                // If this fails, or the schedule fires in a race with this cancel, the
                // publisher finds the post cancelled and does nothing.
                if let Err(e) = service.scheduler.unschedule_post(id).await {
                    warn!(post_id = %id, error = %e, "could not delete a cancelled post's schedule; its firing will do nothing");
                }
            }
            if post.status == PostStatus::PendingApproval {
                crate::approvals::forget_reminder(service, &post).await;
            }
            info!(post_id = %id, "post cancelled");
            Ok(http::json(200, &PostView::from(&next)))
        }
        DeleteDecision::DeleteAtLinkedIn(next) => {
            service.posts.replace(&next).await.map_err(conflict)?;
            let job = Job {
                action: JobAction::Delete,
                tenant_id: tenant,
                post_id: id,
                enqueued_at: now,
                scheduled_at: None,
                due_at: None,
                post: None,
            };
            if let Err(e) = service.queue.enqueue(&job).await {
                // Undo the request so a later DELETE tries again.
                let undo = next.delete_withdrawn(Utc::now());
                if let Err(u) = service.posts.replace(&undo).await {
                    warn!(post_id = %id, error = %u, "could not undo a delete request that was never enqueued");
                }
                return Err(ApiError::Unavailable(
                    anyhow::Error::new(e).context("enqueueing the delete"),
                ));
            }
            info!(post_id = %id, "delete at LinkedIn queued");
            Ok(http::json(202, &PostView::from(&next)))
        }
        DeleteDecision::ResolveThenDelete(next) => {
            // The last attempt may have reached LinkedIn: the cancel is recorded, and the
            // retry already due finds out; a live post is deleted there, one proven never
            // live ends cancelled.
            service.posts.replace(&next).await.map_err(conflict)?;
            info!(post_id = %id, "cancel recorded; the post's outcome is being resolved");
            Ok(http::json(202, &PostView::from(&next)))
        }
        DeleteDecision::Unchanged => Ok(http::json(200, &PostView::from(&post))),
        DeleteDecision::Refuse(reason) => Err(ApiError::Conflict(reason.into())),
    }
}
