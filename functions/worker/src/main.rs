use aws_lambda_events::event::sqs::SqsEvent;
use glase_shared::adapters::{aws_config, SdkTimeouts};
use glase_shared::config::Env;
use glase_worker::{Service, WorkerConfig};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

// One event at a time per process: a single-threaded runtime starts faster and stays smaller;
// the worker's records still run concurrently (their work is I/O).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    glase_shared::telemetry::init();
    let metrics = glase_shared::telemetry::metrics();
    // A missing or malformed variable fails init, naming it: nothing could work without it.
    let config = WorkerConfig::from_env(&Env::process())?;
    let service = Service::new(config, aws_config(SdkTimeouts::DEFAULT).await).await;
    run(service_fn(|event: LambdaEvent<SqsEvent>| {
        let service = &service;
        async move {
            let deadline_ms = i64::try_from(event.context.deadline).unwrap_or(i64::MAX);
            let response = service.handle(event.payload, deadline_ms).await;
            glase_shared::telemetry::flush(metrics);
            Ok::<_, Error>(response)
        }
    }))
    .await
}
