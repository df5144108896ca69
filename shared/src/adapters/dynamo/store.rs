//! The worker's conditional writes: claim, store, reject, release.

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{ReturnValue, ReturnValuesOnConditionCheckFailure};
use jiff::Timestamp;

use super::item::{get_n, get_s, invoice_to_item, item_to_record, n, s, Item};
use super::query::index_time;
use super::schema::*;
use super::DynamoStore;
use crate::domain::{Invoice, InvoiceId};
use crate::ports::{
    AdapterError, Claim, Completion, InvoiceRecord, InvoiceStore, Lease, Rejection,
};

fn sdk_err<E, R>(what: &str, e: SdkError<E, R>) -> AdapterError
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    AdapterError::new(format!("DynamoDB {what} failed"), e)
}

/// The item a refused conditional write returned (ALL_OLD), or the error if it was not a
/// condition failure.
fn refused_item<E, R>(
    result: Result<(), SdkError<E, R>>,
    what: &str,
    old: impl FnOnce(&E) -> Option<Item>,
) -> Result<Option<Item>, AdapterError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match result {
        Ok(()) => Ok(None),
        Err(e) => match e.as_service_error() {
            Some(service) if service.code() == Some("ConditionalCheckFailedException") => {
                Ok(Some(old(service).unwrap_or_default()))
            }
            _ => Err(sdk_err(what, e)),
        },
    }
}

/// What a refused completing write means. The SDK retries a write whose response was lost;
/// the retry is then refused because the first attempt applied — that is our own success.
fn completion(old: Option<Item>, ours: &str, done_state: &str) -> Completion {
    let Some(old) = old else {
        return Completion::Done;
    };
    let state = get_s(&old, STATE).unwrap_or_default();
    let by_us = get_s(&old, COMPLETED_BY).is_ok_and(|owner| owner == ours);
    match state {
        s if s == done_state && by_us => Completion::Done,
        STORED => Completion::Superseded,
        _ => Completion::LeaseLost,
    }
}

/// Our claim on `item` as it stands after the claim's write.
fn acquired(item: &Item) -> Claim {
    Claim::Acquired {
        rejectable_answers: get_n(item, REJECTABLE_ANSWERS).unwrap_or(0),
    }
}

impl DynamoStore {
    /// Reads the record for `id` (strongly consistent).
    pub async fn get(&self, id: InvoiceId) -> Result<Option<InvoiceRecord>, AdapterError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(INVOICE_ID, n(id))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_err("GetItem", e))?;
        out.item().map(item_to_record).transpose()
    }
}

/// Which claim: of an invoice the table has never seen, or of one that is there already.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ClaimOf {
    New,
    Existing,
}

impl InvoiceStore for DynamoStore {
    async fn claim(&self, id: InvoiceId, lease: &Lease) -> Result<Claim, AdapterError> {
        // A new invoice, nearly every claim, is claimed without entering `byOpenState`: its
        // store follows within the lease, and the entry would cost two of its six write units
        // (an index put now, an index delete at the store). A claim that does not end in a
        // store enters it: released (`release`), rejected, or taken over after its lease
        // lapsed (the `Existing` claim below) — so `stuck` still lists every lease that
        // failed or was retried, and reconcile re-queues a lapsed one whatever the index says.
        let (claimed, old) = self.claim_once(id, lease, ClaimOf::New).await?;
        let Some(old) = old else {
            return Ok(acquired(&claimed));
        };
        let state = get_s(&old, STATE)?;
        let by_us = get_s(&old, LEASE_OWNER).is_ok_and(|o| o == lease.owner);
        let live = get_n::<i64>(&old, LEASE_UNTIL)
            .ok()
            .filter(|u| *u >= lease.now_ms);
        match (state, live) {
            (STORED, _) => Ok(Claim::AlreadyStored),
            // The SDK retried a claim whose answer was lost: the lease it took is ours.
            (PROCESSING, _) if by_us => Ok(acquired(&old)),
            // Held by another worker: the same answer the full claim's condition would give.
            (PROCESSING, Some(until_ms)) => Ok(Claim::InProgress { until_ms }),
            // Rejected or lapsed: the full claim decides, under its own condition.
            _ => {
                let (claimed, old) = self.claim_once(id, lease, ClaimOf::Existing).await?;
                match old {
                    None => Ok(acquired(&claimed)),
                    Some(old) => refused_claim(&old, lease),
                }
            }
        }
    }
    async fn store(
        &self,
        invoice: &Invoice,
        lease: &Lease,
        stored_at: Timestamp,
    ) -> Result<Completion, AdapterError> {
        let mut item = invoice_to_item(invoice, stored_at);
        item.insert(COMPLETED_BY.into(), s(&lease.owner));
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("#state = :processing AND #owner = :owner")
            .expression_attribute_names("#state", STATE)
            .expression_attribute_names("#owner", LEASE_OWNER)
            .expression_attribute_values(":processing", s(PROCESSING))
            .expression_attribute_values(":owner", s(&lease.owner))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await
            .map(|_| ());
        let old = refused_item(result, "PutItem (store)", |e| {
            match e {
            aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(c) => c.item().cloned(),
            _ => None,
        }
        })?;
        Ok(completion(old, &lease.owner, STORED))
    }

