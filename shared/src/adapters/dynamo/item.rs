//! Item mapping: invoices and records to and from DynamoDB items.

use std::borrow::Cow;
use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use jiff::Timestamp;
use sha2::{Digest, Sha256};

use super::schema::*;
use crate::domain::{Amount, Currency, Invoice, InvoiceId, Payer, PurchaseTime, RejectionCode};
use crate::ports::{AdapterError, InvoiceRecord, Rejection};

/// A DynamoDB item: its attributes by name. (What a query reads back is an `InvoiceRow`.)
pub type Item = HashMap<String, AttributeValue>;

const PAID: &str = "PAID";

pub(super) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(super) fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// The most bytes DynamoDB takes in a GSI partition key value (`byReference`'s `reference`).
const INDEX_KEY_MAX_BYTES: usize = 2_048;

/// The `reference` attribute's value, the `byReference` key: the reference itself when it fits
/// the index key, else `sha256:` and its hex digest, so a reference of any length is stored
/// (whole, in `longReference`) and still found by reference.
pub(super) fn reference_key(reference: &str) -> Cow<'_, str> {
    if reference.len() <= INDEX_KEY_MAX_BYTES {
        return Cow::Borrowed(reference);
    }
    Cow::Owned(format!(
        "sha256:{}",
        hex::encode(Sha256::digest(reference.as_bytes()))
    ))
}

/// The stored form of an invoice. Absent payer fields are omitted, never empty strings.
pub fn invoice_to_item(invoice: &Invoice, stored_at: Timestamp) -> Item {
    let mut item = Item::from([
        (INVOICE_ID.into(), n(invoice.id)),
        (STATE.into(), s(STORED)),
        (DESCRIPTION.into(), s(&invoice.description)),
        // A DynamoDB Number is an exact decimal of up to 38 digits: no float on the way.
        (AMOUNT.into(), n(invoice.amount)),
        (CURRENCY.into(), s(invoice.currency.as_str())),
        // Kept for readers of the table: every stored invoice is paid.
        (STATUS.into(), s(PAID)),
        (ERS_REFERENCE.into(), s(&invoice.ers_reference)),
        (PURCHASE_TIME.into(), s(invoice.purchase_time.to_iso())),
        (PURCHASE_DATE.into(), s(invoice.purchase_time.utc_date())),
        (STORED_AT.into(), s(stored_at.to_string())),
    ]);
    // An index key cannot be an empty string; an empty reference is simply not indexed.
    if !invoice.reference.is_empty() {
        let key = reference_key(&invoice.reference);
        if let Cow::Owned(_) = key {
            item.insert(LONG_REFERENCE.into(), s(&invoice.reference));
        }
        item.insert(REFERENCE.into(), s(key));
    }
    let p = &invoice.payer;
    let payer = [
        &p.msisdn,
        &p.first_name,
        &p.last_name,
        &p.street,
        &p.city,
        &p.zip,
        &p.country,
    ];
    for (name, value) in PAYER.iter().zip(payer) {
        if let Some(v) = value {
            item.insert((*name).into(), s(v));
        }
    }
    item
}

pub(super) fn get_s<'a>(item: &'a Item, name: &str) -> Result<&'a str, AdapterError> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Ok(v),
        _ => Err(AdapterError::msg(format!(
            "item lacks string attribute {name}"
        ))),
    }
}

pub(super) fn opt_s(item: &Item, name: &str) -> Option<String> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Some(v.clone()),
        _ => None,
    }
}

pub(super) fn get_n<T: std::str::FromStr>(item: &Item, name: &str) -> Result<T, AdapterError> {
    match item.get(name) {
        Some(AttributeValue::N(v)) => v
            .parse()
            .map_err(|_| AdapterError::msg(format!("attribute {name} is not a valid number"))),
        _ => Err(AdapterError::msg(format!(
            "item lacks number attribute {name}"
        ))),
    }
}

fn bad(name: &str) -> impl FnOnce(&dyn std::fmt::Display) -> AdapterError + '_ {
    move |e| AdapterError::msg(format!("attribute {name} is invalid: {e}"))
}

fn timestamp(item: &Item, name: &str) -> Result<Timestamp, AdapterError> {
    get_s(item, name)?.parse().map_err(|e| bad(name)(&e))
}

