//! DynamoDB: connections and pending authorizations in one table (`PK`, `SK`).
//!
//! | item | PK | SK |
//! |---|---|---|
//! | connection | `TENANT#{tenant}` | `CONN#{connection_id}` |
//! | member -> connection | `TENANT#{tenant}` | `MEMBER#{member_urn}` |
//! | pending authorization | `STATE#{sha256(state)}` | `STATE` |
//!
//! The member item makes "one connection per member per tenant" a database rule: two
//! callbacks racing for the same member cannot both create a connection.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Put, ReturnValue, TransactWriteItem,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::{
    Connection, ConnectionId, ConnectionStatus, MemberUrn, PendingAuthorization, TenantId,
};
use crate::vault::SealedTokens;

use super::{classify, from_item, page, tenant_pk, tenant_query, to_item, Item, Keyed, StoreError};
#[cfg(test)]
use super::{decode_cursor, encode_cursor};

/// Tries of [`ConnectionStore::update`] before a connection that keeps changing is an error.
pub const UPDATE_TRIES: u32 = 5;

/// What a change makes of a connection as it is now.
#[derive(Debug)]
pub enum Change {
    /// This connection, its tokens as they are.
    To(Connection),
    /// This connection with these tokens.
    WithTokens(Connection, SealedTokens),
    /// Nothing: leave it as it is.
    Keep,
}

/// What an update came to.
#[derive(Debug)]
pub enum Updated {
    /// Written: the connection as stored now.
    Written(StoredConnection),
    /// Left as it is (the change said so, or the connection is revoked).
    Kept(StoredConnection),
    Missing,
}

impl Updated {
    /// The connection as stored after the update, if there is one.
    pub fn into_stored(self) -> Option<StoredConnection> {
        match self {
            Self::Written(s) | Self::Kept(s) => Some(s),
            Self::Missing => None,
        }
    }
}

/// A connection with its sealed tokens, as stored.
#[derive(Debug, Clone)]
pub struct StoredConnection {
    pub connection: Connection,
    pub tokens: SealedTokens,
}

#[derive(Debug, Clone)]
pub struct ConnectionStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

/// The attributes of a connection's item beside the record's own: its place in the health
/// index and its sealed tokens (absent once a disconnect destroyed them).
#[derive(Serialize)]
struct ConnectionAttributes<'a> {
    /// The health index (a sparse GSI): which shard; `next_health_check_at` is its sort key.
    #[serde(skip_serializing_if = "Option::is_none")]
    health_shard: Option<String>,
    #[serde(flatten)]
    sealed: SealedAttributes<'a>,
}

#[derive(Serialize)]
struct SealedAttributes<'a> {
    #[serde(skip_serializing_if = "Option::is_none", with = "serde_bytes")]
    token_key: Option<&'a [u8]>,
    #[serde(skip_serializing_if = "Option::is_none", with = "serde_bytes")]
    access_token_ct: Option<&'a [u8]>,
    #[serde(skip_serializing_if = "Option::is_none", with = "serde_bytes")]
    refresh_token_ct: Option<&'a [u8]>,
}

#[derive(Deserialize)]
struct SealedColumns {
    #[serde(default, with = "serde_bytes")]
    token_key: Option<Vec<u8>>,
    #[serde(default, with = "serde_bytes")]
    access_token_ct: Option<Vec<u8>>,
    #[serde(default, with = "serde_bytes")]
    refresh_token_ct: Option<Vec<u8>>,
}

/// DynamoDB's TTL attribute (epoch seconds) of a pending authorization. Expiry is also
/// checked on read.
#[derive(Serialize)]
struct Ttl {
    ttl: i64,
}

