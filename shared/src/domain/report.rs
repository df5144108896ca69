//! Glase's report: every paid invoice of an issuer for a date range, one CSV row each.
//!
//! Glase documents the report's fields and their order (the details' fields, upper-case) but
//! not its CSV dialect. So the reader is liberal about shape — a header line or none, `,` or
//! `;` (told by the first line), CRLF or LF — and strict about data: csv's serde path reads each
//! row straight into an [`Invoice`], and an error names the row, its invoice and the field. It
//! reads from any `io::Read` one record at a time, so a report is never held in memory whole.

use std::fmt::Display;
use std::io::{self, BufRead, BufReader, Read};
use std::str::{self, FromStr};

use csv::{ByteRecord, DeserializeErrorKind};
use jiff::Timestamp;
use serde::de::{Deserializer, Error as _};
use serde::Deserialize;

use super::{Amount, Currency, Invoice, InvoiceId, Payer, PurchaseTime};

/// The report's fields in Glase's order. The first eight are always there; the payer fields
/// may be left out (Glase fills them only when the issuer asked for payer details).
pub const REPORT_FIELDS: [&str; 15] = [
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

/// ID through PURCHASE_TIME.
const REQUIRED_FIELDS: usize = 8;
// Indexes into REPORT_FIELDS, for the fields parsed from their text.
const ID: usize = 0;
const AMOUNT: usize = 2;
const CURRENCY: usize = 3;

/// Why a report cannot be read. Row errors ([`ReportError::is_row_error`]) spoil one row only:
/// the reader goes on with the next. Every other error ends the report.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    // Rows, not lines, are counted: a quoted DESCRIPTION may span lines.
    #[error("report row {row}{}: {field} {reason}", invoice(.id))]
    Field {
        /// 1 for the first data row (a header line is not counted).
        row: u64,
        /// The row's invoice, when its ID could be read.
        id: Option<InvoiceId>,
        field: &'static str,
        reason: String,
    },
    #[error("report row {row}{} has {got} fields, expected {expected} like the first row", invoice(.id))]
    Width {
        row: u64,
        id: Option<InvoiceId>,
        got: usize,
        expected: usize,
    },
    #[error("report header is not Glase's: {reason}")]
    Header { reason: String },
    #[error(
        "report's first row has {got} fields; Glase's report has 8 to 15 \
         (ID, DESCRIPTION, AMOUNT, CURRENCY, STATUS, REFERENCE, ERS_REFERENCE, PURCHASE_TIME, PAYER_*)"
    )]
    FirstRow { got: usize },
    #[error(
        "report's first line has neither ',' nor ';' after its first field: it is not a CSV report"
    )]
    Delimiter,
    #[error("report could not be read")]
    Read(#[source] io::Error),
}

fn invoice(id: &Option<InvoiceId>) -> String {
    id.map(|id| format!(" (invoice {id})")).unwrap_or_default()
}

impl ReportError {
    /// True when only one row is spoilt and the rest of the report can still be read.
    pub fn is_row_error(&self) -> bool {
        matches!(self, Self::Field { .. } | Self::Width { .. })
    }

    /// The data row the error is about, if it is about one.
    pub fn row(&self) -> Option<u64> {
        match self {
            Self::Field { row, .. } | Self::Width { row, .. } => Some(*row),
            _ => None,
        }
    }
}

/// One row, by column name (Glase's names: see [`glase_names`]). Payer columns may be missing
/// and payer fields empty: both are `None`.
#[derive(Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
struct Row {
    #[serde(deserialize_with = "parsed::<ID, _, _>")]
    id: InvoiceId,
    description: String,
    #[serde(deserialize_with = "parsed::<AMOUNT, _, _>")]
    amount: Amount,
    #[serde(deserialize_with = "parsed::<CURRENCY, _, _>")]
    currency: Currency,
    /// Always PAID (anything else is an error), so not kept.
    #[serde(rename = "STATUS", deserialize_with = "paid")]
    _paid: (),
    reference: String,
    ers_reference: String,
    #[serde(deserialize_with = "w3c")]
    purchase_time: PurchaseTime,
    payer_msisdn: Option<String>,
    payer_first_name: Option<String>,
    payer_last_name: Option<String>,
    payer_street: Option<String>,
    payer_city: Option<String>,
    payer_zip: Option<String>,
    payer_country: Option<String>,
}

