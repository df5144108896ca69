//! InvoicePaid events (issue 19) on the real local services: invoices stored through the real
//! pipeline (webhook → SQS → worker → DynamoDB Local), the table's stream read as Lambda's
//! event source mapping reads it (glase_dev::stream_poller), the events function's own wiring
//! publishing to moto's EventBridge, and a rule on the bus → an SQS queue to read them back.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use aws_sdk_dynamodb::types::AttributeValue;
use glase_dev::stream_poller::StreamPoller;
use glase_events::{EventsConfig, LambdaPublisher, Publisher, Retry};
use glase_shared::adapters::eventbridge::EventBus;
use glase_shared::config::Env;
use glase_shared::events::InvoiceEvent;
use glase_shared::ports::{EventPublisher, Unpublished};
use glase_sim::{Reply, RunningSim};
use glase_tests::glase::{invoice_json, ISSUER, SECRET};
use glase_tests::pipeline::GlaseTarget;
use glase_tests::services::{services, unique};
use glase_tests::Pipeline;
use serde_json::Value;

const DRAIN: Duration = Duration::from_secs(60);

struct Events {
    sqs: aws_sdk_sqs::Client,
    eventbridge: aws_sdk_eventbridge::Client,
    bus: String,
    events_queue: String,
    failure_queue: String,
    poller: StreamPoller,
}

async fn start() -> (Pipeline, RunningSim, Events) {
    let glase = glase_tests::glase::start().await;
    let p = Pipeline::start(GlaseTarget {
        base_url: &glase.base_url(),
        issuer: ISSUER,
        secret: SECRET,
    })
    .await;
    let svc = services();
    let aws = glase_dev::aws::local_config(&svc.dynamodb_endpoint, &svc.sqs_endpoint);
    let eventbridge = aws_sdk_eventbridge::Client::new(&aws);
    let bus = unique("bus");
    let events_queue = glase_dev::aws::create_event_bus_to_queue(&eventbridge, &p.sqs, &bus)
        .await
        .expect("bus, rule and queue");
    let failure_queue = p
        .sqs
        .create_queue()
        .queue_name(unique("events-failures"))
        .send()
        .await
        .expect("failure queue")
        .queue_url()
        .unwrap_or_default()
        .to_owned();
    let mut poller =
        StreamPoller::for_table(&p.ddb, aws_sdk_dynamodbstreams::Client::new(&aws), &p.table)
            .await
            .expect("the table has a stream");
    poller.max_retries = 2;
    poller.failure_queue = Some((p.sqs.clone(), failure_queue.clone()));
    let events = Events {
        sqs: p.sqs.clone(),
        eventbridge,
        bus,
        events_queue,
        failure_queue,
        poller,
    };
    (p, glase, events)
}

impl Events {
    /// The function as deployed: its config from its variables, its one constructor.
    fn publisher(&self) -> LambdaPublisher {
        let env = Env::from_pairs(&[("EVENT_BUS_NAME", &self.bus)]);
        let aws =
            glase_dev::aws::local_config(&services().dynamodb_endpoint, &services().sqs_endpoint);
        let mut publisher =
            LambdaPublisher::from_config(&EventsConfig::from_env(&env).expect("config"), &aws);
        publisher.retry.first_delay = Duration::from_millis(10);
        publisher
    }

