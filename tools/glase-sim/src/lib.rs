//! glase-sim: a faithful stand-in for Glase (SEQR) Invoice Service.
//!
//! It serves Glase's invoice details and report endpoints for configured issuers (the report in
//! any CSV shape the client accepts), notifies their webhook with Glase's retry schedule when an
//! invoice is paid (or simulates a webhook outage), injects seeded faults,
//! and exposes everything it did through an admin API (`/_sim/…`) and this library's [`Sim`]
//! handle, so end-to-end tests can embed it in-process:
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use glase_sim::{IssuerConfig, NewInvoice, Sim, SimConfig};
//!
//! let config = SimConfig {
//!     issuers: vec![IssuerConfig::new("demo", "demo-secret").with_notify_url("http://127.0.0.1:3000/notifications")],
//!     time_scale: 0.001,
//!     ..SimConfig::default()
//! };
//! let running = Sim::serve(config, "127.0.0.1:0".parse().unwrap()).await?;
//! let sim = running.sim();
//! let invoice = sim.pay(NewInvoice { amount: "12.30".into(), ..NewInvoice::default() }).await.unwrap();
//! sim.wait_notification_done(invoice.id.get(), std::time::Duration::from_secs(60)).await;
//! # Ok(()) }
//! ```

mod config;
mod http;
mod model;
mod notify;
mod reply;
mod report;
mod rng;
pub mod schedule;
mod sim;

pub use config::{
    sample_invoices, Delimiter, EndpointFaults, Faults, IssuerConfig, LineEnding, ReportFormat,
    SimConfig,
};
pub use http::{AUTH_HEADER, HANG_FOR};
pub use model::{Attempt, DetailFetchStats, NewInvoice, NotificationStatus, SimError, SimInvoice};
pub use notify::OUTAGE;
pub use reply::Reply;
pub use report::{csv_field, parse_report_date, report_csv, report_csv_with, REPORT_COLUMNS};
pub use sim::{InvoiceStats, RunningSim, Sim, FIRST_INVOICE_ID};

// Re-exported so callers need not depend on the shared crate to build a payment.
pub use glase_shared::Payer;
