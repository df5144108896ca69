//! Glase's side of the fault matrix: a pool of concurrent senders that POST `{"invoiceId": N}`
//! and, like Glase, retry any answer but 200 later on Glase's schedule (time-scaled), giving up
//! only after the schedule's last attempt. Every attempt is recorded.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// One notification Glase owes: an invoice id and where to send it.
#[derive(Debug, Clone)]
pub struct Notification {
    /// Unique in the run.
    pub seq: usize,
    pub invoice_id: u64,
    /// The full notification URL (token included).
    pub url: String,
}

/// One POST and what came of it.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub seq: usize,
    pub invoice_id: u64,
    /// 1 for the first attempt.
    pub number: u32,
    pub started: Instant,
    pub finished: Instant,
    /// The HTTP status, if there was an answer.
    pub status: Option<u16>,
    pub error: Option<String>,
}

#[derive(Default)]
struct Log {
    attempts: Vec<Attempt>,
    delivered: HashSet<usize>,
    gave_up: Vec<usize>,
    submitted: usize,
}

struct Job {
    notification: Arc<Notification>,
    number: u32,
}

/// The running pool. Dropping it stops the senders (pending retries are abandoned).
pub struct Senders {
    jobs: mpsc::UnboundedSender<Job>,
    log: Arc<Mutex<Log>>,
    tasks: JoinSet<()>,
}

impl Senders {
    /// `count` senders; retries wait Glase's delays × `time_scale`; each POST may take
    /// `attempt_timeout` before it counts as failed.
    pub fn start(count: usize, time_scale: f64, attempt_timeout: Duration) -> Senders {
        let delays = glase_sim::schedule::notification_delays(time_scale);
        let (tx, rx) = mpsc::unbounded_channel::<Job>();
        let rx = Arc::new(tokio::sync::Mutex::new(rx));
        let log = Arc::new(Mutex::new(Log::default()));
        let http = reqwest::Client::builder()
            .timeout(attempt_timeout)
            // A connection per notification, as a sender that keeps none open: nothing holds
            // a webhook's graceful shutdown up.
            .pool_max_idle_per_host(0)
            .build()
            .expect("HTTP client");
        let mut tasks = JoinSet::new();
        for _ in 0..count.max(1) {
            let (rx, tx, log, http, delays) = (
                Arc::clone(&rx),
                tx.clone(),
                Arc::clone(&log),
                http.clone(),
                delays.clone(),
            );
            tasks.spawn(async move {
                loop {
                    let job = rx.lock().await.recv().await;
                    let Some(job) = job else { return };
                    send(&http, &log, &tx, &delays, job).await;
                }
            });
        }
        Senders {
            jobs: tx,
            log,
            tasks,
        }
    }

    /// Queues a notification for its first attempt.
    pub fn send(&self, notification: Notification) {
        self.log().submitted += 1;
        let job = Job {
            notification: Arc::new(notification),
            number: 1,
        };
        self.jobs.send(job).expect("senders are running");
    }

    fn log(&self) -> std::sync::MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every attempt so far, in the order they finished.
    pub fn attempts(&self) -> Vec<Attempt> {
        self.log().attempts.clone()
    }

    /// How many of the notifications `seqs` says are wanted got their 200.
    pub fn delivered(&self, seqs: impl Fn(usize) -> bool) -> usize {
        self.log().delivered.iter().filter(|s| seqs(**s)).count()
    }

    /// (submitted, delivered, gave up).
    pub fn totals(&self) -> (usize, usize, usize) {
        let log = self.log();
        (log.submitted, log.delivered.len(), log.gave_up.len())
    }

    /// Notifications whose whole schedule failed: payments Glase would never tell us about.
    pub fn gave_up(&self) -> Vec<usize> {
        self.log().gave_up.clone()
    }

    /// Attempts that started at or after `from` and had finished by `to`.
    pub fn attempts_within(&self, from: Instant, to: Instant) -> Vec<Attempt> {
        self.log()
            .attempts
            .iter()
            .filter(|a| a.started >= from && a.finished <= to)
            .cloned()
            .collect()
    }

    /// Stops the senders.
    pub fn stop(&mut self) {
        self.tasks.abort_all();
    }
}

async fn send(
    http: &reqwest::Client,
    log: &Mutex<Log>,
    jobs: &mpsc::UnboundedSender<Job>,
    delays: &[Duration],
    job: Job,
) {
    let n = &job.notification;
    let started = Instant::now();
    let result = http
        .post(&n.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(format!("{{\"invoiceId\":{}}}", n.invoice_id))
        .send()
        .await;
    let (status, error) = match result {
        Ok(response) => {
            let status = response.status().as_u16();
            // Read the body so the connection goes back to the pool.
            let _ = response.bytes().await;
            (Some(status), None)
        }
        Err(e) => (None, Some(glase_shared::telemetry::error_chain(&e))),
    };
    let finished = Instant::now();
    let delivered = status == Some(200);
    {
        let mut log = log.lock().unwrap_or_else(|p| p.into_inner());
        log.attempts.push(Attempt {
            seq: n.seq,
            invoice_id: n.invoice_id,
            number: job.number,
            started,
            finished,
            status,
            error,
        });
        if delivered {
            log.delivered.insert(n.seq);
        } else if job.number as usize >= delays.len() {
            log.gave_up.push(n.seq);
        }
    }
    if delivered || job.number as usize >= delays.len() {
        return;
    }
    // Glase counts each delay from the start of the previous attempt.
    let due = started + delays[job.number as usize];
    let jobs = jobs.clone();
    tokio::spawn(async move {
        tokio::time::sleep_until(due).await;
        let _ = jobs.send(Job {
            number: job.number + 1,
            ..job
        });
    });
}
