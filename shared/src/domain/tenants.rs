//! Tenants: the applications that call the product, each kept apart by its id.

use std::fmt;

use serde::{Deserialize, Serialize};
use url::Url;

/// The calling application, as named by the `tenant_id` claim of its JWT.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TenantId(String);

impl TenantId {
    /// A tenant id is opaque to us but must be printable and bounded: it ends up in keys.
    pub fn parse(raw: &str) -> Option<Self> {
        let ok = !raw.is_empty()
            && raw.len() <= 128
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.:@".contains(&b));
        ok.then(|| Self(raw.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Origins (and optional path prefixes) that `redirect_after` may point to.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RedirectAllowList(Vec<Url>);

impl RedirectAllowList {
    /// Comma-separated absolute URLs, e.g. `https://app.example.com,https://admin.example.com/linkedin/`.
    pub fn parse(raw: &str) -> Result<Self, String> {
        raw.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|entry| {
                let url = Url::parse(entry).map_err(|e| format!("{entry:?} is not a URL ({e})"))?;
                if !matches!(url.scheme(), "https" | "http") || url.host().is_none() {
                    return Err(format!("{entry:?} must be an http(s) URL with a host"));
                }
                Ok(url)
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }

    /// Same scheme, host and port as an entry, and under its path. No userinfo, which
    /// browsers would show as a different site.
    pub fn permits(&self, candidate: &Url) -> bool {
        if !candidate.username().is_empty() || candidate.password().is_some() {
            return false;
        }
        self.0.iter().any(|allowed| {
            allowed.scheme() == candidate.scheme()
                && allowed.host() == candidate.host()
                && allowed.port_or_known_default() == candidate.port_or_known_default()
                && path_is_under(candidate.path(), allowed.path())
        })
    }
}

fn path_is_under(path: &str, prefix: &str) -> bool {
    if prefix == "/" || prefix.is_empty() {
        return true;
    }
    path == prefix.trim_end_matches('/')
        || path.starts_with(&format!("{}/", prefix.trim_end_matches('/')))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allow(raw: &str) -> RedirectAllowList {
        RedirectAllowList::parse(raw).unwrap()
    }
    fn url(raw: &str) -> Url {
        Url::parse(raw).unwrap()
    }
    #[test]
    fn redirect_to_an_allowed_origin_is_permitted() {
        let list = allow("https://app.example.com");
        assert!(list.permits(&url("https://app.example.com/settings/linkedin?x=1")));
    }
    #[test]
    fn redirect_to_a_lookalike_host_scheme_or_port_is_refused() {
        let list = allow("https://app.example.com");
        for bad in [
            "https://app.example.com.evil.test/",
            "http://app.example.com/",
            "https://app.example.com:8443/",
            "https://evil.test/?https://app.example.com",
            "https://app.example.com@evil.test/",
            "https://user@app.example.com/",
        ] {
            assert!(!list.permits(&url(bad)), "{bad} must be refused");
        }
    }
    #[test]
    fn redirect_must_stay_under_the_allowed_path() {
        let list = allow("https://app.example.com/linkedin/");
        assert!(list.permits(&url("https://app.example.com/linkedin/done")));
        assert!(list.permits(&url("https://app.example.com/linkedin")));
        assert!(!list.permits(&url("https://app.example.com/linkedin-evil")));
        assert!(!list.permits(&url("https://app.example.com/other")));
    }
    #[test]
    fn an_empty_allow_list_permits_nothing() {
        assert!(!allow("").permits(&url("https://app.example.com/")));
    }
    #[test]
    fn allow_list_entries_must_be_http_urls() {
        assert!(RedirectAllowList::parse("javascript:alert(1)").is_err());
        assert!(RedirectAllowList::parse("not a url").is_err());
    }
    #[test]
    fn tenant_ids_are_bounded_and_printable() {
        assert!(TenantId::parse("demo").is_some());
        assert!(TenantId::parse("org_42:eu").is_some());
        assert!(TenantId::parse("").is_none());
        assert!(TenantId::parse("a#b").is_none());
        assert!(TenantId::parse(&"x".repeat(129)).is_none());
    }
}
