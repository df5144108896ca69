//! glase-invoices core: the domain (no AWS, no HTTP), the ports the handlers use, their
//! adapters (each behind a cargo feature), configuration, reconciliation and, for tests,
//! in-memory fakes.

#[cfg(any(feature = "aws", feature = "glase"))]
pub mod adapters;
pub mod config;
pub mod domain;
#[cfg(feature = "invoice")]
pub mod events;
#[cfg(feature = "test-util")]
pub mod memory;
pub mod message;
pub mod ports;
#[cfg(feature = "glase")]
pub mod reconcile;
#[cfg(any(feature = "sqs", feature = "dynamodb", feature = "test-util"))]
pub mod retry;
pub mod telemetry;

pub use domain::*;
pub use ports::*;
