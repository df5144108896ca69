//! The domain: types built only by parsing, and rules that know nothing of AWS or HTTP.

mod amount;
mod auth_token;
mod currency;
mod invoice;
mod invoice_id;
mod purchase_time;
mod report;

pub use amount::{Amount, AmountError};
pub use auth_token::{AuthToken, IssuerName, IssuerNameError};
pub use currency::{Currency, CurrencyError};
pub use invoice::{InvalidInvoice, Invoice, Payer, PAID};
pub use invoice_id::{InvoiceId, InvoiceIdError, NotificationError};
pub use purchase_time::{PurchaseTime, PurchaseTimeError};
pub use report::{
    parse_w3c_datetime, read_report, ReportError, ReportReader, ReportRow, W3cDateTimeError,
    REPORT_FIELDS,
};
