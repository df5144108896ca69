//! Serves the webhook handler over plain HTTP the way API Gateway's HTTP API invokes it:
//! each request becomes a payload-format-2.0 event, parsed by lambda_http as in Lambda.
//! Only the routes template.yaml declares reach the handler — `POST /notifications`, or
//! `POST /notifications/{token}` when a token is set — so a path API Gateway would refuse
//! (`/notifications/`, `/notifications/<token>/`, a GET) gets API Gateway's own 404 here too.

use std::sync::Arc;

use axum::body::Body as AxumBody;
use axum::extract::Request as AxumRequest;
use axum::response::{IntoResponse, Response as AxumResponse};
use axum::Router;
use base64::Engine;
use glase_shared::ports::NotificationQueue;
use glase_webhook::Webhook;
use http::StatusCode;
use serde_json::{json, Map, Value};

/// API Gateway's HTTP API accepts payloads up to 10 MB; the handler enforces its own limit.
const MAX_EVENT_BODY: usize = 10 * 1024 * 1024;

pub fn router<Q: NotificationQueue>(webhook: Arc<Webhook<Q>>, with_token: bool) -> Router {
    Router::new().fallback(move |req: AxumRequest| {
        let webhook = Arc::clone(&webhook);
        async move {
            if !routed(req.method(), req.uri().path(), with_token) {
                // What API Gateway answers for a request no route matches.
                return (
                    StatusCode::NOT_FOUND,
                    [(http::header::CONTENT_TYPE, "application/json")],
                    r#"{"message":"Not Found"}"#,
                )
                    .into_response();
            }
            invoke(&webhook, req).await
        }
    })
}

/// Whether API Gateway would route this request to the function: the route key is
/// `POST /notifications` or `POST /notifications/{token}`, where `{token}` is exactly one
/// non-empty path segment and a trailing slash is part of the path (not matched).
pub fn routed(method: &http::Method, path: &str, with_token: bool) -> bool {
    if method != http::Method::POST {
        return false;
    }
    match path.strip_prefix("/notifications") {
        Some("") => !with_token,
        Some(rest) => {
            with_token
                && rest
                    .strip_prefix('/')
                    .is_some_and(|token| !token.is_empty() && !token.contains('/'))
        }
        None => false,
    }
}

async fn invoke<Q: NotificationQueue>(webhook: &Webhook<Q>, req: AxumRequest) -> AxumResponse {
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_EVENT_BODY).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "payload too large").into_response();
    };
    let event = http_api_v2_event(&parts, &bytes);
    let request = match lambda_http::request::from_str(&event.to_string()) {
        Ok(r) => r,
        Err(e) => {
            return (StatusCode::INTERNAL_SERVER_ERROR, format!("bad event: {e}")).into_response()
        }
    };
    let response = webhook.handle(request).await;
    let (parts, body) = response.into_parts();
    let bytes: Vec<u8> = body.as_ref().to_vec();
    AxumResponse::from_parts(parts, AxumBody::from(bytes))
}

/// The event API Gateway (HTTP API, payload format 2.0) would send for this request.
pub fn http_api_v2_event(parts: &http::request::Parts, body: &[u8]) -> Value {
    let mut headers = Map::new();
    for (name, value) in &parts.headers {
        let value = value.to_str().unwrap_or_default();
        let entry = headers
            .entry(name.as_str().to_owned())
            .or_insert_with(|| Value::String(String::new()));
        if let Value::String(s) = entry {
            if !s.is_empty() {
                s.push(',');
            }
            s.push_str(value);
        }
    }
    let (body, is_base64) = match std::str::from_utf8(body) {
        Ok(text) => (text.to_owned(), false),
        Err(_) => (base64::engine::general_purpose::STANDARD.encode(body), true),
    };
    let now = jiff::Timestamp::now();
    let path = parts.uri.path();
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": parts.uri.query().unwrap_or_default(),
        "headers": headers,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": "localhost",
            "domainPrefix": "localhost",
            "http": {
                "method": parts.method.as_str(),
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": parts.headers.get(http::header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or_default(),
            },
            "requestId": uuid::Uuid::new_v4().to_string(),
            "routeKey": "$default",
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S %z").to_string(),
            "timeEpoch": now.as_millisecond(),
        },
        "body": body,
        "isBase64Encoded": is_base64,
    })
}

#[cfg(test)]
mod tests {
    use super::routed;
    use http::Method;

    #[test]
    fn only_the_templates_routes_reach_the_handler_like_api_gateway() {
        let post = &Method::POST;
        assert!(routed(post, "/notifications", false));
        assert!(!routed(post, "/notifications/", false));
        assert!(!routed(post, "/notifications/abc", false));
        assert!(!routed(&Method::GET, "/notifications", false));
        assert!(!routed(post, "/", false));
        assert!(!routed(post, "/notificationsX", false));

        assert!(routed(post, "/notifications/s3cret-token", true));
        assert!(!routed(post, "/notifications/s3cret-token/", true));
        assert!(!routed(post, "/notifications/s3cret-token/x", true));
        assert!(!routed(post, "/notifications/", true));
        assert!(!routed(post, "/notifications", true));
        assert!(!routed(&Method::PUT, "/notifications/s3cret-token", true));
    }
}
