//! The `api` function: the calling tenant's connections and posts; for admins, tenant settings.

mod admin;
mod approvals;
mod disconnect;
mod dlq;
mod edits;
pub mod openapi;
mod post_metrics;
mod posts;
mod requests;
mod webhook_deliveries;
mod webhook_routes;
mod webhook_views;
mod webhooks;

pub use connector::views::{ConnectionView, PostView};

use connector::config::Config;
use connector::domain::limits::{Limit, TenantLimits};
use connector::domain::ConnectionId;
use connector::http::{self, ApiError};
use connector::queue::PublishQueue;
use connector::store::{
    Admission, ConnectionStore, LimitStore, PostStore, StoreError, TenantStore,
};
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;
use tracing::Instrument;

const DEFAULT_PAGE: i32 = 50;
const MAX_PAGE: i32 = 100;

pub struct ApiService {
    pub connections: ConnectionStore,
    pub posts: PostStore,
    pub queue: PublishQueue,
    /// Revoke jobs of disconnects (the health function revokes the tokens at LinkedIn).
    pub health_queue: PublishQueue,
    /// Scheduled posts, and the refresh windows a disconnect removes.
    pub scheduler: connector::schedules::JobScheduler,
    /// The tenants' limit counters, and the limits.
    pub limits: LimitStore,
    pub tenant_limits: TenantLimits,
    /// Tenant settings, which admins manage.
    pub tenants: TenantStore,
    /// The JWT scope the admin routes require.
    pub admin_scope: String,
    /// The dialect the publisher posts in: what kinds of post it can carry.
    pub posts_api: connector::config::PostsApi,
    /// Webhook endpoints and their delivery logs.
    pub webhooks: connector::store::WebhookStore,
    /// The webhook queue: test pings and resends go through the notifier.
    pub events: connector::events::EventQueue,
    /// Shows an endpoint's secret once (derived; nothing to decrypt, so no KMS rights).
    pub signer: connector::webhooks::WebhookSigner,
    /// Loopback endpoint URLs allowed (the local stack only).
    pub webhook_allow_loopback: bool,
}

impl ApiService {
    pub fn from_config(config: &Config, sdk: &aws_config::SdkConfig) -> anyhow::Result<Self> {
        let dynamo = aws_sdk_dynamodb::Client::new(sdk);
        // One SQS client for the three queues, built at the first enqueue.
        let sqs = connector::aws_clients::LazyClient::from_sdk(sdk, aws_sdk_sqs::Client::new);
        let (webhook_queue, signing_secret) = config.require_webhooks()?;
        Ok(Self {
            webhooks: connector::store::WebhookStore::new(
                dynamo.clone(),
                config.table_name.clone(),
            ),
            events: connector::events::EventQueue::new(sqs.clone(), webhook_queue.to_owned()),
            signer: connector::webhooks::WebhookSigner::new(signing_secret.clone()),
            webhook_allow_loopback: config.webhooks.allow_loopback,
            connections: ConnectionStore::new(dynamo.clone(), config.table_name.clone()),
            limits: LimitStore::new(dynamo.clone(), config.table_name.clone()),
            tenant_limits: config.tenant_limits,
            posts_api: config.posts_api,
            posts: PostStore::new(dynamo.clone(), config.table_name.clone())
                .with_retention(config.retention),
            tenants: TenantStore::new(dynamo, config.table_name.clone()),
            admin_scope: config.admin_scope.clone(),
            queue: PublishQueue::new(sqs.clone(), config.require_publish_queue()?.to_owned()),
            health_queue: PublishQueue::new(sqs, config.require_health_queue()?.to_owned()),
            scheduler: connector::schedules::JobScheduler::new(
                sdk,
                config.require_schedules()?.clone(),
            ),
        })
    }
}

