//! SQS: the webhook's durable hand-off and the worker's back-off and quarantine.

use aws_sdk_sqs::types::MessageAttributeValue;
use aws_sdk_sqs::Client;

use crate::domain::InvoiceId;
use crate::ports::{NotificationQueue, QueueError, WorkQueue};

fn is_fifo(url: &str) -> bool {
    url.ends_with(".fifo")
}

/// The message body is Glase's own notification shape, so one parser serves both ends.
pub fn notification_body(id: InvoiceId) -> String {
    format!("{{\"invoiceId\":{id}}}")
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
    async fn enqueue(&self, id: InvoiceId) -> Result<(), QueueError> {
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
            .map_err(|e| QueueError::new("SendMessage failed", e))?;
        Ok(())
    }
}

#[derive(Clone, Debug)]
pub struct SqsWorkQueue {
    client: Client,
    queue_url: String,
    dead_letter_queue_url: Option<String>,
}

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

impl WorkQueue for SqsWorkQueue {
    async fn postpone(&self, receipt_handle: &str, delay_secs: i32) -> Result<(), QueueError> {
        self.client
            .change_message_visibility()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(delay_secs)
            .send()
            .await
            .map_err(|e| QueueError::new("ChangeMessageVisibility failed", e))?;
        Ok(())
    }

    async fn quarantine(&self, body: &str, reason: &str) -> Result<bool, QueueError> {
        let Some(dlq) = &self.dead_letter_queue_url else {
            return Ok(false);
        };
        let reason_attr = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(reason)
            .build()
            .map_err(|e| QueueError::new("bad message attribute", e))?;
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
        if is_fifo(dlq) {
            send = send.message_group_id("quarantine");
        }
        send.send()
            .await
            .map_err(|e| QueueError::new("SendMessage to the dead-letter queue failed", e))?;
        Ok(true)
    }
}
