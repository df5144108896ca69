//! The whole pipeline on this machine, as `make dev` runs it and the end-to-end tests use it:
//! DynamoDB Local and moto's SQS as child processes, glase-sim (or a real Glase), the webhook
//! handler behind an HTTP API v2 front, and worker pollers feeding it SQS batches.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use glase_shared::adapters::{DynamoStore, GlaseHttp, SqsQueue, SqsWorkQueue};
use glase_shared::config::{GlaseConfig, SecretSource};
use glase_shared::{AuthToken, IssuerName, SystemClock};
use glase_sim::{IssuerConfig, RunningSim, SimConfig};
use glase_webhook::Webhook;
use glase_worker::{RetryPolicy, Worker};
use jiff::tz::TimeZone;
use secrecy::SecretString;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::poller::{self, PollerConfig};
use crate::services::{start_dynamodb_local, start_moto, ServiceProcess};

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
    pub webhook_token: Option<SecretString>,
    /// The worker's "function timeout": the deadline each batch gets, and its lease length.
    pub worker_timeout: Duration,
    /// As in template.yaml: ≥ 6 × the worker timeout.
    pub visibility_timeout_secs: u32,
    pub max_receive_count: u32,
    pub retry: RetryPolicy,
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
            webhook_token: None,
            worker_timeout: Duration::from_secs(30),
            visibility_timeout_secs: 180,
            max_receive_count: 5,
            retry: RetryPolicy {
                base_secs: 2,
                max_secs: 60,
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
}

/// A running stack; dropping it stops everything (children are killed on drop).
pub struct Stack {
    pub webhook_url: String,
    pub dynamodb_endpoint: String,
    pub sqs_endpoint: String,
    pub queue_url: String,
    pub dlq_url: String,
    pub table_name: String,
    pub glase_base_url: String,
    pub sim: Option<RunningSim>,
    pub store: DynamoStore,
    pub sqs: aws_sdk_sqs::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
    processes: Vec<ServiceProcess>,
}

fn endpoint(
    which: &Endpoint,
    start: impl FnOnce(u16, bool) -> Result<ServiceProcess, crate::services::ServiceError>,
    quiet: bool,
    processes: &mut Vec<ServiceProcess>,
) -> Result<String, StackError> {
    match which {
        Endpoint::Existing(url) => Ok(url.clone()),
        Endpoint::Start { port } => {
            let port = if *port == 0 {
                crate::services::free_port().map_err(|e| StackError::Bind {
                    what: "a free port",
                    addr: "127.0.0.1:0".into(),
                    source: e,
                })?
            } else {
                *port
            };
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Err(StackError::Bind {
                    what: "a local service",
                    addr: format!("127.0.0.1:{port}"),
                    source: std::io::Error::new(
                        std::io::ErrorKind::AddrInUse,
                        "port already in use",
                    ),
                });
            }
            let process = start(port, quiet)?;
            let url = process.endpoint();
            processes.push(process);
            Ok(url)
        }
    }
}

