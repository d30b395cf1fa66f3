//! A LinkedIn simulator, strict where LinkedIn is strict (../shared/linkedin-api.md): OAuth on
//! the "www" routes, the REST API on the "api" routes, both served from one address so one
//! base URL can stand in for both hosts.
//!
//! Tests drive it in-process ([`Simulator`] methods); the `linkedin-simulator` binary exposes
//! the same controls under `/_sim/…`.
//!
//! Engagement metrics (`analytics`), both needing an active `LinkedIn-Version`, a valid token
//! and `X-Restli-Protocol-Version: 2.0.0`, answering the counters a test set with
//! [`Simulator::set_post_statistics`] (or `POST /_sim/post-statistics`):
//! - `GET /rest/memberCreatorPostAnalytics?q=entity&entity=(share:{encoded urn})` (or
//!   `(ugc:{encoded ugcPost urn})`) `&queryType=IMPRESSION|MEMBERS_REACHED|RESHARE|REACTION|COMMENT
//!   &aggregation=TOTAL` -> `{paging, elements:[{entity:{share|ugc: urn}, metricType, count}]}`.
//!   Scope `r_member_postAnalytics` (else 403 ACCESS_DENIED, serviceErrorCode 100); a post
//!   LinkedIn does not have (or deleted) is 404 NOT_FOUND; a post by anyone but the token's
//!   member (another member, a page) is 403 ACCESS_DENIED. `aggregation=DAILY` is not simulated.
//! - `GET /rest/organizationalEntityShareStatistics?q=organizationalEntity&organizationalEntity=
//!   {encoded org urn}&shares=List({encoded share urns})&ugcPosts=List({encoded ugcPost urns})`
//!   -> `{paging, elements:[{organizationalEntity, share|ugcPost, totalShareStatistics:
//!   {impressionCount, uniqueImpressionsCount, clickCount, likeCount, commentCount, shareCount,
//!   engagement}}]}`, engagement = (clicks + likes + comments + shares) / impressions (0.0
//!   without impressions). Scope `rw_organization_admin` and the member's ADMINISTRATOR role on
//!   the page (else 403 ACCESS_DENIED); posts not by that page, deleted or unknown, and posts
//!   without activity are left out; naming no post is a 400.
//! - Malformed parameters are 400 ILLEGAL_ARGUMENT "Syntax exception in query parameters: …":
//!   a missing or wrong `q`, `queryType` or `aggregation`, URNs not url-encoded inside `List(…)`
//!   or `(share:…)`, bad escapes, an unbalanced structure, a parameter given twice.
//!
//! A crate of its own that depends on nothing of the product: it is written from LinkedIn's
//! documented behaviour, so it judges the product rather than agreeing with it.

// Handlers return a ready LinkedIn-shaped error response as their `Err`, the axum idiom; its
// size does not matter in a test server.
#[allow(clippy::result_large_err)]
mod analytics;
#[cfg(test)]
mod analytics_tests;
#[allow(clippy::result_large_err)]
mod edits;
pub mod little_text;
#[allow(clippy::result_large_err)]
mod media;
#[allow(clippy::result_large_err)]
mod oauth;
#[allow(clippy::result_large_err)]
mod post_content;
#[allow(clippy::result_large_err)]
mod posts;
#[cfg(test)]
mod posts_tests;
#[allow(clippy::result_large_err)]
mod rest;
pub mod serve;

pub use analytics::PostStatistics;
pub use edits::{SimComment, SimEdit};
pub use media::{
    MediaState, SimDocument, SimPart, SimVideo, MAX_DOCUMENT_BYTES, MAX_VIDEO_BYTES,
    MIN_VIDEO_BYTES, VIDEO_PART_BYTES,
};
pub use oauth::{OAuthCall, SimApp};
pub use posts::{store_little_text, ImageStatus, SimImage, SimPost};
pub use rest::SimOrganization;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use chrono::{DateTime, Datelike, Utc};
use rand::distr::{Alphanumeric, SampleString};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use url::Url;

