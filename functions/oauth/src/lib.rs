//! The `oauth` function: starts LinkedIn's authorization flow for a tenant and takes
//! LinkedIn's callback, turning a granted code into a stored, encrypted connection.

mod authorize;
mod callback;
mod connect;

pub use authorize::state_hash;
use authorize::{authorize, reconnect};
use callback::callback;

use std::time::Duration;

use anyhow::Context as _;
use connector::config::Config;
use connector::http::{self, ApiError};
use connector::linkedin::{LinkedInClient, PropagationPatience};
use connector::store::{ConnectionStore, TenantStore};
use connector::vault::{KmsKeys, TokenVault};
use lambda_http::{Body, Request, RequestExt, Response};
use tracing::Instrument;

pub const AUTHORIZE_PATH: &str = "/v1/connections/linkedin/authorize";
pub const CALLBACK_PATH: &str = "/v1/oauth/linkedin/callback";

/// Everything the function needs, built once per cold start.
pub struct OAuthService {
    pub linkedin: LinkedInClient,
    pub store: ConnectionStore,
    /// Tenant settings: a tenant's own redirect allow-list.
    pub tenants: TenantStore,
    pub vault: TokenVault<KmsKeys>,
    /// The deployment's allow-list, for tenants without their own.
    pub redirect_allow_list: connector::domain::RedirectAllowList,
    pub state_ttl: Duration,
    pub patience: PropagationPatience,
    /// Plans the new connection's refresh windows.
    pub windows: connector::schedules::JobScheduler,
}

impl OAuthService {
    pub fn from_config(config: &Config, sdk: &aws_config::SdkConfig) -> anyhow::Result<Self> {
        let dynamo = aws_sdk_dynamodb::Client::new(sdk);
        Ok(Self {
            linkedin: LinkedInClient::new(config.linkedin.clone(), config.metrics.clone())
                .context("building the LinkedIn HTTP client")?,
            store: ConnectionStore::new(dynamo.clone(), config.table_name.clone()),
            tenants: TenantStore::new(dynamo, config.table_name.clone()),
            vault: TokenVault::new(KmsKeys::new(
                connector::aws_clients::LazyClient::from_sdk(sdk, aws_sdk_kms::Client::new),
                config.token_key_id.clone(),
            )),
            redirect_allow_list: config.redirect_allow_list.clone(),
            state_ttl: config.oauth_state_ttl,
            patience: PropagationPatience::default(),
            windows: connector::schedules::JobScheduler::new(
                sdk,
                config.require_schedules()?.clone(),
            ),
        })
    }
}

/// The connection id of `/v1/connections/{id}/reconnect`.
fn reconnect_target(path: &str) -> Option<&str> {
    path.strip_prefix("/v1/connections/")?
        .strip_suffix("/reconnect")
        .filter(|id| !id.is_empty() && !id.contains('/'))
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
            ("POST", path) if reconnect_target(path).is_some() => {
                let id = reconnect_target(path).unwrap_or_default().to_owned();
                reconnect(&request, service, &id).await
            }
            ("GET", CALLBACK_PATH) => Ok(callback(&request, service).await),
            (_, AUTHORIZE_PATH | CALLBACK_PATH) => Err(ApiError::MethodNotAllowed),
            _ => Err(ApiError::NoRoute),
        };
        result.unwrap_or_else(ApiError::into_response)
    }
    .instrument(span)
    .await
}