/// Routes one API Gateway request. Every failure is already a response here.
pub async fn handle(request: Request, service: &ApiService) -> Response<Body> {
    let span = tracing::info_span!(
        "api",
        request_id = %http::request_id_of(&request),
        tenant_id = tracing::field::Empty,
    );
    async move {
        route(&request, service)
            .await
            .unwrap_or_else(ApiError::into_response)
    }
    .instrument(span)
    .await
}

async fn route(request: &Request, service: &ApiService) -> Result<Response<Body>, ApiError> {
    let path = request.raw_http_path().trim_end_matches('/').to_owned();
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    // The document is public: no tenant, so nothing to count.
    if segments == ["v1", "openapi.json"] {
        only(request, "GET")?;
        return Ok(openapi::openapi_json());
    }
    // A new post counts as a request in the transaction that records it; every other tenant
    // request takes its unit here. Admin routes belong to no tenant (operators' tokens carry
    // the admin scope, not a tenant): the gateway's route throttling bounds them.
    let counted_with_the_post = segments == ["v1", "posts"] && request.method() == "POST";
    if !counted_with_the_post && segments.get(1) != Some(&"admin") {
        admit_request(request, service).await?;
    }
    match segments.as_slice() {
        ["v1", "connections"] => {
            only(request, "GET")?;
            list_connections(request, service).await
        }
        ["v1", "connections", id] => match request.method().as_str() {
            "GET" => get_connection(request, service, id).await,
            "DELETE" => disconnect::disconnect(request, service, id).await,
            _ => Err(ApiError::MethodNotAllowed),
        },
        ["v1", "posts"] => match request.method().as_str() {
            "POST" => posts::create(request, service).await,
            "GET" => posts::list(request, service).await,
            _ => Err(ApiError::MethodNotAllowed),
        },
        ["v1", "connections", id, "retry-failed"] => {
            only(request, "POST")?;
            dlq::retry_failed(request, service, id).await
        }
        ["v1", "dlq-records"] => {
            only(request, "GET")?;
            dlq::list(request, service).await
        }
        ["v1", "dlq-records", id] => match request.method().as_str() {
            "GET" => dlq::get(request, service, id).await,
            "DELETE" => dlq::dismiss(request, service, id).await,
            _ => Err(ApiError::MethodNotAllowed),
        },
        ["v1", "dlq-records", id, "retry"] => {
            only(request, "POST")?;
            dlq::retry(request, service, id).await
        }
        ["v1", "posts", id] => match request.method().as_str() {
            "GET" => posts::get(request, service, id).await,
            "DELETE" => posts::delete(request, service, id).await,
            "PATCH" => edits::patch(request, service, id).await,
            _ => Err(ApiError::MethodNotAllowed),
        },
        ["v1", "posts", id, "metrics"] => {
            only(request, "GET")?;
            post_metrics::get(request, service, id).await
        }
        ["v1", "posts", id, "approve"] => {
            only(request, "POST")?;
            approvals::approve(request, service, id).await
        }
        ["v1", "posts", id, "reject"] => {
            only(request, "POST")?;
            approvals::reject(request, service, id).await
        }
        ["v1", "webhooks", rest @ ..] => webhook_routes::route(request, service, rest).await,
        ["v1", "admin", "tenants", tenant, "settings"] => match request.method().as_str() {
            "GET" => admin::get_settings(request, service, tenant).await,
            "PUT" => admin::put_settings(request, service, tenant).await,
            _ => Err(ApiError::MethodNotAllowed),
        },
        _ => Err(ApiError::NoRoute),
    }
}

/// One of the tenant's requests this second, or a 429 once they are used up.
async fn admit_request(request: &Request, service: &ApiService) -> Result<(), ApiError> {
    let tenant = http::tenant_of(request)?;
    let admission = service
        .limits
        .admit(
            &tenant,
            &service.tenant_limits,
            Limit::RequestsPerSecond,
            chrono::Utc::now(),
        )
        .await
        .map_err(store_error("counting the request"))?;
    match admission {
        Admission::Admitted => Ok(()),
        Admission::Refused(reached) => {
            tracing::info!(limit = reached.limit.name(), "tenant limit reached");
            Err(ApiError::limit_reached(reached, &service.tenant_limits))
        }
    }
}

