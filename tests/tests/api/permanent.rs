//! Answers that can never succeed end in the table, not in a retry loop (DLQ → redrive → DLQ):
//! a reference too long for the index key is stored whole, an oversized details body and an
//! undocumented Glase refusal are rejected with their own codes. And a claim whose answer was
//! lost is read back as ours. On DynamoDB Local, moto and glase-sim.

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use futures::TryStreamExt;
use glase_shared::adapters::dynamo::query::InvoiceQueries;
use glase_shared::ports::{Claim, InvoiceRecord, InvoiceStore, Lease};
use glase_shared::InvoiceId;
use glase_sim::Reply;
use glase_tests::glase::invoice_json;
use glase_tests::Pipeline;

const DRAIN: Duration = Duration::from_secs(60);

async fn rejection(p: &Pipeline, id: u64) -> (String, String) {
    let item = p
        .ddb
        .get_item()
        .table_name(&p.table)
        .key("invoiceId", AttributeValue::N(id.to_string()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item()
        .cloned()
        .expect("item exists");
    let text = |name: &str| match item.get(name) {
        Some(AttributeValue::S(v)) => v.clone(),
        other => panic!("{name}: {other:?} in {item:?}"),
    };
    assert_eq!(text("state"), "REJECTED", "{item:?}");
    (text("rejectionCode"), text("rejectionReason"))
}

#[tokio::test]
async fn a_reference_too_long_for_the_index_key_is_stored_whole_and_found_by_reference() {
    let (p, glase) = glase_tests::glase::pipeline().await;
    // The byReference index's partition key takes at most 2,048 bytes.
    let huge = "R".repeat(3_000);
    glase
        .sim()
        .answer(71, Reply::json(invoice_json(71, "7.10", &huge)));
    glase
        .sim()
        .answer(72, Reply::json(invoice_json(72, "7.20", "586930/05/2015")));

    p.notify(r#"{"invoiceId": 71}"#).await;
    p.notify(r#"{"invoiceId": 72}"#).await;
    let stats = p.drain(DRAIN).await;

    assert_eq!(stats.failed, 0, "stored at once, not retried");
    match p.record(71).await {
        Some(InvoiceRecord::Stored { invoice, .. }) => assert_eq!(invoice.reference, huge),
        other => panic!("not stored: {other:?}"),
    }
    assert_eq!(p.queue_depth(&p.dlq_url).await, 0);
    let queries = InvoiceQueries::new(p.ddb.clone(), &p.table);
    let found: Vec<_> = queries.by_reference(&huge).try_collect().await.unwrap();
    assert_eq!(
        found.iter().map(|r| r.id.get()).collect::<Vec<_>>(),
        vec![71]
    );
    let normal: Vec<_> = queries
        .by_reference("586930/05/2015")
        .try_collect()
        .await
        .unwrap();
    assert_eq!(
        normal.iter().map(|r| r.id.get()).collect::<Vec<_>>(),
        vec![72]
    );
}

#[tokio::test]
async fn a_details_body_over_the_cap_is_rejected_as_details_too_large() {
    let (p, glase) = glase_tests::glase::pipeline().await;
    // Valid JSON, 70 KiB: over the 64 KiB the worker reads.
    let padded = invoice_json(73, "7.30", &"x".repeat(70 * 1024));
    glase.sim().answer(73, Reply::json(padded));

    p.notify(r#"{"invoiceId": 73}"#).await;
    let stats = p.drain(DRAIN).await;

    assert_eq!(stats.failed, 0, "rejected, not retried");
    let (code, reason) = rejection(&p, 73).await;
    assert_eq!(code, "DETAILS_TOO_LARGE");
    assert!(reason.contains("65536"), "{reason}");
    assert_eq!(p.queue_depth(&p.dlq_url).await, 0);
}

#[tokio::test]
async fn undocumented_glase_refusals_400_and_410_are_rejected_as_glase_refused_with_the_status() {
    let (p, glase) = glase_tests::glase::pipeline().await;
    glase.sim().answer(
        74,
        Reply::raw(400, "application/json", r#"{"message":"Bad Request"}"#),
    );
    glase
        .sim()
        .answer(75, Reply::raw(410, "text/plain", "Gone"));

    p.notify(r#"{"invoiceId": 74}"#).await;
    p.notify(r#"{"invoiceId": 75}"#).await;
    let stats = p.drain(DRAIN).await;

    assert_eq!(stats.failed, 0, "rejected, not retried");
    for (id, status) in [(74, "400"), (75, "410")] {
        let (code, reason) = rejection(&p, id).await;
        assert_eq!(code, "GLASE_REFUSED", "{id}");
        assert!(reason.contains(status), "{reason}");
    }
    assert_eq!(p.queue_depth(&p.dlq_url).await, 0);
}

#[tokio::test]
async fn a_claim_whose_answer_was_lost_is_read_back_as_ours() {
    let (p, _glase) = glase_tests::glase::pipeline().await;
    let id = InvoiceId::new(76).unwrap();
    let now = jiff::Timestamp::now().as_millisecond();
    let ours = Lease {
        owner: "ours".into(),
        now_ms: now,
        until_ms: now + 10_000,
        rejected_before_ms: None,
    };
    let first = p.store.claim(id, &ours).await.unwrap();

    // What the SDK's retry of the same request sees when the first attempt applied.
    let retried = p.store.claim(id, &ours).await.unwrap();

    assert_eq!(retried, first, "the applied claim is ours");
}

#[tokio::test]
async fn dynamodb_counts_rejectable_answers_in_the_item_across_claims_not_other_releases() {
    let (p, _glase) = glase_tests::glase::pipeline().await;
    let id = InvoiceId::new(77).unwrap();
    let now = jiff::Timestamp::now().as_millisecond();
    let lease = |owner: &str, at: i64| Lease {
        owner: owner.into(),
        now_ms: at,
        until_ms: at + 10_000,
        rejected_before_ms: None,
    };
    let at = jiff::Timestamp::now();
    let first = lease("a", now);
    assert_eq!(
        p.store.claim(id, &first).await.unwrap(),
        Claim::Acquired {
            rejectable_answers: 0
        }
    );
    p.store
        .release_rejectable(id, &first, "404", at)
        .await
        .unwrap();
    // A retry of that release (its answer lost) is refused: counted once.
    p.store
        .release_rejectable(id, &first, "404", at)
        .await
        .unwrap();
    let second = lease("b", now + 1);
    let after_404 = p.store.claim(id, &second).await.unwrap();
    p.store.release(id, &second, "HTTP 503", at).await.unwrap();
    let after_503 = p.store.claim(id, &lease("c", now + 2)).await.unwrap();

    assert_eq!(
        after_404,
        Claim::Acquired {
            rejectable_answers: 1
        }
    );
    assert_eq!(
        after_503,
        Claim::Acquired {
            rejectable_answers: 1
        },
        "a transient failure is not counted"
    );
}
