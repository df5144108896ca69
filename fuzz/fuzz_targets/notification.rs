//! The notification parser both functions use: the webhook on Glase's POST body, the worker on
//! each queue message. Besides not crashing, what it accepts and refuses must agree with a
//! plain JSON reading of the same bytes.

#![no_main]

use glase_shared::message;
use glase_shared::{InvoiceId, NotificationError};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let parsed = InvoiceId::from_notification(data);
    // serde_json's own reading (last duplicate wins; nesting limited to 128 everywhere).
    let value = serde_json::from_slice::<Value>(data);
    match &parsed {
        Ok(id) => {
            assert!((1..=InvoiceId::MAX).contains(&id.get()));
            if let Ok(v) = &value {
                assert_eq!(v["invoiceId"].as_u64(), Some(id.get()), "accepted {v}");
            }
            // What the webhook queues is read back as the same id by the worker.
            let queued = message::body(*id);
            assert_eq!(InvoiceId::from_notification(queued.as_bytes()), Ok(*id));
        }
        Err(NotificationError::NotUtf8) => assert!(std::str::from_utf8(data).is_err()),
        Err(NotificationError::NotAnObject) => {
            assert!(value.map_or(true, |v| !v.is_object()));
        }
        Err(NotificationError::Json(_)) => assert!(value.is_err(), "refused valid JSON"),
        Err(NotificationError::DuplicateInvoiceId) => {}
        Err(NotificationError::InvoiceId(_)) => {
            if let Ok(v) = &value {
                let id = v["invoiceId"].as_u64().filter(|n| (1..=InvoiceId::MAX).contains(n));
                assert!(id.is_none(), "refused a valid id: {v}");
            }
        }
    }
    // Every refusal has a reason to show (the webhook's 400 message).
    if let Err(e) = parsed {
        assert!(!e.to_string().is_empty());
    }
});
