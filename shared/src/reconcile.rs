//! Reconciliation: Glase's report of paid invoices is the backstop for every notification that
//! never reached us — a webhook outage longer than Glase's ~32 h of retries, a refusal nobody
//! saw, a false rejection.
//!
//! [`reconcile_with`] reads the whole report for a [`Window`] of dates first, keeping a compact
//! record per row, then looks the ids up in the table 100 at a time and re-queues, in batches,
//! every invoice that is missing, `REJECTED` or stuck `PROCESSING` (lease lapsed); the worker
//! then fetches and stores it through its normal, idempotent path. A stored invoice whose amount, currency, reference or purchase instant
//! differs from the report is a [`Problem::Mismatch`]: reported, never "fixed". A report row
//! that cannot be read is still looked up when its id can be, and re-queued like any other.
//! The scheduled Lambda (glase-reconcile) and the `glase-invoices reconcile` command both call
//! it. The result ([`Reconciliation`]) keeps exact counts and the first findings; every finding
//! goes to the caller's sink as it is made.

use std::collections::HashSet;
use std::time::Duration;

use futures::StreamExt;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use serde::Serialize;

use crate::domain::{Amount, Currency, Invoice, InvoiceId, PurchaseTime, ReportError};
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

    /// The one day `date`.
    pub fn day(date: Date) -> Self {
        Self {
            from: date,
            to: date,
        }
    }

    /// The window's one-day windows, in order.
    pub fn days(&self) -> impl Iterator<Item = Window> {
        let to = self.to;
        std::iter::successors(Some(self.from), move |d| {
            d.tomorrow().ok().filter(|next| *next <= to)
        })
        .map(Window::day)
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
    /// Batches of ids looked up and re-queued at once (each re-queue is up to ten
    /// SendMessageBatch calls, sent together).
    pub in_flight: usize,
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
            in_flight: 4,
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

/// What a run found and did: exact counts, and the first [`Reconciliation::SAMPLE`] findings
/// (every finding goes to the sink given to [`reconcile_with`]), so it stays small whatever
/// the report's size.
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
    /// Recorded as rejected (re-queued).
    pub rejected: u64,
    /// `PROCESSING` with a lapsed lease (re-queued).
    pub stuck: u64,
    /// Stored, but not as the report says.
    pub mismatches: u64,
    /// Stored in a shape this code cannot read.
    pub unreadable: u64,
    /// Report rows that could not be read.
    pub invalid_rows: u64,
    /// Sent back to the worker.
    pub requeued: u64,
    /// A dry run's would-be re-queues.
    pub would_requeue: u64,
    /// Re-queues that failed (after retries): the next run tries again.
    pub requeue_failed: u64,
    /// The first [`Self::SAMPLE`] findings, in report order.
    pub findings: Vec<Finding>,
    /// Findings past the sample (counted above, given to the sink, not kept).
    pub findings_not_kept: u64,
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
    /// Findings kept in [`Self::findings`].
    pub const SAMPLE: usize = 100;

    /// An empty result for `window`: what a run starts from, and what [`Self::absorb`] adds to.
    pub fn new(window: Window, dry_run: bool) -> Self {
        Self {
            window,
            dry_run,
            rows: 0,
            matched: 0,
            in_progress: 0,
            recent: 0,
            missing: 0,
            rejected: 0,
            stuck: 0,
            mismatches: 0,
            unreadable: 0,
            invalid_rows: 0,
            requeued: 0,
            would_requeue: 0,
            requeue_failed: 0,
            findings: Vec::new(),
            findings_not_kept: 0,
        }
    }

    /// Adds another run's result (another day of the window): counts add, the window widens
    /// to cover both, the sample stays capped.
    pub fn absorb(&mut self, other: Reconciliation) {
        self.window = Window {
            from: self.window.from.min(other.window.from),
            to: self.window.to.max(other.window.to),
        };
        self.dry_run |= other.dry_run;
        self.rows += other.rows;
        self.matched += other.matched;
        self.in_progress += other.in_progress;
        self.recent += other.recent;
        self.missing += other.missing;
        self.rejected += other.rejected;
        self.stuck += other.stuck;
        self.mismatches += other.mismatches;
        self.unreadable += other.unreadable;
        self.invalid_rows += other.invalid_rows;
        self.requeued += other.requeued;
        self.would_requeue += other.would_requeue;
        self.requeue_failed += other.requeue_failed;
        self.findings_not_kept += other.findings_not_kept;
        for finding in other.findings {
            self.keep(finding);
        }
    }

    fn keep(&mut self, finding: Finding) {
        if self.findings.len() < Self::SAMPLE {
            self.findings.push(finding);
        } else {
            self.findings_not_kept += 1;
        }
    }

    /// Counts `finding`, hands it to `sink`, and keeps it if the sample has room.
    fn note(&mut self, finding: Finding, sink: &mut Sink<'_>) {
        match finding.problem {
            Problem::Rejected { .. } => self.rejected += 1,
            Problem::Stuck { .. } => self.stuck += 1,
            Problem::Mismatch { .. } => self.mismatches += 1,
            Problem::Unreadable { .. } => self.unreadable += 1,
            Problem::InvalidRow { .. } => self.invalid_rows += 1,
            // Counted (missing or recent) when judged: the settle period decides which.
            Problem::Missing => {}
        }
        match finding.action {
            Action::Requeued => self.requeued += 1,
            Action::WouldRequeue => self.would_requeue += 1,
            Action::RequeueFailed { .. } => self.requeue_failed += 1,
            Action::NeedsHuman => {}
        }
        sink(&finding);
        self.keep(finding);
    }

    fn ids_where(&self, keep: impl Fn(&Finding) -> bool) -> Vec<InvoiceId> {
        self.findings
            .iter()
            .filter(|f| keep(f))
            .filter_map(|f| f.invoice_id)
            .collect()
    }

    /// Ids sent back to the worker, among the kept findings ([`Self::requeued`] counts all).
    pub fn requeued_ids(&self) -> Vec<InvoiceId> {
        self.ids_where(|f| f.action == Action::Requeued)
    }

    /// Ids a dry run would have sent back, among the kept findings.
    pub fn would_requeue_ids(&self) -> Vec<InvoiceId> {
        self.ids_where(|f| f.action == Action::WouldRequeue)
    }

    /// Stored invoices that differ from the report (or cannot be read), among the kept
    /// findings: never fixed here.
    pub fn mismatch_ids(&self) -> Vec<InvoiceId> {
        self.ids_where(|f| {
            matches!(
                f.problem,
                Problem::Mismatch { .. } | Problem::Unreadable { .. }
            )
        })
    }

    /// Spoilt report rows and failed re-queues: the run did not do all it should.
    pub fn failures(&self) -> u64 {
        self.invalid_rows + self.requeue_failed
    }

    /// True when a person must look: a mismatch, an unreadable item, a spoilt row or a failed
    /// re-queue. False when the run found nothing or re-queued everything it found.
    pub fn needs_human(&self) -> bool {
        self.mismatches + self.unreadable > 0 || self.failures() > 0
    }
}

