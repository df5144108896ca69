//! `make dev` as a user runs it: the `glase-dev` binary on free ports, `glase-dev demo`
//! beside it, then Ctrl-C — after which no process it started may remain.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use glase_dev::services::free_port;

fn children_of(pid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else {
            continue;
        };
        // Field 4 (after the parenthesised command name) is the parent pid.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(pid) {
            found.push(child);
        }
    }
    found
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
}

/// One HTTP/1.1 request with a notification body; the whole raw answer.
fn post(port: &str, method: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let body = r#"{"invoiceId": 1000}"#;
    let mut conn = std::net::TcpStream::connect(format!("127.0.0.1:{port}")).unwrap();
    write!(
        conn,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).unwrap();
    answer
}

#[test]
fn dev_runs_the_pipeline_serves_the_demo_and_stops_everything_on_ctrl_c() {
    let ports: Vec<String> = (0..4).map(|_| free_port().unwrap().to_string()).collect();
    let envs = [
        ("WEBHOOK_PORT", ports[0].as_str()),
        ("DYNAMODB_PORT", ports[1].as_str()),
        ("SQS_PORT", ports[2].as_str()),
        ("GLASE_SIM_PORT", ports[3].as_str()),
        ("TABLE_NAME", "dev-test-invoices"),
        ("RUST_LOG", "warn"),
    ];
    let mut dev = Command::new(env!("CARGO_BIN_EXE_glase-dev"))
        .arg("up")
        .envs(envs)
        .env_remove("GLASE_BASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut banner = String::new();
    let mut lines = BufReader::new(dev.stdout.take().unwrap()).lines();
    let started = Instant::now();
    while !banner.contains("Ctrl-C stops everything") {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no banner: {banner}"
        );
        match lines.next() {
            Some(Ok(line)) => banner.push_str(&format!("{line}\n")),
            _ => panic!("glase-dev exited early: {banner}"),
        }
    }
    let services = children_of(dev.id());
    // Routed as API Gateway routes the template's `POST /notifications/{token}`: a trailing
    // slash, no token or another method never reaches the handler.
    let token = glase_dev::stack::DEV_WEBHOOK_TOKEN;
    let with_slash = post(&ports[0], "POST", &format!("/notifications/{token}/"));
    let no_token = post(&ports[0], "POST", "/notifications");
    let get = post(&ports[0], "GET", &format!("/notifications/{token}"));
    let exact = post(&ports[0], "POST", &format!("/notifications/{token}"));

    // As `make demo` runs it: pay and wait, (list,) then the events last. (Invoice 1000,
    // notified above, has its event among them.)
    let demo = Command::new(env!("CARGO_BIN_EXE_glase-dev"))
        .args(["demo", "--count", "5", "--no-events"])
        .envs(envs)
        .output()
        .unwrap();
    let events = Command::new(env!("CARGO_BIN_EXE_glase-dev"))
        .args(["events", "--count", "5"])
        .envs(envs)
        .output()
        .unwrap();
    unsafe { libc::kill(dev.id() as i32, libc::SIGINT) };
    let status = dev.wait().unwrap();

    assert!(
        banner.contains(&format!(
            "POST http://127.0.0.1:{}/notifications/{}",
            ports[0],
            glase_dev::stack::DEV_WEBHOOK_TOKEN
        )),
        "{banner}"
    );
    assert!(
        demo.status.success(),
        "demo failed: {}{}",
        String::from_utf8_lossy(&demo.stdout),
        String::from_utf8_lossy(&demo.stderr)
    );
    let demo_out = String::from_utf8_lossy(&demo.stdout);
    assert!(demo_out.contains("all 5 invoices stored"));
    assert!(!demo_out.contains("InvoicePaid"), "{demo_out}");
    let events_out = String::from_utf8_lossy(&events.stdout);
    assert!(events.status.success(), "{events_out}");
    assert_eq!(
        events_out
            .lines()
            .filter(|l| l.trim_start().starts_with("InvoicePaid") && l.contains("DEMO-"))
            .count(),
        5,
        "{events_out}"
    );
    assert!(status.success(), "glase-dev exit: {status:?}");
    assert!(
        with_slash.starts_with("HTTP/1.1 404")
            && with_slash.ends_with(r#"{"message":"Not Found"}"#),
        "{with_slash}"
    );
    assert!(get.starts_with("HTTP/1.1 404"), "{get}");
    assert!(no_token.starts_with("HTTP/1.1 404"), "{no_token}");
    assert!(exact.starts_with("HTTP/1.1 200"), "{exact}");
    assert_eq!(
        services.len(),
        2,
        "DynamoDB Local and moto were children: {services:?}"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while services.iter().any(|p| alive(*p)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        services.iter().all(|p| !alive(*p)),
        "left behind: {services:?}"
    );
}
