//! The events a change of a stored record means: the table's stream shows each write as the
//! item before and after it, and this decides, for posts, connections and DLQ records, what the
//! tenant is told. Pure: the `events` function and the local stack feed it stream records.

use serde_json::Value;

use super::{Event, EventType};
use crate::domain::posts::{Post, PostStatus};
use crate::domain::{Connection, ConnectionStatus};
use crate::store::DlqRecord;
use crate::views::{ConnectionView, PostView};

/// One side of a change, as far as events are concerned.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Post(Box<Post>),
    Connection(Box<Connection>),
    DlqRecord(Box<DlqRecord>),
    /// Any other item (tokens' limits, idempotency keys, counters…): tells nothing.
    Other,
}

impl Record {
    /// The record an item of the table holds, by its `entity` attribute.
    pub fn from_item(item: serde_dynamo::Item) -> Result<Self, serde_dynamo::Error> {
        let entity = match item.get("entity") {
            Some(serde_dynamo::AttributeValue::S(e)) => e.clone(),
            _ => return Ok(Self::Other),
        };
        Ok(match entity.as_str() {
            "post" => Self::Post(Box::new(serde_dynamo::from_item(item)?)),
            "connection" => Self::Connection(Box::new(serde_dynamo::from_item(item)?)),
            "dlq_record" => Self::DlqRecord(Box::new(serde_dynamo::from_item(item)?)),
            _ => Self::Other,
        })
    }
}

/// A write as the stream shows it: the item before (none for a new one) and after (none for
/// a deleted one).
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub old: Option<Record>,
    pub new: Option<Record>,
}

/// What the tenant is told of `change`, in order.
pub fn events_of(change: &Change) -> Vec<Event> {
    match (&change.old, &change.new) {
        (old, Some(Record::Post(new))) => {
            let old = match old {
                Some(Record::Post(p)) => Some(p.as_ref()),
                _ => None,
            };
            post_events(old, new)
        }
        (old, Some(Record::Connection(new))) => {
            let old = match old {
                Some(Record::Connection(c)) => Some(c.as_ref()),
                _ => None,
            };
            connection_events(old, new)
        }
        (None, Some(Record::DlqRecord(record))) => vec![Event::of(
            record.tenant_id.clone(),
            EventType::DlqRecordCreated,
            &format!("dlq#{}", record.id),
            record.created_at,
            serde_json::to_value(record.as_ref()).unwrap_or(Value::Null),
        )],
        _ => Vec::new(),
    }
}

fn post_events(old: Option<&Post>, new: &Post) -> Vec<Event> {
    let mut types = Vec::new();
    match old {
        // A new post tells nothing (its acceptance is the API's answer) unless it waits for
        // the tenant's approval.
        None if new.status == PostStatus::PendingApproval => {
            types.push(EventType::PostApprovalRequested);
        }
        None => {}
        Some(old) => types.extend(post_changes(old, new)),
    }
    if types.is_empty() {
        return Vec::new();
    }
    let data = serde_json::to_value(PostView::from(new)).unwrap_or(Value::Null);
    let cause = format!("post#{}@{}", new.id, new.version);
    types
        .into_iter()
        .map(|t| {
            Event::of(
                new.tenant_id.clone(),
                t,
                &cause,
                new.updated_at,
                data.clone(),
            )
        })
        .collect()
}

fn post_changes(old: &Post, new: &Post) -> Vec<EventType> {
    let became = |status| new.status == status && old.status != status;
    let mut types = Vec::new();
    if became(PostStatus::Published) {
        types.push(EventType::PostPublished);
        if old.outcome_unknown {
            types.push(EventType::PostOutcomeResolved);
        }
    }
    if became(PostStatus::Failed) {
        types.push(EventType::PostFailed);
    }
    if became(PostStatus::Deleted) {
        types.push(EventType::PostDeleted);
    }
    if new.edits.len() > old.edits.len() {
        types.push(EventType::PostEdited);
    }
    // The reminder an hour before its time asks again.
    if new.approval_reminded_at.is_some() && old.approval_reminded_at.is_none() {
        types.push(EventType::PostApprovalRequested);
    }
    if became(PostStatus::ApprovalExpired) {
        types.push(EventType::PostApprovalExpired);
    }
    if new.schedule_missed_at.is_some() && old.schedule_missed_at.is_none() {
        types.push(EventType::PostScheduledMissed);
    }
    types
}

