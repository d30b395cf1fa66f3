//! Engagement metrics (linkedin-api.md, "Engagement metrics"): a member's own post analytics
//! (`memberCreatorPostAnalytics`, one metric per call) and an organization's post statistics
//! (`organizationalEntityShareStatistics`, several posts per call), both in Rest.li 2.0 query
//! syntax, with the counters tests set through [`crate::Simulator::set_post_statistics`].
//!
//! Query values are read from the raw query string, not from a decoded map: Rest.li 2.0's
//! structure (`List(…)`, `(share:…)`) is literal while the URNs inside it are url-encoded
//! (`List(urn%3Ali%3Ashare%3A1)`), and one decoding of the whole value would make the two
//! indistinguishable. A client that encoded the whole value once more
//! (`List%28urn%253Ali%253Ashare%253A1%29`) is understood too; anything else (an unencoded
//! URN inside the structure, a bad escape, an unbalanced list) is a 400.

use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::posts::{has, member_urn};
use super::rest::{api_error, versioned_caller};
use super::{AccessRecord, Shared, SimState};

/// A post's engagement counters, as a test sets them; all zero by default (a post nobody saw).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct PostStatistics {
    /// `IMPRESSION`; an organization's `impressionCount`.
    pub impressions: u64,
    /// An organization's `uniqueImpressionsCount`.
    pub unique_impressions: u64,
    /// `MEMBERS_REACHED` (member posts).
    pub members_reached: u64,
    /// An organization's `clickCount`.
    pub clicks: u64,
    /// `REACTION`; an organization's `likeCount`.
    pub reactions: u64,
    /// `COMMENT`; an organization's `commentCount`.
    pub comments: u64,
    /// `RESHARE`; an organization's `shareCount`.
    pub shares: u64,
}

impl PostStatistics {
    /// Whether an organization's statistics show anything for the post (every count they
    /// report is zero otherwise, and LinkedIn leaves the post out).
    pub fn has_organization_activity(&self) -> bool {
        Self {
            members_reached: 0,
            ..*self
        } != Self::default()
    }

    /// (clicks + likes + comments + shares) / impressions; 0 without impressions.
    pub fn engagement(&self) -> f64 {
        if self.impressions == 0 {
            return 0.0;
        }
        (self.clicks + self.reactions + self.comments + self.shares) as f64
            / self.impressions as f64
    }
}

/// The metrics `memberCreatorPostAnalytics` answers, one per call.
const MEMBER_METRICS: &[&str] = &[
    "IMPRESSION",
    "MEMBERS_REACHED",
    "RESHARE",
    "REACTION",
    "COMMENT",
];

fn bad(message: &str) -> Response {
    api_error(
        400,
        None,
        Some("ILLEGAL_ARGUMENT"),
        &format!("Syntax exception in query parameters: {message}"),
    )
}

fn access_denied(resource: &str) -> Response {
    api_error(
        403,
        Some(100),
        Some("ACCESS_DENIED"),
        &format!("Not enough permissions to access: {resource}"),
    )
}

/// `%XX` decoding; `None` for a bad escape or bytes that are not UTF-8. `+` stays `+`.
pub(crate) fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The query's parameters, names decoded, values raw (still encoded). A name given twice,
/// or a bad escape in a name, is a 400.
fn raw_params(uri: &Uri) -> Result<Vec<(String, String)>, Response> {
    let mut params: Vec<(String, String)> = Vec::new();
    for pair in uri.query().unwrap_or_default().split('&') {
        if pair.is_empty() {
            continue;
        }
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let Some(name) = percent_decode(name) else {
            return Err(bad(&format!("malformed parameter name {name}")));
        };
        if params.iter().any(|(n, _)| *n == name) {
            return Err(bad(&format!("parameter {name} is given more than once")));
        }
        params.push((name, value.to_owned()));
    }
    Ok(params)
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// A simple value (`q`, `queryType`, an organization URN): decoded once, or twice when the
/// client encoded an already encoded value.
fn scalar(raw: &str) -> Option<String> {
    let once = percent_decode(raw)?;
    if once.contains('%') {
        percent_decode(&once)
    } else {
        Some(once)
    }
}

/// The Rest.li 2.0 structure of `raw`: as sent when it begins with `structure_start`
/// (`List(`, `(`), else once decoded when that reveals it (a client that encoded the whole
/// value). `None` when neither.
fn restli_structure(raw: &str, structure_start: &str) -> Option<String> {
    if raw.starts_with(structure_start) {
        return Some(raw.to_owned());
    }
    percent_decode(raw).filter(|d| d.starts_with(structure_start))
}

/// One URN inside a Rest.li 2.0 structure: it must arrive encoded (its `:` as `%3A`), as
/// Rest.li reserves `:` `(` `)` `,`; decoded it must be `urn:li:{kind}:{digits}`.
fn encoded_urn(leaf: &str, kind: &str) -> Result<String, String> {
    if leaf.contains([':', '(', ')', ',']) {
        return Err(format!(
            "{leaf} must be url-encoded inside a Rest.li 2.0 value (urn%3Ali%3A{kind}%3A…)"
        ));
    }
    let urn = percent_decode(leaf).ok_or_else(|| format!("malformed escape in {leaf}"))?;
    let valid = urn
        .strip_prefix(&format!("urn:li:{kind}:"))
        .is_some_and(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()));
    if valid {
        Ok(urn)
    } else {
        Err(format!("{urn} is not a urn:li:{kind} URN"))
    }
}

