//! Every configuration variable of the three functions, missing or malformed: init fails with
//! an error that names the variable and never contains a secret or the value given.
//!
//! Table-driven over the public `Env` (no process environment is touched).

use glase_reconcile::config::ReconcileConfig;
use glase_shared::config::{ConfigError, Env};
use glase_webhook::WebhookConfig;
use glase_worker::WorkerConfig;

/// In every value below, so an error that echoes a value is caught whichever it echoes.
const MARK: &str = "LEAKMARK";
const SECRET: &str = "issuer-secret-LEAKMARK-7f3a";
const WEBHOOK_TOKEN: &str = "webhook-token-LEAKMARK-91c2";

fn env(pairs: &[(&str, String)]) -> Env<impl Fn(&str) -> Option<String>> {
    let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Env::from_pairs(&pairs)
}

fn worker(pairs: &[(&str, String)]) -> Result<WorkerConfig, ConfigError> {
    WorkerConfig::from_env(&env(pairs))
}

fn webhook(pairs: &[(&str, String)]) -> Result<WebhookConfig, ConfigError> {
    WebhookConfig::from_env(&env(pairs))
}

fn reconcile(pairs: &[(&str, String)]) -> Result<ReconcileConfig, ConfigError> {
    ReconcileConfig::from_env(&env(pairs))
}

fn worker_vars() -> Vec<(&'static str, String)> {
    vec![
        ("GLASE_BASE_URL", format!("https://{MARK}.glase.example")),
        ("GLASE_ISSUER", "abc".into()),
        ("GLASE_SECRET", SECRET.into()),
        ("TABLE_NAME", format!("invoices-{MARK}")),
        (
            "QUEUE_URL",
            format!("http://127.0.0.1:9324/000000000000/{MARK}"),
        ),
    ]
}

fn webhook_vars() -> Vec<(&'static str, String)> {
    vec![
        (
            "QUEUE_URL",
            format!("http://127.0.0.1:9324/000000000000/{MARK}"),
        ),
        ("WEBHOOK_TOKEN", WEBHOOK_TOKEN.into()),
    ]
}

/// The worker's variables: reconciliation reads the same Glase, table and queue ones.
fn reconcile_vars() -> Vec<(&'static str, String)> {
    worker_vars()
}

