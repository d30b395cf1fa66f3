//! A connection's reconnect runway came (14, 7, 1 days before the member must reconnect, or
//! the deadline itself): the connection records the notice with the scheduled posts that fall
//! after the deadline, and the table's stream tells the tenant (`connection.reconnect_due`).
//! A duplicate or retried firing records nothing new; one planned for a deadline a reconnect
//! has since moved records nothing at all.

use chrono::{DateTime, Utc};
use connector::domain::{ConnectionStatus, RunwayFiring};
use connector::schedules::RunwayRequest;
use connector::store::{Change, Updated};
use connector::tokens::KeeperError;
use serde::Serialize;
use tracing::{info, Instrument};

use crate::{Refresher, RetryableFailure};

/// What one runway did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum RunwayOutcome {
    /// The notice is recorded: the tenant is told, with this many posts at risk.
    Told { posts_at_risk: usize },
    /// This runway of this deadline was told already.
    AlreadyTold,
    /// Planned for a deadline that has moved (the member reconnected): nothing to tell.
    Stale,
    /// The connection was disconnected or no longer exists.
    Disconnected,
}

/// Handles one runway. An `Err` is retryable (DynamoDB briefly down): the schedule's retry
/// policy and Lambda's asynchronous retries try again, and a retry tells at most once.
pub async fn handle(
    request: &RunwayRequest,
    refresher: &Refresher,
    now: DateTime<Utc>,
) -> Result<RunwayOutcome, RetryableFailure> {
    let span = tracing::info_span!(
        "reconnect_runway",
        tenant_id = %request.tenant_id,
        connection_id = %request.connection_id,
        runway = ?request.runway,
    );
    async {
        let outcome = run(request, refresher, now).await;
        match &outcome {
            Ok(o) => info!(outcome = ?o, "reconnect runway done"),
            Err(e) => tracing::warn!(error = %e, "reconnect runway failed"),
        }
        outcome
    }
    .instrument(span)
    .await
}

async fn run(
    request: &RunwayRequest,
    refresher: &Refresher,
    now: DateTime<Utc>,
) -> Result<RunwayOutcome, RetryableFailure> {
    let connections = &refresher.keeper.connections;
    let (tenant, id) = (&request.tenant_id, request.connection_id);
    let Some(connection) = connections
        .get_connection(tenant, id)
        .await
        .map_err(KeeperError::from)?
    else {
        return Ok(RunwayOutcome::Disconnected);
    };
    if connection.status == ConnectionStatus::Revoked {
        return Ok(RunwayOutcome::Disconnected);
    }
    match connection.on_runway(request.runway, now) {
        RunwayFiring::Stale => return Ok(RunwayOutcome::Stale),
        RunwayFiring::AlreadyTold => return Ok(RunwayOutcome::AlreadyTold),
        RunwayFiring::Tell => {}
    }
    let at_risk = refresher
        .posts
        .scheduled_after(tenant, id, connection.reconnect_by())
        .await
        .map_err(KeeperError::from)?;
    let count = at_risk.len();
    let updated = connections
        .update(tenant, id, |stored| {
            // Decided again on the row as written (another firing may have told meanwhile).
            match stored.connection.on_runway(request.runway, now) {
                RunwayFiring::Tell => Change::To(stored.connection.reconnect_told(
                    request.runway,
                    at_risk.clone(),
                    now,
                )),
                RunwayFiring::Stale | RunwayFiring::AlreadyTold => Change::Keep,
            }
        })
        .await
        .map_err(KeeperError::from)?;
    Ok(match updated {
        Updated::Written(_) => {
            refresher.keeper.linkedin.metrics().reconnect_due();
            tracing::warn!(
                r#type = "reconnect_due",
                reconnect_by = %connection.reconnect_by(),
                posts_at_risk = count,
                "the member must reconnect; the tenant is told"
            );
            RunwayOutcome::Told {
                posts_at_risk: count,
            }
        }
        Updated::Missing => RunwayOutcome::Disconnected,
        Updated::Kept(stored) if stored.connection.status == ConnectionStatus::Revoked => {
            RunwayOutcome::Disconnected
        }
        Updated::Kept(_) => RunwayOutcome::AlreadyTold,
    })
}
