//! Webhook endpoints and their deliveries: the decisions only, no I/O. The store keeps them
//! (`store::webhooks`), the notifier carries attempts out (`connector::webhooks`).
//!
//! - An endpoint is a tenant's URL, the event types it subscribes to, whether it is enabled,
//!   and its signing secret's *version*: the secret itself is derived from the deployment's
//!   master secret (`WebhookSigner`), so the table never holds one. A rotation moves to the
//!   next version and keeps the previous one valid for [`SECRET_OVERLAP`].
//! - A delivery is one event for one endpoint, with every attempt. A failed attempt is tried
//!   again after an exponential backoff with jitter ([`retry_delay`]) for [`RETRY_WINDOW`]
//!   from the first attempt; the last attempt is at the window's end.
//! - An endpoint whose deliveries have only failed for [`DISABLE_AFTER`] is disabled.

use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use url::{Host, Url};
use uuid::Uuid;

use crate::domain::TenantId;
use crate::events::{Event, EventType};

/// How long a rotated-out secret still signs deliveries (beside the new one).
pub const SECRET_OVERLAP: chrono::Duration = chrono::Duration::hours(24);
/// How long a failed delivery is tried again, from its first attempt.
pub const RETRY_WINDOW: chrono::Duration = chrono::Duration::hours(24);
/// How long an endpoint may fail every delivery before it is disabled.
pub const DISABLE_AFTER: chrono::Duration = chrono::Duration::hours(24);
/// How long a delivery's record is kept (the table's TTL).
pub const DELIVERY_RETENTION: chrono::Duration = chrono::Duration::days(30);
/// The longest one delivery attempt may take, connect to last byte.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);
/// The first retry's delay; each further one doubles, up to [`MAX_RETRY_DELAY`].
pub const FIRST_RETRY_DELAY: Duration = Duration::from_secs(30);
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(2 * 3600);
/// Attempts kept on a delivery record (24 h of retries take about 20).
pub const MAX_RECORDED_ATTEMPTS: usize = 60;
pub const MAX_URL_LEN: usize = 2048;
pub const MAX_DESCRIPTION_CHARS: usize = 256;
/// The reason a disabled endpoint shows.
pub const DISABLED_FAILING: &str =
    "every delivery failed for 24 hours; fix the endpoint and enable it again (PATCH enabled: true)";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookEndpointId(Uuid);

impl WebhookEndpointId {
    pub fn new() -> Self {
        Self(Uuid::new_v4())
    }
    pub fn parse(raw: &str) -> Option<Self> {
        Uuid::try_parse(raw).ok().map(Self)
    }
}

impl Default for WebhookEndpointId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for WebhookEndpointId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A delivery is one event to one endpoint, named within the endpoint by the event's time and
/// id (`{milliseconds}.{event id}`): an endpoint's log sorts by time, and a second copy of the
/// event (queues deliver at least once) finds the first one's record.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DeliveryId {
    at_ms: i64,
    event: String,
}

impl DeliveryId {
    pub fn of(event: &Event) -> Self {
        Self {
            at_ms: event.timestamp.timestamp_millis().max(0),
            event: event.id.clone(),
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        let (at, event) = raw.split_once('.')?;
        let ok = at.len() == 13
            && at.bytes().all(|b| b.is_ascii_digit())
            && event.starts_with("evt_")
            && event.len() <= 64
            && event
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !ok {
            return None;
        }
        Some(Self {
            at_ms: at.parse().ok()?,
            event: event.to_owned(),
        })
    }
}

impl fmt::Display for DeliveryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:013}.{}", self.at_ms, self.event)
    }
}

impl Serialize for DeliveryId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for DeliveryId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).ok_or_else(|| serde::de::Error::custom("not a delivery id"))
    }
}

/// A tenant's webhook endpoint, as stored (no secret: see the module's docs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookEndpoint {
    pub tenant_id: TenantId,
    pub id: WebhookEndpointId,
    pub url: Url,
    pub events: BTreeSet<EventType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_at: Option<DateTime<Utc>>,
    /// The signing secret in force; the previous one signs too until `previous_secret_until`.
    pub secret_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_secret_until: Option<DateTime<Utc>>,
    /// Since when every attempt has failed (none while the last one succeeded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failing_since: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Raised by every change; writes are conditional on it.
    pub version: u64,
}

