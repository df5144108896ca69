//! Configuration from the environment, read once at cold start. Every error names the
//! variable; no error ever contains a secret's value.

use std::time::Duration;

use jiff::tz::TimeZone;
use secrecy::SecretString;

use crate::domain::IssuerName;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is required but not set")]
    Missing(&'static str),
    #[error("environment variable {var} is invalid: {reason}")]
    Invalid { var: &'static str, reason: String },
    #[error("set exactly one of GLASE_SECRET or GLASE_SECRET_PARAMETER")]
    SecretSource,
    #[error("could not read the issuer secret from SSM parameter {name}: {reason}")]
    SecretParameter { name: String, reason: String },
}

/// Where the issuer secret comes from.
#[derive(Debug, Clone)]
pub enum SecretSource {
    /// `GLASE_SECRET`: for local runs.
    Plain(SecretString),
    /// `GLASE_SECRET_PARAMETER`: the name of an SSM SecureString, read once at cold start.
    SsmParameter(String),
}

#[derive(Debug, Clone)]
pub struct GlaseConfig {
    /// `GLASE_BASE_URL`, without a trailing slash.
    pub base_url: String,
    pub issuer: IssuerName,
    pub secret: SecretSource,
    /// `GLASE_TIME_ZONE`: the IANA zone of Glase's `purchaseTime` wall clock (default UTC).
    pub time_zone: TimeZone,
    /// `GLASE_CONNECT_TIMEOUT_MS` (default 2000).
    pub connect_timeout: Duration,
    /// `GLASE_TIMEOUT_MS`, the whole request (default 10000).
    pub request_timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct WebhookConfig {
    pub queue_url: String,
    /// `WEBHOOK_TOKEN`: when set, the last path segment must equal it.
    pub webhook_token: Option<SecretString>,
    /// `PRIME_CONNECTIONS` (default true): open the SQS connection during init.
    pub prime_connections: bool,
}

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub glase: GlaseConfig,
    pub table_name: String,
    pub queue_url: String,
    /// `DEAD_LETTER_QUEUE_URL` (optional): where unparseable messages are moved at once.
    pub dead_letter_queue_url: Option<String>,
    /// `RETRY_BASE_SECONDS` (default 30): first back-off after a transient failure; doubles
    /// with each receive, up to `RETRY_MAX_SECONDS` (default 3600).
    pub retry_base_secs: u32,
    pub retry_max_secs: u32,
    /// `PRIME_CONNECTIONS` (default true): open the DynamoDB connection during init.
    pub prime_connections: bool,
}

/// Reads variables through `get`, so tests need not touch the process environment.
pub struct Env<F: Fn(&str) -> Option<String>>(pub F);

impl Env<fn(&str) -> Option<String>> {
    pub fn process() -> Self {
        Env(|k| std::env::var(k).ok())
    }
}

impl<F: Fn(&str) -> Option<String>> Env<F> {
    fn optional(&self, var: &'static str) -> Option<String> {
        (self.0)(var)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    fn required(&self, var: &'static str) -> Result<String, ConfigError> {
        self.optional(var).ok_or(ConfigError::Missing(var))
    }

    fn millis(&self, var: &'static str, default: u64) -> Result<Duration, ConfigError> {
        match self.optional(var) {
            None => Ok(Duration::from_millis(default)),
            Some(v) => match v.parse::<u64>() {
                Ok(ms) if ms > 0 => Ok(Duration::from_millis(ms)),
                _ => Err(ConfigError::Invalid {
                    var,
                    reason: "must be a positive whole number of milliseconds".into(),
                }),
            },
        }
    }

    fn flag(&self, var: &'static str, default: bool) -> Result<bool, ConfigError> {
        match self.optional(var).as_deref() {
            None => Ok(default),
            Some("true" | "1") => Ok(true),
            Some("false" | "0") => Ok(false),
            Some(_) => Err(ConfigError::Invalid {
                var,
                reason: "must be true or false".into(),
            }),
        }
    }

    fn seconds(&self, var: &'static str, default: u32) -> Result<u32, ConfigError> {
        match self.optional(var) {
            None => Ok(default),
            // SQS caps a message's visibility timeout at 12 hours.
            Some(v) => v
                .parse::<u32>()
                .ok()
                .filter(|s| *s <= 43_200)
                .ok_or(ConfigError::Invalid {
                    var,
                    reason: "must be a whole number of seconds from 0 to 43200".into(),
                }),
        }
    }

    fn url(&self, var: &'static str) -> Result<String, ConfigError> {
        let v = self.required(var)?;
        if !(v.starts_with("https://") || v.starts_with("http://")) {
            return Err(ConfigError::Invalid {
                var,
                // The value is not echoed: a URL can carry credentials (user:pass@).
                reason: "must start with https:// or http://".into(),
            });
        }
        Ok(v.trim_end_matches('/').to_owned())
    }

    pub fn glase(&self) -> Result<GlaseConfig, ConfigError> {
        let issuer = IssuerName::parse(&self.required("GLASE_ISSUER")?).map_err(|e| {
            ConfigError::Invalid {
                var: "GLASE_ISSUER",
                reason: e.to_string(),
            }
        })?;
        let secret = match (
            self.optional("GLASE_SECRET"),
            self.optional("GLASE_SECRET_PARAMETER"),
        ) {
            (Some(s), None) => SecretSource::Plain(SecretString::from(s)),
            (None, Some(name)) => SecretSource::SsmParameter(name),
            (None, None) => return Err(ConfigError::Missing("GLASE_SECRET")),
            (Some(_), Some(_)) => return Err(ConfigError::SecretSource),
        };
        let time_zone = match self.optional("GLASE_TIME_ZONE") {
            None => TimeZone::UTC,
            Some(name) => TimeZone::get(&name).map_err(|_| ConfigError::Invalid {
                var: "GLASE_TIME_ZONE",
                reason: "is not an IANA time zone name like Europe/Stockholm".into(),
            })?,
        };
        Ok(GlaseConfig {
            base_url: self.url("GLASE_BASE_URL")?,
            issuer,
            secret,
            time_zone,
            connect_timeout: self.millis("GLASE_CONNECT_TIMEOUT_MS", 2_000)?,
            request_timeout: self.millis("GLASE_TIMEOUT_MS", 10_000)?,
        })
    }

    pub fn webhook(&self) -> Result<WebhookConfig, ConfigError> {
        Ok(WebhookConfig {
            queue_url: self.url("QUEUE_URL")?,
            webhook_token: self.optional("WEBHOOK_TOKEN").map(SecretString::from),
            prime_connections: self.flag("PRIME_CONNECTIONS", true)?,
        })
    }

    pub fn worker(&self) -> Result<WorkerConfig, ConfigError> {
        let table_name = self.required("TABLE_NAME")?;
        if table_name.len() < 3 {
            return Err(ConfigError::Invalid {
                var: "TABLE_NAME",
                reason: "DynamoDB table names have at least 3 characters".into(),
            });
        }
        Ok(WorkerConfig {
            glase: self.glase()?,
            table_name,
            queue_url: self.url("QUEUE_URL")?,
            dead_letter_queue_url: match self.optional("DEAD_LETTER_QUEUE_URL") {
                Some(_) => Some(self.url("DEAD_LETTER_QUEUE_URL")?),
                None => None,
            },
            retry_base_secs: self.seconds("RETRY_BASE_SECONDS", 30)?,
            retry_max_secs: self.seconds("RETRY_MAX_SECONDS", 3_600)?,
            prime_connections: self.flag("PRIME_CONNECTIONS", true)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> Env<impl Fn(&str) -> Option<String>> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Env(move |k: &str| map.get(k).cloned())
    }

    const WORKER: &[(&str, &str)] = &[
        ("GLASE_BASE_URL", "https://glase.example/"),
        ("GLASE_ISSUER", "abc"),
        ("GLASE_SECRET", "SECRET_STRING_FOR_ISSUER"),
        ("TABLE_NAME", "invoices"),
        ("QUEUE_URL", "http://127.0.0.1:9324/000000000000/glase"),
    ];

    #[test]
    fn reads_a_complete_worker_config_with_defaults() {
        let cfg = env(WORKER).worker().unwrap();
        assert_eq!(cfg.glase.base_url, "https://glase.example");
        assert_eq!(cfg.glase.issuer.as_str(), "abc");
        assert_eq!(cfg.glase.time_zone, TimeZone::UTC);
        assert_eq!(cfg.glase.request_timeout, Duration::from_secs(10));
        assert!(cfg.dead_letter_queue_url.is_none());
    }

    #[test]
    fn names_the_missing_variable() {
        for missing in ["GLASE_BASE_URL", "GLASE_ISSUER", "TABLE_NAME", "QUEUE_URL"] {
            let pairs: Vec<_> = WORKER
                .iter()
                .copied()
                .filter(|(k, _)| *k != missing)
                .collect();
            let err = env(&pairs).worker().unwrap_err();
            assert_eq!(err, ConfigError::Missing(missing));
            assert!(err.to_string().contains(missing));
        }
    }

    #[test]
    fn names_the_invalid_variable_without_echoing_secrets() {
        let mut pairs = WORKER.to_vec();
        pairs.push(("GLASE_TIMEOUT_MS", "soon"));
        assert!(matches!(
            env(&pairs).worker(),
            Err(ConfigError::Invalid {
                var: "GLASE_TIMEOUT_MS",
                ..
            })
        ));

        let mut pairs = WORKER.to_vec();
        pairs.push(("GLASE_TIME_ZONE", "Mars/Olympus"));
        assert!(matches!(
            env(&pairs).worker(),
            Err(ConfigError::Invalid {
                var: "GLASE_TIME_ZONE",
                ..
            })
        ));

        let mut pairs = WORKER.to_vec();
        pairs.push(("GLASE_SECRET_PARAMETER", "/glase/secret"));
        let err = env(&pairs).worker().unwrap_err();
        assert_eq!(err, ConfigError::SecretSource);
        assert!(!err.to_string().contains("SECRET_STRING_FOR_ISSUER"));
        assert!(
            !format!("{:?}", env(WORKER).worker().unwrap()).contains("SECRET_STRING_FOR_ISSUER")
        );
    }

    #[test]
    fn accepts_an_ssm_parameter_instead_of_a_secret() {
        let pairs: Vec<_> = WORKER
            .iter()
            .copied()
            .filter(|(k, _)| *k != "GLASE_SECRET")
            .chain([("GLASE_SECRET_PARAMETER", "/glase/secret")])
            .collect();
        let cfg = env(&pairs).worker().unwrap();
        assert!(
            matches!(cfg.glase.secret, SecretSource::SsmParameter(ref n) if n == "/glase/secret")
        );
    }

    #[test]
    fn webhook_token_is_optional() {
        let cfg = env(&[("QUEUE_URL", "http://q")]).webhook().unwrap();
        assert!(cfg.webhook_token.is_none());
        assert_eq!(
            env(&[]).webhook().unwrap_err(),
            ConfigError::Missing("QUEUE_URL")
        );
    }
}
