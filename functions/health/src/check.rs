//! One connection's check: ask LinkedIn, refresh once on a 401, record what was found.

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use connector::domain::{
    ConnectionId, ConnectionStatus, Organization, TenantId, HEALTH_INTERVAL, PLATFORM,
};
use connector::linkedin::{LinkedInClient, LinkedInError, RetryClass};
use connector::store::{Change, StoredConnection};
use connector::tokens::RefreshOutcome;
use tracing::warn;

use crate::{Checked, Health, RETRY_AFTER_FAILURE};

/// Why a check could not confirm a connection, as its tenant reads it (`last_health_error`):
/// fixed texts. LinkedIn's answer and any AWS error go to the `health_check_failure` log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthProblem {
    /// LinkedIn failed, throttled or did not answer.
    LinkedInUnavailable,
    /// LinkedIn answered the check with a refusal other than the token's.
    LinkedInRefused,
    /// The token was refused and refreshing it failed for a reason that may pass.
    RefreshFailed,
}

impl HealthProblem {
    pub fn text(self) -> &'static str {
        match self {
            Self::LinkedInUnavailable => "LinkedIn failed or did not answer the health check; it is checked again in 30 minutes",
            Self::LinkedInRefused => "LinkedIn refused the health check's request; it is checked again in 30 minutes",
            Self::RefreshFailed => "the access token was refused and could not be refreshed just now; it is checked again in 30 minutes",
        }
    }

    fn of(error: &LinkedInError) -> Self {
        match error.retry_class() {
            RetryClass::RetryLater { .. } => Self::LinkedInUnavailable,
            RetryClass::RefreshThenRetry | RetryClass::FailFast => Self::LinkedInRefused,
        }
    }
}

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
    let pages = LinkedInClient::can_read_organizations(&c.scopes);
    let mut result = ask(&keeper.linkedin, &tokens.access_token, pages).await;
    let mut refresh_failed = false;
    let mut outcome = Checked::Healthy;
    if matches!(&result, Err(e) if e.retry_class() == RetryClass::RefreshThenRetry) {
        match keeper.refresh_after_refusal(tenant, id, Utc::now()).await {
            Ok(RefreshOutcome::Refreshed) => {
                outcome = Checked::Refreshed;
                let (_, renewed) = keeper
                    .open(tenant, id)
                    .await
                    .context("reopening refreshed tokens")?;
                result = match ask(&keeper.linkedin, &renewed.access_token, pages).await {
                    // A token seconds old may not have propagated: the refresh itself succeeded.
                    Err(e) if e.may_be_propagation_delay() => Ok(None),
                    other => other,
                };
            }
            Ok(RefreshOutcome::TooFresh | RefreshOutcome::InProgress) => {
                outcome = Checked::Refreshed;
                result = Ok(None);
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
                let found = Found {
                    error: Some(reason),
                    organizations: None,
                };
                record(health, tenant, id, as_of, found, HEALTH_INTERVAL, None).await?;
                return Ok(Checked::NeedsAttention);
            }
            Err(e) => {
                // The cause (LinkedIn's or AWS's words) is logged below, not recorded.
                refresh_failed = true;
                result = Err(LinkedInError::Unexpected {
                    status: 0,
                    detail: format!("refreshing failed: {e}"),
                })
            }
        }
    }
    match result {
        Ok(organizations) => {
            // Without a refresh the row read before the check is still the likely current one.
            let known = (outcome == Checked::Healthy).then_some(stored);
            let found = Found {
                error: None,
                organizations,
            };
            record(health, tenant, id, as_of, found, HEALTH_INTERVAL, known).await?;
            Ok(outcome)
        }
        Err(e) => {
            let problem = match refresh_failed {
                true => HealthProblem::RefreshFailed,
                false => HealthProblem::of(&e),
            };
            warn!(
                r#type = "health_check_failure",
                status = "unavailable",
                platform = PLATFORM,
                connection_id = %id,
                error = %e,
                x_li_uuid = e.request_id().unwrap_or(""),
                "health_check_failure"
            );
            let found = Found {
                error: Some(problem.text().to_owned()),
                organizations: None,
            };
            record(health, tenant, id, as_of, found, RETRY_AFTER_FAILURE, None).await?;
            Ok(Checked::Unavailable)
        }
    }
}

/// One LinkedIn call per check. A connection that may read its pages asks for them
/// (organizationAcls with the pages' names and logos projected in): that proves the token and
/// refreshes the names, logos and roles in the same call. Others ask `GET /v2/userinfo` (not
/// /v2/me, which needs extra products and spends throttle budget). A 403 proves the token
/// valid (an app without those scopes), so it counts as alive.
async fn ask(
    linkedin: &LinkedInClient,
    token: &secrecy::SecretString,
    pages: bool,
) -> Result<Option<Vec<Organization>>, LinkedInError> {
    let answer = match pages {
        true => linkedin.organizations(token).await.map(Some),
        false => linkedin.userinfo(token).await.map(|_| None),
    };
    match answer {
        Err(LinkedInError::Rejected { status: 403, .. }) => Ok(None),
        other => other,
    }
}

/// What a check found: the problem, if any, and the member's pages, if read.
struct Found {
    error: Option<String>,
    organizations: Option<Vec<Organization>>,
}

async fn record(
    health: &Health,
    tenant: &TenantId,
    id: ConnectionId,
    as_of: DateTime<Utc>,
    found: Found,
    next_in: chrono::Duration,
    known: Option<StoredConnection>,
) -> anyhow::Result<()> {
    let store = &health.keeper.connections;
    let record = |s: &StoredConnection| {
        let now = Utc::now();
        let mut c = s.connection.clone();
        if let Some(organizations) = &found.organizations {
            if *organizations != c.organizations {
                c = c.organizations_read(organizations.clone(), now);
            }
        }
        Change::To(c.health_recorded(found.error.clone(), as_of.max(now) + next_in, now))
    };
    // The row the check read is tried first; a lost race re-reads. A revoked connection is
    // left alone (it has left the health index).
    match known {
        Some(stored) => store.update_known(stored, record).await?,
        None => store.update(tenant, id, record).await?,
    };
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tenant reads one of three fixed texts, whatever LinkedIn said: never its message,
    /// status or request id.
    #[test]
    fn what_linkedin_said_is_summarised_not_copied() {
        let failure = |status: u16, body: &str| connector::linkedin::LinkedInError::Unexpected {
            status,
            detail: body.into(),
        };
        let rows = [
            (
                failure(503, "upstream arn:aws:iam::123456789012:role/x"),
                HealthProblem::LinkedInUnavailable,
            ),
            (
                failure(400, "Syntax exception in path variables"),
                HealthProblem::LinkedInRefused,
            ),
        ];
        for (error, expected) in rows {
            let problem = HealthProblem::of(&error);
            assert_eq!(problem, expected, "{error}");
            let text = problem.text();
            assert!(
                !text.contains("arn:") && !text.contains("503") && !text.contains("Syntax"),
                "{text}"
            );
        }
        for problem in [
            HealthProblem::LinkedInUnavailable,
            HealthProblem::LinkedInRefused,
            HealthProblem::RefreshFailed,
        ] {
            assert!(problem.text().ends_with("checked again in 30 minutes"));
        }
    }
}
