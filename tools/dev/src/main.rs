//! `glase-dev`: the local main job (`make dev`) and the demo (`make demo`). Queries are
//! `glase-invoices`' (cli/), against these same local services.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use std::io::IsTerminal;

use clap::{Parser, Subcommand};
use glase_dev::banner::{self, LocalServices};
use glase_dev::stack::{Endpoint, GlaseChoice, Stack, StackConfig};
use glase_shared::adapters::DynamoStore;
use glase_shared::ports::InvoiceRecord;
use glase_shared::InvoiceId;
use glase_sim::{IssuerConfig, SimConfig};
use secrecy::SecretString;

#[derive(Parser)]
#[command(
    name = "glase-dev",
    about = "Run the glase-invoices pipeline locally",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    ports: Ports,
    /// `up`'s options, so that `glase-dev` alone reads the same flags and variables.
    #[command(flatten)]
    up: UpArgs,
}

#[derive(clap::Args, Clone)]
struct UpArgs {
    #[arg(long, env = "QUEUE_NAME", default_value = "glase-notifications")]
    queue_name: String,
    /// Use this existing queue instead of creating one.
    #[arg(long, env = "QUEUE_URL")]
    queue_url: Option<String>,
    /// glase-sim's notification retry schedule speed (1.0 = Glase's real ~32 h).
    #[arg(long, env = "GLASE_TIME_SCALE", default_value_t = 1.0)]
    time_scale: f64,
}

#[derive(clap::Args, Clone)]
struct Ports {
    #[arg(long, env = "WEBHOOK_PORT", default_value_t = 3000, global = true)]
    webhook_port: u16,
    #[arg(long, env = "DYNAMODB_PORT", default_value_t = 8000, global = true)]
    dynamodb_port: u16,
    #[arg(long, env = "SQS_PORT", default_value_t = 9324, global = true)]
    sqs_port: u16,
    #[arg(long, env = "GLASE_SIM_PORT", default_value_t = 4000, global = true)]
    glase_sim_port: u16,
    #[arg(
        long,
        env = "TABLE_NAME",
        default_value = "glase-invoices",
        global = true
    )]
    table_name: String,
}

#[derive(Subcommand)]
enum Command {
    /// Start everything and run until Ctrl-C (the default).
    Up(UpArgs),
    /// Pay invoices in the simulator and watch them arrive in the table, then show their
    /// InvoicePaid events.
    Demo {
        #[arg(long, default_value_t = DEMO_COUNT)]
        count: u32,
        #[arg(long, default_value_t = 60)]
        timeout_secs: u64,
        /// Stop once they are stored; `events` shows their events later (`make demo` lists
        /// the invoices in between, so that it ends with the events).
        #[arg(long)]
        no_events: bool,
    },
    /// Show the InvoicePaid events on the local bus (read once), waiting up to 15 s for `count`
    /// of the demo's.
    Events {
        #[arg(long, default_value_t = DEMO_COUNT)]
        count: u32,
    },
}

/// Invoices `make demo` pays, and events it then waits for.
const DEMO_COUNT: u32 = 20;

/// The start of every reference `make demo` pays: its events are told from others' by it.
const DEMO_REFERENCE: &str = "DEMO-";

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // One plain line, not the Debug form `main` returning an error would print.
            eprintln!(
                "glase-dev: {}",
                glase_shared::telemetry::error_chain(e.as_ref())
            );
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(banner::colour(std::io::stdout().is_terminal()))
        .compact()
        .init();
    let cli = Cli::parse();
    let ports = cli.ports.clone();
    match cli.command.unwrap_or(Command::Up(cli.up)) {
        Command::Up(args) => up(ports, args.queue_name, args.queue_url, args.time_scale).await,
        Command::Demo {
            count,
            timeout_secs,
            no_events,
        } => {
            demo(ports.clone(), count, Duration::from_secs(timeout_secs)).await?;
            if !no_events {
                show_events(&ports, count as usize).await;
            }
            Ok(())
        }
        Command::Events { count } => {
            show_events(&ports, count as usize).await;
            Ok(())
        }
    }
}

