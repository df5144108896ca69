//! The backlog drain: `messages` notifications queued at once (what Glase's retries leave
//! after an outage) in the keep-alive SQS stand-in, drained by the worker's release binary
//! under the bench's Runtime API — one process per concurrent invocation, each fed by a
//! poller that does what Lambda's SQS event source mapping does (ReceiveMessage of up to 10,
//! the batch as one `SqsEvent`, DeleteMessageBatch of what did not fail) — against glase-sim
//! at 50 ms per invoice fetch and DynamoDB Local.
//!
//! The binary rather than the pipeline in-process: the rate per invocation is then the
//! shipped code's, with its own connection pools and its own CPU measured apart from the
//! bench's. Each number of concurrent invocations drains for a fixed time from the same
//! queue; the drain time of the whole backlog at `WorkerMaxConcurrency` is then computed from
//! the rate of one invocation, capped by what bounds it on AWS ([`projection`]).

use std::fmt::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName};
use axum::body::Bytes;
use glase_sim::{EndpointFaults, Faults};
use serde_json::{json, Map, Value};

use crate::lab::{BoxError, Function, Lab, Started, INVOKE_TIMEOUT};
use crate::report::{cell, fmt_num};
use crate::sqs::SqsStandIn;
use crate::stats::{median, ms, percentile};

/// glase-sim's added latency per invoice fetch: a realistic API round trip.
const GLASE_LATENCY: Duration = Duration::from_millis(50);
/// SendMessageBatch calls in flight while queuing the backlog.
const SENDERS: usize = 8;
/// The `WorkerMaxConcurrency` values the drain time is computed for.
pub const CONCURRENCIES: [usize; 5] = [2, 5, 10, 20, 50];
/// DynamoDB on-demand: what a new table serves at first, in write request units per second
/// (AWS's documented initial throughput; it then follows up to twice the previous peak).
const NEW_TABLE_WRITE_UNITS_PER_SEC: f64 = 4_000.0;
/// Write request units per invoice stored, each item under 1 KB, as `--only cost` counts them
/// (docs/cost.md): the claim (1; a new invoice's leaves `byOpenState` alone) and the store (1,
/// plus 1 each for its `byReference` and `byPurchaseDate` entries).
const WRITE_UNITS_PER_INVOICE: f64 = 4.0;

#[derive(Debug, Clone)]
pub struct Config {
    pub messages: usize,
    pub phase: Duration,
    pub invocations: Vec<usize>,
}

impl Config {
    pub fn new(messages: usize, phase_secs: u64, invocations: &[usize]) -> Self {
        let mut invocations: Vec<usize> = invocations.iter().copied().filter(|c| *c > 0).collect();
        invocations.dedup();
        Self {
            messages: messages.max(10),
            phase: Duration::from_secs(phase_secs.max(1)),
            invocations,
        }
    }
}

