//! Configuration from the environment, read once at cold start. Every error names the
//! variable; no error ever contains a secret's value.

#[cfg(feature = "invoice")]
use std::time::Duration;

#[cfg(feature = "invoice")]
use jiff::tz::TimeZone;
#[cfg(feature = "invoice")]
use secrecy::SecretString;

#[cfg(feature = "invoice")]
use crate::domain::IssuerName;
use crate::domain::WebhookToken;

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

#[derive(Debug, Clone)]
pub struct WebhookConfig {
    pub queue_url: String,
    /// `WEBHOOK_TOKEN_SHA256` or `WEBHOOK_TOKEN` (one is required): the path's last segment
    /// must be the token.
    pub webhook_token: WebhookToken,
    /// `PRIME_CONNECTIONS` (default true): open the SQS connection during init.
    pub prime_connections: bool,
}

#[cfg(feature = "invoice")]
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub glase: GlaseConfig,
    pub table_name: String,
    pub queue_url: String,
    /// `DEAD_LETTER_QUEUE_URL` (optional): where unparseable messages are moved at once.
    pub dead_letter_queue_url: Option<String>,
    /// `RETRY_BASE_SECONDS` (default 30, 1..=43200): first back-off after a transient failure;
    /// doubles with each receive, up to `RETRY_MAX_SECONDS` (default 3600, ≤ 43200: SQS's cap).
    pub retry_base_secs: u32,
    pub retry_max_secs: u32,
    /// `MAX_RECEIVE_COUNT` (default 30): the queue's redrive `maxReceiveCount`, so the worker
    /// knows a failing receive is the last one and counts the message as dead-lettered.
    pub max_receive_count: u32,
    /// `REJECT_AFTER_RECEIVES` (default 5, ~15 min with the back-off): a 404 or an unacceptable
    /// body is retried until the message has been received this many times, then rejected.
    /// Glase may notify before its read side knows the invoice; a proxy may answer once.
    pub reject_after_receives: u32,
    /// `REJECTED_COOLDOWN_SECONDS` (default 3600): a new notification for an invoice rejected
    /// less than this long ago is acknowledged without fetching it again (operator and
    /// reconciliation re-queues are exempt), so a flood of forged ids cannot make us hammer Glase.
    pub rejected_cooldown_secs: u32,
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

    #[cfg(feature = "invoice")]
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

    /// A whole number in `range`, or the default when unset.
    #[cfg(feature = "invoice")]
    fn number(
        &self,
        var: &'static str,
        default: u32,
        range: std::ops::RangeInclusive<u32>,
        unit: &str,
    ) -> Result<u32, ConfigError> {
        match self.optional(var) {
            None => Ok(default),
            Some(v) => v
                .parse::<u32>()
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

    /// An http(s) URL. Errors never repeat the value: a URL can carry credentials.
    fn url(&self, var: &'static str) -> Result<String, ConfigError> {
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

    pub fn webhook(&self) -> Result<WebhookConfig, ConfigError> {
        Ok(WebhookConfig {
            queue_url: self.url("QUEUE_URL")?,
            webhook_token: self.webhook_token()?,
            prime_connections: self.flag("PRIME_CONNECTIONS", true)?,
        })
    }

    fn webhook_token(&self) -> Result<WebhookToken, ConfigError> {
        let invalid = |var| {
            move |e: crate::domain::WebhookTokenError| ConfigError::Invalid {
                var,
                reason: e.to_string(),
            }
        };
        match (
            self.optional("WEBHOOK_TOKEN_SHA256"),
            self.optional("WEBHOOK_TOKEN"),
        ) {
            (Some(digest), None) => {
                WebhookToken::sha256_hex(&digest).map_err(invalid("WEBHOOK_TOKEN_SHA256"))
            }
            (None, Some(token)) => WebhookToken::plain(&token).map_err(invalid("WEBHOOK_TOKEN")),
            (None, None) => Err(ConfigError::Missing("WEBHOOK_TOKEN_SHA256")),
            (Some(_), Some(_)) => Err(ConfigError::WebhookTokenSource),
        }
    }

    #[cfg(feature = "invoice")]
    pub fn worker(&self) -> Result<WorkerConfig, ConfigError> {
        let table_name = self.required("TABLE_NAME")?;
        if table_name.len() < 3 {
            return Err(ConfigError::Invalid {
                var: "TABLE_NAME",
                reason: "DynamoDB table names have at least 3 characters".into(),
            });
        }
        // SQS caps a message's visibility timeout at 12 hours; 0 would retry in a hot loop.
        let retry_base_secs = self.number("RETRY_BASE_SECONDS", 30, 1..=43_200, "seconds")?;
        let retry_max_secs = self.number("RETRY_MAX_SECONDS", 3_600, 1..=43_200, "seconds")?;
        if retry_max_secs < retry_base_secs {
            return Err(ConfigError::Invalid {
                var: "RETRY_MAX_SECONDS",
                reason: "must not be less than RETRY_BASE_SECONDS".into(),
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
            retry_base_secs,
            retry_max_secs,
            max_receive_count: self.number("MAX_RECEIVE_COUNT", 30, 1..=1000, "receives")?,
            reject_after_receives: self.number("REJECT_AFTER_RECEIVES", 5, 1..=1000, "receives")?,
            rejected_cooldown_secs: self.number(
                "REJECTED_COOLDOWN_SECONDS",
                3_600,
                0..=604_800,
                "seconds",
            )?,
            prime_connections: self.flag("PRIME_CONNECTIONS", true)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const TOKEN: &str = "a-webhook-token-0123456789";

    fn env(pairs: &[(&str, &str)]) -> Env<impl Fn(&str) -> Option<String>> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Env(move |k: &str| map.get(k).cloned())
    }

    #[cfg(feature = "invoice")]
    const WORKER: &[(&str, &str)] = &[
        ("GLASE_BASE_URL", "https://glase.example/"),
        ("GLASE_ISSUER", "abc"),
        ("GLASE_SECRET", "SECRET_STRING_FOR_ISSUER"),
        ("TABLE_NAME", "invoices"),
        ("QUEUE_URL", "http://127.0.0.1:9324/000000000000/glase"),
    ];

    #[cfg(feature = "invoice")]
    #[test]
    fn reads_a_complete_worker_config_with_defaults() {
        let cfg = env(WORKER).worker().unwrap();
        assert_eq!(cfg.glase.base_url, "https://glase.example");
        assert_eq!(cfg.glase.issuer.as_str(), "abc");
        assert_eq!(cfg.glase.time_zone, TimeZone::UTC);
        assert_eq!(cfg.glase.request_timeout, Duration::from_secs(10));
        assert!(cfg.dead_letter_queue_url.is_none());
    }

    #[cfg(feature = "invoice")]
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

    #[cfg(feature = "invoice")]
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

    #[cfg(feature = "invoice")]
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
    fn webhook_token_is_required_as_a_digest_or_a_plain_token() {
        assert_eq!(
            env(&[("QUEUE_URL", "http://q")]).webhook().unwrap_err(),
            ConfigError::Missing("WEBHOOK_TOKEN_SHA256")
        );
        let plain = env(&[("QUEUE_URL", "http://q"), ("WEBHOOK_TOKEN", TOKEN)])
            .webhook()
            .unwrap();
        assert!(plain.webhook_token.matches(TOKEN));
        let digest = "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b";
        let hashed = env(&[("QUEUE_URL", "http://q"), ("WEBHOOK_TOKEN_SHA256", digest)])
            .webhook()
            .unwrap();
        assert!(hashed.webhook_token.matches("secret"));
        assert_eq!(
            env(&[
                ("QUEUE_URL", "http://q"),
                ("WEBHOOK_TOKEN", TOKEN),
                ("WEBHOOK_TOKEN_SHA256", digest)
            ])
            .webhook()
            .unwrap_err(),
            ConfigError::WebhookTokenSource
        );
        assert_eq!(
            env(&[("WEBHOOK_TOKEN", TOKEN)]).webhook().unwrap_err(),
            ConfigError::Missing("QUEUE_URL")
        );
    }

    #[test]
    fn a_malformed_webhook_token_is_named_but_never_echoed() {
        let err = env(&[("QUEUE_URL", "http://q"), ("WEBHOOK_TOKEN", "short/secret")])
            .webhook()
            .unwrap_err();
        assert!(matches!(
            err,
            ConfigError::Invalid {
                var: "WEBHOOK_TOKEN",
                ..
            }
        ));
        assert!(!err.to_string().contains("short/secret"));
        let err = env(&[
            ("QUEUE_URL", "http://q"),
            ("WEBHOOK_TOKEN_SHA256", "xyz-secret"),
        ])
        .webhook()
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
        let err = env(&[("QUEUE_URL", "ftp://user:pw@q"), ("WEBHOOK_TOKEN", TOKEN)])
            .webhook()
            .unwrap_err();
        assert!(matches!(
            err,
            ConfigError::Invalid {
                var: "QUEUE_URL",
                ..
            }
        ));
        assert!(!err.to_string().contains("pw@q"));
    }

    #[cfg(feature = "invoice")]
    #[test]
    fn refuses_a_glase_base_url_with_a_path() {
        for bad in [
            "https://glase.example/api",
            "https://glase.example/api/",
            "https://glase.example?x=1",
            "https://user:pw@glase.example",
            "https://",
            "glase.example",
        ] {
            let mut pairs: Vec<_> = WORKER
                .iter()
                .copied()
                .filter(|(k, _)| *k != "GLASE_BASE_URL")
                .collect();
            pairs.push(("GLASE_BASE_URL", bad));
            let err = env(&pairs).worker().unwrap_err();
            assert!(
                matches!(
                    err,
                    ConfigError::Invalid {
                        var: "GLASE_BASE_URL",
                        ..
                    }
                ),
                "{bad}: {err}"
            );
            assert!(!err.to_string().contains("pw@"), "{bad}");
        }
        let mut pairs = WORKER.to_vec();
        pairs.retain(|(k, _)| *k != "GLASE_BASE_URL");
        pairs.push(("GLASE_BASE_URL", "http://127.0.0.1:4000/"));
        assert_eq!(
            env(&pairs).worker().unwrap().glase.base_url,
            "http://127.0.0.1:4000"
        );
    }

    #[cfg(feature = "invoice")]
    #[test]
    fn retry_bounds_refuse_a_hot_loop_and_what_sqs_refuses() {
        for (var, value) in [
            ("RETRY_BASE_SECONDS", "0"),
            ("RETRY_MAX_SECONDS", "43201"),
            ("RETRY_MAX_SECONDS", "0"),
            ("RETRY_BASE_SECONDS", "-1"),
            ("MAX_RECEIVE_COUNT", "0"),
            ("REJECT_AFTER_RECEIVES", "many"),
        ] {
            let mut pairs = WORKER.to_vec();
            pairs.push((var, value));
            let err = env(&pairs).worker().unwrap_err();
            assert!(
                matches!(err, ConfigError::Invalid { var: v, .. } if v == var),
                "{var}={value}: {err}"
            );
        }
        let mut pairs = WORKER.to_vec();
        pairs.extend([("RETRY_BASE_SECONDS", "600"), ("RETRY_MAX_SECONDS", "60")]);
        assert!(matches!(
            env(&pairs).worker().unwrap_err(),
            ConfigError::Invalid {
                var: "RETRY_MAX_SECONDS",
                ..
            }
        ));
        let cfg = env(WORKER).worker().unwrap();
        assert_eq!((cfg.retry_base_secs, cfg.retry_max_secs), (30, 3_600));
        assert_eq!((cfg.max_receive_count, cfg.reject_after_receives), (30, 5));
    }
}
