//! Drives the worker the way Lambda's SQS event source mapping does: long-poll up to 10
//! messages, hand them over as one `SqsEvent`, delete those not reported as failed, and let
//! the failed ones reappear after their visibility timeout (or the worker's back-off).

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName};
use glase_shared::ports::{Clock, InvoiceSource, InvoiceStore, WorkQueue};
use glase_worker::Worker;

#[derive(Debug, Clone)]
pub struct PollerConfig {
    pub queue_url: String,
    /// At most 10, like the event source mapping's BatchSize.
    pub batch_size: i32,
    /// Long-poll wait per ReceiveMessage.
    pub wait_time_secs: i32,
    /// What the invocation's deadline is set to (the function timeout).
    pub function_timeout: Duration,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct BatchStats {
    pub received: usize,
    pub failed: usize,
}

/// Receives one batch, runs the worker on it, deletes what succeeded.
pub async fn poll_once<S, G, Q, C>(
    sqs: &aws_sdk_sqs::Client,
    config: &PollerConfig,
    worker: &Arc<Worker<S, G, Q, C>>,
) -> Result<BatchStats, aws_sdk_sqs::Error>
where
    S: InvoiceStore,
    G: InvoiceSource,
    Q: WorkQueue,
    C: Clock,
{
    let received = sqs
        .receive_message()
        .queue_url(&config.queue_url)
        .max_number_of_messages(config.batch_size.clamp(1, 10))
        .wait_time_seconds(config.wait_time_secs)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        // As the event source mapping does: the worker reads `Requeued` from them.
        .message_attribute_names("All")
        .send()
        .await?;
    let messages = received.messages();
    if messages.is_empty() {
        return Ok(BatchStats::default());
    }

    let records: Vec<SqsMessage> = messages.iter().map(to_event_record).collect();
    let mut event = SqsEvent::default();
    event.records = records;
    let deadline = jiff::Timestamp::now().as_millisecond()
        + i64::try_from(config.function_timeout.as_millis()).unwrap_or(i64::MAX / 2);
    let response = Arc::clone(worker).handle_batch(event, deadline).await;

    let failed: std::collections::HashSet<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    let done: Vec<DeleteMessageBatchRequestEntry> = messages
        .iter()
        .filter(|m| !failed.contains(m.message_id().unwrap_or_default()))
        .enumerate()
        .filter_map(|(i, m)| {
            DeleteMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .receipt_handle(m.receipt_handle().unwrap_or_default())
                .build()
                .ok()
        })
        .collect();
    if !done.is_empty() {
        sqs.delete_message_batch()
            .queue_url(&config.queue_url)
            .set_entries(Some(done))
            .send()
            .await?;
    }
    Ok(BatchStats {
        received: messages.len(),
        failed: failed.len(),
    })
}

/// Polls until `shutdown` resolves. Errors (queue unreachable) are logged and retried.
pub async fn run<S, G, Q, C>(
    sqs: aws_sdk_sqs::Client,
    config: PollerConfig,
    worker: Arc<Worker<S, G, Q, C>>,
    shutdown: impl std::future::Future<Output = ()>,
) where
    S: InvoiceStore,
    G: InvoiceSource,
    Q: WorkQueue,
    C: Clock,
{
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            result = poll_once(&sqs, &config, &worker) => {
                if let Err(e) = result {
                    tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(&e), "ReceiveMessage failed; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }
}

fn to_event_record(m: &aws_sdk_sqs::types::Message) -> SqsMessage {
    let mut record = SqsMessage::default();
    record.message_id = m.message_id().map(str::to_owned);
    record.receipt_handle = m.receipt_handle().map(str::to_owned);
    record.body = m.body().map(str::to_owned);
    record.md5_of_body = m.md5_of_body().map(str::to_owned);
    record.event_source = Some("aws:sqs".into());
    record.aws_region = Some(crate::aws::REGION.into());
    if let Some(attrs) = m.attributes() {
        record.attributes = attrs
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.clone()))
            .collect();
    }
    if let Some(attrs) = m.message_attributes() {
        record.message_attributes = attrs
            .iter()
            .map(|(k, v)| {
                let mut attr = aws_lambda_events::event::sqs::SqsMessageAttribute::default();
                attr.string_value = v.string_value().map(str::to_owned);
                attr.data_type = Some(v.data_type().to_owned());
                (k.clone(), attr)
            })
            .collect();
    }
    record
}