/// How the simulated LinkedIn app is registered and how LinkedIn behaves for it.
#[derive(Debug, Clone)]
pub struct SimulatorConfig {
    pub client_id: String,
    pub client_secret: String,
    /// Registered redirect URLs; LinkedIn requires an exact match.
    pub redirect_uris: Vec<String>,
    /// Scopes the app's products grant; asking for others is refused at authorization.
    pub allowed_scopes: Vec<String>,
    /// Scopes LinkedIn accepts on the consent page but silently leaves out of the grant.
    pub dropped_scopes: Vec<String>,
    /// A second app (another client id, its own secret and products), as a deployment serving
    /// pages has: by default the Community Management API's.
    pub pages_app: Option<SimApp>,
    /// Only apps approved for programmatic refresh tokens get them.
    pub issue_refresh_tokens: bool,
    /// LinkedIn returns the same refresh token; other providers rotate. Tests can ask for either.
    pub rotate_refresh_tokens: bool,
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    /// For this long after issue, a token answers 401 65601 (LinkedIn's propagation delay).
    pub propagation_window: Duration,
    /// Added to every response.
    pub latency: Duration,
    /// Posts one member may create per UTC day (Share on LinkedIn: 150).
    pub member_daily_post_limit: u32,
    /// Posts the whole application may create per UTC day, all members together (100,000).
    /// LinkedIn's 429 says no more for it than for a member's limit.
    pub app_daily_post_limit: u32,
    /// LinkedIn documents no Retry-After on its daily limits (they reset at midnight UTC);
    /// a test may ask for one to see a pause end without moving the product's clock.
    pub daily_limit_retry_after: Option<Duration>,
    /// How long an uploaded image stays PROCESSING before it is AVAILABLE.
    pub media_processing: Duration,
    /// For this long after a post is created, commenting on it answers 404 (a fresh post is
    /// not yet known to LinkedIn's social actions).
    pub comment_unavailable_after_post: Duration,
    /// How long a finalized video stays PROCESSING before it is AVAILABLE (minutes at
    /// LinkedIn; a few seconds here, and tests advance the clock).
    pub video_processing: Duration,
    /// How long a document's or video's upload URLs stay valid; a PUT after that answers 403.
    pub upload_url_ttl: Duration,
    /// The next this many documents or videos fail processing (PROCESSING_FAILED).
    pub fail_media_processing: u32,
}

impl Default for SimulatorConfig {
    fn default() -> Self {
        Self {
            client_id: "dev-client-id".into(),
            client_secret: "dev-client-secret".into(),
            redirect_uris: vec!["http://127.0.0.1:3000/v1/oauth/linkedin/callback".into()],
            allowed_scopes: [
                "openid",
                "profile",
                "email",
                "w_member_social",
                "r_organization_admin",
                "rw_organization_admin",
                "w_organization_social",
            ]
            .map(String::from)
            .to_vec(),
            dropped_scopes: Vec::new(),
            pages_app: Some(SimApp::community_management()),
            issue_refresh_tokens: true,
            rotate_refresh_tokens: false,
            access_token_ttl: Duration::from_secs(5_184_000),
            refresh_token_ttl: Duration::from_secs(31_536_000),
            propagation_window: Duration::ZERO,
            latency: Duration::ZERO,
            member_daily_post_limit: 150,
            app_daily_post_limit: 100_000,
            daily_limit_retry_after: None,
            media_processing: Duration::ZERO,
            comment_unavailable_after_post: Duration::ZERO,
            video_processing: Duration::from_secs(5),
            upload_url_ttl: Duration::from_secs(3600),
            fail_media_processing: 0,
        }
    }
}

/// Whether LinkedIn serves `version` (`YYYYMM`, or `YYYYMMDD` of which the month counts) at
/// `now`: its month must have begun, and it retires on the 1st of the same month one year
/// later (linkedin-api.md, "Versions"). `None` if it is not a version at all.
pub fn version_is_active(version: &str, now: DateTime<Utc>) -> Option<bool> {
    let month = version_month(version)?;
    let (year, m) = (month / 100, month % 100);
    let current = now.year() as u32 * 100 + now.month();
    Some(month <= current && current < (year + 1) * 100 + m)
}

/// `YYYYMM` or `YYYYMMDD` as the number `YYYYMM`; `None` when malformed.
fn version_month(version: &str) -> Option<u32> {
    let digits = version.len() == 6 || version.len() == 8;
    if !digits || !version.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let month: u32 = version[..6].parse().ok()?;
    let day: u32 = version
        .get(6..)
        .filter(|d| !d.is_empty())
        .map_or(Ok(1), str::parse)
        .ok()?;
    ((1..=12).contains(&(month % 100)) && (1..=31).contains(&day)).then_some(month)
}

/// A LinkedIn member who can sign in on the consent page.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Member {
    pub sub: String,
    pub given_name: String,
    pub family_name: String,
    pub email: String,
    /// `(urn:li:organization:N, role)` with state APPROVED.
    #[serde(default)]
    pub organizations: Vec<(String, String)>,
}

impl Member {
    pub fn named(sub: &str, given: &str, family: &str) -> Self {
        Self {
            sub: sub.into(),
            given_name: given.into(),
            family_name: family.into(),
            email: format!("{}@example.com", given.to_lowercase()),
            organizations: Vec::new(),
        }
    }
}

/// A request the simulator answered, for counting and asserting LinkedIn calls.
#[derive(Debug, Clone, Serialize)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub status: u16,
    pub at: DateTime<Utc>,
}

