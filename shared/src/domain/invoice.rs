//! A paid invoice as Glase describes it, and the rules for accepting one.

use jiff::tz::TimeZone;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::{Amount, Currency, InvoiceId, PurchaseTime};

/// The only status Glase documents; anything else is refused while parsing, so an `Invoice`
/// is paid by construction and carries no status.
const PAID: &str = "PAID";

/// Payer details: Glase sends them only when the issuer asked for them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Payer {
    pub msisdn: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub street: Option<String>,
    pub city: Option<String>,
    pub zip: Option<String>,
    pub country: Option<String>,
}

/// A paid invoice: every field of Glase's details response, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invoice {
    pub id: InvoiceId,
    pub description: String,
    pub amount: Amount,
    pub currency: Currency,
    /// The issuer's own invoice id; the same reference can be paid several times.
    pub reference: String,
    /// The SEQR transaction that paid it.
    pub ers_reference: String,
    pub purchase_time: PurchaseTime,
    pub payer: Payer,
}

/// Why a details response cannot be accepted as a paid invoice. Each is permanent:
/// fetching the same invoice again gives the same answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidInvoice {
    #[error("response is not a JSON object of invoice details: {0}")]
    Json(String),
    #[error("response lacks the required field `{0}`")]
    Missing(&'static str),
    #[error("field `{field}` is invalid: {reason}")]
    Field { field: &'static str, reason: String },
    #[error("response is for invoice {got}, not the requested {expected}")]
    IdMismatch { expected: InvoiceId, got: InvoiceId },
    #[error("invoice status is {0:?}, not PAID")]
    NotPaid(String),
}

/// Why an invoice was refused for good: a closed set, stored in the table as its code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectionCode {
    /// Glase answered 404: an unknown id, or another issuer's invoice.
    UnknownInvoice,
    /// A 200 whose body is not acceptable invoice details.
    InvalidResponse,
    /// The details are of another invoice than the one asked for.
    IdMismatch,
    /// The invoice's status is not PAID.
    NotPaid,
    /// A 200 whose body is over the cap the worker reads (64 KiB): no retry makes it smaller.
    DetailsTooLarge,
    /// Glase answered a 4xx it does not document (400, 410, …): retrying cannot change it.
    GlaseRefused,
}

impl RejectionCode {
    pub const ALL: [Self; 6] = [
        Self::UnknownInvoice,
        Self::InvalidResponse,
        Self::IdMismatch,
        Self::NotPaid,
        Self::DetailsTooLarge,
        Self::GlaseRefused,
    ];

    /// The stable code kept in the table and used in metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UnknownInvoice => "UNKNOWN_INVOICE",
            Self::InvalidResponse => "INVALID_RESPONSE",
            Self::IdMismatch => "ID_MISMATCH",
            Self::NotPaid => "NOT_PAID",
            Self::DetailsTooLarge => "DETAILS_TOO_LARGE",
            Self::GlaseRefused => "GLASE_REFUSED",
        }
    }

    /// Parses a stored code.
    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == code)
    }
}

impl std::fmt::Display for RejectionCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl InvalidInvoice {
    /// The code this refusal is recorded under.
    pub fn code(&self) -> RejectionCode {
        match self {
            Self::Json(_) | Self::Missing(_) | Self::Field { .. } => RejectionCode::InvalidResponse,
            Self::IdMismatch { .. } => RejectionCode::IdMismatch,
            Self::NotPaid(_) => RejectionCode::NotPaid,
        }
    }
}

/// Glase's wire shape. `amount` is kept as raw JSON text so it never becomes an f64.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Wire<'a> {
    #[serde(borrow)]
    id: Option<&'a RawValue>,
    description: Option<String>,
    #[serde(borrow)]
    amount: Option<&'a RawValue>,
    currency: Option<String>,
    status: Option<String>,
    reference: Option<String>,
    ers_reference: Option<String>,
    purchase_time: Option<String>,
    payer_msisdn: Option<String>,
    payer_first_name: Option<String>,
    payer_last_name: Option<String>,
    payer_street: Option<String>,
    payer_city: Option<String>,
    payer_zip: Option<String>,
    payer_country: Option<String>,
}

fn required<T>(v: Option<T>, field: &'static str) -> Result<T, InvalidInvoice> {
    v.ok_or(InvalidInvoice::Missing(field))
}

fn field_err(field: &'static str) -> impl FnOnce(&dyn std::fmt::Display) -> InvalidInvoice {
    move |e| InvalidInvoice::Field {
        field,
        reason: e.to_string(),
    }
}

