//! Routes: Glase's API (`/api/…`, with faults) and the admin API (`/_sim/…`, never faulted).

use std::collections::HashMap;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use glase_shared::{Amount, Payer, PurchaseTime};
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};

use crate::config::{EndpointFaults, Faults, ReportFormat};
use crate::model::{NewInvoice, NotificationStatus, SimInvoice};
use crate::report::{parse_report_date, report_csv_with};
use crate::sim::Issuer;
use crate::Sim;

/// How long a "hang" fault holds a request open (unless the simulator stops first).
pub const HANG_FOR: Duration = Duration::from_secs(300);

/// The header carrying sha256(issuer name + issuer secret).
pub const AUTH_HEADER: &str = "x-auth-token";

pub(crate) fn router(sim: Sim) -> Router {
    Router::new()
        .route("/api/invoice/{id}", get(invoice_details))
        .route("/api/report", get(report))
        .route("/_sim/health", get(health))
        .route("/_sim/invoices", get(list_invoices).post(create_invoice))
        .route("/_sim/invoices/{id}", get(get_invoice))
        .route("/_sim/invoices/{id}/attempts", get(get_attempts))
        .route("/_sim/stats", get(stats))
        .route("/_sim/faults", get(get_faults).put(put_faults))
        .route(
            "/_sim/report-format",
            get(get_report_format).put(put_report_format),
        )
        .route("/_sim/outage", get(get_outage).put(put_outage))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such endpoint") })
        .layer(middleware::from_fn(log_request))
        .with_state(sim)
}

/// One log line per request: method, path (no query, no headers), status, time taken.
async fn log_request(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let started = std::time::Instant::now();
    let response = next.run(req).await;
    tracing::info!(%method, %path, status = response.status().as_u16(),
        elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX), "request");
    response
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

/// An answer other than success: a status and the message for `{"error": …}`.
struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        error(self.0, self.1)
    }
}

// ---------------------------------------------------------------------------------------------
// Glase's API

#[derive(Clone, Copy)]
enum Endpoint {
    Invoice,
    Report,
}

/// Applies the endpoint's faults: latency first, then at most one of 500, 429 or a hang.
/// `None` means answer normally.
async fn inject_faults(sim: &Sim, endpoint: Endpoint) -> Option<Response> {
    let (faults, roll) = sim.draw_fault();
    let f: EndpointFaults = match endpoint {
        Endpoint::Invoice => faults.invoice,
        Endpoint::Report => faults.report,
    };
    if !f.latency.is_zero() {
        tokio::time::sleep(f.latency).await;
    }
    if roll < f.error_rate {
        return Some(error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "simulated internal error",
        ));
    }
    if roll < f.error_rate + f.too_many_rate {
        let mut response = error(StatusCode::TOO_MANY_REQUESTS, "simulated rate limit");
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return Some(response);
    }
    if roll < f.error_rate + f.too_many_rate + f.hang_rate {
        let mut stopped = sim.inner.stopped.subscribe();
        tokio::select! {
            _ = tokio::time::sleep(HANG_FOR) => {}
            _ = stopped.wait_for(|s| *s) => {}
        }
        return Some(error(StatusCode::GATEWAY_TIMEOUT, "simulated hang ended"));
    }
    None
}

/// The issuer named by `?issuer=` if the `X-Auth-Token` header is its token.
fn authorize<'a>(
    sim: &'a Sim,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<&'a Issuer, ApiError> {
    let unauthorized = || {
        ApiError(
            StatusCode::UNAUTHORIZED,
            "issuer and X-Auth-Token do not match a known issuer".into(),
        )
    };
    let issuer = query
        .get("issuer")
        .and_then(|name| sim.issuer(name))
        .ok_or_else(unauthorized)?;
    let presented = headers
        .get(AUTH_HEADER)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(unauthorized)?;
    if issuer.token.matches(presented) {
        Ok(issuer)
    } else {
        Err(unauthorized())
    }
}

