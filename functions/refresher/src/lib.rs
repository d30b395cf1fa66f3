//! The `refresher` function: when a refresh window opens (T-7d, T-1d, T-12h before the access
//! token expires), refresh the connection's token through the one single-flight path, plan the
//! next windows, and say plainly when a person must reconnect; when a reconnect runway comes
//! (T-14d, T-7d, T-1d before the member must reconnect, and at the deadline), tell the tenant
//! ([`runway`]).

pub mod runway;

use chrono::{DateTime, Utc};
use connector::config::Config;
use connector::domain::{ConnectionReason, ConnectionStatus};
use connector::schedules::{RefreshRequest, RefresherEvent};
use connector::store::PostStore;
use connector::tokens::{KeeperError, RefreshOutcome, TokenKeeper};
use serde::Serialize;
use tracing::{info, Instrument};

/// LinkedIn's refresh token lives 365 days from the original authorization; this close to its
/// end the member is asked to reconnect.
const REFRESH_TOKEN_NOTICE: chrono::Duration = chrono::Duration::days(7);
/// A window invoked this long before it was due was planned for an older token.
const EARLY: chrono::Duration = chrono::Duration::minutes(5);

pub struct Refresher {
    pub keeper: TokenKeeper,
    /// Read by a reconnect runway for the posts at risk.
    pub posts: PostStore,
}

impl Refresher {
    pub fn from_config(config: &Config, sdk: &aws_config::SdkConfig) -> anyhow::Result<Self> {
        let dynamo = aws_sdk_dynamodb::Client::new(sdk);
        Ok(Self {
            keeper: TokenKeeper::from_config(config, sdk, &dynamo)?,
            posts: PostStore::new(dynamo, config.table_name.clone())
                .with_retention(config.retention),
        })
    }
}

/// What one invocation did: a window's outcome or a runway's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Outcome {
    Window(WindowOutcome),
    Runway(runway::RunwayOutcome),
}

/// One invocation from the refresher's schedules, at the time it was due (see
/// [`RefreshRequest::as_of`]), within the invocation's `deadline`.
pub async fn handle_event(
    event: &RefresherEvent,
    refresher: &Refresher,
    now: DateTime<Utc>,
    deadline: connector::deadline::Deadline,
) -> Result<Outcome, RetryableFailure> {
    match event {
        RefresherEvent::Window(request) => {
            handle_within(request, refresher, request.as_of(now), deadline)
                .await
                .map(Outcome::Window)
        }
        RefresherEvent::Runway(request) => runway::handle(request, refresher, request.as_of(now))
            .await
            .map(Outcome::Runway),
    }
}

/// What one window did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum WindowOutcome {
    Refreshed,
    /// A duplicate or late invocation: the token was refreshed since this window was planned.
    AlreadyFresh,
    /// Another caller (a publisher's 401, the health check) is refreshing right now.
    InProgress,
    /// A person must act; the connection is `attention` with this reason.
    NeedsAttention {
        reason: String,
    },
    /// The connection was disconnected or no longer exists.
    Disconnected,
}

