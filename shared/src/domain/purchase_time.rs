//! When an invoice was paid. Glase sends local wall-clock time with no zone.

use std::fmt;

use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use jiff::Timestamp;

/// An instant, parsed from Glase's `dd.MM.yyyy HH:mm:ss` in the zone Glase means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PurchaseTime(Timestamp);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PurchaseTimeError {
    #[error("purchaseTime must look like dd.MM.yyyy HH:mm:ss, e.g. 15.05.2015 15:37:33")]
    BadFormat,
    #[error("purchaseTime is not a real date and time")]
    Impossible,
    #[error("purchaseTime must be an ISO 8601 instant")]
    BadIso,
}

const GLASE_FORMAT: &str = "%d.%m.%Y %H:%M:%S";

impl PurchaseTime {
    /// Parses Glase's text; `zone` is the time zone Glase's wall clock is in (configurable).
    pub fn parse_glase(text: &str, zone: &TimeZone) -> Result<Self, PurchaseTimeError> {
        // The shape check keeps us strict: strptime alone would take single-digit fields.
        let shape = b"00.00.0000 00:00:00";
        let ok_shape = text.len() == shape.len()
            && text.bytes().zip(shape).all(|(c, s)| {
                if *s == b'0' {
                    c.is_ascii_digit()
                } else {
                    c == *s
                }
            });
        if !ok_shape {
            return Err(PurchaseTimeError::BadFormat);
        }
        let civil =
            DateTime::strptime(GLASE_FORMAT, text).map_err(|_| PurchaseTimeError::Impossible)?;
        // In a DST gap or fold, jiff's "compatible" rule picks the same instant java.time would.
        let zoned = civil
            .to_zoned_datetime(zone.clone())
            .map_err(|_| PurchaseTimeError::Impossible)?;
        Ok(Self(zoned.timestamp()))
    }

    /// Parses what we store: ISO 8601 in UTC, e.g. `2015-05-15T15:37:33Z`.
    pub fn parse_iso(text: &str) -> Result<Self, PurchaseTimeError> {
        text.parse::<Timestamp>()
            .map(Self)
            .map_err(|_| PurchaseTimeError::BadIso)
    }

    pub fn from_timestamp(ts: Timestamp) -> Self {
        Self(ts)
    }

    pub fn timestamp(&self) -> Timestamp {
        self.0
    }

    /// ISO 8601 in UTC (`2015-05-15T15:37:33Z`): sorts as text in time order.
    pub fn to_iso(&self) -> String {
        self.0.to_string()
    }

    /// The UTC calendar day, `YYYY-MM-DD`: the day bucket the by-date index uses.
    pub fn utc_date(&self) -> String {
        self.0.to_zoned_datetime(TimeZone::UTC).date().to_string()
    }

    /// Formats back into Glase's own text in `zone` (used by the simulator).
    pub fn to_glase(&self, zone: &TimeZone) -> String {
        self.0
            .to_zoned_datetime(zone.clone())
            .strftime(GLASE_FORMAT)
            .to_string()
    }

    /// ISO 8601 with the zone's offset, e.g. `2015-05-15T15:37:33+02:00` (Glase's report form).
    pub fn to_iso_with_offset(&self, zone: &TimeZone) -> String {
        self.0
            .to_zoned_datetime(zone.clone())
            .strftime("%Y-%m-%dT%H:%M:%S%:z")
            .to_string()
    }
}

impl fmt::Display for PurchaseTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_doc_examples_as_utc_by_default() {
        let t = PurchaseTime::parse_glase("15.05.2015 15:37:33", &TimeZone::UTC).unwrap();
        assert_eq!(t.to_iso(), "2015-05-15T15:37:33Z");
        assert_eq!(t.utc_date(), "2015-05-15");
        let t = PurchaseTime::parse_glase("24.06.2015 14:45:57", &TimeZone::UTC).unwrap();
        assert_eq!(t.to_iso(), "2015-06-24T14:45:57Z");
    }

    #[test]
    fn applies_the_configured_zone_including_summer_time() {
        let stockholm = TimeZone::get("Europe/Stockholm").unwrap();
        let t = PurchaseTime::parse_glase("15.05.2015 15:37:33", &stockholm).unwrap();
        assert_eq!(t.to_iso(), "2015-05-15T13:37:33Z");
        assert_eq!(
            t.to_iso_with_offset(&stockholm),
            "2015-05-15T15:37:33+02:00"
        );
        let winter = PurchaseTime::parse_glase("15.01.2015 00:30:00", &stockholm).unwrap();
        assert_eq!(winter.to_iso(), "2015-01-14T23:30:00Z");
        assert_eq!(winter.utc_date(), "2015-01-14");
    }

    #[test]
    fn round_trips_through_glase_text_and_iso() {
        let t = PurchaseTime::parse_glase("01.02.2016 03:04:05", &TimeZone::UTC).unwrap();
        assert_eq!(t.to_glase(&TimeZone::UTC), "01.02.2016 03:04:05");
        assert_eq!(PurchaseTime::parse_iso(&t.to_iso()).unwrap(), t);
    }

    #[test]
    fn rejects_other_shapes_and_impossible_dates() {
        for bad in [
            "2015-05-15 15:37:33",
            "5.05.2015 15:37:33",
            "15.05.2015",
            "15.05.2015 15:37",
            "15/05/2015 15:37:33",
            "",
        ] {
            assert_eq!(
                PurchaseTime::parse_glase(bad, &TimeZone::UTC),
                Err(PurchaseTimeError::BadFormat),
                "{bad:?}"
            );
        }
        assert_eq!(
            PurchaseTime::parse_glase("31.02.2015 10:00:00", &TimeZone::UTC),
            Err(PurchaseTimeError::Impossible)
        );
        assert_eq!(
            PurchaseTime::parse_glase("15.05.2015 25:00:00", &TimeZone::UTC),
            Err(PurchaseTimeError::Impossible)
        );
        assert_eq!(
            PurchaseTime::parse_iso("yesterday"),
            Err(PurchaseTimeError::BadIso)
        );
    }
}
