//! Signing and sending webhook deliveries (Standard Webhooks).
//!
//! Secrets: each endpoint's signing secret is HMAC-SHA256(master secret,
//! `"{tenant}:{endpoint}:{version}"`), the master secret living in Secrets Manager. So the
//! table holds only a version number, a rotation is a version bump, and the `api` function
//! (which shows a secret once) needs no KMS rights: nothing is encrypted, nothing to decrypt.
//! Losing the master secret changes every endpoint's secret; rotating it is rotating them all.

use std::time::{Duration, Instant};

use base64::Engine;
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use tracing::warn;
use url::Url;

use crate::domain::webhooks::{is_loopback, AttemptOutcome, WebhookEndpoint, DELIVERY_TIMEOUT};
use crate::events::Event;
use crate::media::{guarded_client, loggable, MediaRefusal, Unguardable};

/// Derives and signs with the endpoints' secrets.
#[derive(Clone)]
pub struct WebhookSigner {
    master: SecretString,
}

impl std::fmt::Debug for WebhookSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSigner([redacted])")
    }
}

impl WebhookSigner {
    pub fn new(master: SecretString) -> Self {
        Self { master }
    }

    fn key(&self, endpoint: &WebhookEndpoint, version: u32) -> [u8; 32] {
        let input = format!("{}:{}:{version}", endpoint.tenant_id, endpoint.id);
        hmac_sha256::HMAC::mac(input.as_bytes(), self.master.expose_secret().as_bytes())
    }

    /// The endpoint's secret of `version` as the tenant sees it: `whsec_` and base64.
    pub fn secret(&self, endpoint: &WebhookEndpoint, version: u32) -> SecretString {
        let encoded = base64::engine::general_purpose::STANDARD.encode(self.key(endpoint, version));
        SecretString::from(format!("whsec_{encoded}"))
    }