async fn invoice_details(
    State(sim): State<Sim>,
    Path(raw_id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let id = raw_id.parse::<u64>().ok();
    if let Some(id) = id {
        sim.record_fetch(id);
    }
    if let Some(fault) = inject_faults(&sim, Endpoint::Invoice).await {
        return fault;
    }
    let issuer = match authorize(&sim, &query, &headers) {
        Ok(issuer) => issuer,
        Err(e) => return e.into_response(),
    };
    if let Some((id, reply)) = id.and_then(|id| Some((id, sim.scripted_reply(id)?))) {
        if reply.is_ok() {
            sim.record_fetch_ok(id);
        }
        return reply.into_response();
    }
    // Another issuer's invoice is indistinguishable from a missing one.
    let Some(invoice) = id
        .and_then(|id| sim.invoice(id))
        .filter(|inv| inv.issuer == issuer.name)
    else {
        return error(StatusCode::NOT_FOUND, "invoice not found");
    };
    sim.record_fetch_ok(invoice.id.get());
    (
        [(header::CONTENT_TYPE, "application/json")],
        invoice.details_json(sim.time_zone()),
    )
        .into_response()
}

async fn report(
    State(sim): State<Sim>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Some(fault) = inject_faults(&sim, Endpoint::Report).await {
        return fault;
    }
    let issuer = match authorize(&sim, &query, &headers) {
        Ok(issuer) => issuer,
        Err(e) => return e.into_response(),
    };
    let date = |name: &str| match query.get(name) {
        Some(text) => parse_report_date(name, text),
        None => Err(format!("{name} is required, as ddMMyyyy (e.g. 15052015)")),
    };
    let (start, end) = match (date("startDate"), date("endDate")) {
        (Ok(s), Ok(e)) if s <= e => (s, e),
        (Ok(_), Ok(_)) => {
            return error(
                StatusCode::BAD_REQUEST,
                "startDate must not be after endDate",
            )
        }
        (Err(msg), _) | (_, Err(msg)) => return error(StatusCode::BAD_REQUEST, msg),
    };
    if sim.record_report_request(start, end) {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "simulated internal error (a refused report day)",
        );
    }
    let invoices = sim.invoices_of(&issuer.name);
    let body = report_csv_with(&invoices, start, end, sim.time_zone(), sim.report_format());
    ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], body).into_response()
}

// ---------------------------------------------------------------------------------------------
// Admin API

async fn health() -> Json<Value> {
    Json(json!({ "ok": true }))
}

/// The body of `POST /_sim/invoices`. Only `amount` is required.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateBody {
    issuer: Option<String>,
    /// `"59.99"` or `59.99`, read exactly either way.
    amount: Option<Box<RawValue>>,
    currency: Option<String>,
    description: Option<String>,
    reference: Option<String>,
    payer: Option<PayerBody>,
    notify_url: Option<String>,
    /// ISO 8601 (`2015-05-15T15:37:33Z`) or Glase's `15.05.2015 15:37:33` in the sim's zone.
    purchase_time: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PayerBody {
    msisdn: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    street: Option<String>,
    city: Option<String>,
    zip: Option<String>,
    country: Option<String>,
}

fn new_invoice_from(sim: &Sim, body: &[u8]) -> Result<NewInvoice, String> {
    let body: CreateBody =
        serde_json::from_slice(body).map_err(|e| format!("invalid JSON body: {e}"))?;
    let raw = body.amount.ok_or("amount is required, e.g. \"59.99\"")?;
    let amount = match raw.get().trim() {
        quoted if quoted.starts_with('"') => {
            serde_json::from_str::<String>(quoted).map_err(|e| format!("invalid amount: {e}"))?
        }
        number => Amount::from_json_number(number)
            .map_err(|e| format!("invalid amount: {e}"))?
            .to_string(),
    };
    let purchase_time = match body.purchase_time {
        None => None,
        Some(text) => Some(parse_purchase_time(&text, sim)?),
    };
    let defaults = NewInvoice::default();
    Ok(NewInvoice {
        issuer: body
            .issuer
            .unwrap_or_else(|| sim.default_issuer().to_owned()),
        amount,
        currency: body.currency.unwrap_or(defaults.currency),
        description: body.description.unwrap_or(defaults.description),
        reference: body.reference.unwrap_or(defaults.reference),
        payer: body.payer.map(|p| Payer {
            msisdn: p.msisdn,
            first_name: p.first_name,
            last_name: p.last_name,
            street: p.street,
            city: p.city,
            zip: p.zip,
            country: p.country,
        }),
        notify_url: body.notify_url,
        purchase_time,
    })
}

fn parse_purchase_time(text: &str, sim: &Sim) -> Result<Timestamp, String> {
    if let Ok(t) = PurchaseTime::parse_glase(text, sim.time_zone()) {
        return Ok(t.timestamp());
    }
    text.parse::<Timestamp>().map_err(|_| {
        format!("purchaseTime must be ISO 8601 with an offset (2015-05-15T15:37:33Z) or dd.MM.yyyy HH:mm:ss, got {text:?}")
    })
}

fn invoice_view(sim: &Sim, invoice: &SimInvoice) -> Value {
    let id = invoice.id.get();
    let mut view = invoice.admin_json(sim.time_zone());
    view["notification"] = json!(sim.notification_status(id));
    view["attempts"] = json!(sim.attempts(id).len());
    view["detailFetches"] = json!(sim.detail_fetches(id));
    view
}

