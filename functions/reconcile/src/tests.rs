use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use glase_shared::adapters::dynamo::BatchRecords;
use glase_shared::memory::MemoryStore;
use glase_shared::ports::{AdapterError, InvoiceRecord, InvoiceStore, Lease, Rejection};
use glase_shared::{read_report, Invoice, InvoiceId, PurchaseTime};
use jiff::civil::date;
use jiff::tz::TimeZone;
use jiff::Timestamp;

use crate::fakes::{FakeQueue, FakeReport, Item};
use crate::*;

const REPORT: &str = include_str!("../../../events/glase-report.csv");

fn id(n: u64) -> InvoiceId {
    InvoiceId::new(n).unwrap()
}

/// The fixture's first row (Glase's documentation example, paid 2015), re-numbered.
fn row(n: u64) -> Invoice {
    let mut row = read_report(REPORT.as_bytes()).unwrap().remove(0);
    row.id = id(n);
    row
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
        code: glase_shared::RejectionCode::UnknownInvoice,
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

fn kinds(report: &Report) -> Vec<(u64, &'static str)> {
    report
        .findings
        .iter()
        .map(|f| (f.invoice_id.map_or(0, InvoiceId::get), f.problem.kind()))
        .collect()
}

async fn run(
    source: &FakeReport,
    store: &MemoryStore,
    queue: &FakeQueue,
    options: Options,
) -> Report {
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
    let queue = FakeQueue::default();

    // Act
    let report = run(&source, &store, &queue, Options::new(now())).await;

    // Assert
    assert_eq!(queue.sent(), vec![id(2), id(3), id(4)]);
    assert_eq!(
        kinds(&report),
        vec![(2, "missing"), (3, "rejected"), (4, "stuck")]
    );
    assert!(report.findings.iter().all(|f| f.action == Action::Requeued));
    assert_eq!(report.requeued(), vec![id(2), id(3), id(4)]);
    assert_eq!(
        (
            report.rows,
            report.matched,
            report.in_progress,
            report.recent
        ),
        (5, 1, 1, 0)
    );
    assert!(!report.needs_human());
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

    let report = run(
        &FakeReport::with_rows([listed]),
        &store,
        &FakeQueue::default(),
        Options::new(now()),
    )
    .await;

    assert_eq!((report.matched, report.findings.len()), (1, 0));
}

#[tokio::test]
async fn a_stored_invoice_that_differs_is_reported_and_neither_requeued_nor_changed() {
    // Arrange
    let store = MemoryStore::default();
    let mut tampered = row(1);
    tampered.amount = "5.99".parse().unwrap();
    tampered.reference = "other".into();
    stored(&store, &tampered).await;
    let queue = FakeQueue::default();

    // Act
    let report = run(
        &FakeReport::with_rows([row(1)]),
        &store,
        &queue,
        Options::new(now()),
    )
    .await;

    // Assert
    assert_eq!(
        report.findings,
        vec![Finding {
            invoice_id: Some(id(1)),
            problem: Problem::Mismatch {
                differences: vec![
                    Difference {
                        field: "amount",
                        report: "59.99".into(),
                        stored: "5.99".into()
                    },
                    Difference {
                        field: "reference",
                        report: "586930/05/2015".into(),
                        stored: "other".into()
                    },
                ]
            },
            action: Action::NeedsHuman,
        }]
    );
    assert_eq!(report.mismatches(), vec![id(1)]);
    assert!(report.needs_human());
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
    let queue = FakeQueue::default();

    let report = run(
        &FakeReport::with_rows([row(1), row(2)]),
        &store,
        &queue,
        Options::new(now()).dry_run(true),
    )
    .await;

    assert!(queue.sent().is_empty());
    assert!(report.dry_run);
    assert_eq!(report.would_requeue(), vec![id(1), id(2)]);
    assert!(report.requeued().is_empty());
    assert!(!report.needs_human());
}

#[tokio::test]
async fn a_missing_invoice_paid_within_the_settle_period_is_left_to_the_webhook() {
    let mut just_paid = row(1);
    just_paid.purchase_time = PurchaseTime::from_timestamp(now() - Duration::from_secs(60));
    let queue = FakeQueue::default();

    let report = run(
        &FakeReport::with_rows([just_paid, row(2)]),
        &MemoryStore::default(),
        &queue,
        Options::new(now()),
    )
    .await;

    assert_eq!(queue.sent(), vec![id(2)]);
    assert_eq!(report.recent, 1);
}

#[tokio::test]
async fn an_id_listed_twice_is_requeued_once() {
    let queue = FakeQueue::default();
    let report = run(
        &FakeReport::with_rows([row(1), row(1)]),
        &MemoryStore::default(),
        &queue,
        Options::new(now()),
    )
    .await;
    assert_eq!(queue.sent(), vec![id(1)]);
    assert_eq!(report.requeued(), vec![id(1)]);
}

/// Counts the table reads and the ids per read.
#[derive(Default)]
struct CountingLookup {
    store: MemoryStore,
    calls: AtomicUsize,
    sizes: Mutex<Vec<usize>>,
}

impl InvoiceLookup for CountingLookup {
    async fn get_many(&self, ids: &[InvoiceId]) -> Result<BatchRecords, AdapterError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.sizes.lock().unwrap().push(ids.len());
        self.store.get_many(ids).await
    }
}

