//! The invoices table in DynamoDB. The only place that knows about `AttributeValue`.
//!
//! One item per `invoiceId` is both the invoice and its idempotency record:
//! `PROCESSING` (leased) → `STORED` (all invoice fields) or `REJECTED` (code + reason).
//! Every write is conditional, so duplicates — however many, however late — can neither
//! create a second item, nor fetch from Glase twice while a lease is live, nor overwrite a
//! stored invoice.

use std::collections::HashMap;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, KeySchemaElement,
    KeyType, Projection, ProjectionType, ReturnValuesOnConditionCheckFailure, ScalarAttributeType,
};
use aws_sdk_dynamodb::Client;
use jiff::Timestamp;

use crate::domain::{Amount, Currency, Invoice, InvoiceId, Payer, PurchaseTime};
use crate::ports::{Claim, Completion, InvoiceRecord, InvoiceStore, Lease, Rejection, StoreError};

type Item = HashMap<String, AttributeValue>;

/// Attribute and index names: the table's public schema (see README).
pub mod schema {
    pub const INVOICE_ID: &str = "invoiceId";
    pub const STATE: &str = "state";
    pub const LEASE_OWNER: &str = "leaseOwner";
    pub const LEASE_UNTIL: &str = "leaseUntil";
    pub const ATTEMPTS: &str = "attempts";
    pub const LAST_ERROR: &str = "lastError";
    pub const LAST_ERROR_AT: &str = "lastErrorAt";
    pub const REJECTION_CODE: &str = "rejectionCode";
    pub const REJECTION_REASON: &str = "rejectionReason";
    pub const REJECTED_AT: &str = "rejectedAt";
    pub const DESCRIPTION: &str = "description";
    pub const AMOUNT: &str = "amount";
    pub const CURRENCY: &str = "currency";
    pub const STATUS: &str = "status";
    pub const REFERENCE: &str = "reference";
    pub const ERS_REFERENCE: &str = "ersReference";
    pub const PURCHASE_TIME: &str = "purchaseTime";
    pub const PURCHASE_DATE: &str = "purchaseDate";
    pub const STORED_AT: &str = "storedAt";
    pub const PAYER: [&str; 7] = [
        "payerMsisdn",
        "payerFirstName",
        "payerLastName",
        "payerStreet",
        "payerCity",
        "payerZip",
        "payerCountry",
    ];

    pub const PROCESSING: &str = "PROCESSING";
    pub const STORED: &str = "STORED";
    pub const REJECTED: &str = "REJECTED";

    /// GSI: an issuer's own reference → its payments, in purchase order.
    pub const BY_REFERENCE_INDEX: &str = "byReference";
    /// GSI: UTC purchase day → that day's invoices, in purchase order.
    pub const BY_PURCHASE_DATE_INDEX: &str = "byPurchaseDate";
}
use schema::*;

#[derive(Clone, Debug)]
pub struct DynamoStore {
    pub(crate) client: Client,
    pub(crate) table: String,
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// A conditional write's result: refused because our lease is gone, or done.
fn completion<T, E, R>(
    result: Result<T, SdkError<E, R>>,
    what: &str,
) -> Result<Completion, StoreError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match result {
        Ok(_) => Ok(Completion::Done),
        Err(e)
            if e.as_service_error().and_then(ProvideErrorMetadata::code)
                == Some("ConditionalCheckFailedException") =>
        {
            Ok(Completion::LeaseLost)
        }
        Err(e) => Err(sdk_err(what, e)),
    }
}

