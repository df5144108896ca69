//! End to end, as `make dev` runs it: glase-sim pays and notifies over HTTP, the webhook (HTTP
//! API v2 front) queues to moto's SQS, pollers drive the worker, which fetches from glase-sim
//! and writes to DynamoDB Local. Time in the simulator runs 1000× (or 100×) faster.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use glase_dev::stack::{Endpoint, GlaseChoice, Stack, StackConfig};
use glase_shared::ports::InvoiceRecord;
use glase_shared::{InvoiceId, Payer};
use glase_sim::{EndpointFaults, Faults, IssuerConfig, NewInvoice, Sim, SimConfig};
use glase_tests::services::{services, unique};
use glase_worker::Policy;

/// A hang guard, not a speed goal: five stacks share two cores under `make test`, and one
/// invoice whose first attempts fail waits out back-off and Glase's (scaled) retries. 120 s
/// was seen to run out once with everything correct.
const WAIT: Duration = Duration::from_secs(300);

fn sim_config(time_scale: f64, faults: Faults) -> SimConfig {
    SimConfig {
        issuers: vec![
            IssuerConfig::new("demo", "demo-secret"),
            IssuerConfig::new("other", "other-secret"),
        ],
        time_scale,
        seed: 7,
        faults,
        initial_invoices: vec![],
        ..SimConfig::default()
    }
}

async fn stack(sim: SimConfig) -> Stack {
    let svc = services();
    Stack::start(StackConfig {
        webhook_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        dynamodb: Endpoint::Existing(svc.dynamodb_endpoint.clone()),
        sqs: Endpoint::Existing(svc.sqs_endpoint.clone()),
        glase: GlaseChoice::Sim {
            port: 0,
            config: sim,
        },
        table_name: unique("e2e"),
        queue_name: unique("e2e-notifications"),
        worker_timeout: Duration::from_secs(10),
        visibility_timeout_secs: 60,
        // As deployed: with 28 % of fetches failing, 5 receives would dead-letter ~0.2 % of
        // invoices, which is what the redrive policy is for, not what these tests check.
        policy: Policy {
            base_secs: 0,
            max_secs: 1,
            max_receive_count: 30,
            ..StackConfig::default().policy
        },
        pollers: 2,
        wait_time_secs: 1,
        glase_timeout: Duration::from_millis(1500),
        ..StackConfig::default()
    })
    .await
    .expect("stack starts")
}

fn sim(stack: &Stack) -> Sim {
    stack.sim.as_ref().expect("stack runs glase-sim").sim()
}

fn payment(i: u64) -> NewInvoice {
    let payer = (i % 2 == 0).then(|| Payer {
        msisdn: Some(format!("4611122{i:04}")),
        ..glase_shared::memory::doc_payer()
    });
    NewInvoice {
        issuer: "demo".into(),
        amount: format!("{}.{:02}", i * 7, (i * 13) % 100),
        currency: if i % 3 == 0 {
            "EUR".into()
        } else {
            "GBP".into()
        },
        description: format!("Invoice \"{i}\", line 1\nline 2"),
        reference: format!("REF/{:03}/2026", i % 50),
        payer,
        ..NewInvoice::default()
    }
}

async fn record(stack: &Stack, id: InvoiceId) -> Option<InvoiceRecord> {
    stack.store.get(id).await.expect("get")
}

