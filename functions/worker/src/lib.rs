//! The worker: for each queued invoice id, fetch the details from Glase once and store them.
//!
//! Records of a batch run as separate tasks, each parsing its own body, so a poison message
//! (or even a panic: the release profile unwinds) fails alone; the reply lists only the failed
//! message ids (`ReportBatchItemFailures`), which SQS retries and finally dead-letters. Each
//! record is bounded by the invocation's deadline less a margin ([`DEADLINE_MARGIN_MS`]): one that is
//! still running then becomes a retry, so the reply and the metrics always go out.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use glase_shared::message::REQUEUED_ATTRIBUTE;
use glase_shared::ports::*;
use glase_shared::telemetry::error_chain;
use glase_shared::{InvoiceId, RejectionCode};
use tokio::task::JoinSet;

mod config;
mod wiring;
pub use config::WorkerConfig;
pub use wiring::{InitError, LambdaWorker, Service};

/// How the worker retries, rejects and gives up: its part of [`WorkerConfig`], read once.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// `RETRY_BASE_SECONDS` (default 30, 1..=43200): first back-off after a failure; doubles
    /// with each receive.
    pub base_secs: u32,
    /// `RETRY_MAX_SECONDS` (default 3600, ≤ 43200: SQS's limit): the back-off's cap.
    pub max_secs: u32,
    /// `MAX_RECEIVE_COUNT` (default 30): the queue's redrive `maxReceiveCount`, so a failure on
    /// this receive is known to dead-letter the message.
    pub max_receive_count: u32,
    /// `REJECT_AFTER_RECEIVES` (default 5, ≥ 7.5 min with the back-off): a 404, unacceptable
    /// body or undocumented 4xx is retried until Glase has answered so this many times, then
    /// rejected. Counted in the item (`Claim::Acquired`), not in receives, so receives spent on
    /// contention do not shorten the window. Glase may notify before its read side knows the
    /// invoice; a proxy may answer once.
    pub reject_after_receives: u32,
    /// `REJECTED_COOLDOWN_SECONDS` (default 3600): a plain notification does not re-fetch an
    /// invoice rejected less than this long ago (operator and reconciliation re-queues are
    /// exempt), so a flood of forged ids cannot make us hammer Glase. It is postponed to the
    /// end of the cool-down instead, never dropped: it may be the news that the invoice is
    /// paid now.
    pub rejected_cooldown_secs: u32,
}

impl Policy {
    /// Exponential back-off by receive count: base, 2·base, 4·base, … capped at max.
    pub fn delay_secs(&self, receive_count: u32) -> i32 {
        let doublings = receive_count.saturating_sub(1).min(20);
        let delay = u64::from(self.base_secs)
            .saturating_mul(1 << doublings)
            .min(u64::from(self.max_secs));
        i32::try_from(delay).unwrap_or(i32::MAX)
    }
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            base_secs: 30,
            max_secs: 3_600,
            max_receive_count: 30,
            reject_after_receives: 5,
            rejected_cooldown_secs: 3_600,
        }
    }
}

pub struct Worker<S, G, Q, C> {
    pub store: S,
    pub glase: G,
    pub queue: Q,
    pub clock: C,
    pub policy: Policy,
}

/// What the margin before the invocation's deadline leaves time for: the reply, the EMF
/// document and the log lines. Records still running then are cut off and retried.
pub const DEADLINE_MARGIN_MS: i64 = 2_000;

/// SQS's longest visibility timeout (12 h): no postponement can ask for more.
const MAX_VISIBILITY_SECS: i64 = 43_200;

/// What became of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Fetched and stored now.
    Stored,
    /// Stored before: acknowledged without calling Glase.
    Duplicate,
    /// Rejected within the cool-down: not fetched, hidden until the cool-down ends (reported
    /// failed, so SQS keeps it).
    Postponed { delay_secs: i32 },
    /// Permanently refused; recorded in the table with its code.
    Rejected { code: RejectionCode },
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
        matches!(self, Outcome::Retry { .. } | Outcome::Postponed { .. })
    }

    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Stored => "stored",
            Outcome::Duplicate => "duplicate",
            Outcome::Postponed { .. } => "postponed",
            Outcome::Rejected { .. } => "rejected",
            Outcome::Quarantined => "quarantined",
            Outcome::Retry { .. } => "retry",
        }
    }
}

