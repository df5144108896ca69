//! The CLI's integration tests: one binary (one link of the AWS SDKs), a module per area.

mod common;
mod events;
mod operations;
mod queries;
mod reconcile;
