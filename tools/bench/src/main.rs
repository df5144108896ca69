//! `make bench`: what Lambda measures, on this machine, for the webhook, the worker, the events
//! function and a bare `lambda_runtime` echo function side by side. See docs/performance.md.
//!
//! Each function binary (release profile) runs against a Lambda Runtime API served by this
//! program on loopback, with DynamoDB Local, moto (SQS, EventBridge) and glase-sim behind it.

mod backlog;
mod cost;
mod e2e;
mod keepalive;
mod lab;
mod meter;
mod process;
mod proxy;
mod reconcile;
mod report;
mod size;
mod sqs;
mod stats;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Parser;
use glase_sim::{EndpointFaults, Faults};
use serde_json::{json, Value};

use crate::lab::{
    check_answer, echo_event, sqs_event, webhook_event, BoxError, Function, Lab, BATCH,
    INVOKE_TIMEOUT,
};
use crate::proxy::CountingProxy;
use crate::stats::{median, ms, percentile};

/// The functions whose binaries are sized, and those run warm (the RNG probes only matter cold).
const SIZED: [Function; 4] = [
    Function::Echo,
    Function::Webhook,
    Function::Worker,
    Function::Events,
];
const WARMED: [Function; 5] = [
    Function::Echo,
    Function::Webhook,
    Function::Worker,
    Function::Events,
    Function::Python,
];

#[derive(Parser, Debug)]
#[command(
    about = "Cold start, per-call cost, memory, size and throughput of the functions beside a bare lambda_runtime function"
)]
struct Args {
    /// Where cargo-lambda put the binaries, as `<name>/bootstrap` (default: <target>/lambda,
    /// as `make bench` builds them with scripts/lambda-build.sh, the way `sam build` does).
    /// A plain cargo output folder (`<name>`) works too.
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// The RNG probe built with aws-lc's jitter entropy (default: <target>/lambda-jitter).
    #[arg(long)]
    jitter_bin_dir: Option<PathBuf>,
    /// The Python peer's interpreter (default: <repo>/.local/bench-python/bin/python, from
    /// scripts/install-bench-python.sh).
    #[arg(long)]
    python: Option<PathBuf>,
    /// Where results go (default: <target>/bench).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Cold starts per function.
    #[arg(long, default_value_t = 15)]
    cold_starts: usize,
    /// Warm invocations of the bare function and of the webhook.
    #[arg(long, default_value_t = 2000)]
    warm_calls: usize,
    /// Warm invocations of the worker, each a batch of 10.
    #[arg(long, default_value_t = 1000)]
    worker_batches: usize,
    /// Warm invocations of the events function, each a stream batch of 10.
    #[arg(long, default_value_t = 1000)]
    events_batches: usize,
    /// Cold starts per variant in the connection-priming comparison.
    #[arg(long, default_value_t = 7)]
    prime_runs: usize,
    /// Batches in the worker's steady-state run at 50 ms Glase latency.
    #[arg(long, default_value_t = 20)]
    steady_batches: usize,
    /// Invoices in the end-to-end run.
    #[arg(long, default_value_t = 500)]
    e2e_invoices: usize,
    /// Payments per second in the end-to-end run.
    #[arg(long, default_value_t = 25.0)]
    e2e_rate: f64,
    /// Invoices in the cost count (`--only cost`).
    #[arg(long, default_value_t = 200)]
    cost_invoices: usize,
    /// Skip the end-to-end run.
    #[arg(long)]
    no_e2e: bool,
    /// Small counts everywhere: a smoke run, not figures to publish.
    #[arg(long)]
    quick: bool,
    /// Notifications queued at once for the backlog drain (`--only backlog`).
    #[arg(long, default_value_t = 100_000)]
    backlog: usize,
    /// Seconds the backlog is drained at each number of concurrent worker invocations.
    #[arg(long, default_value_t = 20)]
    backlog_secs: u64,
    /// Concurrent worker invocations in the backlog drain (comma-separated).
    #[arg(long, value_delimiter = ',', default_values_t = [1, 2, 4])]
    backlog_invocations: Vec<usize>,
    /// Report rows per reconcile run on the in-memory ports (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "10000,100000,1000000")]
    reconcile_rows: Vec<u64>,
    /// Report rows per reconcile run on DynamoDB Local + the keep-alive SQS (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "10000,100000")]
    reconcile_real_rows: Vec<u64>,
    /// Only these sections (comma-separated): size, cold, warm, priming, keepalive, e2e; and,
    /// only when named (`make bench-scale`): backlog, reconcile, cost (docs/cost.md).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Only these functions in size, cold and warm (comma-separated): bare, webhook, worker,
    /// events, python, rng, rng-jitter.
    #[arg(long, value_delimiter = ',')]
    functions: Vec<String>,
    /// Run each function under this command, e.g. "valgrind --tool=callgrind" (for profiling:
    /// the figures are then the wrapper's, not the function's).
    #[arg(long)]
    wrap: Option<String>,
    /// Extra environment for the functions, KEY=VALUE (repeatable), e.g. MALLOC_ARENA_MAX=1.
    #[arg(long = "function-env")]
    function_env: Vec<String>,
}