/// The EMF metric names (see docs/runbook.md): one place, used by the alarms.
pub mod metric {
    pub const STORED: &str = "InvoicesStored";
    pub const DUPLICATE: &str = "InvoicesDuplicate";
    pub const REJECTED: &str = "InvoicesRejected";
    pub const RETRIED: &str = "InvoicesRetried";
    pub const QUARANTINED: &str = "InvoicesQuarantined";
    pub const DEAD_LETTERED: &str = "InvoicesDeadLettered";
    pub const GLASE_UNAUTHORIZED: &str = "GlaseUnauthorized";
    pub const GLASE_FETCH_LATENCY: &str = "GlaseFetchLatency";
    pub const INIT_FAILED: &str = "WorkerInitFailed";
    /// Per retried record, its `ApproximateReceiveCount` (a histogram: its Maximum shows one
    /// invoice failing for long, whatever else flows).
    pub const RETRIED_RECEIVE_COUNT: &str = "RetriedReceiveCount";
    /// A notification for an id still in its rejection cool-down, postponed to its end.
    pub const POSTPONED: &str = "InvoicesPostponed";
    /// A record cut off by the invocation's deadline and retried.
    pub const DEADLINE_EXCEEDED: &str = "InvoicesDeadlineExceeded";
}

/// One received message, as the worker reads it.
struct Received<'a> {
    message: &'a SqsMessage,
    receive_count: u32,
    /// Re-queued by an operator or reconciliation: may re-fetch a recently rejected invoice
    /// (see `Policy::rejected_cooldown_secs`).
    requeued: bool,
}

impl<'a> Received<'a> {
    fn new(message: &'a SqsMessage) -> Self {
        Self {
            message,
            receive_count: receive_count(message),
            requeued: message.message_attributes.contains_key(REQUEUED_ATTRIBUTE),
        }
    }

    fn queued(&self) -> QueuedMessage<'a> {
        QueuedMessage {
            message_id: self.message.message_id.as_deref(),
            receipt_handle: self.message.receipt_handle.as_deref(),
        }
    }
}

fn receive_count(message: &SqsMessage) -> u32 {
    message
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|c| c.parse().ok())
        .unwrap_or(1)
}

