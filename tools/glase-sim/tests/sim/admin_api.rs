//! The admin API (`/_sim/…`) and the served simulator end to end.

use crate::common::{call, get, Webhook, PATIENCE};
use axum::http::{Method, StatusCode};
use glase_sim::{EndpointFaults, Faults, IssuerConfig, Sim, SimConfig};

#[tokio::test]
async fn creating_an_invoice_accepts_the_amount_as_string_or_exact_number() {
    // Arrange
    let sim = Sim::new(SimConfig::default());
    let router = sim.router();

    for (amount, expected) in [
        (r#""59.99""#, "59.99"),
        ("12345678901234567.89", "12345678901234567.89"),
        ("5", "5.00"),
    ] {
        let body = format!(
            r#"{{"amount": {amount}, "currency": "EUR", "description": "d", "reference": "r",
                 "payer": {{"msisdn": "46111222333", "firstName": "John"}}, "purchaseTime": "15.05.2015 15:37:33"}}"#
        );

        // Act
        let answer = call(&router, Method::POST, "/_sim/invoices", None, Some(&body)).await;

        // Assert
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
        let json = answer.json();
        assert_eq!(json["amount"], expected);
        assert_eq!(json["issuer"], "demo");
        assert_eq!(json["purchaseTime"], "2015-05-15T15:37:33Z");
        assert_eq!(
            json["payer"],
            serde_json::json!({"msisdn": "46111222333", "firstName": "John"})
        );
        let held = sim.invoice(json["id"].as_u64().unwrap()).unwrap();
        assert_eq!(held.amount.to_string(), expected);
        assert_eq!(held.payer.first_name.as_deref(), Some("John"));
        assert_eq!(held.payer.city, None);
    }
}

#[tokio::test]
async fn invalid_payments_get_400_with_an_error_message() {
    // Arrange
    let router = Sim::new(SimConfig::default()).router();

    for body in [
        r#"{"amount": "59,99"}"#,
        r#"{"amount": "1.999"}"#,
        r#"{"amount": -1}"#,
        r#"{"amount": 1e3}"#,
        r#"{"currency": "GBP"}"#,
        r#"{"amount": "1.00", "currency": "gbp"}"#,
        r#"{"amount": "1.00", "issuer": "nobody"}"#,
        r#"{"amount": "1.00", "notifyUrl": "ftp://x"}"#,
        r#"{"amount": "1.00", "purchaseTime": "yesterday"}"#,
        r#"{"amount": "1.00", "colour": "blue"}"#,
        "not json",
    ] {
        // Act
        let answer = call(&router, Method::POST, "/_sim/invoices", None, Some(body)).await;

        // Assert
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{body}");
        assert!(answer.json()["error"].is_string(), "{body}");
    }
}

#[tokio::test]
async fn invoices_attempts_and_stats_are_listed() {
    // Arrange
    let sim = Sim::new(SimConfig::default());
    let router = sim.router();

    // Act
    let list = get(&router, "/_sim/invoices", None).await.json();
    let one = get(&router, "/_sim/invoices/1000", None).await;
    let attempts = get(&router, "/_sim/invoices/1000/attempts", None)
        .await
        .json();
    let missing = get(&router, "/_sim/invoices/5", None).await;
    let stats = get(&router, "/_sim/stats", None).await.json();

    // Assert
    assert_eq!(list.as_array().unwrap().len(), 3);
    assert_eq!(one.status, StatusCode::OK);
    assert_eq!(one.json()["reference"], "586930/05/2015");
    assert_eq!(one.json()["notification"], "not_scheduled");
    assert_eq!(attempts["attempts"], serde_json::json!([]));
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(stats["totals"]["invoices"], 3);
    assert_eq!(
        stats["invoices"][0]["detailFetches"],
        serde_json::json!({"ok": 0, "total": 0})
    );
}

