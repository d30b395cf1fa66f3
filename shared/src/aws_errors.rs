//! The one reading of an AWS call's failure shared by the adapters (store, queue, vault,
//! scheduler): transient (retrying can help) or not. Each adapter first takes the typed
//! service errors that mean something to it (a lost conditional write, no such schedule, …)
//! and leaves the rest to [`classify`].

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::http::Response;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// What an SDK call fails with.
pub(crate) type AwsError<E> = SdkError<E, Response>;

/// Service error codes meaning "throttled" or "failed on AWS's side": DynamoDB's, SQS's,
/// KMS's and EventBridge Scheduler's.
const TRANSIENT_CODES: &[&str] = &[
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "TransactionConflictException",
    "InternalServerError",
    "InternalServerException",
    "InternalError",
    "ServiceUnavailable",
    "KMSInternalException",
    "DependencyTimeoutException",
];

/// Whether retrying the call can help: any failure without a service's answer (timeout, no
/// connection, an answer that could not be read, a request that could not be built), a 5xx
/// (whatever its code, or none) and the throttling and internal-error codes above.
pub(crate) fn is_transient<E: ProvideErrorMetadata>(error: &AwsError<E>) -> bool {
    match error {
        SdkError::ServiceError(service) => {
            service.raw().status().is_server_error()
                || service
                    .err()
                    .code()
                    .is_some_and(|code| TRANSIENT_CODES.contains(&code))
        }
        _ => true,
    }
}

/// `operation: cause`, with the SDK's whole chain of causes.
fn describe<E>(operation: &str, error: &AwsError<E>) -> String
where
    E: std::error::Error + 'static,
{
    format!("{operation}: {}", DisplayErrorContext(error))
}

/// The failure as `transient(detail)` or `permanent(detail)` (see [`is_transient`]).
pub(crate) fn classify<E, T>(
    operation: &str,
    error: &AwsError<E>,
    transient: fn(String) -> T,
    permanent: fn(String) -> T,
) -> T
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    class_of(error, transient, permanent)(describe(operation, error))
}

/// As [`classify`], but first offers the service's typed error (`S`, e.g.
/// `aws_sdk_dynamodb::Error`, which every operation's error converts into) to `typed`, which
/// names the class of the failures the adapter makes something of (`None` for the rest).
pub(crate) fn classify_typed<E, S, T>(
    operation: &str,
    error: AwsError<E>,
    typed: impl FnOnce(S) -> Option<fn(String) -> T>,
    transient: fn(String) -> T,
    permanent: fn(String) -> T,
) -> T
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    S: From<AwsError<E>>,
{
    let detail = describe(operation, &error);
    let otherwise = class_of(&error, transient, permanent);
    typed(S::from(error)).unwrap_or(otherwise)(detail)
}

fn class_of<E: ProvideErrorMetadata, T>(
    error: &AwsError<E>,
    transient: fn(String) -> T,
    permanent: fn(String) -> T,
) -> fn(String) -> T {
    if is_transient(error) {
        transient
    } else {
        permanent
    }
}

/// Failures built by hand, as the SDK would return them, for the adapters' tests.
#[cfg(test)]
pub(crate) mod fixtures {
    use aws_smithy_runtime_api::client::result::ConnectorError;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    use super::{AwsError, Response};

    /// A modeled service error as the SDK reads it off an answer: its code (the type's name
    /// unless given) in its metadata. Where the message is required, `build` is a `Result`.
    macro_rules! modeled {
        ($error:ident) => {
            $crate::aws_errors::fixtures::modeled!($error, stringify!($error))
        };
        ($error:ident, $code:expr) => {
            $error::builder()
                .message("from a test")
                .meta($crate::aws_errors::fixtures::code($code))
                .build()
        };
    }
    pub(crate) use modeled;

    pub fn response(status: u16) -> Response {
        Response::new(
            StatusCode::try_from(status).expect("a status code"),
            SdkBody::empty(),
        )
    }

    /// The service answered `status` with the typed error `error`.
    pub fn service<E>(status: u16, error: E) -> AwsError<E> {
        AwsError::service_error(error, response(status))
    }

    /// Error metadata naming `code`, as the SDK reads it off an answer.
    pub fn code(code: &str) -> ErrorMetadata {
        ErrorMetadata::builder()
            .code(code)
            .message("from a test")
            .build()
    }

    /// A table's first rows: the failures every adapter reads as transient whatever the
    /// service (no answer, an unreadable one, a 5xx without a code, throttling), each
    /// expected to end in `class`.
    pub fn transient<E, C: Clone>(
        generic: fn(ErrorMetadata) -> E,
        class: C,
    ) -> Vec<(&'static str, AwsError<E>, C)> {
        [
            ("timeout", AwsError::timeout_error("took too long")),
            (
                "no connection",
                AwsError::dispatch_failure(ConnectorError::io("connection refused".into())),
            ),
            (
                "unreadable answer",
                AwsError::response_error("truncated body", response(200)),
            ),
            (
                "5xx without a code",
                service(503, generic(ErrorMetadata::builder().build())),
            ),
            (
                "throttled",
                service(400, generic(code("ThrottlingException"))),
            ),
        ]
        .into_iter()
        .map(|(name, error)| (name, error, class.clone()))
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::{code, service, transient};
    use super::*;
    use aws_sdk_sqs::operation::send_message::SendMessageError;
    use aws_smithy_runtime_api::client::result::ConnectorError;
    use aws_smithy_types::error::ErrorMetadata;

    #[test]
    fn each_kind_of_failure_is_transient_or_not() {
        let generic = |status, meta| service(status, SendMessageError::generic(meta));
        let mut cases = transient(SendMessageError::generic, true);
        cases.extend([
            (
                "connector timeout",
                AwsError::dispatch_failure(ConnectorError::timeout("slow".into())),
                true,
            ),
            (
                "request not built",
                AwsError::construction_failure("missing field"),
                true,
            ),
            ("5xx, unknown code", generic(502, code("Whatever")), true),
            (
                "400, no code",
                generic(400, ErrorMetadata::builder().build()),
                false,
            ),
            (
                "access denied",
                generic(400, code("AccessDeniedException")),
                false,
            ),
        ]);
        for name in TRANSIENT_CODES {
            cases.push((name, generic(400, code(name)), true));
        }
        for (name, error, transient) in cases {
            assert_eq!(is_transient(&error), transient, "{name}");
            let sorted = classify("Op", &error, Ok::<_, String>, Err);
            assert_eq!(sorted.is_ok(), transient, "{name}");
            let detail = sorted.unwrap_or_else(|d| d);
            assert!(detail.starts_with("Op: "), "{name}: {detail}");
        }
    }
}