impl From<Row> for Invoice {
    fn from(row: Row) -> Self {
        Invoice {
            id: row.id,
            description: row.description,
            amount: row.amount,
            currency: row.currency,
            reference: row.reference,
            ers_reference: row.ers_reference,
            purchase_time: row.purchase_time,
            payer: Payer {
                msisdn: row.payer_msisdn,
                first_name: row.payer_first_name,
                last_name: row.payer_last_name,
                street: row.payer_street,
                city: row.payer_city,
                zip: row.payer_zip,
                country: row.payer_country,
            },
        }
    }
}

// csv gives serde's own errors no column, so these messages start with the field's name
// (`field_error` takes it back off).

/// `T` parsed from the text of `REPORT_FIELDS[F]`.
fn parsed<'de, const F: usize, T, D>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr<Err: Display>,
{
    let text = <&str>::deserialize(d)?;
    text.parse()
        .map_err(|e| D::Error::custom(format_args!("{} is invalid: {e}", REPORT_FIELDS[F])))
}

fn paid<'de, D: Deserializer<'de>>(d: D) -> Result<(), D::Error> {
    match <&str>::deserialize(d)? {
        "PAID" => Ok(()),
        status => Err(D::Error::custom(format_args!(
            "STATUS is {status:?}, not PAID"
        ))),
    }
}

fn w3c<'de, D: Deserializer<'de>>(d: D) -> Result<PurchaseTime, D::Error> {
    let text = <&str>::deserialize(d)?;
    parse_w3c_datetime(text)
        .map(PurchaseTime::from_timestamp)
        .map_err(|e| D::Error::custom(format_args!("PURCHASE_TIME is invalid: {e}")))
}

/// Reads a report one row at a time.
///
/// ```
/// # use glase_shared::ReportReader;
/// let body = "ID;DESCRIPTION;AMOUNT;CURRENCY;STATUS;REFERENCE;ERS_REFERENCE;PURCHASE_TIME\n\
///             576;\"Phone; 05.2015\";59.99;GBP;PAID;586930/05/2015;892736823467823-3897474;2015-05-15T15:37:33+02:00\n";
/// let rows: Vec<_> = ReportReader::new(body.as_bytes())?.collect::<Result<_, _>>()?;
/// assert_eq!(rows[0].amount.to_string(), "59.99");
/// # Ok::<(), glase_shared::ReportError>(())
/// ```
pub struct ReportReader<R: Read> {
    csv: csv::Reader<io::Chain<io::Cursor<Vec<u8>>, BufReader<R>>>,
    record: ByteRecord,
    /// Glase's name of each column: the header's, or (no header) Glase's order as wide as the
    /// first row, once it is read.
    names: Option<ByteRecord>,
    delimiter: u8,
    header: bool,
    rows: u64,
    done: bool,
}

/// The first field (an ID, or a column name) is never longer.
const SNIFF_LIMIT: usize = 1024;
const BOM: &[u8] = b"\xEF\xBB\xBF";

impl<R: Read> ReportReader<R> {
    /// Reads just enough of `input` to tell the delimiter and whether a header comes first:
    /// the first line's first `,` or `;` ends its first field (an ID, or a column name), which
    /// contains neither. A UTF-8 BOM and blank lines before it are skipped.
    pub fn new(input: R) -> Result<Self, ReportError> {
        let mut input = BufReader::new(input);
        let mut seen = Vec::new();
        let (delimiter, header) = loop {
            let chunk = match input.fill_buf() {
                Ok(chunk) => chunk,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(ReportError::Read(e)),
            };
            let (n, at_end) = (chunk.len(), chunk.is_empty());
            seen.extend_from_slice(chunk);
            input.consume(n);
            if seen.starts_with(BOM) {
                seen.drain(..BOM.len());
            }
            if let Some(found) = sniff(&seen, at_end)? {
                break found;
            }
        };
        let mut csv = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(header)
            // Widths are checked here, per row, with a precise error.
            .flexible(true)
            .from_reader(io::Cursor::new(seen).chain(input));
        let names = match header {
            true => Some(glase_names(csv.byte_headers().map_err(read_error)?)?),
            false => None,
        };
        Ok(Self {
            csv,
            record: ByteRecord::new(),
            names,
            delimiter,
            header,
            rows: 0,
            done: false,
        })
    }

    /// The delimiter, `b','` or `b';'`.
    pub fn delimiter(&self) -> u8 {
        self.delimiter
    }