/// Where every finding goes as it is made (a log, a printer); [`Reconciliation`] keeps only
/// the first ones.
pub type Sink<'a> = dyn FnMut(&Finding) + Send + 'a;

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

/// [`reconcile_with`], keeping only the first findings.
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
    reconcile_with(source, store, queue, window, options, &mut |_| {}).await
}

/// Compares Glase's report for `window` with the table and re-queues what needs it; every
/// finding goes to `sink` as it is made.
///
/// First the whole report is read, keeping of each row only what the comparison needs (the
/// id, amount, currency, reference and purchase instant): the download never waits on the
/// table or the queue. Then the ids are looked up 100 at a time, a few batches at once, and
/// what needs it re-queued in batches. A spoilt row is recorded ([`Problem::InvalidRow`]) and
/// the run goes on — its invoice still looked up and re-queued when its id could be read; a
/// failed fetch or table read stops it ([`ReconcileFailure`], with what was done so far: rows
/// read before a broken download are still checked).
pub async fn reconcile_with<S, L, Q>(
    source: &S,
    store: &L,
    queue: &Q,
    window: Window,
    options: &Options,
    sink: &mut Sink<'_>,
) -> Result<Reconciliation, ReconcileFailure>
where
    S: ReportSource,
    L: InvoiceLookup,
    Q: Requeue,
{
    let mut found = Reconciliation::new(window, options.dry_run);
    let result = async {
        let size = options.batch_size.clamp(1, 100);
        let (listed, broken) = read(source, size, &mut found, sink).await?;
        check_all(store, queue, &listed, &mut found, options, sink).await?;
        broken.map_or(Ok(()), Err)
    }
    .await;
    match result {
        Ok(()) => Ok(found),
        Err(cause) => Err(ReconcileFailure {
            partial: Box::new(found),
            cause,
        }),
    }
}

