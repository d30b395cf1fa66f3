//! Fetching a tenant's image from its URL, safely: the host must not resolve to a loopback,
//! private, link-local or otherwise internal address (SSRF), the connection goes to the address
//! that was checked (no DNS rebinding), redirects are not followed, the size is capped while
//! streaming, and the type is read from the bytes, not the headers.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use ipnet::IpNet;
use tracing::warn;
use url::{Host, Url};

use crate::config::MediaSettings;

mod stream;
pub use stream::{fetch_captions, open_large, LargeKind, LargeMedia, SourceFailure};

/// Why an image cannot be used. Its text (`Display`) is what the tenant sees, and it is fixed:
/// whether the image's host refused the connection, timed out or answered with an error is
/// never told apart (no port-scan oracle through image URLs), and no URL (whose query may hold
/// a signature) is in it. The detail goes to the log, at warn, with the URL's query stripped.
/// Only what the tenant controls and can fix has a text of its own.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MediaError {
    /// The image can never be used as given: fail the post.
    #[error("{0}")]
    Rejected(MediaRefusal),
    /// The image could not be fetched (refused, timed out, an HTTP error, a redirect, a name
    /// that does not resolve): retry later, with the same text every time.
    #[error("{FETCH_FAILED}")]
    Unavailable,
}

/// The one text for every image that could not be fetched, whatever the reason.
pub const FETCH_FAILED: &str = "the image could not be fetched from its URL: it must answer 200 with the image itself (redirects are not followed) within 20 seconds";

/// What the tenant controls about an image, each with its fixed text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MediaRefusal {
    #[error("the image's host is not allowed: it is not a public internet address")]
    AddressNotAllowed,
    #[error("the image URL is not an absolute http(s) URL with a host")]
    NotAUrl,
    #[error("the image is larger than {0} bytes")]
    TooLarge(usize),
    #[error("the post's images together are larger than {0} bytes")]
    PostTooLarge(usize),
    #[error("the URL's content is not a JPEG, PNG or GIF image")]
    NotAnImage,
    #[error("the document is larger than 104857600 bytes (100 MB)")]
    DocumentTooLarge,
    #[error("the video must be between 76800 bytes (75 KB) and 524288000 bytes (500 MB)")]
    VideoSize,
    #[error("the URL's content is not a PDF, PPT, PPTX, DOC or DOCX document")]
    NotADocument,
    #[error("the URL's content is not an MP4 video")]
    NotAVideo,
    #[error("the document's or video's host must announce its size (Content-Length)")]
    NoLength,
    #[error("the document's or video's host sent a different number of bytes than it announced")]
    LengthMismatch,
    #[error("the video's captions are not an SRT or WebVTT file of at most 1048576 bytes")]
    NotCaptions,
}

/// An image ready to upload.
#[derive(Debug)]
pub struct Image {
    pub bytes: Vec<u8>,
    pub content_type: &'static str,
}

