//! Reading the invoices table for people and tools (`glase-invoices`): one invoice, a
//! reference's payments, a time range's payments, and the open (processing or rejected) ones.
//!
//! Every read is a GetItem or a Query on one of the table's indexes — never a Scan — and every
//! query pages (the SDK's paginator) to the end. Items come back as [`InvoiceRow`]s: domain
//! records (through [`item_to_record`]) plus the operational attributes an operator needs;
//! `AttributeValue` stays in this module.

use std::fmt;

use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, Select};
use aws_sdk_dynamodb::Client;
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};

use super::item::{opt_s, reference_key};
use super::schema::*;
use super::{item_to_record, Item};
use crate::adapters::sdk_failure;
use crate::domain::{Currency, InvoiceId};
use crate::ports::{AdapterError, InvoiceRecord};

/// The text form of an instant in an index sort key (`updatedAt`, and the bounds compared with
/// `purchaseTime`): ISO 8601 UTC in whole seconds, like `2015-05-15T15:37:33Z`. One precision
/// for every value keeps text order equal to time order (`…33.5Z` would sort before `…33Z`).
pub fn index_time(at: Timestamp) -> String {
    Timestamp::from_second(at.as_second())
        .unwrap_or(at)
        .to_string()
}

/// One invoice's item as read back: its record, and the attributes that say how it got there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceRow {
    pub id: InvoiceId,
    pub record: InvoiceRecord,
    /// How often a worker claimed it (kept after a rejection, dropped once stored).
    pub attempts: Option<u32>,
    /// The last transient failure, e.g. `Glase fetch failed transiently: HTTP 503`.
    pub last_error: Option<String>,
    pub last_error_at: Option<Timestamp>,
    /// The worker holding (or last holding) the claim.
    pub lease_owner: Option<String>,
    /// When it entered its open state: claimed (`PROCESSING`) or rejected.
    pub updated_at: Option<Timestamp>,
}

/// The two states the `byOpenState` index holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenState {
    Processing,
    Rejected,
}

impl OpenState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Processing => PROCESSING,
            Self::Rejected => REJECTED,
        }
    }
}

impl fmt::Display for OpenState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Read-only access to the invoices table.
#[derive(Clone, Debug)]
pub struct InvoiceQueries {
    client: Client,
    table: String,
    page_size: Option<i32>,
}

