//! Glase's report over HTTPS: `GET /api/report?startDate=ddMMyyyy&endDate=ddMMyyyy&issuer=…`
//! with the details client's `X-Auth-Token` and `Accept`, parsed while the body streams in.
//!
//! The body is never held whole: a blocking task runs the CSV reader ([`ReportReader`]) over the
//! body as it arrives and hands rows on through a bounded channel. Memory stays at a chunk and a
//! few rows, whatever the report's size; the body is also capped
//! ([`DEFAULT_MAX_REPORT_BYTES_PER_DAY`] per day of the window) so a runaway answer fails
//! clearly. The request is bounded by stalls, not by its total time: a day of a busy issuer
//! takes minutes to download, and only a connection that stopped sending is worth giving up on.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, StreamExt, TryStreamExt};
use jiff::civil::Date;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use reqwest::header::{HeaderValue, ACCEPT};
use tokio::sync::mpsc;
use tokio_util::io::{StreamReader, SyncIoBridge};

use crate::adapters::glase_http::{describe, http_client};
use crate::config::GlaseConfig;
use crate::domain::{AuthToken, Invoice, IssuerName, ReportError, ReportReader};
use crate::ports::{ReportFetchError, ReportSource};
use crate::reconcile::Window;

/// The default cap on a report body, per day of the window: 1 GiB. A row is ~330 bytes (a
/// description, two references and a timestamp), so 1 GiB ≈ 3.2 million rows a day, three
/// times a busy issuer's million (~330 MB).
pub const DEFAULT_MAX_REPORT_BYTES_PER_DAY: u64 = 1 << 30;

/// The default stall limit: no response headers, or no body bytes while we wait for them, for
/// this long fails the request.
pub const DEFAULT_REPORT_STALL: Duration = Duration::from_secs(30);

/// A ceiling on the whole request, above any run: Lambda's longest timeout. Stalls end a dead
/// download long before; this only replaces the details client's per-request timeout.
const REPORT_CEILING: Duration = Duration::from_secs(15 * 60);

/// Parsed rows waiting for the consumer.
const ROWS_IN_FLIGHT: usize = 32;

/// The report client. Cheap to clone; one per process, like [`crate::adapters::GlaseHttp`].
#[derive(Clone)]
pub struct GlaseReport {
    http: reqwest::Client,
    base_url: String,
    issuer: IssuerName,
    token: AuthToken,
    stall: Duration,
    max_bytes_per_day: u64,
}

impl GlaseReport {
    /// The same client settings as the details client (connect timeout, no redirects, user
    /// agent), with [`DEFAULT_REPORT_STALL`] and [`DEFAULT_MAX_REPORT_BYTES_PER_DAY`].
    pub fn new(config: &GlaseConfig, token: AuthToken) -> Result<Self, reqwest::Error> {
        Ok(Self {
            http: http_client(config)?,
            base_url: config.base_url.clone(),
            issuer: config.issuer.clone(),
            token,
            stall: DEFAULT_REPORT_STALL,
            max_bytes_per_day: DEFAULT_MAX_REPORT_BYTES_PER_DAY,
        })
    }

    /// How long the response headers, or the next body bytes while we wait for them, may
    /// take before the request fails.
    pub fn with_stall(mut self, stall: Duration) -> Self {
        self.stall = stall;
        self
    }

    /// The most body bytes accepted per day of the window.
    pub fn with_max_bytes_per_day(mut self, max_bytes: u64) -> Self {
        self.max_bytes_per_day = max_bytes;
        self
    }

    /// The cap on the body of the report from `from` to `to`.
    pub fn max_bytes(&self, from: Date, to: Date) -> u64 {
        let days = from.until(to).map_or(1, |span| span.get_days().max(0) + 1);
        self.max_bytes_per_day
            .saturating_mul(u64::try_from(days).unwrap_or(1))
    }

    /// Both dates inclusive, as Glase's calendar (its time zone) counts them.
    pub fn report_url(&self, from: Date, to: Date) -> String {
        let issuer = utf8_percent_encode(self.issuer.as_str(), NON_ALPHANUMERIC);
        format!(
            "{}/api/report?startDate={}&endDate={}&issuer={issuer}",
            self.base_url,
            from.strftime("%d%m%Y"),
            to.strftime("%d%m%Y"),
        )
    }

