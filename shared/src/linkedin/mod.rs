//! The one LinkedIn client: OAuth (www host) and the REST API (api host). It knows LinkedIn's
//! wire formats and quirks; callers see domain types and a classified [`LinkedInError`].

mod analytics;
mod edits;
mod error;
mod little_text;
mod posts;
mod upload_hosts;
mod uploads;
mod version;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::{header, Method, RequestBuilder, Response};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tracing::{debug, warn};
use url::Url;

pub use analytics::{MemberPostCounts, ShareCounts, SHARE_STATISTICS_BATCH};
pub use edits::{can_read_post, PostReading};
pub(crate) use error::classify_api_failure;
use error::{classify_oauth_failure, parse_retry_after};
pub use error::{until_next_utc_midnight, LinkedInError, RetryClass};
pub use little_text::{escape_little_text, is_mentionable, mentions_in, with_mentions, Mention};
pub use posts::{ArticleCard, ImageUpload, MediaStatus, PostBody, PostContent, PostImage};
pub use upload_hosts::{UploadHosts, DEFAULT_UPLOAD_HOSTS};
pub use uploads::{DocumentUpload, UploadError, VideoPart, VideoUpload};
pub use version::{log_version_state, ApiVersion, VersionState, WARN_DAYS_BEFORE_RETIREMENT};

use crate::config::{parse_scopes, ConfigError, LinkedInSettings};
use crate::domain::{LinkedInApp, MemberIdentity, MemberUrn, Organization};
use crate::metrics::{LinkedInCall, Metrics};

/// What LinkedIn's token endpoint grants. Tokens stay secret from here to the token vault.
#[derive(Debug)]
pub struct TokenGrant {
    pub access_token: SecretString,
    pub access_token_expires_at: DateTime<Utc>,
    pub scopes: Vec<String>,
    /// Only apps approved for programmatic refresh tokens get one.
    pub refresh_token: Option<SecretString>,
    pub refresh_token_expires_at: Option<DateTime<Utc>>,
    /// When the grant was received (what the expiries above count from).
    pub received_at: DateTime<Utc>,
}

