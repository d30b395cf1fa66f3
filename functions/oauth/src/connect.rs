//! A granted code becomes a stored, encrypted connection: exchange, identity, organizations,
//! then one connection per member per tenant.

use anyhow::Context as _;
use chrono::Utc;
use connector::domain::{
    missing_scopes, Connection, ConnectionId, Grant, MemberIdentity, Organization,
    PendingAuthorization, TenantId,
};
use connector::linkedin::{LinkedInClient, LinkedInError, TokenGrant};
use connector::schedules::Expect;
use connector::store::{Change, StoreError, Updated};
use connector::vault::{TokenSet, VaultContext};
use secrecy::SecretString;
use tracing::{info, warn};

use crate::callback::ConnectFailure;
use crate::OAuthService;

/// Exchanges the code (with the credentials of the app the member was sent to), reads who the
/// member is and their organizations, and stores the connection with what LinkedIn granted and
/// what it silently left out. LinkedIn calls: token, userinfo, and one organizationAcls call
/// (with the pages' names and logos projected in) when the scopes allow it.
pub(crate) async fn connect(
    service: &OAuthService,
    pending: &PendingAuthorization,
    code: &SecretString,
) -> Result<Connection, ConnectFailure> {
    let tenant = &pending.tenant_id;
    let requested_scopes = &pending.scopes;
    let grant = service
        .linkedin
        .exchange_code(pending.app, code)
        .await
        .map_err(|e| {
            warn!(error = %e, "code exchange failed");
            match e.retry_class() {
                connector::linkedin::RetryClass::RetryLater { .. } => {
                    ConnectFailure::LinkedInUnavailable
                }
                _ => ConnectFailure::CodeRejected,
            }
        })?;
    // LinkedIn's answer normally lists the granted scopes; when it does not, what was asked.
    let scopes = if grant.scopes.is_empty() {
        requested_scopes.to_vec()
    } else {
        grant.scopes.clone()
    };
    let missing = missing_scopes(requested_scopes, &scopes);
    if !missing.is_empty() {
        info!(
            missing = missing.join(" "),
            "LinkedIn did not grant every scope asked for"
        );
    }
    let identity = service
        .linkedin
        .member_identity_of_fresh_token(&grant.access_token, &scopes, service.patience)
        .await
        .map_err(|e| {
            warn!(error = %e, x_li_uuid = e.request_id().unwrap_or(""), "reading the member's identity failed");
            identity_failure(&e)
        })?;
    if let Some(id) = pending.reconnect {
        only_its_member(service, tenant, id, &identity).await?;
    }
    let organizations = if LinkedInClient::can_read_organizations(&scopes) {
        match service.linkedin.organizations(&grant.access_token).await {
            Ok(organizations) => organizations,
            Err(e) => {
                // Not fatal: the member can still post as themself; a reconnect retries.
                warn!(error = %e, "reading the member's organizations failed; storing none");
                Vec::new()
            }
        }
    } else {
        Vec::new()
    };
    let granted = Granted {
        app: pending.app,
        scopes,
        missing_scopes: missing,
        organizations,
    };
    let connection = save_connection(service, tenant, identity, grant, granted)
        .await
        .map_err(|e| {
            tracing::error!(error = format!("{e:#}"), "storing the connection failed");
            ConnectFailure::Internal
        })?;
    // A first connect's schedules do not exist yet; a reconnect replaces them.
    let expect = if connection.connect_count <= 1 {
        Expect::New
    } else {
        Expect::Existing
    };
    // Not fatal: the connection works (a publish's 401 still refreshes its token); the
    // failure is logged for an operator, and the member's next connect plans them again.
    if let Err(e) = service
        .windows
        .put_refresh_windows(
            tenant,
            connection.id,
            connection.access_token_expires_at,
            Utc::now(),
            expect,
        )
        .await
    {
        warn!(error = %e, "could not plan the refresh windows");
    }
    // Not fatal either, and logged the same way.
    if let Err(e) = service
        .windows
        .put_reconnect_runways(
            tenant,
            connection.id,
            connection.reconnect_by(),
            Utc::now(),
            expect,
        )
        .await
    {
        warn!(error = %e, "could not plan the reconnect runways");
    }
    Ok(connection)
}

