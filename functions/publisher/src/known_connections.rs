//! The connections this publisher instance has read, so that the next post of a connection is
//! claimed with a check that its connection is still that version (one transaction) instead of
//! being read again. Nothing here is trusted on its own: a row is used only after a claim's
//! write proved it current, and a connection changed in any way (disconnected, refreshed,
//! throttled, checked by a health round) fails that check and is read afresh.
//!
//! Kept in a [`BoundedCache`], as the vault's data keys are: an entry lives at most
//! [`MAX_AGE`], at most [`MAX_ENTRIES`] are kept (the oldest go first). The rows hold only
//! sealed tokens.

use std::time::{Duration, Instant};

use connector::bounded_cache::BoundedCache;
use connector::domain::posts::{Outcome, Post};
use connector::domain::{ConnectionId, ConnectionStatus, TenantId};
use connector::store::StoredConnection;
use connector::tokens::{KeeperError, TokenKeeper};
use connector::vault::TokenSet;

/// How long a connection read is offered for a claim's check.
pub const MAX_AGE: Duration = Duration::from_secs(5 * 60);
/// How many connections one instance keeps.
pub const MAX_ENTRIES: usize = 1_000;

type Key = (TenantId, ConnectionId);

pub struct KnownConnections {
    rows: BoundedCache<Key, StoredConnection>,
}

impl Default for KnownConnections {
    fn default() -> Self {
        Self {
            rows: BoundedCache::new(MAX_AGE, MAX_ENTRIES),
        }
    }
}

impl KnownConnections {
    /// The connection as last read, if read less than [`MAX_AGE`] before `now`.
    pub fn get(
        &self,
        tenant: &TenantId,
        id: ConnectionId,
        now: Instant,
    ) -> Option<StoredConnection> {
        self.rows
            .get(&(tenant.clone(), id), now, |stored| Some(stored.clone()))
    }

    /// Keeps a connection just read, if a post could go out with it: a connection that is
    /// disconnected, or has no tokens, is read each time (its posts fail or wait anyway).
    pub fn remember(&self, stored: &StoredConnection, now: Instant) {
        if stored.connection.status == ConnectionStatus::Revoked || stored.tokens.is_destroyed() {
            return;
        }
        let key = (stored.connection.tenant_id.clone(), stored.connection.id);
        self.rows.insert(key, stored.clone(), now);
    }

    /// The post's connection and its tokens: from `current`, the row the claim proved current,
    /// if it did; else read (and kept for the next claim).
    pub async fn open(
        &self,
        keeper: &TokenKeeper,
        post: &Post,
        current: Option<StoredConnection>,
    ) -> Result<(StoredConnection, TokenSet), KeeperError> {
        if let Some(current) = current {
            return keeper.open_read(current).await;
        }
        let opened = keeper.open(&post.tenant_id, post.connection_id).await;
        if let Ok((stored, _)) = &opened {
            self.remember(stored, Instant::now());
        }
        opened
    }

    /// After an attempt's outcome that tells something of the connection (LinkedIn's answer,
    /// its tokens, a disconnect, a throttle), the next claim reads it afresh.
    pub fn after(&self, outcome: &Outcome<'_>, post: &Post) {
        if matches!(
            outcome,
            Outcome::LinkedIn(_)
                | Outcome::Tokens(_)
                | Outcome::Revoked
                | Outcome::Throttled { .. }
        ) {
            self.forget(&post.tenant_id, post.connection_id);
        }
    }

    /// Drops a connection: the attempt met something about it (LinkedIn refused its token, it
    /// is throttled, disconnected…), and the next claim reads it again.
    pub fn forget(&self, tenant: &TenantId, id: ConnectionId) {
        self.rows.remove(&(tenant.clone(), id));
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use connector::domain::examples;
    use connector::vault::SealedTokens;

    fn stored(tenant: &str, status: ConnectionStatus, destroyed: bool) -> StoredConnection {
        let mut connection = examples::connection();
        connection.tenant_id = TenantId::parse(tenant).unwrap();
        connection.id = ConnectionId::new();
        connection.status = status;
        let tokens = SealedTokens {
            access_token: if destroyed { Vec::new() } else { vec![1; 40] },
            refresh_token: None,
            wrapped_key: if destroyed { Vec::new() } else { vec![2; 40] },
        };
        StoredConnection { connection, tokens }
    }

    #[test]
    fn a_connection_is_offered_while_young_and_only_for_its_own_tenant() {
        let known = KnownConnections::default();
        let t0 = Instant::now();
        let row = stored("acme", ConnectionStatus::Healthy, false);
        let (tenant, id) = (row.connection.tenant_id.clone(), row.connection.id);
        known.remember(&row, t0);
        let other = TenantId::parse("globex").unwrap();
        let rows = [
            // (tenant, at, offered)
            (&tenant, t0, true),
            (&tenant, t0 + MAX_AGE - Duration::from_secs(1), true),
            (&other, t0, false),
            (&tenant, t0 + MAX_AGE, false),
            // Gone once expired.
            (&tenant, t0, false),
        ];
        for (i, (tenant, at, offered)) in rows.into_iter().enumerate() {
            assert_eq!(known.get(tenant, id, at).is_some(), offered, "row {i}");
        }
    }

    #[test]
    fn only_rows_a_post_could_go_out_with_are_kept() {
        let t0 = Instant::now();
        let rows = [
            (ConnectionStatus::Healthy, false, true),
            (ConnectionStatus::Attention, false, true),
            (ConnectionStatus::Revoked, false, false),
            (ConnectionStatus::Healthy, true, false),
        ];
        for (i, (status, destroyed, kept)) in rows.into_iter().enumerate() {
            let known = KnownConnections::default();
            let row = stored("acme", status, destroyed);
            known.remember(&row, t0);
            let got = known.get(&row.connection.tenant_id, row.connection.id, t0);
            assert_eq!(got.is_some(), kept, "row {i}");
        }
    }

    #[test]
    fn forgotten_and_bounded() {
        let known = KnownConnections::default();
        let t0 = Instant::now();
        let first = stored("acme", ConnectionStatus::Healthy, false);
        known.remember(&first, t0);
        for i in 1..=MAX_ENTRIES {
            let row = stored("acme", ConnectionStatus::Healthy, false);
            known.remember(&row, t0 + Duration::from_millis(i as u64));
        }
        assert_eq!(known.len(), MAX_ENTRIES);
        let (tenant, id) = (&first.connection.tenant_id, first.connection.id);
        assert!(known.get(tenant, id, t0).is_none(), "the oldest went first");
        let last = stored("acme", ConnectionStatus::Healthy, false);
        known.remember(&last, t0);
        known.forget(&last.connection.tenant_id, last.connection.id);
        assert!(known
            .get(&last.connection.tenant_id, last.connection.id, t0)
            .is_none());
    }
}
