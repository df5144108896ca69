//! The invoices table's public schema: attribute and index names (see docs/design.md), and the table
//! definition local runs and tests create (the SAM template declares the same for AWS).

pub const INVOICE_ID: &str = "invoiceId";
pub const STATE: &str = "state";
pub const LEASE_OWNER: &str = "leaseOwner";
pub const LEASE_UNTIL: &str = "leaseUntil";
pub const ATTEMPTS: &str = "attempts";
/// Glase answers so far that reject the invoice once `REJECT_AFTER_RECEIVES` of them are
/// counted (404s, unacceptable or oversized bodies, undocumented 4xx): the bounded window.
pub const REJECTABLE_ANSWERS: &str = "rejectableAnswers";
pub const LAST_ERROR: &str = "lastError";
pub const LAST_ERROR_AT: &str = "lastErrorAt";
pub const REJECTION_CODE: &str = "rejectionCode";
pub const REJECTION_REASON: &str = "rejectionReason";
pub const REJECTED_AT: &str = "rejectedAt";
/// Epoch milliseconds of the rejection: what the re-claim cool-down compares.
pub const REJECTED_AT_MS: &str = "rejectedAtMs";
/// The lease owner that completed the item (stored or rejected it), so an SDK retry of an
/// applied write is recognised as our own.
pub const COMPLETED_BY: &str = "completedBy";
/// Sparse-index key: `PROCESSING` or `REJECTED` while the item is open after a failure (a lease
/// released, or lapsed and taken over; a rejection); removed once stored. A new invoice's first
/// claim does not set it: two index writes per invoice for a lease that ends in a store.
pub const OPEN_STATE: &str = "openState";
/// When the item last changed state (ISO-8601 UTC): the sparse index's sort key.
pub const UPDATED_AT: &str = "updatedAt";
pub const DESCRIPTION: &str = "description";
pub const AMOUNT: &str = "amount";
pub const CURRENCY: &str = "currency";
/// Glase's status of a stored invoice: always PAID (the only status Glase sends).
pub const STATUS: &str = "status";
/// The `byReference` index key: the issuer's reference, or when that is over the index key's
/// limit, a digest of it (see `reference_key`); the full text is then in `longReference`.
pub const REFERENCE: &str = "reference";
/// The full reference, only when it is too long to be the index key itself.
pub const LONG_REFERENCE: &str = "longReference";
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
/// Sparse GSI: items open after a failure (`PROCESSING`, `REJECTED`) → by last change, so operators find
/// stuck and rejected invoices without scanning the table.
pub const BY_OPEN_STATE_INDEX: &str = "byOpenState";

/// Creates the table with its indexes if it does not exist: local runs and tests only.
#[cfg(feature = "test-util")]
pub async fn ensure_table(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
) -> Result<(), crate::ports::AdapterError> {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
        Projection, ProjectionType, ScalarAttributeType as T, StreamSpecification, StreamViewType,
    };

    use crate::ports::AdapterError;

    let build = || -> Result<_, aws_sdk_dynamodb::error::BuildError> {
        let key = |name: &str, kind| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
        };
        let attr = |name: &str, t| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(t)
                .build()
        };
        let gsi = |name: &str, hash: &str, range: &str| {
            GlobalSecondaryIndex::builder()
                .index_name(name)
                .key_schema(key(hash, KeyType::Hash)?)
                .key_schema(key(range, KeyType::Range)?)
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()
        };
        Ok((
            key(INVOICE_ID, KeyType::Hash)?,
            vec![
                attr(INVOICE_ID, T::N)?,
                attr(REFERENCE, T::S)?,
                attr(PURCHASE_DATE, T::S)?,
                attr(PURCHASE_TIME, T::S)?,
                attr(OPEN_STATE, T::S)?,
                attr(UPDATED_AT, T::S)?,
            ],
            vec![
                gsi(BY_REFERENCE_INDEX, REFERENCE, PURCHASE_TIME)?,
                gsi(BY_PURCHASE_DATE_INDEX, PURCHASE_DATE, PURCHASE_TIME)?,
                gsi(BY_OPEN_STATE_INDEX, OPEN_STATE, UPDATED_AT)?,
            ],
        ))
    };
    let (pk, attrs, indexes) = build().map_err(|e| AdapterError::new("bad table definition", e))?;
    let result = client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(pk)
        .set_attribute_definitions(Some(attrs))
        .set_global_secondary_indexes(Some(indexes))
        // As template.yaml's: the events function reads it (make dev, the tests).
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewAndOldImages)
                .build()
                .map_err(|e| AdapterError::new("bad table definition", e))?,
        )
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
        Err(e) => Err(AdapterError::new("CreateTable failed", e)),
    }
}
