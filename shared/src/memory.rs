//! In-memory implementations of the ports, with the same semantics as the real adapters,
//! for unit tests of the handlers.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::Mutex;

use jiff::Timestamp;

use crate::domain::{Invoice, InvoiceId, Payer};
use crate::ports::*;
use crate::retry::{gave_up, until_accepted, Backoff};

/// Glase's documented details example (events/glase-invoice-576.json): the one copy of it,
/// John Smith's payer fields included, for every test and tool.
pub const DOC_INVOICE_JSON: &str = include_str!("../../events/glase-invoice-576.json");

/// The documented example as an `Invoice` (in UTC).
pub fn doc_invoice() -> Invoice {
    let id = InvoiceId::new(576).expect("576 is a valid id");
    Invoice::from_glase_json(DOC_INVOICE_JSON.as_bytes(), id, &jiff::tz::TimeZone::UTC)
        .expect("the documented example parses")
}

/// The documented example with another id: also the first row of the report fixture
/// (events/glase-report.csv), which says the same in Glase's report.
pub fn doc_invoice_numbered(n: u64) -> Invoice {
    Invoice {
        id: InvoiceId::new(n).expect("a test's invoice id is valid"),
        ..doc_invoice()
    }
}

/// The documented example's payer.
pub fn doc_payer() -> Payer {
    doc_invoice().payer
}

/// The documented example's details with another id, amount (JSON number text) and reference.
pub fn doc_invoice_json(id: u64, amount: &str, reference: &str) -> String {
    DOC_INVOICE_JSON
        .replacen("576", &id.to_string(), 1)
        .replacen("59.99", amount, 1)
        .replacen("586930/05/2015", reference, 1)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panicking test thread must not hide the state from the assertions that follow.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A queue that records what it accepted (notifications and re-queues alike); `fail` makes it
/// refuse like an unreachable SQS, [`MemoryQueue::refusing`] only for some ids, and
/// [`MemoryQueue::refuse_next`] the next entries offered once (a SendMessageBatch per-entry
/// failure, which the re-queue retries). Re-queues go ten per batch, like SQS's.
#[derive(Default)]
pub struct MemoryQueue {
    pub sent: Mutex<Vec<InvoiceId>>,
    pub fail: AtomicBool,
    refused: Vec<InvoiceId>,
    refusals: AtomicUsize,
    /// Batch calls made (SendMessageBatch's, ten ids at most), retries included.
    pub batches: AtomicUsize,
    /// Days handed on (the reconcile function's own queue); `fail` refuses them too.
    pub handed_on: Mutex<Vec<jiff::civil::Date>>,
}

impl MemoryQueue {
    /// A queue that refuses these ids (and accepts the others).
    pub fn refusing(ids: impl IntoIterator<Item = InvoiceId>) -> Self {
        Self {
            refused: ids.into_iter().collect(),
            ..Self::default()
        }
    }

    /// Refuses the next `entries` offered, once each.
    pub fn refuse_next(&self, entries: usize) {
        self.refusals.store(entries, Ordering::SeqCst);
    }

    pub fn sent(&self) -> Vec<InvoiceId> {
        lock(&self.sent).clone()
    }

    fn send(&self, id: InvoiceId) -> Result<(), AdapterError> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(AdapterError::msg("memory queue set to fail"));
        }
        if self.refused.contains(&id) {
            return Err(AdapterError::msg("memory queue unavailable for this id"));
        }
        if self
            .refusals
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(AdapterError::msg(
                "ThrottlingException: refused by the test",
            ));
        }
        lock(&self.sent).push(id);
        Ok(())
    }
}

impl NotificationQueue for MemoryQueue {
    async fn enqueue(&self, id: InvoiceId) -> Result<(), AdapterError> {
        self.send(id)
    }
}

