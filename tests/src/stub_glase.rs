//! A small scriptable Glase: checks the token like Glase, serves invoices from a map, and
//! can be told to answer the next requests for an id with a given status.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use glase_shared::{AuthToken, IssuerName};
use secrecy::SecretString;

pub const ISSUER: &str = "abc";
pub const SECRET: &str = "SECRET_STRING_FOR_ISSUER";

#[derive(Default)]
struct Inner {
    invoices: HashMap<u64, String>,
    script: HashMap<u64, VecDeque<u16>>,
    requests: HashMap<u64, usize>,
    ok_responses: HashMap<u64, usize>,
    latency: Duration,
}

#[derive(Clone)]
pub struct StubGlase {
    inner: Arc<Mutex<Inner>>,
    pub base_url: String,
}

impl StubGlase {
    pub async fn start() -> Self {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let token = AuthToken::derive(
            &IssuerName::parse(ISSUER).unwrap(),
            &SecretString::from(SECRET),
        );
        let app = Router::new()
            .route("/api/invoice/{id}", get(invoice))
            .with_state((Arc::clone(&inner), Arc::new(token)));
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { inner, base_url }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Serves `body` (Glase's JSON, verbatim) for invoice `id`.
    pub fn put_invoice(&self, id: u64, body: impl Into<String>) {
        self.lock().invoices.insert(id, body.into());
    }

    /// Answers the next request for `id` with `status` (and an empty body), once per call.
    pub fn fail_next(&self, id: u64, status: u16) {
        self.lock().script.entry(id).or_default().push_back(status);
    }

    pub fn set_latency(&self, latency: Duration) {
        self.lock().latency = latency;
    }

    /// Details requests received for `id` (with a valid token).
    pub fn requests(&self, id: u64) -> usize {
        self.lock().requests.get(&id).copied().unwrap_or(0)
    }

    /// Successful (200) details responses served for `id`.
    pub fn ok_responses(&self, id: u64) -> usize {
        self.lock().ok_responses.get(&id).copied().unwrap_or(0)
    }
}

type AppState = (Arc<Mutex<Inner>>, Arc<AuthToken>);

async fn invoice(
    State((inner, token)): State<AppState>,
    Path(id): Path<u64>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let presented = headers
        .get("x-auth-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if query.get("issuer").map(String::as_str) != Some(ISSUER) || !token.matches(presented) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    if headers.get("accept").and_then(|v| v.to_str().ok()) != Some("application/json") {
        return StatusCode::NOT_ACCEPTABLE.into_response();
    }
    let (latency, scripted, body) = {
        let mut g = inner.lock().unwrap_or_else(|p| p.into_inner());
        *g.requests.entry(id).or_default() += 1;
        let scripted = g.script.get_mut(&id).and_then(VecDeque::pop_front);
        (g.latency, scripted, g.invoices.get(&id).cloned())
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    if let Some(status) = scripted {
        return StatusCode::from_u16(status)
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            .into_response();
    }
    match body {
        Some(body) => {
            *inner
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .ok_responses
                .entry(id)
                .or_default() += 1;
            ([("content-type", "application/json")], body).into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Glase's documented example with its id, amount and reference replaced.
pub fn invoice_json(id: u64, amount: &str, reference: &str) -> String {
    glase_shared::memory::doc_invoice_json(id, amount, reference)
}
