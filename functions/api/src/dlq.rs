//! `/v1/dlq-records`: the tenant's failed jobs, to review, retry (redrive) or dismiss; and
//! `POST /v1/connections/{id}/retry-failed`, which retries every failed post of a connection.

use chrono::{DateTime, Utc};
use connector::domain::posts::{JobAction, Post, Redrive};
use connector::domain::{ConnectionId, ConnectionStatus, TenantId};
use connector::http::{self, ApiError};
use connector::store::{DlqFilter, DlqRecord, DlqRecordId, DlqStatus, StoreError};
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;
use tracing::{info, warn};

use crate::{page_limit, store_error, ApiService};
use connector::views::PostView;

/// Records a `retry-failed` call looks at, at most: each costs a few AWS calls, and the call
/// must answer within API Gateway's 30 s. `more` tells the caller to call again.
const RETRY_FAILED_BATCH: usize = 100;
/// Pages of records a `retry-failed` call reads, at most (filtered pages may be sparse).
const RETRY_FAILED_PAGES: usize = 10;

#[derive(Serialize, utoipa::ToSchema)]
struct RecordPage<'a> {
    records: &'a [DlqRecord],
    next_cursor: Option<String>,
}

#[utoipa::path(
    get,
    path = "/v1/dlq-records",
    operation_id = "list_dlq_records",
    tag = "dlq",
    params(("connection_id" = Option<uuid::Uuid>, Query, description = "Only this connection's records"), ("action" = Option<connector::domain::posts::JobAction>, Query, description = "Only this job action"), ("error_code" = Option<connector::domain::posts::FailureCode>, Query, description = "Only this failure code"), ("status" = Option<connector::store::DlqStatus>, Query, description = "Only open or retried records"), ("since" = Option<chrono::DateTime<chrono::Utc>>, Query, description = "Created at or after (RFC 3339 with offset)"), ("until" = Option<chrono::DateTime<chrono::Utc>>, Query, description = "Created at or before (RFC 3339 with offset)"), ("limit" = Option<i32>, Query, description = "1 to 100, 50 by default"), ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page")),
    responses((status = 200, description = "The records, newest first, a page (a filtered page can be short: follow `next_cursor`)", body = RecordPage), (status = 400, description = "A bad filter, `limit` or `cursor`", body = connector::http::ErrorBody)),
)]
/// `GET /v1/dlq-records?connection_id=&action=&error_code=&status=&since=&until=&limit=&cursor=`
pub async fn list(request: &Request, service: &ApiService) -> Result<Response<Body>, ApiError> {
    let tenant = http::tenant_of(request)?;
    let params = request.query_string_parameters();
    let filter = DlqFilter {
        connection: params
            .first("connection_id")
            .map(|raw| {
                ConnectionId::parse(raw).ok_or_else(|| {
                    ApiError::validation("connection_id", "connection_id is not a connection id")
                })
            })
            .transpose()?,
        action: parsed(
            params.first("action"),
            "action",
            "publish, delete, edit or comment",
        )?,
        error_code: parsed(
            params.first("error_code"),
            "error_code",
            "one of the documented failure codes",
        )?,
        status: parsed(params.first("status"), "status", "open or retried")?,
        since: time(params.first("since"), "since")?,
        until: time(params.first("until"), "until")?,
    };
    if let (Some(since), Some(until)) = (filter.since, filter.until) {
        if since > until {
            return Err(ApiError::validation(
                "until",
                "until must not be before since",
            ));
        }
    }
    let limit = page_limit(request)?;
    let cursor = params.first("cursor");
    let (records, next_cursor) = service
        .posts
        .dlq_records(&tenant, &filter, limit, cursor)
        .await
        .map_err(|e| match e {
            StoreError::Invalid(_) if cursor.is_some() => {
                ApiError::validation("cursor", "cursor is not one this API issued")
            }
            e => store_error("listing DLQ records")(e),
        })?;
    Ok(http::json(
        200,
        &RecordPage {
            records: &records,
            next_cursor,
        },
    ))
}

