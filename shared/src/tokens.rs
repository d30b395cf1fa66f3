//! Keeping a connection's tokens usable: opening them, and refreshing them single-flight.
//! The publisher (after a 401), the refresher (its windows) and the health check all refresh
//! through [`TokenKeeper::refresh`], so there is one way it happens.

use crate::aws_clients::LazyClient;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::domain::{
    same_deadline, Connection, ConnectionId, ConnectionReason, ConnectionStatus, TenantId,
};
use crate::linkedin::{LinkedInClient, LinkedInError};
use crate::schedules::{Expect, JobScheduler};
use crate::store::{Change, ConnectionStore, StoreError, StoredConnection, Updated};
use crate::vault::{SealedTokens, TokenSet, TokenVault, VaultContext, VaultError};

/// LinkedIn's new tokens can be refused for a few seconds; within this age a 401 is waited out.
pub const PROPAGATION_WINDOW: Duration = Duration::from_secs(60);

/// Marks a connection `revoked` with `reason`; with `destroy`, its sealed tokens are destroyed
/// in the same write (otherwise they stay sealed until LinkedIn confirms the revoke).
/// `applies` guards each try (a reconnect meanwhile makes it moot). Returns the connection as
/// written with the tokens it holds, or `None` when there is none or `applies` said no. Once a
/// connection is revoked no refresh stores new tokens on it (a refresh that finishes later
/// revokes what it obtained), so the tokens returned are its last.
pub async fn mark_revoked(
    connections: &ConnectionStore,
    tenant: &TenantId,
    id: ConnectionId,
    reason: &ConnectionReason,
    destroy: bool,
    applies: impl Fn(&Connection) -> bool,
) -> Result<Option<StoredConnection>, StoreError> {
    let now = Utc::now();
    let updated = connections
        .update_revoked_too(tenant, id, |stored| {
            if !applies(&stored.connection) {
                return Change::Keep;
            }
            let next = stored.connection.revoked(reason, now);
            match destroy {
                true => Change::WithTokens(next, SealedTokens::destroyed()),
                false => Change::To(next),
            }
        })
        .await?;
    Ok(match updated {
        Updated::Written(stored) => Some(stored),
        Updated::Kept(_) | Updated::Missing => None,
    })
}

#[derive(Debug, PartialEq, Eq)]
pub enum RefreshOutcome {
    Refreshed,
    /// The access token is younger than the propagation window: wait, do not refresh again.
    TooFresh,
    /// Another caller is refreshing right now; its result will be there shortly.
    InProgress,
    /// Refreshing cannot help; the connection is now `attention` with this reason.
    NeedsReconnect(String),
}

#[derive(Debug, thiserror::Error)]
pub enum KeeperError {
    #[error("connection not found")]
    Missing,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Vault(#[from] VaultError),
    #[error(transparent)]
    LinkedIn(#[from] LinkedInError),
}

impl KeeperError {
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Missing => false,
            Self::Store(e) => e.is_retryable(),
            Self::Vault(e) => e.is_retryable(),
            Self::LinkedIn(e) => !matches!(e.retry_class(), crate::linkedin::RetryClass::FailFast),
        }
    }
}

pub struct TokenKeeper {
    pub connections: ConnectionStore,
    pub vault: TokenVault,
    pub linkedin: LinkedInClient,
    pub propagation_window: Duration,
    /// Re-plans the refresh windows after every refresh (when configured).
    pub windows: Option<JobScheduler>,
}

impl TokenKeeper {
    /// The keeper every function that touches tokens uses: DynamoDB, KMS, LinkedIn, and the
    /// scheduler to re-plan refresh windows after each refresh.
    pub fn from_config(
        config: &crate::config::Config,
        sdk: &aws_config::SdkConfig,
        dynamo: &aws_sdk_dynamodb::Client,
    ) -> anyhow::Result<Self> {
        use anyhow::Context as _;
        Ok(Self::new(
            ConnectionStore::new(dynamo.clone(), config.table_name.clone()),
            TokenVault::new(crate::vault::KmsKeys::new(
                LazyClient::from_sdk(sdk, aws_sdk_kms::Client::new),
                config.token_key_id.clone(),
            )),
            LinkedInClient::new(config.linkedin.clone(), config.metrics.clone())
                .context("building the LinkedIn client")?,
        )
        .with_windows(JobScheduler::new(sdk, config.require_schedules()?.clone())))
    }

