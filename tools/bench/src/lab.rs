//! The bench's surroundings: DynamoDB Local, moto (SQS, EventBridge), glase-sim, and the
//! function binaries, plus starting a function against its own Runtime API and invoking it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use glase_dev::services::{free_port, start_dynamodb_local, start_moto, ServiceProcess};
use glase_sim::{Faults, IssuerConfig, NewInvoice, RunningSim, Sim, SimConfig};
use serde_json::{json, Value};

use crate::process::FunctionProcess;
use glase_dev::runtime_api::{Answer, RuntimeApi};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

pub const ISSUER: &str = "bench";
/// sha256 of the token in events/apigw-notification.json's path.
const FIXTURE_TOKEN_SHA256: &str =
    "e89834bf083ed5b5a607141dfb4faaed73b0c7634ca692612f2af1f6aba0c27a";
pub const SECRET: &str = "bench-secret";
/// Per-invocation limit; a healthy invocation here takes milliseconds.
pub const INVOKE_TIMEOUT: Duration = Duration::from_secs(30);
const APIGW_FIXTURE: &str = include_str!("../../../events/apigw-notification.json");
/// Records per batch for the worker (SQS) and the events function (the table's stream).
pub const BATCH: usize = 10;
/// The events function's bus, created in moto's EventBridge.
const EVENT_BUS: &str = "bench-events";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Function {
    Echo,
    Webhook,
    Worker,
    /// The events function: DynamoDB stream batches in, PutEvents to moto's EventBridge.
    Events,
    /// The peer: the same webhook in Python 3 + boto3 under awslambdaric.
    Python,
    /// The bare function plus one aws-lc random draw per call, as shipped (no jitter entropy).
    Rng,
    /// The same, with aws-lc built with its jitter entropy source (aws-lc-sys's default).
    RngJitter,
}

impl Function {
    pub const ALL: [Function; 7] = [
        Function::Echo,
        Function::Webhook,
        Function::Worker,
        Function::Events,
        Function::Python,
        Function::Rng,
        Function::RngJitter,
    ];

    /// The Rust package and binary (cargo-lambda's `<name>/bootstrap`); none for Python.
    pub fn binary_name(self) -> Option<&'static str> {
        match self {
            Function::Echo => Some("bench-echo"),
            Function::Webhook => Some("glase-webhook"),
            Function::Worker => Some("glase-worker"),
            Function::Events => Some("glase-events"),
            Function::Rng | Function::RngJitter => Some("bench-rng"),
            Function::Python => None,
        }
    }

    pub fn key(self) -> &'static str {
        match self {
            Function::Echo => "bare",
            Function::Webhook => "webhook",
            Function::Worker => "worker",
            Function::Events => "events",
            Function::Python => "python",
            Function::Rng => "rng",
            Function::RngJitter => "rng-jitter",
        }
    }

    /// Records per invocation: the worker and the events function take batches of
    /// [`BATCH`], the others one event.
    pub fn batch_size(self) -> usize {
        match self.kind() {
            Function::Worker | Function::Events => BATCH,
            _ => 1,
        }
    }

    /// What its answer and its events look like.
    pub fn kind(self) -> Function {
        match self {
            Function::Python => Function::Webhook,
            Function::Rng | Function::RngJitter => Function::Echo,
            f => f,
        }
    }
}

/// Where the functions' code is: cargo-lambda's output (`<dir>/<binary>/bootstrap`, what
/// `sam build` deploys), the jitter build of the RNG probe, and the Python peer.
#[derive(Debug, Clone)]
pub struct Programs {
    pub bin_dir: PathBuf,
    pub jitter_dir: PathBuf,
    /// The venv's python (scripts/install-bench-python.sh) and the handler's folder.
    pub python: PathBuf,
    pub python_dir: PathBuf,
}

