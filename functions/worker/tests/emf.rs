//! The worker's metrics as CloudWatch receives them: the EMF documents the recorder prints.
//! A test binary of its own, because the recorder is process-wide: the handler tests running
//! beside it would mix their values into these documents.

use std::sync::{Arc, OnceLock};

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use glase_shared::memory::{
    doc_invoice_numbered, FakeGlase, ManualClock, MemoryStore, MemoryWorkQueue,
};
use glase_shared::ports::FetchError;
use glase_shared::telemetry::Metrics;
use glase_shared::InvoiceId;
use glase_worker::{Policy, Worker};
use serde_json::Value;
use tokio::sync::{Mutex, MutexGuard};

const T0: i64 = 1_700_000_000_000;

/// The one recorder, and a lock so each test reads only its own values.
async fn recorder() -> (Metrics, MutexGuard<'static, ()>) {
    static RECORDER: OnceLock<Metrics> = OnceLock::new();
    static ONE_AT_A_TIME: Mutex<()> = Mutex::const_new(());
    let guard = ONE_AT_A_TIME.lock().await;
    let metrics = *RECORDER.get_or_init(|| {
        glase_shared::telemetry::metrics().expect("nothing else installs a recorder here")
    });
    metrics.flush(std::io::sink()).unwrap();
    (metrics, guard)
}

/// The EMF documents flushed now, one per line.
fn flush(metrics: Metrics) -> Vec<Value> {
    let mut out = Vec::new();
    metrics.flush(&mut out).unwrap();
    String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// Every value of `name` in `docs` (a counter is one number, a histogram a list).
fn values(docs: &[Value], name: &str) -> Vec<f64> {
    docs.iter()
        .filter_map(|doc| match doc.get(name)? {
            Value::Array(values) => Some(values.iter().filter_map(Value::as_f64).collect()),
            v => v.as_f64().map(|v| vec![v]),
        })
        .flatten()
        .collect()
}

fn message(message_id: &str, invoice_id: u64, receive_count: u32) -> SqsMessage {
    let mut m = SqsMessage::default();
    m.message_id = Some(message_id.into());
    m.receipt_handle = Some(format!("receipt-{message_id}"));
    m.body = Some(format!(r#"{{"invoiceId":{invoice_id}}}"#));
    m.attributes
        .insert("ApproximateReceiveCount".into(), receive_count.to_string());
    m
}

fn id(n: u64) -> InvoiceId {
    InvoiceId::new(n).unwrap()
}

#[tokio::test]
async fn an_invoice_failing_on_every_receive_shows_its_receive_count_rising_while_others_are_stored(
) {
    let (metrics, _one) = recorder().await;
    let mut glase = FakeGlase::default();
    for n in 101..=106 {
        glase = glase.with_invoice(doc_invoice_numbered(n));
    }
    for _ in 1..=6 {
        glase = glase.then(id(1), Err(FetchError::transient("HTTP 503")));
    }
    let w = Arc::new(Worker {
        store: MemoryStore::default(),
        glase,
        queue: MemoryWorkQueue::default(),
        clock: ManualClock::at_ms(T0),
        policy: Policy::default(),
    });

    let mut highest = Vec::new();
    for receive in 1..=6u32 {
        let mut event = SqsEvent::default();
        event.records = vec![
            message("stuck", 1, receive),
            message(&format!("ok{receive}"), 100 + u64::from(receive), 1),
        ];
        let resp = Arc::clone(&w).handle_batch(event, T0 + 30_000).await;
        assert_eq!(resp.batch_item_failures.len(), 1);

        // What one invocation prints: the other invoice stored, the stuck one's receive count.
        let docs = flush(metrics);
        assert_eq!(
            values(&docs, "InvoicesStored"),
            vec![1.0],
            "receive {receive}"
        );
        let counts = values(&docs, "RetriedReceiveCount");
        highest.push(counts.iter().copied().fold(0.0, f64::max));
    }

    assert_eq!(highest, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
}

#[tokio::test(start_paused = true)]
async fn a_postponed_notification_and_a_record_cut_off_by_the_deadline_are_counted() {
    let (metrics, _one) = recorder().await;
    let w = Arc::new(Worker {
        store: MemoryStore::default(),
        // Every fetch stalls for an hour (of paused time).
        glase: FakeGlase {
            latency: std::time::Duration::from_secs(3_600),
            ..FakeGlase::default()
        },
        queue: MemoryWorkQueue::default(),
        clock: ManualClock::at_ms(T0),
        policy: Policy::default(),
    });
    let one = |m: SqsMessage| {
        let mut event = SqsEvent::default();
        event.records = vec![m];
        event
    };

    let resp = Arc::clone(&w)
        .handle_batch(one(message("slow", 7, 1)), T0 + 10_000)
        .await;
    assert_eq!(resp.batch_item_failures.len(), 1);
    let docs = flush(metrics);
    assert_eq!(values(&docs, "InvoicesDeadlineExceeded"), vec![1.0]);
    assert_eq!(values(&docs, "RetriedReceiveCount"), vec![1.0]);

    // Rejected (a 404 that is final at once here), then notified again within the cool-down.
    let fast = Arc::new(Worker {
        store: MemoryStore::default(),
        glase: FakeGlase::default(),
        queue: MemoryWorkQueue::default(),
        clock: ManualClock::at_ms(T0),
        policy: Policy {
            reject_after_receives: 1,
            ..Policy::default()
        },
    });
    Arc::clone(&fast)
        .handle_batch(one(message("m1", 8, 5)), T0 + 30_000)
        .await;
    flush(metrics);
    let resp = Arc::clone(&fast)
        .handle_batch(one(message("m2", 8, 1)), T0 + 30_000)
        .await;
    assert_eq!(resp.batch_item_failures.len(), 1);
    let docs = flush(metrics);
    assert_eq!(values(&docs, "InvoicesPostponed"), vec![1.0]);
    assert!(values(&docs, "InvoicesDuplicate").is_empty());
    assert!(values(&docs, "InvoicesRetried").is_empty());
}
