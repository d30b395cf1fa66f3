//! A stand-in for a tenant's webhook endpoint: records every request it receives (headers and
//! body, to verify the signature as a tenant would) and can be told to answer with a failing
//! status, to take longer than the notifier waits, or to refuse connections, then recover.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use tokio::net::TcpListener;
use url::Url;

/// One request as the receiver got it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Received {
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: String,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map(String::as_str).unwrap_or("")
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }

    /// The headers as the `standardwebhooks` crate reads them.
    pub fn header_map(&self) -> http::HeaderMap {
        let mut map = http::HeaderMap::new();
        for (name, value) in &self.headers {
            if let (Ok(name), Ok(value)) = (
                http::HeaderName::from_bytes(name.as_bytes()),
                http::HeaderValue::from_str(value),
            ) {
                map.insert(name, value);
            }
        }
        map
    }
}

/// How the receiver answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// 204.
    Answer,
    /// This status, at once.
    FailWith(u16),
    /// 200 after this long (longer than the notifier waits: a timeout).
    Stall(Duration),
}

#[derive(Default)]
struct Shared {
    received: Vec<Received>,
    behaviour: Option<Behaviour>,
}

pub struct WebhookReceiver {
    pub addr: SocketAddr,
    shared: Arc<Mutex<Shared>>,
    server: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        if let Some(server) = self.server.lock().expect("receiver lock").take() {
            server.abort();
        }
    }
}

impl WebhookReceiver {
    /// Listens on a free loopback port.
    pub async fn start() -> std::io::Result<Self> {
        Self::start_on("127.0.0.1:0".parse().expect("literal")).await
    }

    /// Listens on `addr` (`make dev`'s receiver has a fixed port for the walkthrough).
    pub async fn start_on(addr: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let receiver = Self {
            addr: listener.local_addr()?,
            shared: Arc::default(),
            server: Mutex::new(None),
        };
        receiver.serve(listener);
        Ok(receiver)
    }

    fn serve(&self, listener: TcpListener) {
        let app = Router::new()
            // What was received, for a person to verify by hand (the walkthrough).
            .route("/received", axum::routing::get(listing))
            .route("/{*path}", post(receive))
            .with_state(self.shared.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        *self.server.lock().expect("receiver lock") = Some(server);
    }

    /// A URL on the receiver (`/hooks/…`).
    pub fn url(&self, path: &str) -> Url {
        Url::parse(&format!("http://{}{path}", self.addr)).expect("a URL")
    }

    pub fn behave(&self, behaviour: Behaviour) {
        self.shared.lock().expect("receiver lock").behaviour = Some(behaviour);
    }

    /// Stops listening: connections are refused until [`WebhookReceiver::recover`].
    pub fn refuse(&self) {
        if let Some(server) = self.server.lock().expect("receiver lock").take() {
            server.abort();
        }
    }

    /// Answers 204 again (listening again on the same port if it was refusing).
    pub async fn recover(&self) {
        self.behave(Behaviour::Answer);
        if self.server.lock().expect("receiver lock").is_some() {
            return;
        }
        // The aborted server's socket may take a moment to be released.
        for _ in 0..50 {
            if let Ok(listener) = TcpListener::bind(self.addr).await {
                self.serve(listener);
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the receiver could not listen on {} again", self.addr);
    }

    /// Everything received so far, oldest first.
    pub fn received(&self) -> Vec<Received> {
        self.shared.lock().expect("receiver lock").received.clone()
    }

    /// Waits until at least `n` requests were received (or panics after `within`).
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Received> {
        let started = std::time::Instant::now();
        loop {
            let received = self.received();
            if received.len() >= n {
                return received;
            }
            assert!(
                started.elapsed() < within,
                "the receiver got {} requests, not {n}, within {within:?}: {received:?}",
                received.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn listing(State(shared): State<Arc<Mutex<Shared>>>) -> axum::Json<Vec<Received>> {
    axum::Json(shared.lock().expect("receiver lock").received.clone())
}

async fn receive(
    State(shared): State<Arc<Mutex<Shared>>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let behaviour = {
        let mut shared = shared.lock().expect("receiver lock");
        shared.received.push(Received {
            path: uri.path().to_owned(),
            headers: headers
                .iter()
                .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
                .collect(),
            body: String::from_utf8_lossy(&body).into_owned(),
        });
        tracing::info!(
            path = uri.path(),
            webhook_id = headers.get("webhook-id").and_then(|v| v.to_str().ok()),
            "webhook receiver: request received"
        );
        shared.behaviour.unwrap_or(Behaviour::Answer)
    };
    match behaviour {
        Behaviour::Answer => StatusCode::NO_CONTENT,
        Behaviour::FailWith(status) => {
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
        }
        Behaviour::Stall(wait) => {
            tokio::time::sleep(wait).await;
            StatusCode::OK
        }
    }
}