    pub fn new(connections: ConnectionStore, vault: TokenVault, linkedin: LinkedInClient) -> Self {
        Self {
            connections,
            vault,
            linkedin,
            propagation_window: PROPAGATION_WINDOW,
            windows: None,
        }
    }

    pub fn with_windows(mut self, scheduler: JobScheduler) -> Self {
        self.windows = Some(scheduler);
        self
    }

    /// Puts a connection in `attention` with a reason a person can act on (unless it is
    /// revoked). Retries a lost race once.
    pub async fn set_attention(
        &self,
        tenant: &TenantId,
        id: ConnectionId,
        reason: &ConnectionReason,
        now: DateTime<Utc>,
    ) -> Result<(), KeeperError> {
        let updated = self
            .connections
            .update(tenant, id, |stored| {
                Change::To(stored.connection.attention(reason, now))
            })
            .await?;
        if let Updated::Written(_) = updated {
            tracing::warn!(connection_id = %id, reason = %reason, "connection needs attention");
            self.linkedin.metrics().connection_attention();
        }
        Ok(())
    }

    /// The connection and its tokens in the clear.
    pub async fn open(
        &self,
        tenant: &TenantId,
        id: ConnectionId,
    ) -> Result<(StoredConnection, TokenSet), KeeperError> {
        let stored = self
            .connections
            .get_stored_connection(tenant, id)
            .await?
            .ok_or(KeeperError::Missing)?;
        self.open_read(stored).await
    }

    /// The tokens of a connection row already read (and known to be current).
    pub async fn open_read(
        &self,
        stored: StoredConnection,
    ) -> Result<(StoredConnection, TokenSet), KeeperError> {
        let context = VaultContext::new(&stored.connection.tenant_id, stored.connection.id);
        let tokens = self.vault.open(&context, &stored.tokens).await?;
        Ok((stored, tokens))
    }

    /// LinkedIn refused the access token (401). A token still propagating is waited for;
    /// otherwise it is refreshed once, whoever else is asking at the same moment.
    pub async fn refresh_after_refusal(
        &self,
        tenant: &TenantId,
        id: ConnectionId,
        now: DateTime<Utc>,
    ) -> Result<RefreshOutcome, KeeperError> {
        let stored = self
            .connections
            .get_stored_connection(tenant, id)
            .await?
            .ok_or(KeeperError::Missing)?;
        let age = (now - stored.connection.token_issued_at)
            .to_std()
            .unwrap_or_default();
        if age < self.propagation_window {
            return Ok(RefreshOutcome::TooFresh);
        }
        self.refresh(stored, now).await
    }

