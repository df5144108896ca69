//! Sends `{"invoiceId": N}` to the issuer with Glase's retry schedule.

use std::time::Duration;

use jiff::Timestamp;
use tokio::time::Instant;

use crate::model::{Attempt, NotificationStatus};
use crate::schedule::{attempt_timeout, notification_delays};
use crate::Sim;

/// The error recorded for an attempt dropped by [`crate::Sim::set_webhook_outage`].
pub const OUTAGE: &str = "not sent: simulated webhook outage";

/// Runs the whole schedule for one invoice: stops at the first 200, gives up after the last
/// attempt, and ends early (status `Stopped`) when the simulator stops.
pub(crate) async fn run(sim: Sim, id: u64, url: String) {
    let delays = notification_delays(sim.inner.time_scale);
    let timeout = attempt_timeout(sim.inner.time_scale);
    let body = format!("{{\"invoiceId\":{id}}}");
    let paid = Instant::now();
    let mut stopped = sim.inner.stopped.subscribe();
    let mut previous_start = paid;

    for (index, delay) in delays.into_iter().enumerate() {
        let number = u32::try_from(index + 1).unwrap_or(u32::MAX);
        tokio::select! {
            _ = tokio::time::sleep_until(previous_start + delay) => {}
            _ = stopped.wait_for(|s| *s) => {
                sim.set_notification(id, NotificationStatus::Stopped);
                return;
            }
        }
        let start = Instant::now();
        let at = Timestamp::now();
        if sim.webhook_outage() {
            tracing::info!(
                invoice_id = id,
                attempt = number,
                "notification attempt dropped: webhook outage"
            );
            sim.record_attempt(
                id,
                Attempt {
                    number,
                    at,
                    since_paid: start - paid,
                    status: None,
                    error: Some(OUTAGE.into()),
                },
            );
            previous_start = start;
            continue;
        }
        let send = sim
            .inner
            .http
            .post(&url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.clone())
            .timeout(timeout)
            .send();
        let outcome = tokio::select! {
            r = send => r,
            _ = stopped.wait_for(|s| *s) => {
                sim.set_notification(id, NotificationStatus::Stopped);
                return;
            }
        };
        let (status, error) = match outcome {
            Ok(response) => (Some(response.status().as_u16()), None),
            Err(e) => (None, Some(describe(&e, timeout))),
        };
        tracing::info!(
            invoice_id = id,
            attempt = number,
            status,
            error = error.as_deref(),
            "notification attempt"
        );
        let attempt = Attempt {
            number,
            at,
            since_paid: start - paid,
            status,
            error,
        };
        let delivered = attempt.succeeded();
        sim.record_attempt(id, attempt);
        if delivered {
            sim.set_notification(id, NotificationStatus::Delivered);
            return;
        }
        previous_start = start;
    }
    tracing::warn!(
        invoice_id = id,
        "notification schedule exhausted; giving up"
    );
    sim.set_notification(id, NotificationStatus::GaveUp);
}

/// A one-line cause without the URL.
fn describe(e: &reqwest::Error, timeout: Duration) -> String {
    let mut text = if e.is_timeout() {
        format!("timed out after {} ms", timeout.as_millis())
    } else if e.is_connect() {
        "could not connect".to_owned()
    } else {
        "request failed".to_owned()
    };
    if let Some(source) = std::error::Error::source(e) {
        text.push_str(": ");
        text.push_str(&glase_shared::telemetry::error_chain(source));
    }
    text
}