impl TokenGrant {
    /// The expiries counted from `as_of` instead of the time of receipt: for a caller that
    /// reasons at a scheduled time (a refresh window opened by a scheduler whose clock runs
    /// ahead, as the local stack's does). With `as_of` just before receipt, as in AWS, they
    /// come a moment earlier, which errs on the safe side.
    pub fn expiries_as_of(&self, as_of: DateTime<Utc>) -> (DateTime<Utc>, Option<DateTime<Utc>>) {
        let shift = as_of - self.received_at;
        (
            self.access_token_expires_at + shift,
            self.refresh_token_expires_at.map(|t| t + shift),
        )
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: SecretString,
    expires_in: i64,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    refresh_token: Option<SecretString>,
    #[serde(default)]
    refresh_token_expires_in: Option<i64>,
}

#[derive(Deserialize)]
struct UserInfo {
    sub: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    given_name: Option<String>,
    #[serde(default)]
    family_name: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    picture: Option<String>,
    // `locale` is a string or {country, language} depending on the member; it is not used.
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LegacyProfile {
    id: String,
    #[serde(default)]
    localized_first_name: Option<String>,
    #[serde(default)]
    localized_last_name: Option<String>,
}

#[derive(Deserialize)]
struct AclPage {
    #[serde(default)]
    elements: Vec<AclElement>,
}

#[derive(Deserialize)]
struct AclElement {
    organization: String,
    role: String,
    #[serde(default)]
    state: Option<String>,
    /// The organization decorated by [`ORGANIZATION_PROJECTION`].
    #[serde(rename = "organization~", default)]
    details: Option<OrganizationDetails>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OrganizationDetails {
    #[serde(default)]
    localized_name: Option<String>,
    #[serde(default)]
    vanity_name: Option<String>,
    #[serde(default)]
    logo_v2: Option<LogoV2>,
}

/// `logoV2(original~:playableStreams)`: the digital media asset, decorated with its renditions.
#[derive(Deserialize)]
struct LogoV2 {
    #[serde(rename = "original~", default)]
    original: Option<MediaRenditions>,
}

#[derive(Deserialize)]
struct MediaRenditions {
    #[serde(default)]
    elements: Vec<Rendition>,
}

#[derive(Deserialize)]
struct Rendition {
    #[serde(default)]
    identifiers: Vec<RenditionIdentifier>,
}

#[derive(Deserialize)]
struct RenditionIdentifier {
    identifier: String,
}

impl OrganizationDetails {
    /// The largest rendition's URL (LinkedIn lists them smallest first).
    fn logo_url(&self) -> Option<String> {
        let renditions = &self.logo_v2.as_ref()?.original.as_ref()?.elements;
        renditions
            .iter()
            .rev()
            .find_map(|r| r.identifiers.first())
            .map(|i| i.identifier.clone())
    }
}

/// Decorates each ACL with the organization's name, vanity name and logo, so one call reads the
/// pages and what they look like (no lookup per page).
const ORGANIZATION_PROJECTION: &str = "(paging,elements*(organization,role,state,organization~(localizedName,vanityName,logoV2(original~:playableStreams))))";

/// How long to keep asking when a brand-new token answers 401 65601/65602: LinkedIn's tokens
/// take a few seconds to propagate (one public script sleeps 5 s). Bounded, because the same
/// codes also mean the token really is revoked or expired.
#[derive(Debug, Clone, Copy)]
pub struct PropagationPatience {
    pub attempts: u32,
    pub first_delay: Duration,
}

impl Default for PropagationPatience {
    fn default() -> Self {
        // 0.5 + 1 + 2 + 4 s: up to 7.5 s, well inside API Gateway's 30 s.
        Self {
            attempts: 5,
            first_delay: Duration::from_millis(500),
        }
    }
}

#[derive(Debug, Clone)]
pub struct LinkedInClient {
    /// Built at the first call ([`LinkedInClient::http`]), not at cold start: building it loads
    /// and parses the system's root certificates (rustls-platform-verifier), a cost on every
    /// cold start of a function that may not call LinkedIn in its first invocation (or at all:
    /// an API request, a health task for another connection). Clones share it.
    http: Arc<OnceLock<reqwest::Client>>,
    settings: LinkedInSettings,
    client_secret: SecretString,
    /// The second app's, when the deployment has one.
    pages_secret: Option<SecretString>,
    /// Every call's latency goes here ([`LinkedInCall`]); so do the metrics of those who
    /// hold the client ([`LinkedInClient::metrics`]).
    metrics: Metrics,
}

impl LinkedInClient {
    /// The client of a function that calls LinkedIn: it needs the app's client secret.
    pub fn new(settings: LinkedInSettings, metrics: Metrics) -> Result<Self, ConfigError> {
        let client_secret = settings
            .client_secret
            .clone()
            .ok_or(ConfigError::Missing("LINKEDIN_CLIENT_SECRET"))?;
        let pages_secret = match &settings.pages {
            None => None,
            Some(pages) => Some(
                pages
                    .client_secret
                    .clone()
                    .ok_or(ConfigError::Missing("LINKEDIN_PAGES_CLIENT_SECRET"))?,
            ),
        };
        Ok(Self {
            http: Arc::default(),
            settings,
            client_secret,
            pages_secret,
            metrics,
        })
    }

    /// The HTTP client, built by the first call that needs it (see [`LinkedInClient`]'s
    /// `http`). It can only fail where the system has no root certificates: that call then
    /// fails as one that could not connect, and the next tries again.
    fn http(&self) -> Result<&reqwest::Client, LinkedInError> {
        if let Some(http) = self.http.get() {
            return Ok(http);
        }
        let http = reqwest::Client::builder()
            .timeout(self.settings.request_timeout)
            .connect_timeout(Duration::from_secs(3))
            .user_agent(concat!("linkedin-connector/", env!("CARGO_PKG_VERSION")))
            // Redirects are never expected from LinkedIn's APIs; following one could forward
            // the bearer token somewhere else.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|source| LinkedInError::Transport {
                timed_out: false,
                sent: false,
                source,
            })?;
        // Two first calls at once may both build one; the first stored is kept.
        Ok(self.http.get_or_init(|| http))
    }

