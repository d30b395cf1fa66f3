//! The unwrapped data keys a warm function keeps, so that opening a connection's tokens again
//! costs no KMS call: KMS is paid per call and throttled per account, and one Decrypt per
//! publish is the cost that grows with the product's success.
//!
//! The limits are those of AWS's Encryption SDK caching: an entry lives at most [`MAX_AGE`]
//! and serves at most [`MAX_USES`] opens; at most [`MAX_ENTRIES`] are kept (the oldest goes
//! first). An entry is found only by the very wrapped key and the encryption context (tenant
//! and connection) it was unwrapped under, so it is never shared across connections, let alone
//! tenants; a row whose tokens were resealed has a new wrapped key and misses. Keys are
//! `SecretBox`es: zeroized when evicted or dropped.

use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretBox};

use super::{DataKey, VaultContext};
use crate::bounded_cache::BoundedCache;

/// How long an unwrapped data key is kept.
pub const MAX_AGE: Duration = Duration::from_secs(300);
/// How many opens one unwrapped data key serves.
pub const MAX_USES: u32 = 1_000;
/// How many unwrapped data keys are kept at once.
pub const MAX_ENTRIES: usize = 1_000;

/// What an entry is found by: the context it was unwrapped under and the wrapped key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct CacheKey {
    context: String,
    wrapped: Vec<u8>,
}

impl CacheKey {
    fn new(context: &VaultContext, wrapped: &[u8]) -> Self {
        Self {
            context: format!("{}\0{}", context.tenant_id, context.connection_id),
            wrapped: wrapped.to_vec(),
        }
    }
}

struct Entry {
    key: DataKey,
    uses: u32,
}

/// A bounded cache of unwrapped data keys (see the module's documentation).
pub struct DataKeyCache {
    entries: BoundedCache<CacheKey, Entry>,
}

impl Default for DataKeyCache {
    fn default() -> Self {
        Self {
            entries: BoundedCache::new(MAX_AGE, MAX_ENTRIES),
        }
    }
}

impl std::fmt::Debug for DataKeyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.entries.len();
        f.debug_struct("DataKeyCache").field("entries", &n).finish()
    }
}

fn copy(key: &DataKey) -> DataKey {
    SecretBox::new(Box::new(*key.expose_secret()))
}

impl DataKeyCache {
    /// The data key unwrapped earlier for this context and wrapped key, if it may still
    /// serve at `now` (counting this use). One past its age or uses is dropped (zeroized).
    pub fn get(&self, context: &VaultContext, wrapped: &[u8], now: Instant) -> Option<DataKey> {
        self.entries
            .get(&CacheKey::new(context, wrapped), now, |entry| {
                (entry.uses < MAX_USES).then(|| {
                    entry.uses += 1;
                    copy(&entry.key)
                })
            })
    }

    /// Keeps `key`, just unwrapped at `now` (and used once), making room if need be.
    pub fn put(&self, context: &VaultContext, wrapped: &[u8], key: &DataKey, now: Instant) {
        let entry = Entry {
            key: copy(key),
            uses: 1,
        };
        self.entries
            .insert(CacheKey::new(context, wrapped), entry, now);
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ConnectionId, TenantId};

    fn context(tenant: &str) -> VaultContext {
        VaultContext::new(&TenantId::parse(tenant).unwrap(), ConnectionId::new())
    }

    fn key(byte: u8) -> DataKey {
        SecretBox::new(Box::new([byte; 32]))
    }

    #[test]
    fn a_key_serves_its_context_for_five_minutes_and_a_thousand_opens() {
        let cache = DataKeyCache::default();
        let c = context("acme");
        let start = Instant::now();
        assert!(cache.get(&c, b"wrapped", start).is_none());
        cache.put(&c, b"wrapped", &key(7), start);
        let hit = cache.get(&c, b"wrapped", start).unwrap();
        assert_eq!(hit.expose_secret(), &[7; 32]);
        // (what is asked, when, found)
        let other_connection = VaultContext::new(&c.tenant_id, ConnectionId::new());
        let other_tenant = VaultContext::new(&TenantId::parse("globex").unwrap(), c.connection_id);
        let rows: Vec<(&str, &VaultContext, &[u8], Duration, bool)> = vec![
            (
                "the same, a minute later",
                &c,
                b"wrapped",
                Duration::from_secs(60),
                true,
            ),
            (
                "another wrapped key (resealed tokens)",
                &c,
                b"other",
                Duration::ZERO,
                false,
            ),
            (
                "another connection of the tenant",
                &other_connection,
                b"wrapped",
                Duration::ZERO,
                false,
            ),
            (
                "another tenant, same connection id",
                &other_tenant,
                b"wrapped",
                Duration::ZERO,
                false,
            ),
            (
                "just under five minutes",
                &c,
                b"wrapped",
                MAX_AGE - Duration::from_millis(1),
                true,
            ),
        ];
        for (name, context, wrapped, after, found) in rows {
            assert_eq!(
                cache.get(context, wrapped, start + after).is_some(),
                found,
                "{name}"
            );
        }
        // Five minutes: gone (and removed).
        assert!(cache.get(&c, b"wrapped", start + MAX_AGE).is_none());
        assert!(cache.is_empty());

        // A thousand uses, the unwrap's included.
        cache.put(&c, b"wrapped", &key(9), start);
        for _ in 1..MAX_USES {
            assert!(cache.get(&c, b"wrapped", start).is_some());
        }
        assert!(cache.get(&c, b"wrapped", start).is_none());
    }

    #[test]
    fn at_most_a_thousand_keys_are_kept_the_oldest_going_first() {
        let cache = DataKeyCache::default();
        let start = Instant::now();
        let contexts: Vec<_> = (0..=MAX_ENTRIES).map(|_| context("acme")).collect();
        for (i, c) in contexts.iter().enumerate() {
            cache.put(c, b"w", &key(1), start + Duration::from_millis(i as u64));
        }
        assert_eq!(cache.len(), MAX_ENTRIES);
        let now = start + Duration::from_secs(1);
        assert!(
            cache.get(&contexts[0], b"w", now).is_none(),
            "the oldest left"
        );
        assert!(cache.get(&contexts[MAX_ENTRIES], b"w", now).is_some());
    }
}