/// `List(a,b,…)` of encoded `urn:li:{kind}:N`; an absent parameter is an empty list.
fn urn_list(params: &[(String, String)], name: &str, kind: &str) -> Result<Vec<String>, String> {
    let Some(raw) = param(params, name) else {
        return Ok(Vec::new());
    };
    let inner = restli_structure(raw, "List(")
        .and_then(|s| Some(s.strip_prefix("List(")?.strip_suffix(')')?.to_owned()))
        .ok_or_else(|| format!("{name} must be List(…) of url-encoded URNs, not {raw}"))?;
    if inner.is_empty() {
        return Ok(Vec::new());
    }
    inner
        .split(',')
        .map(|leaf| {
            if leaf.is_empty() {
                Err(format!("{name} has an empty element"))
            } else {
                encoded_urn(leaf, kind)
            }
        })
        .collect()
}

/// `(share:{encoded urn})` or `(ugc:{encoded urn})`.
fn entity(raw: &str) -> Result<String, String> {
    let shape = || {
        format!("entity must be (share:{{encoded share urn}}) or (ugc:{{encoded ugcPost urn}}), not {raw}")
    };
    let structure = restli_structure(raw, "(").ok_or_else(shape)?;
    let inner = structure
        .strip_prefix('(')
        .and_then(|s| s.strip_suffix(')'))
        .ok_or_else(shape)?;
    let (key, leaf) = inner.split_once(':').ok_or_else(shape)?;
    match key {
        "share" => encoded_urn(leaf, "share"),
        "ugc" => encoded_urn(leaf, "ugcPost"),
        _ => Err(shape()),
    }
}

fn restli2(headers: &HeaderMap) -> bool {
    headers
        .get("x-restli-protocol-version")
        .and_then(|v| v.to_str().ok())
        == Some("2.0.0")
}

