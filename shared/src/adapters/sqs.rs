//! SQS: the one sender of the notifications queue's message ([`crate::message`]) — the
//! webhook's hand-off, re-queues (reconciliation, the CLI), the worker's back-off and
//! quarantine — and the reader of the dead-letter queue (`dlq list`, redrives).

use std::collections::{HashMap, HashSet};

use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry, Message,
    MessageAttributeValue, MessageSystemAttributeName, QueueAttributeName,
    SendMessageBatchRequestEntry,
};
use aws_sdk_sqs::Client;

use super::{describe_sdk_error, sdk_failure};
use crate::domain::InvoiceId;
use crate::message::{self, is_fifo};
use crate::ports::{AdapterError, NotificationQueue, Requeue};
#[cfg(feature = "invoice")]
use crate::ports::{QueuedMessage, WorkQueue};
use crate::retry::{gave_up, until_accepted, Backoff};

/// One queue (the notifications queue, or its dead-letter queue when that is the one read).
#[derive(Clone, Debug)]
pub struct SqsQueue {
    client: Client,
    queue_url: String,
    /// Where the worker quarantines unparseable messages; `None`: the redrive policy does.
    dead_letter_queue_url: Option<String>,
}

impl SqsQueue {
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
            dead_letter_queue_url: None,
        }
    }

    pub fn with_dead_letter_queue(mut self, url: Option<String>) -> Self {
        self.dead_letter_queue_url = url;
        self
    }

    pub fn url(&self) -> &str {
        &self.queue_url
    }

    /// Opens (and keeps) the connection to SQS during init, which Lambda runs on boosted CPU,
    /// so the first notification does not pay the TLS handshake. Failure is harmless.
    pub async fn prime(&self) {
        let result = self
            .client
            .get_queue_attributes()
            .queue_url(&self.queue_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await;
        if let Err(e) = result {
            tracing::warn!(error = %describe_sdk_error(&e), "could not prime the SQS connection");
        }
    }

    /// Sends `{"invoiceId":N}` with `Requeued` = `by`. `Ok` means the queue has it. On a FIFO
    /// queue, the same re-queuer's re-queues of one invoice collapse within SQS's 5 minutes.
    pub async fn requeue(&self, id: InvoiceId, by: &str) -> Result<(), AdapterError> {
        let fifo = self.fifo(id, || format!("{by}-{id}"));
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(message::body(id))
            .set_message_attributes(Some(requeued_by(by)?))
            .set_message_group_id(fifo.as_ref().map(|f| f.0.clone()))
            .set_message_deduplication_id(fifo.map(|f| f.1))
            .send()
            .await
            .map_err(|e| AdapterError::new("SendMessage (requeue) failed", e))?;
        Ok(())
    }

    /// Sends `{"invoiceId":N}` with `Requeued` = `by` for each id, ten per call, each one
    /// fresh (a deliberate re-queue is never dropped as a duplicate). Returns each id's
    /// outcome, in order: `Err(reason)` where SQS refused that one message.
    pub async fn requeue_each(
        &self,
        ids: &[InvoiceId],
        by: &str,
    ) -> Result<Vec<Result<(), String>>, AdapterError> {
        let batch = Batch::new(by)?;
        let mut outcomes = Vec::with_capacity(ids.len());
        let numbered: Vec<(usize, InvoiceId)> = ids.iter().copied().enumerate().collect();
        for chunk in numbered.chunks(10) {
            outcomes.extend(self.send_batch(&batch, chunk).await?);
        }
        Ok(outcomes)
    }

    /// Like [`Self::requeue_each`], the chunks of ten sent at once, and each message SQS
    /// refused — or each of a call that failed — offered again with back-off
    /// ([`Backoff::REQUEUE`]) before it is reported failed.
    pub async fn requeue_with_retries(
        &self,
        ids: &[InvoiceId],
        by: &str,
    ) -> Vec<Result<(), AdapterError>> {
        let batch = match Batch::new(by) {
            Ok(batch) => batch,
            Err(e) => {
                let reason = e.to_string();
                return ids
                    .iter()
                    .map(|_| Err(AdapterError::msg(&reason)))
                    .collect();
            }
        };
        let numbered: Vec<(usize, InvoiceId)> = ids.iter().copied().enumerate().collect();
        let chunks = numbered.chunks(10).map(|chunk| {
            until_accepted(chunk, Backoff::REQUEUE, |entries| {
                let batch = &batch;
                async move {
                    match self.send_batch(batch, &entries).await {
                        Ok(outcomes) => outcomes,
                        Err(e) => vec![Err(e.to_string()); entries.len()],
                    }
                }
            })
        });
        futures::future::join_all(chunks)
            .await
            .into_iter()
            .flatten()
            .map(|o| o.map_err(|reason| gave_up(reason, Backoff::REQUEUE)))
            .collect()
    }

    /// One SendMessageBatch of at most ten `(position, id)`: each entry's outcome, in order.
    async fn send_batch(
        &self,
        batch: &Batch,
        chunk: &[(usize, InvoiceId)],
    ) -> Result<Vec<Result<(), String>>, AdapterError> {
        let entries = chunk
            .iter()
            .enumerate()
            .map(|(i, (position, id))| {
                // Fresh each run, the same on a retry: the same re-queue minutes later must
                // not be dropped, a retried one that had gone through must.
                let fifo = self.fifo(*id, || {
                    format!("{}-{id}-{}-{position}", batch.by, batch.sent_at)
                });
                SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(message::body(*id))
                    .set_message_attributes(Some(batch.attributes.clone()))
                    .set_message_group_id(fifo.as_ref().map(|f| f.0.clone()))
                    .set_message_deduplication_id(fifo.map(|f| f.1))
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| AdapterError::msg(format!("bad SendMessageBatch entry: {e}")))?;
        self.send_entries(entries).await
    }

    /// One SendMessageBatch of at most ten entries whose ids are their positions (`"0"`…):
    /// each entry's outcome, in order.
    async fn send_entries(
        &self,
        entries: Vec<SendMessageBatchRequestEntry>,
    ) -> Result<Vec<Result<(), String>>, AdapterError> {
        let count = entries.len();
        let out = self
            .client
            .send_message_batch()
            .queue_url(&self.queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| sdk_failure(&format!("SendMessageBatch to {}", self.queue_url), e))?;
        let mut results: Vec<Result<(), String>> =
            vec![Err("SQS did not answer for this message".into()); count];
        let index = |id: &str| id.parse::<usize>().ok().filter(|i| *i < count);
        for ok in out.successful() {
            if let Some(i) = index(ok.id()) {
                results[i] = Ok(());
            }
        }
        for failed in out.failed() {
            if let Some(i) = index(failed.id()) {
                results[i] = Err(format!(
                    "{}: {}",
                    failed.code(),
                    failed.message().unwrap_or("refused")
                ));
            }
        }
        Ok(results)
    }

    /// On a FIFO queue, an invoice's messages form one group; `dedup` names this send.
    fn fifo(&self, id: InvoiceId, dedup: impl FnOnce() -> String) -> Option<(String, String)> {
        is_fifo(&self.queue_url).then(|| (id.to_string(), dedup()))
    }
}

fn string_attribute(value: &str) -> Result<MessageAttributeValue, AdapterError> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .map_err(|e| AdapterError::new("bad message attribute", e))
}

