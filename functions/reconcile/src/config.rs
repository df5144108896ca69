//! The reconcile function's configuration, read once at cold start. Errors name the variable,
//! never a secret's value.

use std::time::Duration;

use glase_shared::adapters::glase_report::{DEFAULT_MAX_REPORT_BYTES, DEFAULT_REPORT_TIMEOUT};
use glase_shared::config::{ConfigError, Env, GlaseConfig};

#[derive(Debug, Clone)]
pub struct ReconcileConfig {
    /// `GLASE_BASE_URL`, `GLASE_ISSUER`, `GLASE_SECRET[_PARAMETER]`, `GLASE_TIME_ZONE`, … as
    /// for the worker.
    pub glase: GlaseConfig,
    /// `TABLE_NAME`.
    pub table_name: String,
    /// `QUEUE_URL`: where invoices are re-queued for the worker.
    pub queue_url: String,
    /// `LOOKBACK_DAYS` (default 3, 1 to 31): the report covers today and this many days before.
    pub lookback_days: u16,
    /// `GLASE_REPORT_TIMEOUT_MS` (default 120000): the whole report request, body included.
    pub report_timeout: Duration,
    /// `GLASE_REPORT_MAX_BYTES` (default 64 MiB): a larger body fails the run.
    pub report_max_bytes: u64,
    /// `METRICS_NAMESPACE` (default `GlaseInvoices`).
    pub metrics_namespace: String,
}

pub fn from_env<F: Fn(&str) -> Option<String>>(
    env: &Env<F>,
) -> Result<ReconcileConfig, ConfigError> {
    let get = |var: &str| {
        (env.0)(var)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let number =
        |var: &'static str, default: u64, range: std::ops::RangeInclusive<u64>, what: &str| {
            match get(var) {
                None => Ok(default),
                Some(v) => v
                    .parse::<u64>()
                    .ok()
                    .filter(|n| range.contains(n))
                    .ok_or_else(|| ConfigError::Invalid {
                        var,
                        reason: format!("must be {what} from {} to {}", range.start(), range.end()),
                    }),
            }
        };
    let table_name = get("TABLE_NAME").ok_or(ConfigError::Missing("TABLE_NAME"))?;
    if table_name.len() < 3 {
        return Err(ConfigError::Invalid {
            var: "TABLE_NAME",
            reason: "DynamoDB table names have at least 3 characters".into(),
        });
    }
    let queue_url = get("QUEUE_URL").ok_or(ConfigError::Missing("QUEUE_URL"))?;
    if !(queue_url.starts_with("https://") || queue_url.starts_with("http://")) {
        return Err(ConfigError::Invalid {
            var: "QUEUE_URL",
            reason: format!("must start with https:// or http://, got {queue_url:?}"),
        });
    }
    Ok(ReconcileConfig {
        glase: env.glase()?,
        table_name,
        queue_url,
        lookback_days: number("LOOKBACK_DAYS", 3, 1..=31, "a whole number of days")? as u16,
        report_timeout: Duration::from_millis(number(
            "GLASE_REPORT_TIMEOUT_MS",
            DEFAULT_REPORT_TIMEOUT.as_millis() as u64,
            1..=900_000,
            "a whole number of milliseconds",
        )?),
        report_max_bytes: number(
            "GLASE_REPORT_MAX_BYTES",
            DEFAULT_MAX_REPORT_BYTES,
            1..=1 << 30,
            "a whole number of bytes",
        )?,
        metrics_namespace: get("METRICS_NAMESPACE").unwrap_or_else(|| "GlaseInvoices".into()),
    })
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

    const VARS: &[(&str, &str)] = &[
        ("GLASE_BASE_URL", "https://glase.example"),
        ("GLASE_ISSUER", "abc"),
        ("GLASE_SECRET_PARAMETER", "/glase/secret"),
        ("TABLE_NAME", "invoices"),
        ("QUEUE_URL", "https://sqs.eu-north-1.amazonaws.com/1/q"),
    ];

    #[test]
    fn reads_a_complete_config_with_defaults() {
        let cfg = from_env(&env(VARS)).unwrap();
        assert_eq!(cfg.lookback_days, 3);
        assert_eq!(cfg.report_timeout, Duration::from_secs(120));
        assert_eq!(cfg.report_max_bytes, 64 * 1024 * 1024);
        assert_eq!(cfg.metrics_namespace, "GlaseInvoices");
        assert_eq!(cfg.table_name, "invoices");
    }

    #[test]
    fn names_the_missing_or_invalid_variable() {
        for missing in ["TABLE_NAME", "QUEUE_URL", "GLASE_ISSUER"] {
            let pairs: Vec<_> = VARS
                .iter()
                .copied()
                .filter(|(k, _)| *k != missing)
                .collect();
            assert_eq!(
                from_env(&env(&pairs)).unwrap_err(),
                ConfigError::Missing(missing)
            );
        }
        for (var, value) in [
            ("LOOKBACK_DAYS", "0"),
            ("LOOKBACK_DAYS", "32"),
            ("LOOKBACK_DAYS", "three"),
            ("GLASE_REPORT_TIMEOUT_MS", "-1"),
        ] {
            let mut pairs = VARS.to_vec();
            pairs.push((var, value));
            assert!(
                matches!(from_env(&env(&pairs)), Err(ConfigError::Invalid { var: v, .. }) if v == var),
                "{var}={value}"
            );
        }
    }
}
