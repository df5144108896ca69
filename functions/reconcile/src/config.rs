//! The reconcile function's configuration, read once at cold start from the shared helpers.
//! Errors name the variable, never a secret's value or a URL.

use std::time::Duration;

use glase_shared::adapters::glase_report::{
    DEFAULT_MAX_REPORT_BYTES_PER_DAY, DEFAULT_REPORT_STALL,
};
use glase_shared::config::{ConfigError, Env, GlaseConfig};
use glase_shared::reconcile::Options;

use crate::schedule::Schedule;

#[derive(Debug, Clone)]
pub struct ReconcileConfig {
    /// `GLASE_BASE_URL`, `GLASE_ISSUER`, `GLASE_SECRET[_PARAMETER]`, `GLASE_TIME_ZONE`, … as
    /// for the worker.
    pub glase: GlaseConfig,
    /// `TABLE_NAME`.
    pub table_name: String,
    /// `QUEUE_URL`: where invoices are re-queued for the worker.
    pub queue_url: String,
    /// `RECONCILE_DAYS_QUEUE_URL` (optional): where days an invocation has no time for are
    /// handed on, one message a day, for this function to do later. Unset (local runs), such
    /// days fail the invocation.
    pub days_queue_url: Option<String>,
    /// `LOOKBACK_DAYS` (default 3, 1 to 31): the report covers today and this many days before.
    pub lookback_days: u16,
    /// `SETTLE_MINUTES` (default 30, 0 to 1440): a missing invoice paid more recently is
    /// re-queued but not counted in `ReconcileMissing` (its notification may be in flight).
    pub settle: Duration,
    /// `RECONCILE_SCHEDULE` (optional: unset for local runs): the function's own EventBridge
    /// schedule, refused when rarer than `LOOKBACK_DAYS` covers (rule in [`crate::schedule`]).
    pub schedule: Option<Schedule>,
    /// `GLASE_REPORT_STALL_MS` (default 30000): no response, or no body bytes while we wait
    /// for them, for this long fails the report request (its total time is not bounded).
    pub report_stall: Duration,
    /// `GLASE_REPORT_MAX_BYTES` (default 1 GiB, at most 4 GiB): the body cap per day of the
    /// window; a larger body fails the run.
    pub report_max_bytes_per_day: u64,
    /// `METRICS_NAMESPACE` (default `GlaseInvoices`).
    pub metrics_namespace: String,
}

impl ReconcileConfig {
    pub fn from_env<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        let lookback_days = env.number("LOOKBACK_DAYS", 3, 1..=31, "days")?;
        Ok(Self {
            table_name: env.table_name()?,
            queue_url: env.url("QUEUE_URL")?,
            days_queue_url: match env.optional("RECONCILE_DAYS_QUEUE_URL") {
                Some(_) => Some(env.url("RECONCILE_DAYS_QUEUE_URL")?),
                None => None,
            },
            glase: env.glase()?,
            lookback_days,
            settle: Duration::from_secs(
                60 * env.number(
                    "SETTLE_MINUTES",
                    Options::DEFAULT_SETTLE.as_secs() / 60,
                    0..=1440,
                    "minutes",
                )?,
            ),
            schedule: env
                .optional("RECONCILE_SCHEDULE")
                .map(|text| Schedule::parse(&text).and_then(|s| s.check(lookback_days)))
                .transpose()
                .map_err(|e| ConfigError::Invalid {
                    var: "RECONCILE_SCHEDULE",
                    reason: e.to_string(),
                })?,
            report_stall: Duration::from_millis(env.number(
                "GLASE_REPORT_STALL_MS",
                DEFAULT_REPORT_STALL.as_millis() as u64,
                1..=900_000,
                "milliseconds",
            )?),
            report_max_bytes_per_day: env.number(
                "GLASE_REPORT_MAX_BYTES",
                DEFAULT_MAX_REPORT_BYTES_PER_DAY,
                1..=1 << 32,
                "bytes",
            )?,
            metrics_namespace: env
                .optional("METRICS_NAMESPACE")
                .unwrap_or_else(|| "GlaseInvoices".into()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from_env(pairs: &[(&str, &str)]) -> Result<ReconcileConfig, ConfigError> {
        ReconcileConfig::from_env(&Env::from_pairs(pairs))
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
        let cfg = from_env(VARS).unwrap();
        assert_eq!(cfg.lookback_days, 3);
        assert_eq!(cfg.report_stall, Duration::from_secs(30));
        assert_eq!(cfg.report_max_bytes_per_day, 1 << 30);
        assert_eq!(cfg.metrics_namespace, "GlaseInvoices");
        assert_eq!(cfg.table_name, "invoices");
        assert_eq!(cfg.settle, Duration::from_secs(30 * 60));
        assert_eq!(cfg.schedule, None);
    }

    #[test]
    fn reads_the_settle_minutes_and_a_schedule_within_the_look_back() {
        let mut pairs = VARS.to_vec();
        pairs.extend([
            ("SETTLE_MINUTES", "10"),
            ("RECONCILE_SCHEDULE", "rate(2 days)"),
            ("LOOKBACK_DAYS", "2"),
        ]);

        let cfg = from_env(&pairs).unwrap();

        assert_eq!(cfg.settle, Duration::from_secs(600));
        assert_eq!(
            cfg.schedule,
            Some(Schedule::Rate(Duration::from_secs(2 * 86_400)))
        );
    }

    #[test]
    fn names_the_missing_or_invalid_variable() {
        for missing in ["TABLE_NAME", "QUEUE_URL", "GLASE_ISSUER"] {
            let pairs: Vec<_> = VARS
                .iter()
                .copied()
                .filter(|(k, _)| *k != missing)
                .collect();
            assert_eq!(from_env(&pairs).unwrap_err(), ConfigError::Missing(missing));
        }
        for (var, value) in [
            ("LOOKBACK_DAYS", "0"),
            ("LOOKBACK_DAYS", "32"),
            ("LOOKBACK_DAYS", "three"),
            ("GLASE_REPORT_STALL_MS", "-1"),
            ("SETTLE_MINUTES", "1441"),
            ("SETTLE_MINUTES", "half an hour"),
            ("RECONCILE_SCHEDULE", "rate(4 days)"),
            ("RECONCILE_SCHEDULE", "cron(0 3 1 * ? *)"),
            ("RECONCILE_SCHEDULE", "daily"),
        ] {
            let mut pairs = VARS.to_vec();
            pairs.push((var, value));
            assert!(
                matches!(from_env(&pairs), Err(ConfigError::Invalid { var: v, .. }) if v == var),
                "{var}={value}"
            );
        }
    }
}
