//! `/v1/webhooks`: the calling tenant's webhook endpoints — register (the signing secret is
//! shown once), list, read, change, delete, send a test ping, rotate the secret.

use chrono::Utc;
use connector::domain::webhooks::{
    endpoint_url, is_loopback, subscribed_events, EndpointPatch, WebhookEndpoint,
    WebhookEndpointId, MAX_DESCRIPTION_CHARS,
};
use connector::domain::TenantId;
use connector::events::{Event, EventType, WebhookTask};
use connector::http::{self, ApiError};
use connector::media::{guarded_client, Unguardable};
use lambda_http::{Body, Request, Response};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use tracing::info;
use url::Url;

use crate::webhook_views::EndpointView;
use crate::{store_error, ApiService};

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
struct NewEndpoint {
    url: String,
    #[schema(value_type = Vec<connector::events::EventType>)]
    events: Vec<String>,
    description: Option<String>,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
struct Patch {
    url: Option<String>,
    #[schema(value_type = Option<Vec<connector::events::EventType>>)]
    events: Option<Vec<String>>,
    enabled: Option<bool>,
}

/// An endpoint with its secret, shown once (at creation and rotation).
#[derive(Serialize, utoipa::ToSchema)]
struct WithSecret<'a> {
    #[serde(flatten)]
    endpoint: EndpointView<'a>,
    secret: &'a str,
}

#[utoipa::path(
    post,
    path = "/v1/webhooks",
    operation_id = "create_webhook",
    tag = "webhooks",
    request_body = NewEndpoint,
    responses((status = 201, description = "The endpoint, with its signing secret (shown this once)", body = WithSecret), (status = 400, description = "A field broke a rule (named in `error.field`)", body = connector::http::ErrorBody), (status = 429, description = "The tenant has its most endpoints (`webhook_endpoints`)", body = connector::http::ErrorBody)),
)]
/// `POST /v1/webhooks {url, events, description?}` -> 201 with the endpoint and its secret.
pub async fn create(request: &Request, service: &ApiService) -> Result<Response<Body>, ApiError> {
    let tenant = http::tenant_of(request)?;
    let body: NewEndpoint = http::json_body(request)?;
    let url = checked_url(&body.url, service).await?;
    let events = subscribed_events(&body.events).map_err(|m| ApiError::validation("events", m))?;
    if body
        .description
        .as_ref()
        .is_some_and(|d| d.chars().count() > MAX_DESCRIPTION_CHARS)
    {
        return Err(ApiError::validation(
            "description",
            format!("description must be at most {MAX_DESCRIPTION_CHARS} characters"),
        ));
    }
    let now = Utc::now();
    let endpoint = WebhookEndpoint::new(tenant, url, events, body.description, now);
    let max = service.tenant_limits.webhook_endpoints;
    if let Err(reached) = service
        .webhooks
        .create(&endpoint, max, now)
        .await
        .map_err(store_error("recording a webhook endpoint"))?
    {
        info!(limit = reached.limit.name(), "tenant limit reached");
        return Err(ApiError::limit_reached(reached, &service.tenant_limits));
    }
    info!(webhook_endpoint_id = %endpoint.id, "webhook endpoint registered");
    let secret = service.signer.secret(&endpoint, endpoint.secret_version);
    Ok(http::json(
        201,
        &WithSecret {
            endpoint: EndpointView::from(&endpoint),
            secret: secret.expose_secret(),
        },
    ))
}

#[derive(Serialize, utoipa::ToSchema)]
struct EndpointList<'a> {
    webhooks: Vec<EndpointView<'a>>,
}

#[utoipa::path(
    get,
    path = "/v1/webhooks",
    operation_id = "list_webhooks",
    tag = "webhooks",
    responses((status = 200, description = "The tenant's endpoints (never their secrets)", body = EndpointList)),
)]
/// `GET /v1/webhooks`
pub async fn list(request: &Request, service: &ApiService) -> Result<Response<Body>, ApiError> {
    let tenant = http::tenant_of(request)?;
    let endpoints = service
        .webhooks
        .endpoints(&tenant)
        .await
        .map_err(store_error("listing webhook endpoints"))?;
    Ok(http::json(
        200,
        &EndpointList {
            webhooks: endpoints.iter().map(EndpointView::from).collect(),
        },
    ))
}

