//! Shared by the glase-invoices tests: the real local services (DynamoDB Local, moto) from the
//! test harness, a seeded table written through the worker's own DynamoDB adapter, the binary
//! run as a user runs it, golden files, and a fake CloudFormation endpoint.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::OnceLock;

use glase_shared::adapters::DynamoStore;
use glase_shared::ports::{InvoiceStore, Lease, Rejection};
use glase_shared::{Invoice, InvoiceId, Payer, PurchaseTime, RejectionCode};
use jiff::Timestamp;

pub use glase_tests::services::{services, unique};

pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}

pub fn ts(iso: &str) -> Timestamp {
    iso.parse().expect("timestamp")
}

pub fn id(n: u64) -> InvoiceId {
    InvoiceId::new(n).expect("id")
}

pub fn dynamodb() -> aws_sdk_dynamodb::Client {
    glase_dev::aws::dynamodb(&services().dynamodb_endpoint)
}

pub fn sqs() -> aws_sdk_sqs::Client {
    glase_dev::aws::sqs(&services().sqs_endpoint)
}

fn lease(owner: &str, at: &str) -> Lease {
    let now_ms = ts(at).as_millisecond();
    Lease {
        owner: owner.into(),
        now_ms,
        until_ms: now_ms + 30_000,
        rejected_before_ms: None,
    }
}

pub fn invoice(
    n: u64,
    purchased: &str,
    amount: &str,
    currency: &str,
    reference: &str,
    description: &str,
) -> Invoice {
    Invoice {
        id: id(n),
        description: description.into(),
        amount: amount.parse().expect("amount"),
        currency: currency.parse().expect("currency"),
        reference: reference.into(),
        ers_reference: format!("8927368234{n:05}-3897474"),
        purchase_time: PurchaseTime::parse_iso(purchased).expect("purchase time"),
        payer: Payer::default(),
    }
}

/// Stores an invoice as the worker does: claim, then the conditional PutItem.
pub async fn store(store: &DynamoStore, invoice: &Invoice) {
    let claimed = invoice.purchase_time.timestamp();
    let at = Timestamp::from_second(claimed.as_second() + 2).unwrap();
    let lease = lease(&format!("w-{}", invoice.id), &at.to_string());
    store.claim(invoice.id, &lease).await.expect("claim");
    store.store(invoice, &lease, at).await.expect("store");
}

/// Claims and releases with a transient error, as a failed fetch does.
pub async fn fail_once(store: &DynamoStore, n: u64, at: &str, error: &str) {
    let lease = lease(&format!("w-{n}-{at}"), at);
    store.claim(id(n), &lease).await.expect("claim");
    store
        .release(id(n), &lease, error, ts(at))
        .await
        .expect("release");
}

/// Claims and records a permanent rejection, as the worker does.
pub async fn reject(store: &DynamoStore, n: u64, at: &str, code: &str, reason: &str) {
    let lease = lease(&format!("w-{n}-{at}"), at);
    store.claim(id(n), &lease).await.expect("claim");
    let rejection = Rejection {
        code: RejectionCode::parse(code).expect("a known rejection code"),
        reason: reason.into(),
    };
    store
        .reject(id(n), &lease, &rejection, ts(at))
        .await
        .expect("reject");
}

