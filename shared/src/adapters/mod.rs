//! Adapters: the ports implemented over SQS, DynamoDB, SSM, EventBridge and Glase's HTTP API, each behind
//! its own cargo feature so a function links only the SDKs it calls.

#[cfg(feature = "aws")]
mod aws;
#[cfg(feature = "dynamodb")]
pub mod dynamo;
#[cfg(feature = "eventbridge")]
pub mod eventbridge;
#[cfg(feature = "glase")]
pub mod glase_http;
#[cfg(feature = "glase")]
pub mod glase_report;
#[cfg(feature = "sqs")]
pub mod sqs;
#[cfg(feature = "ssm")]
pub mod ssm;
#[cfg(any(feature = "aws", feature = "glase"))]
mod tls;

#[cfg(feature = "aws")]
pub use aws::{aws_config, describe_sdk_error, sdk_failure, SdkConfig, SdkError, SdkTimeouts};
#[cfg(feature = "dynamodb")]
pub use dynamo::query::{self as dynamo_query, InvoiceQueries, InvoiceRow};
#[cfg(feature = "dynamodb")]
pub use dynamo::DynamoStore;
#[cfg(feature = "glase")]
pub use glase_http::GlaseHttp;
#[cfg(feature = "glase")]
pub use glase_report::{GlaseReport, ReportRows};
#[cfg(feature = "sqs")]
pub use sqs::SqsQueue;
