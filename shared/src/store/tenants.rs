//! Tenant settings: what a tenant configured for itself, in its own partition.
//!
//! | item | PK | SK |
//! |---|---|---|
//! | tenant settings | `TENANT#{tenant}` | `SETTINGS` |
//!
//! A tenant without the item has the defaults ([`TenantSettings::defaults`]). Every change is
//! a whole-item write conditional on the version read (absent for the first), so two admins
//! changing the same tenant at once never lose one change silently.

use aws_sdk_dynamodb::types::AttributeValue;

use super::{classify, from_item, tenant_pk, to_item, Keyed, StoreError, UPDATE_TRIES};
use crate::domain::{TenantId, TenantSettings};

const SETTINGS_SK: &str = "SETTINGS";

#[derive(Debug, Clone)]
pub struct TenantStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl TenantStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// The tenant's settings as stored, if it has any (one consistent GetItem: a change an
    /// admin just made applies to the next authorization).
    pub async fn settings(&self, tenant: &TenantId) -> Result<Option<TenantSettings>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("PK", AttributeValue::S(tenant_pk(tenant)))
            .key("SK", AttributeValue::S(SETTINGS_SK.into()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify("GetItem tenant settings", e))?;
        out.item.map(from_item).transpose()
    }

    /// Changes the tenant's settings the one way a record is changed: read them (the defaults
    /// when there are none), ask `change` what they become (a [`TenantSettings`] method),
    /// write that conditional on the version read; a lost race re-reads and asks again, at
    /// most [`UPDATE_TRIES`] times. Returns the settings as stored.
    pub async fn update_settings(
        &self,
        tenant: &TenantId,
        mut change: impl FnMut(&TenantSettings) -> TenantSettings,
    ) -> Result<TenantSettings, StoreError> {
        for _ in 0..UPDATE_TRIES {
            let stored = self.settings(tenant).await?;
            let current = stored
                .clone()
                .unwrap_or_else(|| TenantSettings::defaults(tenant));
            let mut next = change(&current);
            next.tenant_id = tenant.clone();
            next.version = current.version + 1;
            let item = Keyed::new(
                tenant_pk(tenant),
                SETTINGS_SK.into(),
                "tenant_settings",
                &next,
            );
            let put = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(to_item(&item)?));
            let put = match stored {
                None => put.condition_expression("attribute_not_exists(PK)"),
                Some(read) => put
                    .condition_expression("#v = :expected")
                    .expression_attribute_names("#v", "version")
                    .expression_attribute_values(
                        ":expected",
                        AttributeValue::N(read.version.to_string()),
                    ),
            };
            match put
                .send()
                .await
                .map_err(|e| classify("PutItem tenant settings", e))
            {
                Ok(_) => return Ok(next),
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Conflict(format!(
            "the settings of tenant {tenant} kept changing ({UPDATE_TRIES} tries)"
        )))
    }
}
