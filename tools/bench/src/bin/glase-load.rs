//! `make load`: the webhook handler behind the local HTTP API front (as `make dev` serves it),
//! on loopback, queueing to moto's SQS server; concurrent clients POST distinct invoice ids for
//! a fixed time. Then the queue is drained and every id counted: each 200 must have left
//! exactly one message, and nothing else may be queued. Prints requests/s, errors, p50/p99.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use glase_dev::services::{free_port, start_moto};
use glase_shared::adapters::SqsQueue;
use glase_shared::InvoiceId;
use glase_webhook::Webhook;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Parser, Debug)]
#[command(about = "Load the webhook over loopback against moto's SQS server")]
struct Args {
    /// How long the clients send.
    #[arg(long, env = "LOAD_SECONDS", default_value_t = 60)]
    seconds: u64,
    /// Concurrent clients, each with one request in flight.
    #[arg(long, env = "LOAD_CLIENTS", default_value_t = 16)]
    clients: usize,
    /// Use this SQS endpoint instead of starting moto on a free port.
    #[arg(long, env = "LOAD_SQS_ENDPOINT")]
    sqs_endpoint: Option<String>,
}

/// What one client saw.
#[derive(Default)]
struct ClientLog {
    /// Ids answered 200.
    accepted: Vec<u64>,
    /// Ids answered anything else, with the status (0: no HTTP answer at all).
    refused: Vec<(u64, u16)>,
    latencies: Vec<Duration>,
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Args::parse()).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("load: {e}");
            ExitCode::from(2)
        }
    }
}

async fn run(args: Args) -> Result<bool, BoxError> {
    // moto lives as long as this (kept) handle; PR_SET_PDEATHSIG stops it if we die.
    let (_moto, endpoint) = match &args.sqs_endpoint {
        Some(url) => (None, url.clone()),
        None => {
            let moto = start_moto(free_port()?, true)?;
            let url = moto.endpoint();
            (Some(moto), url)
        }
    };
    let sqs = glase_dev::aws::sqs(&endpoint);
    let name = format!("load-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let (queue_url, _dlq) = glase_dev::aws::create_queues(&sqs, &name, 3600, 30).await?;

    let token = uuid::Uuid::new_v4().simple().to_string();
    let webhook = Webhook::new(
        SqsQueue::new(sqs.clone(), &queue_url),
        glase_shared::WebhookToken::plain(&token)?,
    );
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let url = format!("http://{}/notifications/{token}", listener.local_addr()?);
    let app = glase_dev::webhook_server::router(Arc::new(webhook), true);
    tokio::spawn(async move { axum::serve(listener, app).await });

    eprintln!(
        "[load] {} clients for {} s against {endpoint} (queue {name})",
        args.clients, args.seconds
    );
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.clients)
        .timeout(Duration::from_secs(30))
        .build()?;
    let next_id = Arc::new(AtomicU64::new(1));
    let started = Instant::now();
    let until = started + Duration::from_secs(args.seconds);
    let clients: Vec<_> = (0..args.clients)
        .map(|_| {
            let (http, url, next_id) = (http.clone(), url.clone(), Arc::clone(&next_id));
            tokio::spawn(async move { client(http, url, next_id, until).await })
        })
        .collect();
    let mut log = ClientLog::default();
    for c in clients {
        let one = c.await?;
        log.accepted.extend(one.accepted);
        log.refused.extend(one.refused);
        log.latencies.extend(one.latencies);
    }
    let elapsed = started.elapsed();

    eprintln!("[load] draining the queue…");
    let queued = drain(&sqs, &queue_url).await?;
    Ok(report(&log, elapsed, &queued))
}

async fn client(
    http: reqwest::Client,
    url: String,
    next_id: Arc<AtomicU64>,
    until: Instant,
) -> ClientLog {
    let mut log = ClientLog::default();
    while Instant::now() < until {
        let id = next_id.fetch_add(1, Ordering::Relaxed);
        let sent = Instant::now();
        let status = http
            .post(&url)
            .header("content-type", "application/json")
            .body(format!(r#"{{"invoiceId": {id}}}"#))
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0);
        log.latencies.push(sent.elapsed());
        if status == 200 {
            log.accepted.push(id);
        } else {
            log.refused.push((id, status));
        }
    }
    log
}

/// Every message on the queue, counted per invoice id (bodies that are not a notification
/// under id 0). The long visibility timeout delivers each message once.
async fn drain(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
) -> Result<HashMap<u64, usize>, BoxError> {
    let mut counts = HashMap::new();
    let mut empty_in_a_row = 0;
    while empty_in_a_row < 3 {
        let out = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .visibility_timeout(3600)
            .wait_time_seconds(1)
            .send()
            .await?;
        if out.messages().is_empty() {
            empty_in_a_row += 1;
            continue;
        }
        empty_in_a_row = 0;
        for m in out.messages() {
            let id = InvoiceId::from_notification(m.body().unwrap_or_default().as_bytes())
                .map_or(0, InvoiceId::get);
            *counts.entry(id).or_insert(0) += 1;
        }
    }
    Ok(counts)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// Prints the figures; true when every 200 left exactly one message and nothing else queued.
fn report(log: &ClientLog, elapsed: Duration, queued: &HashMap<u64, usize>) -> bool {
    let mut latencies = log.latencies.clone();
    latencies.sort_unstable();
    let requests = latencies.len();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;

    let missing = log
        .accepted
        .iter()
        .filter(|id| !queued.contains_key(id))
        .count();
    let duplicated = log
        .accepted
        .iter()
        .filter(|id| queued.get(id).is_some_and(|n| *n > 1))
        .count();
    let accepted: std::collections::HashSet<u64> = log.accepted.iter().copied().collect();
    let unexpected: usize = queued
        .iter()
        .filter(|(id, _)| !accepted.contains(id))
        .map(|(_, n)| n)
        .sum();
    let mut by_status: HashMap<u16, usize> = HashMap::new();
    for (_, status) in &log.refused {
        *by_status.entry(*status).or_insert(0) += 1;
    }

    println!("duration          {:.1} s", elapsed.as_secs_f64());
    println!("requests          {requests}");
    println!(
        "requests/s        {:.0}",
        requests as f64 / elapsed.as_secs_f64()
    );
    println!("200               {}", log.accepted.len());
    println!("errors            {} {:?}", log.refused.len(), by_status);
    println!(
        "latency p50       {:.2} ms",
        ms(percentile(&latencies, 50.0))
    );
    println!(
        "latency p99       {:.2} ms",
        ms(percentile(&latencies, 99.0))
    );
    println!(
        "latency max       {:.2} ms",
        ms(percentile(&latencies, 100.0))
    );
    println!("queued messages   {}", queued.values().sum::<usize>());
    println!("200 not queued    {missing}");
    println!("200 queued twice+ {duplicated}");
    println!("queued, not 200   {unexpected}");
    let ok = missing == 0 && duplicated == 0 && unexpected == 0 && !log.accepted.is_empty();
    println!(
        "{}",
        if ok {
            "OK: every 200 has exactly one queued message"
        } else {
            "FAILED: the queue does not match the 200s"
        }
    );
    ok
}