    /// The metrics of the function this client works for.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// `app`'s client id and secret. A connection of a pages app the deployment no longer has
    /// cannot be refreshed or revoked: that fails fast.
    fn credentials(&self, app: LinkedInApp) -> Result<(&str, &SecretString), LinkedInError> {
        match (app, &self.settings.pages, &self.pages_secret) {
            (LinkedInApp::Member, _, _) => Ok((&self.settings.client_id, &self.client_secret)),
            (LinkedInApp::Pages, Some(pages), Some(secret)) => Ok((&pages.client_id, secret)),
            (LinkedInApp::Pages, _, _) => Err(LinkedInError::Unexpected {
                status: 0,
                detail: "the connection belongs to the pages app, which this deployment no longer configures".into(),
            }),
        }
    }

    pub fn settings(&self) -> &LinkedInSettings {
        &self.settings
    }

    /// The member's browser goes here to grant `app` access.
    pub fn authorization_url(
        &self,
        app: LinkedInApp,
        state: &str,
        scopes: &[String],
    ) -> Result<Url, LinkedInError> {
        let (client_id, _) = self.credentials(app)?;
        let mut url = self.auth_url("/oauth/v2/authorization");
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", client_id)
            .append_pair("redirect_uri", self.settings.redirect_uri.as_str())
            .append_pair("scope", &scopes.join(" "))
            .append_pair("state", state);
        Ok(url)
    }

