//! The scheduled reconciliation Lambda: the look-back window, one run of
//! [`glase_shared::reconcile`] (the algorithm, shared with `glase-invoices reconcile`), one
//! summary line, the metrics.

use glase_shared::ports::{InvoiceLookup, ReportSource, Requeue};
use glase_shared::reconcile::{
    reconcile, Action, Options, Problem, ReconcileFailure, Reconciliation, Window,
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
    Incomplete(usize),
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
        let result = reconcile(
            &self.source,
            &self.store,
            &self.queue,
            window,
            &Options::new(now).settle(self.settle),
        )
        .await;
        log_summary(&result);
        metrics::record(&result);
        let found = result?;
        match found.failures() {
            0 => Ok(found),
            n => Err(RunError::Incomplete(n)),
        }
    }
}

/// The invocation's result (what `aws lambda invoke` prints): counts and the ids that matter.
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
        "invalidRows": found.invalid_rows(),
        "requeued": ids(found.requeued()),
        "mismatches": ids(found.mismatches()),
        "failures": found.failures(),
    })
}

/// At most this many ids per list in the summary line; the counts are always exact.
const IDS_IN_SUMMARY: usize = 100;

fn id_list(ids: &[InvoiceId]) -> String {
    let mut text = ids
        .iter()
        .take(IDS_IN_SUMMARY)
        .map(InvoiceId::to_string)
        .collect::<Vec<_>>()
        .join(",");
    if ids.len() > IDS_IN_SUMMARY {
        text.push_str(",…");
    }
    text
}

/// The run's one structured log line: counts and ids.
pub fn log_summary(result: &Result<Reconciliation, ReconcileFailure>) {
    let (found, error) = match result {
        Ok(found) => (found, None),
        Err(failure) => (&*failure.partial, Some(error_chain(failure))),
    };
    let requeued = found.requeued();
    let mismatches = found.mismatches();
    let of_kind = |kind: &str| -> Vec<InvoiceId> {
        found
            .findings
            .iter()
            .filter(|f| f.problem.kind() == kind)
            .filter_map(|f| f.invoice_id)
            .collect()
    };
    let requeue_failed: Vec<InvoiceId> = found
        .findings
        .iter()
        .filter(|f| matches!(f.action, Action::RequeueFailed { .. }))
        .filter_map(|f| f.invoice_id)
        .collect();
    // One line per spoilt row: its number, its id when readable and what is wrong — never the
    // row itself, which may hold payer data.
    let mut invalid_row_ids = Vec::new();
    for finding in &found.findings {
        if let Problem::InvalidRow { row, error } = &finding.problem {
            let invoice_id = finding.invoice_id.map(InvoiceId::get);
            tracing::warn!(row, invoice_id, error = %error, "report row could not be read");
            invalid_row_ids.extend(finding.invoice_id);
        }
    }
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
                requeued = requeued.len(),
                requeued_ids = %id_list(&requeued),
                missing_ids = %id_list(&of_kind("missing")),
                rejected_ids = %id_list(&of_kind("rejected")),
                stuck_ids = %id_list(&of_kind("stuck")),
                mismatches = mismatches.len(),
                mismatch_ids = %id_list(&mismatches),
                requeue_failed = requeue_failed.len(),
                requeue_failed_ids = %id_list(&requeue_failed),
                invalid_rows = found.invalid_rows(),
                invalid_row_ids = %id_list(&invalid_row_ids),
                error = error.as_deref(),
                "reconcile summary"
            )
        };
    }
    if error.is_some() || found.failures() > 0 {
        summary!(error);
    } else if !mismatches.is_empty() {
        summary!(warn);
    } else {
        summary!(info);
    }
}

#[cfg(test)]
mod tests;
