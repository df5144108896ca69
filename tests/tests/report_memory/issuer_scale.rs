//! Reconcile at issuer scale on the in-memory ports: 100,000 report rows, half of them missing
//! from the table. The run finishes, re-queues exactly the missing ones once, and holds a
//! compact record per row — far below the report's body — plus a bounded result.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::time::Instant;

use glase_shared::memory::{doc_invoice_numbered, GeneratedReport, MemoryQueue, MemoryStore};
use glase_shared::ports::InvoiceRecord;
use glase_shared::reconcile::{reconcile, Options, Reconciliation, Window};
use glase_shared::InvoiceId;
use jiff::civil::date;
use jiff::Timestamp;

use super::{peak_during, MEASURING};

const ROWS: u64 = 100_000;
/// A Glase report row is ~330 bytes (a description, two references, a timestamp).
const BODY_BYTES: usize = ROWS as usize * 330;

#[test]
fn a_100000_row_report_half_missing_requeues_exactly_the_missing_ones_once_in_flat_memory() {
    let _one_at_a_time = MEASURING.lock().unwrap_or_else(|e| e.into_inner());
    // Arrange: the even ids stored as the report says, the odd ones never arrived.
    let store = MemoryStore::default();
    for n in (2..=ROWS).step_by(2) {
        let invoice = doc_invoice_numbered(n);
        store.put(
            invoice.id,
            InvoiceRecord::Stored {
                invoice,
                stored_at: Timestamp::now(),
            },
        );
    }
    let queue = MemoryQueue::default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let window = Window::day(date(2015, 5, 15));

    // Act
    let started = Instant::now();
    let (found, peak) = peak_during(|| {
        runtime.block_on(reconcile(
            &GeneratedReport { rows: ROWS },
            &store,
            &queue,
            window,
            &Options::new(Timestamp::now()),
        ))
    });
    let took = started.elapsed();

    // Assert
    let found = found.unwrap();
    let batches = queue.batches.load(Ordering::SeqCst);
    eprintln!(
        "{ROWS} rows, {} re-queued: {took:?}, peak heap {peak} bytes, {batches} SendMessageBatch calls",
        found.requeued
    );
    assert_eq!(
        (found.rows, found.matched, found.missing, found.requeued),
        (ROWS, ROWS / 2, ROWS / 2, ROWS / 2)
    );
    let sent = queue.sent();
    let unique: HashSet<InvoiceId> = sent.iter().copied().collect();
    assert_eq!(unique.len(), sent.len(), "an id re-queued twice");
    let odd: HashSet<InvoiceId> = (1..=ROWS)
        .step_by(2)
        .map(|n| InvoiceId::new(n).unwrap())
        .collect();
    assert_eq!(unique, odd, "exactly the missing ones, none of the stored");
    assert_eq!(batches as u64, ROWS / 2 / 10, "ten re-queues per batch");
    assert_eq!(found.findings.len(), Reconciliation::SAMPLE);
    // ~90 bytes held per row (id, amount, currency, reference, instant); the body is ~330.
    assert!(
        peak < 16 * 1024 * 1024,
        "held {peak} bytes at once for {ROWS} rows"
    );
    assert!(
        peak < BODY_BYTES / 2,
        "held {peak} bytes, body ~{BODY_BYTES}"
    );
}
