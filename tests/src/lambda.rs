//! Function binaries run as Lambda runs them: a process of their own, talking to a Runtime API
//! (glase-dev's, served on loopback), one event at a time. Used by the secrets test (debug
//! builds at `trace`) and by `make check-shipped` / `make check-arm64` (the binaries
//! cargo-lambda builds, as `sam build` does).
//!
//! Which binaries: `SHIPPED_BIN_DIR` set → `<dir>/<name>/bootstrap` (cargo-lambda's layout),
//! run through `SHIPPED_RUNNER` when that is set (e.g. `qemu-aarch64 -L /usr/aarch64-linux-gnu`
//! for arm64); otherwise the workspace's debug builds, built when missing or stale.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime};

use glase_dev::runtime_api::RuntimeApi;
use glase_dev::services::die_with_parent;
use serde_json::{json, Value};

pub use glase_dev::runtime_api::Answer;

const APIGW_FIXTURE: &str = include_str!("../../events/apigw-notification.json");

/// A function binary running against its own Runtime API, output to `<dir>/<name>.log`.
pub struct Function {
    child: Child,
    api: RuntimeApi,
    name: &'static str,
}

impl Function {
    /// Starts `binary` (through `SHIPPED_RUNNER` if set) and waits for its first
    /// `GET /next`, i.e. the end of its init; panics with its init error otherwise.
    pub async fn start(
        binary: &Path,
        name: &'static str,
        env: &[(&str, String)],
        dir: &Path,
        timeout: Duration,
    ) -> Self {
        let api = RuntimeApi::start(name).await.unwrap();
        let log = std::fs::File::create(dir.join(format!("{name}.log"))).unwrap();
        let runner = runner();
        let mut cmd = match runner.split_first() {
            Some((program, args)) => {
                let mut cmd = Command::new(program);
                cmd.args(args).arg(binary);
                cmd
            }
            None => Command::new(binary),
        };
        cmd.env_clear()
            .env("PATH", "/usr/bin:/bin")
            .envs([
                ("AWS_LAMBDA_RUNTIME_API", api.host_port()),
                ("AWS_LAMBDA_FUNCTION_NAME", name.to_owned()),
                ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128".into()),
                ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
                ("AWS_REGION", glase_dev::aws::REGION.into()),
                ("AWS_ACCESS_KEY_ID", "local".into()),
                ("AWS_SECRET_ACCESS_KEY", "local".into()),
                ("AWS_CONFIG_FILE", "/nonexistent".into()),
                ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent".into()),
                ("AWS_EC2_METADATA_DISABLED", "true".into()),
            ])
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        die_with_parent(&mut cmd);
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("{name}: cannot run {}: {e}", binary.display()));
        if api.first_next(timeout).await.is_none() {
            let _ = child.kill();
            panic!(
                "{name} did not start: {:?}; see {}",
                api.init_error(),
                dir.display()
            );
        }
        Self { child, api, name }
    }

    /// One invocation; `None` when the function did not answer within `timeout`.
    pub async fn try_invoke(&self, event: String, timeout: Duration) -> Option<Answer> {
        self.api.invoke(event, timeout).await.ok().map(|(a, _)| a)
    }

    /// One invocation that must succeed: its response, as JSON.
    pub async fn invoke(&self, event: String, timeout: Duration) -> Value {
        match self.try_invoke(event, timeout).await {
            Some(Answer::Response(body)) => serde_json::from_slice(&body).unwrap(),
            Some(Answer::Error { body, .. }) => panic!(
                "{} failed the invocation: {}",
                self.name,
                String::from_utf8_lossy(&body)
            ),
            None => panic!("{} did not answer within {timeout:?}", self.name),
        }
    }

    /// Whether the process is still alive (a panic under `panic = "abort"` kills it).
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Stops the process so its output is complete.
    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `SHIPPED_RUNNER`, split on whitespace (empty: run the binary itself).
