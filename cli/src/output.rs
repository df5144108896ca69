//! Records printed as an aligned table, JSON lines or CSV. The column names are the table's
//! attribute names in every format; amounts arrive here already formatted (exact text).

use std::collections::BTreeMap;
use std::io::Write;

use comfy_table::{CellAlignment, ContentLineStyle, LineStyle, Table, TableStyle};
use glase_shared::{checked_sum, Amount, Currency};
use jiff::tz::TimeZone;
use jiff::Timestamp;

use crate::args::Format;
use crate::error::CliError;
use crate::times;

/// One field's value, typed so each format can show it faithfully.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Text(String),
    /// An integer, as its exact text (a JSON number).
    Number(String),
    /// Money, already padded to the currency's minor units (a JSON string: no float ever).
    Amount(String),
    /// An instant: stored ISO 8601 UTC in JSON and CSV; in tables shown in `--tz`.
    Time(Timestamp),
    /// Epoch milliseconds (`leaseUntil`): a number, shown as a time in tables.
    Millis(i64),
}

impl Value {
    pub fn text(v: impl Into<String>) -> Self {
        Self::Text(v.into())
    }

    pub fn number(v: impl ToString) -> Self {
        Self::Number(v.to_string())
    }

    fn plain(&self) -> String {
        match self {
            Self::Text(s) | Self::Number(s) | Self::Amount(s) => s.clone(),
            Self::Time(t) => t.to_string(),
            Self::Millis(ms) => ms.to_string(),
        }
    }

    /// For a CSV cell. Text is payer- or Glase-controlled: text a spreadsheet would run as a
    /// formula gets a leading `'` (OWASP's advice for CSV injection). Typed values are never
    /// prefixed: amounts are never negative and ids, counts and times never start so, so they
    /// keep their exact value.
    fn for_csv(&self) -> String {
        match self {
            Self::Text(s) if s.starts_with(['=', '+', '-', '@', '\t', '\r']) => format!("'{s}"),
            other => other.plain(),
        }
    }

    /// For a table: times in `tz`, and every control character (C0, DEL, C1) shown as an
    /// escape, so each record stays one line and payer text cannot drive the terminal.
    fn for_person(&self, tz: &TimeZone) -> String {
        match self {
            Self::Time(t) => times::display(*t, tz),
            // A released lease is 0: no worker holds the invoice.
            Self::Millis(0) => "0 (released)".into(),
            Self::Millis(ms) => Timestamp::from_millisecond(*ms)
                .map(|t| times::display(t, tz))
                .unwrap_or_else(|_| ms.to_string()),
            Self::Text(s) => visible(s),
            other => other.plain(),
        }
    }

    fn json(&self) -> String {
        match self {
            Self::Number(n) => n.clone(),
            Self::Millis(ms) => ms.to_string(),
            other => json_string(&other.plain()),
        }
    }
}

/// `s` with `\n`, `\r`, `\t` as those escapes and any other control character as `\u{..}`.
fn visible(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.extend(c.escape_unicode()),
            c => out.push(c),
        }
    }
    out
}

