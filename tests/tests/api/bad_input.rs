//! The bad-input corpus, table-driven, on the real local services (moto's SQS, DynamoDB Local):
//!
//! - webhook: every malformed notification gets its documented 4xx with a JSON reason, and
//!   nothing reaches the queue;
//! - worker: every malformed Glase answer ends with no paid invoice stored, no crash, the reason
//!   recorded, and a huge body is never read whole;
//! - worker: every malformed queue message is moved to the dead-letter queue with its reason.
//!
//! Configuration errors are in `config_errors.rs` beside it.

use std::time::Duration;

use base64::Engine;
use glase_shared::adapters::SqsQueue;
use glase_shared::ports::InvoiceRecord;
use glase_sim::Reply;
use glase_tests::glase::{invoice_json, ISSUER, SECRET};
use glase_tests::pipeline::GlaseTarget;
use glase_tests::Pipeline;
use glase_webhook::{Webhook, MAX_BODY_BYTES};
use serde_json::Value;

const DRAIN: Duration = Duration::from_secs(120);
const TOKEN: &str = "whk-3f9c1e7a5b2d";
const FIXTURE: &str = include_str!("../../../events/apigw-notification.json");

// ------------------------------------------------------------------ webhook

/// The request body as API Gateway hands it over.
enum Body {
    Text(String),
    /// `isBase64Encoded: true`, as API Gateway sends binary payloads.
    Base64(Vec<u8>),
}

struct Notification {
    name: &'static str,
    method: &'static str,
    /// `{T}` stands for the configured token.
    path: &'static str,
    content_type: &'static str,
    body: Body,
    /// Status and the `error` code of the JSON reply.
    expect: (u16, &'static str),
}

const INVALID: (u16, &str) = (400, "invalid_notification");
const TOO_LARGE: (u16, &str) = (413, "payload_too_large");
const METHOD: (u16, &str) = (405, "method_not_allowed");
const NOT_FOUND: (u16, &str) = (404, "not_found");
const UNAUTHORIZED: (u16, &str) = (401, "unauthorized");
const JSON: &str = "application/json";

fn post(name: &'static str, body: impl Into<String>, expect: (u16, &'static str)) -> Notification {
    Notification {
        name,
        method: "POST",
        path: "/notifications/{T}",
        content_type: JSON,
        body: Body::Text(body.into()),
        expect,
    }
}

fn post_bytes(name: &'static str, body: &[u8], expect: (u16, &'static str)) -> Notification {
    Notification {
        body: Body::Base64(body.to_vec()),
        ..post(name, "", expect)
    }
}

