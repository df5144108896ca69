use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use glase_shared::memory::{FakeGlase, ManualClock, MemoryStore, MemoryWorkQueue};
use glase_shared::ports::*;
use glase_shared::{Invoice, InvoiceId, RejectionCode};
use jiff::tz::TimeZone;

use crate::{postpone_all, Outcome, Policy, Worker};

const BATCH_FIXTURE: &str = include_str!("../../../events/sqs-batch.json");
const INVOICE_576: &str = include_str!("../../../events/glase-invoice-576.json");
const T0: i64 = 1_700_000_000_000;

type TestWorker = Worker<MemoryStore, FakeGlase, MemoryWorkQueue, ManualClock>;

fn id(n: u64) -> InvoiceId {
    InvoiceId::new(n).unwrap()
}

/// Glase's documented example, re-numbered.
fn invoice(n: u64) -> Invoice {
    let body = INVOICE_576.replacen("576", &n.to_string(), 1);
    Invoice::from_glase_json(body.as_bytes(), id(n), &TimeZone::UTC).unwrap()
}

fn worker(glase: FakeGlase, queue: MemoryWorkQueue) -> Arc<TestWorker> {
    worker_with(glase, queue, Policy::default())
}

fn worker_with(glase: FakeGlase, queue: MemoryWorkQueue, policy: Policy) -> Arc<TestWorker> {
    Arc::new(Worker {
        store: MemoryStore::default(),
        glase,
        queue,
        clock: ManualClock::at_ms(T0),
        policy,
    })
}

/// The answer (404 or bad body) that is final (`Policy::default`).
const FINAL: u32 = 5;

/// A worker for which the first 404 or bad body is final, for tests of what follows it.
fn worker_rejecting_at_once(glase: FakeGlase) -> Arc<TestWorker> {
    let policy = Policy {
        reject_after_receives: 1,
        ..Policy::default()
    };
    worker_with(glase, MemoryWorkQueue::default(), policy)
}

/// A message re-queued by an operator or by reconciliation.
fn requeued(message_id: &str, body: &str, receive_count: u32) -> SqsMessage {
    let mut m = message(message_id, body, receive_count);
    m.message_attributes.insert(
        glase_shared::message::REQUEUED_ATTRIBUTE.into(),
        Default::default(),
    );
    m
}

fn message(message_id: &str, body: &str, receive_count: u32) -> SqsMessage {
    let mut m = SqsMessage::default();
    m.message_id = Some(message_id.into());
    m.receipt_handle = Some(format!("receipt-{message_id}"));
    m.body = Some(body.into());
    m.attributes
        .insert("ApproximateReceiveCount".into(), receive_count.to_string());
    m
}

fn batch(messages: Vec<SqsMessage>) -> SqsEvent {
    let mut e = SqsEvent::default();
    e.records = messages;
    e
}

fn failed_ids(resp: &aws_lambda_events::event::sqs::SqsBatchResponse) -> Vec<String> {
    let mut ids: Vec<_> = resp
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    ids.sort();
    ids
}

async fn record(w: &TestWorker, n: u64) -> Option<InvoiceRecord> {
    w.store.get(id(n))
}

const DEADLINE: i64 = T0 + 30_000;

#[tokio::test]
async fn worker_stores_rejects_and_quarantines_the_fixture_batch_reporting_no_failure() {
    // The fixture's messages are first receives: take a 404 as final at once here.
    let w = worker_with(
        FakeGlase::default().with_invoice(invoice(576)),
        MemoryWorkQueue::with_dlq(),
        Policy {
            reject_after_receives: 1,
            ..Policy::default()
        },
    );
    let event: SqsEvent = serde_json::from_str(BATCH_FIXTURE).unwrap();

    let resp = Arc::clone(&w).handle_batch(event, DEADLINE).await;

    assert!(failed_ids(&resp).is_empty());
    assert!(
        matches!(record(&w, 576).await, Some(InvoiceRecord::Stored { invoice: i, .. }) if i == invoice(576))
    );
    assert!(
        matches!(record(&w, 577).await, Some(InvoiceRecord::Rejected { rejection, .. }) if rejection.code == RejectionCode::UnknownInvoice)
    );
    let quarantined = w.queue.quarantined.lock().unwrap().clone();
    assert_eq!(quarantined.len(), 1);
    assert_eq!(quarantined[0].0, "not a notification");
    assert!(quarantined[0].1.contains("malformed message"));
}

