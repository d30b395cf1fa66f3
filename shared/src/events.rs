//! What a tenant is told (by webhook): events, and the queue they go on for delivery.
//!
//! The webhook queue carries events (a bare [`Event`], as producers emit them) and the
//! notifier's own tasks ([`WebhookTask`]: a ping for one endpoint, a later attempt of a
//! delivery); [`WebhookTask::parse`] reads either. What an endpoint receives is
//! [`Event::payload`], `{type, timestamp, data}`; the event's id is its `webhook-id`.
//!
//! Most events come from the table's stream: a change to a post, a connection or a DLQ record is
//! read back from DynamoDB Streams after it was written, so an event exists exactly when its
//! change does (no second write that a crash could skip). See [`changes`].

pub mod changes;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::webhooks::{DeliveryId, WebhookEndpointId};
use crate::domain::TenantId;
use crate::queue::{PublishQueue, QueueError};

/// The kinds of event, as tenants subscribe to them.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::EnumString,
    strum::VariantArray,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum EventType {
    #[serde(rename = "post.published")]
    #[strum(serialize = "post.published")]
    PostPublished,
    #[serde(rename = "post.failed")]
    #[strum(serialize = "post.failed")]
    PostFailed,
    #[serde(rename = "post.deleted")]
    #[strum(serialize = "post.deleted")]
    PostDeleted,
    #[serde(rename = "post.edited")]
    #[strum(serialize = "post.edited")]
    PostEdited,
    /// A post whose outcome was unknown turned out published.
    #[serde(rename = "post.outcome_resolved")]
    #[strum(serialize = "post.outcome_resolved")]
    PostOutcomeResolved,
    #[serde(rename = "post.scheduled_missed")]
    #[strum(serialize = "post.scheduled_missed")]
    PostScheduledMissed,
    #[serde(rename = "connection.connected")]
    #[strum(serialize = "connection.connected")]
    ConnectionConnected,
    #[serde(rename = "connection.attention")]
    #[strum(serialize = "connection.attention")]
    ConnectionAttention,
    #[serde(rename = "connection.healthy")]
    #[strum(serialize = "connection.healthy")]
    ConnectionHealthy,
    #[serde(rename = "connection.revoked")]
    #[strum(serialize = "connection.revoked")]
    ConnectionRevoked,
    #[serde(rename = "connection.reconnect_due")]
    #[strum(serialize = "connection.reconnect_due")]
    ConnectionReconnectDue,
    #[serde(rename = "dlq.record_created")]
    #[strum(serialize = "dlq.record_created")]
    DlqRecordCreated,
    #[serde(rename = "post.approval_requested")]
    #[strum(serialize = "post.approval_requested")]
    PostApprovalRequested,
    #[serde(rename = "post.approval_expired")]
    #[strum(serialize = "post.approval_expired")]
    PostApprovalExpired,
    #[serde(rename = "webhook.disabled")]
    #[strum(serialize = "webhook.disabled")]
    WebhookDisabled,
    #[serde(rename = "ping")]
    #[strum(serialize = "ping")]
    Ping,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// One event of one tenant. Its id is derived from the change that caused it, so a change
/// read twice (streams deliver at least once) makes the same event, which the receiver's
/// `webhook-id` check drops.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub id: String,
    pub tenant_id: TenantId,
    #[serde(rename = "type")]
    pub r#type: EventType,
    pub timestamp: DateTime<Utc>,
    /// The resource as the API shows it.
    pub data: serde_json::Value,
}

impl Event {
    /// The event of `type` about the change named by `cause` (a record's key and version).
    pub fn of(
        tenant_id: TenantId,
        r#type: EventType,
        cause: &str,
        timestamp: DateTime<Utc>,
        data: serde_json::Value,
    ) -> Self {
        let digest = crate::http::sha256_hex(format!("{cause}|{}", r#type.as_str()).as_bytes());
        Self {
            id: format!("evt_{}", &digest[..32]),
            tenant_id,
            r#type,
            timestamp,
            data,
        }
    }

    /// An event no change caused (a test ping, an endpoint disabled), with an id of its own.
    pub fn new(
        tenant_id: TenantId,
        r#type: EventType,
        data: serde_json::Value,
        timestamp: DateTime<Utc>,
    ) -> Self {
        Self {
            id: format!("evt_{}", uuid::Uuid::now_v7().simple()),
            tenant_id,
            r#type,
            timestamp,
            data,
        }
    }

    /// What the tenant's endpoint receives: `{type, timestamp, data}`.
    pub fn payload(&self) -> serde_json::Value {
        serde_json::to_value(Payload {
            r#type: self.r#type,
            timestamp: self.timestamp,
            data: &self.data,
        })
        .expect("event payloads serialize")
    }
}

/// The body of a webhook delivery. Its `data` is, by type: the post as `GET /v1/posts/{id}`
/// shows it (`post.*`), the connection (`connection.*`), the DLQ record (`dlq.*`),
/// [`WebhookDisabled`] and [`Ping`].
#[derive(Debug, Serialize)]
pub struct Payload<'a> {
    #[serde(rename = "type")]
    pub r#type: EventType,
    pub timestamp: DateTime<Utc>,
    pub data: &'a serde_json::Value,
}

/// The data of a `ping` (`POST /v1/webhooks/{id}/test`).
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Ping {
    pub webhook_id: WebhookEndpointId,
}

/// The data of `webhook.disabled`: the endpoint, disabled after 24 hours of failures.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookDisabled<'a> {
    pub webhook_id: WebhookEndpointId,
    pub url: &'a str,
    pub disabled_reason: Option<&'a str>,
    pub disabled_at: Option<DateTime<Utc>>,
}

