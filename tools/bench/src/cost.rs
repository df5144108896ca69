//! `--only cost`: requests and capacity per invoice, counted at the services in a local end to
//! end run, and what they cost per million invoices at AWS list prices (docs/cost.md).
//!
//! The `make dev` stack (`glase_dev::stack`) runs with a [`Meter`] in front of each service:
//! glase-sim pays N invoices and notifies the webhook (through a meter: the HTTP API's
//! requests), the webhook queues them in moto's SQS, the pollers hand batches to the worker,
//! which fetches each from glase-sim (a meter: Glase fetches) and writes DynamoDB Local (a
//! meter that asks for the consumed capacity by index), and the table's stream drives the
//! events function's PutEvents to moto (the SQS meter: moto serves both). The bench sees the
//! items stored through its own, unmetered client.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use glase_dev::stack::{Endpoint, GlaseChoice, Stack, StackConfig};
use glase_shared::adapters::DynamoStore;
use glase_shared::ports::InvoiceRecord;
use glase_shared::InvoiceId;
use glase_sim::{IssuerConfig, NewInvoice, Sim, SimConfig};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};

use crate::lab::{BoxError, Lab, ISSUER, SECRET};
use crate::meter::{Meter, Tally};

pub struct CostConfig {
    pub invoices: usize,
    /// Payments per second (open loop).
    pub rate_per_sec: f64,
    /// Bound on the wait for every invoice to be stored and published.
    pub timeout: Duration,
}

/// AWS list prices, us-east-1, on demand, in USD, as of [`PRICES_AS_OF`].
pub const PRICES_AS_OF: &str = "2026-12-06";
const HTTP_API_PER_M: f64 = 1.00;
const LAMBDA_REQUESTS_PER_M: f64 = 0.20;
/// arm64.
const LAMBDA_PER_GB_S: f64 = 0.000_013_333_4;
/// Per million requests, each up to 64 KB.
const SQS_PER_M: f64 = 0.40;
/// On demand since November 2024.
const DYNAMODB_WRU_PER_M: f64 = 0.625;
const DYNAMODB_RRU_PER_M: f64 = 0.125;
const EVENTBRIDGE_PER_M_EVENTS: f64 = 1.00;
const LOGS_PER_GB: f64 = 0.50;

/// Memory sizes in template.yaml (MB).
const WEBHOOK_MB: f64 = 128.0;
const WORKER_MB: f64 = 256.0;
const EVENTS_MB: f64 = 128.0;

/// Lambda's own START/END/REPORT lines per invocation, and the functions' `info` lines per
/// invoice (the webhook's `queued`, the worker's `stored`): an estimate, not counted here.
const PLATFORM_LOG_BYTES_PER_INVOCATION: f64 = 350.0;
const FUNCTION_LOG_BYTES_PER_INVOICE: f64 = 600.0;

/// Warm durations per invocation (ms) when target/bench/results.json has none: docs/
/// performance.md's run of 2026-12-02 (webhook warm p50; worker: one batch of 10 at 50 ms
/// Glase latency; events: warm p50 of a batch of 10).
const DEFAULT_MS: [(&str, f64); 3] = [("webhook", 27.7), ("worker", 66.3), ("events", 3.72)];

