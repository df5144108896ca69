//! `glase-invoices`: see `glase-invoices --help`.

use std::process::ExitCode;

use clap::Parser;
use glase_invoices::args::Cli;
use glase_invoices::error::CliError;

fn main() -> ExitCode {
    // Usage errors and --help are clap's: exit 2 and 0.
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("glase-invoices: cannot start: {e}");
            return ExitCode::from(4);
        }
    };
    match runtime.block_on(glase_invoices::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(CliError::BrokenPipe) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("glase-invoices: {e}");
            e.exit_code()
        }
    }
}
