//! `glase-dev`: the local main job (`make dev`), the demo (`make demo`) and table look-ups.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use glase_local::stack::{Endpoint, GlaseChoice, Stack, StackConfig};
use glase_shared::adapters::dynamo::item_to_record;
use glase_shared::ports::InvoiceRecord;
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
    /// Pay invoices in the simulator and watch them arrive in the table.
    Demo {
        #[arg(long, default_value_t = 20)]
        count: u32,
        #[arg(long, default_value_t = 60)]
        timeout_secs: u64,
    },
    /// Print one invoice item as JSON.
    Get { invoice_id: u64 },
    /// List the table's items, one line each.
    List,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .compact()
        .init();
    let cli = Cli::parse();
    let ports = cli.ports.clone();
    match cli.command.unwrap_or(Command::Up(cli.up)) {
        Command::Up(args) => up(ports, args.queue_name, args.queue_url, args.time_scale).await,
        Command::Demo {
            count,
            timeout_secs,
        } => demo(ports, count, Duration::from_secs(timeout_secs)).await,
        Command::Get { invoice_id } => get(ports, invoice_id).await,
        Command::List => list(ports).await,
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
        env("WEBHOOK_TOKEN").unwrap_or_else(|| glase_local::stack::DEV_WEBHOOK_TOKEN.to_owned()),
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
    let notify = &stack.notify_url;
    println!(
        r#"
glase-invoices is running locally — the same handler code as the Lambdas.

  webhook     POST {notify}
  Glase       {glase} {sim_note}
  DynamoDB    {ddb}  table {table}
  SQS         {sqs}
  queue       {queue}
  dead letter {dlq}

Try next (in another terminal):
  make demo                                   # pay 20 invoices in the simulator, watch them arrive
  cargo run -q -p glase-sim -- pay --sim {glase} --amount 12.50 --reference my-ref-1
  curl -s -X POST {notify} -H 'content-type: application/json' -d '{{"invoiceId": 1001}}'
  cargo run -q -p glase-local --bin glase-dev -- get 1001     # the stored item
  cargo run -q -p glase-local --bin glase-dev -- list

Ctrl-C stops everything."#,
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

fn dynamodb(ports: &Ports) -> aws_sdk_dynamodb::Client {
    glase_local::aws::dynamodb(&format!("http://127.0.0.1:{}", ports.dynamodb_port))
}

type Item = std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>;

async fn get_item(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    id: u64,
) -> Result<Option<Item>, Box<dyn std::error::Error>> {
    let out = client
        .get_item()
        .table_name(table)
        .key(
            "invoiceId",
            aws_sdk_dynamodb::types::AttributeValue::N(id.to_string()),
        )
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string())?;
    Ok(out.item().cloned())
}

async fn get_record(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    id: u64,
) -> Result<Option<InvoiceRecord>, Box<dyn std::error::Error>> {
    Ok(get_item(client, table, id)
        .await?
        .as_ref()
        .map(item_to_record)
        .transpose()?)
}

fn summary(id: u64, record: &InvoiceRecord) -> String {
    match record {
        InvoiceRecord::Stored { invoice, .. } => format!(
            "{id}  STORED    {} {}  ref {:?}  paid {}",
            invoice.amount, invoice.currency, invoice.reference, invoice.purchase_time
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
    let ddb = dynamodb(&ports);
    let mut paid = Vec::new();
    println!("paying {count} invoices in glase-sim at {sim}…");
    for i in 1..=count {
        let body = serde_json::json!({
            "amount": format!("{}.{:02}", 5 + i * 3, (i * 37) % 100),
            "currency": if i % 3 == 0 { "EUR" } else { "GBP" },
            "description": format!("Demo invoice {i}"),
            "reference": format!("DEMO-{:04}", i),
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
        let id = invoice["id"].as_u64().ok_or("glase-sim returned no id")?;
        paid.push((id, Instant::now()));
    }
    println!("waiting for them in table {}…", ports.table_name);
    let deadline = Instant::now() + timeout;
    let mut pending = paid;
    while !pending.is_empty() && Instant::now() < deadline {
        let mut still = Vec::new();
        for (id, since) in pending {
            match get_record(&ddb, &ports.table_name, id).await? {
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
        Err(format!(
            "{} invoices not stored within {timeout:?}: {:?}",
            pending.len(),
            pending.iter().map(|p| p.0).collect::<Vec<_>>()
        )
        .into())
    }
}

async fn get(ports: Ports, id: u64) -> Result<(), Box<dyn std::error::Error>> {
    let Some(item) = get_item(&dynamodb(&ports), &ports.table_name, id).await? else {
        return Err(format!("no item for invoice {id} in {}", ports.table_name).into());
    };
    let mut json = serde_json::Map::new();
    let mut keys: Vec<_> = item.keys().collect();
    keys.sort();
    for key in keys {
        let value = match &item[key] {
            aws_sdk_dynamodb::types::AttributeValue::S(s) => serde_json::Value::String(s.clone()),
            // Numbers are printed as their exact decimal text, never through a float.
            aws_sdk_dynamodb::types::AttributeValue::N(n) => serde_json::Value::String(n.clone()),
            other => serde_json::Value::String(format!("{other:?}")),
        };
        json.insert(key.clone(), value);
    }
    println!("{}", serde_json::to_string_pretty(&json)?);
    Ok(())
}

async fn list(ports: Ports) -> Result<(), Box<dyn std::error::Error>> {
    let client = dynamodb(&ports);
    let mut pages = client
        .scan()
        .table_name(&ports.table_name)
        .into_paginator()
        .items()
        .send();
    let mut rows = Vec::new();
    while let Some(item) = pages.next().await {
        let item = item.map_err(|e| aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string())?;
        let id = match item.get("invoiceId") {
            Some(aws_sdk_dynamodb::types::AttributeValue::N(n)) => n.parse().unwrap_or(0),
            _ => 0,
        };
        match item_to_record(&item) {
            Ok(record) => rows.push((id, summary(id, &record))),
            Err(e) => rows.push((id, format!("{id}  (unreadable item: {e})"))),
        }
    }
    rows.sort();
    for (_, line) in &rows {
        println!("{line}");
    }
    println!("{} items", rows.len());
    Ok(())
}