    /// Whether the report begins with a header line.
    pub fn has_header(&self) -> bool {
        self.header
    }

    fn read_row(&mut self) -> Result<Option<Invoice>, ReportError> {
        if !self
            .csv
            .read_byte_record(&mut self.record)
            .map_err(read_error)?
        {
            return Ok(None);
        }
        let width = self.record.len();
        let names = match &mut self.names {
            Some(names) => names,
            names if (REQUIRED_FIELDS..=REPORT_FIELDS.len()).contains(&width) => {
                names.insert(REPORT_FIELDS[..width].iter().collect())
            }
            _ => return Err(ReportError::FirstRow { got: width }),
        };
        self.rows += 1;
        parse(&self.record, names, self.rows).map(Some)
    }
}

impl<R: Read> Iterator for ReportReader<R> {
    type Item = Result<Invoice, ReportError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let row = self.read_row().transpose();
        self.done = match &row {
            None => true,
            Some(row) => row.as_ref().is_err_and(|e| !e.is_row_error()),
        };
        row
    }
}

/// Reads a whole report held in memory; stops at the first error of any kind.
pub fn read_report(body: &[u8]) -> Result<Vec<Invoice>, ReportError> {
    ReportReader::new(body)?.collect()
}

/// The delimiter, and whether the first line is a header, once `seen` holds the first line's
/// first field and the delimiter after it.
fn sniff(seen: &[u8], at_end: bool) -> Result<Option<(u8, bool)>, ReportError> {
    // Leading blank lines are skipped, as the CSV reader skips blank lines.
    let start = seen.iter().position(|b| !matches!(b, b'\r' | b'\n'));
    let content = &seen[start.unwrap_or(seen.len())..];
    let line_end = content.iter().position(|b| matches!(b, b'\r' | b'\n'));
    let line = &content[..line_end.unwrap_or(content.len())];
    if let Some(at) = line.iter().position(|b| matches!(b, b',' | b';')) {
        let first = str::from_utf8(&line[..at]).unwrap_or_default();
        return Ok(Some((line[at], column(first.trim_matches('"')).is_some())));
    }
    if at_end && content.iter().all(u8::is_ascii_whitespace) {
        return Ok(Some((b',', false))); // An empty report: no rows, whatever the dialect.
    }
    if at_end || line_end.is_some() || seen.len() > SNIFF_LIMIT {
        return Err(ReportError::Delimiter);
    }
    Ok(None)
}

/// Which of Glase's fields a column name means: names compare without case, `_` or spaces, so
/// `ERS_REFERENCE` and `ersReference` both work.
fn column(name: &str) -> Option<usize> {
    let key = |s: &str| {
        s.trim()
            .chars()
            .filter(|c| !matches!(c, '_' | ' '))
            .map(|c| c.to_ascii_lowercase())
            .collect::<String>()
    };
    REPORT_FIELDS.iter().position(|f| key(f) == key(name))
}

/// The header with Glase's own name for each column it knows, in any order; unknown columns
/// keep theirs (serde skips them).
fn glase_names(header: &ByteRecord) -> Result<ByteRecord, ReportError> {
    let bad = |reason: String| ReportError::Header { reason };
    let mut names = ByteRecord::new();
    for cell in header {
        let name = str::from_utf8(cell).map_err(|_| bad("a column name is not UTF-8".into()))?;
        let name = column(name).map_or(name, |f| REPORT_FIELDS[f]);
        if REPORT_FIELDS.contains(&name) && names.iter().any(|n| n == name.as_bytes()) {
            return Err(bad(format!("column {name} appears twice")));
        }
        names.push_field(name.as_bytes());
    }
    match REPORT_FIELDS[..REQUIRED_FIELDS]
        .iter()
        .find(|f| !names.iter().any(|n| n == f.as_bytes()))
    {
        Some(missing) => Err(bad(format!("it lacks the column {missing}"))),
        None => Ok(names),
    }
}

fn read_error(e: csv::Error) -> ReportError {
    ReportError::Read(match e.into_kind() {
        csv::ErrorKind::Io(io) => io,
        other => io::Error::other(format!("{other:?}")),
    })
}

