//! The webhook: Glase POSTs `{"invoiceId": N}`; we reply 200 only once SQS holds it.
//!
//! Glase retries any non-200 for ~32 h, so every failure that is ours (queue down) must be a
//! 5xx, and only input that can never succeed gets a 4xx.

use std::time::Instant;

use glase_shared::ports::NotificationQueue;
use glase_shared::telemetry::error_chain;
use glase_shared::InvoiceId;
use http::{header, Method, StatusCode};
use lambda_http::{Body, Request, Response};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use subtle::ConstantTimeEq;

/// Glase's notification is ~20 bytes; anything this large is not from Glase.
pub const MAX_BODY_BYTES: usize = 4 * 1024;

pub const PATH: &str = "notifications";

pub struct Webhook<Q> {
    queue: Q,
    token: Option<SecretString>,
}

impl<Q: NotificationQueue> Webhook<Q> {
    pub fn new(queue: Q, token: Option<SecretString>) -> Self {
        Self { queue, token }
    }

    pub fn queue(&self) -> &Q {
        &self.queue
    }

    /// Handles one HTTP API request. Never fails: every outcome is an HTTP response.
    pub async fn handle(&self, req: Request) -> Response<Body> {
        let started = Instant::now();
        let (reply, invoice_id) = self.route(&req).await;
        let status = reply.status.as_u16();
        // One line per request. The path is not logged: it may carry the webhook token.
        tracing::info!(
            invoice_id = invoice_id.map(InvoiceId::get),
            status,
            outcome = reply.outcome,
            reason = reply.reason.as_deref(),
            latency_ms = started.elapsed().as_secs_f64() * 1000.0,
            "notification"
        );
        reply.into_response()
    }

    async fn route(&self, req: &Request) -> (Reply, Option<InvoiceId>) {
        let mut segments = req.uri().path().trim_matches('/').split('/');
        let (first, presented, rest) = (segments.next(), segments.next(), segments.next());
        if first != Some(PATH) || rest.is_some() {
            return (
                Reply::error(StatusCode::NOT_FOUND, "not_found", "no such resource"),
                None,
            );
        }
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
        match (&self.token, presented) {
            (None, None) => true,
            // Without a configured token, /notifications/{anything} is not a route.
            (None, Some(_)) => false,
            (Some(_), None) => false,
            (Some(expected), Some(given)) => expected
                .expose_secret()
                .as_bytes()
                .ct_eq(given.as_bytes())
                .into(),
        }
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