#[utoipa::path(
    get,
    path = "/v1/dlq-records/{id}",
    operation_id = "get_dlq_record",
    tag = "dlq",
    params(("id" = uuid::Uuid, Path, description = "The DLQ record")),
    responses((status = 200, description = "The record", body = connector::store::DlqRecord), (status = 404, description = "No such record of the tenant", body = connector::http::ErrorBody)),
)]
/// `GET /v1/dlq-records/{id}`
pub async fn get(
    request: &Request,
    service: &ApiService,
    raw_id: &str,
) -> Result<Response<Body>, ApiError> {
    let tenant = http::tenant_of(request)?;
    let record = record(service, &tenant, raw_id).await?;
    Ok(http::json(200, &record))
}

#[utoipa::path(
    delete,
    path = "/v1/dlq-records/{id}",
    operation_id = "dismiss_dlq_record",
    tag = "dlq",
    params(("id" = uuid::Uuid, Path, description = "The DLQ record")),
    responses((status = 204, description = "Dismissed"), (status = 404, description = "No such record of the tenant", body = connector::http::ErrorBody)),
)]
/// `DELETE /v1/dlq-records/{id}`: dismissed (deleted); the post stays as it is.
pub async fn dismiss(
    request: &Request,
    service: &ApiService,
    raw_id: &str,
) -> Result<Response<Body>, ApiError> {
    let tenant = http::tenant_of(request)?;
    let id = DlqRecordId::parse(raw_id).ok_or(ApiError::NotFound("DLQ record"))?;
    let existed = service
        .posts
        .delete_dlq_record(&tenant, id)
        .await
        .map_err(store_error("dismissing a DLQ record"))?;
    if !existed {
        return Err(ApiError::NotFound("DLQ record"));
    }
    info!(dlq_record_id = %id, "DLQ record dismissed");
    Ok(http::no_content())
}

#[derive(Serialize, utoipa::ToSchema)]
struct Retried<'a> {
    record: &'a DlqRecord,
    post: PostView<'a>,
}

#[utoipa::path(
    post,
    path = "/v1/dlq-records/{id}/retry",
    operation_id = "retry_dlq_record",
    tag = "dlq",
    params(("id" = uuid::Uuid, Path, description = "The DLQ record")),
    responses((status = 202, description = "The job is back on the queue", body = Retried), (status = 404, description = "No such record of the tenant", body = connector::http::ErrorBody), (status = 409, description = "Retried already, or the post or connection cannot be retried", body = connector::http::ErrorBody)),
)]
/// `POST /v1/dlq-records/{id}/retry`: the record's job goes back on the queue for the same
/// post -> 202 with the record (now `retried`) and the post.
pub async fn retry(
    request: &Request,
    service: &ApiService,
    raw_id: &str,
) -> Result<Response<Body>, ApiError> {
    let tenant = http::tenant_of(request)?;
    let record = record(service, &tenant, raw_id).await?;
    if record.status != DlqStatus::Open {
        return Err(ApiError::Conflict(
            "this record was retried already; its post has its own state now".into(),
        ));
    }
    usable_connection(service, &tenant, record.connection_id).await?;
    let (record, post) = match redrive(service, &record, Utc::now()).await? {
        Ok(done) => done,
        Err(refusal) => return Err(ApiError::Conflict(refusal.into())),
    };
    Ok(http::json(
        202,
        &Retried {
            record: &record,
            post: PostView::from(&post),
        },
    ))
}

#[derive(Serialize, utoipa::ToSchema)]
struct RetryFailed {
    retried: Vec<Entry>,
    skipped: Vec<Entry>,
    /// More of the connection's open records remain: call again.
    more: bool,
}

#[derive(Serialize, utoipa::ToSchema)]
struct Entry {
    record_id: DlqRecordId,
    post_id: connector::domain::posts::PostId,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
}

