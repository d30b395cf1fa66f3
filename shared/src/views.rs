//! What the API shows of a post and of a connection: the public JSON in one place, so a stored
//! field (versions, leases, write tokens, uploaded media URNs) can never leak into it by being
//! added to the record.

use crate::domain::capabilities::Capabilities;
use crate::domain::posts::{
    Article, FirstComment, MediaItem, PendingEdit, Poll, Post, PostEdit, PostError, PostId,
    PostMetrics, PostStatus, PostWarning, Visibility,
};
use crate::domain::{
    Connection, ConnectionId, ConnectionStatus, LinkedInApp, MemberUrn, Organization, ReconnectDue,
};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// `GET /v1/posts/{id}`, and each post of a list.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PostView<'a> {
    pub id: PostId,
    pub connection_id: ConnectionId,
    pub author: &'a str,
    pub text: &'a str,
    /// `text`, `image`, `multi_image`, `document`, `video`, `article` or `poll`.
    pub kind: &'static str,
    pub media: &'a [MediaItem],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub article: Option<&'a Article>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub poll: Option<&'a Poll>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_comment: Option<&'a FirstComment>,
    /// What the tenant should know before the post goes out (it was accepted).
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub warnings: &'a [PostWarning],
    pub visibility: Visibility,
    pub status: PostStatus,
    pub scheduled_at: Option<DateTime<Utc>>,
    pub linkedin_urn: Option<&'a str>,
    pub attempts: u32,
    pub last_error: Option<&'a PostError>,
    /// While `queued` after a failed or held-back attempt: when the next one is due (e.g. when
    /// publishing resumes after LinkedIn's daily limit).
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub published_at: Option<DateTime<Utc>>,
    pub delete_requested_at: Option<DateTime<Utc>>,
    pub deleted_at: Option<DateTime<Utc>>,
    /// Changes of the text, oldest first.
    pub edits: &'a [PostEdit],
    /// A published post's edit LinkedIn has not taken yet.
    pub pending_edit: Option<&'a PendingEdit>,
    /// Created to wait for the tenant's approval (shown only then).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub requires_approval: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approved_at: Option<DateTime<Utc>>,
    /// When the reminder to approve it went out, an hour before its time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval_reminded_at: Option<DateTime<Utc>>,
    /// When its time was found passed without its schedule firing (it went out late).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule_missed_at: Option<DateTime<Utc>>,
    /// The latest engagement metrics, read every 24 hours while the post is young enough
    /// (`status: unavailable` with the reason when they cannot be read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics: Option<&'a PostMetrics>,
}

impl<'a> From<&'a Post> for PostView<'a> {
    fn from(p: &'a Post) -> Self {
        Self {
            id: p.id,
            connection_id: p.connection_id,
            author: p.author.urn(),
            text: &p.text,
            kind: p.kind().as_str(),
            media: &p.media,
            article: p.article.as_ref(),
            poll: p.poll.as_ref(),
            first_comment: p.first_comment.as_ref(),
            warnings: &p.warnings,
            visibility: p.visibility,
            status: p.status,
            scheduled_at: p.scheduled_at,
            linkedin_urn: p.linkedin_urn.as_deref(),
            attempts: p.attempts,
            last_error: p.last_error.as_ref(),
            next_attempt_at: p.next_attempt_at,
            created_at: p.created_at,
            updated_at: p.updated_at,
            published_at: p.published_at,
            delete_requested_at: p.delete_requested_at,
            deleted_at: p.deleted_at,
            edits: &p.edits,
            pending_edit: p.pending_edit.as_ref(),
            requires_approval: p.requires_approval,
            approved_at: p.approved_at,
            approval_reminded_at: p.approval_reminded_at,
            schedule_missed_at: p.schedule_missed_at,
            metrics: p.metrics.as_ref(),
        }
    }
}

/// The answer to accepting a post: where to look for it.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PostAccepted {
    pub id: PostId,
    pub status: PostStatus,
    pub scheduled_at: Option<DateTime<Utc>>,
    /// What may still stop the post, which the tenant can act on before it goes out.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<PostWarning>,
}

impl From<&Post> for PostAccepted {
    fn from(p: &Post) -> Self {
        Self {
            id: p.id,
            status: p.status,
            scheduled_at: p.scheduled_at,
            warnings: p.warnings.clone(),
        }
    }
}