pub async fn run(lab: &Lab, config: &Config) -> Result<Value, BoxError> {
    let standin = SqsStandIn::start().await?;
    let sqs = glase_dev::aws::sqs(&standin.endpoint());
    let (queue_url, dlq_url) = glase_dev::aws::create_queues(&sqs, "bench-backlog", 30, 5).await?;

    eprintln!(
        "[bench] backlog: paying {} invoices in glase-sim, queuing them at once…",
        config.messages
    );
    let ids = lab.fresh_invoices(config.messages).await?;
    let queued = Instant::now();
    queue_all(&sqs, &queue_url, ids).await?;
    let queue_wall = queued.elapsed();
    let depth = standin.depth(&queue_url).map(|(visible, _, _)| visible);
    if depth != Some(config.messages) {
        return Err(format!("queued {depth:?} of {} notifications", config.messages).into());
    }

    let overrides = [
        ("AWS_ENDPOINT_URL_SQS", standin.endpoint()),
        ("QUEUE_URL", queue_url.clone()),
        ("DEAD_LETTER_QUEUE_URL", dlq_url),
    ];
    let most = config.invocations.iter().copied().max().unwrap_or(1);
    let mut workers = Vec::with_capacity(most);
    for _ in 0..most {
        workers.push(Arc::new(
            lab.start_function(Function::Worker, &overrides).await?,
        ));
    }

    let previous = lab.sim.faults();
    lab.sim.set_faults(Faults {
        invoice: EndpointFaults {
            latency: GLASE_LATENCY,
            ..EndpointFaults::default()
        },
        ..previous
    });
    let mut phases = Vec::new();
    let mut outcome = Ok(());
    for &c in &config.invocations {
        eprintln!(
            "[bench] backlog: {c} concurrent worker invocation(s) for {} s…",
            config.phase.as_secs()
        );
        match phase(&sqs, &queue_url, &workers[..c], config.phase).await {
            Ok(p) => phases.push(p),
            Err(e) => {
                outcome = Err(e);
                break;
            }
        }
    }
    lab.sim.set_faults(previous);
    outcome?;

    let left = standin.depth(&queue_url);
    let per_invocation = phases
        .first()
        .and_then(|p| p["invoices_per_sec_per_invocation"].as_f64());
    Ok(json!({
        "sqs": "the bench's keep-alive SQS stand-in (tools/bench/src/sqs.rs)",
        "worker": "glase-worker's release binary under the bench's Runtime API, one process per concurrent invocation",
        "glase_latency_ms": ms(GLASE_LATENCY),
        "messages": config.messages,
        "queue_wall_s": queue_wall.as_secs_f64(),
        "queued_per_sec": config.messages as f64 / queue_wall.as_secs_f64(),
        "phase_s": config.phase.as_secs_f64(),
        "phases": phases,
        "left": left.map(|(visible, in_flight, delayed)| json!({"visible": visible, "in_flight": in_flight, "delayed": delayed})),
        "projection": per_invocation.map(|r| projection(config.messages, r, template_default())),
        "sqs_requests": standin.counts(),
        "machine_cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
    }))
}

