//! A keep-alive SQS stand-in: the operations the functions, the pollers and the bench send,
//! spoken as the SDKs speak them (AWS JSON 1.0, `X-Amz-Target: AmazonSQS.<Op>`), over an
//! HTTP/1.1 server that keeps connections open as SQS does. moto closes every connection, so
//! each call against it pays a new TCP connect, and its queues slow down as they grow; here
//! every operation is O(1) or O(log n), so a 100k-message backlog stays fast.
//!
//! Each queue: a `VecDeque` of visible messages, a heap of visibility deadlines (in-flight and
//! delayed messages, stale entries skipped by generation), and a map from receipt handle to
//! message. Requests are counted per operation ([`SqsStandIn::counts`]).
//!
//! Not modelled (the bench does not need them): redrive to the dead-letter queue after
//! `maxReceiveCount` (the policy is stored and reported, not applied), FIFO ordering and
//! deduplication, message retention, and the MD5 digests (no SDK this repository uses checks
//! them: aws-sdk-rust and botocore do not).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};
use tokio::time::Instant;

const ACCOUNT: &str = "000000000000";
/// SQS's default visibility timeout, and its longest long poll.
const DEFAULT_VISIBILITY_SECS: u64 = 30;
const MAX_WAIT_SECS: u64 = 20;
const MAX_BATCH: usize = 10;

pub struct SqsStandIn {
    addr: SocketAddr,
    state: Arc<State>,
    task: tokio::task::JoinHandle<()>,
}

impl SqsStandIn {
    /// Serves on a free loopback port until dropped.
    pub async fn start() -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State {
            base: format!("http://{addr}"),
            inner: Mutex::new(Inner::default()),
            arrived: tokio::sync::Notify::new(),
        });
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&state));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { addr, state, task })
    }

    /// What `AWS_ENDPOINT_URL_SQS` is set to.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Requests served so far, per operation (`SendMessageBatch`, …), unknown ones included.
    pub fn counts(&self) -> BTreeMap<String, u64> {
        self.state.lock().counts.clone()
    }

    /// (visible, in flight, delayed) messages of the queue at `url`, if it exists.
    pub fn depth(&self, url: &str) -> Option<(usize, usize, usize)> {
        let mut inner = self.state.lock();
        let queue = inner.queues.get_mut(queue_name(url)?)?;
        queue.promote(Instant::now());
        Some((queue.visible, queue.in_flight, queue.delayed))
    }
}

impl Drop for SqsStandIn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct State {
    base: String,
    inner: Mutex<Inner>,
    /// Woken whenever messages may have become visible (sent, released), for long polls.
    arrived: tokio::sync::Notify,
}

impl State {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves plain data; keep serving.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[derive(Default)]
struct Inner {
    queues: HashMap<String, Queue>,
    counts: BTreeMap<String, u64>,
    next_seq: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Where {
    Visible,
    InFlight,
    Delayed,
}

struct Message {
    id: String,
    body: String,
    attributes: Value,
    sent_ms: i64,
    first_receive_ms: Option<i64>,
    receives: u32,
    /// Bumped at every change of visibility: older heap entries for it are stale.
    generation: u32,
    receipt: Option<String>,
    place: Where,
}

struct Queue {
    name: String,
    attributes: BTreeMap<String, String>,
    created_s: i64,
    visibility: Duration,
    ready: VecDeque<u64>,
    messages: HashMap<u64, Message>,
    timers: BinaryHeap<Reverse<(Instant, u64, u32)>>,
    receipts: HashMap<String, u64>,
    visible: usize,
    in_flight: usize,
    delayed: usize,
}

impl Queue {
    fn new(name: &str, attributes: BTreeMap<String, String>) -> Self {
        let visibility = attributes
            .get("VisibilityTimeout")
            .and_then(|v| v.parse().ok())
            .unwrap_or(DEFAULT_VISIBILITY_SECS);
        Self {
            name: name.to_owned(),
            attributes,
            created_s: jiff::Timestamp::now().as_second(),
            visibility: Duration::from_secs(visibility),
            ready: VecDeque::new(),
            messages: HashMap::new(),
            timers: BinaryHeap::new(),
            receipts: HashMap::new(),
            visible: 0,
            in_flight: 0,
            delayed: 0,
        }
    }

