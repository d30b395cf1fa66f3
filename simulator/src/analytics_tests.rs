//! The engagement-metrics endpoints answer the counters a test set, only to whom LinkedIn
//! would, and refuse what LinkedIn refuses (versions, scopes, roles, Rest.li 2.0 syntax).
//! Driven through the simulator's router, as a client would call it.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::Datelike;
use serde_json::{json, Value};
use tower::ServiceExt;

use crate::{PostStatistics, Simulator, SimulatorConfig};

const ADA: &str = "sim-ada-7f3k";
const GRACE: &str = "sim-grace-9q2w";
const ORG: &str = "urn:li:organization:1001";
const MEMBER_ANALYTICS: &str = "/rest/memberCreatorPostAnalytics";
const ORG_STATISTICS: &str = "/rest/organizationalEntityShareStatistics";

fn version() -> String {
    let now = chrono::Utc::now();
    format!("{}{:02}", now.year(), now.month())
}

/// What a Rest.li 2.0 client puts inside `List(…)` and `(share:…)`.
fn enc(urn: &str) -> String {
    urn.replace(':', "%3A")
}

struct Client {
    sim: Simulator,
}

impl Client {
    async fn start() -> Self {
        Self {
            sim: Simulator::start(SimulatorConfig::default()).await.unwrap(),
        }
    }

    fn token(&self, sub: &str, scopes: &[&str]) -> String {
        self.sim
            .issue_directly(sub, scopes, Duration::from_secs(3600))
            .0
    }

    async fn call(&self, request: Request<Body>) -> (StatusCode, Value) {
        let response = crate::router(self.sim.shared.clone())
            .oneshot(request)
            .await
            .unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// A GET with the given `LinkedIn-Version` (none with `None`) and Rest.li 2.0 header.
    fn get_as(path_and_query: &str, token: &str, version: Option<&str>) -> Request<Body> {
        let mut request = Request::get(path_and_query)
            .header("authorization", format!("Bearer {token}"))
            .header("x-restli-protocol-version", "2.0.0");
        if let Some(v) = version {
            request = request.header("linkedin-version", v);
        }
        request.body(Body::empty()).unwrap()
    }

    async fn get(&self, path_and_query: &str, token: &str) -> (StatusCode, Value) {
        self.call(Self::get_as(path_and_query, token, Some(&version())))
            .await
    }

    /// A text post by `author` through `/rest/posts` (a share) or `/v2/ugcPosts` (a ugcPost).
    async fn post(&self, token: &str, author: &str, text: &str, ugc: bool) -> String {
        let (path, body) = if ugc {
            (
                "/v2/ugcPosts",
                json!({
                    "author": author,
                    "lifecycleState": "PUBLISHED",
                    "specificContent": { "com.linkedin.ugc.ShareContent": {
                        "shareCommentary": { "text": text },
                        "shareMediaCategory": "NONE",
                    }},
                    "visibility": { "com.linkedin.ugc.MemberNetworkVisibility": "PUBLIC" },
                }),
            )
        } else {
            (
                "/rest/posts",
                json!({
                    "author": author,
                    "commentary": text,
                    "visibility": "PUBLIC",
                    "distribution": { "feedDistribution": "MAIN_FEED" },
                    "lifecycleState": "PUBLISHED",
                }),
            )
        };
        let request = Request::post(path)
            .header("authorization", format!("Bearer {token}"))
            .header("linkedin-version", version())
            .header("x-restli-protocol-version", "2.0.0")
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        let response = crate::router(self.sim.shared.clone())
            .oneshot(request)
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "{text}");
        response.headers()["x-restli-id"]
            .to_str()
            .unwrap()
            .to_owned()
    }
}

fn member_query(entity: &str, metric: &str) -> String {
    format!("{MEMBER_ANALYTICS}?q=entity&entity={entity}&queryType={metric}&aggregation=TOTAL")
}

