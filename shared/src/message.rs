//! The notifications queue's message, as every sender and reader sees it (the SQS adapter
//! sends it; the worker reads it from Lambda's event, without the SDK): the body is Glase's
//! own notification, `{"invoiceId":N}`, so one parser serves both ends, and these attributes.

use crate::domain::InvoiceId;

/// The message body for `id`.
pub fn body(id: InvoiceId) -> String {
    id.to_notification()
}

/// Names who put an invoice back on the queue ([`REQUEUED_BY_RECONCILE`], [`REQUEUED_BY_CLI`]).
/// The worker lets such a message past a rejection's cool-down: reconciliation found the
/// invoice paid in Glase's report, or an operator asked for this retry.
pub const REQUEUED_ATTRIBUTE: &str = "Requeued";
pub const REQUEUED_BY_RECONCILE: &str = "reconcile";
pub const REQUEUED_BY_CLI: &str = "cli";

/// On a message the worker quarantined (an unparseable body): why.
pub const REJECTION_REASON_ATTRIBUTE: &str = "rejectionReason";
/// On a quarantined message: the original's id. A crash between the copy and the delete can
/// leave two copies; this lets `glase-invoices dlq list` (and operators) see they are one.
pub const SOURCE_MESSAGE_ID_ATTRIBUTE: &str = "sourceMessageId";

/// SQS's rule: a FIFO queue's name ends in `.fifo`. Its messages then need a group id (and a
/// deduplication id unless the queue derives one from the content).
pub fn is_fifo(queue_url: &str) -> bool {
    queue_url.ends_with(".fifo")
}
