//! The counters behind the tenants' limits, and the record of LinkedIn's 429s the publishers
//! share ([`AppThrottle`]). What a count means is decided in `domain::limits`.
//!
//! A counter is an item in the tenant's partition (`LIMIT#…`), raised by `ADD n 1` under the
//! condition that it is below the limit, so two requests racing for the last unit cannot both
//! have it. Counters of a second or a day expire through the table's TTL. Raising a counter is
//! either a request of its own ([`LimitStore::admit`]) or one more item of the transaction
//! that records a post ([`counter_update`]), which then records the post and counts it, or
//! neither.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use chrono::{DateTime, NaiveDate, Utc};

use super::{classify, from_item, tenant_pk, to_item, Keyed, StoreError, UPDATE_TRIES};
use crate::domain::limits::{AppThrottle, Limit, LimitReached, TenantLimits};
use crate::domain::{ConnectionId, TenantId};

/// Partition and sort key of the one [`AppThrottle`] record.
const APP_PK: &str = "LINKEDIN";
const APP_SK: &str = "APP_THROTTLE";

/// What asking for a unit of a limit came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Admitted,
    Refused(LimitReached),
}

#[derive(Clone)]
pub struct LimitStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

/// The update that takes one unit of `limit` (or gives one back, `delta` -1) in the tenant's
/// counter, as a transaction item. Taking fails its condition at the limit.
pub(crate) fn counter_update(
    table: &str,
    tenant: &TenantId,
    limit: Limit,
    max: u32,
    delta: i64,
    now: DateTime<Utc>,
) -> Result<TransactWriteItem, StoreError> {
    let (expression, values, condition) = counter_expression(limit, max, delta, now);
    let mut update = Update::builder()
        .table_name(table)
        .key("PK", AttributeValue::S(tenant_pk(tenant)))
        .key("SK", AttributeValue::S(limit.counter(now)))
        .update_expression(expression)
        .set_expression_attribute_names(Some(counter_names(limit, now)))
        .set_expression_attribute_values(Some(values));
    if let Some(condition) = condition {
        update = update.condition_expression(condition);
    }
    update
        .build()
        .map(|u| TransactWriteItem::builder().update(u).build())
        .map_err(|e| StoreError::Invalid(e.to_string()))
}

/// The count of a connection's posts on a UTC day (the day each is to go out), kept beside
/// the tenant's limits to warn before LinkedIn's daily limit for a member is in the way.
/// Posts cancelled later stay counted: it is a warning, never a refusal.
fn member_day_sk(connection: ConnectionId, day: NaiveDate) -> String {
    format!("LIMIT#member_posts#{connection}#{day}")
}

/// The update counting one more post of `connection` on `day`, as a transaction item.
pub(crate) fn member_day_update(
    table: &str,
    tenant: &TenantId,
    connection: ConnectionId,
    day: NaiveDate,
) -> Result<TransactWriteItem, StoreError> {
    // Dropped two days after its day ends.
    let expires = day
        .succ_opt()
        .and_then(|d| d.succ_opt())
        .and_then(|d| d.succ_opt())
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map_or(0, |t| t.and_utc().timestamp());
    Update::builder()
        .table_name(table)
        .key("PK", AttributeValue::S(tenant_pk(tenant)))
        .key("SK", AttributeValue::S(member_day_sk(connection, day)))
        .update_expression("ADD #n :one SET #entity = :entity, #ttl = :ttl")
        .expression_attribute_names("#n", "n")
        .expression_attribute_names("#entity", "entity")
        .expression_attribute_names("#ttl", "ttl")
        .expression_attribute_values(":one", AttributeValue::N("1".into()))
        .expression_attribute_values(":entity", AttributeValue::S("limit_counter".into()))
        .expression_attribute_values(":ttl", AttributeValue::N(expires.to_string()))
        .build()
        .map(|u| TransactWriteItem::builder().update(u).build())
        .map_err(|e| StoreError::Invalid(e.to_string()))
}

type Expression = (
    String,
    HashMap<String, AttributeValue>,
    Option<&'static str>,
);

