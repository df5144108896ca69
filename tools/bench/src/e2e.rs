//! End to end on the `make dev` stack (`glase_dev::stack`): glase-sim pays an invoice and
//! notifies the webhook at once; the webhook queues it in SQS (moto); a poller hands batches
//! to the worker, which fetches the invoice from glase-sim and stores it in DynamoDB Local.
//! Timed from payment to the item being STORED (seen by polling GetItem).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use glase_dev::stack::{Endpoint, GlaseChoice, Stack, StackConfig};
use glase_shared::ports::InvoiceRecord;
use glase_shared::InvoiceId;
use glase_sim::{IssuerConfig, NewInvoice, SimConfig};
use serde_json::{json, Value};

use crate::lab::{BoxError, Lab, ISSUER, SECRET};
use crate::stats::{ms, percentile};

pub struct E2eConfig {
    pub invoices: usize,
    /// Payments per second (open loop).
    pub rate_per_sec: f64,
    /// Longest wait for one invoice to be stored.
    pub per_invoice_timeout: Duration,
    /// Bound on the whole run.
    pub total_timeout: Duration,
}

pub async fn run(lab: &Lab, config: &E2eConfig) -> Result<Value, BoxError> {
    let stack_config = StackConfig {
        webhook_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        // The bench's DynamoDB Local and moto, with a table and queue of the stack's own.
        dynamodb: Endpoint::Existing(lab.ddb_endpoint.clone()),
        sqs: Endpoint::Existing(lab.sqs_endpoint.clone()),
        glase: GlaseChoice::Sim {
            port: 0,
            config: SimConfig {
                issuers: vec![IssuerConfig::new(ISSUER, SECRET)],
                time_scale: 1.0,
                seed: 11,
                initial_invoices: Vec::new(),
                ..SimConfig::default()
            },
        },
        table_name: "bench-e2e-invoices".into(),
        queue_name: "bench-e2e-notifications".into(),
        ..StackConfig::default()
    };
    let (pollers, wait) = (stack_config.pollers, stack_config.wait_time_secs);
    let stack = Stack::start(stack_config).await?;
    let sim = stack
        .sim
        .as_ref()
        .ok_or("the stack has no simulator")?
        .sim();
    let store = stack.store.clone();

    let run_started = Instant::now();
    let interval = Duration::from_secs_f64(1.0 / config.rate_per_sec.max(0.1));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..config.invoices {
        if run_started.elapsed() > config.total_timeout {
            break;
        }
        tokio::time::sleep_until(tokio::time::Instant::from_std(
            run_started + interval.mul_f64(i as f64),
        ))
        .await;
        let new = NewInvoice {
            issuer: ISSUER.into(),
            amount: format!("{}.50", 1 + i % 500),
            currency: "EUR".into(),
            description: "Bench end to end".into(),
            reference: format!("E2E-{i}"),
            ..NewInvoice::default()
        };
        let started = Instant::now();
        let invoice = sim.pay(new).await.map_err(|e| format!("glase-sim: {e}"))?;
        let (store, timeout) = (store.clone(), config.per_invoice_timeout);
        tasks.spawn(async move {
            let id = invoice.id;
            let limit = started + timeout;
            while Instant::now() < limit {
                if let Ok(Some(InvoiceRecord::Stored { .. })) = store.get(id).await {
                    return Ok::<_, InvoiceId>(started.elapsed());
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Err(id)
        });
    }
    let mut latencies = Vec::new();
    let mut missing = 0usize;
    let collect = async {
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok(Ok(d)) => latencies.push(ms(d)),
                _ => missing += 1,
            }
        }
    };
    let remaining =
        config.total_timeout.saturating_sub(run_started.elapsed()) + config.per_invoice_timeout;
    let timed_out = tokio::time::timeout(remaining, collect).await.is_err();
    let wall = run_started.elapsed();
    stack.shutdown().await;

    Ok(json!({
        "source": "glase_dev::stack (the make dev stack): glase-sim notifies the webhook at payment",
        "invoices": config.invoices,
        "stored": latencies.len(),
        "not_stored_in_time": missing,
        "run_timed_out": timed_out,
        "rate_per_sec": config.rate_per_sec,
        "pollers": pollers,
        "long_poll_secs": wait,
        "poll_interval_ms": 5,
        "wall_s": wall.as_secs_f64(),
        "p50_ms": percentile(&latencies, 50.0),
        "p99_ms": percentile(&latencies, 99.0),
        "max_ms": percentile(&latencies, 100.0),
    }))
}
