//! Structured JSON logs for CloudWatch, filtered by `RUST_LOG` (default `info`).

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;

/// Crates whose TRACE output carries the raw invocation: lambda_runtime logs every event it
/// receives ("raw JSON event received from Lambda": the whole API Gateway request, i.e. the
/// path with the webhook token and the body, on one line). They never log above DEBUG here.
const RAW_EVENT_TARGETS: [&str; 3] = ["lambda_runtime", "lambda_runtime_api_client", "lambda_http"];

/// `RUST_LOG` is a level (`error`, `warn`, `info`, `debug`, `trace`); anything else means `info`.
/// A plain level filter keeps the env-filter crate's regex engine out of the functions.
pub fn init() {
    let level = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| v.trim().parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::INFO);
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(level)
        .with_current_span(false)
        .with_span_list(false)
        .with_target(false)
        // Lambda adds its own timestamp to every line.
        .without_time()
        .finish()
        .with(filter(level));
    let _ = tracing::subscriber::set_global_default(subscriber);
}

/// `level` for everything, except the raw-event targets, which are capped at DEBUG whatever
/// the level settings say.
pub fn filter(level: LevelFilter) -> Targets {
    let capped = level.min(LevelFilter::DEBUG);
    RAW_EVENT_TARGETS
        .iter()
        .fold(Targets::new().with_default(level), |targets, target| {
            targets.with_target(*target, capped)
        })
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

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    #[test]
    fn raw_event_targets_stay_below_trace_at_any_level() {
        let at_trace = filter(LevelFilter::TRACE);
        for target in [
            "lambda_runtime::layers::api_response",
            "lambda_http",
            "lambda_runtime",
        ] {
            assert!(!at_trace.would_enable(target, &Level::TRACE), "{target}");
            assert!(at_trace.would_enable(target, &Level::DEBUG), "{target}");
        }
        assert!(at_trace.would_enable("glase_worker", &Level::TRACE));
        assert!(at_trace.would_enable("aws_smithy_runtime", &Level::TRACE));
    }

    #[test]
    fn lower_levels_apply_to_every_target() {
        let at_info = filter(LevelFilter::INFO);
        assert!(!at_info.would_enable("lambda_runtime", &Level::DEBUG));
        assert!(at_info.would_enable("lambda_runtime", &Level::INFO));
        assert!(!at_info.would_enable("glase_worker", &Level::DEBUG));
        let off = filter(LevelFilter::OFF);
        assert!(!off.would_enable("lambda_runtime", &Level::ERROR));
    }
}
