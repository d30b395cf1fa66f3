//! The `oauth` function: starts LinkedIn's authorization flow for a tenant and takes
//! LinkedIn's callback, turning a granted code into a stored, encrypted connection.

use std::time::Duration;

use anyhow::Context as _;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use connector::config::Config;
use connector::domain::{
    Connection, ConnectionId, Grant, MemberIdentity, Organization, PendingAuthorization, TenantId,
};
use connector::http::{self, ApiError};
use connector::linkedin::{LinkedInClient, LinkedInError, PropagationPatience, TokenGrant};
use connector::store::{Change, ConnectionStore, StoreError, Updated};
use connector::vault::{KmsKeys, TokenSet, TokenVault, VaultContext};
use lambda_http::{Body, Request, RequestExt, Response};
use rand::RngCore;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use tracing::{info, warn, Instrument};
use url::Url;

pub const AUTHORIZE_PATH: &str = "/v1/connections/linkedin/authorize";
pub const CALLBACK_PATH: &str = "/v1/oauth/linkedin/callback";

/// Everything the function needs, built once per cold start.
pub struct OAuthService {
    pub linkedin: LinkedInClient,
    pub store: ConnectionStore,
    pub vault: TokenVault<KmsKeys>,
    pub redirect_allow_list: connector::domain::RedirectAllowList,
    pub state_ttl: Duration,
    pub patience: PropagationPatience,
    /// Plans the new connection's refresh windows.
    pub windows: connector::schedules::JobScheduler,
}

impl OAuthService {
    pub fn from_config(config: &Config, sdk: &aws_config::SdkConfig) -> anyhow::Result<Self> {
        Ok(Self {
            linkedin: LinkedInClient::new(config.linkedin.clone())
                .context("building the LinkedIn HTTP client")?,
            store: ConnectionStore::new(
                aws_sdk_dynamodb::Client::new(sdk),
                config.table_name.clone(),
            ),
            vault: TokenVault::new(KmsKeys::new(
                aws_sdk_kms::Client::new(sdk),
                config.token_key_id.clone(),
            )),
            redirect_allow_list: config.redirect_allow_list.clone(),
            state_ttl: config.oauth_state_ttl,
            patience: PropagationPatience::default(),
            windows: connector::schedules::JobScheduler::new(
                aws_sdk_scheduler::Client::new(sdk),
                config.require_schedules()?.clone(),
            ),
        })
    }
}

/// Routes one API Gateway request. Every failure is already a response here.
pub async fn handle(request: Request, service: &OAuthService) -> Response<Body> {
    let span = tracing::info_span!(
        "oauth",
        request_id = %http::request_id_of(&request),
        tenant_id = tracing::field::Empty,
        connection_id = tracing::field::Empty,
    );
    async move {
        let method = request.method().as_str().to_owned();
        let result = match (method.as_str(), request.raw_http_path()) {
            ("POST", AUTHORIZE_PATH) => authorize(&request, service).await,
            ("GET", CALLBACK_PATH) => Ok(callback(&request, service).await),
            (_, AUTHORIZE_PATH | CALLBACK_PATH) => Err(ApiError::MethodNotAllowed),
            _ => Err(ApiError::NoRoute),
        };
        result.unwrap_or_else(ApiError::into_response)
    }
    .instrument(span)
    .await
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthorizeBody {
    redirect_after: Option<String>,
}

#[derive(Debug, Serialize)]
struct AuthorizeResponse {
    authorization_url: String,
    state: String,
    expires_at: DateTime<Utc>,
}

async fn authorize(request: &Request, service: &OAuthService) -> Result<Response<Body>, ApiError> {
    let tenant = http::tenant_of(request)?;
    let body: AuthorizeBody = http::json_body(request)?;
    let redirect_after = body
        .redirect_after
        .map(|raw| parse_redirect_after(&raw, &service.redirect_allow_list))
        .transpose()?;

    let state = new_state();
    let now = Utc::now();
    let expires_at =
        now + chrono::Duration::from_std(service.state_ttl).expect("state TTL fits in chrono");
    let scopes = service.linkedin.settings().scopes.clone();
    let pending = PendingAuthorization {
        tenant_id: tenant,
        redirect_after,
        scopes: scopes.clone(),
        created_at: now,
        expires_at,
    };
    service
        .store
        .put_pending_authorization(&state_hash(&state), &pending)
        .await
        .context("recording the pending authorization")
        .map_err(ApiError::internal)?;
    info!("authorization started");
    Ok(http::json(
        200,
        &AuthorizeResponse {
            authorization_url: service.linkedin.authorization_url(&state, &scopes).into(),
            state,
            expires_at,
        },
    ))
}

fn parse_redirect_after(
    raw: &str,
    allow_list: &connector::domain::RedirectAllowList,
) -> Result<Url, ApiError> {
    let url = Url::parse(raw).map_err(|_| {
        ApiError::validation("redirect_after", "redirect_after must be an absolute URL")
    })?;
    if !allow_list.permits(&url) {
        return Err(ApiError::validation(
            "redirect_after",
            "redirect_after is not on this deployment's REDIRECT_ALLOW_LIST",
        ));
    }
    Ok(url)
}

/// 256 random bits, URL-safe. The state is the callback's only authentication.
fn new_state() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Only the hash is stored, so a copy of the table yields no usable state.
pub fn state_hash(state: &str) -> String {
    http::sha256_hex(state.as_bytes())
}

#[derive(Debug, Default, Deserialize)]
struct CallbackQuery {
    state: Option<String>,
    code: Option<String>,
    error: Option<String>,
}

/// Why a callback did not produce a connection, as told to the tenant's app in `?error=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ConnectFailure {
    /// LinkedIn's own `error`, e.g. the member pressed Cancel.
    Declined,
    /// LinkedIn refused the code (expired, already used, wrong redirect).
    CodeRejected,
    /// LinkedIn could not be reached or failed; trying again later can work.
    LinkedInUnavailable,
    /// The granted token could not read the member's identity (missing scope or product).
    IdentityUnavailable,
    Internal,
}

