//! The fault matrix (issue 10, "Proof"): 1,000 notifications for 300 paid invoices, sent to
//! the webhook of the local stack by 16 concurrent senders that retry like Glase, while
//! faults are injected mid-run, one phase after another (each on its own cohort of
//! invoices, the earlier cohorts still in flight):
//!
//! 1. Glase answers 500 and 429, slowly;
//! 2. SQS unavailable: the webhook answers 503, never 200, and Glase's retries land later;
//! 3. DynamoDB unavailable;
//! 4. Glase hangs past the worker's client timeout, then answers only after it;
//! 5. a worker process is SIGKILLed mid-batch while it holds leases (Glase slow);
//! 6. a deployment with the wrong issuer secret (Glase 401): the messages are retried and
//!    dead-lettered, never rejected; the secret is fixed and the dead-letter queue redriven.
//!
//! After healing: every paid invoice is stored once with Glase's exact data, nothing is left
//! in flight, and Glase served each invoice successfully at most once beyond the failures the
//! faults caused.
//!
//! SQS and DynamoDB are made unavailable by stopping a TCP proxy in front of them, not by
//! killing moto or DynamoDB Local, which keep the queues and the table only in memory.
//! Time runs fast (Glase's retry schedule × 0.01, short timeouts and back-offs); every wait is
//! bounded and fails saying what did not happen. Run it with `--nocapture` to see the phases.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::os::unix::process::ExitStatusExt;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use glase_dev::stack::{Endpoint, GlaseChoice, Stack, StackConfig};
use glase_shared::adapters::dynamo::DynamoStore;
use glase_shared::adapters::sqs::{Redrive, SqsQueue};
use glase_shared::message::REQUEUED_BY_CLI;
use glase_shared::ports::InvoiceRecord;
use glase_shared::{Invoice, InvoiceId, Payer};
use glase_sim::{EndpointFaults, Faults, IssuerConfig, NewInvoice, Sim, SimConfig};
use glase_tests::killable::KillableWorker;
use glase_tests::proxy::TcpProxy;
use glase_tests::queues::depth;
use glase_tests::records::{capture, Records};
use glase_tests::senders::{Notification, Senders};
use glase_tests::services::{services, unique};
use glase_tests::wait;
use glase_worker::Policy;
use jiff::tz::TimeZone;
use rust_decimal::Decimal;
use secrecy::SecretString;
use tokio::time::Instant;

const INVOICES: usize = 300;
const NOTIFICATIONS: usize = 1_000;
const SENDERS: usize = 16;
/// The invoices each phase's notifications are about, in order: 56 per fault, 20 for the
/// misconfigured deployment (each of its messages is received three times before it
/// dead-letters, so it is kept small).
const COHORTS: [usize; 6] = [56, 56, 56, 56, 56, 20];

/// Glase's retry schedule × 0.01: 0.1 s, 0.1 s, 0.6 s, 2.25 s, 4.5 s, 9 s, 18 s, …
const TIME_SCALE: f64 = 0.01;
/// Glase's own per-attempt timeout is not scaled: the webhook may take its time to say 503.
const SENDER_TIMEOUT: Duration = Duration::from_secs(10);
/// The worker's Glase timeout (GLASE_TIMEOUT_MS) and its "function timeout" (lease length).
const GLASE_TIMEOUT: Duration = Duration::from_millis(1_500);
const WORKER_TIMEOUT: Duration = Duration::from_secs(3);
/// As the template requires: ≥ 6 × the function timeout. A message whose receive was lost
/// (a killed worker's; or moto's, which is not thread-safe: concurrent ReceiveMessage calls
/// on one queue now and then fail after marking messages received) comes back after this.
const VISIBILITY_SECS: u32 = 18;
/// Bound of each wait for a fault's effect (the workers may first have a backlog to clear).
const WAIT: Duration = Duration::from_secs(90);
/// Bound of the final wait for everything to heal.
const HEAL: Duration = Duration::from_secs(150);

const ISSUER: &str = "demo";
const SECRET: &str = "demo-secret";
const ZONE: &str = "Europe/Stockholm";

fn zone() -> TimeZone {
    TimeZone::get(ZONE).expect("bundled time zone")
}

