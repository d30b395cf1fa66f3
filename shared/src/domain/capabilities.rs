//! What a connection can do at LinkedIn, decided from what it holds (granted scopes, the
//! member's role on each organization, whether a refresh token exists): shown on the
//! connection, and checked before a post is recorded so a request LinkedIn would refuse is a
//! 400 naming the missing capability instead of a failed post hours later.
//! Scopes by capability: linkedin-api.md, "Apps, products and what a token can do".

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::posts::{Author, MediaKind, PostDraft};
use super::{Connection, Organization};

pub const MEMBER_SOCIAL: &str = "w_member_social";
pub const ORGANIZATION_SOCIAL: &str = "w_organization_social";
pub const MEMBER_COMMENTS: &str = "w_member_social_feed";
pub const ORGANIZATION_COMMENTS: &str = "w_organization_social_feed";
pub const MEMBER_ANALYTICS: &str = "r_member_postAnalytics";
pub const ORGANIZATION_ADMIN: &str = "rw_organization_admin";

/// `capabilities` of `GET /v1/connections/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Capabilities {
    /// Posting as the member (`w_member_social`).
    pub post_as_member: bool,
    /// Commenting as the member, e.g. a first comment (`w_member_social_feed`).
    pub comments: bool,
    /// The member's post analytics (`r_member_postAnalytics`).
    pub member_analytics: bool,
    /// Whether LinkedIn gave a refresh token (only to approved apps): without one, only a
    /// reconnect renews access.
    pub refresh_token: bool,
    /// The member must reconnect by then: the access token's end without a refresh token,
    /// else the refresh token's (365 days from the consent, never extended).
    pub reconnect_by: DateTime<Utc>,
    pub organizations: Vec<OrganizationCapabilities>,
}

/// What the connection can do for one organization page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OrganizationCapabilities {
    pub urn: String,
    pub name: Option<String>,
    pub vanity_name: Option<String>,
    pub logo_url: Option<String>,
    pub role: String,
    /// `w_organization_social` and a role that may post.
    pub post: bool,
    /// As `post`, but not a CONTENT_ADMINISTRATOR (LinkedIn refuses their page videos).
    pub post_video: bool,
    /// `w_organization_social_feed` and a role that may post.
    pub comment: bool,
    /// ADMINISTRATOR with `rw_organization_admin`.
    pub read_statistics: bool,
}

/// A request the connection cannot carry out: answered 400 naming `field`, nothing recorded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct MissingCapability {
    /// The request's field the refusal is about (`media`, `first_comment`, `author`).
    pub field: &'static str,
    /// The capability it needs (`post_video`, `comments`, `post`, …).
    pub capability: &'static str,
    /// For the tenant: what is missing (the scope or the role).
    pub message: String,
}

impl Capabilities {
    /// What `connection` can do, from its record alone.
    pub fn of(connection: &Connection) -> Self {
        let has = |scope: &str| connection.scopes.iter().any(|s| s == scope);
        let refresh_expiry = connection.refresh_token_expires_at;
        Self {
            post_as_member: has(MEMBER_SOCIAL),
            comments: has(MEMBER_COMMENTS),
            member_analytics: has(MEMBER_ANALYTICS),
            refresh_token: refresh_expiry.is_some(),
            reconnect_by: connection.reconnect_by(),
            organizations: connection
                .organizations
                .iter()
                .map(|o| OrganizationCapabilities::of(o, &has))
                .collect(),
        }
    }

    /// Whether the connection can carry `draft` out (its author already resolved against the
    /// connection's organizations): the first missing capability, else `Ok`.
    pub fn check(&self, draft: &PostDraft) -> Result<(), MissingCapability> {
        let has_video = draft.media.iter().any(|m| m.kind == MediaKind::Video);
        match &draft.author {
            Author::Member(_) => {
                if !self.post_as_member {
                    return Err(missing(
                        "author",
                        "post_as_member",
                        format!("posting as the member needs the {MEMBER_SOCIAL} scope, which this connection was not granted"),
                    ));
                }
                if draft.first_comment.is_some() && !self.comments {
                    return Err(missing(
                        "first_comment",
                        "comments",
                        format!("a first comment needs the {MEMBER_COMMENTS} scope, which this connection was not granted"),
                    ));
                }
            }
            Author::Organization(urn) => {
                let Some(org) = self.organizations.iter().find(|o| &o.urn == urn) else {
                    return Err(missing(
                        "author",
                        "post",
                        format!("the connection has no role on {urn}"),
                    ));
                };
                if !org.post {
                    let message = if org.role_may_post() {
                        format!("posting for {urn} needs the {ORGANIZATION_SOCIAL} scope, which this connection was not granted")
                    } else {
                        format!("the member's role {} on {urn} cannot post", org.role)
                    };
                    return Err(missing("author", "post", message));
                }
                if has_video && !org.post_video {
                    return Err(missing(
                        "media",
                        "post_video",
                        format!("LinkedIn does not let a {} post a video for {urn}; an ADMINISTRATOR can", org.role),
                    ));
                }
                if draft.first_comment.is_some() && !org.comment {
                    return Err(missing(
                        "first_comment",
                        "comment",
                        format!("a first comment for {urn} needs the {ORGANIZATION_COMMENTS} scope, which this connection was not granted"),
                    ));
                }
            }
        }
        Ok(())
    }
}