impl ConnectFailure {
    fn code(self) -> &'static str {
        match self {
            Self::Declined => "access_denied",
            Self::CodeRejected => "authorization_code_rejected",
            Self::LinkedInUnavailable => "linkedin_unavailable",
            Self::IdentityUnavailable => "identity_unavailable",
            Self::Internal => "internal_error",
        }
    }
}

async fn callback(request: &Request, service: &OAuthService) -> Response<Body> {
    let query: CallbackQuery = request
        .uri()
        .query()
        .and_then(|q| serde_urlencoded::from_str(q).ok())
        .unwrap_or_default();
    let wants_html = request
        .headers()
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));

    let Some(state) = query.state.as_deref().filter(|s| !s.is_empty()) else {
        return callback_error(wants_html, "state", "the callback has no state");
    };
    // Taken (deleted) before anything else: a state works once, whatever happens next.
    let pending = match service
        .store
        .take_pending_authorization(&state_hash(state))
        .await
    {
        Ok(Some(pending)) => pending,
        Ok(None) => {
            warn!("callback with an unknown or already used state");
            return callback_error(
                wants_html,
                "state",
                "this authorization is unknown or was already used; start again from your app",
            );
        }
        Err(e) => {
            return ApiError::internal(
                anyhow::Error::new(e).context("taking the pending authorization"),
            )
            .into_response()
        }
    };
    tracing::Span::current().record("tenant_id", pending.tenant_id.as_str());
    if pending.is_expired(Utc::now()) {
        warn!("callback with an expired state");
        return callback_error(
            wants_html,
            "state",
            "this authorization has expired; start again from your app",
        );
    }

    if let Some(error) = query.error.as_deref() {
        // user_cancelled_login / user_cancelled_authorize: nothing to store.
        info!(linkedin_error = error, "member declined the authorization");
        return finish(&pending, Err(ConnectFailure::Declined));
    }
    let Some(code) = query.code.filter(|c| !c.is_empty()).map(SecretString::from) else {
        return callback_error(
            wants_html,
            "code",
            "the callback has neither code nor error",
        );
    };

    let outcome = connect(service, &pending.tenant_id, &code, &pending.scopes).await;
    match &outcome {
        Ok(connection) => {
            tracing::Span::current().record("connection_id", connection.id.to_string());
            info!(
                member_urn = %connection.member_urn,
                connect_count = connection.connect_count,
                organizations = connection.organizations.len(),
                "connection stored"
            );
        }
        Err(failure) => warn!(reason = failure.code(), "connection not made"),
    }
    finish(&pending, outcome.map(|c| (c.id, c.name)))
}