/// As the SQS adapter: ten per batch, refused entries offered again (without pauses here).
impl Requeue for MemoryQueue {
    async fn requeue_many(&self, ids: &[InvoiceId]) -> Vec<Result<(), AdapterError>> {
        let backoff = Backoff {
            first: std::time::Duration::ZERO,
            ..Backoff::REQUEUE
        };
        let mut outcomes = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(10) {
            let sent = until_accepted(chunk, backoff, |batch| {
                self.batches.fetch_add(1, Ordering::SeqCst);
                let answers: Vec<_> = batch
                    .iter()
                    .map(|id| self.send(*id).map_err(|e| e.message))
                    .collect();
                std::future::ready(answers)
            })
            .await;
            outcomes.extend(
                sent.into_iter()
                    .map(|o| o.map_err(|reason| gave_up(reason, backoff))),
            );
        }
        outcomes
    }
}

#[cfg(feature = "glase")]
impl DayQueue for MemoryQueue {
    async fn hand_on(&self, days: &[jiff::civil::Date]) -> Result<(), AdapterError> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(AdapterError::msg("memory queue set to fail"));
        }
        lock(&self.handed_on).extend_from_slice(days);
        Ok(())
    }
}

/// Records postponements and quarantined bodies; `has_dlq` says whether quarantine works.
#[derive(Default)]
pub struct MemoryWorkQueue {
    pub postponed: Mutex<Vec<(String, i32)>>,
    pub quarantined: Mutex<Vec<(String, String)>>,
    pub has_dlq: bool,
}

impl MemoryWorkQueue {
    pub fn with_dlq() -> Self {
        Self {
            has_dlq: true,
            ..Self::default()
        }
    }
}

impl WorkQueue for MemoryWorkQueue {
    async fn postpone(&self, receipt_handle: &str, delay_secs: i32) -> Result<(), AdapterError> {
        lock(&self.postponed).push((receipt_handle.to_owned(), delay_secs));
        Ok(())
    }

    async fn quarantine(
        &self,
        body: &str,
        reason: &str,
        _source: &QueuedMessage<'_>,
    ) -> Result<bool, AdapterError> {
        if !self.has_dlq {
            return Ok(false);
        }
        lock(&self.quarantined).push((body.to_owned(), reason.to_owned()));
        Ok(true)
    }
}

/// A scripted Glase: answers from a per-id queue of results, then from `default`.
pub struct FakeGlase {
    pub script: Mutex<HashMap<InvoiceId, VecDeque<Result<Invoice, FetchError>>>>,
    pub invoices: Mutex<HashMap<InvoiceId, Invoice>>,
    pub calls: AtomicUsize,
    /// Delay per fetch, to widen race windows in concurrency tests.
    pub latency: std::time::Duration,
}

impl Default for FakeGlase {
    fn default() -> Self {
        Self {
            script: Mutex::default(),
            invoices: Mutex::default(),
            calls: AtomicUsize::new(0),
            latency: std::time::Duration::ZERO,
        }
    }
}

impl FakeGlase {
    pub fn with_invoice(self, invoice: Invoice) -> Self {
        lock(&self.invoices).insert(invoice.id, invoice);
        self
    }

    /// Queues one answer for `id`, served before the stored invoice.
    pub fn then(self, id: InvoiceId, answer: Result<Invoice, FetchError>) -> Self {
        lock(&self.script).entry(id).or_default().push_back(answer);
        self
    }

    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl InvoiceSource for FakeGlase {
    async fn fetch(&self, id: InvoiceId) -> Result<Invoice, FetchError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
        if let Some(answer) = lock(&self.script)
            .get_mut(&id)
            .and_then(VecDeque::pop_front)
        {
            return answer;
        }
        lock(&self.invoices)
            .get(&id)
            .cloned()
            .ok_or(FetchError::NotFound)
    }
}

#[derive(Debug, Clone)]
struct Row {
    record: InvoiceRecord,
    lease_owner: Option<String>,
    /// The bounded window's count (`rejectableAnswers` in the table).
    rejectable_answers: u32,
}

/// The invoices table in a map, with the DynamoDB adapter's conditions.
#[derive(Default)]
pub struct MemoryStore {
    rows: Mutex<HashMap<InvoiceId, Row>>,
    pub fail: AtomicBool,
}

