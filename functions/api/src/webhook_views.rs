//! What the API shows of a webhook endpoint and of a delivery (the public JSON; the stored
//! version counters and failure bookkeeping stay inside).

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use connector::domain::webhooks::{
    Attempt, DeliveryId, DeliveryStatus, WebhookDelivery, WebhookEndpoint, WebhookEndpointId,
};
use connector::events::EventType;
use serde::Serialize;

/// `GET /v1/webhooks/{id}`, and each endpoint of the list.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EndpointView<'a> {
    pub id: WebhookEndpointId,
    pub url: &'a str,
    pub events: &'a BTreeSet<EventType>,
    pub description: Option<&'a str>,
    pub enabled: bool,
    /// Why it is disabled (after 24 h of failed deliveries, or by the tenant).
    pub disabled_reason: Option<&'a str>,
    pub disabled_at: Option<DateTime<Utc>>,
    /// Until when the secret before the last rotation still signs, beside the new one.
    pub previous_secret_valid_until: Option<DateTime<Utc>>,
    /// Since when every delivery has failed (the endpoint is disabled 24 h after).
    pub failing_since: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl<'a> From<&'a WebhookEndpoint> for EndpointView<'a> {
    fn from(e: &'a WebhookEndpoint) -> Self {
        Self {
            id: e.id,
            url: e.url.as_str(),
            events: &e.events,
            description: e.description.as_deref(),
            enabled: e.enabled,
            disabled_reason: e.disabled_reason.as_deref(),
            disabled_at: e.disabled_at,
            previous_secret_valid_until: e
                .previous_secret_until
                .filter(|until| *until > Utc::now()),
            failing_since: e.failing_since,
            created_at: e.created_at,
            updated_at: e.updated_at,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EventRef<'a> {
    pub id: &'a str,
    #[serde(rename = "type")]
    pub r#type: EventType,
    pub timestamp: DateTime<Utc>,
}

/// One delivery of `GET /v1/webhooks/{id}/deliveries`: the event, where it stands, the last
/// attempt's answer, the next try, and every attempt.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeliveryView<'a> {
    /// `{milliseconds}.{event id}`.
    #[schema(value_type = String)]
    pub id: &'a DeliveryId,
    pub event: EventRef<'a>,
    pub status: DeliveryStatus,
    /// Attempts made so far.
    pub attempt: usize,
    /// The last attempt's HTTP status, if an answer came.
    pub response_code: Option<u16>,
    pub duration_ms: Option<u64>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub first_attempt_at: DateTime<Utc>,
    pub attempts: &'a [Attempt],
}

impl<'a> From<&'a WebhookDelivery> for DeliveryView<'a> {
    fn from(d: &'a WebhookDelivery) -> Self {
        let last = d.attempts.last();
        Self {
            id: &d.id,
            event: EventRef {
                id: &d.event.id,
                r#type: d.event.r#type,
                timestamp: d.event.timestamp,
            },
            status: d.status,
            attempt: d
                .attempts
                .iter()
                .map(|a| a.attempt as usize)
                .max()
                .unwrap_or(0),
            response_code: last.and_then(|a| a.response_code),
            duration_ms: last.map(|a| a.duration_ms),
            next_attempt_at: d.next_attempt_at,
            first_attempt_at: d.first_attempt_at,
            attempts: &d.attempts,
        }
    }
}
