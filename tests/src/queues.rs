//! Looking at queues without consuming them.

use aws_sdk_sqs::types::QueueAttributeName as A;
use aws_sdk_sqs::Client;

/// Messages in the queue: visible, in flight and delayed.
pub async fn depth(sqs: &Client, queue_url: &str) -> Result<usize, aws_sdk_sqs::Error> {
    let out = sqs
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(A::ApproximateNumberOfMessages)
        .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
        .attribute_names(A::ApproximateNumberOfMessagesDelayed)
        .send()
        .await?;
    Ok(out
        .attributes()
        .map(|a| a.values().filter_map(|v| v.parse::<usize>().ok()).sum())
        .unwrap_or(0))
}
