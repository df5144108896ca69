//! The whole pipeline on this machine, as `make dev` runs it and the end-to-end tests use it:
//! DynamoDB Local and moto's SQS as child processes, glase-sim (or a real Glase), the webhook
//! handler behind an HTTP API v2 front, and worker pollers feeding it SQS batches.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use glase_shared::adapters::dynamo::{ensure_table, DynamoStore};
use glase_shared::adapters::SdkConfig;
use glase_shared::config::Env;
use glase_shared::telemetry::error_chain;
use glase_sim::{IssuerConfig, RunningSim, SimConfig};
use glase_webhook::{Webhook, WebhookConfig};
use glase_worker::{LambdaWorker, Policy, WorkerConfig};
use jiff::tz::TimeZone;
use secrecy::{ExposeSecret, SecretString};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::poller::{self, PollerConfig};
use crate::services::{launch_dynamodb_local, launch_moto, ServiceError, ServiceProcess};

/// The local event bus (moto's EventBridge) the events function publishes to under `make dev`;
/// a rule copies every event to the queue `<bus>-events`, where they can be read back.
pub const DEV_EVENT_BUS: &str = "glase-invoices";

/// The webhook token `make dev` uses unless `WEBHOOK_TOKEN` says otherwise.
pub const DEV_WEBHOOK_TOKEN: &str = "local-dev-webhook-token";

/// A local service to start on a port, or one already running at a URL.
#[derive(Debug, Clone)]
pub enum Endpoint {
    Start { port: u16 },
    Existing(String),
}

/// Which Glase the worker talks to.
#[derive(Debug, Clone)]
pub enum GlaseChoice {
    /// glase-sim in this process, on `port` (0 = any free port). Its issuers' notification
    /// URLs are pointed at the webhook unless `config` already sets them.
    Sim { port: u16, config: SimConfig },
    /// Any Glase-compatible server (e.g. Glase's integration environment).
    External {
        base_url: String,
        issuer: String,
        secret: SecretString,
    },
}

#[derive(Debug, Clone)]
pub struct StackConfig {
    pub webhook_addr: SocketAddr,
    pub dynamodb: Endpoint,
    pub sqs: Endpoint,
    pub glase: GlaseChoice,
    pub table_name: String,
    /// Queue name to create (with `<name>-dlq`), or `queue_url` to use an existing one.
    pub queue_name: String,
    pub queue_url: Option<String>,
    /// The token in the webhook's path (required, as deployed).
    pub webhook_token: SecretString,
    /// The worker's "function timeout": the deadline each batch gets, and its lease length.
    pub worker_timeout: Duration,
    /// As in template.yaml: ≥ 6 × the worker timeout.
    pub visibility_timeout_secs: u32,
    /// Back-off, rejection window, cool-down and `maxReceiveCount` (the queue's redrive
    /// policy is created with `policy.max_receive_count`).
    pub policy: Policy,
    /// Concurrent pollers, like the event source mapping's concurrent batches.
    pub pollers: usize,
    /// Long-poll wait of each ReceiveMessage.
    pub wait_time_secs: i32,
    pub time_zone: TimeZone,
    /// The worker's whole-request timeout for Glase (GLASE_TIMEOUT_MS in Lambda).
    pub glase_timeout: Duration,
    /// Hide the services' own output.
    pub quiet_services: bool,
}