/// A change asked for by `PATCH /v1/webhooks/{id}`, already validated.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EndpointPatch {
    pub url: Option<Url>,
    pub events: Option<BTreeSet<EventType>>,
    pub enabled: Option<bool>,
}

impl WebhookEndpoint {
    pub fn new(
        tenant_id: TenantId,
        url: Url,
        events: BTreeSet<EventType>,
        description: Option<String>,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            tenant_id,
            id: WebhookEndpointId::new(),
            url,
            events,
            description,
            enabled: true,
            disabled_reason: None,
            disabled_at: None,
            secret_version: 1,
            previous_secret_until: None,
            failing_since: None,
            created_at: now,
            updated_at: now,
            version: 1,
        }
    }

    /// Whether an event of `kind` goes to this endpoint (a ping is sent only by asking).
    pub fn subscribes(&self, kind: EventType) -> bool {
        self.enabled && self.events.contains(&kind)
    }

    /// The secret versions that sign a delivery at `now`: the current one, and the previous
    /// one during its overlap.
    pub fn signing_versions(&self, now: DateTime<Utc>) -> Vec<u32> {
        let mut versions = vec![self.secret_version];
        if self.secret_version > 1 && self.previous_secret_until.is_some_and(|until| now < until) {
            versions.push(self.secret_version - 1);
        }
        versions
    }

    fn changed(&self, now: DateTime<Utc>) -> Self {
        Self {
            updated_at: now,
            version: self.version + 1,
            ..self.clone()
        }
    }

    /// The endpoint with `patch` applied. Enabling it again forgets why it was disabled and
    /// its failures, so it gets a fresh 24 h.
    pub fn patched(&self, patch: &EndpointPatch, now: DateTime<Utc>) -> Self {
        let mut next = self.changed(now);
        if let Some(url) = &patch.url {
            next.url = url.clone();
        }
        if let Some(events) = &patch.events {
            next.events = events.clone();
        }
        match patch.enabled {
            Some(true) if !self.enabled => {
                next.enabled = true;
                next.disabled_reason = None;
                next.disabled_at = None;
                next.failing_since = None;
            }
            Some(false) if self.enabled => {
                next.enabled = false;
                next.disabled_reason = Some("disabled by the tenant".into());
                next.disabled_at = Some(now);
            }
            _ => {}
        }
        next
    }

    /// A new secret version; the current one stays valid for [`SECRET_OVERLAP`] (a version
    /// rotated out earlier stops signing at once).
    pub fn rotated(&self, now: DateTime<Utc>) -> Self {
        Self {
            secret_version: self.secret_version + 1,
            previous_secret_until: Some(now + SECRET_OVERLAP),
            ..self.changed(now)
        }
    }

    /// After a successful attempt: `None` when nothing changes (the usual case: no write).
    pub fn delivered(&self, now: DateTime<Utc>) -> Option<Self> {
        self.failing_since.map(|_| Self {
            failing_since: None,
            ..self.changed(now)
        })
    }

    /// After a failed attempt: the first failure starts the count; one [`DISABLE_AFTER`]
    /// later the endpoint is disabled. `None` when nothing changes.
    pub fn failed(&self, now: DateTime<Utc>) -> Option<Self> {
        if !self.enabled {
            return None;
        }
        match self.failing_since {
            None => Some(Self {
                failing_since: Some(now),
                ..self.changed(now)
            }),
            Some(since) if now - since >= DISABLE_AFTER => Some(Self {
                enabled: false,
                disabled_reason: Some(DISABLED_FAILING.into()),
                disabled_at: Some(now),
                ..self.changed(now)
            }),
            Some(_) => None,
        }
    }
}

/// An endpoint's URL as a tenant gave it, or why not. The address rules (no internal
/// addresses) need DNS and are the SSRF guard's (`media::guarded_client`), checked after this.
pub fn endpoint_url(raw: &str, allow_loopback_http: bool) -> Result<Url, &'static str> {
    if raw.len() > MAX_URL_LEN {
        return Err("url must be at most 2048 characters");
    }
    let url = Url::parse(raw).map_err(|_| "url must be an absolute https URL")?;
    if url.host().is_none() {
        return Err("url must be an absolute https URL");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("url must not carry a user name or password");
    }
    if url.fragment().is_some() {
        return Err("url must not have a fragment");
    }
    match url.scheme() {
        "https" => Ok(url),
        "http" if allow_loopback_http && is_loopback(&url) => Ok(url),
        _ => Err("url must be https"),
    }
}

