//! One event's first attempts, and the attempts after: send, record, plan the next try, keep
//! the endpoint's failure count.

use chrono::{DateTime, Utc};
use connector::domain::webhooks::{
    Attempt, AttemptOutcome, DeliveryId, DeliveryStatus, WebhookDelivery, WebhookEndpoint,
    WebhookEndpointId,
};
use connector::domain::TenantId;
use connector::events::{Event, EventType, WebhookDisabled, WebhookTask};
use connector::store::StoreError;
use connector::webhooks::{send, Sent};
use rand::Rng;
use tracing::{info, warn};

use crate::{Notifier, NotifyError};

/// An `event` task: the first attempt for every endpoint it goes to (or the one named).
pub async fn event(
    notifier: &Notifier,
    event: &Event,
    only: Option<WebhookEndpointId>,
) -> Result<(), NotifyError> {
    let endpoints = notifier.webhooks.endpoints(&event.tenant_id).await?;
    let targets = endpoints.iter().filter(|e| match only {
        Some(id) => e.id == id,
        None => e.subscribes(event.r#type),
    });
    let results =
        futures::future::join_all(targets.map(|endpoint| first(notifier, endpoint, event))).await;
    // A failure to record one endpoint's attempt gives the whole event back: the others'
    // records exist already, so their second delivery is sent (same webhook-id) but not
    // recorded twice.
    results.into_iter().collect()
}

async fn first(
    notifier: &Notifier,
    endpoint: &WebhookEndpoint,
    event: &Event,
) -> Result<(), NotifyError> {
    let now = notifier.now();
    let sent = attempt(notifier, endpoint, event, now).await;
    let record =
        WebhookDelivery::first(endpoint, event, attempt_of(1, now, &sent, false), jitter());
    match notifier.webhooks.put_delivery(None, &record).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => {
            info!(webhook_endpoint_id = %endpoint.id, event_id = %event.id, "event delivered again (SQS sent it twice); recorded once");
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    }
    after(notifier, endpoint, &record, sent.outcome, true).await
}

/// An `attempt` task: the delivery's next try once it is due (or a resend, now).
pub async fn again(
    notifier: &Notifier,
    tenant: &TenantId,
    endpoint_id: WebhookEndpointId,
    delivery_id: DeliveryId,
    due_at: DateTime<Utc>,
    resend: bool,
) -> Result<(), NotifyError> {
    let now = notifier.now();
    if !resend && now < due_at {
        // Not yet: the next link of the chain.
        let task = WebhookTask::Attempt {
            tenant_id: tenant.clone(),
            endpoint_id,
            delivery_id,
            due_at,
            resend,
        };
        notifier
            .queue
            .send(&task, delay(notifier, due_at, now))
            .await?;
        return Ok(());
    }
    let (Some(endpoint), Some(record)) = (
        notifier.webhooks.endpoint(tenant, endpoint_id).await?,
        notifier
            .webhooks
            .delivery(tenant, endpoint_id, delivery_id.clone())
            .await?,
    ) else {
        // The endpoint was deleted (its deliveries expire), or the record has expired.
        return Ok(());
    };
    if !resend
        && (record.status != DeliveryStatus::Pending || record.next_attempt_at != Some(due_at))
    {
        // A duplicate of a task already carried out.
        return Ok(());
    }
    let number = record.attempts.iter().map(|a| a.attempt).max().unwrap_or(0) + 1;
    let sent = if endpoint.enabled || resend {
        attempt(notifier, &endpoint, &record.event, now).await
    } else {
        notifier.metrics.webhook_delivery(AttemptOutcome::NotSent);
        Sent {
            outcome: AttemptOutcome::NotSent,
            response_code: None,
            duration: std::time::Duration::ZERO,
        }
    };
    let next = record.with(attempt_of(number, now, &sent, resend), jitter());
    match notifier.webhooks.put_delivery(Some(&record), &next).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => {
            info!(delivery_id = %delivery_id, "delivery changed meanwhile (a resend); this attempt is not recorded");
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    }
    after(notifier, &endpoint, &next, sent.outcome, !resend).await
}

async fn attempt(
    notifier: &Notifier,
    endpoint: &WebhookEndpoint,
    event: &Event,
    now: DateTime<Utc>,
) -> Sent {
    let sent = send(
        &notifier.signer,
        endpoint,
        event,
        now,
        notifier.allow_loopback,
        notifier.timeout,
    )
    .await;
    info!(
        webhook_endpoint_id = %endpoint.id,
        event_id = %event.id,
        event_type = event.r#type.as_str(),
        outcome = ?sent.outcome,
        response_code = sent.response_code,
        duration_ms = sent.duration.as_millis() as u64,
        "webhook attempt"
    );
    notifier.metrics.webhook_delivery(sent.outcome);
    sent
}

/// After a recorded attempt: the next try on the queue (when one is due and `schedule`), and
/// the endpoint's failure count (written only when it changes).
async fn after(
    notifier: &Notifier,
    endpoint: &WebhookEndpoint,
    record: &WebhookDelivery,
    outcome: AttemptOutcome,
    schedule: bool,
) -> Result<(), NotifyError> {
    let now = notifier.now();
    if let (true, Some(due_at)) = (schedule, record.next_attempt_at) {
        let task = WebhookTask::Attempt {
            tenant_id: record.tenant_id.clone(),
            endpoint_id: record.endpoint_id,
            delivery_id: record.id.clone(),
            due_at,
            resend: false,
        };
        notifier
            .queue
            .send(&task, delay(notifier, due_at, now))
            .await?;
    }
    let mut disabled = false;
    let change = |current: &WebhookEndpoint| {
        let next = match outcome {
            AttemptOutcome::Succeeded => current.delivered(now),
            AttemptOutcome::NotSent => None,
            _ => current.failed(now),
        };
        disabled = current.enabled && next.as_ref().is_some_and(|n| !n.enabled);
        next
    };
    let stored = notifier
        .webhooks
        .update_endpoint(
            &endpoint.tenant_id,
            endpoint.id,
            Some(endpoint.clone()),
            change,
        )
        .await?;
    if let (true, Some(stored)) = (disabled, stored) {
        on_disabled(notifier, &stored, now).await?;
    }
    Ok(())
}

/// The endpoint was disabled: a `webhook.disabled` event, recorded in its own delivery log
/// (not sent there: it is disabled) and delivered to the tenant's endpoints subscribed to it.
async fn on_disabled(
    notifier: &Notifier,
    endpoint: &WebhookEndpoint,
    now: DateTime<Utc>,
) -> Result<(), NotifyError> {
    warn!(webhook_endpoint_id = %endpoint.id, "webhook endpoint disabled after 24 h of failures");
    let event = Event::new(
        endpoint.tenant_id.clone(),
        EventType::WebhookDisabled,
        serde_json::to_value(WebhookDisabled {
            webhook_id: endpoint.id,
            url: endpoint.url.as_str(),
            disabled_reason: endpoint.disabled_reason.as_deref(),
            disabled_at: endpoint.disabled_at,
        })
        .expect("webhook.disabled data serializes"),
        now,
    );
    let not_sent = Sent {
        outcome: AttemptOutcome::NotSent,
        response_code: None,
        duration: std::time::Duration::ZERO,
    };
    let record =
        WebhookDelivery::first(endpoint, &event, attempt_of(1, now, &not_sent, false), 0.5);
    match notifier.webhooks.put_delivery(None, &record).await {
        Ok(()) | Err(StoreError::Conflict(_)) => {}
        Err(e) => return Err(e.into()),
    }
    notifier.queue.emit(&event).await?;
    Ok(())
}

fn attempt_of(number: u32, at: DateTime<Utc>, sent: &Sent, resend: bool) -> Attempt {
    Attempt {
        attempt: number,
        at,
        outcome: sent.outcome,
        response_code: sent.response_code,
        duration_ms: sent.duration.as_millis() as u64,
        resend,
    }
}

/// The delay of the next message of a chain toward `due_at`.
fn delay(notifier: &Notifier, due_at: DateTime<Utc>, now: DateTime<Utc>) -> std::time::Duration {
    (due_at - now)
        .to_std()
        .unwrap_or_default()
        .min(notifier.max_delay)
}

fn jitter() -> f64 {
    rand::rng().random::<f64>()
}