/// `bench_results`: the last `make bench` run's results.json, for the functions' durations.
pub async fn run(lab: &Lab, config: &CostConfig, bench_results: &Path) -> Result<Value, BoxError> {
    let durations = durations(bench_results);
    let token = SecretString::from(glase_dev::stack::DEV_WEBHOOK_TOKEN);
    let webhook_port = glase_dev::services::free_port()?;
    let webhook_addr = SocketAddr::from(([127, 0, 0, 1], webhook_port));
    let (ddb, aws) = (
        Meter::start(&lab.ddb_endpoint).await?,
        Meter::start(&lab.sqs_endpoint).await?,
    );
    let webhook = Meter::start(&format!("http://{webhook_addr}")).await?;
    let sim_config = SimConfig {
        issuers: vec![IssuerConfig::new(ISSUER, SECRET).with_notify_url(format!(
            "{}/notifications/{}",
            webhook.url(),
            token.expose_secret()
        ))],
        time_scale: 1.0,
        seed: 13,
        initial_invoices: Vec::new(),
        ..SimConfig::default()
    };
    let running = Sim::serve(sim_config, SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let glase = Meter::start(&running.base_url()).await?;
    let stamp = jiff::Timestamp::now().as_millisecond();
    let table = format!("bench-cost-{stamp}");
    let stack = Stack::start(StackConfig {
        webhook_addr,
        dynamodb: Endpoint::Existing(ddb.url()),
        sqs: Endpoint::Existing(aws.url()),
        glase: GlaseChoice::External {
            base_url: glase.url(),
            issuer: ISSUER.into(),
            secret: SecretString::from(SECRET),
        },
        table_name: table.clone(),
        queue_name: format!("bench-cost-{stamp}"),
        webhook_token: token,
        ..StackConfig::default()
    })
    .await?;
    // The bench's own reads, unmetered.
    let direct = DynamoStore::new(glase_dev::aws::dynamodb(&lab.ddb_endpoint), &table);
    let meters = [&webhook, &glase, &aws, &ddb];
    let before: Vec<Tally> = meters.iter().map(|m| m.tally()).collect();

    let started = Instant::now();
    let sim = running.sim();
    let interval = Duration::from_secs_f64(1.0 / config.rate_per_sec.max(0.1));
    let mut pending = Vec::with_capacity(config.invoices);
    for i in 0..config.invoices {
        tokio::time::sleep_until(tokio::time::Instant::from_std(
            started + interval.mul_f64(i as f64),
        ))
        .await;
        let new = NewInvoice {
            issuer: ISSUER.into(),
            amount: format!("{}.{:02}", 1 + i % 500, i % 100),
            currency: "EUR".into(),
            description: "Bench cost count".into(),
            reference: format!("COST-{i}"),
            ..NewInvoice::default()
        };
        pending.push(
            sim.pay(new)
                .await
                .map_err(|e| format!("glase-sim: {e}"))?
                .id,
        );
    }
    let deadline = started + config.timeout;
    let not_stored = wait_stored(&direct, pending, deadline).await;
    // The events function publishes from the stream a moment later; the pollers delete the
    // batches after the worker answers.
    while aws.tally().since(&before[2]).events_put < config.invoices as u64
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let wall = started.elapsed();
    let after: Vec<Tally> = meters.iter().map(|m| m.tally()).collect();
    stack.shutdown().await;
    drop(running);

    let [webhook, glase, aws, ddb] = [0, 1, 2, 3].map(|i| after[i].since(&before[i]));
    Ok(figures(
        config,
        not_stored,
        wall,
        &durations,
        [&webhook, &glase, &aws, &ddb],
    ))
}

async fn wait_stored(store: &DynamoStore, mut pending: Vec<InvoiceId>, deadline: Instant) -> usize {
    while !pending.is_empty() && Instant::now() < deadline {
        let mut still = Vec::new();
        for id in pending {
            if !matches!(store.get(id).await, Ok(Some(InvoiceRecord::Stored { .. }))) {
                still.push(id);
            }
        }
        pending = still;
        if !pending.is_empty() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    pending.len()
}

/// Warm milliseconds per invocation: the last `make bench` run's, else [`DEFAULT_MS`].
fn durations(results: &Path) -> Value {
    let saved: Value = std::fs::read(results)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null);
    let measured = [
        ("webhook", saved["warm"]["webhook"]["p50_ms"].as_f64()),
        (
            "worker",
            saved["worker_concurrency"]["batch_wall_ms_median"].as_f64(),
        ),
        ("events", saved["warm"]["events"]["p50_ms"].as_f64()),
    ];
    let mut out = serde_json::Map::new();
    for ((name, found), (_, default)) in measured.into_iter().zip(DEFAULT_MS) {
        out.insert(
            name.into(),
            json!({
                "ms": found.unwrap_or(default),
                "source": if found.is_some() { "target/bench/results.json" } else { "docs/performance.md (2026-12-02)" },
            }),
        );
    }
    Value::Object(out)
}

fn sum_prefixed(t: &Tally, prefix: &str, skip: impl Fn(&str) -> bool) -> u64 {
    t.requests
        .iter()
        .filter(|(k, _)| k.starts_with(prefix) && !skip(k))
        .map(|(_, v)| v)
        .sum()
}

fn figures(
    config: &CostConfig,
    not_stored: usize,
    wall: Duration,
    durations: &Value,
    [webhook, glase, aws, ddb]: [&Tally; 4],
) -> Value {
    let n = config.invoices.max(1) as f64;
    let per = |x: f64| x / n;
    let http = webhook.requests.values().sum::<u64>() as f64;
    let worker_batches = aws.count("AmazonSQS.ReceiveMessage") as f64;
    let put_events = aws.count("AWSEvents.PutEvents") as f64;
    // Billed: every SQS request but the empty long polls, which depend on time, not invoices.
    let sqs = sum_prefixed(aws, "AmazonSQS.", |k| k.ends_with("(empty)")) as f64;
    let sqs_empty = aws.count("AmazonSQS.ReceiveMessage (empty)") as f64;
    let wru: f64 = ddb.write_units.values().sum::<f64>() + ddb.refused_writes as f64;
    // `+ 0.0`: an empty f64 sum is -0.0.
    let rru: f64 = ddb.read_units.values().sum::<f64>() + 0.0;
    let ddb_requests = sum_prefixed(ddb, "DynamoDB_20120810.", |_| false) as f64;
    let stream_requests = sum_prefixed(ddb, "DynamoDBStreams_20120810.", |_| false) as f64;
    let ms = |f: &str| durations[f]["ms"].as_f64().unwrap_or(0.0).ceil();
    let invocations = [
        ("webhook", per(http), WEBHOOK_MB),
        ("worker", per(worker_batches), WORKER_MB),
        ("events", per(put_events), EVENTS_MB),
    ];
    let gb_s: f64 = invocations
        .iter()
        .map(|(f, inv, mb)| inv * mb / 1024.0 * ms(f) / 1000.0)
        .sum();
    let lambda_requests: f64 = invocations.iter().map(|(_, inv, _)| inv).sum();
    let log_bytes =
        FUNCTION_LOG_BYTES_PER_INVOICE + PLATFORM_LOG_BYTES_PER_INVOCATION * lambda_requests;
    let units = |m: &std::collections::BTreeMap<String, f64>| {
        Value::Object(m.iter().map(|(k, v)| (k.clone(), json!(per(*v)))).collect())
    };
    let million = 1_000_000.0;
    let dollars = [
        ("HTTP API requests", per(http) * HTTP_API_PER_M),
        ("Lambda requests", lambda_requests * LAMBDA_REQUESTS_PER_M),
        (
            "Lambda GB-seconds (arm64)",
            gb_s * million * LAMBDA_PER_GB_S,
        ),
        ("SQS requests", per(sqs) * SQS_PER_M),
        ("DynamoDB write units", per(wru) * DYNAMODB_WRU_PER_M),
        ("DynamoDB read units", per(rru) * DYNAMODB_RRU_PER_M),
        (
            "EventBridge events",
            per(aws.events_put as f64) * EVENTBRIDGE_PER_M_EVENTS,
        ),
        (
            "CloudWatch Logs ingestion (estimate)",
            log_bytes * million / 1e9 * LOGS_PER_GB,
        ),
    ];
    let total: f64 = dollars.iter().map(|(_, d)| d).sum();
    json!({
        "source": "glase_dev::stack with a counting proxy in front of each service (tools/bench/src/meter.rs)",
        "invoices": config.invoices,
        "rate_per_sec": config.rate_per_sec,
        "not_stored": not_stored,
        "wall_s": wall.as_secs_f64(),
        "per_invoice": {
            "http_api_requests": per(http),
            "glase_fetches": per(glase.requests.values().sum::<u64>() as f64),
            "lambda_invocations": { "webhook": per(http), "worker": per(worker_batches), "events": per(put_events) },
            "worker_batch_size": if worker_batches > 0.0 { aws.messages_received as f64 / worker_batches } else { 0.0 },
            "lambda_gb_s": gb_s,
            "sqs_requests": per(sqs),
            "dynamodb_requests": per(ddb_requests),
            "dynamodb_write_units": units(&ddb.write_units),
            "dynamodb_refused_writes": per(ddb.refused_writes as f64),
            "dynamodb_write_units_total": per(wru),
            "dynamodb_read_units": units(&ddb.read_units),
            "dynamodb_read_units_total": per(rru),
            "eventbridge_events": per(aws.events_put as f64),
            "eventbridge_put_events_requests": per(put_events),
            "log_bytes_estimate": log_bytes,
        },
        "not_per_invoice": {
            "sqs_empty_receives": sqs_empty,
            "dynamodb_streams_requests": stream_requests,
            "note": "empty long polls depend on time, not traffic; Lambda reads a stream for its trigger at no charge",
        },
        "durations_ms": durations,
        "memory_mb": { "webhook": WEBHOOK_MB, "worker": WORKER_MB, "events": EVENTS_MB },
        "prices_as_of": PRICES_AS_OF,
        "usd_per_million_invoices": Value::Object(dollars.iter().map(|(k, d)| ((*k).to_owned(), json!(d))).collect()),
        "usd_per_million_invoices_total": total,
        "requests": {
            "webhook": webhook.requests, "glase": glase.requests, "sqs_and_eventbridge": aws.requests, "dynamodb": ddb.requests,
        },
    })
}

/// The cost section of table.md.
pub fn render(cost: &Value) -> String {
    if cost.is_null() {
        return String::new();
    }
    if let Some(e) = cost["error"].as_str() {
        return format!("\n## Cost per invoice\n\nfailed: {e}\n");
    }
    let p = &cost["per_invoice"];
    let usd = &cost["usd_per_million_invoices"];
    let f = |v: &Value| v.as_f64().map_or("–".into(), |x| format!("{x:.3}"));
    let d = |k: &str| usd[k].as_f64().map_or("–".into(), |x| format!("${x:.2}"));
    let units = |v: &Value| {
        v.as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, x)| format!("{k} {}", f(x)))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default()
    };
    let inv = &p["lambda_invocations"];
    let ms = &cost["durations_ms"];
    let rows = [
        (
            "HTTP API requests",
            f(&p["http_api_requests"]),
            d("HTTP API requests"),
        ),
        (
            "Lambda invocations (webhook / worker / events)",
            format!(
                "{} / {} / {}",
                f(&inv["webhook"]),
                f(&inv["worker"]),
                f(&inv["events"])
            ),
            d("Lambda requests"),
        ),
        (
            "Lambda GB-s (at 128 / 256 / 128 MB × {webhook} / {worker} / {events} ms)",
            format!("{:.7}", p["lambda_gb_s"].as_f64().unwrap_or(0.0)),
            d("Lambda GB-seconds (arm64)"),
        ),
        (
            "SQS requests (billed)",
            f(&p["sqs_requests"]),
            d("SQS requests"),
        ),
        (
            "DynamoDB write units (table and each index)",
            format!(
                "{} ({})",
                f(&p["dynamodb_write_units_total"]),
                units(&p["dynamodb_write_units"])
            ),
            d("DynamoDB write units"),
        ),
        (
            "DynamoDB read units",
            f(&p["dynamodb_read_units_total"]),
            d("DynamoDB read units"),
        ),
        (
            "EventBridge events",
            f(&p["eventbridge_events"]),
            d("EventBridge events"),
        ),
        ("Glase fetches", f(&p["glase_fetches"]), "–".into()),
        (
            "Log bytes (estimate)",
            format!("{:.0}", p["log_bytes_estimate"].as_f64().unwrap_or(0.0)),
            d("CloudWatch Logs ingestion (estimate)"),
        ),
    ];
    let mut out = format!(
        "\n## Cost per invoice\n\n{} invoices at {}/s through the make dev stack, counted at the services; \
         worker batches of {:.2} on average; {} not stored. USD at AWS list prices (us-east-1, on demand, {}).\n\n\
         | | per invoice | USD per million invoices |\n|---|---:|---:|\n",
        cost["invoices"],
        cost["rate_per_sec"],
        p["worker_batch_size"].as_f64().unwrap_or(0.0),
        cost["not_stored"],
        cost["prices_as_of"].as_str().unwrap_or_default(),
    );
    for (what, count, dollars) in rows {
        let what = what
            .replace("{webhook}", &f(&ms["webhook"]["ms"]))
            .replace("{worker}", &f(&ms["worker"]["ms"]))
            .replace("{events}", &f(&ms["events"]["ms"]));
        out.push_str(&format!("| {what} | {count} | {dollars} |\n"));
    }
    out.push_str(&format!(
        "| **total** | | **${:.2}** |\n",
        cost["usd_per_million_invoices_total"]
            .as_f64()
            .unwrap_or(0.0)
    ));
    out
}
