//! A stand-in for a tenant's image host: a real PNG, an oversized one, a page that is not an
//! image, a missing one, a failing one and a redirect.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use base64::Engine;
use tokio::net::TcpListener;
use url::Url;

/// A 1×1 PNG.
pub const PIXEL_PNG: &str =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=";

pub fn pixel() -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(PIXEL_PNG)
        .expect("valid base64")
}

pub struct Cdn {
    pub base_url: Url,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Cdn {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Cdn {
    pub async fn start(addr: std::net::SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let base_url = Url::parse(&format!("http://{}", listener.local_addr()?)).expect("URL");
        let app = Router::new()
            .route("/img/{name}", get(|| async { png(pixel()) }))
            .route(
                "/big.png",
                get(|| async {
                    let mut bytes = pixel();
                    bytes.resize(2 * 1024 * 1024, 0);
                    png(bytes)
                }),
            )
            .route(
                "/page.html",
                get(|| async {
                    ([("content-type", "image/png")], "<html>not an image</html>").into_response()
                }),
            )
            .route(
                "/flaky.png",
                get(|| async { StatusCode::SERVICE_UNAVAILABLE.into_response() }),
            )
            .route(
                "/moved.png",
                get(|| async { Redirect::temporary("/img/a.png").into_response() }),
            );
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { base_url, server })
    }

    pub fn url(&self, path: &str) -> Url {
        self.base_url.join(path).expect("path")
    }
}

fn png(bytes: Vec<u8>) -> Response {
    ([("content-type", "image/png")], bytes).into_response()
}
