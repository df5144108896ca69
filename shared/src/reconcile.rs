//! Reconciliation: Glase's report of paid invoices is the backstop for every notification that
//! never reached us — a webhook outage longer than Glase's ~32 h of retries, a refusal nobody
//! saw, a false rejection.
//!
//! [`reconcile`] reads the report for a [`Window`] of dates row by row, looks the ids up in the
//! table 100 at a time, and re-queues every invoice that is missing, `REJECTED` or stuck
//! `PROCESSING` (lease lapsed); the worker then fetches and stores it through its normal,
//! idempotent path. A stored invoice whose amount, currency, reference or purchase instant
//! differs from the report is a [`Problem::Mismatch`]: reported, never "fixed". A report row
//! that cannot be read is still looked up when its id can be, and re-queued like any other.
//! The scheduled Lambda (glase-reconcile) and the `glase-invoices reconcile` command both call
//! it.

use std::collections::HashSet;
use std::time::Duration;

use futures::StreamExt;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use serde::Serialize;

use crate::domain::{Invoice, InvoiceId, ReportError};
use crate::ports::{
    AdapterError, InvoiceLookup, InvoiceRecord, ReportFetchError, ReportSource, Requeue,
};
use crate::telemetry::error_chain;

// ---------------------------------------------------------------------------------------------
// Window and options

/// Report dates, both inclusive, in Glase's calendar (`GLASE_TIME_ZONE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Window {
    #[serde(serialize_with = "display")]
    from: Date,
    #[serde(serialize_with = "display")]
    to: Date,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    #[error("the window starts ({from}) after it ends ({to})")]
    Reversed { from: Date, to: Date },
    #[error("the window spans {days} days; at most {max} are read at once (split the range)")]
    TooLong { days: i32, max: i32 },
}

impl Window {
    /// At most this many days at once: a year of a busy issuer's report is too much for one body.
    pub const MAX_DAYS: i32 = 93;

    pub fn new(from: Date, to: Date) -> Result<Self, WindowError> {
        if from > to {
            return Err(WindowError::Reversed { from, to });
        }
        let days = from
            .until(to)
            .map(|s| s.get_days())
            .unwrap_or(i32::MAX)
            .saturating_add(1);
        if days > Self::MAX_DAYS {
            return Err(WindowError::TooLong {
                days,
                max: Self::MAX_DAYS,
            });
        }
        Ok(Self { from, to })
    }

    /// Today in `zone` and the `days` days before it: a daily run with `days` = 3 sees every
    /// date four times, so an invoice missed on one run is caught by the next ones.
    pub fn lookback(now: Timestamp, zone: &TimeZone, days: u16) -> Self {
        let to = now.to_zoned_datetime(zone.clone()).date();
        let days = i32::from(days).min(Self::MAX_DAYS - 1);
        let from = to.checked_sub(days.days()).unwrap_or(to);
        Self { from, to }
    }

    pub fn from(&self) -> Date {
        self.from
    }

    pub fn to(&self) -> Date {
        self.to
    }
}

fn display<T: std::fmt::Display, S: serde::Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

/// How a run behaves.
#[derive(Debug, Clone)]
pub struct Options {
    /// Find and report, but re-queue nothing.
    pub dry_run: bool,
    /// The time of the run: leases are expired relative to it, `settle` counts back from it.
    pub now: Timestamp,
    /// A missing invoice paid less than this long ago is re-queued but not counted as
    /// [`Reconciliation::missing`]: Glase is very likely notifying it right now, so it is not
    /// (yet) a lost notification.
    pub settle: Duration,
    /// Ids per table read (BatchGetItem takes at most 100).
    pub batch_size: usize,
    /// Re-queue messages in flight at once.
    pub requeue_concurrency: usize,
}

impl Options {
    pub const DEFAULT_SETTLE: Duration = Duration::from_secs(30 * 60);

    /// A real run at `now`, with the defaults.
    pub fn new(now: Timestamp) -> Self {
        Self {
            dry_run: false,
            now,
            settle: Self::DEFAULT_SETTLE,
            batch_size: 100,
            requeue_concurrency: 8,
        }
    }