fn sdk_err<E, R>(what: &str, e: SdkError<E, R>) -> StoreError
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    StoreError::new(format!("{what} failed"), e)
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// Creates the table with its indexes if it does not exist (local runs and tests; the SAM
    /// template declares the same table for AWS).
    pub async fn ensure_table(&self) -> Result<(), StoreError> {
        let key = |name: &str, kind: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
        };
        let attr = |name: &str, t: ScalarAttributeType| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(t)
                .build()
        };
        let gsi = |name: &str, hash: &str| -> Result<GlobalSecondaryIndex, StoreError> {
            GlobalSecondaryIndex::builder()
                .index_name(name)
                .key_schema(key(hash, KeyType::Hash).map_err(|e| StoreError::new("bad key", e))?)
                .key_schema(
                    key(PURCHASE_TIME, KeyType::Range)
                        .map_err(|e| StoreError::new("bad key", e))?,
                )
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()
                .map_err(|e| StoreError::new("bad index", e))
        };
        let build = || -> Result<_, aws_sdk_dynamodb::error::BuildError> {
            Ok((
                key(INVOICE_ID, KeyType::Hash)?,
                [
                    attr(INVOICE_ID, ScalarAttributeType::N)?,
                    attr(REFERENCE, ScalarAttributeType::S)?,
                    attr(PURCHASE_DATE, ScalarAttributeType::S)?,
                    attr(PURCHASE_TIME, ScalarAttributeType::S)?,
                ],
            ))
        };
        let (pk, attrs) = build().map_err(|e| StoreError::new("bad table definition", e))?;
        let result = self
            .client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(pk)
            .set_attribute_definitions(Some(attrs.to_vec()))
            .global_secondary_indexes(gsi(BY_REFERENCE_INDEX, REFERENCE)?)
            .global_secondary_indexes(gsi(BY_PURCHASE_DATE_INDEX, PURCHASE_DATE)?)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_resource_in_use_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(sdk_err("CreateTable", e)),
        }
    }

    /// Opens (and keeps) `connections` connections to DynamoDB during init, which Lambda runs on
    /// boosted CPU: a first batch of 10 records claims concurrently and would otherwise pay
    /// nine TLS handshakes (measured by `make bench`).
    pub async fn prime(&self, connections: usize) {
        let reads = (0..connections.max(1)).map(|_| self.prime_one());
        futures::future::join_all(reads).await;
    }

    /// One read of a key that never exists, so priming needs no permission beyond GetItem.
    async fn prime_one(&self) {
        let result = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(INVOICE_ID, n(0))
            .send()
            .await;
        if let Err(e) = result {
            tracing::warn!(error = %aws_sdk_dynamodb::error::DisplayErrorContext(&e), "could not prime the DynamoDB connection");
        }
    }

    fn key(id: InvoiceId) -> (String, AttributeValue) {
        (INVOICE_ID.to_owned(), n(id))
    }
}

/// The stored form of an invoice. Absent payer fields are omitted, never empty strings.
pub fn invoice_to_item(invoice: &Invoice, stored_at: Timestamp) -> Item {
    let mut item = Item::from([
        DynamoStore::key(invoice.id),
        (STATE.into(), s(STORED)),
        (DESCRIPTION.into(), s(&invoice.description)),
        // A DynamoDB Number is an exact decimal of up to 38 digits: no float on the way.
        (AMOUNT.into(), n(invoice.amount)),
        (CURRENCY.into(), s(invoice.currency.as_str())),
        (STATUS.into(), s(&invoice.status)),
        (ERS_REFERENCE.into(), s(&invoice.ers_reference)),
        (PURCHASE_TIME.into(), s(invoice.purchase_time.to_iso())),
        (PURCHASE_DATE.into(), s(invoice.purchase_time.utc_date())),
        (STORED_AT.into(), s(stored_at.to_string())),
    ]);
    // An index key cannot be an empty string; an empty reference is simply not indexed.
    if !invoice.reference.is_empty() {
        item.insert(REFERENCE.into(), s(&invoice.reference));
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

fn get_s<'a>(item: &'a Item, name: &str) -> Result<&'a str, StoreError> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Ok(v),
        _ => Err(StoreError::msg(format!(
            "item lacks string attribute {name}"
        ))),
    }
}

fn opt_s(item: &Item, name: &str) -> Option<String> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Some(v.clone()),
        _ => None,
    }
}

