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
    let mut process = ServiceProcess { name, port, child };
    if !wait_for_port(port, Duration::from_secs(90)) {
        return Err(ServiceError::NotReady {
            what: name,
            port,
            secs: 90,
        });
    }
    if let Ok(Some(_)) = process.child.try_wait() {
        return Err(ServiceError::NotReady {
            what: name,
            port,
            secs: 0,
        });
    }
    Ok(process)
}

/// Waits until something accepts TCP connections on 127.0.0.1:`port`; false on timeout.
pub fn wait_for_port(port: u16, timeout: Duration) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let start = Instant::now();
    while start.elapsed() < timeout {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// DynamoDB Local (AWS's emulator, from the amplify-dynamodb-simulator npm package), in memory.
/// `-sharedDb`: one database for every access key and region, so the AWS CLI or glase-invoices
/// with any credentials sees the tables `make dev` made (without it each key/region pair gets
/// its own, empty, database).
pub fn start_dynamodb_local(port: u16, quiet: bool) -> Result<ServiceProcess, ServiceError> {
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
pub fn start_moto(port: u16, quiet: bool) -> Result<ServiceProcess, ServiceError> {
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
