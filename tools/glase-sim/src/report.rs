//! `GET /api/report`: the issuer's paid invoices between two dates, as RFC 4180 CSV.

use std::borrow::Cow;

use jiff::civil::Date;
use jiff::tz::TimeZone;

use crate::model::{payer_fields, SimInvoice};

/// The header row, in Glase's field order.
pub const REPORT_COLUMNS: [&str; 15] = [
    "ID",
    "DESCRIPTION",
    "AMOUNT",
    "CURRENCY",
    "STATUS",
    "REFERENCE",
    "ERS_REFERENCE",
    "PURCHASE_TIME",
    "PAYER_MSISDN",
    "PAYER_FIRST_NAME",
    "PAYER_LAST_NAME",
    "PAYER_STREET",
    "PAYER_CITY",
    "PAYER_ZIP",
    "PAYER_COUNTRY",
];

/// Parses a report date, `ddMMyyyy` (e.g. `15052015`).
pub fn parse_report_date(name: &str, text: &str) -> Result<Date, String> {
    let bad = || format!("{name} must be a date as ddMMyyyy, e.g. 15052015; got {text:?}");
    if text.len() != 8 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let num = |range: std::ops::Range<usize>| text[range].parse::<i16>().map_err(|_| bad());
    let (day, month, year) = (num(0..2)?, num(2..4)?, num(4..8)?);
    let month = i8::try_from(month).map_err(|_| bad())?;
    let day = i8::try_from(day).map_err(|_| bad())?;
    Date::new(year, month, day).map_err(|_| format!("{name} is not a real date: {text:?}"))
}

/// The report body: a header row, then one row per invoice whose purchase date in `zone` is
/// within `[start, end]`, in the order given. Lines end with CRLF.
pub fn report_csv<'a>(
    invoices: impl IntoIterator<Item = &'a SimInvoice>,
    start: Date,
    end: Date,
    zone: &TimeZone,
) -> String {
    let mut out = String::new();
    push_row(&mut out, REPORT_COLUMNS.iter().map(|c| Cow::Borrowed(*c)));
    for inv in invoices {
        let day = inv
            .purchase_time
            .timestamp()
            .to_zoned_datetime(zone.clone())
            .date();
        if day < start || day > end {
            continue;
        }
        let mut row: Vec<Cow<'_, str>> = vec![
            inv.id.to_string().into(),
            inv.description.as_str().into(),
            inv.amount.to_string().into(),
            inv.currency.as_str().into(),
            inv.status.as_str().into(),
            inv.reference.as_str().into(),
            inv.ers_reference.as_str().into(),
            inv.purchase_time.to_iso_with_offset(zone).into(),
        ];
        row.extend(
            payer_fields(&inv.payer)
                .into_iter()
                .map(|(_, v)| v.as_deref().unwrap_or("").into()),
        );
        push_row(&mut out, row.into_iter());
    }
    out
}

fn push_row<'a>(out: &mut String, fields: impl Iterator<Item = Cow<'a, str>>) {
    for (i, field) in fields.enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&csv_field(&field));
    }
    out.push_str("\r\n");
}

/// RFC 4180: a field containing a comma, a double quote, CR or LF is quoted, quotes doubled.
pub fn csv_field(s: &str) -> Cow<'_, str> {
    if s.contains([',', '"', '\r', '\n']) {
        Cow::Owned(format!("\"{}\"", s.replace('"', "\"\"")))
    } else {
        Cow::Borrowed(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_only_fields_that_need_it_and_doubles_quotes() {
        assert_eq!(csv_field("plain text"), "plain text");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
        assert_eq!(csv_field("cr\rhere"), "\"cr\rhere\"");
        assert_eq!(csv_field(""), "");
    }

    #[test]
    fn report_dates_are_dd_mm_yyyy() {
        assert_eq!(
            parse_report_date("startDate", "15052015").unwrap(),
            jiff::civil::date(2015, 5, 15)
        );
        assert_eq!(
            parse_report_date("endDate", "01012016").unwrap(),
            jiff::civil::date(2016, 1, 1)
        );
        for bad in [
            "2015-05-15",
            "1505201",
            "150520155",
            "15.05.15",
            "",
            "aabbcccc",
        ] {
            assert!(
                parse_report_date("startDate", bad)
                    .unwrap_err()
                    .contains("ddMMyyyy"),
                "{bad:?}"
            );
        }
        assert!(parse_report_date("startDate", "31022015")
            .unwrap_err()
            .contains("not a real date"));
        assert!(parse_report_date("startDate", "15132015")
            .unwrap_err()
            .contains("not a real date"));
    }
}