impl<S, G, Q, C> Worker<S, G, Q, C>
where
    S: InvoiceStore,
    G: InvoiceSource,
    Q: WorkQueue,
    C: Clock,
{
    /// Handles one SQS batch. `deadline_ms` is the invocation's deadline (epoch ms): a lease
    /// taken now lapses then, so a worker that dies mid-way blocks nobody for longer.
    pub async fn handle_batch(
        self: Arc<Self>,
        event: SqsEvent,
        deadline_ms: i64,
    ) -> SqsBatchResponse {
        let now_ms = self.clock.now().as_millisecond();
        let deadline_ms = sane_deadline(deadline_ms, now_ms);
        let budget = time_left(deadline_ms, now_ms);
        let cut_off_at = tokio::time::Instant::now() + budget;

        let mut tasks = JoinSet::new();
        let mut ids_by_task = HashMap::new();
        for message in event.records {
            let message_id = message.message_id.clone().unwrap_or_default();
            let receive_count = receive_count(&message);
            let worker = Arc::clone(&self);
            let handle = tasks.spawn(async move {
                // Dropping the unfinished record is safe: its lease lapses at the deadline,
                // and a write that did land is found by the retry (stored: a duplicate).
                let outcome = match tokio::time::timeout_at(
                    cut_off_at,
                    worker.process(&message, deadline_ms),
                )
                .await
                {
                    Ok(outcome) => outcome,
                    Err(_) => worker.cut_off(&message, budget),
                };
                (outcome, message)
            });
            ids_by_task.insert(handle.id(), (message_id, receive_count));
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
                    let (message_id, receive_count) =
                        ids_by_task.remove(&e.id()).unwrap_or_default();
                    tracing::error!(message_id, error = %e, "record task panicked; the message will be retried");
                    count_retry(receive_count);
                    response.add_failure(message_id);
                }
            }
        }
        response
    }

    /// Processes one message and logs one line about it.
    pub async fn process(&self, message: &SqsMessage, deadline_ms: i64) -> Outcome {
        let started = Instant::now();
        let received = Received::new(message);
        let body = message.body.as_deref().unwrap_or("");

        let (outcome, id) = match InvoiceId::from_notification(body.as_bytes()) {
            Ok(id) => (
                self.process_invoice(id, &received, deadline_ms).await,
                Some(id),
            ),
            Err(e) => {
                let reason = format!("malformed message: {e}");
                (self.quarantine(body, &reason, &received).await, None)
            }
        };

        let delay = match &outcome {
            Outcome::Retry {
                delay_secs: Some(delay),
                ..
            }
            | Outcome::Postponed { delay_secs: delay } => Some(*delay),
            _ => None,
        };
        if let (Some(delay), Some(receipt)) = (delay, &message.receipt_handle) {
            if let Err(e) = self.queue.postpone(receipt, delay).await {
                tracing::warn!(error = %error_chain(&e), "could not postpone the retry; the queue's visibility timeout applies");
            }
        }

        self.count(&outcome, received.receive_count, id);
        log_record(message, &received, id, &outcome, started.elapsed());
        outcome
    }

    /// The outcome of a record the deadline cut off: retried after the queue's visibility
    /// timeout (no SQS call: the margin is for the reply), counted and logged like any other.
    fn cut_off(&self, message: &SqsMessage, budget: Duration) -> Outcome {
        let received = Received::new(message);
        let id =
            InvoiceId::from_notification(message.body.as_deref().unwrap_or("").as_bytes()).ok();
        let outcome = Outcome::Retry {
            reason: format!(
                "not finished within the invocation's time less its margin (after {} ms)",
                budget.as_millis()
            ),
            delay_secs: None,
        };
        metrics::counter!(metric::DEADLINE_EXCEEDED).increment(1);
        self.count(&outcome, received.receive_count, id);
        log_record(message, &received, id, &outcome, budget);
        outcome
    }

    fn count(&self, outcome: &Outcome, receive_count: u32, id: Option<InvoiceId>) {
        let name = match outcome {
            Outcome::Stored => metric::STORED,
            Outcome::Duplicate => metric::DUPLICATE,
            Outcome::Postponed { .. } => metric::POSTPONED,
            Outcome::Rejected { code } => {
                metrics::counter!(metric::REJECTED, "RejectionCode" => code.as_str()).increment(1);
                metric::REJECTED
            }
            Outcome::Quarantined => metric::QUARANTINED,
            Outcome::Retry { reason, .. } => {
                if receive_count >= self.policy.max_receive_count {
                    // SQS moves it to the dead-letter queue now: say so loudly, with the reason.
                    tracing::error!(
                        invoice_id = id.map(InvoiceId::get),
                        receive_count,
                        reason = reason.as_str(),
                        "last receive failed: the message goes to the dead-letter queue"
                    );
                    metrics::counter!(metric::DEAD_LETTERED).increment(1);
                }
                return count_retry(receive_count);
            }
        };
        metrics::counter!(name).increment(1);
    }

    async fn quarantine(&self, body: &str, reason: &str, received: &Received<'_>) -> Outcome {
        match self
            .queue
            .quarantine(body, reason, &received.queued())
            .await
        {
            Ok(true) => {
                tracing::error!(reason, "malformed message moved to the dead-letter queue");
                Outcome::Quarantined
            }
            // No DLQ to move it to: fail it, and the redrive policy moves it.
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

    fn lease(&self, received: &Received<'_>, deadline_ms: i64) -> Lease {
        let now_ms = self.clock.now().as_millisecond();
        let cooldown_ms = i64::from(self.policy.rejected_cooldown_secs) * 1000;
        Lease {
            owner: uuid::Uuid::new_v4().to_string(),
            now_ms,
            // The lease lapses with the invocation.
            until_ms: sane_deadline(deadline_ms, now_ms),
            // A message on its last receive is fetched whatever the cool-down: postponing it
            // once more would dead-letter it for no failure of its own.
            rejected_before_ms: (!received.requeued
                && received.receive_count < self.policy.max_receive_count)
                .then_some(now_ms - cooldown_ms),
        }
    }

    async fn process_invoice(
        &self,
        id: InvoiceId,
        received: &Received<'_>,
        deadline_ms: i64,
    ) -> Outcome {
        let backoff = self.policy.delay_secs(received.receive_count);
        let retry = |reason: String| Outcome::Retry {
            reason,
            delay_secs: Some(backoff),
        };
        let lease = self.lease(received, deadline_ms);

        let rejectable_answers = match self.store.claim(id, &lease).await {
            Ok(Claim::Acquired { rejectable_answers }) => rejectable_answers,
            Ok(Claim::AlreadyStored) => return Outcome::Duplicate,
            Ok(Claim::RecentlyRejected { rejected_at_ms }) => {
                let ends_ms = rejected_at_ms + i64::from(self.policy.rejected_cooldown_secs) * 1000;
                // Whole seconds, so the next receive falls after the end (which still cools).
                let secs = ((ends_ms - lease.now_ms) / 1000 + 1).clamp(1, MAX_VISIBILITY_SECS);
                return Outcome::Postponed {
                    delay_secs: i32::try_from(secs).unwrap_or(i32::MAX),
                };
            }
            Ok(Claim::InProgress { until_ms }) => {
                // Someone else is fetching it: look again after the usual back-off (the holder
                // is normally done by then), and no later than when its lease could lapse.
                let lease_left =
                    i32::try_from((until_ms - lease.now_ms) / 1000 + 1).unwrap_or(i32::MAX);
                return Outcome::Retry {
                    reason: "another worker holds the lease".into(),
                    delay_secs: Some(lease_left.min(backoff).max(1)),
                };
            }
            Err(e) => return retry(error_chain(&e)),
        };

        let fetch_started = Instant::now();
        let fetched = self.glase.fetch(id).await;
        metrics::histogram!(metric::GLASE_FETCH_LATENCY)
            .record(fetch_started.elapsed().as_secs_f64() * 1000.0);

        let rejection = match fetched {
            Ok(invoice) => {
                return match self.store.store(&invoice, &lease, self.clock.now()).await {
                    Ok(Completion::Done) => Outcome::Stored,
                    Ok(Completion::Superseded) => Outcome::Duplicate,
                    Ok(Completion::LeaseLost) => Outcome::Retry {
                        reason: "lease lapsed before the invoice was stored".into(),
                        delay_secs: None,
                    },
                    Err(e) => retry(error_chain(&e)),
                };
            }
            Err(FetchError::Invalid(e)) => Rejection {
                code: e.code(),
                reason: e.to_string(),
            },
            Err(e) => match e.rejection_code() {
                Some(code) => Rejection {
                    code,
                    reason: e.to_string(),
                },
                None => {
                    if matches!(e, FetchError::Unauthorized(_)) {
                        metrics::counter!(metric::GLASE_UNAUTHORIZED).increment(1);
                        tracing::error!(invoice_id = id.get(), error = %e, "Glase refused our credentials; the invoice is kept and retried");
                    }
                    return self.release(id, &lease, error_chain(&e), backoff).await;
                }
            },
        };

        // A 404 or a bad body may be passing (Glase's read side lagging its notification, a
        // proxy's error page): retried for a bounded window before it is taken as final. The
        // window counts these answers in the item, so receives spent on contention or on
        // transient failures do not shorten it.
        if rejectable_answers.saturating_add(1) < self.policy.reject_after_receives {
            let reason = format!(
                "{} (answer {} of {} before rejecting as {})",
                rejection.reason,
                rejectable_answers + 1,
                self.policy.reject_after_receives,
                rejection.code
            );
            if let Err(e) = self
                .store
                .release_rejectable(id, &lease, &reason, self.clock.now())
                .await
            {
                tracing::warn!(invoice_id = id.get(), error = %error_chain(&e), "could not release the lease; it lapses at the deadline");
            }
            return retry(reason);
        }

        match self
            .store
            .reject(id, &lease, &rejection, self.clock.now())
            .await
        {
            Ok(Completion::Done) => {
                tracing::warn!(
                    invoice_id = id.get(),
                    code = rejection.code.as_str(),
                    reason = rejection.reason.as_str(),
                    "invoice rejected"
                );
                Outcome::Rejected {
                    code: rejection.code,
                }
            }
            Ok(Completion::Superseded) => Outcome::Duplicate,
            Ok(Completion::LeaseLost) => Outcome::Retry {
                reason: "lease lapsed before the rejection was recorded".into(),
                delay_secs: None,
            },
            Err(e) => retry(error_chain(&e)),
        }
    }

    /// Gives the lease up after a failure worth retrying and backs the message off.
    async fn release(&self, id: InvoiceId, lease: &Lease, reason: String, backoff: i32) -> Outcome {
        if let Err(e) = self
            .store
            .release(id, lease, &reason, self.clock.now())
            .await
        {
            tracing::warn!(invoice_id = id.get(), error = %error_chain(&e), "could not release the lease; it lapses at the deadline");
        }
        Outcome::Retry {
            reason,
            delay_secs: Some(backoff),
        }
    }
}

/// When the worker cannot be built (its secret unreadable, say), each record still takes the
/// normal back-off path: postponed by its receive count and reported failed, so the retry
/// budget stays ~24 h instead of maxReceiveCount × the visibility timeout (~95 min).
pub async fn postpone_all<Q: WorkQueue>(
    queue: &Q,
    policy: &Policy,
    event: &SqsEvent,
    reason: &str,
    cut_off_at: tokio::time::Instant,
) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for message in &event.records {
        let receive_count = receive_count(message);
        count_retry(receive_count);
        if receive_count >= policy.max_receive_count {
            tracing::error!(
                message_id = message.message_id.as_deref(),
                reason,
                "last receive failed: the message goes to the dead-letter queue"
            );
            metrics::counter!(metric::DEAD_LETTERED).increment(1);
        }
        response.add_failure(message.message_id.clone().unwrap_or_default());
    }
    // The reply is ready; the postponements get what time is left (the queue may be as
    // unreachable as what failed the start): the rest keep the queue's visibility timeout.
    let postpone = async {
        for message in &event.records {
            if let Some(receipt) = &message.receipt_handle {
                let delay = policy.delay_secs(receive_count(message));
                if let Err(e) = queue.postpone(receipt, delay).await {
                    tracing::warn!(error = %error_chain(&e), "could not postpone the retry; the queue's visibility timeout applies");
                }
            }
        }
    };
    if tokio::time::timeout_at(cut_off_at, postpone).await.is_err() {
        tracing::warn!("the deadline came before every retry was postponed; the queue's visibility timeout applies to the rest");
    }
    response
}

