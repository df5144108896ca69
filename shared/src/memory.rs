//! In-memory implementations of the ports, with the same semantics as the real adapters,
//! for unit tests of the handlers.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::Mutex;

use jiff::Timestamp;

use crate::domain::{Invoice, InvoiceId, Payer};
use crate::ports::*;

/// Glase's documented details example (events/glase-invoice-576.json): the one copy of it,
/// John Smith's payer fields included, for every test and tool.
pub const DOC_INVOICE_JSON: &str = include_str!("../../events/glase-invoice-576.json");

/// The documented example as an `Invoice` (in UTC).
pub fn doc_invoice() -> Invoice {
    let id = InvoiceId::new(576).expect("576 is a valid id");
    Invoice::from_glase_json(DOC_INVOICE_JSON.as_bytes(), id, &jiff::tz::TimeZone::UTC)
        .expect("the documented example parses")
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

/// A queue that records what it accepted; `fail` makes it refuse like an unreachable SQS.
#[derive(Default)]
pub struct MemoryQueue {
    pub sent: Mutex<Vec<InvoiceId>>,
    pub fail: AtomicBool,
}

impl MemoryQueue {
    pub fn sent(&self) -> Vec<InvoiceId> {
        lock(&self.sent).clone()
    }
}

impl NotificationQueue for MemoryQueue {
    async fn enqueue(&self, id: InvoiceId) -> Result<(), AdapterError> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(AdapterError::msg("memory queue set to fail"));
        }
        lock(&self.sent).push(id);
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
        matches!(row, Some(Row { record: InvoiceRecord::Processing { .. }, lease_owner: Some(o) }) if *o == lease.owner)
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

    /// Reads the record for `id`, failing like an unreachable table when `fail` is set.
    pub fn try_get(&self, id: InvoiceId) -> Result<Option<InvoiceRecord>, AdapterError> {
        self.check()?;
        Ok(self.get(id))
    }
}

impl InvoiceStore for MemoryStore {
    async fn claim(&self, id: InvoiceId, lease: &Lease) -> Result<Claim, AdapterError> {
        self.check()?;
        let mut rows = lock(&self.rows);
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
                    return Ok(Claim::RecentlyRejected);
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
            },
        );
        Ok(Claim::Acquired)
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
        rows.insert(
            id,
            Row {
                record,
                lease_owner: None,
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
