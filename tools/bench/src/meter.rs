//! An HTTP proxy on loopback that counts the requests it relays, by operation, for the cost
//! count (`--only cost`). AWS requests are keyed by their `X-Amz-Target` (DynamoDB, SQS and
//! EventBridge all speak JSON 1.0 to this SDK), others by method and path. DynamoDB requests
//! are relayed with `ReturnConsumedCapacity: INDEXES` added, and the answers' capacity is added
//! up for the table and each index apart, so every index write is counted. Nothing in the
//! product changes for it: the proxy rewrites the request (DynamoDB Local does not check
//! signatures).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::Value;

/// DynamoDB operations that take `ReturnConsumedCapacity`.
const CAPACITY_OPS: [&str; 10] = [
    "GetItem",
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "Query",
    "Scan",
    "BatchGetItem",
    "BatchWriteItem",
    "TransactGetItems",
    "TransactWriteItems",
];
const READ_OPS: [&str; 5] = [
    "GetItem",
    "Query",
    "Scan",
    "BatchGetItem",
    "TransactGetItems",
];

/// What went through one meter.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Tally {
    /// Requests by operation: `DynamoDB_20120810.PutItem`, `AmazonSQS.ReceiveMessage`,
    /// `AmazonSQS.ReceiveMessage (empty)`, `POST /notifications/{token}`, `GET /api/…/{n}`.
    pub requests: BTreeMap<String, u64>,
    /// DynamoDB write units by `table` or index name.
    pub write_units: BTreeMap<String, f64>,
    /// DynamoDB read units by `table` or index name.
    pub read_units: BTreeMap<String, f64>,
    /// Conditional writes DynamoDB refused: no capacity in the answer, one write unit billed.
    pub refused_writes: u64,
    /// Messages ReceiveMessage handed out.
    pub messages_received: u64,
    /// Entries sent with PutEvents (EventBridge bills per event).
    pub events_put: u64,
}

impl Tally {
    pub fn count(&self, op: &str) -> u64 {
        self.requests.get(op).copied().unwrap_or(0)
    }

    /// This tally less `before` (the same meter, read earlier).
    pub fn since(&self, before: &Tally) -> Tally {
        let minus_u = |a: &BTreeMap<String, u64>, b: &BTreeMap<String, u64>| {
            a.iter()
                .map(|(k, v)| (k.clone(), v - b.get(k).copied().unwrap_or(0)))
                .filter(|(_, v)| *v > 0)
                .collect()
        };
        let minus_f = |a: &BTreeMap<String, f64>, b: &BTreeMap<String, f64>| {
            a.iter()
                .map(|(k, v)| (k.clone(), v - b.get(k).copied().unwrap_or(0.0)))
                .filter(|(_, v)| *v > 0.0)
                .collect()
        };
        Tally {
            requests: minus_u(&self.requests, &before.requests),
            write_units: minus_f(&self.write_units, &before.write_units),
            read_units: minus_f(&self.read_units, &before.read_units),
            refused_writes: self.refused_writes - before.refused_writes,
            messages_received: self.messages_received - before.messages_received,
            events_put: self.events_put - before.events_put,
        }
    }

    fn add_capacity(&mut self, op: &str, answer: &Value) {
        let units = if READ_OPS.contains(&op) {
            &mut self.read_units
        } else {
            &mut self.write_units
        };
        let each: Vec<&Value> = match answer.get("ConsumedCapacity") {
            Some(Value::Array(list)) => list.iter().collect(),
            Some(one) => vec![one],
            None => Vec::new(),
        };
        for c in each {
            let table = c["Table"]["CapacityUnits"]
                .as_f64()
                .or_else(|| c["CapacityUnits"].as_f64());
            *units.entry("table".into()).or_default() += table.unwrap_or(0.0);
            if let Some(indexes) = c["GlobalSecondaryIndexes"].as_object() {
                for (name, index) in indexes {
                    *units.entry(name.clone()).or_default() +=
                        index["CapacityUnits"].as_f64().unwrap_or(0.0);
                }
            }
        }
    }
}

struct Shared {
    upstream: String,
    client: reqwest::Client,
    tally: Mutex<Tally>,
}

pub struct Meter {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Meter {
    /// A meter relaying to `upstream` (`http://host:port`).
    pub async fn start(upstream: &str) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            upstream: upstream.trim_end_matches('/').to_owned(),
            client: reqwest::Client::new(),
            tally: Mutex::new(Tally::default()),
        });
        let router = axum::Router::new()
            .fallback(relay)
            .with_state(Arc::clone(&shared));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok(Self { addr, shared, task })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn tally(&self) -> Tally {
        self.shared
            .tally
            .lock()
            .map(|t| t.clone())
            .unwrap_or_default()
    }
}

impl Drop for Meter {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The key of a request that has no `X-Amz-Target`: method and path, numbers and the
/// webhook's token replaced (the token never reaches a result file).
fn path_key(method: &str, path: &str) -> String {
    let mut parts = Vec::new();
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        if parts.last() == Some(&"notifications") {
            parts.push("{token}");
            break;
        }
        parts.push(if segment.bytes().all(|b| b.is_ascii_digit()) {
            "{n}"
        } else {
            segment
        });
    }
    format!("{method} /{}", parts.join("/"))
}