/// The invoices every query test reads: three days of March 2026 and one outside them, three
/// currencies, a reference paid three times, two payments in the same second, a rejected pair
/// and one invoice stuck in PROCESSING.
pub async fn seed(table: &str) -> DynamoStore {
    let s = DynamoStore::new(dynamodb(), table);
    glase_shared::adapters::dynamo::ensure_table(&dynamodb(), table)
        .await
        .expect("table");
    let payer = glase_shared::memory::doc_payer();
    let mut paid = vec![
        invoice(
            101,
            "2026-03-01T08:15:00Z",
            "35.70",
            "GBP",
            "R-42",
            "Phone invoice 03.2026",
        ),
        invoice(
            102,
            "2026-03-01T09:00:00Z",
            "0.10",
            "GBP",
            "R-7",
            "Tea, \"green\"",
        ),
        invoice(
            103,
            "2026-03-01T09:00:00Z",
            "120.00",
            "EUR",
            "E-2026-03-0042",
            "Electricity 03.2026",
        ),
        invoice(
            104,
            "2026-03-01T12:30:00Z",
            "5",
            "JPY",
            "J-1",
            "Gum\nsecond line",
        ),
        // 00:30 on March 2 in Stockholm.
        invoice(
            105,
            "2026-03-01T23:30:00Z",
            "12.50",
            "EUR",
            "R-42",
            "Phone invoice 03.2026 (again)",
        ),
        invoice(
            106,
            "2026-03-02T10:00:00Z",
            "59.99",
            "GBP",
            "R-42",
            "Phone invoice 03.2026 (third)",
        ),
        invoice(107, "2026-03-02T11:00:00Z", "1000", "JPY", "J-2", "Tickets"),
        invoice(108, "2026-03-03T07:45:00Z", "7.5", "GBP", "R-8", "Parking"),
        invoice(109, "2026-03-05T10:00:00Z", "19.90", "EUR", "E-9", "Books"),
    ];
    paid[5].payer = payer;
    for invoice in &paid {
        store(&s, invoice).await;
    }
    reject(
        &s,
        201,
        "2026-03-02T10:05:00Z",
        "UNKNOWN_INVOICE",
        "Glase does not know invoice (404): unknown id or another issuer's invoice",
    )
    .await;
    fail_once(
        &s,
        202,
        "2026-03-04T07:59:00Z",
        "Glase fetch failed transiently: HTTP 503",
    )
    .await;
    reject(
        &s,
        202,
        "2026-03-04T08:00:00Z",
        "NOT_PAID",
        "invoice status is \"CANCELLED\", not PAID",
    )
    .await;
    fail_once(
        &s,
        301,
        "2026-03-03T12:00:00Z",
        "Glase refused our credentials (HTTP 401): check GLASE_ISSUER and the issuer secret",
    )
    .await;
    s
}

/// One table seeded once per test binary (the query tests only read it).
pub fn seeded_table() -> &'static str {
    static TABLE: OnceLock<String> = OnceLock::new();
    TABLE.get_or_init(|| {
        let table = unique("cli");
        block_on(seed(&table));
        table
    })
}

