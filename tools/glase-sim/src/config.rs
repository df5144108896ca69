//! How a simulator is set up: issuers, clock speed, seed, faults and time zone.

use std::fmt;
use std::time::Duration;

use glase_shared::{Payer, PurchaseTime};
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

use crate::model::NewInvoice;

/// Everything a [`crate::Sim`] needs. Build one with `..SimConfig::default()` so new fields
/// do not break callers.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Issuers Glase knows, each with its secret and notification URL.
    pub issuers: Vec<IssuerConfig>,
    /// Multiplies every notification delay: 1.0 is Glase's real ~32 h schedule, 0.001 runs it
    /// in ~2 min. Must be finite and not negative.
    pub time_scale: f64,
    /// Seeds the generators for `ersReference` values and fault decisions.
    pub seed: u64,
    /// Faults injected into `/api/invoice` and `/api/report` from the start.
    pub faults: Faults,
    /// The zone of Glase's wall clock: `purchaseTime` text and report dates use it.
    pub time_zone: TimeZone,
    /// Paid invoices present from the start. They are never notified.
    pub initial_invoices: Vec<NewInvoice>,
    /// How `/api/report` writes its CSV (RFC 4180 by default).
    pub report_format: ReportFormat,
}

impl Default for SimConfig {
    /// Issuer `demo` / `demo-secret` without a notification URL, real schedule, seed 0, no
    /// faults, UTC, and three sample paid invoices for `demo`.
    fn default() -> Self {
        Self {
            issuers: vec![IssuerConfig::new("demo", "demo-secret")],
            time_scale: 1.0,
            seed: 0,
            faults: Faults::default(),
            time_zone: TimeZone::UTC,
            initial_invoices: sample_invoices("demo", &TimeZone::UTC),
            report_format: ReportFormat::default(),
        }
    }
}

/// How the report's CSV is written. Glase documents the fields but not the dialect; these are
/// the shapes the reconcile client accepts, so tests can serve each of them.
///
/// JSON (for `PUT /_sim/report-format`): `{"header": false, "delimiter": ";", "lineEnding": "lf"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReportFormat {
    /// A first line naming the columns.
    #[serde(default = "yes")]
    pub header: bool,
    #[serde(default)]
    pub delimiter: Delimiter,
    #[serde(default)]
    pub line_ending: LineEnding,
}

fn yes() -> bool {
    true
}

impl Default for ReportFormat {
    /// RFC 4180: a header, `,`, CRLF.
    fn default() -> Self {
        Self {
            header: true,
            delimiter: Delimiter::Comma,
            line_ending: LineEnding::Crlf,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Delimiter {
    #[default]
    #[serde(rename = ",")]
    Comma,
    #[serde(rename = ";")]
    Semicolon,
}

impl Delimiter {
    pub fn as_char(self) -> char {
        match self {
            Delimiter::Comma => ',',
            Delimiter::Semicolon => ';',
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LineEnding {
    #[default]
    Crlf,
    Lf,
}

impl LineEnding {
    pub fn as_str(self) -> &'static str {
        match self {
            LineEnding::Crlf => "\r\n",
            LineEnding::Lf => "\n",
        }
    }
}

/// One issuer registered with Glase.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuerConfig {
    pub name: String,
    pub secret: String,
    /// Where paid invoices of this issuer are notified; `None` means never notify
    /// (unless a payment names its own URL).
    pub notify_url: Option<String>,
}

impl IssuerConfig {
    pub fn new(name: impl Into<String>, secret: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            secret: secret.into(),
            notify_url: None,
        }
    }

    pub fn with_notify_url(mut self, url: impl Into<String>) -> Self {
        self.notify_url = Some(url.into());
        self
    }
}

impl fmt::Debug for IssuerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuerConfig")
            .field("name", &self.name)
            .field("secret", &"[REDACTED]")
            .field("notify_url", &self.notify_url)
            .finish()
    }
}

/// Faults injected per Glase endpoint. Admin endpoints (`/_sim/…`) never fail.
///
/// JSON (for `PUT /_sim/faults`):
/// `{"invoice": {"errorRate": 0.2, "tooManyRate": 0.1, "hangRate": 0, "latencyMs": 50}, "report": {…}}`
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Faults {
    /// `GET /api/invoice/{id}`.
    #[serde(default)]
    pub invoice: EndpointFaults,
    /// `GET /api/report`.
    #[serde(default)]
    pub report: EndpointFaults,
}

/// Faults of one endpoint. One random draw per request picks at most one outcome, checked in
/// the order error, too-many, hang (so rates summing past 1 starve the later ones).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EndpointFaults {
    /// Share of requests answered `500 Internal Server Error` (0..=1).
    #[serde(default)]
    pub error_rate: f64,
    /// Share of requests answered `429 Too Many Requests` (0..=1).
    #[serde(default)]
    pub too_many_rate: f64,
    /// Share of requests held open for [`crate::HANG_FOR`] (or until the simulator stops).
    #[serde(default)]
    pub hang_rate: f64,
    /// Added before every request is answered.
    #[serde(default, rename = "latencyMs", with = "millis")]
    pub latency: Duration,
}

