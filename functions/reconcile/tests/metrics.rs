//! The EMF metrics, in a test binary of their own: the recorder is process-wide, and any other
//! test's run would add to what this one flushes.

use glase_reconcile::{metrics, Run};
use glase_shared::memory::{FakeReport, MemoryQueue, MemoryStore};
use glase_shared::reconcile::{
    reconcile, Action, Finding, Options, Problem, ReconcileFailure, Reconciliation, Window,
};
use glase_shared::InvoiceId;
use jiff::civil::date;
use jiff::Timestamp;

fn id(n: u64) -> InvoiceId {
    InvoiceId::new(n).unwrap()
}

fn now() -> Timestamp {
    "2026-03-10T04:00:00Z".parse().unwrap()
}

fn window() -> Window {
    Window::new(date(2015, 5, 1), date(2015, 7, 1)).unwrap()
}

async fn reconcile_once(source: FakeReport) -> Result<Reconciliation, ReconcileFailure> {
    let options = Options::new(now());
    reconcile(
        &source,
        &MemoryStore::default(),
        &MemoryQueue::default(),
        window(),
        &options,
    )
    .await
}

/// One flushed EMF document: the names (with units) and values of its metrics.
fn flushed(collector: &metrics_cloudwatch_embedded::Collector) -> serde_json::Value {
    let mut out = Vec::new();
    collector.flush(&mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    let docs: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(docs.len(), 1, "{text}");
    docs.into_iter().next().unwrap()
}

#[tokio::test]
async fn metrics_are_emf_counts_without_dimensions_in_the_configured_namespace() {
    // Arrange: the runs first, so the recorder sees nothing but what this test records.
    let empty = reconcile_once(FakeReport::default()).await.unwrap();
    let stopped = reconcile_once(FakeReport::default().unavailable())
        .await
        .unwrap_err();
    let collector = metrics::init("GlaseInvoices/test-stack").unwrap();
    // Counts as a run with these three findings keeps them.
    let mut found = Reconciliation::new(window(), false);
    found.rows = 4;
    found.matched = 1;
    found.missing = 1;
    found.requeued = 1;
    found.mismatches = 1;
    found.invalid_rows = 1;
    found.findings = vec![
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
        Finding {
            invoice_id: Some(id(4)),
            problem: Problem::InvalidRow {
                row: 4,
                error: "report row 4: AMOUNT is invalid".into(),
            },
            action: Action::NeedsHuman,
        },
    ];

    // Act
    metrics::record(&Run::from(Ok(found)));
    let doc = flushed(collector);

    // Assert
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
            ("ReconcileInvalidRows", "Count"),
            ("ReconcileMismatches", "Count"),
            ("ReconcileMissing", "Count"),
            ("ReconcileReportRows", "Count"),
            ("ReconcileRequeued", "Count"),
            ("ReconcileRuns", "Count"),
        ]
    );
    let values = |doc: &serde_json::Value| {
        [
            "ReconcileRequeued",
            "ReconcileMismatches",
            "ReconcileReportRows",
            "ReconcileFailed",
            "ReconcileMissing",
            "ReconcileRuns",
            "ReconcileInvalidRows",
        ]
        .map(|name| doc[name].as_u64())
    };
    assert_eq!(values(&doc), [1, 1, 4, 1, 1, 1, 1].map(Some));

    // An empty report is still a finished run: the heartbeat beats. One that stopped does not.
    metrics::record(&Run::from(Ok(empty)));
    assert_eq!(values(&flushed(collector)), [0, 0, 0, 0, 0, 1, 0].map(Some));
    metrics::record(&Run::from(Err(stopped)));
    assert_eq!(values(&flushed(collector)), [0, 0, 0, 1, 0, 0, 0].map(Some));
}