/// The IANA IPv4 and IPv6 Special-Purpose Address Registries (and the multicast, reserved and
/// deprecated site-local blocks): no tenant URL may reach an address in one of these. IPv4-mapped
/// IPv6 (`::ffff:0:0/96`) is decided by the IPv4 address it embeds, in [`is_internal`].
pub const SPECIAL_PURPOSE: &[&str] = &[
    // IPv4
    "0.0.0.0/8",          // "this network"
    "10.0.0.0/8",         // private
    "100.64.0.0/10",      // shared address space (carrier-grade NAT)
    "127.0.0.0/8",        // loopback
    "169.254.0.0/16",     // link local (cloud metadata endpoints live here)
    "172.16.0.0/12",      // private
    "192.0.0.0/24",       // IETF protocol assignments
    "192.0.2.0/24",       // documentation (TEST-NET-1)
    "192.31.196.0/24",    // AS112-v4
    "192.52.193.0/24",    // AMT
    "192.88.99.0/24",     // deprecated 6to4 relay anycast
    "192.168.0.0/16",     // private
    "192.175.48.0/24",    // direct delegation AS112
    "198.18.0.0/15",      // benchmarking
    "198.51.100.0/24",    // documentation (TEST-NET-2)
    "203.0.113.0/24",     // documentation (TEST-NET-3)
    "224.0.0.0/4",        // multicast
    "240.0.0.0/4",        // reserved
    "255.255.255.255/32", // limited broadcast
    // IPv6
    "::/128",            // unspecified
    "::1/128",           // loopback
    "::/96",             // deprecated IPv4-compatible
    "64:ff9b::/96",      // NAT64, well-known prefix
    "64:ff9b:1::/48",    // NAT64, local use
    "100::/64",          // discard only
    "100:0:0:1::/64",    // dummy prefix
    "2001::/23",         // IETF protocol assignments (Teredo 2001::/32 among them)
    "2001:db8::/32",     // documentation
    "2002::/16",         // 6to4
    "2620:4f:8000::/48", // direct delegation AS112
    "3fff::/20",         // documentation
    "5f00::/16",         // segment routing (SRv6) SIDs
    "fc00::/7",          // unique local
    "fe80::/10",         // link local
    "fec0::/10",         // deprecated site local
    "ff00::/8",          // multicast
];

static SPECIAL_PURPOSE_NETS: LazyLock<Vec<IpNet>> = LazyLock::new(|| {
    SPECIAL_PURPOSE
        .iter()
        .map(|cidr| {
            cidr.parse()
                .expect("the special-purpose table holds valid CIDRs")
        })
        .collect()
});

/// Addresses no tenant URL may reach: every special-purpose range, IPv4 and IPv6.
pub fn is_internal(ip: IpAddr) -> bool {
    if let IpAddr::V6(v6) = ip {
        // ::ffff:a.b.c.d is a.b.c.d on a dual-stack socket.
        if let Some(v4) = v6.to_ipv4_mapped() {
            return is_internal(IpAddr::V4(v4));
        }
    }
    SPECIAL_PURPOSE_NETS.iter().any(|net| net.contains(&ip))
}

/// A URL as it may be logged: without its query and fragment, which may hold signatures.
pub fn loggable(url: &Url) -> String {
    let mut url = url.clone();
    url.set_query(None);
    url.set_fragment(None);
    let _ = url.set_password(None);
    let _ = url.set_username("");
    url.to_string()
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
        return Err(unavailable(
            url,
            "the post's time for fetching images is spent; the next attempt goes on",
        ));
    }
    let image = tokio::time::timeout(timeout, fetch_within(url, settings, budget.bytes_left))
        .await
        .map_err(|_| unavailable(url, &format!("no whole answer within {timeout:?}")))??;
    budget.bytes_left -= image.bytes.len();
    Ok(image)
}

/// The one answer for an image that could not be fetched; what happened goes to the log only.
fn unavailable(url: &Url, detail: &str) -> MediaError {
    warn!(
        url = loggable(url).as_str(),
        detail, "image could not be fetched"
    );
    MediaError::Unavailable
}

fn refused(url: &Url, refusal: MediaRefusal) -> MediaError {
    warn!(url = loggable(url).as_str(), refusal = %refusal, "image refused");
    MediaError::Rejected(refusal)
}

/// Why no client could be made for a tenant's URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unguardable {
    /// Never fetchable: not an http(s) URL with a host, or an internal address.
    Refused(MediaRefusal),
    /// Not just now: the name does not resolve, or no client could be built (detail for logs).
    Unreachable(String),
}

