//! `glase-sim`: serve a simulated Glase, pay invoices in it, or print an issuer's token.

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use glase_shared::{AuthToken, IssuerName};
use glase_sim::{
    sample_invoices, Delimiter, EndpointFaults, Faults, IssuerConfig, LineEnding, ReportFormat,
    Sim, SimConfig,
};
use jiff::tz::TimeZone;
use secrecy::SecretString;
use serde_json::{json, Map, Value};

#[derive(Parser)]
#[command(
    name = "glase-sim",
    version,
    about = "A faithful stand-in for Glase (SEQR) Invoice Service"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve Glase's API and the admin API (/_sim/…).
    Serve(ServeArgs),
    /// Pay invoices in a running simulator (through its admin API) and print them as JSON lines.
    Pay(Box<PayArgs>),
    /// Print the X-Auth-Token for an issuer: lower-case hex sha256(issuer + secret).
    Token(TokenArgs),
}

#[derive(Args)]
struct ServeArgs {
    #[arg(long, env = "GLASE_SIM_PORT", default_value_t = 4000)]
    port: u16,
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// NAME:SECRET[:NOTIFY_URL], repeatable. The secret may not contain ':'.
    #[arg(long = "issuer", value_name = "NAME:SECRET[:NOTIFY_URL]", value_parser = parse_issuer,
          default_value = "demo:demo-secret:http://127.0.0.1:3000/notifications")]
    issuers: Vec<IssuerConfig>,
    /// Multiplies every notification delay (0.001 runs Glase's ~32 h schedule in ~2 min).
    #[arg(long, default_value_t = 1.0)]
    time_scale: f64,
    /// Seeds ersReference values and fault decisions.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// IANA zone of Glase's wall clock (purchaseTime, report dates).
    #[arg(long, default_value = "UTC")]
    time_zone: String,
    /// Share of /api requests answered 500 (0..1).
    #[arg(long, default_value_t = 0.0)]
    error_rate: f64,
    /// Share of /api requests answered 429 (0..1).
    #[arg(long, default_value_t = 0.0)]
    too_many_rate: f64,
    /// Share of /api requests held open for 5 minutes (0..1).
    #[arg(long, default_value_t = 0.0)]
    hang_rate: f64,
    /// Added to every /api request, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Start without the three sample invoices per issuer.
    #[arg(long)]
    no_seed_invoices: bool,
    /// Write the report without its header line.
    #[arg(long)]
    report_no_header: bool,
    /// The report's delimiter.
    #[arg(long, value_parser = ["," , ";"], default_value = ",")]
    report_delimiter: String,
    /// The report's line ending.
    #[arg(long, value_parser = ["crlf", "lf"], default_value = "crlf")]
    report_line_ending: String,
    /// Start with the webhooks down: notification attempts fail without being sent
    /// (PUT /_sim/outage {"webhook": false} brings them back).
    #[arg(long)]
    webhook_outage: bool,
}

#[derive(Args)]
struct PayArgs {
    /// Base URL of the running simulator.
    #[arg(long, env = "GLASE_SIM_URL", default_value = "http://127.0.0.1:4000")]
    sim: String,
    #[arg(long, default_value = "demo")]
    issuer: String,
    /// Exact decimal amount, at most two decimals.
    #[arg(long, default_value = "59.99")]
    amount: String,
    #[arg(long, default_value = "GBP")]
    currency: String,
    /// `{n}` is replaced by the payment's number (1..=count).
    #[arg(long, default_value = "Phone invoice 05.2015")]
    description: String,
    /// `{n}` is replaced by the payment's number (1..=count).
    #[arg(long, default_value = "586930/05/2015")]
    reference: String,
    #[arg(long)]
    payer_msisdn: Option<String>,
    #[arg(long)]
    payer_first_name: Option<String>,
    #[arg(long)]
    payer_last_name: Option<String>,
    #[arg(long)]
    payer_street: Option<String>,
    #[arg(long)]
    payer_city: Option<String>,
    #[arg(long)]
    payer_zip: Option<String>,
    #[arg(long)]
    payer_country: Option<String>,
    /// Notify this URL instead of the issuer's.
    #[arg(long)]
    notify_url: Option<String>,
    /// ISO 8601 (2015-05-15T15:37:33Z) or dd.MM.yyyy HH:mm:ss in the simulator's zone; default now.
    #[arg(long)]
    purchase_time: Option<String>,
    /// How many invoices to pay.
    #[arg(long, default_value_t = 1)]
    count: u32,
}

#[derive(Args)]
struct TokenArgs {
    #[arg(long)]
    issuer: String,
    #[arg(long)]
    secret: String,
}