    /// Delivers the stream until a whole pass delivers nothing new.
    async fn pump<F, Fut>(&mut self, handler: F)
    where
        F: Fn(Value) -> Fut,
        Fut: Future<Output = DynamoDbEventResponse>,
    {
        let mut idle = 0;
        for _ in 0..200 {
            let stats = self
                .poller
                .poll_once(&handler)
                .await
                .expect("poll the stream");
            if stats.delivered == 0 {
                idle += 1;
                if idle >= 2 {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            } else {
                idle = 0;
            }
        }
        panic!("the stream never went quiet");
    }

    /// Every message in a queue, read and deleted, bodies parsed.
    async fn drain_queue(&self, url: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let mut empty = 0;
        while empty < 2 {
            let got = self
                .sqs
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(10)
                .wait_time_seconds(0)
                .send()
                .await
                .expect("receive");
            let messages = got.messages();
            if messages.is_empty() {
                empty += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            empty = 0;
            for m in messages {
                out.push(serde_json::from_str(m.body().unwrap_or_default()).expect("JSON body"));
                self.sqs
                    .delete_message()
                    .queue_url(url)
                    .receipt_handle(m.receipt_handle().unwrap_or_default())
                    .send()
                    .await
                    .expect("delete");
            }
        }
        out
    }

    async fn published(&self) -> Vec<Value> {
        self.drain_queue(&self.events_queue).await
    }
}

/// detail-type → invoiceId → how many events.
fn counts(events: &[Value]) -> BTreeMap<(String, u64), usize> {
    let mut map = BTreeMap::new();
    for e in events {
        let key = (
            e["detail-type"].as_str().unwrap_or_default().to_owned(),
            e["detail"]["invoiceId"].as_u64().expect("invoiceId"),
        );
        *map.entry(key).or_default() += 1;
    }
    map
}

async fn store(p: &Pipeline, glase: &RunningSim, invoices: &[(u64, &str)]) {
    for (id, amount) in invoices {
        glase.sim().answer(
            *id,
            Reply::json(invoice_json(*id, amount, "586930/05/2015")),
        );
        assert_eq!(p.notify(&format!(r#"{{"invoiceId": {id}}}"#)).await.0, 200);
    }
    p.drain(DRAIN).await;
}

#[tokio::test]
async fn each_stored_invoice_yields_exactly_one_invoice_paid_with_its_exact_amount() {
    let (p, glase, mut ev) = start().await;
    // A transient failure first (a lease, then its release), then the invoice.
    glase
        .sim()
        .answer_next(3, Reply::raw(503, "text/plain", "busy"));
    store(&p, &glase, &[(1, "59.99"), (2, "0.10"), (3, "1234567.89")]).await;
    // A duplicate notification of a stored invoice, and an unknown invoice (REJECTED).
    assert_eq!(p.notify(r#"{"invoiceId": 1}"#).await.0, 200);
    assert_eq!(p.notify(r#"{"invoiceId": 404}"#).await.0, 200);
    p.drain(DRAIN).await;
    assert!(matches!(
        p.record(404).await,
        Some(glase_shared::ports::InvoiceRecord::Rejected { .. })
    ));

    let publisher = ev.publisher();
    ev.pump(|event| publisher.handle(event)).await;
    let events = ev.published().await;

    let expected: BTreeMap<(String, u64), usize> = [
        (("InvoicePaid".to_owned(), 1), 1),
        (("InvoicePaid".to_owned(), 2), 1),
        (("InvoicePaid".to_owned(), 3), 1),
        (("InvoiceRejected".to_owned(), 404), 1),
    ]
    .into();
    assert_eq!(counts(&events), expected, "{events:#?}");
    let amounts: BTreeMap<u64, &str> = events
        .iter()
        .filter(|e| e["detail-type"] == "InvoicePaid")
        .map(|e| {
            (
                e["detail"]["invoiceId"].as_u64().unwrap(),
                e["detail"]["amount"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        amounts,
        BTreeMap::from([(1, "59.99"), (2, "0.10"), (3, "1234567.89")]),
        "byte-exact decimal strings"
    );
    let paid = events
        .iter()
        .find(|e| e["detail"]["invoiceId"] == 1)
        .unwrap();
    assert_eq!(paid["source"], "glase-invoices");
    assert_eq!(paid["detail"]["schemaVersion"], 1);
    assert!(
        paid["detail"].get("payerCity").is_none(),
        "no payer data by default"
    );
    // The example in docs/events.md is one of these, as published.
    println!("{}", serde_json::to_string_pretty(paid).unwrap());
    assert_eq!(ev.drain_queue(&ev.failure_queue).await.len(), 0);
}

/// A publisher that dies after its first `PutEvents` call of a batch: what it published stays
/// published, the invocation never returns.
struct DiesMidBatch {
    bus: EventBus,
    calls: AtomicUsize,
}

impl EventPublisher for DiesMidBatch {
    async fn publish(&self, events: &[InvoiceEvent]) -> Vec<Unpublished> {
        let n = events
            .len()
            .min(glase_shared::adapters::eventbridge::MAX_ENTRIES);
        let refused = self.bus.publish(&events[..n]).await;
        assert!(refused.is_empty(), "{refused:?}");
        if self.calls.fetch_add(1, Ordering::SeqCst) == 0 {
            std::future::pending::<()>().await;
        }
        Vec::new()
    }
}

#[tokio::test]
async fn a_publisher_killed_mid_batch_and_restarted_loses_no_event_and_duplicates_keep_their_id() {
    let (p, glase, mut ev) = start().await;
    let ids: Vec<u64> = (100..125).collect();
    let amounts: Vec<(u64, &str)> = ids.iter().map(|&id| (id, "12.50")).collect();
    store(&p, &glase, &amounts).await;

    // The first invocation dies after publishing 10 of the batch's events: Lambda sees a
    // timeout (the whole batch failed) and delivers the batch again, to a new process.
    let dying = Publisher {
        bus: DiesMidBatch {
            bus: ev.publisher().bus,
            calls: AtomicUsize::new(0),
        },
        payer: Default::default(),
        retry: Retry::default(),
    };
    let restarted = ev.publisher();
    let died = AtomicUsize::new(0);
    ev.pump(|event| {
        let (dying, restarted, died) = (&dying, &restarted, &died);
        async move {
            if died.load(Ordering::SeqCst) == 0 {
                let out = tokio::time::timeout(Duration::from_secs(2), dying.handle(event)).await;
                if let Ok(response) = out {
                    return response;
                }
                died.fetch_add(1, Ordering::SeqCst);
                // A timed-out invocation: the whole batch is retried.
                let mut failure = DynamoDbBatchItemFailure::default();
                failure.item_identifier = Some(String::new());
                let mut response = DynamoDbEventResponse::default();
                response.batch_item_failures.push(failure);
                return response;
            }
            restarted.handle(event).await
        }
    })
    .await;
    assert_eq!(died.load(Ordering::SeqCst), 1, "the first invocation died");

    let events = ev.published().await;
    let counts = counts(&events);
    for id in &ids {
        let n = counts
            .get(&("InvoicePaid".to_owned(), *id))
            .copied()
            .unwrap_or(0);
        assert!(n >= 1, "invoice {id} has no InvoicePaid: lost");
    }
    let duplicates: usize = counts.values().map(|n| n - 1).sum();
    assert_eq!(
        duplicates, 10,
        "only what the dead invocation had published comes twice"
    );
    // Each duplicate is the same event: same invoiceId, same detail.
    let mut by_id: BTreeMap<u64, Vec<&Value>> = BTreeMap::new();
    for e in &events {
        by_id
            .entry(e["detail"]["invoiceId"].as_u64().unwrap())
            .or_default()
            .push(&e["detail"]);
    }
    for (id, details) in by_id {
        assert!(
            details.windows(2).all(|w| w[0] == w[1]),
            "invoice {id}: {details:?}"
        );
    }
}

#[tokio::test]
async fn events_eventbridge_refuses_are_handed_back_and_published_once_it_accepts() {
    let (p, glase, mut ev) = start().await;
    store(&p, &glase, &[(7, "1.00"), (8, "2.00")]).await;
    // The bus does not exist yet: every PutEvents entry fails.
    let missing = Publisher {
        bus: EventBus::new(ev.eventbridge.clone(), unique("no-such-bus")),
        payer: Default::default(),
        retry: Retry {
            attempts: 2,
            first_delay: Duration::from_millis(10),
        },
    };
    let stats = ev
        .poller
        .poll_once(|event| missing.handle(event))
        .await
        .expect("poll");
    assert!(stats.delivered > 0 && stats.failed == 1, "{stats:?}");
    // The records were handed back, not dropped: the real bus gets them on re-delivery.
    let publisher = ev.publisher();
    ev.pump(|event| publisher.handle(event)).await;
    let expected: BTreeMap<(String, u64), usize> = [
        (("InvoicePaid".to_owned(), 7), 1),
        (("InvoicePaid".to_owned(), 8), 1),
    ]
    .into();
    assert_eq!(counts(&ev.published().await), expected);
}

#[tokio::test]
async fn a_stream_record_of_the_wrong_shape_goes_to_the_failure_destination_not_a_crash_loop() {
    let (p, glase, mut ev) = start().await;
    // An item this code never writes: STORED, but its amount a string.
    p.ddb
        .put_item()
        .table_name(&p.table)
        .item("invoiceId", AttributeValue::N("9".into()))
        .item("state", AttributeValue::S("STORED".into()))
        .item("amount", AttributeValue::S("lots".into()))
        .send()
        .await
        .expect("put the odd item");
    store(&p, &glase, &[(10, "3.00")]).await;

    let publisher = ev.publisher();
    ev.pump(|event| publisher.handle(event)).await;

    let failures = ev.drain_queue(&ev.failure_queue).await;
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert!(failures[0]["DDBStreamBatchInfo"]["startSequenceNumber"].is_string());
    // The stream moved on, and the invoice stored after the odd item in the same batch was
    // published on each of the batch's 3 deliveries (the function publishes every readable
    // record, so a batch Lambda gives up on loses none): duplicates, same invoiceId.
    let expected: BTreeMap<(String, u64), usize> = [(("InvoicePaid".to_owned(), 10), 3)].into();
    assert_eq!(counts(&ev.published().await), expected);
}
