//! Scripted answers for one invoice's details, in place of the simulated invoice: whatever a
//! test tells it, byte for byte — a given status, wrong shapes, HTML, truncated JSON, huge or
//! endless bodies streamed without being held in memory. The one HTTP Glase of the tests (its
//! token check, faults and request counts included), so the client's tests need no other
//! stand-in; wiremock would hold a body in memory, which the body-cap tests must not.

use std::convert::Infallible;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

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

    /// Whether it answers 200 (counted as a served fetch).
    pub(crate) fn is_ok(&self) -> bool {
        match self {
            Reply::Bytes { status, .. } => *status == 200,
            Reply::Stream { .. } => true,
        }
    }
}

/// Streamed bodies go out in pieces of this size.
const PIECE: usize = 16 * 1024;

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        match self {
            Reply::Bytes {
                status,
                content_type,
                body,
            } => {
                let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
                (status, [(header::CONTENT_TYPE, content_type)], body).into_response()
            }
            Reply::Stream {
                total,
                fill,
                content_length,
            } => {
                let piece = Bytes::from(vec![fill; PIECE]);
                let pieces = futures::stream::unfold(0u64, move |sent| {
                    let piece = piece.clone();
                    async move {
                        (sent < total).then(|| {
                            let n =
                                usize::try_from((total - sent).min(PIECE as u64)).unwrap_or(PIECE);
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
}
