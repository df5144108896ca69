//! `events`: the InvoicePaid/InvoiceRejected events a rule on the bus copies to a queue, read
//! back on moto — published by the stack's own EventBridge adapter to moto's bus, delivered by
//! a rule to moto's SQS, as `make dev` wires them.

use std::collections::BTreeMap;

use crate::common::*;
use glase_shared::adapters::eventbridge::EventBus;
use glase_shared::events::{InvoiceEvent, PayerData};
use glase_shared::ports::{EventPublisher, Rejection};
use glase_shared::RejectionCode;

/// A bus, a rule to a queue, and the events of two paid invoices and one rejection on it.
fn queue_with_events(prefix: &str) -> String {
    let svc = services();
    let aws = glase_dev::aws::local_config(&svc.dynamodb_endpoint, &svc.sqs_endpoint);
    let eventbridge = aws_sdk_eventbridge::Client::new(&aws);
    let bus = unique(prefix);
    block_on(async {
        let queue = glase_dev::aws::create_event_bus_to_queue(&eventbridge, &sqs(), &bus)
            .await
            .expect("bus, rule and queue");
        let stored_at = ts("2026-03-01T09:00:02.5Z");
        let events = vec![
            InvoiceEvent::paid(
                &invoice(102, "2026-03-01T09:00:00Z", "0.1", "GBP", "R-7", "Tea"),
                stored_at,
                PayerData::Omit,
            ),
            InvoiceEvent::paid(
                &invoice(
                    103,
                    "2026-03-01T09:00:00Z",
                    "1234567.89",
                    "EUR",
                    "=cmd",
                    "Electricity",
                ),
                stored_at,
                PayerData::Omit,
            ),
            InvoiceEvent::rejected(
                id(301),
                &Rejection {
                    code: RejectionCode::NotPaid,
                    reason: "invoice status is \"PENDING\", not PAID".into(),
                },
                stored_at,
                5,
            ),
        ];
        let unpublished = EventBus::new(eventbridge, &bus).publish(&events).await;
        assert!(
            unpublished.is_empty(),
            "moto refused events: {unpublished:?}"
        );
        queue
    })
}

/// An event as a rule delivers it: the EventBridge envelope around the domain's detail.
fn envelope(event: &InvoiceEvent) -> String {
    format!(
        r#"{{"version":"0","id":"1","detail-type":"{}","source":"glase-invoices","account":"123456789012","time":"2026-03-01T09:00:03Z","region":"us-east-1","resources":[],"detail":{}}}"#,
        event.detail_type(),
        event.detail_json().unwrap()
    )
}

fn send(queue: &str, body: &str) {
    block_on(
        sqs()
            .send_message()
            .queue_url(queue)
            .message_body(body)
            .send(),
    )
    .expect("send");
}

