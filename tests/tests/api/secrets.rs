//! No secret in any log line at any level: the real function binaries run a full pipeline at
//! `trace`, once through `RUST_LOG` and once through `AWS_LAMBDA_LOG_LEVEL`, each against its
//! own Lambda Runtime API (the bench's), with moto (SQS, SSM), DynamoDB Local and glase-sim.
//! Everything they print is searched for the issuer secret, the derived X-Auth-Token and the
//! webhook token; no line may carry a whole 1 MB request either.
//!
//! The binaries are the workspace's debug builds (`make test` builds them first; run alone,
//! this test builds them when they are missing or older than the sources), or with
//! `SHIPPED_BIN_DIR` the ones cargo-lambda built (see `glase_tests::lambda`).

use std::path::PathBuf;
use std::time::Duration;

use glase_shared::ports::InvoiceRecord;
use glase_shared::{AuthToken, InvoiceId, IssuerName};
use glase_sim::NewInvoice;
use glase_tests::lambda::{apigw_event, function_binaries, receive_batch, Function, LocalStage};
use glase_tests::services::{services, unique};
use secrecy::SecretString;
use serde_json::json;

const ISSUER: &str = "trace-issuer";
const INVOKE: Duration = Duration::from_secs(60);
/// The longest log line allowed (the SDK's own debug dumps reach ~20 KB at trace): a raw
/// event with a 1 MB body must never be printed whole.
const MAX_LINE: usize = 64 * 1024;
/// A run of the 1 MB body's padding: in no line, however long.
const PAD: &str = "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";

/// How the level is asked for.
#[derive(Clone, Copy, Debug)]
enum LevelVar {
    RustLog,
    AwsLambdaLogLevel,
}

#[tokio::test]
async fn nothing_secret_is_logged_at_trace_through_rust_log() {
    let logs = run_pipeline(LevelVar::RustLog, SecretFrom::Ssm).await;

    // Trace really was on, so the search below covers every level.
    assert!(
        logs.text.contains("\"level\":\"TRACE\""),
        "no TRACE line in {}",
        logs.dir.display()
    );
    logs.assert_clean();
}

#[tokio::test]
async fn nothing_secret_is_logged_at_trace_through_aws_lambda_log_level() {
    let logs = run_pipeline(LevelVar::AwsLambdaLogLevel, SecretFrom::Env).await;

    // Lambda's advanced logging controls are honoured: trace really was on.
    assert!(
        logs.text.contains("\"level\":\"TRACE\""),
        "AWS_LAMBDA_LOG_LEVEL=trace produced no TRACE line in {}",
        logs.dir.display()
    );
    logs.assert_clean();
}

#[derive(Clone, Copy, Debug)]
enum SecretFrom {
    /// `GLASE_SECRET_PARAMETER`: an SSM SecureString, as the stack deploys.
    Ssm,
    /// `GLASE_SECRET`: the plain variable for local runs.
    Env,
}