impl Args {
    fn section(&self, name: &str) -> bool {
        self.only.is_empty() || self.named(name)
    }

    /// The scale sections (minutes each) run only when named: `make bench-scale`.
    fn named(&self, name: &str) -> bool {
        self.only.iter().any(|s| s == name)
    }

    fn functions(&self) -> Vec<Function> {
        Function::ALL
            .into_iter()
            .filter(|f| self.functions.is_empty() || self.functions.iter().any(|k| k == f.key()))
            .collect()
    }
}

fn repo_root() -> PathBuf {
    // tools/bench → the workspace root.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"))
}

#[tokio::main]
async fn main() {
    if let Some(code) = reconcile::child_main().await {
        std::process::exit(code);
    }
    let mut args = Args::parse();
    if args.quick {
        args.cold_starts = args.cold_starts.min(3);
        args.warm_calls = args.warm_calls.min(200);
        args.worker_batches = args.worker_batches.min(30);
        args.events_batches = args.events_batches.min(30);
        args.prime_runs = args.prime_runs.min(2);
        args.steady_batches = args.steady_batches.min(5);
        args.e2e_invoices = args.e2e_invoices.min(50);
        args.backlog = args.backlog.min(5_000);
        args.backlog_secs = args.backlog_secs.min(3);
        args.reconcile_rows.retain(|&n| n <= 10_000);
        args.reconcile_real_rows.retain(|&n| n <= 10_000);
    }
    if let Err(e) = run(args).await {
        eprintln!("[bench] failed: {e}");
        std::process::exit(1);
    }
}

