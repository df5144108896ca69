//! The Lambda Runtime API, served on loopback to one function process at a time:
//! `GET /2018-06-01/runtime/invocation/next` (long-polls until the caller invokes), `POST
//! …/invocation/{id}/response`, `…/invocation/{id}/error` and `…/init/error`.
//!
//! It records when the function first asks for work (the end of Lambda's Init Duration) and
//! times each invocation from handing the event over to receiving the answer.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tokio::sync::{mpsc, oneshot, watch};

pub const API_VERSION: &str = "2018-06-01";
pub const REQUEST_ID: &str = "lambda-runtime-aws-request-id";
pub const DEADLINE_MS: &str = "lambda-runtime-deadline-ms";
pub const FUNCTION_ARN: &str = "lambda-runtime-invoked-function-arn";
pub const TRACE_ID: &str = "lambda-runtime-trace-id";
pub const ERROR_TYPE: &str = "lambda-runtime-function-error-type";

/// How the function answered one invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Response(Bytes),
    Error {
        error_type: Option<String>,
        body: Bytes,
    },
}

impl Answer {
    pub fn body(&self) -> &[u8] {
        match self {
            Answer::Response(b) | Answer::Error { body: b, .. } => b,
        }
    }
}

/// One event waiting for the function's `GET /next`.
struct Pending {
    request_id: String,
    body: Bytes,
    deadline_ms: u64,
    answer: oneshot::Sender<Answer>,
}

struct Shared {
    function_arn: String,
    next: tokio::sync::Mutex<mpsc::Receiver<Pending>>,
    inflight: Mutex<HashMap<String, oneshot::Sender<Answer>>>,
    /// When the function first called `GET /next`.
    first_next: watch::Sender<Option<Instant>>,
    init_error: Mutex<Option<String>>,
    next_calls: AtomicU64,
}

/// A Runtime API endpoint for one function process.
pub struct RuntimeApi {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    events: mpsc::Sender<Pending>,
    task: tokio::task::JoinHandle<()>,
    seq: AtomicU64,
}

#[derive(Debug)]
pub enum InvokeError {
    Timeout(Duration),
    /// The server dropped the invocation (the function went away mid-invocation).
    Lost,
}

impl std::fmt::Display for InvokeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InvokeError::Timeout(d) => write!(f, "no answer within {d:?}"),
            InvokeError::Lost => write!(f, "the invocation was lost"),
        }
    }
}

impl std::error::Error for InvokeError {}

impl RuntimeApi {
    /// Serves the API on a free loopback port.
    pub async fn start(function_name: &str) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let addr = listener.local_addr()?;
        let (events, rx) = mpsc::channel(1);
        let shared = Arc::new(Shared {
            function_arn: format!("arn:aws:lambda:us-east-1:000000000000:function:{function_name}"),
            next: tokio::sync::Mutex::new(rx),
            inflight: Mutex::new(HashMap::new()),
            first_next: watch::channel(None).0,
            init_error: Mutex::new(None),
            next_calls: AtomicU64::new(0),
        });
        let app = Router::new()
            .route(
                &format!("/{API_VERSION}/runtime/invocation/next"),
                get(next),
            )
            .route(
                &format!("/{API_VERSION}/runtime/invocation/{{id}}/response"),
                post(response),
            )
            .route(
                &format!("/{API_VERSION}/runtime/invocation/{{id}}/error"),
                post(invocation_error),
            )
            .route(
                &format!("/{API_VERSION}/runtime/init/error"),
                post(init_error),
            )
            .with_state(Arc::clone(&shared));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            addr,
            shared,
            events,
            task,
            seq: AtomicU64::new(0),
        })
    }

    /// The value of `AWS_LAMBDA_RUNTIME_API`.
    pub fn host_port(&self) -> String {
        self.addr.to_string()
    }

    /// Waits until the function first asks for an event; `None` on timeout.
    pub async fn first_next(&self, timeout: Duration) -> Option<Instant> {
        let mut rx = self.shared.first_next.subscribe();
        let at = match tokio::time::timeout(timeout, rx.wait_for(Option::is_some)).await {
            Ok(Ok(at)) => *at,
            _ => None,
        };
        at
    }

    pub fn init_error(&self) -> Option<String> {
        self.shared
            .init_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn next_calls(&self) -> u64 {
        self.shared.next_calls.load(Ordering::Relaxed)
    }

    /// Hands `event` to the function and waits for its answer; returns it with the time from
    /// queueing the event (the function is normally already waiting in `GET /next`) to the
    /// answer's arrival.
    pub async fn invoke(
        &self,
        event: impl Into<Bytes>,
        timeout: Duration,
    ) -> Result<(Answer, Duration), InvokeError> {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        let deadline_ms = epoch_ms() + u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX / 2);
        let pending = Pending {
            request_id: request_id(seq),
            body: event.into(),
            deadline_ms,
            answer: tx,
        };
        let started = Instant::now();
        let run = async {
            self.events
                .send(pending)
                .await
                .map_err(|_| InvokeError::Lost)?;
            rx.await.map_err(|_| InvokeError::Lost)
        };
        match tokio::time::timeout(timeout, run).await {
            Ok(Ok(answer)) => Ok((answer, started.elapsed())),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(InvokeError::Timeout(timeout)),
        }
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn epoch_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A request id shaped like Lambda's (a UUID), unique within the run.
pub fn request_id(seq: u64) -> String {
    format!("{:08x}-0000-4000-8000-{:012x}", std::process::id(), seq)
}

/// The headers Lambda sends with an event on `GET /next`.
pub fn next_headers(
    request_id: &str,
    deadline_ms: u64,
    function_arn: &str,
    seq_for_trace: u64,
) -> Vec<(&'static str, String)> {
    vec![
        (REQUEST_ID, request_id.to_owned()),
        (DEADLINE_MS, deadline_ms.to_string()),
        (FUNCTION_ARN, function_arn.to_owned()),
        (
            TRACE_ID,
            format!(
                "Root=1-{:08x}-{:024x};Parent={:016x};Sampled=0",
                deadline_ms / 1000,
                seq_for_trace,
                seq_for_trace
            ),
        ),
        ("content-type", "application/json".to_owned()),
    ]
}

async fn next(State(shared): State<Arc<Shared>>) -> Response {
    let calls = shared.next_calls.fetch_add(1, Ordering::Relaxed);
    if calls == 0 {
        let now = Instant::now();
        shared
            .first_next
            .send_if_modified(|at| at.is_none() && at.replace(now).is_none());
    }
    let pending = {
        let mut rx = shared.next.lock().await;
        rx.recv().await
    };
    let Some(p) = pending else {
        return StatusCode::GONE.into_response();
    };
    let mut headers = HeaderMap::new();
    for (name, value) in next_headers(&p.request_id, p.deadline_ms, &shared.function_arn, calls) {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(HeaderName::from_static(name), v);
        }
    }
    shared
        .inflight
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(p.request_id, p.answer);
    (StatusCode::OK, headers, p.body).into_response()
}