    fn count(&mut self, place: Where, delta: isize) {
        let n = match place {
            Where::Visible => &mut self.visible,
            Where::InFlight => &mut self.in_flight,
            Where::Delayed => &mut self.delayed,
        };
        *n = n.saturating_add_signed(delta);
    }

    fn set_place(&mut self, seq: u64, place: Where, now: Instant, hidden_for: Duration) {
        let Some(m) = self.messages.get_mut(&seq) else {
            return;
        };
        let old = m.place;
        m.place = place;
        m.generation = m.generation.wrapping_add(1);
        let generation = m.generation;
        self.count(old, -1);
        self.count(place, 1);
        if place == Where::Visible {
            self.ready.push_back(seq);
        } else {
            self.timers
                .push(Reverse((now + hidden_for, seq, generation)));
        }
    }

    /// Messages whose visibility timeout or delay has passed become visible again.
    fn promote(&mut self, now: Instant) -> bool {
        let mut any = false;
        while let Some(Reverse((at, seq, generation))) = self.timers.peek().copied() {
            if at > now {
                break;
            }
            self.timers.pop();
            let current = self
                .messages
                .get(&seq)
                .is_some_and(|m| m.generation == generation && m.place != Where::Visible);
            if current {
                self.set_place(seq, Where::Visible, now, Duration::ZERO);
                any = true;
            }
        }
        any
    }

    fn next_timer(&self) -> Option<Instant> {
        self.timers.peek().map(|Reverse((at, _, _))| *at)
    }

    fn send(&mut self, seq: u64, entry: &Value, now: Instant) -> Result<Value, SqsError> {
        let body = entry["MessageBody"]
            .as_str()
            .filter(|b| !b.is_empty())
            .ok_or_else(|| SqsError::invalid("MessageBody is required and not empty"))?;
        let delay = entry["DelaySeconds"].as_u64().unwrap_or(0);
        if delay > 900 {
            return Err(SqsError::invalid("DelaySeconds must be at most 900"));
        }
        let id = uuid::Uuid::new_v4().to_string();
        self.messages.insert(
            seq,
            Message {
                id: id.clone(),
                body: body.to_owned(),
                attributes: entry
                    .get("MessageAttributes")
                    .cloned()
                    .unwrap_or(Value::Null),
                sent_ms: jiff::Timestamp::now().as_millisecond(),
                first_receive_ms: None,
                receives: 0,
                generation: 0,
                receipt: None,
                place: Where::Delayed,
            },
        );
        self.delayed += 1;
        if delay == 0 {
            self.set_place(seq, Where::Visible, now, Duration::ZERO);
        } else {
            self.set_place(seq, Where::Delayed, now, Duration::from_secs(delay));
        }
        Ok(json!({ "MessageId": id }))
    }

    /// Up to `max` visible messages, hidden for `visibility` from now.
    fn receive(&mut self, max: usize, visibility: Duration, now: Instant) -> Vec<(u64, String)> {
        self.promote(now);
        let mut out = Vec::new();
        while out.len() < max {
            let Some(seq) = self.ready.pop_front() else {
                break;
            };
            let Some(m) = self.messages.get_mut(&seq) else {
                continue;
            };
            if m.place != Where::Visible {
                continue;
            }
            m.receives += 1;
            let now_ms = jiff::Timestamp::now().as_millisecond();
            m.first_receive_ms.get_or_insert(now_ms);
            let receipt = format!("{seq}-{}-{}", m.receives, uuid::Uuid::new_v4().simple());
            if let Some(old) = m.receipt.replace(receipt.clone()) {
                self.receipts.remove(&old);
            }
            self.receipts.insert(receipt.clone(), seq);
            // Already popped from `ready`: only its place and timer change.
            m.place = Where::InFlight;
            m.generation = m.generation.wrapping_add(1);
            let generation = m.generation;
            self.visible = self.visible.saturating_sub(1);
            self.in_flight += 1;
            self.timers
                .push(Reverse((now + visibility, seq, generation)));
            out.push((seq, receipt));
        }
        out
    }