fn parse(record: &ByteRecord, names: &ByteRecord, row: u64) -> Result<Invoice, ReportError> {
    // Read first, so every later error can name the invoice.
    let id = names
        .iter()
        .position(|n| n == b"ID")
        .and_then(|at| str::from_utf8(record.get(at)?).ok()?.parse().ok());
    if record.len() != names.len() {
        return Err(ReportError::Width {
            row,
            id,
            got: record.len(),
            expected: names.len(),
        });
    }
    let (field, reason) = match record.deserialize::<Row>(Some(names)) {
        Ok(row) => return Ok(row.into()),
        Err(e) => field_error(e, names),
    };
    Err(ReportError::Field {
        row,
        id,
        field,
        reason,
    })
}

/// Which field a deserialize error is about, and why.
fn field_error(e: csv::Error, names: &ByteRecord) -> (&'static str, String) {
    let csv::ErrorKind::Deserialize { err, .. } = e.kind() else {
        return ("a field", e.to_string());
    };
    let named = |at: u64| {
        let name = names.get(usize::try_from(at).ok()?)?;
        REPORT_FIELDS.into_iter().find(|f| f.as_bytes() == name)
    };
    match (err.field().and_then(named), err.kind()) {
        (Some(field), DeserializeErrorKind::InvalidUtf8(_)) => (field, "is not valid UTF-8".into()),
        (Some(field), kind) => (field, format!("is invalid: {kind}")),
        (None, kind) => {
            let message = kind.to_string();
            REPORT_FIELDS
                .into_iter()
                .find_map(|f| Some((f, message.strip_prefix(f)?.strip_prefix(' ')?.to_owned())))
                .unwrap_or(("a field", message))
        }
    }
}

/// Why a PURCHASE_TIME is not a W3C date and time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum W3cDateTimeError {
    #[error("must look like YYYY-MM-DDThh:mm:ssTZD, e.g. 2015-05-15T15:37:33+02:00 or 2015-05-15T13:37:33Z")]
    BadFormat,
    #[error("is not a real date and time")]
    Impossible,
}

