//! Fetching a tenant's image from its URL, safely: the host must not resolve to a loopback,
//! private, link-local or otherwise internal address (SSRF), the connection goes to the address
//! that was checked (no DNS rebinding), redirects are not followed, the size is capped while
//! streaming, and the type is read from the bytes, not the headers.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use url::Url;

use crate::config::MediaSettings;

#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// The image can never be used (bad address, too big, not an image, 4xx): fail the post.
    #[error("image refused: {0}")]
    Rejected(String),
    /// The image host failed or timed out: retry later.
    #[error("image host unavailable: {0}")]
    Unavailable(String),
}

/// An image ready to upload.
#[derive(Debug)]
pub struct Image {
    pub bytes: Vec<u8>,
    pub content_type: &'static str,
}

/// Addresses no tenant URL may reach.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                // 100.64.0.0/10 (carrier-grade NAT) and 0.0.0.0/8
                || (v4.octets()[0] == 100 && (v4.octets()[1] & 0xC0) == 64)
                || v4.octets()[0] == 0
        }
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                // fc00::/7 unique local, fe80::/10 link local
                || (v6.segments()[0] & 0xFE00) == 0xFC00
                || (v6.segments()[0] & 0xFFC0) == 0xFE80
                || v6.to_ipv4_mapped().is_some_and(|v4| is_internal(IpAddr::V4(v4)))
        }
    }
}

/// The image type, from its first bytes.
pub fn sniff(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some("image/gif")
    } else {
        None
    }
}

/// What one attempt of a post may spend fetching its images, all of them together: bytes and
/// time, on top of the per-image limits, so a post with many large or slow images cannot hold
/// a function (and the other posts of its batch) past its deadline. Images already uploaded
/// are remembered, so the next attempt goes on where this one stopped.
#[derive(Debug, Clone, Copy)]
pub struct MediaBudget {
    pub bytes_left: usize,
    pub until: std::time::Instant,
}

impl MediaBudget {
    pub fn for_post(settings: &MediaSettings) -> Self {
        Self {
            bytes_left: settings.post_max_bytes,
            until: std::time::Instant::now() + settings.post_fetch_budget,
        }
    }

    /// The same budget, ending no later than `limit` from now (the invocation's time).
    pub fn within(mut self, limit: Duration) -> Self {
        self.until = self.until.min(std::time::Instant::now() + limit);
        self
    }

    pub fn time_left(&self) -> Duration {
        self.until
            .saturating_duration_since(std::time::Instant::now())
    }
}

/// The longest one image fetch may take.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(20);

pub async fn fetch_image(
    url: &Url,
    settings: &MediaSettings,
    budget: &mut MediaBudget,
) -> Result<Image, MediaError> {
    let timeout = FETCH_TIMEOUT.min(budget.time_left());
    if timeout.is_zero() {
        return Err(MediaError::Unavailable(
            "the post's time for fetching images is spent; the next attempt goes on".into(),
        ));
    }
    let image = tokio::time::timeout(timeout, fetch_within(url, settings, budget.bytes_left))
        .await
        .map_err(|_| {
            MediaError::Unavailable(format!("fetching {url} took longer than {timeout:?}"))
        })??;
    budget.bytes_left -= image.bytes.len();
    Ok(image)
}