    pub fn dry_run(mut self, dry_run: bool) -> Self {
        self.dry_run = dry_run;
        self
    }

    pub fn settle(mut self, settle: Duration) -> Self {
        self.settle = settle;
        self
    }
}

// ---------------------------------------------------------------------------------------------
// What a run found

/// What a run found and did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Reconciliation {
    pub window: Window,
    pub dry_run: bool,
    /// Report rows read, spoilt ones included.
    pub rows: u64,
    /// Stored, and equal to the report.
    pub matched: u64,
    /// `PROCESSING` with a live lease: a worker has it now.
    pub in_progress: u64,
    /// Missing or unfinished, but paid within the settle period: re-queued, not counted missing.
    pub recent: u64,
    /// Missing from the table and paid before the settle period (or of unknown age: a spoilt
    /// row): notifications that were lost. Re-queued.
    pub missing: u64,
    /// Everything else, in report order.
    pub findings: Vec<Finding>,
}

/// One invoice (or report row) that was not simply stored and equal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    /// `None` only for a report row whose ID could not be read.
    #[serde(serialize_with = "opt_id")]
    pub invoice_id: Option<InvoiceId>,
    pub problem: Problem,
    pub action: Action,
}

fn opt_id<S: serde::Serializer>(id: &Option<InvoiceId>, s: S) -> Result<S::Ok, S::Error> {
    match id {
        Some(id) => s.serialize_u64(id.get()),
        None => s.serialize_none(),
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Problem {
    /// Paid in Glase, no item in the table.
    Missing,
    /// Paid in Glase, recorded as rejected.
    #[serde(rename_all = "camelCase")]
    Rejected { code: String, reason: String },
    /// `PROCESSING` whose lease lapsed: its worker died, or its message was dead-lettered.
    #[serde(rename_all = "camelCase")]
    Stuck {
        #[serde(serialize_with = "display")]
        lease_until: Timestamp,
        attempts: u32,
        last_error: Option<String>,
    },
    /// Stored, but not as the report says.
    Mismatch { differences: Vec<Difference> },
    /// Stored in a shape this code cannot read.
    Unreadable { error: String },
    /// A report row that could not be read.
    InvalidRow { row: u64, error: String },
}

impl Problem {
    /// A short name: `missing`, `rejected`, `stuck`, `mismatch`, `unreadable`, `invalidRow`.
    pub fn kind(&self) -> &'static str {
        match self {
            Problem::Missing => "missing",
            Problem::Rejected { .. } => "rejected",
            Problem::Stuck { .. } => "stuck",
            Problem::Mismatch { .. } => "mismatch",
            Problem::Unreadable { .. } => "unreadable",
            Problem::InvalidRow { .. } => "invalidRow",
        }
    }

    /// One line for people.
    pub fn detail(&self) -> String {
        match self {
            Problem::Missing => "not in the table".into(),
            Problem::Rejected { code, reason } => format!("rejected {code}: {reason}"),
            Problem::Stuck {
                lease_until,
                attempts,
                last_error,
            } => format!(
                "PROCESSING, lease lapsed {lease_until}, {attempts} attempts{}",
                last_error
                    .as_ref()
                    .map(|e| format!(", last error: {e}"))
                    .unwrap_or_default()
            ),
            Problem::Mismatch { differences } => differences
                .iter()
                .map(|d| {
                    let note = d
                        .note
                        .as_ref()
                        .map(|n| format!(" ({n})"))
                        .unwrap_or_default();
                    format!(
                        "{}: report {:?}, stored {:?}{note}",
                        d.field, d.report, d.stored
                    )
                })
                .collect::<Vec<_>>()
                .join("; "),
            Problem::Unreadable { error } => format!("stored item unreadable: {error}"),
            Problem::InvalidRow { row, error } => format!("report row {row}: {error}"),
        }
    }
}

/// A field that differs between the report and the stored invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    /// `amount`, `currency`, `reference` or `purchaseTime`.
    pub field: &'static str,
    pub report: String,
    pub stored: String,
    /// The likely cause, when the difference says it (a purchase time off by whole hours: the
    /// zone setting).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "camelCase")]
pub enum Action {
    /// Sent back to the worker.
    Requeued,
    /// A dry run: would have been sent back.
    WouldRequeue,
    /// Sending it back failed; the next run tries again.
    RequeueFailed { error: String },
    /// Never fixed automatically: a person must look.
    NeedsHuman,
}

impl Reconciliation {
    fn new(window: Window, dry_run: bool) -> Self {
        Self {
            window,
            dry_run,
            rows: 0,
            matched: 0,
            in_progress: 0,
            recent: 0,
            missing: 0,
            findings: Vec::new(),
        }
    }

    fn ids_where(&self, keep: impl Fn(&Finding) -> bool) -> Vec<InvoiceId> {
        self.findings
            .iter()
            .filter(|f| keep(f))
            .filter_map(|f| f.invoice_id)
            .collect()
    }

    /// Ids sent back to the worker.
    pub fn requeued(&self) -> Vec<InvoiceId> {
        self.ids_where(|f| f.action == Action::Requeued)
    }

    /// Ids a dry run would have sent back.
    pub fn would_requeue(&self) -> Vec<InvoiceId> {
        self.ids_where(|f| f.action == Action::WouldRequeue)
    }

    /// Stored invoices that differ from the report (or cannot be read): never fixed here.
    pub fn mismatches(&self) -> Vec<InvoiceId> {
        self.ids_where(|f| {
            matches!(
                f.problem,
                Problem::Mismatch { .. } | Problem::Unreadable { .. }
            )
        })
    }

    /// Spoilt report rows and failed re-queues: the run did not do all it should.
    pub fn failures(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| {
                matches!(f.problem, Problem::InvalidRow { .. })
                    || matches!(f.action, Action::RequeueFailed { .. })
            })
            .count()
    }

    /// Report rows that could not be read.
    pub fn invalid_rows(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| matches!(f.problem, Problem::InvalidRow { .. }))
            .count()
    }

    /// True when a person must look: a mismatch, an unreadable item, a spoilt row or a failed
    /// re-queue. False when the run found nothing or re-queued everything it found.
    pub fn needs_human(&self) -> bool {
        !self.mismatches().is_empty() || self.failures() > 0
    }

    fn push(&mut self, invoice_id: Option<InvoiceId>, problem: Problem, action: Action) {
        self.findings.push(Finding {
            invoice_id,
            problem,
            action,
        });
    }
}

