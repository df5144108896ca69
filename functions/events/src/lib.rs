//! The events function: reads the invoices table's stream and publishes one `InvoicePaid` per
//! invoice that became STORED (and one `InvoiceRejected` per invoice that became REJECTED) to
//! the stack's EventBridge bus.
//!
//! What holds (docs/events.md): every invoice that becomes STORED yields at least one event.
//! A record is reported failed (`ReportBatchItemFailures`) unless its event was accepted by
//! EventBridge, so Lambda re-delivers from the first such record; the records after it are
//! published again — the only source of duplicates, each with the same `invoiceId`. Every
//! readable record of a batch is published even after an unreadable one: a batch Lambda
//! finally gives up on goes to the failure destination whole, and must not take them along.

use std::time::Duration;

use aws_lambda_events::event::dynamodb::EventRecord;
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use glase_shared::adapters::dynamo::stream::{stream_event, stream_invoice_id};
use glase_shared::events::{InvoiceEvent, PayerData};
use glase_shared::ports::EventPublisher;

mod config;
mod wiring;
pub use config::EventsConfig;
pub use wiring::LambdaPublisher;

/// Metric names (EMF), one place.
pub mod metric {
    /// Events EventBridge accepted; dimension `DetailType`.
    pub const PUBLISHED: &str = "EventsPublished";
    /// Entries PutEvents refused (or a failed call), retried within the invocation.
    pub const PUBLISH_RETRIED: &str = "EventsPublishRetried";
    /// Records handed back to Lambda because their event was still not accepted.
    pub const UNPUBLISHED: &str = "EventsUnpublished";
    /// Stream records this code cannot read: retried, then sent to the failure destination.
    pub const UNREADABLE: &str = "StreamRecordsUnreadable";
}

/// How often a refused entry is offered again within one invocation before its record is
/// handed back to Lambda (which retries the batch from it).
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    /// Attempts in all, the first included (≥ 1).
    pub attempts: u32,
    /// Pause before the second attempt; doubles after each.
    pub first_delay: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Self {
            attempts: 3,
            first_delay: Duration::from_millis(200),
        }
    }
}

pub struct Publisher<P> {
    pub bus: P,
    pub payer: PayerData,
    pub retry: Retry,
}

/// One record of the batch: what it asks for, or why it cannot be read.
struct Pending {
    sequence_number: Option<String>,
    event: Result<Option<InvoiceEvent>, String>,
}

impl<P: EventPublisher> Publisher<P> {
    /// Handles one batch of stream records, in shard order. Takes the event as JSON so that a
    /// record of the wrong shape fails alone rather than the whole batch.
    pub async fn handle(&self, event: serde_json::Value) -> DynamoDbEventResponse {
        let records = match event.get("Records").and_then(|r| r.as_array()) {
            Some(records) => records.as_slice(),
            None => {
                tracing::error!("stream event has no Records array");
                metrics::counter!(metric::UNREADABLE).increment(1);
                return failed_from(None);
            }
        };
        let pending: Vec<Pending> = records.iter().map(|r| self.read(r)).collect();

        // Publish every event, retrying refused entries; remember which records are done.
        let mut events = Vec::new();
        let mut owner = Vec::new();
        for (i, p) in pending.iter().enumerate() {
            if let Ok(Some(event)) = &p.event {
                events.push(event.clone());
                owner.push(i);
            }
        }
        let unpublished = self.publish_with_retries(events).await;
        let mut not_done: Vec<usize> = unpublished.iter().map(|&e| owner[e]).collect();
        not_done.extend(
            pending
                .iter()
                .enumerate()
                .filter(|(_, p)| p.event.is_err())
                .map(|(i, _)| i),
        );
        // Lambda re-delivers a stream from the lowest sequence number reported: the first
        // record not done is the checkpoint, and everything after it comes again.
        match not_done.into_iter().min() {
            None => DynamoDbEventResponse::default(),
            Some(first) => failed_from(pending[first].sequence_number.clone()),
        }
    }

    fn read(&self, raw: &serde_json::Value) -> Pending {
        let sequence_number = raw
            .pointer("/dynamodb/SequenceNumber")
            .and_then(|s| s.as_str())
            .map(str::to_owned);
        let event = serde_json::from_value::<EventRecord>(raw.clone())
            .map_err(|e| format!("stream record of an unexpected shape: {e}"))
            .and_then(|record| {
                stream_event(&record, self.payer).map_err(|e| {
                    let id = stream_invoice_id(&record);
                    format!(
                        "invoice {}: {}",
                        id.map_or("?".into(), |i| i.to_string()),
                        glase_shared::telemetry::error_chain(&e)
                    )
                })
            });
        if let Err(reason) = &event {
            metrics::counter!(metric::UNREADABLE).increment(1);
            tracing::error!(sequence_number = ?sequence_number, %reason, "stream record cannot be read; retried, then sent to the failure destination");
        }
        Pending {
            sequence_number,
            event,
        }
    }

    /// Publishes `events`, offering refused ones again with back-off. Returns the indexes of
    /// those still not accepted.
    async fn publish_with_retries(&self, events: Vec<InvoiceEvent>) -> Vec<usize> {
        let mut left: Vec<usize> = (0..events.len()).collect();
        let mut delay = self.retry.first_delay;
        for attempt in 1..=self.retry.attempts.max(1) {
            if left.is_empty() {
                break;
            }
            if attempt > 1 {
                tokio::time::sleep(delay).await;
                delay = delay.saturating_mul(2);
            }
            let batch: Vec<InvoiceEvent> = left.iter().map(|&i| events[i].clone()).collect();
            let refused = self.bus.publish(&batch).await;
            let refused_idx: Vec<usize> = refused.iter().map(|u| left[u.index]).collect();
            for (pos, &i) in left.iter().enumerate() {
                if !refused.iter().any(|u| u.index == pos) {
                    metrics::counter!(metric::PUBLISHED, "DetailType" => events[i].detail_type())
                        .increment(1);
                }
            }
            for u in &refused {
                metrics::counter!(metric::PUBLISH_RETRIED).increment(1);
                tracing::warn!(invoice_id = batch[u.index].invoice_id(), reason = %u.reason, attempt, "event not accepted by EventBridge");
            }
            left = refused_idx;
        }
        if !left.is_empty() {
            metrics::counter!(metric::UNPUBLISHED).increment(left.len() as u64);
            tracing::error!(
                events = left.len(),
                "events still not accepted; their records are handed back to Lambda"
            );
        }
        left
    }
}

/// "Retry from this record": one batch item failure. Without a sequence number the
/// identifier is empty, which Lambda reads as the whole batch failed.
fn failed_from(sequence_number: Option<String>) -> DynamoDbEventResponse {
    let mut failure = DynamoDbBatchItemFailure::default();
    failure.item_identifier = Some(sequence_number.unwrap_or_default());
    let mut response = DynamoDbEventResponse::default();
    response.batch_item_failures.push(failure);
    response
}

#[cfg(test)]
mod tests;
