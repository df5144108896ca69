//! Adapters: the ports implemented over DynamoDB, SQS, SSM and Glase's HTTP API.

pub mod dynamo;
pub mod dynamo_batch;
pub mod glase_http;
pub mod glase_report;
pub mod sqs;
pub mod sqs_requeue;

pub use dynamo::DynamoStore;
pub use glase_http::GlaseHttp;
pub use glase_report::{GlaseReport, ReportFetchError, ReportRows};
pub use sqs::{SqsQueue, SqsWorkQueue};
pub use sqs_requeue::SqsRequeue;

use secrecy::SecretString;

use crate::config::{ConfigError, GlaseConfig, SecretSource};
use crate::domain::AuthToken;

/// Loads the AWS configuration once. Endpoints, region and credentials come from the
/// standard variables (`AWS_ENDPOINT_URL_SQS`, `AWS_REGION`, …), so local runs need no code.
pub async fn aws_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

/// Resolves the issuer secret (reading SSM at most once, at cold start) and derives the token.
pub async fn auth_token(
    config: &GlaseConfig,
    aws: &aws_config::SdkConfig,
) -> Result<AuthToken, ConfigError> {
    let secret = match &config.secret {
        SecretSource::Plain(secret) => secret.clone(),
        SecretSource::SsmParameter(name) => {
            let fail = |reason: String| ConfigError::SecretParameter {
                name: name.clone(),
                reason,
            };
            let out = aws_sdk_ssm::Client::new(aws)
                .get_parameter()
                .name(name)
                .with_decryption(true)
                .send()
                .await
                .map_err(|e| fail(aws_sdk_ssm::error::DisplayErrorContext(e).to_string()))?;
            let value = out
                .parameter()
                .and_then(|p| p.value())
                .filter(|v| !v.is_empty())
                .ok_or_else(|| fail("the parameter has no value".into()))?;
            SecretString::from(value.to_owned())
        }
    };
    Ok(AuthToken::derive(&config.issuer, &secret))
}
