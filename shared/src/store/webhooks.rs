//! Webhook endpoints and their deliveries, in the tenant's partition.
//!
//! | item | PK | SK |
//! |---|---|---|
//! | webhook endpoint | `TENANT#{tenant}` | `WEBHOOK#{endpoint}` |
//! | delivery (one event to one endpoint, every attempt) | `TENANT#{tenant}` | `WHDELIVERY#{endpoint}#{event}` |
//! | count of endpoints (the limit) | `TENANT#{tenant}` | `LIMIT#webhook_endpoints` |
//!
//! The notifier reads a tenant's endpoints with one Query (`WEBHOOK#`; a tenant has at most
//! `TENANT_WEBHOOK_ENDPOINTS_MAX`). An endpoint is created and counted in one transaction (the
//! count's condition refuses it at the limit), deleted and uncounted in another. Every change
//! is a whole-item write conditional on the version read. Deliveries sort by event id (time
//! ordered), so a page reads newest first; each expires by the table's TTL 30 days after its
//! first attempt. No secret is stored: an endpoint holds its secret's version only.

use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem};
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::limits::counter_update;
use super::{
    classify, from_item, page, tenant_pk, tenant_query, to_item, Item, Keyed, StoreError,
    UPDATE_TRIES,
};
use crate::domain::limits::{Limit, LimitReached};
use crate::domain::webhooks::{DeliveryId, WebhookDelivery, WebhookEndpoint, WebhookEndpointId};
use crate::domain::TenantId;

fn endpoint_sk(id: WebhookEndpointId) -> String {
    format!("WEBHOOK#{id}")
}

fn deliveries_prefix(endpoint: WebhookEndpointId) -> String {
    format!("WHDELIVERY#{endpoint}#")
}

fn delivery_sk(endpoint: WebhookEndpointId, id: &DeliveryId) -> String {
    format!("{}{id}", deliveries_prefix(endpoint))
}

#[derive(Serialize)]
struct Ttl {
    ttl: i64,
}