    /// With the credentials of `app`, the app the member granted access to.
    #[tracing::instrument(name = "linkedin.exchange_code", skip_all, fields(app = app.as_str()))]
    pub async fn exchange_code(
        &self,
        app: LinkedInApp,
        code: &SecretString,
    ) -> Result<TokenGrant, LinkedInError> {
        let (client_id, client_secret) = self.credentials(app)?;
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.expose_secret()),
            ("client_id", client_id),
            ("client_secret", client_secret.expose_secret()),
            ("redirect_uri", self.settings.redirect_uri.as_str()),
        ];
        self.token_request(LinkedInCall::ExchangeCode, &form).await
    }

    /// With the credentials of `app`, the app that issued the refresh token (another app's
    /// are refused as an invalid grant).
    #[tracing::instrument(name = "linkedin.refresh", skip_all, fields(app = app.as_str()))]
    pub async fn refresh(
        &self,
        app: LinkedInApp,
        refresh_token: &SecretString,
    ) -> Result<TokenGrant, LinkedInError> {
        let (client_id, client_secret) = self.credentials(app)?;
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.expose_secret()),
            ("client_id", client_id),
            ("client_secret", client_secret.expose_secret()),
        ];
        self.token_request(LinkedInCall::Refresh, &form).await
    }

    /// Revoking the access token also invalidates its refresh token. With the credentials of
    /// `app`, the app that issued the token.
    #[tracing::instrument(name = "linkedin.revoke", skip_all, fields(app = app.as_str()))]
    pub async fn revoke(
        &self,
        app: LinkedInApp,
        token: &SecretString,
    ) -> Result<(), LinkedInError> {
        let (client_id, client_secret) = self.credentials(app)?;
        let form = [
            ("client_id", client_id),
            ("client_secret", client_secret.expose_secret()),
            ("token", token.expose_secret()),
        ];
        let response = self
            .send(
                LinkedInCall::Revoke,
                self.http()?
                    .post(self.auth_url("/oauth/v2/revoke"))
                    .form(&form),
            )
            .await?;
        if response.status().is_success() {
            return Ok(());
        }
        let status = response.status().as_u16();
        Err(classify_oauth_failure(status, &body_text(response).await?))
    }

    /// Identity from OpenID's /v2/userinfo; /v2/me for apps that have the profile products but
    /// not OpenID (with only OpenID scopes /v2/me answers 403, so it cannot come first).
    #[tracing::instrument(name = "linkedin.member_identity", skip_all)]
    pub async fn member_identity(
        &self,
        access_token: &SecretString,
    ) -> Result<MemberIdentity, LinkedInError> {
        match self.userinfo(access_token).await {
            Err(LinkedInError::Rejected { status: 403, .. }) => {
                debug!("userinfo refused with 403; falling back to /v2/me");
                self.me(access_token).await
            }
            other => other,
        }
    }

    /// Like [`Self::member_identity`], for a token issued moments ago: a 401 65601/65602 is
    /// waited out (bounded) instead of taken as a dead token. A grant with a profile scope and
    /// no `openid` (a Community Management app has no OpenID product) goes to /v2/me at once,
    /// sparing a userinfo call that can only answer 403.
    pub async fn member_identity_of_fresh_token(
        &self,
        access_token: &SecretString,
        granted_scopes: &[String],
        patience: PropagationPatience,
    ) -> Result<MemberIdentity, LinkedInError> {
        let has = |scope: &str| granted_scopes.iter().any(|s| s == scope);
        let profile_only = !has("openid") && (has("r_basicprofile") || has("r_liteprofile"));
        let mut delay = patience.first_delay;
        let mut attempt = 1;
        loop {
            let identity = match profile_only {
                true => self.me(access_token).await,
                false => self.member_identity(access_token).await,
            };
            match identity {
                Err(e) if e.may_be_propagation_delay() && attempt < patience.attempts => {
                    debug!(
                        attempt,
                        delay_ms = delay.as_millis() as u64,
                        "fresh token not yet propagated; waiting"
                    );
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    pub async fn userinfo(
        &self,
        access_token: &SecretString,
    ) -> Result<MemberIdentity, LinkedInError> {
        let response = self
            .api(
                LinkedInCall::UserInfo,
                Method::GET,
                "/v2/userinfo",
                access_token,
                ApiFlavour::Plain,
            )
            .await?;
        let info: UserInfo = decode(200, response).await?;
        let name = info
            .name
            .unwrap_or_else(|| join_name(info.given_name.as_deref(), info.family_name.as_deref()));
        Ok(MemberIdentity {
            member_urn: MemberUrn::from_member_id(&info.sub),
            name,
            email: info.email,
            picture: info.picture,
        })
    }

    pub async fn me(&self, access_token: &SecretString) -> Result<MemberIdentity, LinkedInError> {
        let response = self
            .api(
                LinkedInCall::Me,
                Method::GET,
                "/v2/me",
                access_token,
                ApiFlavour::Plain,
            )
            .await?;
        let me: LegacyProfile = decode(200, response).await?;
        Ok(MemberIdentity {
            member_urn: MemberUrn::from_member_id(&me.id),
            name: join_name(
                me.localized_first_name.as_deref(),
                me.localized_last_name.as_deref(),
            ),
            email: None,
            picture: None,
        })
    }

    /// Organizations the member holds an approved role on (organizationAcls, role assignee),
    /// with each page's name, vanity name and logo from the same call's projection: one call
    /// per hundred pages.
    #[tracing::instrument(name = "linkedin.organizations", skip_all)]
    pub async fn organizations(
        &self,
        access_token: &SecretString,
    ) -> Result<Vec<Organization>, LinkedInError> {
        const PAGE: usize = 100;
        let mut organizations = Vec::new();
        for page in 0..20 {
            let path = format!(
                "/rest/organizationAcls?q=roleAssignee&state=APPROVED&start={}&count={PAGE}&projection={ORGANIZATION_PROJECTION}",
                page * PAGE
            );
            let response = self
                .api(
                    LinkedInCall::OrganizationAcls,
                    Method::GET,
                    &path,
                    access_token,
                    ApiFlavour::Versioned,
                )
                .await?;
            let acl: AclPage = decode(200, response).await?;
            let n = acl.elements.len();
            organizations.extend(
                acl.elements
                    .into_iter()
                    .filter(|e| e.state.as_deref().is_none_or(|s| s == "APPROVED"))
                    .map(|e| Organization {
                        logo_url: e.details.as_ref().and_then(OrganizationDetails::logo_url),
                        name: e.details.as_ref().and_then(|d| d.localized_name.clone()),
                        vanity_name: e.details.and_then(|d| d.vanity_name),
                        urn: e.organization,
                        role: e.role,
                    }),
            );
            if n < PAGE {
                break;
            }
        }
        Ok(organizations)
    }

    /// Which of `organizations` (`urn:li:organization:N`) LinkedIn does not know: one batch
    /// lookup (`organizationsLookup`, at most 50 ids; an admin scope is needed).
    #[tracing::instrument(name = "linkedin.organizations_lookup", skip_all)]
    pub async fn unknown_organizations(
        &self,
        access_token: &SecretString,
        organizations: &[String],
    ) -> Result<Vec<String>, LinkedInError> {
        #[derive(Deserialize)]
        struct Lookup {
            #[serde(default)]
            results: std::collections::HashMap<String, serde_json::Value>,
        }
        let ids: Vec<&str> = organizations
            .iter()
            .filter_map(|urn| urn.strip_prefix("urn:li:organization:"))
            .take(50)
            .collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let path = format!("/rest/organizationsLookup?ids=List({})", ids.join(","));
        let response = self
            .api(
                LinkedInCall::OrganizationsLookup,
                Method::GET,
                &path,
                access_token,
                ApiFlavour::Versioned,
            )
            .await?;
        let found: Lookup = decode(200, response).await?;
        Ok(ids
            .into_iter()
            .filter(|id| !found.results.contains_key(*id))
            .map(|id| format!("urn:li:organization:{id}"))
            .collect())
    }

    /// Whether granted scopes allow reading the member's organization roles.
    pub fn can_read_organizations(scopes: &[String]) -> bool {
        scopes
            .iter()
            .any(|s| s == "r_organization_admin" || s == "rw_organization_admin")
    }

    async fn token_request(
        &self,
        call: LinkedInCall,
        form: &[(&str, &str)],
    ) -> Result<TokenGrant, LinkedInError> {
        // Form-encoded, as LinkedIn requires; a JSON body is refused.
        let response = self
            .send(
                call,
                self.http()?
                    .post(self.auth_url("/oauth/v2/accessToken"))
                    .form(form),
            )
            .await?;
        let status = response.status().as_u16();
        if !response.status().is_success() {
            let error = classify_oauth_failure(status, &body_text(response).await?);
            warn!(status, error = %error, "LinkedIn token endpoint refused the request");
            return Err(error);
        }
        let token: TokenResponse = decode(status, response).await?;
        let now = Utc::now();
        Ok(TokenGrant {
            access_token: token.access_token,
            access_token_expires_at: now + chrono::Duration::seconds(token.expires_in),
            scopes: token.scope.as_deref().map(parse_scopes).unwrap_or_default(),
            refresh_token: token.refresh_token,
            refresh_token_expires_at: token
                .refresh_token_expires_in
                .map(|s| now + chrono::Duration::seconds(s)),
            received_at: now,
        })
    }

    async fn api(
        &self,
        call: LinkedInCall,
        method: Method,
        path_and_query: &str,
        access_token: &SecretString,
        flavour: ApiFlavour,
    ) -> Result<Response, LinkedInError> {
        self.api_with_body(call, method, path_and_query, access_token, flavour, None)
            .await
    }

    async fn api_with_body(
        &self,
        call: LinkedInCall,
        method: Method,
        path_and_query: &str,
        access_token: &SecretString,
        flavour: ApiFlavour,
        body: Option<&serde_json::Value>,
    ) -> Result<Response, LinkedInError> {
        let headers = &[];
        self.request_api(
            call,
            method,
            path_and_query,
            access_token,
            flavour,
            headers,
            body,
        )
        .await
    }

    /// A versioned (`/rest`) call with extra headers (`X-RestLi-Method`).
    async fn api_with_headers(
        &self,
        call: LinkedInCall,
        method: Method,
        path_and_query: &str,
        access_token: &SecretString,
        headers: &[(&str, &str)],
        body: Option<&serde_json::Value>,
    ) -> Result<Response, LinkedInError> {
        let flavour = ApiFlavour::Versioned;
        self.request_api(
            call,
            method,
            path_and_query,
            access_token,
            flavour,
            headers,
            body,
        )
        .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn request_api(
        &self,
        call: LinkedInCall,
        method: Method,
        path_and_query: &str,
        access_token: &SecretString,
        flavour: ApiFlavour,
        headers: &[(&str, &str)],
        body: Option<&serde_json::Value>,
    ) -> Result<Response, LinkedInError> {
        let url = self
            .settings
            .api_base_url
            .join(path_and_query)
            .expect("API paths are valid relative URLs");
        let mut request = self
            .http()?
            .request(method, url)
            .bearer_auth(access_token.expose_secret());
        match flavour {
            ApiFlavour::Plain => {}
            ApiFlavour::Restli2 => {
                request = request.header("X-Restli-Protocol-Version", "2.0.0");
            }
            ApiFlavour::Versioned => {
                request = request
                    .header("LinkedIn-Version", self.settings.api_version.to_string())
                    .header("X-Restli-Protocol-Version", "2.0.0");
            }
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = self.send(call, request).await?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status();
        let headers = response.headers().clone();
        let now = Utc::now();
        let retry_after = headers
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, now));
        let request_id = request_id_of(&headers);
        let error = classify_api_failure(
            status.as_u16(),
            retry_after,
            request_id.clone(),
            &body_text(response).await?,
            now,
        );
        warn!(
            status = status.as_u16(),
            x_li_uuid = request_id.as_deref().unwrap_or(""),
            path = path_without_query(path_and_query),
            error = %error,
            "LinkedIn API call failed"
        );
        Err(error)
    }

    /// Every request to LinkedIn goes out here, and its latency (to the answer's head, or to
    /// the transport's failure) is measured by `call`.
    async fn send(
        &self,
        call: LinkedInCall,
        request: RequestBuilder,
    ) -> Result<Response, LinkedInError> {
        let started = std::time::Instant::now();
        let sent = request.send().await;
        self.metrics.linkedin_latency(call, started.elapsed());
        // The URL is redacted: reqwest's Display shows it, and nothing secret is ever in our
        // URLs, but the error travels into logs and DLQ records.
        sent.map_err(LinkedInError::transport)
    }

    fn auth_url(&self, path: &str) -> Url {
        self.settings
            .auth_base_url
            .join(path)
            .expect("OAuth paths are valid relative URLs")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ApiFlavour {
    /// /v2 endpoints.
    Plain,
    /// /v2 Rest.li 2.0 endpoints (ugcPosts, assets).
    Restli2,
    /// /rest endpoints: `LinkedIn-Version` and Rest.li 2.0 headers.
    Versioned,
}

fn request_id_of(headers: &header::HeaderMap) -> Option<String> {
    ["x-li-uuid", "x-li-request-id"]
        .iter()
        .find_map(|h| headers.get(*h))
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn path_without_query(path: &str) -> &str {
    path.split('?').next().unwrap_or(path)
}

fn join_name(first: Option<&str>, last: Option<&str>) -> String {
    [first, last]
        .into_iter()
        .flatten()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// An error answer's body. One cut short is no answer at all: a transport failure whose
/// outcome is unknown, never a classification of half a message.
async fn body_text(response: Response) -> Result<String, LinkedInError> {
    response.text().await.map_err(LinkedInError::transport)
}

async fn decode<T: for<'de> Deserialize<'de>>(
    status: u16,
    response: Response,
) -> Result<T, LinkedInError> {
    let bytes = response.bytes().await.map_err(LinkedInError::transport)?;
    // Neither the body nor serde's message (which quotes offending values) goes into the
    // error: a token response carries secrets.
    serde_json::from_slice(&bytes).map_err(|e| LinkedInError::Unexpected {
        status,
        detail: format!(
            "response body did not decode ({:?} error at line {} column {})",
            e.classify(),
            e.line(),
            e.column()
        ),
    })
}

/// A client of a stand-in for LinkedIn at `api_base`, for the client's own tests.
#[cfg(test)]
fn test_client(api_base: &str) -> LinkedInClient {
    let vars = std::collections::HashMap::from([
        ("LINKEDIN_CLIENT_ID", "cid".to_owned()),
        ("LINKEDIN_CLIENT_SECRET", "shh".to_owned()),
        (
            "LINKEDIN_REDIRECT_URI",
            "https://api.example.com/cb".to_owned(),
        ),
        ("TABLE_NAME", "t".to_owned()),
        ("TOKEN_KEY_ID", "k".to_owned()),
        ("LINKEDIN_API_BASE_URL", api_base.to_owned()),
    ]);
    let config = crate::config::Config::from_lookup(|k| vars.get(k).cloned()).unwrap();
    LinkedInClient::new(config.linkedin, config.metrics).unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Building the HTTP client loads the system's root certificates: not at cold start, once,
    /// and for every clone (the functions clone the client into each store that calls LinkedIn).
    #[test]
    fn the_http_client_is_built_at_the_first_call_and_shared_by_clones() {
        let client = test_client("https://api.linkedin.com");
        let clone = client.clone();
        assert!(client.http.get().is_none(), "not built with the client");

        let built: *const reqwest::Client = clone.http().unwrap();

        assert_eq!(client.http().unwrap() as *const _, built);
    }
}
