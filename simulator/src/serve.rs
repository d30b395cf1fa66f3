//! Serving an axum router with a way for a request's handler to close its connection without
//! answering, as a network failure would. `axum::serve` has no such way short of a panic, and a
//! panic aborts a release build (`panic = "abort"`), so the simulator (and the local stack's
//! AWS proxy) runs its own accept loop: each connection is served by hyper inside a task that
//! drops it (closing the socket, no response written) when the request's [`ConnectionKiller`]
//! fires.

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use axum::Router;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tower::ServiceExt;

/// Closes the connection the request came on; in every request's extensions.
#[derive(Clone)]
pub struct ConnectionKiller(Arc<Notify>);

impl ConnectionKiller {
    /// Closes the connection without a response; never returns (the handler's future is
    /// dropped with the connection).
    pub async fn drop_connection(&self) -> Response {
        self.0.notify_one();
        std::future::pending().await
    }
}

/// Closes the request's connection without answering (see [`ConnectionKiller`]).
pub async fn drop_connection_of(request: &Request) -> Response {
    match request.extensions().get::<ConnectionKiller>().cloned() {
        Some(killer) => killer.drop_connection().await,
        // Not served by [`spawn`]: nothing to close, so never answer at all.
        None => std::future::pending().await,
    }
}

/// Serves `app` on `listener` until the task is aborted.
pub fn spawn(listener: TcpListener, app: Router) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let app = app.clone();
            tokio::spawn(async move {
                let kill = Arc::new(Notify::new());
                let killer = ConnectionKiller(kill.clone());
                let service = hyper::service::service_fn(
                    move |mut request: hyper::Request<hyper::body::Incoming>| {
                        request.extensions_mut().insert(killer.clone());
                        let app = app.clone();
                        async move {
                            let response = app.oneshot(request.map(Body::new)).await;
                            Ok::<_, Infallible>(response.unwrap_or_else(|never| match never {}))
                        }
                    },
                );
                let connection = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service);
                tokio::select! {
                    _ = connection => {}
                    // Dropping the connection closes the socket with nothing written.
                    _ = kill.notified() => {}
                }
            });
        }
    })
}
