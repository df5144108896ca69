//! `GET /api/report`: the issuer's paid invoices between two dates, as CSV (RFC 4180 unless a
//! [`ReportFormat`] says otherwise).

use std::borrow::Cow;

use jiff::civil::Date;
use jiff::tz::TimeZone;

use crate::config::ReportFormat;
use crate::model::{payer_fields, SimInvoice};

/// The header row, in Glase's field order: the one list, shared with the report reader.
pub use glase_shared::REPORT_FIELDS as REPORT_COLUMNS;

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

/// The report body in RFC 4180: a header row, then one row per invoice whose purchase date in
/// `zone` is within `[start, end]`, in the order given. Lines end with CRLF.
pub fn report_csv<'a>(
    invoices: impl IntoIterator<Item = &'a SimInvoice>,
    start: Date,
    end: Date,
    zone: &TimeZone,
) -> String {
    report_csv_with(invoices, start, end, zone, ReportFormat::default())
}

/// The report body in `format`: with or without the header row, `,` or `;`, CRLF or LF. A field
/// is quoted when it contains the delimiter, a double quote, CR or LF; its quotes are doubled.
pub fn report_csv_with<'a>(
    invoices: impl IntoIterator<Item = &'a SimInvoice>,
    start: Date,
    end: Date,
    zone: &TimeZone,
    format: ReportFormat,
) -> String {
    let mut out = String::new();
    if format.header {
        push_row(
            &mut out,
            REPORT_COLUMNS.iter().map(|c| Cow::Borrowed(*c)),
            format,
        );
    }
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
        push_row(&mut out, row.into_iter(), format);
    }
    out
}

fn push_row<'a>(
    out: &mut String,
    fields: impl Iterator<Item = Cow<'a, str>>,
    format: ReportFormat,
) {
    let delimiter = format.delimiter.as_char();
    for (i, field) in fields.enumerate() {
        if i > 0 {
            out.push(delimiter);
        }
        out.push_str(&quoted(&field, delimiter));
    }
    out.push_str(format.line_ending.as_str());
}

/// RFC 4180: a field containing a comma, a double quote, CR or LF is quoted, quotes doubled.
pub fn csv_field(s: &str) -> Cow<'_, str> {
    quoted(s, ',')
}

fn quoted(s: &str, delimiter: char) -> Cow<'_, str> {
    if s.contains([delimiter, '"', '\r', '\n']) {
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
    fn other_shapes_change_only_the_header_delimiter_and_line_ending() {
        use crate::config::{Delimiter, LineEnding};
        use crate::{Sim, SimConfig};

        let sim = Sim::new(SimConfig::default());
        let invoices = sim.invoices();
        let (start, end) = (
            jiff::civil::date(2015, 1, 1),
            jiff::civil::date(2015, 12, 31),
        );
        let render = |format| report_csv_with(&invoices, start, end, &TimeZone::UTC, format);
        let rfc = report_csv(&invoices, start, end, &TimeZone::UTC);
        let semicolon_lf = render(ReportFormat {
            header: false,
            delimiter: Delimiter::Semicolon,
            line_ending: LineEnding::Lf,
        });

        assert!(rfc.starts_with("ID,DESCRIPTION,"));
        assert!(semicolon_lf.starts_with("1000;Phone invoice 05.2015;59.99;GBP;PAID;"));
        assert!(!semicolon_lf.contains('\r'));
        // The sample description has a comma and quotes: still quoted (for its quotes), commas kept.
        assert!(semicolon_lf.contains("1002;\"Broadband \"\"Fibre 100\"\", June 2015\";7.50;SEK;"));
        assert_eq!(rfc.lines().count(), semicolon_lf.lines().count() + 1);
        assert_eq!(quoted("a;b", ';'), "\"a;b\"");
        assert_eq!(quoted("a,b", ';'), "a,b");
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
