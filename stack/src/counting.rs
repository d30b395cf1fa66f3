//! The proxy in front of the AWS emulator. Every AWS call the product makes passes through it:
//!
//! - it is counted by service and operation ("DynamoDB.PutItem", "KMS.Decrypt",
//!   "SQS.SendMessage", "scheduler.CreateSchedule"), so tests and benchmarks report AWS calls
//!   per operation instead of timings;
//! - AWS's failures are injected here, as the simulator injects LinkedIn's ([`AwsFaults`]):
//!   throttling, 5xx, slow answers, and connections lost before or after moto applied the call;
//! - DynamoDB calls go to moto one at a time: when a multi-item TransactWriteItems fails, moto
//!   restores a copy of the whole table taken when the transaction began, wiping writes other
//!   requests made meanwhile (real DynamoDB never does), so concurrent calls must not
//!   interleave inside moto.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::response::Response;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking test must not poison the proxy for the others.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Counts AWS calls per service and operation on their way to moto.
#[derive(Clone, Default)]
pub struct Counter(Arc<Mutex<BTreeMap<String, usize>>>);

impl Counter {
    /// The counts so far, resetting them.
    pub fn take(&self) -> BTreeMap<String, usize> {
        std::mem::take(&mut *lock(&self.0))
    }

    /// The counts so far, keeping them.
    pub fn snapshot(&self) -> BTreeMap<String, usize> {
        lock(&self.0).clone()
    }
}

/// How an AWS call fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AwsFaultKind {
    /// 400 with the service's throttling error (the SDK retries it, with backoff).
    Throttle,
    /// 500 InternalServerError (the SDK retries it).
    ServerError,
    /// Answered normally, after this long.
    Slow(#[serde(with = "millis")] Duration),
    /// The connection closes before the call reaches moto: not applied.
    DropBeforeApply,
    /// moto applies the call, then the connection closes with no answer: applied, and the
    /// caller cannot know (the SDK retries; a conditional write then finds its own write).
    DropAfterApply,
    /// 400 AccessDeniedException, worded as IAM words it: the role's ARN, the account id and
    /// the resource's ARN (not retried). What a tenant must never read.
    AccessDenied,
}

/// The account id in [`AwsFaultKind::AccessDenied`]'s message.
pub const ACCESS_DENIED_ACCOUNT: &str = "123456789012";

impl AwsFaultKind {
    /// A name without parameters, for counting.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Throttle => "Throttle",
            Self::ServerError => "ServerError",
            Self::Slow(_) => "Slow",
            Self::DropBeforeApply => "DropBeforeApply",
            Self::DropAfterApply => "DropAfterApply",
            Self::AccessDenied => "AccessDenied",
        }
    }
}

mod millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

/// A fault for calls of one service ("DynamoDB", "KMS", "SQS", "scheduler"), optionally one
/// operation ("PutItem"): skips the first `after` matching calls, then applies to `times` of
/// them (every one after if `None`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AwsFault {
    pub service: String,
    #[serde(default)]
    pub operation: Option<String>,
    pub kind: AwsFaultKind,
    #[serde(default)]
    pub after: u32,
    #[serde(default)]
    pub times: Option<u32>,
}

impl AwsFault {
    pub fn new(service: &str, kind: AwsFaultKind) -> Self {
        Self {
            service: service.into(),
            operation: None,
            kind,
            after: 0,
            times: None,
        }
    }
    pub fn operation(mut self, operation: &str) -> Self {
        self.operation = Some(operation.into());
        self
    }
    /// Lets the first `n` matching calls through.
    pub fn after(mut self, n: u32) -> Self {
        self.after = n;
        self
    }
    pub fn times(mut self, n: u32) -> Self {
        self.times = Some(n);
        self
    }

    fn matches(&self, call: &Call) -> bool {
        self.service.eq_ignore_ascii_case(&call.service)
            && self
                .operation
                .as_deref()
                .is_none_or(|o| o.eq_ignore_ascii_case(&call.operation))
    }
}

