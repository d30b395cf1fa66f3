//! Logging: JSON lines when `AWS_LAMBDA_LOG_FORMAT=JSON` (as Lambda sets it), readable text
//! otherwise; level from `RUST_LOG` or `AWS_LAMBDA_LOG_LEVEL`, `info` by default.
//!
//! Whatever the level, the Lambda runtime crates are capped at `info`: at `debug`/`trace` they
//! log whole events and responses, which carry Authorization headers and OAuth codes.

use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, EnvFilter, Layer};

/// Crates that log raw events or HTTP bodies below `info`; never more verbose than `info`.
pub const CAPPED_AT_INFO: &[&str] = &[
    "lambda_runtime",
    "lambda_runtime_api_client",
    "lambda_http",
    "hyper",
    "hyper_util",
    "h2",
    "reqwest",
    "aws_smithy_runtime",
    "aws_smithy_http_client",
];

/// The cap on top of whatever level is asked for: see [`CAPPED_AT_INFO`].
pub fn secret_safe_cap() -> Targets {
    CAPPED_AT_INFO.iter().fold(
        Targets::new().with_default(LevelFilter::TRACE),
        |t, name| t.with_target(*name, LevelFilter::INFO),
    )
}

pub fn init() {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| {
            std::env::var("AWS_LAMBDA_LOG_LEVEL").map(|level| EnvFilter::new(level.to_lowercase()))
        })
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT")
        .map(|v| v.eq_ignore_ascii_case("json"))
        .unwrap_or(false);
    let output = if json {
        fmt::layer()
            .with_target(false)
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .boxed()
    } else {
        fmt::layer().with_target(false).boxed()
    };
    // `try_init`: a second call (tests, the local stack) keeps the first subscriber.
    let _ = tracing_subscriber::registry()
        .with(output.with_filter(filter).with_filter(secret_safe_cap()))
        .try_init();
}