impl Programs {
    /// The program and arguments that start `f`.
    pub fn command(&self, f: Function) -> (PathBuf, Vec<String>) {
        match (f, f.binary_name()) {
            (Function::Python, _) | (_, None) => (
                self.python.clone(),
                vec!["-m".into(), "awslambdaric".into(), "webhook.handler".into()],
            ),
            (Function::RngJitter, Some(name)) => (binary(&self.jitter_dir, name), Vec::new()),
            (_, Some(name)) => (binary(&self.bin_dir, name), Vec::new()),
        }
    }
}

/// cargo-lambda's layout (`<dir>/<name>/bootstrap`), else cargo's (`<dir>/<name>`).
pub fn binary(dir: &Path, name: &str) -> PathBuf {
    let lambda = dir.join(name).join("bootstrap");
    if lambda.is_file() {
        lambda
    } else {
        dir.join(name)
    }
}

pub struct Lab {
    pub programs: Programs,
    pub logs: PathBuf,
    pub ddb_endpoint: String,
    pub sqs_endpoint: String,
    pub sqs: aws_sdk_sqs::Client,
    pub table: String,
    pub queue_url: String,
    pub dlq_url: String,
    pub sim: Sim,
    pub glase_url: String,
    stream_ids: FreshIds,
    /// A command the functions run under (e.g. valgrind), if any.
    pub wrap: Option<Vec<String>>,
    /// Added to every function's environment.
    pub extra_env: Vec<(String, String)>,
    _running_sim: RunningSim,
    // Dropped (killed) last.
    _ddb: ServiceProcess,
    _moto: ServiceProcess,
}

/// Invoice ids for stream batches, each handed out once: every batch is about invoices never
/// seen before, as the worker's stores are.
#[derive(Debug)]
pub struct FreshIds(AtomicU64);

impl Default for FreshIds {
    fn default() -> Self {
        Self(AtomicU64::new(10_000_000))
    }
}

impl FreshIds {
    pub fn take(&self, n: usize) -> Vec<u64> {
        let first = self.0.fetch_add(n as u64, Ordering::Relaxed);
        (first..first + n as u64).collect()
    }
}

/// A started function: its process and its Runtime API.
pub struct Started {
    pub process: FunctionProcess,
    pub api: RuntimeApi,
    /// Process start → first `GET /next`.
    pub init: Duration,
    /// VmHWM at the first `GET /next`.
    pub init_rss: Option<u64>,
}

