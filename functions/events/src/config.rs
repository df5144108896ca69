//! The events function's configuration, read once at cold start.

use glase_shared::config::{ConfigError, Env};
use glase_shared::events::PayerData;

#[derive(Debug, Clone)]
pub struct EventsConfig {
    /// `EVENT_BUS_NAME`: the stack's bus.
    pub bus_name: String,
    /// `PUBLISH_PAYER_DATA` (default false): `InvoicePaid` carries the payer's personal data.
    pub payer: PayerData,
}

impl EventsConfig {
    pub fn from_env<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        Ok(Self {
            bus_name: env.required("EVENT_BUS_NAME")?,
            payer: if env.flag("PUBLISH_PAYER_DATA", false)? {
                PayerData::Include
            } else {
                PayerData::Omit
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bus_name_is_required_and_payer_data_is_off_by_default() {
        assert!(EventsConfig::from_env(&Env::from_pairs(&[])).is_err());
        let config = EventsConfig::from_env(&Env::from_pairs(&[("EVENT_BUS_NAME", "b")])).unwrap();
        assert_eq!(config.payer, PayerData::Omit);
        let on = Env::from_pairs(&[("EVENT_BUS_NAME", "b"), ("PUBLISH_PAYER_DATA", "true")]);
        assert_eq!(
            EventsConfig::from_env(&on).unwrap().payer,
            PayerData::Include
        );
    }
}
