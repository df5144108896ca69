//! Glase's own endpoints: invoice details and the report, with authentication and faults.

use crate::common::{get, two_issuer_sim};
use axum::http::StatusCode;
use glase_shared::{AuthToken, Invoice, IssuerName};
use glase_sim::{
    Delimiter, EndpointFaults, Faults, LineEnding, NewInvoice, Payer, ReportFormat, Sim, SimConfig,
};
use jiff::tz::TimeZone;
use jiff::Timestamp;
use secrecy::SecretString;

fn token(issuer: &str, secret: &str) -> String {
    AuthToken::derive(
        &IssuerName::parse(issuer).unwrap(),
        &SecretString::from(secret),
    )
    .expose()
    .to_owned()
}

fn at(iso: &str) -> Option<Timestamp> {
    Some(iso.parse().unwrap())
}

fn shop_invoice() -> NewInvoice {
    NewInvoice {
        issuer: "shop".into(),
        amount: "59.99".into(),
        currency: "GBP".into(),
        description: "Phone invoice 05.2015".into(),
        reference: "586930/05/2015".into(),
        payer: None,
        notify_url: None,
        purchase_time: at("2015-05-15T15:37:33Z"),
    }
}

#[test]
fn token_matches_the_glase_documentation_vector() {
    // Arrange
    let sim = Sim::new(SimConfig {
        issuers: vec![glase_sim::IssuerConfig::new(
            "abc",
            "SECRET_STRING_FOR_ISSUER",
        )],
        initial_invoices: vec![],
        ..SimConfig::default()
    });

    // Act
    let expected = sim.token_for("abc");

    // Assert
    assert_eq!(
        expected.as_deref(),
        Some("1be46a9bb3efac8e7b691c06cb6d7bea43c5522a64a1cbfd5f511e67de6440c0")
    );
}

#[tokio::test]
async fn details_have_glase_shape_with_exact_amount_and_no_payer_when_absent() {
    // Arrange
    let sim = two_issuer_sim();
    let inv = sim.pay(shop_invoice()).await.unwrap();
    let uri = format!("/api/invoice/{}?issuer=shop", inv.id);

    // Act
    let answer = get(&sim.router(), &uri, Some(&token("shop", "shop-secret"))).await;

    // Assert
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.headers["content-type"], "application/json");
    let expected = format!(
        r#"{{"id":{},"description":"Phone invoice 05.2015","amount":59.99,"currency":"GBP","status":"PAID","reference":"586930/05/2015","ersReference":"{}","purchaseTime":"15.05.2015 15:37:33"}}"#,
        inv.id, inv.ers_reference
    );
    assert_eq!(answer.body, expected);
    let parsed = Invoice::from_glase_json(answer.body.as_bytes(), inv.id, &TimeZone::UTC).unwrap();
    assert_eq!(parsed, inv.to_invoice());
}