impl InvoiceQueries {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            page_size: None,
        }
    }

    /// Caps each Query page at `items` (DynamoDB's `Limit`); pages are still read to the end.
    /// Useful to exercise pagination; `None` lets DynamoDB fill 1 MB pages.
    pub fn with_page_size(mut self, items: Option<i32>) -> Self {
        self.page_size = items.filter(|n| *n > 0);
        self
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// The whole item of one invoice (strongly consistent), or `None`.
    pub async fn get(&self, id: InvoiceId) -> Result<Option<InvoiceRow>, AdapterError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(INVOICE_ID, AttributeValue::N(id.to_string()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_failure(&format!("GetItem on table {}", self.table), e))?;
        out.item().map(to_invoice_row).transpose()
    }

    /// Every payment of an issuer reference, in purchase order (`byReference`). A reference
    /// too long for the index key is looked up by its digest, as it was stored.
    pub fn by_reference(
        &self,
        reference: &str,
    ) -> BoxStream<'static, Result<InvoiceRow, AdapterError>> {
        let query = self
            .query(BY_REFERENCE_INDEX)
            .key_condition_expression("#ref = :ref")
            .expression_attribute_names("#ref", REFERENCE)
            .expression_attribute_values(
                ":ref",
                AttributeValue::S(reference_key(reference).into_owned()),
            );
        self.items(query, BY_REFERENCE_INDEX)
    }

    /// Every invoice purchased in `[from, to)`, in purchase order, optionally of one currency.
    /// Reads each UTC day bucket of `byPurchaseDate` the range touches, in turn.
    pub fn paid_between(
        &self,
        from: Timestamp,
        to: Timestamp,
        currency: Option<Currency>,
    ) -> BoxStream<'static, Result<InvoiceRow, AdapterError>> {
        let this = self.clone();
        stream::iter(self.day_queries(from, to))
            .map(move |mut query| {
                if let Some(currency) = currency {
                    query = query
                        .filter_expression("#cur = :cur")
                        .expression_attribute_names("#cur", CURRENCY)
                        .expression_attribute_values(
                            ":cur",
                            AttributeValue::S(currency.as_str().to_owned()),
                        );
                }
                this.items(query, BY_PURCHASE_DATE_INDEX)
            })
            .flatten()
            .boxed()
    }

    /// How many invoices were purchased in `[from, to)` (a COUNT query per day bucket).
    pub async fn count_paid_between(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<u64, AdapterError> {
        let mut total = 0;
        for query in self.day_queries(from, to) {
            total += self.count(query, BY_PURCHASE_DATE_INDEX).await?;
        }
        Ok(total)
    }

    /// Open invoices in `state` whose `updatedAt` is within the bounds (inclusive), oldest
    /// first (`byOpenState`). Processing: claimed then; rejected: rejected then.
    pub fn open(
        &self,
        state: OpenState,
        after: Option<Timestamp>,
        before: Option<Timestamp>,
    ) -> BoxStream<'static, Result<InvoiceRow, AdapterError>> {
        self.items(self.open_query(state, after, before), BY_OPEN_STATE_INDEX)
    }

    /// How many invoices are open in `state` with `updatedAt` within the bounds.
    pub async fn count_open(
        &self,
        state: OpenState,
        after: Option<Timestamp>,
        before: Option<Timestamp>,
    ) -> Result<u64, AdapterError> {
        self.count(self.open_query(state, after, before), BY_OPEN_STATE_INDEX)
            .await
    }

    fn open_query(
        &self,
        state: OpenState,
        after: Option<Timestamp>,
        before: Option<Timestamp>,
    ) -> QueryFluentBuilder {
        let condition = match (after, before) {
            (None, None) => "#open = :open",
            (Some(_), None) => "#open = :open AND #updated >= :after",
            (None, Some(_)) => "#open = :open AND #updated <= :before",
            (Some(_), Some(_)) => "#open = :open AND #updated BETWEEN :after AND :before",
        };
        let mut query = self
            .query(BY_OPEN_STATE_INDEX)
            .key_condition_expression(condition)
            .expression_attribute_names("#open", OPEN_STATE)
            .expression_attribute_values(":open", AttributeValue::S(state.as_str().into()));
        if after.is_some() || before.is_some() {
            query = query.expression_attribute_names("#updated", UPDATED_AT);
        }
        if let Some(after) = after {
            query =
                query.expression_attribute_values(":after", AttributeValue::S(index_time(after)));
        }
        if let Some(before) = before {
            query =
                query.expression_attribute_values(":before", AttributeValue::S(index_time(before)));
        }
        query
    }

    /// One query of `byPurchaseDate` per UTC day bucket that `[from, to)` touches.
    fn day_queries(&self, from: Timestamp, to: Timestamp) -> Vec<QueryFluentBuilder> {
        day_bounds(from, to)
            .into_iter()
            .map(|(day, lo, hi)| {
                self.query(BY_PURCHASE_DATE_INDEX)
                    .key_condition_expression("#day = :day AND #time BETWEEN :lo AND :hi")
                    .expression_attribute_names("#day", PURCHASE_DATE)
                    .expression_attribute_names("#time", PURCHASE_TIME)
                    .expression_attribute_values(":day", AttributeValue::S(day))
                    .expression_attribute_values(":lo", AttributeValue::S(lo))
                    .expression_attribute_values(":hi", AttributeValue::S(hi))
            })
            .collect()
    }

    fn query(&self, index: &str) -> QueryFluentBuilder {
        self.client
            .query()
            .table_name(&self.table)
            .index_name(index)
            .set_limit(self.page_size)
    }

    /// Runs `query` page after page and yields its items in order.
    fn items(
        &self,
        query: QueryFluentBuilder,
        index: &str,
    ) -> BoxStream<'static, Result<InvoiceRow, AdapterError>> {
        let what = format!("Query on index {index} of table {}", self.table);
        let items = query.into_paginator().items().send();
        stream::unfold(items, |mut items| async move {
            let item = items.next().await?;
            Some((item, items))
        })
        .map_err(move |e| sdk_failure(&what, e))
        .and_then(|item| async move { to_invoice_row(&item) })
        .boxed()
    }

    async fn count(&self, query: QueryFluentBuilder, index: &str) -> Result<u64, AdapterError> {
        let mut pages = query.select(Select::Count).into_paginator().send();
        let mut total = 0u64;
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                sdk_failure(
                    &format!("Query (count) on index {index} of table {}", self.table),
                    e,
                )
            })?;
            total += u64::try_from(page.count).unwrap_or(0);
        }
        Ok(total)
    }
}

