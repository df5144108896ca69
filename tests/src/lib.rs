//! Test harness: real local services (DynamoDB Local, moto's SQS), started once per test
//! binary on free ports, a scriptable Glase stand-in, and the pipeline wired as in Lambda.

pub mod killable;
pub mod lambda;
pub mod pipeline;
pub mod proxy;
pub mod queues;
pub mod raw_glase;
pub mod records;
pub mod senders;
pub mod services;
pub mod stub_glase;
pub mod wait;

pub use pipeline::Pipeline;
pub use services::services;
pub use stub_glase::StubGlase;
