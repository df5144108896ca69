//! Structured JSON logs for CloudWatch, filtered by `RUST_LOG` (default `info`).

use tracing_subscriber::filter::LevelFilter;

/// `RUST_LOG` is a level (`error`, `warn`, `info`, `debug`, `trace`); anything else means `info`.
/// A plain level filter keeps the env-filter crate's regex engine out of the functions.
pub fn init() {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| v.trim().parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::INFO);
    let _ = tracing_subscriber::fmt()
        .json()
        .with_max_level(filter)
        .with_current_span(false)
        .with_span_list(false)
        .with_target(false)
        // Lambda adds its own timestamp to every line.
        .without_time()
        .try_init();
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
