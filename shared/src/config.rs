//! The one configuration loader. Every function reads its settings here, once, at cold start,
//! and fails fast with the name of the variable that is missing or malformed.

use std::time::Duration;

use secrecy::SecretString;
use url::Url;

use crate::domain::limits::{TenantLimits, ThrottleSettings};
use crate::domain::RedirectAllowList;
use crate::linkedin::{ApiVersion, UploadHosts, DEFAULT_UPLOAD_HOSTS};

/// The LinkedIn API version the product is written against (`LinkedIn-Version: YYYYMM`).
/// This is the only place that names it; `LINKEDIN_API_VERSION` overrides it. LinkedIn retires
/// a version the same month one year later ([`ApiVersion::retires_on`]): 202610 retires on
/// 2027-10-01. The test `the_default_version_is_not_about_to_retire` fails the build 90 days
/// before that; bump this constant then (and check the client against linkedin-api.md).
pub const DEFAULT_LINKEDIN_API_VERSION: &str = "202610";

/// Scopes asked for when `LINKEDIN_SCOPES` is not set: sign-in with OpenID (identity from
/// /v2/userinfo) and posting on the member's behalf.
pub const DEFAULT_SCOPES: &str = "openid profile email w_member_social";

/// Scopes asked of the second (pages) app when `LINKEDIN_PAGES_SCOPES` is not set: what the
/// Community Management API grants (the member's basic profile for identity, as the app has no
/// OpenID product; posting and commenting for members and pages, the pages'
/// roles and statistics, member post analytics).
pub const DEFAULT_PAGES_SCOPES: &str = "r_basicprofile w_member_social w_organization_social rw_organization_admin r_organization_social w_member_social_feed w_organization_social_feed r_member_postAnalytics";

/// The scope an admin token carries when `ADMIN_SCOPE` is not set.
pub const DEFAULT_ADMIN_SCOPE: &str = "connector/admin";

/// Every variable [`Config::from_env`] reads, for tools that pass configuration through.
pub const VARIABLES: &[&str] = &[
    "LINKEDIN_CLIENT_ID",
    "LINKEDIN_CLIENT_SECRET",
    "LINKEDIN_CLIENT_SECRET_ARN",
    "LINKEDIN_REDIRECT_URI",
    "LINKEDIN_AUTH_BASE_URL",
    "LINKEDIN_API_BASE_URL",
    "LINKEDIN_API_VERSION",
    "LINKEDIN_SCOPES",
    "LINKEDIN_PAGES_CLIENT_ID",
    "LINKEDIN_PAGES_CLIENT_SECRET",
    "LINKEDIN_PAGES_CLIENT_SECRET_ARN",
    "LINKEDIN_PAGES_SCOPES",
    "LINKEDIN_TIMEOUT_SECONDS",
    "LINKEDIN_UPLOAD_HOSTS",
    "TABLE_NAME",
    "TOKEN_KEY_ID",
    "REDIRECT_ALLOW_LIST",
    "ADMIN_SCOPE",
    "OAUTH_STATE_TTL_SECONDS",
    "PUBLISH_QUEUE_URL",
    "LINKEDIN_POSTS_API",
    "MEDIA_MAX_BYTES",
    "MEDIA_POST_MAX_BYTES",
    "MEDIA_POST_FETCH_SECONDS",
    "MEDIA_ALLOW_PRIVATE_HOSTS",
    "SCHEDULE_GROUP",
    "SCHEDULER_ROLE_ARN",
    "PUBLISH_QUEUE_ARN",
    "PUBLISH_DLQ_ARN",
    "REFRESHER_ARN",
    "HEALTH_QUEUE_URL",
    "WEBHOOK_QUEUE_URL",
    "RETENTION_IDEMPOTENCY_KEY_DAYS",
    "RETENTION_FINISHED_POST_DAYS",
    "RETENTION_DLQ_RECORD_DAYS",
    "WEBHOOK_SIGNING_SECRET",
    "WEBHOOK_SIGNING_SECRET_ARN",
    "WEBHOOK_ALLOW_LOOPBACK",
    "TENANT_WEBHOOK_ENDPOINTS_MAX",
    "METRICS_NAMESPACE",
    "METRICS_MAX_AGE_DAYS",
];

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    #[error("configuration: {0} is required but not set")]
    Missing(&'static str),
    #[error("configuration: {name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
    /// Secrets Manager could not be asked, or was throttled: the next cold start may succeed.
    #[error("configuration: a secret (Secrets Manager) could not be read, retrying can help: {0}")]
    SecretUnavailable(String),
    /// Secrets Manager refused (no such secret, access denied, no string value): retrying
    /// cannot help until the deployment is fixed.
    #[error("configuration: a secret (Secrets Manager) was refused: {0}")]
    SecretRefused(String),
}

impl ConfigError {
    /// Whether starting again can help (only a secret store that was unavailable).
    pub fn is_retryable(&self) -> bool {
        matches!(self, ConfigError::SecretUnavailable(_))
    }
}

