//! A window one Glase day at a time: the split that lets a window of any size finish.
//!
//! Each day is its own report request and its own run of [`reconcile_with`], so a failure or
//! a lack of time costs that day only, never the days done before it, and a day run again later
//! re-queues only what is still not stored by then. Given a deadline (the Lambda invocation's),
//! the days that do not fit are returned, not started: the function hands them on, one message
//! a day ([`day_message`]) on a queue it consumes itself; the CLI runs without a deadline.

use std::time::Duration;

use jiff::civil::Date;
use serde::Deserialize;
use tokio::time::Instant;

use super::{reconcile_with, Finding, Options, ReconcileError, Reconciliation, Window};
use crate::ports::{InvoiceLookup, ReportSource, Requeue};

/// What a split run did.
#[derive(Debug)]
pub struct Days {
    /// Every day done or failed, summed (counts exact, samples bounded).
    pub found: Reconciliation,
    /// Days read to the end.
    pub done: Vec<Date>,
    /// Days that stopped early (Glase, the table): what they did by then is in `found`.
    pub failed: Vec<(Date, ReconcileError)>,
    /// Days not done for lack of time (the one cut short included), oldest first.
    pub left: Vec<Date>,
}

impl Days {
    /// Days still to do: the failed ones and those left, oldest first.
    pub fn undone(&self) -> Vec<Date> {
        let mut days: Vec<Date> = self.failed.iter().map(|(d, _)| *d).collect();
        days.extend(&self.left);
        days.sort_unstable();
        days
    }
}

/// A day is not started with less time left than this, nor than 1.5 × the longest day so far:
/// a day cut short is work thrown away (harmless, but wasted).
pub const MIN_TIME_PER_DAY: Duration = Duration::from_secs(60);

/// Reconciles `window` day by day, oldest first; every finding of every day goes to `sink`.
/// With `deadline`, a day that has not finished by then is cut short and returned in
/// [`Days::left`] with the days after it.
pub async fn reconcile_days<S, L, Q>(
    source: &S,
    store: &L,
    queue: &Q,
    window: Window,
    options: &Options,
    sink: &mut (dyn FnMut(&Finding) + Send),
    deadline: Option<Instant>,
) -> Days
where
    S: ReportSource,
    L: InvoiceLookup,
    Q: Requeue,
{
    let mut found = Reconciliation::new(window, options.dry_run);
    let (mut done, mut failed, mut left) = (Vec::new(), Vec::new(), Vec::new());
    let mut longest = Duration::ZERO;
    for day in window.days() {
        if !left.is_empty() {
            left.push(day.from());
            continue;
        }
        let started = Instant::now();
        if let Some(deadline) = deadline {
            let needed = MIN_TIME_PER_DAY.max(longest.mul_f32(1.5));
            if deadline.saturating_duration_since(started) < needed {
                left.push(day.from());
                continue;
            }
        }
        let run = reconcile_with(source, store, queue, day, options, sink);
        let result = match deadline {
            Some(deadline) => match tokio::time::timeout_at(deadline, run).await {
                Ok(result) => result,
                Err(_) => {
                    tracing::warn!(day = %day.from(), "reconcile day cut short by the deadline");
                    left.push(day.from());
                    continue;
                }
            },
            None => run.await,
        };
        longest = longest.max(started.elapsed());
        match result {
            Ok(day_found) => {
                found.absorb(day_found);
                done.push(day.from());
            }
            Err(failure) => {
                found.absorb(*failure.partial);
                failed.push((day.from(), failure.cause));
            }
        }
    }
    Days {
        found,
        done,
        failed,
        left,
    }
}