/// Faults drawn at random, reproducibly: each call (of `services`, or every one) fails with
/// probability `rate`, with a kind drawn from `mix` by weight. The same seed and the same
/// sequence of calls give the same faults at the same call indices.
#[derive(Debug, Clone)]
pub struct RandomFaults {
    pub seed: u64,
    pub rate: f64,
    /// Services to fault; empty for all.
    pub services: Vec<String>,
    /// `(kind, weight)`.
    pub mix: Vec<(AwsFaultKind, u32)>,
}

impl RandomFaults {
    /// Every kind, drops after apply included, at `rate` of all calls.
    pub fn chaos(seed: u64, rate: f64) -> Self {
        Self {
            seed,
            rate,
            services: Vec::new(),
            mix: vec![
                (AwsFaultKind::Throttle, 4),
                (AwsFaultKind::ServerError, 3),
                (AwsFaultKind::Slow(Duration::from_millis(300)), 2),
                (AwsFaultKind::DropBeforeApply, 2),
                (AwsFaultKind::DropAfterApply, 3),
            ],
        }
    }

    pub fn services(mut self, services: &[&str]) -> Self {
        self.services = services.iter().map(|s| s.to_string()).collect();
        self
    }
}

/// A fault the proxy applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppliedFault {
    /// The call's index among all calls since the proxy started (0-based).
    pub call: u64,
    /// "DynamoDB.PutItem".
    pub operation: String,
    pub kind: AwsFaultKind,
    /// Drawn by the random mode (else injected).
    pub random: bool,
}

#[derive(Default)]
struct FaultState {
    injected: Vec<(AwsFault, u32)>,
    random: Option<(RandomFaults, StdRng)>,
    calls: u64,
    applied: Vec<AppliedFault>,
}

/// The handle to inject AWS faults in a running proxy.
#[derive(Clone, Default)]
pub struct AwsFaults(Arc<Mutex<FaultState>>);

impl AwsFaults {
    pub fn inject(&self, fault: AwsFault) {
        lock(&self.0).injected.push((fault, 0));
    }

    /// Stops every injected and random fault (the record of applied ones stays).
    pub fn clear(&self) {
        let mut state = lock(&self.0);
        state.injected.clear();
        state.random = None;
    }

    /// Starts (or with `None` stops) random faults; the generator starts from the seed.
    pub fn set_random(&self, random: Option<RandomFaults>) {
        lock(&self.0).random = random.map(|r| {
            let rng = StdRng::seed_from_u64(r.seed);
            (r, rng)
        });
    }

    /// Every fault applied so far, in order.
    pub fn applied(&self) -> Vec<AppliedFault> {
        lock(&self.0).applied.clone()
    }

    /// How many faults of each kind were applied.
    pub fn applied_by_kind(&self) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for f in &lock(&self.0).applied {
            *out.entry(f.kind.name().to_owned()).or_default() += 1;
        }
        out
    }

    /// Calls seen so far.
    pub fn calls(&self) -> u64 {
        lock(&self.0).calls
    }

    /// The fault for this call, if any: injected ones first, in the order given.
    fn decide(&self, call: &Call) -> Option<AwsFaultKind> {
        let mut state = lock(&self.0);
        let index = state.calls;
        state.calls += 1;
        let mut chosen = None;
        for (fault, seen) in state.injected.iter_mut() {
            if !fault.matches(call) {
                continue;
            }
            *seen += 1;
            let nth = *seen - 1;
            let within = nth >= fault.after && fault.times.is_none_or(|t| nth - fault.after < t);
            if within && chosen.is_none() {
                chosen = Some((fault.kind, false));
            }
        }
        if chosen.is_none() {
            if let Some((random, rng)) = state.random.as_mut() {
                let eligible = random.services.is_empty()
                    || random
                        .services
                        .iter()
                        .any(|s| s.eq_ignore_ascii_case(&call.service));
                // One draw per eligible call, hit or not, so indices replay with the seed.
                if eligible && rng.random::<f64>() < random.rate {
                    let total: u32 = random.mix.iter().map(|(_, w)| w).sum();
                    let mut pick = rng.random_range(0..total.max(1));
                    for (kind, weight) in &random.mix {
                        if pick < *weight {
                            chosen = Some((*kind, true));
                            break;
                        }
                        pick -= weight;
                    }
                }
            }
        }
        let (kind, random) = chosen?;
        tracing::info!(
            call = index,
            operation = %call.name(),
            kind = kind.name(),
            random,
            "AWS fault injected"
        );
        state.applied.push(AppliedFault {
            call: index,
            operation: call.name(),
            kind,
            random,
        });
        Some(kind)
    }
}

