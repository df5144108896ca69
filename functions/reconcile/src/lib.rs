//! The reconciliation Lambda: what an invocation asks for ([`invocation`]), the split by day
//! ([`glase_shared::reconcile::reconcile_days`], shared with `glase-invoices reconcile`), the
//! days handed on, one summary line, the metrics.

use glase_shared::ports::{DayQueue, InvoiceLookup, ReportSource, Requeue};
use glase_shared::reconcile::{
    reconcile_days, Action, Days, Finding, Options, Problem, ReconcileFailure, Reconciliation,
    Window,
};
use glase_shared::telemetry::error_chain;
use glase_shared::InvoiceId;
use std::time::Duration;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::Timestamp;
use tokio::time::Instant;

pub mod config;
pub mod invocation;
pub mod metrics;
pub mod schedule;

pub use invocation::{Invocation, InvocationError};

/// The function: the look-back window (or the window or days asked for), day by day, one
/// summary line, the metrics.
pub struct Scheduled<S, L, Q, D> {
    pub source: S,
    pub store: L,
    pub queue: Q,
    /// `RECONCILE_DAYS_QUEUE_URL`: where the days an invocation has no time for go. `None`
    /// (local runs): such days fail the invocation.
    pub days: Option<D>,
    /// Glase's calendar, for "today".
    pub zone: TimeZone,
    pub lookback_days: u16,
    /// Missing invoices paid more recently are re-queued but not counted missing.
    pub settle: Duration,
}

/// What one invocation did.
#[derive(Debug)]
pub struct Run {
    /// Every day done or failed here, summed.
    pub found: Reconciliation,
    pub done: Vec<Date>,
    /// Days that stopped early here, with why.
    pub failed: Vec<(Date, String)>,
    /// Days handed on to the days queue, to be done by later invocations.
    pub handed_on: Vec<Date>,
    /// Days neither done nor handed on (no days queue, or it refused them, or a day's own
    /// message that failed): the invocation fails, so they are tried again.
    pub undone: Vec<Date>,
    /// Why `undone` could not be handed on.
    pub hand_on_error: Option<String>,
}

impl Run {
    fn new(days: Days) -> Self {
        Self {
            found: days.found,
            done: days.done,
            failed: days
                .failed
                .iter()
                .map(|(day, e)| (*day, error_chain(e)))
                .collect(),
            handed_on: Vec::new(),
            undone: {
                let mut undone: Vec<Date> = days.failed.iter().map(|(d, _)| *d).collect();
                undone.extend(days.left);
                undone.sort_unstable();
                undone
            },
            hand_on_error: None,
        }
    }

    /// True when everything asked was done here or handed on.
    pub fn finished(&self) -> bool {
        self.undone.is_empty()
    }

    /// The error line: the failed days and causes, and a failed hand-on (bounded).
    pub fn error(&self) -> Option<String> {
        let mut parts: Vec<String> = self
            .failed
            .iter()
            .take(3)
            .map(|(day, e)| format!("{day}: {e}"))
            .collect();
        if self.failed.len() > 3 {
            parts.push(format!("and {} more days", self.failed.len() - 3));
        }
        if let Some(e) = &self.hand_on_error {
            parts.push(format!("handing days on failed: {e}"));
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }
}

/// A one-window run, as `reconcile` returns it (the metrics' tests use it).
impl From<Result<Reconciliation, ReconcileFailure>> for Run {
    fn from(result: Result<Reconciliation, ReconcileFailure>) -> Self {
        let window = match &result {
            Ok(found) => found.window,
            Err(failure) => failure.partial.window,
        };
        let (found, failed) = match result {
            Ok(found) => (found, vec![]),
            Err(failure) => (*failure.partial, vec![(window.from(), failure.cause)]),
        };
        Run::new(Days {
            done: if failed.is_empty() {
                window.days().map(|d| d.from()).collect()
            } else {
                vec![]
            },
            found,
            failed,
            left: vec![],
        })
    }
}

/// Why an invocation counts as failed (it errors, so its alarm fires and it is tried again:
/// Lambda retries the schedule's invocation, SQS a day's message).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Invocation(#[from] InvocationError),
    #[error("{} days not reconciled ({}): {}", .days.len(), day_list(.days), .reason)]
    Unfinished { days: Vec<Date>, reason: String },
    #[error("reconciliation finished with {0} spoilt report rows or failed re-queues")]
    Incomplete(u64),
}

impl RunError {
    /// The invocation's error type.
    pub fn kind(&self) -> &'static str {
        match self {
            RunError::Invocation(_) => "ReconcileBadInvocation",
            RunError::Unfinished { .. } => "ReconcileStopped",
            RunError::Incomplete(_) => "ReconcileIncomplete",
        }
    }
}

