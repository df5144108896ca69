//! status: the queues, today's invoices and, for a deployed stack, CloudWatch.

use std::io::Write;

use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, StateValue, Statistic};
use aws_sdk_sqs::types::QueueAttributeName;
use glase_shared::adapters::dynamo_query::OpenState;
use jiff::Timestamp;

use crate::args::Format;
use crate::config::{outputs, Context};
use crate::error::{self, CliError};
use crate::output::{self, Printer, Record, Value, View};
use crate::query::stdout;
use crate::times;

/// A setting a section needs, or `None` when it is simply not configured.
fn optional<T>(result: Result<T, CliError>) -> Result<Option<T>, CliError> {
    match result {
        Ok(v) => Ok(Some(v)),
        Err(CliError::Config(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

pub async fn status(ctx: &Context) -> Result<(), CliError> {
    let queue = optional(ctx.queue_url().await)?;
    let dlq = optional(ctx.dlq_url().await)?;
    let queries = optional(ctx.queries().await)?;
    if queue.is_none() && dlq.is_none() && queries.is_none() {
        // Say what is missing: the table's message names every way to set it.
        ctx.table().await?;
    }
    let tz = ctx.time_zone().await?;
    let now = Timestamp::now();
    let sqs = ctx.sqs();
    let mut r: Record = Vec::new();

    if let Some(url) = &queue {
        let [visible, in_flight, delayed] = depth(&sqs, url).await?;
        r.push(("queue", Value::text(queue_name(url))));
        r.push(("queueMessages", Value::number(visible)));
        r.push(("queueInFlight", Value::number(in_flight)));
        r.push(("queueDelayed", Value::number(delayed)));
        if ctx.stack().is_some() {
            if let Some(age) = oldest_message_age(ctx, url, now).await? {
                r.push(("oldestMessageAgeSeconds", Value::number(age)));
            }
        }
    }
    if let Some(url) = &dlq {
        let [visible, in_flight, _] = depth(&sqs, url).await?;
        r.push(("deadLetterQueue", Value::text(queue_name(url))));
        r.push(("deadLetterMessages", Value::number(visible + in_flight)));
    }
    if let Some(queries) = &queries {
        let today = times::today(&tz, now);
        let (start, end) = times::day_range(today, today, &tz)?;
        r.push(("day", Value::text(today.to_string())));
        r.push((
            "storedToday",
            Value::number(queries.count_paid_between(start, end).await?),
        ));
        r.push((
            "rejectedToday",
            Value::number(
                queries
                    .count_open(OpenState::Rejected, Some(start), None)
                    .await?,
            ),
        ));
    }
    if let Some(stack) = ctx.stack() {
        r.push((
            "alarmsInAlarm",
            Value::text(alarms(ctx, stack).await?.join(", ")),
        ));
        if let Some(topic) = ctx.stack_output(outputs::ALARM_TOPIC_ARN).await? {
            // Alarms that reach no one are no alarms: say so where a person looks. Not
            // knowing is said as loudly, but does not hide the rest of the status.
            match alarm_subscriptions(ctx, &topic).await {
                Ok(subscriptions) => {
                    if subscriptions.confirmed == 0 {
                        eprintln!(
                            "glase-invoices: WARNING: no one receives the alarms: the alarm topic {topic} has no confirmed subscription ({} pending confirmation). Subscribe an address and confirm it (docs/operate.md, \"status\").",
                            subscriptions.pending
                        );
                    }
                    r.push(("alarmTopic", Value::text(topic)));
                    r.push(("alarmSubscriptions", Value::number(subscriptions.confirmed)));
                }
                Err(e) => {
                    eprintln!("glase-invoices: WARNING: could not tell whether anyone receives the alarms: {e}");
                    r.push(("alarmTopic", Value::text(topic)));
                }
            }
        }
        if let Some(url) = ctx.stack_output(outputs::DASHBOARD_URL).await? {
            r.push(("dashboard", Value::text(url)));
        }
    }

    let columns: Vec<&'static str> = r.iter().map(|(name, _)| *name).collect();
    match ctx.format() {
        Format::Table => {
            let mut out = stdout();
            writeln!(out, "{}", output::vertical(&r, &tz))?;
            out.flush()?;
        }
        format => {
            let view = View {
                table_columns: columns.clone(),
                columns,
            };
            let mut printer = Printer::new(format, view, tz, stdout())?;
            printer.print(&r)?;
            printer.finish()?;
        }
    }
    Ok(())
}

fn queue_name(url: &str) -> &str {
    url.rsplit('/').next().unwrap_or(url)
}

/// Visible, in flight (received, not yet deleted) and delayed messages.
async fn depth(sqs: &aws_sdk_sqs::Client, url: &str) -> Result<[u64; 3], CliError> {
    let names = [
        QueueAttributeName::ApproximateNumberOfMessages,
        QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
        QueueAttributeName::ApproximateNumberOfMessagesDelayed,
    ];
    let out = sqs
        .get_queue_attributes()
        .queue_url(url)
        .set_attribute_names(Some(names.to_vec()))
        .send()
        .await
        .map_err(|e| error::aws(&format!("GetQueueAttributes {url}"), e))?;
    let attributes = out.attributes();
    Ok(names.map(|name| {
        attributes
            .and_then(|a| a.get(&name))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }))
}

/// The queue's ApproximateAgeOfOldestMessage over the last 15 minutes (SQS itself does not
/// tell a message's age without receiving it, which would disturb the worker).
async fn oldest_message_age(
    ctx: &Context,
    url: &str,
    now: Timestamp,
) -> Result<Option<u64>, CliError> {
    let dimension = Dimension::builder()
        .name("QueueName")
        .value(queue_name(url))
        .build();
    let out = ctx
        .cloudwatch()
        .get_metric_statistics()
        .namespace("AWS/SQS")
        .metric_name("ApproximateAgeOfOldestMessage")
        .dimensions(dimension)
        .start_time(DateTime::from_secs(now.as_second() - 15 * 60))
        .end_time(DateTime::from_secs(now.as_second() + 60))
        .period(60)
        .statistics(Statistic::Maximum)
        .send()
        .await
        .map_err(|e| error::aws("CloudWatch GetMetricStatistics", e))?;
    let latest = out
        .datapoints()
        .iter()
        .filter(|d| d.maximum().is_some())
        .max_by_key(|d| d.timestamp().map(|t| t.secs()));
    // A count of seconds, not money: CloudWatch reports it as a double.
    Ok(latest
        .and_then(|d| d.maximum())
        .map(|secs| secs.max(0.0).round() as u64))
}

/// Names of the stack's alarms in ALARM (CloudFormation names them `<stack>-<LogicalId>-…`).
async fn alarms(ctx: &Context, stack: &str) -> Result<Vec<String>, CliError> {
    let mut names = Vec::new();
    let mut next = None;
    loop {
        let out = ctx
            .cloudwatch()
            .describe_alarms()
            .alarm_name_prefix(format!("{stack}-"))
            .state_value(StateValue::Alarm)
            .set_next_token(next)
            .send()
            .await
            .map_err(|e| error::aws("CloudWatch DescribeAlarms", e))?;
        names.extend(
            out.metric_alarms()
                .iter()
                .filter_map(|a| a.alarm_name().map(str::to_owned)),
        );
        names.extend(
            out.composite_alarms()
                .iter()
                .filter_map(|a| a.alarm_name().map(str::to_owned)),
        );
        next = out.next_token().map(str::to_owned);
        if next.is_none() {
            names.sort();
            return Ok(names);
        }
    }
}

/// An SNS topic's subscriptions: confirmed, and waiting for their endpoint to confirm.
#[derive(Debug, Default, PartialEq)]
struct Subscriptions {
    confirmed: u64,
    pending: u64,
}

impl Subscriptions {
    /// SNS lists a subscription not yet confirmed with the ARN `PendingConfirmation` (and one
    /// being removed as `Deleted`); neither delivers anything.
    fn count(&mut self, subscription_arn: Option<&str>) {
        match subscription_arn {
            Some(arn) if arn.starts_with("arn:") => self.confirmed += 1,
            Some("PendingConfirmation") => self.pending += 1,
            _ => {}
        }
    }
}

async fn alarm_subscriptions(ctx: &Context, topic: &str) -> Result<Subscriptions, CliError> {
    let sns = ctx.sns();
    let mut found = Subscriptions::default();
    let mut next = None;
    loop {
        let out = sns
            .list_subscriptions_by_topic()
            .topic_arn(topic)
            .set_next_token(next)
            .send()
            .await
            .map_err(|e| error::aws(&format!("SNS ListSubscriptionsByTopic {topic}"), e))?;
        for s in out.subscriptions() {
            found.count(s.subscription_arn());
        }
        next = out.next_token().map(str::to_owned);
        if next.is_none() {
            return Ok(found);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Subscriptions;

    #[test]
    fn a_subscription_pending_confirmation_is_not_counted_as_receiving_alarms() {
        let mut s = Subscriptions::default();
        s.count(Some("PendingConfirmation"));
        s.count(Some("Deleted"));
        s.count(None);
        assert_eq!(
            s,
            Subscriptions {
                confirmed: 0,
                pending: 1
            }
        );
        s.count(Some("arn:aws:sns:eu-west-1:123456789012:alarms:0b1c"));
        assert_eq!(s.confirmed, 1);
    }
}