fn runner() -> Vec<String> {
    std::env::var("SHIPPED_RUNNER")
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

/// Where `SHIPPED_BIN_DIR` says, if it is set.
pub fn shipped_bin_dir() -> Option<PathBuf> {
    std::env::var_os("SHIPPED_BIN_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
}

/// The binaries named `packages` (a function's or a probe's): the shipped ones when
/// `SHIPPED_BIN_DIR` is set, else this target directory's debug builds, built first when
/// missing or older than the sources they are made of.
pub fn function_binaries<const N: usize>(packages: [&str; N], sources: &[&str]) -> [PathBuf; N] {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    if let Some(dir) = shipped_bin_dir() {
        let dir = root.join(dir);
        return packages.map(|p| {
            let bootstrap = dir.join(p).join("bootstrap");
            assert!(
                bootstrap.is_file(),
                "{} is missing: build it with scripts/lambda-build.sh",
                bootstrap.display()
            );
            bootstrap
        });
    }
    let exe = std::env::current_exe().unwrap();
    // target/debug/deps/<test>-… → target/debug
    let dir = exe.parent().and_then(Path::parent).unwrap().to_path_buf();
    let binaries = packages.map(|b| dir.join(b));
    let newest_source = sources
        .iter()
        .flat_map(|d| walk(&root.join(d)))
        .chain([root.join("Cargo.lock")])
        .filter_map(|p| p.metadata().and_then(|m| m.modified()).ok())
        .max()
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let stale = binaries.iter().any(|b| {
        b.metadata()
            .and_then(|m| m.modified())
            .map_or(true, |t| t < newest_source)
    });
    if stale {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "--locked"]);
        for b in packages {
            // Each function is a package of its own name; the probes are binaries of glase-probes.
            let package = match b {
                "bench-echo" | "bench-rng" | "probe-panic-worker" => "glase-probes",
                function => function,
            };
            cmd.args(["-p", package, "--bin", b]);
        }
        let status = cmd.current_dir(root).status().unwrap();
        assert!(status.success(), "building {packages:?} failed");
    }
    binaries
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// API Gateway's event (events/apigw-notification.json) for a POST of `body` to `path`.
pub fn apigw_event(path: &str, body: &str) -> String {
    let mut event: Value = serde_json::from_str(APIGW_FIXTURE).unwrap();
    event["rawPath"] = path.into();
    event["requestContext"]["http"]["path"] = path.into();
    // The route's parameter, as API Gateway fills it: the webhook reads the token there first.
    event["pathParameters"] = match path.strip_prefix("/notifications/") {
        Some(token) => json!({ "token": token }),
        None => json!({}),
    };
    event["body"] = body.into();
    event.to_string()
}

/// Receives `n` messages and shapes them as the SQS event source mapping's event.
pub async fn receive_batch(sqs: &aws_sdk_sqs::Client, queue_url: &str, n: usize) -> Value {
    let mut records = Vec::new();
    while records.len() < n {
        let out = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        for m in out.messages() {
            records.push(json!({
                "messageId": m.message_id(),
                "receiptHandle": m.receipt_handle(),
                "body": m.body(),
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "awsRegion": glase_dev::aws::REGION,
            }));
        }
    }
    json!({ "Records": records })
}

/// What a function binary runs against: a fresh table and queue pair on the shared local
/// services, glase-sim serving one issuer, and a directory for the functions' logs.
pub struct LocalStage {
    pub tag: String,
    pub dir: std::path::PathBuf,
    pub sqs: aws_sdk_sqs::Client,
    pub store: glase_shared::adapters::DynamoStore,
    pub table: String,
    pub queue_url: String,
    pub dlq_url: String,
    pub sim: glase_sim::RunningSim,
}

impl LocalStage {
    pub async fn new(prefix: &str, issuer: &str, secret: &str, seed: u64) -> Self {
        use crate::services::{services, unique};
        let svc = services();
        let tag = unique(prefix);
        let dir = std::env::temp_dir().join(&tag);
        std::fs::create_dir_all(&dir).unwrap();
        let sqs = glase_dev::aws::sqs(&svc.sqs_endpoint);
        let ddb = glase_dev::aws::dynamodb(&svc.dynamodb_endpoint);
        let table = unique(&format!("{prefix}-invoices"));
        glase_shared::adapters::dynamo::ensure_table(&ddb, &table)
            .await
            .unwrap();
        let (queue_url, dlq_url) = glase_dev::aws::create_queues(&sqs, &tag, 30, 5)
            .await
            .unwrap();
        let sim = glase_sim::Sim::serve(
            glase_sim::SimConfig {
                issuers: vec![glase_sim::IssuerConfig::new(issuer, secret.to_owned())],
                time_scale: 0.001,
                seed,
                initial_invoices: Vec::new(),
                ..glase_sim::SimConfig::default()
            },
            std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        )
        .await
        .unwrap();
        Self {
            tag,
            dir,
            sqs,
            store: glase_shared::adapters::DynamoStore::new(ddb, &table),
            table,
            queue_url,
            dlq_url,
            sim,
        }
    }
}
