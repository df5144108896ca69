//! The events the stack publishes about invoices (issue 19): `InvoicePaid` when an invoice
//! becomes `STORED`, `InvoiceRejected` when it becomes `REJECTED`. Their `detail` uses the
//! table's attribute names, so a consumer reads the same names in the table and in the event.
//! Their JSON Schemas are `schemas/InvoicePaid.schema.json` and `schemas/InvoiceRejected.schema.json`
//! (a test keeps them, `events/eventbridge-invoice-paid.json` and this code in step).

use jiff::Timestamp;
use serde::{Deserialize, Deserializer, Serialize};

use crate::domain::{Invoice, InvoiceId, RejectionCode};
use crate::ports::Rejection;

/// The events' `source`.
pub const EVENT_SOURCE: &str = "glase-invoices";
/// The events' `detail-type`s.
pub const INVOICE_PAID: &str = "InvoicePaid";
pub const INVOICE_REJECTED: &str = "InvoiceRejected";
/// `detail.schemaVersion`: raised only for a change a consumer must know about (a field
/// removed or its meaning changed); added optional fields keep it.
pub const SCHEMA_VERSION: u32 = 1;

/// What an item's `state` is, as far as events care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordState {
    Processing,
    Stored,
    Rejected,
}

/// Which event a change of an item calls for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    BecameStored,
    BecameRejected,
}

/// The rule, in one place: an event only when the item *becomes* STORED or REJECTED. Leases,
/// releases, a repeated write of the same state and deletions publish nothing.
pub fn transition(old: Option<RecordState>, new: Option<RecordState>) -> Option<Transition> {
    match (old, new?) {
        (Some(RecordState::Stored), _) => None,
        (_, RecordState::Stored) => Some(Transition::BecameStored),
        (Some(RecordState::Rejected), RecordState::Rejected) => None,
        (_, RecordState::Rejected) => Some(Transition::BecameRejected),
        (_, RecordState::Processing) => None,
    }
}

/// Whether `InvoicePaid` carries the payer's personal data (stack parameter, default off).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PayerData {
    #[default]
    Omit,
    Include,
}

/// `detail` of `InvoicePaid`: the invoice as stored. Readable back (the CLI's `events`);
/// unknown fields are ignored, as a newer schema's optional fields must be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InvoicePaid {
    pub schema_version: u32,
    pub invoice_id: u64,
    pub description: String,
    /// A decimal string, exact, padded to the currency's minor units (`0.10`, never `0.1`):
    /// a JSON number would be read as a float by most consumers.
    pub amount: String,
    pub currency: String,
    #[serde(deserialize_with = "paid_status")]
    pub status: StaticStr,
    /// Empty when Glase sent none.
    pub reference: String,
    pub ers_reference: String,
    pub purchase_time: String,
    pub purchase_date: String,
    pub stored_at: String,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub payer: Option<PayerFields>,
}

/// The payer's personal data, under the table's attribute names; absent fields are omitted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PayerFields {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payer_msisdn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payer_first_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payer_last_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payer_street: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payer_city: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payer_zip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payer_country: Option<String>,
}

/// `detail` of `InvoiceRejected`: what operations tools need to react to a refusal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InvoiceRejected {
    pub schema_version: u32,
    pub invoice_id: u64,
    #[serde(deserialize_with = "rejection_code")]
    pub rejection_code: StaticStr,
    pub rejection_reason: String,
    pub rejected_at: String,
    pub attempts: u32,
}

/// `&'static str` under another name: serde's derive would make a field spelled `&str` borrow
/// from the input, and these are read as one of a closed set instead.
pub type StaticStr = &'static str;

/// `status` read back: `PAID` is the only value an `InvoicePaid` carries.
fn paid_status<'de, D: Deserializer<'de>>(d: D) -> Result<&'static str, D::Error> {
    match String::deserialize(d)?.as_str() {
        "PAID" => Ok("PAID"),
        other => Err(serde::de::Error::custom(format!(
            "status {other:?} in an InvoicePaid event, expected \"PAID\""
        ))),
    }
}

/// `rejectionCode` read back: one of the domain's codes.
fn rejection_code<'de, D: Deserializer<'de>>(d: D) -> Result<&'static str, D::Error> {
    let code = String::deserialize(d)?;
    RejectionCode::parse(&code)
        .map(RejectionCode::as_str)
        .ok_or_else(|| serde::de::Error::custom(format!("unknown rejectionCode {code:?}")))
}