/// What a run of the binary gave.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(out: Output) -> Self {
        Self {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// The whole run as one text: exit status, stdout, stderr.
    pub fn transcript(&self) -> String {
        format!(
            "exit: {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// The binary with a clean environment: the local services' endpoints and dummy credentials,
/// and nothing from the developer's own AWS setup.
pub fn command(env: &[(&str, &str)], args: &[&str]) -> Command {
    let svc = services();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_glase-invoices"));
    cmd.env_clear()
        .env("AWS_ENDPOINT_URL_DYNAMODB", &svc.dynamodb_endpoint)
        .env("AWS_ENDPOINT_URL_SQS", &svc.sqs_endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "any")
        .env("AWS_SECRET_ACCESS_KEY", "any")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .envs(env.iter().copied())
        .args(args);
    cmd
}

pub fn run(env: &[(&str, &str)], args: &[&str]) -> Run {
    Run::from(command(env, args).output().expect("run glase-invoices"))
}

/// Compares `actual` with `cli/tests/golden/<name>`; `UPDATE_GOLDEN=1` rewrites the file.
pub fn golden(name: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", path.display()));
    assert!(
        expected == actual,
        "{name} differs from {}:\n--- expected\n{expected}\n--- actual\n{actual}",
        path.display()
    );
}

/// A CloudFormation endpoint that answers DescribeStacks (awsQuery: a form POST, an XML
/// answer) with the given stacks' outputs, and CloudFormation's own error for any other stack.
pub fn fake_cloudformation(stacks: HashMap<String, Vec<(String, String)>>) -> String {
    use axum::extract::Form;
    use axum::http::StatusCode;
    use axum::response::IntoResponse;

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        block_on(async move {
            let app = axum::Router::new().route(
                "/",
                axum::routing::post(move |Form(form): Form<HashMap<String, String>>| {
                    let stacks = stacks.clone();
                    async move {
                        let xml = [(axum::http::header::CONTENT_TYPE, "text/xml")];
                        let name = form.get("StackName").cloned().unwrap_or_default();
                        if form.get("Action").map(String::as_str) != Some("DescribeStacks") {
                            return (
                                StatusCode::BAD_REQUEST,
                                xml,
                                error_xml("InvalidAction", "only DescribeStacks here"),
                            )
                                .into_response();
                        }
                        match stacks.get(&name) {
                            Some(outputs) => {
                                (StatusCode::OK, xml, describe_stacks_xml(&name, outputs))
                                    .into_response()
                            }
                            None => (
                                StatusCode::BAD_REQUEST,
                                xml,
                                error_xml(
                                    "ValidationError",
                                    &format!("Stack with id {name} does not exist"),
                                ),
                            )
                                .into_response(),
                        }
                    }
                }),
            );
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        })
    });
    format!("http://{addr}")
}

fn describe_stacks_xml(name: &str, outputs: &[(String, String)]) -> String {
    let members: String = outputs
        .iter()
        .map(|(k, v)| {
            format!("<member><OutputKey>{k}</OutputKey><OutputValue>{v}</OutputValue></member>")
        })
        .collect();
    format!(
        r#"<DescribeStacksResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/">
  <DescribeStacksResult>
    <Stacks>
      <member>
        <StackName>{name}</StackName>
        <StackId>arn:aws:cloudformation:us-east-1:123456789012:stack/{name}/00000000-0000-0000-0000-000000000000</StackId>
        <CreationTime>2026-01-01T00:00:00Z</CreationTime>
        <StackStatus>CREATE_COMPLETE</StackStatus>
        <Outputs>{members}</Outputs>
      </member>
    </Stacks>
  </DescribeStacksResult>
  <ResponseMetadata><RequestId>fake</RequestId></ResponseMetadata>
</DescribeStacksResponse>"#
    )
}

fn error_xml(code: &str, message: &str) -> String {
    format!(
        r#"<ErrorResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>fake</RequestId></ErrorResponse>"#
    )
}

/// A CloudWatch endpoint (Smithy RPCv2 CBOR, which moto does not serve) that answers
/// DescribeAlarms from `alarms` (name, state), filtered by prefix and state as CloudWatch does,
/// and GetMetricStatistics with one datapoint of `age_seconds` for the given queue's
/// ApproximateAgeOfOldestMessage.
pub fn fake_cloudwatch(
    alarms: Vec<(String, String)>,
    queue_name: String,
    age_seconds: f64,
) -> String {
    use axum::body::Bytes;
    use axum::extract::Path;
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    use ciborium::Value;

    fn text(map: &Value, key: &str) -> Option<String> {
        map.as_map()?
            .iter()
            .find(|(k, _)| k.as_text() == Some(key))
            .and_then(|(_, v)| v.as_text().map(str::to_owned))
    }
    fn cbor(value: Value) -> axum::response::Response {
        let mut body = Vec::new();
        ciborium::into_writer(&value, &mut body).unwrap();
        (
            StatusCode::OK,
            [
                ("content-type", "application/cbor"),
                ("smithy-protocol", "rpc-v2-cbor"),
            ],
            body,
        )
            .into_response()
    }
    let map = |pairs: Vec<(&str, Value)>| {
        Value::Map(
            pairs
                .into_iter()
                .map(|(k, v)| (Value::Text(k.into()), v))
                .collect(),
        )
    };

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        block_on(async move {
            let app = axum::Router::new().route(
                "/service/{service}/operation/{operation}",
                axum::routing::post(
                    move |Path((_, operation)): Path<(String, String)>, body: Bytes| {
                        let alarms = alarms.clone();
                        let queue_name = queue_name.clone();
                        async move {
                            let input: Value =
                                ciborium::from_reader(&body[..]).unwrap_or(Value::Null);
                            match operation.as_str() {
                                "DescribeAlarms" => {
                                    let prefix =
                                        text(&input, "AlarmNamePrefix").unwrap_or_default();
                                    let state = text(&input, "StateValue");
                                    let found = alarms
                                        .iter()
                                        .filter(|(name, s)| {
                                            name.starts_with(&prefix)
                                                && state.as_ref().is_none_or(|w| w == s)
                                        })
                                        .map(|(name, s)| {
                                            map(vec![
                                                ("AlarmName", Value::Text(name.clone())),
                                                ("StateValue", Value::Text(s.clone())),
                                            ])
                                        })
                                        .collect();
                                    cbor(map(vec![("MetricAlarms", Value::Array(found))]))
                                }
                                "GetMetricStatistics" => {
                                    let dimension = input
                                        .as_map()
                                        .and_then(|m| {
                                            m.iter()
                                                .find(|(k, _)| k.as_text() == Some("Dimensions"))
                                        })
                                        .and_then(|(_, v)| {
                                            v.as_array().and_then(|a| a.first()).cloned()
                                        });
                                    let wanted = text(&input, "MetricName").as_deref()
                                        == Some("ApproximateAgeOfOldestMessage")
                                        && text(&input, "Namespace").as_deref() == Some("AWS/SQS")
                                        && dimension.as_ref().and_then(|d| text(d, "Value"))
                                            == Some(queue_name.clone());
                                    let now = jiff::Timestamp::now().as_second() - 60;
                                    let points = if wanted {
                                        vec![map(vec![
                                            (
                                                "Timestamp",
                                                Value::Tag(1, Box::new(Value::Integer(now.into()))),
                                            ),
                                            ("Maximum", Value::Float(age_seconds)),
                                        ])]
                                    } else {
                                        vec![]
                                    };
                                    cbor(map(vec![("Datapoints", Value::Array(points))]))
                                }
                                _ => (StatusCode::BAD_REQUEST, "unknown operation").into_response(),
                            }
                        }
                    },
                ),
            );
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        })
    });
    format!("http://{addr}")
}