impl MemoryStore {
    fn check(&self) -> Result<(), AdapterError> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(AdapterError::msg("memory store set to fail"));
        }
        Ok(())
    }

    pub fn len(&self) -> usize {
        lock(&self.rows).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn owns(row: Option<&Row>, lease: &Lease) -> bool {
        matches!(row, Some(Row { record: InvoiceRecord::Processing { .. }, lease_owner: Some(o), .. }) if *o == lease.owner)
    }

    /// What a refused completing write means, as the DynamoDB adapter decides it.
    fn refused(row: Option<&Row>) -> Completion {
        match row.map(|r| &r.record) {
            Some(InvoiceRecord::Stored { .. }) => Completion::Superseded,
            _ => Completion::LeaseLost,
        }
    }

    /// Reads the record for `id`.
    pub fn get(&self, id: InvoiceId) -> Option<InvoiceRecord> {
        lock(&self.rows).get(&id).map(|r| r.record.clone())
    }

    /// Test setup: `record` for `id` as it stands, as if the worker had written it (no lease).
    pub fn put(&self, id: InvoiceId, record: InvoiceRecord) {
        lock(&self.rows).insert(
            id,
            Row {
                record,
                lease_owner: None,
                rejectable_answers: 0,
            },
        );
    }
}

/// One read per id: the map has no batch call, and needs none.
impl InvoiceLookup for MemoryStore {
    async fn get_many(&self, ids: &[InvoiceId]) -> Result<InvoiceRecords, AdapterError> {
        self.check()?;
        let rows = lock(&self.rows);
        Ok(ids
            .iter()
            .filter_map(|id| Some((*id, Ok(rows.get(id)?.record.clone()))))
            .collect())
    }
}

impl InvoiceStore for MemoryStore {
    async fn claim(&self, id: InvoiceId, lease: &Lease) -> Result<Claim, AdapterError> {
        self.check()?;
        let mut rows = lock(&self.rows);
        let rejectable_answers = rows.get(&id).map_or(0, |r| r.rejectable_answers);
        if Self::owns(rows.get(&id), lease) {
            // A retried claim whose first attempt applied: the lease is ours.
            return Ok(Claim::Acquired { rejectable_answers });
        }
        let attempts = match rows.get(&id).map(|r| &r.record) {
            Some(InvoiceRecord::Stored { .. }) => return Ok(Claim::AlreadyStored),
            Some(InvoiceRecord::Processing { lease_until_ms, .. })
                if *lease_until_ms >= lease.now_ms =>
            {
                return Ok(Claim::InProgress {
                    until_ms: *lease_until_ms,
                })
            }
            Some(InvoiceRecord::Processing { attempts, .. }) => attempts + 1,
            Some(InvoiceRecord::Rejected {
                rejected_at,
                attempts,
                ..
            }) => {
                let cooling = lease
                    .rejected_before_ms
                    .is_some_and(|before| rejected_at.as_millisecond() >= before);
                if cooling {
                    return Ok(Claim::RecentlyRejected {
                        rejected_at_ms: rejected_at.as_millisecond(),
                    });
                }
                attempts + 1
            }
            None => 1,
        };
        let last_error = match rows.get(&id).map(|r| &r.record) {
            Some(InvoiceRecord::Processing { last_error, .. }) => last_error.clone(),
            _ => None,
        };
        rows.insert(
            id,
            Row {
                record: InvoiceRecord::Processing {
                    lease_until_ms: lease.until_ms,
                    attempts,
                    last_error,
                },
                lease_owner: Some(lease.owner.clone()),
                rejectable_answers,
            },
        );
        Ok(Claim::Acquired { rejectable_answers })
    }

    async fn store(
        &self,
        invoice: &Invoice,
        lease: &Lease,
        stored_at: Timestamp,
    ) -> Result<Completion, AdapterError> {
        self.check()?;
        let mut rows = lock(&self.rows);
        if !Self::owns(rows.get(&invoice.id), lease) {
            return Ok(Self::refused(rows.get(&invoice.id)));
        }
        let record = InvoiceRecord::Stored {
            invoice: invoice.clone(),
            stored_at,
        };
        rows.insert(
            invoice.id,
            Row {
                record,
                lease_owner: None,
                rejectable_answers: 0,
            },
        );
        Ok(Completion::Done)
    }