impl Stack {
    pub async fn start(config: StackConfig) -> Result<Stack, StackError> {
        let mut processes = Vec::new();
        let dynamodb_endpoint = endpoint(
            &config.dynamodb,
            start_dynamodb_local,
            config.quiet_services,
            &mut processes,
        )?;
        let sqs_endpoint = endpoint(
            &config.sqs,
            start_moto,
            config.quiet_services,
            &mut processes,
        )?;
        let dynamodb = crate::aws::dynamodb(&dynamodb_endpoint);
        let sqs = crate::aws::sqs(&sqs_endpoint);

        let store = DynamoStore::new(dynamodb.clone(), &config.table_name);
        store
            .ensure_table()
            .await
            .map_err(|e| StackError::Table(glase_shared::telemetry::error_chain(&e)))?;
        let (queue_url, dlq_url) = match &config.queue_url {
            Some(url) => (url.clone(), String::new()),
            None => crate::aws::create_queues(
                &sqs,
                &config.queue_name,
                config.visibility_timeout_secs,
                config.max_receive_count,
            )
            .await
            .map_err(|e| {
                StackError::Queue(aws_sdk_sqs::error::DisplayErrorContext(&e).to_string())
            })?,
        };

        // Bind the webhook first so the simulator can be told where to notify.
        let listener = tokio::net::TcpListener::bind(config.webhook_addr)
            .await
            .map_err(|source| StackError::Bind {
                what: "the webhook",
                addr: config.webhook_addr.to_string(),
                source,
            })?;
        let webhook_addr = listener.local_addr().map_err(|source| StackError::Bind {
            what: "the webhook",
            addr: config.webhook_addr.to_string(),
            source,
        })?;
        let notify_path = match &config.webhook_token {
            Some(token) => format!(
                "/notifications/{}",
                secrecy::ExposeSecret::expose_secret(token)
            ),
            None => "/notifications".to_owned(),
        };
        let webhook_url = format!("http://{webhook_addr}/notifications");

        let (sim, glase_base_url, issuer, secret) = match &config.glase {
            GlaseChoice::Sim {
                port,
                config: sim_config,
            } => {
                let mut sim_config = sim_config.clone();
                for issuer in &mut sim_config.issuers {
                    if issuer.notify_url.is_none() {
                        *issuer = IssuerConfig {
                            notify_url: Some(format!("http://{webhook_addr}{notify_path}")),
                            ..issuer.clone()
                        };
                    }
                }
                let first = sim_config
                    .issuers
                    .first()
                    .cloned()
                    .ok_or_else(|| StackError::Glase("the simulator has no issuer".into()))?;
                let addr = SocketAddr::from(([127, 0, 0, 1], *port));
                let running = glase_sim::Sim::serve(sim_config, addr)
                    .await
                    .map_err(|source| StackError::Bind {
                        what: "glase-sim",
                        addr: addr.to_string(),
                        source,
                    })?;
                let base = running.base_url();
                (
                    Some(running),
                    base,
                    first.name,
                    SecretString::from(first.secret),
                )
            }
            GlaseChoice::External {
                base_url,
                issuer,
                secret,
            } => (None, base_url.clone(), issuer.clone(), secret.clone()),
        };

        let glase_config = GlaseConfig {
            base_url: glase_base_url.trim_end_matches('/').to_owned(),
            issuer: IssuerName::parse(&issuer).map_err(|e| StackError::Glase(e.to_string()))?,
            secret: SecretSource::Plain(secret.clone()),
            time_zone: config.time_zone.clone(),
            connect_timeout: Duration::from_secs(2),
            request_timeout: config.glase_timeout,
        };
        let token = AuthToken::derive(&glase_config.issuer, &secret);
        let worker = Arc::new(Worker {
            store: store.clone(),
            glase: GlaseHttp::new(&glase_config, token)
                .map_err(|e| StackError::Glase(e.to_string()))?,
            queue: SqsWorkQueue::new(
                sqs.clone(),
                &queue_url,
                Some(dlq_url.clone()).filter(|u| !u.is_empty()),
            ),
            clock: SystemClock,
            retry: config.retry,
        });
        let webhook = Arc::new(Webhook::new(
            SqsQueue::new(sqs.clone(), &queue_url),
            config.webhook_token.clone(),
        ));

        let (stop, stopped) = watch::channel(false);
        let mut tasks = JoinSet::new();
        let router = crate::webhook_server::router(webhook, config.webhook_token.is_some());
        let mut rx = stopped.clone();
        tasks.spawn(async move {
            let shutdown = async move {
                let _ = rx.wait_for(|s| *s).await;
            };
            if let Err(e) = axum::serve(listener, router)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::error!(error = %e, "webhook server failed");
            }
        });
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

        Ok(Stack {
            webhook_url,
            dynamodb_endpoint,
            sqs_endpoint,
            queue_url,
            dlq_url,
            table_name: config.table_name,
            glase_base_url,
            sim,
            store,
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