/// Of a report row, what the comparison needs: the rest (description, payer, ERS reference)
/// is dropped as the row is read.
struct Facts {
    amount: Amount,
    currency: Currency,
    reference: Box<str>,
    purchase_time: PurchaseTime,
}

/// A report row to look up.
struct Listed {
    id: InvoiceId,
    /// `None`: a spoilt row, read but for its id: nothing to compare, still to re-queue.
    facts: Option<Facts>,
    /// The id's first row in the report: only that one is re-queued.
    first: bool,
}

/// The rows read, in batches of the lookup's size: batches never move once full, so a
/// growing report is never copied whole (as one long vector would be, doubling).
struct Batches {
    size: usize,
    full: Vec<Vec<Listed>>,
}

impl Batches {
    fn push(&mut self, row: Listed) {
        match self.full.last_mut() {
            Some(last) if last.len() < self.size => last.push(row),
            _ => {
                let mut batch = Vec::with_capacity(self.size);
                batch.push(row);
                self.full.push(batch);
            }
        }
    }
}

/// Phase 1: the whole report, compactly. A broken download ends it early, with the error
/// returned beside the rows read so far (still worth checking).
async fn read<S: ReportSource>(
    source: &S,
    size: usize,
    found: &mut Reconciliation,
    sink: &mut Sink<'_>,
) -> Result<(Batches, Option<ReconcileError>), ReconcileError> {
    let mut rows = source
        .fetch(found.window)
        .await
        .map_err(ReconcileError::Report)?;
    let mut listed = Batches {
        size,
        full: Vec::new(),
    };
    let mut seen = HashSet::new();
    while let Some(item) = rows.next().await {
        match item {
            Ok(row) => {
                found.rows += 1;
                listed.push(Listed {
                    id: row.id,
                    first: seen.insert(row.id),
                    facts: Some(Facts {
                        amount: row.amount,
                        currency: row.currency,
                        reference: row.reference.into_boxed_str(),
                        purchase_time: row.purchase_time,
                    }),
                });
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
                found.note(
                    Finding {
                        invoice_id: id,
                        problem,
                        action: Action::NeedsHuman,
                    },
                    sink,
                );
                // Its invoice may still be missing or rejected: the row being spoilt must not
                // hide that.
                if let Some(id) = id {
                    listed.push(Listed {
                        id,
                        first: seen.insert(id),
                        facts: None,
                    });
                }
            }
            Err(e) => return Ok((listed, Some(ReconcileError::Report(e)))),
        }
    }
    Ok((listed, None))
}

/// Phase 2: the rows looked up a batch at a time, `in_flight` batches at once, results taken
/// in report order.
async fn check_all<L: InvoiceLookup, Q: Requeue>(
    store: &L,
    queue: &Q,
    listed: &Batches,
    found: &mut Reconciliation,
    options: &Options,
    sink: &mut Sink<'_>,
) -> Result<(), ReconcileError> {
    let mut checked = futures::stream::iter(&listed.full)
        .map(|batch| check(store, queue, batch, options))
        .buffered(options.in_flight.max(1));
    while let Some(batch) = checked.next().await {
        let batch = batch.map_err(ReconcileError::Store)?;
        found.matched += batch.matched;
        found.in_progress += batch.in_progress;
        found.recent += batch.recent;
        found.missing += batch.missing;
        for finding in batch.findings {
            found.note(finding, sink);
        }
    }
    Ok(())
}

