//! The scheduled reconciliation Lambda: the look-back window, one run of
//! [`glase_shared::reconcile`] (the algorithm, shared with `glase-invoices reconcile`), one
//! summary line, the metrics.

use glase_shared::ports::{InvoiceLookup, ReportSource, Requeue};
use glase_shared::reconcile::{
    reconcile_with, Action, Finding, Options, Problem, ReconcileFailure, Reconciliation, Window,
};
use glase_shared::telemetry::error_chain;
use glase_shared::InvoiceId;
use std::time::Duration;

use jiff::tz::TimeZone;
use jiff::Timestamp;

pub mod config;
pub mod metrics;
pub mod schedule;

/// The scheduled function: the look-back window, one run, one summary line, the metrics.
pub struct Scheduled<S, L, Q> {
    pub source: S,
    pub store: L,
    pub queue: Q,
    /// Glase's calendar, for "today".
    pub zone: TimeZone,
    pub lookback_days: u16,
    /// Missing invoices paid more recently are re-queued but not counted missing.
    pub settle: Duration,
}

/// Why a scheduled run counts as failed (the Lambda invocation errors, so its alarm fires and
/// the asynchronous invocation is retried).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Stopped(#[from] ReconcileFailure),
    #[error("reconciliation finished with {0} spoilt report rows or failed re-queues")]
    Incomplete(u64),
}

impl RunError {
    /// The invocation's error type.
    pub fn kind(&self) -> &'static str {
        match self {
            RunError::Stopped(_) => "ReconcileStopped",
            RunError::Incomplete(_) => "ReconcileIncomplete",
        }
    }
}

impl<S: ReportSource, L: InvoiceLookup, Q: Requeue> Scheduled<S, L, Q> {
    /// One run at `now`. Mismatches do not fail it: they have their own metric and alarm.
    pub async fn run(&self, now: Timestamp) -> Result<Reconciliation, RunError> {
        let window = Window::lookback(now, &self.zone, self.lookback_days);
        let mut log = FindingLog::default();
        let result = reconcile_with(
            &self.source,
            &self.store,
            &self.queue,
            window,
            &Options::new(now).settle(self.settle),
            &mut |finding| log.add(finding),
        )
        .await;
        log.flush();
        log_summary(&result);
        metrics::record(&result);
        let found = result?;
        match found.failures() {
            0 => Ok(found),
            n => Err(RunError::Incomplete(n)),
        }
    }
}

/// The invocation's result (what `aws lambda invoke` prints): the counts and the first ids
/// (at most [`Reconciliation::SAMPLE`] findings' worth: the full list is in the
/// `reconcile requeued` log lines).
pub fn summary(found: &Reconciliation) -> serde_json::Value {
    let ids = |ids: Vec<InvoiceId>| ids.into_iter().map(InvoiceId::get).collect::<Vec<_>>();
    serde_json::json!({
        "from": found.window.from().to_string(),
        "to": found.window.to().to_string(),
        "rows": found.rows,
        "matched": found.matched,
        "inProgress": found.in_progress,
        "recent": found.recent,
        "missing": found.missing,
        "invalidRows": found.invalid_rows,
        "requeued": found.requeued,
        "requeuedIds": ids(found.requeued_ids()),
        "mismatches": found.mismatches + found.unreadable,
        "mismatchIds": ids(found.mismatch_ids()),
        "failures": found.failures(),
    })
}

/// Ids per `reconcile requeued` log line.
pub const IDS_PER_LOG_LINE: usize = 100;

/// Where the full list is: every re-queued id, in `reconcile requeued` lines of at most
/// [`IDS_PER_LOG_LINE`] ids, and one line per spoilt row, as the run finds them.
#[derive(Default)]
pub struct FindingLog {
    requeued: Vec<InvoiceId>,
}

impl FindingLog {
    pub fn add(&mut self, finding: &Finding) {
        match (&finding.problem, &finding.action, finding.invoice_id) {
            // Its number, its id when readable and what is wrong — never the row itself,
            // which may hold payer data.
            (Problem::InvalidRow { row, error }, _, id) => {
                let invoice_id = id.map(InvoiceId::get);
                tracing::warn!(row, invoice_id, error = %error, "report row could not be read");
            }
            (_, Action::Requeued, Some(id)) => {
                self.requeued.push(id);
                if self.requeued.len() == IDS_PER_LOG_LINE {
                    self.flush();
                }
            }
            _ => {}
        }
    }

    /// Logs the re-queued ids not logged yet.
    pub fn flush(&mut self) {
        if !self.requeued.is_empty() {
            tracing::info!(
                count = self.requeued.len(),
                ids = %id_list(&self.requeued, self.requeued.len() as u64),
                "reconcile requeued"
            );
            self.requeued.clear();
        }
    }
}

/// The ids given (at most [`Reconciliation::SAMPLE`]), `,…` when `total` says there are more.
fn id_list(ids: &[InvoiceId], total: u64) -> String {
    let mut text = ids
        .iter()
        .map(InvoiceId::to_string)
        .collect::<Vec<_>>()
        .join(",");
    if total > ids.len() as u64 {
        text.push_str(",…");
    }
    text
}

/// The run's one structured log line: exact counts and the first ids of each kind (the ids of
/// the findings the result kept), so it stays small whatever the report's size.
pub fn log_summary(result: &Result<Reconciliation, ReconcileFailure>) {
    let (found, error) = match result {
        Ok(found) => (found, None),
        Err(failure) => (&*failure.partial, Some(error_chain(failure))),
    };
    let ids_where = |keep: &dyn Fn(&Finding) -> bool| -> Vec<InvoiceId> {
        found
            .findings
            .iter()
            .filter(|f| keep(f))
            .filter_map(|f| f.invoice_id)
            .collect()
    };
    let of_kind = |kind: &str| ids_where(&|f| f.problem.kind() == kind);
    // Every re-queue is of a missing, rejected or stuck invoice.
    let missing_found = (found.requeued + found.would_requeue + found.requeue_failed)
        .saturating_sub(found.rejected + found.stuck);
    let mismatches = found.mismatches + found.unreadable;
    macro_rules! summary {
        ($level:ident) => {
            tracing::$level!(
                from = %found.window.from(),
                to = %found.window.to(),
                dry_run = found.dry_run,
                rows = found.rows,
                matched = found.matched,
                in_progress = found.in_progress,
                recent = found.recent,
                missing = found.missing,
                requeued = found.requeued,
                requeued_ids = %id_list(&found.requeued_ids(), found.requeued),
                missing_ids = %id_list(&of_kind("missing"), missing_found),
                rejected = found.rejected,
                rejected_ids = %id_list(&of_kind("rejected"), found.rejected),
                stuck = found.stuck,
                stuck_ids = %id_list(&of_kind("stuck"), found.stuck),
                mismatches,
                mismatch_ids = %id_list(&found.mismatch_ids(), mismatches),
                requeue_failed = found.requeue_failed,
                requeue_failed_ids = %id_list(
                    &ids_where(&|f| matches!(f.action, Action::RequeueFailed { .. })),
                    found.requeue_failed
                ),
                invalid_rows = found.invalid_rows,
                invalid_row_ids = %id_list(&of_kind("invalidRow"), found.invalid_rows),
                findings_not_kept = found.findings_not_kept,
                error = error.as_deref(),
                "reconcile summary"
            )
        };
    }
    if error.is_some() || found.failures() > 0 {
        summary!(error);
    } else if mismatches > 0 {
        summary!(warn);
    } else {
        summary!(info);
    }
}

#[cfg(test)]
mod tests;
