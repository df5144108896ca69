//! SQS: the webhook's durable hand-off and the worker's back-off and quarantine.

#[cfg(feature = "invoice")]
use aws_sdk_sqs::types::MessageAttributeValue;
use aws_sdk_sqs::Client;

use crate::domain::InvoiceId;
use crate::ports::{AdapterError, NotificationQueue};
#[cfg(feature = "invoice")]
use crate::ports::{QueuedMessage, WorkQueue};

fn is_fifo(url: &str) -> bool {
    url.ends_with(".fifo")
}

/// The message body is Glase's own notification shape, so one parser serves both ends.
pub fn notification_body(id: InvoiceId) -> String {
    id.to_notification()
}

#[derive(Clone, Debug)]
pub struct SqsQueue {
    client: Client,
    queue_url: String,
}

impl SqsQueue {
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
        }
    }
}

impl SqsQueue {
    /// Opens (and keeps) the connection to SQS during init, which Lambda runs on boosted CPU,
    /// so the first notification does not pay the TLS handshake. Failure is harmless.
    pub async fn prime(&self) {
        let result = self
            .client
            .get_queue_attributes()
            .queue_url(&self.queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await;
        if let Err(e) = result {
            tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(&e), "could not prime the SQS connection");
        }
    }
}

impl NotificationQueue for SqsQueue {
    async fn enqueue(&self, id: InvoiceId) -> Result<(), AdapterError> {
        let mut send = self
            .client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(notification_body(id));
        if is_fifo(&self.queue_url) {
            // FIFO dedup only covers 5 minutes; the worker's conditional writes do the rest.
            send = send
                .message_group_id(id.to_string())
                .message_deduplication_id(id.to_string());
        }
        send.send()
            .await
            .map_err(|e| AdapterError::new("SendMessage failed", e))?;
        Ok(())
    }
}

#[cfg(feature = "invoice")]
fn string_attr(value: &str) -> Result<MessageAttributeValue, AdapterError> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .map_err(|e| AdapterError::new("bad message attribute", e))
}

#[cfg(feature = "invoice")]
#[derive(Clone, Debug)]
pub struct SqsWorkQueue {
    client: Client,
    queue_url: String,
    dead_letter_queue_url: Option<String>,
}

#[cfg(feature = "invoice")]
impl SqsWorkQueue {
    pub fn new(
        client: Client,
        queue_url: impl Into<String>,
        dead_letter_queue_url: Option<String>,
    ) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
            dead_letter_queue_url,
        }
    }
}

#[cfg(feature = "invoice")]
impl WorkQueue for SqsWorkQueue {
    async fn postpone(&self, receipt_handle: &str, delay_secs: i32) -> Result<(), AdapterError> {
        self.client
            .change_message_visibility()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(delay_secs)
            .send()
            .await
            .map_err(|e| AdapterError::new("ChangeMessageVisibility failed", e))?;
        Ok(())
    }

    async fn quarantine(
        &self,
        body: &str,
        reason: &str,
        source: &QueuedMessage<'_>,
    ) -> Result<bool, AdapterError> {
        let Some(dlq) = &self.dead_letter_queue_url else {
            return Ok(false);
        };
        let reason_attr = string_attr(reason)?;
        let mut send = self
            .client
            .send_message()
            .queue_url(dlq)
            // SQS rejects an empty body; keep the evidence visible either way.
            .message_body(if body.is_empty() {
                "(empty body)"
            } else {
                body
            })
            .message_attributes("rejectionReason", reason_attr);
        if let Some(id) = source.message_id {
            // A crash between the copy and the delete below can leave two copies: the
            // original's id lets `glase-invoices dlq list` (and operators) see they are one.
            send = send.message_attributes("sourceMessageId", string_attr(id)?);
        }
        if is_fifo(dlq) {
            send = send.message_group_id("quarantine");
        }
        send.send()
            .await
            .map_err(|e| AdapterError::new("SendMessage to the dead-letter queue failed", e))?;
        // Delete the original now rather than when the batch returns, so a later failure of
        // this invocation cannot bring it back for a second copy.
        if let Some(receipt) = source.receipt_handle {
            if let Err(e) = self
                .client
                .delete_message()
                .queue_url(&self.queue_url)
                .receipt_handle(receipt)
                .send()
                .await
            {
                tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(&e), "quarantined message copied but not deleted; the batch response deletes it");
            }
        }
        Ok(true)
    }
}