/// Everything LinkedIn needs from us: the app's credentials and where LinkedIn lives.
/// Pointing the two base URLs at another server (the simulator, a recording proxy) is all it
/// takes to change which LinkedIn the product talks to.
#[derive(Debug, Clone)]
pub struct LinkedInSettings {
    pub client_id: String,
    /// Only the functions that call LinkedIn's token or revoke endpoints have it (the template
    /// gives them alone the secret's ARN and the right to read it); the LinkedIn client refuses
    /// to be built without it. Filled from Secrets Manager by [`Config::load`] when
    /// [`LinkedInSettings::client_secret_arn`] is set, else from `LINKEDIN_CLIENT_SECRET`.
    pub client_secret: Option<SecretString>,
    /// `LINKEDIN_CLIENT_SECRET_ARN`: the Secrets Manager secret holding the client secret (its
    /// `SecretString`). Not itself a secret.
    pub client_secret_arn: Option<String>,
    pub redirect_uri: Url,
    pub auth_base_url: Url,
    pub api_base_url: Url,
    /// `LinkedIn-Version` for `/rest` calls; it has a retirement date.
    pub api_version: ApiVersion,
    pub scopes: Vec<String>,
    /// Timeout for one LinkedIn request, connect to last byte.
    pub request_timeout: Duration,
    /// Where upload URLs from LinkedIn's answers may point: the access token goes nowhere else.
    pub upload_hosts: UploadHosts,
    /// The second LinkedIn app, for pages (`LINKEDIN_PAGES_*`); `None` with one app.
    pub pages: Option<AppCredentials>,
}

/// A second LinkedIn app's registration: the Community Management API must be the only
/// product on its app, so pages usually come through an app of their own. Its secret is read
/// like the first app's (`LINKEDIN_PAGES_CLIENT_SECRET_ARN`, else `LINKEDIN_PAGES_CLIENT_SECRET`)
/// and only the functions that call LinkedIn's token endpoints get it.
#[derive(Debug, Clone)]
pub struct AppCredentials {
    pub client_id: String,
    pub client_secret: Option<SecretString>,
    pub client_secret_arn: Option<String>,
    pub scopes: Vec<String>,
}

impl LinkedInSettings {
    /// The scopes asked of `app`; `None` when the deployment has no such app.
    pub fn scopes_of(&self, app: crate::domain::LinkedInApp) -> Option<&[String]> {
        match app {
            crate::domain::LinkedInApp::Member => Some(&self.scopes),
            crate::domain::LinkedInApp::Pages => self.pages.as_ref().map(|p| p.scopes.as_slice()),
        }
    }
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
    /// The JWT scope the admin routes require (tenant settings); API Gateway checks it too.
    pub admin_scope: String,
    /// How long an authorization `state` stays usable.
    pub oauth_state_ttl: Duration,
    /// The publish queue; required by the functions that publish (`api`, `publisher`).
    pub publish_queue_url: Option<String>,
    /// The health queue; required by the `health` function.
    pub health_queue_url: Option<String>,
    /// The webhook queue (events waiting for the notifier); required by the `events` function.
    pub webhook_queue_url: Option<String>,
    /// Which LinkedIn posting API to use.
    pub posts_api: PostsApi,
    pub media: MediaSettings,
    /// One-time schedules; required by the functions that schedule (`publisher`).
    pub schedules: Option<crate::schedules::ScheduleSettings>,
    /// How long idempotency keys, finished posts and DLQ records are kept (DynamoDB TTL).
    pub retention: crate::store::Retention,
    /// Every tenant's limits (`TENANT_*`).
    pub tenant_limits: TenantLimits,
    /// How LinkedIn's application limit is told from a member's (`LINKEDIN_APP_LIMIT_MEMBERS`).
    pub throttle: ThrottleSettings,
    /// The webhook queue and the master secret endpoints' secrets derive from.
    pub webhooks: WebhookSettings,
    /// Where the functions' EMF metrics go: stdout, in `METRICS_NAMESPACE` (default
    /// [`crate::metrics::DEFAULT_NAMESPACE`]). The local stack's tests capture them instead.
    pub metrics: crate::metrics::Metrics,
    /// Published posts younger than this have their engagement metrics read every 24 hours
    /// (`METRICS_MAX_AGE_DAYS`, default 30).
    pub metrics_max_age: chrono::Duration,
}

/// What the functions that register or deliver webhooks need (`api`, `notifier`) beside
/// the webhook queue ([`Config::webhook_queue_url`]).
#[derive(Debug, Clone, Default)]
pub struct WebhookSettings {
    /// The master signing secret: from Secrets Manager when `WEBHOOK_SIGNING_SECRET_ARN` is
    /// set (filled by [`Config::load`]), else `WEBHOOK_SIGNING_SECRET` (local runs).
    pub signing_secret: Option<SecretString>,
    pub signing_secret_arn: Option<String>,
    /// `WEBHOOK_ALLOW_LOOPBACK=true`: endpoints on this machine (http allowed) may be
    /// registered and delivered to. Only the local stack sets it.
    pub allow_loopback: bool,
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
    /// Largest single image.
    pub max_bytes: usize,
    /// Largest total of one post's images fetched in one attempt.
    pub post_max_bytes: usize,
    /// How long one attempt may spend fetching a post's images.
    pub post_fetch_budget: Duration,
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

    /// The webhook queue's URL and the master signing secret, for `api` and `notifier`.
    pub fn require_webhooks(&self) -> Result<(&str, &SecretString), ConfigError> {
        let queue = self.require_webhook_queue()?;
        let secret = self
            .webhooks
            .signing_secret
            .as_ref()
            .ok_or(ConfigError::Missing(
                "WEBHOOK_SIGNING_SECRET_ARN (or WEBHOOK_SIGNING_SECRET locally)",
            ))?;
        Ok((queue, secret))
    }

