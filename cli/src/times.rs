//! Dates and spans on the command line, read in the chosen time zone.

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Span, Timestamp};

use crate::error::CliError;

/// Today's date in `tz`.
pub fn today(tz: &TimeZone, now: Timestamp) -> Date {
    now.to_zoned_datetime(tz.clone()).date()
}

/// The instants `[from 00:00, the day after to 00:00)` in `tz`: whole days, both included.
pub fn day_range(from: Date, to: Date, tz: &TimeZone) -> Result<(Timestamp, Timestamp), CliError> {
    if to < from {
        return Err(CliError::config(format!(
            "--to {to} is before --from {from}"
        )));
    }
    let start = start_of(from, tz)?;
    let after = to
        .tomorrow()
        .map_err(|_| CliError::config(format!("--to {to} is out of range")))?;
    Ok((start, start_of(after, tz)?))
}

fn start_of(day: Date, tz: &TimeZone) -> Result<Timestamp, CliError> {
    day.to_zoned_datetime(tz.clone())
        .map(|z| z.timestamp())
        .map_err(|e| CliError::config(format!("{day} has no start in that time zone: {e}")))
}

/// A span like `15m`, `2h`, `7d` or ISO 8601 `PT15M`.
pub fn parse_span(text: &str, what: &str) -> Result<Span, CliError> {
    text.trim()
        .parse::<Span>()
        .map_err(|_| CliError::config(format!("{what} {text:?} is not a span like 15m, 2h or 7d")))
}

/// `now` minus `span`, with days as calendar days in `tz`.
pub fn before(now: Timestamp, span: Span, tz: &TimeZone) -> Result<Timestamp, CliError> {
    now.to_zoned_datetime(tz.clone())
        .checked_sub(span)
        .map(|z| z.timestamp())
        .map_err(|e| CliError::config(format!("cannot go back {span} from now: {e}")))
}

/// `--since`: a date (its start in `tz`), an instant, or a span back from `now`.
pub fn parse_since(text: &str, tz: &TimeZone, now: Timestamp) -> Result<Timestamp, CliError> {
    let text = text.trim();
    if let Ok(day) = text.parse::<Date>() {
        return start_of(day, tz);
    }
    if let Ok(at) = text.parse::<Timestamp>() {
        return Ok(at);
    }
    match text.parse::<Span>() {
        Ok(span) => before(now, span, tz),
        Err(_) => Err(CliError::config(format!(
            "--since {text:?} is not a date (2026-06-01), an instant (2026-06-01T12:00:00Z) or a span (24h, 7d)"
        ))),
    }
}

/// An instant for a person: ISO 8601 in whole seconds, in UTC (`…Z`) or with the zone's offset.
pub fn display(at: Timestamp, tz: &TimeZone) -> String {
    let at = Timestamp::from_second(at.as_second()).unwrap_or(at);
    if tz == &TimeZone::UTC {
        return at.to_string();
    }
    at.to_zoned_datetime(tz.clone())
        .strftime("%Y-%m-%dT%H:%M:%S%:z")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn a_day_range_is_whole_local_days_both_included() {
        let stockholm = TimeZone::get("Europe/Stockholm").unwrap();
        let (start, end) = day_range(
            "2026-06-01".parse().unwrap(),
            "2026-06-02".parse().unwrap(),
            &stockholm,
        )
        .unwrap();
        assert_eq!(start, ts("2026-05-31T22:00:00Z"));
        assert_eq!(end, ts("2026-06-02T22:00:00Z"));
        assert!(day_range(
            "2026-06-02".parse().unwrap(),
            "2026-06-01".parse().unwrap(),
            &TimeZone::UTC
        )
        .is_err());
    }

    #[test]
    fn since_takes_a_date_an_instant_or_a_span() {
        let now = ts("2026-06-10T12:00:00Z");
        let utc = TimeZone::UTC;
        assert_eq!(
            parse_since("2026-06-01", &utc, now).unwrap(),
            ts("2026-06-01T00:00:00Z")
        );
        assert_eq!(
            parse_since("2026-06-01T08:30:00Z", &utc, now).unwrap(),
            ts("2026-06-01T08:30:00Z")
        );
        assert_eq!(
            parse_since("24h", &utc, now).unwrap(),
            ts("2026-06-09T12:00:00Z")
        );
        assert_eq!(
            parse_since("7d", &utc, now).unwrap(),
            ts("2026-06-03T12:00:00Z")
        );
        assert!(parse_since("last tuesday", &utc, now).is_err());
    }

    #[test]
    fn times_show_in_utc_as_stored_or_with_the_zones_offset() {
        let at = ts("2026-06-01T10:00:00Z");
        assert_eq!(display(at, &TimeZone::UTC), "2026-06-01T10:00:00Z");
        let stockholm = TimeZone::get("Europe/Stockholm").unwrap();
        assert_eq!(display(at, &stockholm), "2026-06-01T12:00:00+02:00");
        let precise: Timestamp = "2026-06-01T10:00:00.987654321Z".parse().unwrap();
        assert_eq!(display(precise, &TimeZone::UTC), "2026-06-01T10:00:00Z");
    }
}
