//! `events`: the InvoicePaid / InvoiceRejected events a rule on the stack's bus delivers to an
//! SQS queue (docs/events.md). Received with the same [`Scan`] as `dlq list`, so each message
//! is shown once; what is not deleted (everything, without `--delete`) is made visible again
//! at once. Bodies are printed before they are deleted: a failure can show an event twice,
//! never lose one.

use std::time::{Duration, Instant};

use glase_shared::adapters::sqs::{Received, Scan};
use glase_shared::adapters::SqsQueue;
use glase_shared::events::{InvoiceEvent, EVENT_SOURCE};
use jiff::Timestamp;

use crate::args::EventsArgs;
use crate::config::Context;
use crate::error::{self, CliError};
use crate::output::{Printer, Record, Value, View};
use crate::query::stdout;

/// What one message turned out to be.
enum Body {
    Event(InvoiceEvent),
    /// Why it is not one of the stack's events.
    Other(String),
}

/// An EventBridge envelope (`source`, `detail-type`, `detail`) holding one of the domain's events.
fn parse(body: &str) -> Body {
    let envelope: serde_json::Value = match serde_json::from_str(body) {
        Ok(v) => v,
        Err(e) => return Body::Other(format!("not JSON: {e}")),
    };
    let Some(detail_type) = envelope.get("detail-type").and_then(|t| t.as_str()) else {
        return Body::Other("no detail-type: not an EventBridge event".into());
    };
    let source = envelope.get("source").and_then(|s| s.as_str());
    if source.is_some_and(|s| s != EVENT_SOURCE) {
        return Body::Other(format!("source {source:?}, not {EVENT_SOURCE}"));
    }
    let detail = envelope.get("detail").cloned().unwrap_or_default();
    match InvoiceEvent::from_detail(detail_type, detail) {
        Ok(Some(event)) => Body::Event(event),
        Ok(None) => Body::Other(format!("detail-type {detail_type:?}")),
        Err(e) => Body::Other(format!("{detail_type} detail unreadable: {e}")),
    }
}

fn time(text: &str) -> Value {
    text.parse::<Timestamp>()
        .map(Value::Time)
        .unwrap_or_else(|_| Value::text(text))
}

fn record(event: &InvoiceEvent, message_id: &str) -> Record {
    let mut r: Record = vec![
        ("detailType", Value::text(event.detail_type())),
        ("invoiceId", Value::number(event.invoice_id())),
    ];
    match event {
        InvoiceEvent::Paid(e) => {
            // Exact text as published: never through a number.
            r.push(("amount", Value::Amount(e.amount.clone())));
            r.push(("currency", Value::text(&e.currency)));
            r.push(("reference", Value::text(&e.reference)));
            r.push(("storedAt", time(&e.stored_at)));
        }
        InvoiceEvent::Rejected(e) => {
            r.push(("rejectionCode", Value::text(e.rejection_code)));
            r.push(("rejectionReason", Value::text(&e.rejection_reason)));
            r.push(("rejectedAt", time(&e.rejected_at)));
        }
    }
    r.push(("messageId", Value::text(message_id)));
    r
}

pub async fn events(ctx: &Context, args: EventsArgs) -> Result<(), CliError> {
    let url = ctx.events_queue_url(&args.events_queue_url).await?;
    let queue = SqsQueue::new(ctx.sqs(), &url);
    let waited = Instant::now();
    let wait = Duration::from_secs(args.wait);
    loop {
        let mut scan = Scan::start(&queue, args.visibility_timeout).await?;
        let listed = list(ctx, &queue, &mut scan, &args).await;
        // Give back whatever was received and not deleted, even after a failure.
        let released = scan.finish().await;
        let (events, others) = listed?;
        released?;
        if events > 0 || !others.is_empty() || waited.elapsed() >= wait {
            return report(&url, events, &others);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Receives up to `--max` events, prints them, deletes them with `--delete`. Returns how
/// many were printed and `message id: why` of each body that is not an event.
async fn list(
    ctx: &Context,
    queue: &SqsQueue,
    scan: &mut Scan<'_>,
    args: &EventsArgs,
) -> Result<(usize, Vec<String>), CliError> {
    let mut events: Vec<(Received, InvoiceEvent)> = Vec::new();
    let mut others = Vec::new();
    while events.len() < args.max {
        let fresh = scan.next().await?;
        if fresh.is_empty() {
            break;
        }
        for m in fresh {
            match parse(&m.body) {
                Body::Event(e) if events.len() < args.max => events.push((m, e)),
                // Past --max: left on the queue, released by the scan.
                Body::Event(_) => {}
                Body::Other(why) => others.push(format!("{}: {why}", m.message_id)),
            }
        }
    }
    // Arrival order; the invoice within one millisecond, so the order is stable.
    events.sort_by_key(|(m, e)| (m.sent_at_ms, e.invoice_id(), m.message_id.clone()));

    let view = View {
        columns: vec![
            "detailType",
            "invoiceId",
            "amount",
            "currency",
            "reference",
            "storedAt",
            "rejectionCode",
            "rejectionReason",
            "rejectedAt",
            "messageId",
        ],
        table_columns: vec![
            "detailType",
            "invoiceId",
            "amount",
            "currency",
            "reference",
            "storedAt",
            "rejectionCode",
        ],
    };
    let mut printer = Printer::new(ctx.format(), view, ctx.time_zone().await?, stdout())?;
    for (m, event) in &events {
        printer.print(&record(event, &m.message_id))?;
    }
    let printed = printer.finish()?;
    if args.delete {
        let shown: Vec<&Received> = events.iter().map(|(m, _)| m).collect();
        queue.delete(&shown).await?;
        for m in shown {
            scan.deleted(&m.message_id);
        }
    }
    Ok((printed, others))
}

fn report(url: &str, events: usize, others: &[String]) -> Result<(), CliError> {
    if !others.is_empty() {
        eprintln!(
            "glase-invoices: {} not an invoice event (left on the queue): {}",
            error::plural(others.len(), "message is", "messages are"),
            others.join("; ")
        );
    }
    if events == 0 {
        return Err(CliError::NothingMatched(format!(
            "no invoice events on {url}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn why(body: &str) -> String {
        match parse(body) {
            Body::Other(why) => why,
            Body::Event(e) => panic!("{body} read as {e:?}"),
        }
    }

    #[test]
    fn the_published_example_reads_as_an_invoice_paid_with_its_exact_amount() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../events/eventbridge-invoice-paid.json"
        );
        let body = std::fs::read_to_string(path).unwrap();
        let Body::Event(InvoiceEvent::Paid(paid)) = parse(&body) else {
            panic!("not read as InvoicePaid")
        };
        assert_eq!((paid.invoice_id, paid.amount.as_str()), (576, "59.99"));
    }

    #[test]
    fn bodies_that_are_not_the_stacks_events_say_why() {
        assert!(why("not json").starts_with("not JSON"));
        assert!(why(r#"{"invoiceId":1}"#).starts_with("no detail-type"));
        assert!(
            why(r#"{"source":"other","detail-type":"InvoicePaid","detail":{}}"#).contains("source")
        );
        assert_eq!(
            why(r#"{"source":"glase-invoices","detail-type":"Other","detail":{}}"#),
            "detail-type \"Other\""
        );
        assert!(
            why(r#"{"detail-type":"InvoicePaid","detail":{"invoiceId":1}}"#)
                .starts_with("InvoicePaid detail unreadable")
        );
    }
}