    /// The webhook queue's URL, for the functions that emit events.
    pub fn require_webhook_queue(&self) -> Result<&str, ConfigError> {
        self.webhook_queue_url
            .as_deref()
            .ok_or(ConfigError::Missing("WEBHOOK_QUEUE_URL"))
    }

    /// The publish queue's URL, for the functions that need it (fails fast at cold start).
    pub fn require_publish_queue(&self) -> Result<&str, ConfigError> {
        self.publish_queue_url
            .as_deref()
            .ok_or(ConfigError::Missing("PUBLISH_QUEUE_URL"))
    }
}

impl Config {
    /// Everything a function needs at cold start: the process environment ([`Config::from_env`])
    /// and, when `LINKEDIN_CLIENT_SECRET_ARN` names one, the client secret from Secrets Manager
    /// (one call; a failure stops the cold start).
    pub async fn load(sdk: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        let mut config = Self::from_env()?;
        let pages_arn = config
            .linkedin
            .pages
            .as_ref()
            .is_some_and(|p| p.client_secret_arn.is_some());
        if config.linkedin.client_secret_arn.is_some()
            || pages_arn
            || config.webhooks.signing_secret_arn.is_some()
        {
            config
                .fetch_client_secret(&aws_sdk_secretsmanager::Client::new(sdk))
                .await?;
        }
        Ok(config)
    }

    /// Reads the client secret from `store` when `LINKEDIN_CLIENT_SECRET_ARN` is set (else
    /// keeps `LINKEDIN_CLIENT_SECRET`'s, the local fallback); the same for the pages app's
    /// and for the webhook master secret (`WEBHOOK_SIGNING_SECRET_ARN`).
    pub async fn fetch_client_secret(
        &mut self,
        store: &impl SecretStore,
    ) -> Result<(), ConfigError> {
        if let Some(arn) = &self.linkedin.client_secret_arn {
            self.linkedin.client_secret = Some(store.secret_string(arn).await?);
        }
        if let Some(pages) = self.linkedin.pages.as_mut() {
            if let Some(arn) = &pages.client_secret_arn {
                pages.client_secret = Some(store.secret_string(arn).await?);
            }
        }
        if let Some(arn) = &self.webhooks.signing_secret_arn {
            self.webhooks.signing_secret = Some(store.secret_string(arn).await?);
        }
        Ok(())
    }

    /// Reads the process environment, at a function's cold start: it also logs where the
    /// LinkedIn-Version in force stands (a warning within 60 days of its retirement, an error
    /// once retired), so every function says so before its first call fails.
    pub fn from_env() -> Result<Self, ConfigError> {
        let config = Self::from_lookup(|name| std::env::var(name).ok())?;
        crate::linkedin::log_version_state(config.linkedin.api_version, chrono::Utc::now());
        Ok(config)
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

        let api_version = ApiVersion::parse(
            &get("LINKEDIN_API_VERSION").unwrap_or_else(|| DEFAULT_LINKEDIN_API_VERSION.into()),
        )
        .map_err(|reason| ConfigError::Invalid {
            name: "LINKEDIN_API_VERSION",
            reason,
        })?;
        let scopes = parse_scopes(&get("LINKEDIN_SCOPES").unwrap_or_else(|| DEFAULT_SCOPES.into()));
        if scopes.is_empty() {
            return Err(ConfigError::Invalid {
                name: "LINKEDIN_SCOPES",
                reason: "no scope given".into(),
            });
        }
        let number = |name: &'static str| get(name).map(|v| (name, v));
        let seconds = |name: &'static str, default: u64| {
            positive(number(name), default, "number of seconds").map(Duration::from_secs)
        };

