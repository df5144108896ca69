use std::sync::atomic::Ordering;

use glase_shared::memory::MemoryQueue;
use glase_shared::InvoiceId;
use glase_shared::WebhookToken;
use lambda_http::{Body, Request, Response};
use secrecy::SecretString;
use serde_json::Value;

use crate::{Webhook, MAX_BODY_BYTES};

/// The token in the fixtures' path.
const TOKEN: &str = "example-token-0123456789";
const NOTIFY: &str = "/notifications/example-token-0123456789";

const FIXTURE: &str = include_str!("../../../events/apigw-notification.json");
const FIXTURE_BASE64: &str = include_str!("../../../events/apigw-notification-base64.json");

/// The HTTP API v2 fixture with its method, path and body replaced, and no path parameters
/// (as `make dev`'s server and a route without `{token}` send it): the raw path is all there is.
fn request(method: &str, path: &str, body: &str) -> Request {
    let mut event: Value = serde_json::from_str(FIXTURE).unwrap();
    event["rawPath"] = path.into();
    event["requestContext"]["http"]["path"] = path.into();
    event["requestContext"]["http"]["method"] = method.into();
    event["body"] = body.into();
    event.as_object_mut().unwrap().remove("pathParameters");
    lambda_http::request::from_str(&event.to_string()).unwrap()
}

/// As API Gateway invokes the route `POST /notifications/{token}` through a custom domain whose
/// API mapping has a key: the raw path keeps the mapping key, the route's `{token}` is a path
/// parameter.
fn routed(raw_path: &str, token: &str, body: &str) -> Request {
    let mut event: Value = serde_json::from_str(FIXTURE).unwrap();
    event["rawPath"] = raw_path.into();
    event["requestContext"]["http"]["path"] = raw_path.into();
    event["pathParameters"] = serde_json::json!({ "token": token });
    event["body"] = body.into();
    lambda_http::request::from_str(&event.to_string()).unwrap()
}

fn webhook(token: Option<&str>) -> Webhook<MemoryQueue> {
    let token = token.unwrap_or(TOKEN);
    Webhook::new(
        MemoryQueue::default(),
        WebhookToken::Plain(SecretString::from(token.to_owned())),
    )
}

fn json_body(resp: &Response<Body>) -> Value {
    serde_json::from_slice(resp.body().as_ref()).unwrap()
}

fn ids(app: &Webhook<MemoryQueue>) -> Vec<u64> {
    app.queue().sent().into_iter().map(InvoiceId::get).collect()
}

#[tokio::test]
async fn webhook_queues_the_fixture_notification_and_replies_200() {
    let app = webhook(None);
    let req = lambda_http::request::from_str(FIXTURE).unwrap();

    let resp = app.handle(req).await;

    assert_eq!(resp.status(), 200);
    assert_eq!(
        json_body(&resp),
        serde_json::json!({"status": "accepted", "invoiceId": 25153})
    );
    assert_eq!(resp.headers()["content-type"], "application/json");
    assert_eq!(ids(&app), vec![25153]);
}

#[tokio::test]
async fn webhook_decodes_base64_bodies_from_api_gateway() {
    let app = webhook(None);
    let req = lambda_http::request::from_str(FIXTURE_BASE64).unwrap();

    let resp = app.handle(req).await;

    assert_eq!(resp.status(), 200);
    assert_eq!(ids(&app), vec![25153]);
}

#[tokio::test]
async fn webhook_ignores_unknown_fields() {
    let app = webhook(None);

    let resp = app
        .handle(request(
            "POST",
            NOTIFY,
            r#"{"invoiceId": 7, "issuer": "x"}"#,
        ))
        .await;

    assert_eq!(resp.status(), 200);
    assert_eq!(ids(&app), vec![7]);
}