    /// SQS: deleting with a handle that is no longer the latest succeeds and deletes nothing.
    fn delete(&mut self, receipt: &str) -> Result<(), SqsError> {
        if receipt.is_empty() {
            return Err(SqsError::receipt(receipt));
        }
        if let Some(seq) = self.receipts.remove(receipt) {
            if let Some(m) = self.messages.remove(&seq) {
                self.count(m.place, -1);
            }
        }
        Ok(())
    }

    fn change_visibility(
        &mut self,
        receipt: &str,
        timeout: u64,
        now: Instant,
    ) -> Result<bool, SqsError> {
        if timeout > 43_200 {
            return Err(SqsError::invalid("VisibilityTimeout must be at most 43200"));
        }
        let seq = *self
            .receipts
            .get(receipt)
            .ok_or_else(|| SqsError::receipt(receipt))?;
        self.promote(now);
        if self.messages.get(&seq).map(|m| m.place) != Some(Where::InFlight) {
            return Err(SqsError::new(
                "MessageNotInflight",
                "AWS.SimpleQueueService.MessageNotInflight",
                "the message is not in flight",
            ));
        }
        if timeout == 0 {
            self.set_place(seq, Where::Visible, now, Duration::ZERO);
            Ok(true)
        } else {
            self.set_place(seq, Where::InFlight, now, Duration::from_secs(timeout));
            Ok(false)
        }
    }