#[tokio::test]
async fn details_carry_every_payer_field_and_keep_trailing_zeros() {
    // Arrange
    let sim = two_issuer_sim();
    let payer = glase_shared::memory::doc_payer();
    let inv = sim
        .pay(NewInvoice {
            amount: "1234567.1".into(),
            payer: Some(payer),
            ..shop_invoice()
        })
        .await
        .unwrap();

    // Act
    let answer = get(
        &sim.router(),
        &format!("/api/invoice/{}?issuer=shop", inv.id),
        Some(&token("shop", "shop-secret")),
    )
    .await;

    // Assert
    assert_eq!(answer.status, StatusCode::OK);
    assert!(
        answer.body.contains(r#""amount":1234567.10,"#),
        "{}",
        answer.body
    );
    assert!(answer.body.ends_with(
        r#""payerMsisdn":"46111222333","payerFirstName":"John","payerLastName":"Smith","payerStreet":"34 Wellington St","payerCity":"London","payerZip":"74231","payerCountry":"en"}"#
    ));
    let parsed = Invoice::from_glase_json(answer.body.as_bytes(), inv.id, &TimeZone::UTC).unwrap();
    assert_eq!(parsed, inv.to_invoice());
    assert_eq!(parsed.amount.to_string(), "1234567.10");
}

#[tokio::test]
async fn purchase_time_is_written_in_the_configured_zone() {
    // Arrange
    let stockholm = TimeZone::get("Europe/Stockholm").unwrap();
    let sim = Sim::new(SimConfig {
        time_zone: stockholm.clone(),
        ..SimConfig::default()
    });
    let inv = sim
        .pay(NewInvoice {
            purchase_time: at("2015-05-15T13:37:33Z"),
            ..NewInvoice::default()
        })
        .await
        .unwrap();

    // Act
    let answer = get(
        &sim.router(),
        &format!("/api/invoice/{}?issuer=demo", inv.id),
        Some(&token("demo", "demo-secret")),
    )
    .await;

    // Assert
    assert!(
        answer
            .body
            .contains(r#""purchaseTime":"15.05.2015 15:37:33""#),
        "{}",
        answer.body
    );
    assert_eq!(
        Invoice::from_glase_json(answer.body.as_bytes(), inv.id, &stockholm).unwrap(),
        inv.to_invoice()
    );
}

#[tokio::test]
async fn wrong_missing_or_foreign_tokens_and_unknown_issuers_get_401() {
    // Arrange
    let sim = two_issuer_sim();
    let inv = sim.pay(shop_invoice()).await.unwrap();
    let router = sim.router();
    let good = token("shop", "shop-secret");
    let cases = [
        (
            format!("/api/invoice/{}?issuer=shop", inv.id),
            Some(token("shop", "wrong-secret")),
        ),
        (format!("/api/invoice/{}?issuer=shop", inv.id), None),
        (
            format!("/api/invoice/{}?issuer=shop", inv.id),
            Some(good.to_uppercase()),
        ),
        (
            format!("/api/invoice/{}?issuer=shop", inv.id),
            Some(token("other", "other-secret")),
        ),
        (
            format!("/api/invoice/{}?issuer=nobody", inv.id),
            Some(good.clone()),
        ),
        (format!("/api/invoice/{}", inv.id), Some(good.clone())),
        (
            "/api/report?issuer=shop&startDate=01012015&endDate=31122015".to_owned(),
            Some(token("shop", "x")),
        ),
    ];

    for (uri, presented) in cases {
        // Act
        let answer = get(&router, &uri, presented.as_deref()).await;

        // Assert
        assert_eq!(
            answer.status,
            StatusCode::UNAUTHORIZED,
            "{uri} with {presented:?}"
        );
        assert!(answer.json()["error"].is_string());
    }
}

#[tokio::test]
async fn unknown_ids_and_another_issuers_invoice_get_404() {
    // Arrange
    let sim = two_issuer_sim();
    let theirs = sim
        .pay(NewInvoice {
            issuer: "other".into(),
            ..shop_invoice()
        })
        .await
        .unwrap();
    let router = sim.router();
    let shop = token("shop", "shop-secret");

    for uri in [
        "/api/invoice/999999?issuer=shop".to_owned(),
        "/api/invoice/abc?issuer=shop".to_owned(),
        format!("/api/invoice/{}?issuer=shop", theirs.id),
    ] {
        // Act
        let answer = get(&router, &uri, Some(&shop)).await;

        // Assert
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{uri}");
    }
    let own = get(
        &router,
        &format!("/api/invoice/{}?issuer=other", theirs.id),
        Some(&token("other", "other-secret")),
    )
    .await;
    assert_eq!(own.status, StatusCode::OK);
}

#[tokio::test]
async fn detail_fetches_count_successes_and_all_requests() {
    // Arrange
    let sim = two_issuer_sim();
    let inv = sim.pay(shop_invoice()).await.unwrap();
    let router = sim.router();
    let uri = format!("/api/invoice/{}?issuer=shop", inv.id);

    // Act
    get(&router, &uri, Some(&token("shop", "shop-secret"))).await;
    get(&router, &uri, Some(&token("shop", "bad"))).await;
    get(&router, &uri, Some(&token("shop", "shop-secret"))).await;

    // Assert
    assert_eq!(
        sim.detail_fetches(inv.id.get()),
        glase_sim::DetailFetchStats { ok: 2, total: 3 }
    );
}

#[tokio::test]
async fn scripted_answers_come_once_in_order_then_standing_after_the_token_check() {
    // Arrange
    let sim = two_issuer_sim();
    let router = sim.router();
    let uri = "/api/invoice/7?issuer=shop";
    let good = token("shop", "shop-secret");
    sim.answer(7, glase_sim::Reply::raw(200, "text/html", "<html>"));
    sim.answer_next(7, glase_sim::Reply::raw(503, "text/plain", ""));
    sim.answer(
        8,
        glase_sim::Reply::Stream {
            total: 100_000,
            fill: b'[',
            content_length: false,
        },
    );

    // Act
    let refused = get(&router, uri, Some(&token("shop", "bad"))).await;
    let once = get(&router, uri, Some(&good)).await;
    let standing = get(&router, uri, Some(&good)).await;
    let again = get(&router, uri, Some(&good)).await;
    let streamed = get(&router, "/api/invoice/8?issuer=shop", Some(&good)).await;

    // Assert
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert_eq!(once.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        (standing.status, standing.body.as_str()),
        (StatusCode::OK, "<html>")
    );
    assert_eq!(standing.headers["content-type"], "text/html");
    assert_eq!(again.body, "<html>");
    assert_eq!(streamed.body, "[".repeat(100_000));
    assert_eq!(
        sim.detail_fetches(7),
        glase_sim::DetailFetchStats { ok: 2, total: 4 }
    );
}

#[tokio::test]
async fn report_is_rfc4180_csv_with_header_and_escaped_description() {
    // Arrange
    let sim = two_issuer_sim();
    let tricky = sim
        .pay(NewInvoice {
            description: "Broadband \"Fibre\", June\nsecond line".into(),
            amount: "7.5".into(),
            payer: Some(Payer {
                msisdn: Some("46700000001".into()),
                city: Some("Malmö, Skåne".into()),
                ..Payer::default()
            }),
            ..shop_invoice()
        })
        .await
        .unwrap();

    // Act
    let answer = get(
        &sim.router(),
        "/api/report?startDate=15052015&endDate=15052015&issuer=shop",
        Some(&token("shop", "shop-secret")),
    )
    .await;

    // Assert
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.headers["content-type"], "text/csv; charset=utf-8");
    let expected = format!(
        "ID,DESCRIPTION,AMOUNT,CURRENCY,STATUS,REFERENCE,ERS_REFERENCE,PURCHASE_TIME,PAYER_MSISDN,PAYER_FIRST_NAME,PAYER_LAST_NAME,PAYER_STREET,PAYER_CITY,PAYER_ZIP,PAYER_COUNTRY\r\n\
         {},\"Broadband \"\"Fibre\"\", June\nsecond line\",7.50,GBP,PAID,586930/05/2015,{},2015-05-15T15:37:33+00:00,46700000001,,,,\"Malmö, Skåne\",,\r\n",
        tricky.id, tricky.ers_reference
    );
    assert_eq!(answer.body, expected);
}

#[tokio::test]
async fn report_can_be_served_without_header_with_semicolons_and_lf_line_endings() {
    // Arrange
    let sim = two_issuer_sim();
    let tricky = sim
        .pay(NewInvoice {
            description: "Broadband; \"Fibre\", June\nsecond line".into(),
            payer: Some(Payer {
                city: Some("Malmö, Skåne".into()),
                ..Payer::default()
            }),
            ..shop_invoice()
        })
        .await
        .unwrap();
    sim.set_report_format(ReportFormat {
        header: false,
        delimiter: Delimiter::Semicolon,
        line_ending: LineEnding::Lf,
    });

    // Act
    let answer = get(
        &sim.router(),
        "/api/report?startDate=15052015&endDate=15052015&issuer=shop",
        Some(&token("shop", "shop-secret")),
    )
    .await;

    // Assert: quoted for its ';' and quotes; the city's comma needs no quotes here.
    assert_eq!(answer.status, StatusCode::OK);
    let expected = format!(
        "{};\"Broadband; \"\"Fibre\"\", June\nsecond line\";59.99;GBP;PAID;586930/05/2015;{};2015-05-15T15:37:33+00:00;;;;;Malmö, Skåne;;\n",
        tricky.id, tricky.ers_reference
    );
    assert_eq!(answer.body, expected);
}

#[tokio::test]
async fn report_keeps_only_the_issuers_invoices_within_the_inclusive_dates_in_the_sims_zone() {
    // Arrange
    let stockholm = TimeZone::get("Europe/Stockholm").unwrap();
    let sim = Sim::new(SimConfig {
        issuers: vec![
            glase_sim::IssuerConfig::new("shop", "shop-secret"),
            glase_sim::IssuerConfig::new("other", "o"),
        ],
        time_zone: stockholm,
        initial_invoices: vec![],
        ..SimConfig::default()
    });
    let pay = |iso: &'static str, issuer: &'static str| {
        let sim = sim.clone();
        async move {
            sim.pay(NewInvoice {
                issuer: issuer.into(),
                purchase_time: at(iso),
                ..shop_invoice()
            })
            .await
            .unwrap()
            .id
        }
    };
    let before = pay("2015-05-14T21:59:59Z", "shop").await; // 14.05 23:59:59 in Stockholm
    let first_day = pay("2015-05-14T22:00:00Z", "shop").await; // 15.05 00:00:00
    let last_day = pay("2015-05-16T21:59:59Z", "shop").await; // 16.05 23:59:59
    let after = pay("2015-05-16T22:00:00Z", "shop").await; // 17.05 00:00:00
    let foreign = pay("2015-05-15T12:00:00Z", "other").await;

    // Act
    let answer = get(
        &sim.router(),
        "/api/report?startDate=15052015&endDate=16052015&issuer=shop",
        Some(&token("shop", "shop-secret")),
    )
    .await;

    // Assert
    assert_eq!(answer.status, StatusCode::OK);
    let ids: Vec<String> = answer
        .body
        .split("\r\n")
        .skip(1)
        .filter(|l| !l.is_empty())
        .map(|l| l.split(',').next().unwrap().to_owned())
        .collect();
    assert_eq!(ids, [first_day.to_string(), last_day.to_string()]);
    assert!(answer.body.contains("2015-05-15T00:00:00+02:00"));
    for excluded in [before, after, foreign] {
        assert!(!ids.contains(&excluded.to_string()));
    }
}

#[tokio::test]
async fn report_requests_are_counted_and_a_refused_day_fails_only_the_windows_holding_it() {
    // Arrange
    let sim = two_issuer_sim();
    let router = sim.router();
    let shop = token("shop", "shop-secret");
    sim.refuse_report_days(vec![jiff::civil::date(2015, 5, 16)]);

    // Act
    let mut statuses = Vec::new();
    for (start, end) in [
        ("15052015", "15052015"),
        ("16052015", "16052015"),
        ("14052015", "17052015"),
    ] {
        let uri = format!("/api/report?startDate={start}&endDate={end}&issuer=shop");
        statuses.push(get(&router, &uri, Some(&shop)).await.status);
    }

    // Assert
    assert_eq!(
        statuses,
        [
            StatusCode::OK,
            StatusCode::INTERNAL_SERVER_ERROR,
            StatusCode::INTERNAL_SERVER_ERROR
        ]
    );
    let d = |day| jiff::civil::date(2015, 5, day);
    assert_eq!(
        sim.report_requests(),
        [(d(15), d(15)), (d(16), d(16)), (d(14), d(17))]
    );
}

#[tokio::test]
async fn report_rejects_bad_or_missing_dates_with_400_and_a_message() {
    // Arrange
    let sim = two_issuer_sim();
    let router = sim.router();
    let shop = token("shop", "shop-secret");

    for query in [
        "startDate=2015-05-15&endDate=16052015",
        "startDate=15052015&endDate=31022015",
        "endDate=16052015",
        "startDate=17052015&endDate=16052015",
    ] {
        // Act
        let answer = get(
            &router,
            &format!("/api/report?{query}&issuer=shop"),
            Some(&shop),
        )
        .await;

        // Assert
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{query}");
        assert!(
            answer.json()["error"].as_str().unwrap().contains("Date"),
            "{}",
            answer.body
        );
    }
}

#[tokio::test]
async fn full_error_rate_answers_500_and_full_too_many_rate_answers_429() {
    // Arrange
    let sim = Sim::new(SimConfig::default());
    let router = sim.router();
    let demo = token("demo", "demo-secret");
    let details = format!("/api/invoice/{}?issuer=demo", glase_sim::FIRST_INVOICE_ID);
    let report = "/api/report?startDate=01012015&endDate=31122015&issuer=demo";

    // Act + Assert
    sim.set_faults(Faults::everywhere(EndpointFaults::errors(1.0)));
    for _ in 0..5 {
        assert_eq!(
            get(&router, &details, Some(&demo)).await.status,
            StatusCode::INTERNAL_SERVER_ERROR
        );
        assert_eq!(
            get(&router, report, Some(&demo)).await.status,
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }
    sim.set_faults(Faults {
        invoice: EndpointFaults::too_many(1.0),
        ..Faults::default()
    });
    for _ in 0..5 {
        let answer = get(&router, &details, Some(&demo)).await;
        assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(answer.headers["retry-after"], "1");
        assert_eq!(
            get(&router, report, Some(&demo)).await.status,
            StatusCode::OK
        );
    }
    sim.set_faults(Faults::default());
    assert_eq!(
        get(&router, &details, Some(&demo)).await.status,
        StatusCode::OK
    );
    assert_eq!(
        sim.detail_fetches(glase_sim::FIRST_INVOICE_ID),
        glase_sim::DetailFetchStats { ok: 1, total: 11 }
    );
}

#[tokio::test]
async fn partial_fault_rates_follow_the_seed() {
    // Arrange
    let run = |seed: u64| async move {
        let sim = Sim::new(SimConfig {
            seed,
            faults: Faults::everywhere(EndpointFaults {
                error_rate: 0.3,
                too_many_rate: 0.3,
                ..EndpointFaults::default()
            }),
            ..SimConfig::default()
        });
        let router = sim.router();
        let uri = format!("/api/invoice/{}?issuer=demo", glase_sim::FIRST_INVOICE_ID);
        let demo = token("demo", "demo-secret");
        let mut statuses = Vec::new();
        for _ in 0..40 {
            statuses.push(get(&router, &uri, Some(&demo)).await.status.as_u16());
        }
        statuses
    };

    // Act
    let (a, b) = (run(7).await, run(7).await);

    // Assert
    assert_eq!(a, b);
    for status in [200, 429, 500] {
        assert!(a.contains(&status), "{status} never drawn in {a:?}");
    }
}

#[tokio::test]
async fn hanging_requests_are_held_open_until_the_sim_stops() {
    // Arrange
    let running = Sim::serve(
        SimConfig {
            faults: Faults::everywhere(EndpointFaults::hangs(1.0)),
            ..SimConfig::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let url = format!(
        "{}/api/invoice/{}?issuer=demo",
        running.base_url(),
        glase_sim::FIRST_INVOICE_ID
    );
    let client = reqwest::Client::new();

    // Act
    let timed_out = client
        .get(&url)
        .header("X-Auth-Token", token("demo", "demo-secret"))
        .timeout(std::time::Duration::from_millis(300))
        .send()
        .await;

    // Assert
    assert!(timed_out.unwrap_err().is_timeout());
    tokio::time::timeout(crate::common::PATIENCE, running.shutdown())
        .await
        .expect("shutdown ends hanging requests");
}
