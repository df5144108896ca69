//! `--only reconcile`: reconciliation over report windows of 10k → 1M rows.
//!
//! A report server on loopback makes Glase's CSV for N rows on the fly, a chunk at a time
//! (~330 bytes a row, like a real day), and the product's own report client ([`GlaseReport`])
//! reads it over HTTP. Each run is a child process (this binary, re-invoked as [`CHILD`]) so
//! its peak RSS is its own: first on the in-memory ports (our CPU alone), then on DynamoDB
//! Local and moto's SQS (real calls, at the sizes they bear). Counting wrappers around the
//! ports give the AWS requests: one `get_many` is one BatchGetItem (≤ 100 ids), a re-queue of
//! n ids is ⌈n/10⌉ SendMessageBatch calls. From those counts and AWS's per-request latencies,
//! [`projection`] gives the wall time of a 1M-row day on AWS. See docs/performance.md.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use futures::StreamExt;
use glase_shared::adapters::dynamo::invoice_to_item;
use glase_shared::adapters::{DynamoStore, GlaseReport, SqsQueue};
use glase_shared::config::{GlaseConfig, SecretSource};
use glase_shared::memory::{MemoryQueue, MemoryStore};
use glase_shared::reconcile::{reconcile, Options, Window};
use glase_shared::{
    AdapterError, AuthToken, Invoice, InvoiceId, InvoiceLookup, InvoiceRecord, InvoiceRecords,
    IssuerName, Payer, ReportReader, Requeue,
};
use jiff::civil::{date, Date};
use jiff::Timestamp;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::lab::{BoxError, Lab};
use crate::sqs::SqsStandIn;

/// The hidden first argument that makes this binary one reconcile run (see [`child_main`]).
pub const CHILD: &str = "__reconcile-child";

/// The report's day, and the run's time: a day later, so every row is past the settle period.
const DAY: Date = date(2026, 11, 30);
const RUN_AT: &str = "2026-12-01T12:00:00Z";
/// Ids of the report, `FIRST_ID + row`.
const FIRST_ID: u64 = 10_000_000;
/// Rows per body chunk from the report server (~330 KB).
const CHUNK_ROWS: u64 = 1_000;
/// The most one run (and its report request) may take.
const RUN_TIMEOUT: Duration = Duration::from_secs(600);
const HEADER: &str = "ID,DESCRIPTION,AMOUNT,CURRENCY,STATUS,REFERENCE,ERS_REFERENCE,PURCHASE_TIME,\
PAYER_MSISDN,PAYER_FIRST_NAME,PAYER_LAST_NAME,PAYER_STREET,PAYER_CITY,PAYER_ZIP,PAYER_COUNTRY\r\n";
const CURRENCIES: [&str; 4] = ["EUR", "GBP", "USD", "SEK"];

/// Whether the invoice of report row `i` is in the table: every other one. The rest are
/// missing and get re-queued.
fn stored(i: u64) -> bool {
    i % 2 == 0
}

/// Report row `i` of `rows` (purchases spread over the day), CRLF-terminated, ~330 bytes:
/// quoted fields with commas and doubled quotes, an offset on the purchase time.
fn push_row(out: &mut String, i: u64, rows: u64) {
    use std::fmt::Write;
    let second = i * 86_400 / rows.max(1);
    let (h, m, s) = (second / 3600, second / 60 % 60, second % 60);
    let cents = 100 + i * 7_919 % 100_000;
    let _ = write!(
        out,
        "{id},\"Broadband \"\"Fibre 500\"\" and mobile bundle 11.2026, 4 SIMs with 40 GB each, \
         TV package, device insurance, line {i:07}\",{units}.{cents:02},{currency},PAID,\
         {i:07}/11/2026,892736823467823-{i:07},2026-11-30T{h:02}:{m:02}:{s:02}+01:00,\
         4611122{i:07},Johanna Maria,Smith-Wellington,\"34 Wellington Street, Flat {flat}\",\
         London,74231,en\r\n",
        id = FIRST_ID + i,
        units = cents / 100,
        cents = cents % 100,
        currency = CURRENCIES[(i % 4) as usize],
        flat = i % 100,
    );
}