/// A failure or delay to inject. Matches requests by method and path prefix.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Fault {
    #[serde(default)]
    pub method: Option<String>,
    pub path_prefix: String,
    /// The status to answer with instead of handling the request; `None` only delays.
    #[serde(default)]
    pub status: Option<u16>,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    #[serde(default, with = "millis")]
    pub latency: Duration,
    /// How many requests it applies to; `None` for every one.
    #[serde(default)]
    pub times: Option<u32>,
    /// Let LinkedIn carry the request out, then answer with the fault anyway: the caller
    /// cannot know its request took effect (a 5xx or a timeout after the post was made).
    #[serde(default)]
    pub after_handling: bool,
    /// Fail the connection itself instead of (or after) answering.
    #[serde(default)]
    pub connection: Option<ConnectionFault>,
}

/// How a connection fails (`"drop"`, `"reset_mid_response"` in the control API's JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionFault {
    /// The connection closes with no response at all. With `after_handling` the request is
    /// carried out first (LinkedIn made the post, then the connection dropped).
    Drop,
    /// The request is carried out, the status line and headers go out (the fault's `status`,
    /// else the real one), then the body breaks off short of its Content-Length.
    ResetMidResponse,
}

impl Fault {
    pub fn status(method: &str, path_prefix: &str, status: u16) -> Self {
        Self {
            method: Some(method.into()),
            path_prefix: path_prefix.into(),
            status: Some(status),
            body: None,
            headers: Vec::new(),
            latency: Duration::ZERO,
            times: None,
            after_handling: false,
            connection: None,
        }
    }

    /// Closes the connection without answering; nothing is carried out unless
    /// [`Fault::after_handling`] is set too.
    pub fn drop_connection(method: &str, path_prefix: &str) -> Self {
        Self {
            status: None,
            connection: Some(ConnectionFault::Drop),
            ..Self::status(method, path_prefix, 0)
        }
    }

    /// Carries the request out, sends the status and headers, then breaks the body off.
    pub fn reset_mid_response(method: &str, path_prefix: &str) -> Self {
        Self {
            status: None,
            after_handling: true,
            connection: Some(ConnectionFault::ResetMidResponse),
            ..Self::status(method, path_prefix, 0)
        }
    }

    /// See [`Fault::after_handling`].
    pub fn after_handling(mut self) -> Self {
        self.after_handling = true;
        self
    }
    /// Delays matching requests, then answers them normally.
    pub fn delay(method: &str, path_prefix: &str, latency: Duration) -> Self {
        Self {
            status: None,
            latency,
            ..Self::status(method, path_prefix, 0)
        }
    }
    pub fn times(mut self, n: u32) -> Self {
        self.times = Some(n);
        self
    }
    pub fn body(mut self, body: impl Into<String>) -> Self {
        self.body = Some(body.into());
        self
    }
    /// Adds a header to the fault's answer (`Retry-After`, …).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
    pub fn latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }
}

mod millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

/// A token the simulator issued, in the clear: tests use it to prove the product never
/// stores or logs it.
#[derive(Debug, Clone, Serialize)]
pub struct IssuedToken {
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub member_sub: String,
    pub scopes: Vec<String>,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked: bool,
    /// The app (client id) the token was issued to.
    pub client_id: String,
}

#[derive(Debug, Clone)]
pub(crate) struct AccessRecord {
    pub client_id: String,
    pub member_sub: String,
    pub scopes: Vec<String>,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub authorized_at: DateTime<Utc>,
    pub refresh_token: Option<String>,
    pub revoked: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct RefreshRecord {
    pub client_id: String,
    pub member_sub: String,
    pub scopes: Vec<String>,
    /// The refresh token lives 365 days from the original authorization, never extended.
    pub authorized_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct CodeRecord {
    pub client_id: String,
    pub member_sub: String,
    pub scopes: Vec<String>,
    pub redirect_uri: String,
    pub issued_at: DateTime<Utc>,
    pub used: bool,
}

#[derive(Debug)]
pub(crate) struct SimState {
    pub config: SimulatorConfig,
    pub members: Vec<Member>,
    pub codes: HashMap<String, CodeRecord>,
    pub access_tokens: HashMap<String, AccessRecord>,
    /// In issue order, for inspection.
    pub access_order: Vec<String>,
    pub refresh_tokens: HashMap<String, RefreshRecord>,
    /// Every token-endpoint and revoke call, with the client id it authenticated as.
    pub oauth_calls: Vec<OAuthCall>,
    /// Organization pages by URN (names, vanity names, logos).
    pub organizations: HashMap<String, SimOrganization>,
    pub faults: Vec<Fault>,
    pub requests: Vec<RecordedRequest>,
    /// Simulated time runs ahead of the wall clock by this much (see [`Simulator::advance`]).
    pub clock_offset: chrono::Duration,
    pub posts: Vec<SimPost>,
    pub next_post_id: u64,
    pub images: HashMap<String, SimImage>,
    pub next_image_id: u64,
    /// Where upload URLs point: the same server under another host name, as LinkedIn's
    /// uploads go to another host than its API.
    pub media_base_url: Url,
    /// Commentary edits by post URN, in order.
    pub post_edits: HashMap<String, Vec<edits::SimEdit>>,
    pub comments: Vec<edits::SimComment>,
    pub next_comment_id: u64,
    pub documents: HashMap<String, media::SimDocument>,
    pub videos: HashMap<String, media::SimVideo>,
    pub next_media_id: u64,
    /// Engagement counters by post URN (a post not here has none yet).
    pub post_statistics: HashMap<String, PostStatistics>,
}

impl SimState {
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.clock_offset
    }

    pub fn member(&self, sub: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.sub == sub)
    }

