//! Image fetches ignore the proxies the environment names: a proxy can reach what the SSRF
//! guard refuses. Its own test binary, because it sets process-wide environment variables.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use connector::config::MediaSettings;
use connector::media::{fetch_image, MediaBudget};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use url::Url;

/// A server that answers every request with a small PNG and counts the connections it took.
async fn counting_server() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = [0u8; 2048];
                let _ = socket.read(&mut buf).await;
                let body = b"\x89PNG\r\n\x1a\nimage";
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.write_all(body).await;
            });
        }
    });
    (address, seen)
}

#[tokio::test]
async fn image_fetches_do_not_go_through_the_environments_proxy() {
    let (proxy, through_proxy) = counting_server().await;
    let (host, at_host) = counting_server().await;
    for name in [
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
    ] {
        std::env::set_var(name, format!("http://{proxy}"));
    }
    for name in ["NO_PROXY", "no_proxy"] {
        std::env::remove_var(name);
    }
    let settings = MediaSettings {
        max_bytes: 1024,
        post_max_bytes: 1024,
        post_fetch_budget: Duration::from_secs(5),
        allow_private_hosts: true,
    };
    let mut budget = MediaBudget::for_post(&settings);
    let url = Url::parse(&format!("http://{host}/a.png")).unwrap();
    let image = fetch_image(&url, &settings, &mut budget).await.unwrap();
    assert_eq!(image.content_type, "image/png");
    assert_eq!(at_host.load(Ordering::SeqCst), 1);
    assert_eq!(
        through_proxy.load(Ordering::SeqCst),
        0,
        "the proxy was used"
    );
}