/// A client that can fetch `url` and nothing else it might be pointed at: every address the
/// host has is checked (no internal ones, unless `allow_private_hosts` for local runs), the
/// connection goes to the one checked (pinned, so a second lookup cannot hand out another: no
/// DNS rebinding), no proxy from the environment, and redirects are not followed (a caller
/// that follows them checks each hop with a client of its own).
/// One TLS configuration for every guarded client. Built per client, each loaded and parsed the
/// system's root certificates again (rustls-platform-verifier, a few milliseconds per media
/// fetch or webhook delivery). The same stack and checks reqwest builds for itself: rustls on
/// aws-lc-rs, the platform's verifier (`dangerous()` is only rustls's name for bringing one),
/// HTTP/1.1. `None` where the system has no root certificates: the client is then built as
/// before, and its requests say so.
static GUARDED_TLS: LazyLock<Option<rustls::ClientConfig>> = LazyLock::new(|| {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = rustls_platform_verifier::Verifier::new(provider.clone()).ok()?;
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .ok()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Some(config)
});

pub async fn guarded_client(
    url: &Url,
    allow_private_hosts: bool,
) -> Result<reqwest::Client, Unguardable> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Unguardable::Refused(MediaRefusal::NotAUrl));
    }
    let port = url.port_or_known_default().unwrap_or(443);
    let addresses = match url.host() {
        // IPv6 literals come bracketed in URLs and are not names to resolve.
        Some(Host::Ipv4(ip)) => vec![SocketAddr::new(IpAddr::V4(ip), port)],
        Some(Host::Ipv6(ip)) => vec![SocketAddr::new(IpAddr::V6(ip), port)],
        Some(Host::Domain(name)) => match tokio::net::lookup_host((name, port)).await {
            Ok(found) => found.collect(),
            Err(e) => return Err(Unguardable::Unreachable(format!("resolving the host: {e}"))),
        },
        None => return Err(Unguardable::Refused(MediaRefusal::NotAUrl)),
    };
    let Some(&address) = addresses.first() else {
        return Err(Unguardable::Unreachable(
            "the host resolves to nothing".into(),
        ));
    };
    if !allow_private_hosts && addresses.iter().any(|a| is_internal(a.ip())) {
        return Err(Unguardable::Refused(MediaRefusal::AddressNotAllowed));
    }
    let mut client = reqwest::Client::builder()
        // HTTP(S)_PROXY from the environment would send tenants' URLs through a proxy that
        // can reach what the address check refuses.
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(FETCH_TIMEOUT)
        .connect_timeout(Duration::from_secs(5));
    if let Some(Host::Domain(name)) = url.host() {
        client = client.resolve(name, address);
    }
    if let Some(tls) = GUARDED_TLS.as_ref() {
        client = client.tls_backend_preconfigured(tls.clone());
    }
    client
        .build()
        .map_err(|e| Unguardable::Unreachable(format!("HTTP client: {e}")))
}

/// GETs `url` with a [`guarded_client`], answering 2xx. `timeout` bounds the whole request
/// (the client's [`FETCH_TIMEOUT`] unless given: a large file's transfer takes longer, bounded
/// by its caller's deadline and an idle timeout between reads instead).
pub(crate) async fn open_guarded(
    url: &Url,
    settings: &MediaSettings,
    timeout: Option<Duration>,
) -> Result<reqwest::Response, MediaError> {
    let client = match guarded_client(url, settings.allow_private_hosts).await {
        Ok(client) => client,
        Err(Unguardable::Refused(refusal)) => return Err(refused(url, refusal)),
        Err(Unguardable::Unreachable(detail)) => return Err(unavailable(url, &detail)),
    };
    let response = client
        .get(url.clone())
        .timeout(timeout.unwrap_or(FETCH_TIMEOUT))
        .send()
        .await
        .map_err(|e| unavailable(url, &e.without_url().to_string()))?;
    let status = response.status();
    if !status.is_success() {
        // A redirect, a 404 and a 503 look alike to the tenant: each says the host answered.
        return Err(unavailable(url, &format!("answered {status}")));
    }
    Ok(response)
}

