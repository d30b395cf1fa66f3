//! The product's domain, no I/O: tenants, connections (and their refresh windows) and posts
//! (and what follows each outcome of an attempt). Adapters (store, queue, scheduler, vault,
//! LinkedIn client) carry out what these types decide.

pub mod capabilities;
mod connections;
pub mod limits;
pub mod posts;
mod reconnect_runways;
mod refresh_windows;
mod tenants;
pub mod webhooks;

#[cfg(any(test, feature = "test-util"))]
pub mod examples;

pub use connections::{
    missing_scopes, Connection, ConnectionId, ConnectionReason, ConnectionStatus, Grant,
    LinkedInApp, MemberIdentity, MemberUrn, Organization, PendingAuthorization, HEALTH_INTERVAL,
    PLATFORM, REFRESH_LEASE,
};
pub use reconnect_runways::{
    runways_ahead, same_deadline, ReconnectDue, ReconnectRunway, RunwayFiring, MAX_POSTS_AT_RISK,
};
pub use refresh_windows::{as_of, windows_ahead, RefreshWindow};
pub use tenants::{
    redirect_url, AllowListError, ClientState, ClientStateError, RedirectAllowList,
    RedirectUrlError, TenantId, TenantSettings, MAX_ALLOW_LIST_ENTRIES, MAX_CLIENT_STATE_CHARS,
};