    /// Refreshes the connection's access token, single-flight: a lease written with the
    /// connection's version decides who refreshes; the new tokens (and whatever refresh token
    /// LinkedIn returned) are stored in one conditional write.
    pub async fn refresh(
        &self,
        stored: StoredConnection,
        now: DateTime<Utc>,
    ) -> Result<RefreshOutcome, KeeperError> {
        // Whoever writes the lease refreshes; anyone finding it taken, or the token already
        // renewed since it was read, waits for that refresh instead.
        let issued = stored.connection.token_issued_at;
        let leased = self
            .connections
            .update_known(stored.clone(), |s| {
                let c = &s.connection;
                if c.refresh_under_way(now) || c.token_issued_at != issued {
                    Change::Keep
                } else {
                    Change::To(c.refresh_leased(now))
                }
            })
            .await?;
        let stored = match leased {
            Updated::Written(stored) => stored,
            Updated::Kept(s) if s.connection.status == ConnectionStatus::Revoked => {
                return Ok(RefreshOutcome::NeedsReconnect(
                    "the connection was disconnected".into(),
                ))
            }
            Updated::Kept(_) => return Ok(RefreshOutcome::InProgress),
            Updated::Missing => return Err(KeeperError::Missing),
        };
        let leased = &stored.connection;
        let context = VaultContext::new(&leased.tenant_id, leased.id);
        let tokens = match self.vault.open(&context, &stored.tokens).await {
            Ok(t) => t,
            Err(e) => {
                self.release(leased, now).await;
                return Err(e.into());
            }
        };
        let Some(refresh_token) = tokens.refresh_token else {
            let reason = ConnectionReason::NoRefreshToken {
                reconnect_by: leased.access_token_expires_at.date_naive(),
            };
            self.needs_reconnect(leased, &reason, now).await?;
            return Ok(RefreshOutcome::NeedsReconnect(reason.to_string()));
        };
        match self.linkedin.refresh(leased.app, &refresh_token).await {
            Ok(grant) => {
                let (access_expires_at, refresh_expires_at) = grant.expiries_as_of(now);
                let renewed = TokenSet {
                    access_token: grant.access_token,
                    // LinkedIn returns the same refresh token; others rotate. Keep what came.
                    refresh_token: Some(grant.refresh_token.unwrap_or(refresh_token)),
                };
                let sealed = self.vault.seal(&context, &renewed).await?;
                // Once LinkedIn has issued them, the new tokens must be stored whatever else
                // changed the row meanwhile (a health check recording its result, say): with
                // rotating refresh tokens the old one is already dead.
                let access_token = renewed.access_token;
                let next = self
                    .connections
                    .update_known(stored.clone(), |s| {
                        let c = s
                            .connection
                            .refreshed(access_expires_at, refresh_expires_at, now);
                        Change::WithTokens(c, sealed.clone())
                    })
                    .await?
                    .into_stored()
                    .ok_or(KeeperError::Missing)?
                    .connection;
                if next.status == ConnectionStatus::Revoked {
                    // Disconnected while LinkedIn was refreshing: what it just issued must not
                    // stay alive anywhere (revoking the access token ends its refresh token).
                    tracing::info!(connection_id = %leased.id, "disconnected during a refresh; revoking the new tokens");
                    if let Err(e) = self.linkedin.revoke(next.app, &access_token).await {
                        tracing::warn!(connection_id = %leased.id, error = %e, "could not revoke the tokens a refresh obtained after a disconnect");
                    }
                    return Ok(RefreshOutcome::NeedsReconnect(
                        "the connection was disconnected".into(),
                    ));
                }
                tracing::info!(connection_id = %leased.id, "access token refreshed");
                self.linkedin.metrics().token_refreshed();
                if let Some(windows) = &self.windows {
                    // New expiry, new windows; failing to plan them is logged, not fatal:
                    // the next refresh or health check plans them again.
                    if let Err(e) = windows
                        .put_refresh_windows(
                            &next.tenant_id,
                            next.id,
                            next.access_token_expires_at,
                            now,
                            Expect::Existing,
                        )
                        .await
                    {
                        tracing::warn!(connection_id = %next.id, error = %e, "could not re-plan the refresh windows");
                    }
                    // LinkedIn never extends a refresh token, so the deadline stays; should
                    // a refresh move it all the same, its runways move with it.
                    if !same_deadline(leased.reconnect_by(), next.reconnect_by()) {
                        if let Err(e) = windows
                            .put_reconnect_runways(
                                &next.tenant_id,
                                next.id,
                                next.reconnect_by(),
                                now,
                                Expect::Existing,
                            )
                            .await
                        {
                            tracing::warn!(connection_id = %next.id, error = %e, "could not re-plan the reconnect runways");
                        }
                    }
                }
                Ok(RefreshOutcome::Refreshed)
            }
            Err(e) if e.is_invalid_grant() => {
                let reason = ConnectionReason::RefreshTokenRefused;
                tracing::warn!(connection_id = %leased.id, error = %e, "refresh refused");
                self.needs_reconnect(leased, &reason, now).await?;
                Ok(RefreshOutcome::NeedsReconnect(reason.to_string()))
            }
            Err(e) => {
                self.release(leased, now).await;
                Err(e.into())
            }
        }
    }

    async fn needs_reconnect(
        &self,
        leased: &Connection,
        reason: &ConnectionReason,
        now: DateTime<Utc>,
    ) -> Result<(), KeeperError> {
        self.connections
            .update(&leased.tenant_id, leased.id, |s| {
                Change::To(s.connection.attention(reason, now))
            })
            .await?;
        tracing::warn!(connection_id = %leased.id, reason = %reason, "connection needs attention");
        self.linkedin.metrics().connection_attention();
        Ok(())
    }

    /// Gives the lease back after a failure that a later try may get past.
    async fn release(&self, leased: &Connection, now: DateTime<Utc>) {
        let released = self
            .connections
            .update(&leased.tenant_id, leased.id, |s| {
                Change::To(s.connection.refresh_released(now))
            })
            .await;
        if let Err(e) = released {
            tracing::warn!(connection_id = %leased.id, error = %e, "could not release the refresh lease; it expires by itself");
        }
    }
}