fn json_string(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

/// A row: `(attribute name, value)` in display order; absent attributes are left out.
pub type Record = Vec<(&'static str, Value)>;

/// Which columns each format shows.
#[derive(Debug, Clone)]
pub struct View {
    /// JSON keys and CSV header, in order.
    pub columns: Vec<&'static str>,
    /// The narrower set an aligned table shows.
    pub table_columns: Vec<&'static str>,
}

/// Writes records as they come (JSON, CSV) or all at once at the end (table).
pub struct Printer<W: Write> {
    view: View,
    tz: TimeZone,
    sink: Sink<W>,
    count: usize,
}

enum Sink<W: Write> {
    Json(W),
    Csv(Box<csv::Writer<W>>),
    Table(W, Vec<Vec<String>>),
}

impl<W: Write> Printer<W> {
    pub fn new(format: Format, view: View, tz: TimeZone, out: W) -> Result<Self, CliError> {
        let sink = match format {
            Format::Json => Sink::Json(out),
            Format::Csv => {
                let mut csv = csv::WriterBuilder::new()
                    .terminator(csv::Terminator::CRLF)
                    .from_writer(out);
                // The header even for no rows: an empty export is still a valid CSV file.
                csv.write_record(&view.columns)?;
                Sink::Csv(Box::new(csv))
            }
            Format::Table => Sink::Table(out, Vec::new()),
        };
        Ok(Self {
            view,
            tz,
            sink,
            count: 0,
        })
    }

    pub fn print(&mut self, record: &Record) -> Result<(), CliError> {
        self.count += 1;
        let get = |name: &str| record.iter().find(|(n, _)| *n == name).map(|(_, v)| v);
        match &mut self.sink {
            Sink::Json(out) => {
                let fields: Vec<String> = self
                    .view
                    .columns
                    .iter()
                    .filter_map(|c| get(c).map(|v| format!("{}:{}", json_string(c), v.json())))
                    .collect();
                writeln!(out, "{{{}}}", fields.join(","))?;
            }
            Sink::Csv(csv) => {
                let row: Vec<String> = self
                    .view
                    .columns
                    .iter()
                    .map(|c| get(c).map(Value::for_csv).unwrap_or_default())
                    .collect();
                csv.write_record(&row)?;
            }
            Sink::Table(_, rows) => {
                let tz = &self.tz;
                rows.push(
                    self.view
                        .table_columns
                        .iter()
                        .map(|c| get(c).map(|v| v.for_person(tz)).unwrap_or_default())
                        .collect(),
                );
            }
        }
        Ok(())
    }

    /// Flushes and returns how many records were printed.
    pub fn finish(self) -> Result<usize, CliError> {
        match self.sink {
            Sink::Json(mut out) => out.flush()?,
            Sink::Csv(mut csv) => csv.flush()?,
            Sink::Table(mut out, rows) => {
                if !rows.is_empty() {
                    writeln!(out, "{}", table(&self.view.table_columns, rows))?;
                }
                out.flush()?;
            }
        }
        Ok(self.count)
    }
}

/// One record as attribute/value lines (the table form of a single item).
pub fn vertical(record: &Record, tz: &TimeZone) -> String {
    let mut t = Table::new();
    t.load_style(TableStyle::new());
    for (name, value) in record {
        t.add_row(vec![name.to_string(), value.for_person(tz)]);
    }
    t.trim_fmt()
}

const RIGHT_ALIGNED: &[&str] = &[
    "invoiceId",
    "amount",
    "attempts",
    "receives",
    "invoices",
    "total",
];

/// Aligned columns: a header, a rule under it, no borders; numbers and amounts right-aligned.
pub fn table(header: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut t = Table::new();
    t.load_style(
        TableStyle::new()
            .header_lines(ContentLineStyle::none().junction(' '))
            .content_lines(ContentLineStyle::none().junction(' '))
            .header_separator(LineStyle::none().fill('-').junction(' ')),
    );
    t.set_header(header.to_vec());
    for row in rows {
        t.add_row(row);
    }
    for (i, name) in header.iter().enumerate() {
        if RIGHT_ALIGNED.contains(name) {
            if let Some(column) = t.column_mut(i) {
                column.set_cell_alignment(CellAlignment::Right);
            }
        }
    }
    t.trim_fmt()
}

/// Count and exact total per currency, in currency order.
#[derive(Debug, Default)]
pub struct Totals {
    by_currency: BTreeMap<String, (Currency, u64, Option<Amount>)>,
}

impl Totals {
    pub fn add(&mut self, currency: Currency, amount: &Amount) {
        let entry = self
            .by_currency
            .entry(currency.as_str().to_owned())
            .or_insert((currency, 0, checked_sum([])));
        entry.1 += 1;
        // None only past 28 significant digits, which no sum of invoices gets near.
        entry.2 = entry.2.and_then(|sum| checked_sum([&sum, amount]));
    }

    pub fn render(&self) -> String {
        let rows = self
            .by_currency
            .values()
            .map(|(currency, count, total)| {
                let total = total
                    .map(|t| t.format_in(currency))
                    .unwrap_or_else(|| "(too large)".into());
                vec![currency.to_string(), count.to_string(), total]
            })
            .collect();
        table(&["currency", "invoices", "total"], rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view() -> View {
        View {
            columns: vec!["invoiceId", "amount", "description", "purchaseTime"],
            table_columns: vec!["invoiceId", "amount", "description"],
        }
    }

    fn record() -> Record {
        vec![
            ("invoiceId", Value::number(7)),
            ("amount", Value::Amount("0.10".into())),
            ("description", Value::text("Tea, \"green\"")),
            (
                "purchaseTime",
                Value::Time("2026-06-01T10:00:00Z".parse().unwrap()),
            ),
        ]
    }

    fn render(format: Format, records: &[Record]) -> String {
        let mut out = Vec::new();
        let mut p = Printer::new(format, view(), TimeZone::UTC, &mut out).unwrap();
        for r in records {
            p.print(r).unwrap();
        }
        assert_eq!(p.finish().unwrap(), records.len());
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn json_lines_keep_attribute_order_numbers_and_amount_text() {
        assert_eq!(
            render(Format::Json, &[record()]),
            "{\"invoiceId\":7,\"amount\":\"0.10\",\"description\":\"Tea, \\\"green\\\"\",\"purchaseTime\":\"2026-06-01T10:00:00Z\"}\n"
        );
    }

    #[test]
    fn csv_has_a_header_rfc_4180_quoting_and_empty_absent_fields() {
        let mut partial = record();
        partial.retain(|(n, _)| *n != "purchaseTime");
        assert_eq!(
            render(Format::Csv, &[record(), partial]),
            "invoiceId,amount,description,purchaseTime\r\n\
             7,0.10,\"Tea, \"\"green\"\"\",2026-06-01T10:00:00Z\r\n\
             7,0.10,\"Tea, \"\"green\"\"\",\r\n"
        );
        assert_eq!(
            render(Format::Csv, &[]),
            "invoiceId,amount,description,purchaseTime\r\n"
        );
    }

    #[test]
    fn tables_align_columns_and_right_align_numbers() {
        let mut second = record();
        second[0].1 = Value::number(1234);
        second[1].1 = Value::Amount("120.00".into());
        assert_eq!(
            render(Format::Table, &[record(), second]),
            " invoiceId   amount   description\n\
             ----------- -------- --------------\n         \
             7     0.10   Tea, \"green\"\n      \
             1234   120.00   Tea, \"green\"\n"
        );
    }

    #[test]
    fn csv_prefixes_formula_text_but_keeps_typed_values_exact() {
        for (text, cell) in [
            ("=1+1", "'=1+1"),
            ("+44 20", "'+44 20"),
            ("-1", "'-1"),
            ("@x", "'@x"),
            ("\tx", "'\tx"),
            ("\rx", "'\rx"),
            ("a=b", "a=b"),
        ] {
            assert_eq!(Value::text(text).for_csv(), cell);
        }
        assert_eq!(Value::Amount("0.10".into()).for_csv(), "0.10");
        assert_eq!(Value::number(7).for_csv(), "7");
    }

    #[test]
    fn tables_escape_every_control_character() {
        assert_eq!(
            Value::text("a\u{1b}[31mb\u{85}c\u{7f}\u{0}\nd\te").for_person(&TimeZone::UTC),
            "a\\u{1b}[31mb\\u{85}c\\u{7f}\\u{0}\\nd\\te"
        );
    }

    #[test]
    fn totals_are_exact_and_use_minor_units() {
        let mut totals = Totals::default();
        let gbp: Currency = "GBP".parse().unwrap();
        let jpy: Currency = "JPY".parse().unwrap();
        for a in ["0.1", "0.2", "35.7"] {
            totals.add(gbp, &a.parse().unwrap());
        }
        totals.add(jpy, &"5".parse().unwrap());
        assert_eq!(
            totals.render(),
            " currency   invoices   total\n\
             ---------- ---------- -------\n \
             GBP               3   36.00\n \
             JPY               1       5"
        );
    }
}
