use std::sync::Arc;

use aws_lambda_events::event::sqs::SqsEvent;
use glase_shared::adapters::{auth_token, aws_config, DynamoStore, GlaseHttp, SqsWorkQueue};
use glase_shared::config::Env;
use glase_shared::SystemClock;
use glase_worker::{handle_batch, RetryPolicy, Worker};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

// One event at a time per process: a single-threaded runtime starts faster and stays smaller;
// the worker's records still run concurrently (their work is I/O).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    glase_shared::telemetry::init();
    let config = Env::process().worker()?;
    let aws = aws_config().await;
    let token = auth_token(&config.glase, &aws).await?;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&aws), config.table_name);
    if config.prime_connections {
        // One connection per record of a full batch (BatchSize 10).
        store.prime(10).await;
    }
    let worker = Arc::new(Worker {
        store,
        glase: GlaseHttp::new(&config.glase, token)?,
        queue: SqsWorkQueue::new(
            aws_sdk_sqs::Client::new(&aws),
            config.queue_url,
            config.dead_letter_queue_url,
        ),
        clock: SystemClock,
        retry: RetryPolicy {
            base_secs: config.retry_base_secs,
            max_secs: config.retry_max_secs,
        },
    });
    run(service_fn(|event: LambdaEvent<SqsEvent>| {
        let worker = Arc::clone(&worker);
        async move {
            let deadline_ms = i64::try_from(event.context.deadline).unwrap_or(i64::MAX);
            Ok::<_, Error>(handle_batch(worker, event.payload, deadline_ms).await)
        }
    }))
    .await
}
