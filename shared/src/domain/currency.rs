//! ISO 4217-style currency code.

use std::fmt;
use std::str::FromStr;

/// Three upper-case ASCII letters, e.g. `GBP`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency([u8; 3]);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("currency must be 3 upper-case letters like GBP")]
pub struct CurrencyError;

impl Currency {
    pub fn as_str(&self) -> &str {
        // Only ASCII letters are ever stored, so this cannot fail.
        std::str::from_utf8(&self.0).unwrap_or("???")
    }

    /// The ISO 4217 minor units: digits after the decimal point an amount is shown with
    /// (GBP 2, JPY 0, BHD 3). `None` for codes ISO 4217 does not list, or lists without minor
    /// units (XAU): those amounts are shown as they are.
    pub fn minor_units(&self) -> Option<u32> {
        iso_currency::Currency::from_code(self.as_str())
            .and_then(iso_currency::Currency::exponent)
            .map(u32::from)
    }
}

impl FromStr for Currency {
    type Err = CurrencyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.as_bytes() {
            &[a, b, c] if [a, b, c].iter().all(u8::is_ascii_uppercase) => Ok(Self([a, b, c])),
            _ => Err(CurrencyError),
        }
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_doc_examples() {
        assert_eq!("GBP".parse::<Currency>().unwrap().as_str(), "GBP");
        assert_eq!("EUR".parse::<Currency>().unwrap().to_string(), "EUR");
    }

    #[test]
    fn minor_units_follow_iso_4217() {
        let units = |code: &str| code.parse::<Currency>().unwrap().minor_units();
        assert_eq!(units("GBP"), Some(2));
        assert_eq!(units("EUR"), Some(2));
        assert_eq!(units("SEK"), Some(2));
        assert_eq!(units("JPY"), Some(0));
        assert_eq!(units("KRW"), Some(0));
        assert_eq!(units("BHD"), Some(3));
        assert_eq!(units("XAU"), None, "gold has no minor unit");
        assert_eq!(units("ZZZ"), None, "not an ISO 4217 code");
    }

    #[test]
    fn rejects_lower_case_wrong_length_and_non_letters() {
        for bad in ["gbp", "GB", "GBPX", "", "G1P", "ÅSE", " GBP"] {
            assert_eq!(bad.parse::<Currency>(), Err(CurrencyError), "{bad:?}");
        }
    }
}