/// What every message of one re-queue run shares.
struct Batch {
    by: String,
    attributes: HashMap<String, MessageAttributeValue>,
    /// Makes FIFO deduplication ids unique to the run.
    sent_at: u128,
}

impl Batch {
    fn new(by: &str) -> Result<Self, AdapterError> {
        Ok(Self {
            by: by.to_owned(),
            attributes: requeued_by(by)?,
            sent_at: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        })
    }
}

fn requeued_by(by: &str) -> Result<HashMap<String, MessageAttributeValue>, AdapterError> {
    Ok(HashMap::from([(
        message::REQUEUED_ATTRIBUTE.to_owned(),
        string_attribute(by)?,
    )]))
}

impl NotificationQueue for SqsQueue {
    async fn enqueue(&self, id: InvoiceId) -> Result<(), AdapterError> {
        // FIFO dedup only covers 5 minutes; the worker's conditional writes do the rest.
        let fifo = self.fifo(id, || id.to_string());
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(message::body(id))
            .set_message_group_id(fifo.as_ref().map(|f| f.0.clone()))
            .set_message_deduplication_id(fifo.map(|f| f.1))
            .send()
            .await
            .map_err(|e| AdapterError::new("SendMessage failed", e))?;
        Ok(())
    }
}

/// Reconciliation's re-queue (the function's and `glase-invoices reconcile`'s).
impl Requeue for SqsQueue {
    async fn requeue_many(&self, ids: &[InvoiceId]) -> Vec<Result<(), AdapterError>> {
        self.requeue_with_retries(ids, message::REQUEUED_BY_RECONCILE)
            .await
    }
}

