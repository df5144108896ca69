//! The invoices table in DynamoDB. The only place that knows about `AttributeValue`.
//!
//! One item per `invoiceId` is both the invoice and its idempotency record:
//! `PROCESSING` (leased) → `STORED` (all invoice fields) or `REJECTED` (code + reason).
//! Every write is conditional, so duplicates — however many, however late — can neither
//! create a second item, nor fetch from Glase twice while a lease is live, nor overwrite a
//! stored invoice.

mod batch;
mod item;
pub mod query;
pub mod schema;
mod store;
#[cfg(feature = "stream")]
pub mod stream;

pub use item::{invoice_to_item, item_to_record, Item};
#[cfg(feature = "test-util")]
pub use schema::ensure_table;

use aws_sdk_dynamodb::Client;

#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// Opens (and keeps) `connections` connections to DynamoDB during init, which Lambda runs on
    /// boosted CPU: a first batch of 10 records claims concurrently and would otherwise pay
    /// nine TLS handshakes (measured by `make bench`).
    pub async fn prime(&self, connections: usize) {
        let reads = (0..connections.max(1)).map(|_| self.prime_one());
        futures::future::join_all(reads).await;
    }

    /// One read of a key that never exists, so priming needs no permission beyond GetItem.
    async fn prime_one(&self) {
        let result = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(schema::INVOICE_ID, item::n(0))
            .send()
            .await;
        if let Err(e) = result {
            tracing::warn!(error = %crate::adapters::describe_sdk_error(&e), "could not prime the DynamoDB connection");
        }
    }
}