    /// Every token of the member's, as when they remove the app in their LinkedIn settings.
    pub fn revoke_member(&mut self, sub: &str) {
        let access = self
            .access_tokens
            .values_mut()
            .filter(|r| r.member_sub == sub);
        access.for_each(|r| r.revoked = true);
        let refresh = self
            .refresh_tokens
            .values_mut()
            .filter(|r| r.member_sub == sub);
        refresh.for_each(|r| r.revoked = true);
    }
}

#[derive(Clone)]
pub(crate) struct Shared(pub Arc<Mutex<SimState>>);

impl Shared {
    pub fn lock(&self) -> MutexGuard<'_, SimState> {
        // A panicking test must not poison the simulator for the others.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A running simulator.
pub struct Simulator {
    shared: Shared,
    base_url: Url,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// The default member on the consent page.
pub fn default_member() -> Member {
    let mut m = Member::named("sim-ada-7f3k", "Ada", "Lovelace");
    m.organizations = vec![
        ("urn:li:organization:1001".into(), "ADMINISTRATOR".into()),
        ("urn:li:organization:1002".into(), "ANALYST".into()),
    ];
    m
}

impl Simulator {
    /// Starts on an ephemeral loopback port.
    pub async fn start(config: SimulatorConfig) -> std::io::Result<Self> {
        Self::start_on("127.0.0.1:0".parse().expect("literal address"), config).await
    }

    pub async fn start_on(addr: SocketAddr, config: SimulatorConfig) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        let shared = Shared(Arc::new(Mutex::new(SimState {
            config,
            members: vec![
                default_member(),
                Member::named("sim-grace-9q2w", "Grace", "Hopper"),
            ],
            codes: HashMap::new(),
            access_tokens: HashMap::new(),
            access_order: Vec::new(),
            refresh_tokens: HashMap::new(),
            oauth_calls: Vec::new(),
            organizations: rest::default_organizations(),
            faults: Vec::new(),
            requests: Vec::new(),
            clock_offset: chrono::Duration::zero(),
            posts: Vec::new(),
            next_post_id: 0,
            images: HashMap::new(),
            next_image_id: 0,
            media_base_url: Url::parse(&format!("http://localhost:{}", local.port()))
                .expect("loopback URL"),
            post_edits: HashMap::new(),
            comments: Vec::new(),
            next_comment_id: 0,
            documents: HashMap::new(),
            videos: HashMap::new(),
            next_media_id: 0,
            post_statistics: HashMap::new(),
        })));
        let app = router(shared.clone());
        let server = crate::serve::spawn(listener, app);
        Ok(Self {
            shared,
            base_url: Url::parse(&format!("http://{local}")).expect("loopback URL"),
            server,
        })
    }

    pub fn base_url(&self) -> &Url {
        &self.base_url
    }

    /// Where its upload URLs point: the same server under another host name, as LinkedIn's
    /// uploads go to another host than its API.
    pub fn media_base_url(&self) -> Url {
        self.shared.lock().media_base_url.clone()
    }

    pub fn configure(&self, change: impl FnOnce(&mut SimulatorConfig)) {
        change(&mut self.shared.lock().config);
    }

    pub fn config(&self) -> SimulatorConfig {
        self.shared.lock().config.clone()
    }

    pub fn add_member(&self, member: Member) {
        self.shared.lock().members.push(member);
    }

    pub fn inject(&self, fault: Fault) {
        self.shared.lock().faults.push(fault);
    }

    pub fn clear_faults(&self) {
        self.shared.lock().faults.clear();
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().requests.clone()
    }

    /// How many requests went to paths starting with `prefix`.
    pub fn count(&self, method: &str, prefix: &str) -> usize {
        self.shared
            .lock()
            .requests
            .iter()
            .filter(|r| r.method == method && r.path.starts_with(prefix))
            .count()
    }

    pub fn issued_tokens(&self) -> Vec<IssuedToken> {
        let state = self.shared.lock();
        state
            .access_order
            .iter()
            .filter_map(|t| state.access_tokens.get(t).map(|r| (t, r)))
            .map(|(token, r)| IssuedToken {
                access_token: token.clone(),
                refresh_token: r.refresh_token.clone(),
                member_sub: r.member_sub.clone(),
                scopes: r.scopes.clone(),
                issued_at: r.issued_at,
                expires_at: r.expires_at,
                revoked: r.revoked,
                client_id: r.client_id.clone(),
            })
            .collect()
    }