    async fn reject(
        &self,
        id: InvoiceId,
        lease: &Lease,
        rejection: &Rejection,
        at: Timestamp,
    ) -> Result<Completion, AdapterError> {
        self.check()?;
        let mut rows = lock(&self.rows);
        if !Self::owns(rows.get(&id), lease) {
            return Ok(Self::refused(rows.get(&id)));
        }
        let attempts = match rows.get(&id).map(|r| &r.record) {
            Some(InvoiceRecord::Processing { attempts, .. }) => *attempts,
            _ => 0,
        };
        let record = InvoiceRecord::Rejected {
            rejection: rejection.clone(),
            rejected_at: at,
            attempts,
        };
        let rejectable_answers = rows.get(&id).map_or(0, |r| r.rejectable_answers) + 1;
        rows.insert(
            id,
            Row {
                record,
                lease_owner: None,
                rejectable_answers,
            },
        );
        Ok(Completion::Done)
    }

    async fn release(
        &self,
        id: InvoiceId,
        lease: &Lease,
        error: &str,
        _at: Timestamp,
    ) -> Result<(), AdapterError> {
        self.release_counting(id, lease, error, false)
    }

    async fn release_rejectable(
        &self,
        id: InvoiceId,
        lease: &Lease,
        error: &str,
        _at: Timestamp,
    ) -> Result<(), AdapterError> {
        self.release_counting(id, lease, error, true)
    }
}

impl MemoryStore {
    fn release_counting(
        &self,
        id: InvoiceId,
        lease: &Lease,
        error: &str,
        rejectable: bool,
    ) -> Result<(), AdapterError> {
        self.check()?;
        let mut rows = lock(&self.rows);
        if let Some(row) = rows.get_mut(&id).filter(|r| Self::owns(Some(r), lease)) {
            if let InvoiceRecord::Processing {
                lease_until_ms,
                last_error,
                ..
            } = &mut row.record
            {
                *lease_until_ms = 0;
                *last_error = Some(error.to_owned());
            }
            row.lease_owner = None;
            row.rejectable_answers += u32::from(rejectable);
        }
        Ok(())
    }
}

/// A clock the test moves by hand.
#[derive(Debug, Default)]
pub struct ManualClock {
    ms: AtomicI64,
}

impl ManualClock {
    pub fn at_ms(ms: i64) -> Self {
        Self {
            ms: AtomicI64::new(ms),
        }
    }

    pub fn advance_ms(&self, by: i64) {
        self.ms.fetch_add(by, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_millisecond(self.ms.load(Ordering::SeqCst)).unwrap_or(Timestamp::UNIX_EPOCH)
    }
}

#[cfg(feature = "glase")]
pub use report::{FakeReport, GeneratedReport};

#[cfg(feature = "glase")]
mod report {
    use std::sync::Mutex;

    use futures::{stream, StreamExt};
    use jiff::tz::TimeZone;

    use super::lock;
    use crate::domain::{Invoice, InvoiceId, ReportError};
    use crate::ports::{ReportFetchError, ReportSource};
    use crate::reconcile::Window;

    /// What a fake report serves at one place.
    // A handful per test: boxing the row would buy nothing.
    #[allow(clippy::large_enum_variant)]
    #[derive(Debug, Clone)]
    enum Entry {
        Row(Invoice),
        /// A row whose AMOUNT could not be read.
        SpoiltRow {
            row: u64,
            id: Option<InvoiceId>,
        },
        /// The download breaks here.
        Broken(String),
    }

    /// Glase's report with the rows given up front, served again on every fetch; it records
    /// the windows asked for.
    #[derive(Default)]
    pub struct FakeReport {
        entries: Vec<Entry>,
        refusal: Option<String>,
        windows: Mutex<Vec<Window>>,
        by_day: bool,
    }

    impl FakeReport {
        pub fn with_rows(rows: impl IntoIterator<Item = Invoice>) -> Self {
            Self {
                entries: rows.into_iter().map(Entry::Row).collect(),
                ..Self::default()
            }
        }

        /// Adds a row at the end.
        pub fn then_row(mut self, row: Invoice) -> Self {
            self.entries.push(Entry::Row(row));
            self
        }

