//! Revoke retries of disconnects LinkedIn did not confirm at once.

use anyhow::Context as _;
use chrono::Utc;
use connector::domain::{ConnectionReason, ConnectionStatus};
use connector::linkedin::RetryClass;
use connector::queue::{RevokeJob, REVOKE_BOUND};
use connector::tokens::mark_revoked;
use connector::vault::VaultContext;
use tracing::{info, warn};

use crate::Health;

/// Revokes a disconnected connection's tokens at LinkedIn; destroys them once LinkedIn
/// confirms (or refuses them as dead), or once [`REVOKE_BOUND`] has passed, saying so on the
/// connection. Until then the job comes back with backoff as a new, delayed message (so the
/// queue's redrive count never parks it).
pub async fn revoke(health: &Health, job: RevokeJob) -> anyhow::Result<()> {
    let keeper = &health.keeper;
    let (tenant, id) = (&job.tenant_id, job.connection_id);
    // Only the disconnect this job was made for: not after a reconnect, not twice.
    let still_pending = |c: &connector::domain::Connection| {
        c.status == ConnectionStatus::Revoked && c.connect_count == job.connect_count
    };
    let Some(stored) = keeper
        .connections
        .get_stored_connection(tenant, id)
        .await
        .context("reading the connection to revoke")?
    else {
        return Ok(());
    };
    if !still_pending(&stored.connection) || stored.tokens.is_destroyed() {
        info!(connection_id = %id, "revoke job has nothing left to do");
        return Ok(());
    }
    let tokens = keeper
        .vault
        .open(&VaultContext::new(tenant, id), &stored.tokens)
        .await
        .context("opening the tokens to revoke")?;
    let reason = match keeper
        .linkedin
        .revoke(stored.connection.app, &tokens.access_token)
        .await
    {
        Ok(()) => ConnectionReason::Disconnected,
        Err(e) if e.retry_class() == RetryClass::FailFast => {
            warn!(connection_id = %id, error = %e, "LinkedIn refused the revoke; destroying the tokens");
            ConnectionReason::RevokeRefused
        }
        Err(e) if Utc::now() - job.requested_at >= REVOKE_BOUND => {
            warn!(connection_id = %id, error = %e, "LinkedIn never confirmed the revoke; destroying the tokens");
            ConnectionReason::RevokeUnconfirmed
        }
        Err(e) => {
            let (next, delay) = job.next();
            info!(connection_id = %id, attempt = next.attempt, delay_s = delay.as_secs(), error = %e, "revoke at LinkedIn failed; trying again");
            return health
                .queue
                .send(next.body(), delay)
                .await
                .context("sending the next revoke try");
        }
    };
    mark_revoked(
        &keeper.connections,
        tenant,
        id,
        &reason,
        true,
        still_pending,
    )
    .await
    .context("destroying the revoked tokens")?;
    info!(connection_id = %id, reason = %reason, "tokens revoked at LinkedIn and destroyed");
    Ok(())
}