#[tokio::test]
async fn worker_fails_only_the_malformed_record_when_no_dead_letter_queue_is_configured() {
    let w = worker_with(
        FakeGlase::default().with_invoice(invoice(576)),
        MemoryWorkQueue::default(),
        Policy {
            reject_after_receives: 1,
            ..Policy::default()
        },
    );
    let event: SqsEvent = serde_json::from_str(BATCH_FIXTURE).unwrap();

    let resp = Arc::clone(&w).handle_batch(event, DEADLINE).await;

    assert_eq!(
        failed_ids(&resp),
        vec!["c80e8021-a70a-42c7-a470-796e1186f753".to_string()]
    );
    assert_eq!(w.store.len(), 2);
}

#[tokio::test]
async fn worker_keeps_the_exact_amount() {
    let mut inv = invoice(42);
    inv.amount = "1234567.89".parse().unwrap();
    let w = worker(
        FakeGlase::default().with_invoice(inv),
        MemoryWorkQueue::default(),
    );

    Arc::clone(&w)
        .handle_batch(
            batch(vec![message("m1", r#"{"invoiceId":42}"#, 1)]),
            DEADLINE,
        )
        .await;

    let Some(InvoiceRecord::Stored { invoice, .. }) = record(&w, 42).await else {
        panic!("not stored")
    };
    assert_eq!(invoice.amount.to_string(), "1234567.89");
}

#[tokio::test]
async fn duplicate_after_storing_does_not_call_glase() {
    let w = worker(
        FakeGlase::default().with_invoice(invoice(7)),
        MemoryWorkQueue::default(),
    );
    let first = message("m1", r#"{"invoiceId":7}"#, 1);
    assert_eq!(w.process(&first, DEADLINE).await, Outcome::Stored);

    let again = w
        .process(&message("m2", r#"{"invoiceId":7}"#, 1), DEADLINE)
        .await;

    assert_eq!(again, Outcome::Duplicate);
    assert_eq!(w.glase.calls(), 1);
    assert_eq!(w.store.len(), 1);
}

#[tokio::test]
async fn concurrent_duplicates_in_one_batch_call_glase_once() {
    let glase = FakeGlase {
        latency: Duration::from_millis(50),
        ..FakeGlase::default()
    }
    .with_invoice(invoice(7));
    let w = worker(glase, MemoryWorkQueue::default());
    let dupes: Vec<_> = (0..5)
        .map(|i| message(&format!("m{i}"), r#"{"invoiceId":7}"#, 1))
        .collect();

    let resp = Arc::clone(&w)
        .handle_batch(batch(dupes.clone()), DEADLINE)
        .await;

    assert_eq!(w.glase.calls(), 1);
    assert_eq!(
        resp.batch_item_failures.len(),
        4,
        "the others wait for the lease holder"
    );
    assert!(w
        .queue
        .postponed
        .lock()
        .unwrap()
        .iter()
        .all(|(_, delay)| *delay >= 1));
    // Their retries find the invoice stored.
    let resp = Arc::clone(&w)
        .handle_batch(batch(dupes[1..].to_vec()), DEADLINE)
        .await;
    assert!(resp.batch_item_failures.is_empty());
    assert_eq!(w.glase.calls(), 1);
    assert_eq!(w.store.len(), 1);
}

#[tokio::test]
async fn transient_glase_failure_is_retried_with_backoff_then_stored_once() {
    let glase = FakeGlase::default()
        .then(id(9), Err(FetchError::transient("HTTP 500")))
        .with_invoice(invoice(9));
    let w = worker(glase, MemoryWorkQueue::default());

    let first = w
        .process(&message("m1", r#"{"invoiceId":9}"#, 1), DEADLINE)
        .await;
    let Some(InvoiceRecord::Processing {
        last_error,
        lease_until_ms,
        ..
    }) = record(&w, 9).await
    else {
        panic!()
    };
    let second = w
        .process(&message("m1", r#"{"invoiceId":9}"#, 2), DEADLINE)
        .await;

    assert!(matches!(
        first,
        Outcome::Retry {
            delay_secs: Some(30),
            ..
        }
    ));
    assert_eq!(
        last_error.as_deref(),
        Some("Glase fetch failed transiently: HTTP 500")
    );
    assert_eq!(
        lease_until_ms, 0,
        "released at once so the retry need not wait"
    );
    assert_eq!(
        *w.queue.postponed.lock().unwrap(),
        vec![("receipt-m1".to_string(), 30)]
    );
    assert_eq!(second, Outcome::Stored);
    assert_eq!(w.glase.calls(), 2);
}

#[tokio::test]
async fn wrong_credentials_are_retried_never_rejected() {
    let glase = FakeGlase::default().then(id(9), Err(FetchError::Unauthorized(401)));
    let w = worker(glase, MemoryWorkQueue::default());

    let outcome = w
        .process(&message("m1", r#"{"invoiceId":9}"#, 3), DEADLINE)
        .await;

    assert!(
        matches!(
            outcome,
            Outcome::Retry {
                delay_secs: Some(120),
                ..
            }
        ),
        "{outcome:?}"
    );
    assert!(matches!(
        record(&w, 9).await,
        Some(InvoiceRecord::Processing { .. })
    ));
}

#[tokio::test]
async fn unknown_invoice_is_recorded_as_rejected_and_acknowledged() {
    let w = worker_rejecting_at_once(FakeGlase::default());

    let outcome = w
        .process(&message("m1", r#"{"invoiceId":404}"#, 1), DEADLINE)
        .await;

    assert_eq!(
        outcome,
        Outcome::Rejected {
            code: RejectionCode::UnknownInvoice
        }
    );
    let Some(InvoiceRecord::Rejected { rejection, .. }) = record(&w, 404).await else {
        panic!()
    };
    assert!(rejection.reason.contains("404"));
}

#[tokio::test]
async fn a_response_for_another_invoice_is_rejected_with_id_mismatch() {
    let glase = FakeGlase::default().then(
        id(5),
        Err(FetchError::Invalid(
            glase_shared::InvalidInvoice::IdMismatch {
                expected: id(5),
                got: id(6),
            },
        )),
    );
    let w = worker_rejecting_at_once(glase);

    let outcome = w
        .process(&message("m1", r#"{"invoiceId":5}"#, 1), DEADLINE)
        .await;

    assert_eq!(
        outcome,
        Outcome::Rejected {
            code: RejectionCode::IdMismatch
        }
    );
}

#[tokio::test]
async fn a_later_successful_fetch_replaces_a_rejection() {
    let glase = FakeGlase::default()
        .then(id(11), Err(FetchError::NotFound))
        .with_invoice(invoice(11));
    let w = worker(glase, MemoryWorkQueue::default());
    w.process(&message("m1", r#"{"invoiceId":11}"#, FINAL), DEADLINE)
        .await;

    // An operator re-queues it once the cause is fixed (a plain notification would wait
    // for the cool-down).
    let outcome = w
        .process(&requeued("m2", r#"{"invoiceId":11}"#, 1), DEADLINE)
        .await;

    assert_eq!(outcome, Outcome::Stored);
    assert!(matches!(
        record(&w, 11).await,
        Some(InvoiceRecord::Stored { .. })
    ));
}

#[tokio::test]
async fn a_dead_workers_lease_lapses_and_the_invoice_is_then_stored() {
    let w = worker(
        FakeGlase::default().with_invoice(invoice(3)),
        MemoryWorkQueue::default(),
    );
    // A worker claimed the invoice and died without releasing it.
    let dead = Lease {
        owner: "dead".into(),
        now_ms: T0,
        until_ms: T0 + 60_000,
        rejected_before_ms: None,
    };
    assert_eq!(
        w.store.claim(id(3), &dead).await.unwrap(),
        Claim::Acquired {
            rejectable_answers: 0
        }
    );

    let blocked = w
        .process(&message("m1", r#"{"invoiceId":3}"#, 1), DEADLINE)
        .await;
    w.clock.advance_ms(60_001);
    let after = w
        .process(&message("m1", r#"{"invoiceId":3}"#, 2), T0 + 120_000)
        .await;

    assert!(
        matches!(
            blocked,
            Outcome::Retry {
                delay_secs: Some(30),
                ..
            }
        ),
        "{blocked:?}"
    );
    assert_eq!(after, Outcome::Stored);
    assert_eq!(w.glase.calls(), 1);
    // The dead worker's late write does not go through: the invoice is someone else's now.
    assert_eq!(
        w.store
            .store(&invoice(3), &dead, w.clock.now())
            .await
            .unwrap(),
        Completion::Superseded
    );
}

#[tokio::test]
async fn store_outage_fails_the_record_for_retry() {
    let w = worker(
        FakeGlase::default().with_invoice(invoice(8)),
        MemoryWorkQueue::default(),
    );
    w.store.fail.store(true, Ordering::SeqCst);

    let resp = Arc::clone(&w)
        .handle_batch(
            batch(vec![message("m1", r#"{"invoiceId":8}"#, 1)]),
            DEADLINE,
        )
        .await;

    assert_eq!(failed_ids(&resp), vec!["m1".to_string()]);
    assert_eq!(w.glase.calls(), 0);
}

struct PanickingGlase;

impl InvoiceSource for PanickingGlase {
    async fn fetch(&self, id: InvoiceId) -> Result<Invoice, FetchError> {
        if id.get() == 13 {
            panic!("bug triggered by invoice 13");
        }
        Ok(invoice(id.get()))
    }
}

#[tokio::test]
async fn a_panicking_record_fails_alone() {
    let w = Arc::new(Worker {
        store: MemoryStore::default(),
        glase: PanickingGlase,
        queue: MemoryWorkQueue::default(),
        clock: ManualClock::at_ms(T0),
        policy: Policy::default(),
    });
    let event = batch(vec![
        message("ok", r#"{"invoiceId":12}"#, 1),
        message("bad", r#"{"invoiceId":13}"#, 1),
    ]);

    let resp = Arc::clone(&w).handle_batch(event, DEADLINE).await;

    assert_eq!(failed_ids(&resp), vec!["bad".to_string()]);
    assert!(matches!(
        w.store.get(id(12)),
        Some(InvoiceRecord::Stored { .. })
    ));
}

#[test]
fn retry_delay_doubles_with_each_receive_up_to_the_cap() {
    let p = Policy {
        base_secs: 30,
        max_secs: 3600,
        ..Policy::default()
    };
    let delays: Vec<_> = (1..=9).map(|n| p.delay_secs(n)).collect();
    assert_eq!(delays, vec![30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
    assert_eq!(p.delay_secs(0), 30);
    assert_eq!(p.delay_secs(u32::MAX), 3600);
    assert_eq!(
        Policy {
            base_secs: 0,
            max_secs: 10,
            ..Policy::default()
        }
        .delay_secs(5),
        0
    );
}

#[tokio::test]
async fn a_404_is_retried_with_back_off_until_the_final_receive_then_rejected() {
    let w = worker(FakeGlase::default(), MemoryWorkQueue::default());

    let early: Vec<_> = (1..FINAL)
        .map(|n| message("m1", r#"{"invoiceId":404}"#, n))
        .collect();
    let mut outcomes = Vec::new();
    for m in &early {
        outcomes.push(w.process(m, DEADLINE).await);
    }
    let last = w
        .process(&message("m1", r#"{"invoiceId":404}"#, FINAL), DEADLINE)
        .await;

    assert!(outcomes.iter().all(Outcome::is_failure), "{outcomes:?}");
    assert_eq!(
        w.queue
            .postponed
            .lock()
            .unwrap()
            .iter()
            .map(|(_, d)| *d)
            .collect::<Vec<_>>(),
        vec![30, 60, 120, 240]
    );
    // The window README and design.md state: 5 answers, 7.5 min from the first to the last.
    assert_eq!(
        w.queue
            .postponed
            .lock()
            .unwrap()
            .iter()
            .map(|(_, d)| *d)
            .sum::<i32>(),
        450
    );
    assert_eq!(
        last,
        Outcome::Rejected {
            code: RejectionCode::UnknownInvoice
        }
    );
    assert_eq!(w.glase.calls(), FINAL as usize);
}

#[tokio::test]
async fn receives_spent_on_lease_contention_do_not_shorten_the_404_window() {
    let w = worker(FakeGlase::default(), MemoryWorkQueue::default());
    let other = Lease {
        owner: "other".into(),
        now_ms: T0,
        until_ms: T0 + 1_000,
        rejected_before_ms: None,
    };
    w.store.claim(id(404), &other).await.unwrap();
    let contended = w
        .process(&message("m1", r#"{"invoiceId":404}"#, 1), DEADLINE)
        .await;
    w.clock.advance_ms(2_000);

    // Receives 2..=FINAL are the first FINAL − 1 404s: still inside the window.
    let mut outcomes = Vec::new();
    for n in 2..=FINAL {
        outcomes.push(
            w.process(&message("m1", r#"{"invoiceId":404}"#, n), DEADLINE)
                .await,
        );
    }
    let last = w
        .process(&message("m1", r#"{"invoiceId":404}"#, FINAL + 1), DEADLINE)
        .await;

    assert!(contended.is_failure(), "{contended:?}");
    assert!(outcomes.iter().all(Outcome::is_failure), "{outcomes:?}");
    assert_eq!(
        last,
        Outcome::Rejected {
            code: RejectionCode::UnknownInvoice
        }
    );
    assert_eq!(w.glase.calls(), FINAL as usize, "one fetch per 404 counted");
}

#[tokio::test]
async fn an_invoice_glase_knows_only_later_is_stored_not_rejected() {
    let glase = FakeGlase::default()
        .then(id(21), Err(FetchError::NotFound))
        .with_invoice(invoice(21));
    let w = worker(glase, MemoryWorkQueue::default());

    let first = w
        .process(&message("m1", r#"{"invoiceId":21}"#, 1), DEADLINE)
        .await;
    let second = w
        .process(&message("m1", r#"{"invoiceId":21}"#, 2), DEADLINE)
        .await;

    assert!(first.is_failure());
    assert_eq!(second, Outcome::Stored);
}

#[tokio::test]
async fn a_rejected_invoice_is_not_fetched_again_within_the_cool_down() {
    let w = worker_rejecting_at_once(FakeGlase::default());
    w.process(&message("m1", r#"{"invoiceId":31}"#, 1), DEADLINE)
        .await;

    let flood: Vec<_> = (0..20)
        .map(|i| message(&format!("f{i}"), r#"{"invoiceId":31}"#, 1))
        .collect();
    let resp = Arc::clone(&w).handle_batch(batch(flood), DEADLINE).await;

    // Each one is postponed to the end of the cool-down, not dropped.
    assert_eq!(resp.batch_item_failures.len(), 20);
    assert!(w
        .queue
        .postponed
        .lock()
        .unwrap()
        .iter()
        .all(|(_, delay)| *delay == 3_601));
    assert_eq!(w.glase.calls(), 1, "only the first notification fetched");
    assert!(matches!(
        record(&w, 31).await,
        Some(InvoiceRecord::Rejected { .. })
    ));
}

#[tokio::test]
async fn after_the_cool_down_or_when_re_queued_a_rejected_invoice_is_fetched_again() {
    let w = worker_rejecting_at_once(FakeGlase::default());
    w.process(&message("m1", r#"{"invoiceId":32}"#, 1), DEADLINE)
        .await;

    let forced = w
        .process(&requeued("r1", r#"{"invoiceId":32}"#, 1), DEADLINE)
        .await;
    w.clock.advance_ms(3_600_001);
    let later = w
        .process(&message("m2", r#"{"invoiceId":32}"#, 1), T0 + 3_700_000)
        .await;

    // Fetched again, and rejected at the first 404: the window was spent before.
    let rejected = Outcome::Rejected {
        code: RejectionCode::UnknownInvoice,
    };
    assert_eq!(forced, rejected);
    assert_eq!(later, rejected);
    assert_eq!(w.glase.calls(), 3);
}

#[tokio::test]
async fn a_re_claimed_rejection_no_longer_shows_its_old_reason() {
    let w = worker_rejecting_at_once(
        FakeGlase::default()
            .then(id(33), Err(FetchError::NotFound))
            .then(id(33), Err(FetchError::transient("HTTP 503"))),
    );
    w.process(&message("m1", r#"{"invoiceId":33}"#, 1), DEADLINE)
        .await;

    w.process(&requeued("r1", r#"{"invoiceId":33}"#, 1), DEADLINE)
        .await;

    assert!(
        matches!(
            record(&w, 33).await,
            Some(InvoiceRecord::Processing { attempts: 2, .. })
        ),
        "{:?}",
        record(&w, 33).await
    );
}

#[tokio::test]
async fn a_final_failed_receive_is_counted_as_dead_lettered_and_still_reported_failed() {
    let glase = FakeGlase::default().then(id(41), Err(FetchError::transient("HTTP 503")));
    let w = worker(glase, MemoryWorkQueue::default());

    let resp = Arc::clone(&w)
        .handle_batch(
            batch(vec![message("m1", r#"{"invoiceId":41}"#, 30)]),
            DEADLINE,
        )
        .await;

    assert_eq!(failed_ids(&resp), vec!["m1".to_string()]);
}

#[tokio::test]
async fn without_a_worker_every_record_backs_off_by_its_receive_count() {
    let queue = MemoryWorkQueue::default();
    let event = batch(vec![
        message("a", r#"{"invoiceId":1}"#, 1),
        message("b", r#"{"invoiceId":2}"#, 4),
        message("c", "garbage", 2),
    ]);

    let resp = postpone_all(
        &queue,
        &Policy::default(),
        &event,
        "secret unreadable",
        tokio::time::Instant::now() + Duration::from_secs(28),
    )
    .await;

    assert_eq!(failed_ids(&resp), vec!["a", "b", "c"]);
    assert_eq!(
        *queue.postponed.lock().unwrap(),
        vec![
            ("receipt-a".to_string(), 30),
            ("receipt-b".to_string(), 240),
            ("receipt-c".to_string(), 60)
        ]
    );
}

#[tokio::test]
async fn an_invoice_stored_by_another_worker_meanwhile_is_a_duplicate_not_a_retry() {
    let w = worker(
        FakeGlase::default().with_invoice(invoice(51)),
        MemoryWorkQueue::default(),
    );
    let ours = Lease {
        owner: "ours".into(),
        now_ms: T0,
        until_ms: T0 + 1,
        rejected_before_ms: None,
    };
    assert_eq!(
        w.store.claim(id(51), &ours).await.unwrap(),
        Claim::Acquired {
            rejectable_answers: 0
        }
    );
    w.clock.advance_ms(10);
    assert_eq!(
        w.process(&message("m1", r#"{"invoiceId":51}"#, 1), DEADLINE + 10)
            .await,
        Outcome::Stored
    );

    let late = w
        .store
        .store(&invoice(51), &ours, w.clock.now())
        .await
        .unwrap();

    assert_eq!(late, Completion::Superseded);
}

/// Glase's details of invoice `n`, but not paid.
fn not_paid(n: u64) -> FetchError {
    let body = INVOICE_576
        .replacen("576", &n.to_string(), 1)
        .replace("\"PAID\"", "\"NOT_PAID\"");
    match Invoice::from_glase_json(body.as_bytes(), id(n), &TimeZone::UTC) {
        Err(e) => FetchError::Invalid(e),
        Ok(_) => panic!("the fixture should read as not paid"),
    }
}

#[tokio::test]
async fn a_notification_within_the_cool_down_is_postponed_to_its_end_and_a_now_paid_invoice_is_then_stored(
) {
    let glase = FakeGlase::default()
        .then(id(35), Err(not_paid(35)))
        .with_invoice(invoice(35));
    let w = worker_with(
        glase,
        MemoryWorkQueue::default(),
        Policy {
            rejected_cooldown_secs: 600,
            reject_after_receives: 1,
            ..Policy::default()
        },
    );
    let first = w
        .process(&message("m1", r#"{"invoiceId":35}"#, FINAL), DEADLINE)
        .await;
    assert_eq!(
        first,
        Outcome::Rejected {
            code: RejectionCode::NotPaid
        }
    );

    // A minute later Glase notifies again: the invoice is paid now.
    w.clock.advance_ms(60_000);
    let resp = Arc::clone(&w)
        .handle_batch(
            batch(vec![message("m2", r#"{"invoiceId":35}"#, 1)]),
            T0 + 90_000,
        )
        .await;
    assert_eq!(
        failed_ids(&resp),
        vec!["m2".to_string()],
        "not acknowledged"
    );
    assert_eq!(
        *w.queue.postponed.lock().unwrap(),
        vec![("receipt-m2".to_string(), 541)],
        "postponed to the end of the cool-down"
    );
    assert_eq!(w.glase.calls(), 1, "no fetch within the cool-down");

    w.clock.advance_ms(541_000);
    let later = w
        .process(&message("m2", r#"{"invoiceId":35}"#, 2), T0 + 700_000)
        .await;

    assert_eq!(later, Outcome::Stored);
    assert_eq!(w.glase.calls(), 2);
}

#[tokio::test]
async fn a_postponement_never_spends_the_last_receive_a_message_has() {
    let w = worker_rejecting_at_once(FakeGlase::default());
    w.process(&message("m1", r#"{"invoiceId":36}"#, FINAL), DEADLINE)
        .await;
    let max = Policy::default().max_receive_count;

    let before_last = w
        .process(&message("m2", r#"{"invoiceId":36}"#, max - 1), DEADLINE)
        .await;
    let last = w
        .process(&message("m3", r#"{"invoiceId":36}"#, max), DEADLINE)
        .await;

    assert!(before_last.is_failure(), "{before_last:?}");
    assert_eq!(w.glase.calls(), 2, "the last receive fetches: {last:?}");
    assert!(
        matches!(last, Outcome::Rejected { .. }),
        "concluded, not dead-lettered: {last:?}"
    );
}

/// Glase that never answers for one id (a stalled connection), and answers for the others.
struct StallingGlase {
    stalls: InvoiceId,
    inner: FakeGlase,
}

impl InvoiceSource for StallingGlase {
    async fn fetch(&self, id: InvoiceId) -> Result<Invoice, FetchError> {
        if id == self.stalls {
            tokio::time::sleep(Duration::from_secs(3_600)).await;
        }
        self.inner.fetch(id).await
    }
}

// Paused time: the stalled fetch and the cut-off are both virtual, the test takes no time.
#[tokio::test(start_paused = true)]
async fn a_record_still_running_at_the_deadline_is_retried_and_the_batch_answers_before_it() {
    let w = Arc::new(Worker {
        store: MemoryStore::default(),
        glase: StallingGlase {
            stalls: id(61),
            inner: FakeGlase::default().with_invoice(invoice(62)),
        },
        queue: MemoryWorkQueue::default(),
        clock: ManualClock::at_ms(T0),
        policy: Policy::default(),
    });
    let started = tokio::time::Instant::now();

    let resp = Arc::clone(&w)
        .handle_batch(
            batch(vec![
                message("slow", r#"{"invoiceId":61}"#, 1),
                message("ok", r#"{"invoiceId":62}"#, 1),
            ]),
            T0 + 10_000,
        )
        .await;

    assert!(
        started.elapsed() < Duration::from_secs(10),
        "answered after {:?}",
        started.elapsed()
    );
    assert_eq!(failed_ids(&resp), vec!["slow".to_string()]);
    assert!(matches!(
        w.store.get(id(62)),
        Some(InvoiceRecord::Stored { .. })
    ));
}

#[test]
fn records_may_run_until_two_seconds_before_the_deadline_or_three_quarters_of_a_short_one() {
    let now = T0;
    assert_eq!(
        crate::time_left(now + 30_000, now),
        Duration::from_millis(28_000)
    );
    // A local stack's 3 s timeout still leaves a whole 1.5 s Glase call.
    assert_eq!(
        crate::time_left(now + 3_000, now),
        Duration::from_millis(2_250)
    );
}