    /// Requests the report and, once Glase answered 200, streams its rows.
    pub async fn rows(&self, from: Date, to: Date) -> Result<ReportRows, ReportFetchError> {
        let mut token = HeaderValue::from_str(self.token.expose()).map_err(|_| {
            ReportFetchError::Transient("the X-Auth-Token is not a valid header value".into())
        })?;
        // Kept out of any debug output of the request (reqwest, hyper, tracing at trace level).
        token.set_sensitive(true);
        let request = self
            .http
            .get(self.report_url(from, to))
            .header("X-Auth-Token", token)
            .header(ACCEPT, "application/json")
            .timeout(REPORT_CEILING)
            .send();
        let response = tokio::time::timeout(self.stall, request)
            .await
            .map_err(|_| {
                ReportFetchError::Transient(format!(
                    "Glase's report stalled: no response within {} ms (GLASE_REPORT_STALL_MS)",
                    self.stall.as_millis()
                ))
            })?
            .map_err(|e| ReportFetchError::Transient(describe(&e)))?;
        let max_bytes = self.max_bytes(from, to);
        let status = response.status().as_u16();
        if status != 200 {
            let reason = response.text().await.unwrap_or_default();
            return Err(classify(status, &reason));
        }
        if response.content_length().is_some_and(|n| n > max_bytes) {
            return Err(ReportFetchError::TooLarge { limit: max_bytes });
        }
        let chunks = response
            .bytes_stream()
            .map_err(|e| ReportFetchError::Transient(describe(&e)));
        Ok(ReportRows::spawn(chunks, max_bytes, self.stall))
    }
}

impl ReportSource for GlaseReport {
    type Rows = ReportRows;

    async fn fetch(&self, window: Window) -> Result<ReportRows, ReportFetchError> {
        self.rows(window.from(), window.to()).await
    }
}

/// What a non-200 answer means.
pub fn classify(status: u16, body: &str) -> ReportFetchError {
    match status {
        401 | 403 => ReportFetchError::Unauthorized(status),
        408 | 429 | 500..=599 => ReportFetchError::Transient(format!("HTTP {status}")),
        _ => ReportFetchError::Refused {
            status,
            // Glase's own message (e.g. a bad date), one short line of it.
            reason: body
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .take(200)
                .collect::<String>()
                .trim()
                .to_owned(),
        },
    }
}

/// A row, or (`None`) the end of the report.
type Parsed = Option<Result<Invoice, ReportFetchError>>;

/// The report's rows as they are parsed. Dropping it stops the download (at the next row).
pub struct ReportRows {
    rows: mpsc::Receiver<Parsed>,
    ended: bool,
}

impl ReportRows {
    /// Parses a body arriving as `chunks`, capped at `max_bytes`, failing when no chunk comes
    /// for `stall` while the parser waits for one (time the parser is held up by a slow
    /// consumer does not count). Must run in a Tokio runtime (the parser runs on its blocking
    /// pool).
    pub fn spawn<S>(chunks: S, max_bytes: u64, stall: Duration) -> Self
    where
        S: Stream<Item = Result<Bytes, ReportFetchError>> + Send + 'static,
    {
        let mut total = 0u64;
        let capped =
            stall_limited(chunks, stall).map(move |chunk| -> Result<Bytes, ReportFetchError> {
                let chunk = chunk?;
                total = total.saturating_add(chunk.len() as u64);
                if total > max_bytes {
                    return Err(ReportFetchError::TooLarge { limit: max_bytes });
                }
                Ok(chunk)
            });
        // tokio-util's pieces rather than csv-async: the one CSV reader, sync, stays the domain's.
        // The failed chunk's error rides through csv inside an io::Error (see `cause`).
        let body = SyncIoBridge::new(StreamReader::new(Box::pin(
            capped.map_err(io::Error::other),
        )));
        let (tx, rows) = mpsc::channel(ROWS_IN_FLIGHT);
        tokio::task::spawn_blocking(move || {
            let parsed: Box<dyn Iterator<Item = _>> = match ReportReader::new(body) {
                Ok(reader) => Box::new(reader),
                Err(e) => Box::new(std::iter::once(Err(e))),
            };
            for row in parsed.map(|row| Some(row.map_err(cause))).chain([None]) {
                if tx.blocking_send(row).is_err() {
                    return; // the consumer stopped
                }
            }
        });
        Self { rows, ended: false }
    }
}

/// `chunks`, ending with a transient error when the next one takes longer than `stall` to come.
/// The clock runs only while the next chunk is awaited.
fn stall_limited<S>(
    chunks: S,
    stall: Duration,
) -> impl Stream<Item = Result<Bytes, ReportFetchError>> + Send
where
    S: Stream<Item = Result<Bytes, ReportFetchError>> + Send + 'static,
{
    futures::stream::unfold(Some(Box::pin(chunks)), move |chunks| async move {
        let mut chunks = chunks?;
        match tokio::time::timeout(stall, chunks.next()).await {
            Ok(Some(chunk)) => Some((chunk, Some(chunks))),
            Ok(None) => None,
            Err(_) => Some((
                Err(ReportFetchError::Transient(format!(
                    "Glase's report stalled: no body bytes for {} ms (GLASE_REPORT_STALL_MS)",
                    stall.as_millis()
                ))),
                None,
            )),
        }
    })
}

