//! The small traits the handlers are written against. Adapters (DynamoDB, SQS, Glase over
//! HTTP) implement them for production; `crate::memory` implements them for unit tests.
//! The webhook needs only `NotificationQueue`; the worker's ports are behind `invoice`,
//! reconciliation's report behind `reconcile`.

use std::future::Future;

use crate::domain::InvoiceId;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A call to a backing service (SQS, DynamoDB) failed. The source error is kept for the logs.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct AdapterError {
    pub message: String,
    #[source]
    pub source: Option<BoxError>,
}

impl AdapterError {
    pub fn new(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self {
            message: message.into(),
            source: Some(Box::new(source)),
        }
    }

    pub fn msg(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            source: None,
        }
    }
}

// ---------------------------------------------------------------- queue (webhook side)

/// Durably queues a paid invoice id for the worker. `Ok` means the queue has it.
pub trait NotificationQueue: Send + Sync + 'static {
    fn enqueue(&self, id: InvoiceId) -> impl Future<Output = Result<(), AdapterError>> + Send;
}

/// Hands invoice ids back to the worker from outside the webhook (reconciliation), marked
/// as re-queues, many at once.
pub trait Requeue: Send + Sync {
    /// One outcome per id, in order: `Ok` means the queue has it. An id the queue refused is
    /// offered again with back-off before it is reported `Err`; none is dropped.
    fn requeue_many(
        &self,
        ids: &[InvoiceId],
    ) -> impl Future<Output = Vec<Result<(), AdapterError>>> + Send;
}

#[cfg(feature = "invoice")]
pub use worker::*;

/// The worker's ports: they speak of invoices, so they need the `invoice` side of the domain.
#[cfg(feature = "invoice")]
mod worker {
    use std::collections::HashMap;
    use std::future::Future;

    use jiff::Timestamp;

    use super::AdapterError;
    use crate::domain::{InvalidInvoice, Invoice, InvoiceId, RejectionCode};

    // ---------------------------------------------------------------- queue (worker side)

