//! The product's metrics, in CloudWatch's Embedded Metric Format (EMF): one JSON line per
//! data point on stdout, which Lambda ships to the function's log group, where CloudWatch Logs
//! extracts the metric (no API call, no `cloudwatch:PutMetricData` right).
//!
//! [`Metric`] is the one list of what is measured; each metric has one fixed unit and at most
//! one low-cardinality dimension ([`Dimension`]: a failure code, a LinkedIn call, a delivery
//! result — never a tenant, connection or post id, each of which would be a metric of its own).
//! Every line also publishes the metric without dimensions (an empty dimension set), the total
//! the alarms watch. template.yaml's dashboard graphs every metric of the list
//! (scripts/check-template.py checks that).
//!
//! A hand-written module rather than a crate: the EMF crates (`metrics_cloudwatch_embedded`,
//! `metrique`) collect through a process-wide recorder, which the local stack (several stacks
//! in one test process) could not tell apart; here each [`Metrics`] carries its sink, so a
//! test stack reads the lines its own functions wrote ([`Metrics::captured`]).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Map, Value};

use crate::domain::posts::FailureCode;
use crate::domain::webhooks::AttemptOutcome;

/// The namespace when `METRICS_NAMESPACE` is not set (the template's `MetricsNamespace`).
pub const DEFAULT_NAMESPACE: &str = "LinkedInConnector";

/// What is measured. The variant's name is the CloudWatch metric name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::VariantArray)]
pub enum Metric {
    /// A post went live at LinkedIn (the publisher recorded its URN).
    PostsPublished,
    /// A post failed for good (a DLQ record), by [`Dimension::ErrorCode`].
    PostsFailed,
    /// A publish attempt failed and the post will be tried again, by [`Dimension::ErrorCode`].
    PostsRetried,
    /// A post whose last attempt's outcome was unknown turned out to be live.
    OutcomesResolved,
    /// A connection's access token was refreshed at LinkedIn.
    TokensRefreshed,
    /// A connection went to `attention`: its member must reconnect.
    ConnectionsNeedingAttention,
    /// A connection's reconnect runway came (T-14d, T-7d, T-1d, the deadline): its tenant was told.
    ReconnectsDue,
    /// A webhook delivery attempt, by [`Dimension::Result`].
    WebhookDeliveries,
    /// How long one LinkedIn call took, by [`Dimension::Call`].
    LinkedInLatency,
}

impl Metric {
    pub fn name(self) -> &'static str {
        self.into()
    }

    pub fn unit(self) -> Unit {
        match self {
            Self::LinkedInLatency => Unit::Milliseconds,
            _ => Unit::Count,
        }
    }

    /// The dimension the metric is broken down by, if any.
    pub fn dimension(self) -> Option<Dimension> {
        match self {
            Self::PostsFailed | Self::PostsRetried => Some(Dimension::ErrorCode),
            Self::WebhookDeliveries => Some(Dimension::Result),
            Self::LinkedInLatency => Some(Dimension::Call),
            Self::PostsPublished
            | Self::OutcomesResolved
            | Self::TokensRefreshed
            | Self::ConnectionsNeedingAttention
            | Self::ReconnectsDue => None,
        }
    }
}

/// CloudWatch units the metrics use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr)]
pub enum Unit {
    Count,
    Milliseconds,
}

/// Dimension keys; each has a bounded set of values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr)]
pub enum Dimension {
    /// A [`FailureCode`] (`FORBIDDEN`, `RETRIES_EXHAUSTED`, …).
    ErrorCode,
    /// A [`LinkedInCall`] (`posts.create`, …).
    Call,
    /// A webhook attempt's [`AttemptOutcome`] (`succeeded`, `timeout`, …).
    Result,
}

/// Every call the LinkedIn client makes, named by what it does (never its URL, which carries
/// URNs): the [`Metric::LinkedInLatency`] dimension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::VariantArray)]
pub enum LinkedInCall {
    #[strum(serialize = "oauth.exchange_code")]
    ExchangeCode,
    #[strum(serialize = "oauth.refresh")]
    Refresh,
    #[strum(serialize = "oauth.revoke")]
    Revoke,
    #[strum(serialize = "userinfo")]
    UserInfo,
    #[strum(serialize = "me")]
    Me,
    #[strum(serialize = "organizations.acls")]
    OrganizationAcls,
    #[strum(serialize = "organizations.lookup")]
    OrganizationsLookup,
    #[strum(serialize = "posts.create")]
    PostsCreate,
    #[strum(serialize = "posts.read")]
    PostsRead,
    #[strum(serialize = "posts.edit")]
    PostsEdit,
    #[strum(serialize = "posts.delete")]
    PostsDelete,
    #[strum(serialize = "comments.create")]
    CommentsCreate,
    #[strum(serialize = "images.initialize")]
    ImagesInitialize,
    #[strum(serialize = "images.upload")]
    ImagesUpload,
    #[strum(serialize = "images.status")]
    ImagesStatus,
    #[strum(serialize = "documents.initialize")]
    DocumentsInitialize,
    #[strum(serialize = "videos.initialize")]
    VideosInitialize,
    #[strum(serialize = "videos.finalize")]
    VideosFinalize,
    /// A document's or a video's bytes (or a part, a thumbnail, captions) to an upload URL.
    #[strum(serialize = "media.upload")]
    MediaUpload,
    #[strum(serialize = "media.status")]
    MediaStatus,
    #[strum(serialize = "analytics.member_post")]
    MemberPostAnalytics,
    #[strum(serialize = "analytics.share_statistics")]
    ShareStatistics,
}

