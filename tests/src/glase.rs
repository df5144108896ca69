//! The tests' Glase over HTTP: glase-sim serving one issuer (its token check, faults and
//! request counts included), answering what each test scripts per invoice id with
//! [`glase_sim::Reply`] (`Sim::answer`, `Sim::answer_next`).

use glase_sim::{IssuerConfig, RunningSim, Sim, SimConfig};

pub const ISSUER: &str = "abc";
pub const SECRET: &str = "SECRET_STRING_FOR_ISSUER";

/// glase-sim for [`ISSUER`] on a free loopback port, with no invoices of its own.
pub async fn start() -> RunningSim {
    Sim::serve(
        SimConfig {
            issuers: vec![IssuerConfig::new(ISSUER, SECRET)],
            initial_invoices: Vec::new(),
            ..SimConfig::default()
        },
        std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
    )
    .await
    .expect("glase-sim starts")
}

/// The whole pipeline (webhook, queue, worker, table) against a fresh glase-sim.
pub async fn pipeline() -> (crate::Pipeline, RunningSim) {
    let glase = start().await;
    let pipeline = crate::Pipeline::start(crate::pipeline::GlaseTarget {
        base_url: &glase.base_url(),
        issuer: ISSUER,
        secret: SECRET,
    })
    .await;
    (pipeline, glase)
}

/// Glase's documented example with its id, amount and reference replaced.
pub fn invoice_json(id: u64, amount: &str, reference: &str) -> String {
    glase_shared::memory::doc_invoice_json(id, amount, reference)
}