/// The reconcile function's own queue: one message a day it had no time for.
#[cfg(feature = "glase")]
impl crate::ports::DayQueue for SqsQueue {
    async fn hand_on(&self, days: &[jiff::civil::Date]) -> Result<(), AdapterError> {
        let mut refused = Vec::new();
        for chunk in days.chunks(10) {
            let outcomes = until_accepted(chunk, Backoff::REQUEUE, |days| async move {
                let entries = days
                    .iter()
                    .enumerate()
                    .map(|(i, day)| {
                        SendMessageBatchRequestEntry::builder()
                            .id(i.to_string())
                            .message_body(crate::reconcile::day_message(*day))
                            .set_message_group_id(is_fifo(&self.queue_url).then(|| "days".into()))
                            .set_message_deduplication_id(
                                is_fifo(&self.queue_url).then(|| day.to_string()),
                            )
                            .build()
                    })
                    .collect::<Result<Vec<_>, _>>();
                let sent = match entries {
                    Ok(entries) => self.send_entries(entries).await,
                    Err(e) => Err(AdapterError::msg(format!(
                        "bad SendMessageBatch entry: {e}"
                    ))),
                };
                sent.unwrap_or_else(|e| vec![Err(e.to_string()); days.len()])
            })
            .await;
            for (day, outcome) in chunk.iter().zip(outcomes) {
                if let Err(reason) = outcome {
                    refused.push(format!("{day}: {reason}"));
                }
            }
        }
        match refused.len() {
            0 => Ok(()),
            n => Err(AdapterError::msg(format!(
                "SQS did not take {n} of {} days: {}",
                days.len(),
                refused.join("; ")
            ))),
        }
    }
}

#[cfg(feature = "invoice")]
impl WorkQueue for SqsQueue {
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
            .message_attributes(
                message::REJECTION_REASON_ATTRIBUTE,
                string_attribute(reason)?,
            );
        if let Some(id) = source.message_id {
            send = send
                .message_attributes(message::SOURCE_MESSAGE_ID_ATTRIBUTE, string_attribute(id)?);
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
                tracing::warn!(error = %describe_sdk_error(&e), "quarantined message copied but not deleted; the batch response deletes it");
            }
        }
        Ok(true)
    }
}

// ------------------------------------------------------------ reading the dead-letter queue

/// A message as received (from the dead-letter queue, for `dlq list` and redrives).
#[derive(Debug, Clone)]
pub struct Received {
    pub message_id: String,
    pub receipt: String,
    pub body: String,
    /// The invoice, when the body is a notification.
    pub invoice: Option<InvoiceId>,
    pub receives: Option<u32>,
    /// When SQS first accepted it (epoch milliseconds).
    pub sent_at_ms: Option<i64>,
    /// The worker's reason, on a message it quarantined.
    pub rejection_reason: Option<String>,
}

impl Received {
    fn new(m: Message) -> Option<Self> {
        let attribute =
            |name: MessageSystemAttributeName| m.attributes().and_then(|a| a.get(&name)).cloned();
        let body = m.body().unwrap_or_default().to_owned();
        Some(Self {
            message_id: m.message_id()?.to_owned(),
            receipt: m.receipt_handle()?.to_owned(),
            invoice: InvoiceId::from_notification(body.as_bytes()).ok(),
            receives: attribute(MessageSystemAttributeName::ApproximateReceiveCount)
                .and_then(|n| n.parse().ok()),
            sent_at_ms: attribute(MessageSystemAttributeName::SentTimestamp)
                .and_then(|ms| ms.parse().ok()),
            rejection_reason: m
                .message_attributes()
                .and_then(|a| a.get(message::REJECTION_REASON_ATTRIBUTE))
                .and_then(|v| v.string_value())
                .map(str::to_owned),
            body,
        })
    }
}