/// Paid invoice number `k`: amounts that floats would spoil, several currencies, quoting,
/// line breaks and non-ASCII text, with and without payer details, an empty reference now
/// and then, purchase times across years (at midday in Stockholm: never an ambiguous hour).
fn paid_invoice(k: usize) -> NewInvoice {
    const AMOUNTS: [&str; 7] = [
        "0.01",
        "0.10",
        "59.99",
        "100.00",
        "1234567.10",
        "12345678901234567.89",
        "99999999999999999.99",
    ];
    let amount = if k % 5 == 0 {
        AMOUNTS[(k / 5) % AMOUNTS.len()].to_owned()
    } else {
        format!("{}.{:02}", k * 37 + 1, (k * 53) % 100)
    };
    let description = match k % 4 {
        0 => format!("Invoice \"{k}\", line 1\nline 2"),
        1 => format!("Faktura {k} – el, vatten & värme ✓"),
        2 => format!("Phone invoice {:02}.2015", k % 12 + 1),
        _ => format!("Rechnung {k}: Ölförderung, 1/2 \\ 3 <tag> 'quoted'"),
    };
    let payer = (k % 3 != 0).then(|| Payer {
        msisdn: Some(format!("4670{k:07}")),
        first_name: (k % 2 == 0).then(|| "Åsa".to_owned()),
        last_name: Some(format!("Smith-{k}")),
        street: Some("34 Wellington St".into()),
        city: (k % 5 != 1).then(|| "London".to_owned()),
        zip: Some("74231".into()),
        country: Some("en".into()),
    });
    let day = jiff::civil::date(2015, 5, 15)
        .checked_add(jiff::Span::new().days(i64::try_from(k * 13).unwrap_or(0)))
        .expect("date in range");
    let purchase_time = zone()
        .to_timestamp(day.at(12, (k % 60) as i8, ((k * 7) % 60) as i8, 0))
        .expect("midday exists");
    NewInvoice {
        issuer: ISSUER.into(),
        amount,
        currency: ["GBP", "EUR", "SEK", "USD"][k % 4].into(),
        description,
        reference: if k % 37 == 5 {
            String::new()
        } else {
            format!("REF/{:03}/2015", k % 50)
        },
        payer,
        notify_url: None,
        purchase_time: Some(purchase_time),
    }
}

/// How many notifications Glase sends for invoice `k`: 3 or 4, 1,000 in all.
fn copies(k: usize) -> usize {
    if k % 3 == 0 {
        4
    } else {
        3
    }
}