impl Lab {
    /// Starts the local services and glase-sim; must run on the thread that lives as long as
    /// the bench (the services' death signal is tied to it).
    pub async fn start(
        programs: Programs,
        out: &Path,
        functions: &[Function],
    ) -> Result<Self, BoxError> {
        let logs = out.join("logs");
        std::fs::create_dir_all(&logs)?;
        for &f in functions {
            let (program, _) = programs.command(f);
            if !program.is_file() {
                let how = match f {
                    Function::Python => "run scripts/install-bench-python.sh".to_owned(),
                    _ => format!(
                        "build it with `make bench` (scripts/lambda-build.sh x86_64 {})",
                        f.binary_name().unwrap_or_default()
                    ),
                };
                return Err(format!("{} is missing: {how}", program.display()).into());
            }
            // A fresh log per run.
            let _ = std::fs::remove_file(logs.join(format!("{}.log", f.key())));
        }
        eprintln!("[bench] starting DynamoDB Local and moto (SQS, EventBridge)…");
        let ddb_proc = start_dynamodb_local(free_port()?, true)?;
        let moto = start_moto(free_port()?, true)?;
        let (ddb_endpoint, sqs_endpoint) = (ddb_proc.endpoint(), moto.endpoint());
        let sqs = glase_dev::aws::sqs(&sqs_endpoint);
        let ddb = glase_dev::aws::dynamodb(&ddb_endpoint);
        let table = "bench-invoices".to_owned();
        glase_shared::adapters::dynamo::ensure_table(&ddb, &table).await?;
        let (queue_url, dlq_url) =
            glase_dev::aws::create_queues(&sqs, "bench-notifications", 30, 5).await?;
        let aws = glase_dev::aws::local_config(&ddb_endpoint, &sqs_endpoint);
        aws_sdk_eventbridge::Client::new(&aws)
            .create_event_bus()
            .name(EVENT_BUS)
            .send()
            .await?;

        let config = SimConfig {
            issuers: vec![IssuerConfig::new(ISSUER, SECRET)],
            time_scale: 0.001,
            seed: 7,
            faults: Faults::default(),
            initial_invoices: Vec::new(),
            ..SimConfig::default()
        };
        let running = Sim::serve(config, SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let sim = running.sim();
        let glase_url = running.base_url();
        Ok(Self {
            programs,
            logs,
            ddb_endpoint,
            sqs_endpoint,
            sqs,
            table,
            queue_url,
            dlq_url,
            sim,
            glase_url,
            stream_ids: FreshIds::default(),
            wrap: None,
            extra_env: Vec::new(),
            _running_sim: running,
            _ddb: ddb_proc,
            _moto: moto,
        })
    }

    pub fn sqs_addr(&self) -> SocketAddr {
        addr_of(&self.sqs_endpoint)
    }

    pub fn ddb_addr(&self) -> SocketAddr {
        addr_of(&self.ddb_endpoint)
    }

    pub fn glase_addr(&self) -> SocketAddr {
        addr_of(&self.glase_url)
    }

    /// The environment Lambda would give `f`, pointed at the local services. `overrides`
    /// replace or add variables (endpoints through a proxy, PRIME_CONNECTIONS).
    pub fn env(
        &self,
        f: Function,
        api: &RuntimeApi,
        overrides: &[(&str, String)],
    ) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = [
            ("AWS_LAMBDA_RUNTIME_API", api.host_port()),
            ("AWS_LAMBDA_FUNCTION_NAME", f.key().to_owned()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128".into()),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
            (
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{}", f.key()),
            ),
            ("AWS_LAMBDA_LOG_STREAM_NAME", "bench".into()),
            ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".into()),
            ("LAMBDA_TASK_ROOT", "/var/task".into()),
            ("_HANDLER", "bootstrap".into()),
            ("TZ", ":UTC".into()),
            ("AWS_REGION", glase_dev::aws::REGION.into()),
            ("AWS_DEFAULT_REGION", glase_dev::aws::REGION.into()),
            ("AWS_ACCESS_KEY_ID", "local".into()),
            ("AWS_SECRET_ACCESS_KEY", "local".into()),
            ("AWS_SESSION_TOKEN", "local".into()),
            // Lambda has no profile files and no instance metadata.
            ("AWS_CONFIG_FILE", "/nonexistent/aws-config".into()),
            (
                "AWS_SHARED_CREDENTIALS_FILE",
                "/nonexistent/aws-credentials".into(),
            ),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let specific: Vec<(&str, String)> = match f {
            Function::Echo | Function::Rng | Function::RngJitter => vec![],
            Function::Python => vec![
                ("QUEUE_URL", self.queue_url.clone()),
                ("WEBHOOK_TOKEN_SHA256", FIXTURE_TOKEN_SHA256.into()),
                ("AWS_ENDPOINT_URL_SQS", self.sqs_endpoint.clone()),
                ("_HANDLER", "webhook.handler".into()),
                (
                    "LAMBDA_TASK_ROOT",
                    self.programs.python_dir.display().to_string(),
                ),
                ("PYTHONPATH", self.programs.python_dir.display().to_string()),
                // As Lambda's Python runtime: no .pyc writes into the code folder.
                ("PYTHONDONTWRITEBYTECODE", "1".into()),
            ],
            Function::Webhook => vec![
                ("QUEUE_URL", self.queue_url.clone()),
                // As deployed: only the hash of the token in the fixture's path.
                ("WEBHOOK_TOKEN_SHA256", FIXTURE_TOKEN_SHA256.into()),
                ("AWS_ENDPOINT_URL_SQS", self.sqs_endpoint.clone()),
            ],
            Function::Worker => vec![
                ("GLASE_BASE_URL", self.glase_url.clone()),
                ("GLASE_ISSUER", ISSUER.into()),
                ("GLASE_SECRET", SECRET.into()),
                ("TABLE_NAME", self.table.clone()),
                ("QUEUE_URL", self.queue_url.clone()),
                ("DEAD_LETTER_QUEUE_URL", self.dlq_url.clone()),
                ("AWS_ENDPOINT_URL_SQS", self.sqs_endpoint.clone()),
                ("AWS_ENDPOINT_URL_DYNAMODB", self.ddb_endpoint.clone()),
            ],
            // As template.yaml's EventsFunction (payer data off, its default).
            Function::Events => vec![
                ("EVENT_BUS_NAME", EVENT_BUS.into()),
                ("METRICS_NAMESPACE", "GlaseInvoices/bench".into()),
                ("AWS_ENDPOINT_URL_EVENTBRIDGE", self.sqs_endpoint.clone()),
            ],
        };
        let extra = self.extra_env.iter().map(|(k, v)| (k.as_str(), v.clone()));
        for (k, v) in specific
            .into_iter()
            .chain(extra)
            .chain(overrides.iter().cloned())
        {
            env.retain(|(name, _)| name != k);
            env.push((k.to_owned(), v));
        }
        env
    }

    /// Starts `f` and waits for its first `GET /next` (at most 60 s).
    pub async fn start_function(
        &self,
        f: Function,
        overrides: &[(&str, String)],
    ) -> Result<Started, BoxError> {
        let api = RuntimeApi::start(f.key()).await?;
        let env = self.env(f, &api, overrides);
        let log = self.logs.join(format!("{}.log", f.key()));
        let (program, args) = self.programs.command(f);
        let mut process =
            FunctionProcess::spawn(&program, &args, self.wrap.as_deref(), &env, &log)?;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(at) = api.first_next(Duration::from_millis(50)).await {
                let init = at.saturating_duration_since(process.started);
                let init_rss = process.peak_rss();
                return Ok(Started {
                    process,
                    api,
                    init,
                    init_rss,
                });
            }
            if let Some(status) = process.exited() {
                let why = api.init_error().unwrap_or_default();
                return Err(format!(
                    "{} exited during init ({status}) {why}; see {}",
                    f.key(),
                    log.display()
                )
                .into());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{} did not ask for an event within 60 s; see {}",
                    f.key(),
                    log.display()
                )
                .into());
            }
        }
    }

    /// Pays `n` new invoices in glase-sim; returns their ids.
    pub async fn fresh_invoices(&self, n: usize) -> Result<Vec<u64>, BoxError> {
        let mut ids = Vec::with_capacity(n);
        for i in 0..n {
            let new = NewInvoice {
                issuer: ISSUER.into(),
                amount: format!("{}.{:02}", 10 + i % 90, i % 100),
                currency: "EUR".into(),
                description: "Bench invoice".into(),
                reference: format!("BENCH-{i}"),
                ..NewInvoice::default()
            };
            ids.push(
                self.sim
                    .pay(new)
                    .await
                    .map_err(|e| format!("glase-sim: {e}"))?
                    .id
                    .get(),
            );
        }
        Ok(ids)
    }

    /// A stream batch of `n` invoices becoming STORED, ids never used before.
    pub fn fresh_stream_batch(&self, n: usize) -> Bytes {
        stream_event(&self.stream_ids.take(n))
    }

    pub async fn purge_queue(&self) {
        let _ = self
            .sqs
            .purge_queue()
            .queue_url(&self.queue_url)
            .send()
            .await;
    }
}