#[utoipa::path(
    get,
    path = "/v1/webhooks/{id}",
    operation_id = "get_webhook",
    tag = "webhooks",
    params(("id" = uuid::Uuid, Path, description = "The webhook endpoint")),
    responses((status = 200, description = "The endpoint", body = EndpointView), (status = 404, description = "No such endpoint of the tenant", body = connector::http::ErrorBody)),
)]
/// `GET /v1/webhooks/{id}`
pub async fn get(
    request: &Request,
    service: &ApiService,
    raw_id: &str,
) -> Result<Response<Body>, ApiError> {
    let tenant = http::tenant_of(request)?;
    let endpoint = endpoint(service, &tenant, raw_id).await?;
    Ok(http::json(200, &EndpointView::from(&endpoint)))
}

#[utoipa::path(
    patch,
    path = "/v1/webhooks/{id}",
    operation_id = "update_webhook",
    tag = "webhooks",
    params(("id" = uuid::Uuid, Path, description = "The webhook endpoint")),
    request_body = Patch,
    responses((status = 200, description = "The endpoint", body = EndpointView), (status = 400, description = "A field broke a rule", body = connector::http::ErrorBody), (status = 404, description = "No such endpoint of the tenant", body = connector::http::ErrorBody)),
)]
/// `PATCH /v1/webhooks/{id} {url?, events?, enabled?}`
pub async fn patch(
    request: &Request,
    service: &ApiService,
    raw_id: &str,
) -> Result<Response<Body>, ApiError> {
    let tenant = http::tenant_of(request)?;
    let id = endpoint_id(raw_id)?;
    let body: Patch = http::json_body(request)?;
    let patch = EndpointPatch {
        url: match &body.url {
            Some(raw) => Some(checked_url(raw, service).await?),
            None => None,
        },
        events: body
            .events
            .as_deref()
            .map(subscribed_events)
            .transpose()
            .map_err(|m| ApiError::validation("events", m))?,
        enabled: body.enabled,
    };
    if patch == EndpointPatch::default() {
        return Err(ApiError::validation(
            "body",
            "give at least one of url, events, enabled",
        ));
    }
    let now = Utc::now();
    let endpoint = service
        .webhooks
        .update_endpoint(&tenant, id, None, |current| {
            Some(current.patched(&patch, now))
        })
        .await
        .map_err(store_error("changing a webhook endpoint"))?
        .ok_or(ApiError::NotFound("webhook endpoint"))?;
    info!(webhook_endpoint_id = %id, enabled = endpoint.enabled, "webhook endpoint changed");
    Ok(http::json(200, &EndpointView::from(&endpoint)))
}

#[utoipa::path(
    delete,
    path = "/v1/webhooks/{id}",
    operation_id = "delete_webhook",
    tag = "webhooks",
    params(("id" = uuid::Uuid, Path, description = "The webhook endpoint")),
    responses((status = 204, description = "Deleted"), (status = 404, description = "No such endpoint of the tenant", body = connector::http::ErrorBody)),
)]
/// `DELETE /v1/webhooks/{id}`: 204; its deliveries' records expire by their TTL.
pub async fn delete(
    request: &Request,
    service: &ApiService,
    raw_id: &str,
) -> Result<Response<Body>, ApiError> {
    let tenant = http::tenant_of(request)?;
    let id = endpoint_id(raw_id)?;
    let existed = service
        .webhooks
        .delete(&tenant, id)
        .await
        .map_err(store_error("deleting a webhook endpoint"))?;
    if !existed {
        return Err(ApiError::NotFound("webhook endpoint"));
    }
    info!(webhook_endpoint_id = %id, "webhook endpoint deleted");
    Ok(http::no_content())
}

#[derive(Serialize, utoipa::ToSchema)]
struct Queued {
    event_id: String,
}