impl OrganizationCapabilities {
    fn of(org: &Organization, has: &impl Fn(&str) -> bool) -> Self {
        let post = has(ORGANIZATION_SOCIAL) && org.can_post();
        Self {
            urn: org.urn.clone(),
            name: org.name.clone(),
            vanity_name: org.vanity_name.clone(),
            logo_url: org.logo_url.clone(),
            role: org.role.clone(),
            post,
            post_video: post && !is_content_administrator(&org.role),
            comment: has(ORGANIZATION_COMMENTS) && org.can_post(),
            read_statistics: has(ORGANIZATION_ADMIN) && org.role == "ADMINISTRATOR",
        }
    }

    fn role_may_post(&self) -> bool {
        Organization {
            role: self.role.clone(),
            ..Organization::default()
        }
        .can_post()
    }
}

fn is_content_administrator(role: &str) -> bool {
    matches!(role, "CONTENT_ADMINISTRATOR" | "CONTENT_ADMIN")
}

fn missing(field: &'static str, capability: &'static str, message: String) -> MissingCapability {
    MissingCapability {
        field,
        capability,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::posts::MediaItem;
    use chrono::Duration;

    const ORG: &str = "urn:li:organization:1";

    fn connection(scopes: &str, role: &str, refresh: bool) -> Connection {
        let mut c = crate::domain::examples::connection();
        c.scopes = crate::config::parse_scopes(scopes);
        c.organizations = vec![Organization {
            urn: ORG.into(),
            role: role.into(),
            name: Some("Acme".into()),
            vanity_name: Some("acme".into()),
            logo_url: Some("https://media.example/acme.png".into()),
        }];
        c.access_token_expires_at = Utc::now() + Duration::days(60);
        c.refresh_token_expires_at = refresh.then(|| Utc::now() + Duration::days(365));
        c
    }

    #[test]
    fn capabilities_follow_scopes_and_roles() {
        // (scopes, role, post_as_member, comments, analytics, org post, video, comment, stats)
        let rows = [
            (
                "openid profile email w_member_social",
                "ADMINISTRATOR",
                true,
                false,
                false,
                false,
                false,
                false,
                false,
            ),
            (
                "w_member_social w_organization_social",
                "ADMINISTRATOR",
                true,
                false,
                false,
                true,
                true,
                false,
                false,
            ),
            (
                "w_organization_social",
                "CONTENT_ADMINISTRATOR",
                false,
                false,
                false,
                true,
                false,
                false,
                false,
            ),
            (
                "w_organization_social w_organization_social_feed",
                "CONTENT_ADMINISTRATOR",
                false,
                false,
                false,
                true,
                false,
                true,
                false,
            ),
            (
                "w_organization_social rw_organization_admin",
                "ANALYST",
                false,
                false,
                false,
                false,
                false,
                false,
                false,
            ),
            (
                "w_organization_social rw_organization_admin",
                "ADMINISTRATOR",
                false,
                false,
                false,
                true,
                true,
                false,
                true,
            ),
            (
                "r_organization_admin",
                "ADMINISTRATOR",
                false,
                false,
                false,
                false,
                false,
                false,
                false,
            ),
            (
                "w_member_social w_member_social_feed r_member_postAnalytics",
                "DIRECT_SPONSORED_CONTENT_POSTER",
                true,
                true,
                true,
                false,
                false,
                false,
                false,
            ),
            (
                "w_organization_social",
                "DIRECT_SPONSORED_CONTENT_POSTER",
                false,
                false,
                false,
                true,
                true,
                false,
                false,
            ),
        ];
        for (scopes, role, member, comments, analytics, post, video, comment, stats) in rows {
            let caps = Capabilities::of(&connection(scopes, role, false));
            let org = &caps.organizations[0];
            assert_eq!(
                (caps.post_as_member, caps.comments, caps.member_analytics),
                (member, comments, analytics),
                "{scopes} / {role}"
            );
            assert_eq!(
                (org.post, org.post_video, org.comment, org.read_statistics),
                (post, video, comment, stats),
                "{scopes} / {role}"
            );
            assert_eq!(org.name.as_deref(), Some("Acme"));
            assert_eq!(
                org.logo_url.as_deref(),
                Some("https://media.example/acme.png")
            );
        }
    }

    #[test]
    fn reconnect_by_is_the_refresh_tokens_end_when_there_is_one_else_the_access_tokens() {
        let without = connection("w_member_social", "ADMINISTRATOR", false);
        let caps = Capabilities::of(&without);
        assert!(!caps.refresh_token);
        assert_eq!(caps.reconnect_by, without.access_token_expires_at);

        let with = connection("w_member_social", "ADMINISTRATOR", true);
        let caps = Capabilities::of(&with);
        assert!(caps.refresh_token);
        assert_eq!(Some(caps.reconnect_by), with.refresh_token_expires_at);
    }

    fn draft(c: &Connection, author: Option<&str>, video: bool, comment: bool) -> PostDraft {
        let author = Author::for_connection(author, c).unwrap();
        let mut d = PostDraft::new(c.id, author, "Hello");
        if video {
            d.media.push(MediaItem {
                kind: MediaKind::Video,
                ..serde_json::from_value(serde_json::json!({"url": "https://cdn.example/v.mp4"}))
                    .unwrap()
            });
        }
        if comment {
            d.first_comment = Some("first!".into());
        }
        d
    }

    #[test]
    fn the_check_names_the_first_missing_capability() {
        const ALL: &str =
            "w_member_social w_member_social_feed w_organization_social w_organization_social_feed";
        // (scopes, role, author, video, first comment, expected (field, capability, scope in message))
        type Expected = Option<(&'static str, &'static str, &'static str)>;
        type Row = (
            &'static str,
            &'static str,
            Option<&'static str>,
            bool,
            bool,
            Expected,
        );
        let rows: [Row; 10] = [
            (ALL, "ADMINISTRATOR", None, true, true, None),
            (ALL, "ADMINISTRATOR", Some(ORG), true, true, None),
            (ALL, "CONTENT_ADMINISTRATOR", Some(ORG), false, true, None),
            (
                ALL,
                "CONTENT_ADMINISTRATOR",
                Some(ORG),
                true,
                false,
                Some(("media", "post_video", "CONTENT_ADMINISTRATOR")),
            ),
            (ALL, "CONTENT_ADMINISTRATOR", None, true, false, None),
            (
                "w_member_social",
                "ADMINISTRATOR",
                None,
                false,
                true,
                Some(("first_comment", "comments", MEMBER_COMMENTS)),
            ),
            (
                "w_member_social w_organization_social",
                "ADMINISTRATOR",
                Some(ORG),
                false,
                true,
                Some(("first_comment", "comment", ORGANIZATION_COMMENTS)),
            ),
            (
                "w_member_social w_member_social_feed",
                "ADMINISTRATOR",
                Some(ORG),
                false,
                false,
                Some(("author", "post", ORGANIZATION_SOCIAL)),
            ),
            (
                "openid profile",
                "ADMINISTRATOR",
                None,
                false,
                false,
                Some(("author", "post_as_member", MEMBER_SOCIAL)),
            ),
            (
                "w_member_social_feed w_organization_social",
                "ADMINISTRATOR",
                Some(ORG),
                false,
                true,
                Some(("first_comment", "comment", ORGANIZATION_COMMENTS)),
            ),
        ];
        for (scopes, role, author, video, comment, expected) in rows {
            let c = connection(scopes, role, false);
            let result = Capabilities::of(&c).check(&draft(&c, author, video, comment));
            match expected {
                None => assert_eq!(result, Ok(()), "{scopes} / {role} / {author:?}"),
                Some((field, capability, named)) => {
                    let e = result.expect_err(scopes);
                    assert_eq!(
                        (e.field, e.capability),
                        (field, capability),
                        "{scopes} / {role}"
                    );
                    assert!(e.message.contains(named), "{}", e.message);
                }
            }
        }
    }

    #[test]
    fn an_organization_the_connection_lost_its_role_on_is_refused_naming_the_author() {
        let c = connection("w_organization_social", "ADMINISTRATOR", false);
        let mut d = draft(&c, Some(ORG), false, false);
        d.author = Author::Organization("urn:li:organization:9".into());
        let e = Capabilities::of(&c).check(&d).unwrap_err();
        assert_eq!((e.field, e.capability), ("author", "post"));
    }
}