/// A small deterministic shuffle (splitmix64), so runs are alike without a dependency.
fn shuffle<T>(items: &mut [T], seed: u64) {
    let mut state = seed;
    let mut next = move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    for i in (1..items.len()).rev() {
        let j = (next() % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
}

fn faults(invoice: EndpointFaults) -> Faults {
    Faults {
        invoice,
        ..Faults::default()
    }
}

/// The run: proxies, the stack behind them, the simulator, the senders, and what the test
/// learns along the way.
struct Matrix {
    started: Instant,
    sqs_proxy: TcpProxy,
    dynamodb_proxy: TcpProxy,
    stack: Stack,
    sim: Sim,
    senders: Senders,
    records: Arc<Records>,
    /// Straight to the services, never through the proxies.
    store: DynamoStore,
    sqs: aws_sdk_sqs::Client,
    dynamodb: aws_sdk_dynamodb::Client,
    /// Invoice ids in cohort order.
    ids: Vec<u64>,
    next_seq: usize,
    /// Leases the killed worker took (id, until), and what it stored before dying.
    killed_leases: Vec<(u64, i64)>,
    killed_stored: Vec<u64>,
    /// The leases it still held when it died.
    killed_held: Vec<u64>,
    /// Queues besides the main stack's, which must end empty too.
    other_queues: Vec<String>,
    /// The fixed deployment of phase 6, shut down at the end.
    fixed: Option<Stack>,
}

fn base_config(sqs: &TcpProxy, dynamodb: &TcpProxy) -> StackConfig {
    StackConfig {
        webhook_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        dynamodb: Endpoint::Existing(dynamodb.url()),
        sqs: Endpoint::Existing(sqs.url()),
        worker_timeout: WORKER_TIMEOUT,
        visibility_timeout_secs: VISIBILITY_SECS,
        // Short back-offs; maxReceiveCount as deployed, so nothing dead-letters by chance.
        policy: Policy {
            base_secs: 1,
            max_secs: 2,
            max_receive_count: 30,
            reject_after_receives: 5,
            rejected_cooldown_secs: 60,
        },
        pollers: 3,
        wait_time_secs: 1,
        time_zone: zone(),
        glase_timeout: GLASE_TIMEOUT,
        ..StackConfig::default()
    }
}

/// A deployment for phase 6's small cohort: one poller, so moto never sees concurrent
/// receives on its queue (see `VISIBILITY_SECS`), and a shorter timeout to match.
fn one_poller(sqs: &TcpProxy, dynamodb: &TcpProxy) -> StackConfig {
    StackConfig {
        pollers: 1,
        worker_timeout: Duration::from_secs(2),
        visibility_timeout_secs: 12,
        ..base_config(sqs, dynamodb)
    }
}

impl Matrix {
    async fn start(records: Arc<Records>) -> Matrix {
        let svc = services();
        let sqs_proxy = TcpProxy::start(&svc.sqs_endpoint).await;
        let dynamodb_proxy = TcpProxy::start(&svc.dynamodb_endpoint).await;
        let sim_config = SimConfig {
            issuers: vec![IssuerConfig::new(ISSUER, SECRET)],
            time_scale: TIME_SCALE,
            seed: 10,
            faults: Faults::default(),
            time_zone: zone(),
            // Paid before the run and never notified by the simulator: the senders do that.
            initial_invoices: (0..INVOICES).map(paid_invoice).collect(),
            ..SimConfig::default()
        };
        let stack = Stack::start(StackConfig {
            glase: GlaseChoice::Sim {
                port: 0,
                config: sim_config,
            },
            table_name: unique("matrix"),
            queue_name: unique("matrix-notifications"),
            ..base_config(&sqs_proxy, &dynamodb_proxy)
        })
        .await
        .expect("the stack starts");
        let sim = stack.sim.as_ref().expect("glase-sim runs").sim();
        let ids: Vec<u64> = sim.invoices().iter().map(|i| i.id.get()).collect();
        assert_eq!(ids.len(), INVOICES);
        assert_eq!(COHORTS.iter().sum::<usize>(), INVOICES);
        assert_eq!((0..INVOICES).map(copies).sum::<usize>(), NOTIFICATIONS);
        let dynamodb = glase_dev::aws::dynamodb(&svc.dynamodb_endpoint);
        Matrix {
            started: Instant::now(),
            store: DynamoStore::new(dynamodb.clone(), &stack.table_name),
            sqs: glase_dev::aws::sqs(&svc.sqs_endpoint),
            dynamodb,
            sqs_proxy,
            dynamodb_proxy,
            stack,
            sim,
            senders: Senders::start(SENDERS, TIME_SCALE, SENDER_TIMEOUT),
            records,
            ids,
            next_seq: 0,
            killed_leases: Vec::new(),
            killed_stored: Vec::new(),
            killed_held: Vec::new(),
            other_queues: Vec::new(),
            fixed: None,
        }
    }

    /// Indexes (into `ids`) of the invoices of phase `phase` (0-based).
    fn cohort_range(phase: usize) -> std::ops::Range<usize> {
        let start: usize = COHORTS[..phase].iter().sum();
        start..start + COHORTS[phase]
    }

    /// The invoice ids of phase `phase` (0-based).
    fn cohort(&self, phase: usize) -> Vec<u64> {
        self.ids[Self::cohort_range(phase)].to_vec()
    }

    /// Hands the cohort's notifications (3 or 4 per invoice, shuffled) to the senders, all to
    /// `url`; returns their sequence numbers.
    fn notify(&mut self, phase: usize, url: &str) -> std::ops::Range<usize> {
        let mut batch: Vec<u64> = Vec::new();
        for k in Self::cohort_range(phase) {
            batch.extend(std::iter::repeat_n(self.ids[k], copies(k)));
        }
        shuffle(&mut batch, phase as u64 + 1);
        let first = self.next_seq;
        for invoice_id in batch {
            self.senders.send(Notification {
                seq: self.next_seq,
                invoice_id,
                url: url.to_owned(),
            });
            self.next_seq += 1;
        }
        first..self.next_seq
    }

    /// Waits until at least `share` of the notifications `seqs` got their 200.
    async fn wait_delivered(&self, seqs: &std::ops::Range<usize>, share: f64) {
        let want = (seqs.len() as f64 * share).ceil() as usize;
        let what = format!("{want} of {} notifications delivered", seqs.len());
        wait::until(&what, WAIT, || async {
            let got = self.senders.delivered(|s| seqs.contains(&s));
            if got >= want {
                Ok(())
            } else {
                Err(format!("{got} delivered"))
            }
        })
        .await;
    }

    /// Waits until the matrix's workers logged `want` records since `from` that match.
    async fn wait_records(
        &self,
        what: &str,
        from: Instant,
        want: usize,
        matches: impl Fn(&glase_tests::records::Record) -> bool,
    ) {
        wait::until(what, WAIT, || async {
            let got = self.records.count_since(from, &matches);
            if got >= want {
                Ok(())
            } else {
                Err(format!("{got} of {want} records so far"))
            }
        })
        .await;
    }

    fn log(&self, text: impl AsRef<str>) {
        let (submitted, delivered, _) = self.senders.totals();
        eprintln!(
            "[{:>6.1} s] {} (notifications delivered {delivered}/{submitted})",
            self.started.elapsed().as_secs_f64(),
            text.as_ref()
        );
    }
}

fn is_glase_timeout(r: &glase_tests::records::Record) -> bool {
    r.is_retry_because("Glase fetch failed transiently: timed out")
}

// ------------------------------------------------------------------------------------ phases

/// 1. Glase answers 500 and 429 (and is slow) while the first cohort arrives.
async fn glase_errors_and_slow(m: &mut Matrix) {
    m.log("phase 1: Glase answers 500 (25 %) and 429 (10 %), 150 ms late");
    m.sim.set_faults(faults(EndpointFaults {
        error_rate: 0.25,
        too_many_rate: 0.1,
        latency: Duration::from_millis(150),
        ..EndpointFaults::default()
    }));
    let from = Instant::now();
    let url = m.stack.notify_url.clone();
    m.notify(0, &url);
    m.wait_records("8 fetches refused with 500", from, 8, |r| {
        r.is_retry_because("HTTP 500")
    })
    .await;
    m.wait_records("a fetch refused with 429", from, 1, |r| {
        r.is_retry_because("HTTP 429")
    })
    .await;
    m.sim.set_faults(Faults::default());
}

/// 2. SQS unavailable mid-send: every notification that arrives meanwhile is answered 503.
async fn sqs_unavailable(m: &mut Matrix) {
    let url = m.stack.notify_url.clone();
    let seqs = m.notify(1, &url);
    m.wait_delivered(&seqs, 1.0 / 3.0).await;
    m.log("phase 2: SQS unavailable");
    m.sqs_proxy.stop().await;
    let down = Instant::now();
    wait::until(
        "16 notifications answered 503 while SQS is down",
        WAIT,
        || async {
            let refused = m
                .senders
                .attempts_within(down, Instant::now())
                .iter()
                .filter(|a| a.status == Some(503))
                .count();
            if refused >= SENDERS {
                Ok(())
            } else {
                Err(format!("{refused} answered 503"))
            }
        },
    )
    .await;
    let up = Instant::now();
    m.sqs_proxy.resume().await;
    m.log("phase 2: SQS back");

    let during = m.senders.attempts_within(down, up);
    let not_503: Vec<_> = during.iter().filter(|a| a.status != Some(503)).collect();
    assert!(
        not_503.is_empty(),
        "while SQS was down the webhook must answer 503 (never 200); of {} answers: {not_503:#?}",
        during.len()
    );
    m.log(format!(
        "phase 2: {} notifications answered 503 while SQS was down",
        during.len()
    ));
}

/// 3. DynamoDB unavailable while the workers claim, fetch and store: taken away while Glase
///    is still answering fetches, so those invoices are served but cannot be stored.
async fn dynamodb_unavailable(m: &mut Matrix) {
    m.sim.set_faults(faults(EndpointFaults {
        latency: Duration::from_millis(300),
        ..EndpointFaults::default()
    }));
    let url = m.stack.notify_url.clone();
    m.notify(2, &url);
    let cohort = m.cohort(2);
    // Requested and not answered yet: Glase is holding them for its 300 ms.
    let in_flight = |sim: &Sim| {
        cohort
            .iter()
            .copied()
            .filter(|id| {
                let f = sim.detail_fetches(*id);
                f.total > f.ok
            })
            .collect::<Vec<u64>>()
    };
    // Woken by every request the simulator receives, so the outage starts right after one.
    let caught = m
        .sim
        .wait_until(WAIT, |sim| in_flight(sim).len() >= 3)
        .await;
    assert!(caught, "no three fetches of this cohort in flight at once");
    m.dynamodb_proxy.stop().await;
    let down = Instant::now();
    let fetching = in_flight(&m.sim);
    m.log(format!(
        "phase 3: DynamoDB unavailable while Glase serves {fetching:?}"
    ));
    m.wait_records(
        "10 records retried because DynamoDB failed",
        down,
        10,
        |r| r.is_retry_because("DynamoDB"),
    )
    .await;
    wait::until(
        "every fetch in flight at the outage to end in a record",
        WAIT,
        || async {
            let waiting: Vec<u64> = fetching
                .iter()
                .copied()
                .filter(|id| m.records.count_since(down, |r| r.invoice_id == Some(*id)) == 0)
                .collect();
            if waiting.is_empty() {
                Ok(())
            } else {
                Err(format!("no record yet for {waiting:?}"))
            }
        },
    )
    .await;
    m.dynamodb_proxy.resume().await;
    m.sim.set_faults(Faults::default());
    let lost_stores = m
        .records
        .count_since(down, |r| r.is_retry_because("PutItem (store)"));
    m.log(format!(
        "phase 3: DynamoDB back; {lost_stores} invoices served by Glase could not be stored"
    ));
    assert!(
        lost_stores > 0,
        "no fetch in flight at the outage came to a failed store (all timed out?)"
    );
}

/// 4. Glase holds requests open past the worker's timeout, then answers only after it.
async fn glase_hangs(m: &mut Matrix) {
    m.log("phase 4: Glase hangs on 30 % of fetches");
    m.sim.set_faults(faults(EndpointFaults::hangs(0.3)));
    let from = Instant::now();
    let url = m.stack.notify_url.clone();
    m.notify(3, &url);
    m.wait_records("8 fetches timed out on a hang", from, 8, is_glase_timeout)
        .await;
    m.log("phase 4: Glase answers every fetch after the worker's timeout");
    m.sim.set_faults(faults(EndpointFaults {
        latency: GLASE_TIMEOUT * 2,
        ..EndpointFaults::default()
    }));
    let from = Instant::now();
    m.wait_records(
        "5 fetches timed out on a slow answer",
        from,
        5,
        is_glase_timeout,
    )
    .await;
    m.sim.set_faults(Faults::default());
}

/// 5. A worker process is SIGKILLed mid-batch while it holds leases.
async fn worker_killed(m: &mut Matrix) {
    m.log("phase 5: Glase slow (5 s); a worker process starts");
    m.sim.set_faults(faults(EndpointFaults {
        latency: Duration::from_secs(5),
        ..EndpointFaults::default()
    }));
    let env = fault_worker_env(m);
    let mut worker = KillableWorker::spawn(env!("CARGO_BIN_EXE_fault-worker"), &env).await;
    let url = m.stack.notify_url.clone();
    m.notify(4, &url);
    worker
        .wait("the worker process to take 2 leases", |a| {
            a.leases.len() >= 2
        })
        .await;
    let status = worker.kill().await;
    assert_eq!(status.signal(), Some(9), "killed by SIGKILL: {status:?}");
    let announced = worker.announced();
    m.log(format!(
        "phase 5: worker process SIGKILLed holding leases on {:?}",
        announced.leases.iter().map(|l| l.0).collect::<Vec<_>>()
    ));

    // Its leases outlive it: the items still carry them (nobody released them).
    let mut held = Vec::new();
    for (id, until) in &announced.leases {
        if let Some(InvoiceRecord::Processing { lease_until_ms, .. }) =
            m.store.get(invoice_id(*id)).await.expect("read the item")
        {
            if lease_until_ms == *until {
                held.push(*id);
            }
        }
    }
    assert!(
        !held.is_empty(),
        "the killed worker held no lease when it died: {announced:?}"
    );
    m.sim.set_faults(Faults::default());
    m.killed_leases = announced.leases;
    m.killed_stored = announced.stored;
    m.killed_held = held;
}

/// The worker's Lambda environment for the killable process, through the proxies.
fn fault_worker_env(m: &Matrix) -> HashMap<String, String> {
    let s = &m.stack;
    [
        ("TABLE_NAME", s.table_name.clone()),
        ("QUEUE_URL", s.queue_url.clone()),
        ("DEAD_LETTER_QUEUE_URL", s.dlq_url.clone()),
        ("GLASE_BASE_URL", s.glase_base_url.clone()),
        ("GLASE_ISSUER", ISSUER.into()),
        ("GLASE_SECRET", SECRET.into()),
        ("GLASE_TIME_ZONE", ZONE.into()),
        // Longer than Glase's 5 s delay: it is still waiting when it is killed.
        ("GLASE_TIMEOUT_MS", "10000".into()),
        ("RETRY_BASE_SECONDS", "1".into()),
        ("RETRY_MAX_SECONDS", "2".into()),
        ("MAX_RECEIVE_COUNT", "30".into()),
        ("PRIME_CONNECTIONS", "false".into()),
        ("DYNAMODB_ENDPOINT", m.dynamodb_proxy.url()),
        ("SQS_ENDPOINT", m.sqs_proxy.url()),
        ("FUNCTION_TIMEOUT_MS", "8000".into()),
        ("RUST_LOG", "warn".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// 6. A deployment with the wrong issuer secret: Glase answers 401, the messages are retried
///    and dead-lettered (maxReceiveCount 3 here), never rejected; then the secret is fixed and
///    the dead-letter queue redriven to its queue.
async fn wrong_secret_then_redrive(m: &mut Matrix) {
    m.log("phase 6: a deployment with the wrong issuer secret");
    let wrong = Stack::start(StackConfig {
        glase: GlaseChoice::External {
            base_url: m.stack.glase_base_url.clone(),
            issuer: ISSUER.into(),
            secret: SecretString::from("not-the-secret"),
        },
        table_name: m.stack.table_name.clone(),
        queue_name: unique("matrix-wrong-secret"),
        policy: Policy {
            base_secs: 0,
            max_secs: 0,
            max_receive_count: 3,
            ..base_config(&m.sqs_proxy, &m.dynamodb_proxy).policy
        },
        ..one_poller(&m.sqs_proxy, &m.dynamodb_proxy)
    })
    .await
    .expect("the misconfigured stack starts");
    let (queue, dlq) = (wrong.queue_url.clone(), wrong.dlq_url.clone());
    m.other_queues = vec![queue.clone(), dlq.clone()];
    let url = wrong.notify_url.clone();
    let seqs = m.notify(5, &url);
    let cohort = m.cohort(5);

    wait::until(
        "every notification to the misconfigured stack dead-lettered",
        HEAL,
        || async {
            let delivered = m.senders.delivered(|s| seqs.contains(&s));
            let (waiting, dead) = (
                depth(&m.sqs, &queue).await.expect("queue depth"),
                depth(&m.sqs, &dlq).await.expect("DLQ depth"),
            );
            if delivered == seqs.len() && waiting == 0 && dead == delivered {
                Ok(())
            } else {
                Err(format!(
                    "{delivered}/{} delivered, {waiting} queued, {dead} dead-lettered",
                    seqs.len()
                ))
            }
        },
    )
    .await;
    wrong.shutdown().await;
    for id in &cohort {
        match m.store.get(invoice_id(*id)).await.expect("read the item") {
            Some(InvoiceRecord::Processing {
                last_error: Some(e),
                ..
            }) if e.contains("Glase refused our credentials") => {}
            other => panic!("invoice {id} after 401s: expected PROCESSING with the credentials error, got {other:?}"),
        }
        assert_eq!(
            m.sim.detail_fetches(*id).ok,
            0,
            "invoice {id} served to a wrong secret"
        );
    }
    m.log("phase 6: all dead-lettered as PROCESSING with the credentials error; fixing the secret and redriving");

    let fixed = Stack::start(StackConfig {
        glase: GlaseChoice::External {
            base_url: m.stack.glase_base_url.clone(),
            issuer: ISSUER.into(),
            secret: SecretString::from(SECRET),
        },
        table_name: m.stack.table_name.clone(),
        queue_url: Some(queue.clone()),
        ..one_poller(&m.sqs_proxy, &m.dynamodb_proxy)
    })
    .await
    .expect("the fixed stack starts");
    m.fixed = Some(fixed);
    // As `glase-invoices dlq redrive` moves them where StartMessageMoveTask is unavailable.
    let redriven = SqsQueue::new(m.sqs.clone(), &queue)
        .redrive(
            &SqsQueue::new(m.sqs.clone(), &dlq),
            Redrive {
                only: None,
                visibility_timeout: 60,
                by: REQUEUED_BY_CLI,
            },
            |_| async {},
        )
        .await
        .expect("redrive");
    assert_eq!(
        (redriven.failed.as_slice(), redriven.left),
        (&[][..], 0),
        "every dead-lettered message was a notification, and moved"
    );
    let moved = redriven.moved;
    let mut moved_ids: Vec<u64> = moved.iter().map(|id| id.get()).collect();
    moved_ids.sort_unstable();
    let mut sent: Vec<u64> = m
        .senders
        .attempts()
        .iter()
        .filter(|a| seqs.contains(&a.seq) && a.status == Some(200))
        .map(|a| a.invoice_id)
        .collect();
    sent.sort_unstable();
    assert_eq!(
        moved_ids, sent,
        "the DLQ held exactly the accepted notifications"
    );
    m.log(format!("phase 6: {} messages redriven", moved.len()));
}

fn invoice_id(id: u64) -> InvoiceId {
    InvoiceId::new(id).expect("simulator ids are valid")
}

// ----------------------------------------------------------------------------- healing

/// Waits until every notification got its 200, every invoice left PROCESSING and every
/// queue is empty (visible, in flight and delayed).
async fn heal(m: &Matrix) {
    m.log("healing: waiting for the backlog");
    wait::until("every notification delivered", HEAL, || async {
        let (submitted, delivered, gave_up) = m.senders.totals();
        assert_eq!(
            gave_up,
            0,
            "Glase gave up on notifications: {:?}",
            m.senders.gave_up()
        );
        if submitted == NOTIFICATIONS && delivered == NOTIFICATIONS {
            Ok(())
        } else {
            Err(format!("{delivered}/{submitted} delivered"))
        }
    })
    .await;
    wait::until("every invoice stored", HEAL, || async {
        let items = scan(&m.dynamodb, &m.stack.table_name).await;
        let stored = items
            .values()
            .filter(|i| i.get("state") == Some(&AttributeValue::S("STORED".into())))
            .count();
        if stored == INVOICES {
            Ok(())
        } else {
            Err(format!("{stored}/{INVOICES} stored, {} items", items.len()))
        }
    })
    .await;
    let mut queues = vec![m.stack.queue_url.clone(), m.stack.dlq_url.clone()];
    queues.extend(m.other_queues.iter().cloned());
    wait::until("every queue empty", HEAL, || async {
        let mut left = Vec::new();
        for q in &queues {
            let n = depth(&m.sqs, q).await.expect("queue depth");
            if n > 0 {
                left.push(format!("{q}: {n}"));
            }
        }
        if left.is_empty() {
            Ok(())
        } else {
            Err(left.join(", "))
        }
    })
    .await;
    m.log("healed");
}

/// Every item of the table, raw, by invoice id.
async fn scan(
    dynamodb: &aws_sdk_dynamodb::Client,
    table: &str,
) -> BTreeMap<u64, HashMap<String, AttributeValue>> {
    let mut items = BTreeMap::new();
    let mut pages = dynamodb
        .scan()
        .table_name(table)
        .consistent_read(true)
        .into_paginator()
        .items()
        .send();
    while let Some(item) = pages.next().await {
        let item = item.expect("scan the table");
        let id = match item.get("invoiceId") {
            Some(AttributeValue::N(n)) => n.parse().expect("numeric invoiceId"),
            other => panic!("item without a numeric invoiceId: {other:?}"),
        };
        items.insert(id, item);
    }
    items
}

/// Field-by-field differences between what was stored and what Glase holds.
fn differences(stored: &Invoice, glase: &Invoice) -> Vec<String> {
    let mut diffs = Vec::new();
    let mut check = |field: &str, got: String, want: String| {
        if got != want {
            diffs.push(format!("{field}: stored {got:?}, Glase {want:?}"));
        }
    };
    check("id", stored.id.to_string(), glase.id.to_string());
    check(
        "description",
        stored.description.clone(),
        glase.description.clone(),
    );
    // Compared as exact decimals: DynamoDB drops trailing zeros (`0.10` reads back `0.1`).
    check(
        "amount",
        stored.amount.as_decimal().normalize().to_string(),
        glase.amount.as_decimal().normalize().to_string(),
    );
    check(
        "currency",
        stored.currency.as_str().into(),
        glase.currency.as_str().into(),
    );
    check(
        "reference",
        stored.reference.clone(),
        glase.reference.clone(),
    );
    check(
        "ersReference",
        stored.ers_reference.clone(),
        glase.ers_reference.clone(),
    );
    check(
        "purchaseTime",
        stored.purchase_time.to_iso(),
        glase.purchase_time.to_iso(),
    );
    check(
        "payer",
        format!("{:?}", stored.payer),
        format!("{:?}", glase.payer),
    );
    if diffs.is_empty() && stored != glase {
        diffs.push(format!("stored {stored:?}, Glase {glase:?}"));
    }
    diffs
}

// ------------------------------------------------------------------------------- the test

/// A test binary of its own: the matrix counts the workers' log records (`tracing`'s process-wide
/// state) and holds its local services to time budgets no other test may share.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_notifications_through_every_fault_end_with_each_paid_invoice_stored_once_exactly(
) {
    let (records, dispatch) = capture();
    tracing::dispatcher::set_global_default(dispatch).expect("the only subscriber of this binary");
    matrix(records).await;
}

async fn matrix(records: Arc<Records>) {
    let begun = Instant::now();
    let mut m = Matrix::start(records).await;
    m.log(format!(
        "stack up in {:.1} s: {INVOICES} paid invoices, {NOTIFICATIONS} notifications, {SENDERS} senders",
        begun.elapsed().as_secs_f64()
    ));

    glase_errors_and_slow(&mut m).await;
    sqs_unavailable(&mut m).await;
    dynamodb_unavailable(&mut m).await;
    glase_hangs(&mut m).await;
    worker_killed(&mut m).await;
    wrong_secret_then_redrive(&mut m).await;
    heal(&m).await;

    // Every paid invoice stored, once, with Glase's exact data; nothing PROCESSING or REJECTED.
    let items = scan(&m.dynamodb, &m.stack.table_name).await;
    let not_stored: Vec<_> = items
        .iter()
        .filter(|(_, item)| item.get("state") != Some(&AttributeValue::S("STORED".into())))
        .map(|(id, item)| (id, item.get("state")))
        .collect();
    assert!(
        not_stored.is_empty(),
        "items left PROCESSING or REJECTED: {not_stored:?}"
    );
    assert_eq!(
        items.keys().copied().collect::<Vec<_>>(),
        m.ids,
        "one item per paid invoice, and no other"
    );
    let mut wrong = Vec::new();
    for (id, item) in &items {
        let glase = m.sim.invoice(*id).expect("the simulator holds it");
        let raw_amount = match item.get("amount") {
            Some(AttributeValue::N(n)) => n.clone(),
            other => panic!("invoice {id}: amount is not a DynamoDB number: {other:?}"),
        };
        if Decimal::from_str_exact(&raw_amount).ok() != Some(glase.amount.as_decimal()) {
            wrong.push(format!(
                "invoice {id}: amount {raw_amount} in the table, Glase {}",
                glase.amount
            ));
        }
        match glase_shared::adapters::dynamo::item_to_record(item) {
            Ok(InvoiceRecord::Stored { invoice, .. }) => {
                for d in differences(&invoice, &glase.to_invoice()) {
                    wrong.push(format!("invoice {id}: {d}"));
                }
            }
            other => wrong.push(format!("invoice {id}: not stored: {other:?}")),
        }
    }
    assert!(
        wrong.is_empty(),
        "stored data differs from Glase's:\n{}",
        wrong.join("\n")
    );

    // Stored once: no invoice was written as STORED by two workers.
    let all_records = m.records.all();
    let mut stores: HashMap<u64, usize> = HashMap::new();
    for r in all_records.iter().filter(|r| r.outcome == "stored") {
        *stores
            .entry(r.invoice_id.expect("a stored record names its invoice"))
            .or_default() += 1;
    }
    for id in &m.killed_stored {
        *stores.entry(*id).or_default() += 1;
    }
    let twice: Vec<_> = stores.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "invoices stored more than once: {twice:?}"
    );
    // The leases the killed worker died with lapsed, and another worker stored those invoices.
    for id in &m.killed_held {
        assert!(
            stores.get(id) == Some(&1) && !m.killed_stored.contains(id),
            "invoice {id}, leased by the killed worker, was not stored by another worker"
        );
    }

    // Glase served each invoice at most once, plus once per failure that cost a served
    // answer: a store that failed after the fetch, a timeout or a deadline cut-off (the answer
    // may have been sent after it), and each lease the killed worker held.
    let mut allowance: HashMap<u64, usize> = HashMap::new();
    for r in &all_records {
        let costs_an_answer = r.is_retry_because("PutItem (store)")
            || r.is_retry_because("lease lapsed before the invoice was stored")
            || r.is_retry_because("Glase fetch failed transiently: timed out")
            || r.is_retry_because("Glase fetch failed transiently: request failed")
            // Cut off at the invocation's deadline: the answer may have been on its way.
            || r.is_retry_because("not finished");
        if let (true, Some(id)) = (costs_an_answer, r.invoice_id) {
            *allowance.entry(id).or_default() += 1;
        }
    }
    for (id, _) in &m.killed_leases {
        *allowance.entry(*id).or_default() += 1;
    }
    let mut over = Vec::new();
    let (mut served, mut requested, mut refetched) = (0, 0, 0);
    for id in &m.ids {
        let fetches = m.sim.detail_fetches(*id);
        let allowed = 1 + allowance.get(id).copied().unwrap_or(0);
        served += fetches.ok;
        requested += fetches.total;
        refetched += usize::from(fetches.ok > 1);
        if fetches.ok == 0 || fetches.ok > allowed {
            over.push(format!(
                "invoice {id}: served {} times, allowed {allowed}",
                fetches.ok
            ));
        }
    }
    assert!(
        over.is_empty(),
        "Glase fetches beyond the allowance:\n{}",
        over.join("\n")
    );

    let attempts = m.senders.attempts();
    let post_fetch_failures = all_records
        .iter()
        .filter(|r| r.is_retry_because("PutItem (store)"))
        .count();
    m.log(format!(
        "done: {} notification attempts ({} answered 503), {} worker records; Glase served {served} \
         of {requested} requests, {refetched} invoices served twice (allowed by {post_fetch_failures} \
         failed stores, {} timeouts and {} killed leases)",
        attempts.len(),
        attempts.iter().filter(|a| a.status == Some(503)).count(),
        all_records.len(),
        all_records.iter().filter(|r| is_glase_timeout(r)).count(),
        m.killed_leases.len(),
    ));

    m.senders.stop();
    if let Some(fixed) = m.fixed.take() {
        fixed.shutdown().await;
    }
    m.stack.shutdown().await;
    eprintln!("total {:.1} s", begun.elapsed().as_secs_f64());
}