/// The invocation's deadline (epoch ms); one already past is taken as bogus: a minute from now.
fn sane_deadline(deadline_ms: i64, now_ms: i64) -> i64 {
    if deadline_ms > now_ms {
        deadline_ms
    } else {
        now_ms + 60_000
    }
}

/// How long records may run: until the (sane) deadline less [`DEADLINE_MARGIN_MS`], or less a
/// quarter of the time left when that is shorter (the reply needs milliseconds, and a short
/// timeout — a local stack's few seconds — must still leave a whole Glase call).
pub(crate) fn time_left(deadline_ms: i64, now_ms: i64) -> Duration {
    let left = sane_deadline(deadline_ms, now_ms) - now_ms;
    let margin = DEADLINE_MARGIN_MS.min(left / 4);
    Duration::from_millis(u64::try_from(left - margin).unwrap_or(0))
}

/// A retried record: `InvoicesRetried`, and its receive count.
fn count_retry(receive_count: u32) {
    metrics::counter!(metric::RETRIED).increment(1);
    metrics::histogram!(metric::RETRIED_RECEIVE_COUNT).record(f64::from(receive_count));
}

/// One log line per record.
fn log_record(
    message: &SqsMessage,
    received: &Received<'_>,
    id: Option<InvoiceId>,
    outcome: &Outcome,
    took: Duration,
) {
    let (reason, code) = match outcome {
        Outcome::Retry { reason, .. } => (Some(reason.as_str()), None),
        Outcome::Rejected { code } => (None, Some(code.as_str())),
        _ => (None, None),
    };
    let delay_secs = match outcome {
        Outcome::Postponed { delay_secs } => Some(*delay_secs),
        _ => None,
    };
    tracing::info!(
        message_id = message.message_id.as_deref(),
        invoice_id = id.map(InvoiceId::get),
        receive_count = received.receive_count,
        outcome = outcome.label(),
        rejection_code = code,
        reason,
        delay_secs,
        latency_ms = u64::try_from(took.as_millis()).unwrap_or(u64::MAX),
        "record"
    );
}

#[cfg(test)]
mod tests;