    /// Token-endpoint and revoke calls so far, with the client id each authenticated as.
    pub fn oauth_calls(&self) -> Vec<OAuthCall> {
        self.shared.lock().oauth_calls.clone()
    }

    /// Adds or changes an organization page (a rename, a new logo).
    pub fn set_organization(&self, organization: SimOrganization) {
        let mut state = self.shared.lock();
        state.organizations.insert(organization.urn(), organization);
    }

    /// Posts as LinkedIn holds them (deleted ones too, with `deleted_at`).
    pub fn posts(&self) -> Vec<SimPost> {
        self.shared.lock().posts.clone()
    }

    /// Live (not deleted) posts.
    pub fn live_posts(&self) -> Vec<SimPost> {
        self.posts()
            .into_iter()
            .filter(|p| p.deleted_at.is_none())
            .collect()
    }

    /// A post's commentary as LinkedIn now stores it (`None` if LinkedIn has no such post).
    pub fn commentary(&self, urn: &str) -> Option<String> {
        let state = self.shared.lock();
        state
            .posts
            .iter()
            .find(|p| p.urn == urn)
            .map(|p| p.commentary.clone())
    }

    /// The commentary edits LinkedIn applied to a post, in order.
    pub fn edits_of(&self, urn: &str) -> Vec<SimEdit> {
        let state = self.shared.lock();
        state.post_edits.get(urn).cloned().unwrap_or_default()
    }

    /// The comments on a post, in order.
    pub fn comments_on(&self, urn: &str) -> Vec<SimComment> {
        let state = self.shared.lock();
        state
            .comments
            .iter()
            .filter(|c| c.post == urn)
            .cloned()
            .collect()
    }

    /// Sets a post's engagement counters (replacing earlier ones), as LinkedIn would have
    /// counted them: `memberCreatorPostAnalytics` and `organizationalEntityShareStatistics`
    /// answer with them. Kept by URN, so they may be set before the post is read; a post
    /// LinkedIn does not have is still answered 404 or left out.
    pub fn set_post_statistics(&self, post_urn: &str, stats: PostStatistics) {
        let mut state = self.shared.lock();
        state.post_statistics.insert(post_urn.to_owned(), stats);
    }

    /// A post's engagement counters (all zero if none were set).
    pub fn post_statistics(&self, post_urn: &str) -> PostStatistics {
        let state = self.shared.lock();
        state
            .post_statistics
            .get(post_urn)
            .copied()
            .unwrap_or_default()
    }

    /// How many `method` requests to paths starting with `prefix` name `text` in their path
    /// or query, the query read with its escapes undone (also twice-encoded values): calls
    /// about one post, e.g. `count_mentioning("GET", "/rest/memberCreatorPostAnalytics", urn)`.
    pub fn count_mentioning(&self, method: &str, prefix: &str, text: &str) -> usize {
        self.shared
            .lock()
            .requests
            .iter()
            .filter(|r| r.method == method && r.path.starts_with(prefix))
            .filter(|r| {
                let mut seen = format!("{}?{}", r.path, r.query.as_deref().unwrap_or_default());
                // Undo every layer of encoding the client applied.
                for _ in 0..3 {
                    match analytics::percent_decode(&seen) {
                        Some(d) if d != seen => seen = d,
                        _ => break,
                    }
                }
                seen.contains(text)
            })
            .count()
    }

    pub fn images(&self) -> Vec<SimImage> {
        self.shared.lock().images.values().cloned().collect()
    }

    /// Documents as LinkedIn holds them (what arrived, never the bytes).
    pub fn documents(&self) -> Vec<SimDocument> {
        self.shared.lock().documents.values().cloned().collect()
    }

    /// Videos as LinkedIn holds them, with their parts.
    pub fn videos(&self) -> Vec<SimVideo> {
        self.shared.lock().videos.values().cloned().collect()
    }

    /// Issues tokens for `member_sub` as if the member had consented `age` ago, without the
    /// OAuth round trip (for seeding many connections in benchmarks). Returns
    /// `(access_token, refresh_token)`.
    pub fn issue_directly(
        &self,
        member_sub: &str,
        scopes: &[&str],
        age: Duration,
    ) -> (String, String) {
        let mut state = self.shared.lock();
        let now = state.now();
        let issued_at = now - chrono::Duration::from_std(age).expect("bounded");
        let (access, refresh) = (new_secret("AQ", 500), new_secret("AQ", 300));
        let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
        let access_ttl =
            chrono::Duration::from_std(state.config.access_token_ttl).expect("bounded");
        let refresh_ttl =
            chrono::Duration::from_std(state.config.refresh_token_ttl).expect("bounded");
        let client_id = state.config.client_id.clone();
        state.refresh_tokens.insert(
            refresh.clone(),
            RefreshRecord {
                client_id: client_id.clone(),
                member_sub: member_sub.into(),
                scopes: scopes.clone(),
                authorized_at: issued_at,
                expires_at: issued_at + refresh_ttl,
                revoked: false,
            },
        );
        state.access_tokens.insert(
            access.clone(),
            AccessRecord {
                client_id,
                member_sub: member_sub.into(),
                scopes,
                issued_at,
                expires_at: issued_at + access_ttl,
                authorized_at: issued_at,
                refresh_token: Some(refresh.clone()),
                revoked: false,
            },
        );
        state.access_order.push(access.clone());
        (access, refresh)
    }

