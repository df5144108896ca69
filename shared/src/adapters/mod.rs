//! Adapters: the ports implemented over SQS, DynamoDB, SSM and Glase's HTTP API, each behind
//! its own cargo feature so a function links only the SDKs it calls.

#[cfg(feature = "dynamodb")]
pub mod dynamo;
#[cfg(feature = "glase-http")]
pub mod glase_http;
#[cfg(feature = "glase-report")]
pub mod glase_report;
#[cfg(feature = "sqs")]
pub mod sqs;
#[cfg(feature = "sqs")]
pub mod sqs_requeue;
#[cfg(feature = "ssm")]
pub mod ssm;
#[cfg(any(feature = "aws", feature = "glase-http"))]
mod tls;

#[cfg(feature = "dynamodb")]
pub use dynamo::query::{self as dynamo_query, InvoiceQueries};
#[cfg(feature = "dynamodb")]
pub use dynamo::DynamoStore;
#[cfg(feature = "glase-http")]
pub use glase_http::GlaseHttp;
#[cfg(feature = "glase-report")]
pub use glase_report::{GlaseReport, ReportRows};
#[cfg(feature = "sqs")]
pub use sqs::SqsQueue;
#[cfg(all(feature = "sqs", feature = "invoice"))]
pub use sqs::SqsWorkQueue;
#[cfg(feature = "sqs")]
pub use sqs_requeue::SqsRequeue;

#[cfg(feature = "aws")]
pub use aws_config::SdkConfig;

/// Loads the AWS configuration once. Endpoints, region and credentials come from the
/// standard variables (`AWS_ENDPOINT_URL_SQS`, `AWS_REGION`, …), so local runs need no code.
#[cfg(feature = "aws")]
pub async fn aws_config() -> aws_config::SdkConfig {
    let loader =
        aws_config::defaults(aws_config::BehaviorVersion::latest()).timeout_config(timeouts());
    tls::with_compiled_in_roots(loader).load().await
}

/// Every SDK call is bounded: one stalled request must fail (and be retried by the SDK or by
/// SQS) well inside the functions' 30 s timeout instead of dragging the whole batch past it.
#[cfg(feature = "aws")]
fn timeouts() -> aws_config::timeout::TimeoutConfig {
    use std::time::Duration;
    aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(3))
        .operation_attempt_timeout(Duration::from_secs(5))
        .operation_timeout(Duration::from_secs(12))
        .build()
}
