//! Function processes: started with a Lambda-like environment, killed on drop (and, through
//! `PR_SET_PDEATHSIG`, if the bench dies), and measured through `/proc`.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

pub struct FunctionProcess {
    child: Child,
    /// Just before `spawn`: the start of the cold start.
    pub started: Instant,
}

impl FunctionProcess {
    /// Starts `binary` (under `wrap`, if given) with exactly `env` (plus PATH), its output
    /// appended to `log`.
    pub fn spawn(
        binary: &Path,
        args: &[String],
        wrap: Option<&[String]>,
        env: &[(String, String)],
        log: &Path,
    ) -> std::io::Result<Self> {
        let out = File::options().create(true).append(true).open(log)?;
        let err = out.try_clone()?;
        let mut cmd = match wrap {
            Some([program, wrap_args @ ..]) => {
                let mut cmd = Command::new(program);
                cmd.args(wrap_args).arg(binary);
                cmd
            }
            _ => Command::new(binary),
        };
        cmd.args(args);
        cmd.env_clear()
            .env("PATH", "/usr/bin:/bin")
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        glase_dev::services::die_with_parent(&mut cmd);
        let started = Instant::now();
        let child = cmd.spawn()?;
        Ok(Self { child, started })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `Some(status)` once the process has exited.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Peak resident set (VmHWM), in bytes.
    pub fn peak_rss(&self) -> Option<u64> {
        status_kb(self.pid(), "VmHWM:").map(|kb| kb * 1024)
    }

    /// Resident set now (VmRSS), in bytes.
    pub fn rss(&self) -> Option<u64> {
        status_kb(self.pid(), "VmRSS:").map(|kb| kb * 1024)
    }

    /// Resident anonymous memory (heap, stacks) and file-backed memory (the binary's and
    /// libraries' pages) now, in bytes.
    pub fn rss_anon_file(&self) -> (Option<u64>, Option<u64>) {
        let kb = |field| status_kb(self.pid(), field).map(|kb| kb * 1024);
        (kb("RssAnon:"), kb("RssFile:"))
    }

    pub fn cpu(&self) -> CpuTime {
        CpuTime::of(self.pid())
    }
}

impl Drop for FunctionProcess {
    /// SIGTERM first (so a profiler wrapping the function can write its data), then SIGKILL
    /// after at most 5 s.
    fn drop(&mut self) {
        if let Ok(pid) = libc::pid_t::try_from(self.child.id()) {
            // SAFETY: kill has no memory-safety preconditions; the pid is our unreaped child.
            unsafe { libc::kill(pid, libc::SIGTERM) };
            let deadline = Instant::now() + std::time::Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn status_kb(pid: u32, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_status_kb(&text, field)
}

pub fn parse_status_kb(status: &str, field: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// CPU a process has used so far, two ways: the scheduler's nanosecond counters summed over
/// its threads (`/proc/PID/task/*/schedstat`), and utime+stime in clock ticks (`/proc/PID/stat`).
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuTime {
    pub sched_ns: Option<u64>,
    pub ticks: Option<u64>,
    /// utime alone, in ticks.
    pub user_ticks: Option<u64>,
}

impl CpuTime {
    pub fn of(pid: u32) -> Self {
        let user_sys = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|t| parse_stat_user_sys(&t));
        Self {
            sched_ns: sched_ns(pid),
            ticks: user_sys.map(|(u, s)| u + s),
            user_ticks: user_sys.map(|(u, _)| u),
        }
    }

    /// CPU milliseconds from `earlier` to `self`: the nanosecond figure when the kernel keeps
    /// it, else ticks.
    pub fn ms_since(&self, earlier: &CpuTime) -> Option<f64> {
        match (self.sched_ns, earlier.sched_ns) {
            (Some(a), Some(b)) => Some(a.saturating_sub(b) as f64 / 1e6),
            _ => {
                let (a, b) = (self.ticks?, earlier.ticks?);
                Some(a.saturating_sub(b) as f64 * 1000.0 / clock_ticks_per_sec())
            }
        }
    }

    /// The share of CPU time spent in user space (the rest is the kernel's), from ticks.
    pub fn user_share_since(&self, earlier: &CpuTime) -> Option<f64> {
        let total = self.ticks?.saturating_sub(earlier.ticks?);
        let user = self.user_ticks?.saturating_sub(earlier.user_ticks?);
        (total > 0).then(|| user as f64 / total as f64)
    }

    pub fn tick_ms_since(&self, earlier: &CpuTime) -> Option<f64> {
        Some(self.ticks?.saturating_sub(earlier.ticks?) as f64 * 1000.0 / clock_ticks_per_sec())
    }
}

fn clock_ticks_per_sec() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

fn sched_ns(pid: u32) -> Option<u64> {
    let dir = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut total = 0u64;
    let mut any = false;
    for task in dir.flatten() {
        let path: PathBuf = task.path().join("schedstat");
        if let Ok(text) = std::fs::read_to_string(path) {
            if let Some(ns) = text
                .split_whitespace()
                .next()
                .and_then(|n| n.parse::<u64>().ok())
            {
                total += ns;
                any = true;
            }
        }
    }
    any.then_some(total)
}

/// (utime, stime) in ticks from a `/proc/PID/stat` line (fields 14 and 15, counted after the
/// `(comm)`, which may itself contain spaces and parentheses).
pub fn parse_stat_user_sys(stat: &str) -> Option<(u64, u64)> {
    let after_comm = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    // after_comm starts at field 3 (state); utime is field 14, stime 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime, stime))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_utime_and_stime_past_a_tricky_comm() {
        let stat = "1234 (we ird) name)) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 37 0 0 20 0 1 0 12345 1000 200";
        assert_eq!(parse_stat_user_sys(stat), Some((250, 37)));
        assert_eq!(parse_stat_user_sys("garbage"), None);
    }

    #[test]
    fn reads_kb_fields_of_proc_status() {
        let status = "Name:\tx\nVmPeak:\t  10000 kB\nVmHWM:\t    3456 kB\nVmRSS:\t    3000 kB\n";
        assert_eq!(parse_status_kb(status, "VmHWM:"), Some(3456));
        assert_eq!(parse_status_kb(status, "VmRSS:"), Some(3000));
        assert_eq!(parse_status_kb(status, "VmSwap:"), None);
    }

    #[test]
    fn own_process_is_measurable() {
        let cpu = CpuTime::of(std::process::id());
        assert!(cpu.ticks.is_some());
        assert!(status_kb(std::process::id(), "VmHWM:").unwrap() > 0);
    }
}
