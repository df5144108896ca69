//! `RECONCILE_SCHEDULE`: the EventBridge schedule expression the function runs on, read only to
//! refuse a schedule rarer than the look-back window covers (invoices paid between two runs
//! would then never be compared).
//!
//! The rule is strict but simple:
//! - `rate(N minute[s]|hour[s]|day[s])`: accepted when N units are at most `LOOKBACK_DAYS` days;
//! - `cron(min hour dom month dow year)`: accepted when it fires every day — day-of-month and
//!   day-of-week both `*` or `?`, month and year `*` (minutes and hours are free) — or, when
//!   `LOOKBACK_DAYS` is 7 or more, on chosen days of the week (day-of-month `?`): at most a week
//!   apart. Any other cron (days of the month, months, years) is refused.
//!
//! Error messages never repeat the expression (config errors never echo values).

use std::time::Duration;

const DAY: Duration = Duration::from_secs(24 * 3600);
const WEEK: Duration = Duration::from_secs(7 * 24 * 3600);

/// How often a valid expression fires, as far as the look-back check needs to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schedule {
    /// `rate(...)`: every this long.
    Rate(Duration),
    /// A `cron(...)` that fires every day.
    Daily,
    /// A `cron(...)` on chosen days of the week: at most a week apart.
    Weekly,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error(
        "must be an EventBridge schedule expression: rate(<n> minute[s]|hour[s]|day[s]) or \
         cron(<minutes> <hours> <day-of-month> <month> <day-of-week> <year>)"
    )]
    Syntax,
    #[error(
        "a cron on chosen days of the month, months or years is not accepted: use one that fires \
         every day (day-of-month and day-of-week `*` or `?`), or on days of the week with \
         LOOKBACK_DAYS of 7 or more"
    )]
    Irregular,
    #[error(
        "runs only every {every_hours} hours, but LOOKBACK_DAYS={lookback_days} reads the report \
         {lookback_days} days back: invoices paid between runs would never be compared (run at \
         least every {lookback_days} days, or raise LOOKBACK_DAYS)"
    )]
    RarerThanLookback {
        every_hours: u64,
        lookback_days: u16,
    },
}

impl Schedule {
    pub fn parse(text: &str) -> Result<Self, ScheduleError> {
        let text = text.trim();
        if let Some(rate) = inside(text, "rate") {
            return parse_rate(rate);
        }
        let cron = inside(text, "cron").ok_or(ScheduleError::Syntax)?;
        let fields: Vec<&str> = cron.split_whitespace().collect();
        let [_minutes, _hours, day_of_month, month, day_of_week, year] = fields[..] else {
            return Err(ScheduleError::Syntax);
        };
        let any = |f: &str| f == "*" || f == "?";
        match (day_of_month, month, day_of_week, year) {
            (dom, "*", dow, "*") if any(dom) && any(dow) => Ok(Schedule::Daily),
            ("?", "*", _, "*") => Ok(Schedule::Weekly),
            _ => Err(ScheduleError::Irregular),
        }
    }

    /// The longest time between two runs.
    pub fn max_gap(&self) -> Duration {
        match self {
            Schedule::Rate(every) => *every,
            Schedule::Daily => DAY,
            Schedule::Weekly => WEEK,
        }
    }

    /// Refuses a schedule rarer than the look-back window: a run reads today and
    /// `lookback_days` days before, so runs at most that many days apart see every payment.
    pub fn check(self, lookback_days: u16) -> Result<Self, ScheduleError> {
        if self.max_gap() > DAY * u32::from(lookback_days) {
            return Err(ScheduleError::RarerThanLookback {
                every_hours: self.max_gap().as_secs().div_ceil(3600),
                lookback_days,
            });
        }
        Ok(self)
    }
}

/// `name(...)`'s inside, trimmed.
fn inside<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    Some(
        text.strip_prefix(name)?
            .strip_prefix('(')?
            .strip_suffix(')')?
            .trim(),
    )
}

fn parse_rate(rate: &str) -> Result<Schedule, ScheduleError> {
    let (n, unit) = rate.split_once(' ').ok_or(ScheduleError::Syntax)?;
    let n: u32 = n
        .parse()
        .ok()
        .filter(|n| *n > 0)
        .ok_or(ScheduleError::Syntax)?;
    let unit = match unit.trim() {
        "minute" | "minutes" => Duration::from_secs(60),
        "hour" | "hours" => Duration::from_secs(3600),
        "day" | "days" => DAY,
        _ => return Err(ScheduleError::Syntax),
    };
    Ok(Schedule::Rate(unit * n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_rates_and_daily_crons_within_the_look_back() {
        for (text, lookback) in [
            ("rate(1 day)", 1),
            ("rate(12 hours)", 1),
            ("rate(30 minutes)", 1),
            ("rate(3 days)", 3),
            ("cron(15 4 * * ? *)", 1),
            ("cron(0 */6 ? * * *)", 1),
            ("cron(0 3 ? * MON *)", 7),
            (" cron(0 3 ? * MON-FRI *) ", 7),
        ] {
            assert!(
                Schedule::parse(text)
                    .and_then(|s| s.check(lookback))
                    .is_ok(),
                "{text} with LOOKBACK_DAYS={lookback}"
            );
        }
    }

    #[test]
    fn refuses_a_schedule_rarer_than_the_look_back_naming_both() {
        let err = Schedule::parse("rate(4 days)")
            .unwrap()
            .check(3)
            .unwrap_err();
        assert_eq!(
            err,
            ScheduleError::RarerThanLookback {
                every_hours: 96,
                lookback_days: 3
            }
        );
        assert!(err.to_string().contains("LOOKBACK_DAYS=3"), "{err}");

        let weekly = Schedule::parse("cron(0 3 ? * MON *)").unwrap();
        assert!(matches!(
            weekly.check(6),
            Err(ScheduleError::RarerThanLookback { .. })
        ));
    }

    #[test]
    fn refuses_crons_on_days_of_the_month_months_or_years_and_malformed_expressions() {
        for text in [
            "cron(0 3 1 * ? *)",
            "cron(0 3 */2 * ? *)",
            "cron(0 3 * 1-6 ? *)",
            "cron(0 3 * * ? 2027)",
        ] {
            assert_eq!(
                Schedule::parse(text),
                Err(ScheduleError::Irregular),
                "{text}"
            );
        }
        for text in [
            "daily",
            "rate(0 days)",
            "rate(1 week)",
            "rate(-1 days)",
            "rate(1day)",
            "cron(0 3 * * ?)",
            "cron 0 3 * * ? *",
            "at(2026-01-01T00:00:00)",
        ] {
            assert_eq!(Schedule::parse(text), Err(ScheduleError::Syntax), "{text}");
        }
    }
}
