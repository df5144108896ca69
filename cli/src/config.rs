//! Where the table and queues are: flags, then the functions' own environment variables
//! (clap merges those two), then the outputs of `--stack`. AWS settings come from aws-config,
//! as the AWS CLI reads them.

use std::collections::HashMap;
use std::io::IsTerminal;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use glase_shared::adapters::InvoiceQueries;
use jiff::tz::TimeZone;
use tokio::sync::OnceCell;

use crate::args::{Format, Global};
use crate::error::{self, CliError};

/// The stack outputs `--stack` reads (template.yaml declares them).
pub mod outputs {
    pub const TABLE_NAME: &str = "TableName";
    pub const QUEUE_URL: &str = "QueueUrl";
    pub const DEAD_LETTER_QUEUE_URL: &str = "DeadLetterQueueUrl";
    pub const GLASE_TIME_ZONE: &str = "GlaseTimeZone";
    pub const ALARM_TOPIC_ARN: &str = "AlarmTopicArn";
    pub const DASHBOARD_URL: &str = "DashboardUrl";
}

/// The queue `make dev`'s rule copies the events to (`<bus>-events` in tools/dev): the
/// `events` command's default when the AWS calls go to local endpoints.
pub const DEV_EVENTS_QUEUE: &str = "glase-invoices-events";

/// Everything a command needs, resolved on first use: a command that only reads the table
/// never asks CloudFormation for a queue URL.
pub struct Context {
    pub global: Global,
    pub sdk: SdkConfig,
    stack_outputs: OnceCell<HashMap<String, String>>,
    time_zone: OnceCell<TimeZone>,
}

