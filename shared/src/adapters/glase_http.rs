//! Glase Invoice Service over HTTPS: `GET /api/invoice/{id}?issuer=…` with `X-Auth-Token`.

use jiff::tz::TimeZone;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};

use crate::config::GlaseConfig;
use crate::domain::{AuthToken, Invoice, InvoiceId, IssuerName};
use crate::ports::{FetchError, InvoiceSource};

const AUTH_HEADER: &str = "X-Auth-Token";

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
        let body = response.bytes().await.map_err(transient)?;
        classify(status, &body, id, &self.zone)
    }
}

/// The HTTP client for Glase's API (details and report alike).
pub(crate) fn http_client(config: &GlaseConfig) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .connect_timeout(config.connect_timeout)
        .timeout(config.request_timeout)
        .tcp_keepalive(std::time::Duration::from_secs(30))
        .pool_idle_timeout(std::time::Duration::from_secs(60))
        // A redirect would carry X-Auth-Token to wherever it points; Glase documents none.
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("glase-invoices/", env!("CARGO_PKG_VERSION")))
        .build()
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
        408 | 429 | 500..=599 => Err(FetchError::transient(format!("HTTP {status}"))),
        // Undocumented answers are retried, never taken as a reason to drop a paid invoice.
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
#[cfg(feature = "glase-report")]
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
        for transient in [408, 429, 500, 502, 503, 504, 302, 400] {
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
