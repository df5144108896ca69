//! Test harness: real local services (DynamoDB Local, moto's SQS), started once per test
//! binary on free ports, glase-sim as the scriptable Glase, and the pipeline wired as in Lambda.

pub mod glase;
pub mod killable;
pub mod lambda;
pub mod pipeline;
pub mod proxy;
pub mod queues;
pub mod records;
pub mod senders;
pub mod services;
pub mod wait;

pub use pipeline::Pipeline;
pub use services::services;
