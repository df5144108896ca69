//! Drives the events function the way Lambda's DynamoDB-stream event source mapping does:
//! reads each shard of the table's stream (DynamoDB Local serves one), hands a batch over in
//! the Lambda event's shape, moves the shard's checkpoint past what succeeded, re-delivers from
//! the first record reported failed, and after `max_retries` failed deliveries of a batch sends
//! a note of it to the failure queue (the mapping's `OnFailure` destination) and moves on.
//! (The mapping's filter is not emulated: the function checks the transition itself.)

use std::collections::HashMap;
use std::future::Future;

use aws_lambda_events::event::streams::DynamoDbEventResponse;
use aws_sdk_dynamodbstreams::types::{Record, ShardIteratorType};
use serde_json::{json, Value};

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StreamPollError(String);

fn failed(what: &str, e: impl std::fmt::Display) -> StreamPollError {
    StreamPollError(format!("{what} failed: {e}"))
}

pub struct StreamPoller {
    client: aws_sdk_dynamodbstreams::Client,
    stream_arn: String,
    /// At most this many records per delivery (the mapping's BatchSize).
    pub batch_size: i32,
    /// Failed deliveries of one batch before it is given up (MaximumRetryAttempts).
    pub max_retries: u32,
    /// The mapping's OnFailure destination: (client, queue URL).
    pub failure_queue: Option<(aws_sdk_sqs::Client, String)>,
    /// Per shard: the last sequence number done.
    checkpoints: HashMap<String, String>,
    /// Per shard: failed deliveries of the batch at the checkpoint.
    attempts: HashMap<String, u32>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct StreamBatchStats {
    /// Records handed to the function (re-deliveries included).
    pub delivered: usize,
    /// Deliveries that reported a failure.
    pub failed: usize,
    /// Batches given up and sent to the failure queue.
    pub given_up: usize,
}

impl StreamPoller {
    /// The poller of `table`'s stream (the table must have one).
    pub async fn for_table(
        ddb: &aws_sdk_dynamodb::Client,
        client: aws_sdk_dynamodbstreams::Client,
        table: &str,
    ) -> Result<Self, StreamPollError> {
        let out = ddb
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(|e| failed("DescribeTable", aws_sdk_dynamodb::Error::from(e)))?;
        let stream_arn = out
            .table()
            .and_then(|t| t.latest_stream_arn())
            .ok_or_else(|| StreamPollError(format!("table {table} has no stream")))?
            .to_owned();
        Ok(Self {
            client,
            stream_arn,
            batch_size: 100,
            max_retries: 3,
            failure_queue: None,
            checkpoints: HashMap::new(),
            attempts: HashMap::new(),
        })
    }

    pub fn stream_arn(&self) -> &str {
        &self.stream_arn
    }

