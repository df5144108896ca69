//! The command line: global options and one subcommand per task. Adding a command is one
//! variant in [`Command`], its `Args` struct, and one arm in `crate::run`.

use clap::{Args, Parser, Subcommand, ValueEnum};
use glase_shared::{Currency, InvoiceId};
use jiff::civil::Date;

const AFTER_HELP: &str = "\
Configuration (the first found wins):
  flags  >  TABLE_NAME, QUEUE_URL, DEAD_LETTER_QUEUE_URL, GLASE_TIME_ZONE  >  --stack outputs
  AWS: --profile/--region or AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL[_DYNAMODB|_SQS|…] and the
  usual credentials, as the AWS CLI reads them.

Exit status: 0 ok, 1 not found / nothing matched, 2 usage, 3 configuration, 4 AWS or data failure.

Examples:
  glase-invoices --stack glase-invoices list --from 2026-06-01 --to 2026-06-30
  glase-invoices get 25153
  TABLE_NAME=glase-invoices AWS_ENDPOINT_URL=http://127.0.0.1:8000 glase-invoices list";

#[derive(Parser, Debug)]
#[command(
    name = "glase-invoices",
    version,
    about = "Query the paid invoices and operate the glase-invoices stack, deployed or local",
    after_help = AFTER_HELP
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Debug, Clone)]
pub struct Global {
    /// Read the table and queue names from this CloudFormation stack's outputs.
    #[arg(long, global = true, env = "GLASE_STACK", value_name = "NAME")]
    pub stack: Option<String>,
    /// The invoices table [default: the stack's TableName output].
    #[arg(long, global = true, env = "TABLE_NAME", value_name = "NAME")]
    pub table: Option<String>,
    /// The notifications queue [default: the stack's QueueUrl output].
    #[arg(long, global = true, env = "QUEUE_URL", value_name = "URL")]
    pub queue_url: Option<String>,
    /// The dead-letter queue [default: the stack's DeadLetterQueueUrl output].
    #[arg(long, global = true, env = "DEAD_LETTER_QUEUE_URL", value_name = "URL")]
    pub dlq_url: Option<String>,
    /// Time zone of dates on the command line and of times in tables [default: the stack's
    /// GlaseTimeZone output, else UTC].
    #[arg(long, global = true, env = "GLASE_TIME_ZONE", value_name = "IANA ZONE")]
    pub tz: Option<String>,
    /// AWS profile (from ~/.aws/config), as in the AWS CLI.
    #[arg(long, global = true, env = "AWS_PROFILE", value_name = "NAME")]
    pub profile: Option<String>,
    /// AWS region, as in the AWS CLI.
    #[arg(long, global = true, env = "AWS_REGION", value_name = "REGION")]
    pub region: Option<String>,
    /// Send every AWS call to this endpoint (e.g. a local service), as in the AWS CLI.
    #[arg(long, global = true, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// Output format [default: table on a terminal, json otherwise].
    #[arg(long, short = 'o', alias = "output", global = true, value_enum)]
    pub format: Option<Format>,
    /// Items per DynamoDB Query page (pagination is followed to the end either way).
    #[arg(long, global = true, hide = true)]
    pub page_size: Option<i32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned columns, for people.
    Table,
    /// One JSON object per line, with the table's attribute names.
    Json,
    /// RFC 4180 CSV with a header of the attribute names.
    Csv,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Show one invoice's whole item: stored, rejected (code, reason) or in flight (attempts, last error).
    #[command(after_help = "Examples:
  glase-invoices get 25153
  glase-invoices get 25153 --format json | jq -r .amount

Exit status 1 when the table has no item for the id.")]
    Get(GetArgs),
    /// Every payment of one of your references, in purchase order.
    #[command(after_help = "Examples:
  glase-invoices find --reference 586930/05/2015
  glase-invoices find --reference order-1234 --format csv > order-1234.csv")]
    Find(FindArgs),
    /// Paid invoices in a date range, in purchase order, with a count and total per currency.
    #[command(
        after_help = "Dates are whole days in --tz (GLASE_TIME_ZONE, else the stack's zone, else UTC);
both ends are included.

Examples:
  glase-invoices list                                   # today
  glase-invoices list --from 2026-06-01 --to 2026-06-30 --currency GBP
  glase-invoices list --from 2026-06-01 --tz Europe/Stockholm --format json

With --format json or csv the totals go to stderr, so stdout stays one record per line.
Exit status 1 when nothing matched."
    )]
    List(ListArgs),
    /// The same as list, as CSV for accounting (a progress bar on stderr when it is a terminal).
    #[command(after_help = "Examples:
  glase-invoices export --from 2026-06-01 --to 2026-06-30 > june.csv
  glase-invoices export --from 2026-06-01 --to 2026-06-30 --currency EUR --tz Europe/Stockholm > june-eur.csv")]
    Export(ListArgs),
    /// Invoices Glase would not give us (unknown id, invalid, not paid), with code and reason.
    #[command(after_help = "Examples:
  glase-invoices rejected
  glase-invoices rejected --since 2026-06-01
  glase-invoices rejected --since 24h --format json