/// What a redrive should move, and how.
#[derive(Debug, Clone, Copy)]
pub struct Redrive<'a> {
    /// Only this invoice's messages; `None`: every notification.
    pub only: Option<InvoiceId>,
    /// Seconds a received message stays hidden while it is moved.
    pub visibility_timeout: i32,
    /// The `Requeued` mark the moved messages get.
    pub by: &'a str,
}

/// What a redrive did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Redriven {
    /// The invoices moved, in order.
    pub moved: Vec<InvoiceId>,
    /// `message id: reason` of each message SQS refused to take; it stays where it was.
    pub failed: Vec<String>,
    /// How many messages stay in the dead-letter queue (not wanted, or refused).
    pub left: usize,
}

impl SqsQueue {
    /// One ReceiveMessage of up to ten, hiding them for `visibility` seconds.
    pub async fn receive(&self, visibility: i32) -> Result<Vec<Received>, AdapterError> {
        let url = &self.queue_url;
        let out = self
            .client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .visibility_timeout(visibility)
            // Long polling asks every SQS server, so an empty answer means an empty queue.
            .wait_time_seconds(1)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(|e| sdk_failure(&format!("ReceiveMessage from {url}"), e))?;
        Ok(out
            .messages
            .unwrap_or_default()
            .into_iter()
            .filter_map(Received::new)
            .collect())
    }

    /// Makes received messages visible again at once (batches of ten).
    pub async fn release(&self, receipts: &[String]) -> Result<(), AdapterError> {
        self.change_visibility(receipts, 0).await
    }

    /// Hides received messages for `seconds` from now (batches of ten).
    async fn change_visibility(
        &self,
        receipts: &[String],
        seconds: i32,
    ) -> Result<(), AdapterError> {
        let url = &self.queue_url;
        for chunk in receipts.chunks(10) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, receipt)| {
                    ChangeMessageVisibilityBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(receipt)
                        .visibility_timeout(seconds)
                        .build()
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| {
                    AdapterError::msg(format!("bad ChangeMessageVisibilityBatch entry: {e}"))
                })?;
            self.client
                .change_message_visibility_batch()
                .queue_url(url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| sdk_failure(&format!("ChangeMessageVisibilityBatch on {url}"), e))?;
        }
        Ok(())
    }

    /// ApproximateNumberOfMessages: the visible messages.
    async fn visible_messages(&self) -> Result<usize, AdapterError> {
        let url = &self.queue_url;
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .send()
            .await
            .map_err(|e| sdk_failure(&format!("GetQueueAttributes {url}"), e))?;
        Ok(out
            .attributes()
            .and_then(|a| a.get(&QueueAttributeName::ApproximateNumberOfMessages))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0))
    }

    /// Deletes received messages (batches of ten).
    pub async fn delete(&self, messages: &[&Received]) -> Result<(), AdapterError> {
        let url = &self.queue_url;
        for chunk in messages.chunks(10) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(&m.receipt)
                        .build()
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| AdapterError::msg(format!("bad DeleteMessageBatch entry: {e}")))?;
            let out = self
                .client
                .delete_message_batch()
                .queue_url(url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| sdk_failure(&format!("DeleteMessageBatch on {url}"), e))?;
            if let Some(f) = out.failed().first() {
                // In a redrive it is already sent: left in the DLQ it is a duplicate the worker
                // stores once.
                return Err(AdapterError::msg(format!(
                    "DeleteMessageBatch on {url} refused a message ({}: {}); it stays on the queue: run the command again",
                    f.code(),
                    f.message().unwrap_or("refused")
                )));
            }
        }
        Ok(())
    }

    /// Moves the notifications of `dead_letters` back onto this queue, one batch at a time:
    /// receive, send (re-queued by `plan.by`), and only then delete, so an interruption can
    /// leave a message in both queues — a duplicate the worker stores once — but never in
    /// neither. Unparseable bodies stay for a person to read. `sent(n)` runs after the n-th
    /// batch is sent and before it is deleted.
    pub async fn redrive<F, Fut>(
        &self,
        dead_letters: &SqsQueue,
        plan: Redrive<'_>,
        mut sent: F,
    ) -> Result<Redriven, AdapterError>
    where
        F: FnMut(usize) -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        let wanted = |m: &Received| match (m.invoice, plan.only) {
            (Some(id), Some(only)) => id == only,
            (Some(_), None) => true,
            // Unparseable bodies would only be quarantined again.
            (None, _) => false,
        };
        let mut scan = Scan::start(dead_letters, plan.visibility_timeout).await?;
        let mut done = Redriven::default();
        let mut batches = 0usize;
        let result = async {
            loop {
                let fresh = scan.next().await?;
                if fresh.is_empty() {
                    return Ok::<_, AdapterError>(());
                }
                let take: Vec<Received> = fresh.into_iter().filter(wanted).collect();
                if take.is_empty() {
                    continue;
                }
                let ids: Vec<InvoiceId> = take.iter().filter_map(|m| m.invoice).collect();
                // Send first: from here until the delete, the message is in both queues.
                let outcomes = self.requeue_each(&ids, plan.by).await?;
                batches += 1;
                sent(batches).await;
                let mut delete = Vec::new();
                for (m, outcome) in take.iter().zip(&outcomes) {
                    match outcome {
                        Ok(()) => delete.push(m),
                        Err(reason) => {
                            done.failed.push(format!("{}: {reason}", m.message_id));
                        }
                    }
                }
                dead_letters.delete(&delete).await?;
                for m in &delete {
                    scan.deleted(&m.message_id);
                }
                done.moved.extend(delete.iter().filter_map(|m| m.invoice));
            }
        }
        .await;
        done.left = scan.held();
        let released = scan.finish().await;
        result?;
        released?;
        Ok(done)
    }
}

