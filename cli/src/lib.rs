//! glase-invoices: query the paid invoices and operate the stack from the command line.
//!
//! `main` only parses and maps the outcome to an exit status; each command is a function over
//! a [`config::Context`] that resolves the table, queues and AWS settings on first use.

pub mod args;
pub mod config;
mod dlq;
pub mod error;
mod events;
mod ops;
mod output;
mod query;
mod reconcile;
mod records;
mod status;
mod times;

use args::{Cli, Command, DlqCommand};
use config::Context;
use error::CliError;

/// Runs one command. `Err` carries the exit status and the line for stderr.
pub async fn run(cli: Cli) -> Result<(), CliError> {
    let ctx = Context::new(cli.global).await?;
    match cli.command {
        Command::Get(args) => query::get(&ctx, args).await,
        Command::Find(args) => query::find(&ctx, args).await,
        Command::List(args) => query::list(&ctx, args).await,
        Command::Export(args) => query::export(&ctx, args).await,
        Command::Rejected(args) => ops::rejected(&ctx, args).await,
        Command::Stuck(args) => ops::stuck(&ctx, args).await,
        Command::Retry(args) => ops::retry(&ctx, args).await,
        Command::Dlq(DlqCommand::List(args)) => dlq::list(&ctx, args).await,
        Command::Dlq(DlqCommand::Redrive(args)) => dlq::redrive(&ctx, args).await,
        Command::Status => status::status(&ctx).await,
        Command::Reconcile(args) => reconcile::reconcile(&ctx, args).await,
        Command::Events(args) => events::events(&ctx, args).await,
    }
}
