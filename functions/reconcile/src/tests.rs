//! The scheduled function's own parts: the look-back window, the invocation's result and the
//! settle window (the metrics are in tests/metrics.rs). The algorithm's tests are with it, in
//! `glase_shared::reconcile`.

use glase_shared::domain::RejectionCode;
use glase_shared::memory::{doc_invoice_numbered, FakeReport, MemoryQueue, MemoryStore};
use glase_shared::ports::{InvoiceRecord, Rejection};
use glase_shared::Invoice;
use jiff::civil::date;
use std::time::Duration;

use super::*;
use glase_shared::reconcile::reconcile;

fn id(n: u64) -> InvoiceId {
    InvoiceId::new(n).unwrap()
}

fn now() -> Timestamp {
    "2026-03-10T04:00:00Z".parse().unwrap()
}

fn window() -> Window {
    Window::new(date(2015, 5, 1), date(2015, 7, 1)).unwrap()
}

/// Invoice `n`, paid at noon UTC on `day`.
fn paid_on(day: jiff::civil::Date, n: u64) -> Invoice {
    let mut row = doc_invoice_numbered(n);
    row.purchase_time = glase_shared::PurchaseTime::from_timestamp(
        TimeZone::UTC.to_timestamp(day.at(12, 0, 0, 0)).unwrap(),
    );
    row
}

fn stored(store: &MemoryStore, invoice: &Invoice) {
    let record = InvoiceRecord::Stored {
        invoice: invoice.clone(),
        stored_at: now(),
    };
    store.put(invoice.id, record);
}

fn rejected(store: &MemoryStore, n: u64) {
    let rejection = Rejection {
        code: RejectionCode::UnknownInvoice,
        reason: "Glase does not know invoice (404)".into(),
    };
    let record = InvoiceRecord::Rejected {
        rejection,
        rejected_at: now(),
        attempts: 1,
    };
    store.put(id(n), record);
}

#[tokio::test]
async fn a_scheduled_run_reads_today_and_the_look_back_days_in_glases_zone() {
    let scheduled = Scheduled {
        source: FakeReport::with_rows([paid_on(date(2026, 3, 8), 1)]).by_day(),
        store: MemoryStore::default(),
        queue: MemoryQueue::default(),
        days: None::<MemoryQueue>,
        zone: TimeZone::get("Pacific/Auckland").unwrap(),
        lookback_days: 3,
        settle: Options::DEFAULT_SETTLE,
    };

    let run = scheduled.run(now()).await.unwrap();

    // 04:00 UTC on 10 March is 17:00 on 10 March in Auckland (UTC+13): four days, one report
    // request each, oldest first.
    assert_eq!(
        scheduled.source.windows(),
        Window::new(date(2026, 3, 7), date(2026, 3, 10))
            .unwrap()
            .days()
            .collect::<Vec<_>>()
    );
    assert_eq!(run.done.len(), 4);
    assert_eq!(run.found.requeued_ids(), vec![id(1)]);
    assert_eq!(scheduled.queue.sent(), vec![id(1)]);
}

#[tokio::test]
async fn a_scheduled_run_fails_when_it_could_not_do_everything_but_not_for_a_mismatch() {
    let store = MemoryStore::default();
    let mut tampered = paid_on(date(2026, 3, 9), 1);
    tampered.currency = "EUR".parse().unwrap();
    stored(&store, &tampered);
    let mismatch_only = Scheduled {
        source: FakeReport::with_rows([paid_on(date(2026, 3, 9), 1)]).by_day(),
        store,
        queue: MemoryQueue::default(),
        days: None::<MemoryQueue>,
        zone: TimeZone::UTC,
        lookback_days: 3,
        settle: Options::DEFAULT_SETTLE,
    };
    assert_eq!(
        mismatch_only.run(now()).await.unwrap().found.mismatch_ids(),
        vec![id(1)]
    );

    let spoilt = Scheduled {
        source: FakeReport::default().then_spoilt_row(1, None),
        store: MemoryStore::default(),
        queue: MemoryQueue::default(),
        days: None::<MemoryQueue>,
        zone: TimeZone::UTC,
        // One day: the fake serves a spoilt row in every window.
        lookback_days: 0,
        settle: Options::DEFAULT_SETTLE,
    };
    assert!(matches!(
        spoilt.run(now()).await,
        Err(RunError::Incomplete(1))
    ));

    let down = Scheduled {
        source: FakeReport::default().unavailable(),
        store: MemoryStore::default(),
        queue: MemoryQueue::default(),
        days: None::<MemoryQueue>,
        zone: TimeZone::UTC,
        lookback_days: 3,
        settle: Options::DEFAULT_SETTLE,
    };
    assert!(matches!(
        down.run(now()).await,
        Err(RunError::Unfinished { days, .. }) if days.len() == 4
    ));
}

