//! Structured JSON logs for CloudWatch, and CloudWatch metrics in Embedded Metric Format.
//!
//! The level comes from Lambda's advanced logging controls (`AWS_LAMBDA_LOG_LEVEL`, which the
//! console's log-level setting sets), else `RUST_LOG`, else `info` — as lambda_runtime's own
//! default subscriber reads them. `AWS_LAMBDA_LOG_FORMAT=Text` gives plain lines; the default
//! is one JSON object per line.

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Dependencies that may log requests, responses or raw events at TRACE: the runtime logs the
/// whole API Gateway event (path with the webhook token, any body), the SDK and HTTP stacks
/// log headers and bodies (the SSM response holds the issuer secret). Whatever the level
/// settings say, these never go below DEBUG.
const CAPPED_AT_DEBUG: &[&str] = &[
    "lambda_runtime",
    "lambda_runtime_api_client",
    "lambda_http",
    "aws_smithy_runtime",
    "aws_smithy_runtime_api",
    "aws_smithy_http_client",
    "aws_sdk_ssm",
    "aws_sdk_sqs",
    "aws_sdk_dynamodb",
    "aws_sdk_eventbridge",
    "aws_config",
    "aws_runtime",
    "aws_sigv4",
    "hyper",
    "hyper_util",
    "h2",
    "reqwest",
    "rustls",
];

/// The level Lambda's settings (or `RUST_LOG`, a plain level) ask for.
pub fn level_from(aws_lambda_log_level: Option<&str>, rust_log: Option<&str>) -> LevelFilter {
    aws_lambda_log_level
        .or(rust_log)
        .and_then(|v| match v.trim().to_ascii_lowercase().as_str() {
            // Lambda's FATAL has no tracing equivalent: the nearest is ERROR.
            "fatal" => Some(LevelFilter::ERROR),
            other => other.parse::<LevelFilter>().ok(),
        })
        .unwrap_or(LevelFilter::INFO)
}

/// The per-target filter: `level` for our code, at most DEBUG for the capped dependencies.
pub fn filter(level: LevelFilter) -> Targets {
    let capped = level.min(LevelFilter::DEBUG);
    CAPPED_AT_DEBUG
        .iter()
        .fold(Targets::new().with_default(level), |t, target| {
            t.with_target(*target, capped)
        })
}

pub fn init() {
    let var = |name| std::env::var(name).ok();
    let level = level_from(
        var("AWS_LAMBDA_LOG_LEVEL").as_deref(),
        var("RUST_LOG").as_deref(),
    );
    let text = var("AWS_LAMBDA_LOG_FORMAT").is_some_and(|f| f.eq_ignore_ascii_case("text"));
    // Lambda adds its own timestamp to every line.
    let fmt = tracing_subscriber::fmt::layer()
        .with_target(false)
        .with_ansi(false)
        .without_time();
    let registry = tracing_subscriber::registry().with(filter(level));
    let _ = if text {
        registry.with(fmt).try_init()
    } else {
        registry
            .with(fmt.json().with_current_span(false).with_span_list(false))
            .try_init()
    };
    // Shows, at the finest level only, which level and format the settings gave.
    tracing::trace!(%level, text, "logging configured");
}

/// An error and its sources on one line, for log fields.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let next = s.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = s.source();
    }
    text
}

pub use emf::{flush, metrics, Metrics};

/// CloudWatch Embedded Metric Format: metrics written to stdout as JSON documents, which
/// CloudWatch Logs turns into metrics; the alarms stand on them. No API call, no latency.
mod emf {
    pub type Metrics = &'static metrics_cloudwatch_embedded::Collector;

    /// Installs the recorder once, namespace from `METRICS_NAMESPACE` (the template sets
    /// `GlaseInvoices/<stack>`). `None` if a recorder is installed already (tests).
    pub fn metrics() -> Option<Metrics> {
        let namespace =
            std::env::var("METRICS_NAMESPACE").unwrap_or_else(|_| "GlaseInvoices".to_owned());
        metrics_cloudwatch_embedded::Builder::new()
            .cloudwatch_namespace(namespace)
            .init()
            .ok()
    }

    /// Writes the invocation's metrics as one EMF document on stdout.
    pub fn flush(metrics: Option<Metrics>) {
        if let Some(m) = metrics {
            if let Err(e) = m.flush(std::io::stdout()) {
                tracing::warn!(error = %e, "could not write the EMF metrics document");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambda_log_level_wins_over_rust_log_and_defaults_to_info() {
        assert_eq!(level_from(Some("DEBUG"), Some("error")), LevelFilter::DEBUG);
        assert_eq!(level_from(None, Some("warn")), LevelFilter::WARN);
        assert_eq!(level_from(Some("FATAL"), None), LevelFilter::ERROR);
        assert_eq!(level_from(None, None), LevelFilter::INFO);
        assert_eq!(level_from(Some("loud"), None), LevelFilter::INFO);
    }

    #[test]
    fn the_runtime_and_http_stacks_never_log_below_debug() {
        let f = filter(LevelFilter::TRACE);
        for target in [
            "lambda_runtime",
            "lambda_runtime::layers::trace",
            "aws_smithy_runtime::client",
            "hyper",
        ] {
            assert!(!f.would_enable(target, &tracing::Level::TRACE), "{target}");
            assert!(f.would_enable(target, &tracing::Level::DEBUG), "{target}");
        }
        assert!(f.would_enable("glase_worker", &tracing::Level::TRACE));
        let quiet = filter(LevelFilter::WARN);
        assert!(!quiet.would_enable("lambda_runtime", &tracing::Level::DEBUG));
    }
}