/// A reconnect renews its connection only for the member it belongs to: another member's
/// consent stores nothing (their token is dropped unused, and expires).
async fn only_its_member(
    service: &OAuthService,
    tenant: &TenantId,
    id: ConnectionId,
    identity: &MemberIdentity,
) -> Result<(), ConnectFailure> {
    let connection = service
        .store
        .get_connection(tenant, id)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "reading the connection to reconnect failed");
            ConnectFailure::Internal
        })?;
    match connection {
        Some(c) if c.member_urn == identity.member_urn => Ok(()),
        Some(_) => {
            warn!(connection_id = %id, "a reconnect was allowed by another member; nothing stored");
            Err(ConnectFailure::OtherMember)
        }
        None => Err(ConnectFailure::Internal),
    }
}

fn identity_failure(error: &LinkedInError) -> ConnectFailure {
    match error.retry_class() {
        connector::linkedin::RetryClass::RetryLater { .. } => ConnectFailure::LinkedInUnavailable,
        _ => ConnectFailure::IdentityUnavailable,
    }
}

/// What the member granted, beside the tokens.
struct Granted {
    app: connector::domain::LinkedInApp,
    scopes: Vec<String>,
    missing_scopes: Vec<String>,
    organizations: Vec<Organization>,
}

/// Creates the tenant's connection for this member, or updates the one it already has (same
/// id, first-connect date and count kept). Races with a concurrent callback for the same
/// member are settled by the store's conditions, then re-read.
async fn save_connection(
    service: &OAuthService,
    tenant: &TenantId,
    identity: MemberIdentity,
    grant: TokenGrant,
    granted: Granted,
) -> anyhow::Result<Connection> {
    let tokens = TokenSet {
        access_token: grant.access_token,
        refresh_token: grant.refresh_token,
    };
    let grant = Grant {
        identity,
        app: granted.app,
        scopes: granted.scopes,
        missing_scopes: granted.missing_scopes,
        organizations: granted.organizations,
        access_token_expires_at: grant.access_token_expires_at,
        refresh_token_expires_at: grant.refresh_token_expires_at,
    };
    let member = &grant.identity.member_urn;
    // At most twice: a first connect that loses the race for the member item to a concurrent
    // callback finds that callback's connection the second time and updates it.
    for _ in 0..2 {
        let existing = service
            .store
            .connection_id_for_member(tenant, member)
            .await
            .context("looking up the member's connection")?;
        let Some(id) = existing else {
            let connection = Connection::connected(tenant, &grant, None, Utc::now());
            let sealed = seal(service, tenant, connection.id, &tokens).await?;
            match service.store.create_connection(&connection, &sealed).await {
                Ok(()) => return Ok(connection),
                Err(StoreError::Conflict(detail)) => {
                    info!(
                        detail,
                        "the member was connected concurrently; updating that connection"
                    );
                    continue;
                }
                Err(e) => return Err(anyhow::Error::new(e).context("creating the connection")),
            }
        };
        // The tokens are sealed for the connection's id, which a reconnect keeps.
        let sealed = seal(service, tenant, id, &tokens).await?;
        let updated = service
            .store
            .update_revoked_too(tenant, id, |stored| {
                let again =
                    Connection::connected(tenant, &grant, Some(&stored.connection), Utc::now());
                Change::WithTokens(again, sealed.clone())
            })
            .await
            .context("updating the member's connection")?;
        return match updated {
            Updated::Written(stored) => Ok(stored.connection),
            _ => anyhow::bail!("member item points at missing connection {id}"),
        };
    }
    anyhow::bail!("the member's connection kept changing while it was stored")
}

async fn seal(
    service: &OAuthService,
    tenant: &TenantId,
    id: ConnectionId,
    tokens: &TokenSet,
) -> anyhow::Result<connector::vault::SealedTokens> {
    service
        .vault
        .seal(&VaultContext::new(tenant, id), tokens)
        .await
        .context("sealing the connection's tokens")
}