#[tokio::test]
async fn the_report_serializes_for_the_cli_and_the_invocation_result() {
    let store = MemoryStore::default();
    rejected(&store, 2);
    let found = reconcile(
        &FakeReport::with_rows([doc_invoice_numbered(1), doc_invoice_numbered(2)]),
        &store,
        &MemoryQueue::default(),
        window(),
        &Options::new(now()),
    )
    .await
    .unwrap();

    let json = serde_json::to_value(&found).unwrap();
    assert_eq!(
        json["window"],
        serde_json::json!({"from": "2015-05-01", "to": "2015-07-01"})
    );
    assert_eq!(
        json["findings"][0],
        serde_json::json!({"invoiceId": 1, "problem": {"kind": "missing"}, "action": {"action": "requeued"}})
    );
    assert_eq!(json["findings"][1]["problem"]["code"], "UNKNOWN_INVOICE");
    let summary = summary(&Run::from(Ok(found)));
    assert_eq!(summary["requeued"], 2);
    assert_eq!(summary["requeuedIds"], serde_json::json!([1, 2]));
    assert_eq!(summary["rows"], 2);
}

#[tokio::test]
async fn a_scheduled_run_counts_missing_invoices_only_outside_its_settle_window() {
    // Arrange: paid 20 minutes before the run, never stored.
    let mut paid = doc_invoice_numbered(1);
    paid.purchase_time =
        glase_shared::PurchaseTime::from_timestamp(now() - Duration::from_secs(20 * 60));
    let with_settle = |minutes: u64| Scheduled {
        source: FakeReport::with_rows([paid.clone()]).by_day(),
        store: MemoryStore::default(),
        queue: MemoryQueue::default(),
        days: None::<MemoryQueue>,
        zone: TimeZone::UTC,
        lookback_days: 3,
        settle: Duration::from_secs(minutes * 60),
    };

    // Act
    let inside = with_settle(30).run(now()).await.unwrap().found;
    let outside = with_settle(15).run(now()).await.unwrap();

    // Assert: re-queued either way, missing only once the window has passed.
    assert_eq!((inside.requeued_ids(), inside.missing), (vec![id(1)], 0));
    assert_eq!(
        (outside.found.requeued_ids(), outside.found.missing),
        (vec![id(1)], 1)
    );
    assert_eq!(summary(&outside)["missing"], 1);
}

fn with_days_queue(
    source: FakeReport,
) -> Scheduled<FakeReport, MemoryStore, MemoryQueue, MemoryQueue> {
    Scheduled {
        source,
        store: MemoryStore::default(),
        queue: MemoryQueue::default(),
        days: Some(MemoryQueue::default()),
        zone: TimeZone::UTC,
        lookback_days: 3,
        settle: Options::DEFAULT_SETTLE,
    }
}

