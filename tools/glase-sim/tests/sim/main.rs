//! glase-sim's integration tests: one binary, a module per API.

mod admin_api;
mod common;
mod glase_api;
mod notifications;