impl Context {
    pub async fn new(global: Global) -> Result<Self, CliError> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(profile) = &global.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(region) = &global.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(url) = &global.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        let sdk = loader.load().await;
        if sdk.region().is_none() {
            return Err(CliError::config(
                "no AWS region: pass --region, set AWS_REGION, or give your profile a region",
            ));
        }
        Ok(Self {
            global,
            sdk,
            stack_outputs: OnceCell::new(),
            time_zone: OnceCell::new(),
        })
    }

    /// `--format`, else a table for a person at a terminal and JSON lines for a program.
    pub fn format(&self) -> Format {
        self.global
            .format
            .unwrap_or(if std::io::stdout().is_terminal() {
                Format::Table
            } else {
                Format::Json
            })
    }

    pub fn stack(&self) -> Option<&str> {
        self.global.stack.as_deref().filter(|s| !s.is_empty())
    }

    pub async fn table(&self) -> Result<String, CliError> {
        self.setting(
            &self.global.table,
            outputs::TABLE_NAME,
            "invoices table: pass --table, set TABLE_NAME, or name the stack with --stack",
        )
        .await
    }

    pub async fn queue_url(&self) -> Result<String, CliError> {
        self.setting(
            &self.global.queue_url,
            outputs::QUEUE_URL,
            "notifications queue: pass --queue-url, set QUEUE_URL, or name the stack with --stack",
        )
        .await
    }

    pub async fn dlq_url(&self) -> Result<String, CliError> {
        self.setting(
            &self.global.dlq_url,
            outputs::DEAD_LETTER_QUEUE_URL,
            "dead-letter queue: pass --dlq-url, set DEAD_LETTER_QUEUE_URL, or name the stack with --stack",
        )
        .await
    }

    /// The queue a rule on the bus delivers the events to: `--events-queue-url` /
    /// `EVENTS_QUEUE_URL`, else, against local endpoints, `make dev`'s. A deployed stack has
    /// no such queue (the issuer's own rule targets theirs), so there is no stack output.
    pub async fn events_queue_url(&self, given: &Option<String>) -> Result<String, CliError> {
        if let Some(url) = non_empty(given) {
            return Ok(url.to_owned());
        }
        let missing = |why: &str| {
            CliError::config(format!(
                "no events queue{why}: pass --events-queue-url or set EVENTS_QUEUE_URL to the queue your rule on the stack's bus targets (docs/events.md)"
            ))
        };
        if !self.local_sqs() {
            return Err(missing(""));
        }
        let out = self
            .sqs()
            .get_queue_url()
            .queue_name(DEV_EVENTS_QUEUE)
            .send()
            .await;
        match out {
            Ok(out) => out.queue_url().map(str::to_owned).ok_or_else(|| {
                missing(&format!(
                    " (GetQueueUrl {DEV_EVENTS_QUEUE} answered no URL)"
                ))
            }),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_queue_does_not_exist()) =>
            {
                Err(missing(&format!(
                    " (no local queue {DEV_EVENTS_QUEUE}: is make dev running?)"
                )))
            }
            Err(e) => Err(error::aws(&format!("GetQueueUrl {DEV_EVENTS_QUEUE}"), e)),
        }
    }

    /// Whether SQS calls go to a local endpoint (make dev, the tests), as aws-config reads them.
    fn local_sqs(&self) -> bool {
        let set = |name: &str| std::env::var(name).is_ok_and(|v| !v.trim().is_empty());
        non_empty(&self.global.endpoint_url).is_some()
            || set("AWS_ENDPOINT_URL_SQS")
            || set("AWS_ENDPOINT_URL")
    }

    /// The zone for dates on the command line and times in tables: `--tz`/`GLASE_TIME_ZONE`,
    /// else the stack's, else UTC.
    pub async fn time_zone(&self) -> Result<TimeZone, CliError> {
        self.time_zone
            .get_or_try_init(|| async {
                let name = match non_empty(&self.global.tz) {
                    Some(name) => Some(name.to_owned()),
                    None if self.stack().is_some() => self
                        .stack_outputs()
                        .await?
                        .get(outputs::GLASE_TIME_ZONE)
                        .cloned(),
                    None => None,
                };
                match name {
                    None => Ok(TimeZone::UTC),
                    Some(name) => TimeZone::get(&name).map_err(|_| {
                        CliError::config(format!(
                            "unknown time zone {name:?}: use an IANA name like Europe/Stockholm or UTC"
                        ))
                    }),
                }
            })
            .await
            .cloned()
    }

    pub async fn queries(&self) -> Result<InvoiceQueries, CliError> {
        Ok(InvoiceQueries::new(
            aws_sdk_dynamodb::Client::new(&self.sdk),
            self.table().await?,
        )
        .with_page_size(self.global.page_size))
    }

    pub fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&self.sdk)
    }

    pub fn cloudwatch(&self) -> aws_sdk_cloudwatch::Client {
        aws_sdk_cloudwatch::Client::new(&self.sdk)
    }

    pub fn sns(&self) -> aws_sdk_sns::Client {
        aws_sdk_sns::Client::new(&self.sdk)
    }

    /// A `--stack` output that only some commands show (none without `--stack`, or when the
    /// stack predates it).
    pub async fn stack_output(&self, output: &str) -> Result<Option<String>, CliError> {
        if self.stack().is_none() {
            return Ok(None);
        }
        Ok(self.stack_outputs().await?.get(output).cloned())
    }

    async fn setting(
        &self,
        given: &Option<String>,
        output: &str,
        what: &str,
    ) -> Result<String, CliError> {
        if let Some(value) = non_empty(given) {
            return Ok(value.to_owned());
        }
        let Some(stack) = self.stack() else {
            return Err(CliError::config(format!("no {what}")));
        };
        self.stack_outputs()
            .await?
            .get(output)
            .cloned()
            .ok_or_else(|| {
                CliError::config(format!(
                    "stack {stack} has no output {output} (is it a glase-invoices stack?)"
                ))
            })
    }

    async fn stack_outputs(&self) -> Result<&HashMap<String, String>, CliError> {
        self.stack_outputs
            .get_or_try_init(|| async {
                let stack = self.stack().unwrap_or_default();
                let region = self.sdk.region().map(|r| r.to_string()).unwrap_or_default();
                let out = aws_sdk_cloudformation::Client::new(&self.sdk)
                    .describe_stacks()
                    .stack_name(stack)
                    .send()
                    .await
                    .map_err(|e| {
                        let code = e
                            .as_service_error()
                            .and_then(aws_sdk_cloudformation::error::ProvideErrorMetadata::code);
                        if code == Some("ValidationError") {
                            // CloudFormation's answer for a stack that does not exist.
                            CliError::config(format!(
                                "stack {stack} not found in {region}: {}",
                                glase_shared::adapters::describe_sdk_error(&e)
                            ))
                        } else {
                            error::aws(&format!("DescribeStacks {stack}"), e)
                        }
                    })?;
                let found = out.stacks().first().ok_or_else(|| {
                    CliError::config(format!("stack {stack} not found in {region}"))
                })?;
                Ok(found
                    .outputs()
                    .iter()
                    .filter_map(|o| {
                        Some((o.output_key()?.to_owned(), o.output_value()?.to_owned()))
                    })
                    .collect())
            })
            .await
    }
}

fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}
