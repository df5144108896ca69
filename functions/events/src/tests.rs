//! The handler over the in-memory bus, fed stream records in the runtime's own shape
//! (`aws_lambda_events::dynamodb::Event`, as DynamoDB Streams delivers them).

use std::time::Duration;

use aws_lambda_events::event::dynamodb::Event;
use glase_shared::events::{InvoiceEvent, PayerData};
use glase_shared::memory::MemoryBus;
use serde_json::{json, Value};

use super::*;

fn publisher() -> Publisher<MemoryBus> {
    Publisher {
        bus: MemoryBus::default(),
        payer: PayerData::Omit,
        retry: Retry {
            attempts: 3,
            first_delay: Duration::ZERO,
        },
    }
}

fn lease(id: u64) -> Value {
    json!({"invoiceId": {"N": id.to_string()}, "state": {"S": "PROCESSING"},
           "leaseOwner": {"S": "w-1"}, "leaseUntil": {"N": "1767225600000"}, "attempts": {"N": "1"}})
}

/// A stored item as the stream carries it: DynamoDB has normalised the number (`0.10` → `0.1`).
fn stored(id: u64, amount: &str) -> Value {
    json!({"invoiceId": {"N": id.to_string()}, "state": {"S": "STORED"},
           "description": {"S": "Phone invoice 05.2015"}, "amount": {"N": amount},
           "currency": {"S": "GBP"}, "status": {"S": "PAID"}, "reference": {"S": "586930/05/2015"},
           "ersReference": {"S": "892736823467823-3897474"},
           "purchaseTime": {"S": "2015-05-15T15:37:33Z"}, "purchaseDate": {"S": "2015-05-15"},
           "storedAt": {"S": "2026-01-01T00:00:00Z"}, "payerCity": {"S": "London"},
           "completedBy": {"S": "w-1"}})
}

fn rejected(id: u64) -> Value {
    json!({"invoiceId": {"N": id.to_string()}, "state": {"S": "REJECTED"},
           "rejectionCode": {"S": "UNKNOWN_INVOICE"}, "rejectionReason": {"S": "Glase answered 404"},
           "rejectedAt": {"S": "2026-01-01T00:00:00Z"}, "rejectedAtMs": {"N": "1767225600000"},
           "attempts": {"N": "5"}})
}

fn record(seq: u64, id: u64, old: Option<Value>, new: Option<Value>) -> Value {
    let name = match (&old, &new) {
        (None, _) => "INSERT",
        (_, None) => "REMOVE",
        _ => "MODIFY",
    };
    let mut change = json!({
        "ApproximateCreationDateTime": 1767225600.0,
        "Keys": {"invoiceId": {"N": id.to_string()}},
        "SequenceNumber": seq.to_string(),
        "SizeBytes": 300,
        "StreamViewType": "NEW_AND_OLD_IMAGES"
    });
    if let Some(old) = old {
        change["OldImage"] = old;
    }
    if let Some(new) = new {
        change["NewImage"] = new;
    }
    json!({"eventID": format!("e{seq}"), "eventName": name, "eventVersion": "1.1",
           "eventSource": "aws:dynamodb", "awsRegion": "eu-west-1", "dynamodb": change,
           "eventSourceARN": "arn:aws:dynamodb:eu-west-1:123456789012:table/invoices/stream/2026-01-01T00:00:00.000"})
}

/// The batch, checked to be what the runtime's own type reads.
fn batch(records: Vec<Value>) -> Value {
    let event = json!({ "Records": records });
    let typed: Event = serde_json::from_value(event.clone()).expect("the runtime's shape");
    assert_eq!(
        typed.records.len(),
        event["Records"].as_array().unwrap().len()
    );
    event
}

fn paid_amounts(events: &[InvoiceEvent]) -> Vec<(u64, String)> {
    events
        .iter()
        .filter_map(|e| match e {
            InvoiceEvent::Paid(p) => Some((p.invoice_id, p.amount.clone())),
            InvoiceEvent::Rejected(_) => None,
        })
        .collect()
}

fn failures(response: &DynamoDbEventResponse) -> Vec<Option<String>> {
    response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect()
}

#[tokio::test]
async fn each_invoice_that_became_stored_is_published_once_and_nothing_else_is() {
    let p = publisher();
    let event = batch(vec![
        record(1, 1, None, Some(lease(1))), // claim
        record(2, 2, None, Some(lease(2))), // claim
        record(3, 1, Some(lease(1)), Some(stored(1, "59.99"))),
        record(4, 2, Some(lease(2)), Some(lease(2))), // release after a transient error
        record(5, 2, Some(lease(2)), Some(stored(2, "0.1"))),
        record(6, 3, None, Some(stored(3, "1234567.89"))),
        record(7, 4, Some(lease(4)), Some(rejected(4))), // InvoiceRejected
        record(8, 4, Some(rejected(4)), Some(lease(4))), // a re-claim of the rejection
        record(9, 1, Some(stored(1, "59.99")), Some(stored(1, "59.99"))), // no second event
    ]);
    let response = p.handle(event).await;
    assert!(failures(&response).is_empty(), "{response:?}");
    let published = p.bus.published();
    assert_eq!(
        paid_amounts(&published),
        [
            (1, "59.99".to_owned()),
            (2, "0.10".to_owned()),
            (3, "1234567.89".to_owned())
        ]
    );
    let rejected: Vec<_> = published
        .iter()
        .filter(|e| e.detail_type() == "InvoiceRejected")
        .map(InvoiceEvent::invoice_id)
        .collect();
    assert_eq!(rejected, [4]);
}

