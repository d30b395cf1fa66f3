//! The one configuration loader. Every function reads its settings here, once, at cold start,
//! and fails fast with the name of the variable that is missing or malformed.

use std::time::Duration;

use secrecy::SecretString;
use url::Url;

use crate::domain::RedirectAllowList;

/// The LinkedIn API version the product is written against (`LinkedIn-Version: YYYYMM`).
/// This is the only place that names it; `LINKEDIN_API_VERSION` overrides it when LinkedIn
/// retires it (a retired version answers 426 NONEXISTENT_VERSION).
pub const DEFAULT_LINKEDIN_API_VERSION: &str = "202510";

/// Scopes asked for when `LINKEDIN_SCOPES` is not set: sign-in with OpenID (identity from
/// /v2/userinfo) and posting on the member's behalf.
pub const DEFAULT_SCOPES: &str = "openid profile email w_member_social";

/// Every variable [`Config::from_env`] reads, for tools that pass configuration through.
pub const VARIABLES: &[&str] = &[
    "LINKEDIN_CLIENT_ID",
    "LINKEDIN_CLIENT_SECRET",
    "LINKEDIN_REDIRECT_URI",
    "LINKEDIN_AUTH_BASE_URL",
    "LINKEDIN_API_BASE_URL",
    "LINKEDIN_API_VERSION",
    "LINKEDIN_SCOPES",
    "LINKEDIN_TIMEOUT_SECONDS",
    "TABLE_NAME",
    "TOKEN_KEY_ID",
    "REDIRECT_ALLOW_LIST",
    "OAUTH_STATE_TTL_SECONDS",
    "PUBLISH_QUEUE_URL",
    "LINKEDIN_POSTS_API",
    "MEDIA_MAX_BYTES",
    "MEDIA_ALLOW_PRIVATE_HOSTS",
    "SCHEDULE_GROUP",
    "SCHEDULER_ROLE_ARN",
    "PUBLISH_QUEUE_ARN",
    "PUBLISH_DLQ_ARN",
    "REFRESHER_ARN",
    "HEALTH_QUEUE_URL",
];

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    #[error("configuration: {0} is required but not set")]
    Missing(&'static str),
    #[error("configuration: {name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

/// Everything LinkedIn needs from us: the app's credentials and where LinkedIn lives.
/// Pointing the two base URLs at another server (the simulator, a recording proxy) is all it
/// takes to change which LinkedIn the product talks to.
#[derive(Debug, Clone)]
pub struct LinkedInSettings {
    pub client_id: String,
    pub client_secret: SecretString,
    pub redirect_uri: Url,
    pub auth_base_url: Url,
    pub api_base_url: Url,
    pub api_version: String,
    pub scopes: Vec<String>,
    /// Timeout for one LinkedIn request, connect to last byte.
    pub request_timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub linkedin: LinkedInSettings,
    /// DynamoDB table holding connections and OAuth states.
    pub table_name: String,
    /// KMS key (id, ARN or alias) that wraps the token vault's data keys.
    pub token_key_id: String,
    /// Where `redirect_after` may point; anything else is refused (no open redirect).
    pub redirect_allow_list: RedirectAllowList,
    /// How long an authorization `state` stays usable.
    pub oauth_state_ttl: Duration,
    /// The publish queue; required by the functions that publish (`api`, `publisher`).
    pub publish_queue_url: Option<String>,
    /// The health queue; required by the `health` function.
    pub health_queue_url: Option<String>,
    /// Which LinkedIn posting API to use.
    pub posts_api: PostsApi,
    pub media: MediaSettings,
    /// One-time schedules; required by the functions that schedule (`publisher`).
    pub schedules: Option<crate::schedules::ScheduleSettings>,
}

/// LinkedIn's two posting dialects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostsApi {
    /// The versioned Posts and Images APIs (`/rest/posts`, `/rest/images`).
    Rest,
    /// The legacy `/v2/ugcPosts` with `/v2/assets`, as the specification describes.
    Ugc,
}

/// Limits on images fetched from tenants' URLs.
#[derive(Debug, Clone)]
pub struct MediaSettings {
    pub max_bytes: usize,
    /// Let image URLs resolve to loopback or private addresses. Only for local stacks: in
    /// production it would let a tenant make us fetch from inside our network (SSRF).
    pub allow_private_hosts: bool,
}

