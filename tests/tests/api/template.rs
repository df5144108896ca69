//! The deployable stack (template.yaml) keeps its promises.
//!
//! cfn-lint checks that the template is valid CloudFormation/SAM; the tests below pin down the
//! decisions a later edit could silently undo: queue timings, partial batch failures, the
//! dead-letter path, least-privilege IAM per function, no plaintext secret (the webhook token
//! only as its hash), the table's schema (the same one `DynamoStore::ensure_table` creates
//! locally), retained queues, the alarms on every way a notification or invoice can be lost
//! (and their runbook in docs/runbook.md) and the outputs the deploy guide relies on. The template uses long-form intrinsics (`Ref:`, `Fn::GetAtt:`, ...) only, which
//! the first test checks, so every value below is plain YAML.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use glase_shared::adapters::dynamo::schema;
use glase_shared::config::Env;
use regex::Regex;
use serde_norway::{Mapping, Value};
use sha2::{Digest, Sha256};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

fn template_text() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| {
        let path = repo_root().join("template.yaml");
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
    })
}

fn template() -> &'static Value {
    static TEMPLATE: OnceLock<Value> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        serde_norway::from_str(template_text()).expect("template.yaml is valid YAML")
    })
}

fn resource(name: &str) -> &'static Value {
    let r = &template()["Resources"][name];
    assert!(r.is_mapping(), "template.yaml has no resource {name}");
    r
}

fn props(name: &str) -> &'static Value {
    &resource(name)["Properties"]
}

fn resources_of_type(kind: &str) -> Vec<(&'static str, &'static Value)> {
    template()["Resources"]
        .as_mapping()
        .expect("Resources is a mapping")
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some(kind))
        .map(|(k, r)| (k.as_str().expect("resource names are strings"), r))
        .collect()
}

fn int(v: &Value, what: &str) -> u64 {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
    .unwrap_or_else(|| panic!("{what} is not a whole number: {v:?}"))
}

fn str_of<'a>(v: &'a Value, what: &str) -> &'a str {
    v.as_str()
        .unwrap_or_else(|| panic!("{what} is not a string: {v:?}"))
}

fn reference(name: &str) -> Value {
    one("Ref", Value::from(name))
}

fn get_att(resource: &str, attribute: &str) -> Value {
    one(
        "Fn::GetAtt",
        Value::Sequence(vec![Value::from(resource), Value::from(attribute)]),
    )
}

fn one(key: &str, value: Value) -> Value {
    let mut m = Mapping::new();
    m.insert(Value::from(key), value);
    Value::Mapping(m)
}

/// Strings or a list of strings, as IAM allows for Action and Resource.
fn string_or_list(v: &Value) -> Vec<Value> {
    match v {
        Value::Sequence(items) => items.clone(),
        other => vec![other.clone()],
    }
}

/// A `Fn::FindInMap` with literal keys, looked up in the template's Mappings; anything else as is.
fn mapped(v: &'static Value) -> &'static Value {
    match &v["Fn::FindInMap"] {
        Value::Sequence(keys) => {
            let key = |i: usize| str_of(&keys[i], "a literal FindInMap key");
            let found = &template()["Mappings"][key(0)][key(1)][key(2)];
            assert!(!found.is_null(), "FindInMap {keys:?} finds nothing");
            found
        }
        _ => v,
    }
}

/// The one value both the redrive policy and the worker's MAX_RECEIVE_COUNT stand on.
fn max_receive_count() -> u64 {
    int(
        mapped(&props("NotificationQueue")["RedrivePolicy"]["maxReceiveCount"]),
        "maxReceiveCount",
    )
}

fn parameter(name: &str) -> &'static Value {
    let p = &template()["Parameters"][name];
    assert!(p.is_mapping(), "parameter {name} is missing");
    p
}

/// A parameter's AllowedPattern, compiled (CloudFormation matches it against the whole value).
fn allowed_pattern(name: &str) -> Regex {
    let pattern = str_of(&parameter(name)["AllowedPattern"], "AllowedPattern");
    assert!(
        pattern.starts_with('^') && pattern.ends_with('$'),
        "{name}: anchor the pattern"
    );
    Regex::new(pattern).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

// What the functions emit as EMF metrics (no dimensions; alarms match exactly): the functions'
// own constants, so an alarm can only name a metric the code emits.
const WEBHOOK_METRICS: &[&str] = {
    use glase_webhook::metric::*;
    &[ACCEPTED, REFUSED, UNAUTHORIZED, INVALID, UNAVAILABLE]
};
const WORKER_METRICS: &[&str] = {
    use glase_worker::metric::*;
    &[
        STORED,
        DUPLICATE,
        REJECTED,
        RETRIED,
        QUARANTINED,
        DEAD_LETTERED,
        GLASE_UNAUTHORIZED,
        GLASE_FETCH_LATENCY,
        INIT_FAILED,
        RETRIED_RECEIVE_COUNT,
        POSTPONED,
        DEADLINE_EXCEEDED,
    ]
};
const RECONCILE_METRICS: &[&str] = {
    use glase_reconcile::metrics::*;
    &[
        REQUEUED,
        MISMATCHES,
        REPORT_ROWS,
        FAILED,
        MISSING,
        RUNS,
        INVALID_ROWS,
    ]
};

/// The topic every alarm publishes to: the one named by the AlarmTopicArn parameter, else the
/// stack's own.
fn alarm_topic_in_use() -> Value {
    one(
        "Fn::If",
        Value::Sequence(vec![
            Value::from("HasAlarmTopicArn"),
            reference("AlarmTopicArn"),
            reference("AlarmTopic"),
        ]),
    )
}

/// Alarms whose silence is the fault: missing data breaches.
const LIVENESS_ALARMS: &[&str] = &["TrafficFloorAlarm", "ReconcileHeartbeatAlarm"];

/// A number, or a `Ref` to a parameter, resolved to the parameter's default.
fn number_or_default(v: &Value, what: &str) -> u64 {
    match v["Ref"].as_str() {
        Some(name) => int(&parameter(name)["Default"], what),
        None => int(v, what),
    }
}

const METRICS_NAMESPACE: &str = "GlaseInvoices/${AWS::StackName}";

/// Every metric an alarm watches, directly or inside its metric math: (namespace, name, dimensions).
fn alarm_metrics(alarm: &'static Value) -> Vec<(&'static Value, &'static str, &'static Value)> {
    let p = &alarm["Properties"];
    if let Some(queries) = p["Metrics"].as_sequence() {
        assert!(
            p["MetricName"].is_null(),
            "an alarm has a metric or metric math, not both"
        );
        queries
            .iter()
            .filter(|q| q["Expression"].is_null())
            .map(|q| {
                let m = &q["MetricStat"]["Metric"];
                (
                    &m["Namespace"],
                    str_of(&m["MetricName"], "MetricName"),
                    &m["Dimensions"],
                )
            })
            .collect()
    } else {
        vec![(
            &p["Namespace"],
            str_of(&p["MetricName"], "MetricName"),
            &p["Dimensions"],
        )]
    }
}

fn alarms() -> Vec<(&'static str, &'static Value)> {
    resources_of_type("AWS::CloudWatch::Alarm")
}

/// The alarm that watches exactly this one metric (not through metric math).
fn simple_alarm_on(namespace: &Value, metric: &str) -> (&'static str, &'static Value) {
    let found: Vec<_> = alarms()
        .into_iter()
        .filter(|(_, a)| {
            a["Properties"]["MetricName"].as_str() == Some(metric)
                && &a["Properties"]["Namespace"] == namespace
        })
        .collect();
    assert_eq!(found.len(), 1, "one alarm on {metric}");
    found[0]
}

/// A documentation file, by its path from the repository root (`README.md`, `docs/runbook.md`).
fn doc(path: &str) -> String {
    std::fs::read_to_string(repo_root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn worker_env() -> &'static Value {
    &props("WorkerFunction")["Environment"]["Variables"]
}

fn webhook_env() -> &'static Value {
    &props("WebhookFunction")["Environment"]["Variables"]
}

fn worker_event() -> &'static Value {
    let events = props("WorkerFunction")["Events"]
        .as_mapping()
        .expect("WorkerFunction has Events");
    assert_eq!(events.len(), 1, "the worker has exactly one trigger");
    let event = events.values().next().expect("one event");
    assert_eq!(event["Type"].as_str(), Some("SQS"));
    &event["Properties"]
}

/// Every statement of the role's inline policies, after checking the role grants nothing else.
fn role_statements(function: &str) -> Vec<&'static Value> {
    let role_ref = &props(function)["Role"];
    let role_name = str_of(&role_ref["Fn::GetAtt"][0], "the function's Role");
    assert_eq!(
        role_ref,
        &get_att(role_name, "Arn"),
        "{function} uses its own role from this template"
    );
    assert!(
        props(function)["Policies"].is_null(),
        "{function}: SAM Policies would be ignored next to Role"
    );
    let role = resource(role_name);
    assert_eq!(role["Type"].as_str(), Some("AWS::IAM::Role"));
    let role = &role["Properties"];
    for forbidden in ["ManagedPolicyArns", "PermissionsBoundary", "RoleName"] {
        assert!(
            role[forbidden].is_null(),
            "{role_name} must not set {forbidden}"
        );
    }
    let trust = role["AssumeRolePolicyDocument"]["Statement"]
        .as_sequence()
        .expect("trust statements");
    assert_eq!(trust.len(), 1);
    assert_eq!(
        trust[0]["Principal"],
        one("Service", Value::from("lambda.amazonaws.com"))
    );
    assert_eq!(trust[0]["Action"].as_str(), Some("sts:AssumeRole"));

    let policies = role["Policies"].as_sequence().expect("inline policies");
    let statements: Vec<&Value> = policies
        .iter()
        .flat_map(|p| {
            p["PolicyDocument"]["Statement"]
                .as_sequence()
                .expect("statements")
                .iter()
        })
        .collect();
    for s in &statements {
        assert_eq!(
            s["Effect"].as_str(),
            Some("Allow"),
            "{role_name}: only Allow statements"
        );
        assert!(
            s["NotAction"].is_null() && s["NotResource"].is_null(),
            "{role_name}: no NotAction/NotResource"
        );
    }
    statements
}

/// action → the resources it is granted on (statements with conditions are checked apart).
fn grants(statements: &[&Value]) -> BTreeMap<String, BTreeSet<String>> {
    let mut map: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for s in statements {
        for action in string_or_list(&s["Action"]) {
            let action = str_of(&action, "Action").to_owned();
            assert!(!action.contains('*'), "wildcard action {action}");
            for r in string_or_list(&s["Resource"]) {
                map.entry(action.clone())
                    .or_default()
                    .insert(serde_norway::to_string(&r).unwrap().trim().to_owned());
            }
        }
    }
    map
}

fn expect_grants(pairs: &[(&str, Value)]) -> BTreeMap<String, BTreeSet<String>> {
    let mut map: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (action, r) in pairs {
        map.entry((*action).to_owned())
            .or_default()
            .insert(serde_norway::to_string(r).unwrap().trim().to_owned());
    }
    map
}

fn sub(s: &str) -> Value {
    one("Fn::Sub", Value::from(s))
}

const PARAMETER_ARN: &str =
    "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter${IssuerSecretParameterName}";

// ---------------------------------------------------------------------------------------------

#[test]
fn cfn_lint_reports_no_errors_and_no_warnings() {
    let root = repo_root();
    let cfn_lint = root.join(".local/venv/bin/cfn-lint");
    assert!(
        cfn_lint.exists(),
        "{} is missing: run `make deps` (installs cfn-lint into .local/venv)",
        cfn_lint.display()
    );
    let out = Command::new(&cfn_lint)
        .arg("template.yaml")
        .current_dir(&root)
        .output()
        .expect("run cfn-lint");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && report.trim().is_empty(),
        "cfn-lint template.yaml ({}):\n{report}",
        out.status
    );
}

#[test]
fn template_uses_long_form_intrinsics_only_so_these_checks_see_every_value() {
    fn walk(v: &Value, path: &str) {
        match v {
            Value::Tagged(t) => panic!(
                "{path}: short-form tag {} (write it as a long-form Fn:: / Ref: mapping)",
                t.tag
            ),
            Value::Sequence(items) => items
                .iter()
                .enumerate()
                .for_each(|(i, x)| walk(x, &format!("{path}[{i}]"))),
            Value::Mapping(m) => m
                .iter()
                .for_each(|(k, x)| walk(x, &format!("{path}.{}", k.as_str().unwrap_or("?")))),
            _ => {}
        }
    }
    walk(template(), "template");
    assert_eq!(
        template()["Transform"].as_str(),
        Some("AWS::Serverless-2016-10-31")
    );
}

