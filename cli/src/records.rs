//! Table items as printable records, under the table's own attribute names.

use glase_shared::adapters::dynamo::schema::*;
use glase_shared::adapters::dynamo_query::InvoiceRow;
use glase_shared::ports::InvoiceRecord;

use crate::output::{Record, Value, View};

/// Every attribute in display order (what `get` shows of whichever are present).
fn all_columns() -> Vec<&'static str> {
    let mut columns = vec![
        INVOICE_ID,
        STATE,
        PURCHASE_TIME,
        AMOUNT,
        CURRENCY,
        REFERENCE,
        DESCRIPTION,
        ERS_REFERENCE,
        STATUS,
    ];
    columns.extend(PAYER);
    columns.extend([
        STORED_AT,
        REJECTION_CODE,
        REJECTION_REASON,
        REJECTED_AT,
        ATTEMPTS,
        LAST_ERROR,
        LAST_ERROR_AT,
        LEASE_OWNER,
        LEASE_UNTIL,
        UPDATED_AT,
    ]);
    columns
}

/// One whole item: the columns are the attributes it has.
pub fn item_view(record: &Record) -> View {
    let columns: Vec<&'static str> = all_columns()
        .into_iter()
        .filter(|c| record.iter().any(|(n, _)| n == c))
        .collect();
    View {
        table_columns: columns.clone(),
        columns,
    }
}

/// Paid invoices (find, list, export).
pub fn paid_view() -> View {
    let mut columns = vec![
        INVOICE_ID,
        PURCHASE_TIME,
        AMOUNT,
        CURRENCY,
        REFERENCE,
        DESCRIPTION,
        ERS_REFERENCE,
        STATUS,
    ];
    columns.extend(PAYER);
    columns.push(STORED_AT);
    View {
        columns,
        table_columns: vec![
            INVOICE_ID,
            PURCHASE_TIME,
            AMOUNT,
            CURRENCY,
            REFERENCE,
            DESCRIPTION,
        ],
    }
}

pub fn rejected_view() -> View {
    View {
        columns: vec![
            INVOICE_ID,
            REJECTED_AT,
            REJECTION_CODE,
            REJECTION_REASON,
            ATTEMPTS,
            LAST_ERROR,
            LAST_ERROR_AT,
            UPDATED_AT,
        ],
        table_columns: vec![INVOICE_ID, REJECTED_AT, REJECTION_CODE, REJECTION_REASON],
    }
}

pub fn stuck_view() -> View {
    View {
        columns: vec![
            INVOICE_ID,
            UPDATED_AT,
            ATTEMPTS,
            LAST_ERROR,
            LAST_ERROR_AT,
            LEASE_UNTIL,
            LEASE_OWNER,
        ],
        table_columns: vec![INVOICE_ID, UPDATED_AT, ATTEMPTS, LAST_ERROR],
    }
}

/// The item's attributes, each as the table holds it; amounts padded to the currency's minor
/// units (DynamoDB keeps `0.10` as `0.1`).
pub fn item(item: &InvoiceRow) -> Record {
    let mut r: Record = vec![(INVOICE_ID, Value::number(item.id))];
    let mut attempts = item.attempts;
    let mut last_error = item.last_error.clone();
    match &item.record {
        InvoiceRecord::Stored { invoice, stored_at } => {
            r.push((STATE, Value::text(STORED)));
            r.push((
                PURCHASE_TIME,
                Value::Time(invoice.purchase_time.timestamp()),
            ));
            r.push((
                AMOUNT,
                Value::Amount(invoice.amount.format_in(&invoice.currency)),
            ));
            r.push((CURRENCY, Value::text(invoice.currency.as_str())));
            if !invoice.reference.is_empty() {
                r.push((REFERENCE, Value::text(invoice.reference.clone())));
            }
            r.push((DESCRIPTION, Value::text(invoice.description.clone())));
            r.push((ERS_REFERENCE, Value::text(invoice.ers_reference.clone())));
            // Only PAID invoices are ever stored.
            r.push((STATUS, Value::text("PAID")));
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
                    r.push((name, Value::text(v.clone())));
                }
            }
            r.push((STORED_AT, Value::Time(*stored_at)));
        }
        InvoiceRecord::Rejected {
            rejection,
            rejected_at,
            ..
        } => {
            r.push((STATE, Value::text(REJECTED)));
            r.push((REJECTION_CODE, Value::text(rejection.code.to_string())));
            r.push((REJECTION_REASON, Value::text(rejection.reason.clone())));
            r.push((REJECTED_AT, Value::Time(*rejected_at)));
        }
        InvoiceRecord::Processing {
            lease_until_ms,
            attempts: a,
            last_error: e,
        } => {
            r.push((STATE, Value::text(PROCESSING)));
            r.push((LEASE_UNTIL, Value::Millis(*lease_until_ms)));
            attempts = attempts.or(Some(*a));
            last_error = last_error.or_else(|| e.clone());
        }
    }
    if let Some(a) = attempts {
        r.push((ATTEMPTS, Value::number(a)));
    }
    if let Some(e) = last_error {
        r.push((LAST_ERROR, Value::text(e)));
    }
    if let Some(t) = item.last_error_at {
        r.push((LAST_ERROR_AT, Value::Time(t)));
    }
    if let Some(o) = &item.lease_owner {
        r.push((LEASE_OWNER, Value::text(o.clone())));
    }
    if let Some(t) = item.updated_at {
        r.push((UPDATED_AT, Value::Time(t)));
    }
    // Display order, whatever order the arms pushed in.
    let order = all_columns();
    r.sort_by_key(|(name, _)| order.iter().position(|c| c == name).unwrap_or(usize::MAX));
    r
}