fn version_of(headers: &HeaderMap) -> String {
    headers
        .get("linkedin-version")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// A finder of the analytics resources: what both ask of a call before their own parameters.
struct Finder {
    resource: &'static str,
    q: &'static str,
    /// The scope the caller's token must carry.
    scope: &'static str,
}

impl Finder {
    /// The caller (a current version, a live token carrying the scope) and the query's
    /// parameters, `q` the finder's; or LinkedIn's refusal.
    fn caller_and_params(
        &self,
        state: &SimState,
        headers: &HeaderMap,
        uri: &Uri,
    ) -> Result<(AccessRecord, Vec<(String, String)>), Response> {
        let record = versioned_caller(state, headers)?;
        if !has(&record, self.scope) {
            return Err(self.denied(headers));
        }
        let params = raw_params(uri)?;
        if param(&params, "q").and_then(scalar).as_deref() != Some(self.q) {
            return Err(bad(&format!("q must be {}", self.q)));
        }
        Ok((record, params))
    }

    /// LinkedIn's 403 for this finder, naming the resource as LinkedIn does.
    fn denied(&self, headers: &HeaderMap) -> Response {
        let version = version_of(headers);
        access_denied(&format!("{}.FINDER-{}.{version}", self.resource, self.q))
    }
}

fn statistics_of(state: &SimState, urn: &str) -> PostStatistics {
    state.post_statistics.get(urn).copied().unwrap_or_default()
}

/// `GET /rest/memberCreatorPostAnalytics?q=entity&entity=(share:…)&queryType=…&aggregation=TOTAL`:
/// one metric of one of the member's own posts.
pub(crate) async fn member_creator_post_analytics(
    State(shared): State<Shared>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let state = shared.lock();
    let finder = Finder {
        resource: "memberCreatorPostAnalytics",
        q: "entity",
        scope: "r_member_postAnalytics",
    };
    let (record, params) = match finder.caller_and_params(&state, &headers, &uri) {
        Ok(found) => found,
        Err(refused) => return refused,
    };
    if !restli2(&headers) {
        return bad("entity=(…) needs the header X-Restli-Protocol-Version: 2.0.0");
    }
    let Some(raw_entity) = param(&params, "entity") else {
        return bad("entity is required");
    };
    let urn = match entity(raw_entity) {
        Ok(urn) => urn,
        Err(message) => return bad(&message),
    };
    let metric = match param(&params, "queryType").and_then(scalar) {
        Some(m) if MEMBER_METRICS.contains(&m.as_str()) => m,
        Some(m) => {
            return bad(&format!(
                "queryType {m} is not one of {}",
                MEMBER_METRICS.join(", ")
            ))
        }
        None => return bad("queryType is required"),
    };
    match param(&params, "aggregation").and_then(scalar).as_deref() {
        Some("TOTAL") => {}
        Some("DAILY") => {
            return bad("aggregation DAILY (with dateRange) is not simulated: use TOTAL")
        }
        Some(other) => return bad(&format!("aggregation {other} must be TOTAL or DAILY")),
        None => return bad("aggregation is required"),
    }
    let Some(post) = state
        .posts
        .iter()
        .find(|p| p.urn == urn && p.deleted_at.is_none())
    else {
        return api_error(
            404,
            None,
            Some("NOT_FOUND"),
            &format!("Post {urn} not found"),
        );
    };
    // Analytics of the member's own posts only: another member's post, or a page's, is not
    // theirs to read.
    if post.author != member_urn(&record) {
        return finder.denied(&headers);
    }
    let stats = statistics_of(&state, &urn);
    let count = match metric.as_str() {
        "IMPRESSION" => stats.impressions,
        "MEMBERS_REACHED" => stats.members_reached,
        "RESHARE" => stats.shares,
        "REACTION" => stats.reactions,
        _ => stats.comments,
    };
    let entity_key = if urn.starts_with("urn:li:share:") {
        "share"
    } else {
        "ugc"
    };
    Json(json!({
        "paging": { "start": 0, "count": 10, "links": [] },
        "elements": [{
            "entity": { entity_key: urn },
            "metricType": metric,
            "count": count,
        }],
    }))
    .into_response()
}

/// `GET /rest/organizationalEntityShareStatistics?q=organizationalEntity&organizationalEntity=…
/// &shares=List(…)&ugcPosts=List(…)`: lifetime statistics of the organization's posts among
/// those named; posts without activity, and posts not by the organization, are left out.
pub(crate) async fn organizational_entity_share_statistics(
    State(shared): State<Shared>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let state = shared.lock();
    let finder = Finder {
        resource: "organizationalEntityShareStatistics",
        q: "organizationalEntity",
        scope: "rw_organization_admin",
    };
    let (record, params) = match finder.caller_and_params(&state, &headers, &uri) {
        Ok(found) => found,
        Err(refused) => return refused,
    };
    let organization = param(&params, "organizationalEntity")
        .and_then(scalar)
        .filter(|o| {
            o.strip_prefix("urn:li:organization:")
                .is_some_and(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))
        });
    let Some(organization) = organization else {
        return bad("organizationalEntity must be an encoded urn:li:organization URN");
    };
    let administrator = state.member(&record.member_sub).is_some_and(|m| {
        m.organizations
            .iter()
            .any(|(o, role)| *o == organization && role == "ADMINISTRATOR")
    });
    if !administrator {
        return finder.denied(&headers);
    }
    let named = param(&params, "shares").is_some() || param(&params, "ugcPosts").is_some();
    if named && !restli2(&headers) {
        return bad("List(…) needs the header X-Restli-Protocol-Version: 2.0.0");
    }
    let lists = urn_list(&params, "shares", "share")
        .and_then(|s| Ok((s, urn_list(&params, "ugcPosts", "ugcPost")?)));
    let (shares, ugc_posts) = match lists {
        Ok(lists) => lists,
        Err(message) => return bad(&message),
    };
    if shares.is_empty() && ugc_posts.is_empty() {
        return bad(
            "name the posts: shares=List(…) and/or ugcPosts=List(…) (the time-bound and \
             page-wide forms are not simulated)",
        );
    }
    let mut seen = std::collections::HashSet::new();
    let elements: Vec<_> = shares
        .iter()
        .map(|u| ("share", u))
        .chain(ugc_posts.iter().map(|u| ("ugcPost", u)))
        // A post named twice is answered once.
        .filter(|(_, urn)| seen.insert(urn.as_str()))
        .filter(|(_, urn)| {
            state
                .posts
                .iter()
                .any(|p| p.urn == **urn && p.author == organization && p.deleted_at.is_none())
        })
        .map(|(key, urn)| (key, urn, statistics_of(&state, urn)))
        .filter(|(_, _, stats)| stats.has_organization_activity())
        .map(|(key, urn, s)| {
            json!({
                "organizationalEntity": organization,
                key: urn,
                "totalShareStatistics": {
                    "impressionCount": s.impressions,
                    "uniqueImpressionsCount": s.unique_impressions,
                    "clickCount": s.clicks,
                    "likeCount": s.reactions,
                    "commentCount": s.comments,
                    "shareCount": s.shares,
                    "engagement": s.engagement(),
                },
            })
        })
        .collect();
    let total = elements.len();
    Json(json!({
        "paging": { "start": 0, "count": total, "links": [] },
        "elements": elements,
    }))
    .into_response()
}