#[test]
fn queue_visibility_timeout_is_at_least_six_times_the_worker_timeout_plus_the_batching_window() {
    let worker_timeout = int(&props("WorkerFunction")["Timeout"], "worker Timeout");
    let window = int(
        &worker_event()["MaximumBatchingWindowInSeconds"],
        "MaximumBatchingWindowInSeconds",
    );
    let visibility = int(
        &props("NotificationQueue")["VisibilityTimeout"],
        "VisibilityTimeout",
    );
    assert!(
        window > 0,
        "batch with a window so bursts arrive as batches"
    );
    assert!(
        visibility >= 6 * worker_timeout + window,
        "visibility {visibility}s < 6 × {worker_timeout}s + {window}s"
    );
}

#[test]
fn worker_timeout_leaves_room_for_a_whole_glase_call_and_the_table_writes() {
    let worker_timeout_ms = 1000 * int(&props("WorkerFunction")["Timeout"], "worker Timeout");
    let glase_ms = int(&worker_env()["GLASE_TIMEOUT_MS"], "GLASE_TIMEOUT_MS");
    let connect_ms = int(
        &worker_env()["GLASE_CONNECT_TIMEOUT_MS"],
        "GLASE_CONNECT_TIMEOUT_MS",
    );
    assert!(connect_ms < glase_ms);
    assert!(
        worker_timeout_ms >= 2 * glase_ms,
        "worker timeout {worker_timeout_ms} ms < 2 × Glase timeout {glase_ms} ms"
    );
    let webhook_ms = 1000 * int(&props("WebhookFunction")["Timeout"], "webhook Timeout");
    let integration_ms = int(
        &props("WebhookIntegration")["TimeoutInMillis"],
        "integration timeout",
    );
    assert!(
        webhook_ms < integration_ms,
        "API Gateway must wait for the webhook's own timeout"
    );
}

#[test]
fn worker_reports_batch_item_failures_for_batches_of_ten_with_bounded_concurrency() {
    let event = worker_event();
    assert_eq!(event["Queue"], get_att("NotificationQueue", "Arn"));
    assert_eq!(int(&event["BatchSize"], "BatchSize"), 10);
    let types = event["FunctionResponseTypes"]
        .as_sequence()
        .expect("FunctionResponseTypes");
    assert!(
        types.contains(&Value::from("ReportBatchItemFailures")),
        "one failed record must not retry the batch"
    );
    assert_eq!(
        event["ScalingConfig"]["MaximumConcurrency"],
        reference("WorkerMaxConcurrency")
    );
    let p = &template()["Parameters"]["WorkerMaxConcurrency"];
    assert_eq!(
        int(&p["MinValue"], "MinValue"),
        2,
        "Lambda's minimum MaximumConcurrency"
    );
    assert!(
        int(&p["Default"], "Default") <= 10,
        "protect Glase by default"
    );
}

#[test]
fn queue_dead_letters_after_at_least_five_receives_into_a_queue_kept_fourteen_days() {
    let queue = props("NotificationQueue");
    let redrive = &queue["RedrivePolicy"];
    assert_eq!(
        redrive["deadLetterTargetArn"],
        get_att("DeadLetterQueue", "Arn")
    );
    assert!(max_receive_count() >= 5);
    let dlq_retention = int(
        &props("DeadLetterQueue")["MessageRetentionPeriod"],
        "DLQ retention",
    );
    assert_eq!(dlq_retention, 14 * 24 * 3600);
    // A standard queue's DLQ keeps the original enqueue time: it must outlast the source queue.
    let retention = int(&queue["MessageRetentionPeriod"], "queue retention");
    assert!(dlq_retention > retention);
}

#[test]
fn failing_messages_are_retried_for_a_day_and_dead_lettered_before_they_could_expire() {
    let base = int(&worker_env()["RETRY_BASE_SECONDS"], "RETRY_BASE_SECONDS");
    let max = int(&worker_env()["RETRY_MAX_SECONDS"], "RETRY_MAX_SECONDS");
    let receives = max_receive_count();
    let timeout = int(&props("WorkerFunction")["Timeout"], "worker Timeout");
    // The worker's back-off (RetryPolicy::delay_secs): base · 2^(n-1), capped at max.
    let policy = glase_worker::Policy {
        base_secs: base as u32,
        max_secs: max as u32,
        ..glase_worker::Policy::default()
    };
    let waits: u64 = (1..=receives as u32)
        .map(|n| policy.delay_secs(n) as u64)
        .sum();
    let span = waits + receives * timeout;
    assert!(
        waits >= 24 * 3600,
        "a failing invoice is dead-lettered after only {waits}s of retries"
    );
    // The runbook's loss-timing guarantee quotes this very figure.
    let quoted = format!("{},{:03} s of waits", waits / 1000, waits % 1000);
    assert!(
        doc("docs/runbook.md").contains(&quoted),
        "docs/runbook.md must say {quoted:?}"
    );
    let retention = int(
        &props("NotificationQueue")["MessageRetentionPeriod"],
        "queue retention",
    );
    assert!(
        span < retention,
        "messages would expire ({retention}s) before being dead-lettered ({span}s)"
    );
    assert!(max <= 43_200, "SQS caps a visibility timeout at 12 h");
    assert!(base >= 1, "a zero base retries in a hot loop");
    assert!(base <= max);
}

#[test]
fn webhook_may_only_send_to_and_prime_the_notification_queue_and_write_its_logs() {
    let statements = role_statements("WebhookFunction");
    let expected = expect_grants(&[
        ("sqs:SendMessage", get_att("NotificationQueue", "Arn")),
        // SqsQueue::prime, during init.
        (
            "sqs:GetQueueAttributes",
            get_att("NotificationQueue", "Arn"),
        ),
        ("logs:CreateLogStream", get_att("WebhookLogGroup", "Arn")),
        ("logs:PutLogEvents", get_att("WebhookLogGroup", "Arn")),
        ("xray:PutTraceSegments", Value::from("*")),
        ("xray:PutTelemetryRecords", Value::from("*")),
    ]);
    assert_eq!(grants(&statements), expected);
    assert!(statements.iter().all(|s| s["Condition"].is_null()));
}

#[test]
fn worker_may_make_exactly_the_calls_its_code_makes_on_exactly_its_resources() {
    let statements = role_statements("WorkerFunction");
    let table = get_att("InvoicesTable", "Arn");
    let queue = get_att("NotificationQueue", "Arn");
    let expected = expect_grants(&[
        ("dynamodb:GetItem", table.clone()),
        ("dynamodb:PutItem", table.clone()),
        ("dynamodb:UpdateItem", table),
        // The SQS event source mapping polls with the function's role ...
        ("sqs:ReceiveMessage", queue.clone()),
        ("sqs:DeleteMessage", queue.clone()),
        ("sqs:GetQueueAttributes", queue.clone()),
        // ... and the worker postpones retries itself.
        ("sqs:ChangeMessageVisibility", queue),
        ("sqs:SendMessage", get_att("DeadLetterQueue", "Arn")),
        ("ssm:GetParameter", sub(PARAMETER_ARN)),
        (
            "kms:Decrypt",
            sub("arn:${AWS::Partition}:kms:${AWS::Region}:${AWS::AccountId}:key/*"),
        ),
        ("logs:CreateLogStream", get_att("WorkerLogGroup", "Arn")),
        ("logs:PutLogEvents", get_att("WorkerLogGroup", "Arn")),
        ("xray:PutTraceSegments", Value::from("*")),
        ("xray:PutTelemetryRecords", Value::from("*")),
    ]);
    assert_eq!(grants(&statements), expected);
}

#[test]
fn kms_decrypt_is_only_granted_through_ssm_for_the_issuer_secret() {
    for function in ["WorkerFunction", "ReconcileFunction"] {
        kms_decrypt_only_through_ssm(function);
    }
}

fn kms_decrypt_only_through_ssm(function: &str) {
    let statements = role_statements(function);
    let decrypt: Vec<_> = statements
        .iter()
        .filter(|s| string_or_list(&s["Action"]).contains(&Value::from("kms:Decrypt")))
        .collect();
    assert_eq!(decrypt.len(), 1);
    assert_eq!(
        string_or_list(&decrypt[0]["Action"]).len(),
        1,
        "kms:Decrypt has a statement of its own"
    );
    let cond = &decrypt[0]["Condition"]["StringEquals"];
    assert_eq!(
        cond["kms:ViaService"],
        sub("ssm.${AWS::Region}.amazonaws.com")
    );
    assert_eq!(
        cond["kms:EncryptionContext:PARAMETER_ARN"],
        sub(PARAMETER_ARN)
    );
    for s in statements
        .iter()
        .filter(|s| !string_or_list(&s["Action"]).contains(&Value::from("kms:Decrypt")))
    {
        assert!(
            s["Condition"].is_null(),
            "only the KMS statement is conditional"
        );
    }
}

#[test]
fn no_statement_grants_anything_on_every_resource_except_xray_which_has_no_resources() {
    let everything = serde_norway::to_string(&Value::from("*"))
        .unwrap()
        .trim()
        .to_owned();
    for function in ["WebhookFunction", "WorkerFunction", "ReconcileFunction"] {
        for (action, resources) in grants(&role_statements(function)) {
            if resources.contains(&everything) {
                assert!(action.starts_with("xray:"), "{function}: {action} on *");
            }
        }
    }
}

#[test]
fn issuer_secret_is_passed_by_ssm_parameter_name_and_never_as_a_value() {
    let env = worker_env();
    assert_eq!(
        env["GLASE_SECRET_PARAMETER"],
        reference("IssuerSecretParameterName")
    );
    assert!(
        env["GLASE_SECRET"].is_null(),
        "GLASE_SECRET would put the secret in the function configuration"
    );
    assert!(!template_text().contains("GLASE_SECRET:"));
    assert!(
        resources_of_type("AWS::SSM::Parameter").is_empty(),
        "the issuer creates the SecureString, not the stack"
    );
    let name = &template()["Parameters"]["IssuerSecretParameterName"];
    assert!(
        str_of(&name["Default"], "default parameter name").starts_with('/'),
        "a name, not a value"
    );
    // Every parameter that could hold a secret value is NoEcho.
    for (key, p) in template()["Parameters"].as_mapping().expect("Parameters") {
        let key = key.as_str().unwrap();
        let lower = key.to_ascii_lowercase();
        if (lower.contains("secret") || lower.contains("token") || lower.contains("password"))
            && !lower.ends_with("parametername")
        {
            assert_eq!(
                p["NoEcho"].as_bool(),
                Some(true),
                "parameter {key} must be NoEcho"
            );
            assert!(
                p["Default"].is_null() || p["Default"].as_str() == Some(""),
                "parameter {key} must not default to a value"
            );
        }
    }
}

#[test]
fn webhook_token_hash_reaches_only_the_webhook_never_outputs_or_access_logs() {
    assert_eq!(
        webhook_env()["WEBHOOK_TOKEN_SHA256"],
        reference("WebhookTokenSha256")
    );
    assert!(
        worker_env()["WEBHOOK_TOKEN_SHA256"].is_null(),
        "the worker has no use for it"
    );
    let outputs = serde_norway::to_string(&template()["Outputs"]).unwrap();
    assert!(
        !outputs.contains("Ref: WebhookTokenSha256") && !outputs.contains("${WebhookTokenSha256}"),
        "an output shows the token's hash"
    );
    let format = str_of(
        &props("HttpApiStage")["AccessLogSettings"]["Format"],
        "access log format",
    );
    for leak in ["$context.path", "$context.rawPath"] {
        assert!(
            !format.contains(leak),
            "access logs must not record {leak} (it carries the token)"
        );
    }
    assert!(
        serde_json::from_str::<serde_json::Value>(format).is_ok(),
        "access log format is JSON"
    );
}

