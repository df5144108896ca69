//! `glase-invoices reconcile` run as a user runs it, against glase-sim over HTTP (in this
//! process), DynamoDB Local and moto's SQS: a window of the longest length, one report request
//! per Glase day, the usage error past it, and a day Glase refuses named with the command to
//! run it again.

use std::collections::BTreeMap;

use crate::common::*;
use glase_sim::{NewInvoice, RunningSim, Sim};
use glase_tests::glase::{ISSUER, SECRET};
use jiff::civil::Date;
use jiff::ToSpan;

/// glase-sim on a runtime of its own that keeps serving while the binary runs.
struct Glase {
    running: RunningSim,
    runtime: tokio::runtime::Runtime,
}

impl Glase {
    fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let running = runtime.block_on(glase_tests::glase::start());
        Self { running, runtime }
    }

    fn sim(&self) -> Sim {
        self.running.sim()
    }

    /// Pays an invoice at noon (UTC, Glase's zone here) of `day`; Glase never notifies it.
    fn pay(&self, day: Date, n: u64) -> u64 {
        let at = jiff::tz::TimeZone::UTC
            .to_timestamp(day.at(12, 0, n as i8, 0))
            .expect("a time");
        let sim = self.sim();
        self.runtime
            .block_on(sim.pay(NewInvoice {
                issuer: ISSUER.into(),
                amount: "12345678901234567.89".into(),
                currency: "EUR".into(),
                description: format!("Invoice {n}, \"paid\""),
                reference: format!("REF-{n}"),
                payer: None,
                notify_url: None,
                purchase_time: Some(at),
            }))
            .expect("paid")
            .id
            .get()
    }

    /// The environment the worker has: Glase's variables beside the table and queues.
    fn env<'a>(
        &'a self,
        base_url: &'a str,
        table: &'a str,
        queue: &'a str,
    ) -> Vec<(&'a str, &'a str)> {
        vec![
            ("GLASE_BASE_URL", base_url),
            ("GLASE_ISSUER", ISSUER),
            ("GLASE_SECRET", SECRET),
            ("GLASE_TIME_ZONE", "UTC"),
            ("TABLE_NAME", table),
            ("QUEUE_URL", queue),
        ]
    }
}

/// A fresh table and notifications queue.
fn table_and_queue(prefix: &str) -> (String, String) {
    let table = unique(prefix);
    block_on(glase_shared::adapters::dynamo::ensure_table(
        &dynamodb(),
        &table,
    ))
    .expect("table");
    (table, queues(prefix).0)
}

/// The invoice ids on `queue`, with how many times each arrived.
fn arrived(queue: &str) -> BTreeMap<u64, usize> {
    let mut counts = BTreeMap::new();
    for (body, _) in drain(queue) {
        let id = glase_shared::InvoiceId::from_notification(body.as_bytes())
            .unwrap_or_else(|e| panic!("{body}: {e}"));
        *counts.entry(id.get()).or_insert(0) += 1;
    }
    counts
}

const FROM: &str = "2026-01-01";

fn from() -> Date {
    FROM.parse().expect("a date")
}

