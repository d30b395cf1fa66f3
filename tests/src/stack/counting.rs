//! A counting proxy in front of the AWS emulator: every AWS call the product makes passes
//! through it and is counted by service and operation, so tests and benchmarks can report
//! AWS calls per operation instead of timings.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::response::Response;

/// Counts AWS calls per service and operation on their way to moto.
#[derive(Clone, Default)]
pub struct Counter(Arc<Mutex<BTreeMap<String, usize>>>);

impl Counter {
    /// The counts so far, resetting them.
    pub fn take(&self) -> BTreeMap<String, usize> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

#[derive(Clone)]
struct Proxy {
    counter: Counter,
    target: String,
    http: reqwest::Client,
}

fn operation(request: &Request) -> String {
    let headers = request.headers();
    if let Some(target) = headers.get("x-amz-target").and_then(|v| v.to_str().ok()) {
        let (service, op) = target.split_once('.').unwrap_or((target, ""));
        let service = match service {
            s if s.starts_with("DynamoDB") => "DynamoDB",
            "TrentService" => "KMS",
            "AmazonSQS" => "SQS",
            other => other,
        };
        return format!("{service}.{op}");
    }
    // REST services (Scheduler): the service from the SigV4 scope, the operation from the path.
    let scope = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|a| a.split("Credential=").nth(1))
        .and_then(|c| c.split('/').nth(3))
        .unwrap_or("unknown");
    format!("{scope}.{} {}", request.method(), request.uri().path())
}

async fn forward(State(proxy): State<Proxy>, request: Request) -> Response {
    let op = operation(&request);
    *proxy.counter.0.lock().unwrap().entry(op).or_default() += 1;
    let (parts, body) = request.into_parts();
    let body = to_bytes(body, 64 * 1024 * 1024).await.unwrap_or_default();
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
        if name != "host" {
            outbound = outbound.header(name, value);
        }
    }
    match outbound.send().await {
        Ok(r) => {
            let mut response = Response::builder().status(r.status().as_u16());
            for (name, value) in r.headers() {
                if name != "transfer-encoding" && name != "content-length" {
                    response = response.header(name, value);
                }
            }
            response
                .body(Body::from(r.bytes().await.unwrap_or_default()))
                .expect("response")
        }
        Err(e) => Response::builder()
            .status(502)
            .body(Body::from(e.to_string()))
            .expect("response"),
    }
}

/// Starts the proxy in front of `target`; returns its URL and its counter.
pub async fn start(target: &str) -> std::io::Result<(String, Counter)> {
    let counter = Counter::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let app = axum::Router::new().fallback(forward).with_state(Proxy {
        counter: counter.clone(),
        target: target.to_owned(),
        http: reqwest::Client::new(),
    });
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((url, counter))
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
