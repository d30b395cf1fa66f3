//! Connections: a tenant's connected LinkedIn accounts, their organizations, their life
//! (connected, refreshed, health recorded, attention, revoked) and how they start (an
//! authorization state). Values are parsed at the boundary so the inside never re-validates.

use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use url::Url;
use uuid::Uuid;

use super::reconnect_runways::ReconnectDue;
use super::TenantId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConnectionId(Uuid);

impl ConnectionId {
    pub fn new() -> Self {
        Self(Uuid::new_v4())
    }
    pub fn parse(raw: &str) -> Option<Self> {
        Uuid::parse_str(raw).ok().map(Self)
    }
}

impl Default for ConnectionId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// `urn:li:person:{id}` — the member a connection acts for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MemberUrn(String);

impl MemberUrn {
    pub fn from_member_id(id: &str) -> Self {
        Self(format!("urn:li:person:{id}"))
    }
    pub fn parse(raw: &str) -> Option<Self> {
        raw.strip_prefix("urn:li:person:")
            .filter(|id| !id.is_empty())
            .map(|_| Self(raw.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MemberUrn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ConnectionStatus {
    Healthy,
    /// Something a person must act on (reconnect, grant a permission); `reason` says what.
    Attention,
    Revoked,
}

/// Which of the deployment's LinkedIn apps a connection was granted through. LinkedIn wants
/// the Community Management API alone on its app, so pages usually need a second app; tokens
/// are exchanged, refreshed and revoked with the credentials of the app that issued them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum LinkedInApp {
    /// The deployment's first app (records from before there were two are this one).
    #[default]
    Member,
    /// The second app, the one with the Community Management API.
    Pages,
}

impl LinkedInApp {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Member => "member",
            Self::Pages => "pages",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "member" => Some(Self::Member),
            "pages" => Some(Self::Pages),
            _ => None,
        }
    }
}

/// An organization page the member has a role on, from LinkedIn's organizationAcls, with the
/// page's name, vanity name and logo where LinkedIn gave them (older records have none).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Organization {
    pub urn: String,
    pub role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vanity_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo_url: Option<String>,
}

impl Organization {
    /// Roles LinkedIn lets create organization posts (others answer 403 serviceErrorCode 100).
    pub fn can_post(&self) -> bool {
        matches!(
            self.role.as_str(),
            "ADMINISTRATOR"
                | "DIRECT_SPONSORED_CONTENT_POSTER"
                | "CONTENT_ADMIN"
                | "CONTENT_ADMINISTRATOR"
        )
    }
}

/// Who the member is at LinkedIn, as read from /v2/userinfo or /v2/me.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberIdentity {
    pub member_urn: MemberUrn,
    pub name: String,
    pub email: Option<String>,
    pub picture: Option<String>,
}

/// A connected LinkedIn account as recorded (tokens live in the token vault and never appear
/// here; the API shows its own view of it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Connection {
    #[serde(rename = "connection_id")]
    pub id: ConnectionId,
    pub tenant_id: TenantId,
    #[serde(skip, default = "linkedin")]
    pub platform: &'static str,
    pub member_urn: MemberUrn,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub picture: Option<String>,
    pub status: ConnectionStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The app the tokens belong to (records from before there were two: `member`).
    #[serde(default)]
    pub app: LinkedInApp,
    /// The scopes LinkedIn granted.
    pub scopes: Vec<String>,
    /// Scopes asked for that LinkedIn did not grant (it drops them silently).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing_scopes: Vec<String>,
    pub access_token_expires_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token_expires_at: Option<DateTime<Utc>>,
    /// When the member first granted access; LinkedIn's refresh token lives 365 days from here.
    pub authorized_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_health_check_at: Option<DateTime<Utc>>,
    /// Why the last health check could not confirm the connection, if it could not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_health_error: Option<String>,
    /// When the health check is next due; none for revoked connections (they leave the
    /// health index).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_health_check_at: Option<DateTime<Utc>>,
    pub organizations: Vec<Organization>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// How many times the member has connected this account (1 for a first connect).
    pub connect_count: u32,
    /// When the current access token was issued: younger than LinkedIn's propagation window,
    /// a 401 is a reason to wait, not to refresh.
    pub token_issued_at: DateTime<Utc>,
    /// While a refresh is under way: until when its caller owns it (single flight).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_lease_until: Option<DateTime<Utc>>,
    /// LinkedIn throttled this member (429) until then: the publisher holds the member's posts
    /// back instead of sending them into the same refusal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throttled_until: Option<DateTime<Utc>>,
    /// The last reconnect runway the tenant was told of (none since the last connect).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconnect_due: Option<ReconnectDue>,
    pub version: u64,
}

