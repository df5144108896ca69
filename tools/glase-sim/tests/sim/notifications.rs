//! Paying notifies the issuer with Glase's retry schedule (compressed by time_scale).

use crate::common::{Webhook, PATIENCE};
use axum::http::StatusCode;
use glase_sim::schedule::SCHEDULE_SECS;
use glase_sim::{IssuerConfig, NewInvoice, NotificationStatus, Sim, SimConfig};

fn sim_notifying(url: &str, time_scale: f64) -> Sim {
    Sim::new(SimConfig {
        issuers: vec![IssuerConfig::new("shop", "shop-secret").with_notify_url(url)],
        time_scale,
        initial_invoices: vec![],
        ..SimConfig::default()
    })
}

fn payment() -> NewInvoice {
    NewInvoice {
        issuer: "shop".into(),
        ..NewInvoice::default()
    }
}

#[tokio::test]
async fn notification_is_retried_until_the_webhook_answers_200() {
    // Arrange
    let webhook = Webhook::start(4, Some(StatusCode::SERVICE_UNAVAILABLE)).await;
    let sim = sim_notifying(&webhook.url, 0.001);

    // Act
    let inv = sim.pay(payment()).await.unwrap();
    let done = sim.wait_notification_done(inv.id.get(), PATIENCE).await;

    // Assert
    assert!(done);
    assert_eq!(
        sim.notification_status(inv.id.get()),
        Some(NotificationStatus::Delivered)
    );
    let attempts = sim.attempts(inv.id.get());
    let statuses: Vec<Option<u16>> = attempts.iter().map(|a| a.status).collect();
    assert_eq!(
        statuses,
        [Some(503), Some(503), Some(503), Some(503), Some(200)]
    );
    assert_eq!(
        attempts.iter().map(|a| a.number).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5]
    );
    assert_eq!(webhook.calls(), 5);
    let bodies = webhook.bodies.lock().unwrap().clone();
    for (content_type, body) in bodies {
        assert_eq!(content_type.as_deref(), Some("application/json"));
        assert_eq!(
            glase_shared::InvoiceId::from_notification(body.as_bytes()).unwrap(),
            inv.id
        );
    }
    // Each attempt starts no earlier than its scaled delay after the previous one.
    for pair in attempts.windows(2) {
        let gap = pair[1].since_paid - pair[0].since_paid;
        let scheduled = std::time::Duration::from_secs(SCHEDULE_SECS[pair[1].number as usize - 1])
            .mul_f64(0.001);
        assert!(
            gap >= scheduled,
            "attempt {} came {gap:?} after the previous, scheduled {scheduled:?}",
            pair[1].number
        );
    }
}

#[tokio::test]
async fn notification_gives_up_after_the_thirteenth_failed_attempt() {
    // Arrange
    let webhook = Webhook::start(usize::MAX, Some(StatusCode::INTERNAL_SERVER_ERROR)).await;
    let sim = sim_notifying(&webhook.url, 0.00001);

    // Act
    let inv = sim.pay(payment()).await.unwrap();
    let done = sim.wait_notification_done(inv.id.get(), PATIENCE).await;

    // Assert
    assert!(done);
    assert_eq!(
        sim.notification_status(inv.id.get()),
        Some(NotificationStatus::GaveUp)
    );
    let attempts = sim.attempts(inv.id.get());
    assert_eq!(attempts.len(), SCHEDULE_SECS.len());
    assert!(attempts.iter().all(|a| a.status == Some(500)));
    assert_eq!(webhook.calls(), 13);
}

#[tokio::test]
async fn refused_connections_count_as_failed_attempts() {
    // Arrange: a port that was free a moment ago.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/notifications", listener.local_addr().unwrap());
    drop(listener);
    let sim = sim_notifying(&url, 0.00001);

    // Act
    let inv = sim.pay(payment()).await.unwrap();
    let done = sim.wait_notification_done(inv.id.get(), PATIENCE).await;

    // Assert
    assert!(done);
    let attempts = sim.attempts(inv.id.get());
    assert_eq!(attempts.len(), 13);
    assert!(attempts
        .iter()
        .all(|a| a.status.is_none() && a.error.is_some()));
    assert_eq!(
        sim.notification_status(inv.id.get()),
        Some(NotificationStatus::GaveUp)
    );
}

