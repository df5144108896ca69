//! rejected, stuck, retry: the invoices that need an operator.

use futures::StreamExt;
use glase_shared::adapters::dynamo_query::OpenState;
use glase_shared::adapters::SqsQueue;
use glase_shared::message::REQUEUED_BY_CLI;
use glase_shared::ports::InvoiceRecord;
use jiff::Timestamp;

use crate::args::{RejectedArgs, RetryArgs, StuckArgs};
use crate::config::Context;
use crate::error::CliError;
use crate::output::{Printer, Record, Value, View};
use crate::query::stdout;
use crate::{records, times};

pub async fn rejected(ctx: &Context, args: RejectedArgs) -> Result<(), CliError> {
    let tz = ctx.time_zone().await?;
    let since = args
        .since
        .as_deref()
        .map(|s| times::parse_since(s, &tz, Timestamp::now()))
        .transpose()?;
    let queries = ctx.queries().await?;
    let mut items = queries.open(OpenState::Rejected, since, None);
    let mut printer = Printer::new(ctx.format(), records::rejected_view(), tz.clone(), stdout())?;
    while let Some(item) = items.next().await {
        printer.print(&records::item(&item?))?;
    }
    if printer.finish()? == 0 {
        let since = since
            .map(|t| format!(" since {}", times::display(t, &tz)))
            .unwrap_or_default();
        return Err(CliError::NothingMatched(format!(
            "no rejected invoices{since}"
        )));
    }
    Ok(())
}

pub async fn stuck(ctx: &Context, args: StuckArgs) -> Result<(), CliError> {
    let tz = ctx.time_zone().await?;
    let span = times::parse_span(&args.older_than, "--older-than")?;
    let cutoff = times::before(Timestamp::now(), span, &tz)?;
    let queries = ctx.queries().await?;
    let mut items = queries.open(OpenState::Processing, None, Some(cutoff));
    let mut printer = Printer::new(ctx.format(), records::stuck_view(), tz, stdout())?;
    while let Some(item) = items.next().await {
        printer.print(&records::item(&item?))?;
    }
    if printer.finish()? == 0 {
        return Err(CliError::NothingMatched(format!(
            "no invoices stuck in PROCESSING for more than {}",
            args.older_than.trim()
        )));
    }
    Ok(())
}

pub async fn retry(ctx: &Context, args: RetryArgs) -> Result<(), CliError> {
    let queue_url = ctx.queue_url().await?;
    // The table is optional here: with it, each line says what the invoice was.
    let queries = match ctx.queries().await {
        Ok(q) => Some(q),
        Err(CliError::Config(_)) => None,
        Err(e) => return Err(e),
    };
    let mut states = Vec::with_capacity(args.invoice_ids.len());
    for id in &args.invoice_ids {
        let state = match &queries {
            None => None,
            Some(q) => Some(match q.get(*id).await? {
                None => "absent".to_owned(),
                Some(item) => match item.record {
                    InvoiceRecord::Stored { .. } => "STORED".to_owned(),
                    InvoiceRecord::Processing { .. } => "PROCESSING".to_owned(),
                    InvoiceRecord::Rejected { rejection, .. } => {
                        format!("REJECTED {}", rejection.code)
                    }
                },
            }),
        };
        states.push(state);
    }
    let outcomes = SqsQueue::new(ctx.sqs(), &queue_url)
        .requeue_each(&args.invoice_ids, REQUEUED_BY_CLI)
        .await?;
    let view = View {
        columns: vec!["invoiceId", "state", "result"],
        table_columns: vec!["invoiceId", "state", "result"],
    };
    let mut printer = Printer::new(ctx.format(), view, ctx.time_zone().await?, stdout())?;
    let mut failures = 0;
    for ((id, state), outcome) in args.invoice_ids.iter().zip(states).zip(&outcomes) {
        let mut record: Record = vec![("invoiceId", Value::number(id))];
        if let Some(state) = state {
            record.push(("state", Value::text(state)));
        }
        let result = match outcome {
            Ok(()) => "queued".to_owned(),
            Err(reason) => {
                failures += 1;
                format!("not queued: {reason}")
            }
        };
        record.push(("result", Value::text(result)));
        printer.print(&record)?;
    }
    printer.finish()?;
    if failures > 0 {
        return Err(CliError::failed(format!(
            "{failures} of {} invoices could not be queued",
            outcomes.len()
        )));
    }
    Ok(())
}