    /// Codes issued so far, in the clear (for the no-secrets-in-logs test).
    pub fn issued_codes(&self) -> Vec<String> {
        self.shared.lock().codes.keys().cloned().collect()
    }

    /// Moves simulated time forward (token expiry, code expiry).
    pub fn advance(&self, by: Duration) {
        self.shared.lock().clock_offset += chrono::Duration::from_std(by).expect("bounded");
    }

    /// The member revokes the app in their LinkedIn settings.
    pub fn revoke_member(&self, sub: &str) {
        self.shared.lock().revoke_member(sub);
    }

    /// Does what a member's click on Allow (or Cancel) does, without a browser: returns where
    /// LinkedIn redirects the browser.
    pub fn consent(
        &self,
        authorization_url: &str,
        member_sub: Option<&str>,
        allow: bool,
    ) -> Result<Url, String> {
        let url = Url::parse(authorization_url).map_err(|e| e.to_string())?;
        let query: HashMap<String, String> = url.query_pairs().into_owned().collect();
        let request = oauth::AuthorizationRequest::validate(&self.shared.lock(), &query)
            .map_err(|page| page.1)?;
        let member = member_sub
            .map(str::to_owned)
            .unwrap_or_else(|| default_member().sub);
        oauth::decide(&self.shared, &request, &member, allow)
    }
}

fn router(shared: Shared) -> Router {
    Router::new()
        .route("/oauth/v2/authorization", get(oauth::authorization_page))
        .route("/oauth/v2/authorization/decision", post(oauth::decision))
        .route("/oauth/v2/accessToken", post(oauth::access_token))
        .route("/oauth/v2/introspectToken", post(oauth::introspect))
        .route("/oauth/v2/revoke", post(oauth::revoke))
        .route("/v2/userinfo", get(rest::userinfo))
        .route("/v2/me", get(rest::me))
        .route("/v2/organizationAcls", get(rest::organization_acls_v2))
        .route("/rest/organizationAcls", get(rest::organization_acls_rest))
        .route("/rest/organizationsLookup", get(rest::organizations_lookup))
        .route("/rest/organizations/{id}", get(rest::organization))
        .route("/rest/posts", post(posts::create_rest))
        .route(
            "/rest/memberCreatorPostAnalytics",
            get(analytics::member_creator_post_analytics),
        )
        .route(
            "/rest/organizationalEntityShareStatistics",
            get(analytics::organizational_entity_share_statistics),
        )
        .route(
            "/rest/posts/{urn}",
            delete(posts::delete)
                .post(edits::partial_update)
                .get(edits::get_post),
        )
        .route(
            "/rest/socialActions/{urn}/comments",
            post(edits::create_comment),
        )
        .route("/v2/ugcPosts", post(posts::create_ugc))
        .route("/v2/ugcPosts/{urn}", delete(posts::delete))
        .route("/rest/images", post(posts::initialize_image_upload))
        .route("/rest/images/{urn}", get(posts::get_image))
        .route("/v2/assets", post(posts::register_upload))
        .route("/v2/assets/{id}", get(posts::get_asset))
        .route("/_media/upload/{token}", axum::routing::put(posts::upload))
        .route("/rest/documents", post(media::initialize_document_upload))
        .route("/rest/documents/{urn}", get(media::get_document))
        .route("/rest/videos", post(media::video_action))
        .route("/rest/videos/{urn}", get(media::get_video))
        .route("/_media/{kind}/{token}", axum::routing::put(media::upload))
        .route(
            "/_sim/faults",
            post(control_add_fault).delete(control_clear_faults),
        )
        .route("/_sim/requests", get(control_requests))
        .route("/_sim/consent", post(control_consent))
        .route("/_sim/config", post(control_config))
        .route("/_sim/post-statistics", post(control_post_statistics))
        .route(
            "/_sim/members",
            get(control_members).post(control_add_member),
        )
        .route("/_sim/health", get(|| async { "ok" }))
        .route("/_sim/revoke-member/{sub}", delete(control_revoke_member))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(
            shared.clone(),
            record_and_inject,
        ))
        .with_state(shared)
}