impl Default for StackConfig {
    fn default() -> Self {
        Self {
            webhook_addr: SocketAddr::from(([127, 0, 0, 1], 3000)),
            dynamodb: Endpoint::Start { port: 8000 },
            sqs: Endpoint::Start { port: 9324 },
            glase: GlaseChoice::Sim {
                port: 4000,
                config: SimConfig::default(),
            },
            table_name: "glase-invoices".into(),
            queue_name: "glase-notifications".into(),
            queue_url: None,
            webhook_token: SecretString::from(DEV_WEBHOOK_TOKEN),
            worker_timeout: Duration::from_secs(30),
            visibility_timeout_secs: 180,
            policy: Policy {
                base_secs: 2,
                max_secs: 60,
                max_receive_count: 5,
                reject_after_receives: 2,
                rejected_cooldown_secs: 60,
            },
            pollers: 2,
            wait_time_secs: 2,
            time_zone: TimeZone::UTC,
            glase_timeout: Duration::from_secs(10),
            quiet_services: true,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StackError {
    #[error(transparent)]
    Service(#[from] crate::services::ServiceError),
    #[error("could not bind {what} on {addr}: {source} (is something else using the port? override it by environment)")]
    Bind {
        what: &'static str,
        addr: String,
        source: std::io::Error,
    },
    #[error("could not create the table: {0}")]
    Table(String),
    #[error("could not create the queues: {0}")]
    Queue(String),
    #[error("invalid Glase settings: {0}")]
    Glase(String),
    #[error("invalid configuration: {0}")]
    Config(String),
}

/// A running stack; dropping it stops everything (children are killed on drop).
pub struct Stack {
    /// `http://…/notifications` (POST to `{webhook_url}/{token}`).
    pub webhook_url: String,
    /// The full notification URL, token included: what Glase is given.
    pub notify_url: String,
    pub dynamodb_endpoint: String,
    pub sqs_endpoint: String,
    pub queue_url: String,
    pub dlq_url: String,
    /// Where the rule on the local bus puts the `InvoicePaid` / `InvoiceRejected` events.
    pub events_queue_url: String,
    pub table_name: String,
    pub glase_base_url: String,
    pub sim: Option<RunningSim>,
    pub store: DynamoStore,
    /// An SDK config pointing at the local services (dummy credentials).
    pub aws: SdkConfig,
    pub sqs: aws_sdk_sqs::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
    processes: Vec<ServiceProcess>,
}

/// Starts the service (or takes the given URL) without blocking the async runtime.
async fn endpoint(
    which: &Endpoint,
    launch: impl FnOnce(u16, bool) -> Result<ServiceProcess, ServiceError>,
    quiet: bool,
    processes: &mut Vec<ServiceProcess>,
) -> Result<String, StackError> {
    let port = match which {
        Endpoint::Existing(url) => return Ok(url.clone()),
        Endpoint::Start { port: 0 } => {
            crate::services::free_port().map_err(|e| StackError::Bind {
                what: "a free port",
                addr: "127.0.0.1:0".into(),
                source: e,
            })?
        }
        Endpoint::Start { port } => *port,
    };
    if tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_ok()
    {
        return Err(StackError::Bind {
            what: "a local service",
            addr: format!("127.0.0.1:{port}"),
            source: std::io::Error::new(std::io::ErrorKind::AddrInUse, "port already in use"),
        });
    }
    let process = launch(port, quiet)?.ready().await?;
    let url = process.endpoint();
    processes.push(process);
    Ok(url)
}

async fn bind(
    addr: SocketAddr,
    what: &'static str,
) -> Result<(TcpListener, SocketAddr), StackError> {
    let err = |source| StackError::Bind {
        what,
        addr: addr.to_string(),
        source,
    };
    let listener = TcpListener::bind(addr).await.map_err(err)?;
    let local = listener.local_addr().map_err(err)?;
    Ok((listener, local))
}

/// The Glase the worker will call: base URL, issuer and secret.
struct GlaseTarget {
    sim: Option<RunningSim>,
    base_url: String,
    issuer: String,
    secret: SecretString,
}

/// Starts glase-sim (its issuers notifying `notify_url` unless set) or takes the external Glase.
async fn start_glase(choice: &GlaseChoice, notify_url: &str) -> Result<GlaseTarget, StackError> {
    match choice {
        GlaseChoice::External {
            base_url,
            issuer,
            secret,
        } => Ok(GlaseTarget {
            sim: None,
            base_url: base_url.clone(),
            issuer: issuer.clone(),
            secret: secret.clone(),
        }),
        GlaseChoice::Sim { port, config } => {
            let mut config = config.clone();
            for issuer in &mut config.issuers {
                if issuer.notify_url.is_none() {
                    *issuer = IssuerConfig {
                        notify_url: Some(notify_url.to_owned()),
                        ..issuer.clone()
                    };
                }
            }
            let first = config
                .issuers
                .first()
                .cloned()
                .ok_or_else(|| StackError::Glase("the simulator has no issuer".into()))?;
            let addr = SocketAddr::from(([127, 0, 0, 1], *port));
            let running = glase_sim::Sim::serve(config, addr)
                .await
                .map_err(|source| StackError::Bind {
                    what: "glase-sim",
                    addr: addr.to_string(),
                    source,
                })?;
            Ok(GlaseTarget {
                base_url: running.base_url(),
                sim: Some(running),
                issuer: first.name,
                secret: SecretString::from(first.secret),
            })
        }
    }
}

/// The functions' environment, as the SAM template sets it: the local stack configures the
/// pipeline through the very parser Lambda uses.
fn function_env(
    config: &StackConfig,
    glase: &GlaseTarget,
    queue_url: &str,
    dlq_url: &str,
) -> HashMap<&'static str, String> {
    let p = &config.policy;
    let mut env = HashMap::from([
        ("TABLE_NAME", config.table_name.clone()),
        ("QUEUE_URL", queue_url.to_owned()),
        (
            "GLASE_BASE_URL",
            glase.base_url.trim_end_matches('/').to_owned(),
        ),
        ("GLASE_ISSUER", glase.issuer.clone()),
        ("GLASE_SECRET", glase.secret.expose_secret().to_owned()),
        (
            "GLASE_TIME_ZONE",
            config.time_zone.iana_name().unwrap_or("UTC").to_owned(),
        ),
        ("GLASE_CONNECT_TIMEOUT_MS", "2000".to_owned()),
        (
            "GLASE_TIMEOUT_MS",
            config.glase_timeout.as_millis().to_string(),
        ),
        ("RETRY_BASE_SECONDS", p.base_secs.max(1).to_string()),
        (
            "RETRY_MAX_SECONDS",
            p.max_secs.max(p.base_secs).max(1).to_string(),
        ),
        ("MAX_RECEIVE_COUNT", p.max_receive_count.to_string()),
        ("REJECT_AFTER_RECEIVES", p.reject_after_receives.to_string()),
        (
            "REJECTED_COOLDOWN_SECONDS",
            p.rejected_cooldown_secs.to_string(),
        ),
        (
            "WEBHOOK_TOKEN",
            config.webhook_token.expose_secret().to_owned(),
        ),
        ("PRIME_CONNECTIONS", "false".to_owned()),
    ]);
    if !dlq_url.is_empty() {
        env.insert("DEAD_LETTER_QUEUE_URL", dlq_url.to_owned());
    }
    env
}

impl Stack {
    pub async fn start(config: StackConfig) -> Result<Stack, StackError> {
        let mut processes = Vec::new();
        let quiet = config.quiet_services;
        let dynamodb_endpoint = endpoint(
            &config.dynamodb,
            launch_dynamodb_local,
            quiet,
            &mut processes,
        )
        .await?;
        let sqs_endpoint = endpoint(&config.sqs, launch_moto, quiet, &mut processes).await?;
        let aws = crate::aws::local_config(&dynamodb_endpoint, &sqs_endpoint);
        let dynamodb = aws_sdk_dynamodb::Client::new(&aws);
        let sqs = aws_sdk_sqs::Client::new(&aws);

        ensure_table(&dynamodb, &config.table_name)
            .await
            .map_err(|e| StackError::Table(error_chain(&e)))?;
        let (queue_url, dlq_url) = match &config.queue_url {
            Some(url) => (url.clone(), String::new()),
            None => crate::aws::create_queues(
                &sqs,
                &config.queue_name,
                config.visibility_timeout_secs,
                config.policy.max_receive_count,
            )
            .await
            .map_err(|e| {
                StackError::Queue(aws_sdk_sqs::error::DisplayErrorContext(&e).to_string())
            })?,
        };

        // InvoicePaid events (issue 19): a bus with a rule → a queue, read back by `make demo`.
        let eventbridge = aws_sdk_eventbridge::Client::new(&aws);
        let events_queue_url =
            match crate::aws::create_event_bus_to_queue(&eventbridge, &sqs, DEV_EVENT_BUS).await {
                Ok(url) => url,
                // Already there: moto kept running from an earlier `make dev`.
                Err(_) => sqs
                    .get_queue_url()
                    .queue_name(format!("{DEV_EVENT_BUS}-events"))
                    .send()
                    .await
                    .map_err(|e| {
                        StackError::Queue(aws_sdk_sqs::error::DisplayErrorContext(&e).to_string())
                    })?
                    .queue_url()
                    .unwrap_or_default()
                    .to_owned(),
            };
        let stream = crate::stream_poller::StreamPoller::for_table(
            &dynamodb,
            aws_sdk_dynamodbstreams::Client::new(&aws),
            &config.table_name,
        )
        .await
        .map_err(|e| StackError::Table(e.to_string()))?;
        let events_env = Env::from_pairs(&[("EVENT_BUS_NAME", DEV_EVENT_BUS)]);
        let publisher = glase_events::LambdaPublisher::from_config(
            &glase_events::EventsConfig::from_env(&events_env)
                .map_err(|e| StackError::Config(e.to_string()))?,
            &aws,
        );

        // Bind the webhook first so the simulator can be told where to notify.
        let (listener, webhook_addr) = bind(config.webhook_addr, "the webhook").await?;
        let webhook_url = format!("http://{webhook_addr}/notifications");
        let notify_url = format!("{webhook_url}/{}", config.webhook_token.expose_secret());
        let glase = start_glase(&config.glase, &notify_url).await?;

        let env = function_env(&config, &glase, &queue_url, &dlq_url);
        let env = Env(|name: &str| env.get(name).cloned());
        let worker_config =
            WorkerConfig::from_env(&env).map_err(|e| StackError::Config(e.to_string()))?;
        let webhook_config =
            WebhookConfig::from_env(&env).map_err(|e| StackError::Config(e.to_string()))?;
        let mut worker = LambdaWorker::from_config(&worker_config, &aws)
            .await
            .map_err(|e| StackError::Glase(error_chain(&e)))?;
        // Tests may ask for immediate retries, which the deployed configuration refuses.
        worker.policy = config.policy;
        let worker = Arc::new(worker);
        let webhook = Arc::new(Webhook::from_config(&webhook_config, &aws).await);

        let (stop, stopped) = watch::channel(false);
        let mut tasks = JoinSet::new();
        spawn_webhook(&mut tasks, listener, webhook, stopped.clone());
        for _ in 0..config.pollers.max(1) {
            let poller_config = PollerConfig {
                queue_url: queue_url.clone(),
                batch_size: 10,
                wait_time_secs: config.wait_time_secs,
                function_timeout: config.worker_timeout,
            };
            let mut rx = stopped.clone();
            let (sqs, worker) = (sqs.clone(), Arc::clone(&worker));
            tasks.spawn(async move {
                let shutdown = async move {
                    let _ = rx.wait_for(|s| *s).await;
                };
                poller::run(sqs, poller_config, worker, shutdown).await;
            });
        }

        spawn_stream(&mut tasks, stream, publisher, stopped.clone());

        Ok(Stack {
            webhook_url,
            notify_url,
            dynamodb_endpoint,
            sqs_endpoint,
            queue_url,
            dlq_url,
            events_queue_url,
            table_name: config.table_name,
            glase_base_url: glase.base_url,
            sim: glase.sim,
            store: DynamoStore::new(dynamodb.clone(), worker_config.table_name),
            aws,
            sqs,
            dynamodb,
            stop,
            tasks,
            processes,
        })
    }

    /// Stops the pollers and the webhook (letting in-flight batches finish), then the services.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(15), async {
            while self.tasks.join_next().await.is_some() {}
        })
        .await;
        self.tasks.abort_all();
        if let Some(sim) = self.sim.take() {
            drop(sim);
        }
        self.processes.clear();
    }