#[test]
fn notification_route_always_requires_the_token_path_segment() {
    let routes = resources_of_type("AWS::ApiGatewayV2::Route");
    let keys: Vec<&str> = routes
        .iter()
        .map(|(_, r)| str_of(&r["Properties"]["RouteKey"], "RouteKey"))
        .collect();
    assert_eq!(
        keys,
        vec!["POST /notifications/{token}"],
        "no route without the token"
    );
    for (name, r) in &routes {
        assert!(r["Condition"].is_null(), "{name} exists in every stack");
    }
    let conditions = serde_norway::to_string(&template()["Conditions"]).unwrap();
    assert!(
        !conditions.contains("Token"),
        "the token is not optional: {conditions}"
    );
    for (_, r) in routes {
        assert_eq!(
            r["Properties"]["Target"],
            sub("integrations/${WebhookIntegration}")
        );
    }
    let integration = props("WebhookIntegration");
    assert_eq!(integration["IntegrationType"].as_str(), Some("AWS_PROXY"));
    assert_eq!(
        integration["PayloadFormatVersion"].as_str(),
        Some("2.0"),
        "lambda_http is built for HTTP API payload v2"
    );
    assert_eq!(
        integration["IntegrationUri"],
        get_att("WebhookFunction", "Arn")
    );
    let permission = props("WebhookInvokePermission");
    assert_eq!(
        permission["Principal"].as_str(),
        Some("apigateway.amazonaws.com")
    );
    assert_eq!(permission["FunctionName"], reference("WebhookFunction"));
    assert_eq!(
        permission["SourceArn"],
        sub("arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${HttpApi}/*/POST/notifications/*")
    );
}

#[test]
fn api_stage_is_the_default_stage_throttled_and_access_logged() {
    let stage = props("HttpApiStage");
    // `$default` keeps the stage name out of the path the webhook routes on.
    assert_eq!(stage["StageName"].as_str(), Some("$default"));
    assert_eq!(stage["AutoDeploy"].as_bool(), Some(true));
    assert_eq!(
        stage["DefaultRouteSettings"]["ThrottlingRateLimit"],
        reference("ApiRateLimit")
    );
    assert_eq!(
        stage["DefaultRouteSettings"]["ThrottlingBurstLimit"],
        reference("ApiBurstLimit")
    );
    assert_eq!(
        stage["AccessLogSettings"]["DestinationArn"],
        get_att("ApiAccessLogGroup", "Arn")
    );
    assert_eq!(props("HttpApi")["ProtocolType"].as_str(), Some("HTTP"));
}

#[test]
fn invoices_table_has_the_same_keys_and_indexes_as_the_local_one_and_is_protected() {
    let table = resource("InvoicesTable");
    assert_eq!(table["DeletionPolicy"].as_str(), Some("Retain"));
    assert_eq!(table["UpdateReplacePolicy"].as_str(), Some("Retain"));
    let p = &table["Properties"];
    assert_eq!(p["BillingMode"].as_str(), Some("PAY_PER_REQUEST"));
    assert_eq!(
        p["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"].as_bool(),
        Some(true)
    );
    assert_eq!(p["SSESpecification"]["SSEEnabled"].as_bool(), Some(true));
    assert!(
        p["TimeToLiveSpecification"].is_null(),
        "invoices never expire"
    );
    assert!(
        p["TableName"].is_null(),
        "a generated name lets several stacks share an account"
    );

    let attrs: BTreeMap<&str, &str> = p["AttributeDefinitions"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| {
            (
                str_of(&a["AttributeName"], "AttributeName"),
                str_of(&a["AttributeType"], "AttributeType"),
            )
        })
        .collect();
    assert_eq!(
        attrs,
        BTreeMap::from([
            (schema::INVOICE_ID, "N"),
            (schema::REFERENCE, "S"),
            (schema::PURCHASE_DATE, "S"),
            (schema::PURCHASE_TIME, "S"),
            (schema::OPEN_STATE, "S"),
            (schema::UPDATED_AT, "S")
        ])
    );
    /// (attribute, HASH | RANGE) in key-schema order.
    type KeySchema = Vec<(String, String)>;
    let key = |v: &Value| -> KeySchema {
        v.as_sequence()
            .unwrap()
            .iter()
            .map(|k| {
                (
                    str_of(&k["AttributeName"], "key").to_owned(),
                    str_of(&k["KeyType"], "KeyType").to_owned(),
                )
            })
            .collect()
    };
    assert_eq!(
        key(&p["KeySchema"]),
        vec![(schema::INVOICE_ID.to_owned(), "HASH".to_owned())]
    );
    let indexes: BTreeMap<&str, (KeySchema, &str)> = p["GlobalSecondaryIndexes"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|i| {
            let projection = str_of(&i["Projection"]["ProjectionType"], "ProjectionType");
            (
                str_of(&i["IndexName"], "IndexName"),
                (key(&i["KeySchema"]), projection),
            )
        })
        .collect();
    let gsi = |hash: &str, range: &str| {
        (
            vec![
                (hash.to_owned(), "HASH".to_owned()),
                (range.to_owned(), "RANGE".to_owned()),
            ],
            "ALL",
        )
    };
    assert_eq!(
        indexes,
        BTreeMap::from([
            (
                schema::BY_REFERENCE_INDEX,
                gsi(schema::REFERENCE, schema::PURCHASE_TIME)
            ),
            (
                schema::BY_PURCHASE_DATE_INDEX,
                gsi(schema::PURCHASE_DATE, schema::PURCHASE_TIME)
            ),
            (
                schema::BY_OPEN_STATE_INDEX,
                gsi(schema::OPEN_STATE, schema::UPDATED_AT)
            )
        ])
    );
}

#[test]
fn queues_are_encrypted_and_refuse_plain_http() {
    for q in [
        "NotificationQueue",
        "DeadLetterQueue",
        "ReconcileFailureQueue",
        "ReconcileDaysQueue",
    ] {
        let p = props(q);
        assert!(
            p["SqsManagedSseEnabled"].as_bool() == Some(true) || !p["KmsMasterKeyId"].is_null(),
            "{q} is not encrypted at rest"
        );
    }
    let policy = props("QueuesTlsOnlyPolicy");
    assert_eq!(
        policy["Queues"],
        Value::Sequence(vec![
            reference("NotificationQueue"),
            reference("DeadLetterQueue"),
            reference("ReconcileFailureQueue"),
            reference("ReconcileDaysQueue"),
        ])
    );
    let s = &policy["PolicyDocument"]["Statement"][0];
    assert_eq!(s["Effect"].as_str(), Some("Deny"));
    assert_eq!(
        s["Condition"]["Bool"]["aws:SecureTransport"].as_str(),
        Some("false")
    );
}

#[test]
fn dead_letters_and_worker_errors_raise_alarms_on_the_topic_mailed_when_an_address_is_given() {
    let alarms = resources_of_type("AWS::CloudWatch::Alarm");
    let on = |namespace: &str, metric: &str, dimension: Value| {
        alarms.iter().find(|(_, a)| {
            let p = &a["Properties"];
            p["Namespace"].as_str() == Some(namespace)
                && p["MetricName"].as_str() == Some(metric)
                && p["Dimensions"][0]["Value"] == dimension
        })
    };
    let dlq = on(
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        get_att("DeadLetterQueue", "QueueName"),
    )
    .expect("an alarm on the dead-letter queue's depth");
    assert_eq!(
        int(&dlq.1["Properties"]["Threshold"], "Threshold"),
        0,
        "one dead letter is one too many"
    );
    assert_eq!(
        dlq.1["Properties"]["ComparisonOperator"].as_str(),
        Some("GreaterThanThreshold")
    );
    on("AWS/Lambda", "Errors", reference("WorkerFunction")).expect("an alarm on worker errors");
    for (name, a) in &alarms {
        let actions = a["Properties"]["AlarmActions"]
            .as_sequence()
            .unwrap_or_else(|| panic!("{name} has no AlarmActions"));
        assert!(
            actions.contains(&alarm_topic_in_use()),
            "{name} does not notify the alarm topic in use"
        );
    }
    let subscription = resource("AlarmEmailSubscription");
    assert_eq!(subscription["Condition"].as_str(), Some("HasAlarmEmail"));
    assert_eq!(subscription["Properties"]["TopicArn"], alarm_topic_in_use());
    assert_eq!(
        subscription["Properties"]["Protocol"].as_str(),
        Some("email")
    );
    assert_eq!(
        subscription["Properties"]["Endpoint"],
        reference("AlarmEmail")
    );
    assert_eq!(
        template()["Parameters"]["AlarmEmail"]["Default"].as_str(),
        Some(""),
        "AlarmEmail is optional"
    );
}

#[test]
fn both_functions_are_rust_on_provided_al2023_built_by_cargo_lambda_from_the_workspace() {
    for (function, binary) in [
        ("WebhookFunction", "glase-webhook"),
        ("WorkerFunction", "glase-worker"),
        ("ReconcileFunction", "glase-reconcile"),
    ] {
        let r = resource(function);
        assert_eq!(r["Type"].as_str(), Some("AWS::Serverless::Function"));
        assert_eq!(
            r["Metadata"]["BuildMethod"].as_str(),
            Some("rust-cargolambda")
        );
        assert_eq!(
            r["Metadata"]["BuildProperties"]["Binary"].as_str(),
            Some(binary)
        );
        let p = &r["Properties"];
        // SAM's cargo-lambda builder copies <CodeUri>/target/lambda/<Binary>/bootstrap: only the
        // workspace root has that target directory.
        assert_eq!(
            p["CodeUri"].as_str(),
            Some("."),
            "{function}: CodeUri must be the workspace root"
        );
        assert_eq!(p["Runtime"].as_str(), Some("provided.al2023"));
        assert_eq!(p["Handler"].as_str(), Some("bootstrap"));
        assert_eq!(
            p["Architectures"],
            Value::Sequence(vec![reference("Architecture")])
        );
        assert_eq!(p["Tracing"].as_str(), Some("Active"));
        assert_eq!(
            p["Environment"]["Variables"]["RUST_LOG"],
            reference("LogLevel")
        );
        let group = str_of(
            &p["LoggingConfig"]["LogGroup"]["Ref"],
            "LoggingConfig.LogGroup",
        );
        assert_eq!(
            resource(group)["Type"].as_str(),
            Some("AWS::Logs::LogGroup")
        );
        // The log group has the standard name, so `sam logs` and the console find it.
        let name = str_of(&p["FunctionName"]["Fn::Sub"], "FunctionName");
        assert_eq!(
            resource(group)["Properties"]["LogGroupName"],
            sub(&format!("/aws/lambda/{name}"))
        );
    }
    let workspace = std::fs::read_to_string(repo_root().join("Cargo.toml")).unwrap();
    assert!(
        workspace.contains("functions/webhook")
            && workspace.contains("functions/worker")
            && workspace.contains("functions/reconcile")
    );
    let arch = &template()["Parameters"]["Architecture"];
    assert_eq!(arch["Default"].as_str(), Some("arm64"));
    assert_eq!(
        arch["AllowedValues"],
        Value::Sequence(vec![Value::from("arm64"), Value::from("x86_64")])
    );
}

#[test]
fn every_log_group_has_a_retention() {
    let groups = resources_of_type("AWS::Logs::LogGroup");
    assert_eq!(
        groups.len(),
        5,
        "webhook, worker, reconcile, events and API access logs"
    );
    for (name, g) in groups {
        assert_eq!(
            g["Properties"]["RetentionInDays"],
            reference("LogRetentionDays"),
            "{name} keeps logs forever"
        );
    }
}

/// A token as the deploy guide (docs/deploy.md) makes one (`openssl rand -hex 32`).
const SAMPLE_TOKEN: &str = "3f1c2a9be07d4c5f8a6b1e2d3c4b5a69788796a5b4c3d2e1f0a9b8c7d6e5f4a3";