/// SendMessageBatch, ten a call, [`SENDERS`] calls in flight.
async fn queue_all(sqs: &aws_sdk_sqs::Client, url: &str, ids: Vec<u64>) -> Result<(), BoxError> {
    let chunks: Vec<Vec<u64>> = ids.chunks(10).map(<[u64]>::to_vec).collect();
    let per_sender = chunks.len().div_ceil(SENDERS).max(1);
    let mut senders = tokio::task::JoinSet::new();
    for part in chunks.chunks(per_sender).map(<[Vec<u64>]>::to_vec) {
        let (sqs, url) = (sqs.clone(), url.to_owned());
        senders.spawn(async move {
            for chunk in part {
                let entries = chunk
                    .iter()
                    .map(|id| {
                        aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                            .id(id.to_string())
                            .message_body(format!("{{\"invoiceId\":{id}}}"))
                            .build()
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let out = sqs
                    .send_message_batch()
                    .queue_url(&url)
                    .set_entries(Some(entries))
                    .send()
                    .await?;
                if !out.failed().is_empty() {
                    return Err(format!("SendMessageBatch refused {:?}", out.failed()).into());
                }
            }
            Ok::<_, BoxError>(())
        });
    }
    while let Some(joined) = senders.join_next().await {
        joined??;
    }
    Ok(())
}

#[derive(Default)]
struct PollerStats {
    stored: usize,
    failed: usize,
    batches: usize,
    batch_ms: Vec<f64>,
}

/// `workers.len()` concurrent invocations draining the queue for `length`.
async fn phase(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
    workers: &[Arc<Started>],
    length: Duration,
) -> Result<Value, BoxError> {
    let cpu_before: Vec<_> = workers.iter().map(|w| w.process.cpu()).collect();
    let machine_before = machine_cpu();
    let started = Instant::now();
    let stop = started + length;
    let mut pollers = tokio::task::JoinSet::new();
    for worker in workers {
        let (sqs, url, worker) = (sqs.clone(), url.to_owned(), Arc::clone(worker));
        pollers.spawn(async move { poll_until(&sqs, &url, &worker, stop).await });
    }
    let mut total = PollerStats::default();
    while let Some(joined) = pollers.join_next().await {
        let s = joined??;
        total.stored += s.stored;
        total.failed += s.failed;
        total.batches += s.batches;
        total.batch_ms.extend(s.batch_ms);
    }
    let wall = started.elapsed().as_secs_f64();
    let machine_busy =
        machine_cpu()
            .zip(machine_before)
            .map(|((busy_a, all_a), (busy_b, all_b))| {
                (busy_a - busy_b) as f64 / (all_a - all_b).max(1) as f64
            });
    let worker_cpu_ms: f64 = workers
        .iter()
        .zip(&cpu_before)
        .filter_map(|(w, before)| w.process.cpu().ms_since(before))
        .sum();
    let c = workers.len();
    let rate = total.stored as f64 / wall;
    Ok(json!({
        "invocations": c,
        "wall_s": wall,
        "stored": total.stored,
        "failed_records": total.failed,
        "batches": total.batches,
        "invoices_per_sec": rate,
        "invoices_per_sec_per_invocation": rate / c as f64,
        "batch_wall_ms_median": median(&total.batch_ms),
        "batch_wall_ms_p99": percentile(&total.batch_ms, 99.0),
        "worker_cpu_ms_per_invoice": worker_cpu_ms / total.stored.max(1) as f64,
        "machine_cpu_busy_share": machine_busy,
    }))
}

/// One invocation's poller: receive, invoke, delete what succeeded; until `stop` or the
/// queue is empty.
async fn poll_until(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
    worker: &Started,
    stop: Instant,
) -> Result<PollerStats, BoxError> {
    let mut stats = PollerStats::default();
    while Instant::now() < stop {
        let received = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await?;
        let messages = received.messages();
        if messages.is_empty() {
            break;
        }
        let (answer, took) = worker
            .api
            .invoke(sqs_event(messages), INVOKE_TIMEOUT)
            .await?;
        let failed = failed_ids(answer.body()).ok_or_else(|| {
            format!(
                "the worker answered {:?}",
                String::from_utf8_lossy(answer.body())
            )
        })?;
        let done: Vec<DeleteMessageBatchRequestEntry> = messages
            .iter()
            .filter(|m| !failed.iter().any(|f| Some(f.as_str()) == m.message_id()))
            .enumerate()
            .map(|(i, m)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(m.receipt_handle().unwrap_or_default())
                    .build()
            })
            .collect::<Result<_, _>>()?;
        stats.stored += done.len();
        stats.failed += failed.len();
        stats.batches += 1;
        stats.batch_ms.push(ms(took));
        if !done.is_empty() {
            sqs.delete_message_batch()
                .queue_url(url)
                .set_entries(Some(done))
                .send()
                .await?;
        }
    }
    Ok(stats)
}

/// The event source mapping's event for received messages.
fn sqs_event(messages: &[aws_sdk_sqs::types::Message]) -> Bytes {
    let records: Vec<Value> = messages
        .iter()
        .map(|m| {
            let attributes: Map<String, Value> = m
                .attributes()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.as_str().to_owned(), json!(v)))
                .collect();
            let message_attributes: Map<String, Value> = m
                .message_attributes()
                .into_iter()
                .flatten()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        json!({"stringValue": v.string_value(), "dataType": v.data_type(), "stringListValues": [], "binaryListValues": []}),
                    )
                })
                .collect();
            json!({
                "messageId": m.message_id(),
                "receiptHandle": m.receipt_handle(),
                "body": m.body(),
                "attributes": attributes,
                "messageAttributes": message_attributes,
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:bench-backlog",
                "awsRegion": glase_dev::aws::REGION,
            })
        })
        .collect();
    Bytes::from(json!({ "Records": records }).to_string())
}

/// The message ids the worker reported as failed; `None` if the answer is not a batch answer.
fn failed_ids(answer: &[u8]) -> Option<Vec<String>> {
    let value: Value = serde_json::from_slice(answer).ok()?;
    value["batchItemFailures"].as_array().map(|failures| {
        failures
            .iter()
            .filter_map(|f| f["itemIdentifier"].as_str().map(str::to_owned))
            .collect()
    })
}