    /// PIDs of the service processes this stack started.
    pub fn service_pids(&self) -> Vec<u32> {
        self.processes.iter().map(ServiceProcess::pid).collect()
    }
}

fn spawn_webhook(
    tasks: &mut JoinSet<()>,
    listener: TcpListener,
    webhook: Arc<Webhook<glase_shared::adapters::sqs::SqsQueue>>,
    mut stopped: watch::Receiver<bool>,
) {
    // The token is always configured, as deployed: only `POST /notifications/{token}` routes.
    let router = crate::webhook_server::router(webhook, true);
    tasks.spawn(async move {
        let shutdown = async move {
            let _ = stopped.wait_for(|s| *s).await;
        };
        if let Err(e) = axum::serve(listener, router)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::error!(error = %e, "webhook server failed");
        }
    });
}

/// The table's stream → the events function, as the event source mapping drives it.
fn spawn_stream(
    tasks: &mut JoinSet<()>,
    mut stream: crate::stream_poller::StreamPoller,
    publisher: glase_events::LambdaPublisher,
    mut stopped: watch::Receiver<bool>,
) {
    tasks.spawn(async move {
        loop {
            if let Err(e) = stream.poll_once(|event| publisher.handle(event)).await {
                tracing::warn!(error = %e, "could not read the table's stream");
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(300)) => {}
                _ = stopped.wait_for(|s| *s) => return,
            }
        }
    });
}
