//! The ports over the shared adapters: Glase's report over HTTPS, the table in DynamoDB, the
//! queue in SQS. (The in-memory table's lookup is in `fakes`.)

use glase_shared::adapters::dynamo::BatchRecords;
use glase_shared::adapters::{DynamoStore, GlaseReport, ReportFetchError, ReportRows, SqsQueue};
use glase_shared::message::REQUEUED_BY_RECONCILE;
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

impl Requeue for SqsQueue {
    async fn requeue(&self, id: InvoiceId) -> Result<(), AdapterError> {
        SqsQueue::requeue(self, id, REQUEUED_BY_RECONCILE).await
    }
}
