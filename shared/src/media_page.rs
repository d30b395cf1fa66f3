//! Fetching a link card's page from a tenant's URL through the same SSRF guard as images
//! ([`crate::media::guarded_client`]): every hop's host is resolved and checked (no internal
//! addresses), the connection is pinned to the address checked, redirects are followed by
//! hand — at most [`MAX_REDIRECTS`], each one checked like the first — and only `text/html`
//! is read, at most [`MAX_PAGE_BYTES`] of it (a page's Open Graph tags are in its head).

use std::time::Duration;

use tracing::warn;
use url::Url;

use crate::media::{guarded_client, loggable, MediaRefusal, Unguardable};

/// How much of a page is read: its head, where Open Graph tags are, is at the top.
pub const MAX_PAGE_BYTES: usize = 512 * 1024;
/// Redirects followed (http to https, a trailing slash, a short link).
pub const MAX_REDIRECTS: usize = 5;
/// The longest a page fetch may take, redirects included.
pub const PAGE_TIMEOUT: Duration = Duration::from_secs(10);

/// How the page fetch introduces itself.
pub const USER_AGENT: &str = "Mozilla/5.0 (compatible; linkedin-connector link preview)";

/// A page as read: where it ended up after redirects, and (the start of) its HTML.
#[derive(Debug, Clone)]
pub struct Page {
    pub url: Url,
    pub html: String,
}

/// Why a page cannot be read. The detail goes to the log (without the URL's query).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PageError {
    /// It can never be read as given: an internal address (also through a redirect), not an
    /// http(s) URL, not HTML, too many redirects.
    #[error("the page cannot be read: {0}")]
    Refused(PageRefusal),
    /// It could not be read just now (refused, timed out, an HTTP error): try again later.
    #[error("the page could not be fetched")]
    Unavailable,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PageRefusal {
    #[error("its host is not a public internet address")]
    AddressNotAllowed,
    #[error("it is not an absolute http(s) URL with a host")]
    NotAUrl,
    #[error("it is not an HTML page")]
    NotHtml,
    #[error("it redirects more than {MAX_REDIRECTS} times")]
    TooManyRedirects,
}

/// Reads the page at `url` within `time` (and [`PAGE_TIMEOUT`]).
pub async fn fetch_page(
    url: &Url,
    allow_private_hosts: bool,
    time: Duration,
) -> Result<Page, PageError> {
    let time = time.min(PAGE_TIMEOUT);
    match tokio::time::timeout(time, follow(url, allow_private_hosts)).await {
        Ok(result) => result,
        Err(_) => Err(unavailable(
            url,
            &format!("no whole answer within {time:?}"),
        )),
    }
}

fn unavailable(url: &Url, detail: &str) -> PageError {
    warn!(
        url = loggable(url).as_str(),
        detail, "link card page could not be fetched"
    );
    PageError::Unavailable
}

fn refused(url: &Url, refusal: PageRefusal) -> PageError {
    warn!(url = loggable(url).as_str(), refusal = %refusal, "link card page refused");
    PageError::Refused(refusal)
}

