//! Local drivers for the Lambda handlers: the same handler code, driven the way Lambda
//! drives it. Used by `make dev` (the `glase-dev` binary) and by the integration tests.

pub mod aws;
pub mod banner;
pub mod poller;
pub mod runtime_api;
pub mod services;
pub mod stack;
pub mod stream_poller;
pub mod webhook_server;