/// Resolves the functions' environment the way CloudFormation would, with sample values, and
/// feeds it to the code's own config parser: every variable the code needs is wired, and every
/// literal is one the code accepts.
fn resolved_env(vars: &'static Value) -> BTreeMap<String, String> {
    let samples = BTreeMap::from([
        ("IssuerName", "issuer-1"),
        ("GlaseBaseUrl", "https://glase.example.com"),
        (
            "NotificationQueue",
            "https://sqs.eu-north-1.amazonaws.com/123456789012/glase-NotificationQueue-x",
        ),
        (
            "DeadLetterQueue",
            "https://sqs.eu-north-1.amazonaws.com/123456789012/glase-DeadLetterQueue-x",
        ),
        (
            "ReconcileDaysQueue",
            "https://sqs.eu-north-1.amazonaws.com/123456789012/glase-ReconcileDaysQueue-x",
        ),
        ("InvoicesTable", "glase-InvoicesTable-x"),
        ("InvoiceEventBus", "glase-invoices-invoices"),
    ]);
    let token_hash = sha256_hex(SAMPLE_TOKEN);
    let resolve = |v: &'static Value| -> Option<String> {
        let v = match &v["Fn::If"] {
            Value::Sequence(branches) => &branches[1],
            _ => v,
        };
        let v = mapped(v);
        if let Some(s) = v.as_str() {
            return Some(s.to_owned());
        }
        if let Some(n) = v.as_u64() {
            return Some(n.to_string());
        }
        if let Some(s) = v["Fn::Sub"].as_str() {
            return Some(s.replace("${AWS::StackName}", "glase-invoices"));
        }
        if v["Ref"].as_str() == Some("WebhookTokenSha256") {
            return Some(token_hash.clone());
        }
        let name = str_of(&v["Ref"], "environment value (literal or Ref)");
        if name == "AWS::NoValue" {
            return None;
        }
        if let Some(s) = samples.get(name) {
            return Some((*s).to_owned());
        }
        let default = &template()["Parameters"][name]["Default"];
        Some(
            default
                .as_str()
                .map(str::to_owned)
                .or_else(|| default.as_u64().map(|n| n.to_string()))
                .unwrap_or_else(|| panic!("no sample or default for {name}")),
        )
    };
    vars.as_mapping()
        .expect("Variables")
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().unwrap().to_owned(), resolve(v)?)))
        .collect()
}

#[test]
fn function_environments_are_accepted_by_the_codes_own_config() {
    let worker = resolved_env(worker_env());
    let cfg = glase_worker::WorkerConfig::from_env(&Env(|k: &str| worker.get(k).cloned()))
        .expect("worker config from the template");
    assert_eq!(cfg.table_name, "glase-InvoicesTable-x");
    assert!(
        cfg.dead_letter_queue_url.is_some(),
        "unparseable messages are quarantined in the DLQ"
    );
    assert!(matches!(
        cfg.glase.secret,
        glase_shared::config::SecretSource::SsmParameter(_)
    ));

    assert_eq!(
        worker.get("MAX_RECEIVE_COUNT").map(String::as_str),
        Some(max_receive_count().to_string().as_str())
    );
    let reconcile = resolved_env(&props("ReconcileFunction")["Environment"]["Variables"]);
    let cfg = glase_reconcile::config::ReconcileConfig::from_env(&Env(|k: &str| {
        reconcile.get(k).cloned()
    }))
    .expect("reconcile config from the template");
    assert_eq!(cfg.metrics_namespace, "GlaseInvoices/glase-invoices");
    assert_eq!(u64::from(cfg.lookback_days), 3);
    assert!(matches!(
        cfg.glase.secret,
        glase_shared::config::SecretSource::SsmParameter(_)
    ));

    let webhook = resolved_env(webhook_env());
    let cfg = glase_webhook::WebhookConfig::from_env(&Env(|k: &str| webhook.get(k).cloned()))
        .expect("webhook config from the template");
    // Deployed, the webhook gets the hash of the token in the URL Glase calls, never the token.
    assert_eq!(webhook["WEBHOOK_TOKEN_SHA256"], sha256_hex(SAMPLE_TOKEN));
    assert!(!webhook.contains_key("WEBHOOK_TOKEN"));
    assert!(
        cfg.webhook_token.matches(SAMPLE_TOKEN),
        "the hash checks the token"
    );
    assert!(!cfg.webhook_token.matches(&sha256_hex(SAMPLE_TOKEN)));
    let without = Env(|k: &str| (k == "QUEUE_URL").then(|| "https://sqs.example/q".to_owned()));
    assert!(
        glase_webhook::WebhookConfig::from_env(&without).is_err(),
        "no token, no webhook"
    );
    let unexpected: Vec<_> = webhook
        .keys()
        .filter(|k| {
            ![
                "QUEUE_URL",
                "WEBHOOK_TOKEN_SHA256",
                "METRICS_NAMESPACE",
                "RUST_LOG",
            ]
            .contains(&k.as_str())
        })
        .collect();
    assert!(
        unexpected.is_empty(),
        "the webhook does not read {unexpected:?}"
    );
}

#[test]
fn parameters_the_issuer_sets_are_all_there_with_safe_defaults() {
    let params = &template()["Parameters"];
    for name in [
        "IssuerName",
        "GlaseBaseUrl",
        "IssuerSecretParameterName",
        "WebhookTokenSha256",
        "Architecture",
        "WorkerMaxConcurrency",
        "AlarmEmail",
        "RetryAlarmThreshold",
        "RetryAlarmWindowSeconds",
        "LogLevel",
        "AlarmTopicArn",
        "TrafficFloorHours",
        "ReconcileHeartbeatHours",
        "ClientErrorAlarmThreshold",
        "WebhookReservedConcurrency",
    ] {
        assert!(params[name].is_mapping(), "parameter {name} is missing");
    }
    assert!(
        params["IssuerName"]["Default"].is_null() && params["GlaseBaseUrl"]["Default"].is_null(),
        "no guessable defaults"
    );
    assert_eq!(params["WebhookTokenSha256"]["NoEcho"].as_bool(), Some(true));
    assert!(
        params["WebhookTokenSha256"]["Default"].is_null(),
        "no stack without a token"
    );
    let levels = params["LogLevel"]["AllowedValues"].as_sequence().unwrap();
    assert!(
        !levels.contains(&Value::from("trace")),
        "trace can log HTTP headers, including X-Auth-Token"
    );
    assert_eq!(params["LogLevel"]["Default"].as_str(), Some("info"));
}

#[test]
fn outputs_the_deploy_guide_uses_are_all_present() {
    let outputs = &template()["Outputs"];
    for name in [
        "NotificationUrl",
        "TableName",
        "QueueUrl",
        "DeadLetterQueueUrl",
        "AlarmTopicArn",
        "DashboardUrl",
    ] {
        assert!(
            outputs[name]["Value"].is_mapping(),
            "output {name} is missing"
        );
    }
    assert_eq!(outputs["TableName"]["Value"], reference("InvoicesTable"));
    // glase-invoices --stack reads TableName, QueueUrl, DeadLetterQueueUrl and GlaseTimeZone.
    assert_eq!(
        outputs["GlaseTimeZone"]["Value"],
        reference("GlaseTimeZone")
    );
    assert_eq!(outputs["QueueUrl"]["Value"], reference("NotificationQueue"));
    assert_eq!(
        outputs["DeadLetterQueueUrl"]["Value"],
        reference("DeadLetterQueue")
    );
    let url = serde_norway::to_string(&outputs["NotificationUrl"]["Value"]).unwrap();
    assert!(
        url.contains(
            "https://${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/notifications"
        ),
        "{url}"
    );
    // The deploy guide's `${URL%<token>}$TOKEN` relies on this placeholder.
    assert!(url.trim_end().ends_with("/notifications/<token>"), "{url}");
}

#[test]
fn webhook_token_is_required_and_the_stack_takes_only_its_sha256() {
    let p = parameter("WebhookTokenSha256");
    assert_eq!(p["Type"].as_str(), Some("String"));
    assert!(
        p["Default"].is_null(),
        "required: no default, not even empty"
    );
    let pattern = allowed_pattern("WebhookTokenSha256");
    assert_eq!(pattern.as_str(), "^[0-9a-f]{64}$");
    // What the deploy guide's `printf %s "$TOKEN" | sha256sum` prints.
    assert!(pattern.is_match(&sha256_hex(SAMPLE_TOKEN)));
    for refused in [
        "",
        "0123456789abcdef0123456789abcdef",
        &sha256_hex(SAMPLE_TOKEN).to_uppercase(),
        &format!("{}  -", sha256_hex(SAMPLE_TOKEN)),
        &format!("{}0", sha256_hex(SAMPLE_TOKEN)),
        "g123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    ] {
        assert!(!pattern.is_match(refused), "accepted {refused:?}");
    }
    // No plaintext token anywhere: no parameter, variable or output carries one.
    let token_params: Vec<&str> = template()["Parameters"]
        .as_mapping()
        .unwrap()
        .keys()
        .map(|k| k.as_str().unwrap())
        .filter(|k| k.to_ascii_lowercase().contains("token"))
        .collect();
    assert_eq!(token_params, vec!["WebhookTokenSha256"]);
    assert!(!template_text().contains("WEBHOOK_TOKEN:"));
    for (name, f) in resources_of_type("AWS::Serverless::Function") {
        let vars = f["Properties"]["Environment"]["Variables"]
            .as_mapping()
            .unwrap();
        for key in vars.keys().map(|k| k.as_str().unwrap()) {
            assert!(
                !key.contains("TOKEN") || key == "WEBHOOK_TOKEN_SHA256",
                "{name} gets {key}"
            );
        }
    }
}

#[test]
fn glase_base_url_is_a_bare_https_origin_so_no_fetch_goes_to_api_api() {
    let pattern = allowed_pattern("GlaseBaseUrl");
    for accepted in [
        "https://glase.example.com",
        "https://glase.example.com/",
        "https://invoice.seqr.com:8443",
        "https://10.0.0.12:443/",
        "https://localhost",
    ] {
        assert!(pattern.is_match(accepted), "refused {accepted:?}");
        // The worker's own config takes it and appends /api/invoice/N to a bare origin.
        let env = BTreeMap::from([
            ("GLASE_BASE_URL", accepted),
            ("GLASE_ISSUER", "issuer-1"),
            ("GLASE_SECRET_PARAMETER", "/glase-invoices/issuer-secret"),
        ]);
        let cfg = Env(|k: &str| env.get(k).map(|v| (*v).to_owned()))
            .glase()
            .expect("glase config");
        assert_eq!(cfg.base_url.matches('/').count(), 2, "{}", cfg.base_url);
    }
    for refused in [
        "https://glase.example.com/api",
        "https://glase.example.com/api/",
        "https://glase.example.com:8443/api",
        "https://glase.example.com/invoice-service",
        "https://glase.example.com//",
        "https://glase.example.com?issuer=x",
        "https://glase.example.com#x",
        "https://user:pass@glase.example.com",
        "http://glase.example.com",
        "https://",
        "https://glase.example.com ",
        " https://glase.example.com",
        "glase.example.com",
        "",
    ] {
        assert!(!pattern.is_match(refused), "accepted {refused:?}");
    }
    assert!(parameter("GlaseBaseUrl")["Default"].is_null());
}

#[test]
fn every_function_emits_metrics_to_the_stacks_own_namespace() {
    let functions = resources_of_type("AWS::Serverless::Function");
    assert_eq!(functions.len(), 4, "webhook, worker, reconcile, events");
    for (name, f) in functions {
        assert_eq!(
            f["Properties"]["Environment"]["Variables"]["METRICS_NAMESPACE"],
            sub(METRICS_NAMESPACE),
            "{name}: two stacks in one account must not mix their metrics"
        );
    }
}

#[test]
fn every_alarm_notifies_the_topic_on_alarm_and_on_ok_and_says_what_it_means() {
    let alarms = alarms();
    assert!(
        (16..=32).contains(&alarms.len()),
        "{} alarms: one per actionable condition, no more",
        alarms.len()
    );
    for (name, a) in alarms {
        let p = &a["Properties"];
        for actions in ["AlarmActions", "OKActions"] {
            assert_eq!(
                p[actions],
                Value::Sequence(vec![alarm_topic_in_use()]),
                "{name}: {actions}"
            );
        }
        assert!(
            p["AlarmName"].is_null(),
            "{name}: a generated name carries the stack's name"
        );
        let description = match &p["AlarmDescription"] {
            Value::String(s) => s.as_str(),
            v => str_of(&v["Fn::Sub"], "AlarmDescription"),
        };
        assert!(
            description.len() >= 80 && description.len() <= 1024,
            "{name}: describe the cause and the action, within CloudWatch's 1024 characters"
        );
        assert!(
            description.contains("docs/runbook.md"),
            "{name}: point at the runbook"
        );
        let missing = if LIVENESS_ALARMS.contains(&name) {
            "breaching"
        } else {
            "notBreaching"
        };
        assert_eq!(
            p["TreatMissingData"].as_str(),
            Some(missing),
            "{name}: no data means nothing happened, except where silence is the fault"
        );
    }
}