fn connection_sk(id: ConnectionId) -> String {
    format!("CONN#{id}")
}
/// A transaction's check that `connection` is still the version read: every change of a
/// connection is a new version, so while it holds, the row read is the row stored (its status,
/// its tokens, its throttle).
pub(crate) fn unchanged(
    table: &str,
    connection: &Connection,
) -> Result<TransactWriteItem, StoreError> {
    let check = ConditionCheck::builder()
        .table_name(table)
        .key("PK", AttributeValue::S(tenant_pk(&connection.tenant_id)))
        .key("SK", AttributeValue::S(connection_sk(connection.id)))
        .condition_expression("#v = :read")
        .expression_attribute_names("#v", "version")
        .expression_attribute_values(":read", AttributeValue::N(connection.version.to_string()))
        .build()
        .map_err(|e| StoreError::Invalid(e.to_string()))?;
    Ok(TransactWriteItem::builder().condition_check(check).build())
}
fn member_sk(member: &MemberUrn) -> String {
    format!("MEMBER#{member}")
}
fn state_pk(state_hash: &str) -> String {
    format!("STATE#{state_hash}")
}

impl ConnectionStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Records a pending authorization under the hash of its state.
    pub async fn put_pending_authorization(
        &self,
        state_hash: &str,
        pending: &PendingAuthorization,
    ) -> Result<(), StoreError> {
        let item =
            Keyed::new(state_pk(state_hash), "STATE".into(), "oauth_state", pending).with(Ttl {
                ttl: pending.expires_at.timestamp(),
            });
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(&item)?))
            .condition_expression("attribute_not_exists(PK)")
            .send()
            .await
            .map_err(|e| classify("PutItem oauth state", e))?;
        Ok(())
    }

    /// Takes (deletes and returns) a pending authorization. A state is single-use: of two
    /// concurrent callbacks with the same state, only one gets it back.
    pub async fn take_pending_authorization(
        &self,
        state_hash: &str,
    ) -> Result<Option<PendingAuthorization>, StoreError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("PK", AttributeValue::S(state_pk(state_hash)))
            .key("SK", AttributeValue::S("STATE".into()))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| classify("DeleteItem oauth state", e))?;
        let Some(attributes) = out.attributes.filter(|a| !a.is_empty()) else {
            return Ok(None);
        };
        Ok(Some(from_item(attributes)?))
    }

    /// The connection this tenant already has for this member, if any.
    pub async fn connection_id_for_member(
        &self,
        tenant: &TenantId,
        member: &MemberUrn,
    ) -> Result<Option<ConnectionId>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("PK", AttributeValue::S(tenant_pk(tenant)))
            .key("SK", AttributeValue::S(member_sk(member)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify("GetItem member", e))?;
        Ok(out
            .item
            .as_ref()
            .and_then(|i| i.get("connection_id"))
            .and_then(|v| v.as_s().ok())
            .and_then(|s| ConnectionId::parse(s)))
    }

    /// Creates a connection and claims its member for the tenant, both or neither.
    /// `Conflict` when the member is already connected (a concurrent callback won).
    pub async fn create_connection(
        &self,
        connection: &Connection,
        tokens: &SealedTokens,
    ) -> Result<(), StoreError> {
        let member_item: Item = HashMap::from([
            (
                "PK".into(),
                AttributeValue::S(tenant_pk(&connection.tenant_id)),
            ),
            (
                "SK".into(),
                AttributeValue::S(member_sk(&connection.member_urn)),
            ),
            ("entity".into(), AttributeValue::S("member".into())),
            (
                "connection_id".into(),
                AttributeValue::S(connection.id.to_string()),
            ),
        ]);
        let put = |item: Item| {
            Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(PK)")
                .build()
                .map(|p| TransactWriteItem::builder().put(p).build())
                .map_err(|e| StoreError::Invalid(e.to_string()))
        };
        self.client
            .transact_write_items()
            .transact_items(put(member_item)?)
            .transact_items(put(connection_item(connection, tokens)?)?)
            .send()
            .await
            .map_err(|e| classify("TransactWriteItems create connection", e))?;
        Ok(())
    }

    /// Changes a connection the one way a connection is changed: read it, ask `change` what
    /// it becomes (a domain transition of [`Connection`]), write that conditional on the
    /// version read; a lost race re-reads and asks again, at most [`UPDATE_TRIES`] times.
    /// A revoked connection is left alone (its tokens stay as the disconnect left them).
    pub async fn update(
        &self,
        tenant: &TenantId,
        id: ConnectionId,
        change: impl FnMut(&StoredConnection) -> Change,
    ) -> Result<Updated, StoreError> {
        self.apply(tenant, id, None, false, change).await
    }

    /// [`Self::update`] starting from a row just read (tried first; a lost race re-reads).
    pub async fn update_known(
        &self,
        known: StoredConnection,
        change: impl FnMut(&StoredConnection) -> Change,
    ) -> Result<Updated, StoreError> {
        let (tenant, id) = (known.connection.tenant_id.clone(), known.connection.id);
        self.apply(&tenant, id, Some(known), false, change).await
    }

    /// [`Self::update`] for the changes that apply to a revoked connection too: a disconnect
    /// finishing (its tokens destroyed), a member connecting again.
    pub async fn update_revoked_too(
        &self,
        tenant: &TenantId,
        id: ConnectionId,
        change: impl FnMut(&StoredConnection) -> Change,
    ) -> Result<Updated, StoreError> {
        self.apply(tenant, id, None, true, change).await
    }

    async fn apply(
        &self,
        tenant: &TenantId,
        id: ConnectionId,
        mut known: Option<StoredConnection>,
        revoked_too: bool,
        mut change: impl FnMut(&StoredConnection) -> Change,
    ) -> Result<Updated, StoreError> {
        for _ in 0..UPDATE_TRIES {
            let stored = match known.take() {
                Some(stored) => stored,
                None => match self.get_stored_connection(tenant, id).await? {
                    Some(stored) => stored,
                    None => return Ok(Updated::Missing),
                },
            };
            if stored.connection.status == ConnectionStatus::Revoked && !revoked_too {
                return Ok(Updated::Kept(stored));
            }
            let (mut next, tokens) = match change(&stored) {
                Change::Keep => return Ok(Updated::Kept(stored)),
                Change::To(next) => (next, stored.tokens.clone()),
                Change::WithTokens(next, tokens) => (next, tokens),
            };
            let read_version = stored.connection.version;
            next.version = read_version + 1;
            match self.replace(&next, &tokens, read_version).await {
                Ok(()) => {
                    return Ok(Updated::Written(StoredConnection {
                        connection: next,
                        tokens,
                    }))
                }
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Conflict(format!(
            "connection {id} kept changing ({UPDATE_TRIES} tries)"
        )))
    }

    /// Writes `connection` (the next version) if the stored one is still `read_version`.
    async fn replace(
        &self,
        connection: &Connection,
        tokens: &SealedTokens,
        read_version: u64,
    ) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(connection_item(connection, tokens)?))
            .condition_expression("#v = :expected")
            .expression_attribute_names("#v", "version")
            .expression_attribute_values(":expected", AttributeValue::N(read_version.to_string()))
            .send()
            .await
            .map_err(|e| classify("PutItem connection", e))?;
        Ok(())
    }

    /// Writes up to 25 connections in one BatchWriteItem, without their member items: for
    /// benchmarks that seed many connections (health checks never read member items).
    #[cfg(feature = "test-util")]
    pub async fn seed_connections(
        &self,
        batch: &[(Connection, SealedTokens)],
    ) -> Result<(), StoreError> {
        use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
        let mut requests = batch
            .iter()
            .map(|(c, t)| {
                Ok(WriteRequest::builder()
                    .put_request(
                        PutRequest::builder()
                            .set_item(Some(connection_item(c, t)?))
                            .build()
                            .map_err(|e| StoreError::Invalid(e.to_string()))?,
                    )
                    .build())
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        while !requests.is_empty() {
            let out = self
                .client
                .batch_write_item()
                .request_items(&self.table, requests)
                .send()
                .await
                .map_err(|e| classify("BatchWriteItem connections", e))?;
            requests = out
                .unprocessed_items
                .and_then(|mut u| u.remove(&self.table))
                .unwrap_or_default();
        }
        Ok(())
    }

    /// A connection with its sealed tokens (for the functions that must open them).
    pub async fn get_stored_connection(
        &self,
        tenant: &TenantId,
        id: ConnectionId,
    ) -> Result<Option<StoredConnection>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("PK", AttributeValue::S(tenant_pk(tenant)))
            .key("SK", AttributeValue::S(connection_sk(id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify("GetItem connection", e))?;
        out.item.map(stored_from_item).transpose()
    }

    pub async fn get_connection(
        &self,
        tenant: &TenantId,
        id: ConnectionId,
    ) -> Result<Option<Connection>, StoreError> {
        Ok(self
            .get_stored_connection(tenant, id)
            .await?
            .map(|s| s.connection))
    }

    /// One page of the connections of health shard `shard` whose check is due by `as_of`, read
    /// from the sparse health index (never a table scan), and the cursor to the next page.
    pub async fn due_for_health(
        &self,
        shard: u32,
        as_of: DateTime<Utc>,
        limit: i32,
        cursor: Option<&str>,
    ) -> Result<(Vec<(TenantId, ConnectionId)>, Option<String>), StoreError> {
        super::due_page(
            &self.client,
            &self.table,
            HEALTH_INDEX,
            ("health_shard", format!("HEALTH#{shard}")),
            "next_health_check_at",
            as_of,
            limit,
            cursor,
            |item| super::text(item, "connection_id").and_then(ConnectionId::parse),
        )
        .await
    }

    /// One page of the tenant's connections, oldest first, and the cursor to the next page.
    pub async fn list_connections(
        &self,
        tenant: &TenantId,
        limit: i32,
        cursor: Option<&str>,
    ) -> Result<(Vec<Connection>, Option<String>), StoreError> {
        let out = tenant_query(&self.client, &self.table, tenant, "CONN#", limit, cursor)?
            .send()
            .await
            .map_err(|e| classify("Query connections", e))?;
        page(out, |i| stored_from_item(i).map(|s| s.connection))
    }
}

pub const HEALTH_INDEX: &str = "HealthDue";

fn health_shard(id: ConnectionId) -> String {
    format!(
        "HEALTH#{}",
        super::shard_of(&id.to_string(), super::INDEX_SHARDS)
    )
}

fn connection_item(connection: &Connection, tokens: &SealedTokens) -> Result<Item, StoreError> {
    let non_empty = |b: &'_ [u8]| !b.is_empty();
    let attributes = ConnectionAttributes {
        health_shard: connection
            .next_health_check_at
            .map(|_| health_shard(connection.id)),
        sealed: SealedAttributes {
            token_key: Some(tokens.wrapped_key.as_slice()).filter(|k| non_empty(k)),
            access_token_ct: Some(tokens.access_token.as_slice()).filter(|t| non_empty(t)),
            refresh_token_ct: tokens.refresh_token.as_deref(),
        },
    };
    let pk = tenant_pk(&connection.tenant_id);
    to_item(
        &Keyed::new(pk, connection_sk(connection.id), "connection", connection).with(attributes),
    )
}

fn stored_from_item(item: Item) -> Result<StoredConnection, StoreError> {
    let sealed: SealedColumns = from_item(item.clone())?;
    Ok(StoredConnection {
        connection: from_item(item)?,
        tokens: SealedTokens {
            wrapped_key: sealed.token_key.unwrap_or_default(),
            access_token: sealed.access_token_ct.unwrap_or_default(),
            refresh_token: sealed.refresh_token_ct,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_foreign_keys() {
        let cursor = encode_cursor("CONN#abc");
        assert_eq!(decode_cursor(&cursor, "CONN#").unwrap(), "CONN#abc");
        assert!(decode_cursor(&encode_cursor("MEMBER#x"), "CONN#").is_err());
        assert!(decode_cursor("!!", "CONN#").is_err());
    }
}
