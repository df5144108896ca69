//! The pipeline wired as in AWS, on the local services: webhook handler → SQS (moto) →
//! worker handler (driven by the local poller) → Glase stand-in → DynamoDB Local.

use std::sync::Arc;
use std::time::{Duration, Instant};

use glase_dev::poller::{poll_once, PollerConfig};
use std::collections::HashMap;

use glase_shared::adapters::dynamo::{ensure_table, DynamoStore};
use glase_shared::adapters::sqs::SqsQueue;
use glase_shared::config::Env;
use glase_shared::ports::InvoiceRecord;
use glase_shared::InvoiceId;
use glase_webhook::{Webhook, WebhookConfig};
use glase_worker::{LambdaWorker, WorkerConfig};
use serde_json::Value;

use crate::services::{services, unique};

const APIGW_FIXTURE: &str = include_str!("../../events/apigw-notification.json");

pub type LocalWorker = LambdaWorker;

/// The webhook token the fixture's path carries (events/apigw-notification.json).
pub const FIXTURE_TOKEN: &str = "example-token-0123456789";

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
        let aws = glase_dev::aws::local_config(&svc.dynamodb_endpoint, &svc.sqs_endpoint);
        let sqs = aws_sdk_sqs::Client::new(&aws);
        let ddb = aws_sdk_dynamodb::Client::new(&aws);
        let table = unique("invoices");
        ensure_table(&ddb, &table).await.expect("create table");
        let store = DynamoStore::new(ddb.clone(), &table);
        let (queue_url, dlq_url) =
            glase_dev::aws::create_queues(&sqs, &unique("notifications"), 30, 5)
                .await
                .expect("create queues");

        // Configured the way Lambda is: the functions' variables, through their own parser.
        let env = HashMap::from([
            ("TABLE_NAME", table.clone()),
            ("QUEUE_URL", queue_url.clone()),
            ("DEAD_LETTER_QUEUE_URL", dlq_url.clone()),
            ("GLASE_BASE_URL", glase.base_url.to_owned()),
            ("GLASE_ISSUER", glase.issuer.to_owned()),
            ("GLASE_SECRET", glase.secret.to_owned()),
            ("GLASE_CONNECT_TIMEOUT_MS", "1000".to_owned()),
            ("GLASE_TIMEOUT_MS", "2000".to_owned()),
            ("MAX_RECEIVE_COUNT", "5".to_owned()),
            ("WEBHOOK_TOKEN", FIXTURE_TOKEN.to_owned()),
            ("PRIME_CONNECTIONS", "false".to_owned()),
        ]);
        let env = Env(|name: &str| env.get(name).cloned());
        let mut worker =
            LambdaWorker::from_config(&WorkerConfig::from_env(&env).expect("worker config"), &aws)
                .await
                .expect("worker");
        // Immediate retries keep the tests fast, and a 404 is final at once here; the policy
        // itself (back-off, bounded 404 window, cool-down) is unit-tested.
        worker.policy.base_secs = 0;
        worker.policy.max_secs = 0;
        worker.policy.reject_after_receives = 1;
        // A re-notification may re-fetch a rejection at once (the cool-down is tested on the
        // adapter directly).
        worker.policy.rejected_cooldown_secs = 0;
        let worker = Arc::new(worker);
        let webhook = Webhook::from_config(
            &WebhookConfig::from_env(&env).expect("webhook config"),
            &aws,
        )
        .await;
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
