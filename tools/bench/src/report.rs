//! The results as one Markdown report: the main table (with each figure's ratio to the bare
//! function), what the events function adds, the worker's concurrency, connection priming,
//! end to end, and the targets.

use std::fmt::Write;

use serde_json::Value;

const MB: f64 = 1_000_000.0;

fn num(v: &Value) -> Option<f64> {
    v.as_f64()
}

pub fn fmt_num(x: f64) -> String {
    if (x.fract() == 0.0 && x.abs() < 1e9) || x >= 100.0 {
        format!("{x:.0}")
    } else if x >= 10.0 {
        format!("{x:.1}")
    } else if x >= 1.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.3}")
    }
}

pub fn cell(x: Option<f64>) -> String {
    x.map(fmt_num).unwrap_or_else(|| "n/a".into())
}

/// `x (r×)` where r is x over the bare function's figure.
fn with_ratio(x: Option<f64>, bare: Option<f64>) -> String {
    match (x, bare) {
        (Some(x), Some(b)) if b > 0.0 => format!("{} ({:.1}×)", fmt_num(x), x / b),
        _ => cell(x),
    }
}

fn verdict(ok: Option<bool>) -> &'static str {
    match ok {
        Some(true) => "met",
        Some(false) => "**missed**",
        None => "not measured",
    }
}

/// The main table's columns after the bare function's, in order.
const COLUMNS: [&str; 4] = ["webhook", "worker", "events", "python"];
/// The functions that ship, whose RSS and size the targets bound.
const SHIPPED: [&str; 3] = ["webhook", "worker", "events"];

/// A row of the main table: `get` pulls one function's figure from the results.
fn row(
    out: &mut String,
    label: &str,
    results: &Value,
    get: impl Fn(&Value, &str) -> Option<f64>,
    ratio: bool,
    target: &str,
) {
    let bare = get(results, "bare");
    let fig = |k: &str| {
        if ratio {
            with_ratio(get(results, k), bare)
        } else {
            cell(get(results, k))
        }
    };
    let figures: Vec<String> = COLUMNS.iter().map(|k| fig(k)).collect();
    let _ = writeln!(
        out,
        "| {label} | {} | {} | {target} |",
        cell(bare),
        figures.join(" | ")
    );
}

