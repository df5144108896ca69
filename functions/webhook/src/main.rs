use glase_shared::adapters::{aws_config, SqsQueue};
use glase_shared::config::Env;
use glase_webhook::Webhook;
use lambda_http::{run, service_fn, Error, Request};

// One event at a time per process: a single-threaded runtime starts faster and stays smaller;
// the worker's records still run concurrently (their work is I/O).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    glase_shared::telemetry::init();
    let config = Env::process().webhook()?;
    let aws = aws_config().await;
    let queue = SqsQueue::new(aws_sdk_sqs::Client::new(&aws), config.queue_url);
    if config.prime_connections {
        queue.prime().await;
    }
    let webhook = Webhook::new(queue, config.webhook_token);
    run(service_fn(|req: Request| {
        let webhook = &webhook;
        async move { Ok::<_, std::convert::Infallible>(webhook.handle(req).await) }
    }))
    .await
}
