//! Configuration from the environment, read once at cold start: the helpers every function's
//! config is built from, and Glase's settings (the worker's, reconciliation's and the CLI's).
//! Every error names the variable; no error ever contains a secret's value or a URL.

use std::collections::HashMap;
use std::fmt::Display;
use std::ops::RangeInclusive;
use std::str::FromStr;
use std::time::Duration;

#[cfg(feature = "invoice")]
use jiff::tz::TimeZone;
#[cfg(feature = "invoice")]
use secrecy::SecretString;

#[cfg(feature = "invoice")]
use crate::domain::IssuerName;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is required but not set")]
    Missing(&'static str),
    #[error("environment variable {var} is invalid: {reason}")]
    Invalid { var: &'static str, reason: String },
    #[error("set exactly one of GLASE_SECRET or GLASE_SECRET_PARAMETER")]
    SecretSource,
    #[error("set exactly one of WEBHOOK_TOKEN_SHA256 (deployed) or WEBHOOK_TOKEN (local runs)")]
    WebhookTokenSource,
    #[error("could not read the issuer secret from SSM parameter {name}: {reason}")]
    SecretParameter { name: String, reason: String },
}

/// Where the issuer secret comes from.
#[cfg(feature = "invoice")]
#[derive(Debug, Clone)]
pub enum SecretSource {
    /// `GLASE_SECRET`: for local runs.
    Plain(SecretString),
    /// `GLASE_SECRET_PARAMETER`: the name of an SSM SecureString, read once at cold start.
    SsmParameter(String),
}

#[cfg(feature = "invoice")]
#[derive(Debug, Clone)]
pub struct GlaseConfig {
    /// `GLASE_BASE_URL`: scheme and host (and port) only, without a trailing slash.
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

/// Reads variables through `get`, so tests need not touch the process environment.
pub struct Env<F: Fn(&str) -> Option<String>>(pub F);

impl Env<fn(&str) -> Option<String>> {
    pub fn process() -> Self {
        Env(|k| std::env::var(k).ok())
    }

    /// Variables from a list instead of the process environment (tests, local tools).
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Env<impl Fn(&str) -> Option<String>> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Env(move |k: &str| map.get(k).cloned())
    }
}

impl<F: Fn(&str) -> Option<String>> Env<F> {
    /// The value, trimmed; unset, empty and blank are all `None`.
    pub fn optional(&self, var: &'static str) -> Option<String> {
        (self.0)(var)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    pub fn required(&self, var: &'static str) -> Result<String, ConfigError> {
        self.optional(var).ok_or(ConfigError::Missing(var))
    }

    /// A positive whole number of milliseconds, or the default when unset.
    pub fn millis(&self, var: &'static str, default: u64) -> Result<Duration, ConfigError> {
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

    /// `true`/`1` or `false`/`0`, or the default when unset.
    pub fn flag(&self, var: &'static str, default: bool) -> Result<bool, ConfigError> {
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

    /// A whole number of `unit`s in `range`, or the default when unset.
    pub fn number<N: FromStr + PartialOrd + Display>(
        &self,
        var: &'static str,
        default: N,
        range: RangeInclusive<N>,
        unit: &str,
    ) -> Result<N, ConfigError> {
        match self.optional(var) {
            None => Ok(default),
            Some(v) => v
                .parse::<N>()
                .ok()
                .filter(|n| range.contains(n))
                .ok_or_else(|| ConfigError::Invalid {
                    var,
                    reason: format!(
                        "must be a whole number of {unit} from {} to {}",
                        range.start(),
                        range.end()
                    ),
                }),
        }
    }

    /// A required http(s) URL, without a trailing slash. Errors never repeat the value: a URL
    /// can carry credentials.
    pub fn url(&self, var: &'static str) -> Result<String, ConfigError> {
        let v = self.required(var)?;
        let rest = v
            .strip_prefix("https://")
            .or_else(|| v.strip_prefix("http://"));
        match rest {
            Some(host) if !host.is_empty() && !host.starts_with('/') => {
                Ok(v.trim_end_matches('/').to_owned())
            }
            _ => Err(ConfigError::Invalid {
                var,
                reason: "must be an http:// or https:// URL".into(),
            }),
        }
    }

    /// `TABLE_NAME`, required.
    pub fn table_name(&self) -> Result<String, ConfigError> {
        let table_name = self.required("TABLE_NAME")?;
        if table_name.len() < 3 {
            return Err(ConfigError::Invalid {
                var: "TABLE_NAME",
                reason: "DynamoDB table names have at least 3 characters".into(),
            });
        }
        Ok(table_name)
    }

    /// A service root: scheme and host only. A path (e.g. `/api`) would be prefixed to
    /// Glase's own `/api/…` paths and turn every fetch into a 404.
    #[cfg(feature = "invoice")]
    fn base_url(&self, var: &'static str) -> Result<String, ConfigError> {
        let url = self.url(var)?;
        let host = url.split_once("://").map_or("", |(_, rest)| rest);
        if host.contains(['/', '?', '#', '@']) {
            return Err(ConfigError::Invalid {
                var,
                reason: "must be scheme and host only, like https://glase.example.com (no path, query or credentials): the client adds /api/…".into(),
            });
        }
        Ok(url)
    }

    #[cfg(feature = "invoice")]
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
            base_url: self.base_url("GLASE_BASE_URL")?,
            issuer,
            secret,
            time_zone,
            connect_timeout: self.millis("GLASE_CONNECT_TIMEOUT_MS", 2_000)?,
            request_timeout: self.millis("GLASE_TIMEOUT_MS", 10_000)?,
        })
    }
}
