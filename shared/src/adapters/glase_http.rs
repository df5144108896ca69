//! Glase Invoice Service over HTTPS: `GET /api/invoice/{id}?issuer=…` with `X-Auth-Token`.

use futures::{Stream, StreamExt};
use jiff::tz::TimeZone;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};

use crate::config::GlaseConfig;
use crate::domain::{AuthToken, Invoice, InvoiceId, IssuerName};
use crate::ports::{FetchError, InvoiceSource};

const AUTH_HEADER: &str = "X-Auth-Token";

/// The most of a Glase response the worker reads. A details response is well under 1 KiB;
/// a larger one (a proxy's page, a runaway server) is refused rather than held in memory.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// One client per process: its connection pool and TLS session survive across invocations.
#[derive(Clone)]
pub struct GlaseHttp {
    http: reqwest::Client,
    base_url: String,
    issuer: IssuerName,
    token: AuthToken,
    zone: TimeZone,
}

impl GlaseHttp {
    pub fn new(config: &GlaseConfig, token: AuthToken) -> Result<Self, reqwest::Error> {
        Ok(Self {
            http: http_client(config)?,
            base_url: config.base_url.clone(),
            issuer: config.issuer.clone(),
            token,
            zone: config.time_zone.clone(),
        })
    }

    /// The token as a header value marked sensitive, so no HTTP layer ever logs or prints it.
    fn auth_header(&self) -> Result<reqwest::header::HeaderValue, FetchError> {
        let mut value = reqwest::header::HeaderValue::from_str(self.token.expose())
            .map_err(|_| FetchError::transient("the derived X-Auth-Token is not a valid header"))?;
        value.set_sensitive(true);
        Ok(value)
    }

    pub fn invoice_url(&self, id: InvoiceId) -> String {
        let issuer = utf8_percent_encode(self.issuer.as_str(), NON_ALPHANUMERIC);
        format!("{}/api/invoice/{id}?issuer={issuer}", self.base_url)
    }
}

impl InvoiceSource for GlaseHttp {
    async fn fetch(&self, id: InvoiceId) -> Result<Invoice, FetchError> {
        let response = self
            .http
            .get(self.invoice_url(id))
            .header(AUTH_HEADER, self.auth_header()?)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(transient)?;
        let status = response.status().as_u16();
        let declared = response.content_length();
        let chunks = futures::stream::unfold(response, |mut r| async move {
            r.chunk().await.transpose().map(|chunk| (chunk, r))
        });
        let body = match read_capped(declared, chunks, MAX_BODY_BYTES).await {
            Ok(body) => body,
            Err(BodyError::Read(e)) => return Err(transient(e)),
            // Only a 200's body is read; the status alone classifies any other answer.
            Err(BodyError::TooLarge(_)) if status != 200 => Vec::new(),
            // No retry makes it smaller: rejected (after the bounded window) as DETAILS_TOO_LARGE.
            Err(BodyError::TooLarge(limit)) => return Err(FetchError::TooLarge { limit }),
        };
        classify(status, &body, id, &self.zone)
    }
}

