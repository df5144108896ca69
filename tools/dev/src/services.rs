//! Starts DynamoDB Local and moto's SQS server from `.local/` (installed by
//! `scripts/install-local-deps.sh`) on free loopback ports.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The repository root (this crate lives in `tools/dev/`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// Where the install script puts things; `GLASE_LOCAL_DIR` overrides.
pub fn local_dir() -> PathBuf {
    std::env::var_os("GLASE_LOCAL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".local"))
}

/// A free TCP port on 127.0.0.1 (the OS picks; the tiny race is covered by readiness checks).
pub fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{what} is not installed at {path}: run `make deps` (scripts/install-local-deps.sh)")]
    NotInstalled { what: &'static str, path: PathBuf },
    #[error("could not start {what}: {source}")]
    Spawn {
        what: &'static str,
        source: std::io::Error,
    },
    #[error("{what} did not listen on port {port} within {secs} s")]
    NotReady {
        what: &'static str,
        port: u16,
        secs: u64,
    },
}

/// A child process that is killed when dropped, and — through `PR_SET_PDEATHSIG` — when the
/// thread that started it ends, so a crashed test run leaves no server behind.
#[derive(Debug)]
pub struct ServiceProcess {
    pub name: &'static str,
    pub port: u16,
    child: Child,
}

impl ServiceProcess {
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Makes the child get SIGKILL when the thread that spawned it ends (Linux), so no server
/// outlives a crashed test run or benchmark.
pub fn die_with_parent(cmd: &mut Command) {
    #[cfg(target_os = "linux")]
    unsafe {
        use std::os::unix::process::CommandExt;
        // Only async-signal-safe calls here: prctl is one.
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    #[cfg(not(target_os = "linux"))]
    let _ = cmd;
}

/// How long a service may take to listen (a cold JVM on a loaded 2-core machine is slow).
const READY_TIMEOUT: Duration = Duration::from_secs(90);

/// Starts the process without waiting for it: the caller waits, blocking or async.
fn spawn(
    name: &'static str,
    mut cmd: Command,
    port: u16,
    quiet: bool,
) -> Result<ServiceProcess, ServiceError> {
    if quiet {
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
    }
    cmd.stdin(Stdio::null());
    die_with_parent(&mut cmd);
    let child = cmd
        .spawn()
        .map_err(|source| ServiceError::Spawn { what: name, source })?;
    Ok(ServiceProcess { name, port, child })
}

impl ServiceProcess {
    fn not_ready(&self, secs: u64) -> ServiceError {
        ServiceError::NotReady {
            what: self.name,
            port: self.port,
            secs,
        }
    }

    fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// Waits (blocking the thread) until the service accepts connections.
    pub fn wait_ready(mut self) -> Result<Self, ServiceError> {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let start = Instant::now();
        while start.elapsed() < READY_TIMEOUT {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return if self.exited() {
                    Err(self.not_ready(0))
                } else {
                    Ok(self)
                };
            }
            if self.exited() {
                return Err(self.not_ready(0));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(self.not_ready(READY_TIMEOUT.as_secs()))
    }

    /// Waits without blocking the async runtime until the service accepts connections.
    pub async fn ready(mut self) -> Result<Self, ServiceError> {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let start = Instant::now();
        while start.elapsed() < READY_TIMEOUT {
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                return if self.exited() {
                    Err(self.not_ready(0))
                } else {
                    Ok(self)
                };
            }
            if self.exited() {
                return Err(self.not_ready(0));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(self.not_ready(READY_TIMEOUT.as_secs()))
    }
}

/// DynamoDB Local, started and ready (blocks the thread while it starts).
pub fn start_dynamodb_local(port: u16, quiet: bool) -> Result<ServiceProcess, ServiceError> {
    launch_dynamodb_local(port, quiet)?.wait_ready()
}

/// moto's SQS server, started and ready (blocks the thread while it starts).
pub fn start_moto(port: u16, quiet: bool) -> Result<ServiceProcess, ServiceError> {
    launch_moto(port, quiet)?.wait_ready()
}

/// DynamoDB Local (AWS's emulator, from the amplify-dynamodb-simulator npm package), in memory
/// and with `-sharedDb`: one database whatever access key and region a client uses, so the
/// AWS CLI or `glase-invoices` with other credentials sees the same table.
pub fn launch_dynamodb_local(port: u16, quiet: bool) -> Result<ServiceProcess, ServiceError> {
    let dir = local_dir().join("dynamodb-local/package/emulator");
    let jar = dir.join("DynamoDBLocal.jar");
    if !jar.is_file() {
        return Err(ServiceError::NotInstalled {
            what: "DynamoDB Local",
            path: jar,
        });
    }
    let mut cmd = Command::new(std::env::var_os("JAVA").unwrap_or_else(|| "java".into()));
    cmd.arg(format!(
        "-Djava.library.path={}",
        dir.join("DynamoDBLocal_lib").display()
    ))
    .arg("-Xmx512m")
    .arg("-jar")
    .arg(&jar)
    .args(["-inMemory", "-sharedDb", "-port", &port.to_string()])
    .current_dir(&dir);
    spawn("DynamoDB Local", cmd, port, quiet)
}

/// moto's server mode, which serves SQS (and more) on one port.
pub fn launch_moto(port: u16, quiet: bool) -> Result<ServiceProcess, ServiceError> {
    let bin = local_dir().join("venv/bin/moto_server");
    if !bin.is_file() {
        return Err(ServiceError::NotInstalled {
            what: "moto_server",
            path: bin,
        });
    }
    let mut cmd = Command::new(bin);
    cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
    spawn("moto (SQS)", cmd, port, quiet)
}