/// `GET /v1/connections/{id}`, and each connection of a list. Tokens are never in it: they
/// live in the token vault.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConnectionView<'a> {
    pub id: ConnectionId,
    pub platform: &'a str,
    pub member_urn: &'a MemberUrn,
    pub name: &'a str,
    pub email: Option<&'a str>,
    pub picture: Option<&'a str>,
    pub status: ConnectionStatus,
    pub reason: Option<&'a str>,
    /// The deployment's LinkedIn app the connection was granted through.
    pub app: LinkedInApp,
    /// The scopes LinkedIn granted.
    pub scopes: &'a [String],
    /// Scopes asked for that LinkedIn silently did not grant.
    pub missing_scopes: &'a [String],
    /// What the connection can do at LinkedIn, per organization too.
    pub capabilities: Capabilities,
    /// The member must reconnect by then (the refresh token's end, else the access token's).
    pub reconnect_by: DateTime<Utc>,
    /// The last reconnect runway the tenant was told of (14, 7, 1 days before the deadline,
    /// and at it) with the scheduled posts that fall after the deadline; none since the
    /// last connect.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reconnect_due: Option<&'a ReconnectDue>,
    pub access_token_expires_at: DateTime<Utc>,
    pub refresh_token_expires_at: Option<DateTime<Utc>>,
    pub authorized_at: DateTime<Utc>,
    pub last_health_check_at: Option<DateTime<Utc>>,
    pub last_health_error: Option<&'a str>,
    pub organizations: &'a [Organization],
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub connect_count: u32,
    pub token_issued_at: DateTime<Utc>,
    /// LinkedIn's daily limit for this member is reached until then; its posts wait.
    pub rate_limited_until: Option<DateTime<Utc>>,
}

impl<'a> From<&'a Connection> for ConnectionView<'a> {
    fn from(c: &'a Connection) -> Self {
        let capabilities = Capabilities::of(c);
        Self {
            id: c.id,
            platform: c.platform,
            member_urn: &c.member_urn,
            name: &c.name,
            email: c.email.as_deref(),
            picture: c.picture.as_deref(),
            status: c.status,
            reason: c.reason.as_deref(),
            app: c.app,
            scopes: &c.scopes,
            missing_scopes: &c.missing_scopes,
            reconnect_by: capabilities.reconnect_by,
            capabilities,
            reconnect_due: c.reconnect_due.as_ref(),
            access_token_expires_at: c.access_token_expires_at,
            refresh_token_expires_at: c.refresh_token_expires_at,
            authorized_at: c.authorized_at,
            last_health_check_at: c.last_health_check_at,
            last_health_error: c.last_health_error.as_deref(),
            organizations: &c.organizations,
            created_at: c.created_at,
            updated_at: c.updated_at,
            connect_count: c.connect_count,
            token_issued_at: c.token_issued_at,
            rate_limited_until: c.throttled(Utc::now()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The connection shows what it can do, what LinkedIn left out, and until when it lasts.
    #[test]
    fn a_connection_shows_its_capabilities_missing_scopes_and_reconnect_date() {
        let mut c = crate::domain::examples::connection();
        c.scopes = vec!["w_member_social".into(), "w_organization_social".into()];
        c.missing_scopes = vec!["w_member_social_feed".into()];
        c.organizations[0].name = Some("Acme".into());
        c.organizations[0].logo_url = Some("https://media.example/acme.png".into());
        let json = serde_json::to_value(ConnectionView::from(&c)).unwrap();
        assert_eq!(json["app"], "member");
        assert_eq!(
            json["missing_scopes"],
            serde_json::json!(["w_member_social_feed"])
        );
        assert_eq!(json["capabilities"]["post_as_member"], true);
        assert_eq!(json["capabilities"]["comments"], false);
        assert_eq!(json["capabilities"]["refresh_token"], false);
        let org = &json["capabilities"]["organizations"][0];
        assert_eq!(org["name"], "Acme");
        assert_eq!(org["logo_url"], "https://media.example/acme.png");
        assert_eq!(org["post"], true);
        assert_eq!(org["post_video"], true);
        assert_eq!(json["capabilities"]["organizations"][1]["post"], false);
        assert_eq!(
            json["reconnect_by"],
            serde_json::to_value(c.access_token_expires_at).unwrap()
        );
    }

    /// The public JSON names exactly these fields: adding a stored field to the record does
    /// not add it here.
    #[test]
    fn a_post_shows_its_public_fields_only() {
        let draft = crate::domain::posts::PostDraft::new(
            ConnectionId::new(),
            crate::domain::posts::Author::Member(crate::domain::MemberUrn::from_member_id("abc")),
            "Hello",
        );
        let tenant = crate::domain::TenantId::parse("acme").unwrap();
        let post = Post::new(PostId::new(), tenant, draft, Utc::now());
        let json = serde_json::to_value(PostView::from(&post)).unwrap();
        let mut keys: Vec<_> = json.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "attempts",
                "author",
                "connection_id",
                "created_at",
                "delete_requested_at",
                "deleted_at",
                "edits",
                "id",
                "kind",
                "last_error",
                "linkedin_urn",
                "media",
                "next_attempt_at",
                "pending_edit",
                "published_at",
                "scheduled_at",
                "status",
                "text",
                "updated_at",
                "visibility",
            ]
        );
    }
}
