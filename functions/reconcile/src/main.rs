use glase_reconcile::config::ReconcileConfig;
use glase_reconcile::Scheduled;
use glase_shared::adapters::ssm::auth_token;
use glase_shared::adapters::{aws_config, DynamoStore, GlaseReport, SdkTimeouts, SqsQueue};
use glase_shared::config::Env;
use jiff::Timestamp;
use lambda_runtime::{run, service_fn, Diagnostic, Error, LambdaEvent};

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
        zone: config.glase.time_zone.clone(),
        lookback_days: config.lookback_days,
        settle: config.settle,
    };
    // The event (EventBridge's, or `{}` when invoked by hand) carries nothing we need.
    run(service_fn(|_: LambdaEvent<serde_json::Value>| async {
        let result = scheduled.run(Timestamp::now()).await;
        if let Err(e) = metrics.flush(std::io::stdout()) {
            tracing::warn!(error = %e, "could not write the metrics");
        }
        result
            .map(|report| glase_reconcile::summary(&report))
            .map_err(|e| Diagnostic {
                error_type: e.kind().to_owned(),
                error_message: glase_shared::telemetry::error_chain(&e),
            })
    }))
    .await
}
