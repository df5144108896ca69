//! A worker in its own process (`fault-worker`, this crate's test-only binary) that a test can
//! SIGKILL mid-batch: the poller and the worker built from the Lambda environment, as in
//! `make dev`, announcing on stdout each lease it takes (`lease ID UNTIL_MS`) and each invoice
//! it stores (`stored ID`), so the test knows which leases died with it.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// What the process announced before it died.
#[derive(Debug, Default, Clone)]
pub struct Announced {
    pub ready: bool,
    /// (invoice id, lease until, epoch ms), in order.
    pub leases: Vec<(u64, i64)>,
    pub stored: Vec<u64>,
}

pub struct KillableWorker {
    child: Child,
    announced: Arc<Mutex<Announced>>,
}

impl KillableWorker {
    /// Starts `binary` (pass `env!("CARGO_BIN_EXE_fault-worker")`) with exactly `env` (plus
    /// PATH) and waits until it polls.
    pub async fn spawn(binary: &str, env: &HashMap<String, String>) -> KillableWorker {
        let mut cmd = std::process::Command::new(binary);
        cmd.env_clear()
            .envs(env)
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        // Dies with the test even if the test process is killed.
        glase_dev::services::die_with_parent(&mut cmd);
        let mut cmd = Command::from(cmd);
        cmd.kill_on_drop(true);
        let mut child = cmd.spawn().expect("start the fault-worker binary");
        let stdout = child.stdout.take().expect("piped stdout");
        let announced = Arc::new(Mutex::new(Announced::default()));
        let sink = Arc::clone(&announced);
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let mut a = sink.lock().unwrap_or_else(|p| p.into_inner());
                let words: Vec<&str> = line.split_whitespace().collect();
                match words.as_slice() {
                    ["ready"] => a.ready = true,
                    ["lease", id, until] => {
                        if let (Ok(id), Ok(until)) = (id.parse(), until.parse()) {
                            a.leases.push((id, until));
                        }
                    }
                    ["stored", id] => {
                        if let Ok(id) = id.parse() {
                            a.stored.push(id);
                        }
                    }
                    _ => {}
                }
            }
        });
        let worker = KillableWorker { child, announced };
        worker
            .wait("the fault-worker process to poll", |a| a.ready)
            .await;
        worker
    }

    pub fn announced(&self) -> Announced {
        self.announced
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Waits (at most 90 s) until `done` holds for what the process announced.
    pub async fn wait(&self, what: &str, done: impl Fn(&Announced) -> bool) {
        crate::wait::until(what, Duration::from_secs(90), || async {
            let a = self.announced();
            if done(&a) {
                Ok(())
            } else {
                Err(format!("announced so far: {a:?}"))
            }
        })
        .await;
    }

    /// SIGKILL: no unwinding, no release of leases, no deletes; then reaps the process.
    pub async fn kill(&mut self) -> std::process::ExitStatus {
        self.child.start_kill().expect("send SIGKILL");
        self.child.wait().await.expect("reap the killed worker")
    }
}