async fn run(args: Args) -> Result<(), BoxError> {
    let target = target_dir();
    let bin_dir = args
        .bin_dir
        .clone()
        .unwrap_or_else(|| target.join("lambda"));
    let programs = lab::Programs {
        bin_dir: bin_dir.clone(),
        jitter_dir: args
            .jitter_bin_dir
            .clone()
            .unwrap_or_else(|| target.join("lambda-jitter")),
        python: args
            .python
            .clone()
            .unwrap_or_else(|| repo_root().join(".local/bench-python/bin/python")),
        python_dir: repo_root().join("tools/bench/python"),
    };
    let out = args.out.clone().unwrap_or_else(|| target.join("bench"));
    std::fs::create_dir_all(&out)?;
    let started = Instant::now();

    // The cost count and reconcile run no function binary: none built for them alone.
    let functions =
        if !args.only.is_empty() && args.only.iter().all(|s| s == "cost" || s == "reconcile") {
            Vec::new()
        } else {
            args.functions()
        };
    let mut lab = Lab::start(programs, &out, &functions).await?;
    lab.wrap = args
        .wrap
        .as_deref()
        .map(|w| w.split_whitespace().map(str::to_owned).collect());
    for kv in &args.function_env {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| format!("--function-env wants KEY=VALUE, got {kv:?}"))?;
        lab.extra_env.push((k.to_owned(), v.to_owned()));
    }
    let mut results = json!({
        "machine": machine(),
        "bin_dir": bin_dir.display().to_string(),
        "glase": "glase-sim (in the bench process)",
        "settings": {
            "cold_starts": args.cold_starts, "warm_calls": args.warm_calls, "worker_batches": args.worker_batches,
            "events_batches": args.events_batches, "worker_batch_size": BATCH, "events_batch_size": BATCH, "prime_runs": args.prime_runs, "steady_batches": args.steady_batches,
            "e2e_invoices": args.e2e_invoices, "e2e_rate_per_sec": args.e2e_rate, "quick": args.quick,
            "wrap": args.wrap, "function_env": args.function_env,
        },
    });

    if args.section("size") {
        eprintln!("[bench] sizes…");
        let mut sizes = serde_json::Map::new();
        for &f in functions.iter().filter(|f| SIZED.contains(f)) {
            let Some(name) = f.binary_name() else {
                continue;
            };
            let s = size::measure(&lab::binary(&bin_dir, name), f.key(), &out.join("pkg"))?;
            sizes.insert(
            f.key().into(),
            json!({"binary_bytes": s.binary_bytes, "stripped_bytes": s.stripped_bytes, "zip_bytes": s.zip_bytes, "note": s.note}),
        );
        }
        results["size"] = Value::Object(sizes);
    }
    if args.section("cold") {
        eprintln!(
            "[bench] cold starts ({} per function, interleaved)…",
            args.cold_starts
        );
        results["cold"] = cold_starts(&lab, &functions, args.cold_starts, &[]).await?;
        lab.purge_queue().await;
    }
    if args.section("warm") {
        eprintln!("[bench] warm invocations…");
        let mut warm_results = serde_json::Map::new();
        for &f in functions.iter().filter(|f| WARMED.contains(f)) {
            let n = match f {
                Function::Worker => args.worker_batches,
                Function::Events => args.events_batches,
                _ => args.warm_calls,
            };
            let (figures, concurrency) = warm(&lab, f, n, args.steady_batches, &[]).await?;
            warm_results.insert(f.key().into(), figures);
            if let Some(c) = concurrency {
                results["worker_concurrency"] = c;
            }
            lab.purge_queue().await;
        }
        results["warm"] = Value::Object(warm_results);
    }
    let both = functions.contains(&Function::Webhook) && functions.contains(&Function::Worker);
    if args.section("priming") && both {
        eprintln!(
            "[bench] connection priming ({} cold starts per variant)…",
            args.prime_runs
        );
        results["priming"] = priming(&lab, args.prime_runs).await?;
        lab.purge_queue().await;
    }

    if args.section("keepalive") {
        eprintln!("[bench] the webhooks against a keep-alive SQS stand-in…");
        results["keepalive"] =
            keepalive::run(&lab, &functions, args.cold_starts, args.warm_calls).await?;
    }
    if args.named("backlog") {
        let config =
            backlog::Config::new(args.backlog, args.backlog_secs, &args.backlog_invocations);
        results["backlog"] = backlog::run(&lab, &config).await?;
    }

    if !args.no_e2e && args.section("e2e") {
        eprintln!(
            "[bench] end to end on the make dev stack ({} invoices at {}/s)…",
            args.e2e_invoices, args.e2e_rate
        );
        let config = e2e::E2eConfig {
            invoices: args.e2e_invoices,
            rate_per_sec: args.e2e_rate,
            per_invoice_timeout: Duration::from_secs(60),
            total_timeout: Duration::from_secs(300),
        };
        results["e2e"] = match e2e::run(&lab, &config).await {
            Ok(v) => v,
            Err(e) => json!({"error": e.to_string()}),
        };
    }
    if args.named("cost") {
        eprintln!("[bench] cost count ({} invoices)…", args.cost_invoices);
        let config = cost::CostConfig {
            invoices: args.cost_invoices,
            rate_per_sec: args.e2e_rate,
            timeout: Duration::from_secs(300),
        };
        results["cost"] = cost::run(&lab, &config, &target.join("bench/results.json"))
            .await
            .unwrap_or_else(|e| json!({"error": e.to_string()}));
    }
    if args.named("reconcile") {
        results["reconcile"] =
            reconcile::run(&lab, &args.reconcile_rows, &args.reconcile_real_rows).await?;
    }
    results["bench_wall_s"] = json!(started.elapsed().as_secs_f64());

    // The functions' table only when one of its sections ran (not for the scale sections).
    let functions_measured = ["size", "cold", "warm", "priming", "keepalive", "e2e"]
        .iter()
        .any(|s| args.section(s));
    let mut table = if !functions_measured {
        String::new()
    } else {
        report::render(&results)
    };
    backlog::render(&mut table, &results);
    table.push_str(&cost::render(&results["cost"]));
    if !results["reconcile"].is_null() {
        table.push_str(&reconcile::render(&results["reconcile"]));
    }
    println!("{table}");
    let stamp = jiff::Timestamp::now()
        .strftime("%Y%m%dT%H%M%SZ")
        .to_string();
    let text = serde_json::to_string_pretty(&results)?;
    std::fs::write(out.join("results.json"), &text)?;
    std::fs::write(out.join(format!("results-{stamp}.json")), &text)?;
    std::fs::write(out.join("table.md"), &table)?;
    eprintln!(
        "[bench] wrote {}/results.json and table.md (logs in {}/logs)",
        out.display(),
        out.display()
    );
    Ok(())
}