fn share_entity(urn: &str) -> String {
    let key = if urn.starts_with("urn:li:share:") {
        "share"
    } else {
        "ugc"
    };
    format!("({key}:{})", enc(urn))
}

fn org_query(org: &str, shares: &[&str], ugc_posts: &[&str]) -> String {
    let list = |urns: &[&str]| urns.iter().map(|u| enc(u)).collect::<Vec<_>>().join(",");
    format!(
        "{ORG_STATISTICS}?q=organizationalEntity&organizationalEntity={}&shares=List({})&ugcPosts=List({})",
        enc(org),
        list(shares),
        list(ugc_posts)
    )
}

#[tokio::test]
async fn a_member_reads_each_metric_of_their_own_posts() {
    let client = Client::start().await;
    let poster = client.token(ADA, &["w_member_social"]);
    let ada = format!("urn:li:person:{ADA}");
    let share = client.post(&poster, &ada, "a share", false).await;
    let ugc = client.post(&poster, &ada, "a ugc post", true).await;
    assert!(share.starts_with("urn:li:share:") && ugc.starts_with("urn:li:ugcPost:"));
    let stats = PostStatistics {
        impressions: 1200,
        unique_impressions: 900,
        members_reached: 800,
        clicks: 40,
        reactions: 31,
        comments: 7,
        shares: 3,
    };
    client.sim.set_post_statistics(&share, stats);
    assert_eq!(client.sim.post_statistics(&share), stats);
    let reader = client.token(ADA, &["r_member_postAnalytics"]);
    for (metric, count) in [
        ("IMPRESSION", 1200),
        ("MEMBERS_REACHED", 800),
        ("RESHARE", 3),
        ("REACTION", 31),
        ("COMMENT", 7),
    ] {
        let (status, body) = client
            .get(&member_query(&share_entity(&share), metric), &reader)
            .await;
        assert_eq!(status, 200, "{metric}: {body}");
        let elements = body["elements"].as_array().unwrap();
        assert_eq!(elements.len(), 1, "one metric per call: {body}");
        assert_eq!(elements[0]["metricType"], metric);
        assert_eq!(elements[0]["count"], count, "{metric}");
        assert_eq!(elements[0]["entity"]["share"], share.as_str());
    }
    // A post nobody saw yet counts zero; `(ugc:…)` names a ugcPost.
    let (status, body) = client
        .get(&member_query(&share_entity(&ugc), "IMPRESSION"), &reader)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["elements"][0]["count"], 0);
    assert_eq!(body["elements"][0]["entity"]["ugc"], ugc.as_str());

    // Every call is recorded, and can be counted per post.
    assert_eq!(client.sim.count("GET", MEMBER_ANALYTICS), 6);
    assert_eq!(
        client.sim.count_mentioning("GET", MEMBER_ANALYTICS, &share),
        5
    );
    assert_eq!(
        client.sim.count_mentioning("GET", MEMBER_ANALYTICS, &ugc),
        1
    );
}