/// Receives each message of a queue once, even when the scan outlives the visibility timeout:
/// the messages received first become visible again and come back, SQS answering with them
/// before the ones never received. Each message that comes back is hidden again for as long as
/// the scan has run so far (the time it is likely still to need), so the scan moves on; the
/// scan ends when it has seen the queue's count at its start (ApproximateNumberOfMessages), or
/// the queue answers empty, or nothing new came for a while (messages deleted meanwhile).
/// `finish` makes every message it still holds visible again.
pub struct Scan<'q> {
    queue: &'q SqsQueue,
    visibility: i32,
    target: usize,
    started: std::time::Instant,
    seen: HashSet<String>,
    /// The latest receipt of each message received and not deleted.
    held: HashMap<String, String>,
    stalls: u32,
}

impl<'q> Scan<'q> {
    /// Receives in a row with nothing new before the scan gives up on the count.
    const MAX_STALLS: u32 = 20;

    pub async fn start(queue: &'q SqsQueue, visibility: i32) -> Result<Self, AdapterError> {
        Ok(Self {
            queue,
            visibility: visibility.max(1),
            target: queue.visible_messages().await?,
            started: std::time::Instant::now(),
            seen: HashSet::new(),
            held: HashMap::new(),
            stalls: 0,
        })
    }

    /// The next messages not received before by this scan; empty once the scan is over.
    pub async fn next(&mut self) -> Result<Vec<Received>, AdapterError> {
        while self.target == 0 || self.seen.len() < self.target {
            let batch = self.queue.receive(self.visibility).await?;
            if batch.is_empty() {
                break;
            }
            let mut fresh = Vec::new();
            let mut again = Vec::new();
            for m in batch {
                self.held.insert(m.message_id.clone(), m.receipt.clone());
                if self.seen.insert(m.message_id.clone()) {
                    fresh.push(m);
                } else {
                    again.push(m.receipt);
                }
            }
            if !again.is_empty() {
                let ran = i32::try_from(self.started.elapsed().as_secs()).unwrap_or(i32::MAX);
                // SQS's longest visibility timeout is 12 hours.
                let hide = ran.saturating_add(self.visibility).min(43_200);
                self.queue.change_visibility(&again, hide).await?;
            }
            if !fresh.is_empty() {
                self.stalls = 0;
                return Ok(fresh);
            }
            self.stalls += 1;
            if self.stalls >= Self::MAX_STALLS {
                break;
            }
        }
        Ok(Vec::new())
    }

    /// A received message was deleted: nothing to give back.
    pub fn deleted(&mut self, message_id: &str) {
        self.held.remove(message_id);
    }

    /// How many received messages are still in the queue.
    pub fn held(&self) -> usize {
        self.held.len()
    }

    /// Makes every message received and not deleted visible again.
    pub async fn finish(self) -> Result<(), AdapterError> {
        let receipts: Vec<String> = self.held.into_values().collect();
        self.queue.release(&receipts).await
    }
}