    /// What the worker asks of the queue besides receiving: backing off, and setting aside
    /// messages that can never be processed.
    pub trait WorkQueue: Send + Sync + 'static {
        /// Keeps a failed message invisible for `delay_secs` before SQS offers it again.
        fn postpone(
            &self,
            receipt_handle: &str,
            delay_secs: i32,
        ) -> impl Future<Output = Result<(), AdapterError>> + Send;
        /// Moves an unparseable message to the dead-letter queue with the reason, and deletes
        /// the original. `Ok(false)` means there is no dead-letter queue to send it to.
        fn quarantine(
            &self,
            body: &str,
            reason: &str,
            source: &QueuedMessage<'_>,
        ) -> impl Future<Output = Result<bool, AdapterError>> + Send;
    }

    /// Which received message an operation is about.
    #[derive(Debug, Clone, Copy, Default)]
    pub struct QueuedMessage<'a> {
        pub message_id: Option<&'a str>,
        pub receipt_handle: Option<&'a str>,
    }

    // ---------------------------------------------------------------- Glase

    /// How a details fetch failed, classified by what the worker must do about it.
    #[derive(Debug, thiserror::Error)]
    pub enum FetchError {
        /// 404: unknown invoice, or another issuer's. Permanent.
        #[error("Glase does not know invoice (404): unknown id or another issuer's invoice")]
        NotFound,
        /// 200 with a body we cannot accept. Permanent.
        #[error("Glase returned invoice details we cannot accept: {0}")]
        Invalid(#[from] InvalidInvoice),
        /// 200 with a body over the cap the worker reads. Permanent.
        #[error("Glase's invoice details are larger than the {limit}-byte limit")]
        TooLarge { limit: usize },
        /// A 4xx Glase does not document (400, 410, …) that retrying cannot change. Permanent.
        #[error("Glase refused the request with HTTP {0}, a status it does not document")]
        Refused(u16),
        /// 401/403: our issuer name or secret is wrong. Retried: a config mistake must not
        /// discard paid invoices.
        #[error(
            "Glase refused our credentials (HTTP {0}): check GLASE_ISSUER and the issuer secret"
        )]
        Unauthorized(u16),
        /// 408/429/5xx, timeouts, connection errors, and other statuses Glase does not
        /// document (3xx, a 2xx other than 200): a later attempt may succeed.
        #[error("Glase fetch failed transiently: {message}")]
        Transient {
            message: String,
            #[source]
            source: Option<Box<dyn std::error::Error + Send + Sync>>,
        },
    }

    impl FetchError {
        /// The code a permanent failure is rejected under (after the bounded window); `None`
        /// for a failure worth retrying.
        pub fn rejection_code(&self) -> Option<RejectionCode> {
            match self {
                Self::NotFound => Some(RejectionCode::UnknownInvoice),
                Self::Invalid(e) => Some(e.code()),
                Self::TooLarge { .. } => Some(RejectionCode::DetailsTooLarge),
                Self::Refused(_) => Some(RejectionCode::GlaseRefused),
                Self::Unauthorized(_) | Self::Transient { .. } => None,
            }
        }

        pub fn transient(message: impl Into<String>) -> Self {
            Self::Transient {
                message: message.into(),
                source: None,
            }
        }
    }

    /// Fetches a paid invoice's details from Glase.
    pub trait InvoiceSource: Send + Sync + 'static {
        fn fetch(&self, id: InvoiceId) -> impl Future<Output = Result<Invoice, FetchError>> + Send;
    }

    // ---------------------------------------------------------------- store

    /// A time-limited claim on one invoice id, held by one worker invocation.
    #[derive(Debug, Clone)]
    pub struct Lease {
        /// Unique per attempt, so only the holder can complete or release the claim.
        pub owner: String,
        /// Now, in epoch milliseconds.
        pub now_ms: i64,
        /// When the claim lapses if its holder dies (the invocation's deadline).
        pub until_ms: i64,
        /// A `REJECTED` item is claimed again only if it was rejected before this instant (epoch
        /// ms): the re-claim cool-down. `None` lifts it (an operator's or reconciliation's re-queue).
        pub rejected_before_ms: Option<i64>,
    }

    /// The answer to a claim attempt.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum Claim {
        /// We hold the lease: fetch and complete. `rejectable_answers`: how many answers that
        /// reject the invoice once the window is spent (404s, unacceptable bodies) Glase has
        /// given for it so far — the window counts these, not SQS receives.
        Acquired { rejectable_answers: u32 },
        /// The invoice is stored already: nothing to do.
        AlreadyStored,
        /// Another invocation holds a live lease until `until_ms`: try again after that.
        InProgress { until_ms: i64 },
        /// Rejected at `rejected_at_ms` (epoch ms), within the cool-down: not fetched again for
        /// a plain notification until the cool-down ends.
        RecentlyRejected { rejected_at_ms: i64 },
    }

    /// Whether a completing write went through.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Completion {
        /// Our write is in the table (also when an SDK retry found it applied already).
        Done,
        /// Someone else stored the invoice meanwhile: nothing left to do.
        Superseded,
        /// Our lease lapsed and someone else took the claim; the message is retried.
        LeaseLost,
    }

    /// A permanent refusal, recorded in the table where an operator can find it.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Rejection {
        pub code: RejectionCode,
        pub reason: String,
    }

    /// What the table holds for one invoice id.
    // Records are read one at a time, never stored in bulk: boxing the invoice would buy nothing.
    #[allow(clippy::large_enum_variant)]
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum InvoiceRecord {
        Processing {
            lease_until_ms: i64,
            attempts: u32,
            last_error: Option<String>,
        },
        Stored {
            invoice: Invoice,
            stored_at: Timestamp,
        },
        Rejected {
            rejection: Rejection,
            rejected_at: Timestamp,
            attempts: u32,
        },
    }

    /// The invoices table. Every write is conditional: together they make processing idempotent.
    pub trait InvoiceStore: Send + Sync + 'static {
        /// Takes the lease on `id` unless the invoice is stored or someone holds a live lease.
        /// A recorded rejection can be claimed again: a later successful fetch replaces it.
        /// A lease already held by `lease.owner` (a retried write that had applied) is ours.
        fn claim(
            &self,
            id: InvoiceId,
            lease: &Lease,
        ) -> impl Future<Output = Result<Claim, AdapterError>> + Send;
        /// Writes the complete invoice, if we still hold the lease.
        fn store(
            &self,
            invoice: &Invoice,
            lease: &Lease,
            stored_at: Timestamp,
        ) -> impl Future<Output = Result<Completion, AdapterError>> + Send;
        /// Records a permanent rejection, if we still hold the lease.
        fn reject(
            &self,
            id: InvoiceId,
            lease: &Lease,
            rejection: &Rejection,
            at: Timestamp,
        ) -> impl Future<Output = Result<Completion, AdapterError>> + Send;
        /// Gives the lease up after a transient failure, noting the error (and when it
        /// happened) for operators.
        fn release(
            &self,
            id: InvoiceId,
            lease: &Lease,
            error: &str,
            at: Timestamp,
        ) -> impl Future<Output = Result<(), AdapterError>> + Send;
        /// Like `release`, after an answer that rejects the invoice once the window is spent
        /// (see [`Claim::Acquired`]), and counts that answer in the item.
        fn release_rejectable(
            &self,
            id: InvoiceId,
            lease: &Lease,
            error: &str,
            at: Timestamp,
        ) -> impl Future<Output = Result<(), AdapterError>> + Send;
    }

    /// What the table holds for each id asked about: ids without an item are absent; an item
    /// this code cannot read is an error for that id alone.
    pub type InvoiceRecords = HashMap<InvoiceId, Result<InvoiceRecord, AdapterError>>;

    /// Reads many invoices of the table at once (reconciliation).
    pub trait InvoiceLookup: Send + Sync {
        /// Strongly consistent reads of `ids` (duplicates allowed).
        fn get_many(
            &self,
            ids: &[InvoiceId],
        ) -> impl Future<Output = Result<InvoiceRecords, AdapterError>> + Send;
    }

    // ---------------------------------------------------------------- events (issue 19)

    /// An event the bus did not accept: its index in the slice given, and why.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Unpublished {
        pub index: usize,
        pub reason: String,
    }

    /// Publishes invoice events (EventBridge). Any number at once: the adapter batches them
    /// within the bus's limits. Every event not accepted — a per-entry failure or a failed
    /// call — is returned, so the caller can retry it; none is dropped silently.
    pub trait EventPublisher: Send + Sync + 'static {
        fn publish(
            &self,
            events: &[crate::events::InvoiceEvent],
        ) -> impl Future<Output = Vec<Unpublished>> + Send;
    }

    // ---------------------------------------------------------------- clock

    /// Wall-clock time, injectable so lease expiry can be tested.
    pub trait Clock: Send + Sync + 'static {
        fn now(&self) -> Timestamp;
    }

    #[derive(Debug, Clone, Copy, Default)]
    pub struct SystemClock;

    impl Clock for SystemClock {
        fn now(&self) -> Timestamp {
            Timestamp::now()
        }
    }
}

