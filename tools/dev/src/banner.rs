//! What `make dev` prints: the commands to try next (the README shows the same text, checked by
//! a test) and whether logs may use colour.

/// Where the local services are, as `make dev` started them.
#[derive(Debug, Clone)]
pub struct LocalServices {
    pub notify_url: String,
    pub glase_url: String,
    pub dynamodb_endpoint: String,
    pub sqs_endpoint: String,
    pub table: String,
    pub queue_url: String,
    /// Empty when an existing queue was given (its own redrive policy applies).
    pub dlq_url: String,
}

impl LocalServices {
    /// The services at `make dev`'s default ports and names.
    pub fn defaults() -> Self {
        Self {
            notify_url: "http://127.0.0.1:3000/notifications/local-dev-webhook-token".into(),
            glase_url: "http://127.0.0.1:4000".into(),
            dynamodb_endpoint: "http://127.0.0.1:8000".into(),
            sqs_endpoint: "http://127.0.0.1:9324".into(),
            table: "glase-invoices".into(),
            queue_url: "http://127.0.0.1:9324/123456789012/glase-notifications".into(),
            dlq_url: "http://127.0.0.1:9324/123456789012/glase-notifications-dlq".into(),
        }
    }
}

/// The "try next" block: a payment, a notification, and the glase-invoices commands with the
/// settings that point them (and the AWS CLI) at the local services.
pub fn try_next(s: &LocalServices) -> String {
    let dlq = if s.dlq_url.is_empty() {
        String::new()
    } else {
        format!("  export DEAD_LETTER_QUEUE_URL={}\n", s.dlq_url)
    };
    format!(
        r#"Try next (in another terminal):
  make demo      # pays 20 invoices in glase-sim, shows them arriving, lists them with glase-invoices
  cargo run -p glase-sim -- pay --sim {glase} --amount 12.50 --reference my-ref-1
  curl -s -X POST {notify} -H 'content-type: application/json' -d '{{"invoiceId": 1001}}'

Query and operate with glase-invoices, or the AWS CLI, against the local services
(DynamoDB Local takes any credentials and region; moto's queues live in us-east-1):
  export AWS_ENDPOINT_URL_DYNAMODB={ddb} AWS_ENDPOINT_URL_SQS={sqs}
  export AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local
  export TABLE_NAME={table}
  export QUEUE_URL={queue}
{dlq}  alias glase-invoices='cargo run -p glase-invoices --'
  glase-invoices list                          # today's paid invoices, totals per currency
  glase-invoices get 1001                      # one invoice's whole item
  glase-invoices find --reference my-ref-1     # every payment of a reference
  glase-invoices status                        # queue depths, today's counts
  aws dynamodb scan --table-name {table}   # the raw items
"#,
        glase = s.glase_url,
        notify = s.notify_url,
        ddb = s.dynamodb_endpoint,
        sqs = s.sqs_endpoint,
        table = s.table,
        queue = s.queue_url,
    )
}

/// InvoicePaid events (issue 19): where `make dev` puts them and how to read them.
pub fn events_hint(sqs_endpoint: &str, events_queue_url: &str) -> String {
    format!(
        r#"InvoicePaid / InvoiceRejected events (docs/events.md) go to the local EventBridge bus
`{bus}` (moto); a rule copies them to a queue. Read them (they are consumed) with:
  aws --endpoint-url {sqs_endpoint} --region us-east-1 sqs receive-message \
      --queue-url {events_queue_url} --max-number-of-messages 10 --query 'Messages[].Body'
"#,
        bus = crate::stack::DEV_EVENT_BUS,
    )
}

/// Colour in logs only for a person at a terminal, and never when `NO_COLOR` is set
/// (https://no-color.org): redirected logs get no escape codes.
pub fn colour(is_terminal: bool) -> bool {
    is_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_readme_shows_exactly_what_make_dev_prints() {
        let readme = std::fs::read_to_string(crate::services::repo_root().join("README.md"))
            .expect("read README.md");
        let text = try_next(&LocalServices::defaults());
        assert!(
            readme.contains(&text),
            "README.md must contain make dev's \"try next\" text verbatim:\n{text}"
        );
    }
}