fn complete(shared: &Shared, id: &str, answer: Answer) -> StatusCode {
    let sender = shared
        .inflight
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(id);
    match sender {
        Some(tx) => {
            let _ = tx.send(answer);
            StatusCode::ACCEPTED
        }
        // What Lambda answers for an unknown or already-answered request id.
        None => StatusCode::BAD_REQUEST,
    }
}

async fn response(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    complete(&shared, &id, Answer::Response(body))
}

async fn invocation_error(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let error_type = headers
        .get(ERROR_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    complete(&shared, &id, Answer::Error { error_type, body })
}

async fn init_error(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let error_type = headers
        .get(ERROR_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("unknown");
    let text = format!("{error_type}: {}", String::from_utf8_lossy(&body));
    *shared.init_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(text);
    StatusCode::ACCEPTED
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_runtime_reads_our_next_headers() {
        let headers = next_headers(
            &request_id(7),
            1_700_000_000_123,
            "arn:aws:lambda:us-east-1:000000000000:function:f",
            7,
        );
        let mut map = http::HeaderMap::new();
        for (name, value) in &headers {
            map.insert(
                http::HeaderName::from_static(name),
                http::HeaderValue::from_str(value).unwrap(),
            );
        }
        let ctx = lambda_runtime::Context::new(
            &request_id(7),
            Arc::new(lambda_runtime::Config::default()),
            &map,
        )
        .unwrap();
        assert_eq!(ctx.request_id, request_id(7));
        assert_eq!(ctx.deadline, 1_700_000_000_123);
        assert_eq!(
            ctx.invoked_function_arn,
            "arn:aws:lambda:us-east-1:000000000000:function:f"
        );
        assert!(ctx.xray_trace_id.unwrap().starts_with("Root=1-"));
    }

    #[test]
    fn request_ids_are_unique_and_uuid_shaped() {
        let (a, b) = (request_id(1), request_id(2));
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(a.matches('-').count(), 4);
    }

    #[tokio::test]
    async fn serves_next_then_takes_the_response() {
        let api = RuntimeApi::start("t").await.unwrap();
        let base = format!("http://{}/{API_VERSION}/runtime", api.addr);
        let client = reqwest::Client::new();
        let function = {
            let base = base.clone();
            let client = client.clone();
            tokio::spawn(async move {
                let next = client
                    .get(format!("{base}/invocation/next"))
                    .send()
                    .await
                    .unwrap();
                let id = next.headers()[REQUEST_ID].to_str().unwrap().to_owned();
                assert!(next.headers().contains_key(DEADLINE_MS));
                let body = next.bytes().await.unwrap();
                let answer = [b"echo:".as_slice(), &body].concat();
                let status = client
                    .post(format!("{base}/invocation/{id}/response"))
                    .body(answer)
                    .send()
                    .await
                    .unwrap()
                    .status();
                assert_eq!(status.as_u16(), 202);
                // An answer to an unknown id is refused.
                let status = client
                    .post(format!("{base}/invocation/nope/error"))
                    .body("x")
                    .send()
                    .await
                    .unwrap()
                    .status();
                assert_eq!(status.as_u16(), 400);
            })
        };
        assert!(api.first_next(Duration::from_secs(5)).await.is_some());
        let (answer, _) = api.invoke("hi", Duration::from_secs(5)).await.unwrap();
        assert_eq!(answer, Answer::Response(Bytes::from_static(b"echo:hi")));
        function.await.unwrap();
        assert_eq!(api.next_calls(), 1);

        let status = client
            .post(format!("{base}/init/error"))
            .header(ERROR_TYPE, "Runtime.Boom")
            .body("{}")
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status.as_u16(), 202);
        assert_eq!(api.init_error().as_deref(), Some("Runtime.Boom: {}"));
    }
}