/// The body of the message that hands `date` on to the reconcile function's own queue:
/// `{"reconcileDate":"2026-12-01"}`.
pub fn day_message(date: Date) -> String {
    format!(r#"{{"reconcileDate":"{date}"}}"#)
}

/// Why a message on the days queue names no day.
#[derive(Debug, thiserror::Error)]
pub enum DayMessageError {
    #[error(r#"not a day message (expected {{"reconcileDate":"YYYY-MM-DD"}}): {0}"#)]
    Shape(#[source] serde_json::Error),
    #[error("reconcileDate is not a date: {0}")]
    Date(#[source] jiff::Error),
}

/// The day a message names; anything else is refused with the reason.
pub fn parse_day_message(body: &str) -> Result<Date, DayMessageError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    struct DayMessage<'a> {
        reconcile_date: &'a str,
    }
    let message: DayMessage = serde_json::from_str(body).map_err(DayMessageError::Shape)?;
    message
        .reconcile_date
        .parse()
        .map_err(DayMessageError::Date)
}

#[cfg(all(test, feature = "test-util"))]
mod tests {
    use std::collections::HashMap;
    use std::time::Duration;

    use jiff::civil::{date, Date};
    use jiff::tz::TimeZone;
    use jiff::Timestamp;

    use super::*;
    use crate::domain::{InvoiceId, PurchaseTime};
    use crate::memory::{doc_invoice_numbered, FakeReport, MemoryQueue, MemoryStore};
    use crate::ports::{AdapterError, InvoiceRecord, InvoiceRecords};
    use crate::Invoice;

    fn now() -> Timestamp {
        "2026-03-10T04:00:00Z".parse().unwrap()
    }

    /// Four days, 1 to 4 March, three invoices paid on each: ids `day × 10 + 1..=3`.
    fn window() -> Window {
        Window::new(date(2026, 3, 1), date(2026, 3, 4)).unwrap()
    }

    fn paid_on(day: Date, n: u64) -> Invoice {
        let mut row = doc_invoice_numbered(u64::from(day.day() as u8) * 10 + n);
        let at = TimeZone::UTC.to_timestamp(day.at(12, 0, 0, 0)).unwrap();
        row.purchase_time = PurchaseTime::from_timestamp(at);
        row
    }

    fn report() -> FakeReport {
        FakeReport::with_rows(
            window()
                .days()
                .flat_map(|d| (1..=3).map(move |n| paid_on(d.from(), n))),
        )
        .by_day()
    }

    /// The table, each lookup taking `delay` (of Tokio's paused clock).
    struct Slow<'a> {
        store: &'a MemoryStore,
        delay: Duration,
    }

    impl InvoiceLookup for Slow<'_> {
        async fn get_many(&self, ids: &[InvoiceId]) -> Result<InvoiceRecords, AdapterError> {
            tokio::time::sleep(self.delay).await;
            self.store.get_many(ids).await
        }
    }

    /// The window, every finding dropped, until `deadline` if any.
    async fn run(
        source: &FakeReport,
        store: &impl InvoiceLookup,
        queue: &MemoryQueue,
        deadline: Option<tokio::time::Instant>,
    ) -> Days {
        reconcile_days(
            source,
            store,
            queue,
            window(),
            &Options::new(now()),
            &mut |_| {},
            deadline,
        )
        .await
    }

    /// What the worker does with what was re-queued: stores it.
    fn worker_stores(store: &MemoryStore, queue: &MemoryQueue, report: &[Invoice]) {
        let by_id: HashMap<InvoiceId, &Invoice> = report.iter().map(|r| (r.id, r)).collect();
        for id in queue.sent() {
            store.put(
                id,
                InvoiceRecord::Stored {
                    invoice: (*by_id[&id]).clone(),
                    stored_at: now(),
                },
            );
        }
    }

    fn all_rows() -> Vec<Invoice> {
        window()
            .days()
            .flat_map(|d| (1..=3).map(move |n| paid_on(d.from(), n)))
            .collect()
    }

    #[tokio::test]
    async fn a_window_is_read_one_glase_day_at_a_time_oldest_first() {
        let (source, store, queue) = (report(), MemoryStore::default(), MemoryQueue::default());

        let days = run(&source, &store, &queue, None).await;

        assert_eq!(source.windows(), window().days().collect::<Vec<_>>());
        assert_eq!(
            days.done,
            window().days().map(|d| d.from()).collect::<Vec<_>>()
        );
        assert!(days.left.is_empty() && days.failed.is_empty());
        assert_eq!((days.found.rows, days.found.requeued), (12, 12));
        assert_eq!(days.found.window, window());
        assert_eq!(queue.sent().len(), 12);
    }

    #[tokio::test(start_paused = true)]
    async fn days_that_do_not_fit_before_the_deadline_are_left_not_started() {
        let (source, store, queue) = (report(), MemoryStore::default(), MemoryQueue::default());
        let slow = Slow {
            store: &store,
            delay: Duration::from_secs(100),
        };
        // Each day takes 100 s, so a day needs 150 s (1.5 × the longest) once one is done:
        // days 2 and 3 start with 260 s and 160 s left; day 4, with 60 s, does not.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(360);

        let days = run(&source, &slow, &queue, Some(deadline)).await;

        assert_eq!(
            days.done,
            vec![date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3)]
        );
        assert_eq!(days.left, vec![date(2026, 3, 4)]);
        assert_eq!(days.undone(), vec![date(2026, 3, 4)]);
        assert_eq!(
            source.windows().len(),
            3,
            "day 4's report was never asked for"
        );
        assert_eq!(queue.sent().len(), 9);
    }

    #[tokio::test(start_paused = true)]
    async fn a_day_still_running_at_the_deadline_is_cut_short_and_left_with_the_days_after_it() {
        let (source, store, queue) = (report(), MemoryStore::default(), MemoryQueue::default());
        let slow = Slow {
            store: &store,
            delay: Duration::from_secs(100),
        };
        // A first day that is already slower than the time left: it runs (nothing to judge it
        // by yet, 90 s ≥ the 60 s minimum) and is cut at the deadline.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(90);

        let days = run(&source, &slow, &queue, Some(deadline)).await;

        assert!(days.done.is_empty());
        assert_eq!(
            days.undone(),
            window().days().map(|d| d.from()).collect::<Vec<_>>()
        );
        assert!(queue.sent().is_empty());
    }

    #[tokio::test]
    async fn a_failed_day_stops_only_itself_and_is_named_with_its_cause() {
        let source = report().then_broken("connection reset");
        let (store, queue) = (MemoryStore::default(), MemoryQueue::default());

        let days = run(&source, &store, &queue, None).await;

        // The break comes at the end of every day's body: each day's rows are still checked.
        assert_eq!(days.failed.len(), 4);
        assert!(days.failed[0].1.to_string().contains("connection reset"));
        assert_eq!(
            days.undone(),
            window().days().map(|d| d.from()).collect::<Vec<_>>()
        );
        assert_eq!(queue.sent().len(), 12);
    }

    #[tokio::test(start_paused = true)]
    async fn a_split_run_killed_half_way_and_run_again_requeues_nothing_stored_meanwhile() {
        let (source, store, queue) = (report(), MemoryStore::default(), MemoryQueue::default());
        let slow = Slow {
            store: &store,
            delay: Duration::from_secs(100),
        };
        // Killed (Lambda's hard timeout) during day 3's lookup: days 1 and 2 were re-queued.
        let killed =
            tokio::time::timeout(Duration::from_secs(250), run(&source, &slow, &queue, None)).await;
        assert!(killed.is_err(), "the run was killed");
        let first = queue.sent();
        assert_eq!(first.len(), 6);
        // Meanwhile the worker stores what was re-queued.
        worker_stores(&store, &queue, &all_rows());

        // Run again over the whole window, as a retried invocation does.
        let again = run(&source, &store, &queue, None).await;

        let sent = queue.sent();
        let mut ids: Vec<_> = sent.iter().map(|id| id.get()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), sent.len(), "no id re-queued twice: {sent:?}");
        assert_eq!(sent.len(), 12, "every missing invoice re-queued once");
        assert_eq!((again.found.matched, again.found.requeued), (6, 6));
    }

    #[test]
    fn a_day_message_names_one_date_and_anything_else_is_refused_with_a_reason() {
        let body = day_message(date(2026, 12, 1));
        assert_eq!(body, r#"{"reconcileDate":"2026-12-01"}"#);
        assert_eq!(parse_day_message(&body).unwrap(), date(2026, 12, 1));
        for bad in [
            r#"{"invoiceId":1}"#,
            r#"{"reconcileDate":"01.12.2026"}"#,
            r#"{"reconcileDate":"2026-12-01","x":1}"#,
            "",
        ] {
            let error = parse_day_message(bad).unwrap_err().to_string();
            assert!(!error.is_empty(), "{bad}");
        }
    }
}