/// One event to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvoiceEvent {
    // Boxed: a batch holds many, mostly paid (clippy::large_enum_variant).
    Paid(Box<InvoicePaid>),
    Rejected(InvoiceRejected),
}

impl InvoiceEvent {
    pub fn paid(invoice: &Invoice, stored_at: Timestamp, payer: PayerData) -> Self {
        let p = &invoice.payer;
        Self::Paid(Box::new(InvoicePaid {
            schema_version: SCHEMA_VERSION,
            invoice_id: invoice.id.get(),
            description: invoice.description.clone(),
            amount: invoice.amount.format_in(&invoice.currency),
            currency: invoice.currency.as_str().to_owned(),
            status: "PAID",
            reference: invoice.reference.clone(),
            ers_reference: invoice.ers_reference.clone(),
            purchase_time: invoice.purchase_time.to_iso(),
            purchase_date: invoice.purchase_time.utc_date(),
            stored_at: stored_at.to_string(),
            payer: (payer == PayerData::Include).then(|| PayerFields {
                payer_msisdn: p.msisdn.clone(),
                payer_first_name: p.first_name.clone(),
                payer_last_name: p.last_name.clone(),
                payer_street: p.street.clone(),
                payer_city: p.city.clone(),
                payer_zip: p.zip.clone(),
                payer_country: p.country.clone(),
            }),
        }))
    }

    pub fn rejected(
        id: InvoiceId,
        rejection: &Rejection,
        rejected_at: Timestamp,
        attempts: u32,
    ) -> Self {
        Self::Rejected(InvoiceRejected {
            schema_version: SCHEMA_VERSION,
            invoice_id: id.get(),
            rejection_code: rejection.code.as_str(),
            rejection_reason: rejection.reason.clone(),
            rejected_at: rejected_at.to_string(),
            attempts,
        })
    }

