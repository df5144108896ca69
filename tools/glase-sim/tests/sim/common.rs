//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{to_bytes, Body};
use axum::http::{HeaderMap, Method, Request, StatusCode};
use axum::Router;
use glase_sim::{IssuerConfig, Sim, SimConfig};
use tower::ServiceExt;

/// Generous upper bound for anything asynchronous; never a performance assertion.
pub const PATIENCE: Duration = Duration::from_secs(30);

pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// Sends one request to the router, in-process.
pub async fn call(
    router: &Router,
    method: Method,
    uri: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> Answer {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        req = req.header("X-Auth-Token", t);
    }
    if body.is_some() {
        req = req.header("Content-Type", "application/json");
    }
    let req = req
        .body(
            body.map(|b| Body::from(b.to_owned()))
                .unwrap_or_else(Body::empty),
        )
        .unwrap();
    let res = router.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = to_bytes(res.into_body(), usize::MAX).await.unwrap();
    Answer {
        status,
        headers,
        body: String::from_utf8(bytes.to_vec()).unwrap(),
    }
}

pub async fn get(router: &Router, uri: &str, token: Option<&str>) -> Answer {
    call(router, Method::GET, uri, token, None).await
}

/// A sim with issuers `shop` and `other`, no sample invoices, no notification URL.
pub fn two_issuer_sim() -> Sim {
    Sim::new(SimConfig {
        issuers: vec![
            IssuerConfig::new("shop", "shop-secret"),
            IssuerConfig::new("other", "other-secret"),
        ],
        initial_invoices: vec![],
        ..SimConfig::default()
    })
}

/// What the webhook received: the Content-Type header and the body.
pub type Received = Arc<Mutex<Vec<(Option<String>, String)>>>;

/// A webhook that answers `fail_first` with `failure` (or hangs when `failure` is None), then 200.
#[derive(Clone)]
pub struct Webhook {
    pub url: String,
    pub calls: Arc<AtomicUsize>,
    pub bodies: Received,
}

impl Webhook {
    pub async fn start(fail_first: usize, failure: Option<StatusCode>) -> Webhook {
        let calls = Arc::new(AtomicUsize::new(0));
        let bodies: Received = Arc::new(Mutex::new(Vec::new()));
        let (c, b) = (calls.clone(), bodies.clone());
        let app = Router::new().route(
            "/notifications",
            axum::routing::post(move |headers: HeaderMap, body: String| {
                let (c, b) = (c.clone(), b.clone());
                async move {
                    let content_type = headers
                        .get("content-type")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned);
                    b.lock().unwrap().push((content_type, body));
                    let n = c.fetch_add(1, Ordering::SeqCst);
                    if n < fail_first {
                        match failure {
                            Some(status) => return status,
                            None => tokio::time::sleep(Duration::from_secs(3600)).await,
                        }
                    }
                    StatusCode::OK
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Webhook {
            url: format!("http://{addr}/notifications"),
            calls,
            bodies,
        }
    }

    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}
