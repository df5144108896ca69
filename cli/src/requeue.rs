//! Putting invoice ids back on the notifications queue, marked as re-queued by this tool.

use aws_sdk_sqs::types::{MessageAttributeValue, SendMessageBatchRequestEntry};
use glase_shared::adapters::sqs::notification_body;
use glase_shared::InvoiceId;

use crate::error::{self, CliError};

/// Message attribute on every message this tool sends: the worker lets such a message past the
/// cool-down it applies to rejected invoices (an operator asked for this retry).
pub const REQUEUED_ATTRIBUTE: &str = "Requeued";
pub const REQUEUED_BY: &str = "cli";

/// Sends `{"invoiceId":N}` for each id (batches of ten). Returns each id's outcome, in order:
/// `Err(reason)` where SQS refused that one message.
pub async fn send(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    ids: &[InvoiceId],
) -> Result<Vec<Result<(), String>>, CliError> {
    let attribute = MessageAttributeValue::builder()
        .data_type("String")
        .string_value(REQUEUED_BY)
        .build()
        .map_err(|e| CliError::failed(format!("bad message attribute: {e}")))?;
    let fifo = queue_url.ends_with(".fifo");
    let mut outcomes = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(10) {
        let mut entries = Vec::with_capacity(chunk.len());
        for (i, id) in chunk.iter().enumerate() {
            let mut entry = SendMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .message_body(notification_body(*id))
                .message_attributes(REQUEUED_ATTRIBUTE, attribute.clone());
            if fifo {
                // A fresh deduplication id: a deliberate re-queue must not be dropped as a duplicate.
                entry = entry
                    .message_group_id(id.to_string())
                    .message_deduplication_id(uuid::Uuid::new_v4().simple().to_string());
            }
            entries.push(
                entry
                    .build()
                    .map_err(|e| CliError::failed(format!("bad SendMessageBatch entry: {e}")))?,
            );
        }
        let out = sqs
            .send_message_batch()
            .queue_url(queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| error::aws(&format!("SendMessageBatch to {queue_url}"), e))?;
        let mut results: Vec<Result<(), String>> =
            vec![Err("SQS did not answer for this message".into()); chunk.len()];
        for ok in out.successful() {
            if let Some(slot) = ok
                .id()
                .parse::<usize>()
                .ok()
                .and_then(|i| results.get_mut(i))
            {
                *slot = Ok(());
            }
        }
        for failed in out.failed() {
            if let Some(slot) = failed
                .id()
                .parse::<usize>()
                .ok()
                .and_then(|i| results.get_mut(i))
            {
                *slot = Err(format!(
                    "{}: {}",
                    failed.code(),
                    failed.message().unwrap_or("refused")
                ));
            }
        }
        outcomes.extend(results);
    }
    Ok(outcomes)
}
