use glase_events::{EventsConfig, LambdaPublisher};
use glase_shared::adapters::{aws_config, SdkTimeouts};
use glase_shared::config::Env;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

// One event at a time per process: a single-threaded runtime starts faster and stays smaller.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    glase_shared::telemetry::init();
    let metrics = glase_shared::telemetry::metrics();
    let config = EventsConfig::from_env(&Env::process())?;
    let publisher = LambdaPublisher::from_config(&config, &aws_config(SdkTimeouts::DEFAULT).await);
    // The event is taken as JSON: a record of the wrong shape fails alone (handle).
    run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        let publisher = &publisher;
        async move {
            let response = publisher.handle(event.payload).await;
            glase_shared::telemetry::flush(metrics);
            Ok::<_, Error>(response)
        }
    }))
    .await
}