/// The first days and how many more: bounded, whatever the window.
fn day_list(days: &[Date]) -> String {
    let mut text = days
        .iter()
        .take(10)
        .map(Date::to_string)
        .collect::<Vec<_>>()
        .join(",");
    if days.len() > 10 {
        text.push_str(&format!(",… ({} in all)", days.len()));
    }
    text
}

/// Left for the summary line, the metrics flush and the hand-on when an invocation's days are
/// cut short: 30 s, or a quarter of the time when less is left.
pub fn deadline_for(time_left: Duration) -> Instant {
    let margin = Duration::from_secs(30).min(time_left / 4);
    Instant::now() + time_left.saturating_sub(margin)
}

impl<S: ReportSource, L: InvoiceLookup, Q: Requeue, D: DayQueue> Scheduled<S, L, Q, D> {
    /// The look-back window at `now`, without a deadline (tests, local runs).
    pub async fn run(&self, now: Timestamp) -> Result<Run, RunError> {
        self.handle(&Invocation::Scheduled, now, None).await
    }

    /// One invocation at `now`: its days, oldest first, until `deadline`; the days left (or
    /// failed) of a window are handed on, a day's own message that fails is retried by SQS.
    /// Mismatches do not fail it: they have their own metric and alarm.
    pub async fn handle(
        &self,
        invocation: &Invocation,
        now: Timestamp,
        deadline: Option<Instant>,
    ) -> Result<Run, RunError> {
        let options = Options::new(now).settle(self.settle);
        let mut log = FindingLog::default();
        let mut sink = |finding: &Finding| log.add(finding);
        let (mut run, hand_on) = match invocation {
            Invocation::Scheduled | Invocation::Window(_) => {
                let window = match invocation {
                    Invocation::Window(window) => *window,
                    _ => Window::lookback(now, &self.zone, self.lookback_days),
                };
                let days = reconcile_days(
                    &self.source,
                    &self.store,
                    &self.queue,
                    window,
                    &options,
                    &mut sink,
                    deadline,
                )
                .await;
                (Run::new(days), true)
            }
            Invocation::Days(dates) => {
                let mut all: Option<Days> = None;
                for date in dates {
                    let day = reconcile_days(
                        &self.source,
                        &self.store,
                        &self.queue,
                        Window::day(*date),
                        &options,
                        &mut sink,
                        deadline,
                    )
                    .await;
                    match &mut all {
                        None => all = Some(day),
                        Some(all) => {
                            all.found.absorb(day.found);
                            all.done.extend(day.done);
                            all.failed.extend(day.failed);
                            all.left.extend(day.left);
                        }
                    }
                }
                // No day at all (an empty batch): an empty run of today.
                let days = all.unwrap_or_else(|| Days {
                    found: Reconciliation::new(Window::lookback(now, &self.zone, 0), false),
                    done: vec![],
                    failed: vec![],
                    left: vec![],
                });
                // A day's message that did not finish is retried by SQS: never handed on again.
                (Run::new(days), false)
            }
        };
        log.flush();
        for (day, error) in &run.failed {
            tracing::error!(day = %day, error = %error, "reconcile day failed");
        }
        if hand_on && !run.undone.is_empty() {
            match &self.days {
                Some(queue) => match queue.hand_on(&run.undone).await {
                    Ok(()) => run.handed_on = std::mem::take(&mut run.undone),
                    Err(e) => run.hand_on_error = Some(error_chain(&e)),
                },
                None => {
                    run.hand_on_error =
                        Some("no days queue (RECONCILE_DAYS_QUEUE_URL is not set)".into())
                }
            }
        }
        log_summary(&run);
        metrics::record(&run);
        if !run.undone.is_empty() {
            return Err(RunError::Unfinished {
                days: run.undone.clone(),
                reason: run.error().unwrap_or_default(),
            });
        }
        match run.found.failures() {
            0 => Ok(run),
            n => Err(RunError::Incomplete(n)),
        }
    }
}

/// The invocation's result (what `aws lambda invoke` prints): the counts and the first ids
/// (at most [`Reconciliation::SAMPLE`] findings' worth: the full list is in the
/// `reconcile requeued` log lines).
pub fn summary(run: &Run) -> serde_json::Value {
    let found = &run.found;
    let ids = |ids: Vec<InvoiceId>| ids.into_iter().map(InvoiceId::get).collect::<Vec<_>>();
    serde_json::json!({
        "from": found.window.from().to_string(),
        "to": found.window.to().to_string(),
        "daysDone": run.done.len(),
        "daysHandedOn": day_list(&run.handed_on),
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
pub fn log_summary(run: &Run) {
    let (found, error) = (&run.found, run.error());
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
                days_done = run.done.len(),
                days_failed = run.failed.len(),
                days_handed_on = %day_list(&run.handed_on),
                days_undone = %day_list(&run.undone),
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
    if !run.finished() || found.failures() > 0 {
        summary!(error);
    } else if mismatches > 0 {
        summary!(warn);
    } else {
        summary!(info);
    }
}

#[cfg(test)]
mod tests;