/// Whether the URL's host is this machine (`localhost`, 127.0.0.0/8, `[::1]`).
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// The event types an endpoint subscribes to: at least one, each a known type (`ping` is
/// sent only by asking, so it cannot be subscribed to).
pub fn subscribed_events(raw: &[String]) -> Result<BTreeSet<EventType>, String> {
    if raw.is_empty() {
        return Err("events must name at least one event type".into());
    }
    raw.iter()
        .map(|name| match name.parse::<EventType>() {
            Ok(EventType::Ping) | Err(_) => Err(format!("events: {name:?} is not an event type")),
            Ok(kind) => Ok(kind),
        })
        .collect()
}

/// How an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::IntoStaticStr)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum AttemptOutcome {
    /// A 2xx answer.
    Succeeded,
    /// Any other answer (`response_code` says which).
    HttpError,
    /// No whole answer within [`DELIVERY_TIMEOUT`].
    Timeout,
    /// The connection was refused or dropped.
    ConnectionFailed,
    /// The URL's host is not a public internet address (the SSRF guard).
    AddressNotAllowed,
    /// The host's name does not resolve.
    Unreachable,
    /// Not sent: the endpoint was disabled or is gone.
    NotSent,
}

/// One attempt of a delivery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Attempt {
    pub attempt: u32,
    pub at: DateTime<Utc>,
    pub outcome: AttemptOutcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_code: Option<u16>,
    pub duration_ms: u64,
    /// Asked for by the tenant (`…/resend`).
    #[serde(default)]
    pub resend: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum DeliveryStatus {
    /// Failed so far; another attempt is due at `next_attempt_at`.
    Pending,
    Succeeded,
    /// Failed for good (the retry window ended, or the endpoint was disabled).
    Failed,
}

/// One event for one endpoint, with every attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookDelivery {
    pub tenant_id: TenantId,
    pub endpoint_id: WebhookEndpointId,
    pub id: DeliveryId,
    pub event: Event,
    pub status: DeliveryStatus,
    pub attempts: Vec<Attempt>,
    pub first_attempt_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub version: u64,
}

impl WebhookDelivery {
    /// The record of `event`'s first attempt for `endpoint`. `jitter` is in `[0, 1)`.
    pub fn first(endpoint: &WebhookEndpoint, event: &Event, attempt: Attempt, jitter: f64) -> Self {
        let at = attempt.at;
        let blank = Self {
            tenant_id: endpoint.tenant_id.clone(),
            endpoint_id: endpoint.id,
            id: DeliveryId::of(event),
            event: event.clone(),
            status: DeliveryStatus::Pending,
            attempts: Vec::new(),
            first_attempt_at: at,
            next_attempt_at: None,
            version: 0,
        };
        blank.with(attempt, jitter)
    }

    /// The record after one more attempt: done on success; else the next attempt's time, or
    /// failed once the retry window has ended. A resend never starts a new chain of retries.
    pub fn with(&self, attempt: Attempt, jitter: f64) -> Self {
        let mut next = self.clone();
        next.version += 1;
        let failures = self.attempts.iter().filter(|a| !a.resend).count() as u32 + 1;
        let (at, outcome, resend) = (attempt.at, attempt.outcome, attempt.resend);
        next.attempts.push(attempt);
        if next.attempts.len() > MAX_RECORDED_ATTEMPTS {
            next.attempts.remove(0);
        }
        (next.status, next.next_attempt_at) = match outcome {
            AttemptOutcome::Succeeded => (DeliveryStatus::Succeeded, None),
            AttemptOutcome::NotSent => (DeliveryStatus::Failed, None),
            _ if resend => (
                if self.status == DeliveryStatus::Pending {
                    DeliveryStatus::Pending
                } else {
                    DeliveryStatus::Failed
                },
                self.next_attempt_at,
            ),
            _ => match next_attempt(self.first_attempt_at, failures, at, jitter) {
                Some(when) => (DeliveryStatus::Pending, Some(when)),
                None => (DeliveryStatus::Failed, None),
            },
        };
        next
    }

    /// When the record is dropped (the table's TTL).
    pub fn expires_at(&self) -> DateTime<Utc> {
        self.first_attempt_at + DELIVERY_RETENTION
    }
}

