//! Glase's invoice identifier: the idempotency key of the whole pipeline.

use std::fmt;
use std::str::FromStr;

use serde_json::Value;

/// A Glase invoice id: an integer in `1..=i64::MAX` (what a signed 64-bit id column can hold).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InvoiceId(u64);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvoiceIdError {
    #[error("invoiceId is missing")]
    Missing,
    #[error("invoiceId must be a JSON integer, got {0}")]
    WrongType(&'static str),
    #[error("invoiceId must be a whole number, got a fraction or exponent")]
    NotAnInteger,
    #[error("invoiceId must be between 1 and 9223372036854775807")]
    OutOfRange,
    #[error("invoiceId must be decimal digits only")]
    NotDigits,
}

impl InvoiceId {
    pub const MAX: u64 = i64::MAX as u64;

    pub fn new(value: u64) -> Result<Self, InvoiceIdError> {
        if (1..=Self::MAX).contains(&value) {
            Ok(Self(value))
        } else {
            Err(InvoiceIdError::OutOfRange)
        }
    }

    /// Parses the `invoiceId` member of a JSON value; `None` means the member is absent.
    pub fn from_json(value: Option<&Value>) -> Result<Self, InvoiceIdError> {
        match value {
            None => Err(InvoiceIdError::Missing),
            Some(Value::Null) => Err(InvoiceIdError::WrongType("null")),
            Some(Value::Bool(_)) => Err(InvoiceIdError::WrongType("a boolean")),
            Some(Value::String(_)) => Err(InvoiceIdError::WrongType("a string")),
            Some(Value::Array(_)) => Err(InvoiceIdError::WrongType("an array")),
            Some(Value::Object(_)) => Err(InvoiceIdError::WrongType("an object")),
            Some(Value::Number(n)) => {
                if let Some(v) = n.as_u64() {
                    Self::new(v)
                } else if n.is_i64() {
                    // as_u64 failed but it is an integer: it is negative.
                    Err(InvoiceIdError::OutOfRange)
                } else {
                    // serde_json reads fractions, exponents and integers beyond u64 as floats.
                    Err(InvoiceIdError::NotAnInteger)
                }
            }
        }
    }

    /// Parses the body Glase (and our own queue) carries: `{"invoiceId": N}`.
    /// Unknown members are ignored so Glase can add fields without breaking us.
    pub fn from_notification(body: &[u8]) -> Result<Self, NotificationError> {
        let value: Value =
            serde_json::from_slice(body).map_err(|e| NotificationError::Json(e.to_string()))?;
        let Value::Object(map) = value else {
            return Err(NotificationError::NotAnObject);
        };
        Ok(Self::from_json(map.get("invoiceId"))?)
    }

    pub fn get(self) -> u64 {
        self.0
    }

    /// Glase's notification body, `{"invoiceId":N}`: also what our queue carries, so one
    /// parser (`from_notification`) serves both ends. The one place this shape is written.
    pub fn to_notification(self) -> String {
        format!("{{\"invoiceId\":{}}}", self.0)
    }
}

/// Why a notification body is not `{"invoiceId": N}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotificationError {
    #[error("body is not valid JSON: {0}")]
    Json(String),
    #[error("body must be a JSON object like {{\"invoiceId\": 25153}}")]
    NotAnObject,
    #[error(transparent)]
    InvoiceId(#[from] InvoiceIdError),
}

impl FromStr for InvoiceId {
    type Err = InvoiceIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(InvoiceIdError::NotDigits);
        }
        let v: u64 = s.parse().map_err(|_| InvoiceIdError::OutOfRange)?;
        Self::new(v)
    }
}

impl fmt::Display for InvoiceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<InvoiceId, InvoiceIdError> {
        InvoiceId::from_json(Some(&v))
    }

    #[test]
    fn accepts_the_glase_doc_example() {
        let id = InvoiceId::from_notification(br#"{"invoiceId": 25153}"#).unwrap();
        assert_eq!(id.get(), 25153);
    }

    #[test]
    fn accepts_the_bounds_1_and_i64_max() {
        assert_eq!(parse(json!(1)).unwrap().get(), 1);
        assert_eq!(
            parse(json!(9223372036854775807u64)).unwrap().get(),
            InvoiceId::MAX
        );
    }

    #[test]
    fn rejects_zero_negative_and_too_large() {
        assert_eq!(parse(json!(0)), Err(InvoiceIdError::OutOfRange));
        assert_eq!(parse(json!(-5)), Err(InvoiceIdError::OutOfRange));
        assert_eq!(
            parse(json!(9223372036854775808u64)),
            Err(InvoiceIdError::OutOfRange)
        );
        let huge = InvoiceId::from_notification(br#"{"invoiceId": 99999999999999999999999}"#);
        assert_eq!(
            huge,
            Err(NotificationError::InvoiceId(InvoiceIdError::NotAnInteger))
        );
    }

    #[test]
    fn rejects_floats_strings_booleans_null_and_missing() {
        assert_eq!(parse(json!(1.5)), Err(InvoiceIdError::NotAnInteger));
        assert_eq!(
            InvoiceId::from_notification(br#"{"invoiceId": 25153.0}"#),
            Err(NotificationError::InvoiceId(InvoiceIdError::NotAnInteger))
        );
        assert_eq!(
            InvoiceId::from_notification(br#"{"invoiceId": 1e3}"#),
            Err(NotificationError::InvoiceId(InvoiceIdError::NotAnInteger))
        );
        assert_eq!(
            parse(json!("25153")),
            Err(InvoiceIdError::WrongType("a string"))
        );
        assert_eq!(
            parse(json!(true)),
            Err(InvoiceIdError::WrongType("a boolean"))
        );
        assert_eq!(parse(Value::Null), Err(InvoiceIdError::WrongType("null")));
        assert_eq!(InvoiceId::from_json(None), Err(InvoiceIdError::Missing));
    }

    #[test]
    fn notification_ignores_unknown_members_and_rejects_non_objects() {
        let id = InvoiceId::from_notification(br#"{"invoiceId": 7, "extra": [1,2]}"#).unwrap();
        assert_eq!(id.get(), 7);
        assert_eq!(
            InvoiceId::from_notification(b"[7]"),
            Err(NotificationError::NotAnObject)
        );
        assert!(matches!(
            InvoiceId::from_notification(b"{not json"),
            Err(NotificationError::Json(_))
        ));
    }

    #[test]
    fn from_str_accepts_digits_only() {
        assert_eq!("576".parse::<InvoiceId>().unwrap().get(), 576);
        assert_eq!("+5".parse::<InvoiceId>(), Err(InvoiceIdError::NotDigits));
        assert_eq!("".parse::<InvoiceId>(), Err(InvoiceIdError::NotDigits));
        assert_eq!("0".parse::<InvoiceId>(), Err(InvoiceIdError::OutOfRange));
    }
}
