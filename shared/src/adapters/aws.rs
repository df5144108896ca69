//! The AWS SDK's side of every adapter: one configuration (endpoints, timeouts, compiled-in
//! TLS roots) and one way to put an SDK call's failure into words.

pub use aws_config::SdkConfig;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// Loads the AWS configuration once. Endpoints, region and credentials come from the
/// standard variables (`AWS_ENDPOINT_URL_SQS`, `AWS_REGION`, …), so local runs need no code.
pub async fn aws_config() -> aws_config::SdkConfig {
    let loader =
        aws_config::defaults(aws_config::BehaviorVersion::latest()).timeout_config(timeouts());
    super::tls::with_compiled_in_roots(loader).load().await
}

/// Every SDK call is bounded: one stalled request must fail (and be retried by the SDK or by
/// SQS) well inside the functions' 30 s timeout instead of dragging the whole batch past it.
fn timeouts() -> aws_config::timeout::TimeoutConfig {
    use std::time::Duration;
    aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(3))
        .operation_attempt_timeout(Duration::from_secs(5))
        .operation_timeout(Duration::from_secs(12))
        .build()
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