async fn up(
    ports: Ports,
    queue_name: String,
    queue_url: Option<String>,
    time_scale: f64,
) -> Result<(), Box<dyn std::error::Error>> {
    let external = match (env("GLASE_BASE_URL"), env("GLASE_ISSUER"), env("GLASE_SECRET")) {
        (Some(base_url), Some(issuer), Some(secret)) => {
            Some(GlaseChoice::External { base_url, issuer, secret: SecretString::from(secret) })
        }
        (None, None, None) => None,
        _ => return Err("set all three of GLASE_BASE_URL, GLASE_ISSUER and GLASE_SECRET to use a real Glase, or none".into()),
    };
    let webhook_token = SecretString::from(
        env("WEBHOOK_TOKEN").unwrap_or_else(|| glase_dev::stack::DEV_WEBHOOK_TOKEN.to_owned()),
    );
    let glase = external.unwrap_or_else(|| GlaseChoice::Sim {
        port: ports.glase_sim_port,
        config: SimConfig {
            issuers: vec![IssuerConfig::new("demo", "demo-secret")],
            time_scale,
            ..SimConfig::default()
        },
    });
    let using_sim = matches!(glase, GlaseChoice::Sim { .. });
    let config = StackConfig {
        webhook_addr: SocketAddr::from(([127, 0, 0, 1], ports.webhook_port)),
        dynamodb: Endpoint::Start {
            port: ports.dynamodb_port,
        },
        sqs: Endpoint::Start {
            port: ports.sqs_port,
        },
        glase,
        table_name: ports.table_name.clone(),
        queue_name,
        queue_url,
        webhook_token,
        ..StackConfig::default()
    };
    println!(
        "starting DynamoDB Local, moto (SQS){}…",
        if using_sim { ", glase-sim" } else { "" }
    );
    let stack = Stack::start(config).await?;
    let notify = stack.notify_url.clone();
    let services = LocalServices {
        notify_url: notify,
        glase_url: stack.glase_base_url.clone(),
        dynamodb_endpoint: stack.dynamodb_endpoint.clone(),
        sqs_endpoint: stack.sqs_endpoint.clone(),
        table: stack.table_name.clone(),
        queue_url: stack.queue_url.clone(),
        dlq_url: stack.dlq_url.clone(),
    };
    println!(
        r#"
glase-invoices is running locally — the same handler code as the Lambdas.

  webhook     POST {notify}
  Glase       {glase} {sim_note}
  DynamoDB    {ddb}  table {table}  (in memory: gone at Ctrl-C)
  SQS         {sqs}
  queue       {queue}
  dead letter {dlq}

{try_next}
{events}
Ctrl-C stops everything."#,
        notify = services.notify_url,
        glase = stack.glase_base_url,
        sim_note = if using_sim {
            "(glase-sim: issuer demo / demo-secret; 3 seeded invoices 1000-1002, not notified)"
        } else {
            "(external)"
        },
        ddb = stack.dynamodb_endpoint,
        table = stack.table_name,
        sqs = stack.sqs_endpoint,
        queue = stack.queue_url,
        dlq = if stack.dlq_url.is_empty() {
            "(existing queue: its own redrive policy)"
        } else {
            &stack.dlq_url
        },
        try_next = banner::try_next(&services),
        events = banner::events_hint(&stack.sqs_endpoint, &stack.events_queue_url),
    );
    shutdown_signal().await;
    println!("\nstopping…");
    stack.shutdown().await;
    println!("stopped.");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

fn store(ports: &Ports) -> DynamoStore {
    DynamoStore::new(
        glase_dev::aws::dynamodb(&format!("http://127.0.0.1:{}", ports.dynamodb_port)),
        &ports.table_name,
    )
}

fn summary(id: InvoiceId, record: &InvoiceRecord) -> String {
    match record {
        InvoiceRecord::Stored { invoice, .. } => format!(
            "{id}  STORED    {} {}  ref {:?}  paid {}",
            invoice.amount.format_in(&invoice.currency),
            invoice.currency,
            invoice.reference,
            invoice.purchase_time
        ),
        InvoiceRecord::Rejected { rejection, .. } => {
            format!("{id}  REJECTED  {}: {}", rejection.code, rejection.reason)
        }
        InvoiceRecord::Processing {
            attempts,
            last_error,
            ..
        } => {
            format!(
                "{id}  PROCESSING attempt {attempts}{}",
                last_error
                    .as_ref()
                    .map(|e| format!(", last error: {e}"))
                    .unwrap_or_default()
            )
        }
    }
}

async fn demo(
    ports: Ports,
    count: u32,
    timeout: Duration,
) -> Result<(), Box<dyn std::error::Error>> {
    let http = reqwest::Client::new();
    let sim = format!("http://127.0.0.1:{}", ports.glase_sim_port);
    let store = store(&ports);
    let mut paid = Vec::new();
    println!("paying {count} invoices in glase-sim at {sim}…");
    for i in 1..=count {
        let body = serde_json::json!({
            "amount": format!("{}.{:02}", 5 + i * 3, (i * 37) % 100),
            "currency": if i % 3 == 0 { "EUR" } else { "GBP" },
            "description": format!("Demo invoice {i}"),
            "reference": format!("{DEMO_REFERENCE}{:04}", i),
        });
        let resp = http
            .post(format!("{sim}/_sim/invoices"))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| {
                format!("could not reach glase-sim at {sim} — is `make dev` running? ({e})")
            })?;
        let status = resp.status();
        let text = resp.text().await?;
        if !status.is_success() {
            return Err(format!("glase-sim refused the payment ({status}): {text}").into());
        }
        let invoice: serde_json::Value = serde_json::from_str(&text)?;
        let id = invoice["id"]
            .as_u64()
            .and_then(|id| InvoiceId::new(id).ok())
            .ok_or("glase-sim returned no id")?;
        paid.push((id, Instant::now()));
    }
    println!("waiting for them in table {}…", ports.table_name);
    let deadline = Instant::now() + timeout;
    let mut pending = paid;
    while !pending.is_empty() && Instant::now() < deadline {
        let mut still = Vec::new();
        for (id, since) in pending {
            match store.get(id).await? {
                Some(record @ InvoiceRecord::Stored { .. }) => {
                    println!(
                        "  +{:>5} ms  {}",
                        since.elapsed().as_millis(),
                        summary(id, &record)
                    );
                }
                _ => still.push((id, since)),
            }
        }
        pending = still;
        if !pending.is_empty() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    if pending.is_empty() {
        println!("all {count} invoices stored.");
        Ok(())
    } else {
        let ids: Vec<String> = pending.iter().map(|p| p.0.to_string()).collect();
        Err(format!(
            "{} invoices not stored within {} s: {}",
            pending.len(),
            timeout.as_secs(),
            ids.join(", ")
        )
        .into())
    }
}

/// The demo's `InvoicePaid` events, read back from the queue the local bus's rule fills (they
/// are consumed: read once).
async fn show_events(ports: &Ports, count: usize) {
    let sqs = glase_dev::aws::sqs(&format!("http://127.0.0.1:{}", ports.sqs_port));
    let url = match sqs
        .get_queue_url()
        .queue_name(format!("{}-events", glase_dev::stack::DEV_EVENT_BUS))
        .send()
        .await
    {
        Ok(out) => out.queue_url().unwrap_or_default().to_owned(),
        Err(_) => {
            println!("(no local event bus: is this make dev's moto?)");
            return;
        }
    };
    println!("their InvoicePaid events on the local bus (docs/events.md):");
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut seen = 0;
    while seen < count && Instant::now() < deadline {
        let Ok(out) = sqs
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
        else {
            break;
        };
        for m in out.messages() {
            let event: serde_json::Value =
                serde_json::from_str(m.body().unwrap_or_default()).unwrap_or_default();
            let d = &event["detail"];
            println!(
                "  {:<15} invoice {:>6}  {:>10} {}  {}",
                event["detail-type"].as_str().unwrap_or("?"),
                d["invoiceId"],
                d["amount"].as_str().unwrap_or(""),
                d["currency"].as_str().unwrap_or(""),
                d["reference"].as_str().unwrap_or(""),
            );
            // Only the demo's own count: another invoice's event (one paid before the demo)
            // must not end the wait before the demo's last event is read.
            seen += usize::from(
                event["detail-type"] == "InvoicePaid"
                    && d["reference"]
                        .as_str()
                        .is_some_and(|r| r.starts_with(DEMO_REFERENCE)),
            );
            let _ = sqs
                .delete_message()
                .queue_url(&url)
                .receipt_handle(m.receipt_handle().unwrap_or_default())
                .send()
                .await;
        }
    }
    if seen < count {
        println!("  ({seen} of {count} seen within 15 s)");
    }
}