#[test]
fn every_alarm_has_a_runbook_entry_and_the_runbook_no_stale_one() {
    let runbook = doc("docs/runbook.md");
    let rows: BTreeSet<&str> = Regex::new(r"(?m)^\| `([A-Za-z]+Alarm)`")
        .unwrap()
        .captures_iter(&runbook)
        .map(|c| c.get(1).unwrap().as_str())
        .collect();
    let entries: BTreeSet<&str> = Regex::new(r"(?m)^## `([A-Za-z]+Alarm)`$")
        .unwrap()
        .captures_iter(&runbook)
        .map(|c| c.get(1).unwrap().as_str())
        .collect();
    let deployed: BTreeSet<&str> = alarms().into_iter().map(|(name, _)| name).collect();
    assert_eq!(rows, deployed, "docs/runbook.md: the alarms table");
    assert_eq!(
        entries, deployed,
        "docs/runbook.md: one \"## `XxxAlarm`\" entry per alarm"
    );
}

/// The README stays an overview; the rest lives in docs/.
const README_MAX_LINES: usize = 250;

#[test]
fn readme_stays_short() {
    let lines = doc("README.md").lines().count();
    assert!(
        lines <= README_MAX_LINES,
        "README.md has {lines} lines (at most {README_MAX_LINES}): move detail into docs/"
    );
}

/// GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens
/// (repeats of a heading get `-1`, `-2`, ...).
fn heading_anchors(markdown: &str) -> BTreeSet<String> {
    let mut seen = BTreeMap::<String, usize>::new();
    let mut anchors = BTreeSet::new();
    for line in without_code_blocks(markdown).lines() {
        let Some(title) = line.strip_prefix('#').map(|l| l.trim_start_matches('#')) else {
            continue;
        };
        let Some(title) = title.strip_prefix(' ') else {
            continue;
        };
        let slug: String = title
            .trim()
            .to_lowercase()
            .chars()
            .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
            .map(|c| if c == ' ' { '-' } else { c })
            .collect();
        let n = seen.entry(slug.clone()).or_default();
        anchors.insert(if *n == 0 {
            slug.clone()
        } else {
            format!("{slug}-{n}")
        });
        *n += 1;
    }
    anchors
}

/// The text outside fenced code blocks (a shell `[[ ... ]](...)` there is no link).
fn without_code_blocks(markdown: &str) -> String {
    let mut inside = false;
    let mut kept = String::new();
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            inside = !inside;
        } else if !inside {
            kept.push_str(line);
            kept.push('\n');
        }
    }
    kept
}

