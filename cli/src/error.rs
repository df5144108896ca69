//! Failures as scripts see them: an exit status and one plain line on stderr.

use std::process::ExitCode;

use glase_shared::adapters::{sdk_failure, SdkError};
use glase_shared::ports::AdapterError;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The thing asked for does not exist (an invoice id): exit 1, with this line.
    #[error("{0}")]
    NotFound(String),
    /// A query ran and matched nothing: exit 1; the line (if any) is a note, not an error.
    #[error("{0}")]
    NothingMatched(String),
    /// Options that cannot go together (clap reports the rest): exit 2.
    #[error("{0}")]
    Usage(String),
    /// stdout was closed early (`| head`): not a failure, exit 0 quietly.
    #[error("output closed")]
    BrokenPipe,
    /// A setting is missing or invalid: exit 3.
    #[error("{0}")]
    Config(String),
    /// An AWS call failed or the table holds something unreadable: exit 4.
    #[error("{0}")]
    Failed(String),
}

impl CliError {
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self {
            Self::BrokenPipe => 0,
            Self::NotFound(_) | Self::NothingMatched(_) => 1,
            Self::Usage(_) => 2,
            Self::Config(_) => 3,
            Self::Failed(_) => 4,
        })
    }

    pub fn config(message: impl Into<String>) -> Self {
        Self::Config(message.into())
    }

    pub fn failed(message: impl Into<String>) -> Self {
        Self::Failed(message.into())
    }
}

impl From<AdapterError> for CliError {
    fn from(e: AdapterError) -> Self {
        // The adapter's message already names the call, the table and the service's answer.
        Self::Failed(e.message)
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            return Self::BrokenPipe;
        }
        Self::Failed(format!("could not write the output: {e}"))
    }
}

impl From<csv::Error> for CliError {
    fn from(e: csv::Error) -> Self {
        match e.into_kind() {
            csv::ErrorKind::Io(io) => io.into(),
            other => Self::Failed(format!("could not write CSV: {other:?}")),
        }
    }
}

/// An AWS call's failure on one line (see [`describe_sdk_error`](glase_shared::adapters::describe_sdk_error)), as exit status 4.
pub fn aws<E>(what: &str, e: SdkError<E>) -> CliError
where
    E: aws_sdk_sqs::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    sdk_failure(what, e).into()
}

/// `1 message`, `2 messages`.
pub fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}