After fixing the cause (e.g. the issuer name), `glase-invoices retry <id>…` re-queues them.
Exit status 1 when there are none.")]
    Rejected(RejectedArgs),
    /// Invoices still PROCESSING that no worker has claimed for a while, with attempts and last error.
    #[command(
        after_help = "An invoice is stuck when it is PROCESSING and its last claim is older than
--older-than: its fetches keep failing (see lastError) and it waits for its next retry, or its
message was dead-lettered (see `glase-invoices dlq list`).

Examples:
  glase-invoices stuck
  glase-invoices stuck --older-than 2h

Exit status 1 when there are none."
    )]
    Stuck(StuckArgs),
    /// Inspect and redrive the dead-letter queue.
    #[command(subcommand)]
    Dlq(DlqCommand),
    /// Compare Glase's report of paid invoices with the table; re-queue what is missing,
    /// rejected or stuck; report amount/currency/reference mismatches (never "fixed").
    #[command(
        after_help = "Needs GLASE_BASE_URL, GLASE_ISSUER and GLASE_SECRET (or GLASE_SECRET_PARAMETER),
as the worker reads them, plus the table and queue (flags, variables or --stack).

Examples:
  glase-invoices --stack glase-invoices reconcile --from 2026-06-01 --to 2026-06-03 --dry-run
  glase-invoices reconcile --from 2026-06-01 --to 2026-06-30 --format csv > june-differences.csv

Exit status 0 when nothing was found or everything found was re-queued; 1 when a mismatch (or an
unreadable row or item) needs a person; 4 when the report or the table could not be read."
    )]
    Reconcile(ReconcileArgs),
    /// Queue depth and age, messages in flight, dead letters, today's invoices and rejections, alarms.
    #[command(after_help = "Examples:
  glase-invoices --stack glase-invoices status
  glase-invoices status --format json

The age of the oldest message and the alarms come from CloudWatch: only with --stack.")]
    Status,
    /// Queue invoices for the worker again, e.g. after fixing a rejection's cause.
    #[command(
        after_help = "Each id is sent as {\"invoiceId\":N} with the message attribute Requeued=cli.
The worker's idempotency keeps this safe: a stored invoice is acknowledged without a Glase call.

Examples:
  glase-invoices retry 25153
  glase-invoices retry 25153 25154 25160"
    )]
    Retry(RetryArgs),
    /// The InvoicePaid / InvoiceRejected events a rule on the stack's bus delivers to a queue.
    #[command(
        after_help = "The stack has no such queue: add a rule on its bus (output EventBusName, see
docs/events.md) that targets a queue of yours, and name it with --events-queue-url or
EVENTS_QUEUE_URL. Against local endpoints (AWS_ENDPOINT_URL[_SQS], --endpoint-url) the default
is make dev's queue glase-invoices-events.

Each message is received once and, without --delete, made visible again at once. With --delete
the events printed are deleted after they are printed; bodies that are not invoice events are
counted on stderr with their message ids and always left on the queue.

Examples:
  glase-invoices events                                  # after make dev / make demo
  glase-invoices events --events-queue-url https://sqs.eu-west-1.amazonaws.com/123456789012/my-invoice-events
  glase-invoices events --wait 20 --max 10 --delete --format json

Exit status 1 when the queue holds no invoice event."
    )]
    Events(EventsArgs),
}

#[derive(Args, Debug)]
pub struct GetArgs {
    /// Glase's invoice id.
    pub invoice_id: InvoiceId,
}

#[derive(Args, Debug)]
pub struct FindArgs {
    /// Your own invoice reference, as Glase sent it.
    #[arg(long, short = 'r')]
    pub reference: String,
}

#[derive(Args, Debug)]
pub struct ListArgs {
    /// First day, YYYY-MM-DD [default: today].
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub from: Option<Date>,
    /// Last day, included, YYYY-MM-DD [default: --from].
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub to: Option<Date>,
    /// Only this currency, e.g. GBP.
    #[arg(long)]
    pub currency: Option<Currency>,
}

