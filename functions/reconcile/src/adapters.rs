//! The ports over the shared adapters: Glase's report over HTTPS, the table in DynamoDB (or in
//! memory), the queue in SQS.

use glase_shared::adapters::dynamo::BatchRecords;
use glase_shared::adapters::sqs_requeue::REQUEUED_BY_RECONCILE;
use glase_shared::adapters::{DynamoStore, GlaseReport, ReportFetchError, ReportRows, SqsRequeue};
use glase_shared::memory::MemoryStore;
use glase_shared::ports::AdapterError;
use glase_shared::InvoiceId;

use crate::{InvoiceLookup, ReportSource, Requeue, Window};

impl ReportSource for GlaseReport {
    type Rows = ReportRows;

    async fn fetch(&self, window: Window) -> Result<ReportRows, ReportFetchError> {
        self.rows(window.from(), window.to()).await
    }
}

impl InvoiceLookup for DynamoStore {
    async fn get_many(&self, ids: &[InvoiceId]) -> Result<BatchRecords, AdapterError> {
        DynamoStore::get_many(self, ids).await
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

impl Requeue for SqsRequeue {
    async fn requeue(&self, id: InvoiceId) -> Result<(), AdapterError> {
        SqsRequeue::requeue(self, id, REQUEUED_BY_RECONCILE).await
    }
}
