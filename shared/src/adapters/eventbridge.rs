//! EventBridge: publishes invoice events to the stack's bus with `PutEvents`, batched within
//! its limits (10 entries, 256 KiB a request). Per-entry failures come back to the caller,
//! which retries them: nothing is dropped.

use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use aws_sdk_eventbridge::Client;

use super::describe_sdk_error;
use crate::events::{InvoiceEvent, EVENT_SOURCE};
use crate::ports::{EventPublisher, Unpublished};

/// PutEvents' limits: entries per request, and bytes per request as EventBridge counts them.
pub const MAX_ENTRIES: usize = 10;
pub const MAX_REQUEST_BYTES: usize = 256 * 1024;

#[derive(Clone, Debug)]
pub struct EventBus {
    client: Client,
    bus_name: String,
}

impl EventBus {
    pub fn new(client: Client, bus_name: impl Into<String>) -> Self {
        Self {
            client,
            bus_name: bus_name.into(),
        }
    }
}

/// One entry ready to send, and its size as EventBridge counts it (source, detail-type,
/// detail, resources and a fixed 14 bytes for the time).
#[derive(Debug, Clone)]
pub struct Entry {
    pub index: usize,
    pub detail_type: &'static str,
    pub detail: String,
}

impl Entry {
    pub fn size(&self) -> usize {
        14 + EVENT_SOURCE.len() + self.detail_type.len() + self.detail.len()
    }
}

/// Splits entries into PutEvents requests: at most [`MAX_ENTRIES`] and [`MAX_REQUEST_BYTES`]
/// each, order kept. An entry too large on its own goes alone (EventBridge then refuses it,
/// and that refusal is reported like any other).
pub fn batches(entries: Vec<Entry>) -> Vec<Vec<Entry>> {
    let mut out: Vec<Vec<Entry>> = Vec::new();
    let mut bytes = 0;
    for entry in entries {
        let size = entry.size();
        match out.last_mut() {
            Some(last) if last.len() < MAX_ENTRIES && bytes + size <= MAX_REQUEST_BYTES => {
                bytes += size;
                last.push(entry);
            }
            _ => {
                bytes = size;
                out.push(vec![entry]);
            }
        }
    }
    out
}

impl EventPublisher for EventBus {
    async fn publish(&self, events: &[InvoiceEvent]) -> Vec<Unpublished> {
        let mut unpublished = Vec::new();
        let mut entries = Vec::with_capacity(events.len());
        for (index, event) in events.iter().enumerate() {
            match event.detail_json() {
                Ok(detail) => entries.push(Entry {
                    index,
                    detail_type: event.detail_type(),
                    detail,
                }),
                Err(e) => unpublished.push(Unpublished {
                    index,
                    reason: format!("could not serialise the event: {e}"),
                }),
            }
        }
        for batch in batches(entries) {
            let request = batch.iter().map(|e| {
                PutEventsRequestEntry::builder()
                    .event_bus_name(&self.bus_name)
                    .source(EVENT_SOURCE)
                    .detail_type(e.detail_type)
                    .detail(&e.detail)
                    .build()
            });
            match self
                .client
                .put_events()
                .set_entries(Some(request.collect()))
                .send()
                .await
            {
                // Results are in request order; an entry with an error code was not accepted.
                Ok(out) => {
                    let results = out.entries();
                    for (i, entry) in batch.iter().enumerate() {
                        let failed = match results.get(i) {
                            Some(r) => r.error_code().map(|code| {
                                format!("{code}: {}", r.error_message().unwrap_or_default())
                            }),
                            None => Some("PutEvents returned no result for the entry".into()),
                        };
                        if let Some(reason) = failed {
                            unpublished.push(Unpublished {
                                index: entry.index,
                                reason,
                            });
                        }
                    }
                }
                Err(e) => {
                    let reason = format!("PutEvents failed: {}", describe_sdk_error(&e));
                    unpublished.extend(batch.iter().map(|entry| Unpublished {
                        index: entry.index,
                        reason: reason.clone(),
                    }));
                }
            }
        }
        unpublished.sort_by_key(|u| u.index);
        unpublished
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(index: usize, bytes: usize) -> Entry {
        Entry {
            index,
            detail_type: "InvoicePaid",
            detail: "x".repeat(bytes),
        }
    }

    #[test]
    fn batches_hold_at_most_ten_entries_in_order() {
        let out = batches((0..23).map(|i| entry(i, 10)).collect());
        let sizes: Vec<_> = out.iter().map(Vec::len).collect();
        assert_eq!(sizes, [10, 10, 3]);
        let order: Vec<_> = out.iter().flatten().map(|e| e.index).collect();
        assert_eq!(order, (0..23).collect::<Vec<_>>());
    }

    #[test]
    fn batches_stay_under_256_kib() {
        let out = batches((0..5).map(|i| entry(i, 100 * 1024)).collect());
        let sizes: Vec<_> = out.iter().map(Vec::len).collect();
        assert_eq!(sizes, [2, 2, 1]);
        for batch in &out {
            assert!(batch.iter().map(Entry::size).sum::<usize>() <= MAX_REQUEST_BYTES);
        }
    }
}