struct Logs {
    dir: PathBuf,
    text: String,
    secrets: Vec<(&'static str, String)>,
}

impl Logs {
    fn assert_clean(&self) {
        assert!(!self.text.is_empty(), "no output in {}", self.dir.display());
        for (what, secret) in &self.secrets {
            let hits: Vec<&str> = self
                .text
                .lines()
                .filter(|l| l.contains(secret.as_str()))
                .map(|l| &l[..l.len().min(300)])
                .collect();
            assert!(
                hits.is_empty(),
                "the {what} is logged:\n{}",
                hits.join("\n")
            );
        }
        // lambda_runtime's TRACE line carrying the whole event must stay off.
        assert!(
            !self.text.contains("raw JSON event received from Lambda") && !self.text.contains(PAD),
            "the raw event is logged; see {}",
            self.dir.display()
        );
        let longest = self.text.lines().map(str::len).max().unwrap_or(0);
        assert!(
            longest <= MAX_LINE,
            "a {longest}-byte log line in {}",
            self.dir.display()
        );
    }
}

/// Notifications through the webhook (a good one, a wrong token, a 1 MB body), then the
/// queued batch through the worker (one paid invoice, one Glase does not know).
async fn run_pipeline(level: LevelVar, secret_from: SecretFrom) -> Logs {
    let svc = services();
    let tag = unique("trace");
    let secret = format!("issuer-secret-{tag}");
    let webhook_token = format!("webhook-token-{tag}");
    let derived = AuthToken::derive(
        &IssuerName::parse(ISSUER).unwrap(),
        &SecretString::from(secret.clone()),
    )
    .expose()
    .to_owned();
    let stage = LocalStage::new("trace", ISSUER, &secret, 7).await;
    let (dir, sqs, store, sim) = (&stage.dir, &stage.sqs, &stage.store, &stage.sim);
    let (queue_url, dlq_url, table) = (
        stage.queue_url.clone(),
        stage.dlq_url.clone(),
        stage.table.clone(),
    );
    let paid = sim
        .sim()
        .pay(NewInvoice {
            issuer: ISSUER.into(),
            amount: "59.99".into(),
            currency: "GBP".into(),
            description: "trace".into(),
            reference: "trace-1".into(),
            ..NewInvoice::default()
        })
        .await
        .unwrap()
        .id
        .get();
    let unknown = paid + 1_000_000;

    let secret_vars = match secret_from {
        SecretFrom::Env => vec![("GLASE_SECRET", secret.clone())],
        SecretFrom::Ssm => {
            let name = format!("/{tag}/issuer-secret");
            let aws = glase_dev::aws::local_config(&svc.dynamodb_endpoint, &svc.sqs_endpoint);
            aws_sdk_ssm::Client::new(&aws)
                .put_parameter()
                .name(&name)
                .value(&secret)
                .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
                .send()
                .await
                .unwrap();
            vec![
                ("GLASE_SECRET_PARAMETER", name),
                ("AWS_ENDPOINT_URL_SSM", svc.sqs_endpoint.clone()),
            ]
        }
    };
    let level_var = match level {
        LevelVar::RustLog => "RUST_LOG",
        LevelVar::AwsLambdaLogLevel => "AWS_LAMBDA_LOG_LEVEL",
    };
    let mut webhook_env = vec![
        (level_var, "trace".to_owned()),
        ("QUEUE_URL", queue_url.clone()),
        ("WEBHOOK_TOKEN", webhook_token.clone()),
        ("AWS_ENDPOINT_URL_SQS", svc.sqs_endpoint.clone()),
    ];
    let mut worker_env = vec![
        (level_var, "trace".to_owned()),
        ("GLASE_BASE_URL", sim.base_url()),
        ("GLASE_ISSUER", ISSUER.to_owned()),
        ("TABLE_NAME", table.clone()),
        ("QUEUE_URL", queue_url.clone()),
        ("DEAD_LETTER_QUEUE_URL", dlq_url),
        ("AWS_ENDPOINT_URL_SQS", svc.sqs_endpoint.clone()),
        ("AWS_ENDPOINT_URL_DYNAMODB", svc.dynamodb_endpoint.clone()),
        // A 404 is final at once, so the rejection path runs (and logs) in this one batch.
        ("REJECT_AFTER_RECEIVES", "1".to_owned()),
    ];
    worker_env.extend(secret_vars);
    if let LevelVar::AwsLambdaLogLevel = level {
        // Lambda sets both when advanced logging controls are on.
        webhook_env.push(("AWS_LAMBDA_LOG_FORMAT", "JSON".into()));
        worker_env.push(("AWS_LAMBDA_LOG_FORMAT", "JSON".into()));
    }

    let [webhook_bin, worker_bin] = function_binaries(
        ["glase-webhook", "glase-worker"],
        &[
            "shared/src",
            "functions/webhook/src",
            "functions/worker/src",
        ],
    );
    let webhook = Function::start(&webhook_bin, "webhook", &webhook_env, dir, INVOKE).await;
    let good = format!(r#"{{"invoiceId": {paid}}}"#);
    let token_path = format!("/notifications/{webhook_token}");
    let big = format!(
        r#"{{"invoiceId": {paid}, "pad": "{}", "token": "{webhook_token}"}}"#,
        "x".repeat(1 << 20)
    );
    for (path, body, want) in [
        (token_path.as_str(), good.clone(), 200),
        (
            token_path.as_str(),
            format!(r#"{{"invoiceId": {unknown}}}"#),
            200,
        ),
        ("/notifications/not-the-token", good.clone(), 401),
        (token_path.as_str(), big, 413),
    ] {
        let answer = webhook.invoke(apigw_event(path, &body), INVOKE).await;
        assert_eq!(answer["statusCode"], want, "{path}: {answer}");
    }
    webhook.stop();

    let batch = receive_batch(sqs, &queue_url, 2).await;
    let worker = Function::start(&worker_bin, "worker", &worker_env, dir, INVOKE).await;
    let answer = worker.invoke(batch.to_string(), INVOKE).await;
    assert_eq!(answer["batchItemFailures"], json!([]), "{answer}");
    worker.stop();
    assert!(matches!(
        store.get(InvoiceId::new(paid).unwrap()).await.unwrap(),
        Some(InvoiceRecord::Stored { .. })
    ));
    assert!(matches!(
        store.get(InvoiceId::new(unknown).unwrap()).await.unwrap(),
        Some(InvoiceRecord::Rejected { .. })
    ));

    let mut text = String::new();
    for name in ["webhook", "worker"] {
        text.push_str(&std::fs::read_to_string(dir.join(format!("{name}.log"))).unwrap());
    }
    Logs {
        dir: dir.clone(),
        text,
        secrets: vec![
            ("issuer secret", secret),
            ("X-Auth-Token", derived),
            ("webhook token", webhook_token),
        ],
    }
}