#[tokio::test]
async fn the_table_is_read_a_hundred_ids_at_a_time() {
    let lookup = CountingLookup::default();
    let queue = FakeQueue::default();

    let report = reconcile(
        &FakeReport::with_rows((1..=250).map(row)),
        &lookup,
        &queue,
        window(),
        &Options::new(now()),
    )
    .await
    .unwrap();

    assert_eq!(*lookup.sizes.lock().unwrap(), vec![100, 100, 50]);
    assert_eq!(report.rows, 250);
    assert_eq!(queue.sent().len(), 250);
}

#[tokio::test]
async fn a_spoilt_row_is_recorded_and_the_run_goes_on() {
    let queue = FakeQueue::default();
    let source = FakeReport::with_rows([row(1)])
        .then(Item::SpoiltRow {
            row: 2,
            id: Some(id(2)),
        })
        .then(Item::Row(row(3)));

    let report = run(
        &source,
        &MemoryStore::default(),
        &queue,
        Options::new(now()),
    )
    .await;

    assert_eq!(queue.sent(), vec![id(1), id(3)]);
    assert_eq!(report.rows, 3);
    assert_eq!(
        kinds(&report),
        vec![(2, "invalidRow"), (1, "missing"), (3, "missing")]
    );
    assert_eq!(report.failures(), 1);
    assert!(report.needs_human());
}

#[tokio::test]
async fn a_broken_download_stops_the_run_after_checking_the_rows_already_read() {
    let queue = FakeQueue::default();
    let source =
        FakeReport::with_rows([row(1), row(2)]).then(Item::Broken("connection reset".into()));

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
    assert_eq!(failure.partial.requeued(), vec![id(1), id(2)]);
    assert!(
        failure.to_string().contains("connection reset"),
        "{failure}"
    );
}

#[tokio::test]
async fn a_table_that_cannot_be_read_stops_the_run_and_requeues_nothing() {
    let store = MemoryStore::default();
    store.fail.store(true, Ordering::SeqCst);
    let queue = FakeQueue::default();

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
    let queue = FakeQueue::refusing([id(2)]);

    let report = run(
        &FakeReport::with_rows([row(1), row(2), row(3)]),
        &MemoryStore::default(),
        &queue,
        Options::new(now()),
    )
    .await;

    assert_eq!(queue.sent(), vec![id(1), id(3)]);
    assert!(
        matches!(&report.findings[1].action, Action::RequeueFailed { error } if error.contains("queue unavailable"))
    );
    assert_eq!(report.failures(), 1);
}

#[tokio::test]
async fn a_scheduled_run_reads_today_and_the_look_back_days_in_glases_zone() {
    let scheduled = Scheduled {
        source: FakeReport::with_rows([row(1)]),
        store: MemoryStore::default(),
        queue: FakeQueue::default(),
        zone: TimeZone::get("Pacific/Auckland").unwrap(),
        lookback_days: 3,
    };

    let report = scheduled.run(now()).await.unwrap();

    // 04:00 UTC on 10 March is 17:00 on 10 March in Auckland (UTC+13).
    assert_eq!(
        scheduled.source.windows(),
        vec![Window::new(date(2026, 3, 7), date(2026, 3, 10)).unwrap()]
    );
    assert_eq!(report.requeued(), vec![id(1)]);
    assert_eq!(scheduled.queue.sent(), vec![id(1)]);
}

