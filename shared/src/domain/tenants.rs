//! Tenants: the applications that call the product, each kept apart by its id, and what a
//! tenant may configure for itself (its settings: where members may be sent back to).

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use url::{Host, Url};

/// The calling application, as named by the `tenant_id` claim of its JWT.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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

/// Longest URL accepted as a `redirect_after` or an allow-list entry.
pub const MAX_REDIRECT_URL_LEN: usize = 2048;

/// Most entries one allow-list may have.
pub const MAX_ALLOW_LIST_ENTRIES: usize = 50;

/// Why a URL cannot be a place members are sent back to (a `redirect_after` or an allow-list
/// entry). The texts are fixed: they are shown to tenants after the field's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RedirectUrlError {
    #[error("must be an absolute URL without spaces or control characters")]
    NotAbsolute,
    #[error("must be at most 2048 characters")]
    TooLong,
    #[error("must use https (http only for localhost, 127.0.0.1 or [::1])")]
    NotHttps,
    #[error("must not carry a user name or password")]
    UserInfo,
    /// Browsers read `\` as `/` in http(s) URLs, so `https://app.example.com\@evil.test` or
    /// `/ok\..\..\x` would not mean what a string comparison sees.
    #[error("must not contain a backslash")]
    Backslash,
    /// `%2F` / `%5C` in a path is decoded to a separator by some servers and proxies, which
    /// would walk out of an allowed path prefix (`/linkedin/..%2Fadmin`); `%25` could become
    /// either after a second decoding.
    #[error("must not have an encoded /, \\ or % in its path (%2F, %5C, %25)")]
    EncodedSeparator,
}

/// The rules for every URL a member's browser may be sent to, and for every allow-list entry:
/// absolute http(s) with a host, https unless the host is loopback, no userinfo, no backslash,
/// no encoded separator in the path, at most [`MAX_REDIRECT_URL_LEN`] characters.
pub fn redirect_url(raw: &str) -> Result<Url, RedirectUrlError> {
    if raw.len() > MAX_REDIRECT_URL_LEN {
        return Err(RedirectUrlError::TooLong);
    }
    // The URL parser would quietly drop tabs and newlines and trim spaces; refuse them instead.
    if raw.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(RedirectUrlError::NotAbsolute);
    }
    // Checked on the raw text: the parser turns `\` into `/` in http(s) URLs.
    if raw.contains('\\') {
        return Err(RedirectUrlError::Backslash);
    }
    let url = Url::parse(raw).map_err(|_| RedirectUrlError::NotAbsolute)?;
    let host = url.host().ok_or(RedirectUrlError::NotAbsolute)?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&host) => {}
        "http" => return Err(RedirectUrlError::NotHttps),
        _ => return Err(RedirectUrlError::NotAbsolute),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(RedirectUrlError::UserInfo);
    }
    let path = url.path().to_ascii_lowercase();
    if ["%2f", "%5c", "%25"].iter().any(|e| path.contains(e)) {
        return Err(RedirectUrlError::EncodedSeparator);
    }
    Ok(url)
}

fn is_loopback(host: &Host<&str>) -> bool {
    match host {
        Host::Domain(name) => *name == "localhost",
        Host::Ipv4(ip) => ip.is_loopback(),
        Host::Ipv6(ip) => ip.is_loopback(),
    }
}

/// Origins (and optional path prefixes) that `redirect_after` may point to. Stored as the list
/// of its entries' URLs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Vec<String>", into = "Vec<String>")]
pub struct RedirectAllowList(Vec<Url>);

/// An allow-list entry that breaks the rules: which one (from 0) and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AllowListError {
    #[error("entry {index} {rule}")]
    Entry {
        index: usize,
        rule: RedirectUrlError,
    },
    #[error("has more than {MAX_ALLOW_LIST_ENTRIES} entries")]
    TooMany,
}

