//! The worker's handling of an SQS batch, from the event's JSON (what lambda_runtime hands it)
//! through each record's body and attributes, on the in-memory adapters. Beyond not crashing:
//! no message vanishes silently. Each one not reported failed (to be retried) was stored,
//! rejected with a reason, or quarantined with a reason.

#![no_main]

use std::collections::HashSet;
use std::sync::{Arc, OnceLock};

use aws_lambda_events::event::sqs::SqsEvent;
use glase_shared::memory::{FakeGlase, ManualClock, MemoryStore, MemoryWorkQueue};
use glase_shared::ports::InvoiceRecord;
use glase_shared::{Invoice, InvoiceId};
use glase_worker::{Policy, Worker};
use jiff::tz::TimeZone;
use libfuzzer_sys::fuzz_target;

const GLASE_576: &[u8] = include_bytes!("../../events/glase-invoice-576.json");
const NOW_MS: i64 = 1_700_000_000_000;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    // As in Lambda: one current-thread runtime.
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(event) = serde_json::from_slice::<SqsEvent>(data) else {
        return;
    };
    if event.records.len() > 10 {
        return; // the event source mapping's BatchSize
    }
    let paid = Invoice::from_glase_json(GLASE_576, InvoiceId::new(576).unwrap(), &TimeZone::UTC)
        .expect("fixture");
    let worker = Arc::new(Worker {
        store: MemoryStore::default(),
        glase: FakeGlase::default().with_invoice(paid.clone()),
        queue: MemoryWorkQueue::with_dlq(),
        clock: ManualClock::at_ms(NOW_MS),
        policy: Policy::default(),
    });
    let ids: Vec<String> = event
        .records
        .iter()
        .map(|r| r.message_id.clone().unwrap_or_default())
        .collect();
    let records = event.records.clone();

    let response = runtime().block_on(Arc::clone(&worker).handle_batch(event, NOW_MS + 30_000));

    let failed: HashSet<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    for f in &failed {
        assert!(ids.iter().any(|id| id == f), "failure {f:?} names no message");
    }
    // With ambiguous message ids, which record failed cannot be told apart.
    let unique: HashSet<&String> = ids.iter().collect();
    if unique.len() != ids.len() {
        return;
    }
    let quarantined = worker.queue.quarantined.lock().unwrap().clone();
    for record in &records {
        let id = record.message_id.clone().unwrap_or_default();
        if failed.contains(id.as_str()) {
            continue;
        }
        let body = record.body.as_deref().unwrap_or("");
        match InvoiceId::from_notification(body.as_bytes()) {
            Ok(invoice_id) => {
                match worker.store.get(invoice_id) {
                    Some(InvoiceRecord::Stored { invoice, .. }) => assert_eq!(invoice, paid),
                    Some(InvoiceRecord::Rejected { rejection, .. }) => {
                        assert_ne!(invoice_id.get(), 576);
                        assert!(!rejection.reason.is_empty());
                    }
                    other => panic!("message {id:?} acknowledged, invoice left {other:?}"),
                }
            }
            Err(_) => assert!(
                quarantined.iter().any(|(b, reason)| b == body && !reason.is_empty()),
                "malformed message {id:?} acknowledged but not quarantined"
            ),
        }
    }
});