/// (busy, total) jiffies of the whole machine, from /proc/stat.
fn machine_cpu() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let fields: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    let total: u64 = fields.iter().sum();
    // idle + iowait.
    let idle = fields.get(3)? + fields.get(4).copied().unwrap_or(0);
    Some((total - idle, total))
}

/// template.yaml's default `WorkerMaxConcurrency`.
fn template_default() -> Option<usize> {
    let template = include_str!("../../../template.yaml");
    let mut lines = template
        .lines()
        .skip_while(|l| l.trim() != "WorkerMaxConcurrency:");
    lines.next()?;
    lines
        .take_while(|l| l.starts_with("    "))
        .find_map(|l| l.trim().strip_prefix("Default:"))
        .and_then(|v| v.trim().parse().ok())
}

/// The drain time of `messages` at each [`CONCURRENCIES`]: `per_invocation` invoices/s per
/// concurrent invocation (measured), capped by a new on-demand table's write throughput.
/// SQS (standard queues: no throughput limit for Receive/Delete that matters here) and
/// Glase (no published rate limit; `WorkerMaxConcurrency` is what bounds the load on it)
/// set no lower cap.
fn projection(messages: usize, per_invocation: f64, default: Option<usize>) -> Value {
    let cap = NEW_TABLE_WRITE_UNITS_PER_SEC / WRITE_UNITS_PER_INVOICE;
    let rows: Vec<Value> = CONCURRENCIES
        .iter()
        .map(|&c| {
            let uncapped = per_invocation * c as f64;
            let rate = uncapped.min(cap);
            json!({
                "worker_max_concurrency": c,
                "template_default": default == Some(c),
                "invoices_per_sec": rate,
                "bound_by": if uncapped > cap { "DynamoDB (new on-demand table)" } else { "the invocations (Glase's latency)" },
                "drain_s": messages as f64 / rate.max(f64::MIN_POSITIVE),
            })
        })
        .collect();
    json!({
        "per_invocation_invoices_per_sec": per_invocation,
        "dynamodb_cap_invoices_per_sec": cap,
        "write_units_per_invoice": WRITE_UNITS_PER_INVOICE,
        "new_table_write_units_per_sec": NEW_TABLE_WRITE_UNITS_PER_SEC,
        "rows": rows,
    })
}

fn duration(secs: f64) -> String {
    if secs >= 90.0 {
        format!("{:.1} min", secs / 60.0)
    } else {
        format!("{secs:.0} s")
    }
}