/// The member's browser goes back to the tenant's app, or sees a small page.
fn finish(
    pending: &PendingAuthorization,
    outcome: Result<(ConnectionId, String), ConnectFailure>,
) -> Response<Body> {
    if let Some(target) = &pending.redirect_after {
        let mut target = target.clone();
        match &outcome {
            Ok((id, _)) => target
                .query_pairs_mut()
                .append_pair("connection_id", &id.to_string()),
            Err(f) => target.query_pairs_mut().append_pair("error", f.code()),
        };
        return http::redirect(target.as_str());
    }
    match outcome {
        Ok((id, name)) => http::html(
            200,
            page(
                "LinkedIn connected",
                &format!(
                    "Connected as {}. Connection id: <code id=\"connection-id\">{id}</code>. You can close this window.",
                    http::escape_html(&name)
                ),
            ),
        ),
        Err(ConnectFailure::Declined) => http::html(
            200,
            page("LinkedIn not connected", "You cancelled; nothing was connected."),
        ),
        Err(f) => http::html(
            if f == ConnectFailure::Internal { 500 } else { 502 },
            page(
                "LinkedIn not connected",
                &format!("The connection could not be made ({}). Please try again.", f.code()),
            ),
        ),
    }
}

fn callback_error(wants_html: bool, field: &'static str, message: &str) -> Response<Body> {
    if wants_html {
        return http::html(
            400,
            page("LinkedIn not connected", &http::escape_html(message)),
        );
    }
    ApiError::validation(field, message).into_response()
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title></head>\
         <body style=\"font-family:sans-serif;max-width:40em;margin:3em auto\"><h1>{title}</h1><p>{body}</p></body></html>"
    )
}

/// Exchanges the code, reads who the member is, and stores the connection.
async fn connect(
    service: &OAuthService,
    tenant: &TenantId,
    code: &SecretString,
    requested_scopes: &[String],
) -> Result<Connection, ConnectFailure> {
    let grant = service.linkedin.exchange_code(code).await.map_err(|e| {
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
    let identity = service
        .linkedin
        .member_identity_of_fresh_token(&grant.access_token, service.patience)
        .await
        .map_err(|e| {
            warn!(error = %e, x_li_uuid = e.request_id().unwrap_or(""), "reading the member's identity failed");
            identity_failure(&e)
        })?;
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
    let connection = save_connection(service, tenant, identity, grant, scopes, organizations)
        .await
        .map_err(|e| {
            tracing::error!(error = format!("{e:#}"), "storing the connection failed");
            ConnectFailure::Internal
        })?;
    // Not fatal: the connection works, and the health check re-plans missing windows.
    if let Err(e) = service
        .windows
        .put_refresh_windows(
            tenant,
            connection.id,
            connection.access_token_expires_at,
            Utc::now(),
        )
        .await
    {
        warn!(error = %e, "could not plan the refresh windows");
    }
    Ok(connection)
}

fn identity_failure(error: &LinkedInError) -> ConnectFailure {
    match error.retry_class() {
        connector::linkedin::RetryClass::RetryLater { .. } => ConnectFailure::LinkedInUnavailable,
        _ => ConnectFailure::IdentityUnavailable,
    }
}

/// Creates the tenant's connection for this member, or updates the one it already has (same
/// id, first-connect date and count kept). Races with a concurrent callback for the same
/// member are settled by the store's conditions, then re-read.
async fn save_connection(
    service: &OAuthService,
    tenant: &TenantId,
    identity: MemberIdentity,
    grant: TokenGrant,
    scopes: Vec<String>,
    organizations: Vec<Organization>,
) -> anyhow::Result<Connection> {
    let tokens = TokenSet {
        access_token: grant.access_token,
        refresh_token: grant.refresh_token,
    };
    let grant = Grant {
        identity,
        scopes,
        organizations,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_are_long_random_and_url_safe() {
        let a = new_state();
        let b = new_state();
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert!(a
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
    }

    #[test]
    fn the_stored_state_hash_is_not_the_state() {
        let state = new_state();
        let hash = state_hash(&state);
        assert_eq!(hash.len(), 64);
        assert!(!hash.contains(&state));
        assert_eq!(hash, state_hash(&state));
    }

    #[test]
    fn redirect_after_off_the_allow_list_is_refused_with_the_field_named() {
        let list = connector::domain::RedirectAllowList::parse("https://app.example.com").unwrap();
        let err = parse_redirect_after("https://evil.test/", &list).unwrap_err();
        assert!(matches!(
            err,
            ApiError::Validation {
                field: "redirect_after",
                ..
            }
        ));
        let err = parse_redirect_after("/relative", &list).unwrap_err();
        assert!(matches!(
            err,
            ApiError::Validation {
                field: "redirect_after",
                ..
            }
        ));
        assert!(parse_redirect_after("https://app.example.com/done", &list).is_ok());
    }
}
