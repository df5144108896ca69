use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use jiff::civil::date;
use jiff::tz::TimeZone;
use jiff::Timestamp;

use super::*;
use crate::domain::{PurchaseTime, RejectionCode};
use crate::memory::{doc_invoice_numbered, FakeReport, GeneratedReport, MemoryQueue, MemoryStore};
use crate::ports::{InvoiceRecords, InvoiceStore, Lease, Rejection};

fn id(n: u64) -> InvoiceId {
    InvoiceId::new(n).unwrap()
}

/// The report fixture's first row (Glase's documentation example, paid 2015), re-numbered.
fn row(n: u64) -> Invoice {
    doc_invoice_numbered(n)
}

fn now() -> Timestamp {
    "2026-03-10T04:00:00Z".parse().unwrap()
}

fn window() -> Window {
    Window::new(date(2015, 5, 1), date(2015, 7, 1)).unwrap()
}

fn lease(owner: &str, until: Timestamp) -> Lease {
    Lease {
        owner: owner.into(),
        now_ms: now().as_millisecond() - 3_600_000,
        until_ms: until.as_millisecond(),
        rejected_before_ms: None,
    }
}

async fn stored(store: &MemoryStore, invoice: &Invoice) {
    let l = lease("w", now());
    store.claim(invoice.id, &l).await.unwrap();
    store.store(invoice, &l, now()).await.unwrap();
}

async fn rejected(store: &MemoryStore, n: u64) {
    let l = lease("w", now());
    store.claim(id(n), &l).await.unwrap();
    let rejection = Rejection {
        code: RejectionCode::UnknownInvoice,
        reason: "Glase does not know invoice (404)".into(),
    };
    store.reject(id(n), &l, &rejection, now()).await.unwrap();
}

async fn processing(store: &MemoryStore, n: u64, lease_until: Timestamp) {
    store
        .claim(id(n), &lease(&format!("w{n}"), lease_until))
        .await
        .unwrap();
}

fn kinds(found: &Reconciliation) -> Vec<(u64, &'static str)> {
    found
        .findings
        .iter()
        .map(|f| (f.invoice_id.map_or(0, InvoiceId::get), f.problem.kind()))
        .collect()
}

async fn run(
    source: &FakeReport,
    store: &MemoryStore,
    queue: &MemoryQueue,
    options: Options,
) -> Reconciliation {
    reconcile(source, store, queue, window(), &options)
        .await
        .unwrap()
}

#[tokio::test]
async fn missing_rejected_and_stuck_invoices_are_requeued_and_stored_ones_are_left_alone() {
    // Arrange
    let store = MemoryStore::default();
    stored(&store, &row(1)).await;
    rejected(&store, 3).await;
    processing(&store, 4, now() - Duration::from_secs(60)).await;
    processing(&store, 5, now() + Duration::from_secs(60)).await;
    let source = FakeReport::with_rows((1..=5).map(row));
    let queue = MemoryQueue::default();

    // Act
    let found = run(&source, &store, &queue, Options::new(now())).await;

    // Assert
    assert_eq!(queue.sent(), vec![id(2), id(3), id(4)]);
    assert_eq!(
        kinds(&found),
        vec![(2, "missing"), (3, "rejected"), (4, "stuck")]
    );
    assert!(found.findings.iter().all(|f| f.action == Action::Requeued));
    assert_eq!(found.requeued_ids(), vec![id(2), id(3), id(4)]);
    assert_eq!(
        (found.rows, found.matched, found.in_progress, found.recent),
        (5, 1, 1, 0)
    );
    assert!(!found.needs_human());
    assert_eq!(source.windows(), vec![window()]);
}

#[tokio::test]
async fn an_amount_the_table_wrote_without_its_trailing_zero_still_matches() {
    let store = MemoryStore::default();
    let mut invoice = row(1);
    invoice.amount = "7.5".parse().unwrap();
    stored(&store, &invoice).await;
    let mut listed = row(1);
    listed.amount = "7.50".parse().unwrap();

    let found = run(
        &FakeReport::with_rows([listed]),
        &store,
        &MemoryQueue::default(),
        Options::new(now()),
    )
    .await;

    assert_eq!((found.matched, found.findings.len()), (1, 0));
}

