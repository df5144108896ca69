//! An exact amount of money. It never passes through a binary float.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;

use super::Currency;

/// A non-negative decimal amount, kept with every digit Glase sent (`59.90` keeps its scale).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Amount(Decimal);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("amount must be a JSON number like 123.45, got {0}")]
    NotANumber(&'static str),
    #[error(
        "amount must be plain digits with '.' as the decimal separator (no sign, no exponent)"
    )]
    BadFormat,
    #[error("amount must not be negative")]
    Negative,
    #[error("amount has more digits than can be kept exactly (28 significant digits at most)")]
    TooPrecise,
}

impl Amount {
    /// Parses the raw JSON text of Glase's `amount` member, e.g. `59.99`.
    pub fn from_json_number(raw: &str) -> Result<Self, AmountError> {
        let text = raw.trim();
        match text.as_bytes().first() {
            Some(b'"') => return Err(AmountError::NotANumber("a string")),
            Some(b'n') => return Err(AmountError::NotANumber("null")),
            Some(b't' | b'f') => return Err(AmountError::NotANumber("a boolean")),
            Some(b'[' | b'{') => return Err(AmountError::NotANumber("an array or object")),
            _ => {}
        }
        text.parse()
    }

    pub fn as_decimal(&self) -> Decimal {
        self.0
    }

    /// The amount as people write it in `currency`: padded to its ISO 4217 minor units
    /// (`0.1` GBP → `0.10`, `120` → `120.00`, JPY `5` → `5`). Exact: digits beyond the minor
    /// units are kept, never rounded away (DynamoDB drops trailing zeros, so read-back amounts
    /// need this to look like what Glase sent).
    pub fn format_in(&self, currency: &Currency) -> String {
        let mut d = self.0.normalize();
        if let Some(units) = currency.minor_units() {
            if d.scale() < units {
                d.rescale(units);
            }
        }
        d.to_string()
    }
}

/// The sum of several amounts, exact. `None` if it would not fit a decimal (28 digits).
pub fn checked_sum<'a>(amounts: impl IntoIterator<Item = &'a Amount>) -> Option<Amount> {
    amounts
        .into_iter()
        .try_fold(Decimal::ZERO, |sum, a| sum.checked_add(a.0))
        .map(Amount)
}

impl FromStr for Amount {
    type Err = AmountError;

    /// Accepts `digits[.digits]` only: what Glase documents ("format 123.45").
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.starts_with('-') {
            return Err(AmountError::Negative);
        }
        let (int, frac) = match text.split_once('.') {
            Some((i, f)) => (i, Some(f)),
            None => (text, None),
        };
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(int) || frac.is_some_and(|f| !digits(f)) {
            return Err(AmountError::BadFormat);
        }
        // from_str_exact errors instead of rounding when the digits do not fit.
        Decimal::from_str_exact(text)
            .map(Self)
            .map_err(|_| AmountError::TooPrecise)
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_doc_example_exactly() {
        let a = Amount::from_json_number("59.99").unwrap();
        assert_eq!(a.to_string(), "59.99");
        assert_eq!(a.as_decimal(), Decimal::new(5999, 2));
    }

    #[test]
    fn keeps_every_digit_including_trailing_zeros() {
        assert_eq!(
            Amount::from_json_number("0.10").unwrap().to_string(),
            "0.10"
        );
        assert_eq!(
            Amount::from_json_number("1234567.89").unwrap().to_string(),
            "1234567.89"
        );
        assert_eq!(
            Amount::from_json_number("0.1").unwrap(),
            Amount::from_json_number("0.10").unwrap()
        );
        assert_eq!(Amount::from_json_number("100").unwrap().to_string(), "100");
        // 0.1 + 0.2 is where f64 would drift; exact decimals do not.
        let sum = Amount::from_json_number("0.1").unwrap().as_decimal()
            + Amount::from_json_number("0.2").unwrap().as_decimal();
        assert_eq!(sum.to_string(), "0.3");
    }

    #[test]
    fn formats_with_the_currencys_minor_units_exactly() {
        let fmt = |amount: &str, currency: &str| {
            amount
                .parse::<Amount>()
                .unwrap()
                .format_in(&currency.parse().unwrap())
        };
        assert_eq!(fmt("0.1", "GBP"), "0.10");
        assert_eq!(fmt("35.7", "GBP"), "35.70");
        assert_eq!(fmt("120", "EUR"), "120.00");
        assert_eq!(fmt("12.50", "GBP"), "12.50");
        assert_eq!(
            fmt("0.100", "GBP"),
            "0.10",
            "a trailing zero is not a digit"
        );
        assert_eq!(fmt("5", "JPY"), "5");
        assert_eq!(fmt("5.00", "JPY"), "5");
        assert_eq!(fmt("1.5", "BHD"), "1.500");
        // Never rounded: a digit beyond the minor units is money.
        assert_eq!(fmt("0.105", "GBP"), "0.105");
        assert_eq!(fmt("5.5", "JPY"), "5.5");
        // No ISO minor units: shown as it is.
        assert_eq!(fmt("1.25", "XAU"), "1.25");
        assert_eq!(fmt("12345678901234567.8", "GBP"), "12345678901234567.80");
    }

    #[test]
    fn sums_exactly() {
        let amounts: Vec<Amount> = ["0.1", "0.2", "35.70"]
            .iter()
            .map(|a| a.parse().unwrap())
            .collect();
        let sum = checked_sum(&amounts).unwrap();
        assert_eq!(sum.format_in(&"GBP".parse().unwrap()), "36.00");
        assert_eq!(
            checked_sum(&[]).unwrap().format_in(&"GBP".parse().unwrap()),
            "0.00"
        );
    }

    #[test]
    fn accepts_long_values_that_f64_would_round() {
        let a = Amount::from_json_number("12345678901234567.89").unwrap();
        assert_eq!(a.to_string(), "12345678901234567.89");
    }

    #[test]
    fn rejects_negative_exponent_and_malformed() {
        assert_eq!(
            Amount::from_json_number("-1.00"),
            Err(AmountError::Negative)
        );
        assert_eq!(
            Amount::from_json_number("5.999e1"),
            Err(AmountError::BadFormat)
        );
        assert_eq!(Amount::from_json_number("1E2"), Err(AmountError::BadFormat));
        assert_eq!(
            Amount::from_json_number("59,99"),
            Err(AmountError::BadFormat)
        );
        assert_eq!(Amount::from_json_number("1."), Err(AmountError::BadFormat));
        assert_eq!(Amount::from_json_number(""), Err(AmountError::BadFormat));
    }

    #[test]
    fn rejects_non_numbers() {
        assert_eq!(
            Amount::from_json_number("\"59.99\""),
            Err(AmountError::NotANumber("a string"))
        );
        assert_eq!(
            Amount::from_json_number("null"),
            Err(AmountError::NotANumber("null"))
        );
        assert_eq!(
            Amount::from_json_number("true"),
            Err(AmountError::NotANumber("a boolean"))
        );
    }

    #[test]
    fn rejects_more_digits_than_fit_exactly() {
        assert_eq!(
            Amount::from_json_number("1.0000000000000000000000000000001"),
            Err(AmountError::TooPrecise)
        );
    }
}
