//! What is installed from outside is what was reviewed: every Python package the scripts
//! install (cargo-lambda and the zig that links the shipped binaries, moto, cfn-lint, the bench
//! peer) is pinned with its hashes, and `make deny` never reports advisories it did not check as
//! passed. Reads files and runs scripts/deny-advisories.sh against a stand-in cargo-deny.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// scripts/*.sh and the Makefile: everything that installs.
fn installers() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join("scripts"))
        .expect("scripts/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "sh"))
        .collect();
    files.push(repo().join("Makefile"));
    files.sort();
    files
}

/// The requirements file each `pip install` of the installers reads (`-r <file>`).
fn pip_installs() -> Vec<(PathBuf, String)> {
    let mut found = Vec::new();
    for file in installers() {
        let text = read(&file);
        for line in text.lines().filter(|l| {
            let l = l.trim_start();
            !l.starts_with('#') && (l.contains("pip install") || l.contains("pip\" install"))
        }) {
            found.push((file.clone(), line.trim().to_owned()));
        }
    }
    found
}

#[test]
fn every_pip_install_reads_a_hash_checked_requirements_file() {
    let installs = pip_installs();
    assert!(installs.len() >= 3, "{installs:?}");
    for (file, line) in installs {
        assert!(
            line.contains("--require-hashes -r "),
            "{}: {line}: pip install without --require-hashes -r <file>",
            file.display()
        );
        let requirements = line
            .split("-r ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_default()
            .trim_matches('"');
        assert!(
            requirements.starts_with("$root/scripts/") || requirements.starts_with("$requirements"),
            "{}: {line}: read the requirements from scripts/",
            file.display()
        );
    }
}

/// Each requirement of a requirements file, continuation lines joined, comments dropped.
fn requirements(path: &Path) -> Vec<String> {
    let text = read(path).replace("\\\n", " ");
    text.lines()
        .map(|l| l.split(" #").next().unwrap_or_default().trim())
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_requirement_is_an_exact_version_with_sha256_hashes() {
    let files: Vec<PathBuf> = std::fs::read_dir(repo().join("scripts"))
        .expect("scripts/")
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.contains("requirements") && n.ends_with(".txt"))
        })
        .collect();
    assert_eq!(files.len(), 3, "{files:?}");
    for file in files {
        let reqs = requirements(&file);
        assert!(!reqs.is_empty(), "{}: no requirement", file.display());
        for req in reqs {
            let mut words = req.split_whitespace();
            let spec = words.next().unwrap_or_default();
            let (name, version) = spec
                .split_once("==")
                .unwrap_or_else(|| panic!("{}: {spec}: not name==version", file.display()));
            let name_ok = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.[],".contains(c));
            let version_ok = !version.is_empty()
                && version
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '+');
            assert!(name_ok && version_ok, "{}: {spec}", file.display());
            let hashes: Vec<&str> = words.collect();
            assert!(
                !hashes.is_empty()
                    && hashes.iter().all(|h| {
                        h.strip_prefix("--hash=sha256:").is_some_and(|hex| {
                            hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit())
                        })
                    }),
                "{}: {spec}: every requirement needs --hash=sha256:<64 hex> and nothing else: {hashes:?}",
                file.display()
            );
        }
    }
}

#[test]
fn the_zig_that_links_the_shipped_binaries_is_pinned_beside_cargo_lambda() {
    let reqs = requirements(&repo().join("scripts/cargo-lambda-requirements.txt"));
    let pinned = |name: &str| reqs.iter().any(|r| r.starts_with(&format!("{name}==")));
    assert!(pinned("cargo-lambda") && pinned("ziglang"), "{reqs:?}");
}

/// scripts/deny-advisories.sh with a stand-in cargo-deny that answers `fetch` and `check`
/// with the given exit codes, no advisory database from before, and `db_url` as the
/// database's address. (exit code, stderr).
fn deny_advisories(fetch: i32, check: i32, db_url: &str) -> (i32, String) {
    let dir =
        std::env::temp_dir().join(format!("glase-deny-{}", glase_tests::services::unique("d")));
    std::fs::create_dir_all(&dir).unwrap();
    let deny = dir.join("cargo-deny");
    std::fs::write(
        &deny,
        format!(
            "#!/bin/sh\ncase \"$*\" in *' check '*) echo 'check: ran' >&2; exit {check};; *' fetch '*) echo 'fetch: could not reach github.com' >&2; exit {fetch};; esac\nexit 2\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&deny, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = Command::new("bash")
        .arg(repo().join("scripts/deny-advisories.sh"))
        .arg(&deny)
        .env("CARGO_HOME", dir.join("cargo-home"))
        .env("ADVISORY_DB_URL", db_url)
        .env_remove("DENY_ADVISORIES")
        .output()
        .expect("bash");
    std::fs::remove_dir_all(&dir).ok();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Nothing listens on port 9 (discard) of the loopback: an unreachable network, quickly.
const UNREACHABLE: &str = "http://127.0.0.1:9/advisory-db";

#[test]
fn advisories_unchecked_because_the_network_is_down_say_so_loudly() {
    let (code, stderr) = deny_advisories(1, 0, UNREACHABLE);

    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("ADVISORIES NOT CHECKED"), "{stderr}");
    assert!(!stderr.contains("check: ran"), "{stderr}");
}

#[test]
fn advisories_found_in_a_fetched_database_fail() {
    let (code, stderr) = deny_advisories(0, 1, UNREACHABLE);

    assert_ne!(code, 0, "{stderr}");
    assert!(stderr.contains("check: ran"), "{stderr}");
}

#[test]
fn a_fetch_failing_while_the_database_is_reachable_fails() {
    // A reachable database: a git repository on disk.
    let db = std::env::temp_dir().join(glase_tests::services::unique("advisory-db"));
    let git = |args: &[&str]| {
        let ok = Command::new("git")
            .args(args)
            .current_dir(&db)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .status()
            .expect("git")
            .success();
        assert!(ok, "git {args:?}");
    };
    std::fs::create_dir_all(&db).unwrap();
    git(&["init", "-q"]);
    git(&["commit", "-q", "--allow-empty", "-m", "db"]);

    let (code, stderr) = deny_advisories(1, 0, &format!("file://{}", db.display()));
    std::fs::remove_dir_all(&db).ok();

    assert_ne!(code, 0, "{stderr}");
    assert!(stderr.contains("ADVISORIES NOT CHECKED"), "{stderr}");
}