/// A queue and its dead-letter queue, named for this test.
pub fn queues(prefix: &str) -> (String, String) {
    block_on(glase_dev::aws::create_queues(
        &sqs(),
        &unique(prefix),
        30,
        5,
    ))
    .expect("queues")
}

/// (visible, not visible) messages.
pub fn depth(queue: &str) -> (u64, u64) {
    let out = block_on(
        sqs()
            .get_queue_attributes()
            .queue_url(queue)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(
                aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
            )
            .send(),
    )
    .expect("attributes");
    let get = |n: aws_sdk_sqs::types::QueueAttributeName| {
        out.attributes()
            .and_then(|a| a.get(&n))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (
        get(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages),
        get(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
    )
}

/// Everything on a queue, received and deleted: (body, Requeued attribute) per message.
pub fn drain(queue: &str) -> Vec<(String, Option<String>)> {
    let sqs = sqs();
    block_on(async {
        let mut all = Vec::new();
        loop {
            let out = sqs
                .receive_message()
                .queue_url(queue)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .message_attribute_names("All")
                .send()
                .await
                .expect("receive");
            let messages = out.messages.unwrap_or_default();
            if messages.is_empty() {
                return all;
            }
            for m in messages {
                let requeued = m
                    .message_attributes()
                    .and_then(|a| a.get("Requeued"))
                    .and_then(|v| v.string_value())
                    .map(str::to_owned);
                all.push((m.body().unwrap_or_default().to_owned(), requeued));
                sqs.delete_message()
                    .queue_url(queue)
                    .receipt_handle(m.receipt_handle().unwrap())
                    .send()
                    .await
                    .expect("delete");
            }
        }
    })
}
