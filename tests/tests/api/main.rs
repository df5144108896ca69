//! glase-tests' integration tests: one binary (one link of the AWS SDKs), a module per area,
//! sharing one DynamoDB Local and one moto server (`glase_tests::services`); each test makes
//! its own table and queues. `report_memory` is a binary of its own: it measures its process.

mod bad_input;
mod build_config;
mod config_errors;
mod e2e;
mod fault_matrix;
mod pipeline;
mod reconcile;
mod secrets;
mod shipped;
mod template;
