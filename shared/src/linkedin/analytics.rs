//! Engagement metrics (LinkedIn offers no webhooks for member posts, so they are polled):
//! member posts through member post analytics (`r_member_postAnalytics`, one metric per call),
//! organization posts through share statistics (`rw_organization_admin` and the ADMINISTRATOR
//! role; many posts of one organization in one call).

use std::collections::HashMap;

use reqwest::Method;
use secrecy::SecretString;
use serde::Deserialize;

use super::posts::encode_urn;
use super::{decode, ApiFlavour, LinkedInClient, LinkedInError};
use crate::metrics::LinkedInCall;

/// At most this many posts are asked for in one share-statistics call (their URNs must stay
/// well under LinkedIn's 8 KB URL limit).
pub const SHARE_STATISTICS_BATCH: usize = 20;

/// A member post's analytics (lifetime totals).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemberPostCounts {
    pub impressions: u64,
    pub members_reached: u64,
    pub reshares: u64,
    pub reactions: u64,
    pub comments: u64,
}

/// An organization post's statistics (organic, lifetime totals).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ShareCounts {
    pub impressions: u64,
    pub unique_impressions: u64,
    pub clicks: u64,
    pub likes: u64,
    pub comments: u64,
    pub shares: u64,
    pub engagement: f64,
}

/// The metric types member post analytics answers, one per call.
const MEMBER_METRICS: [&str; 5] = [
    "IMPRESSION",
    "MEMBERS_REACHED",
    "RESHARE",
    "REACTION",
    "COMMENT",
];

#[derive(Deserialize)]
struct Elements<T> {
    #[serde(default = "Vec::new")]
    elements: Vec<T>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MetricElement {
    #[serde(default)]
    count: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ShareElement {
    share: Option<String>,
    ugc_post: Option<String>,
    total_share_statistics: TotalShareStatistics,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct TotalShareStatistics {
    impression_count: u64,
    unique_impressions_count: u64,
    click_count: u64,
    like_count: u64,
    comment_count: u64,
    share_count: u64,
    engagement: f64,
}

/// The analytics `entity` of a post URN: `(share:…)` or `(ugc:…)`.
fn member_entity(urn: &str) -> Result<String, LinkedInError> {
    let kind = if urn.starts_with("urn:li:share:") {
        "share"
    } else if urn.starts_with("urn:li:ugcPost:") {
        "ugc"
    } else {
        return Err(LinkedInError::Unexpected {
            status: 0,
            detail: "analytics are read for share or ugcPost URNs only".into(),
        });
    };
    Ok(format!("({kind}:{})", encode_urn(urn)))
}

impl LinkedInClient {
    /// A member post's lifetime analytics: five calls, one per metric.
    #[tracing::instrument(name = "linkedin.member_post_analytics", skip_all)]
    pub async fn member_post_analytics(
        &self,
        access_token: &SecretString,
        post_urn: &str,
    ) -> Result<MemberPostCounts, LinkedInError> {
        let entity = member_entity(post_urn)?;
        let mut counts = [0u64; 5];
        for (count, metric) in counts.iter_mut().zip(MEMBER_METRICS) {
            let path = format!(
                "/rest/memberCreatorPostAnalytics?q=entity&entity={entity}&queryType={metric}&aggregation=TOTAL"
            );
            let response = self
                .api(
                    LinkedInCall::MemberPostAnalytics,
                    Method::GET,
                    &path,
                    access_token,
                    ApiFlavour::Versioned,
                )
                .await?;
            let page: Elements<MetricElement> = decode(200, response).await?;
            *count = page.elements.iter().map(|e| e.count).sum();
        }
        let [impressions, members_reached, reshares, reactions, comments] = counts;
        Ok(MemberPostCounts {
            impressions,
            members_reached,
            reshares,
            reactions,
            comments,
        })
    }

    /// The statistics of `posts` (share or ugcPost URNs) of `organization`, in one call (at
    /// most [`SHARE_STATISTICS_BATCH`]). LinkedIn leaves out posts without activity: they
    /// are absent from the answer.
    #[tracing::instrument(name = "linkedin.share_statistics", skip_all, fields(posts = posts.len()))]
    pub async fn share_statistics(
        &self,
        access_token: &SecretString,
        organization: &str,
        posts: &[String],
    ) -> Result<HashMap<String, ShareCounts>, LinkedInError> {
        let list = |prefix: &str| {
            let urns: Vec<String> = posts
                .iter()
                .filter(|u| u.starts_with(prefix))
                .map(|u| encode_urn(u))
                .collect();
            (!urns.is_empty()).then(|| format!("List({})", urns.join(",")))
        };
        let mut path = format!(
            "/rest/organizationalEntityShareStatistics?q=organizationalEntity&organizationalEntity={}",
            encode_urn(organization)
        );
        if let Some(shares) = list("urn:li:share:") {
            path.push_str(&format!("&shares={shares}"));
        }
        if let Some(ugc) = list("urn:li:ugcPost:") {
            path.push_str(&format!("&ugcPosts={ugc}"));
        }
        let response = self
            .api(
                LinkedInCall::ShareStatistics,
                Method::GET,
                &path,
                access_token,
                ApiFlavour::Versioned,
            )
            .await?;
        let page: Elements<ShareElement> = decode(200, response).await?;
        Ok(page
            .elements
            .into_iter()
            .filter_map(|e| {
                let s = e.total_share_statistics;
                e.share.or(e.ugc_post).map(|urn| {
                    (
                        urn,
                        ShareCounts {
                            impressions: s.impression_count,
                            unique_impressions: s.unique_impressions_count,
                            clicks: s.click_count,
                            likes: s.like_count,
                            comments: s.comment_count,
                            shares: s.share_count,
                            engagement: s.engagement,
                        },
                    )
                })
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_post_urn_names_its_analytics_entity() {
        assert_eq!(
            member_entity("urn:li:share:7").unwrap(),
            "(share:urn%3Ali%3Ashare%3A7)"
        );
        assert_eq!(
            member_entity("urn:li:ugcPost:9").unwrap(),
            "(ugc:urn%3Ali%3AugcPost%3A9)"
        );
        assert!(member_entity("urn:li:activity:1").is_err());
    }
}
