//! The domain: types built only by parsing, and rules that know nothing of AWS or HTTP.
//! The webhook needs only `InvoiceId` and the issuer name; the invoice side is behind the
//! `invoice` feature.

mod auth_token;
mod invoice_id;
mod webhook_token;
pub use auth_token::{AuthToken, IssuerName, IssuerNameError};
pub use invoice_id::{InvoiceId, InvoiceIdError, NotificationError};
pub use webhook_token::{WebhookToken, WebhookTokenError};

#[cfg(feature = "invoice")]
mod amount;
#[cfg(feature = "invoice")]
mod currency;
#[cfg(feature = "invoice")]
mod invoice;
#[cfg(feature = "invoice")]
mod purchase_time;
#[cfg(feature = "glase")]
mod report;
#[cfg(feature = "invoice")]
pub use amount::{checked_sum, Amount, AmountError};
#[cfg(feature = "invoice")]
pub use currency::{Currency, CurrencyError};
#[cfg(feature = "invoice")]
pub use invoice::{InvalidInvoice, Invoice, Payer, RejectionCode};
#[cfg(feature = "invoice")]
pub use purchase_time::{PurchaseTime, PurchaseTimeError};
#[cfg(feature = "glase")]
pub use report::{
    parse_w3c_datetime, read_report, ReportError, ReportReader, W3cDateTimeError, REPORT_FIELDS,
};