    /// One delivery per shard that has new records. `handler` is the function.
    pub async fn poll_once<F, Fut>(
        &mut self,
        handler: F,
    ) -> Result<StreamBatchStats, StreamPollError>
    where
        F: Fn(Value) -> Fut,
        Fut: Future<Output = DynamoDbEventResponse>,
    {
        let mut stats = StreamBatchStats::default();
        let described = self
            .client
            .describe_stream()
            .stream_arn(&self.stream_arn)
            .send()
            .await
            .map_err(|e| failed("DescribeStream", aws_sdk_dynamodbstreams::Error::from(e)))?;
        let shards: Vec<String> = described
            .stream_description()
            .map(|d| {
                d.shards()
                    .iter()
                    .filter_map(|s| s.shard_id().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        for shard in shards {
            let request = self
                .client
                .get_shard_iterator()
                .stream_arn(&self.stream_arn)
                .shard_id(&shard);
            let request = match self.checkpoints.get(&shard) {
                Some(seq) => request
                    .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                    .sequence_number(seq),
                None => request.shard_iterator_type(ShardIteratorType::TrimHorizon),
            };
            let iterator = request
                .send()
                .await
                .map_err(|e| failed("GetShardIterator", aws_sdk_dynamodbstreams::Error::from(e)))?
                .shard_iterator()
                .map(str::to_owned);
            let Some(iterator) = iterator else { continue };
            let out = self
                .client
                .get_records()
                .shard_iterator(iterator)
                .limit(self.batch_size)
                .send()
                .await
                .map_err(|e| failed("GetRecords", aws_sdk_dynamodbstreams::Error::from(e)))?;
            let records = out.records();
            if records.is_empty() {
                continue;
            }
            let event = json!({ "Records": records.iter().map(|r| self.record_json(r)).collect::<Vec<_>>() });
            stats.delivered += records.len();
            let response = handler(event).await;
            let seqs: Vec<&str> = records
                .iter()
                .map(|r| {
                    r.dynamodb()
                        .and_then(|d| d.sequence_number())
                        .unwrap_or_default()
                })
                .collect();
            let first_failed = response
                .batch_item_failures
                .iter()
                .map(|f| {
                    let id = f.item_identifier.as_deref().unwrap_or_default();
                    // An identifier that names no record fails the whole batch, as in Lambda.
                    seqs.iter().position(|s| *s == id).unwrap_or(0)
                })
                .min();
            match first_failed {
                None => {
                    self.done_through(&shard, seqs.last().copied());
                }
                Some(i) => {
                    stats.failed += 1;
                    if i > 0 {
                        self.done_through(&shard, Some(seqs[i - 1]));
                        continue;
                    }
                    let tries = self.attempts.entry(shard.clone()).or_default();
                    *tries += 1;
                    if *tries > self.max_retries {
                        stats.given_up += 1;
                        self.give_up(&shard, &seqs).await?;
                        self.done_through(&shard, seqs.last().copied());
                    }
                }
            }
        }
        Ok(stats)
    }

    fn done_through(&mut self, shard: &str, seq: Option<&str>) {
        if let Some(seq) = seq {
            self.checkpoints.insert(shard.to_owned(), seq.to_owned());
        }
        self.attempts.remove(shard);
    }

    /// What Lambda sends the OnFailure destination for a stream: where the batch is, not the
    /// records.
    async fn give_up(&self, shard: &str, seqs: &[&str]) -> Result<(), StreamPollError> {
        let note = json!({
            "requestContext": {"condition": "RetryAttemptsExhausted", "approximateInvokeCount": self.max_retries + 1},
            "DDBStreamBatchInfo": {
                "shardId": shard,
                "startSequenceNumber": seqs.first(),
                "endSequenceNumber": seqs.last(),
                "batchSize": seqs.len(),
                "streamArn": self.stream_arn,
            }
        });
        tracing::error!(%note, "stream batch given up: sent to the failure queue");
        if let Some((sqs, url)) = &self.failure_queue {
            sqs.send_message()
                .queue_url(url)
                .message_body(note.to_string())
                .send()
                .await
                .map_err(|e| failed("SendMessage (failure queue)", aws_sdk_sqs::Error::from(e)))?;
        }
        Ok(())
    }

    /// A stream record in the Lambda event's shape (`aws_lambda_events::dynamodb::EventRecord`).
    fn record_json(&self, r: &Record) -> Value {
        let image =
            |m: Option<&HashMap<String, aws_sdk_dynamodbstreams::types::AttributeValue>>| {
                m.map(|m| {
                    serde_json::to_value(serde_dynamo::Item::from(m.clone())).unwrap_or(Value::Null)
                })
            };
        let d = r.dynamodb();
        let mut change = json!({
            "ApproximateCreationDateTime": d.and_then(|d| d.approximate_creation_date_time()).map(|t| t.as_secs_f64()),
            "Keys": image(d.and_then(|d| d.keys())),
            "SequenceNumber": d.and_then(|d| d.sequence_number()),
            "SizeBytes": d.and_then(|d| d.size_bytes()).unwrap_or(0),
            "StreamViewType": d.and_then(|d| d.stream_view_type()).map(|v| v.as_str()),
        });
        if let Some(new) = image(d.and_then(|d| d.new_image())) {
            change["NewImage"] = new;
        }
        if let Some(old) = image(d.and_then(|d| d.old_image())) {
            change["OldImage"] = old;
        }
        json!({
            "eventID": r.event_id(),
            "eventName": r.event_name().map(|n| n.as_str()),
            "eventVersion": r.event_version(),
            "eventSource": "aws:dynamodb",
            "awsRegion": r.aws_region(),
            "dynamodb": change,
            "eventSourceARN": self.stream_arn,
        })
    }
}