#[utoipa::path(
    post,
    path = "/v1/webhooks/{id}/test",
    operation_id = "test_webhook",
    tag = "webhooks",
    params(("id" = uuid::Uuid, Path, description = "The webhook endpoint")),
    responses((status = 202, description = "A `ping` is on its way", body = Queued), (status = 404, description = "No such endpoint of the tenant", body = connector::http::ErrorBody)),
)]
/// `POST /v1/webhooks/{id}/test`: a `ping` event to this endpoint alone, through the notifier
/// like any event -> 202 with its id (its delivery shows in the endpoint's deliveries).
pub async fn test(
    request: &Request,
    service: &ApiService,
    raw_id: &str,
) -> Result<Response<Body>, ApiError> {
    let tenant = http::tenant_of(request)?;
    let endpoint = endpoint(service, &tenant, raw_id).await?;
    let event = Event::new(
        tenant,
        EventType::Ping,
        serde_json::to_value(connector::events::Ping {
            webhook_id: endpoint.id,
        })
        .expect("a ping serializes"),
        Utc::now(),
    );
    let task = WebhookTask::Event {
        event: event.clone(),
        endpoint_id: Some(endpoint.id),
    };
    service
        .events
        .send(&task, std::time::Duration::ZERO)
        .await
        .map_err(|e| {
            crate::dependency_failure(
                e.is_retryable(),
                anyhow::Error::new(e).context("queueing a ping"),
            )
        })?;
    Ok(http::json(
        202,
        &Queued {
            event_id: event.id.clone(),
        },
    ))
}

#[utoipa::path(
    post,
    path = "/v1/webhooks/{id}/rotate-secret",
    operation_id = "rotate_webhook_secret",
    tag = "webhooks",
    params(("id" = uuid::Uuid, Path, description = "The webhook endpoint")),
    responses((status = 200, description = "The endpoint with its new secret (shown this once)", body = WithSecret), (status = 404, description = "No such endpoint of the tenant", body = connector::http::ErrorBody)),
)]
/// `POST /v1/webhooks/{id}/rotate-secret`: a new secret, shown once; the old one keeps
/// signing (beside the new) for 24 hours.
pub async fn rotate_secret(
    request: &Request,
    service: &ApiService,
    raw_id: &str,
) -> Result<Response<Body>, ApiError> {
    let tenant = http::tenant_of(request)?;
    let id = endpoint_id(raw_id)?;
    let now = Utc::now();
    let endpoint = service
        .webhooks
        .update_endpoint(&tenant, id, None, |current| Some(current.rotated(now)))
        .await
        .map_err(store_error("rotating a webhook secret"))?
        .ok_or(ApiError::NotFound("webhook endpoint"))?;
    info!(webhook_endpoint_id = %id, secret_version = endpoint.secret_version, "webhook secret rotated");
    let secret = service.signer.secret(&endpoint, endpoint.secret_version);
    Ok(http::json(
        200,
        &WithSecret {
            endpoint: EndpointView::from(&endpoint),
            secret: secret.expose_secret(),
        },
    ))
}

/// Malformed and foreign ids answer exactly like missing ones.
pub(crate) fn endpoint_id(raw: &str) -> Result<WebhookEndpointId, ApiError> {
    WebhookEndpointId::parse(raw).ok_or(ApiError::NotFound("webhook endpoint"))
}

pub(crate) async fn endpoint(
    service: &ApiService,
    tenant: &TenantId,
    raw_id: &str,
) -> Result<WebhookEndpoint, ApiError> {
    service
        .webhooks
        .endpoint(tenant, endpoint_id(raw_id)?)
        .await
        .map_err(store_error("reading a webhook endpoint"))?
        .ok_or(ApiError::NotFound("webhook endpoint"))
}

/// The URL rules, then the SSRF guard's address rules (the same as every delivery's).
async fn checked_url(raw: &str, service: &ApiService) -> Result<Url, ApiError> {
    let allow_loopback = service.webhook_allow_loopback;
    let url = endpoint_url(raw, allow_loopback).map_err(|m| ApiError::validation("url", m))?;
    match guarded_client(&url, allow_loopback && is_loopback(&url)).await {
        Ok(_) => Ok(url),
        Err(Unguardable::Refused(_)) => Err(ApiError::validation(
            "url",
            "the URL's host is not allowed: it is not a public internet address",
        )),
        Err(Unguardable::Unreachable(_)) => Err(ApiError::validation(
            "url",
            "the URL's host does not resolve",
        )),
    }
}
