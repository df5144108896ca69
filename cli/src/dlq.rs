//! dlq list and dlq redrive.
//!
//! Listing receives every message and makes it visible again at once. Redriving uses SQS's
//! StartMessageMoveTask where the service has it; otherwise (and for one invoice) it receives,
//! sends to the queue, and only then deletes: an interruption can leave a message in both
//! queues — a duplicate the worker stores once — but never in neither.

use std::time::Duration;

use aws_sdk_sqs::types::QueueAttributeName;
use glase_shared::adapters::dynamo_query::InvoiceQueries;
use glase_shared::adapters::sqs::{Received, Redrive, Scan};
use glase_shared::adapters::SqsQueue;
use glase_shared::message::REQUEUED_BY_CLI;
use glase_shared::ports::InvoiceRecord;
use glase_shared::InvoiceId;
use jiff::Timestamp;

use crate::args::{DlqListArgs, RedriveArgs};
use crate::config::Context;
use crate::error::{self, CliError};
use crate::output::{Printer, Record, Value, View};
use crate::query::stdout;

fn first_seen(m: &Received) -> Option<Timestamp> {
    m.sent_at_ms
        .and_then(|ms| Timestamp::from_millisecond(ms).ok())
}

pub async fn list(ctx: &Context, args: DlqListArgs) -> Result<(), CliError> {
    let url = ctx.dlq_url().await?;
    let dlq = SqsQueue::new(ctx.sqs(), &url);
    let mut messages: Vec<Received> = Vec::new();
    let mut scan = Scan::start(&dlq, args.visibility_timeout).await?;
    let received = async {
        while messages.len() < args.max {
            let fresh = scan.next().await?;
            if fresh.is_empty() {
                break;
            }
            messages.extend(fresh);
        }
        Ok::<_, CliError>(())
    }
    .await;
    // Give back whatever was received, even after a failure: listing must not consume.
    let released = scan.finish().await;
    received?;
    released?;

    messages.sort_by(|a, b| {
        (first_seen(a), a.invoice.map(InvoiceId::get), &a.message_id).cmp(&(
            first_seen(b),
            b.invoice.map(InvoiceId::get),
            &b.message_id,
        ))
    });
    // With the table, a dead letter without the worker's reason gets the invoice's own story.
    let queries = match ctx.queries().await {
        Ok(q) => Some(q),
        Err(CliError::Config(_)) => None,
        Err(e) => return Err(e),
    };
    let view = View {
        columns: vec![
            "invoiceId",
            "receives",
            "firstSeen",
            "reason",
            "messageId",
            "body",
        ],
        table_columns: vec!["invoiceId", "receives", "firstSeen", "reason"],
    };
    let mut printer = Printer::new(ctx.format(), view, ctx.time_zone().await?, stdout())?;
    for m in &messages {
        let mut record: Record = Vec::new();
        if let Some(id) = m.invoice {
            record.push(("invoiceId", Value::number(id)));
        }
        if let Some(n) = m.receives {
            record.push(("receives", Value::number(n)));
        }
        if let Some(t) = first_seen(m) {
            record.push(("firstSeen", Value::Time(t)));
        }
        if let Some(reason) = reason(m, queries.as_ref()).await? {
            record.push(("reason", Value::text(reason)));
        }
        record.push(("messageId", Value::text(m.message_id.clone())));
        if m.invoice.is_none() {
            record.push(("body", Value::text(m.body.clone())));
        }
        printer.print(&record)?;
    }
    if printer.finish()? == 0 {
        return Err(CliError::NothingMatched(format!(
            "the dead-letter queue is empty ({url})"
        )));
    }
    Ok(())
}

async fn reason(
    m: &Received,
    queries: Option<&InvoiceQueries>,
) -> Result<Option<String>, CliError> {
    if let Some(reason) = &m.rejection_reason {
        return Ok(Some(reason.clone()));
    }
    let (Some(id), Some(queries)) = (m.invoice, queries) else {
        return Ok(None);
    };
    Ok(Some(match queries.get(id).await? {
        None => "no item in the table".to_owned(),
        Some(item) => match item.record {
            InvoiceRecord::Stored { .. } => {
                "already stored (a redrive only acknowledges it)".into()
            }
            InvoiceRecord::Rejected { rejection, .. } => {
                format!("rejected {}: {}", rejection.code, rejection.reason)
            }
            InvoiceRecord::Processing { last_error, .. } => last_error
                .or(item.last_error)
                .map(|e| format!("last error: {e}"))
                .unwrap_or_else(|| "PROCESSING, no error recorded".into()),
        },
    }))
}

