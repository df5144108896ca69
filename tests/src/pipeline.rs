//! The pipeline wired as in AWS, on the local services: webhook handler → SQS (moto) →
//! worker handler (driven by the local poller) → Glase stand-in → DynamoDB Local.

use std::sync::Arc;
use std::time::{Duration, Instant};

use glase_local::poller::{poll_once, PollerConfig};
use glase_shared::adapters::{DynamoStore, GlaseHttp, SqsQueue, SqsWorkQueue};
use glase_shared::config::{GlaseConfig, SecretSource};
use glase_shared::ports::{InvoiceRecord, InvoiceStore};
use glase_shared::{AuthToken, InvoiceId, IssuerName, SystemClock};
use glase_webhook::Webhook;
use glase_worker::{RetryPolicy, Worker};
use jiff::tz::TimeZone;
use secrecy::SecretString;
use serde_json::Value;

use crate::services::{services, unique};

const APIGW_FIXTURE: &str = include_str!("../../events/apigw-notification.json");

pub type LocalWorker = Worker<DynamoStore, GlaseHttp, SqsWorkQueue, SystemClock>;

pub struct Pipeline {
    pub sqs: aws_sdk_sqs::Client,
    pub ddb: aws_sdk_dynamodb::Client,
    pub table: String,
    pub queue_url: String,
    pub dlq_url: String,
    pub store: DynamoStore,
    pub webhook: Webhook<SqsQueue>,
    pub worker: Arc<LocalWorker>,
    pub poller: PollerConfig,
}

/// How the test wants Glase reached.
pub struct GlaseTarget<'a> {
    pub base_url: &'a str,
    pub issuer: &'a str,
    pub secret: &'a str,
}

impl Pipeline {
    /// A fresh table and queue pair on the shared local services.
    pub async fn start(glase: GlaseTarget<'_>) -> Self {
        let svc = services();
        let sqs = glase_local::aws::sqs(&svc.sqs_endpoint);
        let ddb = glase_local::aws::dynamodb(&svc.dynamodb_endpoint);
        let table = unique("invoices");
        let store = DynamoStore::new(ddb.clone(), &table);
        store.ensure_table().await.expect("create table");
        let (queue_url, dlq_url) =
            glase_local::aws::create_queues(&sqs, &unique("notifications"), 30, 5)
                .await
                .expect("create queues");

        let glase_config = GlaseConfig {
            base_url: glase.base_url.trim_end_matches('/').to_owned(),
            issuer: IssuerName::parse(glase.issuer).expect("issuer"),
            secret: SecretSource::Plain(SecretString::from(glase.secret.to_owned())),
            time_zone: TimeZone::UTC,
            connect_timeout: Duration::from_secs(1),
            request_timeout: Duration::from_secs(2),
        };
        let token = AuthToken::derive(
            &glase_config.issuer,
            &SecretString::from(glase.secret.to_owned()),
        );
        let worker = Arc::new(Worker {
            store: store.clone(),
            glase: GlaseHttp::new(&glase_config, token).expect("http client"),
            queue: SqsWorkQueue::new(sqs.clone(), &queue_url, Some(dlq_url.clone())),
            clock: SystemClock,
            // Immediate retries keep the tests fast; the policy itself is unit-tested.
            retry: RetryPolicy {
                base_secs: 0,
                max_secs: 0,
            },
        });
        let webhook = Webhook::new(SqsQueue::new(sqs.clone(), &queue_url), None);
        let poller = PollerConfig {
            queue_url: queue_url.clone(),
            batch_size: 10,
            wait_time_secs: 0,
            function_timeout: Duration::from_secs(10),
        };
        Self {
            sqs,
            ddb,
            table,
            queue_url,
            dlq_url,
            store,
            webhook,
            worker,
            poller,
        }
    }

    /// Sends `body` to the webhook as API Gateway would; returns the status and JSON reply.
    pub async fn notify(&self, body: &str) -> (u16, Value) {
        let mut event: Value = serde_json::from_str(APIGW_FIXTURE).expect("fixture");
        event["body"] = body.into();
        let request = lambda_http::request::from_str(&event.to_string()).expect("event");
        let response = self.webhook.handle(request).await;
        let json = serde_json::from_slice(response.body().as_ref()).unwrap_or(Value::Null);
        (response.status().as_u16(), json)
    }

    /// Runs the worker until the queue has no visible or in-flight message (or `timeout`).
    pub async fn drain(&self, timeout: Duration) -> DrainStats {
        let start = Instant::now();
        let mut stats = DrainStats::default();
        while start.elapsed() < timeout {
            let batch = poll_once(&self.sqs, &self.poller, &self.worker)
                .await
                .expect("poll");
            stats.batches += usize::from(batch.received > 0);
            stats.received += batch.received;
            stats.failed += batch.failed;
            if batch.received == 0 {
                if self.queue_depth(&self.queue_url).await == 0 {
                    return stats;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        panic!("queue not drained within {timeout:?}: {stats:?}");
    }

    /// Visible plus in-flight messages.
    pub async fn queue_depth(&self, url: &str) -> usize {
        use aws_sdk_sqs::types::QueueAttributeName as A;
        let out = self
            .sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(A::ApproximateNumberOfMessages)
            .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
            .attribute_names(A::ApproximateNumberOfMessagesDelayed)
            .send()
            .await
            .expect("queue attributes");
        out.attributes()
            .map(|a| a.values().filter_map(|v| v.parse::<usize>().ok()).sum())
            .unwrap_or(0)
    }

    pub async fn record(&self, id: u64) -> Option<InvoiceRecord> {
        self.store
            .get(InvoiceId::new(id).expect("id"))
            .await
            .expect("get")
    }

    /// Every item in the table, raw, for counting.
    pub async fn item_count(&self) -> usize {
        let out = self
            .ddb
            .scan()
            .table_name(&self.table)
            .send()
            .await
            .expect("scan");
        out.items().len()
    }
}

#[derive(Debug, Default, Clone, Copy)]
pub struct DrainStats {
    pub batches: usize,
    pub received: usize,
    pub failed: usize,
}
