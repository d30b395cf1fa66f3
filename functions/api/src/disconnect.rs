//! `DELETE /v1/connections/{id}`: disconnect. Revokes at LinkedIn, removes the refresh windows,
//! destroys the stored data key and ciphertexts (nothing can decrypt the tokens afterwards),
//! marks the connection `revoked` and cancels its queued posts. Idempotent; a failed revoke at
//! LinkedIn is recorded, and the local part still finishes.

use chrono::Utc;
use connector::domain::{ConnectionId, ConnectionStatus};
use connector::http::{self, ApiError};
use connector::posts::{DeleteDecision, PostStatus};
use connector::store::StoreError;
use connector::vault::{SealedTokens, VaultContext};
use lambda_http::{Body, Request, Response};
use tracing::{info, warn};

use crate::{store_error, ApiService};

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
        return Ok(http::json(200, &stored.connection));
    }

    let revoke_failure = match service
        .vault
        .open(&VaultContext::new(&tenant, id), &stored.tokens)
        .await
    {
        Ok(tokens) => match service.linkedin.revoke(&tokens.access_token).await {
            Ok(()) => None,
            Err(e) => Some(format!(
                "LinkedIn's revoke failed ({e}); the tokens were destroyed here"
            )),
        },
        Err(e) => Some(format!(
            "the tokens could not be opened to revoke them at LinkedIn ({e}); destroyed here"
        )),
    };
    if let Some(failure) = &revoke_failure {
        warn!(connection_id = %id, failure, "revoke at LinkedIn failed");
    }
    service
        .scheduler
        .delete_refresh_windows(id)
        .await
        .map_err(|e| {
            ApiError::Unavailable(anyhow::Error::new(e).context("deleting the refresh windows"))
        })?;

    let mut current = stored.connection;
    let revoked = loop {
        let mut next = current.clone();
        next.version += 1;
        next.status = ConnectionStatus::Revoked;
        next.reason = Some(
            revoke_failure
                .clone()
                .unwrap_or_else(|| "disconnected".into()),
        );
        next.refresh_lease_until = None;
        next.next_health_check_at = None;
        next.updated_at = Utc::now();
        match service
            .connections
            .replace_connection(&next, &SealedTokens::destroyed(), current.version)
            .await
        {
            Ok(()) => break next,
            Err(StoreError::Conflict(_)) => {
                current = service
                    .connections
                    .get_connection(&tenant, id)
                    .await
                    .map_err(store_error("re-reading the connection"))?
                    .ok_or(ApiError::NotFound("connection"))?;
            }
            Err(e) => return Err(store_error("destroying the tokens")(e)),
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
    info!(connection_id = %id, cancelled, revoked_at_linkedin = revoke_failure.is_none(), "connection disconnected");
    Ok(http::json(200, &revoked))
}
