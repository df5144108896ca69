//! The worker's configuration, read once at cold start from the shared helpers. Errors name the
//! variable, never a secret's value.

use glase_shared::config::{ConfigError, Env, GlaseConfig};

use crate::Policy;

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub glase: GlaseConfig,
    /// `TABLE_NAME`.
    pub table_name: String,
    /// `QUEUE_URL`: where postponed messages wait.
    pub queue_url: String,
    /// `DEAD_LETTER_QUEUE_URL` (optional): where unparseable messages are moved at once.
    pub dead_letter_queue_url: Option<String>,
    /// `RETRY_BASE_SECONDS`, `RETRY_MAX_SECONDS`, `MAX_RECEIVE_COUNT`, `REJECT_AFTER_RECEIVES`,
    /// `REJECTED_COOLDOWN_SECONDS`: what the worker holds.
    pub policy: Policy,
    /// `PRIME_CONNECTIONS` (default true): open the DynamoDB connection during init.
    pub prime_connections: bool,
}

impl WorkerConfig {
    pub fn from_env<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        let table_name = env.table_name()?;
        let default = Policy::default();
        // SQS caps a message's visibility timeout at 12 hours; 0 would retry in a hot loop.
        let base_secs = env.number(
            "RETRY_BASE_SECONDS",
            default.base_secs,
            1..=43_200,
            "seconds",
        )?;
        let max_secs = env.number("RETRY_MAX_SECONDS", default.max_secs, 1..=43_200, "seconds")?;
        if max_secs < base_secs {
            return Err(ConfigError::Invalid {
                var: "RETRY_MAX_SECONDS",
                reason: "must not be less than RETRY_BASE_SECONDS".into(),
            });
        }
        Ok(Self {
            glase: env.glase()?,
            table_name,
            queue_url: env.url("QUEUE_URL")?,
            dead_letter_queue_url: match env.optional("DEAD_LETTER_QUEUE_URL") {
                Some(_) => Some(env.url("DEAD_LETTER_QUEUE_URL")?),
                None => None,
            },
            policy: Policy {
                base_secs,
                max_secs,
                max_receive_count: env.number(
                    "MAX_RECEIVE_COUNT",
                    default.max_receive_count,
                    1..=1000,
                    "receives",
                )?,
                reject_after_receives: env.number(
                    "REJECT_AFTER_RECEIVES",
                    default.reject_after_receives,
                    1..=1000,
                    "receives",
                )?,
                rejected_cooldown_secs: env.number(
                    "REJECTED_COOLDOWN_SECONDS",
                    default.rejected_cooldown_secs,
                    0..=604_800,
                    "seconds",
                )?,
            },
            prime_connections: env.flag("PRIME_CONNECTIONS", true)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use glase_shared::config::SecretSource;
    use jiff::tz::TimeZone;

    use super::*;

    const WORKER: &[(&str, &str)] = &[
        ("GLASE_BASE_URL", "https://glase.example/"),
        ("GLASE_ISSUER", "abc"),
        ("GLASE_SECRET", "SECRET_STRING_FOR_ISSUER"),
        ("TABLE_NAME", "invoices"),
        ("QUEUE_URL", "http://127.0.0.1:9324/000000000000/glase"),
    ];

    fn worker(pairs: &[(&str, &str)]) -> Result<WorkerConfig, ConfigError> {
        WorkerConfig::from_env(&Env::from_pairs(pairs))
    }

    #[test]
    fn reads_a_complete_worker_config_with_defaults() {
        let cfg = worker(WORKER).unwrap();
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
            let err = worker(&pairs).unwrap_err();
            assert_eq!(err, ConfigError::Missing(missing));
            assert!(err.to_string().contains(missing));
        }
    }

    #[test]
    fn names_the_invalid_variable_without_echoing_secrets() {
        let mut pairs = WORKER.to_vec();
        pairs.push(("GLASE_TIMEOUT_MS", "soon"));
        assert!(matches!(
            worker(&pairs),
            Err(ConfigError::Invalid {
                var: "GLASE_TIMEOUT_MS",
                ..
            })
        ));

        let mut pairs = WORKER.to_vec();
        pairs.push(("GLASE_TIME_ZONE", "Mars/Olympus"));
        assert!(matches!(
            worker(&pairs),
            Err(ConfigError::Invalid {
                var: "GLASE_TIME_ZONE",
                ..
            })
        ));

        let mut pairs = WORKER.to_vec();
        pairs.push(("GLASE_SECRET_PARAMETER", "/glase/secret"));
        let err = worker(&pairs).unwrap_err();
        assert_eq!(err, ConfigError::SecretSource);
        assert!(!err.to_string().contains("SECRET_STRING_FOR_ISSUER"));
        assert!(!format!("{:?}", worker(WORKER).unwrap()).contains("SECRET_STRING_FOR_ISSUER"));
    }

    #[test]
    fn accepts_an_ssm_parameter_instead_of_a_secret() {
        let pairs: Vec<_> = WORKER
            .iter()
            .copied()
            .filter(|(k, _)| *k != "GLASE_SECRET")
            .chain([("GLASE_SECRET_PARAMETER", "/glase/secret")])
            .collect();
        let cfg = worker(&pairs).unwrap();
        assert!(
            matches!(cfg.glase.secret, SecretSource::SsmParameter(ref n) if n == "/glase/secret")
        );
    }

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
            let err = worker(&pairs).unwrap_err();
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
            worker(&pairs).unwrap().glase.base_url,
            "http://127.0.0.1:4000"
        );
    }

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
            let err = worker(&pairs).unwrap_err();
            assert!(
                matches!(err, ConfigError::Invalid { var: v, .. } if v == var),
                "{var}={value}: {err}"
            );
        }
        let mut pairs = WORKER.to_vec();
        pairs.extend([("RETRY_BASE_SECONDS", "600"), ("RETRY_MAX_SECONDS", "60")]);
        assert!(matches!(
            worker(&pairs).unwrap_err(),
            ConfigError::Invalid {
                var: "RETRY_MAX_SECONDS",
                ..
            }
        ));
        let cfg = worker(WORKER).unwrap();
        assert_eq!((cfg.policy.base_secs, cfg.policy.max_secs), (30, 3_600));
        assert_eq!(
            (
                cfg.policy.max_receive_count,
                cfg.policy.reject_after_receives
            ),
            (30, 5)
        );
    }
}