#[utoipa::path(
    post,
    path = "/v1/connections/{id}/retry-failed",
    operation_id = "retry_failed_posts",
    tag = "connections",
    params(("id" = uuid::Uuid, Path, description = "The connection")),
    responses((status = 202, description = "What was retried and skipped; `more` says call again", body = RetryFailed), (status = 409, description = "The connection is disconnected", body = connector::http::ErrorBody)),
)]
/// `POST /v1/connections/{id}/retry-failed`: every failed post of the connection with an open
/// DLQ record (publish jobs), newest first, up to [`RETRY_FAILED_BATCH`] a call.
pub async fn retry_failed(
    request: &Request,
    service: &ApiService,
    raw_id: &str,
) -> Result<Response<Body>, ApiError> {
    let tenant = http::tenant_of(request)?;
    let connection = ConnectionId::parse(raw_id).ok_or(ApiError::NotFound("connection"))?;
    usable_connection(service, &tenant, connection).await?;
    let filter = DlqFilter {
        connection: Some(connection),
        action: Some(JobAction::Publish),
        status: Some(DlqStatus::Open),
        ..DlqFilter::default()
    };
    let mut records = Vec::new();
    let mut cursor = None;
    for _ in 0..RETRY_FAILED_PAGES {
        let (page, next) = service
            .posts
            .dlq_records(&tenant, &filter, 100, cursor.as_deref())
            .await
            .map_err(store_error("listing a connection's DLQ records"))?;
        records.extend(page);
        cursor = next;
        if cursor.is_none() || records.len() >= RETRY_FAILED_BATCH {
            break;
        }
    }
    let more = cursor.is_some() || records.len() > RETRY_FAILED_BATCH;
    records.truncate(RETRY_FAILED_BATCH);

    let now = Utc::now();
    let mut answer = RetryFailed {
        retried: Vec::new(),
        skipped: Vec::new(),
        more,
    };
    for record in &records {
        let entry = |reason| Entry {
            record_id: record.id,
            post_id: record.post_id,
            reason,
        };
        match redrive(service, record, now).await? {
            Ok(_) => answer.retried.push(entry(None)),
            Err(reason) => answer.skipped.push(entry(Some(reason))),
        }
    }
    info!(
        connection_id = %connection,
        retried = answer.retried.len(),
        skipped = answer.skipped.len(),
        more,
        "failed posts of a connection retried"
    );
    Ok(http::json(202, &answer))
}

/// Puts `record`'s job back for its post: the post's change first (conditional on its
/// version, so two retries never both go), then the job, then the record marked retried. A
/// job that cannot be queued takes the post's change back and answers 503.
async fn redrive(
    service: &ApiService,
    record: &DlqRecord,
    now: DateTime<Utc>,
) -> Result<Result<(DlqRecord, Post), &'static str>, ApiError> {
    let Some(post) = service
        .posts
        .get(&record.tenant_id, record.post_id)
        .await
        .map_err(store_error("reading a DLQ record's post"))?
    else {
        return Ok(Err("the post no longer exists"));
    };
    let (next, job) = match post.redrive(record.action, now) {
        Redrive::Again(next, job) => (next, job),
        Redrive::Refuse(reason) => return Ok(Err(reason)),
    };
    match service.posts.replace(&next).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => return Ok(Err("the post changed meanwhile; try again")),
        Err(e) => return Err(store_error("putting a failed post back")(e)),
    }
    if let Err(e) = service.queue.enqueue(&job).await {
        let back = next.back_to(&post, Utc::now());
        if let Err(undo) = service.posts.replace(&back).await {
            // The post is queued with no job: the reconciler's sweep of stranded posts finds
            // it and puts it on the queue, which is what was asked for.
            warn!(post_id = %post.id, error = %undo, "could not take back a redrive whose job was not queued");
        }
        return Err(ApiError::Unavailable(
            anyhow::Error::new(e).context("enqueueing a redriven job"),
        ));
    }
    let retried = record.retried(now);
    if let Err(e) = service.posts.mark_dlq_retried(&retried).await {
        // The job is on its way; only the record's mark is missing (a second retry of it
        // finds the post no longer failed).
        warn!(dlq_record_id = %record.id, error = %e, "could not mark a DLQ record retried");
    }
    info!(
        dlq_record_id = %record.id,
        post_id = %post.id,
        action = record.action.as_str(),
        error_code = %record.error_code,
        outcome_unknown = next.outcome_unknown,
        "failed job put back on the queue"
    );
    Ok(Ok((retried, *next)))
}

