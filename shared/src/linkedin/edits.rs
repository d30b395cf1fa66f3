//! Editing a published post's commentary, reading a post back, and commenting on a post: the
//! versioned `rest` dialect only (the legacy ugcPosts API has no edit).

use reqwest::Method;
use secrecy::SecretString;
use serde_json::{json, Value};

use super::escape_little_text;
use super::posts::encode_urn;
use super::{decode, ApiFlavour, LinkedInClient, LinkedInError};
use crate::metrics::LinkedInCall;

/// A post as LinkedIn answers a read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostReading {
    pub author: String,
    /// In little text, as LinkedIn holds it.
    pub commentary: String,
}

impl PostReading {
    /// Whether LinkedIn's commentary is `text` (as this client would send it).
    pub fn has_text(&self, text: &str) -> bool {
        self.commentary == escape_little_text(text)
    }
}

/// Whether a token with `scopes` may read posts by `author` (`urn:li:organization:…` or a
/// person): organization posts with r_organization_social or rw_organization_admin; member
/// posts only with the closed r_member_social.
pub fn can_read_post(scopes: &[String], author: &str) -> bool {
    let has = |s: &str| scopes.iter().any(|g| g == s);
    if author.starts_with("urn:li:organization:") {
        has("r_organization_social") || has("rw_organization_admin")
    } else {
        has("r_member_social")
    }
}

impl LinkedInClient {
    /// Replaces a post's commentary with `text` (escaped as little text). Idempotent: the same
    /// text twice leaves the post as once.
    #[tracing::instrument(name = "linkedin.edit_commentary", skip_all)]
    pub async fn edit_commentary(
        &self,
        access_token: &SecretString,
        urn: &str,
        text: &str,
    ) -> Result<(), LinkedInError> {
        let body = json!({ "patch": { "$set": { "commentary": escape_little_text(text) } } });
        let path = format!("/rest/posts/{}", encode_urn(urn));
        self.api_with_headers(
            LinkedInCall::PostsEdit,
            Method::POST,
            &path,
            access_token,
            &[("X-RestLi-Method", "PARTIAL_UPDATE")],
            Some(&body),
        )
        .await?;
        Ok(())
    }

    /// Reads a post back (see [`can_read_post`] for who may).
    #[tracing::instrument(name = "linkedin.read_post", skip_all)]
    pub async fn read_post(
        &self,
        access_token: &SecretString,
        urn: &str,
    ) -> Result<PostReading, LinkedInError> {
        let path = format!("/rest/posts/{}", encode_urn(urn));
        let response = self
            .api(
                LinkedInCall::PostsRead,
                Method::GET,
                &path,
                access_token,
                ApiFlavour::Versioned,
            )
            .await?;
        let v: Value = decode(200, response).await?;
        match (v["author"].as_str(), v["commentary"].as_str()) {
            (Some(author), Some(commentary)) => Ok(PostReading {
                author: author.into(),
                commentary: commentary.into(),
            }),
            _ => Err(LinkedInError::Unexpected {
                status: 200,
                detail: "post read without author or commentary".into(),
            }),
        }
    }

    /// Comments on the post `urn` as `actor` (the post's author); returns the comment's URN.
    /// A fresh post may answer 404 for a while.
    #[tracing::instrument(name = "linkedin.create_comment", skip_all)]
    pub async fn create_comment(
        &self,
        access_token: &SecretString,
        urn: &str,
        actor: &str,
        text: &str,
    ) -> Result<String, LinkedInError> {
        let body = json!({
            "actor": actor,
            "object": urn,
            "message": { "text": escape_little_text(text) },
        });
        let path = format!("/rest/socialActions/{}/comments", encode_urn(urn));
        let response = self
            .api_with_headers(
                LinkedInCall::CommentsCreate,
                Method::POST,
                &path,
                access_token,
                &[],
                Some(&body),
            )
            .await?;
        let status = response.status().as_u16();
        response
            .headers()
            .get("x-restli-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .ok_or_else(|| LinkedInError::Unexpected {
                status,
                detail: "comment created without an x-restli-id header".into(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scopes(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn organization_posts_are_readable_with_the_page_scopes_member_posts_only_with_r_member_social()
    {
        let org = "urn:li:organization:1";
        let member = "urn:li:person:abc";
        let rows = [
            (scopes(&["rw_organization_admin"]), org, true),
            (scopes(&["r_organization_social"]), org, true),
            (scopes(&["w_organization_social"]), org, false),
            (
                scopes(&["w_member_social", "rw_organization_admin"]),
                member,
                false,
            ),
            (scopes(&["r_member_social"]), member, true),
        ];
        for (granted, author, readable) in rows {
            assert_eq!(
                can_read_post(&granted, author),
                readable,
                "{granted:?} {author}"
            );
        }
    }

    #[test]
    fn a_reading_matches_the_text_as_it_was_sent() {
        let reading = PostReading {
            author: "urn:li:person:abc".into(),
            commentary: "Hello \\(world\\)".into(),
        };
        assert!(reading.has_text("Hello (world)"));
        assert!(!reading.has_text("Hello world"));
    }
}