#[tokio::test]
async fn entries_eventbridge_refuses_are_retried_until_accepted() {
    let p = publisher();
    p.bus.refuse_next(2);
    let event = batch(vec![
        record(1, 1, Some(lease(1)), Some(stored(1, "1"))),
        record(2, 2, Some(lease(2)), Some(stored(2, "2"))),
        record(3, 3, Some(lease(3)), Some(stored(3, "3"))),
    ]);
    let response = p.handle(event).await;
    assert!(failures(&response).is_empty(), "{response:?}");
    let mut ids: Vec<_> = p
        .bus
        .published()
        .iter()
        .map(InvoiceEvent::invoice_id)
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, [1, 2, 3], "each exactly once");
}

#[tokio::test]
async fn an_event_refused_on_every_attempt_hands_its_record_back_to_lambda() {
    let p = publisher();
    let event = batch(vec![
        record(1, 1, None, Some(lease(1))),
        record(2, 2, Some(lease(2)), Some(stored(2, "2"))),
        record(3, 3, Some(lease(3)), Some(stored(3, "3"))),
    ]);
    // One attempt only: the first entry is refused, the second accepted.
    p.bus.refuse_next(1);
    let p = Publisher {
        retry: Retry {
            attempts: 1,
            first_delay: Duration::ZERO,
        },
        ..p
    };
    let response = p.handle(event).await;
    assert_eq!(failures(&response), [Some("2".to_owned())]);
    assert_eq!(paid_amounts(&p.bus.published()), [(3, "3.00".to_owned())]);
}

#[tokio::test]
async fn a_record_of_the_wrong_shape_fails_alone_as_the_checkpoint() {
    let p = publisher();
    let mut broken = stored(2, "2");
    broken["amount"] = json!({"S": "two"});
    let mut no_size = record(3, 3, Some(lease(3)), Some(stored(3, "3")));
    no_size["dynamodb"]
        .as_object_mut()
        .unwrap()
        .remove("SizeBytes");
    let event = json!({ "Records": [
        record(1, 1, Some(lease(1)), Some(stored(1, "1"))),
        record(2, 2, Some(lease(2)), Some(broken)),
        no_size,
    ]});
    let response = p.handle(event).await;
    assert_eq!(failures(&response), [Some("2".to_owned())]);
    assert_eq!(paid_amounts(&p.bus.published()), [(1, "1.00".to_owned())]);
    // Not even a Records array: the whole batch fails (empty identifier), no panic.
    let response = p.handle(json!({"nothing": 1})).await;
    assert_eq!(failures(&response), [Some(String::new())]);
}

#[tokio::test]
async fn payer_data_is_published_only_when_configured() {
    let p = Publisher {
        payer: PayerData::Include,
        ..publisher()
    };
    p.handle(batch(vec![record(
        1,
        1,
        Some(lease(1)),
        Some(stored(1, "1")),
    )]))
    .await;
    let detail = p.bus.published()[0].detail_json().unwrap();
    assert!(detail.contains("\"payerCity\":\"London\""), "{detail}");
    let q = publisher();
    q.handle(batch(vec![record(
        1,
        1,
        Some(lease(1)),
        Some(stored(1, "1")),
    )]))
    .await;
    let detail = q.bus.published()[0].detail_json().unwrap();
    assert!(!detail.contains("payer"), "{detail}");
}

/// The published example (events/) and the JSON Schemas (schemas/) say what this code sends.
#[test]
fn the_example_event_and_the_schemas_match_what_is_published() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let read = |path: &str| -> Value {
        let text = std::fs::read_to_string(format!("{root}/{path}")).expect(path);
        serde_json::from_str(&text).expect(path)
    };
    let example = read("events/eventbridge-invoice-paid.json");
    let stored_at = example["detail"]["storedAt"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let event = InvoiceEvent::paid(
        &glase_shared::memory::doc_invoice(),
        stored_at,
        PayerData::Omit,
    );
    let detail: Value = serde_json::from_str(&event.detail_json().unwrap()).unwrap();
    assert_eq!(example["detail"], detail);
    assert_eq!(example["detail-type"], event.detail_type());
    assert_eq!(example["source"], glase_shared::events::EVENT_SOURCE);

    let keys = |v: &Value| -> std::collections::BTreeSet<String> {
        v.as_object().unwrap().keys().cloned().collect()
    };
    let strings = |v: &Value| -> std::collections::BTreeSet<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_owned())
            .collect()
    };
    let paid = read("schemas/InvoicePaid.schema.json");
    assert_eq!(
        strings(&paid["required"]),
        keys(&detail),
        "required = always sent"
    );
    let with_payer = InvoiceEvent::paid(
        &glase_shared::memory::doc_invoice(),
        stored_at,
        PayerData::Include,
    );
    let with_payer: Value = serde_json::from_str(&with_payer.detail_json().unwrap()).unwrap();
    assert_eq!(
        keys(&paid["properties"]),
        keys(&with_payer),
        "every field described"
    );

    let rejection = glase_shared::ports::Rejection {
        code: glase_shared::RejectionCode::NotPaid,
        reason: "r".into(),
    };
    let rejected = InvoiceEvent::rejected(
        glase_shared::InvoiceId::new(1).unwrap(),
        &rejection,
        stored_at,
        1,
    );
    let rejected: Value = serde_json::from_str(&rejected.detail_json().unwrap()).unwrap();
    let schema = read("schemas/InvoiceRejected.schema.json");
    assert_eq!(strings(&schema["required"]), keys(&rejected));
    assert_eq!(keys(&schema["properties"]), keys(&rejected));
}