        let linkedin = LinkedInSettings {
            client_id: required("LINKEDIN_CLIENT_ID")?,
            client_secret: get("LINKEDIN_CLIENT_SECRET").map(SecretString::from),
            client_secret_arn: get("LINKEDIN_CLIENT_SECRET_ARN"),
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
            upload_hosts: UploadHosts::parse(
                &get("LINKEDIN_UPLOAD_HOSTS").unwrap_or_else(|| DEFAULT_UPLOAD_HOSTS.into()),
            )
            .map_err(|reason| ConfigError::Invalid {
                name: "LINKEDIN_UPLOAD_HOSTS",
                reason,
            })?,
            pages: pages_app(&get)?,
        };
        if linkedin.client_secret.is_some() && linkedin.client_secret_arn.is_some() {
            // One source, so nobody wonders which secret is in force.
            return Err(ConfigError::Invalid {
                name: "LINKEDIN_CLIENT_SECRET",
                reason: "set LINKEDIN_CLIENT_SECRET_ARN or LINKEDIN_CLIENT_SECRET, not both".into(),
            });
        }
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
        let bytes = |name, default: usize| positive(number(name), default, "number of bytes");
        let count = |name, default: u32| positive(number(name), default, "whole number");
        let defaults = TenantLimits::default();
        let tenant_limits = TenantLimits {
            requests_per_second: count("TENANT_REQUESTS_PER_SECOND", defaults.requests_per_second)?,
            posts_per_day: count("TENANT_POSTS_PER_DAY", defaults.posts_per_day)?,
            scheduled_posts: count("TENANT_SCHEDULED_POSTS_MAX", defaults.scheduled_posts)?,
            webhook_endpoints: count("TENANT_WEBHOOK_ENDPOINTS_MAX", defaults.webhook_endpoints)?,
        };
        let throttle = ThrottleSettings {
            app_members: count(
                "LINKEDIN_APP_LIMIT_MEMBERS",
                ThrottleSettings::default().app_members,
            )?,
            ..ThrottleSettings::default()
        };
        let max_bytes = bytes("MEDIA_MAX_BYTES", 10 * 1024 * 1024)?;
        let post_max_bytes = bytes("MEDIA_POST_MAX_BYTES", 50 * 1024 * 1024)?;
        let post_fetch_budget = seconds("MEDIA_POST_FETCH_SECONDS", 30)?;
        let days = |name: &'static str, default: chrono::Duration| {
            let days = positive(number(name), default.num_days(), "number of days")?;
            if days > 3650 {
                return Err(ConfigError::Invalid {
                    name,
                    reason: format!("expected a number of days from 1 to 3650, got {days}"),
                });
            }
            Ok(chrono::Duration::days(days))
        };
        let defaults = crate::store::Retention::default();
        let retention = crate::store::Retention {
            idempotency_key: days("RETENTION_IDEMPOTENCY_KEY_DAYS", defaults.idempotency_key)?,
            finished_post: days("RETENTION_FINISHED_POST_DAYS", defaults.finished_post)?,
            dlq_record: days("RETENTION_DLQ_RECORD_DAYS", defaults.dlq_record)?,
        };

        Ok(Config {
            linkedin,
            table_name: required("TABLE_NAME")?,
            token_key_id: required("TOKEN_KEY_ID")?,
            redirect_allow_list,
            admin_scope: match get("ADMIN_SCOPE") {
                None => DEFAULT_ADMIN_SCOPE.to_owned(),
                Some(scope) if !scope.contains(char::is_whitespace) => scope,
                Some(other) => {
                    return Err(ConfigError::Invalid {
                        name: "ADMIN_SCOPE",
                        reason: format!("{other:?} is not one scope"),
                    })
                }
            },
            oauth_state_ttl: seconds("OAUTH_STATE_TTL_SECONDS", 600)?,
            publish_queue_url: get("PUBLISH_QUEUE_URL"),
            health_queue_url: get("HEALTH_QUEUE_URL"),
            webhook_queue_url: get("WEBHOOK_QUEUE_URL"),
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
                post_max_bytes,
                post_fetch_budget,
                allow_private_hosts: get("MEDIA_ALLOW_PRIVATE_HOSTS").as_deref() == Some("true"),
            },
            retention,
            tenant_limits,
            throttle,
            webhooks: webhook_settings(&get)?,
            metrics: crate::metrics::Metrics::stdout(&metrics_namespace(&get)?),
            metrics_max_age: days(
                "METRICS_MAX_AGE_DAYS",
                crate::domain::posts::DEFAULT_METRICS_MAX_AGE,
            )?,
        })
    }
}

