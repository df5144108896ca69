//! glase-tests' integration tests: one binary (one link of the AWS SDKs), a module per area,
//! sharing one DynamoDB Local and one moto server (`glase_tests::services`); each test makes
//! its own table and queues. Two tests own their process and are binaries of their own:
//! `report_memory` measures its memory, `fault_matrix` counts its log records.

mod bad_input;
mod build_config;
mod config_errors;
mod e2e;
mod events;
mod permanent;
mod pipeline;
mod reconcile;
mod secrets;
mod shipped;
mod supply_chain;
mod template;