pub fn render(out: &mut String, r: &Value) {
    let b = &r["backlog"];
    if b.is_null() {
        return;
    }
    let _ = writeln!(
        out,
        "\n**Backlog** ({} notifications queued at once by SendMessageBatch into the keep-alive SQS stand-in in {} s, \
         {} messages/s; drained by glase-worker's release binary, one process per concurrent invocation, \
         each fed by an event-source-mapping-like poller; glase-sim adds {} ms per fetch; DynamoDB Local; \
         {} s per row from the same queue, {} CPUs):\n",
        b["messages"],
        cell(b["queue_wall_s"].as_f64()),
        cell(b["queued_per_sec"].as_f64()),
        cell(b["glase_latency_ms"].as_f64()),
        cell(b["phase_s"].as_f64()),
        b["machine_cpus"],
    );
    let _ = writeln!(
        out,
        "| concurrent invocations | invoices/s | per invocation | batch of 10, wall ms p50 / p99 | worker CPU per invoice, ms | machine CPU busy | target |"
    );
    let _ = writeln!(out, "|---:|---:|---:|---:|---:|---:|---|");
    for p in b["phases"].as_array().into_iter().flatten() {
        let batch = p["batch_wall_ms_median"].as_f64();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} / {} | {} | {} | {} |",
            p["invocations"],
            cell(p["invoices_per_sec"].as_f64()),
            cell(p["invoices_per_sec_per_invocation"].as_f64()),
            cell(batch),
            cell(p["batch_wall_ms_p99"].as_f64()),
            cell(p["worker_cpu_ms_per_invoice"].as_f64()),
            p["machine_cpu_busy_share"]
                .as_f64()
                .map_or("n/a".into(), |s| format!("{:.0} %", s * 100.0)),
            if p["invocations"] == 1 {
                format!(
                    "batch ≤ 100 ms: {}",
                    match batch {
                        Some(x) if x <= 100.0 => "met",
                        Some(_) => "**missed**",
                        None => "not measured",
                    }
                )
            } else {
                String::new()
            },
        );
    }
    let failed: u64 = b["phases"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["failed_records"].as_u64())
        .sum();
    if failed > 0 {
        let _ = writeln!(
            out,
            "\n**{failed} records failed** (see target/bench/logs/worker.log)."
        );
    }
    let p = &b["projection"];
    if p.is_null() {
        return;
    }
    let _ = writeln!(
        out,
        "\nDrain time of {} on AWS: {} invoices/s per invocation (measured above, one invocation) × `WorkerMaxConcurrency`, \
         capped at {} invoices/s by a new on-demand table ({} write units/s at first ÷ {} per invoice):\n",
        b["messages"],
        cell(p["per_invocation_invoices_per_sec"].as_f64()),
        cell(p["dynamodb_cap_invoices_per_sec"].as_f64()),
        cell(p["new_table_write_units_per_sec"].as_f64()),
        cell(p["write_units_per_invoice"].as_f64()),
    );
    let _ = writeln!(
        out,
        "| `WorkerMaxConcurrency` | invoices/s | drain time | bound by |"
    );
    let _ = writeln!(out, "|---:|---:|---:|---|");
    for row in p["rows"].as_array().into_iter().flatten() {
        let _ = writeln!(
            out,
            "| {}{} | {} | {} | {} |",
            row["worker_max_concurrency"],
            if row["template_default"] == true {
                " (default)"
            } else {
                ""
            },
            fmt_num(row["invoices_per_sec"].as_f64().unwrap_or(0.0)),
            duration(row["drain_s"].as_f64().unwrap_or(0.0)),
            row["bound_by"].as_str().unwrap_or("?"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_concurrency_is_read_from_the_template() {
        assert_eq!(template_default(), Some(2));
    }

    #[test]
    fn the_drain_time_is_the_rate_per_invocation_times_concurrency_capped_by_dynamodb() {
        let p = projection(100_000, 150.0, Some(2));
        let rows = p["rows"].as_array().unwrap();
        assert_eq!(rows[0]["invoices_per_sec"], 300.0);
        assert_eq!(rows[0]["template_default"], true);
        assert!((rows[0]["drain_s"].as_f64().unwrap() - 333.3).abs() < 0.1);
        let cap = NEW_TABLE_WRITE_UNITS_PER_SEC / WRITE_UNITS_PER_INVOICE;
        assert_eq!(rows[4]["invoices_per_sec"].as_f64(), Some(cap));
        assert_eq!(rows[4]["bound_by"], "DynamoDB (new on-demand table)");
    }

    #[test]
    fn a_received_message_becomes_the_record_the_worker_parses_and_failures_are_read_back() {
        let m = aws_sdk_sqs::types::Message::builder()
            .message_id("m-1")
            .receipt_handle("r-1")
            .body("{\"invoiceId\":9}")
            .attributes(MessageSystemAttributeName::ApproximateReceiveCount, "2")
            .build();
        let event: aws_lambda_events::event::sqs::SqsEvent =
            serde_json::from_slice(&sqs_event(&[m])).unwrap();
        let record = &event.records[0];
        assert_eq!(record.message_id.as_deref(), Some("m-1"));
        assert_eq!(record.body.as_deref(), Some("{\"invoiceId\":9}"));
        assert_eq!(
            record
                .attributes
                .get("ApproximateReceiveCount")
                .map(String::as_str),
            Some("2")
        );

        assert_eq!(
            failed_ids(br#"{"batchItemFailures":[{"itemIdentifier":"m-1"}]}"#),
            Some(vec!["m-1".to_owned()])
        );
        assert_eq!(failed_ids(b"{}"), None);
    }
}
