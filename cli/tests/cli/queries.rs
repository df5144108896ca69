//! get, find, list, export, rejected and stuck on a seeded table, in every format, compared
//! exactly with golden files (cli/tests/golden; `UPDATE_GOLDEN=1` rewrites them). Every query
//! runs with two items per page, so each reads more than one page.

use crate::common::{golden, run, seeded_table, Run};

fn query(args: &[&str]) -> Run {
    let table = seeded_table();
    let mut all = vec!["--page-size", "2"];
    all.extend_from_slice(args);
    let mut r = run(&[("TABLE_NAME", table)], &all);
    // The table's name is unique per run.
    r.stdout = r.stdout.replace(table, "<table>");
    r.stderr = r.stderr.replace(table, "<table>");
    r
}

fn check(name: &str, args: &[&str], code: i32) {
    let r = query(args);
    assert_eq!(r.code, code, "{name}: {}", r.transcript());
    golden(name, &r.transcript());
}

#[test]
fn get_shows_a_stored_invoice_with_minor_units_in_every_format() {
    for format in ["table", "json", "csv"] {
        check(
            &format!("get-stored.{format}"),
            &["get", "106", "--format", format],
            0,
        );
    }
}

#[test]
fn get_shows_a_rejected_invoice_with_code_reason_and_attempts() {
    for format in ["table", "json", "csv"] {
        check(
            &format!("get-rejected.{format}"),
            &["get", "202", "--format", format],
            0,
        );
    }
}

#[test]
fn get_shows_an_invoice_in_flight_with_attempts_and_last_error() {
    for format in ["table", "json", "csv"] {
        check(
            &format!("get-processing.{format}"),
            &["get", "301", "--format", format],
            0,
        );
    }
}

#[test]
fn get_of_an_unknown_invoice_says_not_found_and_exits_1() {
    check("get-unknown", &["get", "999999"], 1);
}

#[test]
fn find_lists_every_payment_of_a_reference_in_time_order_with_totals() {
    for format in ["table", "json", "csv"] {
        check(
            &format!("find.{format}"),
            &["find", "--reference", "R-42", "--format", format],
            0,
        );
    }
    check("find-nothing", &["find", "--reference", "nobody"], 1);
}

#[test]
fn list_pages_through_every_day_in_purchase_order_with_exact_totals() {
    for format in ["table", "json", "csv"] {
        check(
            &format!("list.{format}"),
            &[
                "list",
                "--from",
                "2026-03-01",
                "--to",
                "2026-03-03",
                "--format",
                format,
            ],
            0,
        );
    }
}

#[test]
fn list_filters_one_currency() {
    check(
        "list-eur.table",
        &[
            "list",
            "--from",
            "2026-03-01",
            "--to",
            "2026-03-05",
            "--currency",
            "EUR",
            "--format",
            "table",
        ],
        0,
    );
}

#[test]
fn list_reads_days_in_the_given_time_zone() {
    // 00:30 in Stockholm on March 2 is 23:30 UTC on March 1: the local day spans two buckets.
    check(
        "list-stockholm.table",
        &[
            "list",
            "--from",
            "2026-03-02",
            "--tz",
            "Europe/Stockholm",
            "--format",
            "table",
        ],
        0,
    );
    check(
        "list-stockholm.json",
        &[
            "list",
            "--from",
            "2026-03-02",
            "--tz",
            "Europe/Stockholm",
            "--format",
            "json",
        ],
        0,
    );
}

#[test]
fn list_of_a_day_without_invoices_exits_1() {
    check(
        "list-empty.table",
        &["list", "--from", "2026-02-01", "--format", "table"],
        1,
    );
    check(
        "list-empty.csv",
        &["list", "--from", "2026-02-01", "--format", "csv"],
        1,
    );
}

#[test]
fn list_prints_json_lines_when_stdout_is_not_a_terminal() {
    let json = query(&["list", "--from", "2026-03-03"]);
    let explicit = query(&["list", "--from", "2026-03-03", "--format", "json"]);
    assert_eq!(json.code, 0, "{}", json.transcript());
    assert_eq!(json.stdout, explicit.stdout);
}

