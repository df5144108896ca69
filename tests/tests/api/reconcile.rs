//! Reconciliation end to end on the real local services: glase-sim serves the report over HTTP,
//! DynamoDB Local holds the table, moto's SQS the queue, and the worker stores what is
//! re-queued. Glase's ~32 h retry window is scaled down to seconds.

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use glase_reconcile::{Invocation, Scheduled};
use glase_shared::adapters::{DynamoStore, GlaseReport, SqsQueue};
use glase_shared::config::{GlaseConfig, SecretSource};
use glase_shared::message::{REQUEUED_ATTRIBUTE, REQUEUED_BY_RECONCILE};
use glase_shared::ports::{InvoiceRecord, InvoiceStore, Lease, Rejection, ReportFetchError};
use glase_shared::reconcile::{
    day_message, reconcile, Action, Difference, Options, Problem, Reconciliation, Window,
};
use glase_shared::{AuthToken, Invoice, InvoiceId, IssuerName};
use glase_sim::{
    Delimiter, EndpointFaults, Faults, IssuerConfig, LineEnding, NewInvoice, NotificationStatus,
    Payer, ReportFormat, RunningSim, Sim, SimConfig,
};
use glase_tests::pipeline::GlaseTarget;
use glase_tests::services::unique;
use glase_tests::Pipeline;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::Timestamp;
use secrecy::SecretString;

const WAIT: Duration = Duration::from_secs(120);
/// Glase's whole notification schedule (~32 h) takes about 6 s at this scale.
const TIME_SCALE: f64 = 0.00005;

struct Harness {
    sim: Sim,
    _running: RunningSim,
    pipeline: Pipeline,
    report: GlaseReport,
    requeue: SqsQueue,
}

fn glase_config(base_url: &str, zone: TimeZone) -> GlaseConfig {
    GlaseConfig {
        base_url: base_url.to_owned(),
        issuer: IssuerName::parse("demo").unwrap(),
        secret: SecretSource::Plain(SecretString::from("demo-secret")),
        time_zone: zone,
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(10),
    }
}

fn report_client(base_url: &str, zone: TimeZone, secret: &str) -> GlaseReport {
    let config = glase_config(base_url, zone);
    let token = AuthToken::derive(&config.issuer, &SecretString::from(secret.to_owned()));
    GlaseReport::new(&config, token).unwrap()
}