async fn fetch_within(
    url: &Url,
    settings: &MediaSettings,
    bytes_left: usize,
) -> Result<Image, MediaError> {
    let mut response = open_guarded(url, settings, Some(FETCH_TIMEOUT)).await?;
    let limit = settings.max_bytes.min(bytes_left);
    let too_big = || {
        if limit < settings.max_bytes {
            refused(url, MediaRefusal::PostTooLarge(settings.post_max_bytes))
        } else {
            refused(url, MediaRefusal::TooLarge(settings.max_bytes))
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
        .map_err(|e| unavailable(url, &format!("reading: {}", e.without_url())))?
    {
        if bytes.len() + chunk.len() > limit {
            return Err(too_big());
        }
        bytes.extend_from_slice(&chunk);
    }
    let content_type = sniff(&bytes).ok_or_else(|| refused(url, MediaRefusal::NotAnImage))?;
    Ok(Image {
        bytes,
        content_type,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    /// Guarded clients share one TLS configuration (the system's roots loaded once), and
    /// reqwest takes it: a configuration of another rustls version than reqwest's would make
    /// every build fail ("unknown TLS backend").
    #[tokio::test]
    async fn guarded_clients_share_one_tls_configuration_that_reqwest_accepts() {
        assert!(GUARDED_TLS.is_some(), "this machine has root certificates");
        let url = Url::parse("https://192.0.2.7/image.png").unwrap();
        for _ in 0..2 {
            guarded_client(&url, true)
                .await
                .expect("built with the shared configuration");
        }
    }

    /// The first, a middle and the last address of `net`, and its neighbours just outside.
    fn probes(net: &IpNet) -> (Vec<IpAddr>, Vec<IpAddr>) {
        match net {
            IpNet::V4(n) => {
                let (first, last) = (u32::from(n.network()), u32::from(n.broadcast()));
                let at = |x: u32| IpAddr::V4(Ipv4Addr::from(x));
                let inside = vec![at(first), at(first + (last - first) / 2), at(last)];
                let outside = [first.checked_sub(1), last.checked_add(1)]
                    .into_iter()
                    .flatten()
                    .map(at)
                    .collect();
                (inside, outside)
            }
            IpNet::V6(n) => {
                let (first, last) = (u128::from(n.network()), u128::from(n.broadcast()));
                let at = |x: u128| IpAddr::V6(Ipv6Addr::from(x));
                let inside = vec![at(first), at(first + (last - first) / 2), at(last)];
                let outside = [first.checked_sub(1), last.checked_add(1)]
                    .into_iter()
                    .flatten()
                    .map(at)
                    .collect();
                (inside, outside)
            }
        }
    }

    /// One row per special-purpose range: its first, middle and last address are refused;
    /// the addresses just outside it are refused only if another row covers them. So a prefix
    /// length off by one either way fails a row.
    #[test]
    fn every_special_purpose_range_is_refused_to_its_exact_bounds() {
        for cidr in SPECIAL_PURPOSE {
            let net: IpNet = cidr.parse().unwrap();
            let (inside, outside) = probes(&net);
            for ip in inside {
                assert!(is_internal(ip), "{ip} is in {cidr} and must be refused");
            }
            for ip in outside {
                let elsewhere = SPECIAL_PURPOSE
                    .iter()
                    .filter(|other| *other != cidr)
                    .any(|other| other.parse::<IpNet>().unwrap().contains(&ip));
                assert_eq!(
                    is_internal(ip),
                    elsewhere,
                    "{ip}, just outside {cidr}, is refused only if another range covers it"
                );
            }
        }
    }

    #[test]
    fn the_table_covers_the_ranges_the_issue_names() {
        for must in [
            "64:ff9b::/96",
            "64:ff9b:1::/48",
            "2002::/16",
            "2001::/23",
            "fec0::/10",
            "198.18.0.0/15",
            "240.0.0.0/4",
            "::/96",
            "169.254.0.0/16",
            "100.64.0.0/10",
        ] {
            assert!(SPECIAL_PURPOSE.contains(&must), "{must}");
        }
        // Teredo 2001::/32 lies inside 2001::/23.
        assert!(is_internal(
            "2001:0:4136:e378:8000:63bf:3fff:fdd2".parse().unwrap()
        ));
    }

    #[test]
    fn ipv4_mapped_addresses_are_decided_by_the_address_they_embed() {
        for internal in [
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
        ] {
            assert!(is_internal(internal.parse().unwrap()), "{internal}");
        }
        assert!(!is_internal("::ffff:8.8.8.8".parse().unwrap()));
        // NAT64 and IPv4-compatible forms are refused whatever they embed.
        for refused in ["64:ff9b::808:808", "::8.8.8.8", "2002:808:808::1"] {
            assert!(is_internal(refused.parse().unwrap()), "{refused}");
        }
    }

    #[test]
    fn public_addresses_are_allowed() {
        for public in [
            "93.184.216.34",
            "8.8.8.8",
            "1.1.1.1",
            "9.255.255.255",
            "11.0.0.0",
            "2606:2800:220:1::1",
            "2606:4700::1",
            "2a00:1450:4001:80b::200e",
        ] {
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

    fn guarded() -> MediaSettings {
        MediaSettings {
            max_bytes: 1024,
            allow_private_hosts: false,
            post_max_bytes: 4096,
            post_fetch_budget: Duration::from_secs(5),
        }
    }

    async fn fetch(url: &str, settings: &MediaSettings) -> Result<Image, MediaError> {
        let mut budget = MediaBudget::for_post(settings);
        fetch_image(&Url::parse(url).unwrap(), settings, &mut budget).await
    }

    #[tokio::test]
    async fn internal_hosts_are_refused_unless_local_configuration_allows_it() {
        let settings = guarded();
        let refused = Err(MediaError::Rejected(MediaRefusal::AddressNotAllowed));
        for url in [
            "http://127.0.0.1:9/image.png",
            "http://localhost:9/image.png",
            // IPv6 literals are addresses, not names to look up.
            "http://[::1]:9/image.png",
            "http://[::ffff:127.0.0.1]:9/image.png",
            "http://[64:ff9b::a9fe:a9fe]/image.png",
            "http://[fd00::1]/image.png",
            "http://169.254.169.254/latest/meta-data/",
        ] {
            assert_eq!(
                fetch(url, &settings).await.map(|_| ()),
                refused.clone(),
                "{url}"
            );
        }
        assert_eq!(
            fetch("ftp://example.com/a.png", &settings)
                .await
                .map(|_| ()),
            Err(MediaError::Rejected(MediaRefusal::NotAUrl))
        );
    }

    /// A stand-in image host: `/big` is 3 KB, `/slow` answers after 2 s, `/missing` is a 404,
    /// `/moved` a redirect, `/page` HTML.
    async fn image_host(bind: &str) -> Url {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind(bind).await.unwrap();
        let url = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 2048];
                    let n = socket.read(&mut buf).await.unwrap_or(0);
                    let request = String::from_utf8_lossy(&buf[..n]).to_string();
                    if request.contains("/slow") {
                        tokio::time::sleep(Duration::from_secs(2)).await;
                    }
                    let (status, mut body) = if request.contains("/missing") {
                        ("404 Not Found", b"no such image".to_vec())
                    } else if request.contains("/moved") {
                        ("302 Found\r\nlocation: http://127.0.0.1:9/", Vec::new())
                    } else if request.contains("/page") {
                        ("200 OK", b"<html>not an image</html>".to_vec())
                    } else {
                        ("200 OK", b"\x89PNG\r\n\x1a\n".to_vec())
                    };
                    if status.starts_with("200") && body.starts_with(b"\x89PNG") {
                        body.resize(3000, 0);
                    }
                    let head = format!(
                        "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
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
    async fn ipv6_literals_are_fetched_from_the_literal_address() {
        let Ok(probe) = std::net::TcpListener::bind("[::1]:0") else {
            eprintln!("no IPv6 loopback on this machine; skipping");
            return;
        };
        drop(probe);
        let host = image_host("[::1]:0").await;
        assert_eq!(host.host(), Some(Host::Ipv6(Ipv6Addr::LOCALHOST)));
        let settings = MediaSettings {
            max_bytes: 4000,
            allow_private_hosts: true,
            ..guarded()
        };
        let image = fetch(host.join("a.png").unwrap().as_str(), &settings)
            .await
            .unwrap();
        assert_eq!(image.content_type, "image/png");
    }

    /// Refused, timed out, 404, a redirect: the tenant reads one text, without the query. Only
    /// what the tenant can fix has a text of its own.
    #[tokio::test]
    async fn a_host_that_refused_timed_out_or_answered_an_error_reads_the_same() {
        let host = image_host("127.0.0.1:0").await;
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let closed_port = closed.local_addr().unwrap().port();
        drop(closed);
        let settings = MediaSettings {
            max_bytes: 4000,
            allow_private_hosts: true,
            post_max_bytes: 8000,
            post_fetch_budget: Duration::from_millis(700),
        };
        let secret = "sig=SECRET-SIGNATURE";
        let urls = [
            format!("http://127.0.0.1:{closed_port}/a.png?{secret}"),
            host.join(&format!("slow.png?{secret}"))
                .unwrap()
                .to_string(),
            host.join(&format!("missing.png?{secret}"))
                .unwrap()
                .to_string(),
            host.join(&format!("moved.png?{secret}"))
                .unwrap()
                .to_string(),
            format!("http://does-not-resolve.invalid/a.png?{secret}"),
        ];
        for url in &urls {
            let error = fetch(url, &settings).await.map(|_| ()).unwrap_err();
            assert_eq!(error, MediaError::Unavailable, "{url}");
            let text = error.to_string();
            assert_eq!(text, FETCH_FAILED, "{url}");
            assert!(
                !text.contains("SECRET") && !text.contains("127.0.0.1"),
                "{text}"
            );
        }

        let page = host.join(&format!("page?{secret}")).unwrap();
        let error = fetch(page.as_str(), &settings)
            .await
            .map(|_| ())
            .unwrap_err();
        assert_eq!(error, MediaError::Rejected(MediaRefusal::NotAnImage));
        for refusal in [
            MediaRefusal::AddressNotAllowed,
            MediaRefusal::NotAUrl,
            MediaRefusal::TooLarge(10),
            MediaRefusal::PostTooLarge(10),
            MediaRefusal::NotAnImage,
        ] {
            let text = MediaError::Rejected(refusal).to_string();
            assert_ne!(text, FETCH_FAILED);
            assert!(!text.contains("://") && !text.contains("?"), "{text}");
        }
    }

    #[test]
    fn logged_urls_lose_their_query_and_credentials() {
        let url = Url::parse("https://user:pw@cdn.example.com/a.png?sig=abc#frag").unwrap();
        assert_eq!(loggable(&url), "https://cdn.example.com/a.png");
    }

    #[tokio::test]
    async fn a_posts_images_share_one_budget_of_bytes_and_time() {
        let host = image_host("127.0.0.1:0").await;
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
        assert_eq!(
            fetch_image(&big, &settings, &mut budget).await.map(|_| ()),
            Err(MediaError::Rejected(MediaRefusal::PostTooLarge(5000)))
        );
        let small = MediaSettings {
            max_bytes: 1000,
            ..settings.clone()
        };
        assert_eq!(
            fetch(big.as_str(), &small).await.map(|_| ()),
            Err(MediaError::Rejected(MediaRefusal::TooLarge(1000)))
        );

        let settings = MediaSettings {
            post_fetch_budget: Duration::from_millis(500),
            ..settings
        };
        let mut budget = MediaBudget::for_post(&settings);
        let slow = host.join("slow").unwrap();
        assert!(matches!(
            fetch_image(&slow, &settings, &mut budget).await,
            Err(MediaError::Unavailable)
        ));
        // The budget is spent: the next image is not even tried.
        let started = std::time::Instant::now();
        assert!(matches!(
            fetch_image(&big, &settings, &mut budget).await,
            Err(MediaError::Unavailable)
        ));
        assert!(started.elapsed() < Duration::from_millis(100));
    }
}
