//! Organizations a post mentions are checked against LinkedIn before the post is created: a
//! mention of an organization LinkedIn does not know would show as plain text, so the post
//! fails with `MENTION_UNKNOWN` instead. One batch lookup, and only for posts that mention an
//! organization; where the connection's scopes do not allow a lookup (LinkedIn answers 403) or
//! LinkedIn cannot answer now, the post goes out unchecked.

use connector::domain::posts::{FailureCode, Outcome};
use connector::linkedin::{mentions_in, LinkedInError};
use connector::vault::TokenSet;
use tracing::{info, warn};

use crate::attempt::Attempt;
use crate::Disposition;

pub(crate) async fn check<'a>(
    attempt: Attempt<'a>,
    tokens: &TokenSet,
) -> Result<Attempt<'a>, Disposition> {
    let mut organizations: Vec<String> = mentions_in(&attempt.post.text)
        .into_iter()
        .chain(
            attempt
                .post
                .first_comment
                .iter()
                .flat_map(|c| mentions_in(&c.text)),
        )
        .filter(|m| m.is_organization())
        .map(|m| m.urn)
        .collect();
    organizations.sort();
    organizations.dedup();
    if organizations.is_empty() || !attempt.fits(attempt.publisher.call_time() * 2) {
        return Ok(attempt);
    }
    match attempt
        .publisher
        .linkedin()
        .unknown_organizations(&tokens.access_token, &organizations)
        .await
    {
        Ok(unknown) if unknown.is_empty() => Ok(attempt),
        Ok(unknown) => {
            info!(
                ?unknown,
                "the post mentions organizations LinkedIn does not know"
            );
            let code = FailureCode::MentionUnknown;
            let detail = "a mentioned organization is unknown to LinkedIn";
            Err(attempt.after(Outcome::Unsendable { code, detail }).await)
        }
        Err(e @ LinkedInError::Rejected { status: 403, .. }) => {
            info!(error = %e, "the connection may not look organizations up; mentions go unchecked");
            Ok(attempt)
        }
        Err(e) => {
            warn!(error = %e, "organizations could not be looked up; mentions go unchecked");
            Ok(attempt)
        }
    }
}