#[derive(Args, Debug)]
pub struct ReconcileArgs {
    /// First day of the report, YYYY-MM-DD (Glase's dates).
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub from: Date,
    /// Last day, included [default: --from].
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub to: Option<Date>,
    /// Show what would be re-queued without sending anything.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Args, Debug)]
pub struct RejectedArgs {
    /// Only rejections since then: a date (YYYY-MM-DD, in --tz), an instant
    /// (2026-06-01T12:00:00Z) or a span back from now (24h, 7d).
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
}

#[derive(Args, Debug)]
pub struct StuckArgs {
    /// How long since the last claim counts as stuck (15m, 2h, 1d).
    #[arg(long, default_value = "15m", value_name = "SPAN")]
    pub older_than: String,
}

#[derive(Args, Debug)]
pub struct RetryArgs {
    /// Glase invoice ids.
    #[arg(required = true, num_args = 1..)]
    pub invoice_ids: Vec<InvoiceId>,
}

#[derive(Args, Debug)]
pub struct EventsArgs {
    /// The queue a rule on the bus targets [default: make dev's glase-invoices-events when
    /// the AWS endpoints are local].
    #[arg(long, env = "EVENTS_QUEUE_URL", value_name = "URL")]
    pub events_queue_url: Option<String>,
    /// Stop after this many events.
    #[arg(long, default_value_t = 1000)]
    pub max: usize,
    /// While the queue is empty, wait up to this many seconds for events to arrive.
    #[arg(long, default_value_t = 0, value_name = "SECS")]
    pub wait: u64,
    /// Delete the events printed (other bodies are left on the queue).
    #[arg(long)]
    pub delete: bool,
    /// Seconds a received message stays hidden before it is made visible again.
    #[arg(long, default_value_t = 30, hide = true)]
    pub visibility_timeout: i32,
}

#[derive(Subcommand, Debug)]
pub enum DlqCommand {
    /// What is in the dead-letter queue, without consuming it.
    #[command(
        after_help = "Each message is received and made visible again at once, so nothing is consumed.
reason is the worker's rejectionReason (malformed messages), else the invoice's last error in
the table.

Examples:
  glase-invoices dlq list
  glase-invoices dlq list --format json

Exit status 1 when the queue is empty."
    )]
    List(DlqListArgs),
    /// Move dead-lettered notifications back to the queue.
    #[command(
        after_help = "--all uses SQS's StartMessageMoveTask where the service has it. Otherwise (and
for --invoice) each message is received, sent to the queue ({\"invoiceId\":N}, Requeued=cli) and
only then deleted: an interruption can duplicate a message, never lose one, and the worker
stores a duplicate once. Unparseable messages stay in the dead-letter queue.

Examples:
  glase-invoices dlq redrive --invoice 25153
  glase-invoices dlq redrive --all

Exit status 1 when no message matched."
    )]
    Redrive(RedriveArgs),
}

#[derive(Args, Debug)]
pub struct DlqListArgs {
    /// Stop after this many messages.
    #[arg(long, default_value_t = 1000)]
    pub max: usize,
    /// Seconds a listed message stays hidden before it is made visible again.
    #[arg(long, default_value_t = 30, hide = true)]
    pub visibility_timeout: i32,
}

#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["invoice", "all"])))]
pub struct RedriveArgs {
    /// Only the messages of this invoice.
    #[arg(long, value_name = "ID")]
    pub invoice: Option<InvoiceId>,
    /// Every message.
    #[arg(long)]
    pub all: bool,
    /// Move the messages from here (receive, send, delete) even where StartMessageMoveTask exists.
    #[arg(long, hide = true)]
    pub no_move_task: bool,
    /// Seconds a received message stays hidden while it is moved.
    #[arg(long, default_value_t = 60, hide = true)]
    pub visibility_timeout: i32,
    /// Test hook: after sending this many batches, stop before deleting them and wait to be killed.
    #[arg(long, hide = true)]
    pub pause_after_batches: Option<usize>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_command_has_examples_in_its_help() {
        let mut cli = Cli::command();
        let mut missing = Vec::new();
        fn walk(cmd: &mut clap::Command, path: String, missing: &mut Vec<String>) {
            let has_subcommands = cmd.get_subcommands().next().is_some();
            if !has_subcommands {
                let help = cmd.render_long_help().to_string();
                if !help.contains("Examples:") {
                    missing.push(path.clone());
                }
            }
            for sub in cmd.get_subcommands_mut() {
                let name = format!("{path} {}", sub.get_name());
                walk(sub, name, missing);
            }
        }
        walk(&mut cli, "glase-invoices".into(), &mut missing);
        missing.retain(|p| p != "glase-invoices help" && !p.ends_with(" help"));
        assert!(missing.is_empty(), "no examples in: {missing:?}");
    }
}