    async fn reject(
        &self,
        id: InvoiceId,
        lease: &Lease,
        rejection: &Rejection,
        at: Timestamp,
    ) -> Result<Completion, AdapterError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(INVOICE_ID, n(id))
            .update_expression(
                "SET #state = :rejected, #code = :code, #reason = :reason, #at = :at, \
                 #atMs = :atMs, #by = :owner, #open = :rejected, #updated = :updated, \
                 #count = if_not_exists(#count, :zero) + :one \
                 REMOVE #owner, #until",
            )
            .condition_expression("#state = :processing AND #owner = :owner")
            .expression_attribute_names("#state", STATE)
            .expression_attribute_names("#owner", LEASE_OWNER)
            .expression_attribute_names("#until", LEASE_UNTIL)
            .expression_attribute_names("#code", REJECTION_CODE)
            .expression_attribute_names("#reason", REJECTION_REASON)
            .expression_attribute_names("#at", REJECTED_AT)
            .expression_attribute_names("#atMs", REJECTED_AT_MS)
            .expression_attribute_names("#by", COMPLETED_BY)
            .expression_attribute_names("#open", OPEN_STATE)
            .expression_attribute_names("#updated", UPDATED_AT)
            .expression_attribute_values(":rejected", s(REJECTED))
            .expression_attribute_values(":processing", s(PROCESSING))
            .expression_attribute_values(":owner", s(&lease.owner))
            .expression_attribute_values(":code", s(rejection.code.as_str()))
            .expression_attribute_values(":reason", s(&rejection.reason))
            .expression_attribute_values(":at", s(at.to_string()))
            .expression_attribute_values(":atMs", n(at.as_millisecond()))
            .expression_attribute_values(":updated", s(index_time(at)))
            .expression_attribute_names("#count", REJECTABLE_ANSWERS)
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await
            .map(|_| ());
        let old = refused_item(result, "UpdateItem (reject)", |e| {
            match e {
            aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(c) => c.item().cloned(),
            _ => None,
        }
        })?;
        Ok(completion(old, &lease.owner, REJECTED))
    }

    async fn release(
        &self,
        id: InvoiceId,
        lease: &Lease,
        error: &str,
        at: Timestamp,
    ) -> Result<(), AdapterError> {
        self.release_counting(id, lease, error, at, false).await
    }

    async fn release_rejectable(
        &self,
        id: InvoiceId,
        lease: &Lease,
        error: &str,
        at: Timestamp,
    ) -> Result<(), AdapterError> {
        self.release_counting(id, lease, error, at, true).await
    }
}

/// What a refused full claim found.
fn refused_claim(old: &Item, lease: &Lease) -> Result<Claim, AdapterError> {
    match get_s(old, STATE)? {
        STORED => Ok(Claim::AlreadyStored),
        // The SDK retried a claim whose answer was lost: the first attempt applied, and
        // the lease it took is ours (the owner is unique per attempt).
        PROCESSING if get_s(old, LEASE_OWNER).is_ok_and(|o| o == lease.owner) => Ok(acquired(old)),
        PROCESSING => Ok(Claim::InProgress {
            until_ms: get_n(old, LEASE_UNTIL)?,
        }),
        REJECTED => Ok(Claim::RecentlyRejected {
            rejected_at_ms: get_n(old, REJECTED_AT_MS)?,
        }),
        other => Err(AdapterError::msg(format!(
            "claim refused on an item in state {other:?}"
        ))),
    }
}