fn parse_issuer(text: &str) -> Result<IssuerConfig, String> {
    let mut parts = text.splitn(3, ':');
    let name = parts.next().unwrap_or_default();
    let secret = parts.next().ok_or("expected NAME:SECRET[:NOTIFY_URL]")?;
    IssuerName::parse(name).map_err(|e| e.to_string())?;
    if secret.is_empty() {
        return Err("the secret must not be empty".into());
    }
    let mut issuer = IssuerConfig::new(name, secret);
    if let Some(url) = parts.next().filter(|u| !u.is_empty()) {
        issuer = issuer.with_notify_url(url);
    }
    Ok(issuer)
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::Pay(args) => pay(*args).await,
        Command::Token(args) => token(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("glase-sim: {msg}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: ServeArgs) -> Result<(), String> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        // Colour only for a person at a terminal, and never with NO_COLOR set (no-color.org).
        .with_ansi(
            std::io::IsTerminal::is_terminal(&std::io::stdout())
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        )
        .init();

    let time_zone = TimeZone::get(&args.time_zone)
        .map_err(|e| format!("unknown time zone {:?}: {e}", args.time_zone))?;
    let endpoint = EndpointFaults {
        error_rate: args.error_rate,
        too_many_rate: args.too_many_rate,
        hang_rate: args.hang_rate,
        latency: Duration::from_millis(args.latency_ms),
    };
    let initial_invoices = if args.no_seed_invoices {
        Vec::new()
    } else {
        args.issuers
            .iter()
            .flat_map(|i| sample_invoices(&i.name, &time_zone))
            .collect()
    };
    for issuer in &args.issuers {
        tracing::info!(issuer = %issuer.name, notify_url = issuer.notify_url.as_deref().unwrap_or("-"), "issuer configured");
    }
    let config = SimConfig {
        issuers: args.issuers,
        time_scale: args.time_scale,
        seed: args.seed,
        faults: Faults::everywhere(endpoint),
        time_zone,
        initial_invoices,
        report_format: ReportFormat {
            header: !args.report_no_header,
            delimiter: if args.report_delimiter == ";" {
                Delimiter::Semicolon
            } else {
                Delimiter::Comma
            },
            line_ending: if args.report_line_ending == "lf" {
                LineEnding::Lf
            } else {
                LineEnding::Crlf
            },
        },
    };
    let sim = Sim::try_new(config).map_err(|e| e.to_string())?;
    sim.set_webhook_outage(args.webhook_outage);
    let running = sim
        .spawn_server(SocketAddr::new(args.host, args.port))
        .await
        .map_err(|e| format!("cannot listen on {}:{}: {e}", args.host, args.port))?;
    tracing::info!(base_url = %running.base_url(), time_scale = args.time_scale, "glase-sim ready; Ctrl-C to stop");
    stop_signal().await;
    tracing::info!("stopping");
    running.shutdown().await;
    Ok(())
}

/// Ctrl-C, or SIGTERM on Unix.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

async fn pay(args: PayArgs) -> Result<(), String> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
    let url = format!("{}/_sim/invoices", args.sim.trim_end_matches('/'));
    let mut payer = Map::new();
    for (key, value) in [
        ("msisdn", &args.payer_msisdn),
        ("firstName", &args.payer_first_name),
        ("lastName", &args.payer_last_name),
        ("street", &args.payer_street),
        ("city", &args.payer_city),
        ("zip", &args.payer_zip),
        ("country", &args.payer_country),
    ] {
        if let Some(v) = value {
            payer.insert(key.to_owned(), Value::String(v.clone()));
        }
    }
    for n in 1..=args.count {
        let number = n.to_string();
        let mut body = json!({
            "issuer": args.issuer,
            "amount": args.amount,
            "currency": args.currency,
            "description": args.description.replace("{n}", &number),
            "reference": args.reference.replace("{n}", &number),
        });
        if !payer.is_empty() {
            body["payer"] = Value::Object(payer.clone());
        }
        if let Some(u) = &args.notify_url {
            body["notifyUrl"] = json!(u);
        }
        if let Some(t) = &args.purchase_time {
            body["purchaseTime"] = json!(t);
        }
        let response = client
            .post(&url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| format!("cannot reach the simulator at {url}: {e}"))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| format!("cannot read the answer: {e}"))?;
        if !status.is_success() {
            return Err(format!("the simulator answered {status}: {text}"));
        }
        println!("{text}");
    }
    Ok(())
}

fn token(args: &TokenArgs) -> Result<(), String> {
    let issuer = IssuerName::parse(&args.issuer).map_err(|e| e.to_string())?;
    let token = AuthToken::derive(&issuer, &SecretString::from(args.secret.clone()));
    println!("{}", token.expose());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn issuer_flag_takes_name_secret_and_an_optional_url_with_colons() {
        let i = parse_issuer("shop:s3cret:http://127.0.0.1:3000/notifications").unwrap();
        assert_eq!((i.name.as_str(), i.secret.as_str()), ("shop", "s3cret"));
        assert_eq!(
            i.notify_url.as_deref(),
            Some("http://127.0.0.1:3000/notifications")
        );
        assert_eq!(parse_issuer("shop:s3cret").unwrap().notify_url, None);
        assert!(parse_issuer("shop").is_err());
        assert!(parse_issuer("shop:").is_err());
        assert!(parse_issuer(":secret").is_err());
    }

    #[test]
    fn serve_defaults_to_the_demo_issuer_and_the_real_schedule() {
        let cli = Cli::try_parse_from(["glase-sim", "serve"]).unwrap();
        let Command::Serve(args) = cli.command else {
            panic!("not serve")
        };
        assert_eq!(args.issuers.len(), 1);
        assert_eq!(args.issuers[0].name, "demo");
        assert_eq!(
            args.issuers[0].notify_url.as_deref(),
            Some("http://127.0.0.1:3000/notifications")
        );
        assert_eq!(args.time_scale, 1.0);
    }
}