async fn follow(start: &Url, allow_private_hosts: bool) -> Result<Page, PageError> {
    let mut url = start.clone();
    for _ in 0..=MAX_REDIRECTS {
        let client = match guarded_client(&url, allow_private_hosts).await {
            Ok(client) => client,
            Err(Unguardable::Refused(MediaRefusal::AddressNotAllowed)) => {
                return Err(refused(&url, PageRefusal::AddressNotAllowed))
            }
            Err(Unguardable::Refused(_)) => return Err(refused(&url, PageRefusal::NotAUrl)),
            Err(Unguardable::Unreachable(detail)) => return Err(unavailable(&url, &detail)),
        };
        let mut response = client
            .get(url.clone())
            .header("accept", "text/html,application/xhtml+xml")
            // Many sites refuse a request without a user agent; this one says what it is.
            .header("user-agent", USER_AGENT)
            .send()
            .await
            .map_err(|e| unavailable(&url, &e.without_url().to_string()))?;
        let status = response.status();
        if status.is_redirection() {
            let next = response
                .headers()
                .get("location")
                .and_then(|l| l.to_str().ok())
                .and_then(|l| url.join(l).ok());
            match next {
                // Checked like the first hop by the next turn of the loop.
                Some(next) => {
                    url = next;
                    continue;
                }
                None => return Err(unavailable(&url, &format!("{status} without a location"))),
            }
        }
        if !status.is_success() {
            return Err(unavailable(&url, &format!("answered {status}")));
        }
        let html_type = response
            .headers()
            .get("content-type")
            .and_then(|t| t.to_str().ok())
            .and_then(|t| t.split(';').next())
            .map(|t| t.trim().to_ascii_lowercase())
            .is_some_and(|t| t == "text/html" || t == "application/xhtml+xml");
        if !html_type {
            return Err(refused(&url, PageRefusal::NotHtml));
        }
        let mut bytes = Vec::new();
        while bytes.len() < MAX_PAGE_BYTES {
            let chunk = response
                .chunk()
                .await
                .map_err(|e| unavailable(&url, &format!("reading: {}", e.without_url())))?;
            let Some(chunk) = chunk else { break };
            let room = MAX_PAGE_BYTES - bytes.len();
            bytes.extend_from_slice(&chunk[..chunk.len().min(room)]);
        }
        // Dropping the response closes the connection: the rest of a long page is not read.
        return Ok(Page {
            url,
            html: String::from_utf8_lossy(&bytes).into_owned(),
        });
    }
    Err(refused(start, PageRefusal::TooManyRedirects))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in web server: `/page` HTML, `/big` 2 MB of HTML, `/image` a PNG, `/hop/{n}`
    /// redirects n times then to `/page`, `/internal` redirects to `http://169.254.169.254/`,
    /// `/missing` a 404.
    async fn site() -> Url {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 2048];
                    let n = socket.read(&mut buf).await.unwrap_or(0);
                    let request = String::from_utf8_lossy(&buf[..n]).to_string();
                    let path = request.split_whitespace().nth(1).unwrap_or("/").to_owned();
                    let html = "text/html; charset=utf-8";
                    let (status, kind, body): (String, &str, Vec<u8>) = if path == "/page" {
                        (
                            "200 OK".into(),
                            html,
                            b"<meta property=\"og:title\" content=\"Hi\">".to_vec(),
                        )
                    } else if path == "/big" {
                        let mut body = b"<title>Big</title>".to_vec();
                        body.resize(2 * 1024 * 1024, b' ');
                        ("200 OK".into(), html, body)
                    } else if path == "/image" {
                        ("200 OK".into(), "image/png", b"\x89PNG\r\n\x1a\n".to_vec())
                    } else if let Some(n) = path.strip_prefix("/hop/") {
                        let n: usize = n.parse().unwrap();
                        let to = if n == 0 {
                            "/page".to_owned()
                        } else {
                            format!("/hop/{}", n - 1)
                        };
                        (format!("302 Found\r\nlocation: {to}"), html, Vec::new())
                    } else if path == "/elsewhere" {
                        (
                            "302 Found\r\nlocation: ftp://example.com/x".into(),
                            html,
                            Vec::new(),
                        )
                    } else {
                        ("404 Not Found".into(), html, Vec::new())
                    };
                    let head = format!(
                        "HTTP/1.1 {status}\r\ncontent-type: {kind}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = socket.write_all(head.as_bytes()).await;
                    let _ = socket.write_all(&body).await;
                });
            }
        });
        base
    }

    async fn fetch(url: &Url, allow_private: bool) -> Result<Page, PageError> {
        fetch_page(url, allow_private, Duration::from_secs(5)).await
    }

    #[tokio::test]
    async fn a_page_is_read_through_checked_redirects_and_only_as_html() {
        let site = site().await;
        let page = fetch(&site.join("/hop/2").unwrap(), true).await.unwrap();
        assert_eq!(page.url, site.join("/page").unwrap(), "where it ended up");
        assert!(page.html.contains("og:title"));

        let big = fetch(&site.join("/big").unwrap(), true).await.unwrap();
        assert_eq!(
            big.html.len(),
            MAX_PAGE_BYTES,
            "read no further than the cap"
        );

        let rows = [
            ("/image", PageError::Refused(PageRefusal::NotHtml)),
            ("/hop/6", PageError::Refused(PageRefusal::TooManyRedirects)),
            // The redirect's target goes through the guard like the first address (here a local
            // run allows loopback, so the guard's refusal shown is of the scheme).
            ("/elsewhere", PageError::Refused(PageRefusal::NotAUrl)),
            ("/missing", PageError::Unavailable),
        ];
        for (path, expected) in rows {
            let got = fetch(&site.join(path).unwrap(), true).await.map(|_| ());
            assert_eq!(got, Err(expected), "{path}");
        }
    }

    #[tokio::test]
    async fn internal_addresses_are_refused_unless_local_configuration_allows_them() {
        let site = site().await;
        assert_eq!(
            fetch(&site.join("/page").unwrap(), false).await.map(|_| ()),
            Err(PageError::Refused(PageRefusal::AddressNotAllowed))
        );
        for url in [
            "http://169.254.169.254/",
            "http://[::1]/",
            "http://10.0.0.1/",
        ] {
            assert_eq!(
                fetch(&Url::parse(url).unwrap(), false).await.map(|_| ()),
                Err(PageError::Refused(PageRefusal::AddressNotAllowed)),
                "{url}"
            );
        }
        assert_eq!(
            fetch(&Url::parse("ftp://example.com/").unwrap(), false)
                .await
                .map(|_| ()),
            Err(PageError::Refused(PageRefusal::NotAUrl))
        );
    }
}
