//! The AWS SDK's side of every adapter: one configuration (endpoints, timeouts, compiled-in
//! TLS roots) and one way to put an SDK call's failure into words.

use std::time::Duration;

pub use aws_config::SdkConfig;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// Loads the AWS configuration once, every SDK call bounded by `timeouts` (each function
/// passes its own: see [`SdkTimeouts`]). Endpoints, region and credentials come from the
/// standard variables (`AWS_ENDPOINT_URL_SQS`, `AWS_REGION`, …), so local runs need no code.
pub async fn aws_config(timeouts: SdkTimeouts) -> aws_config::SdkConfig {
    loader(&crate::config::Env::process(), timeouts)
        .load()
        .await
}

fn loader<F: Fn(&str) -> Option<String>>(
    env: &crate::config::Env<F>,
    timeouts: SdkTimeouts,
) -> aws_config::ConfigLoader {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .timeout_config(timeouts.config());
    // In Lambda the region and the role's credentials are in the environment: take them from
    // there rather than building the default chains (profile, web identity, ECS, IMDS…),
    // which cost ~5 % of the webhook's init instructions and can only end up at the same
    // variables. Elsewhere (the CLI, tools), or a Lambda without keys in its environment,
    // the default chains as before.
    let in_lambda = env.optional("AWS_LAMBDA_FUNCTION_NAME").is_some();
    let keys = env.optional("AWS_ACCESS_KEY_ID").is_some()
        && env.optional("AWS_SECRET_ACCESS_KEY").is_some();
    if let (true, true, Some(region)) = (in_lambda, keys, env.optional("AWS_REGION")) {
        loader = loader
            .region(aws_config::Region::new(region))
            .credentials_provider(
                aws_config::environment::EnvironmentVariableCredentialsProvider::new(),
            );
    }
    super::tls::with_compiled_in_roots(loader)
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

#[cfg(test)]
mod tests {
    use crate::config::Env;

    const LAMBDA: &[(&str, &str)] = &[
        ("AWS_LAMBDA_FUNCTION_NAME", "glase-webhook"),
        ("AWS_REGION", "eu-west-1"),
        ("AWS_ACCESS_KEY_ID", "id"),
        ("AWS_SECRET_ACCESS_KEY", "secret"),
        ("AWS_SESSION_TOKEN", "token"),
    ];

    async fn credentials_provider(pairs: &[(&str, &str)]) -> String {
        let config = super::loader(&Env::from_pairs(pairs), super::SdkTimeouts::DEFAULT)
            // Not the default region chain, which would look at this machine (IMDS included).
            .region(aws_config::Region::from_static("us-east-2"))
            .load()
            .await;
        format!("{:?}", config.credentials_provider())
    }

    #[tokio::test]
    async fn in_lambda_region_and_credentials_come_from_its_environment_without_the_chains() {
        let lambda = super::loader(&Env::from_pairs(LAMBDA), super::SdkTimeouts::DEFAULT)
            .load()
            .await;
        let credentials = format!("{:?}", lambda.credentials_provider());
        assert!(
            credentials.contains("EnvironmentVariableCredentialsProvider"),
            "{credentials}"
        );
        assert!(
            !credentials.contains("DefaultCredentialsChain"),
            "{credentials}"
        );
        assert_eq!(lambda.region().map(|r| r.as_ref()), Some("eu-west-1"));

        // The CLI and tools (no AWS_LAMBDA_FUNCTION_NAME), and a Lambda without keys in its
        // environment (container credentials), keep the default chain.
        let cli = credentials_provider(&LAMBDA[1..]).await;
        assert!(cli.contains("DefaultCredentialsChain"), "{cli}");
        let no_keys = credentials_provider(&LAMBDA[..2]).await;
        assert!(no_keys.contains("DefaultCredentialsChain"), "{no_keys}");
    }
}
