//! Re-queueing an invoice for the worker from outside the webhook (reconciliation): the same
//! message body, marked with who re-queued it.

use aws_sdk_sqs::types::MessageAttributeValue;
use aws_sdk_sqs::Client;

use super::sqs::notification_body;
use crate::domain::InvoiceId;
use crate::ports::{AdapterError, Requeue};

/// The message attribute naming who re-queued an invoice. The worker may let such a message
/// past a rejection's cool-down: reconciliation found the invoice paid in Glase's report.
pub const REQUEUED_ATTRIBUTE: &str = "Requeued";
/// Its value when reconciliation re-queued the invoice.
pub const REQUEUED_BY_RECONCILE: &str = "reconcile";

#[derive(Clone, Debug)]
pub struct SqsRequeue {
    client: Client,
    queue_url: String,
}

impl SqsRequeue {
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
        }
    }

    /// Sends `{"invoiceId":N}` with `Requeued` = `by`. `Ok` means the queue has it.
    pub async fn requeue(&self, id: InvoiceId, by: &str) -> Result<(), AdapterError> {
        let attribute = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(by)
            .build()
            .map_err(|e| AdapterError::new("bad message attribute", e))?;
        let mut send = self
            .client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(notification_body(id))
            .message_attributes(REQUEUED_ATTRIBUTE, attribute);
        if self.queue_url.ends_with(".fifo") {
            send = send
                .message_group_id(id.to_string())
                .message_deduplication_id(format!("{by}-{id}"));
        }
        send.send()
            .await
            .map_err(|e| AdapterError::new("SendMessage (requeue) failed", e))?;
        Ok(())
    }
}

/// Reconciliation's re-queue.
impl Requeue for SqsRequeue {
    async fn requeue(&self, id: InvoiceId) -> Result<(), AdapterError> {
        SqsRequeue::requeue(self, id, REQUEUED_BY_RECONCILE).await
    }
}
