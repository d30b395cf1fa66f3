//! The `api` function: the calling tenant's connections and posts.

mod disconnect;
mod posts;
mod requests;
mod views;

pub use views::{ConnectionView, PostView};

use anyhow::Context as _;
use connector::config::Config;
use connector::domain::ConnectionId;
use connector::http::{self, ApiError};
use connector::queue::PublishQueue;
use connector::store::{ConnectionStore, PostStore, StoreError};
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;
use tracing::Instrument;

const DEFAULT_PAGE: i32 = 50;
const MAX_PAGE: i32 = 100;

pub struct ApiService {
    pub connections: ConnectionStore,
    pub posts: PostStore,
    pub queue: PublishQueue,
    /// Revoke jobs of disconnects LinkedIn did not confirm at once.
    pub health_queue: PublishQueue,
    /// For disconnect: open the tokens to revoke them.
    pub vault: connector::vault::TokenVault,
    pub linkedin: connector::linkedin::LinkedInClient,
    /// Scheduled posts, and the refresh windows a disconnect removes.
    pub scheduler: connector::schedules::JobScheduler,
}

impl ApiService {
    pub fn from_config(config: &Config, sdk: &aws_config::SdkConfig) -> anyhow::Result<Self> {
        let dynamo = aws_sdk_dynamodb::Client::new(sdk);
        Ok(Self {
            connections: ConnectionStore::new(dynamo.clone(), config.table_name.clone()),
            posts: PostStore::new(dynamo, config.table_name.clone())
                .with_retention(config.retention),
            queue: PublishQueue::new(
                aws_sdk_sqs::Client::new(sdk),
                config.require_publish_queue()?.to_owned(),
            ),
            health_queue: PublishQueue::new(
                aws_sdk_sqs::Client::new(sdk),
                config.require_health_queue()?.to_owned(),
            ),
            vault: connector::vault::TokenVault::new(connector::vault::KmsKeys::new(
                aws_sdk_kms::Client::new(sdk),
                config.token_key_id.clone(),
            )),
            linkedin: connector::linkedin::LinkedInClient::new(config.linkedin.clone())
                .context("building the LinkedIn client")?,
            scheduler: connector::schedules::JobScheduler::new(
                aws_sdk_scheduler::Client::new(sdk),
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
        ["v1", "dlq-records"] => {
            only(request, "GET")?;
            posts::dlq_records(request, service).await
        }
        ["v1", "posts", id] => match request.method().as_str() {
            "GET" => posts::get(request, service, id).await,
            "DELETE" => posts::delete(request, service, id).await,
            "PATCH" => posts::reschedule(request, service, id).await,
            _ => Err(ApiError::MethodNotAllowed),
        },
        _ => Err(ApiError::NoRoute),
    }
}

fn only(request: &Request, method: &str) -> Result<(), ApiError> {
    if request.method().as_str() == method {
        Ok(())
    } else {
        Err(ApiError::MethodNotAllowed)
    }
}

#[derive(Serialize)]
struct ConnectionPage<'a> {
    connections: Vec<ConnectionView<'a>>,
    next_cursor: Option<String>,
}

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
