//! The AWS SDK's side of every adapter: one configuration (endpoints, timeouts, compiled-in
//! TLS roots) and one way to put an SDK call's failure into words.

use std::time::Duration;

pub use aws_config::SdkConfig;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// Loads the AWS configuration once, every SDK call bounded by `timeouts` (each function
/// passes its own: see [`SdkTimeouts`]). Endpoints, region and credentials come from the
/// standard variables (`AWS_ENDPOINT_URL_SQS`, `AWS_REGION`, …), so local runs need no code.
pub async fn aws_config(timeouts: SdkTimeouts) -> aws_config::SdkConfig {
    let loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .timeout_config(timeouts.config());
    super::tls::with_compiled_in_roots(loader).load().await
}

/// How long one SDK call may take. One stalled request must fail, and be retried by the SDK
/// (3 attempts) or by SQS, well inside the function's own Lambda timeout instead of dragging
/// it past: so an operation's budget is below that timeout and holds at least two attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdkTimeouts {
    pub connect: Duration,
    /// One HTTP attempt.
    pub attempt: Duration,
    /// All attempts of one call, back-off included.
    pub operation: Duration,
}

impl SdkTimeouts {
    /// The worker (Lambda timeout 30 s) and reconcile (300 s).
    pub const DEFAULT: Self = Self {
        connect: Duration::from_secs(3),
        attempt: Duration::from_secs(5),
        operation: Duration::from_secs(12),
    };

    /// How many whole attempts fit in the operation's budget.
    pub fn attempts_within_operation(&self) -> u128 {
        self.operation.as_millis() / self.attempt.as_millis().max(1)
    }

    fn config(self) -> aws_config::timeout::TimeoutConfig {
        aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(self.connect)
            .operation_attempt_timeout(self.attempt)
            .operation_timeout(self.operation)
            .build()
    }
}

/// An AWS call's failure on one line: the service's code and message when it answered
/// (`ResourceNotFoundException: Cannot do operations on a non-existent table`), else the
/// cause (connection refused, timeout, no credentials…), never a Debug dump. Any SDK's error.
pub fn describe_sdk_error<E>(e: &SdkError<E>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match e.as_service_error().map(|s| (s.code(), s.message())) {
        Some((Some(code), Some(message))) => format!("{code}: {message}"),
        Some((Some(code), None)) => code.to_owned(),
        // An answer that is not the service's error shape (a proxy's or emulator's page).
        Some((None, _)) => match e.raw_response() {
            Some(r) => format!("HTTP {} without an AWS error code", r.status().as_u16()),
            None => crate::telemetry::error_chain(e),
        },
        None => crate::telemetry::error_chain(e),
    }
}

/// `{what} failed: {why}` (see [`describe_sdk_error`]), the SDK's error kept as the source.
pub fn sdk_failure<E>(what: &str, e: SdkError<E>) -> crate::ports::AdapterError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    crate::ports::AdapterError {
        message: format!("{what} failed: {}", describe_sdk_error(&e)),
        source: Some(Box::new(e)),
    }
}

/// Every SDK's call error: the same smithy type behind each crate's re-export.
pub type SdkError<E> = aws_smithy_runtime_api::client::result::SdkError<
    E,
    aws_smithy_runtime_api::client::orchestrator::HttpResponse,
>;