/// The HTTP client for Glase's API (details and report alike).
pub(crate) fn http_client(config: &GlaseConfig) -> Result<reqwest::Client, reqwest::Error> {
    let builder = match super::tls::glase_tls_config() {
        Ok(tls) => reqwest::Client::builder().use_preconfigured_tls(tls),
        // Cannot happen with aws-lc (it has every default protocol version); if it did, the
        // platform verifier still checks certificates, only from the system store.
        Err(e) => {
            tracing::warn!(error = %e, "compiled-in TLS roots unavailable; using the system's");
            reqwest::Client::builder()
        }
    };
    builder
        .connect_timeout(config.connect_timeout)
        .timeout(config.request_timeout)
        .tcp_keepalive(std::time::Duration::from_secs(30))
        .pool_idle_timeout(std::time::Duration::from_secs(60))
        // A redirect would carry X-Auth-Token to wherever it points; Glase documents none.
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("glase-invoices/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Why a response body was not read whole.
#[derive(Debug, thiserror::Error)]
pub enum BodyError<E> {
    #[error("response body is larger than the {0}-byte limit")]
    TooLarge(usize),
    #[error("could not read the response body")]
    Read(#[source] E),
}

/// Reads a body of at most `cap` bytes: refused at once when `declared` (Content-Length) is
/// larger, and otherwise read chunk by chunk, stopping as soon as the total passes `cap`, so
/// a body without a length holds at most `cap` plus one chunk in memory.
pub async fn read_capped<C, E>(
    declared: Option<u64>,
    chunks: impl Stream<Item = Result<C, E>>,
    cap: usize,
) -> Result<Vec<u8>, BodyError<E>>
where
    C: AsRef<[u8]>,
{
    if declared.is_some_and(|len| len > cap as u64) {
        return Err(BodyError::TooLarge(cap));
    }
    let capacity = declared.map_or(0, |len| usize::try_from(len).unwrap_or(cap));
    let mut body = Vec::with_capacity(capacity);
    let mut chunks = std::pin::pin!(chunks);
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(BodyError::Read)?;
        let chunk = chunk.as_ref();
        if body.len() + chunk.len() > cap {
            return Err(BodyError::TooLarge(cap));
        }
        body.extend_from_slice(chunk);
    }
    Ok(body)
}

/// Maps Glase's answer to what the worker must do. The single place statuses are interpreted.
pub fn classify(
    status: u16,
    body: &[u8],
    id: InvoiceId,
    zone: &TimeZone,
) -> Result<Invoice, FetchError> {
    match status {
        200 => Ok(Invoice::from_glase_json(body, id, zone)?),
        404 => Err(FetchError::NotFound),
        401 | 403 => Err(FetchError::Unauthorized(status)),
        // Timeout, throttling, and the 4xx that say "try again" (421 misdirected, 423 locked,
        // 425 too early), like 5xx.
        408 | 421 | 423 | 425 | 429 | 500..=599 => {
            Err(FetchError::transient(format!("HTTP {status}")))
        }
        // Any other 4xx (400, 410, …) is a refusal a retry cannot change: retried only for the
        // bounded window, then rejected as GLASE_REFUSED instead of looping through the DLQ.
        400..=499 => Err(FetchError::Refused(status)),
        // Other undocumented answers (3xx, a 2xx other than 200) are retried.
        other => Err(FetchError::transient(format!("unexpected HTTP {other}"))),
    }
}

/// What kind of transport failure: the one-line cause the logs start with.
fn kind(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "request failed"
    }
}

/// A transport failure, kept as the source. The URL is dropped from the error: it is long
/// and says nothing the invoice id in the log line does not (there is no secret in it).
fn transient(e: reqwest::Error) -> FetchError {
    FetchError::Transient {
        message: kind(&e).to_owned(),
        source: Some(Box::new(e.without_url())),
    }
}

/// The same failure on one line, for errors that carry text (the report client's).
#[cfg(feature = "glase")]
pub(crate) fn describe(e: &reqwest::Error) -> String {
    match std::error::Error::source(e) {
        Some(source) => format!("{}: {}", kind(e), crate::telemetry::error_chain(source)),
        None => kind(e).to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SecretSource;
    use secrecy::SecretString;

    fn id() -> InvoiceId {
        InvoiceId::new(576).unwrap()
    }

    #[test]
    fn classifies_statuses_by_what_the_worker_must_do() {
        let z = TimeZone::UTC;
        assert!(matches!(
            classify(404, b"", id(), &z),
            Err(FetchError::NotFound)
        ));
        assert!(matches!(
            classify(401, b"", id(), &z),
            Err(FetchError::Unauthorized(401))
        ));
        assert!(matches!(
            classify(403, b"", id(), &z),
            Err(FetchError::Unauthorized(403))
        ));
        for refused in [400, 405, 409, 410, 422, 451] {
            assert!(
                matches!(classify(refused, b"", id(), &z), Err(FetchError::Refused(s)) if s == refused),
                "{refused}"
            );
        }
        for transient in [408, 421, 425, 429, 500, 502, 503, 504, 302, 204] {
            assert!(
                matches!(
                    classify(transient, b"", id(), &z),
                    Err(FetchError::Transient { .. })
                ),
                "{transient}"
            );
        }
        assert!(matches!(
            classify(200, b"{}", id(), &z),
            Err(FetchError::Invalid(_))
        ));
    }

    /// `total` bytes in `chunk`-byte pieces, counting how many bytes were pulled.
    fn body(
        total: usize,
        chunk: usize,
        pulled: &std::cell::Cell<usize>,
    ) -> impl Stream<Item = Result<Vec<u8>, std::io::Error>> + '_ {
        futures::stream::iter((0..total).step_by(chunk).map(move |at| {
            let n = chunk.min(total - at);
            pulled.set(pulled.get() + n);
            Ok(vec![b'['; n])
        }))
    }

    #[tokio::test]
    async fn reads_a_body_up_to_the_cap() {
        let pulled = std::cell::Cell::new(0);
        let read = read_capped(None, body(MAX_BODY_BYTES, 1000, &pulled), MAX_BODY_BYTES).await;
        assert_eq!(read.unwrap().len(), MAX_BODY_BYTES);
    }

    #[tokio::test]
    async fn stops_reading_a_body_without_a_length_just_past_the_cap() {
        let pulled = std::cell::Cell::new(0);
        let ten_mb = 10 * 1024 * 1024;

        let read = read_capped(None, body(ten_mb, 16 * 1024, &pulled), MAX_BODY_BYTES).await;

        assert!(matches!(read, Err(BodyError::TooLarge(MAX_BODY_BYTES))));
        assert!(
            pulled.get() <= MAX_BODY_BYTES + 16 * 1024,
            "{}",
            pulled.get()
        );
    }

    #[tokio::test]
    async fn refuses_a_declared_length_over_the_cap_without_reading() {
        let pulled = std::cell::Cell::new(0);
        let declared = Some(MAX_BODY_BYTES as u64 + 1);

        let read = read_capped(declared, body(100, 10, &pulled), MAX_BODY_BYTES).await;

        let err = read.unwrap_err();
        assert_eq!(
            err.to_string(),
            "response body is larger than the 65536-byte limit"
        );
        assert_eq!(pulled.get(), 0);
    }

    #[tokio::test]
    async fn passes_on_a_read_error() {
        let chunks = futures::stream::iter([Ok(vec![b'{']), Err(std::io::Error::other("reset"))]);
        assert!(matches!(
            read_capped(None, chunks, MAX_BODY_BYTES).await,
            Err(BodyError::Read(_))
        ));
    }

    #[test]
    fn builds_the_documented_url_with_the_issuer_encoded() {
        let cfg = GlaseConfig {
            base_url: "https://glase.example".into(),
            issuer: IssuerName::parse("a&b=c").unwrap(),
            secret: SecretSource::Plain(SecretString::from("x")),
            time_zone: TimeZone::UTC,
            connect_timeout: std::time::Duration::from_secs(1),
            request_timeout: std::time::Duration::from_secs(1),
        };
        let token = AuthToken::derive(&cfg.issuer, &SecretString::from("x"));
        let glase = GlaseHttp::new(&cfg, token).unwrap();
        assert_eq!(
            glase.invoice_url(id()),
            "https://glase.example/api/invoice/576?issuer=a%26b%3Dc"
        );
    }
}
