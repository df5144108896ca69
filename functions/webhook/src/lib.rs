//! The webhook: Glase POSTs `{"invoiceId": N}`; we reply 200 only once SQS holds it.
//!
//! Glase retries any non-200 for ~32 h, so every failure that is ours (queue down) must be a
//! 5xx, and only input that can never succeed gets a 4xx.

use std::time::Instant;

use glase_shared::adapters::sqs::SqsQueue;
use glase_shared::adapters::SdkConfig;
use glase_shared::ports::NotificationQueue;
use glase_shared::telemetry::error_chain;
use glase_shared::{InvoiceId, WebhookToken};
use http::{header, Method, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::json;

mod config;
pub use config::{WebhookConfig, SDK_TIMEOUTS};

/// Glase's notification is ~20 bytes; anything this large is not from Glase.
pub const MAX_BODY_BYTES: usize = 4 * 1024;

/// The route is `POST /notifications/{token}`, as API Gateway routes it.
pub const PATH: &str = "notifications";

/// The EMF metric names the alarms use (see docs/runbook.md).
pub mod metric {
    pub const ACCEPTED: &str = "NotificationsAccepted";
    /// Any 4xx: nothing was queued.
    pub const REFUSED: &str = "NotificationsRefused";
    /// 401: a changed token or a wrong URL at Glase loses every payment unless someone looks.
    pub const UNAUTHORIZED: &str = "NotificationsUnauthorized";
    /// 400/413: a body that can never be a notification.
    pub const INVALID: &str = "NotificationsInvalid";
    /// 503: the queue refused; Glase retries.
    pub const UNAVAILABLE: &str = "NotificationsUnavailable";
}

pub struct Webhook<Q> {
    queue: Q,
    token: WebhookToken,
}

impl Webhook<SqsQueue> {
    /// The webhook as deployed, used by `main`, `make dev`, the tests and the bench alike:
    /// SQS from the shared AWS config, its connection opened during init when
    /// `PRIME_CONNECTIONS` says so.
    pub async fn from_config(config: &WebhookConfig, aws: &SdkConfig) -> Self {
        let queue = SqsQueue::new(aws_sdk_sqs::Client::new(aws), config.queue_url.clone());
        if config.prime_connections {
            queue.prime().await;
        }
        Self::new(queue, config.webhook_token.clone())
    }
}

impl<Q: NotificationQueue> Webhook<Q> {
    pub fn new(queue: Q, token: WebhookToken) -> Self {
        Self { queue, token }
    }

    /// The queue, for tests that look at what was sent.
    #[cfg(any(test, feature = "test-util"))]
    pub fn queue(&self) -> &Q {
        &self.queue
    }

    /// Handles one HTTP API request. Never fails: every outcome is an HTTP response.
    pub async fn handle(&self, req: Request) -> Response<Body> {
        let started = Instant::now();
        let (reply, invoice_id) = self.route(&req).await;
        let status = reply.status.as_u16();
        count(reply.status);
        // One line per request. The path is not logged: it carries the webhook token.
        tracing::info!(
            invoice_id = invoice_id.map(InvoiceId::get),
            status,
            outcome = reply.outcome,
            reason = reply.reason.as_deref(),
            latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            "notification"
        );
        reply.into_response()
    }

    async fn route(&self, req: &Request) -> (Reply, Option<InvoiceId>) {
        let Some(presented) = presented_token(req) else {
            return (
                Reply::error(StatusCode::NOT_FOUND, "not_found", "no such resource"),
                None,
            );
        };
        if !self.token_ok(presented) {
            return (
                Reply::error(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "missing or wrong webhook token",
                ),
                None,
            );
        }
        if req.method() != Method::POST {
            return (
                Reply::error(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "method_not_allowed",
                    "use POST",
                ),
                None,
            );
        }
        let body: &[u8] = req.body().as_ref();
        if body.len() > MAX_BODY_BYTES {
            let msg = format!("body is larger than {MAX_BODY_BYTES} bytes");
            return (
                Reply::error(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", &msg),
                None,
            );
        }
        let id = match InvoiceId::from_notification(body) {
            Ok(id) => id,
            Err(e) => {
                return (
                    Reply::error(
                        StatusCode::BAD_REQUEST,
                        "invalid_notification",
                        &e.to_string(),
                    ),
                    None,
                )
            }
        };
        match self.queue.enqueue(id).await {
            Ok(()) => (Reply::accepted(id), Some(id)),
            Err(e) => {
                tracing::error!(invoice_id = id.get(), error = %error_chain(&e), "could not queue notification; Glase will retry");
                let reply = Reply::error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "could not queue the notification, retry later",
                );
                (reply, Some(id))
            }
        }
    }

    fn token_ok(&self, presented: Option<&str>) -> bool {
        presented.is_some_and(|given| self.token.matches(given))
    }
}

/// The token the request presents: `Some(None)` for `/notifications` without one, `None` for a
/// path that is not ours (404).
///
/// API Gateway's route `POST /notifications/{token}` hands the token over as a path parameter;
/// that comes first, because the raw path also carries a custom domain's API mapping key
/// (`/prod/notifications/<token>`), which would otherwise turn every notification into a 404.
/// Without the parameter (`make dev`'s server, a test) the raw path must be exactly
/// `/notifications/{token}` (or `/notifications`, refused as 401): API Gateway does not route a
/// trailing slash or deeper paths, and neither do we.
fn presented_token(req: &Request) -> Option<Option<&str>> {
    if let Some(token) = req.path_parameters_ref().and_then(|p| p.first("token")) {
        return (!token.is_empty()).then_some(Some(token));
    }
    let path = req.uri().path();
    let mut segments = path.strip_prefix('/').unwrap_or(path).split('/');
    let (first, presented, rest) = (segments.next(), segments.next(), segments.next());
    if first != Some(PATH) || rest.is_some() || presented == Some("") {
        return None;
    }
    Some(presented)
}

fn count(status: StatusCode) {
    let name = match status.as_u16() {
        200 => metric::ACCEPTED,
        401 => metric::UNAUTHORIZED,
        400 | 413 => metric::INVALID,
        503 => metric::UNAVAILABLE,
        _ => "",
    };
    if status.is_client_error() {
        metrics::counter!(metric::REFUSED).increment(1);
    }
    if !name.is_empty() {
        metrics::counter!(name).increment(1);
    }
}

struct Reply {
    status: StatusCode,
    outcome: &'static str,
    reason: Option<String>,
    body: serde_json::Value,
}

impl Reply {
    fn accepted(id: InvoiceId) -> Self {
        Self {
            status: StatusCode::OK,
            outcome: "accepted",
            reason: None,
            body: json!({"status": "accepted", "invoiceId": id.get()}),
        }
    }

    fn error(status: StatusCode, code: &'static str, message: &str) -> Self {
        Self {
            status,
            outcome: code,
            reason: Some(message.to_owned()),
            body: json!({"error": code, "message": message}),
        }
    }

    fn into_response(self) -> Response<Body> {
        let mut builder = Response::builder()
            .status(self.status)
            .header(header::CONTENT_TYPE, "application/json");
        if self.status == StatusCode::METHOD_NOT_ALLOWED {
            builder = builder.header(header::ALLOW, "POST");
        }
        builder
            .body(Body::Text(self.body.to_string()))
            .unwrap_or_else(|_| Response::new(Body::Empty))
    }
}

#[cfg(test)]
mod tests;