async fn not_found() -> Response {
    rest::api_error(404, None, Some("NOT_FOUND"), "No resource found")
}

/// Records every request and applies injected faults and latency before the route runs.
async fn record_and_inject(State(shared): State<Shared>, request: Request, next: Next) -> Response {
    let method = request.method().to_string();
    let path = request.uri().path().to_owned();
    let query = request.uri().query().map(str::to_owned);
    let is_control = path.starts_with("/_sim/");
    let (fault, latency) = {
        let mut state = shared.lock();
        let latency = state.config.latency;
        let index = (!is_control)
            .then(|| {
                state.faults.iter().position(|f| {
                    f.method
                        .as_deref()
                        .is_none_or(|m| m.eq_ignore_ascii_case(&method))
                        && path.starts_with(&f.path_prefix)
                        && f.times != Some(0)
                })
            })
            .flatten();
        let fault = index.map(|i| {
            let f = &mut state.faults[i];
            if let Some(n) = f.times.as_mut() {
                *n -= 1;
            }
            f.clone()
        });
        (fault, latency)
    };
    // A delay with `after_handling` (and nothing else) carries the request out at once and
    // answers late: LinkedIn has acted while the caller still waits.
    let answer_late = fault
        .as_ref()
        .filter(|f| f.after_handling && f.status.is_none() && f.connection.is_none())
        .map(|f| f.latency);
    let delay = latency
        + match answer_late {
            Some(_) => Duration::ZERO,
            None => fault.as_ref().map_or(Duration::ZERO, |f| f.latency),
        };
    if !is_control && !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let connection = fault.as_ref().and_then(|f| f.connection);
    if connection == Some(ConnectionFault::Drop) {
        let killer = request
            .extensions()
            .get::<crate::serve::ConnectionKiller>()
            .cloned();
        if fault.as_ref().is_some_and(|f| f.after_handling) {
            let _applied = next.run(request).await;
        }
        record(&shared, method, path, query, 0);
        return match killer {
            Some(killer) => killer.drop_connection().await,
            None => std::future::pending().await,
        };
    }
    let injected = fault.as_ref().and_then(|f| f.status.map(|s| (f, s)));
    let mut response = match (injected, connection) {
        (_, Some(ConnectionFault::ResetMidResponse)) => {
            let fault = fault.as_ref().expect("a connection fault is a fault");
            let applied = next.run(request).await;
            reset_mid_response(applied, fault).await
        }
        (Some((fault, status)), _) => {
            if fault.after_handling {
                let _applied = next.run(request).await;
            }
            let body = fault.body.clone().unwrap_or_else(|| {
                serde_json::json!({"status": status, "message": "injected fault"}).to_string()
            });
            let mut response = Response::builder()
                .status(status)
                .header("content-type", "application/json")
                .body(Body::from(body))
                .expect("fault response");
            add_headers(&mut response, &fault.headers);
            response
        }
        (None, _) => {
            let response = next.run(request).await;
            if let Some(late) = answer_late {
                tokio::time::sleep(late).await;
            }
            response
        }
    };
    if !is_control {
        let id = Alphanumeric.sample_string(&mut rand::rng(), 22);
        response.headers_mut().insert(
            "x-li-uuid",
            HeaderValue::from_str(&id).expect("alphanumeric"),
        );
        record(&shared, method, path, query, response.status().as_u16());
    }
    response
}

fn record(shared: &Shared, method: String, path: String, query: Option<String>, status: u16) {
    if path.starts_with("/_sim/") {
        return;
    }
    let mut state = shared.lock();
    let at = state.now();
    state.requests.push(RecordedRequest {
        method,
        path,
        query,
        status,
        at,
    });
}

fn add_headers(response: &mut Response, headers: &[(String, String)]) {
    for (name, value) in headers {
        if let (Ok(n), Ok(v)) = (
            axum::http::HeaderName::try_from(name.as_str()),
            HeaderValue::from_str(value),
        ) {
            response.headers_mut().insert(n, v);
        }
    }
}

/// The handler's answer with its body cut short: the head goes out (the fault's status if it
/// names one), then half the body, then the stream fails with a Content-Length still owed.
async fn reset_mid_response(applied: Response, fault: &Fault) -> Response {
    let (mut parts, body) = applied.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let bytes = fault
        .body
        .clone()
        .map(axum::body::Bytes::from)
        .unwrap_or(bytes);
    if let Some(status) = fault.status.and_then(|s| StatusCode::from_u16(s).ok()) {
        parts.status = status;
    }
    let sent = bytes.slice(..bytes.len() / 2);
    let owed = bytes.len() + 64;
    parts.headers.remove("transfer-encoding");
    parts
        .headers
        .insert("content-length", HeaderValue::from(owed));
    // A pause after the first chunk makes hyper flush the head before the stream fails.
    let chunks = futures::stream::unfold(0u8, move |step| {
        let sent = sent.clone();
        async move {
            match step {
                0 => Some((Ok(sent), 1)),
                1 => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    Some((
                        Err(std::io::Error::new(
                            std::io::ErrorKind::ConnectionReset,
                            "injected reset mid-response",
                        )),
                        2,
                    ))
                }
                _ => None,
            }
        }
    });
    let mut response = Response::from_parts(parts, Body::from_stream(chunks));
    add_headers(&mut response, &fault.headers);
    response
}