/// Waits until every id has left PROCESSING (stored or rejected).
async fn wait_settled(stack: &Stack, ids: &[InvoiceId]) {
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut pending: Vec<InvoiceId> = ids.to_vec();
    while !pending.is_empty() {
        if tokio::time::Instant::now() >= deadline {
            let mut why = Vec::new();
            for id in pending.iter().take(10) {
                let notified = stack
                    .sim
                    .as_ref()
                    .and_then(|s| s.sim().notification_status(id.get()));
                why.push(format!(
                    "{id}: record {:?}, notification {notified:?}",
                    record(stack, *id).await
                ));
            }
            panic!("{} invoices not settled: {why:#?}", pending.len());
        }
        let mut still = Vec::new();
        for id in pending {
            if !matches!(
                record(stack, id).await,
                Some(InvoiceRecord::Stored { .. } | InvoiceRecord::Rejected { .. })
            ) {
                still.push(id);
            }
        }
        pending = still;
        if !pending.is_empty() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// Waits until the main queue holds nothing, visible or in flight.
async fn wait_queue_empty(stack: &Stack) {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let out = stack
            .sqs
            .get_queue_attributes()
            .queue_url(&stack.queue_url)
            .attribute_names(A::ApproximateNumberOfMessages)
            .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .expect("attributes");
        let depth: usize = out
            .attributes()
            .map(|a| a.values().filter_map(|v| v.parse::<usize>().ok()).sum())
            .unwrap_or(0);
        if depth == 0 {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "queue still holds {depth} messages"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn item_count(stack: &Stack) -> usize {
    let mut pages = stack
        .dynamodb
        .scan()
        .table_name(&stack.table_name)
        .into_paginator()
        .items()
        .send();
    let mut n = 0;
    while let Some(item) = pages.next().await {
        item.expect("scan");
        n += 1;
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_paid_invoices_are_each_stored_once_with_the_simulators_exact_data() {
    let stack = stack(sim_config(0.001, Faults::default())).await;
    let sim = sim(&stack);
    let mut ids = Vec::new();
    for i in 1..=200 {
        ids.push(sim.pay(payment(i)).await.expect("pay").id);
    }

    wait_settled(&stack, &ids).await;
    wait_queue_empty(&stack).await;

    for id in &ids {
        let expected = sim.invoice(id.get()).expect("sim holds it").to_invoice();
        match record(&stack, *id).await {
            Some(InvoiceRecord::Stored { invoice, .. }) => {
                assert_eq!(invoice, expected, "invoice {id}")
            }
            other => panic!("invoice {id}: {other:?}"),
        }
        assert_eq!(
            sim.detail_fetches(id.get()).ok,
            1,
            "invoice {id} fetched once"
        );
    }
    assert_eq!(item_count(&stack).await, 200);
    stack.shutdown().await;
}

/// A front for the webhook that fails the first attempts: 500, then a hang, then 503.
async fn faulty_front(webhook_url: String) -> (String, Arc<AtomicUsize>) {
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&seen);
    let client = reqwest::Client::new();
    let app = axum::Router::new().fallback(move |body: String| {
        let (counter, client, url) = (Arc::clone(&counter), client.clone(), webhook_url.clone());
        async move {
            match counter.fetch_add(1, Ordering::SeqCst) {
                0 => (axum::http::StatusCode::INTERNAL_SERVER_ERROR, String::new()),
                1 => {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    (axum::http::StatusCode::OK, String::new())
                }
                2 => (axum::http::StatusCode::SERVICE_UNAVAILABLE, String::new()),
                _ => {
                    let resp = client
                        .post(url)
                        .header("content-type", "application/json")
                        .body(body)
                        .send()
                        .await;
                    match resp {
                        Ok(r) => (
                            axum::http::StatusCode::from_u16(r.status().as_u16())
                                .unwrap_or(axum::http::StatusCode::BAD_GATEWAY),
                            r.text().await.unwrap_or_default(),
                        ),
                        Err(_) => (axum::http::StatusCode::BAD_GATEWAY, String::new()),
                    }
                }
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/notifications", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn glase_retries_a_failing_webhook_on_its_schedule_and_the_invoice_is_stored_once() {
    let time_scale = 0.01;
    let stack = stack(sim_config(time_scale, Faults::default())).await;
    let sim = sim(&stack);
    let (front, seen) = faulty_front(stack.notify_url.clone()).await;

    let id = sim
        .pay(NewInvoice {
            notify_url: Some(front),
            ..payment(1)
        })
        .await
        .unwrap()
        .id;
    assert!(
        sim.wait_notification_done(id.get(), WAIT).await,
        "notification never accepted"
    );
    wait_settled(&stack, &[id]).await;
    wait_queue_empty(&stack).await;

    let attempts = sim.attempts(id.get());
    let outcomes: Vec<_> = attempts
        .iter()
        .map(|a| (a.status, a.error.is_some()))
        .collect();
    assert_eq!(
        outcomes[..3],
        [(Some(500), false), (None, true), (Some(503), false)]
    );
    // On a loaded machine a forwarded attempt may still time out; Glase then simply retries.
    let (last, between) = outcomes[3..].split_last().expect("a fourth attempt");
    assert_eq!(*last, (Some(200), false), "{outcomes:?}");
    assert!(
        between.iter().all(|o| o.0 != Some(200)),
        "stops at the first 200: {outcomes:?}"
    );
    let delays = glase_sim::schedule::notification_delays(time_scale);
    for pair in attempts.windows(2) {
        let gap = pair[1].since_paid - pair[0].since_paid;
        let scheduled = delays[pair[1].number as usize - 1];
        assert!(
            gap >= scheduled,
            "attempt {} came {gap:?} after the previous, scheduled {scheduled:?}",
            pair[1].number
        );
    }
    assert_eq!(seen.load(Ordering::SeqCst), attempts.len());
    assert!(matches!(
        record(&stack, id).await,
        Some(InvoiceRecord::Stored { .. })
    ));
    assert_eq!(sim.detail_fetches(id.get()).ok, 1);
    assert_eq!(item_count(&stack).await, 1);
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn glase_fetch_faults_still_end_with_everything_stored_once() {
    let faults = Faults {
        invoice: EndpointFaults {
            error_rate: 0.2,
            too_many_rate: 0.05,
            hang_rate: 0.03,
            ..EndpointFaults::default()
        },
        ..Faults::default()
    };
    let stack = stack(sim_config(0.001, faults)).await;
    let sim = sim(&stack);
    let mut ids = Vec::new();
    for i in 1..=60 {
        ids.push(sim.pay(payment(i)).await.unwrap().id);
    }

    wait_settled(&stack, &ids).await;
    wait_queue_empty(&stack).await;

    let mut refused = 0;
    for id in &ids {
        assert!(
            matches!(
                record(&stack, *id).await,
                Some(InvoiceRecord::Stored { .. })
            ),
            "invoice {id}"
        );
        let fetches = sim.detail_fetches(id.get());
        assert_eq!(fetches.ok, 1, "invoice {id}");
        refused += fetches.total - fetches.ok;
    }
    assert!(refused > 0, "the faults were exercised");
    assert_eq!(item_count(&stack).await, 60);
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_notification_sent_three_times_gives_one_item_and_at_most_one_successful_fetch() {
    let stack = stack(sim_config(0.001, Faults::default())).await;
    let sim = sim(&stack);
    let http = reqwest::Client::new();
    let mut ids = Vec::new();
    for i in 1..=30 {
        let id = sim.pay(payment(i)).await.unwrap().id;
        ids.push(id);
        let body = format!(r#"{{"invoiceId": {id}}}"#);
        let post = || {
            http.post(&stack.notify_url)
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
        };
        // Two extra copies beside Glase's own: concurrently for even ids, one after another for odd.
        if i % 2 == 0 {
            let (a, b) = tokio::join!(post(), post());
            assert_eq!(a.unwrap().status(), 200);
            assert_eq!(b.unwrap().status(), 200);
        } else {
            assert_eq!(post().await.unwrap().status(), 200);
            assert_eq!(post().await.unwrap().status(), 200);
        }
    }

    wait_settled(&stack, &ids).await;
    wait_queue_empty(&stack).await;

    assert_eq!(item_count(&stack).await, 30);
    for id in &ids {
        assert!(
            sim.detail_fetches(id.get()).ok <= 1,
            "invoice {id} fetched more than once"
        );
        assert!(matches!(
            record(&stack, *id).await,
            Some(InvoiceRecord::Stored { .. })
        ));
    }
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notification_for_another_issuers_invoice_ends_as_a_recorded_rejection() {
    let stack = stack(sim_config(0.001, Faults::default())).await;
    let sim = sim(&stack);

    // Issuer "other" is notified at our webhook, but our worker fetches as "demo".
    let theirs = sim
        .pay(NewInvoice {
            issuer: "other".into(),
            ..payment(5)
        })
        .await
        .unwrap()
        .id;
    wait_settled(&stack, &[theirs]).await;
    wait_queue_empty(&stack).await;

    match record(&stack, theirs).await {
        Some(InvoiceRecord::Rejected { rejection, .. }) => {
            assert_eq!(rejection.code, glase_shared::RejectionCode::UnknownInvoice)
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
    assert_eq!(sim.detail_fetches(theirs.get()).ok, 0);
    stack.shutdown().await;
}