pub async fn redrive(ctx: &Context, args: RedriveArgs) -> Result<(), CliError> {
    let dlq = ctx.dlq_url().await?;
    let queue = ctx.queue_url().await?;
    let sqs = ctx.sqs();
    if args.all && !args.no_move_task {
        match move_task(&sqs, &dlq, &queue).await {
            Ok(()) => return Ok(()),
            Err(MoveTask::Failed(e)) => return Err(e),
            Err(MoveTask::Unsupported(why)) => eprintln!(
                "glase-invoices: StartMessageMoveTask is not available ({why}); moving the messages one by one"
            ),
        }
    }
    move_one_by_one(ctx, &sqs, &dlq, &queue, &args).await
}

enum MoveTask {
    /// The service refused the task (no such action locally, or the queue is not a DLQ).
    Unsupported(String),
    Failed(CliError),
}

async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> Result<String, CliError> {
    sqs.get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| error::aws(&format!("GetQueueAttributes {url}"), e))?
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn))
        .cloned()
        .ok_or_else(|| CliError::failed(format!("{url} has no QueueArn")))
}

async fn move_task(sqs: &aws_sdk_sqs::Client, dlq: &str, queue: &str) -> Result<(), MoveTask> {
    let source = queue_arn(sqs, dlq).await.map_err(MoveTask::Failed)?;
    let destination = queue_arn(sqs, queue).await.map_err(MoveTask::Failed)?;
    let started = sqs
        .start_message_move_task()
        .source_arn(&source)
        // Explicit: messages the worker quarantined itself have no "original source" queue.
        .destination_arn(&destination)
        .send()
        .await;
    if let Err(e) = started {
        return Err(if e.as_service_error().is_some() {
            MoveTask::Unsupported(glase_shared::adapters::describe_sdk_error(&e))
        } else {
            MoveTask::Failed(error::aws("StartMessageMoveTask", e))
        });
    }
    eprintln!("glase-invoices: moving every message from {dlq} to {queue} (StartMessageMoveTask)…");
    loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let tasks = sqs
            .list_message_move_tasks()
            .source_arn(&source)
            .max_results(1)
            .send()
            .await
            .map_err(|e| MoveTask::Failed(error::aws("ListMessageMoveTasks", e)))?;
        let Some(task) = tasks.results().first() else {
            continue;
        };
        let moved = task.approximate_number_of_messages_moved();
        match task.status().unwrap_or_default() {
            "RUNNING" | "CANCELLING" => continue,
            "COMPLETED" => {
                println!("moved {moved} messages to {queue}");
                return Ok(());
            }
            other => {
                return Err(MoveTask::Failed(CliError::failed(format!(
                    "the move task ended {other} after {moved} messages: {}",
                    task.failure_reason().unwrap_or("no reason given")
                ))))
            }
        }
    }
}

async fn move_one_by_one(
    ctx: &Context,
    sqs: &aws_sdk_sqs::Client,
    dlq: &str,
    queue: &str,
    args: &RedriveArgs,
) -> Result<(), CliError> {
    let plan = Redrive {
        only: args.invoice,
        visibility_timeout: args.visibility_timeout,
        by: REQUEUED_BY_CLI,
    };
    let sent = |batches| async move {
        if args.pause_after_batches == Some(batches) {
            eprintln!("glase-invoices: paused after sending batch {batches}, before deleting it");
            std::future::pending::<()>().await;
        }
    };
    let redriven = SqsQueue::new(sqs.clone(), queue)
        .redrive(&SqsQueue::new(sqs.clone(), dlq), plan, sent)
        .await?;
    let (moved, failed) = (redriven.moved, redriven.failed);

    let view = View {
        columns: vec!["invoiceId", "result"],
        table_columns: vec!["invoiceId", "result"],
    };
    let mut printer = Printer::new(ctx.format(), view, ctx.time_zone().await?, stdout())?;
    for id in &moved {
        printer.print(&vec![
            ("invoiceId", Value::number(id)),
            ("result", Value::text("moved")),
        ])?;
    }
    printer.finish()?;
    eprintln!(
        "glase-invoices: moved {} to {queue}; {} left in {dlq}",
        error::plural(moved.len(), "message", "messages"),
        redriven.left
    );
    if !failed.is_empty() {
        return Err(CliError::failed(format!(
            "{} messages could not be sent and stay in the dead-letter queue: {}",
            failed.len(),
            failed.join("; ")
        )));
    }
    if moved.is_empty() {
        return Err(CliError::NothingMatched(match args.invoice {
            Some(id) => format!("no message for invoice {id} in the dead-letter queue"),
            None => "no redrivable message in the dead-letter queue".into(),
        }));
    }
    Ok(())
}