/// Reads an item back into a record; fails loudly on an item this code did not write.
pub fn item_to_record(item: &Item) -> Result<InvoiceRecord, AdapterError> {
    match get_s(item, STATE)? {
        PROCESSING => Ok(InvoiceRecord::Processing {
            lease_until_ms: get_n(item, LEASE_UNTIL)?,
            attempts: get_n(item, ATTEMPTS).unwrap_or(0),
            last_error: opt_s(item, LAST_ERROR),
        }),
        REJECTED => Ok(InvoiceRecord::Rejected {
            rejection: Rejection {
                code: RejectionCode::parse(get_s(item, REJECTION_CODE)?).ok_or_else(|| {
                    AdapterError::msg("attribute rejectionCode is not a known code")
                })?,
                reason: get_s(item, REJECTION_REASON)?.into(),
            },
            rejected_at: timestamp(item, REJECTED_AT)?,
            attempts: get_n(item, ATTEMPTS).unwrap_or(0),
        }),
        STORED => {
            let id: u64 = get_n(item, INVOICE_ID)?;
            let amount = match item.get(AMOUNT) {
                Some(AttributeValue::N(v)) => v.parse::<Amount>().map_err(|e| bad(AMOUNT)(&e))?,
                _ => return Err(AdapterError::msg("item lacks number attribute amount")),
            };
            let payer = |i: usize| opt_s(item, PAYER[i]);
            let invoice = Invoice {
                id: InvoiceId::new(id).map_err(|e| bad(INVOICE_ID)(&e))?,
                description: get_s(item, DESCRIPTION)?.into(),
                amount,
                currency: get_s(item, CURRENCY)?
                    .parse::<Currency>()
                    .map_err(|e| bad(CURRENCY)(&e))?,
                reference: opt_s(item, LONG_REFERENCE)
                    .or_else(|| opt_s(item, REFERENCE))
                    .unwrap_or_default(),
                ers_reference: get_s(item, ERS_REFERENCE)?.into(),
                purchase_time: PurchaseTime::parse_iso(get_s(item, PURCHASE_TIME)?)
                    .map_err(|e| bad(PURCHASE_TIME)(&e))?,
                payer: Payer {
                    msisdn: payer(0),
                    first_name: payer(1),
                    last_name: payer(2),
                    street: payer(3),
                    city: payer(4),
                    zip: payer(5),
                    country: payer(6),
                },
            };
            Ok(InvoiceRecord::Stored {
                invoice,
                stored_at: timestamp(item, STORED_AT)?,
            })
        }
        other => Err(AdapterError::msg(format!(
            "item has unknown state {other:?}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::tz::TimeZone;

    fn invoice(payer: Payer, reference: &str) -> Invoice {
        Invoice {
            id: InvoiceId::new(576).unwrap(),
            description: "Phone invoice 05.2015".into(),
            amount: "59.99".parse().unwrap(),
            currency: "GBP".parse().unwrap(),
            reference: reference.into(),
            ers_reference: "892736823467823-3897474".into(),
            purchase_time: PurchaseTime::parse_glase("15.05.2015 15:37:33", &TimeZone::UTC)
                .unwrap(),
            payer,
        }
    }

    #[test]
    fn stored_item_uses_glase_names_numbers_and_iso_time() {
        let at: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let item = invoice_to_item(
            &invoice(
                Payer {
                    city: Some("London".into()),
                    ..Payer::default()
                },
                "586930/05/2015",
            ),
            at,
        );
        assert_eq!(item[INVOICE_ID], AttributeValue::N("576".into()));
        assert_eq!(item[AMOUNT], AttributeValue::N("59.99".into()));
        assert_eq!(item[STATE], AttributeValue::S("STORED".into()));
        assert_eq!(
            item[PURCHASE_TIME],
            AttributeValue::S("2015-05-15T15:37:33Z".into())
        );
        assert_eq!(item[PURCHASE_DATE], AttributeValue::S("2015-05-15".into()));
        assert_eq!(item["payerCity"], AttributeValue::S("London".into()));
        assert!(
            !item.contains_key("payerMsisdn"),
            "absent payer fields are omitted"
        );
        assert!(!item.contains_key(LEASE_OWNER));
    }

    #[test]
    fn stored_item_reads_back_to_the_same_invoice() {
        let at: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let original = invoice(
            Payer {
                msisdn: Some("46111222333".into()),
                ..Payer::default()
            },
            "r-1",
        );
        let record = item_to_record(&invoice_to_item(&original, at)).unwrap();
        assert_eq!(
            record,
            InvoiceRecord::Stored {
                invoice: original,
                stored_at: at
            }
        );
    }

    #[test]
    fn empty_reference_is_left_out_so_the_index_accepts_the_item() {
        let item = invoice_to_item(&invoice(Payer::default(), ""), Timestamp::UNIX_EPOCH);
        assert!(!item.contains_key(REFERENCE));
    }

    #[test]
    fn a_reference_over_the_index_key_limit_is_kept_whole_and_indexed_by_its_digest() {
        let long = "é".repeat(1_500); // 3,000 bytes
        let item = invoice_to_item(&invoice(Payer::default(), &long), Timestamp::UNIX_EPOCH);

        assert_eq!(item[LONG_REFERENCE], s(&long));
        assert!(
            matches!(&item[REFERENCE], AttributeValue::S(k) if k.starts_with("sha256:") && k.len() == 71)
        );
        assert!(
            matches!(item_to_record(&item), Ok(InvoiceRecord::Stored { invoice, .. }) if invoice.reference == long)
        );
        let fits = "r".repeat(INDEX_KEY_MAX_BYTES);
        assert_eq!(reference_key(&fits), fits.as_str());
    }

    #[test]
    fn an_item_of_unknown_shape_is_an_error_not_a_panic() {
        let item = Item::from([(STATE.to_owned(), s("WEIRD"))]);
        assert!(item_to_record(&item).is_err());
        assert!(item_to_record(&Item::new()).is_err());
    }
}