#[test]
fn export_writes_the_same_csv_as_list_without_a_progress_bar_off_a_terminal() {
    check(
        "export",
        &["export", "--from", "2026-03-01", "--to", "2026-03-03"],
        0,
    );
    let list = query(&[
        "list",
        "--from",
        "2026-03-01",
        "--to",
        "2026-03-03",
        "--format",
        "csv",
    ]);
    let export = query(&["export", "--from", "2026-03-01", "--to", "2026-03-03"]);
    assert_eq!(export.stdout, list.stdout);
    assert_eq!(
        export.stderr, list.stderr,
        "only the totals, no progress bar"
    );
}

#[test]
fn export_refuses_another_format_as_a_usage_error() {
    check("export-json", &["export", "--format", "json"], 2);
}

#[test]
fn rejected_lists_code_and_reason_without_a_scan() {
    for format in ["table", "json", "csv"] {
        check(
            &format!("rejected.{format}"),
            &["rejected", "--format", format],
            0,
        );
    }
    check(
        "rejected-since.table",
        &["rejected", "--since", "2026-03-03", "--format", "table"],
        0,
    );
}

#[test]
fn stuck_lists_processing_invoices_with_attempts_and_last_error() {
    for format in ["table", "json", "csv"] {
        check(
            &format!("stuck.{format}"),
            &["stuck", "--format", format],
            0,
        );
    }
}

#[test]
fn nothing_stuck_for_longer_than_the_seeds_age_exits_1() {
    check("stuck-none", &["stuck", "--older-than", "100000d"], 1);
}

/// A stored invoice whose payer-controlled text is a spreadsheet formula and terminal control
/// sequences, in a table of its own (the golden files' table stays as it is).
fn hostile_invoice_table() -> String {
    use crate::common::{block_on, dynamodb, invoice, store, unique};
    let table = unique("cli-hostile");
    block_on(async {
        let s = glase_shared::adapters::DynamoStore::new(dynamodb(), &table);
        glase_shared::adapters::dynamo::ensure_table(&dynamodb(), &table)
            .await
            .expect("table");
        let mut paid = invoice(
            401,
            "2026-03-01T08:15:00Z",
            "3.00",
            "GBP",
            "@SUM(A1:A9)",
            "Tea\u{1b}[31m red\u{85}end\u{7f}",
        );
        paid.payer.first_name = Some("=HYPERLINK(\"http://evil.example/\",\"x\")".into());
        paid.payer.last_name = Some("-2+3".into());
        paid.payer.city = Some("\tLondon".into());
        store(&s, &paid).await;
    });
    table
}

#[test]
fn csv_neutralises_payer_text_that_a_spreadsheet_would_run_as_a_formula() {
    let table = hostile_invoice_table();
    let r = run(
        &[("TABLE_NAME", &table)],
        &["get", "401", "--format", "csv"],
    );
    assert_eq!(r.code, 0, "{}", r.transcript());
    let mut rows = csv::Reader::from_reader(r.stdout.as_bytes());
    let header = rows.headers().unwrap().clone();
    let row = rows.records().next().unwrap().unwrap();
    let field = |name: &str| &row[header.iter().position(|h| h == name).unwrap()];
    assert_eq!(
        field("payerFirstName"),
        "'=HYPERLINK(\"http://evil.example/\",\"x\")"
    );
    assert_eq!(field("payerLastName"), "'-2+3");
    assert_eq!(field("payerCity"), "'\tLondon");
    assert_eq!(field("reference"), "'@SUM(A1:A9)");
    // Typed cells are never payer text and keep their exact value.
    assert_eq!(field("amount"), "3.00");
    assert_eq!(field("invoiceId"), "401");
}

#[test]
fn tables_show_control_characters_in_payer_text_as_visible_escapes() {
    let table = hostile_invoice_table();
    for args in [
        &["get", "401", "--format", "table"][..],
        &[
            "list",
            "--from",
            "2026-03-01",
            "--to",
            "2026-03-01",
            "--format",
            "table",
        ][..],
    ] {
        let r = run(&[("TABLE_NAME", &table)], args);
        assert_eq!(r.code, 0, "{}", r.transcript());
        assert!(
            !r.stdout.chars().any(|c| c.is_control() && c != '\n'),
            "{args:?} printed a control character: {:?}",
            r.stdout
        );
        assert!(
            r.stdout.contains(r"Tea\u{1b}[31m red\u{85}end\u{7f}"),
            "{args:?}: {}",
            r.stdout
        );
    }
}