/// Rows `range` as CSV text.
fn rows_text(range: std::ops::Range<u64>, rows: u64) -> String {
    let mut text = String::with_capacity((range.end - range.start) as usize * 340);
    for i in range {
        push_row(&mut text, i, rows);
    }
    text
}

/// The invoices of rows `range` that are stored, parsed by the product's reader from the
/// very text the server sends, so they equal the report.
fn stored_invoices(range: std::ops::Range<u64>, rows: u64) -> Result<Vec<Invoice>, BoxError> {
    let text = format!("{HEADER}{}", rows_text(range, rows));
    let mut out = Vec::new();
    for invoice in ReportReader::new(text.as_bytes())? {
        let invoice = invoice?;
        if stored(invoice.id.get() - FIRST_ID) {
            out.push(invoice);
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// The report server

/// Serves `GET /rows/{n}/api/report` (the client's base URL is `…/rows/{n}`): Glase's CSV for
/// `n` rows, made a chunk at a time as the client reads.
struct ReportServer {
    addr: SocketAddr,
    bytes: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl ReportServer {
    async fn start() -> Result<Self, BoxError> {
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let addr = listener.local_addr()?;
        let bytes = Arc::new(AtomicU64::new(0));
        let app = axum::Router::new()
            .route("/rows/{rows}/api/report", axum::routing::get(serve_report))
            .with_state(Arc::clone(&bytes));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { addr, bytes, task })
    }

    fn base_url(&self, rows: u64) -> String {
        format!("http://{}/rows/{rows}", self.addr)
    }

    /// Body bytes sent since the last call.
    fn take_bytes(&self) -> u64 {
        self.bytes.swap(0, Ordering::SeqCst)
    }
}

impl Drop for ReportServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve_report(Path(rows): Path<u64>, State(sent): State<Arc<AtomicU64>>) -> Body {
    let header = futures::stream::once(std::future::ready(Bytes::from_static(HEADER.as_bytes())));
    let chunks = futures::stream::iter((0..rows).step_by(CHUNK_ROWS as usize))
        .map(move |start| Bytes::from(rows_text(start..(start + CHUNK_ROWS).min(rows), rows)));
    Body::from_stream(header.chain(chunks).map(move |chunk| {
        sent.fetch_add(chunk.len() as u64, Ordering::Relaxed);
        Ok::<_, std::convert::Infallible>(chunk)
    }))
}

// ---------------------------------------------------------------------------------------------
// Counting the requests

/// The ports, counted: `get_many` calls are BatchGetItem calls (reconcile asks ≤ 100 ids at a
/// time), a re-queue of n ids is ⌈n/10⌉ SendMessageBatch calls (retries not seen: none
/// happen against the local services).
struct Counted<T> {
    inner: T,
    batch_gets: AtomicU64,
    send_batches: AtomicU64,
}

impl<T> Counted<T> {
    fn new(inner: T) -> Self {
        Self {
            inner,
            batch_gets: AtomicU64::new(0),
            send_batches: AtomicU64::new(0),
        }
    }
}

impl<T: InvoiceLookup> InvoiceLookup for Counted<T> {
    async fn get_many(&self, ids: &[InvoiceId]) -> Result<InvoiceRecords, AdapterError> {
        self.batch_gets
            .fetch_add(ids.len().div_ceil(100) as u64, Ordering::Relaxed);
        self.inner.get_many(ids).await
    }
}

impl<T: Requeue> Requeue for Counted<T> {
    async fn requeue_many(&self, ids: &[InvoiceId]) -> Vec<Result<(), AdapterError>> {
        self.send_batches
            .fetch_add(ids.len().div_ceil(10) as u64, Ordering::Relaxed);
        self.inner.requeue_many(ids).await
    }
}

// ---------------------------------------------------------------------------------------------
// One run, in a child process

/// What the parent asks of a child, as its second argument (JSON).
#[derive(Debug, Serialize, Deserialize)]
struct ChildTask {
    rows: u64,
    glase_base_url: String,
    backend: Backend,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
enum Backend {
    /// MemoryStore (every other invoice stored) and MemoryQueue.
    Memory,
    /// DynamoDB Local and an SQS endpoint, seeded by the parent.
    #[serde(rename_all = "camelCase")]
    Local {
        ddb_endpoint: String,
        table: String,
        sqs_endpoint: String,
        queue_url: String,
    },
}

/// If this process was started as a reconcile child, runs it (on main's runtime, as the
/// reconcile function runs on lambda_runtime's) and returns its exit code.
pub async fn child_main() -> Option<i32> {
    let mut args = std::env::args().skip(1);
    if args.next().as_deref() != Some(CHILD) {
        return None;
    }
    let result = async {
        let task = args.next().ok_or("the child wants its task as JSON")?;
        child(serde_json::from_str::<ChildTask>(&task)?).await
    }
    .await;
    Some(match result {
        Ok(figures) => {
            println!("{figures}");
            0
        }
        Err(e) => {
            eprintln!("[bench] reconcile child failed: {e}");
            1
        }
    })
}

async fn child(task: ChildTask) -> Result<Value, BoxError> {
    let config = GlaseConfig {
        base_url: task.glase_base_url.clone(),
        issuer: IssuerName::parse(crate::lab::ISSUER)?,
        secret: SecretSource::Plain(SecretString::from(crate::lab::SECRET)),
        time_zone: jiff::tz::TimeZone::UTC,
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(10),
    };
    let token = AuthToken::derive(
        &config.issuer,
        &SecretString::from(crate::lab::SECRET.to_owned()),
    );
    // The product's own limits: a 1M-row day (~306 MB) is under the 1 GiB a day, and the
    // request is bounded by stalls, not by its total time.
    let source = GlaseReport::new(&config, token)?;
    let options = Options::new(RUN_AT.parse()?);
    let window = Window::day(DAY);
    match task.backend {
        Backend::Memory => {
            let store = MemoryStore::default();
            let stored_at: Timestamp = RUN_AT.parse()?;
            for start in (0..task.rows).step_by(100_000) {
                let end = (start + 100_000).min(task.rows);
                for mut invoice in stored_invoices(start..end, task.rows)? {
                    // Only amount, currency, reference and purchase time are compared: the
                    // rest would only swell the map's share of the RSS.
                    invoice.description = String::new();
                    invoice.payer = Payer::default();
                    invoice.ers_reference = String::new();
                    store.put(invoice.id, InvoiceRecord::Stored { invoice, stored_at });
                }
            }
            let (store, queue) = (Counted::new(store), Counted::new(MemoryQueue::default()));
            let mut figures = measure(&source, &store, &queue, window, &options).await?;
            let sent = queue.inner.sent();
            let unique: HashSet<_> = sent.iter().collect();
            let expected = (0..task.rows).filter(|i| !stored(*i)).count();
            figures["requeued_exactly_the_missing_once"] = json!(
                sent.len() == expected
                    && unique.len() == expected
                    && sent.iter().all(|id| !stored(id.get() - FIRST_ID))
            );
            figures["memory_queue_batches"] =
                json!(queue.inner.batches.load(Ordering::Relaxed) as u64);
            Ok(figures)
        }
        Backend::Local {
            ddb_endpoint,
            table,
            sqs_endpoint,
            queue_url,
        } => {
            let store = Counted::new(DynamoStore::new(
                glase_dev::aws::dynamodb(&ddb_endpoint),
                table,
            ));
            let queue = Counted::new(SqsQueue::new(glase_dev::aws::sqs(&sqs_endpoint), queue_url));
            measure(&source, &store, &queue, window, &options).await
        }
    }
}

/// The run, with its wall time, CPU and peak RSS (the high-water mark reset just before, so
/// the in-memory table's share is reported apart).
async fn measure<L: InvoiceLookup, Q: Requeue>(
    source: &GlaseReport,
    store: &Counted<L>,
    queue: &Counted<Q>,
    window: Window,
    options: &Options,
) -> Result<Value, BoxError> {
    let rss_before = self_status_bytes("VmRSS:");
    // "5": reset the peak RSS to the current RSS (Linux ≥ 4.0).
    let hwm_reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let cpu_before = cpu_seconds();
    let started = Instant::now();
    let result = reconcile(source, store, queue, window, options).await;
    let wall = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu_before;
    let peak = self_status_bytes("VmHWM:");
    let found = result.map_err(|e| format!("{e} ({:?})", e.cause))?;
    let rows = found.rows;
    let per_1000 = |n: u64| n as f64 * 1000.0 / rows.max(1) as f64;
    let (gets, sends) = (
        store.batch_gets.load(Ordering::Relaxed),
        queue.send_batches.load(Ordering::Relaxed),
    );
    Ok(json!({
        "rows": rows,
        "wall_s": wall,
        "rows_per_s": rows as f64 / wall,
        "cpu_s": cpu,
        "cpu_ms_per_1000_rows": cpu * 1e6 / rows.max(1) as f64,
        "peak_rss_bytes": peak,
        "rss_before_run_bytes": rss_before,
        "peak_rss_above_start_bytes": peak.zip(rss_before).map(|(p, b)| p.saturating_sub(b)),
        "peak_reset_before_run": hwm_reset,
        "batch_get_item_calls": gets,
        "send_message_batch_calls": sends,
        "batch_get_item_per_1000_rows": per_1000(gets),
        "send_message_batch_per_1000_rows": per_1000(sends),
        "matched": found.matched,
        "missing": found.missing,
        "requeued": found.requeued,
        "requeue_failed": found.requeue_failed,
        "invalid_rows": found.invalid_rows,
    }))
}

fn self_status_bytes(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    crate::process::parse_status_kb(&status, field).map(|kb| kb * 1024)
}

/// User + system CPU of this process so far, in seconds.
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage writes into the struct we own; zeroed is a valid rusage.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return f64::NAN;
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

/// Runs `task` in a child process and returns its figures.
async fn spawn_child(task: &ChildTask, timeout: Duration) -> Result<Value, BoxError> {
    let exe = std::env::current_exe()?;
    let task = serde_json::to_string(task)?;
    let run = tokio::task::spawn_blocking(move || {
        let mut cmd = std::process::Command::new(exe);
        cmd.arg(CHILD)
            .arg(task)
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::inherit());
        glase_dev::services::die_with_parent(&mut cmd);
        cmd.output()
    });
    let output = tokio::time::timeout(timeout, run)
        .await
        .map_err(|_| format!("the run took over {} s", timeout.as_secs()))???;
    if !output.status.success() {
        return Err(format!("the reconcile child failed ({})", output.status).into());
    }
    Ok(serde_json::from_slice(&output.stdout)?)
}

// ---------------------------------------------------------------------------------------------
// The section

/// Writes the stored half of rows `0..rows` into the lab's table (BatchWriteItem, 25 a call),
/// as the worker would have stored them.
async fn seed_table(lab: &Lab, rows: u64) -> Result<(), BoxError> {
    let ddb = glase_dev::aws::dynamodb(&lab.ddb_endpoint);
    let stored_at: Timestamp = RUN_AT.parse()?;
    for start in (0..rows).step_by(50_000) {
        let invoices = stored_invoices(start..(start + 50_000).min(rows), rows)?;
        let writes = invoices.chunks(25).map(|chunk| {
            let requests: Result<Vec<_>, _> = chunk
                .iter()
                .map(|invoice| {
                    PutRequest::builder()
                        .set_item(Some(invoice_to_item(invoice, stored_at)))
                        .build()
                        .map(|put| WriteRequest::builder().put_request(put).build())
                })
                .collect();
            let (ddb, table) = (&ddb, &lab.table);
            async move {
                let mut requests = requests?;
                while !requests.is_empty() {
                    let out = ddb
                        .batch_write_item()
                        .request_items(table, requests)
                        .send()
                        .await?;
                    requests = out
                        .unprocessed_items()
                        .and_then(|u| u.get(table))
                        .cloned()
                        .unwrap_or_default();
                }
                Ok::<_, BoxError>(())
            }
        });
        let results: Vec<_> = futures::stream::iter(writes)
            .buffer_unordered(8)
            .collect()
            .await;
        results.into_iter().collect::<Result<(), _>>()?;
    }
    Ok(())
}

/// The whole section: `rows` on the in-memory ports, `real_rows` on DynamoDB Local + the
/// keep-alive SQS stand-in
/// (a size of 0 is skipped, so either list can be left out).
pub async fn run(lab: &Lab, rows: &[u64], real_rows: &[u64]) -> Result<Value, BoxError> {
    let server = ReportServer::start().await?;
    let mut memory = Vec::new();
    for &n in rows.iter().filter(|&&n| n > 0) {
        eprintln!("[bench] reconcile: {n} rows on the in-memory ports…");
        let task = ChildTask {
            rows: n,
            glase_base_url: server.base_url(n),
            backend: Backend::Memory,
        };
        server.take_bytes();
        let mut figures = spawn_child(&task, RUN_TIMEOUT).await?;
        figures["report_bytes"] = json!(server.take_bytes());
        memory.push(figures);
    }
    // The keep-alive SQS stand-in, not moto: moto closes every connection and slows as its
    // queue grows (~1 s per SendMessageBatch past a few thousand messages), which would time
    // moto rather than the run.
    let standin = SqsStandIn::start().await?;
    let sqs = glase_dev::aws::sqs(&standin.endpoint());
    let mut local = Vec::new();
    for &n in real_rows.iter().filter(|&&n| n > 0) {
        eprintln!("[bench] reconcile: {n} rows on DynamoDB Local + the keep-alive SQS (seeding)…");
        seed_table(lab, n).await?;
        let (queue_url, _) =
            glase_dev::aws::create_queues(&sqs, &format!("bench-reconcile-{n}"), 30, 5).await?;
        let task = ChildTask {
            rows: n,
            glase_base_url: server.base_url(n),
            backend: Backend::Local {
                ddb_endpoint: lab.ddb_endpoint.clone(),
                table: lab.table.clone(),
                sqs_endpoint: standin.endpoint(),
                queue_url: queue_url.clone(),
            },
        };
        server.take_bytes();
        let mut figures = match spawn_child(&task, RUN_TIMEOUT).await {
            Ok(f) => f,
            Err(e) => json!({"rows": n, "error": e.to_string()}),
        };
        figures["report_bytes"] = json!(server.take_bytes());
        figures["queue_depth_after"] =
            json!(standin.depth(&queue_url).map(|(visible, _, _)| visible));
        local.push(figures);
    }
    let projection = projection(&memory, &local);
    Ok(json!({
        "report": "generated on the fly by a loopback server, read by GlaseReport (the product's client and parser)",
        "stored_share": 0.5,
        "in_memory": memory,
        "local_services": local,
        "local_services_note": "DynamoDB Local (a JVM on this machine) + the keep-alive SQS stand-in: real calls over HTTP, at local latencies",
        "projection_1m_aws": projection,
    }))
}

/// AWS's per-request latencies and Lambda's share of a CPU, as assumed for the projection
/// (sources in docs/performance.md).
pub struct AwsAssumptions {
    /// A strongly consistent BatchGetItem of 100 items of ~0.5 KB, in-region.
    pub batch_get_ms: f64,
    /// A SendMessageBatch of 10, in-region.
    pub send_batch_ms: f64,
    /// The report download, from Glase to the function.
    pub download_mb_per_s: f64,
    /// vCPU share at 1,024 MB (1,769 MB is one vCPU).
    pub vcpu: f64,
    /// Batches looked up and re-queued at once (Options::in_flight).
    pub in_flight: f64,
    /// Our CPU per SDK call (signing, JSON, HTTP): make bench's webhook, one SendMessage per
    /// invocation, ~1.1 ms. The moto run's own CPU is no guide: it idles for minutes.
    pub sdk_call_cpu_ms: f64,
}

pub const AWS: AwsAssumptions = AwsAssumptions {
    batch_get_ms: 20.0,
    send_batch_ms: 20.0,
    download_mb_per_s: 10.0,
    vcpu: 0.58,
    in_flight: 4.0,
    sdk_call_cpu_ms: 1.1,
};

/// A 1M-row day on AWS, from the counted requests (scaled to 1M rows), the measured CPU
/// (scaled to the Lambda's vCPU share) and [`AWS`]'s latencies. Phase 1 (download and parse,
/// which overlap) then phase 2 (lookups and re-queues, `in_flight` batches at once; each
/// batch's SendMessageBatch calls go together after its BatchGetItem).
fn projection(memory: &[Value], local: &[Value]) -> Value {
    const ROWS: f64 = 1_000_000.0;
    let largest = |runs: &[Value]| {
        runs.iter()
            .filter(|r| r["error"].is_null())
            .max_by_key(|r| r["rows"].as_u64().unwrap_or(0))
            .cloned()
    };
    let (Some(mem), Some(real)) = (largest(memory), largest(local).or_else(|| largest(memory)))
    else {
        return Value::Null;
    };
    let f = |v: &Value, k: &str| v[k].as_f64().unwrap_or(f64::NAN);
    let scale = ROWS / f(&mem, "rows");
    let report_mb = f(&mem, "report_bytes") * scale / 1e6;
    let gets = f(&real, "batch_get_item_per_1000_rows") * ROWS / 1000.0;
    let sends = f(&real, "send_message_batch_per_1000_rows") * ROWS / 1000.0;
    // Our CPU: the in-memory run's, plus each SDK call's.
    let cpu_s = f(&mem, "cpu_ms_per_1000_rows") * ROWS / 1e6
        + (gets + sends) * AWS.sdk_call_cpu_ms / 1000.0;
    let cpu_wall_s = cpu_s / AWS.vcpu;
    let download_s = report_mb / AWS.download_mb_per_s;
    let parse_share = f(&mem, "cpu_ms_per_1000_rows") * ROWS / 1e6 / AWS.vcpu;
    let phase1_s = download_s.max(parse_share);
    // Every batch of 100 pays one BatchGetItem, then (if anything is missing) its
    // SendMessageBatch calls in parallel.
    let batches = gets;
    let phase2_latency_s = batches
        * (AWS.batch_get_ms + if sends > 0.0 { AWS.send_batch_ms } else { 0.0 })
        / 1000.0
        / AWS.in_flight;
    // Phase 2 cannot go faster than its CPU either.
    let phase2_s = phase2_latency_s.max(cpu_wall_s - parse_share);
    let total_s = phase1_s + phase2_s;
    let budget_s = 900.0;
    json!({
        "rows": ROWS,
        "report_mb": report_mb,
        "batch_get_item_calls": gets,
        "send_message_batch_calls": sends,
        "assumed": {
            "batch_get_item_ms": AWS.batch_get_ms,
            "send_message_batch_ms": AWS.send_batch_ms,
            "download_mb_per_s": AWS.download_mb_per_s,
            "vcpu_at_1024_mb": AWS.vcpu,
            "in_flight": AWS.in_flight,
        },
        "sdk_call_cpu_ms": AWS.sdk_call_cpu_ms,
        "cpu_s_on_lambda": cpu_wall_s,
        "download_s": download_s,
        "parse_s_on_lambda": parse_share,
        "phase1_s": phase1_s,
        "phase2_latency_bound_s": phase2_latency_s,
        "phase2_s": phase2_s,
        "total_s": total_s,
        "budget_s": budget_s,
        "margin": budget_s / total_s,
        "peak_rss_bytes_at_largest_in_memory_run": mem["peak_rss_bytes"],
    })
}

/// The section's table for table.md.
pub fn render(section: &Value) -> String {
    let mut out = String::from(
        "\n## Reconcile at scale\n\n| rows | ports | wall s | peak RSS MB (run) | rows/s | CPU ms / 1k rows | BatchGetItem / 1k | SendMessageBatch / 1k | re-queued |\n|---:|---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    let mb = |v: &Value| {
        v.as_f64()
            .map(|b| format!("{:.0}", b / 1e6))
            .unwrap_or_default()
    };
    let num = |v: &Value, d: usize| v.as_f64().map(|x| format!("{x:.d$}")).unwrap_or_default();
    for (ports, runs) in [
        ("in-memory", &section["in_memory"]),
        (
            "DynamoDB Local + keep-alive SQS",
            &section["local_services"],
        ),
    ] {
        for r in runs.as_array().into_iter().flatten() {
            if let Some(e) = r["error"].as_str() {
                out.push_str(&format!("| {} | {ports} | {e} |||||||\n", r["rows"]));
                continue;
            }
            out.push_str(&format!(
                "| {} | {ports} | {} | {} ({}) | {} | {} | {} | {} | {} |\n",
                r["rows"],
                num(&r["wall_s"], 2),
                mb(&r["peak_rss_bytes"]),
                mb(&r["peak_rss_above_start_bytes"]),
                num(&r["rows_per_s"], 0),
                num(&r["cpu_ms_per_1000_rows"], 1),
                num(&r["batch_get_item_per_1000_rows"], 1),
                num(&r["send_message_batch_per_1000_rows"], 1),
                r["requeued"],
            ));
        }
    }
    let p = &section["projection_1m_aws"];
    if !p.is_null() {
        out.push_str(&format!(
            "\nProjected 1M-row day on AWS: {} s (download {} s, phase 2 {} s) of a 900 s budget: {}× margin.\n",
            num(&p["total_s"], 0),
            num(&p["download_s"], 0),
            num(&p["phase2_s"], 0),
            num(&p["margin"], 1),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_rows_are_glase_rows_of_about_330_bytes() {
        let text = rows_text(0..1_000, 1_000);
        let invoices: Vec<Invoice> = ReportReader::new(format!("{HEADER}{text}").as_bytes())
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(invoices.len(), 1_000);
        assert_eq!(invoices[999].id.get(), FIRST_ID + 999);
        assert!(invoices[0].description.contains("\"Fibre 500\""));
        let per_row = text.len() / 1_000;
        assert!((300..=360).contains(&per_row), "{per_row} bytes a row");
        assert_eq!(stored_invoices(0..1_000, 1_000).unwrap().len(), 500);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn glase_report_reads_every_row_the_server_makes() {
        let server = ReportServer::start().await.unwrap();
        let rows = 2 * CHUNK_ROWS + 7;
        let config = GlaseConfig {
            base_url: server.base_url(rows),
            issuer: IssuerName::parse(crate::lab::ISSUER).unwrap(),
            secret: SecretSource::Plain(SecretString::from(crate::lab::SECRET)),
            time_zone: jiff::tz::TimeZone::UTC,
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(10),
        };
        let token = AuthToken::derive(&config.issuer, &SecretString::from("x"));
        let report = GlaseReport::new(&config, token).unwrap();
        let got: Vec<_> = report.rows(DAY, DAY).await.unwrap().collect().await;
        assert_eq!(got.len() as u64, rows);
        assert!(got.iter().all(Result::is_ok));
        assert_eq!(
            server.take_bytes(),
            (HEADER.len() + rows_text(0..rows, rows).len()) as u64
        );
    }
}
