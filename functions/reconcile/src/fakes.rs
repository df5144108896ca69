//! In-memory stand-ins for Glase's report and the queue, for unit tests (the table's is
//! `glase_shared::memory::MemoryStore`).

use std::sync::Mutex;

use futures::stream;
use glase_shared::adapters::dynamo::BatchRecords;
use glase_shared::adapters::ReportFetchError;
use glase_shared::memory::MemoryStore;
use glase_shared::ports::AdapterError;
use glase_shared::{Invoice, InvoiceId, ReportError};

use crate::{InvoiceLookup, ReportSource, Requeue, Window};

/// One item of a fake report.
// A handful per test: boxing the row would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Item {
    Row(Invoice),
    /// A row whose AMOUNT could not be read.
    SpoiltRow {
        row: u64,
        id: Option<InvoiceId>,
    },
    /// The download breaks here.
    Broken(String),
}

/// A report whose items are given up front, served again on every fetch; it records the
/// windows asked for.
#[derive(Default)]
pub struct FakeReport {
    items: Vec<Item>,
    refusal: Option<String>,
    windows: Mutex<Vec<Window>>,
}

impl FakeReport {
    pub fn with_rows(rows: impl IntoIterator<Item = Invoice>) -> Self {
        Self {
            items: rows.into_iter().map(Item::Row).collect(),
            ..Self::default()
        }
    }

    /// Adds an item at the end.
    pub fn then(mut self, item: Item) -> Self {
        self.items.push(item);
        self
    }

    /// Every fetch is refused (HTTP 503).
    pub fn unavailable(mut self) -> Self {
        self.refusal = Some("HTTP 503".into());
        self
    }

    pub fn windows(&self) -> Vec<Window> {
        lock(&self.windows).clone()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl ReportSource for FakeReport {
    type Rows = stream::Iter<std::vec::IntoIter<Result<Invoice, ReportFetchError>>>;

    async fn fetch(&self, window: Window) -> Result<Self::Rows, ReportFetchError> {
        lock(&self.windows).push(window);
        if let Some(reason) = &self.refusal {
            return Err(ReportFetchError::Transient(reason.clone()));
        }
        let items: Vec<_> = self
            .items
            .iter()
            .map(|item| match item {
                Item::Row(row) => Ok(row.clone()),
                Item::SpoiltRow { row, id } => Err(ReportFetchError::Invalid(ReportError::Field {
                    row: *row,
                    id: *id,
                    field: "AMOUNT",
                    reason: "is invalid: amount must not be negative".into(),
                })),
                Item::Broken(reason) => Err(ReportFetchError::Transient(reason.clone())),
            })
            .collect();
        Ok(stream::iter(items))
    }
}

/// A queue that records what it is given, and can be told to refuse some ids.
#[derive(Default)]
pub struct FakeQueue {
    sent: Mutex<Vec<InvoiceId>>,
    refuse: Mutex<Vec<InvoiceId>>,
}

impl FakeQueue {
    pub fn refusing(ids: impl IntoIterator<Item = InvoiceId>) -> Self {
        Self {
            refuse: Mutex::new(ids.into_iter().collect()),
            ..Self::default()
        }
    }

    pub fn sent(&self) -> Vec<InvoiceId> {
        lock(&self.sent).clone()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("queue unavailable")]
struct Unavailable;

impl Requeue for FakeQueue {
    async fn requeue(&self, id: InvoiceId) -> Result<(), AdapterError> {
        if lock(&self.refuse).contains(&id) {
            return Err(AdapterError::new("SendMessage failed", Unavailable));
        }
        lock(&self.sent).push(id);
        Ok(())
    }
}

/// One read per id: the in-memory table has no batch call, and needs none.
impl InvoiceLookup for MemoryStore {
    async fn get_many(&self, ids: &[InvoiceId]) -> Result<BatchRecords, AdapterError> {
        let mut records = BatchRecords::new();
        for id in ids {
            if let Some(record) = self.try_get(*id)? {
                records.insert(*id, Ok(record));
            }
        }
        Ok(records)
    }
}
