//! `make check-shipped`'s probe: glase-worker exactly as it ships (same wiring, same release
//! profile, built by cargo-lambda) except that fetching invoice `PANIC_INVOICE_ID` panics.
//! tests/tests/api/shipped.rs sends it a batch holding that invoice and a good one: the panicking
//! record must fail alone (`batchItemFailures` = its message) and the process must live on to
//! answer the next event. Under `panic = "abort"` (cargo-lambda's default when the release
//! profile is silent) the whole process dies instead and the batch returns to the queue.
//! Never deployed.

use std::sync::Arc;

use aws_lambda_events::event::sqs::SqsEvent;
use glase_shared::adapters::{aws_config, SdkTimeouts};
use glase_shared::config::Env;
use glase_shared::ports::{FetchError, InvoiceSource};
use glase_shared::{Invoice, InvoiceId};
use glase_worker::{LambdaWorker, Worker, WorkerConfig};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

/// Glase's client, except for one invoice.
struct PanicsOn<G> {
    inner: G,
    id: u64,
}

impl<G: InvoiceSource> InvoiceSource for PanicsOn<G> {
    async fn fetch(&self, id: InvoiceId) -> Result<Invoice, FetchError> {
        if id.get() == self.id {
            panic!("probe: fetching invoice {id} panics");
        }
        self.inner.fetch(id).await
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    glase_shared::telemetry::init();
    let config = WorkerConfig::from_env(&Env::process())?;
    let id = std::env::var("PANIC_INVOICE_ID")
        .map_err(|_| "PANIC_INVOICE_ID is required")?
        .parse()
        .map_err(|_| "PANIC_INVOICE_ID must be an invoice id")?;
    let built = LambdaWorker::from_config(&config, &aws_config(SdkTimeouts::DEFAULT).await).await?;
    let worker = Arc::new(Worker {
        store: built.store,
        glase: PanicsOn {
            inner: built.glase,
            id,
        },
        queue: built.queue,
        clock: built.clock,
        policy: built.policy,
    });
    run(service_fn(|event: LambdaEvent<SqsEvent>| {
        let worker = Arc::clone(&worker);
        async move {
            let deadline_ms = i64::try_from(event.context.deadline).unwrap_or(i64::MAX);
            Ok::<_, Error>(worker.handle_batch(event.payload, deadline_ms).await)
        }
    }))
    .await
}