fn machine() -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|s| s.trim_start_matches([' ', '\t', ':']).to_owned());
    let mem_kb = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| process::parse_status_kb(&m, "MemTotal:"));
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .ok();
    json!({
        "cpu": model,
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "memory_gib": mem_kb.map(|kb| (kb as f64 / 1024.0 / 1024.0 * 10.0).round() / 10.0),
        "kernel": kernel,
        "arch": std::env::consts::ARCH,
        "rustc": std::process::Command::new("rustc").arg("--version").output().ok().map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned()),
    })
}

/// The first event of a cold start, and its size in invoices.
async fn first_event(
    lab: &Lab,
    f: Function,
    seq: u64,
    batch: usize,
) -> Result<axum::body::Bytes, BoxError> {
    Ok(match f.kind() {
        Function::Webhook => webhook_event(1_000_000 + seq),
        Function::Worker => sqs_event(&lab.fresh_invoices(batch).await?),
        Function::Events => lab.fresh_stream_batch(batch),
        _ => echo_event(seq),
    })
}

async fn cold_starts(
    lab: &Lab,
    functions: &[Function],
    runs: usize,
    overrides: &[(&str, String)],
) -> Result<Value, BoxError> {
    #[derive(Default)]
    struct Samples {
        init: Vec<f64>,
        first: Vec<f64>,
        cold: Vec<f64>,
        init_rss: Vec<f64>,
    }
    let mut samples: HashMap<Function, Samples> = HashMap::new();
    for run in 0..runs {
        for &f in functions {
            let started = lab.start_function(f, overrides).await?;
            let event = first_event(lab, f, run as u64, BATCH).await?;
            let (answer, first) = started.api.invoke(event.clone(), INVOKE_TIMEOUT).await?;
            check_answer(f, &event, &answer).map_err(|e| format!("{} cold start: {e}", f.key()))?;
            let s = samples.entry(f).or_default();
            s.init.push(ms(started.init));
            s.first.push(ms(first));
            s.cold.push(ms(started.init + first));
            if let Some(rss) = started.init_rss {
                s.init_rss.push(rss as f64);
            }
        }
    }
    let mut out = serde_json::Map::new();
    for &f in functions {
        let s = samples.remove(&f).unwrap_or_default();
        out.insert(
            f.key().into(),
            json!({
                "runs": s.init.len(),
                "first_event_records": f.batch_size(),
                "init_ms_median": median(&s.init),
                "init_ms_min": percentile(&s.init, 0.0),
                "init_ms_max": percentile(&s.init, 100.0),
                "first_invocation_ms_median": median(&s.first),
                "cold_ms_median": median(&s.cold),
                "cold_ms_max": percentile(&s.cold, 100.0),
                "rss_at_init_bytes_median": median(&s.init_rss),
                "init_ms": s.init,
                "first_invocation_ms": s.first,
            }),
        );
    }
    Ok(Value::Object(out))
}