/// The webhook queue: events wait there for the notifier.
#[derive(Debug, Clone)]
pub struct EventQueue {
    queue: PublishQueue,
}

impl EventQueue {
    pub fn new(
        client: impl Into<crate::aws_clients::LazyClient<aws_sdk_sqs::Client>>,
        url: impl Into<String>,
    ) -> Self {
        Self {
            queue: PublishQueue::new(client, url),
        }
    }

    pub fn url(&self) -> &str {
        self.queue.url()
    }

    pub async fn emit(&self, event: &Event) -> Result<(), QueueError> {
        let body = serde_json::to_string(event).expect("events serialize");
        self.queue.send(body, std::time::Duration::ZERO).await
    }

    /// Sends one of the notifier's tasks, delivered after `delay` (at most SQS's 15 minutes).
    pub async fn send(
        &self,
        task: &WebhookTask,
        delay: std::time::Duration,
    ) -> Result<(), QueueError> {
        self.queue.send(task.body(), delay).await
    }
}

/// A message on the webhook queue, as the notifier reads it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "task", rename_all = "snake_case")]
pub enum WebhookTask {
    /// Deliver `event` to the tenant's endpoints subscribed to its type, or only to
    /// `endpoint_id` (a test ping goes to the one endpoint whatever it subscribes to).
    Event {
        event: Event,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        endpoint_id: Option<WebhookEndpointId>,
    },
    /// Try a recorded delivery again once `due_at` has come (by the notifier's clock). SQS
    /// delays a message by 15 minutes at most, so a longer wait is a chain of such messages.
    Attempt {
        tenant_id: TenantId,
        endpoint_id: WebhookEndpointId,
        delivery_id: DeliveryId,
        due_at: DateTime<Utc>,
        /// Asked for by the tenant (`…/resend`): one attempt, whatever the delivery's state.
        #[serde(default)]
        resend: bool,
    },
}

impl WebhookTask {
    pub fn body(&self) -> String {
        serde_json::to_string(self).expect("webhook tasks serialize")
    }

    /// A message body of the webhook queue: a task (it has `task`), or an event as producers
    /// emit it, for every subscribed endpoint.
    pub fn parse(body: &str) -> Result<Self, serde_json::Error> {
        let value: serde_json::Value = serde_json::from_str(body)?;
        if value.get("task").is_some() {
            serde_json::from_value(value)
        } else {
            Ok(Self::Event {
                event: serde_json::from_value(value)?,
                endpoint_id: None,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strum::VariantArray;

    #[test]
    fn every_type_has_its_dotted_name_both_ways() {
        for t in EventType::VARIANTS {
            let name = serde_json::to_value(t).unwrap();
            assert_eq!(name, serde_json::json!(t.as_str()));
            assert_eq!(t.as_str().parse::<EventType>().unwrap(), *t);
            assert!(t.as_str() == "ping" || t.as_str().contains('.'), "{t:?}");
        }
        assert_eq!(
            EventType::PostOutcomeResolved.as_str(),
            "post.outcome_resolved"
        );
    }

    #[test]
    fn the_same_change_makes_the_same_event_id() {
        let tenant = TenantId::parse("acme").unwrap();
        let now = Utc::now();
        let a = Event::of(
            tenant.clone(),
            EventType::PostPublished,
            "POST#1@3",
            now,
            serde_json::Value::Null,
        );
        let b = Event::of(
            tenant.clone(),
            EventType::PostPublished,
            "POST#1@3",
            now,
            serde_json::Value::Null,
        );
        let other = Event::of(
            tenant,
            EventType::PostEdited,
            "POST#1@3",
            now,
            serde_json::Value::Null,
        );
        assert_eq!(a.id, b.id);
        assert_ne!(a.id, other.id);
        assert_eq!(a.payload()["type"], "post.published");
    }

    #[test]
    fn the_queue_carries_emitted_events_and_the_notifier_s_tasks() {
        let tenant = TenantId::parse("acme").unwrap();
        let event = Event::of(
            tenant.clone(),
            EventType::PostPublished,
            "POST#1@3",
            Utc::now(),
            serde_json::json!({"id": "p1"}),
        );
        let emitted = serde_json::to_string(&event).unwrap();
        assert_eq!(
            WebhookTask::parse(&emitted).unwrap(),
            WebhookTask::Event {
                event: event.clone(),
                endpoint_id: None
            }
        );
        let ping = WebhookTask::Event {
            event: Event::new(tenant, EventType::Ping, serde_json::json!({}), Utc::now()),
            endpoint_id: Some(WebhookEndpointId::new()),
        };
        assert!(ping.body().contains(r#""task":"event""#));
        assert_eq!(WebhookTask::parse(&ping.body()).unwrap(), ping);
        assert!(WebhookTask::parse("not json").is_err());
        assert!(WebhookTask::parse(r#"{"task":"explode"}"#).is_err());
    }
}
