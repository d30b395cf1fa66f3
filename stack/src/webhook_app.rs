//! The tenant's app managing its webhook endpoints through the gateway, and a producer
//! putting events on the webhook queue, as tests drive them.

use std::time::Duration;

use connector::domain::TenantId;
use connector::events::{Event, EventType};
use reqwest::Method;
use serde_json::{json, Value};

use crate::tenant_app::answer;
use crate::LocalStack;

impl LocalStack {
    /// `POST /v1/webhooks` as `tenant`.
    pub async fn create_webhook(&self, tenant: &str, body: Value) -> (u16, Value) {
        answer(
            self.request(Method::POST, tenant, "/v1/webhooks")
                .json(&body),
        )
        .await
    }

    /// Registers `url` for `events` and returns the endpoint with its secret (201 expected).
    pub async fn register_webhook(&self, tenant: &str, url: &url::Url, events: &[&str]) -> Value {
        let (status, endpoint) = self
            .create_webhook(tenant, json!({ "url": url, "events": events }))
            .await;
        assert_eq!(status, 201, "{endpoint}");
        endpoint
    }

    /// `GET /v1/webhooks/{id}` as `tenant`.
    pub async fn webhook(&self, tenant: &str, id: &str) -> (u16, Value) {
        self.get(tenant, &format!("/v1/webhooks/{id}")).await
    }

    /// `PATCH /v1/webhooks/{id}` as `tenant`.
    pub async fn patch_webhook(&self, tenant: &str, id: &str, body: Value) -> (u16, Value) {
        answer(
            self.request(Method::PATCH, tenant, &format!("/v1/webhooks/{id}"))
                .json(&body),
        )
        .await
    }

    /// `DELETE /v1/webhooks/{id}` as `tenant`.
    pub async fn delete_webhook(&self, tenant: &str, id: &str) -> (u16, Value) {
        answer(self.request(Method::DELETE, tenant, &format!("/v1/webhooks/{id}"))).await
    }

    /// `POST /v1/webhooks/{id}/test` as `tenant`: a ping.
    pub async fn test_webhook(&self, tenant: &str, id: &str) -> (u16, Value) {
        answer(self.request(Method::POST, tenant, &format!("/v1/webhooks/{id}/test"))).await
    }

    /// `POST /v1/webhooks/{id}/rotate-secret` as `tenant`.
    pub async fn rotate_webhook_secret(&self, tenant: &str, id: &str) -> (u16, Value) {
        answer(self.request(
            Method::POST,
            tenant,
            &format!("/v1/webhooks/{id}/rotate-secret"),
        ))
        .await
    }

    /// `GET /v1/webhooks/{id}/deliveries?{query}` as `tenant`.
    pub async fn webhook_deliveries(&self, tenant: &str, id: &str, query: &str) -> (u16, Value) {
        self.get(tenant, &format!("/v1/webhooks/{id}/deliveries?{query}"))
            .await
    }

    /// `POST /v1/webhooks/{id}/deliveries/{delivery}/resend` as `tenant`.
    pub async fn resend_delivery(&self, tenant: &str, id: &str, delivery: &str) -> (u16, Value) {
        answer(self.request(
            Method::POST,
            tenant,
            &format!("/v1/webhooks/{id}/deliveries/{delivery}/resend"),
        ))
        .await
    }

    /// Waits until the endpoint's delivery log has a delivery for which `found` holds (polling
    /// the API); returns it.
    pub async fn wait_for_delivery(
        &self,
        tenant: &str,
        id: &str,
        within: Duration,
        found: impl Fn(&Value) -> bool,
    ) -> Value {
        let started = std::time::Instant::now();
        loop {
            let (status, page) = self.webhook_deliveries(tenant, id, "").await;
            assert_eq!(status, 200, "{page}");
            if let Some(delivery) = page["deliveries"]
                .as_array()
                .and_then(|all| all.iter().find(|d| found(d)))
            {
                return delivery.clone();
            }
            assert!(
                started.elapsed() < within,
                "no such delivery within {within:?}: {page}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Puts an event on the webhook queue as a producer would (`EventQueue::emit`), stamped
    /// with the stack's clock.
    pub async fn emit_event(&self, tenant: &str, kind: EventType, data: Value) -> Event {
        let event = Event::new(
            TenantId::parse(tenant).expect("a tenant id"),
            kind,
            data,
            self.now(),
        );
        self.notifier
            .queue
            .emit(&event)
            .await
            .expect("the webhook queue takes the event");
        event
    }
}
