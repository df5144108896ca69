//! `fault-worker`: the worker as `make dev` runs it — built from the Lambda environment by
//! `LambdaWorker::from_config`, fed by the local SQS poller — in a process of its own, so the
//! fault matrix can SIGKILL it mid-batch. Its store announces on stdout each lease it takes
//! (`lease ID UNTIL_MS`) and each invoice it stores (`stored ID`).
//!
//! Beyond the worker's own variables: `DYNAMODB_ENDPOINT`, `SQS_ENDPOINT` (the local
//! services) and `FUNCTION_TIMEOUT_MS` (each batch's deadline, as Lambda's timeout).

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use glase_dev::poller::{self, PollerConfig};
use glase_shared::config::Env;
use glase_shared::ports::{AdapterError, Claim, Completion, InvoiceStore, Lease, Rejection};
use glase_shared::{Invoice, InvoiceId};
use glase_worker::{LambdaWorker, Worker, WorkerConfig};
use jiff::Timestamp;

/// The real store, telling the test what it does.
struct Announcing<S>(S);

fn announce(line: String) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

impl<S: InvoiceStore> InvoiceStore for Announcing<S> {
    async fn claim(&self, id: InvoiceId, lease: &Lease) -> Result<Claim, AdapterError> {
        let claim = self.0.claim(id, lease).await;
        if let Ok(Claim::Acquired { .. }) = claim {
            announce(format!("lease {id} {}", lease.until_ms));
        }
        claim
    }

    async fn store(
        &self,
        invoice: &Invoice,
        lease: &Lease,
        stored_at: Timestamp,
    ) -> Result<Completion, AdapterError> {
        let done = self.0.store(invoice, lease, stored_at).await;
        if let Ok(Completion::Done) = done {
            announce(format!("stored {}", invoice.id));
        }
        done
    }

    async fn reject(
        &self,
        id: InvoiceId,
        lease: &Lease,
        rejection: &Rejection,
        at: Timestamp,
    ) -> Result<Completion, AdapterError> {
        self.0.reject(id, lease, rejection, at).await
    }

    async fn release(
        &self,
        id: InvoiceId,
        lease: &Lease,
        error: &str,
        at: Timestamp,
    ) -> Result<(), AdapterError> {
        self.0.release(id, lease, error, at).await
    }

    async fn release_rejectable(
        &self,
        id: InvoiceId,
        lease: &Lease,
        error: &str,
        at: Timestamp,
    ) -> Result<(), AdapterError> {
        self.0.release_rejectable(id, lease, error, at).await
    }
}

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is required"))
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let config = WorkerConfig::from_env(&Env::process())
        .unwrap_or_else(|e| panic!("worker configuration: {e}"));
    let aws = glase_dev::aws::local_config(&var("DYNAMODB_ENDPOINT"), &var("SQS_ENDPOINT"));
    let function_timeout = Duration::from_millis(
        var("FUNCTION_TIMEOUT_MS")
            .parse()
            .expect("FUNCTION_TIMEOUT_MS is a number of milliseconds"),
    );
    let built = LambdaWorker::from_config(&config, &aws)
        .await
        .unwrap_or_else(|e| panic!("worker init: {e}"));
    let worker = Arc::new(Worker {
        store: Announcing(built.store),
        glase: built.glase,
        queue: built.queue,
        clock: built.clock,
        policy: built.policy,
    });
    let poller_config = PollerConfig {
        queue_url: config.queue_url.clone(),
        batch_size: 10,
        wait_time_secs: 1,
        function_timeout,
    };
    announce("ready".into());
    poller::run(
        aws_sdk_sqs::Client::new(&aws),
        poller_config,
        worker,
        std::future::pending::<()>(),
    )
    .await;
}
