//! retry, dlq list, dlq redrive (also killed half-way) and status on moto's SQS and CloudWatch
//! and DynamoDB Local, and the configuration sources: flags, environment, `--stack` outputs
//! from a fake CloudFormation endpoint.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use crate::common::*;
use aws_sdk_sqs::types::{MessageAttributeValue, QueueAttributeName};
use glase_shared::adapters::DynamoStore;

/// How many times each invoice id arrived.
fn counts(messages: &[(String, Option<String>)]) -> BTreeMap<u64, usize> {
    let mut counts = BTreeMap::new();
    for (body, requeued) in messages {
        assert_eq!(
            requeued.as_deref(),
            Some("cli"),
            "{body} lacks Requeued=cli"
        );
        let id = glase_shared::InvoiceId::from_notification(body.as_bytes())
            .unwrap_or_else(|e| panic!("{body}: {e}"));
        *counts.entry(id.get()).or_insert(0) += 1;
    }
    counts
}

fn send(queue: &str, body: &str, reason: Option<&str>) {
    let mut send = sqs().send_message().queue_url(queue).message_body(body);
    if let Some(reason) = reason {
        send = send.message_attributes(
            "rejectionReason",
            MessageAttributeValue::builder()
                .data_type("String")
                .string_value(reason)
                .build()
                .unwrap(),
        );
    }
    block_on(send.send()).expect("send");
}

fn queue_env<'a>(queue: &'a str, dlq: &'a str) -> Vec<(&'static str, &'a str)> {
    vec![("QUEUE_URL", queue), ("DEAD_LETTER_QUEUE_URL", dlq)]
}

