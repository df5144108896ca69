//! Batch reads of the invoices table (BatchGetItem), for reconciliation: one request per 100
//! ids instead of one per id.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};

use super::{item_to_record, schema::INVOICE_ID, DynamoStore};
use crate::domain::InvoiceId;
use crate::ports::{AdapterError, InvoiceLookup, InvoiceRecords};
use crate::retry::Backoff;

/// BatchGetItem's limit.
pub const BATCH_GET_MAX_KEYS: usize = 100;

/// Keys DynamoDB left unprocessed (throttling) are asked for again: 8 times, with doubling,
/// jittered pauses from 50 ms (≤ 12.75 s in all).
const UNPROCESSED: Backoff = Backoff {
    retries: 8,
    first: Duration::from_millis(50),
};

impl InvoiceLookup for DynamoStore {
    /// Strongly consistent reads of `ids` (duplicates allowed), 100 per BatchGetItem.
    async fn get_many(&self, ids: &[InvoiceId]) -> Result<InvoiceRecords, AdapterError> {
        // BatchGetItem refuses a request that names a key twice.
        let unique: Vec<InvoiceId> = ids
            .iter()
            .copied()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut records = InvoiceRecords::with_capacity(unique.len());
        for chunk in unique.chunks(BATCH_GET_MAX_KEYS) {
            let mut keys: Vec<HashMap<String, AttributeValue>> = chunk
                .iter()
                .map(|id| {
                    HashMap::from([(INVOICE_ID.to_owned(), AttributeValue::N(id.to_string()))])
                })
                .collect();
            let mut retries = 0;
            while !keys.is_empty() {
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(keys))
                    .consistent_read(true)
                    .build()
                    .map_err(|e| AdapterError::new("bad BatchGetItem request", e))?;
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(|e| AdapterError::new("BatchGetItem failed", e))?;
                for item in out
                    .responses()
                    .and_then(|r| r.get(&self.table))
                    .into_iter()
                    .flatten()
                {
                    let id = match item.get(INVOICE_ID) {
                        Some(AttributeValue::N(n)) => n.parse::<InvoiceId>().ok(),
                        _ => None,
                    }
                    .ok_or_else(|| {
                        AdapterError::msg("BatchGetItem returned an item without a valid invoiceId")
                    })?;
                    records.insert(id, item_to_record(item));
                }
                keys = out
                    .unprocessed_keys()
                    .and_then(|u| u.get(&self.table))
                    .map(|k| k.keys().to_vec())
                    .unwrap_or_default();
                if !keys.is_empty() {
                    retries += 1;
                    if retries > UNPROCESSED.retries {
                        return Err(AdapterError::msg(format!(
                            "BatchGetItem left {} keys unprocessed after {} retries (throttled)",
                            keys.len(),
                            UNPROCESSED.retries
                        )));
                    }
                    tokio::time::sleep(UNPROCESSED.pause(retries)).await;
                }
            }
        }
        Ok(records)
    }
}