#[tokio::test]
async fn webhook_replies_400_with_a_reason_for_bad_input_and_queues_nothing() {
    let app = webhook(None);
    let cases = [
        ("{not json", "not valid JSON"),
        ("[1]", "JSON object"),
        ("{}", "missing"),
        (r#"{"invoiceId": "25153"}"#, "a string"),
        (r#"{"invoiceId": 0}"#, "between 1 and"),
        (r#"{"invoiceId": -3}"#, "between 1 and"),
        (r#"{"invoiceId": 1.5}"#, "whole number"),
        (r#"{"invoiceId": true}"#, "a boolean"),
        (r#"{"invoiceId": null}"#, "null"),
        ("", "not valid JSON"),
    ];
    for (body, reason) in cases {
        let resp = app.handle(request("POST", NOTIFY, body)).await;

        assert_eq!(resp.status(), 400, "{body}");
        let json = json_body(&resp);
        assert_eq!(json["error"], "invalid_notification");
        assert!(
            json["message"].as_str().unwrap().contains(reason),
            "{body}: {json}"
        );
    }
    assert!(ids(&app).is_empty());
}

#[tokio::test]
async fn webhook_replies_413_for_a_body_over_4_kib() {
    let app = webhook(None);
    let body = format!(
        r#"{{"invoiceId": 1, "pad": "{}"}}"#,
        "x".repeat(MAX_BODY_BYTES)
    );

    let resp = app.handle(request("POST", NOTIFY, &body)).await;

    assert_eq!(resp.status(), 413);
    assert!(ids(&app).is_empty());
}

#[tokio::test]
async fn webhook_replies_405_for_other_methods_and_404_for_other_paths() {
    let app = webhook(None);

    let get = app.handle(request("GET", NOTIFY, "")).await;
    let other = app
        .handle(request("POST", "/invoices", r#"{"invoiceId": 1}"#))
        .await;
    let deeper = app
        .handle(request("POST", "/notifications/a/b", r#"{"invoiceId": 1}"#))
        .await;

    assert_eq!(get.status(), 405);
    assert_eq!(get.headers()["allow"], "POST");
    assert_eq!(other.status(), 404);
    assert_eq!(deeper.status(), 404);
    assert_eq!(json_body(&other)["error"], "not_found");
    assert!(ids(&app).is_empty());
}

#[tokio::test]
async fn webhook_replies_503_when_queue_is_down() {
    let app = webhook(None);
    app.queue().fail.store(true, Ordering::SeqCst);

    let resp = app
        .handle(request("POST", NOTIFY, r#"{"invoiceId": 25153}"#))
        .await;

    assert_eq!(resp.status(), 503);
    assert_eq!(json_body(&resp)["error"], "unavailable");
    assert!(
        !json_body(&resp).to_string().contains("memory queue"),
        "internals stay private"
    );
}

#[tokio::test]
async fn webhook_with_a_token_accepts_only_the_token_path() {
    let app = webhook(Some("s3cret-token"));
    let body = r#"{"invoiceId": 9}"#;

    let no_token = app.handle(request("POST", "/notifications", body)).await;
    let wrong = app
        .handle(request("POST", "/notifications/guess", body))
        .await;
    let right = app
        .handle(request("POST", "/notifications/s3cret-token", body))
        .await;

    assert_eq!(no_token.status(), 401);
    assert_eq!(wrong.status(), 401);
    assert!(!json_body(&wrong).to_string().contains("s3cret"));
    assert_eq!(right.status(), 200);
    assert_eq!(ids(&app), vec![9]);
}

#[tokio::test]
async fn webhook_refuses_any_token_but_the_configured_one() {
    let app = webhook(None);

    let resp = app
        .handle(request(
            "POST",
            "/notifications/anything",
            r#"{"invoiceId": 9}"#,
        ))
        .await;

    assert_eq!(resp.status(), 401);
    assert!(ids(&app).is_empty());
}

#[tokio::test]
async fn webhook_routes_exactly_as_api_gateway_does_no_trailing_slash() {
    let app = webhook(None);
    let body = r#"{"invoiceId": 9}"#;

    let trailing = app
        .handle(request("POST", &format!("{NOTIFY}/"), body))
        .await;
    let empty_token = app.handle(request("POST", "/notifications/", body)).await;
    let double = app
        .handle(request("POST", &format!("/{NOTIFY}"), body))
        .await;

    assert_eq!(trailing.status(), 404);
    assert_eq!(empty_token.status(), 404);
    assert_eq!(double.status(), 404);
    assert!(ids(&app).is_empty());
}

#[tokio::test]
async fn webhook_accepts_a_token_given_only_as_its_sha256() {
    let hashed = |token: &str| {
        use sha2::Digest;
        let digest = hex::encode(sha2::Sha256::digest(token.as_bytes()));
        Webhook::new(
            MemoryQueue::default(),
            WebhookToken::sha256_hex(&digest).unwrap(),
        )
    };
    let right = hashed(TOKEN);
    let wrong = hashed("another-token-0123456789");

    let accepted = right
        .handle(request("POST", NOTIFY, r#"{"invoiceId": 9}"#))
        .await;
    let refused = wrong
        .handle(request("POST", NOTIFY, r#"{"invoiceId": 9}"#))
        .await;

    assert_eq!(accepted.status(), 200);
    assert_eq!(refused.status(), 401);
    assert_eq!(ids(&right), vec![9]);
    assert!(ids(&wrong).is_empty());
}

#[tokio::test]
async fn webhook_reads_the_token_from_the_route_parameter_behind_a_mapped_custom_domain() {
    let app = webhook(None);
    let body = r#"{"invoiceId": 9}"#;

    let mapped = app
        .handle(routed(&format!("/prod{NOTIFY}"), TOKEN, body))
        .await;
    let wrong = app
        .handle(routed("/prod/notifications/guess", "guess", body))
        .await;

    assert_eq!(mapped.status(), 200, "{:?}", json_body(&mapped));
    assert_eq!(wrong.status(), 401);
    assert_eq!(ids(&app), vec![9]);
}