impl DynamoStore {
    /// One conditional claim write: the item after it when it applied, or the item that
    /// refused it. `New` only takes an absent item and leaves it out of `byOpenState`;
    /// `Existing` takes a free, rejected or lapsed one and puts it there.
    async fn claim_once(
        &self,
        id: InvoiceId,
        lease: &Lease,
        of: ClaimOf,
    ) -> Result<(Item, Option<Item>), AdapterError> {
        let now_iso = s(index_time(
            Timestamp::from_millisecond(lease.now_ms).unwrap_or(Timestamp::UNIX_EPOCH),
        ));
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(INVOICE_ID, n(id))
            .expression_attribute_names("#id", INVOICE_ID)
            .expression_attribute_names("#state", STATE)
            .expression_attribute_names("#owner", LEASE_OWNER)
            .expression_attribute_names("#until", LEASE_UNTIL)
            .expression_attribute_names("#attempts", ATTEMPTS)
            .expression_attribute_names("#updated", UPDATED_AT)
            .expression_attribute_values(":processing", s(PROCESSING))
            .expression_attribute_values(":owner", s(&lease.owner))
            .expression_attribute_values(":until", n(lease.until_ms))
            .expression_attribute_values(":nowIso", now_iso)
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            // The claimed item carries the window's count; a refused claim returns the
            // current item, so no second read is needed either way.
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        update = match of {
            ClaimOf::New => update
                .update_expression(
                    "SET #state = :processing, #owner = :owner, #until = :until, \
                     #attempts = if_not_exists(#attempts, :zero) + :one, #updated = :nowIso",
                )
                .condition_expression("attribute_not_exists(#id)"),
            ClaimOf::Existing => {
                // A rejected item may be claimed again (a later fetch may succeed), after its
                // cool-down unless the message lifts it; a re-claim clears the old rejection.
                let rejected_ok = match lease.rejected_before_ms {
                    Some(_) => "(#state = :rejected AND (attribute_not_exists(#rejMs) OR #rejMs < :rejBefore))",
                    None => "#state = :rejected",
                };
                let mut update = update
                    .update_expression(
                        "SET #state = :processing, #owner = :owner, #until = :until, \
                         #attempts = if_not_exists(#attempts, :zero) + :one, \
                         #open = :processing, #updated = :nowIso \
                         REMOVE #code, #reason, #rejAt, #rejMs, #by",
                    )
                    // Free, rejected, or leased by someone whose lease lapsed.
                    .condition_expression(format!(
                        "attribute_not_exists(#id) OR {rejected_ok} OR (#state = :processing AND #until < :now)"
                    ))
                    .expression_attribute_names("#open", OPEN_STATE)
                    .expression_attribute_names("#code", REJECTION_CODE)
                    .expression_attribute_names("#reason", REJECTION_REASON)
                    .expression_attribute_names("#rejAt", REJECTED_AT)
                    .expression_attribute_names("#rejMs", REJECTED_AT_MS)
                    .expression_attribute_names("#by", COMPLETED_BY)
                    .expression_attribute_values(":rejected", s(REJECTED))
                    .expression_attribute_values(":now", n(lease.now_ms));
                if let Some(before) = lease.rejected_before_ms {
                    update = update.expression_attribute_values(":rejBefore", n(before));
                }
                update
            }
        };
        let (claimed, result) = match update.send().await {
            Ok(out) => (out.attributes().cloned().unwrap_or_default(), Ok(())),
            Err(e) => (Item::new(), Err(e)),
        };
        let old = refused_item(result, "UpdateItem (claim)", |e| {
            match e {
            aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(c) => c.item().cloned(),
            _ => None,
        }
        })?;
        Ok((claimed, old))
    }

    /// Frees our lease, noting the error; `rejectable` also counts the answer in the window.
    async fn release_counting(
        &self,
        id: InvoiceId,
        lease: &Lease,
        error: &str,
        at: Timestamp,
        rejectable: bool,
    ) -> Result<(), AdapterError> {
        let count = if rejectable {
            ", #count = if_not_exists(#count, :zero) + :one"
        } else {
            ""
        };
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(INVOICE_ID, n(id))
            .update_expression(format!(
                "SET #until = :zero, #err = :err, #errAt = :at, #open = :processing{count} \
                 REMOVE #owner"
            ))
            // Only the holder may release: never free a lease someone else now holds.
            .condition_expression("#state = :processing AND #owner = :owner")
            .expression_attribute_names("#state", STATE)
            .expression_attribute_names("#owner", LEASE_OWNER)
            .expression_attribute_names("#until", LEASE_UNTIL)
            .expression_attribute_names("#err", LAST_ERROR)
            .expression_attribute_names("#errAt", LAST_ERROR_AT)
            // A lease that failed is an open item now (a first claim was not: see `claim`).
            .expression_attribute_names("#open", OPEN_STATE)
            .expression_attribute_values(":processing", s(PROCESSING))
            .expression_attribute_values(":owner", s(&lease.owner))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":err", s(error))
            .expression_attribute_values(":at", s(at.to_string()));
        if rejectable {
            update = update
                .expression_attribute_names("#count", REJECTABLE_ANSWERS)
                .expression_attribute_values(":one", n(1));
        }
        let result = update.send().await.map(|_| ());
        // A lapsed lease someone else took is left alone: a refusal is not an error here.
        refused_item(result, "UpdateItem (release)", |_| None).map(|_| ())
    }
}
