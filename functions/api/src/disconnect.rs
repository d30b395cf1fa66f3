//! `DELETE /v1/connections/{id}`: disconnect. Marks the connection `revoked`, removes the
//! refresh windows, cancels its queued and scheduled posts, and queues a revoke job on the
//! health queue: the health function (which may open tokens; this one holds no KMS rights)
//! revokes them at LinkedIn, retried with backoff until LinkedIn confirms (at most 24 h), then
//! destroys the stored data key and ciphertexts. Idempotent.

use std::time::Duration;

use chrono::Utc;
use connector::domain::posts::{DeleteDecision, PostStatus};
use connector::domain::{ConnectionId, ConnectionReason, ConnectionStatus};
use connector::http::{self, ApiError};
use connector::queue::RevokeJob;
use connector::store::StoreError;
use connector::tokens::mark_revoked;
use lambda_http::{Body, Request, Response};
use tracing::{info, warn};

use crate::{store_error, ApiService};
use connector::views::ConnectionView;

#[utoipa::path(
    delete,
    path = "/v1/connections/{id}",
    operation_id = "disconnect",
    tag = "connections",
    params(("id" = uuid::Uuid, Path, description = "The connection")),
    responses((status = 200, description = "The connection, `revoked`", body = connector::views::ConnectionView), (status = 404, description = "No such connection of the tenant", body = connector::http::ErrorBody)),
)]
pub async fn disconnect(
    request: &Request,
    service: &ApiService,
    raw_id: &str,
) -> Result<Response<Body>, ApiError> {
    let tenant = http::tenant_of(request)?;
    let id = ConnectionId::parse(raw_id).ok_or(ApiError::NotFound("connection"))?;
    let stored = service
        .connections
        .get_stored_connection(&tenant, id)
        .await
        .map_err(store_error("reading the connection"))?
        .ok_or(ApiError::NotFound("connection"))?;
    if stored.connection.status == ConnectionStatus::Revoked {
        return Ok(http::json(200, &ConnectionView::from(&stored.connection)));
    }

    // The connection is revoked here first, its tokens still sealed: from then on no refresh
    // stores new tokens on it (one finishing later revokes what it obtained). Revoking the
    // tokens at LinkedIn needs them in the clear, which this internet-facing function cannot
    // do (it holds no KMS rights): a revoke job on the health queue does it, retried until
    // LinkedIn confirms (at most 24 h), and only then destroys them.
    let connect_count = stored.connection.connect_count;
    let marked = mark_revoked(
        &service.connections,
        &tenant,
        id,
        &ConnectionReason::Disconnecting,
        false,
        |c| c.status != ConnectionStatus::Revoked,
    )
    .await
    .map_err(store_error("marking the connection revoked"))?;
    let Some(marked) = marked else {
        // Disconnected meanwhile by another request.
        return Ok(http::json(200, &ConnectionView::from(&stored.connection)));
    };
    // A window or runway left behind is harmless: a refresh of a revoked connection stores
    // nothing and revokes what it obtained; a runway of a revoked connection tells nothing.
    if let Err(e) = service.scheduler.delete_connection_schedules(id).await {
        warn!(connection_id = %id, error = %e, "could not delete the refresh windows and reconnect runways");
    }
    let job = RevokeJob {
        tenant_id: tenant.clone(),
        connection_id: id,
        requested_at: Utc::now(),
        connect_count,
        attempt: 0,
    };
    let revoked = match service.health_queue.send(job.body(), Duration::ZERO).await {
        Ok(()) => marked.connection,
        Err(e) => {
            // Nothing will revoke them: the sealed tokens are destroyed here instead, so none
            // can be used again (at LinkedIn they end when they expire).
            warn!(connection_id = %id, error = %e, "could not queue the revoke job; destroying the tokens");
            let pending = |c: &connector::domain::Connection| {
                c.status == ConnectionStatus::Revoked && c.connect_count == connect_count
            };
            mark_revoked(
                &service.connections,
                &tenant,
                id,
                &ConnectionReason::RevokeNotQueued,
                true,
                pending,
            )
            .await
            .map_err(store_error("destroying the tokens"))?
            .map(|s| s.connection)
            .unwrap_or(marked.connection)
        }
    };

    let mut cancelled = 0;
    for status in [PostStatus::Queued, PostStatus::Scheduled] {
        let mut cursor: Option<String> = None;
        loop {
            let (posts, next) = service
                .posts
                .list(&tenant, Some(id), Some(status), 100, cursor.as_deref())
                .await
                .map_err(store_error("listing the connection's posts"))?;
            for post in posts {
                if let DeleteDecision::Cancel(next) = post.request_delete(Utc::now()) {
                    match service.posts.replace(&next).await {
                        Ok(()) if status == PostStatus::Scheduled => {
                            cancelled += 1;
                            // Best effort: a schedule that still fires finds it cancelled.
                            if let Err(e) = service.scheduler.unschedule_post(post.id).await {
                                warn!(post_id = %post.id, error = %e, "could not delete a cancelled post's schedule");
                            }
                        }
                        Ok(()) => cancelled += 1,
                        // It started publishing meanwhile; without tokens it will fail.
                        Err(StoreError::Conflict(_)) => {}
                        Err(e) => return Err(store_error("cancelling a post")(e)),
                    }
                }
            }
            match next {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
    }
    info!(connection_id = %id, cancelled, "connection disconnected; its tokens are revoked at LinkedIn by a job");
    Ok(http::json(200, &ConnectionView::from(&revoked)))
}