async fn create_invoice(State(sim): State<Sim>, body: Bytes) -> Response {
    let new = match new_invoice_from(&sim, &body) {
        Ok(new) => new,
        Err(msg) => return error(StatusCode::BAD_REQUEST, msg),
    };
    match sim.pay(new).await {
        Ok(invoice) => (StatusCode::CREATED, Json(invoice_view(&sim, &invoice))).into_response(),
        Err(e) => error(StatusCode::BAD_REQUEST, e.to_string()),
    }
}

async fn list_invoices(State(sim): State<Sim>) -> Json<Value> {
    Json(Value::Array(
        sim.invoices()
            .iter()
            .map(|inv| invoice_view(&sim, inv))
            .collect(),
    ))
}

fn known_invoice(sim: &Sim, raw_id: &str) -> Result<SimInvoice, ApiError> {
    raw_id
        .parse::<u64>()
        .ok()
        .and_then(|id| sim.invoice(id))
        .ok_or_else(|| ApiError(StatusCode::NOT_FOUND, format!("no invoice {raw_id:?}")))
}

async fn get_invoice(State(sim): State<Sim>, Path(raw_id): Path<String>) -> Response {
    match known_invoice(&sim, &raw_id) {
        Ok(invoice) => Json(invoice_view(&sim, &invoice)).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn get_attempts(State(sim): State<Sim>, Path(raw_id): Path<String>) -> Response {
    match known_invoice(&sim, &raw_id) {
        Ok(invoice) => {
            let id = invoice.id.get();
            Json(json!({
                "invoiceId": id,
                "notifyUrl": invoice.notify_url,
                "notification": sim.notification_status(id),
                "attempts": sim.attempts(id),
            }))
            .into_response()
        }
        Err(e) => e.into_response(),
    }
}

async fn stats(State(sim): State<Sim>) -> Json<Value> {
    let invoices = sim.stats();
    let count =
        |status: NotificationStatus| invoices.iter().filter(|s| s.notification == status).count();
    Json(json!({
        "invoices": invoices,
        "totals": {
            "invoices": invoices.len(),
            "detailFetches": {
                "ok": invoices.iter().map(|s| s.detail_fetches.ok).sum::<usize>(),
                "total": invoices.iter().map(|s| s.detail_fetches.total).sum::<usize>(),
            },
            "notifications": {
                "notScheduled": count(NotificationStatus::NotScheduled),
                "pending": count(NotificationStatus::Pending),
                "delivered": count(NotificationStatus::Delivered),
                "gaveUp": count(NotificationStatus::GaveUp),
                "stopped": count(NotificationStatus::Stopped),
            },
            "attempts": invoices.iter().map(|s| s.attempts).sum::<usize>(),
        },
    }))
}

async fn get_faults(State(sim): State<Sim>) -> Json<Faults> {
    Json(sim.faults())
}

async fn put_faults(State(sim): State<Sim>, body: Bytes) -> Response {
    let faults: Faults = match serde_json::from_slice(&body) {
        Ok(f) => f,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("invalid faults JSON: {e}")),
    };
    if let Err(msg) = faults.validate() {
        return error(StatusCode::BAD_REQUEST, msg);
    }
    sim.set_faults(faults);
    Json(sim.faults()).into_response()
}

async fn get_report_format(State(sim): State<Sim>) -> Json<ReportFormat> {
    Json(sim.report_format())
}

async fn put_report_format(State(sim): State<Sim>, body: Bytes) -> Response {
    match serde_json::from_slice::<ReportFormat>(&body) {
        Ok(format) => {
            sim.set_report_format(format);
            Json(sim.report_format()).into_response()
        }
        Err(e) => error(
            StatusCode::BAD_REQUEST,
            format!("invalid report format JSON: {e}"),
        ),
    }
}

/// The body of `PUT /_sim/outage`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Outage {
    webhook: bool,
}

async fn get_outage(State(sim): State<Sim>) -> Json<Value> {
    Json(json!({ "webhook": sim.webhook_outage() }))
}

async fn put_outage(State(sim): State<Sim>, body: Bytes) -> Response {
    match serde_json::from_slice::<Outage>(&body) {
        Ok(outage) => {
            sim.set_webhook_outage(outage.webhook);
            Json(json!({ "webhook": sim.webhook_outage() })).into_response()
        }
        Err(e) => error(
            StatusCode::BAD_REQUEST,
            format!("invalid outage JSON (expected {{\"webhook\": true|false}}): {e}"),
        ),
    }
}
