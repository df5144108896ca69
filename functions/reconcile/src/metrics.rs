//! EMF metrics (the project's contract): namespace from `METRICS_NAMESPACE`, no dimensions, so
//! the template's alarms match them exactly. Each run emits all of them, zeros included, so an
//! alarm on mismatches returns to OK after a clean run.

use metrics::{counter, describe_counter, Unit};
use metrics_cloudwatch_embedded::{Builder, Collector};

use crate::Run;

/// Invoices sent back to the worker.
pub const REQUEUED: &str = "ReconcileRequeued";
/// Stored invoices that differ from the report (or cannot be read): a person must look.
pub const MISMATCHES: &str = "ReconcileMismatches";
/// Report rows read.
pub const REPORT_ROWS: &str = "ReconcileReportRows";
/// Invoices in the report, paid before the settle window, that the table did not have
/// (re-queued): notifications that were lost.
pub const MISSING: &str = "ReconcileMissing";
/// 1 for an invocation that read the whole report of every day it had (an empty one too),
/// handing on only days it had no time for; 0 for one where a day stopped early: the heartbeat
/// (no data at all means the function did not run).
pub const RUNS: &str = "ReconcileRuns";
/// Report rows that could not be read (their ids are logged, never the rows).
pub const INVALID_ROWS: &str = "ReconcileInvalidRows";
/// 1 for a run that stopped early, met spoilt rows or could not re-queue; 0 otherwise.
pub const FAILED: &str = "ReconcileFailed";

/// Installs the process-wide recorder. Call once, at cold start; flush after every invocation.
pub fn init(namespace: &str) -> Result<&'static Collector, metrics_cloudwatch_embedded::Error> {
    let collector = Builder::new()
        .cloudwatch_namespace(namespace.to_owned())
        .emit_zeros(true)
        .init()?;
    describe_counter!(REQUEUED, Unit::Count, "invoices re-queued for the worker");
    describe_counter!(
        MISMATCHES,
        Unit::Count,
        "stored invoices that differ from Glase's report"
    );
    describe_counter!(REPORT_ROWS, Unit::Count, "rows read from Glase's report");
    describe_counter!(FAILED, Unit::Count, "runs that did not finish their work");
    describe_counter!(
        MISSING,
        Unit::Count,
        "invoices paid before the settle window that the table did not have"
    );
    describe_counter!(RUNS, Unit::Count, "runs that read the whole report");
    describe_counter!(
        INVALID_ROWS,
        Unit::Count,
        "report rows that could not be read"
    );
    Ok(collector)
}

/// Counts one invocation (a no-op without a recorder).
pub fn record(run: &Run) {
    let found = &run.found;
    let finished = run.finished() && run.failed.is_empty();
    let failed = !finished || found.failures() > 0;
    counter!(REQUEUED).increment(found.requeued);
    counter!(MISMATCHES).increment(found.mismatches + found.unreadable);
    counter!(REPORT_ROWS).increment(found.rows);
    counter!(FAILED).increment(u64::from(failed));
    counter!(MISSING).increment(found.missing);
    counter!(RUNS).increment(u64::from(finished));
    counter!(INVALID_ROWS).increment(found.invalid_rows);
}