impl Config {
    /// Schedule settings, for the functions that create schedules (fails fast at cold start).
    pub fn require_schedules(&self) -> Result<&crate::schedules::ScheduleSettings, ConfigError> {
        self.schedules.as_ref().ok_or(ConfigError::Missing(
            "SCHEDULE_GROUP, SCHEDULER_ROLE_ARN and PUBLISH_QUEUE_ARN",
        ))
    }

    /// The health queue's URL, for the `health` function.
    pub fn require_health_queue(&self) -> Result<&str, ConfigError> {
        self.health_queue_url
            .as_deref()
            .ok_or(ConfigError::Missing("HEALTH_QUEUE_URL"))
    }

    /// The publish queue's URL, for the functions that need it (fails fast at cold start).
    pub fn require_publish_queue(&self) -> Result<&str, ConfigError> {
        self.publish_queue_url
            .as_deref()
            .ok_or(ConfigError::Missing("PUBLISH_QUEUE_URL"))
    }
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup`, so tests and the local stack can supply them without
    /// touching the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &'static str| lookup(name).filter(|v| !v.trim().is_empty());
        let required = |name: &'static str| get(name).ok_or(ConfigError::Missing(name));
        let url = |name: &'static str, value: String| {
            Url::parse(&value).map_err(|e| ConfigError::Invalid {
                name,
                reason: format!("not an absolute URL ({e})"),
            })
        };

        let api_version =
            get("LINKEDIN_API_VERSION").unwrap_or_else(|| DEFAULT_LINKEDIN_API_VERSION.into());
        if api_version.len() != 6 || !api_version.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ConfigError::Invalid {
                name: "LINKEDIN_API_VERSION",
                reason: "expected YYYYMM, e.g. 202510".into(),
            });
        }
        let scopes = parse_scopes(&get("LINKEDIN_SCOPES").unwrap_or_else(|| DEFAULT_SCOPES.into()));
        if scopes.is_empty() {
            return Err(ConfigError::Invalid {
                name: "LINKEDIN_SCOPES",
                reason: "no scope given".into(),
            });
        }
        let seconds = |name: &'static str, default: u64| -> Result<Duration, ConfigError> {
            match get(name) {
                None => Ok(Duration::from_secs(default)),
                Some(v) => v
                    .trim()
                    .parse::<u64>()
                    .ok()
                    .filter(|s| *s > 0)
                    .map(Duration::from_secs)
                    .ok_or(ConfigError::Invalid {
                        name,
                        reason: format!("expected a positive number of seconds, got {v:?}"),
                    }),
            }
        };

        let linkedin = LinkedInSettings {
            client_id: required("LINKEDIN_CLIENT_ID")?,
            client_secret: SecretString::from(required("LINKEDIN_CLIENT_SECRET")?),
            redirect_uri: url("LINKEDIN_REDIRECT_URI", required("LINKEDIN_REDIRECT_URI")?)?,
            auth_base_url: url(
                "LINKEDIN_AUTH_BASE_URL",
                get("LINKEDIN_AUTH_BASE_URL").unwrap_or_else(|| "https://www.linkedin.com".into()),
            )?,
            api_base_url: url(
                "LINKEDIN_API_BASE_URL",
                get("LINKEDIN_API_BASE_URL").unwrap_or_else(|| "https://api.linkedin.com".into()),
            )?,
            api_version,
            scopes,
            request_timeout: seconds("LINKEDIN_TIMEOUT_SECONDS", 10)?,
        };
        let redirect_allow_list = RedirectAllowList::parse(
            &get("REDIRECT_ALLOW_LIST").unwrap_or_default(),
        )
        .map_err(|reason| ConfigError::Invalid {
            name: "REDIRECT_ALLOW_LIST",
            reason,
        })?;

        let posts_api = match get("LINKEDIN_POSTS_API").as_deref() {
            None | Some("rest") => PostsApi::Rest,
            Some("ugc") => PostsApi::Ugc,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    name: "LINKEDIN_POSTS_API",
                    reason: format!("{other:?} is not rest or ugc"),
                })
            }
        };
        let max_bytes = match get("MEDIA_MAX_BYTES") {
            None => 10 * 1024 * 1024,
            Some(v) => v
                .parse()
                .ok()
                .filter(|n| *n > 0)
                .ok_or(ConfigError::Invalid {
                    name: "MEDIA_MAX_BYTES",
                    reason: format!("expected a positive number of bytes, got {v:?}"),
                })?,
        };

        Ok(Config {
            linkedin,
            table_name: required("TABLE_NAME")?,
            token_key_id: required("TOKEN_KEY_ID")?,
            redirect_allow_list,
            oauth_state_ttl: seconds("OAUTH_STATE_TTL_SECONDS", 600)?,
            publish_queue_url: get("PUBLISH_QUEUE_URL"),
            health_queue_url: get("HEALTH_QUEUE_URL"),
            schedules: match (
                get("SCHEDULE_GROUP"),
                get("SCHEDULER_ROLE_ARN"),
                get("PUBLISH_QUEUE_ARN"),
            ) {
                (Some(group), Some(role_arn), Some(queue_arn)) => {
                    Some(crate::schedules::ScheduleSettings {
                        group,
                        role_arn,
                        queue_arn,
                        dead_letter_arn: get("PUBLISH_DLQ_ARN"),
                        refresher_arn: get("REFRESHER_ARN"),
                    })
                }
                _ => None,
            },
            posts_api,
            media: MediaSettings {
                max_bytes,
                allow_private_hosts: get("MEDIA_ALLOW_PRIVATE_HOSTS").as_deref() == Some("true"),
            },
        })
    }
}

/// LinkedIn documents space-delimited scopes and answers with comma-separated ones; accept both.
pub fn parse_scopes(raw: &str) -> Vec<String> {
    let mut scopes: Vec<String> = raw
        .split([' ', ','])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    scopes.dedup();
    scopes
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;
    use std::collections::HashMap;

    fn minimal() -> HashMap<&'static str, &'static str> {
        HashMap::from([
            ("LINKEDIN_CLIENT_ID", "cid"),
            ("LINKEDIN_CLIENT_SECRET", "shh"),
            (
                "LINKEDIN_REDIRECT_URI",
                "https://api.example.com/v1/oauth/linkedin/callback",
            ),
            ("TABLE_NAME", "connector"),
            ("TOKEN_KEY_ID", "alias/tokens"),
        ])
    }

    fn load(vars: &HashMap<&'static str, &'static str>) -> Result<Config, ConfigError> {
        Config::from_lookup(|k| vars.get(k).map(|v| v.to_string()))
    }

    #[test]
    fn when_only_required_settings_are_given_defaults_point_at_real_linkedin() {
        let config = load(&minimal()).unwrap();
        assert_eq!(
            config.linkedin.auth_base_url.as_str(),
            "https://www.linkedin.com/"
        );
        assert_eq!(
            config.linkedin.api_base_url.as_str(),
            "https://api.linkedin.com/"
        );
        assert_eq!(config.linkedin.api_version, DEFAULT_LINKEDIN_API_VERSION);
        assert_eq!(
            config.linkedin.scopes,
            ["openid", "profile", "email", "w_member_social"]
        );
        assert_eq!(config.oauth_state_ttl, Duration::from_secs(600));
        assert_eq!(config.linkedin.client_secret.expose_secret(), "shh");
    }

    #[test]
    fn when_a_required_setting_is_missing_the_error_names_it() {
        let mut vars = minimal();
        vars.remove("TOKEN_KEY_ID");
        assert_eq!(
            load(&vars).unwrap_err(),
            ConfigError::Missing("TOKEN_KEY_ID")
        );
    }

    #[test]
    fn when_the_api_version_is_not_yyyymm_loading_fails() {
        let mut vars = minimal();
        vars.insert("LINKEDIN_API_VERSION", "2025-10");
        assert!(matches!(
            load(&vars),
            Err(ConfigError::Invalid {
                name: "LINKEDIN_API_VERSION",
                ..
            })
        ));
    }

    #[test]
    fn when_base_urls_are_overridden_they_are_used() {
        let mut vars = minimal();
        vars.insert("LINKEDIN_AUTH_BASE_URL", "http://127.0.0.1:8088");
        vars.insert("LINKEDIN_API_BASE_URL", "http://127.0.0.1:8088");
        let config = load(&vars).unwrap();
        assert_eq!(
            config.linkedin.api_base_url.as_str(),
            "http://127.0.0.1:8088/"
        );
    }

    #[test]
    fn scopes_accept_spaces_and_commas() {
        assert_eq!(
            parse_scopes("openid, profile,w_member_social  email"),
            ["openid", "profile", "w_member_social", "email"]
        );
    }

    #[test]
    fn debug_output_never_shows_the_client_secret() {
        let config = load(&minimal()).unwrap();
        assert!(!format!("{config:?}").contains("shh"));
    }
}
