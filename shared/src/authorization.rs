//! What the oauth function's routes take and answer. The bodies live here, not in the function,
//! so the api function's OpenAPI document describes them from the same types.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `POST /v1/connections/linkedin/authorize` and `POST /v1/connections/{id}/reconnect`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuthorizeBody {
    /// Where the member's browser goes afterwards (https, under the tenant's redirect
    /// allow-list), with `connection_id` or `error`.
    pub redirect_after: Option<String>,
    /// Your opaque value (1–256 characters, no control characters), handed back unchanged.
    /// Read as any JSON value so that a wrong type is a 400 naming this field.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub client_state: Option<Value>,
    /// The deployment's LinkedIn app (`member` by default; a reconnect uses the connection's
    /// own). Read as any JSON value for the same reason.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::domain::LinkedInApp>))]
    pub app: Option<Value>,
}

/// Where to send the member's browser, and the single-use state that authenticates the
/// callback.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuthorizeResponse {
    pub authorization_url: String,
    pub state: String,
    pub expires_at: DateTime<Utc>,
}

/// `GET /v1/oauth/linkedin/callback`: LinkedIn's redirect back.
#[derive(Debug, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct CallbackQuery {
    /// The single-use state of the authorization; it authenticates the callback.
    pub state: Option<String>,
    /// LinkedIn's authorization code, when the member allowed.
    pub code: Option<String>,
    /// LinkedIn's error, e.g. `user_cancelled_authorize` when the member declined.
    pub error: Option<String>,
}