#[test]
fn every_relative_link_in_the_docs_points_at_a_file_and_heading_that_exist() {
    let mut pages = vec![PathBuf::from("README.md"), PathBuf::from("SECURITY.md")];
    for entry in std::fs::read_dir(repo_root().join("docs")).expect("docs/") {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            pages.push(path.strip_prefix(repo_root()).unwrap().to_path_buf());
        }
    }
    assert!(
        pages.len() >= 8,
        "README, SECURITY and docs/*.md: {pages:?}"
    );
    let link = Regex::new(r"\]\(([^)\s]+)\)").unwrap();
    let mut broken = Vec::new();
    for page in &pages {
        let text = doc(page.to_str().unwrap());
        for c in link.captures_iter(&without_code_blocks(&text)) {
            let target = &c[1];
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let (file, anchor) = target.split_once('#').unwrap_or((target, ""));
            let file = if file.is_empty() {
                page.clone()
            } else {
                page.parent().unwrap().join(file)
            };
            let Ok(linked) = std::fs::read_to_string(repo_root().join(&file)) else {
                broken.push(format!("{}: {target} (no such file)", page.display()));
                continue;
            };
            let is_markdown = file.extension().is_some_and(|e| e == "md");
            if !anchor.is_empty() && is_markdown && !heading_anchors(&linked).contains(anchor) {
                broken.push(format!("{}: {target} (no such heading)", page.display()));
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn alarms_watch_only_metrics_the_functions_emit_without_dimensions() {
    let namespace = sub(METRICS_NAMESPACE);
    let emitted: BTreeSet<&str> = WEBHOOK_METRICS
        .iter()
        .chain(WORKER_METRICS)
        .chain(RECONCILE_METRICS)
        .copied()
        .collect();
    let mut watched = BTreeSet::new();
    for (name, a) in alarms() {
        for (ns, metric, dimensions) in alarm_metrics(a) {
            if ns == &namespace {
                assert!(
                    emitted.contains(metric),
                    "{name} watches {metric}, which no function emits"
                );
                assert!(
                    dimensions.is_null(),
                    "{name}: the functions emit {metric} without dimensions"
                );
                watched.insert(metric);
            } else {
                let ns = str_of(ns, "Namespace");
                assert!(ns.starts_with("AWS/"), "{name}: namespace {ns}");
            }
        }
    }
    for metric in [
        "NotificationsUnauthorized",
        "NotificationsInvalid",
        "NotificationsUnavailable",
        "InvoicesRejected",
        "InvoicesRetried",
        "GlaseUnauthorized",
        "InvoicesDeadLettered",
        "ReconcileMismatches",
        "NotificationsAccepted",
        "RetriedReceiveCount",
        "WorkerInitFailed",
        "ReconcileMissing",
        "ReconcileRuns",
    ] {
        assert!(watched.contains(metric), "no alarm on {metric}");
    }
}

#[test]
fn each_refusal_or_loss_signal_alarms_on_its_first_occurrence() {
    let namespace = sub(METRICS_NAMESPACE);
    for metric in [
        // A changed payload: every notification refused, lost after Glase's ~32 h. (A wrong
        // token or URL is caught by reconciliation; see strangers_probing_...)
        "NotificationsInvalid",
        "NotificationsUnavailable",
        // Wrong issuer secret: every invoice retried, dead-lettered after ~24 h.
        "GlaseUnauthorized",
        "InvoicesRejected",
        "InvoicesDeadLettered",
        "WorkerInitFailed",
    ] {
        let (name, a) = simple_alarm_on(&namespace, metric);
        let p = &a["Properties"];
        assert_eq!(p["Statistic"].as_str(), Some("Sum"), "{name}");
        assert_eq!(int(&p["Threshold"], "Threshold"), 0, "{name}");
        assert_eq!(
            p["ComparisonOperator"].as_str(),
            Some("GreaterThanThreshold"),
            "{name}"
        );
        assert_eq!(int(&p["EvaluationPeriods"], "EvaluationPeriods"), 1);
        assert!(int(&p["Period"], "Period") <= 300, "{name}: within minutes");
    }
}

#[test]
fn the_http_apis_own_4xx_and_5xx_alarm_because_404_and_429_never_reach_the_function() {
    for metric in ["4xx", "5xx"] {
        let (name, a) = simple_alarm_on(&Value::from("AWS/ApiGateway"), metric);
        let p = &a["Properties"];
        let dimensions: BTreeMap<&str, &Value> = p["Dimensions"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|d| (str_of(&d["Name"], "dimension Name"), &d["Value"]))
            .collect();
        assert_eq!(
            dimensions,
            BTreeMap::from([
                ("ApiId", &reference("HttpApi")),
                ("Stage", &reference("HttpApiStage"))
            ]),
            "{name}"
        );
        assert_eq!(p["Statistic"].as_str(), Some("Sum"));
        // 5xx is always ours; a 4xx may be a stranger's probe (see strangers_probing_...).
        let threshold = if metric == "4xx" {
            reference("ClientErrorAlarmThreshold")
        } else {
            Value::from(0)
        };
        assert_eq!(p["Threshold"], threshold, "{name}");
        assert_eq!(
            p["ComparisonOperator"].as_str(),
            Some("GreaterThanThreshold")
        );
    }
}

#[test]
fn retries_alarm_within_minutes_not_when_the_dead_letter_queue_fills_a_day_later() {
    let retried: Vec<_> = alarms()
        .into_iter()
        .filter(|(_, a)| {
            alarm_metrics(a)
                .iter()
                .any(|(_, m, _)| *m == "InvoicesRetried")
        })
        .collect();
    assert_eq!(retried.len(), 1);
    let (name, a) = retried[0];
    let p = &a["Properties"];
    let queries = p["Metrics"].as_sequence().expect("metric math");
    for q in queries.iter().filter(|q| q["Expression"].is_null()) {
        assert_eq!(
            q["MetricStat"]["Period"],
            reference("RetryAlarmWindowSeconds"),
            "{name}: every count over the same window"
        );
        assert_eq!(q["MetricStat"]["Stat"].as_str(), Some("Sum"));
        assert_eq!(q["ReturnData"].as_bool(), Some(false));
    }
    let expressions: Vec<&Value> = queries
        .iter()
        .filter(|q| !q["Expression"].is_null())
        .collect();
    assert_eq!(expressions.len(), 1, "{name}: one expression is the alarm");
    assert_eq!(expressions[0]["ReturnData"].as_bool(), Some(true));
    let expression = str_of(&expressions[0]["Expression"]["Fn::Sub"], "Expression");
    assert!(
        expression.contains("FILL(retried, 0) >= ${RetryAlarmThreshold}"),
        "{expression}"
    );
    // One invoice failing with back-off (30 s, 60 s, 120 s, ...) never reaches a count, but it
    // stores nothing either.
    for id in ["stored", "duplicate", "rejected"] {
        assert!(
            expression.contains(&format!("FILL({id}, 0)")),
            "{expression}"
        );
    }
    assert_eq!(int(&p["Threshold"], "Threshold"), 1);
    assert_eq!(
        p["ComparisonOperator"].as_str(),
        Some("GreaterThanOrEqualToThreshold")
    );
    assert_eq!(int(&p["EvaluationPeriods"], "EvaluationPeriods"), 1);

    let threshold = parameter("RetryAlarmThreshold");
    assert_eq!(int(&threshold["Default"], "default threshold"), 10);
    assert!(int(&threshold["MinValue"], "MinValue") >= 1);
    let window = parameter("RetryAlarmWindowSeconds");
    let default_window = int(&window["Default"], "default window");
    assert!(default_window <= 15 * 60, "within minutes");
    let allowed: Vec<u64> = window["AllowedValues"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| int(v, "AllowedValues"))
        .collect();
    assert!(allowed.contains(&default_window));
    assert!(
        allowed.iter().all(|s| s % 60 == 0 && *s <= 3600),
        "CloudWatch periods are whole minutes; a window over an hour is not \"minutes\""
    );
}

#[test]
fn the_existing_queue_and_function_alarms_stay() {
    for (namespace, metric, dimension) in [
        (
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            get_att("DeadLetterQueue", "QueueName"),
        ),
        (
            "AWS/SQS",
            "ApproximateAgeOfOldestMessage",
            get_att("NotificationQueue", "QueueName"),
        ),
        ("AWS/Lambda", "Errors", reference("WorkerFunction")),
        ("AWS/Lambda", "Errors", reference("WebhookFunction")),
        ("AWS/Lambda", "Throttles", reference("WorkerFunction")),
        ("AWS/Lambda", "Throttles", reference("WebhookFunction")),
        ("AWS/Lambda", "Throttles", reference("ReconcileFunction")),
        ("AWS/Lambda", "Throttles", reference("EventsFunction")),
    ] {
        let found = alarms().into_iter().any(|(_, a)| {
            alarm_metrics(a).iter().any(|(ns, m, dims)| {
                ns.as_str() == Some(namespace) && *m == metric && dims[0]["Value"] == dimension
            })
        });
        assert!(found, "no alarm on {namespace} {metric} of {dimension:?}");
    }
}

#[test]
fn both_queues_survive_stack_deletion_and_replacement() {
    // An id in either queue was acknowledged to Glase with a 200; nothing else remembers it.
    for q in ["NotificationQueue", "DeadLetterQueue"] {
        let r = resource(q);
        assert_eq!(r["DeletionPolicy"].as_str(), Some("Retain"), "{q}");
        assert_eq!(r["UpdateReplacePolicy"].as_str(), Some("Retain"), "{q}");
        assert!(
            r["Properties"]["QueueName"].is_null(),
            "{q}: a generated name, so a replacement does not collide with the retained queue"
        );
    }
}

#[test]
fn worker_max_receive_count_is_the_redrive_policys_own_value() {
    // The same mapping entry, not two literals that could drift apart.
    let redrive = &props("NotificationQueue")["RedrivePolicy"]["maxReceiveCount"];
    let worker = &worker_env()["MAX_RECEIVE_COUNT"];
    assert!(
        !redrive["Fn::FindInMap"].is_null(),
        "maxReceiveCount comes from Mappings"
    );
    assert_eq!(worker, redrive);
    assert_eq!(
        max_receive_count(),
        int(mapped(worker), "MAX_RECEIVE_COUNT")
    );
}

// ---------------------------------------------------------------------------------------------
// Reconciliation

fn reconcile_env() -> &'static Value {
    &props("ReconcileFunction")["Environment"]["Variables"]
}

#[test]
fn reconcile_may_only_batch_read_the_table_requeue_read_the_secret_and_write_its_logs() {
    let statements = role_statements("ReconcileFunction");
    let expected = expect_grants(&[
        // DynamoStore::get_many; no GetItem, no writes, no Query/Scan.
        ("dynamodb:BatchGetItem", get_att("InvoicesTable", "Arn")),
        // SqsQueue::requeue, into the queue the worker consumes.
        ("sqs:SendMessage", get_att("NotificationQueue", "Arn")),
        // Lambda's OnFailure destination sends with the function's own role.
        ("sqs:SendMessage", get_att("ReconcileFailureQueue", "Arn")),
        // The split by day: it hands days to its own queue (SqsQueue::hand_on) and consumes
        // them (what the SQS event source mapping needs, on that queue only).
        ("sqs:SendMessage", get_att("ReconcileDaysQueue", "Arn")),
        ("sqs:ReceiveMessage", get_att("ReconcileDaysQueue", "Arn")),
        ("sqs:DeleteMessage", get_att("ReconcileDaysQueue", "Arn")),
        (
            "sqs:GetQueueAttributes",
            get_att("ReconcileDaysQueue", "Arn"),
        ),
        (
            "sqs:ChangeMessageVisibility",
            get_att("ReconcileDaysQueue", "Arn"),
        ),
        ("ssm:GetParameter", sub(PARAMETER_ARN)),
        (
            "kms:Decrypt",
            sub("arn:${AWS::Partition}:kms:${AWS::Region}:${AWS::AccountId}:key/*"),
        ),
        ("logs:CreateLogStream", get_att("ReconcileLogGroup", "Arn")),
        ("logs:PutLogEvents", get_att("ReconcileLogGroup", "Arn")),
        ("xray:PutTraceSegments", Value::from("*")),
        ("xray:PutTelemetryRecords", Value::from("*")),
    ]);
    assert_eq!(grants(&statements), expected);
}

#[test]
fn days_a_reconcile_invocation_has_no_time_for_go_to_its_own_queue_one_at_a_time_and_failures_page()
{
    let days = &props("ReconcileFunction")["Events"]["Days"];
    assert_eq!(days["Type"].as_str(), Some("SQS"));
    assert_eq!(
        days["Properties"]["Queue"],
        get_att("ReconcileDaysQueue", "Arn")
    );
    assert_eq!(int(&days["Properties"]["BatchSize"], "BatchSize"), 1);
    assert_eq!(
        reconcile_env()["RECONCILE_DAYS_QUEUE_URL"],
        reference("ReconcileDaysQueue")
    );
    let queue = props("ReconcileDaysQueue");
    let timeout = int(&props("ReconcileFunction")["Timeout"], "Timeout");
    assert!(
        int(&queue["VisibilityTimeout"], "VisibilityTimeout") >= timeout,
        "a day must not come back while its invocation still runs"
    );
    // A day failing three times lands where failed invocations do, and that pages.
    assert_eq!(
        queue["RedrivePolicy"]["deadLetterTargetArn"],
        get_att("ReconcileFailureQueue", "Arn")
    );
    assert_eq!(
        int(
            &queue["RedrivePolicy"]["maxReceiveCount"],
            "maxReceiveCount"
        ),
        3
    );
    let age = props("ReconcileDaysQueueAgeAlarm");
    assert_eq!(
        age["MetricName"].as_str(),
        Some("ApproximateAgeOfOldestMessage")
    );
    assert!(int(&age["Threshold"], "Threshold") <= 2 * 3600);
}

#[test]
fn reconcile_runs_on_the_schedule_parameter_over_the_look_back_parameter() {
    let events = props("ReconcileFunction")["Events"]
        .as_mapping()
        .expect("ReconcileFunction has Events");
    assert_eq!(
        events.len(),
        2,
        "two triggers: the schedule and its own days queue"
    );
    let event = &events["Reconcile"];
    assert_eq!(event["Type"].as_str(), Some("Schedule"));
    assert_eq!(
        event["Properties"]["Schedule"],
        reference("ReconcileSchedule")
    );
    assert_eq!(
        reconcile_env()["LOOKBACK_DAYS"],
        reference("ReconcileLookbackDays")
    );

    let params = &template()["Parameters"];
    let schedule = str_of(&params["ReconcileSchedule"]["Default"], "ReconcileSchedule");
    // Daily: a cron expression with a fixed minute and hour and every day, or rate(1 day).
    let daily = schedule == "rate(1 day)"
        || schedule
            .strip_prefix("cron(")
            .and_then(|c| c.strip_suffix(')'))
            .map(|c| c.split(' ').collect::<Vec<_>>())
            .is_some_and(|f| {
                f.len() == 6
                    && f[0].parse::<u8>().is_ok()
                    && f[1].parse::<u8>().is_ok()
                    && f[2..5] == ["*", "*", "?"]
            });
    assert!(daily, "ReconcileSchedule defaults to daily, got {schedule}");
    let lookback = &params["ReconcileLookbackDays"];
    assert_eq!(int(&lookback["Default"], "Default"), 3);
    // The same range the function's config accepts.
    assert_eq!(int(&lookback["MinValue"], "MinValue"), 1);
    assert_eq!(int(&lookback["MaxValue"], "MaxValue"), 31);
    let retries = &props("ReconcileFunction")["EventInvokeConfig"];
    assert!(int(&retries["MaximumRetryAttempts"], "MaximumRetryAttempts") >= 1);
}

#[test]
fn reconcile_timeout_is_far_longer_than_a_report_stall() {
    // A stall fails the run with time left to log it; the download itself may take minutes.
    let timeout_ms = 1000 * int(&props("ReconcileFunction")["Timeout"], "reconcile Timeout");
    let stall_ms = int(
        &reconcile_env()["GLASE_REPORT_STALL_MS"],
        "GLASE_REPORT_STALL_MS",
    );
    assert!(
        timeout_ms >= 4 * stall_ms,
        "reconcile timeout {timeout_ms} ms < 4 × report stall limit {stall_ms} ms"
    );
}

#[test]
fn reconcile_failures_and_mismatches_raise_alarms() {
    let alarms = resources_of_type("AWS::CloudWatch::Alarm");
    let errors = alarms.iter().find(|(_, a)| {
        let p = &a["Properties"];
        p["Namespace"].as_str() == Some("AWS/Lambda")
            && p["MetricName"].as_str() == Some("Errors")
            && p["Dimensions"][0]["Value"] == reference("ReconcileFunction")
    });
    assert!(
        errors.is_some(),
        "an alarm on the reconcile function's errors"
    );

    let (_, mismatches) = alarms
        .iter()
        .find(|(_, a)| {
            a["Properties"]["MetricName"].as_str() == Some(glase_reconcile::metrics::MISMATCHES)
        })
        .expect("an alarm on ReconcileMismatches");
    let p = &mismatches["Properties"];
    // The EMF contract: namespace GlaseInvoices/<stack>, no dimensions.
    assert_eq!(p["Namespace"], sub("GlaseInvoices/${AWS::StackName}"));
    assert_eq!(
        reconcile_env()["METRICS_NAMESPACE"],
        sub("GlaseInvoices/${AWS::StackName}")
    );
    assert!(
        p["Dimensions"].is_null(),
        "metrics are emitted without dimensions"
    );
    assert_eq!(int(&p["Threshold"], "Threshold"), 0);
    assert_eq!(
        p["ComparisonOperator"].as_str(),
        Some("GreaterThanThreshold")
    );
    assert_eq!(p["Statistic"].as_str(), Some("Sum"));
}

// ---------------------------------------------------------------------------------------------
// Issue 18: no silent hours

/// The one alarm named so, after checking it is an alarm.
fn alarm(name: &str) -> &'static Value {
    let r = resource(name);
    assert_eq!(r["Type"].as_str(), Some("AWS::CloudWatch::Alarm"), "{name}");
    &r["Properties"]
}

#[test]
fn reconcile_missing_invoices_page_within_one_period() {
    // Invoices Glase's report lists but we never heard of: Glase stopped reaching us (a wrong
    // URL or token, a dropped notification). Reconciliation re-queues them; a person must know.
    let (name, a) = simple_alarm_on(&sub(METRICS_NAMESPACE), "ReconcileMissing");
    assert_eq!(name, "ReconcileMissingAlarm");
    let p = &a["Properties"];
    assert_eq!(p["Statistic"].as_str(), Some("Sum"));
    assert_eq!(int(&p["Threshold"], "Threshold"), 0);
    assert_eq!(
        p["ComparisonOperator"].as_str(),
        Some("GreaterThanThreshold")
    );
    assert_eq!(int(&p["EvaluationPeriods"], "EvaluationPeriods"), 1);
    assert!(
        int(&p["Period"], "Period") <= 300,
        "within minutes of the run"
    );
}

#[test]
fn a_silent_glase_pages_after_traffic_floor_hours_unless_the_issuer_turns_it_off() {
    let p = alarm("TrafficFloorAlarm");
    assert_eq!(p["Namespace"], sub(METRICS_NAMESPACE));
    assert_eq!(p["MetricName"].as_str(), Some("NotificationsAccepted"));
    assert_eq!(p["Statistic"].as_str(), Some("Sum"));
    // No accepted notification in every one of the last N hours (no data is the fault itself).
    assert_eq!(p["ComparisonOperator"].as_str(), Some("LessThanThreshold"));
    assert_eq!(int(&p["Threshold"], "Threshold"), 1);
    assert_eq!(int(&p["Period"], "Period"), 3600);
    assert_eq!(p["EvaluationPeriods"], reference("TrafficFloorHours"));
    assert_eq!(p["DatapointsToAlarm"], reference("TrafficFloorHours"));
    assert_eq!(p["TreatMissingData"].as_str(), Some("breaching"));
    // 0 turns it off: quiet issuers may have no payment for days.
    assert_eq!(
        resource("TrafficFloorAlarm")["Condition"].as_str(),
        Some("HasTrafficFloor")
    );
    assert_eq!(
        template()["Conditions"]["HasTrafficFloor"],
        one(
            "Fn::Not",
            Value::Sequence(vec![one(
                "Fn::Equals",
                Value::Sequence(vec![reference("TrafficFloorHours"), Value::from("0")])
            )])
        )
    );
    let hours = parameter("TrafficFloorHours");
    assert_eq!(int(&hours["MinValue"], "MinValue"), 0);
    // CloudWatch: Period × EvaluationPeriods ≤ 7 days for periods of an hour or more.
    assert!(int(&hours["MaxValue"], "MaxValue") * 3600 <= 7 * 86_400);
    assert!(int(&hours["Default"], "Default") >= 1);
}

#[test]
fn a_reconcile_run_that_never_comes_pages_within_hours_of_its_schedule() {
    let p = alarm("ReconcileHeartbeatAlarm");
    assert_eq!(p["Namespace"], sub(METRICS_NAMESPACE));
    assert_eq!(p["MetricName"].as_str(), Some("ReconcileRuns"));
    assert_eq!(p["Statistic"].as_str(), Some("Sum"));
    assert_eq!(p["ComparisonOperator"].as_str(), Some("LessThanThreshold"));
    assert_eq!(int(&p["Threshold"], "Threshold"), 1);
    assert_eq!(p["TreatMissingData"].as_str(), Some("breaching"));
    let period = int(&p["Period"], "Period");
    assert_eq!(period, 3600);
    assert_eq!(p["EvaluationPeriods"], reference("ReconcileHeartbeatHours"));
    assert_eq!(p["DatapointsToAlarm"], reference("ReconcileHeartbeatHours"));
    let hours = parameter("ReconcileHeartbeatHours");
    let default = int(&hours["Default"], "Default");
    // The default schedule is daily: a run lands in one hourly bucket a day, and a run that ends
    // a minute later than yesterday's may land in the next one, so 24 would page on healthy days.
    assert!(
        (25..=27).contains(&default),
        "daily schedule: 25 to 27 hours, got {default}"
    );
    assert!(int(&hours["MaxValue"], "MaxValue") * period <= 7 * 86_400);
    assert!(int(&hours["MinValue"], "MinValue") >= 2);
}

#[test]
fn reconcile_knows_its_schedule_and_its_failed_invocations_land_in_a_queue_that_pages() {
    assert_eq!(
        reconcile_env()["RECONCILE_SCHEDULE"],
        reference("ReconcileSchedule")
    );
    let on_failure =
        &props("ReconcileFunction")["EventInvokeConfig"]["DestinationConfig"]["OnFailure"];
    assert_eq!(on_failure["Type"].as_str(), Some("SQS"));
    assert_eq!(
        on_failure["Destination"],
        get_att("ReconcileFailureQueue", "Arn")
    );
    let queue = props("ReconcileFailureQueue");
    assert_eq!(
        int(&queue["MessageRetentionPeriod"], "MessageRetentionPeriod"),
        1_209_600
    );
    let name = "ReconcileFailureQueueAlarm";
    let p = alarm(name);
    assert_eq!(p["Namespace"].as_str(), Some("AWS/SQS"), "{name}");
    assert_eq!(
        p["MetricName"].as_str(),
        Some("ApproximateNumberOfMessagesVisible")
    );
    assert_eq!(
        p["Dimensions"][0]["Value"],
        get_att("ReconcileFailureQueue", "QueueName")
    );
    assert_eq!(int(&p["Threshold"], "Threshold"), 0);
    assert_eq!(
        p["ComparisonOperator"].as_str(),
        Some("GreaterThanThreshold")
    );
}

#[test]
fn one_invoice_failing_for_long_pages_whatever_else_flows() {
    let (name, a) = simple_alarm_on(&sub(METRICS_NAMESPACE), "RetriedReceiveCount");
    assert_eq!(name, "RetriedReceiveCountAlarm");
    let p = &a["Properties"];
    assert_eq!(p["Statistic"].as_str(), Some("Maximum"));
    assert_eq!(
        p["ComparisonOperator"].as_str(),
        Some("GreaterThanOrEqualToThreshold")
    );
    let threshold = int(&p["Threshold"], "Threshold");
    assert_eq!(threshold, 6);
    // Past the receives a 404 may take before it is rejected: a transient failure that lasts.
    assert!(
        threshold > u64::from(glase_worker::Policy::default().reject_after_receives),
        "{name}"
    );
    assert_eq!(int(&p["Period"], "Period"), 300);
    assert_eq!(int(&p["EvaluationPeriods"], "EvaluationPeriods"), 1);
    assert!(
        !worker_env()
            .as_mapping()
            .unwrap()
            .contains_key("REJECT_AFTER_RECEIVES"),
        "the alarm stands on the code's default"
    );
}

#[test]
fn every_rejection_code_pages_and_the_runbook_explains_it() {
    // The worker counts each rejection twice: InvoicesRejected without dimensions (the alarm's)
    // and with RejectionCode (the dashboard's breakdown). An alarm with a RejectionCode
    // dimension would miss every other code.
    let (_, a) = simple_alarm_on(&sub(METRICS_NAMESPACE), "InvoicesRejected");
    assert!(a["Properties"]["Dimensions"].is_null());
    let runbook = doc("docs/runbook.md");
    let entry = runbook
        .split("\n## ")
        .find(|s| s.starts_with("`InvoicesRejectedAlarm`"))
        .expect("the runbook's InvoicesRejectedAlarm entry");
    let codes: BTreeSet<&str> = glase_shared::RejectionCode::ALL
        .iter()
        .map(|c| c.as_str())
        .collect();
    for code in codes {
        assert!(
            entry.contains(&format!("`{code}`")),
            "the InvoicesRejectedAlarm entry does not explain {code}"
        );
    }
}

#[test]
fn deploy_refuses_a_stack_whose_alarms_reach_nobody() {
    let rule = &template()["Rules"]["AlarmsReachSomebody"];
    assert!(rule.is_mapping(), "a Rules entry AlarmsReachSomebody");
    assert!(rule["RuleCondition"].is_null(), "always applies");
    let assertions = rule["Assertions"].as_sequence().expect("Assertions");
    assert_eq!(assertions.len(), 1);
    let not_empty = |param: &str| {
        one(
            "Fn::Not",
            Value::Sequence(vec![one(
                "Fn::Equals",
                Value::Sequence(vec![reference(param), Value::from("")]),
            )]),
        )
    };
    assert_eq!(
        assertions[0]["Assert"],
        one(
            "Fn::Or",
            Value::Sequence(vec![not_empty("AlarmEmail"), not_empty("AlarmTopicArn")])
        )
    );
    let message = str_of(&assertions[0]["AssertDescription"], "AssertDescription");
    assert!(
        message.contains("AlarmEmail") && message.contains("AlarmTopicArn"),
        "{message}"
    );
    // An existing topic: the stack creates none and every alarm publishes there.
    assert_eq!(
        template()["Conditions"]["HasAlarmTopicArn"],
        not_empty("AlarmTopicArn")
    );
    assert_eq!(
        resource("AlarmTopic")["Condition"].as_str(),
        Some("CreateAlarmTopic")
    );
    assert_eq!(
        template()["Outputs"]["AlarmTopicArn"]["Value"],
        alarm_topic_in_use()
    );
    let arn = allowed_pattern("AlarmTopicArn");
    for accepted in ["", "arn:aws:sns:eu-north-1:123456789012:ops-alarms"] {
        assert!(arn.is_match(accepted), "refused {accepted:?}");
    }
    for refused in [
        "ops-alarms",
        "arn:aws:sqs:eu-north-1:123456789012:ops-alarms",
        "arn:aws:sns:eu-north-1:123456789012:",
    ] {
        assert!(!arn.is_match(refused), "accepted {refused:?}");
    }
    // The deploy guide and the README say how.
    for path in ["docs/deploy.md", "README.md"] {
        assert!(doc(path).contains("AlarmTopicArn"), "{path}");
    }
}

#[test]
fn dead_letter_queue_growth_and_age_page_well_before_retention() {
    // SQS counts NumberOfMessagesSent only for messages sent to the DLQ by hand (the worker's
    // quarantine), not for redrive-policy moves: growth is the depth's rise.
    let p = alarm("DeadLetterQueueGrowthAlarm");
    let watched: BTreeSet<&str> = alarm_metrics(resource("DeadLetterQueueGrowthAlarm"))
        .into_iter()
        .map(|(ns, m, dims)| {
            assert_eq!(ns.as_str(), Some("AWS/SQS"));
            assert_eq!(dims[0]["Value"], get_att("DeadLetterQueue", "QueueName"));
            m
        })
        .collect();
    assert_eq!(
        watched,
        BTreeSet::from([
            "NumberOfMessagesSent",
            "ApproximateNumberOfMessagesVisible",
            "ApproximateNumberOfMessagesNotVisible",
        ])
    );
    let queries = p["Metrics"].as_sequence().unwrap();
    let returned: Vec<_> = queries
        .iter()
        .filter(|q| q["ReturnData"].as_bool() == Some(true))
        .collect();
    assert_eq!(returned.len(), 1);
    let expression = str_of(&returned[0]["Expression"], "Expression");
    assert!(expression.contains("DIFF("), "{expression}");
    for q in queries.iter().filter(|q| q["Expression"].is_null()) {
        assert_eq!(int(&q["MetricStat"]["Period"], "Period"), 300);
    }

    let name = "DeadLetterQueueAgeAlarm";
    let p = alarm(name);
    assert_eq!(
        p["MetricName"].as_str(),
        Some("ApproximateAgeOfOldestMessage")
    );
    assert_eq!(
        p["Dimensions"][0]["Value"],
        get_att("DeadLetterQueue", "QueueName"),
        "{name}"
    );
    let retention = int(
        &props("DeadLetterQueue")["MessageRetentionPeriod"],
        "DLQ retention",
    );
    let threshold = int(&p["Threshold"], "Threshold");
    // Dead-lettered messages keep their first enqueue time: the alarm leaves a week to act.
    assert!(threshold <= retention / 2, "{threshold} s of {retention} s");
    assert!(threshold >= 86_400, "not while a redrive is under way");
    assert_eq!(
        p["ComparisonOperator"].as_str(),
        Some("GreaterThanOrEqualToThreshold")
    );
}

#[test]
fn worker_start_up_failures_page_and_the_runbook_names_the_log_line() {
    let (name, _) = simple_alarm_on(&sub(METRICS_NAMESPACE), "WorkerInitFailed");
    assert_eq!(name, "WorkerInitFailedAlarm");
    let runbook = doc("docs/runbook.md");
    let entry = runbook
        .split("\n## ")
        .find(|s| s.starts_with("`WorkerInitFailedAlarm`"))
        .expect("a runbook entry");
    // The worker's own words (functions/worker/src/wiring.rs).
    assert!(entry.contains("worker init failed"), "{entry}");
}

#[test]
fn sqs_never_throttles_the_worker_and_neighbours_cannot_starve_the_webhook() {
    // Reserved concurrency ≥ the event source's MaximumConcurrency: SQS's pollers never meet a
    // throttle (which would count receives towards the dead-letter queue).
    assert_eq!(
        props("WorkerFunction")["ReservedConcurrentExecutions"],
        worker_event()["ScalingConfig"]["MaximumConcurrency"]
    );
    assert_eq!(
        props("WebhookFunction")["ReservedConcurrentExecutions"],
        one(
            "Fn::If",
            Value::Sequence(vec![
                Value::from("ReserveWebhookConcurrency"),
                reference("WebhookReservedConcurrency"),
                reference("AWS::NoValue"),
            ])
        )
    );
    let reserved = parameter("WebhookReservedConcurrency");
    assert_eq!(
        int(&reserved["MinValue"], "MinValue"),
        0,
        "0: no reservation"
    );
    assert!(int(&reserved["Default"], "Default") >= 1);
    let runbook = doc("docs/runbook.md");
    let entry = runbook
        .split("\n## ")
        .find(|s| s.starts_with("`ThrottlesAlarm`"))
        .expect("a runbook entry");
    assert!(
        entry.contains("WebhookReservedConcurrency") && entry.contains("reconcile"),
        "{entry}"
    );
}

#[test]
fn strangers_probing_the_endpoint_do_not_page_for_every_request() {
    // A scanner's 404s and 401s are noise; a refused Glase is found by reconciliation
    // (ReconcileMissingAlarm) and the traffic floor, so these page on a volume, not on one.
    let (name, a) = simple_alarm_on(&sub(METRICS_NAMESPACE), "NotificationsUnauthorized");
    assert_eq!(
        a["Properties"]["Threshold"],
        reference("ClientErrorAlarmThreshold"),
        "{name}"
    );
    let (name, a) = simple_alarm_on(&Value::from("AWS/ApiGateway"), "4xx");
    assert_eq!(
        a["Properties"]["Threshold"],
        reference("ClientErrorAlarmThreshold"),
        "{name}"
    );
    let threshold = parameter("ClientErrorAlarmThreshold");
    assert!(int(&threshold["Default"], "Default") >= 5);
    assert_eq!(int(&threshold["MinValue"], "MinValue"), 0, "0: every one");
    resource("ReconcileMissingAlarm");
}

#[test]
fn rotating_the_issuer_secret_restarts_every_function_that_reads_it() {
    let readers: Vec<&str> = resources_of_type("AWS::Serverless::Function")
        .into_iter()
        .filter(|(_, f)| {
            !f["Properties"]["Environment"]["Variables"]["GLASE_SECRET_PARAMETER"].is_null()
        })
        .map(|(name, _)| name)
        .collect();
    assert_eq!(readers, ["WorkerFunction", "ReconcileFunction"]);
    let runbook = doc("docs/runbook.md");
    let entry = runbook
        .split("\n## ")
        .find(|s| s.starts_with("`GlaseUnauthorizedAlarm`"))
        .expect("a runbook entry");
    for name in ["WorkerFunctionName", "ReconcileFunctionName"] {
        assert!(entry.contains(name), "the rotation restarts {name}");
    }
}

/// The dashboard's body as CloudWatch gets it, with sample values for the `${...}` names.
fn dashboard() -> serde_json::Value {
    let body = str_of(
        &props("Dashboard")["DashboardBody"]["Fn::Sub"],
        "DashboardBody (Fn::Sub)",
    );
    let resolved =
        Regex::new(r"\$\{([^}]+)\}")
            .unwrap()
            .replace_all(body, |c: &regex::Captures| {
                let name = &c[1];
                match name {
                    "AWS::StackName" => "glase-invoices".to_owned(),
                    "AWS::Region" => "eu-north-1".to_owned(),
                    _ if name.contains('.') => name.replace('.', "-"),
                    _ if template()["Parameters"][name].is_mapping() => {
                        number_or_default(&reference(name), name).to_string()
                    }
                    _ => {
                        resource(name);
                        name.to_owned()
                    }
                }
            });
    serde_json::from_str(&resolved).unwrap_or_else(|e| panic!("DashboardBody: {e}\n{resolved}"))
}

#[test]
fn dashboard_draws_every_alarm_threshold() {
    let body = dashboard();
    let widgets = body["widgets"].as_array().expect("widgets");
    let annotations: Vec<(&str, f64, &serde_json::Value)> = widgets
        .iter()
        .flat_map(|w| {
            w["properties"]["annotations"]["horizontal"]
                .as_array()
                .into_iter()
                .flatten()
                .map(move |a| {
                    (
                        a["label"].as_str().expect("annotation label"),
                        a["value"].as_f64().expect("annotation value"),
                        w,
                    )
                })
        })
        .collect();
    for (name, a) in alarms() {
        let drawn: Vec<_> = annotations.iter().filter(|(l, _, _)| *l == name).collect();
        assert_eq!(
            drawn.len(),
            1,
            "{name}: one threshold line labelled with its name"
        );
        let (_, value, widget) = drawn[0];
        let p = &a["Properties"];
        if p["Metrics"].is_null() {
            assert_eq!(
                *value,
                number_or_default(&p["Threshold"], name) as f64,
                "{name}"
            );
        }
        let plotted = serde_json::to_string(&widget["properties"]["metrics"]).unwrap();
        for (_, metric, _) in alarm_metrics(a) {
            assert!(
                plotted.contains(&format!("\"{metric}\"")),
                "{name}: its line is on a graph without {metric}"
            );
        }
    }
}

#[test]
fn dashboard_shows_intake_outcomes_reconciliation_queues_and_functions() {
    let text = serde_json::to_string(&dashboard()).unwrap();
    for metric in WEBHOOK_METRICS
        .iter()
        .chain(WORKER_METRICS)
        .chain(RECONCILE_METRICS)
        .filter(|m| **m != "GlaseFetchLatency")
    {
        assert!(text.contains(&format!("\"{metric}\"")), "no {metric}");
    }
    // Rejections by code: the RejectionCode dimension, whatever codes exist.
    assert!(text.contains("RejectionCode"), "rejections by code");
    for metric in [
        "ApproximateAgeOfOldestMessage",
        "ApproximateNumberOfMessagesVisible",
        "Errors",
        "Duration",
        "Throttles",
    ] {
        assert!(text.contains(&format!("\"{metric}\"")), "no {metric}");
    }
    for function in ["WebhookFunction", "WorkerFunction", "ReconcileFunction"] {
        assert!(text.contains(&format!("\"{function}\"")), "{function}");
    }
    let url = &template()["Outputs"]["DashboardUrl"]["Value"]["Fn::Sub"];
    assert_eq!(
        str_of(url, "DashboardUrl"),
        "https://${AWS::Region}.console.aws.amazon.com/cloudwatch/home?region=${AWS::Region}#dashboards:name=${Dashboard}"
    );
}

// ---------------------------------------------------------------- InvoicePaid events (issue 19)

fn events_mapping() -> &'static Value {
    let events = props("EventsFunction")["Events"]
        .as_mapping()
        .expect("EventsFunction has Events");
    assert_eq!(
        events.len(),
        1,
        "the events function has exactly one trigger"
    );
    let event = events.values().next().expect("one event");
    assert_eq!(event["Type"].as_str(), Some("DynamoDB"));
    &event["Properties"]
}

