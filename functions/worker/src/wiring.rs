//! The one place the production worker is put together, used by `main`, `make dev`, the
//! integration tests and the bench alike.

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use glase_shared::adapters::dynamo::DynamoStore;
use glase_shared::adapters::glase_http::GlaseHttp;
use glase_shared::adapters::sqs::SqsQueue;
use glase_shared::adapters::ssm::auth_token;
use glase_shared::adapters::SdkConfig;
use glase_shared::config::ConfigError;
use glase_shared::ports::Clock;
use glase_shared::telemetry::error_chain;
use glase_shared::SystemClock;
use tokio::sync::OnceCell;

use crate::{metric, postpone_all, time_left, Worker, WorkerConfig};

/// The most the worker's start (SSM, priming) may take: well under Lambda's 10 s init limit,
/// whatever the SDK's own timeouts, so a stalled endpoint fails init with a name instead of
/// Lambda killing the process.
pub const INIT_TIMEOUT: Duration = Duration::from_secs(6);

/// The worker as deployed: DynamoDB, Glase over HTTPS, SQS, the system clock.
pub type LambdaWorker = Worker<DynamoStore, GlaseHttp, SqsQueue, SystemClock>;

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("could not build the Glase HTTP client")]
    Http(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("worker init did not finish within {0:?} (SSM or DynamoDB not answering)")]
    TimedOut(Duration),
}

fn work_queue(config: &WorkerConfig, aws: &SdkConfig) -> SqsQueue {
    SqsQueue::new(aws_sdk_sqs::Client::new(aws), config.queue_url.clone())
        .with_dead_letter_queue(config.dead_letter_queue_url.clone())
}

impl LambdaWorker {
    /// Reads the issuer secret (SSM at most once), builds the clients and primes the
    /// DynamoDB connections when `PRIME_CONNECTIONS` says so.
    pub async fn from_config(config: &WorkerConfig, aws: &SdkConfig) -> Result<Self, InitError> {
        let token = auth_token(&config.glase, aws).await?;
        let glase =
            GlaseHttp::new(&config.glase, token).map_err(|e| InitError::Http(Box::new(e)))?;
        let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(aws), &config.table_name);
        if config.prime_connections {
            // One connection per record of a full batch (BatchSize 10).
            store.prime(10).await;
        }
        Ok(Worker {
            store,
            glase,
            queue: work_queue(config, aws),
            clock: SystemClock,
            policy: config.policy,
        })
    }
}

/// What `main` runs. The worker is built at cold start; if a dependency fails then (SSM or
/// KMS unreachable, say), it is built again on each invocation until it succeeds, and
/// meanwhile every record takes the ordinary back-off path instead of failing the whole
/// invocation (which would spend `maxReceiveCount` in ~95 min).
pub struct Service {
    config: WorkerConfig,
    aws: SdkConfig,
    fallback: SqsQueue,
    worker: OnceCell<Arc<LambdaWorker>>,
}

impl Service {
    pub async fn new(config: WorkerConfig, aws: SdkConfig) -> Self {
        let service = Self {
            fallback: work_queue(&config, &aws),
            config,
            aws,
            worker: OnceCell::new(),
        };
        if let Err(e) = service.ready(INIT_TIMEOUT).await {
            tracing::error!(error = %error_chain(&e), "worker init failed; records will back off until it succeeds");
        }
        service
    }

    /// The worker, built now if need be, within `limit`. A build cut short leaves the cell
    /// empty: the next invocation tries again.
    async fn ready(&self, limit: Duration) -> Result<&Arc<LambdaWorker>, InitError> {
        let build = self.worker.get_or_try_init(|| async {
            LambdaWorker::from_config(&self.config, &self.aws)
                .await
                .map(Arc::new)
        });
        tokio::time::timeout(limit, build)
            .await
            .map_err(|_| InitError::TimedOut(limit))?
    }

    pub async fn handle(&self, event: SqsEvent, deadline_ms: i64) -> SqsBatchResponse {
        // Building again, then backing off, both end before the deadline's margin.
        let left = time_left(deadline_ms, SystemClock.now().as_millisecond());
        let cut_off_at = tokio::time::Instant::now() + left;
        match self.ready(INIT_TIMEOUT.min(left)).await {
            Ok(worker) => Arc::clone(worker).handle_batch(event, deadline_ms).await,
            Err(e) => {
                let reason = format!("worker init failed: {}", error_chain(&e));
                tracing::error!(error = %reason, records = event.records.len(), "records postponed with back-off");
                metrics::counter!(metric::INIT_FAILED).increment(1);
                postpone_all(
                    &self.fallback,
                    &self.config.policy,
                    &event,
                    &reason,
                    cut_off_at,
                )
                .await
            }
        }
    }
}
