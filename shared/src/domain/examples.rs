//! Example records for tests (here and, with the `test-util` feature, in other crates).

use chrono::Utc;

use super::{Connection, Grant, MemberIdentity, MemberUrn, Organization, TenantId};

/// Ada's healthy connection for tenant `acme`, administering organization 1 and an analyst of
/// organization 2, allowed to post as herself and for her pages.
pub fn connection() -> Connection {
    let grant = Grant {
        identity: MemberIdentity {
            member_urn: MemberUrn::from_member_id("abc"),
            name: "Ada".into(),
            email: None,
            picture: None,
        },
        app: super::LinkedInApp::Member,
        scopes: [
            "openid",
            "profile",
            "email",
            "w_member_social",
            "w_organization_social",
        ]
        .map(String::from)
        .to_vec(),
        missing_scopes: vec![],
        organizations: vec![
            Organization {
                urn: "urn:li:organization:1".into(),
                role: "ADMINISTRATOR".into(),
                ..Organization::default()
            },
            Organization {
                urn: "urn:li:organization:2".into(),
                role: "ANALYST".into(),
                ..Organization::default()
            },
        ],
        access_token_expires_at: Utc::now(),
        refresh_token_expires_at: None,
    };
    let tenant = TenantId::parse("acme").expect("a valid tenant id");
    Connection::connected(&tenant, &grant, None, Utc::now())
}