fn linkedin() -> &'static str {
    PLATFORM
}

/// What a finished authorization brings: who the member is, what they granted and until when.
#[derive(Debug, Clone)]
pub struct Grant {
    pub identity: MemberIdentity,
    pub app: LinkedInApp,
    pub scopes: Vec<String>,
    /// Asked for, not granted: see [`missing_scopes`].
    pub missing_scopes: Vec<String>,
    pub organizations: Vec<Organization>,
    pub access_token_expires_at: DateTime<Utc>,
    pub refresh_token_expires_at: Option<DateTime<Utc>>,
}

/// Why a connection is in `attention` or `revoked`, as its tenant reads it (`reason`): fixed
/// texts, with at most a date the product computed. What LinkedIn or AWS said in detail goes to
/// the logs, never here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionReason {
    /// A self-serve LinkedIn app: only a reconnect renews access.
    NoRefreshToken { reconnect_by: NaiveDate },
    /// Refreshing failed (for a reason that may pass) in the last refresh window.
    RefreshFailedInLastWindow { reconnect_by: NaiveDate },
    /// Refreshing cannot succeed (the stored tokens cannot be read, the app's credentials…).
    RefreshImpossible,
    /// LinkedIn refused the refresh token: revoked or expired.
    RefreshTokenRefused,
    /// The refresh token itself ends soon (365 days from the consent, never extended).
    AuthorizationEnding { on: NaiveDate },
    /// LinkedIn kept refusing the tokens however often they were refreshed.
    TokensRefusedAfterRefresh,
    /// A disconnect under way: the tokens are being revoked at LinkedIn.
    Disconnecting,
    /// Disconnected; LinkedIn confirmed the revoke.
    Disconnected,
    /// Disconnected; LinkedIn's revoke failed and is retried until it confirms.
    RevokeRetrying,
    /// Disconnected; LinkedIn refused the revoke (the tokens were dead already, or it failed
    /// for good), so the tokens were destroyed here.
    RevokeRefused,
    /// Disconnected; LinkedIn never confirmed the revoke within 24 hours.
    RevokeUnconfirmed,
    /// Disconnected; the tokens could not be opened to revoke them.
    TokensUnreadable,
    /// Disconnected; no revoke job could be queued, so the tokens were destroyed here.
    RevokeNotQueued,
}

impl fmt::Display for ConnectionReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let day = |d: &NaiveDate| d.format("%Y-%m-%d").to_string();
        match self {
            Self::NoRefreshToken { reconnect_by } => write!(f, "LinkedIn gives this app no refresh tokens; reconnect before {}", day(reconnect_by)),
            Self::RefreshFailedInLastWindow { reconnect_by } => write!(f, "refreshing the tokens failed in the last refresh window; reconnect before {}", day(reconnect_by)),
            Self::RefreshImpossible => f.write_str("the tokens cannot be refreshed; the member must reconnect"),
            Self::RefreshTokenRefused => f.write_str("LinkedIn refused the refresh token (revoked or expired); the member must reconnect"),
            Self::AuthorizationEnding { on } => write!(f, "LinkedIn's authorization ends on {}; reconnect before then", day(on)),
            Self::TokensRefusedAfterRefresh => f.write_str("LinkedIn refused the connection's tokens even after refreshing them; the member must reconnect"),
            Self::Disconnecting => f.write_str("disconnected; revoking the tokens at LinkedIn"),
            Self::Disconnected => f.write_str("disconnected"),
            Self::RevokeRetrying => f.write_str("disconnected; LinkedIn's revoke failed and is retried until it confirms (at most 24 hours)"),
            Self::RevokeRefused => f.write_str("disconnected; LinkedIn refused the revoke, so the tokens were destroyed here"),
            Self::RevokeUnconfirmed => f.write_str("disconnected; LinkedIn did not confirm the revoke within 24 hours, so the tokens were destroyed here"),
            Self::TokensUnreadable => f.write_str("disconnected; the tokens could not be opened to revoke them at LinkedIn, so they were destroyed here"),
            Self::RevokeNotQueued => f.write_str("disconnected; the tokens could not be revoked at LinkedIn and were destroyed here"),
        }
    }
}

/// How long one refresh may hold a connection (single flight).
pub const REFRESH_LEASE: chrono::Duration = chrono::Duration::seconds(30);

