//! The binaries that ship, run as Lambda runs them: `make check-shipped` (x86_64) and
//! `make check-arm64` (arm64 under qemu-user) build glase-webhook, glase-worker and the panic
//! probe with cargo-lambda, as `sam build` does, and run these tests on them through
//! `SHIPPED_BIN_DIR` (and `SHIPPED_RUNNER`). Ignored in `make test`: building the release
//! binaries costs minutes. With DynamoDB Local, moto's SQS and glase-sim, as everywhere else.

use std::time::Duration;

use glase_shared::message;
use glase_shared::ports::InvoiceRecord;
use glase_shared::InvoiceId;
use glase_sim::NewInvoice;
use glase_tests::lambda::{
    apigw_event, function_binaries, receive_batch, shipped_bin_dir, Function, LocalStage,
};
use glase_tests::services::services;
use serde_json::{json, Value};

const ISSUER: &str = "shipped-issuer";
const SECRET: &str = "shipped-issuer-secret";
const WEBHOOK_TOKEN: &str = "shipped-webhook-token";
/// Generous: under emulation an arm64 cold start takes seconds.
const INVOKE: Duration = Duration::from_secs(60);

/// A local stage (tests/src/lambda.rs) with `n` paid invoices, and each function's variables.
struct Stage {
    local: LocalStage,
    worker_env: Vec<(&'static str, String)>,
    webhook_env: Vec<(&'static str, String)>,
    paid: Vec<u64>,
}

impl Stage {
    async fn new(n: usize) -> Self {
        let svc = services();
        let local = LocalStage::new("shipped", ISSUER, SECRET, 11).await;
        let mut paid = Vec::new();
        for i in 0..n {
            let invoice = local
                .sim
                .sim()
                .pay(NewInvoice {
                    issuer: ISSUER.into(),
                    amount: format!("{}.99", 10 + i),
                    currency: "EUR".into(),
                    description: format!("shipped {i}"),
                    reference: format!("shipped-{i}"),
                    ..NewInvoice::default()
                })
                .await
                .unwrap();
            paid.push(invoice.id.get());
        }
        let webhook_env = vec![
            ("QUEUE_URL", local.queue_url.clone()),
            ("WEBHOOK_TOKEN", WEBHOOK_TOKEN.to_owned()),
            ("AWS_ENDPOINT_URL_SQS", svc.sqs_endpoint.clone()),
        ];
        let worker_env = vec![
            ("GLASE_BASE_URL", local.sim.base_url()),
            ("GLASE_ISSUER", ISSUER.to_owned()),
            ("GLASE_SECRET", SECRET.to_owned()),
            ("TABLE_NAME", local.table.clone()),
            ("QUEUE_URL", local.queue_url.clone()),
            ("DEAD_LETTER_QUEUE_URL", local.dlq_url.clone()),
            ("AWS_ENDPOINT_URL_SQS", svc.sqs_endpoint.clone()),
            ("AWS_ENDPOINT_URL_DYNAMODB", svc.dynamodb_endpoint.clone()),
        ];
        Self {
            local,
            worker_env,
            webhook_env,
            paid,
        }
    }

    /// Queues one notification per id, as the webhook does, and receives them as one batch.
    async fn batch_of(&self, ids: &[u64]) -> Value {
        for &id in ids {
            self.local
                .sqs
                .send_message()
                .queue_url(&self.local.queue_url)
                .message_body(message::body(InvoiceId::new(id).unwrap()))
                .send()
                .await
                .unwrap();
        }
        receive_batch(&self.local.sqs, &self.local.queue_url, ids.len()).await
    }

    async fn record(&self, id: u64) -> Option<InvoiceRecord> {
        self.local
            .store
            .get(InvoiceId::new(id).unwrap())
            .await
            .unwrap()
    }
}

fn report_which_binaries() {
    match shipped_bin_dir() {
        Some(dir) => eprintln!("testing the binaries in {}", dir.display()),
        None => eprintln!("SHIPPED_BIN_DIR is not set: testing the debug builds instead"),
    }
}

/// The message id of the record in `batch` whose body is `id`'s notification.
fn message_id_of(batch: &Value, id: u64) -> String {
    let body = message::body(InvoiceId::new(id).unwrap());
    batch["Records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["body"] == body.as_str())
        .and_then(|r| r["messageId"].as_str())
        .unwrap()
        .to_owned()
}

#[tokio::test]
#[ignore = "run by make check-shipped / make check-arm64 on cargo-lambda builds"]
async fn the_shipped_webhook_queues_a_paid_invoice_and_the_shipped_worker_stores_it() {
    // Arrange
    report_which_binaries();
    let stage = Stage::new(1).await;
    let paid = stage.paid[0];
    let [webhook_bin, worker_bin] = function_binaries(
        ["glase-webhook", "glase-worker"],
        &[
            "shared/src",
            "functions/webhook/src",
            "functions/worker/src",
        ],
    );
    let token_path = format!("/notifications/{WEBHOOK_TOKEN}");
    let good = format!(r#"{{"invoiceId": {paid}}}"#);

    // Act: the webhook refuses what it must and queues the notification...
    let webhook = Function::start(
        &webhook_bin,
        "webhook",
        &stage.webhook_env,
        &stage.local.dir,
        INVOKE,
    )
    .await;
    let mut answers = Vec::new();
    for (path, body) in [
        ("/notifications/not-the-token", good.as_str()),
        (token_path.as_str(), r#"{"invoiceId": "x"}"#),
        (token_path.as_str(), good.as_str()),
    ] {
        let answer = webhook.invoke(apigw_event(path, body), INVOKE).await;
        answers.push(answer["statusCode"].clone());
    }
    webhook.stop();
    // ...and the worker stores what was queued.
    let batch = receive_batch(&stage.local.sqs, &stage.local.queue_url, 1).await;
    let worker = Function::start(
        &worker_bin,
        "worker",
        &stage.worker_env,
        &stage.local.dir,
        INVOKE,
    )
    .await;
    let answer = worker.invoke(batch.to_string(), INVOKE).await;
    worker.stop();

    // Assert
    assert_eq!(
        answers,
        [json!(401), json!(400), json!(200)],
        "see {}",
        stage.local.dir.display()
    );
    assert_eq!(answer["batchItemFailures"], json!([]), "{answer}");
    match stage.record(paid).await {
        Some(InvoiceRecord::Stored { invoice, .. }) => {
            assert_eq!(invoice.amount.to_string(), "10.99");
            assert_eq!(invoice.reference, "shipped-0");
        }
        other => panic!(
            "invoice {paid}: {other:?}; see {}",
            stage.local.dir.display()
        ),
    }
}

#[tokio::test]
#[ignore = "run by make check-shipped / make check-arm64 on cargo-lambda builds"]
async fn a_record_that_panics_in_the_shipped_worker_fails_alone_and_the_process_lives_on() {
    // Arrange: the probe is glase-worker with one invoice whose fetch panics.
    report_which_binaries();
    let stage = Stage::new(3).await;
    let (good, panics, later) = (stage.paid[0], stage.paid[1], stage.paid[2]);
    let [probe_bin] = function_binaries(
        ["probe-panic-worker"],
        &["shared/src", "functions/worker/src", "tools/probes/src"],
    );
    let mut env = stage.worker_env.clone();
    env.push(("PANIC_INVOICE_ID", panics.to_string()));
    let mut probe = Function::start(&probe_bin, "probe", &env, &stage.local.dir, INVOKE).await;
    let batch = stage.batch_of(&[good, panics]).await;

    // Act
    let first = probe.try_invoke(batch.to_string(), INVOKE).await;
    let alive = probe.is_running();
    let second = match alive {
        true => Some(
            probe
                .invoke(stage.batch_of(&[later]).await.to_string(), INVOKE)
                .await,
        ),
        false => None,
    };
    probe.stop();

    // Assert
    let first: Value = match first {
        Some(glase_tests::lambda::Answer::Response(body)) => serde_json::from_slice(&body).unwrap(),
        other => panic!(
            "the batch failed as a whole ({other:?}): panics abort the process; see {}",
            stage.local.dir.display()
        ),
    };
    assert_eq!(
        first["batchItemFailures"],
        json!([{ "itemIdentifier": message_id_of(&batch, panics) }]),
        "{first}"
    );
    assert!(alive, "the process died with the panicking record");
    assert_eq!(second.unwrap()["batchItemFailures"], json!([]));
    for id in [good, later] {
        assert!(
            matches!(stage.record(id).await, Some(InvoiceRecord::Stored { .. })),
            "invoice {id} not stored; see {}",
            stage.local.dir.display()
        );
    }
    assert!(
        !matches!(
            stage.record(panics).await,
            Some(InvoiceRecord::Stored { .. })
        ),
        "the panicking invoice cannot have been stored"
    );
}
