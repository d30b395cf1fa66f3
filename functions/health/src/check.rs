//! One connection's check: ask LinkedIn, refresh once on a 401, record what was found.

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use connector::domain::{ConnectionId, ConnectionStatus, TenantId, HEALTH_INTERVAL, PLATFORM};
use connector::linkedin::{LinkedInClient, LinkedInError, RetryClass};
use connector::store::{Change, StoredConnection};
use connector::tokens::RefreshOutcome;
use tracing::warn;

use crate::{Checked, Health, RETRY_AFTER_FAILURE};

/// Checks one connection and records the result on it.
pub async fn check(
    health: &Health,
    tenant: &TenantId,
    id: ConnectionId,
    as_of: DateTime<Utc>,
) -> anyhow::Result<Checked> {
    let keeper = &health.keeper;
    let Ok((stored, tokens)) = keeper.open(tenant, id).await else {
        // Missing, or destroyed by a disconnect.
        return Ok(Checked::Skipped);
    };
    let c = &stored.connection;
    if c.status == ConnectionStatus::Revoked || c.next_health_check_at.is_none_or(|due| due > as_of)
    {
        return Ok(Checked::Skipped);
    }
    let mut result = ask(&keeper.linkedin, &tokens.access_token).await;
    let mut outcome = Checked::Healthy;
    if matches!(&result, Err(e) if e.retry_class() == RetryClass::RefreshThenRetry) {
        match keeper.refresh_after_refusal(tenant, id, Utc::now()).await {
            Ok(RefreshOutcome::Refreshed) => {
                outcome = Checked::Refreshed;
                let (_, renewed) = keeper
                    .open(tenant, id)
                    .await
                    .context("reopening refreshed tokens")?;
                result = match ask(&keeper.linkedin, &renewed.access_token).await {
                    // A token seconds old may not have propagated: the refresh itself succeeded.
                    Err(e) if e.may_be_propagation_delay() => Ok(()),
                    other => other,
                };
            }
            Ok(RefreshOutcome::TooFresh | RefreshOutcome::InProgress) => {
                outcome = Checked::Refreshed;
                result = Ok(());
            }
            Ok(RefreshOutcome::NeedsReconnect(reason)) => {
                warn!(
                    r#type = "health_check_failure",
                    status = "attention",
                    platform = PLATFORM,
                    connection_id = %id,
                    reason = reason.as_str(),
                    "health_check_failure"
                );
                record(
                    health,
                    tenant,
                    id,
                    as_of,
                    Some(reason),
                    HEALTH_INTERVAL,
                    None,
                )
                .await?;
                return Ok(Checked::NeedsAttention);
            }
            Err(e) => {
                result = Err(LinkedInError::Unexpected {
                    status: 0,
                    detail: e.to_string(),
                })
            }
        }
    }
    match result {
        Ok(()) => {
            // Without a refresh the row read before the check is still the likely current one.
            let known = (outcome == Checked::Healthy).then_some(stored);
            record(health, tenant, id, as_of, None, HEALTH_INTERVAL, known).await?;
            Ok(outcome)
        }
        Err(e) => {
            warn!(
                r#type = "health_check_failure",
                status = "unavailable",
                platform = PLATFORM,
                connection_id = %id,
                error = %e,
                x_li_uuid = e.request_id().unwrap_or(""),
                "health_check_failure"
            );
            record(
                health,
                tenant,
                id,
                as_of,
                Some(e.to_string()),
                RETRY_AFTER_FAILURE,
                None,
            )
            .await?;
            Ok(Checked::Unavailable)
        }
    }
}

/// `GET /v2/userinfo` (not /v2/me, which needs extra products and spends throttle budget). A
/// 403 proves the token valid (an app without OpenID scopes), so it counts as alive.
async fn ask(
    linkedin: &LinkedInClient,
    token: &secrecy::SecretString,
) -> Result<(), LinkedInError> {
    match linkedin.userinfo(token).await {
        Ok(_) | Err(LinkedInError::Rejected { status: 403, .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

async fn record(
    health: &Health,
    tenant: &TenantId,
    id: ConnectionId,
    as_of: DateTime<Utc>,
    error: Option<String>,
    next_in: chrono::Duration,
    known: Option<StoredConnection>,
) -> anyhow::Result<()> {
    let store = &health.keeper.connections;
    let record = |s: &StoredConnection| {
        let now = Utc::now();
        Change::To(
            s.connection
                .health_recorded(error.clone(), as_of.max(now) + next_in, now),
        )
    };
    // The row the check read is tried first; a lost race re-reads. A revoked connection is
    // left alone (it has left the health index).
    match known {
        Some(stored) => store.update_known(stored, record).await?,
        None => store.update(tenant, id, record).await?,
    };
    Ok(())
}