fn at(name: &'static str, method: &'static str, path: &'static str) -> Notification {
    let expect = if path.contains("{T}") {
        METHOD
    } else {
        UNAUTHORIZED
    };
    Notification {
        method,
        path,
        ..post(name, r#"{"invoiceId": 25153}"#, expect)
    }
}

fn typed(name: &'static str, content_type: &'static str, body: &str) -> Notification {
    Notification {
        content_type,
        ..post(name, body, INVALID)
    }
}

fn nested(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

fn notification_corpus() -> Vec<Notification> {
    let padded_1mb = format!(
        r#"{{"invoiceId": 25153, "pad": "{}"}}"#,
        "x".repeat(1 << 20)
    );
    let just_over = format!(
        r#"{{"invoiceId": 1, "pad": "{}"}}"#,
        "x".repeat(MAX_BODY_BYTES)
    );
    vec![
        // Not JSON at all.
        post("empty body", "", INVALID),
        post("whitespace only", " \n\t ", INVALID),
        post("plain text", "invoice 25153 paid", INVALID),
        post("javascript object", "{invoiceId: 25153}", INVALID),
        post("single quotes", "{'invoiceId': 25153}", INVALID),
        post("truncated object", r#"{"invoiceId": 25153"#, INVALID),
        post("trailing garbage", r#"{"invoiceId": 25153}}"#, INVALID),
        post(
            "two objects",
            r#"{"invoiceId": 1}{"invoiceId": 2}"#,
            INVALID,
        ),
        post("trailing comma", r#"{"invoiceId": 25153,}"#, INVALID),
        post(
            "utf-8 byte order mark",
            "\u{feff}{\"invoiceId\": 25153}",
            INVALID,
        ),
        // JSON, but not an object.
        post("array", "[25153]", INVALID),
        post("array of the object", r#"[{"invoiceId": 25153}]"#, INVALID),
        post("string", r#""25153""#, INVALID),
        post("number", "25153", INVALID),
        post("null", "null", INVALID),
        post("boolean", "true", INVALID),
        // Nesting: 5,000 deep is over the size limit; 2,000 deep fits in it.
        post("nesting 5,000 deep", nested(5_000), TOO_LARGE),
        post("nesting 2,000 deep", nested(2_000), INVALID),
        post(
            "invoiceId nested 1,000 deep",
            format!(r#"{{"invoiceId": {}}}"#, nested(1_000)),
            INVALID,
        ),
        post(
            "objects nested 250 deep",
            format!("{}{}", r#"{"invoiceId":"#.repeat(250), "}".repeat(250)),
            INVALID,
        ),
        // An object without a usable invoiceId.
        post("empty object", "{}", INVALID),
        post("wrong case", r#"{"invoiceid": 25153}"#, INVALID),
        post("snake case", r#"{"invoice_id": 25153}"#, INVALID),
        post("id as string", r#"{"invoiceId": "25153"}"#, INVALID),
        post("id as float", r#"{"invoiceId": 25153.5}"#, INVALID),
        post("id as whole float", r#"{"invoiceId": 25153.0}"#, INVALID),
        post("id with exponent", r#"{"invoiceId": 2.5153e4}"#, INVALID),
        post("id negative", r#"{"invoiceId": -25153}"#, INVALID),
        post("id minus zero", r#"{"invoiceId": -0}"#, INVALID),
        post("id zero", r#"{"invoiceId": 0}"#, INVALID),
        post("id 2^63", r#"{"invoiceId": 9223372036854775808}"#, INVALID),
        post("id 2^64", r#"{"invoiceId": 18446744073709551616}"#, INVALID),
        post("id 1e400", r#"{"invoiceId": 1e400}"#, INVALID),
        post("id boolean", r#"{"invoiceId": true}"#, INVALID),
        post("id null", r#"{"invoiceId": null}"#, INVALID),
        post("id NaN", r#"{"invoiceId": NaN}"#, INVALID),
        post("id Infinity", r#"{"invoiceId": Infinity}"#, INVALID),
        post("id leading zeros", r#"{"invoiceId": 025153}"#, INVALID),
        post("id hexadecimal", r#"{"invoiceId": 0x6241}"#, INVALID),
        post("id with plus sign", r#"{"invoiceId": +25153}"#, INVALID),
        post("id as array", r#"{"invoiceId": [25153]}"#, INVALID),
        post("id as object", r#"{"invoiceId": {"id": 25153}}"#, INVALID),
        post(
            "duplicate keys",
            r#"{"invoiceId":1,"invoiceId":2}"#,
            INVALID,
        ),
        post(
            "duplicate keys, same id",
            r#"{"invoiceId":7,"invoiceId":7}"#,
            INVALID,
        ),
        post(
            "duplicate keys, one escaped",
            r#"{"invoiceId":1,"invoice\u0049d":2}"#,
            INVALID,
        ),
        post(
            "duplicate keys, then null",
            r#"{"invoiceId":1,"invoiceId":null}"#,
            INVALID,
        ),
        // Size.
        post("one byte over the limit", just_over, TOO_LARGE),
        post("1 MB body", padded_1mb, TOO_LARGE),
        // Encodings.
        post_bytes(
            "invalid utf-8 in a member",
            b"{\"invoiceId\": 1, \"x\": \"\xff\xfe\"}",
            INVALID,
        ),
        post_bytes(
            "invalid utf-8 after the object",
            b"{\"invoiceId\": 1}\xc3",
            INVALID,
        ),
        post_bytes(
            "latin-1 text",
            b"{\"invoiceId\": 1, \"payer\": \"J\xf6rg\"}",
            INVALID,
        ),
        post_bytes(
            "utf-16 json",
            &"{\"invoiceId\": 1}"
                .encode_utf16()
                .flat_map(u16::to_le_bytes)
                .collect::<Vec<_>>(),
            INVALID,
        ),
        post_bytes("base64 of an array", b"[25153]", INVALID),
        post_bytes(
            "base64 of duplicate keys",
            br#"{"invoiceId":1,"invoiceId":2}"#,
            INVALID,
        ),
        post_bytes("base64 of an empty body", b"", INVALID),
        post_bytes(
            "base64 of gzip",
            &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3],
            INVALID,
        ),
        post_bytes(
            "base64, over the limit",
            &vec![b' '; MAX_BODY_BYTES + 1],
            TOO_LARGE,
        ),
        // Content types that are not JSON (the type itself is not checked: see below).
        typed(
            "form encoded",
            "application/x-www-form-urlencoded",
            "invoiceId=25153",
        ),
        typed("xml", "application/xml", "<invoiceId>25153</invoiceId>"),
        typed(
            "multipart",
            "multipart/form-data; boundary=b",
            "--b\r\nContent-Disposition: form-data; name=\"invoiceId\"\r\n\r\n25153\r\n--b--\r\n",
        ),
        // Wrong method: 405 with the right token, 401 without it (nothing learnt without it).
        at("GET", "GET", "/notifications/{T}"),
        at("PUT", "PUT", "/notifications/{T}"),
        at("PATCH", "PATCH", "/notifications/{T}"),
        at("DELETE", "DELETE", "/notifications/{T}"),
        at("OPTIONS", "OPTIONS", "/notifications/{T}"),
        at("HEAD", "HEAD", "/notifications/{T}"),
        at("GET without the token", "GET", "/notifications"),
        // Wrong path.
        Notification {
            expect: NOT_FOUND,
            ..at("root", "POST", "/")
        },
        Notification {
            expect: NOT_FOUND,
            ..at("singular", "POST", "/notification/{T}")
        },
        Notification {
            expect: NOT_FOUND,
            ..at("prefixed", "POST", "/api/notifications/{T}")
        },
        Notification {
            expect: NOT_FOUND,
            ..at("extra segment", "POST", "/notifications/{T}/again")
        },
        Notification {
            expect: NOT_FOUND,
            ..at("upper case", "POST", "/NOTIFICATIONS/{T}")
        },
        // Wrong token.
        at("no token", "POST", "/notifications"),
        // API Gateway does not route an empty token segment: neither does the webhook.
        Notification {
            expect: NOT_FOUND,
            ..at("no token, trailing slash", "POST", "/notifications/")
        },
        at("wrong token", "POST", "/notifications/whk-0000000000000"),
        at("token prefix", "POST", "/notifications/whk-3f9c1e7a5b2"),
        at(
            "token plus a character",
            "POST",
            "/notifications/whk-3f9c1e7a5b2dd",
        ),
        at(
            "token in upper case",
            "POST",
            "/notifications/WHK-3F9C1E7A5B2D",
        ),
        at(
            "token percent-encoded",
            "POST",
            "/notifications/whk%2D3f9c1e7a5b2d",
        ),
        at(
            "token in the query string",
            "POST",
            "/notifications?token=whk-3f9c1e7a5b2d",
        ),
    ]
}

/// API Gateway's HTTP API event (payload 2.0) for one corpus entry.
fn event(n: &Notification) -> lambda_http::Request {
    let with_token = n.path.replace("{T}", TOKEN);
    let (path, query) = with_token.split_once('?').unwrap_or((&with_token, ""));
    let mut event: Value = serde_json::from_str(FIXTURE).expect("fixture");
    // The raw path is what each entry varies: without the fixture's route parameter the
    // webhook reads the token from it, as it does behind `make dev`.
    event
        .as_object_mut()
        .expect("object")
        .remove("pathParameters");
    event["rawPath"] = path.into();
    event["rawQueryString"] = query.into();
    event["requestContext"]["http"]["path"] = path.into();
    event["requestContext"]["http"]["method"] = n.method.into();
    event["headers"]["content-type"] = n.content_type.into();
    let (body, base64) = match &n.body {
        Body::Text(text) => (text.clone(), false),
        Body::Base64(bytes) => (
            base64::engine::general_purpose::STANDARD.encode(bytes),
            true,
        ),
    };
    event["headers"]["content-length"] = body.len().to_string().into();
    event["body"] = body.into();
    event["isBase64Encoded"] = base64.into();
    lambda_http::request::from_str(&event.to_string()).expect("event")
}

/// A pipeline whose Glase is never reached (nothing should get that far).
async fn pipeline_without_glase() -> Pipeline {
    Pipeline::start(GlaseTarget {
        base_url: "http://127.0.0.1:9",
        issuer: ISSUER,
        secret: SECRET,
    })
    .await
}

#[tokio::test]
async fn every_bad_notification_gets_its_documented_4xx_with_a_json_reason_and_queues_nothing() {
    let p = pipeline_without_glase().await;
    let webhook = Webhook::new(
        SqsQueue::new(p.sqs.clone(), &p.queue_url),
        glase_shared::WebhookToken::plain(TOKEN).unwrap(),
    );
    let corpus = notification_corpus();
    assert!(corpus.len() >= 50, "{} cases", corpus.len());

    let mut wrong = Vec::new();
    for case in &corpus {
        let response = webhook.handle(event(case)).await;
        let status = response.status().as_u16();
        let content_type = response.headers().get("content-type").cloned();
        let reply: Value = serde_json::from_slice(response.body().as_ref()).unwrap_or(Value::Null);
        let queued = p.queue_depth(&p.queue_url).await;

        let (want_status, want_code) = case.expect;
        let message = reply["message"].as_str().unwrap_or_default();
        if status != want_status
            || reply["error"] != want_code
            || message.is_empty()
            || message.contains(TOKEN)
            || content_type.as_ref().and_then(|v| v.to_str().ok()) != Some(JSON)
            || queued != 0
        {
            wrong.push(format!(
                "{}: got {status} {reply} ({queued} queued), want {want_status} {want_code}",
                case.name
            ));
        }
    }

    assert!(
        wrong.is_empty(),
        "{} wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    // The same webhook and queue do take a good notification: the checks above can see one.
    let good = post("control", r#"{"invoiceId": 25153}"#, (200, ""));
    assert_eq!(webhook.handle(event(&good)).await.status(), 200);
    assert_eq!(queued_bodies(&p).await, vec![r#"{"invoiceId":25153}"#]);
}

#[tokio::test]
async fn content_type_is_not_part_of_the_contract_so_a_good_body_is_queued_whatever_its_type() {
    // Glase does not document the Content-Type it sends; refusing one would lose payments.
    let p = pipeline_without_glase().await;
    let webhook = Webhook::new(
        SqsQueue::new(p.sqs.clone(), &p.queue_url),
        glase_shared::WebhookToken::plain(TOKEN).unwrap(),
    );
    let mut plain = post("text/plain", r#"{"invoiceId": 11}"#, (200, ""));
    plain.content_type = "text/plain; charset=ISO-8859-1";
    let mut binary = post_bytes("base64", br#"{"invoiceId": 12}"#, (200, ""));
    binary.content_type = "application/octet-stream";

    let a = webhook.handle(event(&plain)).await.status().as_u16();
    let b = webhook.handle(event(&binary)).await.status().as_u16();

    assert_eq!((a, b), (200, 200));
    let mut bodies = queued_bodies(&p).await;
    bodies.sort();
    assert_eq!(bodies, vec![r#"{"invoiceId":11}"#, r#"{"invoiceId":12}"#]);
}

/// Receives (and deletes) everything visible on the queue.
async fn queued_bodies(p: &Pipeline) -> Vec<String> {
    let mut bodies = Vec::new();
    loop {
        let out = p
            .sqs
            .receive_message()
            .queue_url(&p.queue_url)
            .max_number_of_messages(10)
            .send()
            .await
            .expect("receive");
        if out.messages().is_empty() {
            return bodies;
        }
        for m in out.messages() {
            bodies.push(m.body().unwrap_or_default().to_owned());
            p.sqs
                .delete_message()
                .queue_url(&p.queue_url)
                .receipt_handle(m.receipt_handle().unwrap_or_default())
                .send()
                .await
                .expect("delete");
        }
    }
}

// ------------------------------------------------------------------ Glase responses

/// What the worker must end with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Recorded REJECTED with this code; the message acknowledged.
    Rejected(&'static str),
    /// Kept PROCESSING with a last error containing this text; the message retried until
    /// the redrive policy dead-letters it.
    Retried(&'static str),
}

struct GlaseCase {
    name: &'static str,
    reply: Reply,
    expect: Expect,
}

const INVALID_RESPONSE: Expect = Expect::Rejected("INVALID_RESPONSE");
const DETAILS_TOO_LARGE: Expect = Expect::Rejected("DETAILS_TOO_LARGE");

/// Glase's documented example for `id`, with `from` replaced by `to` once.
fn doc_with(id: u64, from: &str, to: &str) -> Reply {
    let body = invoice_json(id, "59.99", "586930/05/2015");
    assert!(body.contains(from), "{from}");
    Reply::json(body.replacen(from, to, 1))
}

/// Glase's documented example for `id` without the member `name`.
fn doc_without(id: u64, name: &str) -> Reply {
    let mut value: Value = serde_json::from_str(&invoice_json(id, "59.99", "r")).expect("json");
    value.as_object_mut().expect("object").remove(name);
    Reply::json(value.to_string())
}

fn glase_corpus(first_id: u64) -> Vec<(u64, GlaseCase)> {
    let case = |name, reply, expect| GlaseCase {
        name,
        reply,
        expect,
    };
    let ten_mb = 10 * 1024 * 1024;
    let cases: Vec<Box<dyn Fn(u64) -> GlaseCase>> = vec![
        Box::new(|id| case("missing id", doc_without(id, "id"), INVALID_RESPONSE)),
        Box::new(|id| {
            case(
                "missing amount",
                doc_without(id, "amount"),
                INVALID_RESPONSE,
            )
        }),
        Box::new(|id| {
            case(
                "missing currency",
                doc_without(id, "currency"),
                INVALID_RESPONSE,
            )
        }),
        Box::new(|id| {
            case(
                "missing status",
                doc_without(id, "status"),
                INVALID_RESPONSE,
            )
        }),
        Box::new(|id| {
            case(
                "missing reference",
                doc_without(id, "reference"),
                INVALID_RESPONSE,
            )
        }),
        Box::new(|id| {
            case(
                "missing purchaseTime",
                doc_without(id, "purchaseTime"),
                INVALID_RESPONSE,
            )
        }),
        Box::new(|_| case("empty object", Reply::json("{}"), INVALID_RESPONSE)),
        Box::new(|id| {
            case(
                "id as string",
                doc_with(id, &format!("\"id\": {id}"), &format!("\"id\": \"{id}\"")),
                INVALID_RESPONSE,
            )
        }),
        Box::new(|id| {
            case(
                "id as float",
                doc_with(id, &format!("\"id\": {id}"), &format!("\"id\": {id}.5")),
                INVALID_RESPONSE,
            )
        }),
        Box::new(|id| {
            case(
                "id of another invoice",
                doc_with(id, &format!("\"id\": {id}"), &format!("\"id\": {}", id + 1)),
                Expect::Rejected("ID_MISMATCH"),
            )
        }),
        Box::new(|id| {
            case(
                "amount as string",
                doc_with(id, "59.99", "\"59.99\""),
                INVALID_RESPONSE,
            )
        }),
        Box::new(|id| {
            case(
                "amount with exponent",
                doc_with(id, "59.99", "5.999e1"),
                INVALID_RESPONSE,
            )
        }),
        Box::new(|id| {
            case(
                "amount negative",
                doc_with(id, "59.99", "-59.99"),
                INVALID_RESPONSE,
            )
        }),
        Box::new(|id| {
            case(
                "amount with plus sign",
                doc_with(id, "59.99", "+59.99"),
                INVALID_RESPONSE,
            )
        }),
        Box::new(|id| case("amount NaN", doc_with(id, "59.99", "NaN"), INVALID_RESPONSE)),
        Box::new(|id| {
            case(
                "amount null",
                doc_with(id, "59.99", "null"),
                INVALID_RESPONSE,
            )
        }),
        Box::new(|id| {
            case(
                "amount boolean",
                doc_with(id, "59.99", "true"),
                INVALID_RESPONSE,
            )
        }),
        Box::new(|id| {
            case(
                "amount 1e400",
                doc_with(id, "59.99", "1e400"),
                INVALID_RESPONSE,
            )
        }),
        Box::new(|id| {
            case(
                "amount with 40 digits",
                doc_with(id, "59.99", "1234567890123456789012345678901234567.89"),
                INVALID_RESPONSE,
            )
        }),
        Box::new(|id| {
            case(
                "amount with comma",
                doc_with(id, "59.99", "59,99"),
                INVALID_RESPONSE,
            )
        }),
        Box::new(|id| {
            case(
                "currency lower case",
                doc_with(id, "\"GBP\"", "\"gbp\""),
                INVALID_RESPONSE,
            )
        }),
        Box::new(|id| {
            case(
                "currency 4 letters",
                doc_with(id, "\"GBP\"", "\"GBPX\""),
                INVALID_RESPONSE,
            )
        }),
        Box::new(|id| {
            case(
                "currency numeric",
                doc_with(id, "\"GBP\"", "826"),
                INVALID_RESPONSE,
            )
        }),
        Box::new(|id| {
            case(
                "currency empty",
                doc_with(id, "\"GBP\"", "\"\""),
                INVALID_RESPONSE,
            )
        }),
        Box::new(|id| {
            case(
                "currency symbol",
                doc_with(id, "\"GBP\"", "\"£\""),
                INVALID_RESPONSE,
            )
        }),
        Box::new(|id| {
            case(
                "purchaseTime 31.02.2015",
                doc_with(id, "15.05.2015", "31.02.2015"),
                INVALID_RESPONSE,
            )
        }),
        Box::new(|id| {
            case(
                "purchaseTime 25 o'clock",
                doc_with(id, "15:37:33", "25:37:33"),
                INVALID_RESPONSE,
            )
        }),
        Box::new(|id| {
            case(
                "purchaseTime ISO 8601",
                doc_with(id, "15.05.2015 15:37:33", "2015-05-15T15:37:33Z"),
                INVALID_RESPONSE,
            )
        }),
        Box::new(|id| {
            case(
                "purchaseTime as number",
                doc_with(id, "\"15.05.2015 15:37:33\"", "1431704253"),
                INVALID_RESPONSE,
            )
        }),
        Box::new(|id| {
            case(
                "status PENDING",
                doc_with(id, "\"PAID\"", "\"PENDING\""),
                Expect::Rejected("NOT_PAID"),
            )
        }),
        Box::new(|id| {
            case(
                "status lower-case paid",
                doc_with(id, "\"PAID\"", "\"paid\""),
                Expect::Rejected("NOT_PAID"),
            )
        }),
        Box::new(|id| {
            case(
                "status null",
                doc_with(id, "\"PAID\"", "null"),
                INVALID_RESPONSE,
            )
        }),
        Box::new(|id| {
            case(
                "status number",
                doc_with(id, "\"PAID\"", "1"),
                INVALID_RESPONSE,
            )
        }),
        Box::new(|id| {
            case(
                "description number",
                doc_with(id, "\"Phone invoice 05.2015\"", "5"),
                INVALID_RESPONSE,
            )
        }),
        Box::new(|id| {
            case(
                "duplicate amount",
                doc_with(
                    id,
                    "\"amount\": 59.99,",
                    "\"amount\": 0.01, \"amount\": 59.99,",
                ),
                INVALID_RESPONSE,
            )
        }),
        Box::new(|id| {
            case(
                "duplicate id",
                doc_with(id, "{", &format!("{{\"id\": {},", id)),
                INVALID_RESPONSE,
            )
        }),
        Box::new(|id| {
            case(
                "array of the fields",
                Reply::json(format!(
                    r#"[{id}, "d", 59.99, "GBP", "PAID", "r", "e", "15.05.2015 15:37:33", null, null, null, null, null, null, null]"#
                )),
                INVALID_RESPONSE,
            )
        }),
        Box::new(|_| {
            case(
                "an HTML page",
                Reply::raw(
                    200,
                    "text/html",
                    "<html><body>Welcome to the proxy</body></html>",
                ),
                INVALID_RESPONSE,
            )
        }),
        Box::new(|id| {
            let full = invoice_json(id, "59.99", "r");
            case(
                "truncated JSON",
                Reply::json(full[..full.len() / 2].to_owned()),
                INVALID_RESPONSE,
            )
        }),
        Box::new(|_| case("empty 200", Reply::json(""), INVALID_RESPONSE)),
        Box::new(|_| case("JSON null", Reply::json("null"), INVALID_RESPONSE)),
        Box::new(|id| {
            let body = invoice_json(id, "59.99", "r").replacen("John", "J\u{1}rg", 1);
            let latin1 = body.bytes().map(|b| if b == 1 { 0xf6 } else { b });
            case(
                "invalid UTF-8",
                Reply::raw(200, "application/json", latin1.collect::<Vec<u8>>()),
                INVALID_RESPONSE,
            )
        }),
        // Over the body limit: never parsed, and no retry makes it smaller.
        Box::new(|_| {
            case(
                "100,000 [",
                Reply::json("[".repeat(100_000)),
                DETAILS_TOO_LARGE,
            )
        }),
        // Under it: parsed, and refused without exhausting the stack.
        Box::new(|_| {
            case(
                "60,000 [",
                Reply::json("[".repeat(60_000)),
                INVALID_RESPONSE,
            )
        }),
        Box::new(|id| {
            case(
                "amount nested 30,000 deep",
                doc_with(id, "59.99", &nested(30_000)),
                INVALID_RESPONSE,
            )
        }),
        Box::new(move |_| {
            case(
                "10 MB with a Content-Length",
                Reply::Stream {
                    total: ten_mb,
                    fill: b'[',
                    content_length: true,
                },
                DETAILS_TOO_LARGE,
            )
        }),
        Box::new(move |_| {
            case(
                "10 MB streamed without a length",
                Reply::Stream {
                    total: ten_mb,
                    fill: b' ',
                    content_length: false,
                },
                DETAILS_TOO_LARGE,
            )
        }),
        Box::new(|_| {
            case(
                "endless stream",
                Reply::Stream {
                    total: u64::MAX,
                    fill: b'[',
                    content_length: false,
                },
                DETAILS_TOO_LARGE,
            )
        }),
        Box::new(|_| {
            case(
                "503",
                Reply::raw(503, "text/plain", "busy"),
                Expect::Retried("HTTP 503"),
            )
        }),
        Box::new(|_| {
            case(
                "an undocumented 400",
                Reply::raw(400, "text/html", "<h1>Bad Request</h1>"),
                Expect::Rejected("GLASE_REFUSED"),
            )
        }),
        Box::new(|_| {
            case(
                "an undocumented 410",
                Reply::raw(410, "text/plain", "Gone"),
                Expect::Rejected("GLASE_REFUSED"),
            )
        }),
        Box::new(|_| {
            case(
                "a 404 with 10 MB of HTML",
                Reply::raw(404, "text/html", vec![b'x'; 10 << 20]),
                Expect::Rejected("UNKNOWN_INVOICE"),
            )
        }),
    ];
    cases
        .into_iter()
        .enumerate()
        .map(|(i, make)| {
            let id = first_id + i as u64;
            (id, make(id))
        })
        .collect()
}

#[tokio::test]
async fn no_malformed_glase_answer_is_stored_as_paid_and_each_leaves_its_reason() {
    let running = glase_tests::glase::start().await;
    let glase = running.sim();
    let p = Pipeline::start(GlaseTarget {
        base_url: &running.base_url(),
        issuer: ISSUER,
        secret: SECRET,
    })
    .await;
    let corpus = glase_corpus(5_000);
    assert!(corpus.len() >= 40, "{} cases", corpus.len());
    let control = 4_999;
    glase.answer(control, Reply::json(invoice_json(control, "59.99", "ok")));
    for (id, case) in &corpus {
        glase.answer(*id, case.reply.clone());
    }

    for id in std::iter::once(control).chain(corpus.iter().map(|(id, _)| *id)) {
        let (status, _) = p.notify(&format!(r#"{{"invoiceId": {id}}}"#)).await;
        assert_eq!(status, 200);
    }
    p.drain(DRAIN).await;

    assert!(
        matches!(p.record(control).await, Some(InvoiceRecord::Stored { .. })),
        "the well-formed control invoice is stored"
    );
    let mut wrong = Vec::new();
    for (id, case) in &corpus {
        let record = p.record(*id).await;
        let ok = match (&record, case.expect) {
            (Some(InvoiceRecord::Rejected { rejection, .. }), Expect::Rejected(code)) => {
                rejection.code.as_str() == code && !rejection.reason.is_empty()
            }
            (Some(InvoiceRecord::Processing { last_error, .. }), Expect::Retried(text)) => {
                last_error.as_deref().is_some_and(|e| e.contains(text))
            }
            _ => false,
        };
        if !ok || glase.detail_fetches(*id).total == 0 {
            wrong.push(format!(
                "{} (id {id}): want {:?}, got {record:?} after {} requests",
                case.name,
                case.expect,
                glase.detail_fetches(*id).total
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    // The retried ones end in the dead-letter queue (the redrive policy, after 5 receives).
    let retried = corpus
        .iter()
        .filter(|(_, c)| matches!(c.expect, Expect::Retried(_)))
        .count();
    assert_eq!(p.queue_depth(&p.dlq_url).await, retried);
    assert_eq!(
        p.item_count().await,
        corpus.len() + 1,
        "one item per invoice id"
    );
}

// ------------------------------------------------------------------ queue messages

#[tokio::test]
async fn every_malformed_queue_message_is_dead_lettered_with_its_reason_and_stores_nothing() {
    let p = pipeline_without_glase().await;
    let bodies = [
        r#"{"invoiceId":1,"invoiceId":2}"#.to_owned(),
        r#"{"invoiceId":"1"}"#.to_owned(),
        r#"{"invoiceId":0}"#.to_owned(),
        r#"{"invoiceId":1.5}"#.to_owned(),
        r#"{"invoiceId":9223372036854775808}"#.to_owned(),
        "[1]".to_owned(),
        "null".to_owned(),
        "invoiceId=1".to_owned(),
        "[".repeat(100_000),
        format!(r#"{{"invoiceId": {}}}"#, nested(50_000)),
        format!(
            r#"{{"invoiceId":1,"pad":"{}","invoiceId":2}}"#,
            "x".repeat(200_000)
        ),
    ];
    for body in &bodies {
        p.sqs
            .send_message()
            .queue_url(&p.queue_url)
            .message_body(body)
            .send()
            .await
            .expect("send");
    }

    let stats = p.drain(DRAIN).await;

    assert_eq!(stats.failed, 0, "quarantined at once, not retried");
    assert_eq!(p.item_count().await, 0);
    let mut dead = Vec::new();
    while dead.len() < bodies.len() {
        let out = p
            .sqs
            .receive_message()
            .queue_url(&p.dlq_url)
            .max_number_of_messages(10)
            .message_attribute_names("All")
            .send()
            .await
            .expect("receive");
        assert!(
            !out.messages().is_empty(),
            "only {} dead-lettered",
            dead.len()
        );
        for m in out.messages() {
            let reason = m
                .message_attributes()
                .and_then(|a| a.get("rejectionReason"))
                .and_then(|v| v.string_value())
                .unwrap_or_default()
                .to_owned();
            dead.push((m.body().unwrap_or_default().to_owned(), reason));
            p.sqs
                .delete_message()
                .queue_url(&p.dlq_url)
                .receipt_handle(m.receipt_handle().unwrap_or_default())
                .send()
                .await
                .expect("delete");
        }
    }
    for body in &bodies {
        let reason = dead
            .iter()
            .find(|(b, _)| b == body)
            .map(|(_, r)| r.as_str());
        assert!(
            reason.is_some_and(|r| r.starts_with("malformed message: ")),
            "{}…: {reason:?}",
            &body[..body.len().min(40)]
        );
    }
}