impl RedirectAllowList {
    /// Comma-separated absolute URLs, e.g. `https://app.example.com,https://admin.example.com/linkedin/`
    /// (the deployment-wide `REDIRECT_ALLOW_LIST`).
    pub fn parse(raw: &str) -> Result<Self, String> {
        Self::from_entries(raw.split(',').map(str::trim).filter(|s| !s.is_empty()))
            .map_err(|e| e.to_string())
    }

    /// One URL per entry, each under the rules of [`redirect_url`].
    pub fn from_entries<'a>(
        entries: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, AllowListError> {
        let urls = entries
            .into_iter()
            .enumerate()
            .map(|(index, entry)| {
                redirect_url(entry).map_err(|rule| AllowListError::Entry { index, rule })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if urls.len() > MAX_ALLOW_LIST_ENTRIES {
            return Err(AllowListError::TooMany);
        }
        Ok(Self(urls))
    }

    pub fn entries(&self) -> &[Url] {
        &self.0
    }

    /// Same scheme, host and port as an entry, and under its path; and the candidate itself
    /// under the rules of [`redirect_url`] (no userinfo, which browsers would show as a
    /// different site; no encoded separators).
    pub fn permits(&self, candidate: &Url) -> bool {
        if redirect_url(candidate.as_str()).is_err() {
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

impl TryFrom<Vec<String>> for RedirectAllowList {
    type Error = AllowListError;
    fn try_from(entries: Vec<String>) -> Result<Self, Self::Error> {
        Self::from_entries(entries.iter().map(String::as_str))
    }
}

impl From<RedirectAllowList> for Vec<String> {
    fn from(list: RedirectAllowList) -> Self {
        list.0.into_iter().map(String::from).collect()
    }
}

fn path_is_under(path: &str, prefix: &str) -> bool {
    if prefix == "/" || prefix.is_empty() {
        return true;
    }
    path == prefix.trim_end_matches('/')
        || path.starts_with(&format!("{}/", prefix.trim_end_matches('/')))
}

/// What one tenant configured for itself. A tenant without a settings record has the
/// defaults: the deployment-wide allow-list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TenantSettings {
    pub tenant_id: TenantId,
    /// Where this tenant's members may be sent back to; `None`: the deployment's
    /// `REDIRECT_ALLOW_LIST`. An empty list allows no redirect at all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_allow_list: Option<RedirectAllowList>,
    /// Bumped by every change; writes are conditional on the version read.
    pub version: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<DateTime<Utc>>,
}

impl TenantSettings {
    /// A tenant's settings before anyone changed them.
    pub fn defaults(tenant: &TenantId) -> Self {
        Self {
            tenant_id: tenant.clone(),
            redirect_allow_list: None,
            version: 0,
            updated_at: None,
        }
    }

    /// These settings with their own allow-list (or, with `None`, back to the deployment's).
    pub fn with_redirect_allow_list(
        &self,
        list: Option<RedirectAllowList>,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            redirect_allow_list: list,
            version: self.version + 1,
            updated_at: Some(now),
            ..self.clone()
        }
    }

    /// The allow-list that applies to this tenant: its own, else the deployment's.
    pub fn redirect_allow_list_or<'a>(
        &'a self,
        deployment: &'a RedirectAllowList,
    ) -> &'a RedirectAllowList {
        self.redirect_allow_list.as_ref().unwrap_or(deployment)
    }
}

/// Longest `client_state`, in characters.
pub const MAX_CLIENT_STATE_CHARS: usize = 256;

/// The tenant app's own value for one authorization, handed back unchanged to its
/// `redirect_after`: the app stores it in the member's session when it starts the flow and
/// compares it when the browser lands, so a callback URL sent to another person cannot attach
/// the wrong LinkedIn account (login CSRF). Opaque to us; bounded and printable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ClientState(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ClientStateError {
    #[error("must be 1 to 256 characters")]
    Length,
    #[error("must not contain control characters")]
    ControlCharacter,
}