    fn message_json(&self, seq: u64, receipt: &str, request: &Value) -> Value {
        let Some(m) = self.messages.get(&seq) else {
            return Value::Null;
        };
        let mut out = json!({ "MessageId": m.id, "ReceiptHandle": receipt, "Body": m.body });
        let wanted = |name: &str| {
            ["AttributeNames", "MessageSystemAttributeNames"]
                .iter()
                .filter_map(|k| request[*k].as_array())
                .flatten()
                .filter_map(Value::as_str)
                .any(|n| n == "All" || n == name)
        };
        let system = [
            ("ApproximateReceiveCount", m.receives.to_string()),
            ("SentTimestamp", m.sent_ms.to_string()),
            (
                "ApproximateFirstReceiveTimestamp",
                m.first_receive_ms.unwrap_or(m.sent_ms).to_string(),
            ),
            ("SenderId", "AIDAIENQZJOLO23YVJ4VO".to_owned()),
        ];
        let attributes: Map<String, Value> = system
            .into_iter()
            .filter(|(k, _)| wanted(k))
            .map(|(k, v)| (k.to_owned(), Value::String(v)))
            .collect();
        if !attributes.is_empty() {
            out["Attributes"] = Value::Object(attributes);
        }
        if let Some(sent) = m.attributes.as_object() {
            let names: Vec<&str> = request["MessageAttributeNames"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let picked: Map<String, Value> = sent
                .iter()
                .filter(|(k, _)| names.iter().any(|n| *n == "All" || *n == ".*" || n == k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            if !picked.is_empty() {
                out["MessageAttributes"] = Value::Object(picked);
            }
        }
        out
    }

    fn attributes(&mut self, names: &[&str], now: Instant) -> Map<String, Value> {
        self.promote(now);
        let mut all: BTreeMap<String, String> = self.attributes.clone();
        all.insert(
            "QueueArn".into(),
            format!(
                "arn:aws:sqs:{}:{ACCOUNT}:{}",
                glase_dev::aws::REGION,
                self.name
            ),
        );
        all.insert(
            "ApproximateNumberOfMessages".into(),
            self.visible.to_string(),
        );
        all.insert(
            "ApproximateNumberOfMessagesNotVisible".into(),
            self.in_flight.to_string(),
        );
        all.insert(
            "ApproximateNumberOfMessagesDelayed".into(),
            self.delayed.to_string(),
        );
        all.insert(
            "VisibilityTimeout".into(),
            self.visibility.as_secs().to_string(),
        );
        all.insert("CreatedTimestamp".into(), self.created_s.to_string());
        all.into_iter()
            .filter(|(k, _)| names.iter().any(|n| *n == "All" || n == k))
            .map(|(k, v)| (k, Value::String(v)))
            .collect()
    }

    fn purge(&mut self) {
        self.ready.clear();
        self.messages.clear();
        self.timers.clear();
        self.receipts.clear();
        (self.visible, self.in_flight, self.delayed) = (0, 0, 0);
    }
}

/// An error as SQS answers it over JSON 1.0: 400, `__type`, and the query-compatible code.
#[derive(Debug)]
struct SqsError {
    code: &'static str,
    query_code: &'static str,
    message: String,
}

impl SqsError {
    fn new(code: &'static str, query_code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            query_code,
            message: message.into(),
        }
    }

    fn invalid(message: impl Into<String>) -> Self {
        Self::new("InvalidParameterValue", "InvalidParameterValue", message)
    }

    fn receipt(receipt: &str) -> Self {
        Self::new(
            "ReceiptHandleIsInvalid",
            "ReceiptHandleIsInvalid",
            format!("the receipt handle \"{receipt}\" is not valid"),
        )
    }

    fn no_queue() -> Self {
        Self::new(
            "QueueDoesNotExist",
            "AWS.SimpleQueueService.NonExistentQueue",
            "The specified queue does not exist.",
        )
    }

    /// A failed batch entry.
    fn entry(&self, id: &str) -> Value {
        json!({ "Id": id, "SenderFault": true, "Code": self.code, "Message": self.message })
    }
}

impl IntoResponse for SqsError {
    fn into_response(self) -> Response {
        let body = json!({ "__type": format!("com.amazonaws.sqs#{}", self.code), "message": self.message });
        (
            StatusCode::BAD_REQUEST,
            [
                ("content-type", "application/x-amz-json-1.0"),
                ("x-amzn-query-error", &format!("{};Sender", self.query_code)),
            ],
            body.to_string(),
        )
            .into_response()
    }
}

/// The queue name at the end of a queue URL (`http://host/000000000000/name`).
fn queue_name(url: &str) -> Option<&str> {
    url.rsplit('/').next().filter(|n| !n.is_empty())
}

fn ok(body: Value) -> Response {
    (
        [("content-type", "application/x-amz-json-1.0")],
        body.to_string(),
    )
        .into_response()
}

async fn handle(
    axum::extract::State(state): axum::extract::State<Arc<State>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let op = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.strip_prefix("AmazonSQS."))
        .unwrap_or("")
        .to_owned();
    *state.lock().counts.entry(op.clone()).or_default() += 1;
    let request: Value = match serde_json::from_slice(&body) {
        Ok(v @ Value::Object(_)) => v,
        _ => return SqsError::invalid("the request body is not a JSON object").into_response(),
    };
    let answer = match op.as_str() {
        "ReceiveMessage" => receive(&state, &request).await,
        _ => operate(&state, &op, &request),
    };
    match answer {
        Ok(v) => ok(v),
        Err(e) => e.into_response(),
    }
}

fn str_list<'a>(request: &'a Value, key: &str) -> Vec<&'a str> {
    request[key]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

fn entries(request: &Value) -> Result<&Vec<Value>, SqsError> {
    let entries = request["Entries"]
        .as_array()
        .filter(|e| !e.is_empty())
        .ok_or_else(|| {
            SqsError::new(
                "EmptyBatchRequest",
                "AWS.SimpleQueueService.EmptyBatchRequest",
                "no entries",
            )
        })?;
    if entries.len() > MAX_BATCH {
        return Err(SqsError::new(
            "TooManyEntriesInBatchRequest",
            "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
            format!("{} entries; at most {MAX_BATCH}", entries.len()),
        ));
    }
    Ok(entries)
}

/// Every operation but ReceiveMessage: one short critical section.
fn operate(state: &State, op: &str, request: &Value) -> Result<Value, SqsError> {
    let now = Instant::now();
    let mut guard = state.lock();
    let inner = &mut *guard;
    match op {
        "CreateQueue" => {
            let name = request["QueueName"]
                .as_str()
                .filter(|n| !n.is_empty())
                .ok_or_else(|| SqsError::invalid("QueueName is required"))?;
            let attributes = request["Attributes"]
                .as_object()
                .into_iter()
                .flatten()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect();
            inner
                .queues
                .entry(name.to_owned())
                .or_insert_with(|| Queue::new(name, attributes));
            return Ok(json!({ "QueueUrl": format!("{}/{ACCOUNT}/{name}", state.base) }));
        }
        "GetQueueUrl" => {
            let name = request["QueueName"].as_str().unwrap_or_default();
            return if inner.queues.contains_key(name) {
                Ok(json!({ "QueueUrl": format!("{}/{ACCOUNT}/{name}", state.base) }))
            } else {
                Err(SqsError::no_queue())
            };
        }
        "ListQueues" => {
            let urls: Vec<String> = inner
                .queues
                .keys()
                .map(|n| format!("{}/{ACCOUNT}/{n}", state.base))
                .collect();
            return Ok(json!({ "QueueUrls": urls }));
        }
        _ => {}
    }
    let queue = request["QueueUrl"]
        .as_str()
        .and_then(queue_name)
        .and_then(|n| inner.queues.get_mut(n))
        .ok_or_else(SqsError::no_queue)?;
    let answer = match op {
        "SendMessage" => {
            let seq = inner.next_seq;
            inner.next_seq += 1;
            queue.send(seq, request, now)?
        }
        "SendMessageBatch" => {
            let entries = entries(request)?;
            let (mut successful, mut failed) = (Vec::new(), Vec::new());
            for entry in entries {
                let id = entry["Id"].as_str().unwrap_or_default();
                let seq = inner.next_seq;
                inner.next_seq += 1;
                match queue.send(seq, entry, now) {
                    Ok(mut sent) => {
                        sent["Id"] = json!(id);
                        successful.push(sent);
                    }
                    Err(e) => failed.push(e.entry(id)),
                }
            }
            json!({ "Successful": successful, "Failed": failed })
        }
        "DeleteMessage" => {
            queue.delete(request["ReceiptHandle"].as_str().unwrap_or_default())?;
            json!({})
        }
        "DeleteMessageBatch" => {
            let (mut successful, mut failed) = (Vec::new(), Vec::new());
            for entry in entries(request)? {
                let id = entry["Id"].as_str().unwrap_or_default();
                match queue.delete(entry["ReceiptHandle"].as_str().unwrap_or_default()) {
                    Ok(()) => successful.push(json!({ "Id": id })),
                    Err(e) => failed.push(e.entry(id)),
                }
            }
            json!({ "Successful": successful, "Failed": failed })
        }
        "ChangeMessageVisibility" => {
            let receipt = request["ReceiptHandle"].as_str().unwrap_or_default();
            let timeout = request["VisibilityTimeout"]
                .as_u64()
                .ok_or_else(|| SqsError::invalid("VisibilityTimeout is required"))?;
            if queue.change_visibility(receipt, timeout, now)? {
                state.arrived.notify_waiters();
            }
            json!({})
        }
        "ChangeMessageVisibilityBatch" => {
            let (mut successful, mut failed) = (Vec::new(), Vec::new());
            let mut released = false;
            for entry in entries(request)? {
                let id = entry["Id"].as_str().unwrap_or_default();
                let receipt = entry["ReceiptHandle"].as_str().unwrap_or_default();
                let timeout = entry["VisibilityTimeout"].as_u64().unwrap_or(0);
                match queue.change_visibility(receipt, timeout, now) {
                    Ok(r) => {
                        released |= r;
                        successful.push(json!({ "Id": id }));
                    }
                    Err(e) => failed.push(e.entry(id)),
                }
            }
            if released {
                state.arrived.notify_waiters();
            }
            json!({ "Successful": successful, "Failed": failed })
        }
        "GetQueueAttributes" => {
            let mut names = str_list(request, "AttributeNames");
            if names.is_empty() {
                names.push("All");
            }
            json!({ "Attributes": queue.attributes(&names, now) })
        }
        "SetQueueAttributes" => {
            for (k, v) in request["Attributes"].as_object().into_iter().flatten() {
                if let Some(v) = v.as_str() {
                    if k == "VisibilityTimeout" {
                        let secs = v
                            .parse()
                            .map_err(|_| SqsError::invalid("VisibilityTimeout is not a number"))?;
                        queue.visibility = Duration::from_secs(secs);
                    }
                    queue.attributes.insert(k.clone(), v.to_owned());
                }
            }
            json!({})
        }
        "PurgeQueue" => {
            queue.purge();
            json!({})
        }
        "DeleteQueue" => {
            let name = queue.name.clone();
            inner.queues.remove(&name);
            json!({})
        }
        other => {
            return Err(SqsError::new(
                "InvalidAction",
                "AWS.SimpleQueueService.InvalidAction",
                format!("the stand-in does not serve {other:?}"),
            ))
        }
    };
    if op.starts_with("Send") {
        state.arrived.notify_waiters();
    }
    Ok(answer)
}

/// ReceiveMessage, long polling up to `WaitTimeSeconds` (20 at most) for a first message.
async fn receive(state: &State, request: &Value) -> Result<Value, SqsError> {
    let max = request["MaxNumberOfMessages"].as_u64().unwrap_or(1);
    if !(1..=MAX_BATCH as u64).contains(&max) {
        return Err(SqsError::invalid(
            "MaxNumberOfMessages must be between 1 and 10",
        ));
    }
    let wait = Duration::from_secs(
        request["WaitTimeSeconds"]
            .as_u64()
            .unwrap_or(0)
            .min(MAX_WAIT_SECS),
    );
    let name = request["QueueUrl"]
        .as_str()
        .and_then(queue_name)
        .ok_or_else(SqsError::no_queue)?;
    let deadline = Instant::now() + wait;
    loop {
        // Registered before looking, so a send between the look and the wait is not missed.
        let arrived = state.arrived.notified();
        tokio::pin!(arrived);
        arrived.as_mut().enable();
        let now = Instant::now();
        let next_timer = {
            let mut inner = state.lock();
            let queue = inner.queues.get_mut(name).ok_or_else(SqsError::no_queue)?;
            let visibility = request["VisibilityTimeout"]
                .as_u64()
                .map_or(queue.visibility, Duration::from_secs);
            let got = queue.receive(max as usize, visibility, now);
            if !got.is_empty() || now >= deadline {
                let messages: Vec<Value> = got
                    .iter()
                    .map(|(seq, receipt)| queue.message_json(*seq, receipt, request))
                    .collect();
                return Ok(if messages.is_empty() {
                    json!({})
                } else {
                    json!({ "Messages": messages })
                });
            }
            queue.next_timer()
        };
        let until = next_timer.map_or(deadline, |t| t.min(deadline));
        tokio::select! {
            _ = &mut arrived => {}
            _ = tokio::time::sleep_until(until) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_sqs::types::{
        DeleteMessageBatchRequestEntry, MessageAttributeValue, MessageSystemAttributeName,
        QueueAttributeName, SendMessageBatchRequestEntry,
    };

    async fn started() -> (SqsStandIn, aws_sdk_sqs::Client, String) {
        let standin = SqsStandIn::start().await.unwrap();
        let sqs = glase_dev::aws::sqs(&standin.endpoint());
        let (url, _dlq) = glase_dev::aws::create_queues(&sqs, "standin", 30, 5)
            .await
            .unwrap();
        (standin, sqs, url)
    }

    fn batch(ids: std::ops::Range<u64>) -> Vec<SendMessageBatchRequestEntry> {
        ids.map(|i| {
            SendMessageBatchRequestEntry::builder()
                .id(format!("e{i}"))
                .message_body(format!("{{\"invoiceId\":{i}}}"))
                .message_attributes(
                    "Requeued",
                    MessageAttributeValue::builder()
                        .data_type("String")
                        .string_value("bench")
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap()
        })
        .collect()
    }

    async fn attribute(sqs: &aws_sdk_sqs::Client, url: &str, name: QueueAttributeName) -> String {
        sqs.get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::All)
            .send()
            .await
            .unwrap()
            .attributes()
            .and_then(|a| a.get(&name).cloned())
            .unwrap_or_default()
    }

    #[tokio::test]
    async fn the_sdk_sends_ten_by_batch_receives_deletes_and_reads_attributes() {
        let (standin, sqs, url) = started().await;

        let sent = sqs
            .send_message_batch()
            .queue_url(&url)
            .set_entries(Some(batch(0..10)))
            .send()
            .await
            .unwrap();
        assert_eq!(sent.successful().len(), 10);
        assert!(sent.failed().is_empty());
        assert_eq!(
            attribute(&sqs, &url, QueueAttributeName::ApproximateNumberOfMessages).await,
            "10"
        );
        assert!(attribute(&sqs, &url, QueueAttributeName::QueueArn)
            .await
            .ends_with(":standin"));

        let received = sqs
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .visibility_timeout(30)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await
            .unwrap();
        let messages = received.messages();
        assert_eq!(messages.len(), 10);
        let first = &messages[0];
        assert_eq!(first.body(), Some("{\"invoiceId\":0}"));
        assert_eq!(
            first
                .attributes()
                .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                .map(String::as_str),
            Some("1")
        );
        assert_eq!(
            first
                .message_attributes()
                .and_then(|a| a.get("Requeued"))
                .and_then(|v| v.string_value()),
            Some("bench")
        );
        assert_eq!(
            attribute(
                &sqs,
                &url,
                QueueAttributeName::ApproximateNumberOfMessagesNotVisible
            )
            .await,
            "10"
        );

        sqs.delete_message()
            .queue_url(&url)
            .receipt_handle(first.receipt_handle().unwrap())
            .send()
            .await
            .unwrap();
        let rest: Vec<_> = messages[1..]
            .iter()
            .enumerate()
            .map(|(i, m)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(m.receipt_handle().unwrap())
                    .build()
                    .unwrap()
            })
            .collect();
        let deleted = sqs
            .delete_message_batch()
            .queue_url(&url)
            .set_entries(Some(rest))
            .send()
            .await
            .unwrap();
        assert_eq!(deleted.successful().len(), 9);
        assert_eq!(standin.depth(&url), Some((0, 0, 0)));

        let counts = standin.counts();
        assert_eq!(counts.get("SendMessageBatch"), Some(&1));
        assert_eq!(counts.get("ReceiveMessage"), Some(&1));
        assert_eq!(counts.get("DeleteMessage"), Some(&1));
        assert_eq!(counts.get("DeleteMessageBatch"), Some(&1));
        assert_eq!(counts.get("CreateQueue"), Some(&2));
    }

    #[tokio::test]
    async fn a_released_message_comes_back_with_its_receive_count_and_a_hidden_one_does_not() {
        let (_standin, sqs, url) = started().await;
        sqs.send_message()
            .queue_url(&url)
            .message_body("{\"invoiceId\":7}")
            .send()
            .await
            .unwrap();
        let receive = || {
            sqs.receive_message()
                .queue_url(&url)
                .max_number_of_messages(10)
                .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
                .send()
        };
        let first = receive().await.unwrap();
        let handle = first.messages()[0].receipt_handle().unwrap().to_owned();
        assert!(
            receive().await.unwrap().messages().is_empty(),
            "still in flight"
        );

        sqs.change_message_visibility()
            .queue_url(&url)
            .receipt_handle(&handle)
            .visibility_timeout(0)
            .send()
            .await
            .unwrap();
        let again = receive().await.unwrap();
        let count = again.messages()[0]
            .attributes()
            .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
            .cloned();
        assert_eq!(count.as_deref(), Some("2"));

        // The old handle is no longer the message's: changing it now is refused.
        let stale = sqs
            .change_message_visibility()
            .queue_url(&url)
            .receipt_handle(&handle)
            .visibility_timeout(5)
            .send()
            .await;
        assert!(stale.is_err());
    }

    #[tokio::test]
    async fn a_long_poll_returns_as_soon_as_a_message_arrives_and_a_delayed_one_waits() {
        let (_standin, sqs, url) = started().await;
        let poll = {
            let (sqs, url) = (sqs.clone(), url.clone());
            tokio::spawn(async move {
                let started = std::time::Instant::now();
                let out = sqs
                    .receive_message()
                    .queue_url(&url)
                    .wait_time_seconds(5)
                    .send()
                    .await
                    .unwrap();
                (out.messages().len(), started.elapsed())
            })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        sqs.send_message()
            .queue_url(&url)
            .message_body("{\"invoiceId\":1}")
            .send()
            .await
            .unwrap();
        let (n, took) = poll.await.unwrap();
        assert_eq!(n, 1);
        assert!(took < Duration::from_secs(4), "{took:?}");

        sqs.send_message()
            .queue_url(&url)
            .message_body("{\"invoiceId\":2}")
            .delay_seconds(1)
            .send()
            .await
            .unwrap();
        let now = sqs.receive_message().queue_url(&url).send().await.unwrap();
        assert!(now.messages().is_empty());
        let later = sqs
            .receive_message()
            .queue_url(&url)
            .wait_time_seconds(3)
            .send()
            .await
            .unwrap();
        assert_eq!(later.messages()[0].body(), Some("{\"invoiceId\":2}"));
    }

    #[tokio::test]
    async fn an_unknown_queue_is_the_sdks_queue_does_not_exist() {
        let standin = SqsStandIn::start().await.unwrap();
        let sqs = glase_dev::aws::sqs(&standin.endpoint());
        let err = sqs
            .send_message()
            .queue_url(format!("{}/{ACCOUNT}/nope", standin.endpoint()))
            .message_body("x")
            .send()
            .await
            .unwrap_err();
        assert!(err.into_service_error().is_queue_does_not_exist());
    }

    #[tokio::test]
    async fn the_sdk_keeps_one_connection_for_many_calls() {
        let standin = SqsStandIn::start().await.unwrap();
        let proxy = crate::proxy::CountingProxy::start(standin.addr)
            .await
            .unwrap();
        let sqs = glase_dev::aws::sqs(&proxy.url());
        let url = sqs
            .create_queue()
            .queue_name("kept")
            .send()
            .await
            .unwrap()
            .queue_url()
            .unwrap()
            .to_owned();
        for i in 0..20 {
            sqs.send_message()
                .queue_url(&url)
                .message_body(format!("{{\"invoiceId\":{i}}}"))
                .send()
                .await
                .unwrap();
        }
        assert_eq!(proxy.accepted(), 1);
        assert_eq!(standin.depth(&url), Some((20, 0, 0)));
    }
}