/// A failed download reaches the CSV reader as an io error: report its cause instead.
fn cause(e: ReportError) -> ReportFetchError {
    match e {
        ReportError::Read(io) => io
            .downcast::<ReportFetchError>()
            .unwrap_or_else(|io| ReportError::Read(io).into()),
        e => e.into(),
    }
}

impl Stream for ReportRows {
    type Item = Result<Invoice, ReportFetchError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.ended {
            return Poll::Ready(None);
        }
        let next = ready!(self.rows.poll_recv(cx)).unwrap_or_else(|| {
            // The parser went away without saying the report ended: never pass that off as a
            // complete (shorter) report.
            Some(Err(ReportFetchError::Transient(
                "the report parser stopped before the end of the report".into(),
            )))
        });
        self.ended = match &next {
            Some(Ok(_)) => false,
            Some(Err(e)) => !e.is_row_error(),
            None => true,
        };
        Poll::Ready(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SecretSource;
    use secrecy::SecretString;

    const ROW_1: &str =
        "1000,\"Phone \"\"X\"\", two\nlines\",59.99,GBP,PAID,r-1,e-1,2015-05-15T15:37:33+02:00\r\n";
    const STALL: Duration = Duration::from_secs(5);
    const ROW_2: &str = "1001,Electricity,120.00,EUR,PAID,r-2,e-2,2015-06-24T14:45:57Z\r\n";

    fn config() -> GlaseConfig {
        GlaseConfig {
            base_url: "https://glase.example".into(),
            issuer: IssuerName::parse("a&b").unwrap(),
            secret: SecretSource::Plain(SecretString::from("x")),
            time_zone: jiff::tz::TimeZone::UTC,
            connect_timeout: Duration::from_secs(1),
            request_timeout: Duration::from_secs(1),
        }
    }

    /// The body cut into pieces of `size` bytes, so splits fall inside fields, quotes and CRLFs.
    fn chunked(body: &str, size: usize) -> impl Stream<Item = Result<Bytes, ReportFetchError>> {
        let pieces: Vec<_> = body
            .as_bytes()
            .chunks(size)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        futures::stream::iter(pieces)
    }

    async fn collect(rows: ReportRows) -> Vec<Result<Invoice, ReportFetchError>> {
        rows.collect().await
    }

    #[test]
    fn builds_the_documented_url_with_ddmmyyyy_dates_and_the_issuer_encoded() {
        let token = AuthToken::derive(&config().issuer, &SecretString::from("x"));
        let report = GlaseReport::new(&config(), token).unwrap();
        assert_eq!(
            report.report_url(
                jiff::civil::date(2015, 5, 1),
                jiff::civil::date(2015, 6, 30)
            ),
            "https://glase.example/api/report?startDate=01052015&endDate=30062015&issuer=a%26b"
        );
    }

    #[test]
    fn classifies_refusals_by_what_the_caller_can_do() {
        assert!(matches!(
            classify(401, ""),
            ReportFetchError::Unauthorized(401)
        ));
        assert!(matches!(
            classify(403, ""),
            ReportFetchError::Unauthorized(403)
        ));
        for transient in [408, 429, 500, 503] {
            assert!(matches!(
                classify(transient, ""),
                ReportFetchError::Transient(_)
            ));
        }
        match classify(400, "{\"error\":\"startDate must be ddMMyyyy\"}\n") {
            ReportFetchError::Refused {
                status: 400,
                reason,
            } => {
                assert_eq!(reason, "{\"error\":\"startDate must be ddMMyyyy\"}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn rows_come_out_whole_however_the_body_is_cut() {
        let body = format!("ID,DESCRIPTION,AMOUNT,CURRENCY,STATUS,REFERENCE,ERS_REFERENCE,PURCHASE_TIME\r\n{ROW_1}{ROW_2}");
        let expected = crate::domain::read_report(body.as_bytes()).unwrap();
        for size in [1, 2, 3, 7, 64, body.len()] {
            let got: Vec<_> = collect(ReportRows::spawn(chunked(&body, size), 1 << 20, STALL))
                .await
                .into_iter()
                .collect::<Result<_, _>>()
                .unwrap();
            assert_eq!(got, expected, "chunks of {size}");
        }
        assert_eq!(expected[0].description, "Phone \"X\", two\nlines");
    }

    #[tokio::test]
    async fn a_body_over_the_cap_ends_with_a_clear_error() {
        let body = ROW_1.repeat(100);
        let results = collect(ReportRows::spawn(chunked(&body, 100), 1_000, STALL)).await;
        let last = results.last().unwrap();
        assert!(
            matches!(last, Err(ReportFetchError::TooLarge { limit: 1_000 })),
            "{last:?}"
        );
        assert!(results.len() < 100);
        assert!(last
            .as_ref()
            .unwrap_err()
            .to_string()
            .contains("1000 bytes"));
    }

    #[tokio::test]
    async fn a_broken_download_is_an_error_not_a_short_report() {
        let chunks = futures::stream::iter(vec![
            Ok(Bytes::from(ROW_1)),
            Err(ReportFetchError::Transient("connection reset".into())),
        ]);
        let results = collect(ReportRows::spawn(chunks, 1 << 20, STALL)).await;
        assert_eq!(results.len(), 2);
        assert!(results[0].is_ok());
        assert!(
            matches!(&results[1], Err(ReportFetchError::Transient(m)) if m == "connection reset"),
            "{:?}",
            results[1]
        );
    }

    #[tokio::test]
    async fn a_spoilt_row_is_reported_and_the_rest_still_comes() {
        let body = format!(
            "{ROW_1}{}{ROW_2}",
            ROW_2.replace("120.00", "12O.00").replace("1001", "1002")
        );
        let results = collect(ReportRows::spawn(chunked(&body, 16), 1 << 20, STALL)).await;
        assert_eq!(results.len(), 3);
        assert!(results[1]
            .as_ref()
            .is_err_and(ReportFetchError::is_row_error));
        assert_eq!(results[2].as_ref().unwrap().id.get(), 1001);
    }

    #[tokio::test]
    async fn what_is_not_a_report_is_one_fatal_error() {
        let results = collect(ReportRows::spawn(
            chunked("<html>\n</html>\n", 4),
            1 << 20,
            STALL,
        ))
        .await;
        assert_eq!(results.len(), 1);
        assert!(matches!(
            results[0],
            Err(ReportFetchError::Invalid(ReportError::Delimiter))
        ));
    }

    /// `ROW_1` `n` times, a row every `every`.
    fn trickle(n: usize, every: Duration) -> impl Stream<Item = Result<Bytes, ReportFetchError>> {
        futures::stream::iter(0..n).then(move |_| async move {
            tokio::time::sleep(every).await;
            Ok(Bytes::from(ROW_1))
        })
    }

    #[tokio::test]
    async fn a_body_that_trickles_but_never_stalls_completes_though_it_takes_longer_than_the_stall_limit(
    ) {
        let stall = Duration::from_millis(300);
        let started = std::time::Instant::now();

        let results = collect(ReportRows::spawn(
            trickle(8, Duration::from_millis(100)),
            1 << 20,
            stall,
        ))
        .await;

        assert!(started.elapsed() > 2 * stall, "{:?}", started.elapsed());
        assert_eq!(results.len(), 8);
        assert!(results.iter().all(Result::is_ok), "{results:?}");
    }

    #[tokio::test]
    async fn a_body_that_stops_sending_fails_with_a_transient_error_naming_the_stall() {
        let stopped = trickle(2, Duration::from_millis(10)).chain(futures::stream::pending());

        let results = collect(ReportRows::spawn(
            stopped,
            1 << 20,
            Duration::from_millis(200),
        ))
        .await;

        assert_eq!(results.len(), 3, "{results:?}");
        match &results[2] {
            Err(ReportFetchError::Transient(m)) => {
                assert!(m.contains("stalled: no body bytes for 200 ms"), "{m}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_slow_consumer_does_not_count_as_a_stall() {
        // The body is all there at once; the consumer takes longer than the stall limit.
        let stall = Duration::from_millis(100);
        let mut rows = ReportRows::spawn(chunked(&ROW_1.repeat(100), 64), 1 << 20, stall);
        let mut read = 0;
        while let Some(row) = rows.next().await {
            row.unwrap();
            read += 1;
            if read == 1 {
                tokio::time::sleep(3 * stall).await;
            }
        }
        assert_eq!(read, 100);
    }

    #[test]
    fn the_body_cap_is_per_day_of_the_window() {
        let token = AuthToken::derive(&config().issuer, &SecretString::from("x"));
        let report = GlaseReport::new(&config(), token)
            .unwrap()
            .with_max_bytes_per_day(1_000);
        let day = jiff::civil::date(2026, 3, 1);
        assert_eq!(report.max_bytes(day, day), 1_000);
        assert_eq!(
            report.max_bytes(day, jiff::civil::date(2026, 3, 31)),
            31_000
        );
        assert_eq!(DEFAULT_MAX_REPORT_BYTES_PER_DAY, 1 << 30);
    }

    #[tokio::test]
    async fn an_empty_body_is_an_empty_report() {
        assert!(collect(ReportRows::spawn(chunked("", 1), 10, STALL))
            .await
            .is_empty());
    }
}