#[tokio::test]
async fn member_analytics_are_refused_as_linkedin_refuses_them() {
    let client = Client::start().await;
    let poster = client.token(ADA, &["w_member_social"]);
    let share = client
        .post(&poster, &format!("urn:li:person:{ADA}"), "mine", false)
        .await;
    let graces = client
        .post(
            &client.token(GRACE, &["w_member_social"]),
            &format!("urn:li:person:{GRACE}"),
            "hers",
            false,
        )
        .await;
    let reader = client.token(ADA, &["r_member_postAnalytics"]);
    let entity = share_entity(&share);

    // Without the scope: 403 ACCESS_DENIED.
    let (status, body) = client
        .get(&member_query(&entity, "IMPRESSION"), &poster)
        .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["serviceErrorCode"], 100);
    assert_eq!(body["code"], "ACCESS_DENIED");

    // A retired, missing or malformed version.
    let path = member_query(&entity, "IMPRESSION");
    let (status, body) = client
        .call(Client::get_as(&path, &reader, Some("202001")))
        .await;
    assert_eq!(status, 426, "{body}");
    assert_eq!(body["code"], "NONEXISTENT_VERSION");
    let (status, body) = client.call(Client::get_as(&path, &reader, None)).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], "VERSION_MISSING");
    let (status, _) = client
        .call(Client::get_as(&path, &reader, Some("2025")))
        .await;
    assert_eq!(status, 400);
    // No token.
    let (status, _) = client.get(&path, "").await;
    assert_eq!(status, 401);

    // Another member's post: 403; no such post: 404.
    let (status, body) = client
        .get(&member_query(&share_entity(&graces), "IMPRESSION"), &reader)
        .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["code"], "ACCESS_DENIED");
    let (status, body) = client
        .get(
            &member_query(&share_entity("urn:li:share:42"), "IMPRESSION"),
            &reader,
        )
        .await;
    assert_eq!(status, 404, "{body}");

    // Malformed or missing parameters: 400 with what was wrong.
    let rows = [
        (
            format!("{MEMBER_ANALYTICS}?q=entity&entity={entity}&aggregation=TOTAL"),
            "queryType",
        ),
        (
            format!("{MEMBER_ANALYTICS}?q=entity&entity={entity}&queryType=IMPRESSION"),
            "aggregation",
        ),
        (member_query(&entity, "LIKES"), "queryType LIKES"),
        (
            format!("{MEMBER_ANALYTICS}?q=author&entity={entity}&queryType=IMPRESSION&aggregation=TOTAL"),
            "q must be entity",
        ),
        (
            format!("{MEMBER_ANALYTICS}?q=entity&queryType=IMPRESSION&aggregation=TOTAL"),
            "entity is required",
        ),
        (
            member_query(&format!("(share:{share})"), "IMPRESSION"),
            "url-encoded",
        ),
        (member_query(&enc(&share), "IMPRESSION"), "entity must be"),
        (
            member_query(&format!("(ugc:{})", enc(&share)), "IMPRESSION"),
            "not a urn:li:ugcPost",
        ),
        (
            member_query(&format!("(share:{}", enc(&share)), "IMPRESSION"),
            "entity must be",
        ),
        (
            member_query("(share:urn%3Ali%3Ashare%3Z1)", "IMPRESSION"),
            "malformed escape",
        ),
        (
            format!("{}&queryType=COMMENT", member_query(&entity, "IMPRESSION")),
            "more than once",
        ),
    ];
    for (path, why) in rows {
        let (status, body) = client.get(&path, &reader).await;
        assert_eq!(status, 400, "{why}: {body}");
        let message = body["message"].as_str().unwrap();
        assert!(message.contains(why), "{why}: {message}");
    }
    // Rest.li 2.0 syntax without its header is not understood.
    let request = Request::get(member_query(&entity, "IMPRESSION"))
        .header("authorization", format!("Bearer {reader}"))
        .header("linkedin-version", version())
        .body(Body::empty())
        .unwrap();
    let (status, _) = client.call(request).await;
    assert_eq!(status, 400);

    // The whole value encoded once more by the client is still understood.
    let twice = share_entity(&share)
        .replace('%', "%25")
        .replace('(', "%28")
        .replace(')', "%29")
        .replace(':', "%3A");
    let (status, body) = client
        .get(&member_query(&twice, "IMPRESSION"), &reader)
        .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn an_administrator_reads_the_statistics_of_the_pages_active_posts() {
    let client = Client::start().await;
    let poster = client.token(ADA, &["w_member_social", "w_organization_social"]);
    let busy_share = client.post(&poster, ORG, "busy share", false).await;
    let quiet_share = client.post(&poster, ORG, "quiet share", false).await;
    let busy_ugc = client.post(&poster, ORG, "busy ugc", true).await;
    let members_own = client
        .post(&poster, &format!("urn:li:person:{ADA}"), "ada's", false)
        .await;
    client.sim.set_post_statistics(
        &busy_share,
        PostStatistics {
            impressions: 1000,
            unique_impressions: 700,
            clicks: 50,
            reactions: 30,
            comments: 15,
            shares: 5,
            ..Default::default()
        },
    );
    // Seen by nobody: no impressions, yet a like (engagement stays 0, not a division by 0).
    client.sim.set_post_statistics(
        &busy_ugc,
        PostStatistics {
            reactions: 2,
            ..Default::default()
        },
    );
    // The member's own post has counters, but it is not the page's.
    client.sim.set_post_statistics(
        &members_own,
        PostStatistics {
            impressions: 9,
            ..Default::default()
        },
    );
    let admin = client.token(ADA, &["rw_organization_admin"]);
    let path = org_query(
        ORG,
        &[
            &busy_share,
            &quiet_share,
            &members_own,
            "urn:li:share:77",
            &busy_share,
        ],
        &[&busy_ugc],
    );
    let (status, body) = client.get(&path, &admin).await;
    assert_eq!(status, 200, "{body}");
    let elements = body["elements"].as_array().unwrap();
    assert_eq!(
        elements.len(),
        2,
        "only the page's posts with activity: {body}"
    );
    let share = &elements[0];
    assert_eq!(share["organizationalEntity"], ORG);
    assert_eq!(share["share"], busy_share.as_str());
    assert!(share.get("ugcPost").is_none());
    assert_eq!(
        share["totalShareStatistics"],
        json!({
            "impressionCount": 1000,
            "uniqueImpressionsCount": 700,
            "clickCount": 50,
            "likeCount": 30,
            "commentCount": 15,
            "shareCount": 5,
            "engagement": 0.1,
        })
    );
    let ugc = &elements[1];
    assert_eq!(ugc["ugcPost"], busy_ugc.as_str());
    assert_eq!(ugc["totalShareStatistics"]["likeCount"], 2);
    assert_eq!(ugc["totalShareStatistics"]["engagement"], 0.0);
    assert!(ugc["totalShareStatistics"]["engagement"].is_f64());

    // Only ugcPosts (no shares parameter) is fine; so is a whole value encoded once more.
    let only_ugc = format!(
        "{ORG_STATISTICS}?q=organizationalEntity&organizationalEntity={}&ugcPosts=List({})",
        enc(ORG),
        enc(&busy_ugc)
    );
    let (status, body) = client.get(&only_ugc, &admin).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["elements"].as_array().unwrap().len(), 1);
    let twice = format!(
        "{ORG_STATISTICS}?q=organizationalEntity&organizationalEntity={}&shares=List%28{}%2C{}%29",
        enc(ORG).replace('%', "%25"),
        enc(&busy_share).replace('%', "%25"),
        enc(&quiet_share).replace('%', "%25"),
    );
    let (status, body) = client.get(&twice, &admin).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["elements"][0]["share"], busy_share.as_str());
    assert_eq!(body["elements"].as_array().unwrap().len(), 1);

    assert_eq!(client.sim.count("GET", ORG_STATISTICS), 3);
    assert_eq!(
        client
            .sim
            .count_mentioning("GET", ORG_STATISTICS, &busy_share),
        2
    );
}