/// `(purchaseDate, lowest purchaseTime, highest purchaseTime)` for each UTC day that
/// `[from, to)` touches. Stored times are whole seconds, so `to − 1 s` is the inclusive end.
fn day_bounds(from: Timestamp, to: Timestamp) -> Vec<(String, String, String)> {
    let Ok(last) = to.checked_sub(1.second()) else {
        return Vec::new();
    };
    if last < from {
        return Vec::new();
    }
    let (lo, hi) = (index_time(from), index_time(last));
    let first_day = from.to_zoned_datetime(TimeZone::UTC).date();
    let last_day = last.to_zoned_datetime(TimeZone::UTC).date();
    first_day
        .series(1.day())
        .take_while(|d| *d <= last_day)
        .map(|d| (d.to_string(), lo.clone(), hi.clone()))
        .collect()
}

fn opt_time(item: &Item, name: &str) -> Result<Option<Timestamp>, AdapterError> {
    opt_s(item, name)
        .map(|text| {
            text.parse()
                .map_err(|e| AdapterError::msg(format!("attribute {name} is invalid: {e}")))
        })
        .transpose()
}

fn to_invoice_row(item: &Item) -> Result<InvoiceRow, AdapterError> {
    let id = match item.get(INVOICE_ID) {
        Some(AttributeValue::N(n)) => n.parse::<InvoiceId>().ok(),
        _ => None,
    }
    .ok_or_else(|| AdapterError::msg("item lacks a valid invoiceId"))?;
    let record = item_to_record(item)
        .map_err(|e| AdapterError::msg(format!("invoice {id}: {}", e.message)))?;
    let attempts = match item.get(ATTEMPTS) {
        Some(AttributeValue::N(n)) => Some(n.parse().map_err(|_| {
            AdapterError::msg(format!("invoice {id}: attribute {ATTEMPTS} is invalid"))
        })?),
        _ => None,
    };
    Ok(InvoiceRow {
        id,
        record,
        attempts,
        last_error: opt_s(item, LAST_ERROR),
        last_error_at: opt_time(item, LAST_ERROR_AT)?,
        lease_owner: opt_s(item, LEASE_OWNER),
        updated_at: opt_time(item, UPDATED_AT)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn index_time_has_one_precision_so_text_order_is_time_order() {
        assert_eq!(
            index_time(ts("2015-05-15T15:37:33Z")),
            "2015-05-15T15:37:33Z"
        );
        assert_eq!(
            index_time(ts("2015-05-15T15:37:33.987Z")),
            "2015-05-15T15:37:33Z"
        );
        assert!(index_time(ts("2015-05-15T15:37:33.5Z")) < index_time(ts("2015-05-15T15:37:34Z")));
    }

    #[test]
    fn a_range_reads_every_utc_day_it_touches_with_inclusive_bounds() {
        // A Stockholm day in summer: 22:00 UTC the day before to 22:00 UTC.
        let days = day_bounds(ts("2015-05-14T22:00:00Z"), ts("2015-05-15T22:00:00Z"));
        assert_eq!(
            days,
            vec![
                (
                    "2015-05-14".into(),
                    "2015-05-14T22:00:00Z".into(),
                    "2015-05-15T21:59:59Z".into()
                ),
                (
                    "2015-05-15".into(),
                    "2015-05-14T22:00:00Z".into(),
                    "2015-05-15T21:59:59Z".into()
                ),
            ]
        );
        let utc_day = day_bounds(ts("2015-05-15T00:00:00Z"), ts("2015-05-16T00:00:00Z"));
        assert_eq!(utc_day.len(), 1);
        assert_eq!(utc_day[0].0, "2015-05-15");
        assert!(day_bounds(ts("2015-05-15T00:00:00Z"), ts("2015-05-15T00:00:00Z")).is_empty());
    }

    #[test]
    fn an_item_without_an_id_or_of_unknown_state_is_an_error() {
        assert!(to_invoice_row(&Item::new()).is_err());
        let item = Item::from([
            (INVOICE_ID.to_owned(), AttributeValue::N("5".into())),
            (STATE.to_owned(), AttributeValue::S("WEIRD".into())),
        ]);
        assert!(to_invoice_row(&item)
            .unwrap_err()
            .message
            .contains("invoice 5"));
    }
}