/// The wait after the `failures`-th failed attempt: 30 s doubling up to 2 h, each spread by
/// ±25 % (`jitter` in `[0, 1)`) so endpoints that failed together do not retry together.
pub fn retry_delay(failures: u32, jitter: f64) -> Duration {
    let base = FIRST_RETRY_DELAY
        .saturating_mul(1u32 << failures.saturating_sub(1).min(16))
        .min(MAX_RETRY_DELAY);
    base.mul_f64(0.75 + 0.5 * jitter.clamp(0.0, 1.0))
}

/// When to try again after a failure at `now`, or `None` once [`RETRY_WINDOW`] from `first`
/// has passed. The last attempt is at the window's end, so an endpoint failing a whole day
/// is seen failing for the whole day.
pub fn next_attempt(
    first: DateTime<Utc>,
    failures: u32,
    now: DateTime<Utc>,
    jitter: f64,
) -> Option<DateTime<Utc>> {
    let end = first + RETRY_WINDOW;
    if now >= end {
        return None;
    }
    let delay = chrono::Duration::from_std(retry_delay(failures, jitter)).ok()?;
    Some((now + delay).min(end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minutes: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-07T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
            + chrono::Duration::minutes(minutes)
    }

    fn endpoint() -> WebhookEndpoint {
        WebhookEndpoint::new(
            TenantId::parse("acme").unwrap(),
            Url::parse("https://hooks.example.com/in").unwrap(),
            BTreeSet::from([EventType::PostPublished]),
            None,
            at(0),
        )
    }

    #[test]
    fn the_backoff_doubles_from_30_seconds_to_2_hours_with_25_percent_jitter() {
        let rows = [
            (1, 30),
            (2, 60),
            (3, 120),
            (4, 240),
            (8, 3840),
            (9, 7200),
            (20, 7200),
            (u32::MAX, 7200),
        ];
        for (failures, seconds) in rows {
            let middle = retry_delay(failures, 0.5);
            assert_eq!(middle, Duration::from_secs(seconds), "{failures}");
            assert_eq!(retry_delay(failures, 0.0), middle.mul_f64(0.75));
            assert!(retry_delay(failures, 0.999) < middle.mul_f64(1.25));
        }
    }

    #[test]
    fn retries_last_24_hours_from_the_first_attempt_the_last_one_at_its_end() {
        let first = at(0);
        let mut now = first;
        let mut failures = 0;
        while let Some(next) = next_attempt(first, failures + 1, now, 0.5) {
            assert!(next > now && next <= first + RETRY_WINDOW);
            failures += 1;
            now = next;
        }
        assert_eq!(
            now,
            first + RETRY_WINDOW,
            "the last try is at the window's end"
        );
        assert!(
            (15..=25).contains(&failures),
            "{failures} attempts in a day"
        );
        assert_eq!(next_attempt(first, 1, first + RETRY_WINDOW, 0.5), None);
    }

    #[test]
    fn urls_must_be_https_without_credentials_or_fragments_loopback_http_only_when_allowed() {
        let rows = [
            ("https://hooks.example.com/in", false, true),
            ("https://hooks.example.com:8443/in?x=1", false, true),
            ("http://hooks.example.com/in", true, false),
            ("http://127.0.0.1:9000/in", false, false),
            ("http://127.0.0.1:9000/in", true, true),
            ("http://localhost:9000/in", true, true),
            ("http://[::1]:9000/in", true, true),
            ("http://10.0.0.1/in", true, false),
            ("ftp://hooks.example.com/in", true, false),
            ("https://user:pw@hooks.example.com/in", false, false),
            ("https://hooks.example.com/in#frag", false, false),
            ("/relative", false, false),
            ("not a url", false, false),
        ];
        for (raw, loopback, ok) in rows {
            assert_eq!(endpoint_url(raw, loopback).is_ok(), ok, "{raw} {loopback}");
        }
        let long = format!("https://hooks.example.com/{}", "a".repeat(MAX_URL_LEN));
        assert!(endpoint_url(&long, false).is_err());
    }

    #[test]
    fn events_must_be_known_types_and_not_ping() {
        let names = |n: &[&str]| n.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            subscribed_events(&names(&["post.published", "post.failed", "post.published"]))
                .unwrap()
                .len(),
            2
        );
        for bad in [&[][..], &["ping"], &["post.exploded"], &["POST.PUBLISHED"]] {
            assert!(subscribed_events(&names(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_rotation_signs_with_both_versions_for_24_hours_then_only_the_new() {
        let first = endpoint();
        assert_eq!(first.signing_versions(at(0)), [1]);
        let rotated = first.rotated(at(10));
        assert_eq!(rotated.secret_version, 2);
        assert_eq!(rotated.signing_versions(at(11)), [2, 1]);
        assert_eq!(rotated.signing_versions(at(10 + 24 * 60 - 1)), [2, 1]);
        assert_eq!(rotated.signing_versions(at(10 + 24 * 60)), [2]);
        let twice = rotated.rotated(at(20));
        assert_eq!(twice.signing_versions(at(21)), [3, 2], "v1 stops at once");
    }

    #[test]
    fn an_endpoint_failing_for_24_hours_is_disabled_and_a_success_resets_the_count() {
        let endpoint = endpoint();
        let failing = endpoint.failed(at(0)).unwrap();
        assert_eq!(failing.failing_since, Some(at(0)));
        assert_eq!(
            failing.failed(at(60)),
            None,
            "no write while it keeps failing"
        );
        let recovered = failing.delivered(at(61)).unwrap();
        assert_eq!(recovered.failing_since, None);
        assert_eq!(recovered.delivered(at(62)), None);

        let disabled = failing.failed(at(24 * 60)).unwrap();
        assert!(!disabled.enabled);
        assert_eq!(disabled.disabled_reason.as_deref(), Some(DISABLED_FAILING));
        assert!(!disabled.subscribes(EventType::PostPublished));
        assert_eq!(disabled.failed(at(24 * 60 + 1)), None);

        let enabled = disabled.patched(
            &EndpointPatch {
                enabled: Some(true),
                ..Default::default()
            },
            at(25 * 60),
        );
        assert!(enabled.enabled && enabled.failing_since.is_none());
        assert!(enabled.disabled_reason.is_none());
    }

    #[test]
    fn a_delivery_is_retried_until_it_succeeds_or_its_window_ends() {
        let endpoint = endpoint();
        let event = Event::new(
            endpoint.tenant_id.clone(),
            EventType::PostPublished,
            serde_json::json!({}),
            at(0),
        );
        let attempt = |n, minutes, outcome| Attempt {
            attempt: n,
            at: at(minutes),
            outcome,
            response_code: None,
            duration_ms: 5,
            resend: false,
        };
        let failed = WebhookDelivery::first(
            &endpoint,
            &event,
            attempt(1, 0, AttemptOutcome::Timeout),
            0.5,
        );
        assert_eq!(failed.status, DeliveryStatus::Pending);
        assert_eq!(
            failed.next_attempt_at,
            Some(at(0) + chrono::Duration::seconds(30))
        );
        let done = failed.with(attempt(2, 1, AttemptOutcome::Succeeded), 0.5);
        assert_eq!(done.status, DeliveryStatus::Succeeded);
        assert_eq!((done.next_attempt_at, done.attempts.len()), (None, 2));
        let late = failed.with(attempt(2, 24 * 60, AttemptOutcome::HttpError), 0.5);
        assert_eq!(late.status, DeliveryStatus::Failed);
        assert_eq!(late.next_attempt_at, None);
        let mut resent = attempt(3, 25 * 60, AttemptOutcome::HttpError);
        resent.resend = true;
        let resent = late.with(resent, 0.5);
        assert_eq!(
            (resent.status, resent.next_attempt_at),
            (DeliveryStatus::Failed, None)
        );
        assert_eq!(resent.expires_at(), at(0) + chrono::Duration::days(30));
    }

    #[test]
    fn delivery_ids_sort_by_time_and_name_their_event() {
        let tenant = TenantId::parse("acme").unwrap();
        let early = Event::of(
            tenant.clone(),
            EventType::PostFailed,
            "b",
            at(0),
            serde_json::json!({}),
        );
        let late = Event::new(tenant, EventType::Ping, serde_json::json!({}), at(1));
        let (a, b) = (DeliveryId::of(&early), DeliveryId::of(&late));
        assert!(a.to_string() < b.to_string());
        assert!(a.to_string().ends_with(&early.id));
        assert_eq!(DeliveryId::parse(&a.to_string()), Some(a.clone()));
        assert_eq!(
            serde_json::from_value::<DeliveryId>(serde_json::to_value(&b).unwrap()).unwrap(),
            b
        );
        for bad in [
            "",
            "1.evt_x",
            "1796666902351",
            "1796666902351.x",
            "179666690235a.evt_x",
            "1796666902351.evt_#",
        ] {
            assert_eq!(DeliveryId::parse(bad), None, "{bad}");
        }
    }
}
