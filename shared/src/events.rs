//! Events: what a tenant is told through its webhook endpoints, and the webhook queue that
//! carries them to the `notifier` function.
//!
//! A producer (a state change a tenant cares about) makes an [`Event`] and puts it on the
//! queue with [`EventQueue::emit`]; the notifier delivers it to every enabled endpoint of the
//! tenant subscribed to its type. What an endpoint receives is [`Event::payload`]:
//! `{type, timestamp, data}`, `data` being the resource as the API shows it. The event's id
//! is the Standard Webhooks `webhook-id`, the same on every attempt, so receivers can drop
//! duplicates.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::webhooks::{DeliveryId, WebhookEndpointId};
use crate::domain::TenantId;
use crate::queue::QueueError;

/// Every kind of event a tenant can subscribe to (issue 13), by its wire name.
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
    strum::EnumString,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
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
    /// Sent to one endpoint by `POST /v1/webhooks/{id}/test`, whatever it subscribes to.
    #[serde(rename = "ping")]
    #[strum(serialize = "ping")]
    Ping,
    /// An endpoint was disabled after 24 h of failed deliveries.
    #[serde(rename = "webhook.disabled")]
    #[strum(serialize = "webhook.disabled")]
    WebhookDisabled,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// An event's id: `evt_` and a time-ordered UUID (v7), so a delivery log sorts by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventId(uuid::Uuid);

impl EventId {
    pub fn new() -> Self {
        Self(uuid::Uuid::now_v7())
    }

    pub fn parse(raw: &str) -> Option<Self> {
        uuid::Uuid::try_parse(raw.strip_prefix("evt_")?)
            .ok()
            .map(Self)
    }
}

impl Default for EventId {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Display for EventId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "evt_{}", self.0.simple())
    }
}

impl Serialize for EventId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for EventId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).ok_or_else(|| serde::de::Error::custom("not an event id"))
    }
}

/// Something that happened to one tenant's resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub id: EventId,
    pub tenant_id: TenantId,
    #[serde(rename = "type")]
    pub r#type: EventType,
    pub timestamp: DateTime<Utc>,
    /// The resource as the API shows it (a post's or a connection's view, …).
    pub data: serde_json::Value,
}

impl Event {
    /// A new event of `type` about `data`, happening at `timestamp`.
    pub fn new(
        tenant_id: TenantId,
        r#type: EventType,
        data: serde_json::Value,
        timestamp: DateTime<Utc>,
    ) -> Self {
        Self {
            id: EventId::new(),
            tenant_id,
            r#type,
            timestamp,
            data,
        }
    }

    /// What the endpoint receives, byte for byte (the signature covers exactly these bytes).
    pub fn payload(&self) -> String {
        #[derive(Serialize)]
        struct Payload<'a> {
            #[serde(rename = "type")]
            r#type: EventType,
            timestamp: String,
            data: &'a serde_json::Value,
        }
        serde_json::to_string(&Payload {
            r#type: self.r#type,
            timestamp: self.timestamp.to_rfc3339_opts(SecondsFormat::Millis, true),
            data: &self.data,
        })
        .expect("event payloads serialize")
    }
}

/// A message on the webhook queue.
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
}

/// The webhook queue (SQS): events in, and the delayed attempts of deliveries that failed.
#[derive(Debug, Clone)]
pub struct EventQueue {
    queue: crate::queue::PublishQueue,
}

impl EventQueue {
    pub fn new(client: aws_sdk_sqs::Client, url: impl Into<String>) -> Self {
        Self {
            queue: crate::queue::PublishQueue::new(client, url),
        }
    }

    pub fn url(&self) -> &str {
        self.queue.url()
    }

    /// Puts `event` on the queue for every subscribed endpoint of its tenant (one SendMessage).
    pub async fn emit(&self, event: &Event) -> Result<(), QueueError> {
        self.send(
            &WebhookTask::Event {
                event: event.clone(),
                endpoint_id: None,
            },
            std::time::Duration::ZERO,
        )
        .await
    }

    /// Sends `task`, delivered after `delay` (at most SQS's 15 minutes).
    pub async fn send(
        &self,
        task: &WebhookTask,
        delay: std::time::Duration,
    ) -> Result<(), QueueError> {
        self.queue.send(task.body(), delay).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strum::VariantArray;

    #[test]
    fn every_event_type_has_its_wire_name_both_ways() {
        let names = [
            "post.published",
            "post.failed",
            "post.deleted",
            "post.edited",
            "post.outcome_resolved",
            "post.scheduled_missed",
            "connection.connected",
            "connection.attention",
            "connection.healthy",
            "connection.revoked",
            "connection.reconnect_due",
            "dlq.record_created",
            "post.approval_requested",
            "post.approval_expired",
            "ping",
            "webhook.disabled",
        ];
        assert_eq!(EventType::VARIANTS.len(), names.len());
        for (kind, name) in EventType::VARIANTS.iter().zip(names) {
            assert_eq!(kind.as_str(), name);
            assert_eq!(name.parse::<EventType>().unwrap(), *kind);
            assert_eq!(serde_json::to_value(kind).unwrap(), name);
        }
        assert!("post.Published".parse::<EventType>().is_err());
    }

    #[test]
    fn the_payload_is_type_timestamp_and_data_only() {
        let at = chrono::DateTime::parse_from_rfc3339("2026-12-07T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let event = Event::new(
            TenantId::parse("acme").unwrap(),
            EventType::PostPublished,
            serde_json::json!({"id": "p1"}),
            at,
        );
        assert_eq!(
            event.payload(),
            r#"{"type":"post.published","timestamp":"2026-12-07T10:00:00.000Z","data":{"id":"p1"}}"#
        );
    }

    #[test]
    fn tasks_and_event_ids_survive_the_queue() {
        let event = Event::new(
            TenantId::parse("acme").unwrap(),
            EventType::Ping,
            serde_json::json!({}),
            Utc::now(),
        );
        assert!(event.id.to_string().starts_with("evt_"));
        assert_eq!(EventId::parse(&event.id.to_string()), Some(event.id));
        let task = WebhookTask::Event {
            event,
            endpoint_id: Some(WebhookEndpointId::new()),
        };
        let body = task.body();
        assert!(body.contains(r#""task":"event""#), "{body}");
        assert_eq!(serde_json::from_str::<WebhookTask>(&body).unwrap(), task);
    }
}