impl LinkedInCall {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// Where the lines go.
#[derive(Debug, Clone, Default)]
enum Sink {
    /// The process's stdout, as Lambda ships it to CloudWatch Logs. Written with `println!`,
    /// one whole line at a time (so it never interleaves with a log line), and captured by
    /// the test harness in unit tests.
    #[default]
    Stdout,
    /// Kept in memory for a test to read.
    Memory(Arc<Mutex<Vec<String>>>),
}

/// Emits the product's metrics in one namespace. Cheap to clone; clones share the sink.
#[derive(Debug, Clone)]
pub struct Metrics {
    namespace: Arc<str>,
    sink: Sink,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::stdout(DEFAULT_NAMESPACE)
    }
}

impl Metrics {
    /// Lines to stdout: what the functions do in Lambda.
    pub fn stdout(namespace: &str) -> Self {
        Self {
            namespace: namespace.into(),
            sink: Sink::Stdout,
        }
    }

    /// Lines kept in memory, for [`Metrics::lines`]: what a test stack does.
    pub fn captured(namespace: &str) -> Self {
        Self {
            namespace: namespace.into(),
            sink: Sink::Memory(Arc::default()),
        }
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The lines written so far, when captured (none on stdout).
    pub fn lines(&self) -> Vec<String> {
        match &self.sink {
            Sink::Stdout => Vec::new(),
            Sink::Memory(lines) => lines.lock().map(|l| l.clone()).unwrap_or_default(),
        }
    }

    pub fn post_published(&self) {
        self.put(Metric::PostsPublished, None, 1.0);
    }

    pub fn post_failed(&self, code: FailureCode) {
        self.put(Metric::PostsFailed, Some(code.as_str()), 1.0);
    }

    pub fn post_retried(&self, code: FailureCode) {
        self.put(Metric::PostsRetried, Some(code.as_str()), 1.0);
    }

    pub fn outcome_resolved(&self) {
        self.put(Metric::OutcomesResolved, None, 1.0);
    }

    pub fn token_refreshed(&self) {
        self.put(Metric::TokensRefreshed, None, 1.0);
    }

    pub fn connection_attention(&self) {
        self.put(Metric::ConnectionsNeedingAttention, None, 1.0);
    }

    /// A reconnect runway's reminder fired for a connection without a refresh token (the
    /// refresher calls this once per reminder it acts on).
    pub fn reconnect_due(&self) {
        self.put(Metric::ReconnectsDue, None, 1.0);
    }

    pub fn webhook_delivery(&self, result: AttemptOutcome) {
        self.put(Metric::WebhookDeliveries, Some(result.into()), 1.0);
    }

    pub fn linkedin_latency(&self, call: LinkedInCall, took: Duration) {
        let ms = took.as_secs_f64() * 1000.0;
        self.put(Metric::LinkedInLatency, Some(call.as_str()), ms);
    }

    fn put(&self, metric: Metric, dimension_value: Option<&str>, value: f64) {
        let now = chrono::Utc::now().timestamp_millis();
        let line = emf_line(&self.namespace, metric, dimension_value, value, now);
        match &self.sink {
            Sink::Stdout => println!("{line}"),
            Sink::Memory(lines) => {
                if let Ok(mut lines) = lines.lock() {
                    lines.push(line);
                }
            }
        }
    }
}

/// One EMF document: `metric` = `value` at `timestamp_ms`, published with its dimension (when
/// it has one and a value is given) and without.
pub fn emf_line(
    namespace: &str,
    metric: Metric,
    dimension_value: Option<&str>,
    value: f64,
    timestamp_ms: i64,
) -> String {
    let mut root = Map::new();
    let mut dimension_sets = vec![Vec::<&str>::new()];
    if let (Some(dimension), Some(value)) = (metric.dimension(), dimension_value) {
        let key: &str = dimension.into();
        dimension_sets.insert(0, vec![key]);
        root.insert(key.into(), Value::from(value));
    }
    root.insert(metric.name().into(), json!(value));
    root.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": dimension_sets,
                "Metrics": [{ "Name": metric.name(), "Unit": <&str>::from(metric.unit()) }],
            }],
        }),
    );
    Value::Object(root).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use strum::VariantArray;

    fn parsed(line: &str) -> Value {
        assert!(!line.contains('\n'), "one line: {line}");
        serde_json::from_str(line).expect("valid JSON")
    }

    #[test]
    fn a_failed_post_is_one_emf_document_with_its_code_as_dimension_and_a_total() {
        let line = emf_line(
            "LinkedInConnector",
            Metric::PostsFailed,
            Some("FORBIDDEN"),
            1.0,
            1_700_000_000_000,
        );

        let doc = parsed(&line);
        assert_eq!(doc["_aws"]["Timestamp"], 1_700_000_000_000_i64);
        let directives = doc["_aws"]["CloudWatchMetrics"].as_array().unwrap();
        assert_eq!(directives.len(), 1);
        assert_eq!(directives[0]["Namespace"], "LinkedInConnector");
        assert_eq!(directives[0]["Dimensions"], json!([["ErrorCode"], []]));
        assert_eq!(
            directives[0]["Metrics"],
            json!([{ "Name": "PostsFailed", "Unit": "Count" }])
        );
        assert_eq!(doc["PostsFailed"], 1.0);
        assert_eq!(doc["ErrorCode"], "FORBIDDEN");
    }

    #[test]
    fn a_metric_without_a_dimension_is_published_only_as_its_total() {
        let doc = parsed(&emf_line("Ns", Metric::PostsPublished, None, 1.0, 1));

        assert_eq!(
            doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([[]])
        );
        assert_eq!(doc["PostsPublished"], 1.0);
        assert_eq!(doc.as_object().unwrap().len(), 2, "{doc}");
    }

    /// What the EMF specification requires of every document (its JSON schema, in short):
    /// a metadata object with a timestamp and directives; every dimension and metric a
    /// directive names is a member of the root, a string or a number.
    #[test]
    fn every_metric_writes_a_valid_emf_document() {
        for &metric in Metric::VARIANTS {
            let value = metric.dimension().map(|_| "value");
            let doc = parsed(&emf_line("LinkedInConnector", metric, value, 12.5, 42));
            let aws = &doc["_aws"];
            assert!(aws["Timestamp"].is_i64(), "{metric:?}");
            for directive in aws["CloudWatchMetrics"].as_array().unwrap() {
                assert!(!directive["Namespace"].as_str().unwrap().is_empty());
                let sets = directive["Dimensions"].as_array().unwrap();
                assert!(!sets.is_empty(), "{metric:?}");
                for key in sets.iter().flat_map(|s| s.as_array().unwrap()) {
                    assert!(doc[key.as_str().unwrap()].is_string(), "{metric:?} {key}");
                }
                for definition in directive["Metrics"].as_array().unwrap() {
                    let name = definition["Name"].as_str().unwrap();
                    assert!(doc[name].is_number(), "{metric:?}");
                    let unit = definition["Unit"].as_str().unwrap();
                    assert!(["Count", "Milliseconds"].contains(&unit));
                }
            }
        }
    }

    #[test]
    fn dimension_values_are_bounded_names_never_ids_or_urls() {
        for &call in LinkedInCall::VARIANTS {
            let name = call.as_str();
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_lowercase() || c == '.' || c == '_'),
                "{name}"
            );
        }
        let outcome: &str = AttemptOutcome::ConnectionFailed.into();
        assert_eq!(outcome, "connection_failed");
    }

    #[test]
    fn a_captured_sink_keeps_each_line_and_clones_share_it() {
        let metrics = Metrics::captured("Test");
        let clone = metrics.clone();

        clone.linkedin_latency(LinkedInCall::PostsCreate, Duration::from_millis(250));
        metrics.post_failed(FailureCode::RetriesExhausted);

        let lines = metrics.lines();
        assert_eq!(lines.len(), 2);
        let latency = parsed(&lines[0]);
        assert_eq!(latency["LinkedInLatency"], 250.0);
        assert_eq!(latency["Call"], "posts.create");
        assert_eq!(
            latency["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"],
            "Milliseconds"
        );
        assert_eq!(latency["_aws"]["CloudWatchMetrics"][0]["Namespace"], "Test");
        assert_eq!(parsed(&lines[1])["ErrorCode"], "RETRIES_EXHAUSTED");
        assert!(Metrics::stdout("Test").lines().is_empty());
    }
}
