//! The core pipeline on real local services: DynamoDB Local, moto's SQS server and a Glase
//! stand-in over HTTP. Each test has its own table and queues.

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use glase_shared::adapters::SqsQueue;
use glase_shared::ports::{Claim, InvoiceRecord, InvoiceStore, Lease};
use glase_shared::InvoiceId;
use glase_sim::{EndpointFaults, Faults, Reply};
use glase_tests::glase::{invoice_json, ISSUER, SECRET};
use glase_tests::pipeline::GlaseTarget;
use glase_tests::Pipeline;
use glase_webhook::Webhook;
use rust_decimal::Decimal;

const DRAIN: Duration = Duration::from_secs(60);

async fn raw_item(p: &Pipeline, id: u64) -> std::collections::HashMap<String, AttributeValue> {
    p.ddb
        .get_item()
        .table_name(&p.table)
        .key("invoiceId", AttributeValue::N(id.to_string()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item()
        .cloned()
        .expect("item exists")
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.into())
}

#[tokio::test]
async fn notification_reaches_the_queue_and_the_worker_stores_the_full_invoice() {
    let (p, glase) = glase_tests::glase::pipeline().await;
    glase.sim().answer(
        576,
        Reply::json(invoice_json(576, "59.99", "586930/05/2015")),
    );

    let (status, reply) = p.notify(r#"{"invoiceId": 576}"#).await;
    assert_eq!(
        p.queue_depth(&p.queue_url).await,
        1,
        "queued before the worker runs"
    );
    p.drain(DRAIN).await;

    assert_eq!(status, 200);
    assert_eq!(
        reply,
        serde_json::json!({"status": "accepted", "invoiceId": 576})
    );
    let item = raw_item(&p, 576).await;
    assert_eq!(item["state"], s("STORED"));
    assert_eq!(item["amount"], AttributeValue::N("59.99".into()));
    assert_eq!(item["currency"], s("GBP"));
    assert_eq!(item["status"], s("PAID"));
    assert_eq!(item["description"], s("Phone invoice 05.2015"));
    assert_eq!(item["reference"], s("586930/05/2015"));
    assert_eq!(item["ersReference"], s("892736823467823-3897474"));
    assert_eq!(item["purchaseTime"], s("2015-05-15T15:37:33Z"));
    assert_eq!(item["purchaseDate"], s("2015-05-15"));
    let doc: serde_json::Value =
        serde_json::from_str(glase_shared::memory::DOC_INVOICE_JSON).unwrap();
    let payer_fields: Vec<_> = doc
        .as_object()
        .unwrap()
        .iter()
        .filter(|(name, _)| name.starts_with("payer"))
        .collect();
    assert_eq!(payer_fields.len(), 7);
    for (name, value) in payer_fields {
        assert_eq!(item[name.as_str()], s(value.as_str().unwrap()), "{name}");
    }
    assert!(item.contains_key("storedAt"));
    assert!(!item.contains_key("leaseOwner"), "no lease left behind");
    assert_eq!(p.item_count().await, 1);
}

#[tokio::test]
async fn amounts_are_stored_exactly() {
    let (p, glase) = glase_tests::glase::pipeline().await;
    let amounts = [
        (1, "59.99"),
        (2, "0.10"),
        (3, "1234567.89"),
        (4, "12345678901234567.89"),
    ];
    for (id, amount) in amounts {
        glase
            .sim()
            .answer(id, Reply::json(invoice_json(id, amount, "r")));
        assert_eq!(p.notify(&format!(r#"{{"invoiceId": {id}}}"#)).await.0, 200);
    }

    p.drain(DRAIN).await;

    for (id, amount) in amounts {
        let Some(InvoiceRecord::Stored { invoice, .. }) = p.record(id).await else {
            panic!("{id} not stored")
        };
        assert_eq!(
            invoice.amount.as_decimal(),
            amount.parse::<Decimal>().unwrap(),
            "{amount}"
        );
        let AttributeValue::N(raw) = &raw_item(&p, id).await["amount"] else {
            panic!("amount is not a Number")
        };
        // DynamoDB normalises trailing zeros (0.10 → 0.1); every other digit is kept.
        assert_eq!(
            raw.parse::<Decimal>().unwrap(),
            amount.parse::<Decimal>().unwrap()
        );
        if !amount.ends_with('0') {
            assert_eq!(raw, amount);
        }
    }
}

#[tokio::test]
async fn five_duplicates_three_of_them_concurrent_give_one_item_and_one_glase_fetch() {
    let (p, glase) = glase_tests::glase::pipeline().await;
    glase
        .sim()
        .answer(77, Reply::json(invoice_json(77, "10.00", "dup")));
    // Slow Glase widens the window in which concurrent duplicates could both fetch.
    glase.sim().set_faults(Faults {
        invoice: EndpointFaults {
            latency: Duration::from_millis(200),
            ..EndpointFaults::default()
        },
        ..Faults::default()
    });
    let body = r#"{"invoiceId": 77}"#;

    let concurrent = futures::future::join3(p.notify(body), p.notify(body), p.notify(body)).await;
    assert_eq!(p.notify(body).await.0, 200);
    assert_eq!(p.notify(body).await.0, 200);
    let stats = p.drain(DRAIN).await;
    // A duplicate arriving long after (Glase retries for ~32 h) is answered from the table.
    assert_eq!(p.notify(body).await.0, 200);
    p.drain(DRAIN).await;

    assert!([concurrent.0 .0, concurrent.1 .0, concurrent.2 .0]
        .iter()
        .all(|s| *s == 200));
    assert!(stats.received >= 5);
    assert_eq!(p.item_count().await, 1);
    assert_eq!(
        glase.sim().detail_fetches(77).total,
        1,
        "one Glase fetch for six notifications"
    );
    assert!(matches!(
        p.record(77).await,
        Some(InvoiceRecord::Stored { .. })
    ));
}

#[tokio::test]
async fn glase_500_then_200_stores_the_invoice_once_after_a_retry() {
    let (p, glase) = glase_tests::glase::pipeline().await;
    glase
        .sim()
        .answer(5, Reply::json(invoice_json(5, "5.00", "retry")));
    glase
        .sim()
        .answer_next(5, Reply::raw(500, "text/plain", ""));

    p.notify(r#"{"invoiceId": 5}"#).await;
    let stats = p.drain(DRAIN).await;

    assert_eq!(stats.failed, 1, "first attempt reported failed");
    assert_eq!(glase.sim().detail_fetches(5).total, 2);
    assert_eq!(glase.sim().detail_fetches(5).ok, 1);
    assert!(matches!(
        p.record(5).await,
        Some(InvoiceRecord::Stored { .. })
    ));
    assert_eq!(p.item_count().await, 1);
    assert_eq!(p.queue_depth(&p.dlq_url).await, 0);
}

#[tokio::test]
async fn glase_404_records_a_rejection_and_no_invoice() {
    let (p, glase) = glase_tests::glase::pipeline().await;

    p.notify(r#"{"invoiceId": 404}"#).await;
    let stats = p.drain(DRAIN).await;

    assert_eq!(stats.failed, 0, "permanent: acknowledged, not retried");
    assert_eq!(glase.sim().detail_fetches(404).total, 1);
    let item = raw_item(&p, 404).await;
    assert_eq!(item["state"], s("REJECTED"));
    assert_eq!(item["rejectionCode"], s("UNKNOWN_INVOICE"));
    assert!(matches!(&item["rejectionReason"], AttributeValue::S(r) if r.contains("404")));
    assert!(
        !item.contains_key("amount") && !item.contains_key("reference"),
        "no invoice fields"
    );
}

#[tokio::test]
async fn a_later_successful_fetch_replaces_a_rejection() {
    let (p, glase) = glase_tests::glase::pipeline().await;
    p.notify(r#"{"invoiceId": 88}"#).await;
    p.drain(DRAIN).await;
    assert!(matches!(
        p.record(88).await,
        Some(InvoiceRecord::Rejected { .. })
    ));
    glase
        .sim()
        .answer(88, Reply::json(invoice_json(88, "8.80", "late")));

    p.notify(r#"{"invoiceId": 88}"#).await;
    p.drain(DRAIN).await;

    let item = raw_item(&p, 88).await;
    assert_eq!(item["state"], s("STORED"));
    assert!(!item.contains_key("rejectionReason"));
}

#[tokio::test]
async fn wrong_credentials_keep_the_invoice_queued_for_retry() {
    let glase = glase_tests::glase::start().await;
    glase
        .sim()
        .answer(9, Reply::json(invoice_json(9, "9.00", "r")));
    let p = Pipeline::start(GlaseTarget {
        base_url: &glase.base_url(),
        issuer: ISSUER,
        secret: "wrong-secret",
    })
    .await;

    p.notify(r#"{"invoiceId": 9}"#).await;
    let batch = glase_dev::poller::poll_once(&p.sqs, &p.poller, &p.worker)
        .await
        .unwrap();

    assert_eq!(batch.failed, 1);
    let item = raw_item(&p, 9).await;
    assert_eq!(item["state"], s("PROCESSING"));
    assert!(
        matches!(&item["lastError"], AttributeValue::S(e) if e.contains("credentials") && !e.contains("wrong-secret"))
    );
    assert_eq!(
        p.queue_depth(&p.queue_url).await,
        1,
        "still queued, never discarded"
    );
}

#[tokio::test]
async fn a_malformed_message_is_moved_to_the_dead_letter_queue_with_its_reason() {
    let (p, _glase) = glase_tests::glase::pipeline().await;
    p.sqs
        .send_message()
        .queue_url(&p.queue_url)
        .message_body("{\"invoice\": 1}")
        .send()
        .await
        .unwrap();

    let stats = p.drain(DRAIN).await;

    assert_eq!(stats.failed, 0);
    let dead = p
        .sqs
        .receive_message()
        .queue_url(&p.dlq_url)
        .message_attribute_names("All")
        .send()
        .await
        .unwrap();
    let msg = &dead.messages()[0];
    assert_eq!(msg.body(), Some("{\"invoice\": 1}"));
    let reason = msg
        .message_attributes()
        .and_then(|a| a.get("rejectionReason"))
        .and_then(|v| v.string_value());
    assert!(
        reason.is_some_and(|r| r.contains("invoiceId is missing")),
        "{reason:?}"
    );
    assert_eq!(p.item_count().await, 0);
}

#[tokio::test]
async fn webhook_replies_503_when_queue_is_down() {
    let (p, _glase) = glase_tests::glase::pipeline().await;
    let dead_port = glase_dev::services::free_port().unwrap();
    let down = glase_dev::aws::sqs(&format!("http://127.0.0.1:{dead_port}"));
    let missing_queue = format!("{}-does-not-exist", p.queue_url);
    let unreachable = Webhook::new(SqsQueue::new(down, &p.queue_url), fixture_token());
    let no_such_queue = Webhook::new(SqsQueue::new(p.sqs.clone(), missing_queue), fixture_token());
    let request = || {
        let mut event: serde_json::Value =
            serde_json::from_str(include_str!("../../../events/apigw-notification.json")).unwrap();
        event["body"] = r#"{"invoiceId": 1}"#.into();
        lambda_http::request::from_str(&event.to_string()).unwrap()
    };

    let a = unreachable.handle(request()).await;
    let b = no_such_queue.handle(request()).await;

    assert_eq!(a.status(), 503);
    assert_eq!(b.status(), 503);
    assert_eq!(p.queue_depth(&p.queue_url).await, 0);
}

#[tokio::test]
async fn stored_invoices_are_queryable_by_reference_and_by_purchase_day() {
    let (p, glase) = glase_tests::glase::pipeline().await;
    for id in [21, 22] {
        glase
            .sim()
            .answer(id, Reply::json(invoice_json(id, "1.00", "586930/05/2015")));
        p.notify(&format!(r#"{{"invoiceId": {id}}}"#)).await;
    }
    p.notify(r#"{"invoiceId": 23}"#).await; // rejected: must not show up in either index
    p.drain(DRAIN).await;

    let by_ref = p
        .ddb
        .query()
        .table_name(&p.table)
        .index_name("byReference")
        .key_condition_expression("#r = :r")
        .expression_attribute_names("#r", "reference")
        .expression_attribute_values(":r", s("586930/05/2015"))
        .send()
        .await
        .unwrap();
    let by_day = p
        .ddb
        .query()
        .table_name(&p.table)
        .index_name("byPurchaseDate")
        .key_condition_expression("purchaseDate = :d AND purchaseTime BETWEEN :a AND :b")
        .expression_attribute_values(":d", s("2015-05-15"))
        .expression_attribute_values(":a", s("2015-05-15T00:00:00Z"))
        .expression_attribute_values(":b", s("2015-05-15T23:59:59Z"))
        .send()
        .await
        .unwrap();

    assert_eq!(by_ref.count(), 2);
    assert_eq!(by_day.count(), 2);
    assert_eq!(p.item_count().await, 3);
}

#[tokio::test]
async fn dynamodb_leases_exclude_each_other_until_they_lapse() {
    let (p, _glase) = glase_tests::glase::pipeline().await;
    let id = InvoiceId::new(31).unwrap();
    let now = jiff::Timestamp::now().as_millisecond();
    let first = Lease {
        owner: "a".into(),
        now_ms: now,
        until_ms: now + 5_000,
        rejected_before_ms: None,
    };
    let second = Lease {
        owner: "b".into(),
        now_ms: now + 1,
        until_ms: now + 5_000,
        rejected_before_ms: None,
    };
    let later = Lease {
        owner: "c".into(),
        now_ms: now + 6_000,
        until_ms: now + 20_000,
        rejected_before_ms: None,
    };

    assert_eq!(
        p.store.claim(id, &first).await.unwrap(),
        Claim::Acquired {
            rejectable_answers: 0
        }
    );
    assert_eq!(
        p.store.claim(id, &second).await.unwrap(),
        Claim::InProgress {
            until_ms: now + 5_000
        }
    );
    assert_eq!(
        p.store.claim(id, &later).await.unwrap(),
        Claim::Acquired {
            rejectable_answers: 0
        },
        "lapsed lease is taken over"
    );
    // The first holder woke up late: it can no longer complete or release.
    let rejection = glase_shared::Rejection {
        code: glase_shared::RejectionCode::InvalidResponse,
        reason: "y".into(),
    };
    assert_eq!(
        p.store
            .reject(id, &first, &rejection, jiff::Timestamp::now())
            .await
            .unwrap(),
        glase_shared::Completion::LeaseLost
    );
    p.store
        .release(id, &first, "late", jiff::Timestamp::now())
        .await
        .unwrap();
    assert!(
        matches!(p.record(31).await, Some(InvoiceRecord::Processing { lease_until_ms, .. }) if lease_until_ms == now + 20_000)
    );
}

fn lease_at(owner: &str, now_ms: i64, for_ms: i64) -> Lease {
    Lease {
        owner: owner.into(),
        now_ms,
        until_ms: now_ms + for_ms,
        rejected_before_ms: None,
    }
}

fn updated_at(now_ms: i64) -> AttributeValue {
    s(&glase_shared::adapters::dynamo::query::index_time(
        jiff::Timestamp::from_millisecond(now_ms).unwrap(),
    ))
}

#[tokio::test]
async fn a_new_invoice_is_claimed_and_stored_without_entering_the_open_items_index() {
    // Each entry in byOpenState is two index writes (put at the claim, delete at the store):
    // a third of an invoice's writes, for an entry no one reads in the happy path.
    let (p, _glase) = glase_tests::glase::pipeline().await;
    let id = InvoiceId::new(33).unwrap();
    let now = jiff::Timestamp::now().as_millisecond();
    let ours = lease_at("ours", now, 10_000);

    let claim = p.store.claim(id, &ours).await.unwrap();

    assert_eq!(
        claim,
        Claim::Acquired {
            rejectable_answers: 0
        }
    );
    let item = raw_item(&p, 33).await;
    assert_eq!(item["state"], s("PROCESSING"));
    assert!(
        !item.contains_key("openState"),
        "a first claim is not an open item yet: {item:?}"
    );
    assert_eq!(item["updatedAt"], updated_at(now), "when it was claimed");
    // An SDK retry of the applied claim is still ours.
    assert_eq!(
        p.store.claim(id, &ours).await.unwrap(),
        Claim::Acquired {
            rejectable_answers: 0
        }
    );
    assert_eq!(
        p.store
            .claim(id, &lease_at("other", now + 1, 10_000))
            .await
            .unwrap(),
        Claim::InProgress {
            until_ms: now + 10_000
        }
    );
}

#[tokio::test]
async fn a_lease_released_or_lapsed_and_taken_over_is_listed_among_the_open_items() {
    let (p, _glase) = glase_tests::glase::pipeline().await;
    let queries =
        glase_shared::adapters::dynamo::query::InvoiceQueries::new(p.ddb.clone(), &p.table);
    let open = |queries: &glase_shared::adapters::dynamo::query::InvoiceQueries| {
        let queries = queries.clone();
        async move {
            use futures::TryStreamExt;
            let rows: Vec<_> = queries
                .open(
                    glase_shared::adapters::dynamo::query::OpenState::Processing,
                    None,
                    None,
                )
                .try_collect()
                .await
                .unwrap();
            rows.into_iter()
                .map(|r| (r.id.get(), r.updated_at.map(|t| t.as_millisecond())))
                .collect::<Vec<_>>()
        }
    };
    let now = jiff::Timestamp::now().as_millisecond() / 1_000 * 1_000;
    let (released, crashed) = (InvoiceId::new(34).unwrap(), InvoiceId::new(35).unwrap());

    // A transient failure: claimed, then released with its error.
    let a = lease_at("a", now, 10_000);
    p.store.claim(released, &a).await.unwrap();
    p.store
        .release(
            released,
            &a,
            "Glase fetch failed transiently: HTTP 503",
            jiff::Timestamp::now(),
        )
        .await
        .unwrap();
    // A worker that died holding the lease: its message comes back once the lease lapsed.
    p.store
        .claim(crashed, &lease_at("b", now, 1_000))
        .await
        .unwrap();
    let taken = p
        .store
        .claim(crashed, &lease_at("c", now + 2_000, 10_000))
        .await
        .unwrap();

    assert_eq!(
        taken,
        Claim::Acquired {
            rejectable_answers: 0
        }
    );
    assert_eq!(
        open(&queries).await,
        vec![(34, Some(now)), (35, Some(now + 2_000))],
        "stuck lists both, by when they were last claimed"
    );
    assert_eq!(
        raw_item(&p, 35).await["attempts"],
        AttributeValue::N("2".into())
    );
}

#[tokio::test]
async fn a_fifo_queue_gets_group_and_deduplication_ids_so_a_quick_duplicate_is_dropped() {
    let sqs = glase_dev::aws::sqs(&glase_tests::services().sqs_endpoint);
    let name = format!("{}.fifo", glase_tests::services::unique("fifo"));
    let url = sqs
        .create_queue()
        .queue_name(name)
        .attributes(aws_sdk_sqs::types::QueueAttributeName::FifoQueue, "true")
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_owned();
    let webhook = Webhook::new(SqsQueue::new(sqs.clone(), &url), fixture_token());
    let request = |id: u64| {
        let mut event: serde_json::Value =
            serde_json::from_str(include_str!("../../../events/apigw-notification.json")).unwrap();
        event["body"] = format!(r#"{{"invoiceId": {id}}}"#).into();
        lambda_http::request::from_str(&event.to_string()).unwrap()
    };

    let first = webhook.handle(request(41)).await;
    let duplicate = webhook.handle(request(41)).await;
    let other = webhook.handle(request(42)).await;
    let received = sqs
        .receive_message()
        .queue_url(&url)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap();

    assert_eq!(
        [first.status(), duplicate.status(), other.status()].map(|s| s.as_u16()),
        [200; 3]
    );
    let mut bodies: Vec<_> = received
        .messages()
        .iter()
        .filter_map(|m| m.body())
        .collect();
    bodies.sort();
    assert_eq!(bodies, vec![r#"{"invoiceId":41}"#, r#"{"invoiceId":42}"#]);
}

#[tokio::test]
async fn the_issuer_secret_is_read_from_an_ssm_secure_string() {
    // moto's server also speaks SSM, so the cold-start read runs against a real API.
    let aws = glase_dev::aws::local_config(
        &glase_tests::services().dynamodb_endpoint,
        &glase_tests::services().sqs_endpoint,
    );
    let name = format!("/{}/issuer-secret", glase_tests::services::unique("glase"));
    aws_sdk_ssm::Client::new(&aws)
        .put_parameter()
        .name(&name)
        .value(SECRET)
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .send()
        .await
        .unwrap();
    let config = glase_shared::config::GlaseConfig {
        base_url: "https://glase.example".into(),
        issuer: glase_shared::IssuerName::parse(ISSUER).unwrap(),
        secret: glase_shared::config::SecretSource::SsmParameter(name),
        time_zone: jiff::tz::TimeZone::UTC,
        connect_timeout: Duration::from_secs(1),
        request_timeout: Duration::from_secs(1),
    };
    let missing = glase_shared::config::GlaseConfig {
        secret: glase_shared::config::SecretSource::SsmParameter("/no/such/parameter".into()),
        ..config.clone()
    };

    let token = glase_shared::adapters::ssm::auth_token(&config, &aws)
        .await
        .unwrap();
    let error = glase_shared::adapters::ssm::auth_token(&missing, &aws)
        .await
        .unwrap_err();

    assert_eq!(
        token.expose(),
        "1be46a9bb3efac8e7b691c06cb6d7bea43c5522a64a1cbfd5f511e67de6440c0"
    );
    assert!(error.to_string().contains("/no/such/parameter"), "{error}");
}

fn fixture_token() -> glase_shared::WebhookToken {
    glase_shared::WebhookToken::plain(glase_tests::pipeline::FIXTURE_TOKEN).unwrap()
}

#[tokio::test]
async fn dynamodb_refuses_to_re_claim_a_rejection_within_its_cool_down_unless_lifted() {
    let (p, _glase) = glase_tests::glase::pipeline().await;
    let id = InvoiceId::new(61).unwrap();
    let now = jiff::Timestamp::now().as_millisecond();
    let lease = |owner: &str, at: i64, cooldown_ms: Option<i64>| Lease {
        owner: owner.into(),
        now_ms: at,
        until_ms: at + 10_000,
        rejected_before_ms: cooldown_ms.map(|c| at - c),
    };
    let first = lease("a", now, Some(3_600_000));
    assert_eq!(
        p.store.claim(id, &first).await.unwrap(),
        Claim::Acquired {
            rejectable_answers: 0
        }
    );
    let rejection = glase_shared::Rejection {
        code: glase_shared::RejectionCode::UnknownInvoice,
        reason: "404".into(),
    };
    let at = jiff::Timestamp::from_millisecond(now).unwrap();
    assert_eq!(
        p.store.reject(id, &first, &rejection, at).await.unwrap(),
        glase_shared::Completion::Done
    );
    // An SDK retry of the applied write is our own success, not a lost lease.
    assert_eq!(
        p.store.reject(id, &first, &rejection, at).await.unwrap(),
        glase_shared::Completion::Done
    );

    let cooling = p
        .store
        .claim(id, &lease("b", now + 1_000, Some(3_600_000)))
        .await
        .unwrap();
    let lifted = p
        .store
        .claim(id, &lease("c", now + 2_000, None))
        .await
        .unwrap();

    // When it was rejected, so the worker can postpone a notification to the cool-down's end.
    assert_eq!(
        cooling,
        Claim::RecentlyRejected {
            rejected_at_ms: now
        }
    );
    assert_eq!(
        lifted,
        Claim::Acquired {
            rejectable_answers: 1
        }
    );
    let item = raw_item(&p, 61).await;
    assert_eq!(item["state"], s("PROCESSING"));
    assert_eq!(item["openState"], s("PROCESSING"));
    for gone in [
        "rejectionCode",
        "rejectionReason",
        "rejectedAt",
        "rejectedAtMs",
    ] {
        assert!(
            !item.contains_key(gone),
            "{gone} left over from the old rejection"
        );
    }
}

#[tokio::test]
async fn dynamodb_takes_a_retried_store_that_already_applied_as_done() {
    let (p, _glase) = glase_tests::glase::pipeline().await;
    let id = InvoiceId::new(62).unwrap();
    let now = jiff::Timestamp::now().as_millisecond();
    let ours = Lease {
        owner: "ours".into(),
        now_ms: now,
        until_ms: now + 10_000,
        rejected_before_ms: None,
    };
    let invoice = glase_shared::Invoice::from_glase_json(
        invoice_json(62, "6.20", "r-62").as_bytes(),
        id,
        &jiff::tz::TimeZone::UTC,
    )
    .unwrap();
    assert_eq!(
        p.store.claim(id, &ours).await.unwrap(),
        Claim::Acquired {
            rejectable_answers: 0
        }
    );
    let stored_at = jiff::Timestamp::now();
    assert_eq!(
        p.store.store(&invoice, &ours, stored_at).await.unwrap(),
        glase_shared::Completion::Done
    );

    let again = p.store.store(&invoice, &ours, stored_at).await.unwrap();

    assert_eq!(again, glase_shared::Completion::Done);
    let item = raw_item(&p, 62).await;
    assert!(
        !item.contains_key("openState"),
        "a stored invoice leaves the open-items index"
    );
}

/// A TCP endpoint that accepts connections and never answers: a stalled SSM, DynamoDB or SQS.
async fn stalled_endpoint() -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((conn, _)) = listener.accept().await {
            open.push(conn);
        }
    });
    (url, held)
}

#[tokio::test]
async fn worker_init_against_a_stalled_ssm_gives_up_within_lambdas_init_limit_and_backs_records_off(
) {
    use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
    use glase_shared::config::Env;
    use glase_worker::{Service, WorkerConfig};
    use std::time::Instant;

    let (url, held) = stalled_endpoint().await;
    let config = WorkerConfig::from_env(&Env::from_pairs(&[
        ("GLASE_BASE_URL", "http://127.0.0.1:9/"),
        ("GLASE_ISSUER", ISSUER),
        ("GLASE_SECRET_PARAMETER", "/glase/secret"),
        ("TABLE_NAME", "invoices"),
        ("QUEUE_URL", &format!("{url}/000000000000/glase")),
    ]))
    .unwrap();
    // No SDK timeouts here: only the worker's own bound can end the wait.
    let aws = glase_dev::aws::local_config(&url, &url);

    let started = Instant::now();
    let service = tokio::time::timeout(Duration::from_secs(30), Service::new(config, aws))
        .await
        .expect("init returned");
    assert!(
        started.elapsed() < Duration::from_secs(9),
        "init took {:?}; Lambda allows 10 s",
        started.elapsed()
    );

    let mut message = SqsMessage::default();
    message.message_id = Some("m1".into());
    message.receipt_handle = Some("receipt-m1".into());
    message.body = Some(r#"{"invoiceId":1}"#.into());
    let mut event = SqsEvent::default();
    event.records = vec![message];
    let now_ms = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap();
    let started = Instant::now();
    let resp = tokio::time::timeout(
        Duration::from_secs(60),
        service.handle(event, now_ms + 12_000),
    )
    .await
    .expect("the invocation answered");

    assert!(
        started.elapsed() < Duration::from_secs(12),
        "answered after {:?}, past the deadline",
        started.elapsed()
    );
    assert_eq!(resp.batch_item_failures.len(), 1);
    held.abort();
}

#[tokio::test]
async fn a_notification_within_the_rejection_cool_down_waits_for_its_end_and_a_now_paid_invoice_is_stored(
) {
    use glase_shared::config::Env;
    use glase_worker::{LambdaWorker, WorkerConfig};

    let (p, glase) = glase_tests::glase::pipeline().await;
    let not_paid = invoice_json(89, "8.90", "later").replace("\"PAID\"", "\"NOT_PAID\"");
    glase.sim().answer(89, Reply::json(not_paid));
    // The harness's worker has no cool-down; this one has 3 s of it, on the same table and queue.
    let svc = glase_tests::services::services();
    let aws = glase_dev::aws::local_config(&svc.dynamodb_endpoint, &svc.sqs_endpoint);
    let base_url = glase.base_url();
    let config = WorkerConfig::from_env(&Env::from_pairs(&[
        ("TABLE_NAME", &p.table),
        ("QUEUE_URL", &p.queue_url),
        ("GLASE_BASE_URL", &base_url),
        ("GLASE_ISSUER", ISSUER),
        ("GLASE_SECRET", SECRET),
        ("PRIME_CONNECTIONS", "false"),
        ("REJECT_AFTER_RECEIVES", "1"),
        ("REJECTED_COOLDOWN_SECONDS", "3"),
    ]))
    .unwrap();
    let worker = std::sync::Arc::new(LambdaWorker::from_config(&config, &aws).await.unwrap());
    let poll = || glase_dev::poller::poll_once(&p.sqs, &p.poller, &worker);

    p.notify(r#"{"invoiceId": 89}"#).await;
    assert_eq!(poll().await.unwrap().failed, 0, "rejected and acknowledged");
    assert!(matches!(
        p.record(89).await,
        Some(InvoiceRecord::Rejected { .. })
    ));

    // Glase says PAID now, and notifies again within the cool-down.
    glase
        .sim()
        .answer(89, Reply::json(invoice_json(89, "8.90", "later")));
    p.notify(r#"{"invoiceId": 89}"#).await;
    let within = poll().await.unwrap();
    assert_eq!(
        (within.received, within.failed),
        (1, 1),
        "kept, not acknowledged"
    );
    assert_eq!(
        glase.sim().detail_fetches(89).total,
        1,
        "no fetch in the cool-down"
    );
    assert_eq!(
        poll().await.unwrap().received,
        0,
        "hidden until the cool-down ends"
    );

    glase_tests::wait::until("the invoice stored", Duration::from_secs(20), || async {
        poll().await.map_err(|e| e.to_string())?;
        match p.record(89).await {
            Some(InvoiceRecord::Stored { .. }) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    assert_eq!(glase.sim().detail_fetches(89).total, 2);
    assert_eq!(p.queue_depth(&p.dlq_url).await, 0);
}