#[test]
fn retry_queues_each_id_with_the_requeued_attribute_and_shows_its_state() {
    let (queue, dlq) = queues("retry");
    let table = seeded_table();
    let mut env = queue_env(&queue, &dlq);
    env.push(("TABLE_NAME", table));

    let r = run(&env, &["retry", "201", "106", "4242", "--format", "table"]);

    assert_eq!(r.code, 0, "{}", r.transcript());
    golden("retry.table", &r.transcript());
    let arrived = drain(&queue);
    assert_eq!(
        counts(&arrived),
        BTreeMap::from([(106, 1), (201, 1), (4242, 1)])
    );
    assert!(arrived.iter().any(|(b, _)| b == r#"{"invoiceId":201}"#));
}

#[test]
fn retry_without_a_table_still_queues() {
    let (queue, dlq) = queues("retry-bare");
    let r = run(
        &queue_env(&queue, &dlq),
        &["retry", "7", "--format", "json"],
    );
    assert_eq!(r.code, 0, "{}", r.transcript());
    assert_eq!(r.stdout, "{\"invoiceId\":7,\"result\":\"queued\"}\n");
    assert_eq!(counts(&drain(&queue)), BTreeMap::from([(7, 1)]));
}

#[test]
fn dlq_list_shows_every_message_with_its_reason_and_consumes_none() {
    let (queue, dlq) = queues("dlq-list");
    let table = seeded_table();
    // 301 failed with Glase's 401 (its lastError is the reason), 106 is stored already, 9999 is
    // unknown to the table, and the worker quarantined an unparseable body with its reason.
    for body in [
        r#"{"invoiceId":301}"#,
        r#"{"invoiceId":106}"#,
        r#"{"invoiceId":9999}"#,
    ] {
        send(&dlq, body, None);
        std::thread::sleep(Duration::from_millis(5)); // distinct SentTimestamps: a stable order
    }
    send(
        &dlq,
        "not json",
        Some("message body is not JSON: expected value at line 1 column 1"),
    );
    let mut env = queue_env(&queue, &dlq);
    env.push(("TABLE_NAME", table));

    let json = run(&env, &["dlq", "list", "--format", "json"]);
    let table_run = run(&env, &["dlq", "list", "--format", "table"]);
    let csv = run(&env, &["dlq", "list", "--format", "csv"]);

    assert_eq!(
        depth(&dlq),
        (4, 0),
        "listing consumed nothing and hid nothing"
    );
    // Message ids, send times and receive counts vary: name them from the JSON output.
    let mut volatile = Vec::new();
    for line in json.stdout.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        volatile.push((v["messageId"].as_str().unwrap().to_owned(), "<messageId>"));
        volatile.push((v["firstSeen"].as_str().unwrap().to_owned(), "<firstSeen>"));
    }
    let normal = |text: &str| {
        let mut text = text.to_owned();
        for (value, name) in &volatile {
            text = text.replace(value, name);
            // Tables show whole seconds.
            if let Some(seconds) = value.split('.').next().filter(|_| name == &"<firstSeen>") {
                text = text.replace(&format!("{seconds}Z"), name);
            }
        }
        text
    };
    for (name, r) in [
        ("dlq-list.json", &json),
        ("dlq-list.table", &table_run),
        ("dlq-list.csv", &csv),
    ] {
        assert_eq!(r.code, 0, "{}", r.transcript());
        golden(name, &normal(&r.transcript()));
    }
    let receives: Vec<u64> = json
        .stdout
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["receives"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(
        receives,
        vec![1, 1, 1, 1],
        "the first listing was each message's first receive"
    );
}

#[test]
fn dlq_list_of_an_empty_queue_exits_1() {
    let (queue, dlq) = queues("dlq-empty");
    let r = run(&queue_env(&queue, &dlq), &["dlq", "list"]);
    assert_eq!(r.code, 1, "{}", r.transcript());
    assert_eq!(r.stdout, "");
    assert_eq!(
        r.stderr,
        format!("glase-invoices: the dead-letter queue is empty ({dlq})\n")
    );
}

#[test]
fn redrive_of_one_invoice_moves_only_its_messages() {
    let (queue, dlq) = queues("redrive-one");
    for body in [
        r#"{"invoiceId":1}"#,
        r#"{"invoiceId":2}"#,
        r#"{"invoiceId":1}"#,
    ] {
        send(&dlq, body, None);
    }
    let env = queue_env(&queue, &dlq);

    let r = run(
        &env,
        &["dlq", "redrive", "--invoice", "1", "--format", "table"],
    );

    assert_eq!(r.code, 0, "{}", r.transcript());
    golden(
        "redrive-one",
        &r.transcript()
            .replace(&dlq, "<dlq>")
            .replace(&queue, "<queue>"),
    );
    assert_eq!(counts(&drain(&queue)), BTreeMap::from([(1, 2)]));
    assert_eq!(depth(&dlq), (1, 0), "invoice 2 stays, visible again");
    let none = run(&env, &["dlq", "redrive", "--invoice", "1"]);
    assert_eq!(none.code, 1, "{}", none.transcript());
    assert!(
        none.stderr
            .ends_with("glase-invoices: no message for invoice 1 in the dead-letter queue\n"),
        "{}",
        none.stderr
    );
}

#[test]
fn redrive_all_moves_every_message_exactly_once_and_leaves_unparseable_ones() {
    let (queue, dlq) = queues("redrive-all");
    for n in 1..=23 {
        send(&dlq, &format!(r#"{{"invoiceId":{n}}}"#), None);
    }
    send(&dlq, "garbage", Some("message body is not JSON"));

    // moto has no StartMessageMoveTask: the tool says so and moves them itself.
    let r = run(
        &queue_env(&queue, &dlq),
        &["dlq", "redrive", "--all", "--format", "json"],
    );

    assert_eq!(r.code, 0, "{}", r.transcript());
    assert!(
        r.stderr.contains("StartMessageMoveTask is not available"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .ends_with(&format!("moved 23 messages to {queue}; 1 left in {dlq}\n")),
        "{}",
        r.stderr
    );
    assert_eq!(r.stdout.lines().count(), 23);
    let expected: BTreeMap<u64, usize> = (1..=23).map(|n| (n, 1)).collect();
    assert_eq!(counts(&drain(&queue)), expected);
    assert_eq!(
        depth(&dlq),
        (1, 0),
        "the unparseable message stays for a person"
    );
}

#[test]
fn redrive_killed_half_way_loses_nothing_and_a_second_run_finishes_it() {
    let (queue, dlq) = queues("redrive-kill");
    for n in 1..=25 {
        send(&dlq, &format!(r#"{{"invoiceId":{n}}}"#), None);
    }
    let env = queue_env(&queue, &dlq);

    // Stop right after the second batch was sent and before it is deleted — the worst moment —
    // and kill the process there, as an operator's Ctrl-C or a lost SSH session would.
    let mut child = command(
        &env,
        &[
            "dlq",
            "redrive",
            "--all",
            "--no-move-task",
            "--visibility-timeout",
            "1",
            "--pause-after-batches",
            "2",
            "--format",
            "json",
        ],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .expect("spawn");
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    for line in stderr.lines() {
        let line = line.unwrap();
        seen.push_str(&line);
        seen.push('\n');
        if line.contains("paused after sending batch 2") {
            break;
        }
    }
    assert!(seen.contains("paused after sending batch 2"), "{seen}");
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    child.wait().unwrap();

    // The killed run's received messages come back once their visibility lapses.
    while depth(&dlq).1 > 0 {
        std::thread::sleep(Duration::from_millis(200));
    }
    let again = run(
        &env,
        &[
            "dlq",
            "redrive",
            "--all",
            "--no-move-task",
            "--format",
            "json",
        ],
    );
    assert_eq!(again.code, 0, "{}", again.transcript());

    let arrived = counts(&drain(&queue));
    assert_eq!(depth(&dlq), (0, 0), "the dead-letter queue is empty");
    assert_eq!(
        arrived.keys().copied().collect::<Vec<_>>(),
        (1..=25).collect::<Vec<u64>>(),
        "every invoice arrived: none lost"
    );
    // Only the batch in flight at the kill (sent, not yet deleted) can arrive twice; the
    // worker stores a duplicate once.
    let twice: Vec<u64> = arrived
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(id, _)| *id)
        .collect();
    assert_eq!(twice.len(), 10, "the second batch, sent twice: {arrived:?}");
    assert!(arrived.values().all(|n| *n <= 2), "{arrived:?}");
    assert_eq!(arrived.values().sum::<usize>(), 35);
}

#[test]
fn status_reports_queues_and_todays_invoices_locally() {
    let (queue, dlq) = queues("status");
    let table = unique("status");
    block_on(async {
        let store = DynamoStore::new(dynamodb(), &table);
        glase_shared::adapters::dynamo::ensure_table(&dynamodb(), &table)
            .await
            .unwrap();
        let now = jiff::Timestamp::now();
        let purchased = jiff::Timestamp::from_second(now.as_second() - 1)
            .unwrap()
            .to_string();
        crate::common::store(&store, &invoice(1, &purchased, "1.00", "GBP", "R", "d")).await;
        crate::common::store(&store, &invoice(2, &purchased, "2.00", "GBP", "R", "d")).await;
        reject(&store, 3, &now.to_string(), "UNKNOWN_INVOICE", "404").await;
    });
    send(&queue, r#"{"invoiceId":10}"#, None);
    send(&queue, r#"{"invoiceId":11}"#, None);
    send(&dlq, r#"{"invoiceId":12}"#, None);
    let mut env = queue_env(&queue, &dlq);
    env.push(("TABLE_NAME", &table));

    let r = run(&env, &["status", "--format", "json"]);

    assert_eq!(r.code, 0, "{}", r.transcript());
    let today = jiff::Timestamp::now()
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .date()
        .to_string();
    let queue_name = queue.rsplit('/').next().unwrap();
    let dlq_name = dlq.rsplit('/').next().unwrap();
    assert_eq!(
        r.stdout,
        format!(
            "{{\"queue\":\"{queue_name}\",\"queueMessages\":2,\"queueInFlight\":0,\"queueDelayed\":0,\
             \"deadLetterQueue\":\"{dlq_name}\",\"deadLetterMessages\":1,\"day\":\"{today}\",\
             \"storedToday\":2,\"rejectedToday\":1}}\n"
        )
    );
    let table_run = run(&env, &["status", "--format", "table"]);
    golden(
        "status-local.table",
        &table_run
            .transcript()
            .replace(dlq_name, "<dlq>")
            .replace(queue_name, "<queue>")
            .replace(&today, "<today>"),
    );
    let csv = run(&env, &["status", "--format", "csv"]);
    assert_eq!(
        csv.stdout,
        format!(
            "queue,queueMessages,queueInFlight,queueDelayed,deadLetterQueue,deadLetterMessages,day,storedToday,rejectedToday\r\n\
             {queue_name},2,0,0,{dlq_name},1,{today},2,1\r\n"
        )
    );
}

fn stack_outputs(table: &str, queue: &str, dlq: &str, tz: &str) -> Vec<(String, String)> {
    [
        (
            "NotificationUrl",
            "https://abc.execute-api.us-east-1.amazonaws.com/notifications",
        ),
        ("TableName", table),
        ("QueueUrl", queue),
        ("DeadLetterQueueUrl", dlq),
        ("GlaseTimeZone", tz),
        ("AlarmTopicArn", "arn:aws:sns:us-east-1:123456789012:alarms"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

#[test]
fn status_of_a_stack_adds_the_oldest_message_age_and_its_alarms_in_alarm() {
    let (queue, dlq) = queues("status-stack");
    let stack = unique("stack");
    let queue_name = queue.rsplit('/').next().unwrap().to_owned();
    let alarm = |name: String, state: &str| (name, state.to_owned());
    let cloudwatch = fake_cloudwatch(
        vec![
            alarm(format!("{stack}-DeadLetterQueueAlarm-1A2B3C"), "ALARM"),
            alarm(format!("{stack}-QueueAgeAlarm-4D5E6F"), "OK"),
            alarm(format!("{stack}x-DeadLetterQueueAlarm-7G8H9I"), "ALARM"),
        ],
        queue_name.clone(),
        42.4,
    );
    let cfn = fake_cloudformation(HashMap::from([(
        stack.clone(),
        stack_outputs(seeded_table(), &queue, &dlq, "UTC"),
    )]));

    let r = run(
        &[
            ("AWS_ENDPOINT_URL_CLOUDFORMATION", &cfn),
            ("AWS_ENDPOINT_URL_CLOUDWATCH", &cloudwatch),
        ],
        &["--stack", &stack, "status", "--format", "json"],
    );

    assert_eq!(r.code, 0, "{}", r.transcript());
    let v: serde_json::Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(v["queue"], serde_json::json!(queue_name));
    assert_eq!(v["oldestMessageAgeSeconds"], serde_json::json!(42));
    assert_eq!(
        v["alarmsInAlarm"],
        serde_json::json!(format!("{stack}-DeadLetterQueueAlarm-1A2B3C")),
        "only this stack's alarms, only those in ALARM"
    );
}

#[test]
fn stack_outputs_name_the_table_and_queues_and_the_zone() {
    let (queue, dlq) = queues("stack");
    let table = seeded_table();
    let cfn = fake_cloudformation(HashMap::from([(
        "glase-invoices".to_owned(),
        stack_outputs(table, &queue, &dlq, "Europe/Stockholm"),
    )]));
    let env = [("AWS_ENDPOINT_URL_CLOUDFORMATION", cfn.as_str())];

    // The stack's GlaseTimeZone makes March 2 a Stockholm day (105 at 00:30 local is in it).
    let r = run(
        &env,
        &[
            "--stack",
            "glase-invoices",
            "list",
            "--from",
            "2026-03-02",
            "--format",
            "json",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.transcript());
    let ids: Vec<u64> = r
        .stdout
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["invoiceId"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(ids, vec![105, 106, 107]);

    // The environment beats the stack, and a flag beats the environment.
    let env_wins = run(
        &[
            ("AWS_ENDPOINT_URL_CLOUDFORMATION", cfn.as_str()),
            ("TABLE_NAME", "from-env"),
        ],
        &["--stack", "glase-invoices", "get", "106"],
    );
    assert_eq!(env_wins.code, 4, "{}", env_wins.transcript());
    assert!(
        env_wins
            .stderr
            .contains("table from-env failed: ResourceNotFoundException"),
        "{}",
        env_wins.stderr
    );
    let flag_wins = run(
        &[
            ("AWS_ENDPOINT_URL_CLOUDFORMATION", cfn.as_str()),
            ("TABLE_NAME", "from-env"),
        ],
        &[
            "--stack",
            "glase-invoices",
            "--table",
            table,
            "get",
            "106",
            "--format",
            "json",
        ],
    );
    assert_eq!(flag_wins.code, 0, "{}", flag_wins.transcript());

    // The queues too: retry sends to the stack's QueueUrl.
    let retried = run(
        &env,
        &[
            "--stack",
            "glase-invoices",
            "retry",
            "5",
            "--format",
            "json",
        ],
    );
    assert_eq!(retried.code, 0, "{}", retried.transcript());
    assert_eq!(counts(&drain(&queue)), BTreeMap::from([(5, 1)]));
}

#[test]
fn an_unknown_stack_is_a_configuration_error() {
    let cfn = fake_cloudformation(HashMap::new());
    let r = run(
        &[("AWS_ENDPOINT_URL_CLOUDFORMATION", cfn.as_str())],
        &["--stack", "nope", "list"],
    );
    assert_eq!(r.code, 3, "{}", r.transcript());
    assert_eq!(
        r.stderr,
        "glase-invoices: stack nope not found in us-east-1: ValidationError: Stack with id nope does not exist\n"
    );
}

#[test]
fn missing_settings_and_unreachable_services_fail_with_one_plain_line() {
    let no_table = run(&[], &["list"]);
    assert_eq!(no_table.code, 3, "{}", no_table.transcript());
    assert_eq!(
        no_table.stderr,
        "glase-invoices: no invoices table: pass --table, set TABLE_NAME, or name the stack with --stack\n"
    );

    let port = glase_dev::services::free_port().unwrap().to_string();
    let down = format!("http://127.0.0.1:{port}");
    let unreachable = run(
        &[("TABLE_NAME", "t"), ("AWS_ENDPOINT_URL_DYNAMODB", &down)],
        &["get", "1"],
    );
    assert_eq!(unreachable.code, 4, "{}", unreachable.transcript());
    assert_eq!(
        unreachable.stderr.lines().count(),
        1,
        "{}",
        unreachable.stderr
    );
    assert!(
        unreachable
            .stderr
            .starts_with("glase-invoices: GetItem on table t failed: "),
        "{}",
        unreachable.stderr
    );
    assert!(
        !unreachable.stderr.contains("Error {"),
        "no Debug formatting: {}",
        unreachable.stderr
    );

    let usage = run(&[], &["get", "not-a-number"]);
    assert_eq!(usage.code, 2, "{}", usage.transcript());
}

#[test]
fn help_of_every_command_shows_examples() {
    for args in [
        vec!["--help"],
        vec!["get", "--help"],
        vec!["find", "--help"],
        vec!["list", "--help"],
        vec!["export", "--help"],
        vec!["rejected", "--help"],
        vec!["stuck", "--help"],
        vec!["retry", "--help"],
        vec!["status", "--help"],
        vec!["dlq", "list", "--help"],
        vec!["dlq", "redrive", "--help"],
    ] {
        let r = run(&[], &args);
        assert_eq!(r.code, 0, "{args:?}");
        assert!(r.stdout.contains("Examples:"), "{args:?}: {}", r.stdout);
    }
}

/// An SNS topic on moto with the given subscriptions (protocol, endpoint); its ARN.
fn alarm_topic(subscriptions: &[(&str, &str)]) -> String {
    // moto serves SNS on the same port as SQS.
    let moto = &services().sqs_endpoint;
    let sns = aws_sdk_sns::Client::from_conf(
        aws_sdk_sns::config::Builder::from(&glase_dev::aws::local_config(moto, moto))
            .endpoint_url(moto)
            .build(),
    );
    block_on(async {
        let arn = sns
            .create_topic()
            .name(unique("alarms"))
            .send()
            .await
            .expect("topic")
            .topic_arn
            .expect("topic arn");
        for (protocol, endpoint) in subscriptions {
            sns.subscribe()
                .topic_arn(&arn)
                .protocol(*protocol)
                .endpoint(*endpoint)
                .send()
                .await
                .expect("subscribe");
        }
        arn
    })
}

/// `status --stack` against a stack whose alarm topic is `topic`, with a dashboard.
fn stack_status(topic: &str) -> Run {
    let (queue, dlq) = queues("status-topic");
    let stack = unique("stack");
    let cloudwatch = fake_cloudwatch(vec![], String::new(), 0.0);
    let mut outputs = stack_outputs(seeded_table(), &queue, &dlq, "UTC");
    outputs.retain(|(k, _)| k != "AlarmTopicArn");
    outputs.push(("AlarmTopicArn".into(), topic.into()));
    outputs.push((
        "DashboardUrl".into(),
        format!("https://console.aws.amazon.com/cloudwatch/home#dashboards:name={stack}"),
    ));
    let cfn = fake_cloudformation(HashMap::from([(stack.clone(), outputs)]));
    let mut r = run(
        &[
            ("AWS_ENDPOINT_URL_CLOUDFORMATION", &cfn),
            ("AWS_ENDPOINT_URL_CLOUDWATCH", &cloudwatch),
            ("AWS_ENDPOINT_URL_SNS", &services().sqs_endpoint),
        ],
        &["--stack", &stack, "status", "--format", "json"],
    );
    r.stdout = r.stdout.replace(&stack, "<stack>");
    r
}

#[test]
fn status_says_loudly_when_no_one_receives_the_alarms_and_links_the_dashboard() {
    let topic = alarm_topic(&[]);

    let r = stack_status(&topic);

    assert_eq!(r.code, 0, "{}", r.transcript());
    let v: serde_json::Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(v["alarmTopic"], serde_json::json!(topic));
    assert_eq!(v["alarmSubscriptions"], serde_json::json!(0));
    assert_eq!(
        v["dashboard"],
        serde_json::json!("https://console.aws.amazon.com/cloudwatch/home#dashboards:name=<stack>")
    );
    assert!(
        r.stderr.contains("WARNING")
            && r.stderr.contains(&topic)
            && r.stderr.contains("no confirmed subscription"),
        "{}",
        r.transcript()
    );
}

#[test]
fn status_counts_the_alarm_topics_confirmed_subscriptions_without_a_warning() {
    let (_, inbox) = queues("alarm-inbox");
    let inbox_arn = block_on(
        sqs()
            .get_queue_attributes()
            .queue_url(&inbox)
            .attribute_names(QueueAttributeName::QueueArn)
            .send(),
    )
    .expect("attributes")
    .attributes()
    .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
    .expect("queue arn");
    let topic = alarm_topic(&[("sqs", &inbox_arn)]);

    let r = stack_status(&topic);

    assert_eq!(r.code, 0, "{}", r.transcript());
    let v: serde_json::Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(v["alarmSubscriptions"], serde_json::json!(1));
    assert!(!r.stderr.contains("WARNING"), "{}", r.transcript());
}

/// `n` notifications (invoices 1..=n) on `queue`, in batches of ten.
fn send_many(queue: &str, n: u64) {
    use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
    let sqs = sqs();
    block_on(async {
        let ids: Vec<u64> = (1..=n).collect();
        for chunk in ids.chunks(10) {
            let entries = chunk
                .iter()
                .map(|id| {
                    SendMessageBatchRequestEntry::builder()
                        .id(id.to_string())
                        .message_body(format!("{{\"invoiceId\": {id}}}"))
                        .build()
                        .unwrap()
                })
                .collect();
            sqs.send_message_batch()
                .queue_url(queue)
                .set_entries(Some(entries))
                .send()
                .await
                .expect("send batch");
        }
    });
}

/// More messages than a scan receives within one visibility timeout (1 s). 300, not the 2,000
/// of a real backlog: moto takes ~100 s to accept 2,000 on a loaded machine, and its receives
/// slow with the queue's length; 300 already took the old scan past the timeout (it listed 12).
const LONG_SCAN: u64 = 300;

#[test]
fn dlq_list_outliving_the_visibility_timeout_shows_every_message_once() {
    let (queue, dlq) = queues("dlq-long");
    send_many(&dlq, LONG_SCAN);

    let r = run(
        &queue_env(&queue, &dlq),
        &[
            "dlq",
            "list",
            "--format",
            "json",
            "--max",
            "5000",
            "--visibility-timeout",
            "1",
        ],
    );

    assert_eq!(r.code, 0, "{}", r.stderr);
    let mut ids: Vec<u64> = r
        .stdout
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["invoiceId"]
                .as_u64()
                .unwrap()
        })
        .collect();
    let listed = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(
        (listed, ids.len()),
        (LONG_SCAN as usize, LONG_SCAN as usize),
        "every message, each once"
    );
    // Listing consumes nothing.
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(depth(&dlq), (LONG_SCAN, 0));
}

#[test]
fn redrive_of_one_invoice_finds_it_past_the_visibility_timeout() {
    let (queue, dlq) = queues("redrive-long");
    send_many(&dlq, LONG_SCAN);

    let r = run(
        &queue_env(&queue, &dlq),
        &[
            "dlq",
            "redrive",
            "--invoice",
            &LONG_SCAN.to_string(),
            "--format",
            "json",
            "--visibility-timeout",
            "1",
        ],
    );

    assert_eq!(r.code, 0, "{}", r.transcript());
    assert_eq!(counts(&drain(&queue)), BTreeMap::from([(LONG_SCAN, 1)]));
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(depth(&dlq), (LONG_SCAN - 1, 0));
}
