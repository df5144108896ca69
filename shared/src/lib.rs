//! glase-invoices core: the domain (no AWS, no HTTP), the ports the handlers use, their
//! adapters, configuration and in-memory fakes for tests.

pub mod adapters;
pub mod config;
pub mod domain;
pub mod memory;
pub mod ports;
pub mod telemetry;

pub use domain::*;
pub use ports::*;
