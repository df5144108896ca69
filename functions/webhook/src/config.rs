//! The webhook's configuration, read once at cold start from the shared helpers. Errors name
//! the variable, never the token or a URL.

use std::time::Duration;

use glase_shared::adapters::SdkTimeouts;
use glase_shared::config::{ConfigError, Env};
use glase_shared::{WebhookToken, WebhookTokenError};

/// The webhook's SDK budget. Its Lambda timeout is 5 s (API Gateway gives up at 7 s), so one
/// stalled SendMessage (normally tens of ms) is abandoned after 1.5 s and tried again, and the
/// whole call ends by 4 s: a 503 Glase retries, not a Lambda timeout.
pub const SDK_TIMEOUTS: SdkTimeouts = SdkTimeouts {
    connect: Duration::from_secs(1),
    attempt: Duration::from_millis(1_500),
    operation: Duration::from_secs(4),
};

#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// `QUEUE_URL`: where notifications are queued for the worker.
    pub queue_url: String,
    /// `WEBHOOK_TOKEN_SHA256` or `WEBHOOK_TOKEN` (one is required): the path's last segment
    /// must be the token.
    pub webhook_token: WebhookToken,
    /// `PRIME_CONNECTIONS` (default true): open the SQS connection during init.
    pub prime_connections: bool,
}

impl WebhookConfig {
    pub fn from_env<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        Ok(Self {
            queue_url: env.url("QUEUE_URL")?,
            webhook_token: webhook_token(env)?,
            prime_connections: env.flag("PRIME_CONNECTIONS", true)?,
        })
    }
}

fn webhook_token<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<WebhookToken, ConfigError> {
    let invalid = |var| {
        move |e: WebhookTokenError| ConfigError::Invalid {
            var,
            reason: e.to_string(),
        }
    };
    match (
        env.optional("WEBHOOK_TOKEN_SHA256"),
        env.optional("WEBHOOK_TOKEN"),
    ) {
        (Some(digest), None) => {
            WebhookToken::sha256_hex(&digest).map_err(invalid("WEBHOOK_TOKEN_SHA256"))
        }
        (None, Some(token)) => WebhookToken::plain(&token).map_err(invalid("WEBHOOK_TOKEN")),
        (None, None) => Err(ConfigError::Missing("WEBHOOK_TOKEN_SHA256")),
        (Some(_), Some(_)) => Err(ConfigError::WebhookTokenSource),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "a-webhook-token-0123456789";

    fn webhook(pairs: &[(&str, &str)]) -> Result<WebhookConfig, ConfigError> {
        WebhookConfig::from_env(&Env::from_pairs(pairs))
    }

    #[test]
    fn webhook_token_is_required_as_a_digest_or_a_plain_token() {
        assert_eq!(
            webhook(&[("QUEUE_URL", "http://q")]).unwrap_err(),
            ConfigError::Missing("WEBHOOK_TOKEN_SHA256")
        );
        let plain = webhook(&[("QUEUE_URL", "http://q"), ("WEBHOOK_TOKEN", TOKEN)]).unwrap();
        assert!(plain.webhook_token.matches(TOKEN));
        let digest = "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b";
        let hashed =
            webhook(&[("QUEUE_URL", "http://q"), ("WEBHOOK_TOKEN_SHA256", digest)]).unwrap();
        assert!(hashed.webhook_token.matches("secret"));
        assert_eq!(
            webhook(&[
                ("QUEUE_URL", "http://q"),
                ("WEBHOOK_TOKEN", TOKEN),
                ("WEBHOOK_TOKEN_SHA256", digest)
            ])
            .unwrap_err(),
            ConfigError::WebhookTokenSource
        );
        assert_eq!(
            webhook(&[("WEBHOOK_TOKEN", TOKEN)]).unwrap_err(),
            ConfigError::Missing("QUEUE_URL")
        );
    }

    #[test]
    fn a_malformed_webhook_token_is_named_but_never_echoed() {
        let err =
            webhook(&[("QUEUE_URL", "http://q"), ("WEBHOOK_TOKEN", "short/secret")]).unwrap_err();
        assert!(matches!(
            err,
            ConfigError::Invalid {
                var: "WEBHOOK_TOKEN",
                ..
            }
        ));
        assert!(!err.to_string().contains("short/secret"));
        let err = webhook(&[
            ("QUEUE_URL", "http://q"),
            ("WEBHOOK_TOKEN_SHA256", "xyz-secret"),
        ])
        .unwrap_err();
        assert!(matches!(
            err,
            ConfigError::Invalid {
                var: "WEBHOOK_TOKEN_SHA256",
                ..
            }
        ));
        assert!(!err.to_string().contains("xyz-secret"));
    }

    #[test]
    fn a_bad_url_is_named_without_echoing_its_value() {
        let err =
            webhook(&[("QUEUE_URL", "ftp://user:pw@q"), ("WEBHOOK_TOKEN", TOKEN)]).unwrap_err();
        assert!(matches!(
            err,
            ConfigError::Invalid {
                var: "QUEUE_URL",
                ..
            }
        ));
        assert!(!err.to_string().contains("pw@q"));
    }

    /// The webhook function's `Timeout:` in template.yaml, in seconds.
    fn lambda_timeout() -> Duration {
        let template = include_str!("../../../template.yaml");
        let function = &template[template
            .find("\n  WebhookFunction:\n")
            .expect("template.yaml has the WebhookFunction")..];
        let secs = function
            .lines()
            .find_map(|l| l.strip_prefix("      Timeout: "))
            .expect("the WebhookFunction has a Timeout")
            .trim()
            .parse()
            .expect("a whole number of seconds");
        Duration::from_secs(secs)
    }

    #[test]
    fn a_stalled_sqs_attempt_is_retried_within_the_webhooks_lambda_timeout() {
        let lambda = lambda_timeout();
        assert!(
            SDK_TIMEOUTS.operation < lambda,
            "{SDK_TIMEOUTS:?} against a {lambda:?} Lambda timeout"
        );
        assert!(
            SDK_TIMEOUTS.attempts_within_operation() >= 2,
            "{SDK_TIMEOUTS:?} leaves no second attempt"
        );
        assert!(SDK_TIMEOUTS.connect < SDK_TIMEOUTS.attempt);
    }
}