/// Waits until the rule has delivered `n` messages to the queue.
fn wait_for(queue: &str, n: u64) {
    for _ in 0..100 {
        if depth(queue).0 >= n {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("the rule delivered {:?} of {n} messages", depth(queue));
}

fn lines(stdout: &str) -> Vec<serde_json::Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

#[test]
fn events_are_printed_once_each_with_exact_amounts_and_stay_on_the_queue() {
    let queue = queue_with_events("cli-events");
    send(&queue, "not an event");
    wait_for(&queue, 4);
    let env = [("EVENTS_QUEUE_URL", queue.as_str())];

    let json = run(&env, &["events", "--format", "json"]);
    assert_eq!(json.code, 0, "{}", json.transcript());
    let rows = lines(&json.stdout);
    let mut by_id = BTreeMap::new();
    for row in &rows {
        *by_id.entry(row["invoiceId"].as_u64().unwrap()).or_insert(0) += 1;
    }
    assert_eq!(
        by_id,
        BTreeMap::from([(102, 1), (103, 1), (301, 1)]),
        "{}",
        json.transcript()
    );
    let row = |n: u64| rows.iter().find(|r| r["invoiceId"] == n).unwrap();
    assert_eq!(row(102)["detailType"], "InvoicePaid");
    assert_eq!(row(102)["currency"], "GBP");
    assert_eq!(row(102)["reference"], "R-7");
    assert_eq!(row(102)["storedAt"], "2026-03-01T09:00:02.5Z");
    assert_eq!(row(301)["detailType"], "InvoiceRejected");
    assert_eq!(row(301)["rejectionCode"], "NOT_PAID");
    // Byte-exact: the amount's text as published, never a float.
    assert!(
        json.stdout.contains(r#""amount":"0.10""#),
        "{}",
        json.transcript()
    );
    assert!(json.stdout.contains(r#""amount":"1234567.89""#));
    // The body that is no event: reported with its message id, not fatal.
    assert!(
        json.stderr.contains("1 message is not an invoice event"),
        "{}",
        json.transcript()
    );
    assert_eq!(depth(&queue), (4, 0), "nothing consumed, nothing hidden");

    let csv = run(&env, &["events", "--format", "csv"]);
    assert_eq!(csv.code, 0, "{}", csv.transcript());
    assert!(csv.stdout.starts_with(
        "detailType,invoiceId,amount,currency,reference,storedAt,rejectionCode,rejectionReason,rejectedAt,messageId\r\n"
    ));
    assert!(
        csv.stdout.contains(",0.10,GBP,R-7,"),
        "{}",
        csv.transcript()
    );
    assert!(
        csv.stdout.contains(",1234567.89,EUR,'=cmd,"),
        "formula text neutralised: {}",
        csv.transcript()
    );
    let table = run(&env, &["events", "--format", "table"]);
    assert_eq!(table.code, 0, "{}", table.transcript());
    golden("events.table", &table.stdout);
    assert_eq!(depth(&queue), (4, 0), "nothing consumed, nothing hidden");
}

#[test]
fn events_delete_removes_what_it_printed_and_leaves_other_bodies() {
    let queue = queue_with_events("cli-events-delete");
    send(&queue, r#"{"detail-type":"SomethingElse","detail":{}}"#);
    wait_for(&queue, 4);
    let env = [("EVENTS_QUEUE_URL", queue.as_str())];

    let first = run(&env, &["events", "--delete", "--format", "json"]);
    assert_eq!(first.code, 0, "{}", first.transcript());
    assert_eq!(lines(&first.stdout).len(), 3, "{}", first.transcript());
    assert!(first.stderr.contains("1 message is not an invoice event"));
    assert_eq!(
        depth(&queue),
        (1, 0),
        "the events deleted, the other body left"
    );

    let again = run(&env, &["events", "--format", "json"]);
    assert_eq!(again.code, 1, "{}", again.transcript());
    assert_eq!(again.stdout, "");
}

#[test]
fn events_max_prints_at_most_that_many_and_deletes_only_those() {
    let queue = queue_with_events("cli-events-max");
    wait_for(&queue, 3);
    let env = [("EVENTS_QUEUE_URL", queue.as_str())];

    let first = run(
        &env,
        &["events", "--max", "2", "--delete", "--format", "json"],
    );
    assert_eq!(first.code, 0, "{}", first.transcript());
    assert_eq!(lines(&first.stdout).len(), 2, "{}", first.transcript());
    assert_eq!(depth(&queue), (1, 0));
}

#[test]
fn events_without_a_queue_is_a_configuration_error_naming_the_flag() {
    // AWS endpoints not local: no default queue, no AWS call.
    let out = command(&[], &["events"])
        .env_remove("AWS_ENDPOINT_URL_SQS")
        .output()
        .expect("run glase-invoices");
    let r = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert_eq!(r.code, 3, "{}", r.transcript());
    assert_eq!(r.stdout, "");
    assert!(
        r.stderr.contains("--events-queue-url"),
        "{}",
        r.transcript()
    );
}

#[test]
fn events_queue_default_is_the_one_make_dev_creates() {
    assert_eq!(
        glase_invoices::config::DEV_EVENTS_QUEUE,
        format!("{}-events", glase_dev::stack::DEV_EVENT_BUS)
    );
}

#[test]
fn events_reads_make_devs_queue_by_default_against_local_endpoints() {
    let queue = block_on(
        sqs()
            .create_queue()
            .queue_name(glase_invoices::config::DEV_EVENTS_QUEUE)
            .send(),
    )
    .expect("queue")
    .queue_url()
    .unwrap()
    .to_owned();
    let n = 900_000 + u64::from(std::process::id() % 100_000);
    let paid = InvoiceEvent::paid(
        &invoice(n, "2026-03-01T09:00:00Z", "59.99", "GBP", "R-dev", "Dev"),
        ts("2026-03-01T09:00:02Z"),
        PayerData::Omit,
    );
    send(&queue, &envelope(&paid));

    // No EVENTS_QUEUE_URL; the harness's AWS_ENDPOINT_URL_SQS points at moto.
    let r = run(&[], &["events", "--delete", "--format", "json"]);
    assert_eq!(r.code, 0, "{}", r.transcript());
    assert!(
        r.stdout
            .contains(&format!(r#""invoiceId":{n},"amount":"59.99""#)),
        "{}",
        r.transcript()
    );
}

#[test]
fn events_wait_returns_the_events_that_arrive_while_it_waits() {
    let queue = block_on(
        sqs()
            .create_queue()
            .queue_name(unique("cli-events-wait"))
            .send(),
    )
    .expect("queue")
    .queue_url()
    .unwrap()
    .to_owned();
    let child = command(
        &[("EVENTS_QUEUE_URL", queue.as_str())],
        &["events", "--wait", "120", "--format", "json"],
    )
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .expect("start glase-invoices");
    std::thread::sleep(std::time::Duration::from_secs(2));
    let paid = InvoiceEvent::paid(
        &invoice(4242, "2026-03-01T09:00:00Z", "0.10", "GBP", "R-w", "Wait"),
        ts("2026-03-01T09:00:02Z"),
        PayerData::Omit,
    );
    send(&queue, &envelope(&paid));
    let out = child.wait_with_output().expect("wait");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains(r#""invoiceId":4242,"amount":"0.10""#),
        "{stdout}"
    );
}