/// glase-sim with the demo issuer (notified at an address that is never reached while the
/// webhook is "down"), and a fresh table and queue with the worker wired to the sim.
async fn harness(zone: TimeZone) -> Harness {
    let running = Sim::serve(
        SimConfig {
            issuers: vec![IssuerConfig::new("demo", "demo-secret")
                .with_notify_url("http://127.0.0.1:9/notifications")],
            time_scale: TIME_SCALE,
            seed: 12,
            time_zone: zone.clone(),
            initial_invoices: vec![],
            ..SimConfig::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let sim = running.sim();
    let base_url = running.base_url();
    let pipeline = Pipeline::start(GlaseTarget {
        base_url: &base_url,
        issuer: "demo",
        secret: "demo-secret",
    })
    .await;
    let requeue = SqsQueue::new(pipeline.sqs.clone(), &pipeline.queue_url);
    Harness {
        sim,
        report: report_client(&base_url, zone, "demo-secret"),
        _running: running,
        pipeline,
        requeue,
    }
}

impl Harness {
    /// The scheduled function as deployed: today and 3 days back, in UTC.
    fn scheduled(&self) -> Scheduled<GlaseReport, DynamoStore, SqsQueue, SqsQueue> {
        Scheduled {
            source: self.report.clone(),
            store: self.pipeline.store.clone(),
            queue: self.requeue.clone(),
            days: None,
            zone: TimeZone::UTC,
            lookback_days: 3,
            settle: Options::DEFAULT_SETTLE,
        }
    }

    async fn run(&self) -> Reconciliation {
        self.scheduled()
            .run(Timestamp::now())
            .await
            .expect("the run succeeds")
            .found
    }

    /// Pays invoice `i` at each time given; their ids.
    async fn pay_at(&self, payments: &[(u64, Timestamp)]) -> Vec<InvoiceId> {
        let mut ids = Vec::new();
        for &(i, at) in payments {
            let paid = NewInvoice {
                purchase_time: Some(at),
                ..payment(i)
            };
            ids.push(self.sim.pay(paid).await.unwrap().id);
        }
        ids
    }

    /// A fresh queue for the days a run hands on (visibility 300 s: a slow machine's day
    /// stays hidden while it runs).
    async fn days_queue(&self) -> String {
        let (url, _) = glase_dev::aws::create_queues(&self.pipeline.sqs, &unique("days"), 300, 3)
            .await
            .expect("create the days queue");
        url
    }

    fn detail_fetches(&self) -> usize {
        self.sim
            .stats()
            .iter()
            .map(|s| s.detail_fetches.total)
            .sum()
    }

    async fn stored(&self, id: InvoiceId) -> glase_shared::Invoice {
        match self.pipeline.record(id.get()).await {
            Some(InvoiceRecord::Stored { invoice, .. }) => invoice,
            other => panic!("invoice {id} is not stored: {other:?}"),
        }
    }
}

fn an_hour_ago() -> Timestamp {
    Timestamp::now() - Duration::from_secs(3600)
}

/// Exact amounts a binary float could not keep, descriptions with quotes, delimiters and newlines.
fn payment(i: u64) -> NewInvoice {
    const AMOUNTS: [&str; 5] = ["59.99", "0.10", "12345678901234567.89", "7.5", "100"];
    NewInvoice {
        issuer: "demo".into(),
        amount: AMOUNTS[i as usize % AMOUNTS.len()].into(),
        currency: if i % 3 == 0 { "EUR" } else { "GBP" }.into(),
        description: format!("Invoice \"{i}\"; part 1,\nline 2\r\nline 3"),
        reference: format!("REF/{:03}/2026", i % 7),
        payer: (i % 2 == 0).then(|| Payer {
            msisdn: Some(format!("4611122{i:04}")),
            first_name: Some("Jöns".into()),
            city: Some("Malmö, Skåne".into()),
            ..Payer::default()
        }),
        notify_url: None,
        purchase_time: Some(an_hour_ago()),
    }
}

/// Pays `count` invoices while the webhook is down, and waits until Glase gives up on each.
async fn paid_during_outage(h: &Harness, count: u64) -> Vec<InvoiceId> {
    h.sim.set_webhook_outage(true);
    let mut ids = Vec::new();
    for i in 1..=count {
        ids.push(h.sim.pay(payment(i)).await.unwrap().id);
    }
    let gave_up = h
        .sim
        .wait_until(WAIT, |sim| {
            ids.iter()
                .all(|id| sim.notification_status(id.get()) == Some(NotificationStatus::GaveUp))
        })
        .await;
    assert!(gave_up, "Glase's retries did not run out");
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invoices_paid_while_the_webhook_was_down_past_glases_retries_are_recovered_by_one_run_and_stored_once(
) {
    // Arrange
    let h = harness(TimeZone::UTC).await;
    let ids = paid_during_outage(&h, 25).await;
    assert_eq!(h.pipeline.item_count().await, 0, "nothing ever arrived");
    assert_eq!(h.pipeline.queue_depth(&h.pipeline.queue_url).await, 0);

    // Act
    let report = h.run().await;
    h.pipeline.drain(WAIT).await;

    // Assert
    let mut requeued = report.requeued_ids();
    requeued.sort();
    assert_eq!(requeued, ids);
    assert!(report
        .findings
        .iter()
        .all(|f| f.problem == Problem::Missing && f.action == Action::Requeued));
    assert_eq!((report.rows, report.matched), (25, 0));
    // Paid an hour ago, past the settle window: lost notifications, every one.
    assert_eq!((report.missing, report.recent), (25, 0));
    for id in &ids {
        let expected = h.sim.invoice(id.get()).unwrap().to_invoice();
        assert_eq!(h.stored(*id).await, expected, "invoice {id}");
        assert_eq!(
            h.sim.detail_fetches(id.get()).ok,
            1,
            "invoice {id} fetched once"
        );
    }
    assert_eq!(h.pipeline.item_count().await, 25, "one item each");
    // payment(2): more digits than an f64 keeps.
    let exact = h.stored(ids[1]).await.amount;
    assert_eq!(exact.to_string(), "12345678901234567.89");
}

/// Every message on `queue`, received (and so hidden for the queue's visibility timeout, as
/// Lambda's trigger holds them) but not deleted.
async fn receive_all(h: &Harness, queue: &str) -> Vec<aws_sdk_sqs::types::Message> {
    let mut all = Vec::new();
    loop {
        let out = h
            .pipeline
            .sqs
            .receive_message()
            .queue_url(queue)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .expect("receive");
        match out.messages {
            Some(messages) if !messages.is_empty() => all.extend(messages),
            _ => return all,
        }
    }
}

/// The event Lambda's SQS trigger hands the function for one message.
fn sqs_event(message: &aws_sdk_sqs::types::Message) -> serde_json::Value {
    serde_json::json!({"Records": [{
        "messageId": message.message_id(),
        "receiptHandle": message.receipt_handle(),
        "body": message.body(),
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": {},
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:reconcile-days",
        "awsRegion": "us-east-1"
    }]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn days_a_scheduled_run_has_no_time_for_go_to_the_days_queue_and_each_message_reconciles_its_day_once(
) {
    // Arrange: invoices paid an hour ago and two days ago, never notified (the webhook is down).
    let h = harness(TimeZone::UTC).await;
    h.sim.set_webhook_outage(true);
    let two_days_ago = Timestamp::now() - Duration::from_secs(2 * 24 * 3600);
    let ids = h
        .pay_at(&[(1, an_hour_ago()), (2, an_hour_ago()), (3, two_days_ago)])
        .await;
    let days_queue = h.days_queue().await;
    let scheduled = Scheduled {
        days: Some(SqsQueue::new(h.pipeline.sqs.clone(), &days_queue)),
        ..h.scheduled()
    };
    let now = Timestamp::now();
    let window: Vec<Date> = Window::lookback(now, &TimeZone::UTC, 3)
        .days()
        .map(|d| d.from())
        .collect();
    assert_eq!(window.len(), 4);

    // Act 1: a scheduled invocation with 30 s left, too little for any day.
    let short = tokio::time::Instant::now() + Duration::from_secs(30);
    let handed = scheduled
        .handle(&Invocation::Scheduled, now, Some(short))
        .await
        .expect("days handed on are not a failure");

    // Assert 1: every day is on the days queue, once, and nothing else happened.
    assert!(handed.done.is_empty(), "{:?}", handed.done);
    assert_eq!(handed.handed_on, window);
    assert!(h.sim.report_requests().is_empty(), "no day was started");
    let messages = receive_all(&h, &days_queue).await;
    let mut bodies: Vec<&str> = messages.iter().filter_map(|m| m.body()).collect();
    bodies.sort_unstable();
    let expected: Vec<String> = window.iter().map(|d| day_message(*d)).collect();
    assert_eq!(bodies, expected, "one message a day");
    assert_eq!(h.pipeline.queue_depth(&h.pipeline.queue_url).await, 0);

    // Act 2: each message, as the days queue's trigger delivers it.
    let events: Vec<serde_json::Value> = messages.iter().map(sqs_event).collect();
    let mut requeued = Vec::new();
    let mut days_run = Vec::new();
    for event in &events {
        let invocation = Invocation::parse(event).expect("a day message");
        let day = scheduled
            .handle(&invocation, Timestamp::now(), None)
            .await
            .expect("the day is reconciled");
        assert!(day.handed_on.is_empty(), "a day is never handed on again");
        days_run.extend(day.done);
        requeued.extend(day.found.requeued_ids());
    }
    let drained = h.pipeline.drain(WAIT).await;

    // Assert 2: every day reconciled once; each invoice re-queued once and stored once.
    days_run.sort_unstable();
    assert_eq!(days_run, window);
    let mut asked: Vec<(Date, Date)> = h.sim.report_requests();
    asked.sort_unstable();
    assert_eq!(asked, window.iter().map(|d| (*d, *d)).collect::<Vec<_>>());
    requeued.sort();
    assert_eq!(requeued, ids);
    assert_eq!(drained.received, ids.len(), "one message per invoice");
    for id in &ids {
        let expected = h.sim.invoice(id.get()).unwrap().to_invoice();
        assert_eq!(h.stored(*id).await, expected, "invoice {id}");
        assert_eq!(h.sim.detail_fetches(id.get()).ok, 1, "invoice {id}");
    }
    assert_eq!(h.pipeline.item_count().await, ids.len());

    // Act 3: the same days again (SQS delivers at least once).
    let mut again = Vec::new();
    for event in &events {
        let invocation = Invocation::parse(event).expect("a day message");
        let day = scheduled
            .handle(&invocation, Timestamp::now(), None)
            .await
            .expect("the day is reconciled");
        again.push((day.found.matched, day.found.requeued));
    }

    // Assert 3: nothing re-queued, every invoice matched where it was paid.
    assert_eq!(again.iter().map(|(_, r)| r).sum::<u64>(), 0, "{again:?}");
    assert_eq!(again.iter().map(|(m, _)| m).sum::<u64>(), ids.len() as u64);
    assert_eq!(h.pipeline.queue_depth(&h.pipeline.queue_url).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_day_glase_refuses_in_a_scheduled_run_is_handed_on_alone_and_its_message_fails_until_glase_answers(
) {
    // Arrange: one invoice paid an hour ago, one two days ago; Glase refuses the older day.
    let h = harness(TimeZone::UTC).await;
    h.sim.set_webhook_outage(true);
    let two_days_ago = Timestamp::now() - Duration::from_secs(2 * 24 * 3600);
    let ids = h.pay_at(&[(1, an_hour_ago()), (2, two_days_ago)]).await;
    let refused = two_days_ago.to_zoned_datetime(TimeZone::UTC).date();
    h.sim.refuse_report_days(vec![refused]);
    let days_queue = h.days_queue().await;
    let scheduled = Scheduled {
        days: Some(SqsQueue::new(h.pipeline.sqs.clone(), &days_queue)),
        ..h.scheduled()
    };

    // Act 1: the schedule's invocation, with time for every day.
    let run = scheduled
        .run(Timestamp::now())
        .await
        .expect("a failed day handed on is not the invocation's failure");

    // Assert 1: the other days are done, the refused one alone is on the days queue.
    assert_eq!(run.handed_on, vec![refused]);
    assert_eq!(run.done.len(), 3, "{:?}", run.done);
    assert_eq!(run.failed.len(), 1);
    assert!(run.failed[0].1.contains("HTTP 500"), "{:?}", run.failed);
    assert_eq!(run.found.requeued_ids(), vec![ids[0]]);
    let messages = receive_all(&h, &days_queue).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].body(), Some(day_message(refused).as_str()));
    let day = Invocation::parse(&sqs_event(&messages[0])).expect("a day message");

    // Act 2: its message while Glase still refuses the day.
    let still = scheduled.handle(&day, Timestamp::now(), None).await;

    // Assert 2: the invocation fails (SQS delivers the message again), nothing handed on again.
    let error = still.expect_err("the day is not reconciled");
    assert_eq!(error.kind(), "ReconcileStopped", "{error}");
    assert!(error.to_string().contains(&refused.to_string()), "{error}");
    assert!(
        receive_all(&h, &days_queue).await.is_empty(),
        "no new message"
    );

    // Act 3: delivered again once Glase answers.
    h.sim.refuse_report_days(vec![]);
    let answered = scheduled
        .handle(&day, Timestamp::now(), None)
        .await
        .expect("the day is reconciled");
    h.pipeline.drain(WAIT).await;

    // Assert 3
    assert_eq!(answered.done, vec![refused]);
    assert_eq!(answered.found.requeued_ids(), vec![ids[1]]);
    for id in &ids {
        let expected = h.sim.invoice(id.get()).unwrap().to_invoice();
        assert_eq!(h.stored(*id).await, expected, "invoice {id}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_run_requeues_nothing_and_fetches_no_invoice() {
    // Arrange
    let h = harness(TimeZone::UTC).await;
    let ids = paid_during_outage(&h, 12).await;
    h.run().await;
    h.pipeline.drain(WAIT).await;
    let fetches = h.detail_fetches();

    // Act
    let second = h.run().await;

    // Assert
    assert!(second.findings.is_empty(), "{:?}", second.findings);
    assert_eq!((second.rows, second.matched), (12, 12));
    assert_eq!(h.pipeline.queue_depth(&h.pipeline.queue_url).await, 0);
    assert_eq!(h.detail_fetches(), fetches, "no invoice fetched again");
    assert_eq!(h.pipeline.item_count().await, ids.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_falsely_rejected_invoice_is_requeued_marked_by_reconcile_and_then_stored() {
    // Arrange: the worker once recorded Glase's 404 for a paid invoice.
    let h = harness(TimeZone::UTC).await;
    let id = paid_during_outage(&h, 1).await[0];
    let lease = Lease {
        owner: "earlier-worker".into(),
        now_ms: Timestamp::now().as_millisecond(),
        until_ms: Timestamp::now().as_millisecond() + 60_000,
        rejected_before_ms: None,
    };
    let store = &h.pipeline.store;
    store.claim(id, &lease).await.unwrap();
    let rejection = Rejection {
        code: glase_shared::RejectionCode::UnknownInvoice,
        reason: "Glase does not know invoice (404)".into(),
    };
    store
        .reject(id, &lease, &rejection, Timestamp::now())
        .await
        .unwrap();

    // Act
    let report = h.run().await;
    let message = h
        .pipeline
        .sqs
        .receive_message()
        .queue_url(&h.pipeline.queue_url)
        .message_attribute_names("All")
        .visibility_timeout(0)
        .wait_time_seconds(1)
        .send()
        .await
        .unwrap()
        .messages()
        .first()
        .cloned()
        .expect("a re-queued message");
    h.pipeline.drain(WAIT).await;

    // Assert
    assert_eq!(report.requeued_ids(), vec![id]);
    assert!(matches!(
        &report.findings[0].problem,
        Problem::Rejected { code, .. } if code == "UNKNOWN_INVOICE"
    ));
    assert_eq!(
        message.body(),
        Some(format!("{{\"invoiceId\":{id}}}").as_str())
    );
    let mark = message
        .message_attributes()
        .and_then(|a| a.get(REQUEUED_ATTRIBUTE))
        .and_then(|v| v.string_value());
    assert_eq!(mark, Some(REQUEUED_BY_RECONCILE));
    assert_eq!(
        h.stored(id).await,
        h.sim.invoice(id.get()).unwrap().to_invoice()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_invoice_is_requeued_and_one_a_worker_holds_now_is_left_alone() {
    // Arrange
    let h = harness(TimeZone::UTC).await;
    let ids = paid_during_outage(&h, 2).await;
    let now = Timestamp::now().as_millisecond();
    let lease = |owner: &str, until_ms: i64| Lease {
        owner: owner.into(),
        now_ms: now - 120_000,
        until_ms,
        rejected_before_ms: None,
    };
    let store = &h.pipeline.store;
    // A worker that died a minute ago, and one that is fetching right now.
    store
        .claim(ids[0], &lease("dead", now - 60_000))
        .await
        .unwrap();
    store
        .claim(ids[1], &lease("alive", now + 600_000))
        .await
        .unwrap();

    // Act
    let report = h.run().await;
    h.pipeline.drain(WAIT).await;

    // Assert
    assert_eq!(report.requeued_ids(), vec![ids[0]]);
    assert!(matches!(report.findings[0].problem, Problem::Stuck { .. }));
    assert_eq!(report.in_progress, 1);
    assert_eq!(
        h.stored(ids[0]).await,
        h.sim.invoice(ids[0].get()).unwrap().to_invoice()
    );
    assert!(matches!(
        h.pipeline.record(ids[1].get()).await,
        Some(InvoiceRecord::Processing { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_stored_amount_is_reported_and_never_overwritten() {
    // Arrange: stored by a first run, then its amount changed behind our back.
    let h = harness(TimeZone::UTC).await;
    let ids = paid_during_outage(&h, 3).await;
    h.run().await;
    h.pipeline.drain(WAIT).await;
    let tampered = ids[0];
    h.pipeline
        .ddb
        .update_item()
        .table_name(&h.pipeline.table)
        .key("invoiceId", AttributeValue::N(tampered.to_string()))
        .update_expression("SET amount = :a")
        .expression_attribute_values(":a", AttributeValue::N("99.99".into()))
        .send()
        .await
        .unwrap();
    let fetches = h.detail_fetches();

    // Act
    let report = h.run().await;

    // Assert
    assert_eq!(report.mismatch_ids(), vec![tampered]);
    assert!(report.needs_human());
    match &report.findings[..] {
        [finding] => {
            assert_eq!(finding.action, Action::NeedsHuman);
            assert_eq!(
                finding.problem,
                Problem::Mismatch {
                    differences: vec![Difference {
                        field: "amount",
                        report: "0.10".into(),
                        stored: "99.99".into(),
                        note: None,
                    }]
                }
            );
        }
        other => panic!("expected one mismatch, got {other:?}"),
    }
    assert!(report.requeued_ids().is_empty());
    assert_eq!(h.pipeline.queue_depth(&h.pipeline.queue_url).await, 0);
    assert_eq!(
        h.stored(tampered).await.amount.to_string(),
        "99.99",
        "not overwritten"
    );
    assert_eq!(h.detail_fetches(), fetches);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purchase_times_read_in_the_wrong_zone_are_mismatches_naming_glase_time_zone_and_the_hours()
{
    // Arrange: Glase's wall clock is Tokyo's (UTC+9, no summer time); the worker is left on
    // the default GLASE_TIME_ZONE (UTC), so it stores every purchase nine hours late.
    let tokyo = TimeZone::get("Asia/Tokyo").unwrap();
    let h = harness(tokyo.clone()).await;
    let ids = paid_during_outage(&h, 2).await;
    // Report dates in Tokyo's calendar, so the window holds today's payments at any hour.
    let scheduled = Scheduled {
        zone: tokyo,
        ..h.scheduled()
    };
    scheduled.run(Timestamp::now()).await.unwrap();
    h.pipeline.drain(WAIT).await;

    // Act
    let report = scheduled.run(Timestamp::now()).await.unwrap().found;

    // Assert
    let mut mismatches = report.mismatch_ids();
    mismatches.sort();
    assert_eq!(mismatches, ids);
    for finding in &report.findings {
        let Problem::Mismatch { differences } = &finding.problem else {
            panic!("{finding:?}");
        };
        assert_eq!(differences.len(), 1, "{differences:?}");
        assert_eq!(differences[0].field, "purchaseTime");
        let note = differences[0].note.as_deref().unwrap_or_default();
        assert!(note.contains("GLASE_TIME_ZONE is wrong"), "{note}");
        assert!(note.contains("9 hours late"), "{note}");
    }
    assert!(
        report.requeued_ids().is_empty(),
        "never \"fixed\" by re-queueing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_reports_what_it_would_requeue_and_changes_nothing() {
    let h = harness(TimeZone::UTC).await;
    let ids = paid_during_outage(&h, 3).await;
    let today = Timestamp::now().to_zoned_datetime(TimeZone::UTC).date();
    let window = Window::new(today.yesterday().unwrap(), today).unwrap();

    let report = reconcile(
        &h.report,
        &h.pipeline.store,
        &h.requeue,
        window,
        &Options::new(Timestamp::now()).dry_run(true),
    )
    .await
    .unwrap();

    let mut would = report.would_requeue_ids();
    would.sort();
    assert_eq!(would, ids);
    assert_eq!(h.pipeline.queue_depth(&h.pipeline.queue_url).await, 0);
    assert_eq!(h.pipeline.item_count().await, 0);
}

/// Every report row, fetched over HTTP.
async fn fetch_rows(report: &GlaseReport, window: Window) -> Vec<Invoice> {
    use futures::StreamExt;
    report
        .rows(window.from(), window.to())
        .await
        .unwrap()
        .map(|row| row.unwrap())
        .collect()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_report_shape_the_client_accepts_reads_the_same_rows_as_glases_details() {
    // Arrange: Glase's clock in Stockholm, so PURCHASE_TIME carries an offset.
    let zone = TimeZone::get("Europe/Stockholm").unwrap();
    let h = harness(zone.clone()).await;
    h.sim.set_webhook_outage(true);
    let mut invoices = Vec::new();
    for i in 1..=12 {
        invoices.push(h.sim.pay(payment(i)).await.unwrap());
    }
    let today = Timestamp::now().to_zoned_datetime(zone).date();
    let window = Window::new(today.yesterday().unwrap(), today).unwrap();
    let shapes = [
        ReportFormat::default(),
        ReportFormat {
            header: false,
            ..ReportFormat::default()
        },
        ReportFormat {
            delimiter: Delimiter::Semicolon,
            ..ReportFormat::default()
        },
        ReportFormat {
            line_ending: LineEnding::Lf,
            ..ReportFormat::default()
        },
        ReportFormat {
            header: false,
            delimiter: Delimiter::Semicolon,
            line_ending: LineEnding::Lf,
        },
    ];

    // Act
    let mut parsed = Vec::new();
    for shape in shapes {
        h.sim.set_report_format(shape);
        parsed.push(fetch_rows(&h.report, window).await);
    }

    // Assert
    let expected: Vec<_> = invoices.iter().map(|i| i.to_invoice()).collect();
    assert_eq!(parsed[0], expected, "the report says what the details say");
    for (shape, rows) in shapes.iter().zip(&parsed) {
        assert_eq!(rows, &parsed[0], "{shape:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_client_names_glases_refusals_and_caps_the_body() {
    let h = harness(TimeZone::UTC).await;
    for i in 1..=20 {
        h.sim.pay(payment(i)).await.unwrap();
    }
    let base = h._running.base_url();
    let today = Timestamp::now().to_zoned_datetime(TimeZone::UTC).date();
    let (from, to) = (today.yesterday().unwrap(), today);

    let wrong_secret = report_client(&base, TimeZone::UTC, "not-the-secret");
    assert!(matches!(
        wrong_secret.rows(from, to).await,
        Err(ReportFetchError::Unauthorized(401))
    ));

    match h.report.rows(to, from).await {
        Err(e @ ReportFetchError::Refused { status: 400, .. }) => {
            assert!(
                e.to_string()
                    .contains("startDate must not be after endDate"),
                "{e}"
            )
        }
        Err(other) => panic!("expected a 400 refusal, got {other:?}"),
        Ok(_) => panic!("expected a 400 refusal, got rows"),
    }

    // Two days of 500 bytes each.
    let small = h.report.clone().with_max_bytes_per_day(500);
    assert!(matches!(
        small.rows(from, to).await,
        Err(ReportFetchError::TooLarge { limit: 1_000 })
    ));

    h.sim.set_faults(Faults {
        report: EndpointFaults::errors(1.0),
        ..Faults::default()
    });
    let failure = reconcile(
        &h.report,
        &h.pipeline.store,
        &h.requeue,
        Window::new(from, to).unwrap(),
        &Options::new(Timestamp::now()),
    )
    .await
    .unwrap_err();
    assert!(failure.to_string().contains("HTTP 500"), "{failure}");
    assert_eq!(h.pipeline.queue_depth(&h.pipeline.queue_url).await, 0);
}
