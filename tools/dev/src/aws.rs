//! SDK clients for local services: dummy credentials, a region, an explicit endpoint.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sqs::config::Credentials;
use aws_types::service_config::{LoadServiceConfig, ServiceConfigKey};

pub const REGION: &str = "us-east-1";

/// Per-service endpoints, the way `AWS_ENDPOINT_URL_DYNAMODB` / `AWS_ENDPOINT_URL_SQS` give
/// them: one SDK config serves both local services, so the functions' own wiring
/// (`from_config`) runs unchanged against them.
#[derive(Debug, Clone)]
struct LocalEndpoints {
    dynamodb: String,
    sqs: String,
}

impl LoadServiceConfig for LocalEndpoints {
    fn load_config(&self, key: ServiceConfigKey<'_>) -> Option<String> {
        if key.profile() != "endpoint_url" {
            return None;
        }
        match key.service_id() {
            "DynamoDB" | "DynamoDB Streams" => Some(self.dynamodb.clone()),
            // moto serves SSM and EventBridge (and more) on the same port as SQS.
            "SQS" | "SSM" | "EventBridge" => Some(self.sqs.clone()),
            _ => None,
        }
    }
}

/// An SDK config for DynamoDB Local and moto's SQS with dummy credentials.
pub fn local_config(dynamodb: &str, sqs: &str) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .service_config(LocalEndpoints {
            dynamodb: dynamodb.to_owned(),
            sqs: sqs.to_owned(),
        })
        .credentials_provider(aws_sdk_sqs::config::SharedCredentialsProvider::new(
            Credentials::new("local", "local", None, None, "glase-dev"),
        ))
        .build()
}

pub fn sqs(endpoint: &str) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(&local_config(endpoint, endpoint))
}

pub fn dynamodb(endpoint: &str) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&local_config(endpoint, endpoint))
}

/// Creates a queue and its dead-letter queue with a redrive policy; returns (queue, dlq) URLs.
pub async fn create_queues(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
    visibility_timeout_secs: u32,
    max_receive_count: u32,
) -> Result<(String, String), aws_sdk_sqs::Error> {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let dlq = sqs
        .create_queue()
        .queue_name(format!("{name}-dlq"))
        .attributes(A::MessageRetentionPeriod, "1209600")
        .send()
        .await?;
    let dlq_url = dlq.queue_url().unwrap_or_default().to_owned();
    let dlq_arn = queue_arn(sqs, &dlq_url).await?;
    let redrive =
        format!(r#"{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":"{max_receive_count}"}}"#);
    let queue = sqs
        .create_queue()
        .queue_name(name)
        .attributes(A::VisibilityTimeout, visibility_timeout_secs.to_string())
        .attributes(A::RedrivePolicy, redrive)
        .send()
        .await?;
    Ok((queue.queue_url().unwrap_or_default().to_owned(), dlq_url))
}

/// A local event bus (moto's EventBridge) with a rule sending the stack's events to an SQS
/// queue, so they can be read back; returns the queue's URL. The bus and rule are named `name`.
/// A queue's ARN (a redrive policy and an EventBridge target name queues by ARN).
async fn queue_arn(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
) -> Result<String, aws_sdk_sqs::Error> {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    Ok(sqs
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(A::QueueArn)
        .send()
        .await?
        .attributes()
        .and_then(|a| a.get(&A::QueueArn).cloned())
        .unwrap_or_default())
}

pub async fn create_event_bus_to_queue(
    events: &aws_sdk_eventbridge::Client,
    sqs: &aws_sdk_sqs::Client,
    name: &str,
) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
    events.create_event_bus().name(name).send().await?;
    let queue_url = sqs
        .create_queue()
        .queue_name(format!("{name}-events"))
        .send()
        .await?
        .queue_url()
        .unwrap_or_default()
        .to_owned();
    let queue_arn = queue_arn(sqs, &queue_url).await?;
    let pattern = serde_json::json!({ "source": [glase_shared::events::EVENT_SOURCE] });
    events
        .put_rule()
        .name(name)
        .event_bus_name(name)
        .event_pattern(pattern.to_string())
        .send()
        .await?;
    events
        .put_targets()
        .rule(name)
        .event_bus_name(name)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("queue")
                .arn(queue_arn)
                .build()?,
        )
        .send()
        .await?;
    Ok(queue_url)
}
