//! `/v1/webhooks/{id}/deliveries`: an endpoint's delivery log, newest first, and resending one.

use chrono::Utc;
use connector::domain::webhooks::DeliveryId;
use connector::events::WebhookTask;
use connector::http::{self, ApiError};
use connector::store::StoreError;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;
use tracing::info;

use crate::webhook_views::DeliveryView;
use crate::webhooks::endpoint;
use crate::{page_limit, store_error, ApiService};

#[derive(Serialize, utoipa::ToSchema)]
struct DeliveryPage<'a> {
    deliveries: Vec<DeliveryView<'a>>,
    next_cursor: Option<String>,
}

#[utoipa::path(
    get,
    path = "/v1/webhooks/{id}/deliveries",
    operation_id = "list_webhook_deliveries",
    tag = "webhooks",
    params(("id" = uuid::Uuid, Path, description = "The webhook endpoint"), ("limit" = Option<i32>, Query, description = "1 to 100, 50 by default"), ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page")),
    responses((status = 200, description = "The deliveries, newest first, a page", body = DeliveryPage), (status = 404, description = "No such endpoint of the tenant", body = connector::http::ErrorBody)),
)]
/// `GET /v1/webhooks/{id}/deliveries?limit=&cursor=`
pub async fn list(
    request: &Request,
    service: &ApiService,
    raw_id: &str,
) -> Result<Response<Body>, ApiError> {
    let tenant = http::tenant_of(request)?;
    // Another tenant's endpoint has no log to show: 404, like a missing one.
    let endpoint = endpoint(service, &tenant, raw_id).await?;
    let limit = page_limit(request)?;
    let params = request.query_string_parameters();
    let cursor = params.first("cursor");
    let (deliveries, next_cursor) = service
        .webhooks
        .deliveries(&tenant, endpoint.id, limit, cursor)
        .await
        .map_err(|e| match e {
            StoreError::Invalid(_) if cursor.is_some() => {
                ApiError::validation("cursor", "cursor is not one this API issued")
            }
            e => store_error("listing webhook deliveries")(e),
        })?;
    Ok(http::json(
        200,
        &DeliveryPage {
            deliveries: deliveries.iter().map(DeliveryView::from).collect(),
            next_cursor,
        },
    ))
}

#[derive(Serialize, utoipa::ToSchema)]
struct Resend {
    #[schema(value_type = String)]
    delivery_id: DeliveryId,
    status: &'static str,
}

#[utoipa::path(
    post,
    path = "/v1/webhooks/{id}/deliveries/{delivery_id}/resend",
    operation_id = "resend_webhook_delivery",
    tag = "webhooks",
    params(("id" = uuid::Uuid, Path, description = "The webhook endpoint"), ("delivery_id" = String, Path, description = "The delivery")),
    responses((status = 202, description = "One more attempt, now", body = Resend), (status = 404, description = "No such endpoint or delivery", body = connector::http::ErrorBody)),
)]
/// `POST /v1/webhooks/{id}/deliveries/{delivery_id}/resend`: one more attempt, now, whatever
/// the delivery's state -> 202 (the attempt shows in the log).
pub async fn resend(
    request: &Request,
    service: &ApiService,
    raw_id: &str,
    raw_delivery: &str,
) -> Result<Response<Body>, ApiError> {
    let tenant = http::tenant_of(request)?;
    let endpoint = endpoint(service, &tenant, raw_id).await?;
    let id = DeliveryId::parse(raw_delivery).ok_or(ApiError::NotFound("delivery"))?;
    let delivery = service
        .webhooks
        .delivery(&tenant, endpoint.id, id)
        .await
        .map_err(store_error("reading a webhook delivery"))?
        .ok_or(ApiError::NotFound("delivery"))?;
    let task = WebhookTask::Attempt {
        tenant_id: tenant,
        endpoint_id: endpoint.id,
        delivery_id: delivery.id.clone(),
        due_at: Utc::now(),
        resend: true,
    };
    service
        .events
        .send(&task, std::time::Duration::ZERO)
        .await
        .map_err(|e| {
            crate::dependency_failure(
                e.is_retryable(),
                anyhow::Error::new(e).context("queueing a resend"),
            )
        })?;
    info!(webhook_endpoint_id = %endpoint.id, delivery_id = %delivery.id, "webhook delivery resent");
    Ok(http::json(
        202,
        &Resend {
            delivery_id: delivery.id,
            status: "queued",
        },
    ))
}
