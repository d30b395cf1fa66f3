//! What can be known when a post is scheduled that may stop it at its time: the tenant is told
//! (`warnings` on the post; it is still accepted) while there is time to act. No I/O here.

use chrono::{DateTime, NaiveDate, Utc};

use super::{PostDraft, PostWarning};
use crate::domain::Connection;

/// LinkedIn's limit on one member's posts in a UTC day.
pub const MEMBER_POSTS_PER_DAY: u32 = 150;

/// The member's access ends before the post's time and nothing can renew it.
pub const RECONNECT_BEFORE_PUBLISH: &str = "RECONNECT_BEFORE_PUBLISH";
/// The member already has LinkedIn's daily number of posts on the post's UTC day.
pub const MEMBER_DAILY_LIMIT: &str = "MEMBER_DAILY_LIMIT";

/// The UTC day a post counts toward at LinkedIn: its scheduled day, or today.
pub fn publish_day(scheduled_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> NaiveDate {
    scheduled_at.unwrap_or(now).date_naive()
}

/// The warnings for `draft` by `connection`, whose member has `posts_that_day` other posts on
/// the post's UTC day.
pub fn warnings(
    draft: &PostDraft,
    connection: &Connection,
    posts_that_day: u32,
) -> Vec<PostWarning> {
    let mut out = Vec::new();
    let Some(at) = draft.scheduled_at else {
        return out;
    };
    // Without a refresh token the access token is all there is; with one, the refresh token's
    // own end is the last moment anything can be renewed.
    let access_ends = match connection.refresh_token_expires_at {
        None => Some(connection.access_token_expires_at),
        Some(refresh_ends) if refresh_ends < at => Some(refresh_ends),
        Some(_) => None,
    };
    if let Some(ends) = access_ends.filter(|ends| *ends < at) {
        out.push(PostWarning {
            code: RECONNECT_BEFORE_PUBLISH.into(),
            message: format!(
                "the connection's access to LinkedIn ends at {} and cannot be renewed automatically; the member must reconnect before then or this post will fail",
                ends.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
        });
    }
    if posts_that_day >= MEMBER_POSTS_PER_DAY {
        out.push(PostWarning {
            code: MEMBER_DAILY_LIMIT.into(),
            message: format!(
                "the member already has {posts_that_day} posts on {} (UTC); LinkedIn takes at most {MEMBER_POSTS_PER_DAY} a day, so this one may wait for the next day",
                at.date_naive()
            ),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::examples;
    use crate::domain::posts::Author;
    use chrono::{Duration, TimeZone};

    #[test]
    fn a_scheduled_post_is_warned_of_what_may_stop_it() {
        let now = Utc.with_ymd_and_hms(2026, 11, 25, 10, 0, 0).unwrap();
        let mut c = examples::connection();
        let draft_at = |at: Option<DateTime<Utc>>| PostDraft {
            scheduled_at: at,
            ..PostDraft::new(c.id, Author::Member(c.member_urn.clone()), "Hi")
        };
        let day = Duration::days(1);
        // (refresh token ends, access token ends, scheduled in, posts that day) -> codes
        type Case = (Option<i64>, i64, Option<i64>, u32, &'static [&'static str]);
        let cases: [Case; 8] = [
            (None, 60, None, 0, &[]),
            (None, 60, Some(30), 0, &[]),
            (None, 60, Some(61), 0, &[RECONNECT_BEFORE_PUBLISH]),
            (Some(365), 60, Some(61), 0, &[]),
            (Some(100), 60, Some(101), 0, &[RECONNECT_BEFORE_PUBLISH]),
            (None, 60, Some(1), 149, &[]),
            (None, 60, Some(1), 150, &[MEMBER_DAILY_LIMIT]),
            (
                None,
                1,
                Some(2),
                200,
                &[RECONNECT_BEFORE_PUBLISH, MEMBER_DAILY_LIMIT],
            ),
        ];
        for (refresh, access, at, count, codes) in cases {
            c.refresh_token_expires_at = refresh.map(|d| now + day * d as i32);
            c.access_token_expires_at = now + day * access as i32;
            let w = warnings(&draft_at(at.map(|d| now + day * d as i32)), &c, count);
            let got: Vec<_> = w.iter().map(|w| w.code.as_str()).collect();
            assert_eq!(got, codes, "{refresh:?} {access} {at:?} {count}");
        }
    }

    #[test]
    fn the_warning_gives_the_date_to_reconnect_by() {
        let now = Utc.with_ymd_and_hms(2026, 11, 25, 10, 0, 0).unwrap();
        let mut c = examples::connection();
        c.refresh_token_expires_at = None;
        c.access_token_expires_at = now + Duration::days(3);
        let draft = PostDraft {
            scheduled_at: Some(now + Duration::days(4)),
            ..PostDraft::new(c.id, Author::Member(c.member_urn.clone()), "Hi")
        };
        let w = warnings(&draft, &c, 0);
        assert!(
            w[0].message.contains("2026-11-28T10:00:00Z"),
            "{}",
            w[0].message
        );
        assert_eq!(publish_day(None, now).to_string(), "2026-11-25");
    }
}