        /// Adds, at the end, data row `row` whose AMOUNT cannot be read.
        pub fn then_spoilt_row(mut self, row: u64, id: Option<InvoiceId>) -> Self {
            self.entries.push(Entry::SpoiltRow { row, id });
            self
        }

        /// The download breaks after the entries so far.
        pub fn then_broken(mut self, reason: impl Into<String>) -> Self {
            self.entries.push(Entry::Broken(reason.into()));
            self
        }

        /// Every fetch is refused (HTTP 503).
        pub fn unavailable(mut self) -> Self {
            self.refusal = Some("HTTP 503".into());
            self
        }

        /// Serves a row only for windows that hold its purchase date (in UTC), as Glase's
        /// report does; spoilt rows and breaks are still served in every window.
        pub fn by_day(mut self) -> Self {
            self.by_day = true;
            self
        }

        pub fn windows(&self) -> Vec<Window> {
            lock(&self.windows).clone()
        }
    }

    /// A report of `rows` rows made as they are read — ids 1 to `rows`, each the documented
    /// example renumbered — so a test streams a busy issuer's report without holding it.
    pub struct GeneratedReport {
        pub rows: u64,
    }

    impl ReportSource for GeneratedReport {
        type Rows = stream::BoxStream<'static, Result<Invoice, ReportFetchError>>;

        async fn fetch(&self, _window: Window) -> Result<Self::Rows, ReportFetchError> {
            let template = super::doc_invoice();
            Ok(stream::iter(1..=self.rows)
                .map(move |n| {
                    Ok(Invoice {
                        id: InvoiceId::new(n).expect("ids from 1 are valid"),
                        ..template.clone()
                    })
                })
                .boxed())
        }
    }

    impl ReportSource for FakeReport {
        type Rows = stream::Iter<std::vec::IntoIter<Result<Invoice, ReportFetchError>>>;

        async fn fetch(&self, window: Window) -> Result<Self::Rows, ReportFetchError> {
            lock(&self.windows).push(window);
            if let Some(reason) = &self.refusal {
                return Err(ReportFetchError::Transient(reason.clone()));
            }
            let rows: Vec<_> = self
                .entries
                .iter()
                .filter(|entry| match entry {
                    Entry::Row(row) if self.by_day => {
                        let day = TimeZone::UTC
                            .to_datetime(row.purchase_time.timestamp())
                            .date();
                        (window.from()..=window.to()).contains(&day)
                    }
                    _ => true,
                })
                .map(|entry| match entry {
                    Entry::Row(row) => Ok(row.clone()),
                    Entry::SpoiltRow { row, id } => {
                        Err(ReportFetchError::Invalid(ReportError::Field {
                            row: *row,
                            id: *id,
                            field: "AMOUNT",
                            reason: "is invalid: amount must not be negative".into(),
                        }))
                    }
                    Entry::Broken(reason) => Err(ReportFetchError::Transient(reason.clone())),
                })
                .collect();
            Ok(stream::iter(rows))
        }
    }
}

// ---------------------------------------------------------------- events (issue 19)

/// An event bus that keeps what it accepts. `refuse_next(n)` makes it refuse the next `n`
/// entries offered (a PutEvents per-entry failure), to test that they are retried.
#[derive(Default)]
pub struct MemoryBus {
    pub published: Mutex<Vec<crate::events::InvoiceEvent>>,
    refusals: AtomicUsize,
}

impl MemoryBus {
    pub fn refuse_next(&self, entries: usize) {
        self.refusals.store(entries, Ordering::SeqCst);
    }

    pub fn published(&self) -> Vec<crate::events::InvoiceEvent> {
        self.published.lock().expect("bus lock").clone()
    }
}

impl EventPublisher for MemoryBus {
    async fn publish(&self, events: &[crate::events::InvoiceEvent]) -> Vec<Unpublished> {
        let mut refused = Vec::new();
        let mut published = self.published.lock().expect("bus lock");
        for (index, event) in events.iter().enumerate() {
            let refuse = self
                .refusals
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            if refuse {
                refused.push(Unpublished {
                    index,
                    reason: "ThrottlingException: refused by the test".into(),
                });
            } else {
                published.push(event.clone());
            }
        }
        refused
    }
}