/// Parses the W3C profile of ISO 8601 at seconds precision, `YYYY-MM-DDThh:mm:ssTZD` where TZD
/// is `Z` or `±hh:mm`, into the exact instant. Anything else (fractions, no zone, a space for
/// `T`) is refused: a shape check first, then jiff checks the calendar.
pub fn parse_w3c_datetime(text: &str) -> Result<Timestamp, W3cDateTimeError> {
    const SHAPE: &[u8] = b"0000-00-00T00:00:00";
    let bytes = text.as_bytes();
    let (head, zone) = bytes.split_at(bytes.len().min(SHAPE.len()));
    let head_ok = head.len() == SHAPE.len()
        && head.iter().zip(SHAPE).all(|(c, s)| {
            if *s == b'0' {
                c.is_ascii_digit()
            } else {
                c == s
            }
        });
    let zone_ok = zone == b"Z"
        || (zone.len() == 6
            && matches!(zone[0], b'+' | b'-')
            && zone[1..3].iter().all(u8::is_ascii_digit)
            && zone[3] == b':'
            && zone[4..6].iter().all(u8::is_ascii_digit));
    if !head_ok || !zone_ok {
        return Err(W3cDateTimeError::BadFormat);
    }
    text.parse::<Timestamp>()
        .map_err(|_| W3cDateTimeError::Impossible)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str =
        "ID,DESCRIPTION,AMOUNT,CURRENCY,STATUS,REFERENCE,ERS_REFERENCE,PURCHASE_TIME,\
PAYER_MSISDN,PAYER_FIRST_NAME,PAYER_LAST_NAME,PAYER_STREET,PAYER_CITY,PAYER_ZIP,PAYER_COUNTRY";

    /// Glase's documentation example (the details response), as a report row in Glase's order.
    const DOC_ROW: &str =
        "576,Phone invoice 05.2015,59.99,GBP,PAID,586930/05/2015,892736823467823-3897474,\
2015-05-15T15:37:33+02:00,46111222333,John,Smith,34 Wellington St,London,74231,en";

    fn rows(body: &str) -> Vec<Invoice> {
        read_report(body.as_bytes()).unwrap_or_else(|e| panic!("{e}: {body:?}"))
    }

    fn doc_row() -> Invoice {
        Invoice {
            id: InvoiceId::new(576).unwrap(),
            description: "Phone invoice 05.2015".into(),
            amount: "59.99".parse().unwrap(),
            currency: "GBP".parse().unwrap(),
            reference: "586930/05/2015".into(),
            ers_reference: "892736823467823-3897474".into(),
            purchase_time: PurchaseTime::parse_iso("2015-05-15T13:37:33Z").unwrap(),
            payer: Payer {
                msisdn: Some("46111222333".into()),
                first_name: Some("John".into()),
                last_name: Some("Smith".into()),
                street: Some("34 Wellington St".into()),
                city: Some("London".into()),
                zip: Some("74231".into()),
                country: Some("en".into()),
            },
        }
    }

    #[test]
    fn reads_every_field_of_glases_documented_order() {
        // Act
        let got = rows(&format!("{HEADER}\r\n{DOC_ROW}\r\n"));

        // Assert
        assert_eq!(got, vec![doc_row()]);
        assert_eq!(got[0].amount.to_string(), "59.99", "exact, with its digits");
        assert_eq!(got[0].purchase_time.to_iso(), "2015-05-15T13:37:33Z");
    }

    #[test]
    fn the_fixture_report_says_what_the_details_fixture_says() {
        // Arrange
        const REPORT: &str = include_str!("../../../events/glase-report.csv");
        const DETAILS: &str = include_str!("../../../events/glase-invoice-576.json");
        let details = Invoice::from_glase_json(
            DETAILS.as_bytes(),
            InvoiceId::new(576).unwrap(),
            &jiff::tz::TimeZone::UTC,
        )
        .unwrap();

        // Act
        let got = rows(REPORT);

        // Assert
        assert_eq!(got.len(), 2);
        assert_eq!(got[0], details);
        assert_eq!(
            got[1].description,
            "Broadband \"Fibre 100\", June 2015\nsecond line"
        );
        assert_eq!(got[1].amount.to_string(), "7.50");
        assert_eq!(got[1].purchase_time.to_string(), "2015-06-30T21:59:59Z");
        assert_eq!(got[1].payer, Payer::default());
    }

    #[test]
    fn every_accepted_shape_reads_the_same_rows() {
        // Arrange: one tricky row, written in each dialect the reader accepts.
        let description = "Broadband \"Fibre 100\", June; 2015\nsecond line\r\nthird";
        let quoted = format!("\"{}\"", description.replace('"', "\"\""));
        let row = |d: char| {
            [
                "1002",
                &quoted,
                "7.50",
                "SEK",
                "PAID",
                "BB/06/2015",
                "750202426094747-4162090",
                "2015-06-30T23:59:59Z",
                "46700000001",
                "",
                "",
                "",
                "",
                "",
                "",
            ]
            .join(&d.to_string())
        };
        let header = |d: char| HEADER.replace(',', &d.to_string());
        let mut shapes = Vec::new();
        for d in [',', ';'] {
            for eol in ["\r\n", "\n"] {
                shapes.push(format!(
                    "{}{eol}{}{eol}{}{eol}",
                    header(d),
                    row(d),
                    DOC_ROW.replace(',', &d.to_string())
                ));
                shapes.push(format!(
                    "{}{eol}{}{eol}",
                    row(d),
                    DOC_ROW.replace(',', &d.to_string())
                ));
                // No final line ending.
                shapes.push(format!(
                    "{}{eol}{}",
                    row(d),
                    DOC_ROW.replace(',', &d.to_string())
                ));
            }
        }

        // Act
        let parsed: Vec<Vec<Invoice>> = shapes.iter().map(|s| rows(s)).collect();

        // Assert
        assert_eq!(parsed[0].len(), 2);
        assert_eq!(
            parsed[0][0].description, description,
            "escaped quotes and newlines survive"
        );
        assert_eq!(parsed[0][0].amount.to_string(), "7.50");
        assert_eq!(
            parsed[0][0].payer,
            Payer {
                msisdn: Some("46700000001".into()),
                ..Payer::default()
            }
        );
        assert_eq!(parsed[0][1], doc_row());
        for (shape, got) in shapes.iter().zip(&parsed) {
            assert_eq!(got, &parsed[0], "{shape:?}");
        }
    }

    #[test]
    fn sniffs_the_delimiter_and_the_header() {
        let semi = DOC_ROW.replace(',', ";");
        let mut reader = ReportReader::new(semi.as_bytes()).unwrap();
        assert_eq!(reader.delimiter(), b';');
        assert!(reader.next().unwrap().is_ok());
        assert!(!reader.has_header());

        // A ';' description in a ','-report, and commas in a ';'-report, do not fool it.
        let commas = DOC_ROW.replace("Phone invoice 05.2015", "\"a;b;c\"");
        assert_eq!(
            ReportReader::new(commas.as_bytes()).unwrap().delimiter(),
            b','
        );
        let semis = semi.replace(
            "Phone invoice 05.2015",
            "a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p",
        );
        let got = rows(&semis);
        assert_eq!(
            got[0].description,
            "a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p"
        );

        let bom = format!("\u{feff}{HEADER}\n{DOC_ROW}\n");
        let mut with_header = ReportReader::new(bom.as_bytes()).unwrap();
        assert_eq!(
            with_header.next().unwrap().unwrap(),
            doc_row(),
            "a UTF-8 BOM is skipped"
        );
        assert!(with_header.has_header());
    }

    #[test]
    fn sniffing_reads_only_the_first_field_even_when_the_input_trickles_in() {
        /// Hands out one byte per read.
        struct Trickle<'a>(&'a [u8]);
        impl Read for Trickle<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                match (self.0.split_first(), buf.first_mut()) {
                    (Some((b, rest)), Some(slot)) => {
                        *slot = *b;
                        self.0 = rest;
                        Ok(1)
                    }
                    _ => Ok(0),
                }
            }
        }
        let body = format!("\r\n\r\n{HEADER}\r\n{DOC_ROW}\r\n");
        let got: Vec<_> = ReportReader::new(Trickle(body.as_bytes()))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(got, vec![doc_row()]);
    }

    #[test]
    fn a_header_may_name_columns_in_any_order_and_case_and_add_unknown_ones() {
        let body = "Amount,id,Currency,Status,Reference,ersReference,Purchase_Time,Description,Extra\n\
                    59.99,576,GBP,PAID,586930/05/2015,892736823467823-3897474,2015-05-15T15:37:33+02:00,Phone invoice 05.2015,x\n";
        let got = rows(body);
        assert_eq!(
            got[0],
            Invoice {
                payer: Payer::default(),
                ..doc_row()
            }
        );
    }

    #[test]
    fn payer_columns_may_be_left_out_entirely() {
        let body = "576,Phone invoice 05.2015,59.99,GBP,PAID,586930/05/2015,892736823467823-3897474,2015-05-15T15:37:33+02:00\n";
        assert_eq!(
            rows(body)[0],
            Invoice {
                payer: Payer::default(),
                ..doc_row()
            }
        );
    }

    #[test]
    fn an_empty_report_or_a_header_alone_has_no_rows() {
        assert!(rows("").is_empty());
        assert!(rows("\r\n").is_empty());
        assert!(rows(&format!("{HEADER}\r\n")).is_empty());
        assert!(rows(&HEADER.replace(',', ";")).is_empty());
    }

    #[test]
    fn bad_fields_are_refused_with_row_invoice_and_field_and_the_next_row_still_reads() {
        let cases = [
            ("576", "57a", "ID"),
            ("576", "0", "ID"),
            ("59.99", "\"59,99\"", "AMOUNT"),
            ("59.99", "-59.99", "AMOUNT"),
            ("59.99", "5.999e1", "AMOUNT"),
            ("59.99", "", "AMOUNT"),
            ("GBP", "gbp", "CURRENCY"),
            ("PAID", "REFUNDED", "STATUS"),
            (
                "2015-05-15T15:37:33+02:00",
                "15.05.2015 15:37:33",
                "PURCHASE_TIME",
            ),
            (
                "2015-05-15T15:37:33+02:00",
                "2015-05-15T15:37:33",
                "PURCHASE_TIME",
            ),
            (
                "2015-05-15T15:37:33+02:00",
                "2015-02-30T15:37:33Z",
                "PURCHASE_TIME",
            ),
        ];
        for (from, to, field) in cases {
            // Arrange: a header, a good row, the bad one (over two lines), a good one.
            let bad = DOC_ROW
                .replacen(from, to, 1)
                .replace("Phone invoice 05.2015", "\"two\nlines\"");
            let body = format!("{HEADER}\r\n{DOC_ROW}\r\n{bad}\r\n{DOC_ROW}\r\n");

            // Act
            let got: Vec<_> = ReportReader::new(body.as_bytes()).unwrap().collect();

            // Assert
            assert_eq!(got.len(), 3, "{to}");
            match &got[1] {
                Err(
                    e @ ReportError::Field {
                        row, id, field: f, ..
                    },
                ) => {
                    assert_eq!((*row, *f), (2, field), "{to}: {e}");
                    assert!(e.is_row_error());
                    let named = if field == "ID" {
                        String::new()
                    } else {
                        " (invoice 576)".into()
                    };
                    assert_eq!(id.is_some(), field != "ID");
                    assert!(
                        e.to_string()
                            .starts_with(&format!("report row 2{named}: {field} ")),
                        "{e}"
                    );
                }
                other => panic!("{to}: expected a field error, got {other:?}"),
            }
            assert!(got[0].is_ok() && got[2].is_ok(), "{to}");
        }
    }

    #[test]
    fn a_row_of_another_width_is_refused_alone() {
        let short = "577,d,1.00,EUR,PAID,r,e,2015-05-15T15:37:33Z";
        let body = format!("{DOC_ROW}\n{short}\n{DOC_ROW}\n");
        let got: Vec<_> = ReportReader::new(body.as_bytes()).unwrap().collect();
        assert!(matches!(
            got[1],
            Err(ReportError::Width {
                row: 2,
                id: Some(_),
                got: 8,
                expected: 15
            })
        ));
        assert!(got[2].is_ok());
    }

    #[test]
    fn invalid_utf8_is_a_field_error() {
        let mut body = DOC_ROW.as_bytes().to_vec();
        let at = body.windows(5).position(|w| w == b"Phone").unwrap();
        body[at] = 0xFF;
        let err = read_report(&body).unwrap_err();
        assert!(
            matches!(
                err,
                ReportError::Field {
                    field: "DESCRIPTION",
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn what_is_not_a_report_ends_it_with_a_clear_error() {
        assert!(matches!(
            read_report(b"<html>oops</html>\n"),
            Err(ReportError::Delimiter)
        ));
        assert!(matches!(
            read_report(b"{\"error\": 1}"),
            Err(ReportError::Delimiter)
        ));
        assert!(matches!(
            read_report(b"576,1,2\n"),
            Err(ReportError::FirstRow { got: 3, .. })
        ));
        let err = read_report(b"ID,DESCRIPTION,AMOUNT\n1,d,2\n").unwrap_err();
        assert!(
            matches!(&err, ReportError::Header { reason } if reason.contains("CURRENCY")),
            "{err}"
        );
        assert!(!err.is_row_error());
        let twice = format!("{HEADER},ID\n");
        assert!(matches!(
            read_report(twice.as_bytes()),
            Err(ReportError::Header { .. })
        ));
    }

    #[test]
    fn a_read_failure_ends_the_report() {
        struct Broken;
        impl Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::other("connection reset"))
            }
        }
        assert!(matches!(
            ReportReader::new(Broken),
            Err(ReportError::Read(_))
        ));
        let mut reader = ReportReader::new(DOC_ROW.as_bytes().chain(Broken)).unwrap();
        assert!(matches!(reader.next(), Some(Err(ReportError::Read(_)))));
        assert!(reader.next().is_none());
    }

    #[test]
    fn w3c_datetimes_are_exact_and_strict() {
        let at = |s: &str| parse_w3c_datetime(s);
        assert_eq!(
            at("2015-05-15T15:37:33+02:00").unwrap().to_string(),
            "2015-05-15T13:37:33Z"
        );
        assert_eq!(
            at("2015-05-15T13:37:33Z").unwrap(),
            at("2015-05-15T15:37:33+02:00").unwrap()
        );
        assert_eq!(
            at("2015-01-01T00:30:00-05:30").unwrap().to_string(),
            "2015-01-01T06:00:00Z"
        );
        for bad in [
            "2015-05-15 15:37:33+02:00",
            "2015-05-15T15:37:33",
            "2015-05-15T15:37:33.5Z",
            "2015-05-15T15:37Z",
            "2015-05-15T15:37:33+0200",
            "2015-05-15t15:37:33z",
            "15.05.2015 15:37:33",
            "",
        ] {
            assert_eq!(at(bad), Err(W3cDateTimeError::BadFormat), "{bad:?}");
        }
        assert_eq!(
            at("2015-13-01T00:00:00Z"),
            Err(W3cDateTimeError::Impossible)
        );
        assert_eq!(
            at("2015-05-15T24:00:01Z"),
            Err(W3cDateTimeError::Impossible)
        );
    }
}
