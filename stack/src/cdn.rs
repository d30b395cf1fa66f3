//! A stand-in for a tenant's image host: a real PNG, an oversized one, a page that is not an
//! image, a missing one, a failing one and a redirect; and web pages for link cards.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;
use url::Url;

/// A 1×1 PNG.
const PIXEL_PNG: [u8; 68] = [
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x04, 0x00, 0x00, 0x00, 0xb5, 0x1c, 0x0c,
    0x02, 0x00, 0x00, 0x00, 0x0b, 0x49, 0x44, 0x41, 0x54, 0x78, 0xda, 0x63, 0x64, 0x60, 0x00, 0x00,
    0x00, 0x06, 0x00, 0x02, 0x30, 0x81, 0xd0, 0x2f, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44,
    0xae, 0x42, 0x60, 0x82,
];

pub fn pixel() -> Vec<u8> {
    PIXEL_PNG.to_vec()
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
            // An image host that takes its time: `/slow/{ms}/{name}` answers after `ms`.
            .route(
                "/slow/{ms}/{name}",
                get(
                    |axum::extract::Path((ms, _name)): axum::extract::Path<(u64, String)>| async move {
                        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
                        png(pixel())
                    },
                ),
            )
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
            )
            .merge(pages());
        let app = app.merge(large_files());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { base_url, server })
    }

    pub fn url(&self, path: &str) -> Url {
        self.base_url.join(path).expect("path")
    }
}

/// Web pages for link cards: one with Open Graph tags (its image relative to the page), one
/// reached through a redirect, one whose og:image is not an image, and one with no title of
/// any kind.
fn pages() -> Router {
    let html = |body: &'static str| ([("content-type", "text/html; charset=utf-8")], body);
    Router::new()
        .route(
            "/pages/launch.html",
            get(move || async move {
                html(concat!(
                    "<!doctype html><html><head><title>Fallback title</title>",
                    "<meta property=\"og:title\" content=\"Launch day &amp; what&#39;s next\">",
                    "<meta content='Everything we shipped this week' property='og:description'>",
                    "<meta property=\"og:image\" content=\"/img/card.png\">",
                    "</head><body><p>The story.</p></body></html>"
                ))
            }),
        )
        .route(
            "/pages/moved",
            get(|| async { Redirect::temporary("/pages/launch.html").into_response() }),
        )
        .route(
            "/pages/broken-image.html",
            get(move || async move {
                html(concat!(
                    "<html><head><meta property=\"og:title\" content=\"A card whose image is not one\">",
                    "<meta property=\"og:image\" content=\"/page.html\"></head></html>"
                ))
            }),
        )
        .route(
            "/pages/untitled.html",
            get(move || async move {
                html(concat!(
                    "<!doctype html><html><head>",
                    "<meta property=\"og:description\" content=\"A page without a title\">",
                    "</head><body><h1>Not a title element</h1></body></html>"
                ))
            }),
        )
}

fn png(bytes: Vec<u8>) -> Response {
    ([("content-type", "image/png")], bytes).into_response()
}

// Large files, generated as they are sent (documents and videos): nothing is held whole, so a
// 500 MB video costs the stand-in host nothing either.

/// The first bytes of each generated kind: a PDF header, an MP4's `ftyp` box.
fn header_of(kind: &str) -> Option<&'static [u8]> {
    match kind {
        "pdf" => Some(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"),
        "mp4" => Some(b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41"),
        "html" => Some(b"<html><body>not a document</body></html>\n"),
        _ => None,
    }
}

/// `bytes` bytes starting with `kind`'s header, streamed in 64 KiB chunks.
fn generated(kind: &str, bytes: u64) -> Option<axum::body::Body> {
    const CHUNK: u64 = 64 * 1024;
    let header = header_of(kind)?;
    let chunks = futures::stream::unfold(0u64, move |sent| async move {
        if sent >= bytes {
            return None;
        }
        let n = CHUNK.min(bytes - sent);
        let mut chunk = vec![0u8; n as usize];
        if sent == 0 {
            let h = header.len().min(chunk.len());
            chunk[..h].copy_from_slice(&header[..h]);
        }
        Some((Ok::<_, std::io::Error>(chunk), sent + n))
    });
    Some(axum::body::Body::from_stream(chunks))
}

/// `/gen/{kind}/{bytes}` (`pdf`, `mp4`, `html`) with its Content-Length;
/// `/gen-unsized/{kind}/{bytes}` the same without one (chunked); `/gen-short/{kind}/{bytes}`
/// announces `bytes` and sends half; `/captions.srt` a captions file.
fn large_files() -> Router {
    use axum::extract::Path;
    Router::new()
        .route(
            "/gen/{kind}/{bytes}",
            get(|Path((kind, bytes)): Path<(String, u64)>| async move {
                match generated(&kind, bytes) {
                    Some(body) => Response::builder()
                        .header("content-type", "application/octet-stream")
                        .header("content-length", bytes)
                        .body(body)
                        .expect("response"),
                    None => StatusCode::NOT_FOUND.into_response(),
                }
            }),
        )
        .route(
            "/gen-unsized/{kind}/{bytes}",
            get(|Path((kind, bytes)): Path<(String, u64)>| async move {
                match generated(&kind, bytes) {
                    Some(body) => Response::builder()
                        .header("content-type", "application/octet-stream")
                        .body(body)
                        .expect("response"),
                    None => StatusCode::NOT_FOUND.into_response(),
                }
            }),
        )
        .route(
            "/gen-short/{kind}/{bytes}",
            get(|Path((kind, bytes)): Path<(String, u64)>| async move {
                match generated(&kind, bytes / 2) {
                    Some(body) => Response::builder()
                        .header("content-length", bytes)
                        .body(body)
                        .expect("response"),
                    None => StatusCode::NOT_FOUND.into_response(),
                }
            }),
        )
        .route(
            "/captions.srt",
            get(|| async { "1\n00:00:00,000 --> 00:00:02,000\nHello\n" }),
        )
}