fn addr_of(endpoint: &str) -> SocketAddr {
    endpoint
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
}

/// API Gateway's (HTTP API, payload 2.0) event for Glase's notification of `invoice_id`.
pub fn webhook_event(invoice_id: u64) -> Bytes {
    let mut event: Value = serde_json::from_str(APIGW_FIXTURE).unwrap_or(Value::Null);
    event["body"] = Value::String(format!("{{\"invoiceId\": {invoice_id}}}"));
    event["requestContext"]["timeEpoch"] = json!(jiff::Timestamp::now().as_millisecond());
    Bytes::from(event.to_string())
}

/// The SQS event source mapping's event for a batch of notifications.
pub fn sqs_event(invoice_ids: &[u64]) -> Bytes {
    let now = jiff::Timestamp::now().as_millisecond().to_string();
    let records: Vec<Value> = invoice_ids
        .iter()
        .map(|id| {
            json!({
                "messageId": uuid::Uuid::new_v4().to_string(),
                "receiptHandle": format!("bench-receipt-{id}"),
                "body": format!("{{\"invoiceId\":{id}}}"),
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": now,
                    "SenderId": "AIDAIENQZJOLO23YVJ4VO",
                    "ApproximateFirstReceiveTimestamp": now,
                },
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:bench-notifications",
                "awsRegion": glase_dev::aws::REGION,
            })
        })
        .collect();
    Bytes::from(json!({ "Records": records }).to_string())
}