async fn record(
    service: &ApiService,
    tenant: &TenantId,
    raw_id: &str,
) -> Result<DlqRecord, ApiError> {
    let id = DlqRecordId::parse(raw_id).ok_or(ApiError::NotFound("DLQ record"))?;
    service
        .posts
        .dlq_record(tenant, id)
        .await
        .map_err(store_error("reading a DLQ record"))?
        .ok_or(ApiError::NotFound("DLQ record"))
}

/// A disconnected connection's jobs cannot run again: 409 (404 for another tenant's).
async fn usable_connection(
    service: &ApiService,
    tenant: &TenantId,
    id: ConnectionId,
) -> Result<(), ApiError> {
    let connection = service
        .connections
        .get_connection(tenant, id)
        .await
        .map_err(store_error("reading a connection"))?
        .ok_or(ApiError::NotFound("connection"))?;
    if connection.status == ConnectionStatus::Revoked {
        return Err(ApiError::Conflict(
            "the connection is disconnected; reconnect the member first".into(),
        ));
    }
    Ok(())
}

fn parsed<T: std::str::FromStr>(
    raw: Option<&str>,
    field: &'static str,
    expected: &str,
) -> Result<Option<T>, ApiError> {
    raw.map(|r| {
        r.parse::<T>()
            .map_err(|_| ApiError::validation(field, format!("{field} must be {expected}")))
    })
    .transpose()
}

fn time(raw: Option<&str>, field: &'static str) -> Result<Option<DateTime<Utc>>, ApiError> {
    raw.map(|r| {
        DateTime::parse_from_rfc3339(r)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| {
                ApiError::validation(
                    field,
                    format!("{field} must be an RFC 3339 time with offset"),
                )
            })
    })
    .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use connector::domain::posts::FailureCode;

    #[test]
    fn filters_are_parsed_or_refused_naming_their_field() {
        let code: Option<FailureCode> =
            parsed(Some("TOKEN_REFRESH_FAILED"), "error_code", "x").unwrap();
        assert_eq!(code, Some(FailureCode::TokenRefreshFailed));
        let action: Option<JobAction> = parsed(Some("comment"), "action", "x").unwrap();
        assert_eq!(action, Some(JobAction::Comment));
        let status: Option<DlqStatus> = parsed(Some("retried"), "status", "x").unwrap();
        assert_eq!(status, Some(DlqStatus::Retried));
        for (field, raw) in [
            ("error_code", "nope"),
            ("action", "Publish"),
            ("status", "done"),
        ] {
            let refused = match field {
                "error_code" => parsed::<FailureCode>(Some(raw), field, "x").err(),
                "action" => parsed::<JobAction>(Some(raw), field, "x").err(),
                _ => parsed::<DlqStatus>(Some(raw), field, "x").err(),
            };
            assert!(
                matches!(refused, Some(ApiError::Validation { field: f, .. }) if f == field),
                "{field}"
            );
        }
        assert!(time(Some("2026-12-07T10:00:00Z"), "since")
            .unwrap()
            .is_some());
        assert!(matches!(
            time(Some("2026-12-07 10:00"), "until"),
            Err(ApiError::Validation { field: "until", .. })
        ));
    }
}