fn days_queue(
    scheduled: &Scheduled<FakeReport, MemoryStore, MemoryQueue, MemoryQueue>,
) -> Vec<jiff::civil::Date> {
    scheduled
        .days
        .as_ref()
        .unwrap()
        .handed_on
        .lock()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn an_invocation_without_time_for_its_days_hands_them_to_its_queue_and_succeeds() {
    let scheduled = with_days_queue(FakeReport::with_rows([paid_on(date(2026, 3, 9), 1)]).by_day());
    // 30 s left: less than a day is given (a minute).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);

    let run = scheduled
        .handle(&Invocation::Scheduled, now(), Some(deadline))
        .await
        .unwrap();

    let days: Vec<_> = Window::new(date(2026, 3, 7), date(2026, 3, 10))
        .unwrap()
        .days()
        .map(|d| d.from())
        .collect();
    assert_eq!(run.handed_on, days);
    assert_eq!(days_queue(&scheduled), days);
    assert!(
        scheduled.source.windows().is_empty(),
        "no report was asked for"
    );
    assert_eq!(
        summary(&run)["daysHandedOn"],
        "2026-03-07,2026-03-08,2026-03-09,2026-03-10"
    );
}

#[tokio::test]
async fn days_that_fail_in_the_scheduled_run_are_handed_on_each_to_be_retried_alone() {
    // Glase refuses every day's report: each day fails alone and is handed on, to be retried
    // by its own message; the invocation itself has done its part.
    let scheduled = with_days_queue(FakeReport::default().unavailable());

    let run = scheduled.run(now()).await.unwrap();

    assert_eq!(run.failed.len(), 4);
    assert_eq!(days_queue(&scheduled).len(), 4);
    assert!(run.error().unwrap().contains("HTTP 503"));
}

#[tokio::test]
async fn a_days_message_reconciles_that_day_only() {
    let scheduled = with_days_queue(
        FakeReport::with_rows([paid_on(date(2026, 3, 1), 1), paid_on(date(2026, 3, 2), 2)])
            .by_day(),
    );

    let run = scheduled
        .handle(&Invocation::Days(vec![date(2026, 3, 2)]), now(), None)
        .await
        .unwrap();

    assert_eq!(
        scheduled.source.windows(),
        vec![Window::day(date(2026, 3, 2))]
    );
    assert_eq!(run.found.requeued_ids(), vec![id(2)]);
    assert!(days_queue(&scheduled).is_empty());
}

#[tokio::test]
async fn a_days_message_that_fails_fails_the_invocation_for_sqs_to_retry_and_is_not_handed_on() {
    let scheduled = with_days_queue(FakeReport::default().unavailable());

    let result = scheduled
        .handle(&Invocation::Days(vec![date(2026, 3, 2)]), now(), None)
        .await;

    assert!(
        matches!(
            result,
            Err(RunError::Unfinished { ref days, .. }) if days == &vec![date(2026, 3, 2)]
        ),
        "{result:?}"
    );
    assert!(days_queue(&scheduled).is_empty());
}

#[tokio::test]
async fn a_window_by_hand_is_split_by_day_like_the_schedule() {
    let scheduled = with_days_queue(FakeReport::default().by_day());
    let window = Window::new(date(2026, 1, 1), date(2026, 3, 31)).unwrap();

    let run = scheduled
        .handle(&Invocation::Window(window), now(), None)
        .await
        .unwrap();

    assert_eq!(run.done.len(), 90);
    assert_eq!(scheduled.source.windows().len(), 90);
    assert_eq!(summary(&run)["from"], "2026-01-01");
}

/// The JSON log lines written while `work` runs on this thread.
async fn logged<T>(work: impl std::future::Future<Output = T>) -> (T, Vec<serde_json::Value>) {
    use std::sync::{Arc, Mutex};
    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Lines {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let lines = Lines::default();
    let writer = lines.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_writer(move || writer.clone())
        .finish();
    let out = {
        let _guard = tracing::subscriber::set_default(subscriber);
        work.await
    };
    let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
    let parsed = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (out, parsed)
}

#[tokio::test(flavor = "current_thread")]
async fn with_100000_requeues_the_summary_stays_small_and_every_id_is_in_a_requeued_line() {
    // Arrange: nothing stored, so every row is re-queued.
    const ROWS: u64 = 100_000;
    let scheduled = Scheduled {
        source: glase_shared::memory::GeneratedReport { rows: ROWS },
        store: MemoryStore::default(),
        queue: MemoryQueue::default(),
        days: None::<MemoryQueue>,
        zone: TimeZone::UTC,
        // One day: the generated report serves its rows for any window.
        lookback_days: 0,
        settle: Options::DEFAULT_SETTLE,
    };

    // Act
    let (run, lines) = logged(scheduled.run(now())).await;

    // Assert
    let run = run.unwrap();
    let found = &run.found;
    assert_eq!(found.requeued, ROWS);
    let summary_line = lines
        .iter()
        .find(|l| l["message"] == "reconcile summary")
        .expect("a summary line");
    let size = summary_line.to_string().len();
    assert!(size < 4096, "summary line of {size} bytes");
    assert_eq!(summary_line["requeued"], ROWS);
    assert!(summary_line["requeued_ids"]
        .as_str()
        .unwrap()
        .ends_with(",…"));
    let result = serde_json::to_string(&summary(&run)).unwrap();
    assert!(
        result.len() < 4096,
        "invocation result of {} bytes",
        result.len()
    );

    let mut logged_ids = Vec::new();
    for line in lines
        .iter()
        .filter(|l| l["message"] == "reconcile requeued")
    {
        let ids: Vec<u64> = line["ids"]
            .as_str()
            .unwrap()
            .split(',')
            .map(|n| n.parse().unwrap())
            .collect();
        assert!(ids.len() <= IDS_PER_LOG_LINE);
        assert_eq!(line["count"], ids.len());
        logged_ids.extend(ids);
    }
    logged_ids.sort_unstable();
    assert_eq!(logged_ids, (1..=ROWS).collect::<Vec<_>>());
}
