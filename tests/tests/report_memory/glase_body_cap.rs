//! The worker's Glase client never holds a huge response in memory: a 10 MB body (with or
//! without a Content-Length) or an endless one costs at most the 64 KiB cap, measured as the
//! growth of this process's peak resident set. In report_memory's binary, under its lock, so no
//! other test allocates meanwhile.

use std::time::Duration;

use glase_shared::adapters::GlaseHttp;
use glase_shared::config::{GlaseConfig, SecretSource};
use glase_shared::ports::{FetchError, InvoiceSource};
use glase_shared::{AuthToken, InvoiceId, IssuerName};
use glase_sim::{Reply, AUTH_HEADER};
use glase_tests::glase::{invoice_json, ISSUER, SECRET};
use jiff::tz::TimeZone;
use secrecy::SecretString;

const TEN_MB: u64 = 10 * 1024 * 1024;

/// Peak resident set since the last reset, in bytes (Linux).
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("VmHWM");
    kb * 1024
}

/// Makes the peak resident set start again from the current one.
fn reset_peak_rss() {
    std::fs::write("/proc/self/clear_refs", "5").expect("reset VmHWM");
}

fn client(base_url: &str) -> GlaseHttp {
    let config = GlaseConfig {
        base_url: base_url.to_owned(),
        issuer: IssuerName::parse(ISSUER).unwrap(),
        secret: SecretSource::Plain(SecretString::from(SECRET)),
        time_zone: TimeZone::UTC,
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(30),
    };
    let token = AuthToken::derive(&config.issuer, &SecretString::from(SECRET));
    GlaseHttp::new(&config, token).unwrap()
}

fn id(n: u64) -> InvoiceId {
    InvoiceId::new(n).unwrap()
}

#[test]
fn a_10_mb_or_endless_glase_body_costs_no_more_than_the_cap() {
    let _one_at_a_time = super::MEASURING.lock().unwrap_or_else(|e| e.into_inner());
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(capped());
}

async fn capped() {
    let running = glase_tests::glase::start().await;
    let glase = running.sim();
    let stream = |total, content_length| Reply::Stream {
        total,
        fill: b'[',
        content_length,
    };
    glase.answer(1, Reply::json(invoice_json(1, "1.00", "warm-up")));
    glase.answer(2, stream(TEN_MB, true));
    glase.answer(3, stream(TEN_MB, false));
    glase.answer(4, stream(u64::MAX, false));
    let glase_client = client(&running.base_url());
    // Connection, buffers and lazily initialised state are in place before measuring.
    glase_client
        .fetch(id(1))
        .await
        .expect("the warm-up invoice");

    reset_peak_rss();
    let before = peak_rss();
    let mut answers = Vec::new();
    for n in [2, 3, 4] {
        answers.push(glase_client.fetch(id(n)).await);
    }
    let growth = peak_rss().saturating_sub(before);

    // The measurement does see a whole read: the same 10 MB, read without a cap.
    reset_peak_rss();
    let before_whole = peak_rss();
    let url = format!("{}/api/invoice/3?issuer={ISSUER}", running.base_url());
    let token = AuthToken::derive(
        &IssuerName::parse(ISSUER).unwrap(),
        &SecretString::from(SECRET),
    );
    let whole = reqwest::Client::new()
        .get(url)
        .header(AUTH_HEADER, token.expose())
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let whole_growth = peak_rss().saturating_sub(before_whole);
    drop(whole);

    for answer in answers {
        assert!(
            matches!(&answer, Err(FetchError::TooLarge { limit: 65_536 })),
            "{answer:?}"
        );
    }
    assert!(
        growth < 2 * 1024 * 1024,
        "peak RSS grew {growth} bytes over three huge bodies"
    );
    assert!(
        whole_growth >= 8 * 1024 * 1024,
        "an uncapped read of 10 MB grew the peak RSS by only {whole_growth} bytes"
    );
    eprintln!("peak RSS growth: capped {growth} bytes, uncapped {whole_growth} bytes");
}