fn get_n<T: std::str::FromStr>(item: &Item, name: &str) -> Result<T, StoreError> {
    match item.get(name) {
        Some(AttributeValue::N(v)) => v
            .parse()
            .map_err(|_| StoreError::msg(format!("attribute {name} is not a valid number"))),
        _ => Err(StoreError::msg(format!(
            "item lacks number attribute {name}"
        ))),
    }
}

fn bad(name: &str) -> impl FnOnce(&dyn std::fmt::Display) -> StoreError + '_ {
    move |e| StoreError::msg(format!("attribute {name} is invalid: {e}"))
}

fn timestamp(item: &Item, name: &str) -> Result<Timestamp, StoreError> {
    get_s(item, name)?.parse().map_err(|e| bad(name)(&e))
}

/// Reads an item back into a record; fails loudly on an item this code did not write.
pub fn item_to_record(item: &Item) -> Result<InvoiceRecord, StoreError> {
    match get_s(item, STATE)? {
        PROCESSING => Ok(InvoiceRecord::Processing {
            lease_until_ms: get_n(item, LEASE_UNTIL)?,
            attempts: get_n(item, ATTEMPTS).unwrap_or(0),
            last_error: opt_s(item, LAST_ERROR),
        }),
        REJECTED => Ok(InvoiceRecord::Rejected {
            rejection: Rejection {
                code: get_s(item, REJECTION_CODE)?.into(),
                reason: get_s(item, REJECTION_REASON)?.into(),
            },
            rejected_at: timestamp(item, REJECTED_AT)?,
        }),
        STORED => {
            let id: u64 = get_n(item, INVOICE_ID)?;
            let amount = match item.get(AMOUNT) {
                Some(AttributeValue::N(v)) => v.parse::<Amount>().map_err(|e| bad(AMOUNT)(&e))?,
                _ => return Err(StoreError::msg("item lacks number attribute amount")),
            };
            let payer = |i: usize| opt_s(item, PAYER[i]);
            let invoice = Invoice {
                id: InvoiceId::new(id).map_err(|e| bad(INVOICE_ID)(&e))?,
                description: get_s(item, DESCRIPTION)?.into(),
                amount,
                currency: get_s(item, CURRENCY)?
                    .parse::<Currency>()
                    .map_err(|e| bad(CURRENCY)(&e))?,
                status: get_s(item, STATUS)?.into(),
                reference: opt_s(item, REFERENCE).unwrap_or_default(),
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
        other => Err(StoreError::msg(format!("item has unknown state {other:?}"))),
    }
}

impl InvoiceStore for DynamoStore {
    async fn claim(&self, id: InvoiceId, lease: &Lease) -> Result<Claim, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(INVOICE_ID, n(id))
            .update_expression(
                "SET #state = :processing, #owner = :owner, #until = :until, #attempts = if_not_exists(#attempts, :zero) + :one",
            )
            // Free, rejected (a later fetch may succeed), or leased by someone whose lease lapsed.
            .condition_expression(
                "attribute_not_exists(#id) OR #state = :rejected OR (#state = :processing AND #until < :now)",
            )
            .expression_attribute_names("#id", INVOICE_ID)
            .expression_attribute_names("#state", STATE)
            .expression_attribute_names("#owner", LEASE_OWNER)
            .expression_attribute_names("#until", LEASE_UNTIL)
            .expression_attribute_names("#attempts", ATTEMPTS)
            .expression_attribute_values(":processing", s(PROCESSING))
            .expression_attribute_values(":rejected", s(REJECTED))
            .expression_attribute_values(":owner", s(&lease.owner))
            .expression_attribute_values(":until", n(lease.until_ms))
            .expression_attribute_values(":now", n(lease.now_ms))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            // A refused claim returns the current item, so no second read is needed.
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let err = match result {
            Ok(_) => return Ok(Claim::Acquired),
            Err(e) => e,
        };
        let old = match err.as_service_error() {
            Some(aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(c)) => {
                c.item().cloned()
            }
            _ => return Err(sdk_err("UpdateItem (claim)", err)),
        };
        let old = old.ok_or_else(|| StoreError::msg("claim refused but no item returned"))?;
        match get_s(&old, STATE)? {
            STORED => Ok(Claim::AlreadyStored),
            PROCESSING => Ok(Claim::InProgress {
                until_ms: get_n(&old, LEASE_UNTIL)?,
            }),
            other => Err(StoreError::msg(format!(
                "claim refused on an item in state {other:?}"
            ))),
        }
    }

    async fn store(
        &self,
        invoice: &Invoice,
        lease: &Lease,
        stored_at: Timestamp,
    ) -> Result<Completion, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(invoice_to_item(invoice, stored_at)))
            .condition_expression("#state = :processing AND #owner = :owner")
            .expression_attribute_names("#state", STATE)
            .expression_attribute_names("#owner", LEASE_OWNER)
            .expression_attribute_values(":processing", s(PROCESSING))
            .expression_attribute_values(":owner", s(&lease.owner))
            .send()
            .await;
        completion(result, "PutItem (store)")
    }

    async fn reject(
        &self,
        id: InvoiceId,
        lease: &Lease,
        rejection: &Rejection,
        at: Timestamp,
    ) -> Result<Completion, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(INVOICE_ID, n(id))
            .update_expression("SET #state = :rejected, #code = :code, #reason = :reason, #at = :at REMOVE #owner, #until")
            .condition_expression("#state = :processing AND #owner = :owner")
            .expression_attribute_names("#state", STATE)
            .expression_attribute_names("#owner", LEASE_OWNER)
            .expression_attribute_names("#until", LEASE_UNTIL)
            .expression_attribute_names("#code", REJECTION_CODE)
            .expression_attribute_names("#reason", REJECTION_REASON)
            .expression_attribute_names("#at", REJECTED_AT)
            .expression_attribute_values(":rejected", s(REJECTED))
            .expression_attribute_values(":processing", s(PROCESSING))
            .expression_attribute_values(":owner", s(&lease.owner))
            .expression_attribute_values(":code", s(&rejection.code))
            .expression_attribute_values(":reason", s(&rejection.reason))
            .expression_attribute_values(":at", s(at.to_string()))
            .send()
            .await;
        completion(result, "UpdateItem (reject)")
    }

    async fn release(&self, id: InvoiceId, lease: &Lease, error: &str) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(INVOICE_ID, n(id))
            .update_expression("SET #until = :zero, #err = :err, #errAt = :now REMOVE #owner")
            // Only the holder may release: never free a lease someone else now holds.
            .condition_expression("#state = :processing AND #owner = :owner")
            .expression_attribute_names("#state", STATE)
            .expression_attribute_names("#owner", LEASE_OWNER)
            .expression_attribute_names("#until", LEASE_UNTIL)
            .expression_attribute_names("#err", LAST_ERROR)
            .expression_attribute_names("#errAt", LAST_ERROR_AT)
            .expression_attribute_values(":processing", s(PROCESSING))
            .expression_attribute_values(":owner", s(&lease.owner))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":err", s(error))
            .expression_attribute_values(
                ":now",
                s(Timestamp::from_millisecond(lease.now_ms)
                    .unwrap_or(Timestamp::UNIX_EPOCH)
                    .to_string()),
            )
            .send()
            .await;
        // Only the holder may release; a lapsed lease someone else took is left alone.
        completion(result, "UpdateItem (release)").map(|_| ())
    }

    async fn get(&self, id: InvoiceId) -> Result<Option<InvoiceRecord>, StoreError> {
        let (k, v) = Self::key(id);
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(k, v)
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_err("GetItem", e))?;
        out.item().map(item_to_record).transpose()
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
            status: "PAID".into(),
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
    fn an_item_of_unknown_shape_is_an_error_not_a_panic() {
        let item = Item::from([(STATE.to_owned(), s("WEIRD"))]);
        assert!(item_to_record(&item).is_err());
        assert!(item_to_record(&Item::new()).is_err());
    }
}