/// One process, one untimed first invocation, then `n` timed ones back to back. For the
/// worker, also the concurrency figures at 50 ms Glase latency, in the same warm process.
async fn warm(
    lab: &Lab,
    f: Function,
    n: usize,
    steady_batches: usize,
    overrides: &[(&str, String)],
) -> Result<(Value, Option<Value>), BoxError> {
    let started = lab.start_function(f, overrides).await?;
    let api = &started.api;
    let event = first_event(lab, f, 0, BATCH).await?;
    let (answer, _) = api.invoke(event.clone(), INVOKE_TIMEOUT).await?;
    check_answer(f, &event, &answer).map_err(|e| format!("{} warm-up: {e}", f.key()))?;

    let mut latencies = Vec::with_capacity(n);
    let mut errors = 0usize;
    let cpu_before = started.process.cpu();
    let wall = Instant::now();
    for i in 0..n {
        if f.kind() == Function::Webhook && i % 100 == 99 {
            // moto's SendMessage slows down as its queue grows; an SQS queue does not.
            lab.purge_queue().await;
        }
        let event = match f.kind() {
            Function::Webhook => webhook_event(2_000_000 + i as u64),
            Function::Worker => sqs_event(&lab.fresh_invoices(BATCH).await?),
            Function::Events => lab.fresh_stream_batch(BATCH),
            _ => echo_event(i as u64),
        };
        let (answer, took) = api.invoke(event.clone(), INVOKE_TIMEOUT).await?;
        if let Err(e) = check_answer(f, &event, &answer) {
            errors += 1;
            if errors <= 3 {
                eprintln!("[bench] {} invocation {i}: {e}", f.key());
            }
        }
        latencies.push(ms(took));
    }
    let wall = wall.elapsed();
    let cpu_after = started.process.cpu();
    let cpu_ms = cpu_after.ms_since(&cpu_before);
    let tick_ms = cpu_after.tick_ms_since(&cpu_before);
    let per = |total: Option<f64>| total.map(|t| t / n.max(1) as f64);
    let mut figures = json!({
        "invocations": n,
        "records_per_invocation": f.batch_size(),
        "errors": errors,
        "p50_ms": percentile(&latencies, 50.0),
        "p99_ms": percentile(&latencies, 99.0),
        "max_ms": percentile(&latencies, 100.0),
        "cpu_ms_per_invocation": per(cpu_ms),
        "cpu_ms_per_invocation_from_ticks": per(tick_ms),
        "cpu_user_share": cpu_after.user_share_since(&cpu_before),
        "cpu_source": if cpu_before.sched_ns.is_some() { "/proc/PID/task/*/schedstat (ns)" } else { "/proc/PID/stat utime+stime (ticks)" },
        "wall_s": wall.as_secs_f64(),
        "peak_rss_bytes": started.process.peak_rss(),
        "rss_at_init_bytes": started.init_rss,
        "rss_end_bytes": started.process.rss(),
        "get_next_calls": api.next_calls(),
    });
    if f.batch_size() > 1 {
        let records = f.batch_size();
        figures["invoices_per_sec"] = json!((n * records) as f64 / wall.as_secs_f64());
        figures["cpu_ms_per_invoice"] = json!(per(cpu_ms).map(|c| c / records as f64));
    }

    let concurrency = if f == Function::Worker {
        Some(worker_concurrency(lab, &started, steady_batches).await?)
    } else {
        None
    };
    let (anon, file) = started.process.rss_anon_file();
    figures["rss_end_anon_bytes"] = json!(anon);
    figures["rss_end_file_bytes"] = json!(file);
    // The peak after everything this process did.
    figures["peak_rss_bytes"] = json!(started.process.peak_rss());
    Ok((figures, concurrency))
}