fn connection_events(old: Option<&Connection>, new: &Connection) -> Vec<Event> {
    let connected = old.is_none_or(|o| new.connect_count > o.connect_count);
    let status = if connected && new.status != ConnectionStatus::Revoked {
        Some(EventType::ConnectionConnected)
    } else {
        match (old.map(|o| o.status), new.status) {
            (Some(before), now) if before == now => None,
            (_, ConnectionStatus::Attention) => Some(EventType::ConnectionAttention),
            (_, ConnectionStatus::Revoked) => Some(EventType::ConnectionRevoked),
            (Some(ConnectionStatus::Attention), ConnectionStatus::Healthy) => {
                Some(EventType::ConnectionHealthy)
            }
            _ => None,
        }
    };
    // A reconnect runway recorded (a new one: a runway told again records nothing).
    let runway = (new.reconnect_due.is_some()
        && old.is_none_or(|o| o.reconnect_due != new.reconnect_due))
    .then_some(EventType::ConnectionReconnectDue);
    let types: Vec<EventType> = status.into_iter().chain(runway).collect();
    if types.is_empty() {
        return Vec::new();
    }
    let data = serde_json::to_value(ConnectionView::from(new)).unwrap_or(Value::Null);
    let cause = format!("connection#{}@{}", new.id, new.version);
    types
        .into_iter()
        .map(|t| {
            Event::of(
                new.tenant_id.clone(),
                t,
                &cause,
                new.updated_at,
                data.clone(),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::examples;
    use crate::domain::posts::{Author, FailureCode, PostDraft, PostError, PostId};
    use chrono::Utc;
    use std::time::Duration;

    fn queued() -> Post {
        let c = examples::connection();
        let draft = PostDraft::new(c.id, Author::Member(c.member_urn.clone()), "Hello");
        Post::new(PostId::new(), c.tenant_id.clone(), draft, Utc::now())
    }

    fn post(p: &Post) -> Option<Record> {
        Some(Record::Post(Box::new(p.clone())))
    }

    fn conn(c: &Connection) -> Option<Record> {
        Some(Record::Connection(Box::new(c.clone())))
    }

    /// A row of a table: its name, the change and the events it must tell.
    type Row = (
        &'static str,
        Option<Record>,
        Option<Record>,
        Vec<&'static str>,
    );

    fn types(old: Option<Record>, new: Option<Record>) -> Vec<&'static str> {
        events_of(&Change { old, new })
            .iter()
            .map(|e| e.r#type.as_str())
            .collect()
    }

    /// Each transition of a post a tenant is told about, and the ones it is not.
    #[test]
    fn a_post_tells_its_ends_and_edits_once_each() {
        let now = Utc::now();
        let q = queued();
        let claimed = q.claim(now, Duration::from_secs(90), None).unwrap();
        let published = claimed.published("urn:li:share:1", now);
        let mut unknown = claimed.clone();
        unknown.outcome_unknown = true;
        let resolved = unknown.published("urn:li:share:1", now);
        let failed = claimed.failed(PostError::new(FailureCode::Forbidden), now);
        let deleted = published.deleted(now);
        let edited = match published.request_edit("new text", now) {
            crate::domain::posts::EditDecision::AtLinkedIn(p) => {
                p.edit_applied("new text", now).unwrap()
            }
            other => panic!("{other:?}"),
        };
        let rows: Vec<Row> = vec![
            ("accepted", None, post(&q), vec![]),
            ("claimed", post(&q), post(&claimed), vec![]),
            (
                "published",
                post(&claimed),
                post(&published),
                vec!["post.published"],
            ),
            (
                "unknown, then published",
                post(&unknown),
                post(&resolved),
                vec!["post.published", "post.outcome_resolved"],
            ),
            ("failed", post(&claimed), post(&failed), vec!["post.failed"]),
            (
                "deleted",
                post(&published),
                post(&deleted),
                vec!["post.deleted"],
            ),
            (
                "edited",
                post(&published),
                post(&edited),
                vec!["post.edited"],
            ),
            (
                "written again as it was",
                post(&published),
                post(&published),
                vec![],
            ),
            ("expired by TTL", post(&published), None, vec![]),
        ];
        for (name, old, new, want) in rows {
            assert_eq!(types(old, new), want, "{name}");
        }
        let at = now + chrono::Duration::hours(3);
        let pending = Post::new(
            PostId::new(),
            q.tenant_id.clone(),
            PostDraft {
                scheduled_at: Some(at),
                requires_approval: true,
                ..PostDraft::new(q.connection_id, q.author.clone(), "Approve me")
            },
            now,
        );
        let (remind_at, reminder) = pending.approval_reminder(now).unwrap();
        let reminded = match pending.on_approval_job(&reminder, remind_at) {
            crate::domain::posts::ApprovalJob::Remind(p) => *p,
            other => panic!("{other:?}"),
        };
        let expired = match reminded.on_approval_job(&reminded.publish_job(at), at) {
            crate::domain::posts::ApprovalJob::Expire(p) => *p,
            other => panic!("{other:?}"),
        };
        let approved = pending.approve(now).unwrap();
        let scheduled = approved.clone();
        let missed = scheduled
            .schedule_missed(at + chrono::Duration::minutes(20))
            .unwrap();
        let rows: Vec<Row> = vec![
            (
                "missed its time",
                post(&scheduled),
                post(&missed),
                vec!["post.scheduled_missed"],
            ),
            (
                "waits for approval",
                None,
                post(&pending),
                vec!["post.approval_requested"],
            ),
            (
                "reminded",
                post(&pending),
                post(&reminded),
                vec!["post.approval_requested"],
            ),
            (
                "expired",
                post(&reminded),
                post(&expired),
                vec!["post.approval_expired"],
            ),
            ("approved", post(&pending), post(&approved), vec![]),
        ];
        for (name, old, new, want) in rows {
            assert_eq!(types(old, new), want, "{name}");
        }
    }

    #[test]
    fn a_connection_tells_connects_attention_recovery_and_revokes() {
        let healthy = examples::connection();
        let mut attention = healthy.clone();
        attention.status = ConnectionStatus::Attention;
        attention.version += 1;
        let mut recovered = attention.clone();
        recovered.status = ConnectionStatus::Healthy;
        recovered.version += 1;
        let mut revoked = healthy.clone();
        revoked.status = ConnectionStatus::Revoked;
        let mut reconnected = revoked.clone();
        reconnected.status = ConnectionStatus::Healthy;
        reconnected.connect_count += 1;
        let mut checked = healthy.clone();
        checked.last_health_check_at = Some(Utc::now());
        let runway = crate::domain::ReconnectRunway::SevenDays;
        let told = healthy.reconnect_told(runway, Vec::new(), Utc::now());
        let told_later = told.reconnect_told(
            crate::domain::ReconnectRunway::OneDay,
            Vec::new(),
            Utc::now(),
        );
        let told_in_attention = attention.reconnect_told(runway, Vec::new(), Utc::now());
        let mut checked_after_told = told.clone();
        checked_after_told.last_health_check_at = Some(Utc::now());
        let rows: Vec<Row> = vec![
            (
                "connected",
                None,
                conn(&healthy),
                vec!["connection.connected"],
            ),
            (
                "attention",
                conn(&healthy),
                conn(&attention),
                vec!["connection.attention"],
            ),
            (
                "healthy again",
                conn(&attention),
                conn(&recovered),
                vec!["connection.healthy"],
            ),
            (
                "revoked",
                conn(&healthy),
                conn(&revoked),
                vec!["connection.revoked"],
            ),
            (
                "reconnected",
                conn(&revoked),
                conn(&reconnected),
                vec!["connection.connected"],
            ),
            ("health checked", conn(&healthy), conn(&checked), vec![]),
            (
                "reconnect due",
                conn(&healthy),
                conn(&told),
                vec!["connection.reconnect_due"],
            ),
            (
                "the next runway",
                conn(&told),
                conn(&told_later),
                vec!["connection.reconnect_due"],
            ),
            (
                "due while in attention",
                conn(&attention),
                conn(&told_in_attention),
                vec!["connection.reconnect_due"],
            ),
            (
                "another change after a notice",
                conn(&told),
                conn(&checked_after_told),
                vec![],
            ),
            (
                "attention and due in one write",
                conn(&healthy),
                conn(&told_in_attention),
                vec!["connection.attention", "connection.reconnect_due"],
            ),
        ];
        for (name, old, new, want) in rows {
            assert_eq!(types(old, new), want, "{name}");
        }
    }

    #[test]
    fn a_new_dlq_record_is_told_and_the_same_change_makes_the_same_event() {
        let record = DlqRecord::for_post(
            &queued(),
            "job".into(),
            crate::domain::posts::JobAction::Publish,
            (FailureCode::Forbidden, FailureCode::Forbidden.message()),
            "refused",
        );
        let new = Some(Record::DlqRecord(Box::new(record.clone())));
        let first = events_of(&Change {
            old: None,
            new: new.clone(),
        });
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].r#type, EventType::DlqRecordCreated);
        assert_eq!(first[0].data["id"], serde_json::json!(record.id));
        assert_eq!(
            first,
            events_of(&Change {
                old: None,
                new: new.clone()
            })
        );
        let retried = Some(Record::DlqRecord(Box::new(record.retried(Utc::now()))));
        assert!(events_of(&Change {
            old: new,
            new: retried
        })
        .is_empty());
    }

    /// Items as the store writes them decode to the records they hold; others tell nothing.
    #[test]
    fn stored_items_decode_by_their_entity() {
        let p = queued();
        let item = crate::store::post_item_for_tests(&p);
        assert_eq!(
            Record::from_item(serde_dynamo::Item::from(item)).unwrap(),
            Record::Post(Box::new(p))
        );
        let other: std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue> = [
            (
                "PK".to_owned(),
                aws_sdk_dynamodb::types::AttributeValue::S("x".into()),
            ),
            (
                "entity".to_owned(),
                aws_sdk_dynamodb::types::AttributeValue::S("idempotency_key".into()),
            ),
        ]
        .into();
        assert_eq!(
            Record::from_item(serde_dynamo::Item::from(other)).unwrap(),
            Record::Other
        );
    }
}
