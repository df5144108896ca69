//! A Glase that answers whatever it is told, byte for byte: wrong shapes, HTML, truncated
//! JSON, huge or endless bodies streamed without being held in memory. For the bad-input
//! tests of the worker's Glase client; `StubGlase` is the well-behaved one.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

/// What to answer for one invoice id.
#[derive(Clone, Debug)]
pub enum Reply {
    /// `status`, `content-type` and the body exactly as given.
    Bytes {
        status: u16,
        content_type: &'static str,
        body: Bytes,
    },
    /// 200 with `total` bytes of `fill`, produced as the client reads them, with or without a
    /// `Content-Length`.
    Stream {
        total: u64,
        fill: u8,
        content_length: bool,
    },
}

impl Reply {
    pub fn json(body: impl Into<String>) -> Self {
        Self::Bytes {
            status: 200,
            content_type: "application/json",
            body: Bytes::from(body.into()),
        }
    }

    pub fn raw(status: u16, content_type: &'static str, body: impl Into<Bytes>) -> Self {
        Self::Bytes {
            status,
            content_type,
            body: body.into(),
        }
    }
}

#[derive(Default)]
struct Inner {
    replies: HashMap<u64, Reply>,
    requests: HashMap<u64, usize>,
}

#[derive(Clone)]
pub struct RawGlase {
    inner: Arc<Mutex<Inner>>,
    pub base_url: String,
}

/// Streamed bodies go out in pieces of this size.
const PIECE: usize = 16 * 1024;

impl RawGlase {
    pub async fn start() -> Self {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let app = Router::new()
            .route("/api/invoice/{id}", get(answer))
            .with_state(Arc::clone(&inner));
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("bind");
        let base_url = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { inner, base_url }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn set(&self, id: u64, reply: Reply) {
        self.lock().replies.insert(id, reply);
    }

    /// Requests received for `id`.
    pub fn requests(&self, id: u64) -> usize {
        self.lock().requests.get(&id).copied().unwrap_or(0)
    }
}

async fn answer(State(inner): State<Arc<Mutex<Inner>>>, Path(id): Path<u64>) -> Response {
    let reply = {
        let mut g = inner.lock().unwrap_or_else(|p| p.into_inner());
        *g.requests.entry(id).or_default() += 1;
        g.replies.get(&id).cloned()
    };
    match reply {
        None => StatusCode::NOT_FOUND.into_response(),
        Some(Reply::Bytes {
            status,
            content_type,
            body,
        }) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            (status, [(header::CONTENT_TYPE, content_type)], body).into_response()
        }
        Some(Reply::Stream {
            total,
            fill,
            content_length,
        }) => {
            let piece = Bytes::from(vec![fill; PIECE]);
            let pieces = futures::stream::unfold(0u64, move |sent| {
                let piece = piece.clone();
                async move {
                    (sent < total).then(|| {
                        let n = usize::try_from((total - sent).min(PIECE as u64)).unwrap_or(PIECE);
                        (Ok::<_, Infallible>(piece.slice(..n)), sent + n as u64)
                    })
                }
            });
            let mut response = Response::new(Body::from_stream(pieces));
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            if content_length {
                headers.insert(header::CONTENT_LENGTH, HeaderValue::from(total));
            }
            response
        }
    }
}