#[tokio::test]
async fn a_hanging_webhook_times_out_and_is_retried() {
    // Arrange
    let webhook = Webhook::start(2, None).await;
    let sim = sim_notifying(&webhook.url, 0.0001);

    // Act
    let inv = sim.pay(payment()).await.unwrap();
    let done = sim.wait_notification_done(inv.id.get(), PATIENCE).await;

    // Assert
    assert!(done);
    let attempts = sim.attempts(inv.id.get());
    assert_eq!(attempts.len(), 3);
    assert!(
        attempts[0].error.as_deref().unwrap().contains("timed out"),
        "{:?}",
        attempts[0]
    );
    assert!(attempts[1].status.is_none());
    assert_eq!(attempts[2].status, Some(200));
}

#[tokio::test]
async fn a_per_payment_url_overrides_the_issuers() {
    // Arrange
    let issuer_hook = Webhook::start(0, None).await;
    let payment_hook = Webhook::start(0, None).await;
    let sim = sim_notifying(&issuer_hook.url, 0.001);

    // Act
    let inv = sim
        .pay(NewInvoice {
            notify_url: Some(payment_hook.url.clone()),
            ..payment()
        })
        .await
        .unwrap();
    let done = sim.wait_notification_done(inv.id.get(), PATIENCE).await;

    // Assert
    assert!(done);
    assert_eq!((issuer_hook.calls(), payment_hook.calls()), (0, 1));
    assert_eq!(inv.notify_url.as_deref(), Some(payment_hook.url.as_str()));
}

#[tokio::test]
async fn without_a_url_nothing_is_sent_and_the_notification_is_done() {
    // Arrange
    let sim = Sim::new(SimConfig::default());

    // Act
    let inv = sim.pay(NewInvoice::default()).await.unwrap();

    // Assert
    assert_eq!(
        sim.notification_status(inv.id.get()),
        Some(NotificationStatus::NotScheduled)
    );
    assert!(sim.notification_done(inv.id.get()));
    assert!(sim.attempts(inv.id.get()).is_empty());
}

#[tokio::test]
async fn stopping_the_sim_stops_pending_notifications() {
    // Arrange
    let webhook = Webhook::start(usize::MAX, Some(StatusCode::INTERNAL_SERVER_ERROR)).await;
    let sim = sim_notifying(&webhook.url, 1.0);
    let inv = sim.pay(payment()).await.unwrap();
    assert!(
        sim.wait_until(PATIENCE, |s| !s.attempts(inv.id.get()).is_empty())
            .await
    );

    // Act
    sim.stop();

    // Assert
    assert!(sim.wait_notification_done(inv.id.get(), PATIENCE).await);
    assert_eq!(
        sim.notification_status(inv.id.get()),
        Some(NotificationStatus::Stopped)
    );
}

#[tokio::test]
async fn during_a_webhook_outage_no_attempt_is_sent_and_the_schedule_gives_up() {
    // Arrange: a healthy webhook, but the simulator's webhooks are "down".
    let webhook = Webhook::start(0, None).await;
    let sim = sim_notifying(&webhook.url, 0.00001);
    sim.set_webhook_outage(true);

    // Act
    let inv = sim.pay(payment()).await.unwrap();
    let done = sim.wait_notification_done(inv.id.get(), PATIENCE).await;

    // Assert
    assert!(done);
    assert_eq!(
        sim.notification_status(inv.id.get()),
        Some(NotificationStatus::GaveUp)
    );
    let attempts = sim.attempts(inv.id.get());
    assert_eq!(attempts.len(), SCHEDULE_SECS.len());
    assert!(attempts
        .iter()
        .all(|a| a.status.is_none() && a.error.as_deref() == Some(glase_sim::OUTAGE)));
    assert_eq!(webhook.calls(), 0, "nothing reached the webhook");
}

#[tokio::test]
async fn after_an_outage_ends_the_next_attempt_is_delivered() {
    // Arrange: attempts 1-3 come within ~0.2 s at this scale, attempt 4 about 0.6 s in.
    let webhook = Webhook::start(0, None).await;
    let sim = sim_notifying(&webhook.url, 0.01);
    sim.set_webhook_outage(true);
    let inv = sim.pay(payment()).await.unwrap();
    assert!(
        sim.wait_until(PATIENCE, |s| !s.attempts(inv.id.get()).is_empty())
            .await
    );

    // Act
    sim.set_webhook_outage(false);
    let done = sim.wait_notification_done(inv.id.get(), PATIENCE).await;

    // Assert
    assert!(done);
    assert_eq!(
        sim.notification_status(inv.id.get()),
        Some(NotificationStatus::Delivered)
    );
    let attempts = sim.attempts(inv.id.get());
    assert_eq!(
        attempts.first().unwrap().error.as_deref(),
        Some(glase_sim::OUTAGE)
    );
    assert_eq!(attempts.last().unwrap().status, Some(200));
    assert_eq!(webhook.calls(), 1);
}