fn counter_expression(limit: Limit, max: u32, delta: i64, now: DateTime<Utc>) -> Expression {
    let mut values = HashMap::from([
        (":delta".to_owned(), AttributeValue::N(delta.to_string())),
        (
            ":entity".to_owned(),
            AttributeValue::S("limit_counter".into()),
        ),
    ]);
    let mut expression = "ADD #n :delta SET #entity = :entity".to_owned();
    if let Some(expires) = limit.counter_expires_at(now) {
        expression.push_str(", #ttl = if_not_exists(#ttl, :ttl)");
        values.insert(
            ":ttl".into(),
            AttributeValue::N(expires.timestamp().to_string()),
        );
    }
    let condition = if delta > 0 {
        values.insert(":max".into(), AttributeValue::N(max.to_string()));
        Some("attribute_not_exists(#n) OR #n < :max")
    } else {
        None
    };
    (expression, values, condition)
}

fn counter_names(limit: Limit, now: DateTime<Utc>) -> HashMap<String, String> {
    let mut names = HashMap::from([
        ("#n".to_owned(), "n".to_owned()),
        ("#entity".to_owned(), "entity".to_owned()),
    ]);
    if limit.counter_expires_at(now).is_some() {
        names.insert("#ttl".into(), "ttl".into());
    }
    names
}

impl LimitStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// How many posts of `connection` are recorded to go out on `day` (UTC).
    pub async fn member_posts_on(
        &self,
        tenant: &TenantId,
        connection: ConnectionId,
        day: NaiveDate,
    ) -> Result<u32, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("PK", AttributeValue::S(tenant_pk(tenant)))
            .key("SK", AttributeValue::S(member_day_sk(connection, day)))
            .projection_expression("#n")
            .expression_attribute_names("#n", "n")
            .send()
            .await
            .map_err(|e| classify("GetItem member posts of the day", e))?;
        Ok(out
            .item
            .and_then(|item| item.get("n").and_then(|n| n.as_n().ok()?.parse().ok()))
            .unwrap_or(0))
    }

    /// Takes one unit of `limit` for the tenant, or says it is used up.
    pub async fn admit(
        &self,
        tenant: &TenantId,
        limits: &TenantLimits,
        limit: Limit,
        now: DateTime<Utc>,
    ) -> Result<Admission, StoreError> {
        let (expression, values, condition) = counter_expression(limit, limit.max(limits), 1, now);
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("PK", AttributeValue::S(tenant_pk(tenant)))
            .key("SK", AttributeValue::S(limit.counter(now)))
            .update_expression(expression)
            .set_expression_attribute_names(Some(counter_names(limit, now)))
            .set_expression_attribute_values(Some(values));
        if let Some(condition) = condition {
            update = update.condition_expression(condition);
        }
        match update
            .send()
            .await
            .map_err(|e| classify("UpdateItem limit counter", e))
        {
            Ok(_) => Ok(Admission::Admitted),
            Err(StoreError::Conflict(_)) => Ok(Admission::Refused(LimitReached {
                limit,
                retry_after: limit.retry_after(now),
            })),
            Err(e) => Err(e),
        }
    }

    /// What LinkedIn's 429s say about the application (an empty record if none was written).
    pub async fn app_throttle(&self) -> Result<AppThrottle, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("PK", AttributeValue::S(APP_PK.into()))
            .key("SK", AttributeValue::S(APP_SK.into()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify("GetItem app throttle", e))?;
        out.item
            .map(from_item)
            .transpose()
            .map(Option::unwrap_or_default)
    }

    /// Changes the application's throttle record by `change` (read, change, write if nobody
    /// wrote in between; at most [`UPDATE_TRIES`] times; `None` leaves it). Returns the record
    /// as it stands after.
    pub async fn update_app_throttle(
        &self,
        change: impl Fn(&AppThrottle) -> Option<AppThrottle>,
    ) -> Result<AppThrottle, StoreError> {
        for _ in 0..UPDATE_TRIES {
            let stored = self.app_throttle().await?;
            let Some(next) = change(&stored) else {
                return Ok(stored);
            };
            let item = to_item(&Keyed::new(
                APP_PK.into(),
                APP_SK.into(),
                "app_throttle",
                &next,
            ))?;
            let written = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(PK) OR version = :v")
                .expression_attribute_values(":v", AttributeValue::N(stored.version.to_string()))
                .send()
                .await
                .map_err(|e| classify("PutItem app throttle", e));
            match written {
                Ok(_) => return Ok(next),
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Conflict(
            "the app throttle record kept changing".into(),
        ))
    }
}