/// `METRICS_NAMESPACE`: what CloudWatch accepts as a namespace (ASCII, no spaces, at most 255
/// characters, not `AWS/`, which is AWS's own).
fn metrics_namespace(get: &impl Fn(&'static str) -> Option<String>) -> Result<String, ConfigError> {
    let Some(namespace) = get("METRICS_NAMESPACE") else {
        return Ok(crate::metrics::DEFAULT_NAMESPACE.to_owned());
    };
    let valid = namespace.len() <= 255
        && namespace.chars().all(|c| c.is_ascii_graphic())
        && !namespace.starts_with("AWS/")
        && !namespace.starts_with(':');
    if !valid {
        return Err(ConfigError::Invalid {
            name: "METRICS_NAMESPACE",
            reason: format!("{namespace:?} is not a CloudWatch namespace"),
        });
    }
    Ok(namespace)
}

fn webhook_settings(
    get: &impl Fn(&'static str) -> Option<String>,
) -> Result<WebhookSettings, ConfigError> {
    let settings = WebhookSettings {
        signing_secret: get("WEBHOOK_SIGNING_SECRET").map(SecretString::from),
        signing_secret_arn: get("WEBHOOK_SIGNING_SECRET_ARN"),
        allow_loopback: get("WEBHOOK_ALLOW_LOOPBACK").as_deref() == Some("true"),
    };
    if settings.signing_secret.is_some() && settings.signing_secret_arn.is_some() {
        return Err(ConfigError::Invalid {
            name: "WEBHOOK_SIGNING_SECRET",
            reason: "set WEBHOOK_SIGNING_SECRET_ARN or WEBHOOK_SIGNING_SECRET, not both".into(),
        });
    }
    Ok(settings)
}

/// The second app, when `LINKEDIN_PAGES_CLIENT_ID` is set; a secret for it without it is a
/// mistake worth failing the cold start for (its scopes alone are harmless: the template
/// passes their default to every deployment).
fn pages_app(
    get: &impl Fn(&'static str) -> Option<String>,
) -> Result<Option<AppCredentials>, ConfigError> {
    let Some(client_id) = get("LINKEDIN_PAGES_CLIENT_ID") else {
        for name in [
            "LINKEDIN_PAGES_CLIENT_SECRET",
            "LINKEDIN_PAGES_CLIENT_SECRET_ARN",
        ] {
            if get(name).is_some() {
                return Err(ConfigError::Invalid {
                    name,
                    reason: "set without LINKEDIN_PAGES_CLIENT_ID".into(),
                });
            }
        }
        return Ok(None);
    };
    let pages = AppCredentials {
        client_id,
        client_secret: get("LINKEDIN_PAGES_CLIENT_SECRET").map(SecretString::from),
        client_secret_arn: get("LINKEDIN_PAGES_CLIENT_SECRET_ARN"),
        scopes: parse_scopes(
            &get("LINKEDIN_PAGES_SCOPES").unwrap_or_else(|| DEFAULT_PAGES_SCOPES.into()),
        ),
    };
    if pages.scopes.is_empty() {
        return Err(ConfigError::Invalid {
            name: "LINKEDIN_PAGES_SCOPES",
            reason: "no scope given".into(),
        });
    }
    if pages.client_secret.is_some() && pages.client_secret_arn.is_some() {
        return Err(ConfigError::Invalid {
            name: "LINKEDIN_PAGES_CLIENT_SECRET",
            reason:
                "set LINKEDIN_PAGES_CLIENT_SECRET_ARN or LINKEDIN_PAGES_CLIENT_SECRET, not both"
                    .into(),
        });
    }
    Ok(Some(pages))
}

/// A positive number read from a variable `(name, value)`, or `default` when it is unset; an
/// error names the variable and the unit expected.
fn positive<T>(
    variable: Option<(&'static str, String)>,
    default: T,
    unit: &str,
) -> Result<T, ConfigError>
where
    T: std::str::FromStr + PartialOrd + From<u8>,
{
    let Some((name, value)) = variable else {
        return Ok(default);
    };
    value
        .trim()
        .parse::<T>()
        .ok()
        .filter(|n| *n > T::from(0))
        .ok_or(ConfigError::Invalid {
            name,
            reason: format!("expected a positive {unit}, got {value:?}"),
        })
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

/// Where the LinkedIn client secret is kept: Secrets Manager in AWS and in the local stack
/// (moto); tests use a map.
pub trait SecretStore {
    /// The `SecretString` of the secret `id` (an ARN or a name).
    fn secret_string(
        &self,
        id: &str,
    ) -> impl std::future::Future<Output = Result<SecretString, ConfigError>> + Send;
}

impl SecretStore for aws_sdk_secretsmanager::Client {
    async fn secret_string(&self, id: &str) -> Result<SecretString, ConfigError> {
        let out = self
            .get_secret_value()
            .secret_id(id)
            .send()
            .await
            .map_err(|e| {
                crate::aws_errors::classify(
                    &format!("GetSecretValue {id}"),
                    &e,
                    ConfigError::SecretUnavailable,
                    ConfigError::SecretRefused,
                )
            })?;
        // Taken into a secret type at once: the SDK's output type redacts it in Debug too.
        out.secret_string
            .map(SecretString::from)
            .ok_or_else(|| ConfigError::SecretRefused(format!("{id} has no SecretString")))
    }
}

/// The AWS SDK's configuration, read once per cold start beside [`Config::from_env`].
/// `AWS_ENDPOINT_URL` and `AWS_REGION` are honoured by the SDK itself, which is how the local
/// stack points everything at moto. Its HTTP client is the SDK's default, wrapped in
/// [`WarmedOnce`] so that the clients a function builds at cold start do not each load the
/// root certificates again.
pub async fn aws_sdk_config() -> aws_config::SdkConfig {
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    match sdk.http_client() {
        Some(http) => sdk
            .into_builder()
            .http_client(WarmedOnce::new(http))
            .build(),
        None => sdk,
    }
}

/// The SDK's HTTP client, warmed by the first client built on it only.
///
/// Each service client's constructor asks its HTTP client to validate the configuration; the
/// SDK's default (hyper and rustls) answers by building a TLS connector and throwing it away,
/// so that the native root certificates load at cold start rather than at the first request.
/// That builds a root store from every system certificate each time: with five or six clients
/// at init, most of a function's cold start above a one-client function (see
/// `make bench-coldstart`). The first validation does it; the others would only repeat it (the
/// connectors used for requests are built, and cached, by the first request either way).
#[derive(Debug)]
pub struct WarmedOnce {
    inner: aws_smithy_runtime_api::client::http::SharedHttpClient,
    warmed: std::sync::atomic::AtomicBool,
}

impl WarmedOnce {
    pub fn new(inner: aws_smithy_runtime_api::client::http::SharedHttpClient) -> Self {
        Self {
            inner,
            warmed: std::sync::atomic::AtomicBool::new(false),
        }
    }
}

impl aws_smithy_runtime_api::client::http::HttpClient for WarmedOnce {
    fn http_connector(
        &self,
        settings: &aws_smithy_runtime_api::client::http::HttpConnectorSettings,
        components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
    ) -> aws_smithy_runtime_api::client::http::SharedHttpConnector {
        self.inner.http_connector(settings, components)
    }

    fn validate_base_client_config(
        &self,
        components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponentsBuilder,
        cfg: &aws_smithy_types::config_bag::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        if self.warmed.swap(true, std::sync::atomic::Ordering::AcqRel) {
            return Ok(());
        }
        self.inner.validate_base_client_config(components, cfg)
    }

    fn validate_final_config(
        &self,
        components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        cfg: &aws_smithy_types::config_bag::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        self.inner.validate_final_config(components, cfg)
    }

    fn connector_metadata(
        &self,
    ) -> Option<aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata> {
        self.inner.connector_metadata()
    }
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
        assert_eq!(
            config.linkedin.api_version.to_string(),
            DEFAULT_LINKEDIN_API_VERSION
        );
        assert_eq!(
            config.linkedin.scopes,
            ["openid", "profile", "email", "w_member_social"]
        );
        assert_eq!(config.oauth_state_ttl, Duration::from_secs(600));
        assert_eq!(
            config
                .linkedin
                .client_secret
                .as_ref()
                .map(|s| s.expose_secret()),
            Some("shh")
        );
    }

    #[test]
    fn tenant_limits_default_and_can_be_set_per_deployment() {
        let config = load(&minimal()).unwrap();
        assert_eq!(config.tenant_limits, TenantLimits::default());
        assert_eq!(config.throttle, ThrottleSettings::default());
        let mut vars = minimal();
        vars.insert("TENANT_REQUESTS_PER_SECOND", "3");
        vars.insert("TENANT_POSTS_PER_DAY", "40");
        vars.insert("TENANT_SCHEDULED_POSTS_MAX", "5");
        vars.insert("LINKEDIN_APP_LIMIT_MEMBERS", "2");
        let config = load(&vars).unwrap();
        assert_eq!(
            config.tenant_limits,
            TenantLimits {
                requests_per_second: 3,
                posts_per_day: 40,
                scheduled_posts: 5,
                webhook_endpoints: 10,
            }
        );
        assert_eq!(config.throttle.app_members, 2);
        for bad in ["0", "-1", "many"] {
            vars.insert("TENANT_POSTS_PER_DAY", bad);
            assert!(
                matches!(
                    load(&vars),
                    Err(ConfigError::Invalid {
                        name: "TENANT_POSTS_PER_DAY",
                        ..
                    })
                ),
                "{bad}"
            );
        }
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

    /// A repository must not age into an outage: this fails the build 90 days before LinkedIn
    /// retires the default version, while there is time to move to a newer one.
    #[test]
    fn the_default_version_is_not_about_to_retire() {
        let version = ApiVersion::parse(DEFAULT_LINKEDIN_API_VERSION).unwrap();
        let today = chrono::Utc::now().date_naive();
        let days_left = version.days_left(today);
        assert!(
            days_left > 90,
            "LinkedIn retires LinkedIn-Version {version} on {} ({days_left} days from today): \
             bump DEFAULT_LINKEDIN_API_VERSION in shared/src/config.rs (and the template's \
             LinkedInApiVersion default) to a newer active YYYYMM version",
            version.retires_on()
        );
        assert!(
            today >= version.released_on(),
            "DEFAULT_LINKEDIN_API_VERSION {version} is from the future: LinkedIn answers 426"
        );
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
    fn retention_and_upload_hosts_have_defaults_and_can_be_set() {
        let config = load(&minimal()).unwrap();
        assert_eq!(config.retention.idempotency_key, chrono::Duration::days(7));
        assert_eq!(config.retention.finished_post, chrono::Duration::days(400));
        assert_eq!(config.retention.dlq_record, chrono::Duration::days(30));
        let linkedin = Url::parse("https://api.linkedin.com").unwrap();
        let upload = Url::parse("https://www.linkedin.com/dms-uploads/x").unwrap();
        assert!(config.linkedin.upload_hosts.allows(&upload, &linkedin));

        let mut vars = minimal();
        vars.insert("RETENTION_DLQ_RECORD_DAYS", "90");
        vars.insert("LINKEDIN_UPLOAD_HOSTS", "http://localhost:8088");
        let config = load(&vars).unwrap();
        assert_eq!(config.retention.dlq_record, chrono::Duration::days(90));
        assert_eq!(config.metrics_max_age, chrono::Duration::days(30));
        assert!(!config.linkedin.upload_hosts.allows(&upload, &linkedin));
        for (name, value) in [
            ("RETENTION_FINISHED_POST_DAYS", "0"),
            ("RETENTION_IDEMPOTENCY_KEY_DAYS", "a week"),
            ("METRICS_MAX_AGE_DAYS", "-3"),
            ("LINKEDIN_UPLOAD_HOSTS", "localhost"),
        ] {
            let mut vars = minimal();
            vars.insert(name, value);
            assert!(
                matches!(load(&vars), Err(ConfigError::Invalid { name: n, .. }) if n == name),
                "{name}={value}"
            );
        }
    }

    #[test]
    fn the_admin_scope_defaults_and_must_be_one_scope() {
        assert_eq!(load(&minimal()).unwrap().admin_scope, DEFAULT_ADMIN_SCOPE);
        let mut vars = minimal();
        vars.insert("ADMIN_SCOPE", "ops/tenants.write");
        assert_eq!(load(&vars).unwrap().admin_scope, "ops/tenants.write");
        for bad in ["a b", " admin"] {
            vars.insert("ADMIN_SCOPE", bad);
            assert!(
                matches!(
                    load(&vars),
                    Err(ConfigError::Invalid {
                        name: "ADMIN_SCOPE",
                        ..
                    })
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn the_metrics_namespace_defaults_and_must_be_a_cloudwatch_namespace() {
        let config = load(&minimal()).unwrap();
        assert_eq!(
            config.metrics.namespace(),
            crate::metrics::DEFAULT_NAMESPACE
        );
        let mut vars = minimal();
        vars.insert("METRICS_NAMESPACE", "Staging/LinkedIn");
        assert_eq!(load(&vars).unwrap().metrics.namespace(), "Staging/LinkedIn");
        for bad in ["AWS/Lambda", "two words", ":x"] {
            vars.insert("METRICS_NAMESPACE", bad);
            assert!(
                matches!(
                    load(&vars),
                    Err(ConfigError::Invalid {
                        name: "METRICS_NAMESPACE",
                        ..
                    })
                ),
                "{bad:?}"
            );
        }
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

    /// Without the client secret the LinkedIn client cannot be built (which functions get it
    /// is the template's business: scripts/check-template.py checks that).
    #[test]
    fn without_a_client_secret_no_linkedin_client_can_be_built() {
        let mut vars = minimal();
        vars.remove("LINKEDIN_CLIENT_SECRET");
        let config = load(&vars).unwrap();
        assert!(config.linkedin.client_secret.is_none());
        assert!(crate::linkedin::LinkedInClient::new(config.linkedin, config.metrics).is_err());
    }

    /// A Secrets Manager stand-in that counts its calls.
    struct SecretsMap {
        secrets: HashMap<&'static str, &'static str>,
        failure: Option<ConfigError>,
        calls: std::sync::atomic::AtomicUsize,
    }

    impl SecretsMap {
        fn with(id: &'static str, value: &'static str) -> Self {
            Self {
                secrets: HashMap::from([(id, value)]),
                failure: None,
                calls: Default::default(),
            }
        }
        fn calls(&self) -> usize {
            self.calls.load(std::sync::atomic::Ordering::SeqCst)
        }
    }

    impl SecretStore for SecretsMap {
        async fn secret_string(&self, id: &str) -> Result<SecretString, ConfigError> {
            self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            if let Some(failure) = &self.failure {
                return Err(match failure {
                    ConfigError::SecretUnavailable(m) => ConfigError::SecretUnavailable(m.clone()),
                    _ => ConfigError::SecretRefused(format!("{id} not found")),
                });
            }
            self.secrets
                .get(id)
                .map(|v| SecretString::from(v.to_string()))
                .ok_or_else(|| ConfigError::SecretRefused(format!("{id} not found")))
        }
    }

    const ARN: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:linkedin-AbCdEf";

    fn with_arn_only() -> HashMap<&'static str, &'static str> {
        let mut vars = minimal();
        vars.remove("LINKEDIN_CLIENT_SECRET");
        vars.insert("LINKEDIN_CLIENT_SECRET_ARN", ARN);
        vars
    }

    #[tokio::test]
    async fn when_the_secret_arn_is_set_the_client_secret_comes_from_the_store_in_one_call() {
        let store = SecretsMap::with(ARN, "from-secrets-manager");
        let mut config = load(&with_arn_only()).unwrap();
        assert!(
            config.linkedin.client_secret.is_none(),
            "not before the fetch"
        );

        config.fetch_client_secret(&store).await.unwrap();

        assert_eq!(store.calls(), 1);
        assert_eq!(
            config
                .linkedin
                .client_secret
                .as_ref()
                .map(|s| s.expose_secret()),
            Some("from-secrets-manager")
        );
        assert!(!format!("{config:?}").contains("from-secrets-manager"));
        assert!(crate::linkedin::LinkedInClient::new(config.linkedin, config.metrics).is_ok());
    }

    #[tokio::test]
    async fn without_the_secret_arn_the_environment_variable_is_the_fallback_and_no_store_is_asked()
    {
        let store = SecretsMap::with(ARN, "from-secrets-manager");
        let mut config = load(&minimal()).unwrap();

        config.fetch_client_secret(&store).await.unwrap();

        assert_eq!(store.calls(), 0);
        assert_eq!(
            config
                .linkedin
                .client_secret
                .as_ref()
                .map(|s| s.expose_secret()),
            Some("shh")
        );
    }

    const PAGES_ARN: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:pages-AbCdEf";

    #[test]
    fn with_one_app_there_is_no_pages_app_and_its_variables_alone_are_refused() {
        let config = load(&minimal()).unwrap();
        assert!(config.linkedin.pages.is_none());
        assert!(config
            .linkedin
            .scopes_of(crate::domain::LinkedInApp::Pages)
            .is_none());
        let mut vars = minimal();
        vars.insert("LINKEDIN_PAGES_CLIENT_SECRET", "x");
        assert!(matches!(
            load(&vars),
            Err(ConfigError::Invalid {
                name: "LINKEDIN_PAGES_CLIENT_SECRET",
                ..
            })
        ));
    }

    #[tokio::test]
    async fn the_pages_app_has_default_scopes_and_its_secret_comes_from_the_store() {
        let mut vars = with_arn_only();
        vars.insert("LINKEDIN_PAGES_CLIENT_ID", "pages-cid");
        vars.insert("LINKEDIN_PAGES_CLIENT_SECRET_ARN", PAGES_ARN);
        let mut store = SecretsMap::with(ARN, "member-secret");
        store.secrets.insert(PAGES_ARN, "pages-secret");
        let mut config = load(&vars).unwrap();

        config.fetch_client_secret(&store).await.unwrap();

        assert_eq!(store.calls(), 2);
        let pages = config.linkedin.pages.as_ref().unwrap();
        assert_eq!(pages.client_id, "pages-cid");
        assert_eq!(
            pages.client_secret.as_ref().map(|s| s.expose_secret()),
            Some("pages-secret")
        );
        assert_eq!(pages.scopes, parse_scopes(DEFAULT_PAGES_SCOPES));
        assert!(!format!("{config:?}").contains("pages-secret"));

        vars.insert("LINKEDIN_PAGES_CLIENT_SECRET", "too");
        assert!(matches!(
            load(&vars),
            Err(ConfigError::Invalid {
                name: "LINKEDIN_PAGES_CLIENT_SECRET",
                ..
            })
        ));
    }

    #[test]
    fn both_sources_at_once_are_refused() {
        let mut vars = with_arn_only();
        vars.insert("LINKEDIN_CLIENT_SECRET", "shh");
        assert!(matches!(
            load(&vars),
            Err(ConfigError::Invalid {
                name: "LINKEDIN_CLIENT_SECRET",
                ..
            })
        ));
    }

    #[tokio::test]
    async fn a_secret_the_store_refuses_fails_the_cold_start_naming_it_and_is_not_retryable() {
        let store = SecretsMap::with("another-secret", "x");
        let mut config = load(&with_arn_only()).unwrap();

        let error = config.fetch_client_secret(&store).await.unwrap_err();

        assert!(matches!(&error, ConfigError::SecretRefused(m) if m.contains(ARN)));
        assert!(!error.is_retryable());
        assert!(config.linkedin.client_secret.is_none());
    }

    #[tokio::test]
    async fn a_store_that_is_unavailable_fails_the_cold_start_as_retryable() {
        let mut store = SecretsMap::with(ARN, "x");
        store.failure = Some(ConfigError::SecretUnavailable(
            "GetSecretValue: timeout".into(),
        ));
        let mut config = load(&with_arn_only()).unwrap();

        let error = config.fetch_client_secret(&store).await.unwrap_err();

        assert!(error.is_retryable());
        assert!(error.to_string().contains("retrying can help"));
    }

    const WEBHOOK_ARN: &str =
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:webhooks-AbCdEf";

    #[tokio::test]
    async fn the_webhook_master_secret_comes_from_the_store_or_the_local_variable_not_both() {
        let config = load(&minimal()).unwrap();
        assert!(!config.webhooks.allow_loopback);
        assert_eq!(
            config.require_webhooks().unwrap_err(),
            ConfigError::Missing("WEBHOOK_QUEUE_URL")
        );

        let mut vars = minimal();
        vars.insert("WEBHOOK_QUEUE_URL", "https://sqs.example/q");
        vars.insert("WEBHOOK_SIGNING_SECRET_ARN", WEBHOOK_ARN);
        let mut config = load(&vars).unwrap();
        assert!(config.require_webhooks().is_err(), "not before the fetch");
        let store = SecretsMap::with(WEBHOOK_ARN, "webhook-master");
        config.fetch_client_secret(&store).await.unwrap();
        assert_eq!(store.calls(), 1);
        let (queue, secret) = config.require_webhooks().unwrap();
        assert_eq!(
            (queue, secret.expose_secret()),
            ("https://sqs.example/q", "webhook-master")
        );
        assert!(!format!("{config:?}").contains("webhook-master"));

        vars.insert("WEBHOOK_SIGNING_SECRET", "local");
        assert!(matches!(
            load(&vars),
            Err(ConfigError::Invalid {
                name: "WEBHOOK_SIGNING_SECRET",
                ..
            })
        ));
        vars.remove("WEBHOOK_SIGNING_SECRET_ARN");
        vars.insert("WEBHOOK_ALLOW_LOOPBACK", "true");
        let config = load(&vars).unwrap();
        assert!(config.webhooks.allow_loopback);
        assert_eq!(
            config.require_webhooks().unwrap().1.expose_secret(),
            "local"
        );
    }

    /// An HTTP client that counts the validations asked of it and sends nothing.
    #[derive(Debug)]
    struct CountingHttp(std::sync::Arc<std::sync::atomic::AtomicUsize>);

    impl aws_smithy_runtime_api::client::http::HttpClient for CountingHttp {
        fn http_connector(
            &self,
            _: &aws_smithy_runtime_api::client::http::HttpConnectorSettings,
            _: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        ) -> aws_smithy_runtime_api::client::http::SharedHttpConnector {
            panic!("no request is sent in this test")
        }

        fn validate_base_client_config(
            &self,
            _: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponentsBuilder,
            _: &aws_smithy_types::config_bag::ConfigBag,
        ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(())
        }
    }

    #[tokio::test]
    async fn the_clients_built_at_cold_start_warm_the_http_client_once() {
        let validations = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let http = aws_smithy_runtime_api::client::http::SharedHttpClient::new(CountingHttp(
            validations.clone(),
        ));
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                "id", "secret", None, None, "test",
            ))
            .http_client(WarmedOnce::new(http))
            .load()
            .await;

        let _ = aws_sdk_dynamodb::Client::new(&sdk);
        let _ = aws_sdk_sqs::Client::new(&sdk);
        let _ = aws_sdk_kms::Client::new(&sdk);
        let _ = aws_sdk_dynamodb::Client::new(&sdk);

        assert_eq!(validations.load(std::sync::atomic::Ordering::SeqCst), 1);
    }
}