fn with(
    base: Vec<(&'static str, String)>,
    var: &'static str,
    value: Option<&str>,
) -> Vec<(&'static str, String)> {
    let mut pairs: Vec<_> = base.into_iter().filter(|(k, _)| *k != var).collect();
    if let Some(v) = value {
        pairs.push((var, v.to_owned()));
    }
    pairs
}

/// The error, checked for what every config error must and must not say.
fn assert_names_without_echo(case: &str, err: &ConfigError, names: &str) {
    let shown = format!("{err} / {err:?}");
    assert!(
        shown.contains(names),
        "{case}: {shown} does not name {names}"
    );
    for secret in [SECRET, WEBHOOK_TOKEN, MARK] {
        assert!(!shown.contains(secret), "{case}: {shown} echoes a value");
    }
}

#[derive(Clone, Copy)]
enum Function {
    Webhook,
    Worker,
    Reconcile,
}

/// (function, variable, value — None for unset, what the error must name)
fn cases() -> Vec<(Function, &'static str, Option<String>, &'static str)> {
    use Function::*;
    let m = |v: &str| Some(format!("{v}{MARK}"));
    vec![
        // Required, unset (empty and blank count as unset).
        (Worker, "GLASE_BASE_URL", None, "GLASE_BASE_URL"),
        (
            Worker,
            "GLASE_BASE_URL",
            Some("  ".into()),
            "GLASE_BASE_URL",
        ),
        (Worker, "GLASE_ISSUER", None, "GLASE_ISSUER"),
        (Worker, "GLASE_SECRET", None, "GLASE_SECRET"),
        (Worker, "TABLE_NAME", None, "TABLE_NAME"),
        (Worker, "QUEUE_URL", None, "QUEUE_URL"),
        (Webhook, "QUEUE_URL", None, "QUEUE_URL"),
        (Webhook, "QUEUE_URL", Some(String::new()), "QUEUE_URL"),
        // Malformed.
        (
            Worker,
            "GLASE_BASE_URL",
            m("ftp://glase/"),
            "GLASE_BASE_URL",
        ),
        (
            Worker,
            "GLASE_BASE_URL",
            m("glase.example/"),
            "GLASE_BASE_URL",
        ),
        (Worker, "GLASE_ISSUER", m("a b "), "GLASE_ISSUER"),
        (Worker, "GLASE_ISSUER", m("a\u{7}"), "GLASE_ISSUER"),
        (Worker, "GLASE_TIME_ZONE", m("Mars/"), "GLASE_TIME_ZONE"),
        (Worker, "GLASE_TIMEOUT_MS", m("soon"), "GLASE_TIMEOUT_MS"),
        (
            Worker,
            "GLASE_TIMEOUT_MS",
            Some("0".into()),
            "GLASE_TIMEOUT_MS",
        ),
        (
            Worker,
            "GLASE_TIMEOUT_MS",
            Some("-5".into()),
            "GLASE_TIMEOUT_MS",
        ),
        (
            Worker,
            "GLASE_CONNECT_TIMEOUT_MS",
            m("1.5"),
            "GLASE_CONNECT_TIMEOUT_MS",
        ),
        (Worker, "RETRY_BASE_SECONDS", m("x"), "RETRY_BASE_SECONDS"),
        (
            Worker,
            "RETRY_BASE_SECONDS",
            Some("-1".into()),
            "RETRY_BASE_SECONDS",
        ),
        (
            Worker,
            "RETRY_MAX_SECONDS",
            Some("43201".into()),
            "RETRY_MAX_SECONDS",
        ),
        (
            Worker,
            "RETRY_MAX_SECONDS",
            Some("1e3".into()),
            "RETRY_MAX_SECONDS",
        ),
        (Worker, "TABLE_NAME", Some("ab".into()), "TABLE_NAME"),
        (Worker, "QUEUE_URL", m("sqs:"), "QUEUE_URL"),
        (
            Worker,
            "DEAD_LETTER_QUEUE_URL",
            m("dlq-"),
            "DEAD_LETTER_QUEUE_URL",
        ),
        (Worker, "PRIME_CONNECTIONS", m("yes"), "PRIME_CONNECTIONS"),
        (Webhook, "QUEUE_URL", m("127.0.0.1:9324/q"), "QUEUE_URL"),
        (Webhook, "PRIME_CONNECTIONS", m("on"), "PRIME_CONNECTIONS"),
        (Reconcile, "GLASE_BASE_URL", None, "GLASE_BASE_URL"),
        (Reconcile, "GLASE_SECRET", None, "GLASE_SECRET"),
        (Reconcile, "TABLE_NAME", None, "TABLE_NAME"),
        (Reconcile, "TABLE_NAME", Some("ab".into()), "TABLE_NAME"),
        (Reconcile, "QUEUE_URL", None, "QUEUE_URL"),
        (Reconcile, "QUEUE_URL", m("sqs:"), "QUEUE_URL"),
        (Reconcile, "QUEUE_URL", m("ftp://user:pw@"), "QUEUE_URL"),
        (Reconcile, "LOOKBACK_DAYS", m("3"), "LOOKBACK_DAYS"),
        (
            Reconcile,
            "LOOKBACK_DAYS",
            Some("0".into()),
            "LOOKBACK_DAYS",
        ),
        (
            Reconcile,
            "LOOKBACK_DAYS",
            Some("32".into()),
            "LOOKBACK_DAYS",
        ),
        (
            Reconcile,
            "GLASE_REPORT_STALL_MS",
            Some("-1".into()),
            "GLASE_REPORT_STALL_MS",
        ),
        (
            Reconcile,
            "GLASE_REPORT_MAX_BYTES",
            m("64MiB"),
            "GLASE_REPORT_MAX_BYTES",
        ),
    ]
}

#[test]
fn every_missing_or_malformed_variable_fails_init_naming_it_without_echoing_values() {
    let cases = cases();
    assert!(cases.len() >= 25);
    for (function, var, value, names) in cases {
        let case = format!("{var}={value:?}");
        let err = match function {
            Function::Worker => worker(&with(worker_vars(), var, value.as_deref()))
                .map(|_| ())
                .expect_err(&case),
            Function::Webhook => webhook(&with(webhook_vars(), var, value.as_deref()))
                .map(|_| ())
                .expect_err(&case),
            Function::Reconcile => reconcile(&with(reconcile_vars(), var, value.as_deref()))
                .map(|_| ())
                .expect_err(&case),
        };
        assert_names_without_echo(&case, &err, names);
    }
}

#[test]
fn both_secret_sources_at_once_fails_naming_both_without_the_secret() {
    let pairs = with(
        worker_vars(),
        "GLASE_SECRET_PARAMETER",
        Some("/glase/issuer-secret"),
    );

    let err = worker(&pairs).map(|_| ()).unwrap_err();

    assert_eq!(err, ConfigError::SecretSource);
    assert_names_without_echo("both sources", &err, "GLASE_SECRET_PARAMETER");
}

#[test]
fn a_valid_config_never_shows_its_secrets_when_debug_printed() {
    let worker = worker(&worker_vars()).unwrap();
    let webhook = webhook(&webhook_vars()).unwrap();
    let reconcile = reconcile(&reconcile_vars()).unwrap();

    let shown = format!("{worker:?} {webhook:?} {reconcile:?}");

    assert!(!shown.contains(SECRET), "{shown}");
    assert!(!shown.contains(WEBHOOK_TOKEN), "{shown}");
}

#[test]
fn the_secret_is_trimmed_like_every_other_value_and_blank_means_unset() {
    let blank = with(worker_vars(), "GLASE_SECRET", Some(" \n"));

    let err = worker(&blank).map(|_| ()).unwrap_err();

    assert_eq!(err, ConfigError::Missing("GLASE_SECRET"));
}

#[test]
fn a_reconcile_schedule_rarer_than_the_look_back_or_a_bad_settle_window_fails_init_naming_it() {
    let refused = [
        ("RECONCILE_SCHEDULE", "rate(4 days)", "LOOKBACK_DAYS=3"),
        (
            "RECONCILE_SCHEDULE",
            "cron(0 3 ? * MON *)",
            "LOOKBACK_DAYS=3",
        ),
        (
            "RECONCILE_SCHEDULE",
            "cron(0 3 1 * ? *)",
            "RECONCILE_SCHEDULE",
        ),
        (
            "RECONCILE_SCHEDULE",
            "rate(1 LEAKMARK)",
            "RECONCILE_SCHEDULE",
        ),
        ("SETTLE_MINUTES", "1441", "SETTLE_MINUTES"),
        ("SETTLE_MINUTES", "LEAKMARK", "SETTLE_MINUTES"),
    ];
    for (var, value, names) in refused {
        let case = format!("{var}={value}");
        let err = reconcile(&with(reconcile_vars(), var, Some(value)))
            .map(|_| ())
            .expect_err(&case);
        assert_names_without_echo(&case, &err, var);
        assert_names_without_echo(&case, &err, names);
    }

    // As deployed by default (daily), and a rate the look-back covers, are accepted.
    for schedule in ["cron(15 4 * * ? *)", "rate(3 days)"] {
        let pairs = with(reconcile_vars(), "RECONCILE_SCHEDULE", Some(schedule));
        assert!(reconcile(&pairs).is_ok(), "{schedule}");
    }
}