/// Glase may send an empty string or null for a payer field it has no value for; both mean absent.
fn present(v: Option<String>) -> Option<String> {
    v.filter(|s| !s.is_empty())
}

impl Invoice {
    /// Parses a details response for `expected`, in the zone Glase's wall clock uses.
    pub fn from_glase_json(
        body: &[u8],
        expected: InvoiceId,
        zone: &TimeZone,
    ) -> Result<Self, InvalidInvoice> {
        // A derived struct also deserializes from a JSON array of its fields in order; only an
        // object is Glase's shape. (serde also refuses a duplicated field, e.g. two `amount`s.)
        let first = body
            .iter()
            .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'));
        if first != Some(&b'{') {
            return Err(InvalidInvoice::Json("expected a JSON object".into()));
        }
        let wire: Wire<'_> =
            serde_json::from_slice(body).map_err(|e| InvalidInvoice::Json(e.to_string()))?;

        let raw_id = required(wire.id, "id")?;
        let id_value: serde_json::Value =
            serde_json::from_str(raw_id.get()).map_err(|e| field_err("id")(&e))?;
        let id = InvoiceId::from_json(Some(&id_value)).map_err(|e| field_err("id")(&e))?;
        if id != expected {
            return Err(InvalidInvoice::IdMismatch { expected, got: id });
        }

        let status = required(wire.status, "status")?;
        if status != PAID {
            return Err(InvalidInvoice::NotPaid(status));
        }

        let amount = Amount::from_json_number(required(wire.amount, "amount")?.get())
            .map_err(|e| field_err("amount")(&e))?;
        let currency = required(wire.currency, "currency")?
            .parse::<Currency>()
            .map_err(|e| field_err("currency")(&e))?;
        let purchase_time =
            PurchaseTime::parse_glase(&required(wire.purchase_time, "purchaseTime")?, zone)
                .map_err(|e| field_err("purchaseTime")(&e))?;

        Ok(Self {
            id,
            description: required(wire.description, "description")?,
            amount,
            currency,
            reference: required(wire.reference, "reference")?,
            ers_reference: required(wire.ers_reference, "ersReference")?,
            purchase_time,
            payer: Payer {
                msisdn: present(wire.payer_msisdn),
                first_name: present(wire.payer_first_name),
                last_name: present(wire.payer_last_name),
                street: present(wire.payer_street),
                city: present(wire.payer_city),
                zip: present(wire.payer_zip),
                country: present(wire.payer_country),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Glase's own example from the Invoice Service documentation (the one copy, under events/).
    pub(crate) const DOC_EXAMPLE: &str = include_str!("../../../events/glase-invoice-576.json");

    fn id(n: u64) -> InvoiceId {
        InvoiceId::new(n).unwrap()
    }

    fn parse(body: &str, expected: u64) -> Result<Invoice, InvalidInvoice> {
        Invoice::from_glase_json(body.as_bytes(), id(expected), &TimeZone::UTC)
    }

    #[test]
    fn parses_every_field_of_the_doc_example() {
        let inv = parse(DOC_EXAMPLE, 576).unwrap();
        assert_eq!(inv.id, id(576));
        assert_eq!(inv.description, "Phone invoice 05.2015");
        assert_eq!(inv.amount.to_string(), "59.99");
        assert_eq!(inv.currency.as_str(), "GBP");
        assert_eq!(inv.reference, "586930/05/2015");
        assert_eq!(inv.ers_reference, "892736823467823-3897474");
        assert_eq!(inv.purchase_time.to_iso(), "2015-05-15T15:37:33Z");
        assert_eq!(inv.payer.msisdn.as_deref(), Some("46111222333"));
        assert_eq!(inv.payer.first_name.as_deref(), Some("John"));
        assert_eq!(inv.payer.last_name.as_deref(), Some("Smith"));
        assert_eq!(inv.payer.street.as_deref(), Some("34 Wellington St"));
        assert_eq!(inv.payer.city.as_deref(), Some("London"));
        assert_eq!(inv.payer.zip.as_deref(), Some("74231"));
        assert_eq!(inv.payer.country.as_deref(), Some("en"));
    }

    #[test]
    fn payer_fields_are_optional_and_empty_means_absent() {
        let body = r#"{"id": 9, "description": "d", "amount": 1.00, "currency": "EUR", "status": "PAID",
            "reference": "r", "ersReference": "e", "purchaseTime": "24.06.2015 14:45:57",
            "payerMsisdn": "", "payerCity": null, "futureField": {"x": 1}}"#;
        let inv = parse(body, 9).unwrap();
        assert_eq!(inv.payer, Payer::default());
        assert_eq!(inv.amount.to_string(), "1.00");
    }

    #[test]
    fn rejects_a_response_for_another_invoice() {
        assert_eq!(
            parse(DOC_EXAMPLE, 577),
            Err(InvalidInvoice::IdMismatch {
                expected: id(577),
                got: id(576)
            })
        );
    }

    #[test]
    fn rejects_a_status_other_than_paid() {
        let body = DOC_EXAMPLE.replace("\"PAID\"", "\"CANCELLED\"");
        let err = parse(&body, 576).unwrap_err();
        assert_eq!(err, InvalidInvoice::NotPaid("CANCELLED".into()));
        assert_eq!(err.code(), RejectionCode::NotPaid);
        assert_eq!(err.code().as_str(), "NOT_PAID");
    }

    #[test]
    fn rejection_codes_round_trip_through_their_stored_form() {
        for code in RejectionCode::ALL {
            assert_eq!(RejectionCode::parse(code.as_str()), Some(code));
        }
        assert_eq!(RejectionCode::parse("SOMETHING_ELSE"), None);
    }

    #[test]
    fn rejects_bad_fields_with_the_field_named() {
        let cases = [
            ("59.99", "\"59.99\"", "amount"),
            ("59.99", "-59.99", "amount"),
            ("59.99", "5.999e1", "amount"),
            ("\"GBP\"", "\"gbp\"", "currency"),
            ("15.05.2015 15:37:33", "2015-05-15T15:37:33", "purchaseTime"),
            ("576", "\"576\"", "id"),
        ];
        for (from, to, field) in cases {
            let body = DOC_EXAMPLE.replacen(from, to, 1);
            match parse(&body, 576) {
                Err(InvalidInvoice::Field { field: f, .. }) => assert_eq!(f, field, "{to}"),
                other => panic!("{to}: expected a field error, got {other:?}"),
            }
        }
    }

    #[test]
    fn rejects_missing_required_fields_and_non_json() {
        let body = DOC_EXAMPLE.replace("\"ersReference\": \"892736823467823-3897474\",", "");
        assert_eq!(
            parse(&body, 576),
            Err(InvalidInvoice::Missing("ersReference"))
        );
        assert!(matches!(
            parse("<html>oops</html>", 576),
            Err(InvalidInvoice::Json(_))
        ));
        assert!(matches!(parse("[]", 576), Err(InvalidInvoice::Json(_))));
    }

    #[test]
    fn refuses_a_duplicated_field() {
        for (field, extra) in [
            ("id", r#""id": 577,"#),
            ("amount", r#""amount": 0.01,"#),
            ("status", r#""status": "PAID","#),
            ("currency", r#""currency": "EUR","#),
        ] {
            let body = DOC_EXAMPLE.replacen('{', &format!("{{{extra}"), 1);
            match parse(&body, 576) {
                Err(InvalidInvoice::Json(reason)) => assert!(
                    reason.contains(&format!("duplicate field `{field}`")),
                    "{reason}"
                ),
                other => panic!("{field}: expected a duplicate-field error, got {other:?}"),
            }
        }
    }

    #[test]
    fn refuses_an_array_in_the_shape_of_the_fields() {
        // A derived struct also deserializes from a sequence of its fields, in order.
        let body = r#"[576, "d", 59.99, "GBP", "PAID", "r", "e", "15.05.2015 15:37:33",
            null, null, null, null, null, null, null]"#;
        assert!(matches!(parse(body, 576), Err(InvalidInvoice::Json(_))));
    }

    #[test]
    fn refuses_deep_nesting_without_exhausting_the_stack() {
        for depth in [5_000, 100_000] {
            let nested = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
            for body in [
                "[".repeat(depth),
                nested.clone(),
                DOC_EXAMPLE.replacen("576", &nested, 1),
                DOC_EXAMPLE.replacen("59.99", &nested, 1),
            ] {
                assert!(parse(&body, 576).is_err(), "depth {depth}");
            }
            // A deep member we do not know is walked without recursion, and ignored.
            let body = DOC_EXAMPLE.replacen('{', &format!("{{\"future\": {nested},"), 1);
            assert_eq!(parse(&body, 576).unwrap().id, id(576));
        }
    }
}
