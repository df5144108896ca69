//! What an invocation asks for, and the split by day.
//!
//! The schedule's look-back (or a window given by hand) is reconciled day by day in the
//! invocation itself while its time lasts; the days it has no time for, or that failed in it,
//! are handed on to the function's own queue (`RECONCILE_DAYS_QUEUE_URL`), whose messages bring
//! them back one day each. A day's message that fails is retried by SQS, then lands in the
//! failure queue (docs/design.md, "Reconciliation at scale").

use jiff::civil::Date;
use serde::Deserialize;

use glase_shared::reconcile::{parse_day_message, DayMessageError, Window, WindowError};

/// What an invocation asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invocation {
    /// EventBridge's schedule (or `{}` by hand): today and the look-back days.
    Scheduled,
    /// `{"from":"2026-09-01","to":"2026-11-30"}` by hand: up to 93 days, split like any other.
    Window(Window),
    /// Messages of the days queue, one day each (the trigger's batch size is 1).
    Days(Vec<Date>),
}

/// An event this function does not understand: the invocation fails with this reason.
#[derive(Debug, thiserror::Error)]
pub enum InvocationError {
    #[error("message {message_id} on the days queue: {source}")]
    DayMessage {
        message_id: String,
        #[source]
        source: DayMessageError,
    },
    #[error("a window by hand must be {{\"from\":\"YYYY-MM-DD\",\"to\":\"YYYY-MM-DD\"}}: {0}")]
    WindowShape(#[source] serde_json::Error),
    #[error("a window by hand: {0}")]
    WindowDate(#[source] jiff::Error),
    #[error(transparent)]
    Window(#[from] WindowError),
    #[error(
        "not an invocation this function knows (EventBridge's schedule, {{}}, \
         {{\"from\":…,\"to\":…}} or the days queue's messages)"
    )]
    Unknown,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ByHand {
    from: String,
    to: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct QueueRecord {
    message_id: String,
    body: String,
}

impl Invocation {
    /// Reads the event Lambda hands over.
    pub fn parse(event: &serde_json::Value) -> Result<Self, InvocationError> {
        let Some(fields) = event.as_object() else {
            return Err(InvocationError::Unknown);
        };
        if let Some(records) = fields.get("Records") {
            let records: Vec<QueueRecord> =
                serde_json::from_value(records.clone()).map_err(|_| InvocationError::Unknown)?;
            let days = records
                .into_iter()
                .map(|r| {
                    parse_day_message(&r.body).map_err(|source| InvocationError::DayMessage {
                        message_id: r.message_id,
                        source,
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            return Ok(Invocation::Days(days));
        }
        if fields.contains_key("from") {
            let by_hand: ByHand =
                serde_json::from_value(event.clone()).map_err(InvocationError::WindowShape)?;
            let date = |text: &str| text.parse::<Date>().map_err(InvocationError::WindowDate);
            return Ok(Invocation::Window(Window::new(
                date(&by_hand.from)?,
                date(&by_hand.to)?,
            )?));
        }
        let scheduled = fields.is_empty()
            || fields.get("detail-type").and_then(|v| v.as_str()) == Some("Scheduled Event");
        if scheduled {
            Ok(Invocation::Scheduled)
        } else {
            Err(InvocationError::Unknown)
        }
    }
}

#[cfg(test)]
mod tests {
    use jiff::civil::date;
    use serde_json::json;

    use super::*;

    #[test]
    fn the_schedule_an_empty_event_a_window_and_day_messages_are_told_apart() {
        let schedule = json!({"version": "0", "id": "x", "detail-type": "Scheduled Event",
            "source": "aws.events", "time": "2026-12-06T04:15:00Z", "detail": {}});
        assert_eq!(Invocation::parse(&schedule).unwrap(), Invocation::Scheduled);
        assert_eq!(
            Invocation::parse(&json!({})).unwrap(),
            Invocation::Scheduled
        );
        assert_eq!(
            Invocation::parse(&json!({"from": "2026-01-01", "to": "2026-03-31"})).unwrap(),
            Invocation::Window(Window::new(date(2026, 1, 1), date(2026, 3, 31)).unwrap())
        );
        let messages = json!({"Records": [{"messageId": "m1", "receiptHandle": "r",
            "body": "{\"reconcileDate\":\"2026-12-01\"}", "eventSource": "aws:sqs"}]});
        assert_eq!(
            Invocation::parse(&messages).unwrap(),
            Invocation::Days(vec![date(2026, 12, 1)])
        );
    }

    #[test]
    fn an_event_it_does_not_know_is_refused_with_a_reason_naming_what_is_wrong() {
        let bad_day = json!({"Records": [{"messageId": "m1", "body": "{\"invoiceId\":1}"}]});
        assert!(Invocation::parse(&bad_day)
            .unwrap_err()
            .to_string()
            .contains("message m1"));
        for (event, says) in [
            (json!({"from": "2026-01-01"}), "a window by hand"),
            (
                json!({"from": "01.01.2026", "to": "2026-01-02"}),
                "a window by hand",
            ),
            (
                json!({"from": "2026-01-01", "to": "2026-12-31"}),
                "at most 93",
            ),
            (
                json!({"from": "2026-02-01", "to": "2026-01-01"}),
                "after it ends",
            ),
            (json!({"hello": 1}), "not an invocation"),
            (json!([1]), "not an invocation"),
        ] {
            let error = Invocation::parse(&event).unwrap_err().to_string();
            assert!(error.contains(says), "{event}: {error}");
        }
    }
}