#[test]
fn reconcile_over_93_days_asks_glase_once_a_day_and_requeues_the_missing_invoices_once() {
    // Arrange: invoices paid on two of the 93 days, none of them in the table.
    let glase = Glase::start();
    let (table, queue) = table_and_queue("reconcile-93");
    let last = from() + 92.days();
    let paid_days = [from() + 9.days(), from() + 70.days()];
    let mut ids: Vec<u64> = vec![
        glase.pay(paid_days[0], 1),
        glase.pay(paid_days[0], 2),
        glase.pay(paid_days[1], 3),
    ];
    ids.sort_unstable();
    let base_url = glase.running.base_url();
    let env = glase.env(&base_url, &table, &queue);

    // Act
    let to = last.to_string();
    let r = run(
        &env,
        &["reconcile", "--from", FROM, "--to", &to, "--format", "json"],
    );

    // Assert
    assert_eq!(r.code, 0, "{}", r.transcript());
    let mut printed: Vec<u64> = r
        .stdout
        .lines()
        .map(|line| {
            let row: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
            assert_eq!(row["action"], "requeued", "{line}");
            row["invoiceId"].as_u64().expect("an id")
        })
        .collect();
    printed.sort_unstable();
    assert_eq!(printed, ids, "{}", r.transcript());
    assert!(r.stderr.contains("93 days"), "{}", r.transcript());
    assert_eq!(
        arrived(&queue),
        ids.iter().map(|id| (*id, 1)).collect::<BTreeMap<_, _>>(),
        "each missing invoice queued once"
    );
    let asked = glase.sim().report_requests();
    let days: Vec<(Date, Date)> = (0..93).map(|n| from() + n.days()).map(|d| (d, d)).collect();
    assert_eq!(asked, days, "one report request per day, oldest first");
}

#[test]
fn reconcile_over_94_days_is_a_usage_error_that_asks_glase_nothing() {
    // Arrange
    let glase = Glase::start();
    let (table, queue) = table_and_queue("reconcile-94");
    let base_url = glase.running.base_url();
    let env = glase.env(&base_url, &table, &queue);
    let to = (from() + 93.days()).to_string();

    // Act
    let r = run(&env, &["reconcile", "--from", FROM, "--to", &to]);

    // Assert
    assert_eq!(r.code, 2, "{}", r.transcript());
    assert!(r.stderr.contains("94 days"), "{}", r.transcript());
    assert!(r.stderr.contains("at most 93"), "{}", r.transcript());
    assert!(r.stdout.is_empty(), "{}", r.transcript());
    assert!(glase.sim().report_requests().is_empty());
    assert_eq!(depth(&queue), (0, 0));
}

#[test]
fn a_day_glase_refuses_fails_the_run_and_is_named_with_the_command_to_run_it_again() {
    // Arrange: five days, an invoice paid on the first and the last; Glase refuses the third.
    let glase = Glase::start();
    let (table, queue) = table_and_queue("reconcile-refused");
    let refused = from() + 2.days();
    let last = from() + 4.days();
    let ids = [glase.pay(from(), 1), glase.pay(last, 2)];
    glase.sim().refuse_report_days(vec![refused]);
    let base_url = glase.running.base_url();
    let env = glase.env(&base_url, &table, &queue);

    // Act
    let to = last.to_string();
    let r = run(
        &env,
        &["reconcile", "--from", FROM, "--to", &to, "--format", "csv"],
    );

    // Assert
    assert_eq!(r.code, 4, "{}", r.transcript());
    let again = format!("glase-invoices reconcile --from {refused} --to {refused}");
    assert!(r.stderr.contains(&again), "{}", r.transcript());
    assert!(
        r.stderr.contains(&format!("{refused}: stopped")),
        "{}",
        r.transcript()
    );
    assert!(r.stderr.contains("HTTP 500"), "{}", r.transcript());
    // Only that day: the days either side were done and their invoices re-queued.
    assert_eq!(
        r.stderr.matches("glase-invoices reconcile --from").count(),
        1
    );
    for id in ids {
        assert!(
            r.stdout.contains(&format!("{id},missing,requeued")),
            "{}",
            r.transcript()
        );
    }
    assert_eq!(arrived(&queue), BTreeMap::from([(ids[0], 1), (ids[1], 1)]));
    assert_eq!(glase.sim().report_requests().len(), 5);

    // Act 2: the day named, run again once Glase answers for it.
    glase.sim().refuse_report_days(vec![]);
    let day = refused.to_string();
    let r = run(&env, &["reconcile", "--from", &day, "--to", &day]);

    // Assert 2
    assert_eq!(r.code, 0, "{}", r.transcript());
    assert_eq!(depth(&queue), (0, 0), "nothing new to re-queue");
}