#[test]
fn the_table_streams_new_and_old_images_to_the_events_function() {
    assert_eq!(
        props("InvoicesTable")["StreamSpecification"]["StreamViewType"].as_str(),
        Some("NEW_AND_OLD_IMAGES"),
        "the function needs the old image to see a transition"
    );
    assert_eq!(
        events_mapping()["Stream"],
        get_att("InvoicesTable", "StreamArn")
    );
    let r = resource("EventsFunction");
    assert_eq!(
        r["Metadata"]["BuildProperties"]["Binary"].as_str(),
        Some("glase-events")
    );
    assert_eq!(r["Properties"]["CodeUri"].as_str(), Some("."));
    assert_eq!(r["Properties"]["Runtime"].as_str(), Some("provided.al2023"));
    assert_eq!(r["Properties"]["Tracing"].as_str(), Some("Active"));
}

#[test]
fn events_mapping_reports_item_failures_bisects_retries_boundedly_and_keeps_what_fails() {
    let m = events_mapping();
    assert_eq!(
        m["FunctionResponseTypes"],
        Value::Sequence(vec![Value::from("ReportBatchItemFailures")])
    );
    assert_eq!(m["BisectBatchOnFunctionError"].as_bool(), Some(true));
    let retries = int(&m["MaximumRetryAttempts"], "MaximumRetryAttempts");
    assert!(
        (1..=10_000).contains(&retries),
        "bounded retries: a poison record must not block the shard for a day"
    );
    assert_eq!(
        m["StartingPosition"].as_str(),
        Some("TRIM_HORIZON"),
        "LATEST would skip what was written before the mapping existed"
    );
    assert!(int(&m["BatchSize"], "BatchSize") >= 10);
    let on_failure = &m["DestinationConfig"]["OnFailure"];
    assert_eq!(on_failure["Type"].as_str(), Some("SQS"));
    assert_eq!(
        on_failure["Destination"],
        get_att("EventsFailureQueue", "Arn")
    );
    let q = props("EventsFailureQueue");
    assert_eq!(int(&q["MessageRetentionPeriod"], "retention"), 1_209_600);
    assert_eq!(q["SqsManagedSseEnabled"].as_bool(), Some(true));
    assert_eq!(
        resource("EventsFailureQueue")["DeletionPolicy"].as_str(),
        Some("Retain")
    );
    let policy = props("EventsFailureQueueTlsOnlyPolicy");
    assert_eq!(
        policy["Queues"],
        Value::Sequence(vec![reference("EventsFailureQueue")])
    );
    let s = &policy["PolicyDocument"]["Statement"][0];
    assert_eq!(s["Effect"].as_str(), Some("Deny"));
    assert_eq!(
        s["Condition"]["Bool"]["aws:SecureTransport"].as_str(),
        Some("false")
    );
}