/// A call's service and operation.
struct Call {
    service: String,
    operation: String,
}

impl Call {
    fn name(&self) -> String {
        format!("{}.{}", self.service, self.operation)
    }

    fn of(request: &Request) -> Self {
        let headers = request.headers();
        if let Some(target) = headers.get("x-amz-target").and_then(|v| v.to_str().ok()) {
            let (service, op) = target.split_once('.').unwrap_or((target, ""));
            let service = match service {
                s if s.starts_with("DynamoDB") => "DynamoDB",
                "TrentService" => "KMS",
                "AmazonSQS" => "SQS",
                other => other,
            };
            return Self {
                service: service.into(),
                operation: op.into(),
            };
        }
        // REST services (Scheduler): the service from the SigV4 scope, the operation from the
        // method and the path.
        let service = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|a| a.split("Credential=").nth(1))
            .and_then(|c| c.split('/').nth(3))
            .unwrap_or("unknown")
            .to_owned();
        let path = request.uri().path();
        let mut segments = path.trim_start_matches('/').split('/');
        let (collection, named) = (segments.next().unwrap_or(""), segments.next().is_some());
        let method = request.method().as_str();
        let operation = match (service.as_str(), collection, named, method) {
            ("scheduler", "schedules", true, "POST") => "CreateSchedule".into(),
            ("scheduler", "schedules", true, "PUT") => "UpdateSchedule".into(),
            ("scheduler", "schedules", true, "GET") => "GetSchedule".into(),
            ("scheduler", "schedules", true, "DELETE") => "DeleteSchedule".into(),
            ("scheduler", "schedules", false, "GET") => "ListSchedules".into(),
            ("scheduler", "schedule-groups", true, "POST") => "CreateScheduleGroup".into(),
            ("scheduler", "schedule-groups", true, "GET") => "GetScheduleGroup".into(),
            ("scheduler", "schedule-groups", true, "DELETE") => "DeleteScheduleGroup".into(),
            ("scheduler", "schedule-groups", false, "GET") => "ListScheduleGroups".into(),
            _ => format!("{method} {path}"),
        };
        Self { service, operation }
    }
}

/// The service's throttling answer, shaped so the Rust SDK reads the code its retry
/// classifier knows (aws-runtime's THROTTLING_ERRORS).
fn throttled(service: &str) -> Response {
    let (status, content_type, body, extra) = match service {
        "DynamoDB" => (
            400,
            "application/x-amz-json-1.0",
            r#"{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"Rate exceeded"}"#,
            None,
        ),
        "KMS" => (
            400,
            "application/x-amz-json-1.1",
            r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#,
            None,
        ),
        // SQS's JSON protocol is query-compatible: the SDK takes the code from this header.
        "SQS" => (
            400,
            "application/x-amz-json-1.0",
            r#"{"__type":"com.amazonaws.sqs#RequestThrottled","message":"Rate exceeded"}"#,
            Some(("x-amzn-query-error", "RequestThrottled;Sender")),
        ),
        _ => (
            429,
            "application/json",
            r#"{"message":"Rate exceeded"}"#,
            Some(("x-amzn-errortype", "ThrottlingException")),
        ),
    };
    error_response(status, content_type, body, extra)
}

