//! The routes under `/v1/webhooks`: endpoints, their test ping and secret rotation, their
//! delivery logs and resends.

use connector::http::ApiError;
use lambda_http::{Body, Request, Response};

use crate::{only, webhook_deliveries, webhooks, ApiService};

/// Routes a request whose path is `/v1/webhooks/{rest…}`.
pub async fn route(
    request: &Request,
    service: &ApiService,
    rest: &[&str],
) -> Result<Response<Body>, ApiError> {
    match rest {
        [] => match request.method().as_str() {
            "POST" => webhooks::create(request, service).await,
            "GET" => webhooks::list(request, service).await,
            _ => Err(ApiError::MethodNotAllowed),
        },
        [id] => match request.method().as_str() {
            "GET" => webhooks::get(request, service, id).await,
            "PATCH" => webhooks::patch(request, service, id).await,
            "DELETE" => webhooks::delete(request, service, id).await,
            _ => Err(ApiError::MethodNotAllowed),
        },
        [id, "test"] => {
            only(request, "POST")?;
            webhooks::test(request, service, id).await
        }
        [id, "rotate-secret"] => {
            only(request, "POST")?;
            webhooks::rotate_secret(request, service, id).await
        }
        [id, "deliveries"] => {
            only(request, "GET")?;
            webhook_deliveries::list(request, service, id).await
        }
        [id, "deliveries", delivery, "resend"] => {
            only(request, "POST")?;
            webhook_deliveries::resend(request, service, id, delivery).await
        }
        _ => Err(ApiError::NoRoute),
    }
}
