//! The one place the production events function is put together, used by `main`, `make dev`,
//! the integration tests and the bench alike.

use glase_shared::adapters::eventbridge::EventBus;
use glase_shared::adapters::SdkConfig;

use crate::{EventsConfig, Publisher, Retry};

/// The function as deployed: EventBridge.
pub type LambdaPublisher = Publisher<EventBus>;

impl LambdaPublisher {
    pub fn from_config(config: &EventsConfig, aws: &SdkConfig) -> Self {
        Publisher {
            bus: EventBus::new(aws_sdk_eventbridge::Client::new(aws), &config.bus_name),
            payer: config.payer,
            retry: Retry::default(),
        }
    }
}
