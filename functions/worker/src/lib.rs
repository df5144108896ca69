//! The worker: for each queued invoice id, fetch the details from Glase once and store them.
//!
//! Records of a batch run as separate tasks, each parsing its own body, so a poison message
//! (or even a panic) fails alone; the reply lists only the failed message ids
//! (`ReportBatchItemFailures`), which SQS retries and finally dead-letters.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use glase_shared::ports::*;
use glase_shared::telemetry::error_chain;
use glase_shared::InvoiceId;
use tokio::task::JoinSet;

/// How long a failed message waits before SQS offers it again.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub base_secs: u32,
    pub max_secs: u32,
}

impl RetryPolicy {
    /// Exponential back-off by receive count: base, 2·base, 4·base, … capped at max.
    pub fn delay_secs(&self, receive_count: u32) -> i32 {
        let doublings = receive_count.saturating_sub(1).min(20);
        let delay = u64::from(self.base_secs)
            .saturating_mul(1 << doublings)
            .min(u64::from(self.max_secs));
        i32::try_from(delay).unwrap_or(i32::MAX)
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            base_secs: 30,
            max_secs: 3_600,
        }
    }
}

pub struct Worker<S, G, Q, C> {
    pub store: S,
    pub glase: G,
    pub queue: Q,
    pub clock: C,
    pub retry: RetryPolicy,
}

/// What became of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Fetched and stored now.
    Stored,
    /// Stored before: acknowledged without calling Glase.
    Duplicate,
    /// Permanently refused; recorded in the table with its code.
    Rejected { code: String },
    /// Unparseable message moved to the dead-letter queue with its reason.
    Quarantined,
    /// Left on the queue to be retried (and dead-lettered after maxReceiveCount).
    Retry {
        reason: String,
        delay_secs: Option<i32>,
    },
}

impl Outcome {
    pub fn is_failure(&self) -> bool {
        matches!(self, Outcome::Retry { .. })
    }

    fn label(&self) -> &'static str {
        match self {
            Outcome::Stored => "stored",
            Outcome::Duplicate => "duplicate",
            Outcome::Rejected { .. } => "rejected",
            Outcome::Quarantined => "quarantined",
            Outcome::Retry { .. } => "retry",
        }
    }
}

/// Handles one SQS batch. `deadline_ms` is the invocation's deadline (epoch ms): a lease
/// taken now lapses then, so a worker that dies mid-way blocks nobody for longer.
pub async fn handle_batch<S, G, Q, C>(
    worker: Arc<Worker<S, G, Q, C>>,
    event: SqsEvent,
    deadline_ms: i64,
) -> SqsBatchResponse
where
    S: InvoiceStore,
    G: InvoiceSource,
    Q: WorkQueue,
    C: Clock,
{
    let mut tasks = JoinSet::new();
    let mut ids_by_task = HashMap::new();
    for message in event.records {
        let message_id = message.message_id.clone().unwrap_or_default();
        let worker = Arc::clone(&worker);
        let handle =
            tasks.spawn(async move { (process(&worker, &message, deadline_ms).await, message) });
        ids_by_task.insert(handle.id(), message_id);
    }

    let mut response = SqsBatchResponse::default();
    while let Some(joined) = tasks.join_next_with_id().await {
        match joined {
            Ok((_, (outcome, message))) => {
                if outcome.is_failure() {
                    response.add_failure(message.message_id.unwrap_or_default());
                }
            }
            Err(e) => {
                let message_id = ids_by_task.remove(&e.id()).unwrap_or_default();
                tracing::error!(message_id, error = %e, "record task panicked; the message will be retried");
                response.add_failure(message_id);
            }
        }
    }
    response
}

/// Processes one message and logs one line about it.
pub async fn process<S, G, Q, C>(
    worker: &Worker<S, G, Q, C>,
    message: &SqsMessage,
    deadline_ms: i64,
) -> Outcome
where
    S: InvoiceStore,
    G: InvoiceSource,
    Q: WorkQueue,
    C: Clock,
{
    let started = Instant::now();
    let receive_count: u32 = message
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|c| c.parse().ok())
        .unwrap_or(1);
    let body = message.body.as_deref().unwrap_or("");

    let (outcome, id) = match InvoiceId::from_notification(body.as_bytes()) {
        Ok(id) => (
            process_invoice(worker, id, receive_count, deadline_ms).await,
            Some(id),
        ),
        Err(e) => (
            quarantine(worker, body, &format!("malformed message: {e}")).await,
            None,
        ),
    };

    if let (
        Outcome::Retry {
            delay_secs: Some(delay),
            ..
        },
        Some(receipt),
    ) = (&outcome, &message.receipt_handle)
    {
        if let Err(e) = worker.queue.postpone(receipt, *delay).await {
            tracing::warn!(error = %error_chain(&e), "could not postpone the retry; the queue's visibility timeout applies");
        }
    }

    let (reason, code) = match &outcome {
        Outcome::Retry { reason, .. } => (Some(reason.as_str()), None),
        Outcome::Rejected { code } => (None, Some(code.as_str())),
        _ => (None, None),
    };
    tracing::info!(
        message_id = message.message_id.as_deref(),
        invoice_id = id.map(InvoiceId::get),
        receive_count,
        outcome = outcome.label(),
        rejection_code = code,
        reason,
        latency_ms = started.elapsed().as_secs_f64() * 1000.0,
        "record"
    );
    outcome
}

