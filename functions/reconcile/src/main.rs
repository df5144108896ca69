use glase_reconcile::config::ReconcileConfig;
use glase_reconcile::{deadline_for, Invocation, RunError, Scheduled};
use glase_shared::adapters::ssm::auth_token;
use glase_shared::adapters::{aws_config, DynamoStore, GlaseReport, SdkTimeouts, SqsQueue};
use glase_shared::config::Env;
use jiff::Timestamp;
use lambda_runtime::{run, service_fn, Diagnostic, Error, LambdaEvent};
use std::time::Duration;

// One event at a time per process: a single-threaded runtime starts faster and stays smaller
// (the report is parsed on Tokio's blocking pool beside it).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    glase_shared::telemetry::init();
    let config = ReconcileConfig::from_env(&Env::process())?;
    let metrics = glase_reconcile::metrics::init(&config.metrics_namespace)?;
    let aws = aws_config(SdkTimeouts::DEFAULT).await;
    let token = auth_token(&config.glase, &aws).await?;
    let scheduled = Scheduled {
        source: GlaseReport::new(&config.glase, token)?
            .with_stall(config.report_stall)
            .with_max_bytes_per_day(config.report_max_bytes_per_day),
        store: DynamoStore::new(aws_sdk_dynamodb::Client::new(&aws), config.table_name),
        queue: SqsQueue::new(aws_sdk_sqs::Client::new(&aws), config.queue_url),
        days: config
            .days_queue_url
            .map(|url| SqsQueue::new(aws_sdk_sqs::Client::new(&aws), url)),
        zone: config.glase.time_zone.clone(),
        lookback_days: config.lookback_days,
        settle: config.settle,
    };
    // EventBridge's schedule (or `{}`), a window by hand, or the days queue's messages.
    let scheduled = &scheduled;
    run(service_fn(
        |event: LambdaEvent<serde_json::Value>| async move {
            let now = Timestamp::now();
            let time_left = Duration::from_millis(
                event
                    .context
                    .deadline
                    .saturating_sub(u64::try_from(now.as_millisecond()).unwrap_or(0)),
            );
            let result = match Invocation::parse(&event.payload) {
                Ok(invocation) => {
                    scheduled
                        .handle(&invocation, now, Some(deadline_for(time_left)))
                        .await
                }
                Err(e) => Err(RunError::from(e)),
            };
            if let Err(e) = metrics.flush(std::io::stdout()) {
                tracing::warn!(error = %e, "could not write the metrics");
            }
            result
                .map(|run| glase_reconcile::summary(&run))
                .map_err(|e| Diagnostic {
                    error_type: e.kind().to_owned(),
                    error_message: glase_shared::telemetry::error_chain(&e),
                })
        },
    ))
    .await
}