#[cfg(feature = "glase")]
pub use report::*;

/// Glase's report, for reconciliation.
#[cfg(feature = "glase")]
mod report {
    use std::future::Future;

    use futures::Stream;

    use crate::domain::{Invoice, ReportError};
    use crate::reconcile::Window;

    /// Why the report could not be fetched or read.
    #[derive(Debug, thiserror::Error)]
    pub enum ReportFetchError {
        #[error(
            "Glase refused our credentials (HTTP {0}): check GLASE_ISSUER and the issuer secret"
        )]
        Unauthorized(u16),
        #[error("Glase refused the report request (HTTP {status}): {reason}")]
        Refused { status: u16, reason: String },
        #[error("Glase report request failed transiently: {0}")]
        Transient(String),
        #[error("Glase's report body is larger than {limit} bytes; fetch a shorter date range")]
        TooLarge { limit: u64 },
        #[error("Glase's report cannot be read: {0}")]
        Invalid(#[from] ReportError),
    }

    impl ReportFetchError {
        /// True when only one row is spoilt and the rest of the report still comes.
        pub fn is_row_error(&self) -> bool {
            matches!(self, Self::Invalid(e) if e.is_row_error())
        }
    }

    /// Hands days of reconciliation on, to be done later one at a time (the reconcile
    /// function's own queue: a window too large for one invocation is split by day).
    pub trait DayQueue: Send + Sync {
        /// `Ok` means the queue has every one of them.
        fn hand_on(
            &self,
            days: &[jiff::civil::Date],
        ) -> impl Future<Output = Result<(), super::AdapterError>> + Send;
    }

    /// Glase's report for a window of dates.
    pub trait ReportSource: Send + Sync {
        type Rows: Stream<Item = Result<Invoice, ReportFetchError>> + Send + Unpin;
        /// Starts the report; its rows arrive as they are read.
        fn fetch(
            &self,
            window: Window,
        ) -> impl Future<Output = Result<Self::Rows, ReportFetchError>> + Send;
    }
}
