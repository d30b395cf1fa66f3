//! The daily DLQ review (the specification's "daily audit"): the first round after a UTC
//! midnight counts the previous day's new DLQ records per tenant and error code, from the
//! counts written with the records (one query, no scan), and says so in one summary log line
//! plus one line per tenant and code. The template turns those lines into the
//! `DlqRecordsPerDay` metric (by error code) and an alarm, so the audit is a graph.

use chrono::{DateTime, NaiveDate, Utc};
use connector::store::{DlqDayCount, PostStore, StoreError};
use serde::Serialize;
use tracing::{info, warn};

/// One day's review, as the round reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DlqReview {
    pub day: Option<NaiveDate>,
    pub records: u64,
    pub tenants: usize,
}

/// Reviews the UTC day before `as_of` unless a round did already.
pub async fn review_previous_day(
    posts: &PostStore,
    as_of: DateTime<Utc>,
) -> Result<DlqReview, StoreError> {
    let day = (as_of - chrono::Duration::days(1)).date_naive();
    if !posts.take_dlq_review(day).await? {
        return Ok(DlqReview::default());
    }
    let counts = posts.dlq_day_counts(day).await?;
    let review = summarize(day, &counts);
    for c in &counts {
        warn!(
            r#type = "dlq_daily_review",
            day = %day,
            tenant_id = %c.tenant_id,
            error_code = %c.error_code,
            records = c.n,
            "new DLQ records of the day"
        );
    }
    info!(
        r#type = "dlq_daily_summary",
        day = %day,
        records = review.records,
        tenants = review.tenants,
        "DLQ records of the day reviewed"
    );
    Ok(review)
}

fn summarize(day: NaiveDate, counts: &[DlqDayCount]) -> DlqReview {
    let mut tenants: Vec<_> = counts.iter().map(|c| &c.tenant_id).collect();
    tenants.sort_by_key(|t| t.to_string());
    tenants.dedup();
    DlqReview {
        day: Some(day),
        records: counts.iter().map(|c| c.n).sum(),
        tenants: tenants.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use connector::domain::posts::FailureCode;
    use connector::domain::TenantId;

    #[test]
    fn a_day_is_summed_over_tenants_and_codes() {
        let day = NaiveDate::from_ymd_opt(2026, 12, 6).unwrap();
        let count = |t: &str, code, n| DlqDayCount {
            tenant_id: TenantId::parse(t).unwrap(),
            error_code: code,
            n,
        };
        let counts = [
            count("acme", FailureCode::Forbidden, 3),
            count("acme", FailureCode::TokenRefreshFailed, 1),
            count("globex", FailureCode::Forbidden, 2),
        ];
        assert_eq!(
            summarize(day, &counts),
            DlqReview {
                day: Some(day),
                records: 6,
                tenants: 2
            }
        );
        assert_eq!(
            summarize(day, &[]),
            DlqReview {
                day: Some(day),
                records: 0,
                tenants: 0
            }
        );
    }
}
