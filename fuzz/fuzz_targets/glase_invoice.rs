//! The worker's reading of Glase's invoice details (a 200's body, at most 64 KiB). Whatever it
//! accepts must be a paid invoice for the id asked for, with an exact, non-negative amount.

#![no_main]

use std::sync::OnceLock;

use glase_shared::adapters::glase_http::{classify, MAX_BODY_BYTES};
use glase_shared::{Amount, Invoice, InvoiceId, PurchaseTime};
use jiff::tz::TimeZone;
use libfuzzer_sys::fuzz_target;

fn zones() -> &'static [TimeZone; 3] {
    static ZONES: OnceLock<[TimeZone; 3]> = OnceLock::new();
    ZONES.get_or_init(|| {
        [
            TimeZone::UTC,
            TimeZone::get("Europe/Stockholm").expect("bundled tz"),
            TimeZone::get("Pacific/Chatham").expect("bundled tz"),
        ]
    })
}

fuzz_target!(|data: &[u8]| {
    if data.len() > MAX_BODY_BYTES {
        return; // never parsed: the client refuses larger bodies
    }
    let expected = InvoiceId::new(576).expect("id");
    for zone in zones() {
        match Invoice::from_glase_json(data, expected, zone) {
            Ok(invoice) => {
                assert_eq!(invoice.id, expected);
                let amount = invoice.amount.as_decimal();
                assert!(amount.is_sign_positive() || amount.is_zero());
                let text = invoice.amount.to_string();
                assert_eq!(Amount::from_json_number(&text), Ok(invoice.amount), "{text}");
                let currency = invoice.currency.as_str();
                assert!(currency.len() == 3 && currency.bytes().all(|b| b.is_ascii_uppercase()));
                let iso = invoice.purchase_time.to_iso();
                assert_eq!(PurchaseTime::parse_iso(&iso), Ok(invoice.purchase_time), "{iso}");
                assert_eq!(invoice.purchase_time.utc_date().len(), 10);
                // Glase's wall clock, written back and read again, is the same instant (in a
                // DST gap or fold too: the reading is idempotent).
                let wall = invoice.purchase_time.to_glase(zone);
                assert_eq!(PurchaseTime::parse_glase(&wall, zone), Ok(invoice.purchase_time), "{wall}");
                assert!(classify(200, data, expected, zone).is_ok());
            }
            Err(e) => {
                assert!(!e.code().as_str().is_empty() && !e.to_string().is_empty());
                assert!(classify(200, data, expected, zone).is_err());
            }
        }
    }
});
