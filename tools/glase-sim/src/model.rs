//! What the simulator holds: paid invoices, notification attempts and fetch counts.

use std::time::Duration;

use glase_shared::{Amount, Currency, Invoice, InvoiceId, IssuerName, Payer, PurchaseTime};

/// The only status Glase documents (the simulator can serve others, to test clients).
pub const PAID: &str = "PAID";
use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde::Serialize;
use serde_json::{json, Map, Value};

/// A payment to make with [`crate::Sim::pay`]. Text fields are validated there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewInvoice {
    /// A configured issuer's name.
    pub issuer: String,
    /// Exact decimal text, e.g. `59.99`; at most two decimals (kept as two: `5` becomes `5.00`).
    pub amount: String,
    /// Three upper-case letters, e.g. `GBP`.
    pub currency: String,
    pub description: String,
    pub reference: String,
    /// Payer details; empty strings count as absent.
    pub payer: Option<Payer>,
    /// Overrides the issuer's notification URL for this payment.
    pub notify_url: Option<String>,
    /// When it was paid (whole seconds are kept); `None` means now.
    pub purchase_time: Option<Timestamp>,
}

impl Default for NewInvoice {
    /// Glase's documentation example for issuer `demo`, paid now, without payer details.
    fn default() -> Self {
        Self {
            issuer: "demo".into(),
            amount: "59.99".into(),
            currency: "GBP".into(),
            description: "Phone invoice 05.2015".into(),
            reference: "586930/05/2015".into(),
            payer: None,
            notify_url: None,
            purchase_time: None,
        }
    }
}

/// A paid invoice exactly as the simulator serves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimInvoice {
    pub id: InvoiceId,
    pub issuer: IssuerName,
    pub description: String,
    /// Always two decimals (`59.90`), the text served as the JSON number.
    pub amount: Amount,
    pub currency: Currency,
    /// Always `PAID`.
    pub status: String,
    pub reference: String,
    pub ers_reference: String,
    /// Whole seconds: what survives Glase's `dd.MM.yyyy HH:mm:ss`.
    pub purchase_time: PurchaseTime,
    /// Absent fields are `None` (and omitted from the details response).
    pub payer: Payer,
    /// Where it is (or would have been) notified; `None` means no notification.
    pub notify_url: Option<String>,
}

impl SimInvoice {
    /// The shared domain's view, as a correct client would parse the details response.
    pub fn to_invoice(&self) -> Invoice {
        Invoice {
            id: self.id,
            description: self.description.clone(),
            amount: self.amount,
            currency: self.currency,
            reference: self.reference.clone(),
            ers_reference: self.ers_reference.clone(),
            purchase_time: self.purchase_time,
            payer: self.payer.clone(),
        }
    }

    /// The body of `GET /api/invoice/{id}`: Glase's field order, `amount` as a JSON number
    /// written from the exact decimal text, `purchaseTime` as `dd.MM.yyyy HH:mm:ss` in `zone`,
    /// payer fields only when present.
    pub fn details_json(&self, zone: &TimeZone) -> String {
        fn text(out: &mut String, key: &str, value: &str) {
            out.push_str(&format!(",{}:{}", quote(key), quote(value)));
        }
        let mut out = format!("{{\"id\":{}", self.id);
        text(&mut out, "description", &self.description);
        // Raw text, never an f64: 59.99 stays 59.99 and 1234567.10 keeps its zero.
        out.push_str(&format!(",\"amount\":{}", self.amount));
        text(&mut out, "currency", self.currency.as_str());
        text(&mut out, "status", &self.status);
        text(&mut out, "reference", &self.reference);
        text(&mut out, "ersReference", &self.ers_reference);
        text(&mut out, "purchaseTime", &self.purchase_time.to_glase(zone));
        for (key, value) in payer_fields(&self.payer) {
            if let Some(v) = value {
                text(&mut out, key, v);
            }
        }
        out.push('}');
        out
    }