#[tokio::test]
async fn faults_can_be_read_and_replaced_at_run_time() {
    // Arrange
    let sim = Sim::new(SimConfig::default());
    let router = sim.router();
    let body = r#"{"invoice": {"errorRate": 1, "latencyMs": 5}, "report": {"tooManyRate": 0.5}}"#;

    // Act
    let put = call(&router, Method::PUT, "/_sim/faults", None, Some(body)).await;
    let read = get(&router, "/_sim/faults", None).await.json();
    let bad = call(
        &router,
        Method::PUT,
        "/_sim/faults",
        None,
        Some(r#"{"invoice": {"errorRate": 2}}"#),
    )
    .await;

    // Assert
    assert_eq!(put.status, StatusCode::OK);
    assert_eq!(read["invoice"]["errorRate"], 1.0);
    assert_eq!(read["invoice"]["latencyMs"], 5);
    assert_eq!(read["report"]["tooManyRate"], 0.5);
    assert_eq!(
        sim.faults().invoice,
        EndpointFaults {
            error_rate: 1.0,
            latency: std::time::Duration::from_millis(5),
            ..EndpointFaults::default()
        }
    );
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(sim.faults().invoice.error_rate, 1.0);
    let admin = get(&router, "/_sim/invoices", None).await;
    assert_eq!(
        admin.status,
        StatusCode::OK,
        "admin endpoints are never faulted"
    );
}

#[tokio::test]
async fn served_sim_pays_notifies_and_serves_details_over_http() {
    // Arrange
    let webhook = Webhook::start(1, Some(StatusCode::BAD_GATEWAY)).await;
    let config = SimConfig {
        issuers: vec![IssuerConfig::new("shop", "shop-secret").with_notify_url(&webhook.url)],
        time_scale: 0.001,
        initial_invoices: vec![],
        faults: Faults::default(),
        ..SimConfig::default()
    };
    let running = Sim::serve(config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let client = reqwest::Client::new();
    let base = running.base_url();
    assert!(base.starts_with("http://127.0.0.1:"));

    // Act
    let created: serde_json::Value = serde_json::from_str(
        &client
            .post(format!("{base}/_sim/invoices"))
            .header("content-type", "application/json")
            .body(r#"{"issuer": "shop", "amount": 10.10, "currency": "SEK", "description": "x", "reference": "y"}"#)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    )
    .unwrap();
    let id = created["id"].as_u64().unwrap();
    let sim = running.sim();
    assert!(sim.wait_notification_done(id, PATIENCE).await);
    let details = client
        .get(format!("{base}/api/invoice/{id}?issuer=shop"))
        .header("X-Auth-Token", sim.token_for("shop").unwrap())
        .send()
        .await
        .unwrap();

    // Assert
    assert_eq!(details.status(), 200);
    let body = details.text().await.unwrap();
    assert!(body.contains(r#""amount":10.10,"#), "{body}");
    assert_eq!(sim.attempts(id).len(), 2);
    assert_eq!(
        sim.detail_fetches(id),
        glase_sim::DetailFetchStats { ok: 1, total: 1 }
    );
    tokio::time::timeout(PATIENCE, running.shutdown())
        .await
        .unwrap();
}

#[tokio::test]
async fn report_format_and_webhook_outage_are_set_through_the_admin_api() {
    // Arrange
    let sim = Sim::new(SimConfig::default());
    let router = sim.router();
    let put = |uri: &'static str, body: &'static str| {
        let router = router.clone();
        async move { call(&router, Method::PUT, uri, None, Some(body)).await }
    };

    // Act
    let format = put(
        "/_sim/report-format",
        r#"{"header": false, "delimiter": ";", "lineEnding": "lf"}"#,
    )
    .await;
    let outage = put("/_sim/outage", r#"{"webhook": true}"#).await;
    let bad_format = put("/_sim/report-format", r#"{"delimiter": "|"}"#).await;
    let bad_outage = put("/_sim/outage", r#"{"webhook": "yes"}"#).await;

    // Assert
    assert_eq!(format.status, StatusCode::OK, "{}", format.body);
    assert_eq!(
        format.json(),
        serde_json::json!({"header": false, "delimiter": ";", "lineEnding": "lf"})
    );
    assert_eq!(
        sim.report_format(),
        glase_sim::ReportFormat {
            header: false,
            delimiter: glase_sim::Delimiter::Semicolon,
            line_ending: glase_sim::LineEnding::Lf
        }
    );
    assert_eq!(outage.json(), serde_json::json!({"webhook": true}));
    assert!(sim.webhook_outage());
    assert_eq!(bad_format.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad_outage.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        get(&router, "/_sim/report-format", None).await.json()["delimiter"],
        ";"
    );
    assert_eq!(
        get(&router, "/_sim/outage", None).await.json(),
        serde_json::json!({"webhook": true})
    );
    let defaults = put("/_sim/report-format", "{}").await.json();
    assert_eq!(
        defaults,
        serde_json::json!({"header": true, "delimiter": ",", "lineEnding": "crlf"})
    );
}