#[derive(Debug, Clone)]
pub struct WebhookStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl WebhookStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    fn endpoint_item(&self, endpoint: &WebhookEndpoint) -> Result<Item, StoreError> {
        to_item(&Keyed::new(
            tenant_pk(&endpoint.tenant_id),
            endpoint_sk(endpoint.id),
            "webhook_endpoint",
            endpoint,
        ))
    }

    /// Records a new endpoint and counts it, or refuses it at the tenant's limit (`max`).
    pub async fn create(
        &self,
        endpoint: &WebhookEndpoint,
        max: u32,
        now: DateTime<Utc>,
    ) -> Result<Result<(), LimitReached>, StoreError> {
        let count = counter_update(
            &self.table,
            &endpoint.tenant_id,
            Limit::WebhookEndpoints,
            max,
            1,
            now,
        )?;
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(self.endpoint_item(endpoint)?))
            .condition_expression("attribute_not_exists(PK)")
            .build()
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        let written = self
            .client
            .transact_write_items()
            .transact_items(count)
            .transact_items(TransactWriteItem::builder().put(put).build())
            .send()
            .await
            .map_err(|e| classify("TransactWriteItems webhook endpoint", e));
        match written {
            Ok(_) => Ok(Ok(())),
            // The endpoint's id is new: only the count's condition can fail.
            Err(StoreError::Conflict(_)) => Ok(Err(LimitReached {
                limit: Limit::WebhookEndpoints,
                retry_after: Limit::WebhookEndpoints.retry_after(now),
            })),
            Err(e) => Err(e),
        }
    }

    pub async fn endpoint(
        &self,
        tenant: &TenantId,
        id: WebhookEndpointId,
    ) -> Result<Option<WebhookEndpoint>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("PK", AttributeValue::S(tenant_pk(tenant)))
            .key("SK", AttributeValue::S(endpoint_sk(id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify("GetItem webhook endpoint", e))?;
        out.item.map(from_item).transpose()
    }

    /// Every endpoint of the tenant (one Query: a tenant has a few).
    pub async fn endpoints(&self, tenant: &TenantId) -> Result<Vec<WebhookEndpoint>, StoreError> {
        let mut all = Vec::new();
        let mut cursor = None;
        loop {
            let out = tenant_query(
                &self.client,
                &self.table,
                tenant,
                "WEBHOOK#",
                100,
                cursor.as_deref(),
            )?
            .send()
            .await
            .map_err(|e| classify("Query webhook endpoints", e))?;
            let (items, next) = page(out, from_item)?;
            all.extend(items);
            match next {
                Some(next) => cursor = Some(next),
                None => return Ok(all),
            }
        }
    }

    /// Changes an endpoint the one way a record is changed: from `read` (or a fresh read),
    /// `change` says what it becomes (`None`: nothing to write), written conditional on the
    /// version read; a lost race re-reads and asks again. `Ok(None)`: there is no such
    /// endpoint; else the endpoint as it now stands.
    pub async fn update_endpoint(
        &self,
        tenant: &TenantId,
        id: WebhookEndpointId,
        mut read: Option<WebhookEndpoint>,
        mut change: impl FnMut(&WebhookEndpoint) -> Option<WebhookEndpoint>,
    ) -> Result<Option<WebhookEndpoint>, StoreError> {
        for _ in 0..UPDATE_TRIES {
            let current = match read.take() {
                Some(current) => current,
                None => match self.endpoint(tenant, id).await? {
                    Some(current) => current,
                    None => return Ok(None),
                },
            };
            let Some(next) = change(&current) else {
                return Ok(Some(current));
            };
            let written = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(self.endpoint_item(&next)?))
                .condition_expression("attribute_exists(PK) AND #v = :v")
                .expression_attribute_names("#v", "version")
                .expression_attribute_values(":v", AttributeValue::N(current.version.to_string()))
                .send()
                .await
                .map_err(|e| classify("PutItem webhook endpoint", e));
            match written {
                Ok(_) => return Ok(Some(next)),
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Conflict(format!(
            "webhook endpoint {id} kept changing ({UPDATE_TRIES} tries)"
        )))
    }

    /// Deletes an endpoint and gives its slot back: `false` when there was none. Its
    /// deliveries expire by their TTL.
    pub async fn delete(
        &self,
        tenant: &TenantId,
        id: WebhookEndpointId,
    ) -> Result<bool, StoreError> {
        let delete = Delete::builder()
            .table_name(&self.table)
            .key("PK", AttributeValue::S(tenant_pk(tenant)))
            .key("SK", AttributeValue::S(endpoint_sk(id)))
            .condition_expression("attribute_exists(PK)")
            .build()
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        let uncount = counter_update(
            &self.table,
            tenant,
            Limit::WebhookEndpoints,
            0,
            -1,
            Utc::now(),
        )?;
        match self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().delete(delete).build())
            .transact_items(uncount)
            .send()
            .await
            .map_err(|e| classify("TransactWriteItems delete webhook endpoint", e))
        {
            Ok(_) => Ok(true),
            Err(StoreError::Conflict(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn delivery_item(&self, delivery: &WebhookDelivery) -> Result<Item, StoreError> {
        to_item(
            &Keyed::new(
                tenant_pk(&delivery.tenant_id),
                delivery_sk(delivery.endpoint_id, &delivery.id),
                "webhook_delivery",
                delivery,
            )
            .with(Ttl {
                ttl: delivery.expires_at().timestamp(),
            }),
        )
    }

    /// Writes a delivery record: a new one (`before` `None`: refused if it exists, as when SQS
    /// delivered the event twice) or the next state of `before` (conditional on its version).
    /// `Err(Conflict)` when someone else wrote first.
    pub async fn put_delivery(
        &self,
        before: Option<&WebhookDelivery>,
        next: &WebhookDelivery,
    ) -> Result<(), StoreError> {
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(self.delivery_item(next)?));
        let put = match before {
            None => put.condition_expression("attribute_not_exists(PK)"),
            Some(before) => put
                .condition_expression("attribute_exists(PK) AND #v = :v")
                .expression_attribute_names("#v", "version")
                .expression_attribute_values(":v", AttributeValue::N(before.version.to_string())),
        };
        put.send()
            .await
            .map(|_| ())
            .map_err(|e| classify("PutItem webhook delivery", e))
    }

    pub async fn delivery(
        &self,
        tenant: &TenantId,
        endpoint: WebhookEndpointId,
        id: DeliveryId,
    ) -> Result<Option<WebhookDelivery>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("PK", AttributeValue::S(tenant_pk(tenant)))
            .key("SK", AttributeValue::S(delivery_sk(endpoint, &id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify("GetItem webhook delivery", e))?;
        out.item.map(from_item).transpose()
    }

    /// One page of an endpoint's deliveries, newest first, and the cursor to the next.
    pub async fn deliveries(
        &self,
        tenant: &TenantId,
        endpoint: WebhookEndpointId,
        limit: i32,
        cursor: Option<&str>,
    ) -> Result<(Vec<WebhookDelivery>, Option<String>), StoreError> {
        let out = tenant_query(
            &self.client,
            &self.table,
            tenant,
            &deliveries_prefix(endpoint),
            limit,
            cursor,
        )?
        .scan_index_forward(false)
        .send()
        .await
        .map_err(|e| classify("Query webhook deliveries", e))?;
        page(out, from_item)
    }
}