#[tokio::test]
async fn a_scheduled_run_fails_when_it_could_not_do_everything_but_not_for_a_mismatch() {
    let store = MemoryStore::default();
    let mut tampered = row(1);
    tampered.currency = "EUR".parse().unwrap();
    stored(&store, &tampered).await;
    let mismatch_only = Scheduled {
        source: FakeReport::with_rows([row(1)]),
        store,
        queue: FakeQueue::default(),
        zone: TimeZone::UTC,
        lookback_days: 3,
    };
    assert_eq!(
        mismatch_only.run(now()).await.unwrap().mismatches(),
        vec![id(1)]
    );

    let spoilt = Scheduled {
        source: FakeReport::default().then(Item::SpoiltRow { row: 1, id: None }),
        store: MemoryStore::default(),
        queue: FakeQueue::default(),
        zone: TimeZone::UTC,
        lookback_days: 3,
    };
    assert!(matches!(
        spoilt.run(now()).await,
        Err(RunError::Incomplete(1))
    ));

    let down = Scheduled {
        source: FakeReport::default().unavailable(),
        store: MemoryStore::default(),
        queue: FakeQueue::default(),
        zone: TimeZone::UTC,
        lookback_days: 3,
    };
    assert!(matches!(down.run(now()).await, Err(RunError::Stopped(_))));
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
async fn the_report_serializes_for_the_cli_and_the_invocation_result() {
    let store = MemoryStore::default();
    rejected(&store, 2).await;
    let report = run(
        &FakeReport::with_rows([row(1), row(2)]),
        &store,
        &FakeQueue::default(),
        Options::new(now()),
    )
    .await;

    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(
        json["window"],
        serde_json::json!({"from": "2015-05-01", "to": "2015-07-01"})
    );
    assert_eq!(
        json["findings"][0],
        serde_json::json!({"invoiceId": 1, "problem": {"kind": "missing"}, "action": {"action": "requeued"}})
    );
    assert_eq!(json["findings"][1]["problem"]["code"], "UNKNOWN_INVOICE");
    let summary = summary(&report);
    assert_eq!(summary["requeued"], serde_json::json!([1, 2]));
    assert_eq!(summary["rows"], 2);
}

#[test]
fn metrics_are_emf_counts_without_dimensions_in_the_configured_namespace() {
    // Arrange: the only test in this binary that installs the global recorder.
    let collector = metrics::init("GlaseInvoices/test-stack").unwrap();
    let report = Report {
        window: window(),
        dry_run: false,
        rows: 3,
        matched: 1,
        in_progress: 0,
        recent: 0,
        findings: vec![
            Finding {
                invoice_id: Some(id(2)),
                problem: Problem::Missing,
                action: Action::Requeued,
            },
            Finding {
                invoice_id: Some(id(3)),
                problem: Problem::Mismatch {
                    differences: vec![],
                },
                action: Action::NeedsHuman,
            },
        ],
    };

    // Act
    metrics::record(&Ok(report));
    let mut out = Vec::new();
    collector.flush(&mut out).unwrap();

    // Assert
    let text = String::from_utf8(out).unwrap();
    let docs: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(docs.len(), 1, "{text}");
    let doc = &docs[0];
    let spec = &doc["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(spec["Namespace"], "GlaseInvoices/test-stack");
    assert_eq!(spec["Dimensions"], serde_json::json!([[]]));
    let mut names: Vec<_> = spec["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["Name"].as_str().unwrap(), m["Unit"].as_str().unwrap()))
        .collect();
    names.sort();
    assert_eq!(
        names,
        vec![
            ("ReconcileFailed", "Count"),
            ("ReconcileMismatches", "Count"),
            ("ReconcileReportRows", "Count"),
            ("ReconcileRequeued", "Count")
        ]
    );
    assert_eq!(
        (
            &doc["ReconcileRequeued"],
            &doc["ReconcileMismatches"],
            &doc["ReconcileReportRows"],
            &doc["ReconcileFailed"]
        ),
        (&1.into(), &1.into(), &3.into(), &0.into())
    );
}
