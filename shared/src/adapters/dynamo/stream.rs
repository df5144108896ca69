//! The invoices table's stream: a record's images read back into the domain, and the event
//! the change calls for. The images are serde_dynamo items (the Lambda event's shape);
//! converted to the SDK's `AttributeValue`s, they are read by the same parser as `GetItem`'s.

use aws_lambda_events::event::dynamodb::EventRecord;
use aws_sdk_dynamodb::types::AttributeValue;

use super::item::{get_n, get_s, item_to_record, Item};
use super::schema::{INVOICE_ID, PROCESSING, REJECTED, STATE, STORED};
use crate::domain::InvoiceId;
use crate::events::{transition, InvoiceEvent, PayerData, RecordState, Transition};
use crate::ports::{AdapterError, InvoiceRecord};

/// The item's state; `None` for no image (an insert's old image, a removal's new one).
fn state_of(item: &Item) -> Result<Option<RecordState>, AdapterError> {
    if item.is_empty() {
        return Ok(None);
    }
    match get_s(item, STATE)? {
        PROCESSING => Ok(Some(RecordState::Processing)),
        STORED => Ok(Some(RecordState::Stored)),
        REJECTED => Ok(Some(RecordState::Rejected)),
        other => Err(AdapterError::msg(format!(
            "item has unknown state {other:?}"
        ))),
    }
}

/// The event one stream record calls for: `InvoicePaid` when the item became STORED,
/// `InvoiceRejected` when it became REJECTED, else `None`. The transition is checked here
/// whatever the event source mapping's filter let through (the filter only saves
/// invocations). An image this code cannot read is an error: the record is retried and,
/// in the end, goes to the failure destination — never skipped silently.
pub fn stream_event(
    record: &EventRecord,
    payer: PayerData,
) -> Result<Option<InvoiceEvent>, AdapterError> {
    let old = Item::from(record.change.old_image.clone());
    let new = Item::from(record.change.new_image.clone());
    let Some(change) = transition(state_of(&old)?, state_of(&new)?) else {
        return Ok(None);
    };
    let record = item_to_record(&new)?;
    match (change, record) {
        (Transition::BecameStored, InvoiceRecord::Stored { invoice, stored_at }) => {
            Ok(Some(InvoiceEvent::paid(&invoice, stored_at, payer)))
        }
        (
            Transition::BecameRejected,
            InvoiceRecord::Rejected {
                rejection,
                rejected_at,
                attempts,
            },
        ) => {
            let id: u64 = get_n(&new, INVOICE_ID)?;
            let id = InvoiceId::new(id)
                .map_err(|e| AdapterError::msg(format!("attribute invoiceId is invalid: {e}")))?;
            Ok(Some(InvoiceEvent::rejected(
                id,
                &rejection,
                rejected_at,
                attempts,
            )))
        }
        _ => Err(AdapterError::msg(
            "the new image's state changed while read",
        )),
    }
}

/// The invoice id a stream record is about, from its keys, for logs.
pub fn stream_invoice_id(record: &EventRecord) -> Option<u64> {
    match record
        .change
        .keys
        .get(INVOICE_ID)
        .cloned()
        .map(AttributeValue::from)
    {
        Some(AttributeValue::N(n)) => n.parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::dynamo::invoice_to_item;
    use crate::domain::{Invoice, Payer, PurchaseTime};
    use jiff::Timestamp;

    fn image(item: Item) -> serde_dynamo::Item {
        serde_dynamo::Item::from(item)
    }

    fn stored() -> Item {
        let invoice = Invoice {
            id: InvoiceId::new(25153).unwrap(),
            description: "d".into(),
            amount: "0.10".parse().unwrap(),
            currency: "GBP".parse().unwrap(),
            reference: "r".into(),
            ers_reference: "e".into(),
            purchase_time: PurchaseTime::parse_iso("2015-05-15T15:37:33Z").unwrap(),
            payer: Payer::default(),
        };
        let mut item = invoice_to_item(&invoice, Timestamp::UNIX_EPOCH);
        // DynamoDB normalises numbers: what the stream carries.
        item.insert("amount".into(), AttributeValue::N("0.1".into()));
        item
    }

    fn processing() -> Item {
        Item::from([
            (INVOICE_ID.into(), AttributeValue::N("25153".into())),
            (STATE.into(), AttributeValue::S(PROCESSING.into())),
            ("leaseUntil".into(), AttributeValue::N("1".into())),
        ])
    }

    fn record(old: Option<Item>, new: Option<Item>) -> EventRecord {
        let mut r = EventRecord::default();
        r.change.keys = image(Item::from([(
            INVOICE_ID.into(),
            AttributeValue::N("25153".into()),
        )]));
        r.change.old_image = image(old.unwrap_or_default());
        r.change.new_image = image(new.unwrap_or_default());
        r
    }

    #[test]
    fn a_lease_becoming_stored_is_invoice_paid_with_the_exact_amount() {
        let event = stream_event(&record(Some(processing()), Some(stored())), PayerData::Omit)
            .unwrap()
            .unwrap();
        let InvoiceEvent::Paid(paid) = event else {
            panic!("{event:?}")
        };
        assert_eq!(paid.amount, "0.10");
        assert_eq!(paid.invoice_id, 25153);
        assert_eq!(stream_invoice_id(&record(None, None)), Some(25153));
    }

    #[test]
    fn a_lease_write_or_a_rewrite_of_a_stored_item_is_no_event() {
        let lease = record(None, Some(processing()));
        assert_eq!(stream_event(&lease, PayerData::Omit).unwrap(), None);
        let again = record(Some(stored()), Some(stored()));
        assert_eq!(stream_event(&again, PayerData::Omit).unwrap(), None);
    }

    #[test]
    fn an_unreadable_stored_image_is_an_error_not_a_skip() {
        let mut broken = stored();
        broken.insert("amount".into(), AttributeValue::S("lots".into()));
        assert!(stream_event(&record(Some(processing()), Some(broken)), PayerData::Omit).is_err());
        let mut weird = processing();
        weird.insert(STATE.into(), AttributeValue::S("WEIRD".into()));
        assert!(stream_event(&record(None, Some(weird)), PayerData::Omit).is_err());
    }
}
