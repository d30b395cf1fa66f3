//! Logging: JSON lines when `AWS_LAMBDA_LOG_FORMAT=JSON` (as Lambda sets it), readable text
//! otherwise; level from `RUST_LOG` or `AWS_LAMBDA_LOG_LEVEL`, `info` by default.

use tracing_subscriber::{fmt, EnvFilter};

pub fn init() {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| {
            std::env::var("AWS_LAMBDA_LOG_LEVEL").map(|level| EnvFilter::new(level.to_lowercase()))
        })
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT")
        .map(|v| v.eq_ignore_ascii_case("json"))
        .unwrap_or(false);
    let builder = fmt().with_env_filter(filter).with_target(false);
    // `try_init`: a second call (tests, the local stack) keeps the first subscriber.
    let _ = if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init()
    } else {
        builder.try_init()
    };
}
