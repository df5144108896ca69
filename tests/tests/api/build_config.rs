//! The build and tooling configuration a fresh clone relies on: a first `sam build` succeeds,
//! the release profile is the one that ships whichever tool builds it, and `make help` lists
//! every target. Reads files only (no service, no build).

use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn toml_file(path: &str) -> toml::Table {
    read(path).parse().unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn sam_builds_the_functions_one_at_a_time() {
    let config = toml_file("samconfig.toml");

    let parallel = config["default"]["build"]["parameters"].get("parallel");

    // Absent means SAM's default, which is sequential; `true` raced a first build.
    assert!(
        matches!(parallel, None | Some(toml::Value::Boolean(false))),
        "samconfig.toml: parallel = {parallel:?}"
    );
}

#[test]
fn the_deploy_tools_script_installs_the_arm64_target_before_any_build() {
    let script = read("scripts/install-cargo-lambda.sh");
    let makefile = read("Makefile");

    assert!(script.contains("rustup target add \"$triple\""));
    assert!(script.contains("triple=aarch64-unknown-linux-gnu"));
    assert!(makefile.contains("deploy-tools:"));
    assert!(makefile.contains("scripts/install-cargo-lambda.sh"));
}

#[test]
fn every_release_setting_cargo_lambda_would_fill_in_is_explicit() {
    let cargo = toml_file("Cargo.toml");

    let release = cargo["profile"]["release"]
        .as_table()
        .expect("[profile.release]");

    for key in [
        "opt-level",
        "lto",
        "codegen-units",
        "strip",
        "panic",
        "debug",
    ] {
        assert!(
            release.contains_key(key),
            "[profile.release] {key} is not set"
        );
    }
    // A panicking record must fail alone, not abort its batch.
    assert_eq!(release["panic"].as_str(), Some("unwind"));
}

#[test]
fn make_help_lists_every_target() {
    let makefile = read("Makefile");

    let mut undocumented = Vec::new();
    for line in makefile.lines() {
        let is_rule = line.split_once(':').is_some_and(|(name, rest)| {
            !name.is_empty()
                && !rest.starts_with('=')
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c))
        });
        if is_rule && !line.contains(" ## ") {
            undocumented.push(line);
        }
    }

    assert!(
        undocumented.is_empty(),
        "targets without `## help`: {undocumented:#?}"
    );
}

/// The recipe lines of a Makefile target (tab-indented, comments left out).
fn recipe(makefile: &str, target: &str) -> Vec<String> {
    makefile
        .lines()
        .skip_while(|l| !l.starts_with(&format!("{target}:")))
        .skip(1)
        .take_while(|l| l.starts_with('\t'))
        .map(|l| l.trim().trim_start_matches('@').to_owned())
        .filter(|l| !l.starts_with('#'))
        .collect()
}

#[test]
fn make_demo_lists_the_invoices_and_ends_with_their_invoice_paid_events() {
    let makefile = read("Makefile");

    let lines = recipe(&makefile, "demo");
    let position = |what: &str| lines.iter().position(|l| l.contains(what));

    let pay = position("glase-dev -- demo").expect("demo pays");
    let list = position("glase-invoices -- list").expect("demo lists");
    let events = position("glase-dev -- events").expect("demo shows the events");
    assert!(lines[pay].contains("--no-events"), "{lines:#?}");
    assert!(pay < list && list < events, "{lines:#?}");
    assert_eq!(events, lines.len() - 1, "{lines:#?}");
}
