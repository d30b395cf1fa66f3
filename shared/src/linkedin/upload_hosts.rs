//! Where LinkedIn's upload URLs may point. An upload is a PUT with the member's access token,
//! to a URL LinkedIn's answer names (initializeUpload's `uploadUrl`, registerUpload's
//! `uploadMechanism…uploadUrl`): the only request whose destination is not ours to choose. The
//! token goes only to https URLs on LinkedIn's hosts (a host suffix, matched on a label
//! boundary), to an origin named exactly (the simulator's media host), or to the configured
//! API base's own origin (the token goes there anyway). Anything else is refused before the
//! token is attached.

use url::{Origin, Url};

/// LinkedIn's upload URLs are on `api.linkedin.com` (registerUpload's `/mediaUpload/…`) and
/// `www.linkedin.com` (the Images, Documents and Videos APIs' `/dms-uploads/…`).
pub const DEFAULT_UPLOAD_HOSTS: &str = "linkedin.com";

#[derive(Debug, Clone, PartialEq, Eq)]
enum Allowed {
    /// `linkedin.com`: https on that host or any host under it.
    HostSuffix(String),
    /// `http://localhost:8088`: exactly that scheme, host and port.
    Origin(Origin),
}

/// The allow-list of upload destinations (`LINKEDIN_UPLOAD_HOSTS`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadHosts(Vec<Allowed>);

impl UploadHosts {
    /// Comma-separated entries, each a host suffix (`linkedin.com`, https only) or an origin
    /// (`http://localhost:8088`, for a simulator).
    pub fn parse(raw: &str) -> Result<Self, String> {
        let mut allowed = Vec::new();
        for entry in raw.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            if entry.contains("://") {
                let url = Url::parse(entry).map_err(|e| format!("{entry:?}: {e}"))?;
                if url.host().is_none() || !matches!(url.scheme(), "http" | "https") {
                    return Err(format!("{entry:?} is not an http(s) origin"));
                }
                allowed.push(Allowed::Origin(url.origin()));
            } else {
                let host = entry.trim_start_matches('.').to_ascii_lowercase();
                let valid = !host.is_empty()
                    && host.contains('.')
                    && host
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
                if !valid {
                    return Err(format!(
                        "{entry:?} is not a host name like linkedin.com or an origin like http://localhost:8088"
                    ));
                }
                allowed.push(Allowed::HostSuffix(host));
            }
        }
        if allowed.is_empty() {
            return Err("no upload host given".into());
        }
        Ok(Self(allowed))
    }

    /// Whether the access token may be sent to `url`, given the API base it already goes to.
    pub fn allows(&self, url: &Url, api_base: &Url) -> bool {
        if url.username() != "" || url.password().is_some() {
            return false;
        }
        if url.origin() == api_base.origin() {
            return true;
        }
        self.0.iter().any(|allowed| match allowed {
            Allowed::Origin(origin) => url.origin() == *origin,
            Allowed::HostSuffix(suffix) => {
                url.scheme() == "https"
                    && url.domain().is_some_and(|host| {
                        let host = host.trim_end_matches('.').to_ascii_lowercase();
                        host == *suffix || host.ends_with(&format!(".{suffix}"))
                    })
            }
        })
    }
}

impl Default for UploadHosts {
    fn default() -> Self {
        Self::parse(DEFAULT_UPLOAD_HOSTS).expect("the default upload hosts parse")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_urls_on_linkedins_hosts_or_named_origins_may_have_the_token() {
        let linkedin = Url::parse("https://api.linkedin.com").unwrap();
        let defaults = UploadHosts::default();
        let rows = [
            (
                "https://api.linkedin.com/mediaUpload/C5/feedshare-uploadedImage/0?ca=x&ut=y",
                true,
            ),
            (
                "https://www.linkedin.com/dms-uploads/sp/v2/D56/uploaded-image/0?ut=z",
                true,
            ),
            ("https://linkedin.com/upload", true),
            ("https://WWW.LinkedIn.com./upload", true),
            ("http://www.linkedin.com/dms-uploads/x", false),
            ("https://www.linkedin.com.evil.example/upload", false),
            ("https://evil-linkedin.com/upload", false),
            ("https://linkedin.com@evil.example/upload", false),
            ("https://user:pw@www.linkedin.com/upload", false),
            ("https://169.254.169.254/latest/meta-data/", false),
            ("http://127.0.0.1:8088/_media/upload/x", false),
            ("https://[::1]/upload", false),
        ];
        for (url, allowed) in rows {
            let parsed = Url::parse(url).unwrap();
            assert_eq!(defaults.allows(&parsed, &linkedin), allowed, "{url}");
        }
    }

    #[test]
    fn a_simulator_is_allowed_by_its_origin_or_by_being_the_api_base() {
        let simulator_api = Url::parse("http://127.0.0.1:8088").unwrap();
        let hosts = UploadHosts::parse("linkedin.com, http://localhost:8088").unwrap();
        let allowed = |url: &str| hosts.allows(&Url::parse(url).unwrap(), &simulator_api);
        assert!(allowed("http://localhost:8088/_media/upload/abc"));
        assert!(allowed("http://127.0.0.1:8088/_media/upload/abc"));
        assert!(!allowed("http://localhost:8089/_media/upload/abc"));
        assert!(!allowed("https://localhost:8088/_media/upload/abc"));
        assert!(!allowed("http://127.0.0.2:8088/_media/upload/abc"));
    }

    #[test]
    fn entries_that_are_neither_hosts_nor_origins_are_refused() {
        for raw in [
            "",
            " , ",
            "localhost",
            "ftp://files.example",
            "linked in.com",
            "*.linkedin.com",
        ] {
            assert!(UploadHosts::parse(raw).is_err(), "{raw:?}");
        }
    }
}