/// A window that failed in a way a retry can get past.
#[derive(Debug, thiserror::Error)]
pub enum RetryableFailure {
    #[error("refresh window failed, retrying can help: {0}")]
    Keeper(#[from] KeeperError),
    #[error("too little time left in the invocation to refresh; retrying can help")]
    OutOfTime,
}

/// [`handle`] within the invocation's `deadline`: a refresh (two KMS calls, one LinkedIn call,
/// the writes and the windows) does not start unless the time left covers it; the window is
/// then retried (Lambda's asynchronous retries, the schedule's retry policy) instead of being
/// cut off halfway with a lease held.
pub async fn handle_within(
    request: &RefreshRequest,
    refresher: &Refresher,
    now: DateTime<Utc>,
    deadline: connector::deadline::Deadline,
) -> Result<WindowOutcome, RetryableFailure> {
    let call = refresher.keeper.linkedin.settings().request_timeout;
    if !deadline.allows(call * 2) {
        tracing::warn!(
            tenant_id = %request.tenant_id,
            connection_id = %request.connection_id,
            "too little time left to refresh; the window is retried"
        );
        return Err(RetryableFailure::OutOfTime);
    }
    handle(request, refresher, now).await
}

/// Handles one window. An `Err` is retryable (LinkedIn or AWS briefly down): returning it lets
/// Lambda's asynchronous retries and the schedule's retry policy try again.
pub async fn handle(
    request: &RefreshRequest,
    refresher: &Refresher,
    now: DateTime<Utc>,
) -> Result<WindowOutcome, RetryableFailure> {
    let span = tracing::info_span!(
        "refresh_window",
        tenant_id = %request.tenant_id,
        connection_id = %request.connection_id,
        window = ?request.window,
    );
    async {
        let outcome = run(request, refresher, now).await;
        match &outcome {
            Ok(o) => info!(outcome = ?o, "refresh window done"),
            Err(e) => tracing::warn!(error = %e, "refresh window failed"),
        }
        outcome
    }
    .instrument(span)
    .await
}

async fn run(
    request: &RefreshRequest,
    refresher: &Refresher,
    now: DateTime<Utc>,
) -> Result<WindowOutcome, RetryableFailure> {
    let keeper = &refresher.keeper;
    let (tenant, id) = (&request.tenant_id, request.connection_id);
    let Some(stored) = keeper
        .connections
        .get_stored_connection(tenant, id)
        .await
        .map_err(KeeperError::from)?
    else {
        return Ok(WindowOutcome::Disconnected);
    };
    let connection = &stored.connection;
    if connection.status == ConnectionStatus::Revoked {
        return Ok(WindowOutcome::Disconnected);
    }
    let due = connection.access_token_expires_at - request.window.before_expiry();
    if now < due - EARLY {
        return Ok(WindowOutcome::AlreadyFresh);
    }
    if stored.tokens.refresh_token.is_none() {
        // Self-serve LinkedIn apps get no refresh token: only a reconnect renews access.
        let reason = ConnectionReason::NoRefreshToken {
            reconnect_by: connection.access_token_expires_at.date_naive(),
        };
        keeper.set_attention(tenant, id, &reason, now).await?;
        return Ok(WindowOutcome::NeedsAttention {
            reason: reason.to_string(),
        });
    }
    let expires_at = connection.access_token_expires_at;
    let outcome = match keeper.refresh(stored, now).await {
        Ok(RefreshOutcome::Refreshed | RefreshOutcome::TooFresh) => WindowOutcome::Refreshed,
        Ok(RefreshOutcome::InProgress) => WindowOutcome::InProgress,
        Ok(RefreshOutcome::NeedsReconnect(reason)) => {
            return Ok(WindowOutcome::NeedsAttention { reason })
        }
        Err(e) if e.is_retryable() => {
            if request.window.is_last() {
                // The last window before expiry failed: someone should know now.
                let reason = ConnectionReason::RefreshFailedInLastWindow {
                    reconnect_by: expires_at.date_naive(),
                };
                tracing::warn!(error = %e, "refreshing failed in the last window");
                keeper.set_attention(tenant, id, &reason, now).await?;
            }
            return Err(e.into());
        }
        Err(e) => {
            tracing::warn!(error = %e, "refreshing is impossible");
            let reason = ConnectionReason::RefreshImpossible;
            keeper.set_attention(tenant, id, &reason, now).await?;
            return Ok(WindowOutcome::NeedsAttention {
                reason: reason.to_string(),
            });
        }
    };
    // The refresh token is not extended by refreshing: near its end, only a reconnect helps.
    if outcome == WindowOutcome::Refreshed {
        let after = keeper
            .connections
            .get_connection(tenant, id)
            .await
            .map_err(KeeperError::from)?;
        if let Some(lapse) = after.and_then(|c| c.refresh_token_expires_at) {
            if lapse - now <= REFRESH_TOKEN_NOTICE {
                let reason = ConnectionReason::AuthorizationEnding {
                    on: lapse.date_naive(),
                };
                keeper.set_attention(tenant, id, &reason, now).await?;
                return Ok(WindowOutcome::NeedsAttention {
                    reason: reason.to_string(),
                });
            }
        }
    }
    Ok(outcome)
}
