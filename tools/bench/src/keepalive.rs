//! The webhook and its Python peer once more, against the keep-alive SQS stand-in
//! ([`crate::sqs`]) instead of moto, in the same run: moto's HTTP/1.0 server closes every
//! connection, so each SendMessage against it pays a new TCP connect (and moto's own Python
//! latency), which SQS does not make a warm Lambda pay. The worker is not run again: it talks
//! to SQS only to postpone or quarantine a record, which no bench batch does.

use std::fmt::Write;

use serde_json::{json, Value};

use crate::lab::{BoxError, Function, Lab};
use crate::report::{cell, fmt_num};
use crate::sqs::SqsStandIn;

/// The functions that talk to SQS on every call.
fn measured(functions: &[Function]) -> Vec<Function> {
    functions
        .iter()
        .copied()
        .filter(|f| f.kind() == Function::Webhook)
        .collect()
}

pub async fn run(
    lab: &Lab,
    functions: &[Function],
    cold_starts: usize,
    warm_calls: usize,
) -> Result<Value, BoxError> {
    let standin = SqsStandIn::start().await?;
    let sqs = glase_dev::aws::sqs(&standin.endpoint());
    let (queue_url, _dlq) =
        glase_dev::aws::create_queues(&sqs, "bench-notifications", 30, 5).await?;
    let overrides = [
        ("AWS_ENDPOINT_URL_SQS", standin.endpoint()),
        ("QUEUE_URL", queue_url.clone()),
    ];
    let functions = measured(functions);
    let cold = crate::cold_starts(lab, &functions, cold_starts, &overrides).await?;
    let mut warm = serde_json::Map::new();
    for &f in &functions {
        let (figures, _) = crate::warm(lab, f, warm_calls, 0, &overrides).await?;
        warm.insert(f.key().into(), figures);
    }
    Ok(json!({
        "sqs": "the bench's keep-alive SQS stand-in (tools/bench/src/sqs.rs), HTTP/1.1",
        "cold": cold,
        "warm": Value::Object(warm),
        "queued": standin.depth(&queue_url).map(|(visible, _, _)| visible),
        "sqs_requests": standin.counts(),
    }))
}