/// The table stream's event source mapping's event (`aws_lambda_events::dynamodb::Event`, as
/// Lambda sends it): each invoice's lease (PROCESSING) becoming STORED, as the worker writes
/// it, so each record is one `InvoicePaid`.
pub fn stream_event(invoice_ids: &[u64]) -> Bytes {
    let now = jiff::Timestamp::now();
    let records: Vec<Value> = invoice_ids
        .iter()
        .map(|&id| {
            let n = json!({ "N": id.to_string() });
            let old = json!({
                "invoiceId": n, "state": {"S": "PROCESSING"}, "leaseOwner": {"S": "bench-worker"},
                "leaseUntil": {"N": (now.as_millisecond() + 30_000).to_string()}, "attempts": {"N": "1"},
            });
            // DynamoDB normalises numbers: the stream carries `12.3`, not `12.30`.
            let amount = format!("{}.{}", 10 + id % 90, id % 10);
            let new = json!({
                "invoiceId": n, "state": {"S": "STORED"}, "description": {"S": "Bench invoice"},
                "amount": {"N": amount}, "currency": {"S": "EUR"}, "status": {"S": "PAID"},
                "reference": {"S": format!("BENCH-{id}")}, "ersReference": {"S": format!("ERS-{id}")},
                "purchaseTime": {"S": "2026-12-01T10:00:00Z"}, "purchaseDate": {"S": "2026-12-01"},
                "storedAt": {"S": now.to_string()}, "completedBy": {"S": "bench-worker"},
            });
            json!({
                "eventID": uuid::Uuid::new_v4().simple().to_string(),
                "eventName": "MODIFY",
                "eventVersion": "1.1",
                "eventSource": "aws:dynamodb",
                "awsRegion": glase_dev::aws::REGION,
                "dynamodb": {
                    "ApproximateCreationDateTime": now.as_second() as f64,
                    "Keys": { "invoiceId": n },
                    "OldImage": old,
                    "NewImage": new,
                    "SequenceNumber": format!("{id:021}"),
                    "SizeBytes": 420,
                    "StreamViewType": "NEW_AND_OLD_IMAGES",
                },
                "eventSourceARN": "arn:aws:dynamodb:us-east-1:000000000000:table/bench-invoices/stream/2026-12-01T00:00:00.000",
            })
        })
        .collect();
    Bytes::from(json!({ "Records": records }).to_string())
}

pub fn echo_event(i: u64) -> Bytes {
    Bytes::from(format!("{{\"invoiceId\":{i}}}"))
}