async fn control_add_fault(State(shared): State<Shared>, Json(fault): Json<Fault>) -> StatusCode {
    shared.lock().faults.push(fault);
    StatusCode::NO_CONTENT
}

async fn control_clear_faults(State(shared): State<Shared>) -> StatusCode {
    shared.lock().faults.clear();
    StatusCode::NO_CONTENT
}

async fn control_requests(State(shared): State<Shared>) -> Json<Vec<RecordedRequest>> {
    Json(shared.lock().requests.clone())
}

async fn control_members(State(shared): State<Shared>) -> Json<Vec<Member>> {
    Json(shared.lock().members.clone())
}

async fn control_add_member(
    State(shared): State<Shared>,
    Json(member): Json<Member>,
) -> StatusCode {
    shared.lock().members.push(member);
    StatusCode::NO_CONTENT
}

async fn control_revoke_member(
    State(shared): State<Shared>,
    axum::extract::Path(sub): axum::extract::Path<String>,
) -> StatusCode {
    shared.lock().revoke_member(&sub);
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct ConsentRequest {
    authorization_url: String,
    #[serde(default)]
    member: Option<String>,
    #[serde(default = "yes")]
    allow: bool,
}

fn yes() -> bool {
    true
}

async fn control_consent(
    State(shared): State<Shared>,
    Json(body): Json<ConsentRequest>,
) -> Response {
    let url = match Url::parse(&body.authorization_url) {
        Ok(url) => url,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    let query: HashMap<String, String> = url.query_pairs().into_owned().collect();
    let validated = oauth::AuthorizationRequest::validate(&shared.lock(), &query);
    let request = match validated {
        Ok(request) => request,
        Err((status, message)) => return (status, message).into_response(),
    };
    let member = body.member.unwrap_or_else(|| default_member().sub);
    match oauth::decide(&shared, &request, &member, body.allow) {
        Ok(location) => Json(serde_json::json!({ "location": location })).into_response(),
        Err(message) => (StatusCode::BAD_REQUEST, message).into_response(),
    }
}

/// `POST /_sim/post-statistics {"post": urn, "impressions": N, …}`: see
/// [`Simulator::set_post_statistics`]; counters left out are zero.
#[derive(Deserialize)]
struct PostStatisticsChange {
    post: String,
    #[serde(flatten)]
    stats: PostStatistics,
}

async fn control_post_statistics(
    State(shared): State<Shared>,
    Json(change): Json<PostStatisticsChange>,
) -> StatusCode {
    let mut state = shared.lock();
    state.post_statistics.insert(change.post, change.stats);
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct ConfigChange {
    propagation_window_ms: Option<u64>,
    latency_ms: Option<u64>,
    issue_refresh_tokens: Option<bool>,
    rotate_refresh_tokens: Option<bool>,
    comment_unavailable_after_post_ms: Option<u64>,
    video_processing_ms: Option<u64>,
    upload_url_ttl_ms: Option<u64>,
    fail_media_processing: Option<u32>,
}

async fn control_config(
    State(shared): State<Shared>,
    Json(change): Json<ConfigChange>,
) -> StatusCode {
    let mut state = shared.lock();
    let c = &mut state.config;
    if let Some(ms) = change.propagation_window_ms {
        c.propagation_window = Duration::from_millis(ms);
    }
    if let Some(ms) = change.latency_ms {
        c.latency = Duration::from_millis(ms);
    }
    if let Some(v) = change.issue_refresh_tokens {
        c.issue_refresh_tokens = v;
    }
    if let Some(v) = change.rotate_refresh_tokens {
        c.rotate_refresh_tokens = v;
    }
    if let Some(ms) = change.comment_unavailable_after_post_ms {
        c.comment_unavailable_after_post = Duration::from_millis(ms);
    }
    if let Some(ms) = change.video_processing_ms {
        c.video_processing = Duration::from_millis(ms);
    }
    if let Some(ms) = change.upload_url_ttl_ms {
        c.upload_url_ttl = Duration::from_millis(ms);
    }
    if let Some(n) = change.fail_media_processing {
        c.fail_media_processing = n;
    }
    StatusCode::NO_CONTENT
}

/// Random token material in LinkedIn's shape (`AQ…`, hundreds of characters).
pub(crate) fn new_secret(prefix: &str, len: usize) -> String {
    format!(
        "{prefix}{}",
        Alphanumeric.sample_string(&mut rand::rng(), len)
    )
}