async fn worker_concurrency(
    lab: &Lab,
    started: &lab::Started,
    steady_batches: usize,
) -> Result<Value, BoxError> {
    const LATENCY: Duration = Duration::from_millis(50);
    async fn single_batches(lab: &Lab, started: &lab::Started) -> Result<Vec<f64>, BoxError> {
        let mut walls = Vec::new();
        for _ in 0..5 {
            let event = sqs_event(&lab.fresh_invoices(10).await?);
            let (answer, took) = started.api.invoke(event.clone(), INVOKE_TIMEOUT).await?;
            check_answer(Function::Worker, &event, &answer)?;
            walls.push(ms(took));
        }
        Ok(walls)
    }
    // The same batches without added latency: what the local services cost on their own.
    let without = single_batches(lab, started).await?;
    let previous = lab.sim.faults();
    lab.sim.set_faults(Faults {
        invoice: EndpointFaults {
            latency: LATENCY,
            ..EndpointFaults::default()
        },
        ..previous
    });
    let result = async {
        // Single batches, one at a time.
        let single = single_batches(lab, started).await?;
        // Steady state: batches back to back, as one warm instance receives them.
        let mut events = Vec::new();
        for _ in 0..steady_batches {
            events.push(sqs_event(&lab.fresh_invoices(10).await?));
        }
        let wall = Instant::now();
        for event in events {
            let (answer, _) = started.api.invoke(event.clone(), INVOKE_TIMEOUT).await?;
            check_answer(Function::Worker, &event, &answer)?;
        }
        let wall = wall.elapsed();
        Ok::<_, BoxError>(json!({
            "glase_latency_ms": ms(LATENCY),
            "batch_size": 10,
            "batch_wall_ms_median": median(&single),
            "batch_wall_ms": single,
            "batch_wall_ms_median_without_latency": median(&without),
            "added_wall_ms_median": median(&single).zip(median(&without)).map(|(a, b)| a - b),
            "steady_batches": steady_batches,
            "steady_invoices_per_sec": (steady_batches * 10) as f64 / wall.as_secs_f64(),
            "glase": "glase-sim with faults.invoice.latency = 50 ms",
        }))
    }
    .await;
    lab.sim.set_faults(previous);
    result
}

/// Cold starts with the AWS endpoint behind a counting proxy, priming on and off: which
/// connections open during init and which during the first invocation.
async fn priming(lab: &Lab, runs: usize) -> Result<Value, BoxError> {
    let variants = [
        (Function::Webhook, 1usize),
        (Function::Worker, 1),
        (Function::Worker, 10),
    ];
    let mut out = Vec::new();
    for (f, batch) in variants {
        for prime in [true, false] {
            let mut before = Vec::new();
            let mut during = Vec::new();
            let mut second = Vec::new();
            let mut glase_during = Vec::new();
            let mut first = Vec::new();
            let mut init = Vec::new();
            for run in 0..runs {
                let (aws_upstream, var) = match f {
                    Function::Webhook => (lab.sqs_addr(), "AWS_ENDPOINT_URL_SQS"),
                    _ => (lab.ddb_addr(), "AWS_ENDPOINT_URL_DYNAMODB"),
                };
                let aws = CountingProxy::start(aws_upstream).await?;
                let glase = CountingProxy::start(lab.glase_addr()).await?;
                let mut overrides =
                    vec![(var, aws.url()), ("PRIME_CONNECTIONS", prime.to_string())];
                if f == Function::Worker {
                    overrides.push(("GLASE_BASE_URL", glase.url()));
                }
                let started = lab.start_function(f, &overrides).await?;
                let (aws_at_init, glase_at_init) = (aws.accepted(), glase.accepted());
                let event = first_event(lab, f, 5_000_000 + run as u64, batch).await?;
                let (answer, took) = started.api.invoke(event.clone(), INVOKE_TIMEOUT).await?;
                check_answer(f, &event, &answer)
                    .map_err(|e| format!("{} priming run: {e}", f.key()))?;
                let aws_after_first = aws.accepted();
                // A second invocation shows whether connections are kept between invocations.
                let event = first_event(lab, f, 6_000_000 + run as u64, batch).await?;
                let (answer, _) = started.api.invoke(event.clone(), INVOKE_TIMEOUT).await?;
                check_answer(f, &event, &answer)
                    .map_err(|e| format!("{} priming run: {e}", f.key()))?;
                second.push((aws.accepted() - aws_after_first) as f64);
                before.push(aws_at_init as f64);
                during.push((aws_after_first - aws_at_init) as f64);
                glase_during.push((glase.accepted() - glase_at_init) as f64);
                first.push(ms(took));
                init.push(ms(started.init));
            }
            out.push(json!({
                "function": f.key(),
                "first_event_records": batch,
                "prime": prime,
                "runs": runs,
                "aws_connections_during_init_median": median(&before),
                "aws_connections_during_first_invocation_median": median(&during),
                "aws_connections_during_second_invocation_median": median(&second),
                "glase_connections_during_first_invocation_median": if f == Function::Worker { median(&glase_during) } else { None },
                "init_ms_median": median(&init),
                "first_invocation_ms_median": median(&first),
                "first_invocation_ms": first,
            }));
        }
    }
    Ok(Value::Array(out))
}