// ---------------------------------------------------------------------------------------------
// The run

/// Why a run stopped before the end of the report.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("fetching Glase's report failed: {0}")]
    Report(#[source] ReportFetchError),
    #[error("reading the invoices table failed: {0}")]
    Store(#[source] AdapterError),
}

/// A run that stopped early, with what it had done by then (re-queues already sent stay sent).
#[derive(Debug, thiserror::Error)]
#[error("reconciliation stopped early: {cause}")]
pub struct ReconcileFailure {
    pub partial: Box<Reconciliation>,
    #[source]
    pub cause: ReconcileError,
}

/// Compares Glase's report for `window` with the table and re-queues what needs it.
///
/// Rows stream in and are checked 100 at a time, so memory stays small whatever the report's
/// size. A spoilt row is recorded ([`Problem::InvalidRow`]) and the run goes on — its invoice
/// still looked up and re-queued when its id could be read; a failed fetch or table read stops
/// it ([`ReconcileFailure`], with what was done so far).
pub async fn reconcile<S, L, Q>(
    source: &S,
    store: &L,
    queue: &Q,
    window: Window,
    options: &Options,
) -> Result<Reconciliation, ReconcileFailure>
where
    S: ReportSource,
    L: InvoiceLookup,
    Q: Requeue,
{
    let mut found = Reconciliation::new(window, options.dry_run);
    match run(source, store, queue, &mut found, options).await {
        Ok(()) => Ok(found),
        Err(cause) => Err(ReconcileFailure {
            partial: Box::new(found),
            cause,
        }),
    }
}

async fn run<S, L, Q>(
    source: &S,
    store: &L,
    queue: &Q,
    found: &mut Reconciliation,
    options: &Options,
) -> Result<(), ReconcileError>
where
    S: ReportSource,
    L: InvoiceLookup,
    Q: Requeue,
{
    let batch_size = options.batch_size.clamp(1, 100);
    let mut rows = source
        .fetch(found.window)
        .await
        .map_err(ReconcileError::Report)?;
    let mut batch = Vec::with_capacity(batch_size);
    while let Some(item) = rows.next().await {
        match item {
            Ok(row) => {
                found.rows += 1;
                batch.push(Listed::Row(row));
                if batch.len() == batch_size {
                    check(store, queue, found, &mut batch, options).await?;
                }
            }
            Err(ReportFetchError::Invalid(e)) if e.is_row_error() => {
                found.rows += 1;
                let id = match &e {
                    ReportError::Field { id, .. } | ReportError::Width { id, .. } => *id,
                    _ => None,
                };
                let problem = Problem::InvalidRow {
                    row: e.row().unwrap_or(found.rows),
                    error: e.to_string(),
                };
                found.push(id, problem, Action::NeedsHuman);
                // Its invoice may still be missing or rejected: the row being spoilt must not
                // hide that.
                if let Some(id) = id {
                    batch.push(Listed::Spoilt(id));
                    if batch.len() == batch_size {
                        check(store, queue, found, &mut batch, options).await?;
                    }
                }
            }
            Err(e) => {
                // Rows already read are still worth checking.
                check(store, queue, found, &mut batch, options).await?;
                return Err(ReconcileError::Report(e));
            }
        }
    }
    check(store, queue, found, &mut batch, options).await
}

/// A report row to look up.
// Spoilt rows are rare: boxing every good row would cost an allocation each.
#[allow(clippy::large_enum_variant)]
enum Listed {
    Row(Invoice),
    /// A row that could not be read but for its id: nothing to compare, still to re-queue.
    Spoilt(InvoiceId),
}

impl Listed {
    fn id(&self) -> InvoiceId {
        match self {
            Listed::Row(row) => row.id,
            Listed::Spoilt(id) => *id,
        }
    }
}

/// Checks one batch of rows against the table and re-queues what needs it.
async fn check<L: InvoiceLookup, Q: Requeue>(
    store: &L,
    queue: &Q,
    found: &mut Reconciliation,
    batch: &mut Vec<Listed>,
    options: &Options,
) -> Result<(), ReconcileError> {
    if batch.is_empty() {
        return Ok(());
    }
    let ids: Vec<InvoiceId> = batch.iter().map(Listed::id).collect();
    let records = store.get_many(&ids).await.map_err(ReconcileError::Store)?;
    let now_ms = options.now.as_millisecond();
    let settled_before = options
        .now
        .checked_sub(
            jiff::SignedDuration::try_from(options.settle).unwrap_or(jiff::SignedDuration::ZERO),
        )
        .unwrap_or(options.now);

    let mut to_requeue: Vec<(InvoiceId, Problem)> = Vec::new();
    let mut seen = HashSet::new();
    for listed in batch.drain(..) {
        let id = listed.id();
        let row = match &listed {
            Listed::Row(row) => Some(row),
            Listed::Spoilt(_) => None,
        };
        let problem = match records.get(&id) {
            None => Problem::Missing,
            Some(Err(e)) => {
                found.push(
                    Some(id),
                    Problem::Unreadable {
                        error: error_chain(e),
                    },
                    Action::NeedsHuman,
                );
                continue;
            }
            Some(Ok(InvoiceRecord::Stored { invoice, .. })) => {
                // A spoilt row has nothing to compare: its InvalidRow finding stands alone.
                if let Some(row) = row {
                    let differences = compare(row, invoice);
                    if differences.is_empty() {
                        found.matched += 1;
                    } else {
                        found.push(
                            Some(id),
                            Problem::Mismatch { differences },
                            Action::NeedsHuman,
                        );
                    }
                }
                continue;
            }
            Some(Ok(InvoiceRecord::Processing { lease_until_ms, .. }))
                if *lease_until_ms > now_ms =>
            {
                found.in_progress += 1;
                continue;
            }
            Some(Ok(InvoiceRecord::Processing {
                lease_until_ms,
                attempts,
                last_error,
            })) => Problem::Stuck {
                lease_until: Timestamp::from_millisecond(*lease_until_ms)
                    .unwrap_or(Timestamp::UNIX_EPOCH),
                attempts: *attempts,
                last_error: last_error.clone(),
            },
            Some(Ok(InvoiceRecord::Rejected { rejection, .. })) => Problem::Rejected {
                code: rejection.code.as_str().to_owned(),
                reason: rejection.reason.clone(),
            },
        };
        if !seen.insert(id) {
            continue;
        }
        // A spoilt row's age is unknown: counted as missing, the safe side for an alarm.
        if row.is_some_and(|r| r.purchase_time.timestamp() > settled_before) {
            found.recent += 1;
        } else if problem == Problem::Missing {
            found.missing += 1;
        }
        to_requeue.push((id, problem));
    }

    if options.dry_run {
        for (id, problem) in to_requeue {
            found.push(Some(id), problem, Action::WouldRequeue);
        }
        return Ok(());
    }
    let sent: Vec<_> = futures::stream::iter(to_requeue)
        .map(|(id, problem)| async move { (id, problem, queue.requeue(id).await) })
        .buffered(options.requeue_concurrency.max(1))
        .collect()
        .await;
    for (id, problem, result) in sent {
        let action = match result {
            Ok(()) => Action::Requeued,
            Err(e) => Action::RequeueFailed {
                error: error_chain(&e),
            },
        };
        found.push(Some(id), problem, action);
    }
    Ok(())
}

/// Amount (by value: the table drops trailing zeros), currency, reference and purchase instant.
fn compare(row: &Invoice, stored: &Invoice) -> Vec<Difference> {
    let mut differences = Vec::new();
    let mut differ = |field: &'static str, report: String, stored: String| {
        differences.push(Difference {
            field,
            report,
            stored,
            note: None,
        });
    };
    if row.amount != stored.amount {
        differ("amount", row.amount.to_string(), stored.amount.to_string());
    }
    if row.currency != stored.currency {
        differ(
            "currency",
            row.currency.to_string(),
            stored.currency.to_string(),
        );
    }
    if row.reference != stored.reference {
        differ("reference", row.reference.clone(), stored.reference.clone());
    }
    if row.purchase_time != stored.purchase_time {
        let late = stored.purchase_time.timestamp().as_second()
            - row.purchase_time.timestamp().as_second();
        differences.push(Difference {
            field: "purchaseTime",
            report: row.purchase_time.to_string(),
            stored: stored.purchase_time.to_string(),
            note: zone_note(late),
        });
    }
    differences
}

/// The report carries each purchase's instant with its offset; the details' `purchaseTime` is a
/// wall clock we read in `GLASE_TIME_ZONE`. Off by whole hours (at most a day), the setting is
/// the likely cause, and the hours say by how much.
fn zone_note(stored_late_seconds: i64) -> Option<String> {
    const HOUR: i64 = 3600;
    let hours = stored_late_seconds / HOUR;
    if stored_late_seconds % HOUR != 0 || hours == 0 || hours.abs() > 26 {
        return None;
    }
    let (n, unit) = (hours.abs(), if hours.abs() == 1 { "hour" } else { "hours" });
    let (stored, clock) = if hours > 0 {
        ("late", "ahead of")
    } else {
        ("early", "behind")
    };
    Some(format!(
        "GLASE_TIME_ZONE is wrong: stored times are {n} {unit} {stored}, so Glase's wall clock \
         runs {n} {unit} {clock} the zone set"
    ))
}

mod days;
pub use days::*;

#[cfg(all(test, feature = "test-util"))]
mod tests;
