//! get, find, list, export: reading paid invoices.

use std::io::{BufWriter, IsTerminal, Write};
use std::time::Duration;

use futures::stream::BoxStream;
use futures::StreamExt;
use glase_shared::adapters::dynamo_query::InvoiceRow;
use glase_shared::ports::{AdapterError, InvoiceRecord};
use indicatif::{ProgressBar, ProgressStyle};
use jiff::Timestamp;

use crate::args::{FindArgs, Format, GetArgs, ListArgs};
use crate::config::Context;
use crate::error::CliError;
use crate::output::{self, Printer, Totals};
use crate::{records, times};

pub fn stdout() -> BufWriter<std::io::Stdout> {
    BufWriter::new(std::io::stdout())
}

pub async fn get(ctx: &Context, args: GetArgs) -> Result<(), CliError> {
    let queries = ctx.queries().await?;
    let Some(item) = queries.get(args.invoice_id).await? else {
        return Err(CliError::NotFound(format!(
            "invoice {} not found in table {}",
            args.invoice_id,
            queries.table()
        )));
    };
    let tz = ctx.time_zone().await?;
    let record = records::item(&item);
    match ctx.format() {
        Format::Table => {
            let mut out = stdout();
            writeln!(out, "{}", output::vertical(&record, &tz))?;
            out.flush()?;
        }
        format => {
            let mut printer = Printer::new(format, records::item_view(&record), tz, stdout())?;
            printer.print(&record)?;
            printer.finish()?;
        }
    }
    Ok(())
}

pub async fn find(ctx: &Context, args: FindArgs) -> Result<(), CliError> {
    let queries = ctx.queries().await?;
    let items = queries.by_reference(&args.reference);
    let nothing = format!("no payments of reference {:?}", args.reference);
    print_paid(ctx, items, ctx.format(), nothing, None).await
}

pub async fn list(ctx: &Context, args: ListArgs) -> Result<(), CliError> {
    let (items, nothing) = paid_in_range(ctx, &args).await?;
    print_paid(ctx, items, ctx.format(), nothing, None).await
}

pub async fn export(ctx: &Context, args: ListArgs) -> Result<(), CliError> {
    if ctx.global.format.is_some_and(|f| f != Format::Csv) {
        return Err(CliError::Usage(
            "export writes CSV; for JSON lines use `glase-invoices list --format json`".into(),
        ));
    }
    let (items, nothing) = paid_in_range(ctx, &args).await?;
    let progress = std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("{spinner} {pos} invoices exported ({elapsed})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    });
    print_paid(ctx, items, Format::Csv, nothing, progress).await
}

fn purchase_second(item: &InvoiceRow) -> Option<i64> {
    match &item.record {
        InvoiceRecord::Stored { invoice, .. } => {
            Some(invoice.purchase_time.timestamp().as_second())
        }
        _ => None,
    }
}

type Items = BoxStream<'static, Result<InvoiceRow, AdapterError>>;

async fn paid_in_range(ctx: &Context, args: &ListArgs) -> Result<(Items, String), CliError> {
    let tz = ctx.time_zone().await?;
    let from = args
        .from
        .unwrap_or_else(|| times::today(&tz, Timestamp::now()));
    let to = args.to.unwrap_or(from);
    let (start, end) = times::day_range(from, to, &tz)?;
    let queries = ctx.queries().await?;
    let zone = tz.iana_name().unwrap_or("UTC");
    let days = if from == to {
        format!("on {from}")
    } else {
        format!("from {from} to {to}")
    };
    let currency = args
        .currency
        .map(|c| format!(" in {c}"))
        .unwrap_or_default();
    let nothing = format!("no invoices paid {days} ({zone}){currency}");
    Ok((queries.paid_between(start, end, args.currency), nothing))
}

/// Prints paid invoices as they arrive, then the count and total per currency: after the
/// table, or on stderr for JSON and CSV so stdout stays one record per line.
async fn print_paid(
    ctx: &Context,
    mut items: Items,
    format: Format,
    nothing: String,
    progress: Option<ProgressBar>,
) -> Result<(), CliError> {
    let tz = ctx.time_zone().await?;
    let mut printer = Printer::new(format, records::paid_view(), tz, stdout())?;
    let mut totals = Totals::default();
    // Items arrive in purchase order; those paid in the same second come in no particular
    // order, so they are held back and printed by invoice id, for output that is repeatable.
    let mut same_second: Vec<InvoiceRow> = Vec::new();
    let flush = |held: &mut Vec<InvoiceRow>, printer: &mut Printer<_>| {
        held.sort_by_key(|i| i.id);
        for item in held.drain(..) {
            printer.print(&records::item(&item))?;
        }
        Ok::<_, CliError>(())
    };
    while let Some(item) = items.next().await {
        let item = item?;
        // The indexes are sparse: only stored invoices carry their keys.
        if let InvoiceRecord::Stored { invoice, .. } = &item.record {
            totals.add(invoice.currency, &invoice.amount);
        }
        if same_second
            .first()
            .is_some_and(|held| purchase_second(held) != purchase_second(&item))
        {
            flush(&mut same_second, &mut printer)?;
        }
        same_second.push(item);
        if let Some(bar) = &progress {
            bar.inc(1);
        }
    }
    flush(&mut same_second, &mut printer)?;
    let count = printer.finish()?;
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    if count == 0 {
        return Err(CliError::NothingMatched(nothing));
    }
    if format == Format::Table {
        let mut out = stdout();
        writeln!(out, "\n{}", totals.render())?;
        out.flush()?;
    } else {
        eprintln!("{}", totals.render());
    }
    Ok(())
}