/// A connection's life. Each change is a new version, written by the store's one
/// read-modify-conditional-write helper (`ConnectionStore::update`); no handler edits fields.
impl Connection {
    pub(super) fn next(&self, now: DateTime<Utc>) -> Self {
        Self {
            updated_at: now,
            version: self.version + 1,
            ..self.clone()
        }
    }

    /// A member connected: a new connection, or `existing` (the tenant's connection for the
    /// same member, even a revoked one) connected again, keeping its id, first-connect date and
    /// last health check, counting the connect.
    pub fn connected(
        tenant: &TenantId,
        grant: &Grant,
        existing: Option<&Connection>,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            id: existing.map_or_else(ConnectionId::new, |c| c.id),
            tenant_id: tenant.clone(),
            platform: PLATFORM,
            member_urn: grant.identity.member_urn.clone(),
            name: grant.identity.name.clone(),
            email: grant.identity.email.clone(),
            picture: grant.identity.picture.clone(),
            status: ConnectionStatus::Healthy,
            reason: None,
            app: grant.app,
            scopes: grant.scopes.clone(),
            missing_scopes: grant.missing_scopes.clone(),
            access_token_expires_at: grant.access_token_expires_at,
            refresh_token_expires_at: grant.refresh_token_expires_at,
            authorized_at: now,
            last_health_check_at: existing.and_then(|c| c.last_health_check_at),
            last_health_error: None,
            // Just verified by the connect itself.
            next_health_check_at: Some(now + HEALTH_INTERVAL),
            organizations: grant.organizations.clone(),
            created_at: existing.map_or(now, |c| c.created_at),
            updated_at: now,
            connect_count: existing.map_or(1, |c| c.connect_count + 1),
            token_issued_at: now,
            refresh_lease_until: None,
            // LinkedIn's limit is the member's, whatever their connection.
            throttled_until: existing.and_then(|c| c.throttled_until),
            // A new deadline: its runways are told afresh.
            reconnect_due: None,
            version: existing.map_or(1, |c| c.version + 1),
        }
    }

    /// Until when LinkedIn throttles this member, if it does at `now`.
    pub fn throttled(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.throttled_until.filter(|until| *until > now)
    }

    /// LinkedIn throttled the member until `until` (a later limit already known stays).
    pub fn throttled_by_linkedin(&self, until: DateTime<Utc>, now: DateTime<Utc>) -> Self {
        let mut next = self.next(now);
        next.throttled_until = self.throttled(now).max(Some(until));
        next
    }

    /// Whether a refresh holds the connection right now.
    pub fn refresh_under_way(&self, now: DateTime<Utc>) -> bool {
        self.refresh_lease_until.is_some_and(|until| until > now)
    }

    /// Held by one refresh for [`REFRESH_LEASE`].
    pub fn refresh_leased(&self, now: DateTime<Utc>) -> Self {
        let mut next = self.next(now);
        next.refresh_lease_until = Some(now + REFRESH_LEASE);
        next
    }

    /// A refresh that a later try may get past gave the connection back.
    pub fn refresh_released(&self, now: DateTime<Utc>) -> Self {
        let mut next = self.next(now);
        next.refresh_lease_until = None;
        next
    }

    /// New tokens, issued `now`, stored: healthy again.
    pub fn refreshed(
        &self,
        access_token_expires_at: DateTime<Utc>,
        refresh_token_expires_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Self {
        let mut next = self.next(now);
        next.refresh_lease_until = None;
        next.access_token_expires_at = access_token_expires_at;
        if refresh_token_expires_at.is_some() {
            next.refresh_token_expires_at = refresh_token_expires_at;
        }
        next.token_issued_at = now;
        next.status = ConnectionStatus::Healthy;
        next.reason = None;
        next
    }

    /// Something a person must act on, with a reason they can act on.
    pub fn attention(&self, reason: &ConnectionReason, now: DateTime<Utc>) -> Self {
        let mut next = self.next(now);
        next.refresh_lease_until = None;
        next.status = ConnectionStatus::Attention;
        next.reason = Some(reason.to_string());
        next
    }

    /// A health check's result (`error` when it could not confirm the connection), and when
    /// the next is due.
    pub fn health_recorded(
        &self,
        error: Option<String>,
        next_check_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Self {
        let mut next = self.next(now);
        next.last_health_check_at = Some(now);
        next.last_health_error = error;
        next.next_health_check_at = Some(next_check_at);
        next
    }

    /// The member's organizations as LinkedIn reads them now (a renamed page, a new logo, a
    /// role granted or taken away).
    pub fn organizations_read(&self, organizations: Vec<Organization>, now: DateTime<Utc>) -> Self {
        let mut next = self.next(now);
        next.organizations = organizations;
        next
    }

    /// Disconnected: out of the health index, no refresh under way, with why.
    pub fn revoked(&self, reason: &ConnectionReason, now: DateTime<Utc>) -> Self {
        let mut next = self.next(now);
        next.status = ConnectionStatus::Revoked;
        next.reason = Some(reason.to_string());
        next.refresh_lease_until = None;
        next.next_health_check_at = None;
        next
    }
}

pub const PLATFORM: &str = "linkedin";

/// The scopes asked for that LinkedIn did not grant, in the order asked. LinkedIn drops the
/// scopes an app is not entitled to without an error, so only this comparison tells.
pub fn missing_scopes(asked: &[String], granted: &[String]) -> Vec<String> {
    asked
        .iter()
        .filter(|s| !granted.contains(s))
        .cloned()
        .collect()
}

/// Every connection is checked this often (the spec's health check protocol).
pub const HEALTH_INTERVAL: chrono::Duration = chrono::Duration::hours(6);

/// What an authorization `state` was issued for. The state itself is a bearer secret; only
/// its hash is stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingAuthorization {
    pub tenant_id: TenantId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_after: Option<Url>,
    /// The tenant app's value, handed back to `redirect_after` unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_state: Option<super::ClientState>,
    /// The app the member is sent to (older states: `member`).
    #[serde(default)]
    pub app: LinkedInApp,
    pub scopes: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// A reconnect of this connection (`POST /v1/connections/{id}/reconnect`): only its
    /// member may renew it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconnect: Option<ConnectionId>,
}