pub fn render(r: &Value) -> String {
    let mut out = String::new();
    let s = &r["settings"];
    let m = &r["machine"];
    let _ = writeln!(
        out,
        "Machine: {} ({} CPUs, {} GiB), Linux {}, {}. Release profile (fat LTO, codegen-units 1, stripped).",
        m["cpu"].as_str().unwrap_or("?"),
        m["cpus"],
        m["memory_gib"],
        m["kernel"].as_str().unwrap_or("?"),
        m["arch"].as_str().unwrap_or("?"),
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "| | bare `lambda_runtime` | webhook (× bare) | worker (× bare) | events (× bare) | Python 3 + boto3 webhook (× bare) | target |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---|");
    let cold = |k: &'static str| move |r: &Value, f: &str| num(&r["cold"][f][k]);
    let warm = |k: &'static str| move |r: &Value, f: &str| num(&r["warm"][f][k]);
    let mb = |v: Option<f64>| v.map(|b| b / MB);
    row(
        &mut out,
        &format!("init, ms (median of {})", s["cold_starts"]),
        r,
        cold("init_ms_median"),
        true,
        "webhook ≤ 1.5 × bare",
    );
    row(
        &mut out,
        "cold = init + first invocation, ms (median)",
        r,
        cold("cold_ms_median"),
        true,
        "webhook ≥ 30 × below Python",
    );
    row(
        &mut out,
        &format!(
            "warm latency p50, ms ({} calls; worker {} and events {} batches of 10)",
            s["warm_calls"], s["worker_batches"], s["events_batches"]
        ),
        r,
        warm("p50_ms"),
        true,
        "",
    );
    row(
        &mut out,
        "warm latency p99, ms",
        r,
        warm("p99_ms"),
        true,
        "",
    );
    row(
        &mut out,
        "CPU per invocation, ms (worker, events: per batch of 10)",
        r,
        warm("cpu_ms_per_invocation"),
        true,
        "",
    );
    row(
        &mut out,
        "CPU per 1,000 invocations, ms",
        r,
        move |r, f| num(&r["warm"][f]["cpu_ms_per_invocation"]).map(|c| c * 1000.0),
        true,
        "webhook ≤ 1/10 of Python",
    );
    row(
        &mut out,
        "peak RSS, MB",
        r,
        move |r, f| mb(num(&r["warm"][f]["peak_rss_bytes"])),
        true,
        "≤ 12 MB",
    );
    row(
        &mut out,
        "RSS at first `GET /next`, MB",
        r,
        move |r, f| mb(num(&r["warm"][f]["rss_at_init_bytes"])),
        true,
        "",
    );
    row(
        &mut out,
        "bootstrap (stripped), MB",
        r,
        move |r, f| mb(num(&r["size"][f]["stripped_bytes"])),
        true,
        "≤ 8 MB",
    );
    row(
        &mut out,
        "bootstrap.zip, MB",
        r,
        move |r, f| mb(num(&r["size"][f]["zip_bytes"])),
        true,
        "",
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "MB = 10⁶ bytes. Latency is from handing the event over on `GET /next` to its `POST …/response`; the webhook's includes \
         a real SendMessage to moto (Python) and the worker's two conditional writes per record on DynamoDB Local (Java) \
         and a fetch from glase-sim, the events function's one PutEvents of 10 entries to moto (Python), so they mostly \
         measure those servers; CPU is the function process's own."
    );
    if let Some(errors) = ["bare"]
        .iter()
        .chain(COLUMNS.iter())
        .map(|f| r["warm"][f]["errors"].as_u64().unwrap_or(0))
        .reduce(|a, b| a + b)
    {
        if errors > 0 {
            let _ = writeln!(
                out,
                "\n**{errors} warm invocations did not succeed** (see target/bench/logs)."
            );
        }
    }

    events_cost(&mut out, r);

    let c = &r["worker_concurrency"];
    let w = &r["warm"]["worker"];
    // Only when the worker ran (not in a `--functions` run without it).
    if !c.is_null() {
        let _ = writeln!(
            out,
            "\n**Worker concurrency** (glase-sim adds {} ms to every invoice fetch):\n",
            cell(num(&c["glase_latency_ms"]))
        );
        let _ = writeln!(out, "| | figure | target |");
        let _ = writeln!(out, "|---|---:|---|");
        let _ = writeln!(
            out,
            "| one batch of 10, wall ms (median of 5) | {} | ≤ 100 ms (2 × 50 ms) |",
            cell(num(&c["batch_wall_ms_median"]))
        );
        let _ = writeln!(
            out,
            "| the same without added latency, wall ms (median of 5) | {} | |",
            cell(num(&c["batch_wall_ms_median_without_latency"]))
        );
        let _ = writeln!(
            out,
            "| added by 50 ms per fetch (sequential would add 500) | {} | ≈ 50 ms |",
            cell(num(&c["added_wall_ms_median"]))
        );
        let _ = writeln!(
            out,
            "| steady state, invoices/s ({} batches back to back, one instance) | {} | |",
            c["steady_batches"],
            cell(num(&c["steady_invoices_per_sec"]))
        );
        let _ = writeln!(
            out,
            "| steady state without added latency, invoices/s (warm run) | {} | |",
            cell(num(&w["invoices_per_sec"]))
        );
        let _ = writeln!(
            out,
            "| CPU per invoice, ms (warm run) | {} | |",
            cell(num(&w["cpu_ms_per_invoice"]))
        );
    }

    let (rng, jitter) = (&r["cold"]["rng"], &r["cold"]["rng-jitter"]);
    if !rng.is_null() && !jitter.is_null() {
        let _ = writeln!(
            out,
            "\n**aws-lc jitter entropy** (the bare function plus one aws-lc random draw per call, as a first TLS \
             handshake makes; medians of {} cold starts):\n",
            s["cold_starts"]
        );
        let _ = writeln!(
            out,
            "| aws-lc built | init, ms | first invocation, ms | cold, ms |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|");
        for (label, v) in [
            (
                "without jitter entropy (`AWS_LC_SYS_NO_JITTER_ENTROPY=1`, as shipped)",
                rng,
            ),
            ("with jitter entropy (aws-lc-sys's default)", jitter),
        ] {
            let _ = writeln!(
                out,
                "| {label} | {} | {} | {} |",
                cell(num(&v["init_ms_median"])),
                cell(num(&v["first_invocation_ms_median"])),
                cell(num(&v["cold_ms_median"])),
            );
        }
        if let (Some(a), Some(b)) = (num(&jitter["cold_ms_median"]), num(&rng["cold_ms_median"])) {
            let _ = writeln!(
                out,
                "\nJitter entropy adds {} ms to a cold start here.",
                fmt_num(a - b)
            );
        }
    }

    if let Some(variants) = r["priming"].as_array() {
        let _ = writeln!(out, "\n**Connection priming** (AWS endpoint behind a counting proxy; medians of {} cold starts each):\n", s["prime_runs"]);
        let _ = writeln!(out, "| function | first event | priming | AWS conns during init | AWS conns during 1st invocation | AWS conns during 2nd | Glase conns during 1st invocation | init, ms | 1st invocation, ms |");
        let _ = writeln!(out, "|---|---|---|---:|---:|---:|---:|---:|---:|");
        for v in variants {
            let _ = writeln!(
                out,
                "| {} | {} record{} | {} | {} | {} | {} | {} | {} | {} |",
                v["function"].as_str().unwrap_or("?"),
                v["first_event_records"],
                if v["first_event_records"] == 1 {
                    ""
                } else {
                    "s"
                },
                if v["prime"] == true { "on" } else { "off" },
                cell(num(&v["aws_connections_during_init_median"])),
                cell(num(&v["aws_connections_during_first_invocation_median"])),
                cell(num(&v["aws_connections_during_second_invocation_median"])),
                v["glase_connections_during_first_invocation_median"]
                    .as_f64()
                    .map(fmt_num)
                    .unwrap_or_else(|| "–".into()),
                cell(num(&v["init_ms_median"])),
                cell(num(&v["first_invocation_ms_median"])),
            );
        }
    }

    crate::keepalive::render(&mut out, r);

    let e = &r["e2e"];
    if !e.is_null() {
        let _ = writeln!(out);
        if let Some(err) = e["error"].as_str() {
            let _ = writeln!(out, "**End to end**: failed: {err}");
        } else {
            let _ = writeln!(
                out,
                "**End to end** (make dev stack: glase-sim pays and notifies → webhook → SQS (moto) → {} pollers, {} s long poll → worker → DynamoDB Local; \
                 {} invoices at {}/s): payment → STORED p50 {} ms, p99 {} ms, max {} ms; {} stored, {} not stored within 60 s.",
                e["pollers"], e["long_poll_secs"], e["invoices"], e["rate_per_sec"],
                cell(num(&e["p50_ms"])), cell(num(&e["p99_ms"])), cell(num(&e["max_ms"])), e["stored"], e["not_stored_in_time"],
            );
        }
    }

    // Targets.
    let bare_init = num(&r["cold"]["bare"]["init_ms_median"]);
    let web_init = num(&r["cold"]["webhook"]["init_ms_median"]);
    let ratio = match (web_init, bare_init) {
        (Some(w), Some(b)) if b > 0.0 => Some(w / b),
        _ => None,
    };
    // Over the shipped functions measured in this run.
    let max_of = |path: &dyn Fn(&str) -> Option<f64>| -> Option<f64> {
        SHIPPED.iter().filter_map(|f| path(f)).reduce(f64::max)
    };
    let rss = max_of(&|f| num(&r["warm"][f]["peak_rss_bytes"]).map(|b| b / MB));
    let size = max_of(&|f| num(&r["size"][f]["stripped_bytes"]).map(|b| b / MB));
    let web_cpu = num(&r["warm"]["webhook"]["cpu_ms_per_invocation"]);
    let py_cpu = num(&r["warm"]["python"]["cpu_ms_per_invocation"]);
    let web_cold = num(&r["cold"]["webhook"]["cold_ms_median"]);
    let py_cold = num(&r["cold"]["python"]["cold_ms_median"]);
    let below = |py: Option<f64>, rust: Option<f64>| match (py, rust) {
        (Some(p), Some(w)) if w > 0.0 => Some(p / w),
        _ => None,
    };
    let batch = num(&c["batch_wall_ms_median"]);
    let _ = writeln!(out, "\n**Targets**\n");
    let _ = writeln!(
        out,
        "- webhook init ≤ 1.5 × bare: {} ({:.1}×)",
        verdict(ratio.map(|x| x <= 1.5)),
        ratio.unwrap_or(f64::NAN)
    );
    let unprimed = r["priming"].as_array().and_then(|vs| {
        vs.iter()
            .find(|v| v["function"] == "webhook" && v["prime"] == false)
            .and_then(|v| num(&v["init_ms_median"]))
    });
    if let (Some(u), Some(b)) = (unprimed, bare_init) {
        let _ = writeln!(
            out,
            "  - without priming (PRIME_CONNECTIONS=false, priming runs): {} ms = {:.1}× bare",
            fmt_num(u),
            u / b
        );
    }
    let cold_below = below(py_cold, web_cold);
    let _ = writeln!(
        out,
        "- webhook cold start ≥ 30 × below Python's: {} ({:.1}× below)",
        verdict(cold_below.map(|x| x >= 30.0)),
        cold_below.unwrap_or(f64::NAN)
    );
    let cpu_below = below(py_cpu, web_cpu);
    let _ = writeln!(
        out,
        "- webhook CPU per 1,000 calls ≤ 1/10 of Python's: {} ({} against {} ms, {:.1}× below)",
        verdict(cpu_below.map(|x| x >= 10.0)),
        cell(web_cpu.map(|c| c * 1000.0)),
        cell(py_cpu.map(|c| c * 1000.0)),
        cpu_below.unwrap_or(f64::NAN)
    );
    let _ = writeln!(
        out,
        "- RSS ≤ 12 MB per function: {} (largest {} MB)",
        verdict(rss.map(|x| x <= 12.0)),
        cell(rss)
    );
    let _ = writeln!(
        out,
        "- stripped bootstrap ≤ 8 MB: {} (largest {} MB)",
        verdict(size.map(|x| x <= 8.0)),
        cell(size)
    );
    let _ = writeln!(
        out,
        "- worker batch of 10 at 50 ms Glase latency ≤ 100 ms wall: {} ({} ms)",
        verdict(batch.map(|x| x <= 100.0)),
        cell(batch)
    );
    out
}