impl ClientState {
    pub fn parse(raw: &str) -> Result<Self, ClientStateError> {
        let chars = raw.chars().count();
        if chars == 0 || chars > MAX_CLIENT_STATE_CHARS {
            return Err(ClientStateError::Length);
        }
        if raw.chars().any(char::is_control) {
            return Err(ClientStateError::ControlCharacter);
        }
        Ok(Self(raw.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
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
    fn redirect_urls_follow_the_rules() {
        use RedirectUrlError::*;
        let long = format!("https://app.example.com/{}", "a".repeat(2048));
        let cases: &[(&str, Result<(), RedirectUrlError>)] = &[
            ("https://app.example.com/", Ok(())),
            ("https://app.example.com/linkedin/done?tab=1#x", Ok(())),
            ("https://app.example.com/cb?next=%2Fhome", Ok(())),
            ("http://localhost:3000/done", Ok(())),
            ("http://127.0.0.1:3000/done", Ok(())),
            ("http://127.5.0.1/done", Ok(())),
            ("http://[::1]:8080/done", Ok(())),
            ("http://app.example.com/", Err(NotHttps)),
            ("http://localhost.evil.test/", Err(NotHttps)),
            ("http://10.0.0.1/", Err(NotHttps)),
            ("http://[::ffff:127.0.0.1]/", Err(NotHttps)),
            ("javascript:alert(1)", Err(NotAbsolute)),
            ("data:text/html,hi", Err(NotAbsolute)),
            ("ftp://app.example.com/", Err(NotAbsolute)),
            ("/relative", Err(NotAbsolute)),
            ("//evil.test/", Err(NotAbsolute)),
            ("not a url", Err(NotAbsolute)),
            ("https://app.example.com/a b", Err(NotAbsolute)),
            ("https://app.example.com/\ndone", Err(NotAbsolute)),
            (" https://app.example.com/", Err(NotAbsolute)),
            ("https://user@app.example.com/", Err(UserInfo)),
            ("https://user:pw@app.example.com/", Err(UserInfo)),
            ("https://app.example.com@evil.test/", Err(UserInfo)),
            ("https://app.example.com\\@evil.test/", Err(Backslash)),
            ("https://app.example.com/ok\\..\\admin", Err(Backslash)),
            ("https://app.example.com/cb?x=\\", Err(Backslash)),
            (
                "https://app.example.com/linkedin/..%2Fadmin",
                Err(EncodedSeparator),
            ),
            (
                "https://app.example.com/linkedin/..%2fadmin",
                Err(EncodedSeparator),
            ),
            (
                "https://app.example.com/linkedin/..%5Cadmin",
                Err(EncodedSeparator),
            ),
            (
                "https://app.example.com/linkedin/..%5cadmin",
                Err(EncodedSeparator),
            ),
            (
                "https://app.example.com/linkedin/..%252Fadmin",
                Err(EncodedSeparator),
            ),
            (long.as_str(), Err(TooLong)),
        ];
        for (raw, expected) in cases {
            assert_eq!(&redirect_url(raw).map(|_| ()), expected, "{raw}");
        }
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
            "https://app.example.com/%2F%2Fevil.test",
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
        // Dot segments are resolved before the comparison.
        assert!(!list.permits(&url("https://app.example.com/linkedin/../admin")));
        assert!(!list.permits(&url("https://app.example.com/linkedin/%2e%2e/admin")));
        assert!(!list.permits(&url("https://app.example.com/linkedin/..%2Fadmin")));
    }
    #[test]
    fn an_empty_allow_list_permits_nothing() {
        assert!(!allow("").permits(&url("https://app.example.com/")));
    }
    #[test]
    fn allow_list_entries_follow_the_redirect_rules() {
        for (raw, expected) in [
            ("javascript:alert(1)", RedirectUrlError::NotAbsolute),
            ("not a url", RedirectUrlError::NotAbsolute),
            ("http://app.example.com", RedirectUrlError::NotHttps),
            ("https://u@app.example.com", RedirectUrlError::UserInfo),
            (
                "https://app.example.com/a%2Fb",
                RedirectUrlError::EncodedSeparator,
            ),
            ("https://app.example.com\\x", RedirectUrlError::Backslash),
        ] {
            let err = RedirectAllowList::from_entries(["https://ok.example.com", raw]).unwrap_err();
            assert_eq!(
                err,
                AllowListError::Entry {
                    index: 1,
                    rule: expected
                },
                "{raw}"
            );
        }
        assert!(RedirectAllowList::parse("http://127.0.0.1:3000/,https://a.example.com").is_ok());
        let many: Vec<String> = (0..=MAX_ALLOW_LIST_ENTRIES)
            .map(|i| format!("https://a{i}.example.com"))
            .collect();
        assert_eq!(
            RedirectAllowList::from_entries(many.iter().map(String::as_str)),
            Err(AllowListError::TooMany)
        );
    }
    #[test]
    fn an_allow_list_is_stored_as_its_entries_and_read_back_under_the_rules() {
        let list = allow("https://a.example.com/x/,http://localhost:3000");
        let json = serde_json::to_value(&list).unwrap();
        assert_eq!(
            json,
            serde_json::json!(["https://a.example.com/x/", "http://localhost:3000/"])
        );
        assert_eq!(
            serde_json::from_value::<RedirectAllowList>(json).unwrap(),
            list
        );
        assert!(
            serde_json::from_value::<RedirectAllowList>(serde_json::json!(["http://evil.test"]))
                .is_err()
        );
    }
    #[test]
    fn a_tenant_without_its_own_allow_list_has_the_deployments() {
        let tenant = TenantId::parse("acme").unwrap();
        let deployment = allow("https://shared.example.com");
        let own = allow("https://acme.example.com");
        let settings = TenantSettings::defaults(&tenant);
        assert_eq!(settings.redirect_allow_list_or(&deployment), &deployment);

        let changed = settings.with_redirect_allow_list(Some(own.clone()), Utc::now());
        assert_eq!(changed.version, 1);
        assert!(changed.updated_at.is_some());
        assert_eq!(changed.redirect_allow_list_or(&deployment), &own);

        let empty = changed.with_redirect_allow_list(Some(allow("")), Utc::now());
        assert!(!empty
            .redirect_allow_list_or(&deployment)
            .permits(&url("https://shared.example.com/")));

        let reset = empty.with_redirect_allow_list(None, Utc::now());
        assert_eq!(reset.version, 3);
        assert_eq!(reset.redirect_allow_list_or(&deployment), &deployment);
    }
    #[test]
    fn client_state_is_bounded_and_printable_but_otherwise_opaque() {
        use ClientStateError::*;
        let cases: Vec<(String, Result<(), ClientStateError>)> = vec![
            ("abc".into(), Ok(())),
            ("a&b=c#d+e f/g?h%20".into(), Ok(())),
            ("état ✓ 東京 🔐".into(), Ok(())),
            ("x".repeat(256), Ok(())),
            ("é".repeat(256), Ok(())),
            (String::new(), Err(Length)),
            ("x".repeat(257), Err(Length)),
            ("a\nb".into(), Err(ControlCharacter)),
            ("a\tb".into(), Err(ControlCharacter)),
            ("a\u{0}b".into(), Err(ControlCharacter)),
            ("a\u{7f}b".into(), Err(ControlCharacter)),
            ("a\u{85}b".into(), Err(ControlCharacter)),
        ];
        for (raw, expected) in cases {
            assert_eq!(ClientState::parse(&raw).map(|_| ()), expected, "{raw:?}");
        }
        assert_eq!(ClientState::parse("a&b").unwrap().as_str(), "a&b");
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