/// EventBridge/Lambda filter matching, as much as the patterns use: every key of the pattern
/// must be present; a list holds allowed strings or `{"anything-but": [...]}`.
fn pattern_matches(pattern: &serde_json::Value, event: &serde_json::Value) -> bool {
    use serde_json::Value as J;
    pattern
        .as_object()
        .expect("a pattern is an object")
        .iter()
        .all(|(k, p)| {
            let Some(v) = event.get(k) else { return false };
            match p {
                J::Object(_) => pattern_matches(p, v),
                J::Array(allowed) => allowed.iter().any(|a| match a {
                    J::Object(o) => match o.get("anything-but") {
                        Some(J::Array(not)) => v.is_string() && !not.contains(v),
                        _ => panic!("unsupported pattern {a}"),
                    },
                    _ => a == v,
                }),
                _ => panic!("unsupported pattern {p}"),
            }
        })
}

#[test]
fn the_mappings_filter_lets_through_every_change_the_function_publishes() {
    use glase_shared::events::{transition, RecordState};
    let filters: Vec<serde_json::Value> = events_mapping()["FilterCriteria"]["Filters"]
        .as_sequence()
        .expect("FilterCriteria.Filters")
        .iter()
        .map(|f| serde_json::from_str(str_of(&f["Pattern"], "Pattern")).expect("JSON pattern"))
        .collect();
    assert!(
        !filters.is_empty() && filters.len() <= 5,
        "Lambda allows 5 filters"
    );
    let states = [
        None,
        Some(("PROCESSING", RecordState::Processing)),
        Some(("STORED", RecordState::Stored)),
        Some(("REJECTED", RecordState::Rejected)),
    ];
    let image = |s: Option<(&str, RecordState)>| {
        s.map(|(name, _)| serde_json::json!({"invoiceId": {"N": "1"}, "state": {"S": name}}))
    };
    for old in states {
        for new in states {
            let name = match (old, new) {
                (None, _) => "INSERT",
                (_, None) => "REMOVE",
                _ => "MODIFY",
            };
            let mut change = serde_json::json!({"Keys": {"invoiceId": {"N": "1"}}});
            if let Some(i) = image(old) {
                change["OldImage"] = i;
            }
            if let Some(i) = image(new) {
                change["NewImage"] = i;
            }
            let record = serde_json::json!({"eventName": name, "dynamodb": change});
            let passes = filters.iter().any(|f| pattern_matches(f, &record));
            let publishes = transition(old.map(|s| s.1), new.map(|s| s.1)).is_some();
            assert_eq!(
                passes, publishes,
                "{old:?} → {new:?}: the filter must pass exactly what the function publishes"
            );
        }
    }
}

#[test]
fn events_function_may_only_read_the_stream_publish_to_its_bus_and_send_to_its_failure_queue() {
    let statements = role_statements("EventsFunction");
    let stream = get_att("InvoicesTable", "StreamArn");
    assert_eq!(
        grants(&statements),
        expect_grants(&[
            ("dynamodb:DescribeStream", stream.clone()),
            ("dynamodb:GetRecords", stream.clone()),
            ("dynamodb:GetShardIterator", stream),
            ("dynamodb:ListStreams", sub("${InvoicesTable.Arn}/stream/*")),
            ("events:PutEvents", get_att("InvoiceEventBus", "Arn")),
            ("sqs:SendMessage", get_att("EventsFailureQueue", "Arn")),
            ("logs:CreateLogStream", get_att("EventsLogGroup", "Arn")),
            ("logs:PutLogEvents", get_att("EventsLogGroup", "Arn")),
            ("xray:PutTraceSegments", Value::from("*")),
            ("xray:PutTelemetryRecords", Value::from("*")),
        ])
    );
}

#[test]
fn the_bus_is_archived_for_the_retention_parameter_and_its_name_and_arn_are_outputs() {
    assert_eq!(
        resource("InvoiceEventBus")["Type"].as_str(),
        Some("AWS::Events::EventBus")
    );
    let archive = resource("InvoiceEventArchive");
    assert_eq!(archive["Type"].as_str(), Some("AWS::Events::Archive"));
    let p = &archive["Properties"];
    assert_eq!(p["SourceArn"], get_att("InvoiceEventBus", "Arn"));
    assert_eq!(p["RetentionDays"], reference("EventArchiveRetentionDays"));
    assert_eq!(
        p["EventPattern"]["source"],
        Value::Sequence(vec![Value::from(glase_shared::events::EVENT_SOURCE)])
    );
    let outputs = &template()["Outputs"];
    assert_eq!(
        outputs["EventBusName"]["Value"],
        reference("InvoiceEventBus")
    );
    assert_eq!(
        outputs["EventBusArn"]["Value"],
        get_att("InvoiceEventBus", "Arn")
    );
    assert_eq!(
        outputs["EventsFailureQueueUrl"]["Value"],
        reference("EventsFailureQueue")
    );
    assert_eq!(
        parameter("PublishPayerData")["Default"].as_str(),
        Some("false"),
        "payer personal data is opt-in"
    );
}

#[test]
fn events_function_environment_is_accepted_by_its_config_and_publishes_no_payer_data_by_default() {
    let env = resolved_env(&props("EventsFunction")["Environment"]["Variables"]);
    let cfg = glase_events::EventsConfig::from_env(&Env(|k: &str| env.get(k).cloned()))
        .expect("events config from the template");
    assert_eq!(cfg.bus_name, "glase-invoices-invoices");
    assert_eq!(cfg.payer, glase_shared::events::PayerData::Omit);
}

#[test]
fn events_given_up_on_or_late_raise_alarms() {
    let failed = resource("EventsFailedAlarm");
    let p = &failed["Properties"];
    assert_eq!(p["Namespace"].as_str(), Some("AWS/SQS"));
    assert_eq!(
        p["MetricName"].as_str(),
        Some("ApproximateNumberOfMessagesVisible")
    );
    assert_eq!(
        p["Dimensions"][0]["Value"],
        get_att("EventsFailureQueue", "QueueName")
    );
    assert_eq!(int(&p["Threshold"], "Threshold"), 0);
    assert!(int(&p["Period"], "Period") <= 300);
    let late = &resource("EventsIteratorAgeAlarm")["Properties"];
    assert_eq!(late["Namespace"].as_str(), Some("AWS/Lambda"));
    assert_eq!(late["MetricName"].as_str(), Some("IteratorAge"));
    assert_eq!(late["Dimensions"][0]["Value"], reference("EventsFunction"));
    assert!(int(&late["Threshold"], "Threshold") <= 15 * 60 * 1000);
}