/// Whether an answer is the success the bench expects from `f` (for `event`).
pub fn check_answer(f: Function, event: &[u8], answer: &Answer) -> Result<(), String> {
    let Answer::Response(body) = answer else {
        return Err(format!(
            "invocation error: {}",
            String::from_utf8_lossy(answer.body())
        ));
    };
    let value: Value =
        serde_json::from_slice(body).map_err(|e| format!("answer is not JSON: {e}"))?;
    match f.kind() {
        Function::Echo => {
            let sent: Value = serde_json::from_slice(event).unwrap_or(Value::Null);
            (value == sent)
                .then_some(())
                .ok_or_else(|| format!("echo answered {value}"))
        }
        Function::Webhook => (value["statusCode"] == 200)
            .then_some(())
            .ok_or_else(|| format!("webhook answered {value}")),
        // Partial-batch answers: every record done.
        Function::Worker | Function::Events => match value["batchItemFailures"].as_array() {
            Some(failures) if failures.is_empty() => Ok(()),
            _ => Err(format!("{} answered {value}", f.key())),
        },
        other => Err(format!("no check for {other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_what_the_functions_parse() {
        let sqs: aws_lambda_events::event::sqs::SqsEvent =
            serde_json::from_slice(&sqs_event(&[1, 2])).unwrap();
        assert_eq!(sqs.records.len(), 2);
        assert_eq!(sqs.records[1].body.as_deref(), Some("{\"invoiceId\":2}"));
        let request =
            lambda_http::request::from_str(std::str::from_utf8(&webhook_event(5)).unwrap())
                .unwrap();
        assert_eq!(request.body().as_ref(), b"{\"invoiceId\": 5}");
    }

    #[tokio::test]
    async fn a_stream_batch_is_one_invoice_paid_per_record_for_the_events_function() {
        let event = stream_event(&[41, 42]);
        let typed: aws_lambda_events::event::dynamodb::Event =
            serde_json::from_slice(&event).unwrap();
        assert_eq!(typed.records.len(), 2);
        let publisher = glase_events::Publisher {
            bus: glase_shared::memory::MemoryBus::default(),
            payer: glase_shared::events::PayerData::Omit,
            retry: glase_events::Retry::default(),
        };

        let answer = publisher
            .handle(serde_json::from_slice(&event).unwrap())
            .await;

        assert!(answer.batch_item_failures.is_empty(), "{answer:?}");
        let published: Vec<_> = publisher
            .bus
            .published()
            .iter()
            .map(|e| (e.detail_type(), e.invoice_id()))
            .collect();
        assert_eq!(published, [("InvoicePaid", 41), ("InvoicePaid", 42)]);
    }

    #[test]
    fn each_stream_batch_is_about_invoices_never_seen_before() {
        let ids = |event: Bytes| -> Vec<String> {
            let v: Value = serde_json::from_slice(&event).unwrap();
            v["Records"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    r["dynamodb"]["Keys"]["invoiceId"]["N"]
                        .as_str()
                        .unwrap()
                        .to_owned()
                })
                .collect()
        };
        let fresh = FreshIds::default();
        let (a, b) = (
            ids(stream_event(&fresh.take(BATCH))),
            ids(stream_event(&fresh.take(BATCH))),
        );
        assert_eq!(a.len(), BATCH);
        assert!(a.iter().all(|id| !b.contains(id)), "{a:?} {b:?}");
    }

    #[test]
    fn the_events_function_has_its_binary_key_and_batch() {
        assert_eq!(Function::Events.binary_name(), Some("glase-events"));
        assert_eq!(Function::Events.key(), "events");
        assert_eq!(Function::Events.batch_size(), BATCH);
        assert!(Function::ALL.contains(&Function::Events));
    }

    #[test]
    fn checks_answers() {
        let ok = Answer::Response(Bytes::from_static(br#"{"batchItemFailures":[]}"#));
        assert!(check_answer(Function::Worker, b"", &ok).is_ok());
        let failed = Answer::Response(Bytes::from_static(
            br#"{"batchItemFailures":[{"itemIdentifier":"x"}]}"#,
        ));
        assert!(check_answer(Function::Worker, b"", &failed).is_err());
        assert!(check_answer(Function::Events, b"", &ok).is_ok());
        assert!(check_answer(Function::Events, b"", &failed).is_err());
        let web = Answer::Response(Bytes::from_static(br#"{"statusCode":200,"body":"{}"}"#));
        assert!(check_answer(Function::Webhook, b"", &web).is_ok());
        assert!(check_answer(
            Function::Echo,
            b"{\"a\":1}",
            &Answer::Response(Bytes::from_static(b"{\"a\": 1}"))
        )
        .is_ok());
        assert!(check_answer(
            Function::Echo,
            b"{}",
            &Answer::Error {
                error_type: None,
                body: Bytes::new()
            }
        )
        .is_err());
    }
}
