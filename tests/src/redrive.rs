//! Moving dead-lettered messages back to their queue, as an operator does after fixing the
//! cause: receive → send → delete, so a message is never in neither queue (a crash between
//! send and delete leaves a duplicate, which the worker's conditional writes absorb).
//! A stand-in until `glase-invoices dlq redrive` exists.

use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, MessageSystemAttributeName, SendMessageBatchRequestEntry,
};
use aws_sdk_sqs::Client;

/// Moves every message of `from` to `to`, body and message attributes; returns the bodies
/// moved. Stops when a receive finds nothing and the queue reports no message left, visible
/// or in flight.
pub async fn redrive(
    sqs: &Client,
    from: &str,
    to: &str,
) -> Result<Vec<String>, Box<dyn std::error::Error + Send + Sync>> {
    let mut moved = Vec::new();
    loop {
        let received = sqs
            .receive_message()
            .queue_url(from)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await?;
        let messages = received.messages();
        if messages.is_empty() {
            if crate::queues::depth(sqs, from).await? == 0 {
                return Ok(moved);
            }
            continue;
        }
        let mut sends = Vec::new();
        let mut deletes = Vec::new();
        for (i, message) in messages.iter().enumerate() {
            sends.push(
                SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(message.body().unwrap_or_default())
                    .set_message_attributes(message.message_attributes().cloned())
                    .build()?,
            );
            deletes.push(
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(message.receipt_handle().unwrap_or_default())
                    .build()?,
            );
        }
        let sent = sqs
            .send_message_batch()
            .queue_url(to)
            .set_entries(Some(sends))
            .send()
            .await?;
        // Delete only what was copied; the rest is received again.
        let copied: Vec<&str> = sent.successful().iter().map(|s| s.id()).collect();
        deletes.retain(|d| copied.contains(&d.id()));
        for entry in &deletes {
            let i: usize = entry.id().parse()?;
            moved.push(messages[i].body().unwrap_or_default().to_owned());
        }
        if !deletes.is_empty() {
            sqs.delete_message_batch()
                .queue_url(from)
                .set_entries(Some(deletes))
                .send()
                .await?;
        }
    }
}
