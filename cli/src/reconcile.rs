//! `glase-invoices reconcile`: the scheduled reconciliation, on demand, printing what differs.

use std::io::stdout;

use glase_shared::adapters::ssm::auth_token;
use glase_shared::adapters::{DynamoStore, GlaseReport, SqsQueue};
use glase_shared::config::Env;
use glase_shared::reconcile::{Finding, Options, Window};
use glase_shared::telemetry::error_chain;
use jiff::Timestamp;

use crate::args::ReconcileArgs;
use crate::config::Context;
use crate::error::CliError;
use crate::output::{Printer, Record, Value, View};

const INVOICE_ID: &str = "invoiceId";
const PROBLEM: &str = "problem";
const ACTION: &str = "action";
const DETAIL: &str = "detail";

pub async fn reconcile(ctx: &Context, args: ReconcileArgs) -> Result<(), CliError> {
    let window = Window::new(args.from, args.to.unwrap_or(args.from))
        .map_err(|e| CliError::Usage(e.to_string()))?;
    // The worker's own variables and parser: the same issuer, secret and base URL.
    let glase = Env::process()
        .glase()
        .map_err(|e| CliError::config(e.to_string()))?;
    let token = auth_token(&glase, &ctx.sdk)
        .await
        .map_err(|e| CliError::config(e.to_string()))?;
    let source = GlaseReport::new(&glase, token)
        .map_err(|e| CliError::failed(format!("could not build the HTTP client: {e}")))?;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&ctx.sdk), ctx.table().await?);
    let queue = SqsQueue::new(ctx.sqs(), ctx.queue_url().await?);
    let options = Options::new(Timestamp::now()).dry_run(args.dry_run);

    let view = View {
        columns: vec![INVOICE_ID, PROBLEM, ACTION, DETAIL],
        table_columns: vec![INVOICE_ID, PROBLEM, ACTION, DETAIL],
    };
    let tz = ctx.time_zone().await?;
    let mut printer = Printer::new(ctx.format(), view, tz, stdout())?;
    // Every finding printed as it comes: the CLI holds none, whatever the report's size. Day by
    // day, as the function does: a day that fails costs only itself.
    let mut printed = Ok(());
    let days = glase_shared::reconcile::reconcile_days(
        &source,
        &store,
        &queue,
        window,
        &options,
        &mut |finding| {
            if printed.is_ok() {
                printed = printer.print(&record(finding));
            }
        },
        None,
    )
    .await;
    printed?;
    printer.finish()?;
    let found = &days.found;
    eprintln!(
        "{} days, {} report rows, {} matched, {} in progress, {} missing, {} {}, {} need a person{}",
        days.done.len() + days.failed.len(),
        found.rows,
        found.matched,
        found.in_progress,
        found.missing,
        if args.dry_run {
            found.would_requeue
        } else {
            found.requeued
        },
        if args.dry_run {
            "would be re-queued"
        } else {
            "re-queued"
        },
        found.mismatches + found.unreadable,
        if args.dry_run { " (dry run)" } else { "" },
    );
    if !days.failed.is_empty() {
        for (day, cause) in &days.failed {
            eprintln!("{day}: stopped: {}", error_chain(cause));
        }
        let again = days
            .failed
            .iter()
            .map(|(day, _)| format!("glase-invoices reconcile --from {day} --to {day}"))
            .collect::<Vec<_>>()
            .join("\n  ");
        return Err(CliError::failed(format!(
            "reconciliation stopped on {} of {} days; the others are done. Run again:\n  {again}",
            days.failed.len(),
            days.done.len() + days.failed.len(),
        )));
    }
    if found.needs_human() {
        return Err(CliError::NothingMatched(String::new()));
    }
    Ok(())
}

/// One finding as a printed record.
fn record(finding: &Finding) -> Record {
    let action = serde_json::to_value(&finding.action)
        .ok()
        .and_then(|v| v["action"].as_str().map(str::to_owned))
        .unwrap_or_default();
    vec![
        (
            INVOICE_ID,
            finding
                .invoice_id
                .map_or(Value::text(""), |id| Value::number(id.get())),
        ),
        (PROBLEM, Value::text(finding.problem.kind())),
        (ACTION, Value::text(action)),
        (DETAIL, Value::text(finding.problem.detail())),
    ]
}
