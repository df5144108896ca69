use glase_shared::adapters::aws_config;
use glase_shared::config::Env;
use glase_webhook::{Webhook, WebhookConfig};
use lambda_http::{run, service_fn, Error, Request};

// One event at a time per process: a single-threaded runtime starts faster and stays smaller.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    glase_shared::telemetry::init();
    let metrics = glase_shared::telemetry::metrics();
    let config = WebhookConfig::from_env(&Env::process())?;
    let webhook =
        Webhook::from_config(&config, &aws_config(glase_webhook::SDK_TIMEOUTS).await).await;
    run(service_fn(|req: Request| {
        let webhook = &webhook;
        async move {
            let response = webhook.handle(req).await;
            glase_shared::telemetry::flush(metrics);
            Ok::<_, std::convert::Infallible>(response)
        }
    }))
    .await
}