#[tokio::test]
async fn organization_statistics_are_refused_as_linkedin_refuses_them() {
    let client = Client::start().await;
    let poster = client.token(ADA, &["w_organization_social"]);
    let share = client.post(&poster, ORG, "a page post", false).await;
    client.sim.set_post_statistics(
        &share,
        PostStatistics {
            impressions: 10,
            ..Default::default()
        },
    );
    let admin = client.token(ADA, &["rw_organization_admin"]);
    let path = org_query(ORG, &[&share], &[]);

    // The read-only admin scope is not enough; nor is a member analytics scope.
    for scopes in [
        &["r_organization_admin"][..],
        &["r_member_postAnalytics", "w_organization_social"][..],
    ] {
        let token = client.token(ADA, scopes);
        let (status, body) = client.get(&path, &token).await;
        assert_eq!(status, 403, "{scopes:?}: {body}");
        assert_eq!(body["serviceErrorCode"], 100);
        assert_eq!(body["code"], "ACCESS_DENIED");
    }
    // Ada is only an ANALYST of 1002, and Grace has no role on 1001.
    let (status, body) = client
        .get(
            &org_query("urn:li:organization:1002", &[&share], &[]),
            &admin,
        )
        .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["code"], "ACCESS_DENIED");
    let grace = client.token(GRACE, &["rw_organization_admin"]);
    let (status, _) = client.get(&path, &grace).await;
    assert_eq!(status, 403);

    // A retired or missing version.
    let (status, body) = client
        .call(Client::get_as(&path, &admin, Some("202001")))
        .await;
    assert_eq!(status, 426, "{body}");
    let (status, body) = client.call(Client::get_as(&path, &admin, None)).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], "VERSION_MISSING");

    // Malformed lists and parameters: 400 with what was wrong.
    let base = format!(
        "{ORG_STATISTICS}?q=organizationalEntity&organizationalEntity={}",
        enc(ORG)
    );
    let rows = [
        (org_query(ORG, &[], &[]), "name the posts"),
        (base.clone(), "name the posts"),
        (format!("{base}&shares={}", enc(&share)), "must be List"),
        (format!("{base}&shares=List({share})"), "url-encoded"),
        (
            format!("{base}&shares=List({}", enc(&share)),
            "must be List",
        ),
        (
            format!("{base}&shares=List({},,{})", enc(&share), enc(&share)),
            "empty element",
        ),
        (
            format!("{base}&shares=List(urn%3Ali%3Ashare%3Aabc)"),
            "not a urn:li:share",
        ),
        (format!("{base}&ugcPosts=List({})", enc(&share)), "ugcPost"),
        (
            format!("{base}&shares=List(urn%3Ali%3Ashare%3G1)"),
            "malformed escape",
        ),
        (
            format!(
                "{ORG_STATISTICS}?q=organizationalEntity&organizationalEntity=1001&shares=List({})",
                enc(&share)
            ),
            "organizationalEntity must be",
        ),
        (
            format!(
                "{ORG_STATISTICS}?q=share&organizationalEntity={}&shares=List({})",
                enc(ORG),
                enc(&share)
            ),
            "q must be organizationalEntity",
        ),
    ];
    for (path, why) in rows {
        let (status, body) = client.get(&path, &admin).await;
        assert_eq!(status, 400, "{why}: {body}");
        let message = body["message"].as_str().unwrap();
        assert!(message.contains(why), "{why}: {message}");
    }
    // List(…) without the Rest.li 2.0 header.
    let request = Request::get(&path)
        .header("authorization", format!("Bearer {admin}"))
        .header("linkedin-version", version())
        .body(Body::empty())
        .unwrap();
    let (status, _) = client.call(request).await;
    assert_eq!(status, 400);

    // The same request, well formed, is answered.
    let (status, body) = client.get(&path, &admin).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["elements"][0]["totalShareStatistics"]["impressionCount"],
        10
    );
}

/// The control route sets counters as the in-process method does.
#[tokio::test]
async fn the_control_route_sets_a_posts_statistics() {
    let client = Client::start().await;
    let request = Request::post("/_sim/post-statistics")
        .header("content-type", "application/json")
        .body(Body::from(
            json!({ "post": "urn:li:share:5", "impressions": 12, "comments": 2 }).to_string(),
        ))
        .unwrap();
    let (status, _) = client.call(request).await;
    assert_eq!(status, 204);
    assert_eq!(
        client.sim.post_statistics("urn:li:share:5"),
        PostStatistics {
            impressions: 12,
            comments: 2,
            ..Default::default()
        }
    );
}
