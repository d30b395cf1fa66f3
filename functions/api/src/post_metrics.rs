//! `GET /v1/posts/{id}/metrics`: a post's latest engagement metrics and its daily readings
//! still kept (organization posts as long as the post; member posts 48 hours, as LinkedIn
//! allows member activity data to be kept).

use chrono::{DateTime, Utc};
use connector::domain::posts::{PostId, PostMetrics};
use connector::http;
use connector::store::MetricsDay;
use lambda_http::{Body, Request, Response};
use serde::Serialize;

use crate::posts::post_id;
use crate::{store_error, ApiError, ApiService};

/// The answer: the latest reading (or why there is none) and the daily history.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MetricsView<'a> {
    pub post_id: PostId,
    /// The latest metrics (`status: unavailable` with the reason when they cannot be read);
    /// none before the first reading, a day after the post went out.
    pub metrics: Option<&'a PostMetrics>,
    /// When they are read next; none once the post is too old, or they cannot be read.
    pub next_reading_at: Option<DateTime<Utc>>,
    /// One reading per day, oldest first.
    pub history: &'a [MetricsDay],
}

#[utoipa::path(
    get,
    path = "/v1/posts/{id}/metrics",
    operation_id = "get_post_metrics",
    tag = "posts",
    params(("id" = uuid::Uuid, Path, description = "The post")),
    responses((status = 200, description = "The post's latest engagement metrics and its daily readings", body = MetricsView), (status = 404, description = "No such post of the tenant", body = connector::http::ErrorBody)),
)]
pub async fn get(
    request: &Request,
    service: &ApiService,
    raw_id: &str,
) -> Result<Response<Body>, ApiError> {
    let tenant = http::tenant_of(request)?;
    let id = post_id(raw_id)?;
    let post = service
        .posts
        .get(&tenant, id)
        .await
        .map_err(store_error("reading a post"))?
        .ok_or(ApiError::NotFound("post"))?;
    let history = service
        .posts
        .metrics_history(&tenant, id, Utc::now())
        .await
        .map_err(store_error("reading a post's metrics"))?;
    Ok(http::json(
        200,
        &MetricsView {
            post_id: id,
            metrics: post.metrics.as_ref(),
            next_reading_at: post.next_metrics_reading(),
            history: &history,
        },
    ))
}