    /// The event's `detail-type`.
    pub fn detail_type(&self) -> &'static str {
        match self {
            Self::Paid(_) => INVOICE_PAID,
            Self::Rejected(_) => INVOICE_REJECTED,
        }
    }

    /// An event as a consumer receives it, from its `detail-type` and `detail` (the inverse
    /// of [`Self::detail_type`] and [`Self::detail_json`]); `None` for another detail-type.
    pub fn from_detail(
        detail_type: &str,
        detail: serde_json::Value,
    ) -> Result<Option<Self>, serde_json::Error> {
        Ok(Some(match detail_type {
            INVOICE_PAID => Self::Paid(Box::new(serde_json::from_value(detail)?)),
            INVOICE_REJECTED => Self::Rejected(serde_json::from_value(detail)?),
            _ => return Ok(None),
        }))
    }

    /// The id consumers de-duplicate on.
    pub fn invoice_id(&self) -> u64 {
        match self {
            Self::Paid(e) => e.invoice_id,
            Self::Rejected(e) => e.invoice_id,
        }
    }

    /// The event's `detail`, as JSON text.
    pub fn detail_json(&self) -> Result<String, serde_json::Error> {
        match self {
            Self::Paid(e) => serde_json::to_string(e.as_ref()),
            Self::Rejected(e) => serde_json::to_string(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Payer, PurchaseTime, RejectionCode};
    use RecordState::*;

    fn invoice(amount: &str) -> Invoice {
        Invoice {
            id: InvoiceId::new(25153).unwrap(),
            description: "Phone invoice 05.2015".into(),
            amount: amount.parse().unwrap(),
            currency: "GBP".parse().unwrap(),
            reference: "586930/05/2015".into(),
            ers_reference: "892736823467823-3897474".into(),
            purchase_time: PurchaseTime::parse_iso("2015-05-15T15:37:33Z").unwrap(),
            payer: Payer {
                city: Some("London".into()),
                ..Payer::default()
            },
        }
    }

    fn detail(event: &InvoiceEvent) -> serde_json::Value {
        serde_json::from_str(&event.detail_json().unwrap()).unwrap()
    }

    #[test]
    fn only_becoming_stored_or_rejected_is_an_event() {
        assert_eq!(
            transition(None, Some(Stored)),
            Some(Transition::BecameStored)
        );
        assert_eq!(
            transition(Some(Processing), Some(Stored)),
            Some(Transition::BecameStored)
        );
        assert_eq!(
            transition(Some(Rejected), Some(Stored)),
            Some(Transition::BecameStored)
        );
        assert_eq!(
            transition(Some(Processing), Some(Rejected)),
            Some(Transition::BecameRejected)
        );
        // Leases, releases, re-claims of a rejection, duplicates and deletions: nothing.
        assert_eq!(transition(None, Some(Processing)), None);
        assert_eq!(transition(Some(Processing), Some(Processing)), None);
        assert_eq!(transition(Some(Rejected), Some(Processing)), None);
        assert_eq!(transition(Some(Rejected), Some(Rejected)), None);
        assert_eq!(transition(Some(Stored), Some(Stored)), None);
        assert_eq!(transition(Some(Stored), None), None);
        assert_eq!(transition(Some(Processing), None), None);
    }

    #[test]
    fn paid_detail_has_the_tables_names_and_the_amount_as_an_exact_string() {
        for (stored, published) in [
            ("59.99", "59.99"),
            ("0.1", "0.10"),
            ("1234567.89", "1234567.89"),
        ] {
            let at: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
            let event = InvoiceEvent::paid(&invoice(stored), at, PayerData::Omit);
            assert_eq!(event.detail_type(), "InvoicePaid");
            let d = detail(&event);
            assert_eq!(d["amount"], serde_json::json!(published), "{stored}");
            assert_eq!(d["invoiceId"], 25153);
            assert_eq!(d["schemaVersion"], SCHEMA_VERSION);
            assert_eq!(d["currency"], "GBP");
            assert_eq!(d["reference"], "586930/05/2015");
            assert_eq!(d["ersReference"], "892736823467823-3897474");
            assert_eq!(d["purchaseTime"], "2015-05-15T15:37:33Z");
            assert_eq!(d["storedAt"], "2026-01-01T00:00:00Z");
        }
    }

    #[test]
    fn payer_data_is_published_only_when_asked_for() {
        let at = Timestamp::UNIX_EPOCH;
        let omitted = detail(&InvoiceEvent::paid(&invoice("1"), at, PayerData::Omit));
        assert!(
            omitted
                .as_object()
                .unwrap()
                .keys()
                .all(|k| !k.starts_with("payer")),
            "{omitted}"
        );
        let included = detail(&InvoiceEvent::paid(&invoice("1"), at, PayerData::Include));
        assert_eq!(included["payerCity"], "London");
        assert!(
            included.get("payerMsisdn").is_none(),
            "absent fields omitted"
        );
    }

    #[test]
    fn published_details_read_back_as_the_same_events() {
        let at: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let InvoiceEvent::Paid(paid) = InvoiceEvent::paid(&invoice("0.1"), at, PayerData::Omit)
        else {
            unreachable!()
        };
        let detail = serde_json::to_value(paid.as_ref()).unwrap();
        let Some(InvoiceEvent::Paid(read)) =
            InvoiceEvent::from_detail("InvoicePaid", detail).unwrap()
        else {
            panic!("not read as InvoicePaid")
        };
        assert_eq!(read.amount, "0.10");
        // Flattened optional fields read back as present-but-empty.
        assert_eq!(
            InvoicePaid {
                payer: None,
                ..*read
            },
            *paid
        );
        assert!(InvoiceEvent::from_detail("Other", serde_json::json!({}))
            .unwrap()
            .is_none());

        let rejection = Rejection {
            code: RejectionCode::InvalidResponse,
            reason: "no".into(),
        };
        let event = InvoiceEvent::rejected(InvoiceId::new(7).unwrap(), &rejection, at, 2);
        let InvoiceEvent::Rejected(rejected) = &event else {
            unreachable!()
        };
        let read: InvoiceRejected = serde_json::from_str(&event.detail_json().unwrap()).unwrap();
        assert_eq!(&read, rejected);
        let unknown = event
            .detail_json()
            .unwrap()
            .replace(rejection.code.as_str(), "NEW_CODE");
        assert!(serde_json::from_str::<InvoiceRejected>(&unknown).is_err());
    }

    #[test]
    fn rejected_detail_carries_code_and_reason() {
        let rejection = Rejection {
            code: RejectionCode::NotPaid,
            reason: "invoice status is \"PENDING\", not PAID".into(),
        };
        let event = InvoiceEvent::rejected(
            InvoiceId::new(7).unwrap(),
            &rejection,
            Timestamp::UNIX_EPOCH,
            5,
        );
        assert_eq!(event.detail_type(), "InvoiceRejected");
        let d = detail(&event);
        assert_eq!(d["rejectionCode"], "NOT_PAID");
        assert_eq!(d["invoiceId"], 7);
        assert_eq!(d["attempts"], 5);
    }
}