fn only(request: &Request, method: &str) -> Result<(), ApiError> {
    if request.method().as_str() == method {
        Ok(())
    } else {
        Err(ApiError::MethodNotAllowed)
    }
}

#[derive(Serialize, utoipa::ToSchema)]
struct ConnectionPage<'a> {
    connections: Vec<ConnectionView<'a>>,
    next_cursor: Option<String>,
}

#[utoipa::path(
    get,
    path = "/v1/connections",
    operation_id = "list_connections",
    tag = "connections",
    params(("limit" = Option<i32>, Query, description = "1 to 100, 50 by default"), ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page")),
    responses((status = 200, description = "The connections, a page", body = ConnectionPage), (status = 400, description = "A bad `limit` or `cursor`", body = connector::http::ErrorBody)),
)]
async fn list_connections(
    request: &Request,
    service: &ApiService,
) -> Result<Response<Body>, ApiError> {
    let tenant = http::tenant_of(request)?;
    let params = request.query_string_parameters();
    let limit = page_limit(request)?;
    let cursor = params.first("cursor");
    let (connections, next_cursor) = service
        .connections
        .list_connections(&tenant, limit, cursor)
        .await
        .map_err(|e| match e {
            StoreError::Invalid(_) if cursor.is_some() => {
                ApiError::validation("cursor", "cursor is not one this API issued")
            }
            e => store_error("listing connections")(e),
        })?;
    Ok(http::json(
        200,
        &ConnectionPage {
            connections: connections.iter().map(ConnectionView::from).collect(),
            next_cursor,
        },
    ))
}

#[utoipa::path(
    get,
    path = "/v1/connections/{id}",
    operation_id = "get_connection",
    tag = "connections",
    params(("id" = uuid::Uuid, Path, description = "The connection")),
    responses((status = 200, description = "The connection", body = connector::views::ConnectionView), (status = 404, description = "No such connection of the tenant", body = connector::http::ErrorBody)),
)]
async fn get_connection(
    request: &Request,
    service: &ApiService,
    raw_id: &str,
) -> Result<Response<Body>, ApiError> {
    let tenant = http::tenant_of(request)?;
    // Malformed and foreign ids answer exactly like missing ones.
    let id = ConnectionId::parse(raw_id).ok_or(ApiError::NotFound("connection"))?;
    let connection = service
        .connections
        .get_connection(&tenant, id)
        .await
        .map_err(store_error("reading a connection"))?
        .ok_or(ApiError::NotFound("connection"))?;
    Ok(http::json(200, &ConnectionView::from(&connection)))
}

/// `?limit=`: 1 to 100, 50 by default.
fn page_limit(request: &Request) -> Result<i32, ApiError> {
    match request.query_string_parameters().first("limit") {
        None => Ok(DEFAULT_PAGE),
        Some(raw) => raw
            .parse::<i32>()
            .ok()
            .filter(|n| (1..=MAX_PAGE).contains(n))
            .ok_or_else(|| {
                ApiError::validation("limit", format!("limit must be between 1 and {MAX_PAGE}"))
            }),
    }
}

/// The one mapping of a store failure to an answer (see [`dependency_failure`]).
pub(crate) fn store_error(context: &'static str) -> impl FnOnce(StoreError) -> ApiError {
    move |e| dependency_failure(e.is_retryable(), anyhow::Error::new(e).context(context))
}

/// A dependency's failure as an answer: a retryable one is a 503 the caller may retry, the
/// rest an opaque 500; the cause is logged either way.
pub(crate) fn dependency_failure(retryable: bool, error: anyhow::Error) -> ApiError {
    if retryable {
        ApiError::Unavailable(error)
    } else {
        ApiError::Internal(error)
    }
}