fn server_error(service: &str) -> Response {
    let (content_type, body, extra) = match service {
        "DynamoDB" => (
            "application/x-amz-json-1.0",
            r#"{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"Internal server error"}"#,
            None,
        ),
        "KMS" => (
            "application/x-amz-json-1.1",
            r#"{"__type":"KMSInternalException","message":"Internal error"}"#,
            None,
        ),
        "SQS" => (
            "application/x-amz-json-1.0",
            r#"{"__type":"com.amazonaws.sqs#InternalError","message":"Internal error"}"#,
            Some(("x-amzn-query-error", "InternalError;Receiver")),
        ),
        _ => (
            "application/json",
            r#"{"message":"Internal server error"}"#,
            Some(("x-amzn-errortype", "InternalServerException")),
        ),
    };
    error_response(500, content_type, body, extra)
}

/// IAM's refusal, naming the role, the account and the resource, as AWS does.
fn access_denied(call: &Call) -> Response {
    let account = ACCESS_DENIED_ACCOUNT;
    let (content_type, action, resource) = match call.service.as_str() {
        "DynamoDB" => (
            "application/x-amz-json-1.0",
            "dynamodb",
            format!("arn:aws:dynamodb:us-east-1:{account}:table/linkedin-connector"),
        ),
        "KMS" => (
            "application/x-amz-json-1.1",
            "kms",
            format!("arn:aws:kms:us-east-1:{account}:key/1234abcd-12ab-34cd-56ef-1234567890ab"),
        ),
        _ => (
            "application/json",
            "service",
            format!("arn:aws:sqs:us-east-1:{account}:linkedin-connector-publish"),
        ),
    };
    let message = format!(
        "User: arn:aws:sts::{account}:assumed-role/linkedin-connector-PublisherRole/publisher is not authorized to perform: {action}:{} on resource: {resource} because no identity-based policy allows the {action}:{} action",
        call.operation, call.operation
    );
    let body = serde_json::json!({ "__type": "AccessDeniedException", "message": message });
    error_response(
        400,
        content_type,
        body.to_string(),
        Some(("x-amzn-errortype", "AccessDeniedException")),
    )
}

fn error_response(
    status: u16,
    content_type: &str,
    body: impl Into<Body>,
    extra: Option<(&str, &str)>,
) -> Response {
    let mut response = Response::builder()
        .status(status)
        .header("content-type", content_type)
        .header("x-amzn-requestid", uuid::Uuid::new_v4().to_string());
    if let Some((name, value)) = extra {
        response = response.header(name, value);
    }
    response.body(body.into()).expect("response")
}

#[derive(Clone)]
struct Proxy {
    counter: Counter,
    faults: AwsFaults,
    sqs_wait_cap: SqsWaitCap,
    target: String,
    http: reqwest::Client,
    /// Held while a DynamoDB call is inside moto (see the module's docs).
    dynamodb: Arc<tokio::sync::Mutex<()>>,
}

async fn handle(State(proxy): State<Proxy>, request: Request) -> Response {
    let call = Call::of(&request);
    *lock(&proxy.counter.0).entry(call.name()).or_default() += 1;
    let killer = request
        .extensions()
        .get::<linkedin_simulator::serve::ConnectionKiller>()
        .cloned();
    let drop_connection = || async {
        match killer.clone() {
            Some(k) => k.drop_connection().await,
            None => std::future::pending().await,
        }
    };
    match proxy.faults.decide(&call) {
        None => forward(&proxy, &call, request).await,
        Some(AwsFaultKind::Throttle) => throttled(&call.service),
        Some(AwsFaultKind::ServerError) => server_error(&call.service),
        Some(AwsFaultKind::AccessDenied) => access_denied(&call),
        Some(AwsFaultKind::Slow(delay)) => {
            tokio::time::sleep(delay).await;
            forward(&proxy, &call, request).await
        }
        Some(AwsFaultKind::DropBeforeApply) => drop_connection().await,
        Some(AwsFaultKind::DropAfterApply) => {
            let _applied = forward(&proxy, &call, request).await;
            drop_connection().await
        }
    }
}