/// "Against a keep-alive SQS": each webhook figure on moto and on the stand-in, the bare
/// function's beside them (it talks to no AWS service), and the targets on both.
pub fn render(out: &mut String, r: &Value) {
    let k = &r["keepalive"];
    if k.is_null() {
        return;
    }
    let get = |section: &Value, f: &str, key: &str, field: &str| section[key][f][field].as_f64();
    let moto = r;
    let rows: [(&str, &str, &str, f64); 4] = [
        ("init, ms (median)", "cold", "init_ms_median", 1.0),
        (
            "cold = init + first invocation, ms (median)",
            "cold",
            "cold_ms_median",
            1.0,
        ),
        ("warm latency p50, ms", "warm", "p50_ms", 1.0),
        (
            "CPU per 1,000 invocations, ms",
            "warm",
            "cpu_ms_per_invocation",
            1000.0,
        ),
    ];
    let _ = writeln!(
        out,
        "\n**Against a keep-alive SQS** (the same functions, same run, with `AWS_ENDPOINT_URL_SQS` \
         on the bench's SQS stand-in: HTTP/1.1 keep-alive, O(1) queue; moto closes every connection, \
         so its columns pay a TCP connect per call and moto's latency: they are **moto-bound**):\n"
    );
    let _ = writeln!(
        out,
        "| | bare | webhook, moto | webhook, keep-alive (× bare) | Python, moto | Python, keep-alive | webhook below Python, moto | keep-alive |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|");
    for (label, section, field, scale) in rows {
        let fig = |s: &Value, f: &str| get(s, f, section, field).map(|x| x * scale);
        let b = fig(moto, "bare");
        let (wm, wk) = (fig(moto, "webhook"), fig(k, "webhook"));
        let (pm, pk) = (fig(moto, "python"), fig(k, "python"));
        let below = |p: Option<f64>, w: Option<f64>| match (p, w) {
            (Some(p), Some(w)) if w > 0.0 => format!("{:.1}×", p / w),
            _ => "n/a".into(),
        };
        let with_bare = match (wk, b) {
            (Some(w), Some(b)) if b > 0.0 => format!("{} ({:.1}×)", fmt_num(w), w / b),
            _ => cell(wk),
        };
        let _ = writeln!(
            out,
            "| {label} | {} | {} | {with_bare} | {} | {} | {} | {} |",
            cell(b),
            cell(wm),
            cell(pm),
            cell(pk),
            below(pm, wm),
            below(pk, wk),
        );
    }
    let cold_below = ratio(
        get(k, "python", "cold", "cold_ms_median"),
        get(k, "webhook", "cold", "cold_ms_median"),
    );
    let cpu_below = ratio(
        get(k, "python", "warm", "cpu_ms_per_invocation"),
        get(k, "webhook", "warm", "cpu_ms_per_invocation"),
    );
    let cold_vs_bare = ratio(
        get(k, "webhook", "cold", "cold_ms_median"),
        get(moto, "bare", "cold", "cold_ms_median"),
    );
    let verdict = |ok: Option<bool>| match ok {
        Some(true) => "met",
        Some(false) => "**missed**",
        None => "not measured",
    };
    let _ = writeln!(
        out,
        "\nOn the keep-alive endpoint: webhook cold start ≥ 30 × below Python's: {} ({}× below); \
         CPU per 1,000 calls ≤ 1/10 of Python's: {} ({}× below); webhook cold start ≤ 2 × bare: {} ({}×). \
         SQS requests served: {}.",
        verdict(cold_below.map(|x| x >= 30.0)),
        cold_below.map_or("n/a".into(), |x| format!("{x:.1}")),
        verdict(cpu_below.map(|x| x >= 10.0)),
        cpu_below.map_or("n/a".into(), |x| format!("{x:.1}")),
        verdict(cold_vs_bare.map(|x| x <= 2.0)),
        cold_vs_bare.map_or("n/a".into(), |x| format!("{x:.1}")),
        k["sqs_requests"],
    );
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_functions_that_send_to_sqs_on_every_call_are_measured_again() {
        assert_eq!(
            measured(&Function::ALL),
            [Function::Webhook, Function::Python]
        );
    }

    #[test]
    fn the_table_puts_moto_and_the_keep_alive_figures_side_by_side() {
        let fig = |cold: f64, cpu: f64| json!({"cold": {"init_ms_median": cold / 2.0, "cold_ms_median": cold}, "p50_ms": 1.0, "cpu_ms_per_invocation": cpu});
        let split = |v: Value| {
            (
                v["cold"].clone(),
                json!({"p50_ms": v["p50_ms"], "cpu_ms_per_invocation": v["cpu_ms_per_invocation"]}),
            )
        };
        let (bc, bw) = split(fig(4.0, 0.2));
        let (wc, ww) = split(fig(17.0, 0.7));
        let (pc, pw) = split(fig(240.0, 2.6));
        let (kwc, kww) = split(fig(7.0, 0.3));
        let (kpc, kpw) = split(fig(250.0, 1.4));
        let r = json!({
            "cold": {"bare": bc, "webhook": wc, "python": pc},
            "warm": {"bare": bw, "webhook": ww, "python": pw},
            "keepalive": {
                "cold": {"webhook": kwc, "python": kpc},
                "warm": {"webhook": kww, "python": kpw},
                "sqs_requests": {"SendMessage": 3},
            },
        });
        let mut out = String::new();

        render(&mut out, &r);

        assert!(out.contains("| cold = init + first invocation, ms (median) | 4 | 17 | 7 (1.8×) | 240 | 250 | 14.1× | 35.7× |"), "{out}");
        assert!(out.contains("| CPU per 1,000 invocations, ms | 200 | 700 | 300 (1.5×) | 2600 | 1400 | 3.7× | 4.7× |"), "{out}");
        assert!(
            out.contains("≥ 30 × below Python's: met (35.7× below)"),
            "{out}"
        );
        assert!(
            out.contains("≤ 1/10 of Python's: **missed** (4.7× below)"),
            "{out}"
        );
        assert!(out.contains("≤ 2 × bare: met (1.8×)"), "{out}");
    }
}
