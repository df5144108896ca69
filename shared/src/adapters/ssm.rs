//! SSM Parameter Store: the issuer secret, read once at cold start.

use secrecy::SecretString;

use crate::config::{ConfigError, GlaseConfig, SecretSource};
use crate::domain::AuthToken;

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
            // Trimmed like GLASE_SECRET: a trailing newline from `aws ssm put-parameter
            // --value file://…` would otherwise change every token.
            let value = out
                .parameter()
                .and_then(|p| p.value())
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| fail("the parameter has no value".into()))?;
            SecretString::from(value.to_owned())
        }
    };
    Ok(AuthToken::derive(&config.issuer, &secret))
}