fn target(headers: &HeaderMap) -> Option<String> {
    headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The DynamoDB operation of a target, if it takes `ReturnConsumedCapacity`.
fn capacity_op(target: Option<&str>) -> Option<&'static str> {
    let op = target?.strip_prefix("DynamoDB_20120810.")?;
    CAPACITY_OPS.into_iter().find(|o| *o == op)
}

/// `body` asking for the consumed capacity by index.
fn with_capacity(body: &[u8]) -> Option<Vec<u8>> {
    let mut request: Value = serde_json::from_slice(body).ok()?;
    request
        .as_object_mut()?
        .insert("ReturnConsumedCapacity".into(), "INDEXES".into());
    serde_json::to_vec(&request).ok()
}

async fn relay(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(body) = to_bytes(body, usize::MAX).await else {
        return status(StatusCode::BAD_REQUEST);
    };
    let target = target(&parts.headers);
    let op = capacity_op(target.as_deref());
    let body = match op.and_then(|_| with_capacity(&body)) {
        Some(rewritten) => rewritten.into(),
        None => body,
    };
    let events = (target.as_deref() == Some("AWSEvents.PutEvents"))
        .then(|| serde_json::from_slice::<Value>(&body).ok())
        .flatten()
        .and_then(|v| v["Entries"].as_array().map(Vec::len))
        .unwrap_or(0);
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let mut forward = shared
        .client
        .request(parts.method.clone(), format!("{}{path}", shared.upstream))
        .body(body);
    for (name, value) in &parts.headers {
        if !matches!(name.as_str(), "host" | "content-length" | "connection") {
            forward = forward.header(name, value);
        }
    }
    let Ok(answer) = forward.send().await else {
        return status(StatusCode::BAD_GATEWAY);
    };
    let code = answer.status();
    let headers = answer.headers().clone();
    let Ok(bytes) = answer.bytes().await else {
        return status(StatusCode::BAD_GATEWAY);
    };

    let mut key = target
        .clone()
        .unwrap_or_else(|| path_key(parts.method.as_str(), parts.uri.path()));
    {
        let Ok(mut tally) = shared.tally.lock() else {
            return status(StatusCode::INTERNAL_SERVER_ERROR);
        };
        let json: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if let Some(op) = op {
            if code.is_success() {
                tally.add_capacity(op, &json);
            } else if json["__type"]
                .as_str()
                .is_some_and(|t| t.ends_with("ConditionalCheckFailedException"))
            {
                tally.refused_writes += 1;
                key.push_str(" (refused)");
            }
        }
        if target.as_deref() == Some("AmazonSQS.ReceiveMessage") {
            let n = json["Messages"].as_array().map_or(0, Vec::len);
            tally.messages_received += n as u64;
            if n == 0 {
                key.push_str(" (empty)");
            }
        }
        tally.events_put += events as u64;
        *tally.requests.entry(key).or_default() += 1;
    }

    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = code;
    for (name, value) in &headers {
        if !matches!(
            name.as_str(),
            "content-length" | "transfer-encoding" | "connection"
        ) {
            response.headers_mut().append(name, value.clone());
        }
    }
    response
}

fn status(code: StatusCode) -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = code;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_keyed_without_numbers_or_the_webhook_token() {
        assert_eq!(
            path_key("POST", "/notifications/s3cret-token"),
            "POST /notifications/{token}"
        );
        assert_eq!(
            path_key("GET", "/api/invoice/12345"),
            "GET /api/invoice/{n}"
        );
    }

    #[test]
    fn capacity_is_added_for_the_table_and_each_index_apart() {
        let mut tally = Tally::default();
        let answer: Value = serde_json::from_str(
            r#"{"ConsumedCapacity":{"TableName":"t","CapacityUnits":4.0,"Table":{"CapacityUnits":1.0},
                "GlobalSecondaryIndexes":{"byReference":{"CapacityUnits":1.0},"byOpenState":{"CapacityUnits":1.0},"byPurchaseDate":{"CapacityUnits":1.0}}}}"#,
        )
        .unwrap();
        tally.add_capacity("PutItem", &answer);
        tally.add_capacity(
            "GetItem",
            &serde_json::json!({"ConsumedCapacity": {"CapacityUnits": 1.0}}),
        );
        assert_eq!(tally.write_units["table"], 1.0);
        assert_eq!(tally.write_units["byOpenState"], 1.0);
        assert_eq!(tally.write_units.values().sum::<f64>(), 4.0);
        assert_eq!(tally.read_units["table"], 1.0);
    }

    #[test]
    fn only_dynamodb_item_operations_are_asked_for_capacity() {
        assert_eq!(
            capacity_op(Some("DynamoDB_20120810.UpdateItem")),
            Some("UpdateItem")
        );
        assert_eq!(capacity_op(Some("DynamoDB_20120810.CreateTable")), None);
        assert_eq!(capacity_op(Some("AmazonSQS.SendMessage")), None);
        let body = with_capacity(br#"{"TableName":"t"}"#).unwrap();
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["ReturnConsumedCapacity"], "INDEXES");
    }
}