async fn forward(proxy: &Proxy, call: &Call, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let mut body = to_bytes(body, 64 * 1024 * 1024).await.unwrap_or_default();
    if call.service == "SQS" && call.operation == "ChangeMessageVisibility" {
        if let Some(cap) = proxy.sqs_wait_cap.get() {
            body = cap_visibility(&body, cap).into();
        }
    }
    let url = format!(
        "{}{}",
        proxy.target,
        parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
    );
    let mut outbound = proxy.http.request(parts.method.clone(), url).body(body);
    for (name, value) in &parts.headers {
        // reqwest sets the length of the body it sends (which a capped wait may change).
        if name != "host" && name != "content-length" {
            outbound = outbound.header(name, value);
        }
    }
    let _serialized = if call.service == "DynamoDB" {
        Some(proxy.dynamodb.lock().await)
    } else {
        None
    };
    let answer = match outbound.send().await {
        Ok(r) => r,
        Err(e) => {
            return Response::builder()
                .status(502)
                .body(Body::from(e.to_string()))
                .expect("response")
        }
    };
    let mut response = Response::builder().status(answer.status().as_u16());
    for (name, value) in answer.headers() {
        if name != "transfer-encoding" && name != "content-length" {
            response = response.header(name, value);
        }
    }
    response
        .body(Body::from(answer.bytes().await.unwrap_or_default()))
        .expect("response")
}

/// SQS waits (ChangeMessageVisibility) run on the wall clock, which the local stack cannot
/// advance; a run that advances its clock can shorten them to at most this long, as if the
/// time had passed.
#[derive(Clone, Default)]
pub struct SqsWaitCap(Arc<Mutex<Option<Duration>>>);

impl SqsWaitCap {
    pub fn set(&self, cap: Option<Duration>) {
        *lock(&self.0) = cap;
    }
    fn get(&self) -> Option<Duration> {
        *lock(&self.0)
    }
}

/// The SQS JSON request with its VisibilityTimeout at most `cap` (seconds).
fn cap_visibility(body: &[u8], cap: Duration) -> Vec<u8> {
    let Ok(mut json) = serde_json::from_slice::<serde_json::Value>(body) else {
        return body.to_vec();
    };
    let cap = cap.as_secs();
    if let Some(v) = json.get_mut("VisibilityTimeout") {
        if v.as_u64().is_some_and(|t| t > cap) {
            *v = cap.into();
        }
    }
    serde_json::to_vec(&json).unwrap_or_else(|_| body.to_vec())
}

/// A running proxy.
#[derive(Clone)]
pub struct AwsProxy {
    /// Point the SDK here.
    pub url: String,
    pub counter: Counter,
    pub faults: AwsFaults,
    pub sqs_wait_cap: SqsWaitCap,
}

/// Starts the proxy in front of `target` (moto's endpoint). It runs until the process ends.
pub async fn start(target: &str) -> std::io::Result<AwsProxy> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let (counter, faults) = (Counter::default(), AwsFaults::default());
    let sqs_wait_cap = SqsWaitCap::default();
    let app = axum::Router::new().fallback(handle).with_state(Proxy {
        counter: counter.clone(),
        faults: faults.clone(),
        sqs_wait_cap: sqs_wait_cap.clone(),
        target: target.trim_end_matches('/').to_owned(),
        http: reqwest::Client::new(),
        dynamodb: Default::default(),
    });
    linkedin_simulator::serve::spawn(listener, app);
    Ok(AwsProxy {
        url,
        counter,
        faults,
        sqs_wait_cap,
    })
}

/// Totals by service ("DynamoDB", "KMS", …) of counts by operation.
pub fn by_service(counts: &BTreeMap<String, usize>) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for (op, n) in counts {
        *out.entry(op.split('.').next().unwrap_or("?").to_owned())
            .or_default() += n;
    }
    out
}