async fn fetch_within(
    url: &Url,
    settings: &MediaSettings,
    bytes_left: usize,
) -> Result<Image, MediaError> {
    let host = url
        .host_str()
        .ok_or_else(|| MediaError::Rejected(format!("{url} has no host")))?;
    let port = url.port_or_known_default().unwrap_or(443);
    let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| MediaError::Unavailable(format!("resolving {host}: {e}")))?
        .collect();
    let address = *addresses
        .first()
        .ok_or_else(|| MediaError::Unavailable(format!("{host} resolves to nothing")))?;
    if !settings.allow_private_hosts && addresses.iter().any(|a| is_internal(a.ip())) {
        return Err(MediaError::Rejected(format!(
            "{host} resolves to an internal address; images must come from public hosts"
        )));
    }
    let client = reqwest::Client::builder()
        .resolve(host, address)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(FETCH_TIMEOUT)
        .connect_timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| MediaError::Unavailable(format!("HTTP client: {e}")))?;
    let mut response = client
        .get(url.clone())
        .send()
        .await
        .map_err(|e| MediaError::Unavailable(format!("fetching {url}: {}", e.without_url())))?;
    let status = response.status();
    if status.is_redirection() {
        return Err(MediaError::Rejected(format!(
            "{url} redirects; give the image's final URL"
        )));
    }
    if status.is_server_error() || status.as_u16() == 408 || status.as_u16() == 429 {
        return Err(MediaError::Unavailable(format!("{url} answered {status}")));
    }
    if !status.is_success() {
        return Err(MediaError::Rejected(format!("{url} answered {status}")));
    }
    let limit = settings.max_bytes.min(bytes_left);
    let too_big = || {
        if limit < settings.max_bytes {
            MediaError::Rejected(format!(
                "{url} goes past the {} bytes one post's images may have together",
                settings.post_max_bytes
            ))
        } else {
            MediaError::Rejected(format!("{url} is larger than {} bytes", settings.max_bytes))
        }
    };
    if response
        .content_length()
        .is_some_and(|n| n as usize > limit)
    {
        return Err(too_big());
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| MediaError::Unavailable(format!("reading {url}: {}", e.without_url())))?
    {
        if bytes.len() + chunk.len() > limit {
            return Err(too_big());
        }
        bytes.extend_from_slice(&chunk);
    }
    let content_type = sniff(&bytes)
        .ok_or_else(|| MediaError::Rejected(format!("{url} is not a JPEG, PNG or GIF image")))?;
    Ok(Image {
        bytes,
        content_type,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_recognised() {
        for internal in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(is_internal(internal.parse().unwrap()), "{internal}");
        }
        for public in ["93.184.216.34", "2606:2800:220:1::1", "8.8.8.8"] {
            assert!(!is_internal(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn image_types_are_read_from_the_bytes() {
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\nrest"), Some("image/png"));
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0]), Some("image/jpeg"));
        assert_eq!(sniff(b"GIF89a..."), Some("image/gif"));
        assert_eq!(sniff(b"<html>"), None);
    }

    #[tokio::test]
    async fn a_loopback_url_is_refused_unless_local_configuration_allows_it() {
        let settings = MediaSettings {
            max_bytes: 1024,
            allow_private_hosts: false,
            post_max_bytes: 4096,
            post_fetch_budget: Duration::from_secs(5),
        };
        let mut budget = MediaBudget::for_post(&settings);
        let url = Url::parse("http://127.0.0.1:9/image.png").unwrap();
        assert!(matches!(
            fetch_image(&url, &settings, &mut budget).await,
            Err(MediaError::Rejected(reason)) if reason.contains("internal")
        ));
        let url = Url::parse("http://localhost:9/image.png").unwrap();
        assert!(matches!(
            fetch_image(&url, &settings, &mut budget).await,
            Err(MediaError::Rejected(_))
        ));
    }

    /// A stand-in image host: `/big` is 3 KB, `/slow` answers after 2 s.
    async fn image_host() -> Url {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 2048];
                    let n = socket.read(&mut buf).await.unwrap_or(0);
                    if String::from_utf8_lossy(&buf[..n]).contains("/slow") {
                        tokio::time::sleep(Duration::from_secs(2)).await;
                    }
                    let mut body = b"\x89PNG\r\n\x1a\n".to_vec();
                    body.resize(3000, 0);
                    let head = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: image/png\r\ncontent-length: {}\r\n\r\n",
                        body.len()
                    );
                    let _ = socket.write_all(head.as_bytes()).await;
                    let _ = socket.write_all(&body).await;
                });
            }
        });
        url
    }

    #[tokio::test]
    async fn a_posts_images_share_one_budget_of_bytes_and_time() {
        let host = image_host().await;
        let settings = MediaSettings {
            max_bytes: 4000,
            allow_private_hosts: true,
            post_max_bytes: 5000,
            post_fetch_budget: Duration::from_secs(5),
        };
        let mut budget = MediaBudget::for_post(&settings);
        let big = host.join("big").unwrap();
        assert!(fetch_image(&big, &settings, &mut budget).await.is_ok());
        assert_eq!(budget.bytes_left, 2000);
        // Each image is within the per-image limit; together they are not.
        assert!(matches!(
            fetch_image(&big, &settings, &mut budget).await,
            Err(MediaError::Rejected(reason)) if reason.contains("together")
        ));

        let settings = MediaSettings {
            post_fetch_budget: Duration::from_millis(500),
            ..settings
        };
        let mut budget = MediaBudget::for_post(&settings);
        let slow = host.join("slow").unwrap();
        assert!(matches!(
            fetch_image(&slow, &settings, &mut budget).await,
            Err(MediaError::Unavailable(_))
        ));
        assert!(matches!(
            fetch_image(&big, &settings, &mut budget).await,
            Err(MediaError::Unavailable(reason)) if reason.contains("spent")
        ));
    }
}