#[tokio::test]
async fn a_stored_invoice_that_differs_is_reported_and_neither_requeued_nor_changed() {
    // Arrange
    let store = MemoryStore::default();
    let mut tampered = row(1);
    tampered.amount = "5.99".parse().unwrap();
    tampered.reference = "other".into();
    stored(&store, &tampered).await;
    let queue = MemoryQueue::default();

    // Act
    let found = run(
        &FakeReport::with_rows([row(1)]),
        &store,
        &queue,
        Options::new(now()),
    )
    .await;

    // Assert
    assert_eq!(
        found.findings,
        vec![Finding {
            invoice_id: Some(id(1)),
            problem: Problem::Mismatch {
                differences: vec![
                    Difference {
                        field: "amount",
                        report: "59.99".into(),
                        stored: "5.99".into(),
                        note: None,
                    },
                    Difference {
                        field: "reference",
                        report: "586930/05/2015".into(),
                        stored: "other".into(),
                        note: None,
                    },
                ]
            },
            action: Action::NeedsHuman,
        }]
    );
    assert_eq!(found.mismatch_ids(), vec![id(1)]);
    assert!(found.needs_human());
    assert!(queue.sent().is_empty());
    match store.get(id(1)) {
        Some(InvoiceRecord::Stored { invoice, .. }) => assert_eq!(invoice, tampered),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_dry_run_reports_what_it_would_requeue_and_sends_nothing() {
    let store = MemoryStore::default();
    rejected(&store, 2).await;
    let queue = MemoryQueue::default();

    let found = run(
        &FakeReport::with_rows([row(1), row(2)]),
        &store,
        &queue,
        Options::new(now()).dry_run(true),
    )
    .await;

    assert!(queue.sent().is_empty());
    assert!(found.dry_run);
    assert_eq!(found.would_requeue_ids(), vec![id(1), id(2)]);
    assert!(found.requeued_ids().is_empty());
    assert!(!found.needs_human());
}

#[tokio::test]
async fn a_missing_invoice_paid_before_the_settle_window_counts_as_missing_and_one_inside_it_is_requeued_uncounted(
) {
    // Arrange: row 1 paid a minute ago (its notification may be in flight), row 2 in 2015.
    let mut just_paid = row(1);
    just_paid.purchase_time = PurchaseTime::from_timestamp(now() - Duration::from_secs(60));
    let queue = MemoryQueue::default();

    // Act
    let found = run(
        &FakeReport::with_rows([just_paid, row(2)]),
        &MemoryStore::default(),
        &queue,
        Options::new(now()),
    )
    .await;

    // Assert
    assert_eq!(queue.sent(), vec![id(1), id(2)]);
    assert_eq!((found.missing, found.recent), (1, 1));
}

#[tokio::test]
async fn the_settle_window_is_thirty_minutes_unless_set() {
    let mut paid = row(1);
    paid.purchase_time = PurchaseTime::from_timestamp(now() - Duration::from_secs(20 * 60));
    let source = FakeReport::with_rows([paid]);
    let store = MemoryStore::default();

    let default = run(
        &source,
        &store,
        &MemoryQueue::default(),
        Options::new(now()),
    )
    .await;
    let shorter = run(
        &source,
        &store,
        &MemoryQueue::default(),
        Options::new(now()).settle(Duration::from_secs(10 * 60)),
    )
    .await;

    assert_eq!(Options::DEFAULT_SETTLE, Duration::from_secs(30 * 60));
    assert_eq!((default.missing, default.recent), (0, 1));
    assert_eq!((shorter.missing, shorter.recent), (1, 0));
}

#[tokio::test]
async fn an_id_listed_twice_is_requeued_once() {
    let queue = MemoryQueue::default();
    let found = run(
        &FakeReport::with_rows([row(1), row(1)]),
        &MemoryStore::default(),
        &queue,
        Options::new(now()),
    )
    .await;
    assert_eq!(queue.sent(), vec![id(1)]);
    assert_eq!(found.requeued_ids(), vec![id(1)]);
}

/// Counts the table reads and the ids per read.
#[derive(Default)]
struct CountingLookup {
    store: MemoryStore,
    calls: AtomicUsize,
    sizes: Mutex<Vec<usize>>,
}

impl InvoiceLookup for CountingLookup {
    async fn get_many(&self, ids: &[InvoiceId]) -> Result<InvoiceRecords, AdapterError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.sizes.lock().unwrap().push(ids.len());
        self.store.get_many(ids).await
    }
}

#[tokio::test]
async fn the_table_is_read_a_hundred_ids_at_a_time() {
    let lookup = CountingLookup::default();
    let queue = MemoryQueue::default();

    let found = reconcile(
        &FakeReport::with_rows((1..=250).map(row)),
        &lookup,
        &queue,
        window(),
        &Options::new(now()),
    )
    .await
    .unwrap();

    assert_eq!(*lookup.sizes.lock().unwrap(), vec![100, 100, 50]);
    assert_eq!(found.rows, 250);
    assert_eq!(queue.sent().len(), 250);
}

#[tokio::test]
async fn a_spoilt_row_is_recorded_and_the_run_goes_on() {
    let queue = MemoryQueue::default();
    let source = FakeReport::with_rows([row(1)])
        .then_spoilt_row(2, None)
        .then_row(row(3));

    let found = run(
        &source,
        &MemoryStore::default(),
        &queue,
        Options::new(now()),
    )
    .await;

    assert_eq!(queue.sent(), vec![id(1), id(3)]);
    assert_eq!(found.rows, 3);
    assert_eq!(
        kinds(&found),
        vec![(0, "invalidRow"), (1, "missing"), (3, "missing")]
    );
    assert_eq!((found.failures(), found.invalid_rows), (1, 1));
    assert!(found.needs_human());
}

#[tokio::test]
async fn a_spoilt_row_whose_id_reads_is_still_looked_up_and_requeued_when_missing_or_rejected() {
    // Arrange: spoilt rows for a missing (1), a rejected (2) and a stored (3) invoice.
    let store = MemoryStore::default();
    rejected(&store, 2).await;
    stored(&store, &row(3)).await;
    let source = FakeReport::default()
        .then_spoilt_row(1, Some(id(1)))
        .then_spoilt_row(2, Some(id(2)))
        .then_spoilt_row(3, Some(id(3)));
    let queue = MemoryQueue::default();

    // Act
    let found = run(&source, &store, &queue, Options::new(now())).await;

    // Assert
    assert_eq!(queue.sent(), vec![id(1), id(2)]);
    assert_eq!(
        kinds(&found),
        vec![
            (1, "invalidRow"),
            (2, "invalidRow"),
            (3, "invalidRow"),
            (1, "missing"),
            (2, "rejected")
        ]
    );
    assert_eq!(found.requeued_ids(), vec![id(1), id(2)]);
    assert_eq!(
        (found.invalid_rows, found.missing, found.matched),
        (3, 1, 0)
    );
    assert!(found.needs_human(), "the rows themselves still need a look");
}

#[tokio::test]
async fn a_stored_purchase_time_off_by_whole_hours_is_a_mismatch_naming_glase_time_zone() {
    // Arrange: stored as if Glase's wall clock (UTC+2) had been read as UTC.
    let store = MemoryStore::default();
    let mut shifted = row(1);
    shifted.purchase_time =
        PurchaseTime::from_timestamp(row(1).purchase_time.timestamp() + Duration::from_secs(7200));
    stored(&store, &shifted).await;

    // Act
    let found = run(
        &FakeReport::with_rows([row(1)]),
        &store,
        &MemoryQueue::default(),
        Options::new(now()),
    )
    .await;

    // Assert
    assert_eq!(found.mismatch_ids(), vec![id(1)]);
    let detail = found.findings[0].problem.detail();
    assert!(detail.starts_with("purchaseTime: report"), "{detail}");
    assert!(detail.contains("GLASE_TIME_ZONE is wrong"), "{detail}");
    assert!(detail.contains("2 hours"), "{detail}");
    let json = serde_json::to_value(&found.findings[0]).unwrap();
    assert!(json["problem"]["differences"][0]["note"]
        .as_str()
        .unwrap()
        .contains("GLASE_TIME_ZONE"));
}

#[tokio::test]
async fn a_stored_purchase_time_off_by_seconds_is_a_mismatch_without_blaming_the_zone() {
    let store = MemoryStore::default();
    let mut shifted = row(1);
    shifted.purchase_time =
        PurchaseTime::from_timestamp(row(1).purchase_time.timestamp() - Duration::from_secs(7));
    stored(&store, &shifted).await;

    let found = run(
        &FakeReport::with_rows([row(1)]),
        &store,
        &MemoryQueue::default(),
        Options::new(now()),
    )
    .await;

    let Problem::Mismatch { differences } = &found.findings[0].problem else {
        panic!("{:?}", found.findings);
    };
    assert_eq!(differences.len(), 1);
    assert_eq!(differences[0].field, "purchaseTime");
    assert_eq!(differences[0].note, None);
}

#[tokio::test]
async fn a_broken_download_stops_the_run_after_checking_the_rows_already_read() {
    let queue = MemoryQueue::default();
    let source = FakeReport::with_rows([row(1), row(2)]).then_broken("connection reset");

    let failure = reconcile(
        &source,
        &MemoryStore::default(),
        &queue,
        window(),
        &Options::new(now()),
    )
    .await
    .unwrap_err();

    assert!(matches!(failure.cause, ReconcileError::Report(_)));
    assert_eq!(queue.sent(), vec![id(1), id(2)]);
    assert_eq!(failure.partial.requeued_ids(), vec![id(1), id(2)]);
    assert!(
        failure.to_string().contains("connection reset"),
        "{failure}"
    );
}

#[tokio::test]
async fn a_table_that_cannot_be_read_stops_the_run_and_requeues_nothing() {
    let store = MemoryStore::default();
    store.fail.store(true, Ordering::SeqCst);
    let queue = MemoryQueue::default();

    let failure = reconcile(
        &FakeReport::with_rows([row(1)]),
        &store,
        &queue,
        window(),
        &Options::new(now()),
    )
    .await
    .unwrap_err();

    assert!(matches!(failure.cause, ReconcileError::Store(_)));
    assert!(queue.sent().is_empty());
}

#[tokio::test]
async fn a_failed_requeue_is_reported_and_the_others_are_still_sent() {
    let queue = MemoryQueue::refusing([id(2)]);

    let found = run(
        &FakeReport::with_rows([row(1), row(2), row(3)]),
        &MemoryStore::default(),
        &queue,
        Options::new(now()),
    )
    .await;

    assert_eq!(queue.sent(), vec![id(1), id(3)]);
    assert!(
        matches!(&found.findings[1].action, Action::RequeueFailed { error } if error.contains("queue unavailable"))
    );
    assert_eq!(found.failures(), 1);
}

#[test]
fn a_window_runs_forwards_and_is_not_too_long() {
    assert!(Window::new(date(2026, 3, 1), date(2026, 3, 1)).is_ok());
    assert!(matches!(
        Window::new(date(2026, 3, 2), date(2026, 3, 1)),
        Err(WindowError::Reversed { .. })
    ));
    assert!(Window::new(date(2026, 1, 1), date(2026, 4, 3)).is_ok());
    assert!(matches!(
        Window::new(date(2026, 1, 1), date(2026, 4, 4)),
        Err(WindowError::TooLong { days: 94, .. })
    ));
    let w = Window::lookback(now(), &TimeZone::UTC, 3);
    assert_eq!((w.from(), w.to()), (date(2026, 3, 7), date(2026, 3, 10)));
}

#[tokio::test]
async fn requeues_refused_once_by_the_queue_are_retried_and_sent() {
    // SendMessageBatch refuses 3 entries of the first call; the retry sends them.
    let queue = MemoryQueue::default();
    queue.refuse_next(3);

    let found = run(
        &FakeReport::with_rows((1..=12).map(row)),
        &MemoryStore::default(),
        &queue,
        Options::new(now()),
    )
    .await;

    let mut sent = queue.sent();
    sent.sort();
    assert_eq!(sent, (1..=12).map(id).collect::<Vec<_>>());
    assert_eq!((found.requeued, found.requeue_failed), (12, 0));
    // Two batches of 10 and 2, and one retry of the 3 refused.
    assert_eq!(queue.batches.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_requeue_refused_on_every_retry_is_reported_failed_not_dropped() {
    let queue = MemoryQueue::refusing([id(2)]);

    let found = run(
        &FakeReport::with_rows((1..=3).map(row)),
        &MemoryStore::default(),
        &queue,
        Options::new(now()),
    )
    .await;

    assert_eq!(queue.sent(), vec![id(1), id(3)]);
    assert_eq!((found.requeued, found.requeue_failed), (2, 1));
    let failed: Vec<_> = found
        .findings
        .iter()
        .filter_map(|f| match &f.action {
            Action::RequeueFailed { error } => Some((f.invoice_id, error.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].0, Some(id(2)));
    assert!(failed[0].1.contains("after 4 retries"), "{}", failed[0].1);
    // The first call and 4 retries of the one refused entry.
    assert_eq!(queue.batches.load(Ordering::SeqCst), 5);
    assert!(found.needs_human());
}

#[tokio::test]
async fn the_result_keeps_exact_counts_and_the_first_findings_while_the_sink_gets_all() {
    let queue = MemoryQueue::default();
    let mut seen = Vec::new();

    let found = reconcile_with(
        &GeneratedReport { rows: 250 },
        &MemoryStore::default(),
        &queue,
        window(),
        &Options::new(now()),
        &mut |f| seen.push(f.invoice_id),
    )
    .await
    .unwrap();

    assert_eq!((found.rows, found.missing, found.requeued), (250, 250, 250));
    assert_eq!(found.findings.len(), Reconciliation::SAMPLE);
    assert_eq!(found.findings_not_kept, 150);
    assert_eq!(found.requeued_ids(), (1..=100).map(id).collect::<Vec<_>>());
    assert_eq!(seen, (1..=250).map(|n| Some(id(n))).collect::<Vec<_>>());
}

#[tokio::test]
async fn absorbing_another_run_adds_its_counts_widens_the_window_and_keeps_the_sample_capped() {
    let day = |d| Window::day(date(2015, 5, d));
    let store = MemoryStore::default();
    let first = reconcile(
        &GeneratedReport { rows: 80 },
        &store,
        &MemoryQueue::default(),
        day(1),
        &Options::new(now()),
    )
    .await
    .unwrap();
    let second = reconcile(
        &GeneratedReport { rows: 70 },
        &store,
        &MemoryQueue::default(),
        day(2),
        &Options::new(now()),
    )
    .await
    .unwrap();

    let mut total = first;
    total.absorb(second);

    assert_eq!(
        (total.window.from(), total.window.to()),
        (date(2015, 5, 1), date(2015, 5, 2))
    );
    assert_eq!((total.rows, total.requeued, total.missing), (150, 150, 150));
    assert_eq!(total.findings.len(), Reconciliation::SAMPLE);
    assert_eq!(total.findings_not_kept, 50);
}

#[test]
fn a_window_splits_into_its_days_in_order() {
    let w = Window::new(date(2026, 2, 27), date(2026, 3, 2)).unwrap();
    let days: Vec<_> = w.days().map(|d| (d.from(), d.to())).collect();
    assert_eq!(
        days,
        [
            date(2026, 2, 27),
            date(2026, 2, 28),
            date(2026, 3, 1),
            date(2026, 3, 2)
        ]
        .map(|d| (d, d))
    );
    assert_eq!(Window::day(date(2026, 3, 1)).days().count(), 1);
}