async fn quarantine<S, G, Q: WorkQueue, C>(
    worker: &Worker<S, G, Q, C>,
    body: &str,
    reason: &str,
) -> Outcome {
    match worker.queue.quarantine(body, reason).await {
        Ok(true) => {
            tracing::error!(reason, "malformed message moved to the dead-letter queue");
            Outcome::Quarantined
        }
        // No DLQ to move it to (or it failed): fail it, and the redrive policy moves it.
        Ok(false) => Outcome::Retry {
            reason: reason.to_owned(),
            delay_secs: None,
        },
        Err(e) => Outcome::Retry {
            reason: format!("{reason}; quarantine failed: {}", error_chain(&e)),
            delay_secs: None,
        },
    }
}

async fn process_invoice<S, G, Q, C>(
    worker: &Worker<S, G, Q, C>,
    id: InvoiceId,
    receive_count: u32,
    deadline_ms: i64,
) -> Outcome
where
    S: InvoiceStore,
    G: InvoiceSource,
    Q: WorkQueue,
    C: Clock,
{
    let backoff = worker.retry.delay_secs(receive_count);
    let store_failed = |e: StoreError| Outcome::Retry {
        reason: error_chain(&e),
        delay_secs: Some(backoff),
    };
    let now_ms = worker.clock.now().as_millisecond();
    let lease = Lease {
        owner: uuid::Uuid::new_v4().to_string(),
        now_ms,
        // The lease lapses with the invocation; a deadline already past is taken as bogus.
        until_ms: if deadline_ms > now_ms {
            deadline_ms
        } else {
            now_ms + 60_000
        },
    };

    match worker.store.claim(id, &lease).await {
        Ok(Claim::Acquired) => {}
        Ok(Claim::AlreadyStored) => return Outcome::Duplicate,
        Ok(Claim::InProgress { until_ms }) => {
            // Someone else is fetching it: look again after the usual back-off (the holder is
            // normally done by then), and no later than when its lease could have lapsed.
            let lease_left = i32::try_from((until_ms - now_ms) / 1000 + 1).unwrap_or(i32::MAX);
            let wait = lease_left.min(backoff).max(1);
            return Outcome::Retry {
                reason: "another worker holds the lease".into(),
                delay_secs: Some(wait),
            };
        }
        Err(e) => return store_failed(e),
    }

    let rejection = match worker.glase.fetch(id).await {
        Ok(invoice) => {
            return match worker
                .store
                .store(&invoice, &lease, worker.clock.now())
                .await
            {
                Ok(Completion::Done) => Outcome::Stored,
                Ok(Completion::LeaseLost) => Outcome::Retry {
                    reason: "lease lapsed before the invoice was stored".into(),
                    delay_secs: None,
                },
                Err(e) => store_failed(e),
            };
        }
        Err(FetchError::NotFound) => Rejection {
            code: "UNKNOWN_INVOICE".into(),
            reason: FetchError::NotFound.to_string(),
        },
        Err(FetchError::Invalid(e)) => Rejection {
            code: e.code().into(),
            reason: e.to_string(),
        },
        Err(e @ (FetchError::Unauthorized(_) | FetchError::Transient(_))) => {
            let reason = e.to_string();
            if matches!(e, FetchError::Unauthorized(_)) {
                tracing::error!(invoice_id = id.get(), error = %reason, "Glase refused our credentials; the invoice is kept and retried");
            }
            if let Err(se) = worker.store.release(id, &lease, &reason).await {
                tracing::warn!(invoice_id = id.get(), error = %error_chain(&se), "could not release the lease; it lapses at the deadline");
            }
            return Outcome::Retry {
                reason,
                delay_secs: Some(backoff),
            };
        }
    };

    match worker
        .store
        .reject(id, &lease, &rejection, worker.clock.now())
        .await
    {
        Ok(Completion::Done) => Outcome::Rejected {
            code: rejection.code,
        },
        Ok(Completion::LeaseLost) => Outcome::Retry {
            reason: "lease lapsed before the rejection was recorded".into(),
            delay_secs: None,
        },
        Err(e) => store_failed(e),
    }
}

#[cfg(test)]
mod tests;
