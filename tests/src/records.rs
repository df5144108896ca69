//! Captures the worker's one-line-per-record log events (`record`, with `invoice_id`,
//! `outcome` and `reason`) from the workers running in this test process, so a test can see
//! what each attempt came to: why a message was retried, which records stored an invoice.
//!
//! The test's own subscriber, not the process's: other tests' workers run in the same process,
//! so the test sets [`capture`]'s dispatcher as the default on each thread of its runtime. With
//! `RUST_LOG` set, the usual formatted logs are printed as well.

use std::sync::{Arc, Mutex};

use tokio::time::Instant;
use tracing::field::{Field, Visit};
use tracing::{Dispatch, Event, Level, Subscriber};
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

/// One `record` line of the worker.
#[derive(Debug, Clone)]
pub struct Record {
    pub at: Instant,
    pub invoice_id: Option<u64>,
    pub outcome: String,
    pub reason: Option<String>,
}

impl Record {
    pub fn is_retry_because(&self, text: &str) -> bool {
        self.outcome == "retry" && self.reason.as_deref().is_some_and(|r| r.contains(text))
    }
}

/// Everything captured so far.
#[derive(Default)]
pub struct Records {
    records: Mutex<Vec<Record>>,
}

impl Records {
    pub fn all(&self) -> Vec<Record> {
        self.records
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Records since `from` that match.
    pub fn count_since(&self, from: Instant, matches: impl Fn(&Record) -> bool) -> usize {
        self.records
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|r| r.at >= from && matches(r))
            .count()
    }
}

/// A dispatcher capturing the records of the workers that log to it, and what it captured.
pub fn capture() -> (Arc<Records>, Dispatch) {
    let records = Arc::new(Records::default());
    let capture = Capture(Arc::clone(&records)).with_filter(filter_fn(|meta| {
        meta.target().starts_with("glase_worker") && *meta.level() <= Level::INFO
    }));
    let printed = std::env::var_os("RUST_LOG").map(|_| {
        tracing_subscriber::fmt::layer()
            .with_test_writer()
            .with_filter(tracing_subscriber::EnvFilter::from_default_env())
    });
    let subscriber = tracing_subscriber::registry().with(capture).with(printed);
    (records, Dispatch::new(subscriber))
}

struct Capture(Arc<Records>);

impl<S: Subscriber> Layer<S> for Capture {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        if fields.message.as_deref() != Some("record") {
            return;
        }
        let record = Record {
            at: Instant::now(),
            invoice_id: fields.invoice_id,
            outcome: fields.outcome.unwrap_or_default(),
            reason: fields.reason,
        };
        self.0
            .records
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(record);
    }
}

#[derive(Default)]
struct Fields {
    message: Option<String>,
    invoice_id: Option<u64>,
    outcome: Option<String>,
    reason: Option<String>,
}

impl Visit for Fields {
    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "invoice_id" {
            self.invoice_id = Some(value);
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "outcome" => self.outcome = Some(value.to_owned()),
            "reason" => self.reason = Some(value.to_owned()),
            "message" => self.message = Some(value.to_owned()),
            _ => {}
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.message = Some(format!("{value:?}"));
        }
    }
}