/// What one batch of rows came to.
#[derive(Default)]
struct Checked {
    matched: u64,
    in_progress: u64,
    recent: u64,
    missing: u64,
    findings: Vec<Finding>,
}

/// Checks one batch of rows against the table and re-queues what needs it.
async fn check<L: InvoiceLookup, Q: Requeue>(
    store: &L,
    queue: &Q,
    batch: &[Listed],
    options: &Options,
) -> Result<Checked, AdapterError> {
    let ids: Vec<InvoiceId> = batch.iter().map(|l| l.id).collect();
    let records = store.get_many(&ids).await?;
    let now_ms = options.now.as_millisecond();
    let settled_before = options
        .now
        .checked_sub(
            jiff::SignedDuration::try_from(options.settle).unwrap_or(jiff::SignedDuration::ZERO),
        )
        .unwrap_or(options.now);

    let mut out = Checked::default();
    let mut to_requeue: Vec<(InvoiceId, Problem)> = Vec::new();
    for listed in batch {
        let id = listed.id;
        let facts = listed.facts.as_ref();
        let problem = match records.get(&id) {
            None => Problem::Missing,
            Some(Err(e)) => {
                out.findings.push(Finding {
                    invoice_id: Some(id),
                    problem: Problem::Unreadable {
                        error: error_chain(e),
                    },
                    action: Action::NeedsHuman,
                });
                continue;
            }
            Some(Ok(InvoiceRecord::Stored { invoice, .. })) => {
                // A spoilt row has nothing to compare: its InvalidRow finding stands alone.
                if let Some(facts) = facts {
                    let differences = compare(facts, invoice);
                    if differences.is_empty() {
                        out.matched += 1;
                    } else {
                        out.findings.push(Finding {
                            invoice_id: Some(id),
                            problem: Problem::Mismatch { differences },
                            action: Action::NeedsHuman,
                        });
                    }
                }
                continue;
            }
            Some(Ok(InvoiceRecord::Processing { lease_until_ms, .. }))
                if *lease_until_ms > now_ms =>
            {
                out.in_progress += 1;
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
        if !listed.first {
            continue;
        }
        // A spoilt row's age is unknown: counted as missing, the safe side for an alarm.
        if facts.is_some_and(|f| f.purchase_time.timestamp() > settled_before) {
            out.recent += 1;
        } else if problem == Problem::Missing {
            out.missing += 1;
        }
        to_requeue.push((id, problem));
    }

    if options.dry_run {
        out.findings
            .extend(to_requeue.into_iter().map(|(id, problem)| Finding {
                invoice_id: Some(id),
                problem,
                action: Action::WouldRequeue,
            }));
        return Ok(out);
    }
    let ids: Vec<InvoiceId> = to_requeue.iter().map(|(id, _)| *id).collect();
    let sent = if ids.is_empty() {
        Vec::new()
    } else {
        queue.requeue_many(&ids).await
    };
    let mut sent = sent.into_iter();
    for (id, problem) in to_requeue {
        let action = match sent.next() {
            Some(Ok(())) => Action::Requeued,
            Some(Err(e)) => Action::RequeueFailed {
                error: error_chain(&e),
            },
            None => Action::RequeueFailed {
                error: "the queue gave no outcome for it".into(),
            },
        };
        out.findings.push(Finding {
            invoice_id: Some(id),
            problem,
            action,
        });
    }
    Ok(out)
}

/// Amount (by value: the table drops trailing zeros), currency, reference and purchase instant.
fn compare(row: &Facts, stored: &Invoice) -> Vec<Difference> {
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
    if *row.reference != *stored.reference {
        differ(
            "reference",
            row.reference.to_string(),
            stored.reference.clone(),
        );
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