    /// The admin API's view (`/_sim/invoices…`): amount as a string, purchase time in UTC ISO
    /// 8601 and in Glase's text, payer fields only when present.
    pub fn admin_json(&self, zone: &TimeZone) -> Value {
        let mut payer = Map::new();
        for (key, value) in payer_fields(&self.payer) {
            if let Some(v) = value {
                let short = key.trim_start_matches("payer");
                let mut chars = short.chars();
                let camel = chars
                    .next()
                    .map(|c| c.to_ascii_lowercase().to_string() + chars.as_str())
                    .unwrap_or_default();
                payer.insert(camel, Value::String(v.clone()));
            }
        }
        json!({
            "id": self.id.get(),
            "issuer": self.issuer.as_str(),
            "description": self.description,
            "amount": self.amount.to_string(),
            "currency": self.currency.as_str(),
            "status": self.status,
            "reference": self.reference,
            "ersReference": self.ers_reference,
            "purchaseTime": self.purchase_time.to_iso(),
            "purchaseTimeGlase": self.purchase_time.to_glase(zone),
            "payer": payer,
            "notifyUrl": self.notify_url,
        })
    }

    pub(crate) fn is_paid(&self) -> bool {
        self.status == PAID
    }
}

/// Glase's payer member names, in the documented order, with their values.
pub(crate) fn payer_fields(p: &Payer) -> [(&'static str, &Option<String>); 7] {
    [
        ("payerMsisdn", &p.msisdn),
        ("payerFirstName", &p.first_name),
        ("payerLastName", &p.last_name),
        ("payerStreet", &p.street),
        ("payerCity", &p.city),
        ("payerZip", &p.zip),
        ("payerCountry", &p.country),
    ]
}

fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// One notification POST.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Attempt {
    /// 1 for the first attempt.
    pub number: u32,
    /// Wall-clock time the POST started.
    #[serde(serialize_with = "ser_display")]
    pub at: Timestamp,
    /// Time from payment to the start of this POST.
    #[serde(serialize_with = "ser_millis", rename = "sincePaidMs")]
    pub since_paid: Duration,
    /// The HTTP status answered, if any.
    pub status: Option<u16>,
    /// Why there was no answer (connection refused, timed out…), if so.
    pub error: Option<String>,
}

impl Attempt {
    /// Glase requires exactly 200.
    pub fn succeeded(&self) -> bool {
        self.status == Some(200)
    }
}

fn ser_display<S: serde::Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(t)
}

fn ser_millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Requests to `GET /api/invoice/{id}` for one id.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DetailFetchStats {
    /// Answered 200.
    pub ok: usize,
    /// All requests, whatever the answer (faults, 401 and 404 included).
    pub total: usize,
}

/// Where an invoice's notification stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationStatus {
    /// No URL to notify (sample invoices, issuers without a URL): nothing will be sent.
    NotScheduled,
    /// Attempts are under way or scheduled.
    Pending,
    /// An attempt got 200.
    Delivered,
    /// Every scheduled attempt failed.
    GaveUp,
    /// The simulator shut down before the schedule ended.
    Stopped,
}

impl NotificationStatus {
    /// Nothing more will be sent.
    pub fn is_done(self) -> bool {
        self != Self::Pending
    }
}

/// Why a payment or configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimError {
    #[error("unknown issuer {0:?}")]
    UnknownIssuer(String),
    #[error("invalid issuer: {0}")]
    InvalidIssuer(String),
    #[error("invalid amount: {0}")]
    InvalidAmount(String),
    #[error("invalid currency: {0}")]
    InvalidCurrency(String),
    #[error("invalid notify URL {0:?}: it must be an absolute http:// or https:// URL")]
    InvalidNotifyUrl(String),
    #[error("invalid purchase time: {0}")]
    InvalidPurchaseTime(String),
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
}