    /// `webhook-signature`: `v1,<base64>` for each version that signs at `now`, space-separated.
    pub fn signature(
        &self,
        endpoint: &WebhookEndpoint,
        now: DateTime<Utc>,
        message_id: &str,
        timestamp: i64,
        payload: &str,
    ) -> String {
        endpoint
            .signing_versions(now)
            .into_iter()
            .map(|version| {
                standardwebhooks::Webhook::from_bytes(self.key(endpoint, version).to_vec())
                    .and_then(|hook| hook.sign(message_id, timestamp, payload.as_bytes()))
                    .expect("a UTF-8 payload with a key of bytes signs")
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub outcome: AttemptOutcome,
    pub response_code: Option<u16>,
    pub duration: Duration,
}

/// POSTs `event` to the endpoint, signed, within [`DELIVERY_TIMEOUT`]. The address is checked
/// by the SSRF guard on every attempt (a name may resolve elsewhere today) and the
/// connection goes to the address checked; redirects are not followed. `allow_loopback` (the
/// local stack only) lets loopback URLs through the guard, nothing else internal.
/// `clock` decides which secrets sign; `webhook-timestamp` is always the real time, which
/// receivers compare with their own.
pub async fn send(
    signer: &WebhookSigner,
    endpoint: &WebhookEndpoint,
    event: &Event,
    clock: DateTime<Utc>,
    allow_loopback: bool,
    timeout: Duration,
) -> Sent {
    let started = Instant::now();
    let timeout = timeout.min(DELIVERY_TIMEOUT);
    // One bound for the whole attempt, the name's lookup included (the resolver has none).
    match tokio::time::timeout(
        timeout,
        attempt(signer, endpoint, event, clock, allow_loopback, timeout),
    )
    .await
    {
        Ok((outcome, response_code)) => Sent {
            outcome,
            response_code,
            duration: started.elapsed(),
        },
        Err(_) => {
            log(&endpoint.url, "no answer in time");
            Sent {
                outcome: AttemptOutcome::Timeout,
                response_code: None,
                duration: started.elapsed(),
            }
        }
    }
}

/// One attempt's outcome and the answer's status, if one came.
async fn attempt(
    signer: &WebhookSigner,
    endpoint: &WebhookEndpoint,
    event: &Event,
    clock: DateTime<Utc>,
    allow_loopback: bool,
    timeout: Duration,
) -> (AttemptOutcome, Option<u16>) {
    let url = &endpoint.url;
    let client = match guarded_client(url, allow_loopback && is_loopback(url)).await {
        Ok(client) => client,
        Err(Unguardable::Refused(MediaRefusal::AddressNotAllowed | MediaRefusal::NotAUrl)) => {
            log(url, "the address is not allowed");
            return (AttemptOutcome::AddressNotAllowed, None);
        }
        Err(Unguardable::Refused(_)) => return (AttemptOutcome::AddressNotAllowed, None),
        Err(Unguardable::Unreachable(detail)) => {
            log(url, &detail);
            return (AttemptOutcome::Unreachable, None);
        }
    };
    let payload = event.payload().to_string();
    let message_id = event.id.clone();
    let timestamp = Utc::now().timestamp();
    let signature = signer.signature(endpoint, clock, &message_id, timestamp, &payload);
    let answer = client
        .post(url.clone())
        .timeout(timeout)
        .header("content-type", "application/json")
        .header("user-agent", "linkedin-connector-webhooks/1")
        .header(standardwebhooks::HEADER_WEBHOOK_ID, &message_id)
        .header(standardwebhooks::HEADER_WEBHOOK_TIMESTAMP, timestamp)
        .header(standardwebhooks::HEADER_WEBHOOK_SIGNATURE, signature)
        .body(payload)
        .send()
        .await;
    match answer {
        Ok(response) => {
            let status = response.status();
            // The body is not read: only the status counts, and a large body would hold us.
            let outcome = if status.is_success() {
                AttemptOutcome::Succeeded
            } else {
                AttemptOutcome::HttpError
            };
            (outcome, Some(status.as_u16()))
        }
        Err(e) if e.is_timeout() => {
            log(url, "no answer in time");
            (AttemptOutcome::Timeout, None)
        }
        Err(e) => {
            log(url, &e.without_url().to_string());
            (AttemptOutcome::ConnectionFailed, None)
        }
    }
}

fn log(url: &Url, detail: &str) {
    warn!(
        url = loggable(url).as_str(),
        detail, "webhook delivery failed"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::TenantId;
    use crate::events::EventType;
    use std::collections::BTreeSet;

    fn endpoint(tenant: &str) -> WebhookEndpoint {
        WebhookEndpoint::new(
            TenantId::parse(tenant).unwrap(),
            Url::parse("https://hooks.example.com/in").unwrap(),
            BTreeSet::from([EventType::PostPublished]),
            None,
            Utc::now(),
        )
    }

    fn headers(id: &str, timestamp: i64, signature: &str) -> http::HeaderMap {
        let mut headers = http::HeaderMap::new();
        headers.insert("webhook-id", id.parse().unwrap());
        headers.insert("webhook-timestamp", timestamp.into());
        headers.insert("webhook-signature", signature.parse().unwrap());
        headers
    }

    #[test]
    fn secrets_differ_per_tenant_endpoint_version_and_master_and_never_show_in_debug() {
        let signer = WebhookSigner::new(SecretString::from("master-1"));
        let a = endpoint("acme");
        let mut b = a.clone();
        b.tenant_id = TenantId::parse("globex").unwrap();
        let secret =
            |s: &WebhookSigner, e: &WebhookEndpoint, v| s.secret(e, v).expose_secret().to_owned();
        let first = secret(&signer, &a, 1);
        assert!(first.starts_with("whsec_") && first.len() > 40, "{first}");
        assert_eq!(first, secret(&signer, &a, 1), "derived, so stable");
        assert_ne!(first, secret(&signer, &a, 2));
        assert_ne!(first, secret(&signer, &b, 1));
        assert_ne!(first, secret(&signer, &endpoint("acme"), 1));
        let other = WebhookSigner::new(SecretString::from("master-2"));
        assert_ne!(first, secret(&other, &a, 1));
        assert!(!format!("{signer:?}").contains("master-1"));
    }

    #[test]
    fn signatures_verify_with_the_shown_secret_and_both_during_a_rotation() {
        let signer = WebhookSigner::new(SecretString::from("master"));
        let now = Utc::now();
        let endpoint = endpoint("acme");
        let old = signer.secret(&endpoint, 1);
        let verify = |secret: &SecretString, signature: &str| {
            standardwebhooks::Webhook::new(secret.expose_secret())
                .unwrap()
                .verify(b"{\"a\":1}", &headers("evt_1", now.timestamp(), signature))
                .is_ok()
        };
        let signature = signer.signature(&endpoint, now, "evt_1", now.timestamp(), "{\"a\":1}");
        assert!(verify(&old, &signature));

        let rotated = endpoint.rotated(now);
        let new = signer.secret(&rotated, 2);
        let during = signer.signature(&rotated, now, "evt_1", now.timestamp(), "{\"a\":1}");
        assert_eq!(during.split(' ').count(), 2, "{during}");
        assert!(verify(&old, &during) && verify(&new, &during));
        let after = signer.signature(
            &rotated,
            now + chrono::Duration::hours(25),
            "evt_1",
            now.timestamp(),
            "{\"a\":1}",
        );
        assert!(verify(&new, &after) && !verify(&old, &after));
        // Another payload, id or secret does not verify.
        assert!(standardwebhooks::Webhook::new(new.expose_secret())
            .unwrap()
            .verify(b"{\"a\":2}", &headers("evt_1", now.timestamp(), &after))
            .is_err());
    }

    /// The SSRF guard runs at every delivery: an internal address is refused before any
    /// connection, loopback too unless the local stack allows it (and then only loopback).
    #[tokio::test]
    async fn deliveries_to_internal_addresses_are_refused_without_connecting() {
        let signer = WebhookSigner::new(SecretString::from("master"));
        let event = Event::new(
            TenantId::parse("acme").unwrap(),
            EventType::Ping,
            serde_json::json!({}),
            Utc::now(),
        );
        let timeout = Duration::from_secs(1);
        for (raw, allow_loopback) in [
            ("http://127.0.0.1:9/in", false),
            ("https://10.0.0.7/in", false),
            ("https://10.0.0.7/in", true),
            ("https://169.254.169.254/latest/meta-data", true),
            ("https://[::ffff:192.168.0.1]/in", true),
        ] {
            let mut endpoint = endpoint("acme");
            endpoint.url = Url::parse(raw).unwrap();
            let sent = send(
                &signer,
                &endpoint,
                &event,
                Utc::now(),
                allow_loopback,
                timeout,
            )
            .await;
            assert_eq!(sent.outcome, AttemptOutcome::AddressNotAllowed, "{raw}");
            assert_eq!(sent.response_code, None);
        }
        // Loopback allowed: the guard lets it through; nothing listens on port 9.
        let mut endpoint = endpoint("acme");
        endpoint.url = Url::parse("http://127.0.0.1:9/in").unwrap();
        let sent = send(&signer, &endpoint, &event, Utc::now(), true, timeout).await;
        assert_eq!(sent.outcome, AttemptOutcome::ConnectionFailed);
    }
}