/// What the events function (issue 19) adds over the bare function: cold start, and per
/// stream batch of 10 its wall time and CPU.
fn events_cost(out: &mut String, r: &Value) {
    let (ev, bare) = (&r["cold"]["events"], &r["cold"]["bare"]);
    let w = &r["warm"]["events"];
    if ev.is_null() && w.is_null() {
        return;
    }
    let cold = num(&ev["cold_ms_median"]);
    let added = cold.zip(num(&bare["cold_ms_median"])).map(|(e, b)| e - b);
    let _ = writeln!(
        out,
        "\n**Events function** (stream batches of 10 invoices becoming STORED → one PutEvents to moto's EventBridge): \
         cold start {} ms (init {} ms + first batch {} ms), {} ms more than the bare function; \
         per warm batch of 10: wall p50 {} ms, p99 {} ms, CPU {} ms ({} ms per event); peak RSS {} MB; stripped {} MB.",
        cell(cold),
        cell(num(&ev["init_ms_median"])),
        cell(num(&ev["first_invocation_ms_median"])),
        cell(added),
        cell(num(&w["p50_ms"])),
        cell(num(&w["p99_ms"])),
        cell(num(&w["cpu_ms_per_invocation"])),
        cell(num(&w["cpu_ms_per_invoice"])),
        cell(num(&w["peak_rss_bytes"]).map(|b| b / MB)),
        cell(num(&r["size"]["events"]["stripped_bytes"]).map(|b| b / MB)),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_and_numbers() {
        assert_eq!(with_ratio(Some(3.0), Some(2.0)), "3 (1.5×)");
        assert_eq!(with_ratio(Some(3.5), None), "3.50");
        assert_eq!(cell(None), "n/a");
        assert_eq!(fmt_num(0.1234), "0.123");
        assert_eq!(fmt_num(123.4), "123");
        assert_eq!(fmt_num(9.0), "9");
    }

    #[test]
    fn renders_partial_results_without_panicking() {
        let text = render(
            &serde_json::json!({"settings": {}, "machine": {}, "cold": {"bare": {"init_ms_median": 2.0}}}),
        );
        assert!(text.contains("| init, ms"));
        assert!(text.contains("not measured"));
    }

    #[test]
    fn the_events_function_has_its_column_and_its_added_cost() {
        let results = serde_json::json!({
            "settings": {"cold_starts": 3}, "machine": {},
            "cold": {"bare": {"cold_ms_median": 4.0}, "events": {"cold_ms_median": 30.0, "init_ms_median": 20.0, "first_invocation_ms_median": 10.0}},
            "warm": {"bare": {"cpu_ms_per_invocation": 0.5},
                     "events": {"p50_ms": 12.0, "p99_ms": 40.0, "cpu_ms_per_invocation": 2.0, "cpu_ms_per_invoice": 0.2, "peak_rss_bytes": 9_000_000}},
            "size": {"events": {"stripped_bytes": 7_000_000}},
        });

        let text = render(&results);

        assert!(text.contains("| events (× bare) |"), "{text}");
        assert!(text.contains("| 30 (7.5×) |"), "{text}");
        assert!(text.contains("| 2 (4.0×) |"), "{text}");
        assert!(
            text.contains("cold start 30 ms (init 20 ms + first batch 10 ms), 26 ms more than the bare function"),
            "{text}"
        );
        assert!(text.contains("CPU 2 ms (0.200 ms per event)"), "{text}");
        assert!(
            text.contains("RSS ≤ 12 MB per function: met (largest 9 MB)"),
            "{text}"
        );
        assert!(
            text.contains("stripped bootstrap ≤ 8 MB: met (largest 7 MB)"),
            "{text}"
        );
        assert!(!text.contains("Worker concurrency"), "{text}");
    }
}