impl Faults {
    /// The same faults on every Glase endpoint.
    pub fn everywhere(faults: EndpointFaults) -> Self {
        Self {
            invoice: faults,
            report: faults,
        }
    }

    /// Checks every rate is within 0..=1.
    pub fn validate(&self) -> Result<(), String> {
        for (endpoint, f) in [("invoice", &self.invoice), ("report", &self.report)] {
            for (name, rate) in [
                ("errorRate", f.error_rate),
                ("tooManyRate", f.too_many_rate),
                ("hangRate", f.hang_rate),
            ] {
                if !(0.0..=1.0).contains(&rate) {
                    return Err(format!(
                        "{endpoint}.{name} must be between 0 and 1, got {rate}"
                    ));
                }
            }
        }
        Ok(())
    }
}

impl EndpointFaults {
    /// Every request answered 500 with probability `rate`.
    pub fn errors(rate: f64) -> Self {
        Self {
            error_rate: rate,
            ..Self::default()
        }
    }

    /// Every request answered 429 with probability `rate`.
    pub fn too_many(rate: f64) -> Self {
        Self {
            too_many_rate: rate,
            ..Self::default()
        }
    }

    /// Every request held open with probability `rate`.
    pub fn hangs(rate: f64) -> Self {
        Self {
            hang_rate: rate,
            ..Self::default()
        }
    }
}

mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

/// Three paid invoices for `issuer`, dated in 2015 in `zone`: Glase's documentation example
/// (with payer), one without payer details and one whose description needs CSV quoting.
pub fn sample_invoices(issuer: &str, zone: &TimeZone) -> Vec<NewInvoice> {
    let at = |text: &str| {
        PurchaseTime::parse_glase(text, zone)
            .ok()
            .map(|t| t.timestamp())
    };
    vec![
        NewInvoice {
            issuer: issuer.to_owned(),
            amount: "59.99".into(),
            currency: "GBP".into(),
            description: "Phone invoice 05.2015".into(),
            reference: "586930/05/2015".into(),
            payer: Some(glase_shared::memory::doc_payer()),
            notify_url: None,
            purchase_time: at("15.05.2015 15:37:33"),
        },
        NewInvoice {
            issuer: issuer.to_owned(),
            amount: "120.00".into(),
            currency: "EUR".into(),
            description: "Electricity 06.2015".into(),
            reference: "E-2015-06-0042".into(),
            payer: None,
            notify_url: None,
            purchase_time: at("24.06.2015 14:45:57"),
        },
        NewInvoice {
            issuer: issuer.to_owned(),
            amount: "7.50".into(),
            currency: "SEK".into(),
            description: "Broadband \"Fibre 100\", June 2015".into(),
            reference: "BB/06/2015".into(),
            payer: Some(Payer {
                msisdn: Some("46700000001".into()),
                ..Payer::default()
            }),
            notify_url: None,
            purchase_time: at("30.06.2015 23:59:59"),
        },
    ]
}