impl PendingAuthorization {
    /// moto never expires TTL items and DynamoDB takes up to days to, so expiry is checked on
    /// every read.
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        now >= self.expires_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn a_state_is_expired_from_its_expiry_on() {
        let now = Utc::now();
        let pending = PendingAuthorization {
            tenant_id: TenantId::parse("t").unwrap(),
            redirect_after: None,
            client_state: None,
            app: LinkedInApp::Member,
            scopes: vec![],
            created_at: now - Duration::minutes(10),
            expires_at: now,
            reconnect: None,
        };
        assert!(pending.is_expired(now));
        assert!(!pending.is_expired(now - Duration::seconds(1)));
    }

    #[test]
    fn only_posting_roles_can_post_for_an_organization() {
        let org = |role: &str| Organization {
            urn: "urn:li:organization:1".into(),
            role: role.into(),
            ..Organization::default()
        };
        assert!(org("ADMINISTRATOR").can_post());
        assert!(org("CONTENT_ADMINISTRATOR").can_post());
        assert!(!org("ANALYST").can_post());
    }

    #[test]
    fn missing_scopes_are_those_asked_and_not_granted() {
        let v = |s: &str| crate::config::parse_scopes(s);
        let rows = [
            ("openid w_member_social", "openid,w_member_social", ""),
            (
                "openid w_member_social r_member_postAnalytics",
                "openid,w_member_social",
                "r_member_postAnalytics",
            ),
            ("a b c", "", "a b c"),
            ("a", "a,b", ""),
        ];
        for (asked, granted, missing) in rows {
            assert_eq!(
                missing_scopes(&v(asked), &v(granted)),
                v(missing),
                "{asked} / {granted}"
            );
        }
    }

    #[test]
    fn records_without_an_app_belong_to_the_member_app() {
        let mut json = serde_json::to_value(super::super::examples::connection()).unwrap();
        json.as_object_mut().unwrap().remove("app");
        let connection: Connection = serde_json::from_value(json).unwrap();
        assert_eq!(connection.app, LinkedInApp::Member);
        assert!(connection.missing_scopes.is_empty());
        let pending: PendingAuthorization = serde_json::from_value(serde_json::json!({
            "tenant_id": "t", "scopes": [], "created_at": Utc::now(), "expires_at": Utc::now()
        }))
        .unwrap();
        assert_eq!(pending.app, LinkedInApp::Member);
    }

    #[test]
    fn member_urns_are_person_urns() {
        assert_eq!(
            MemberUrn::from_member_id("abc").as_str(),
            "urn:li:person:abc"
        );
        assert!(MemberUrn::parse("urn:li:organization:1").is_none());
    }
}
