//! `make bench`'s RNG probe: the bare echo function plus one draw from aws-lc's RNG per call,
//! which is what the first TLS handshake of a cold start does. Built twice by `make bench`,
//! with aws-lc's CPU jitter entropy source (aws-lc-sys's default) and without it
//! (`AWS_LC_SYS_NO_JITTER_ENTROPY=1`, what .cargo/config.toml sets for every build), so the
//! cost of seeding shows as the difference between the two first invocations.
//! The bench's own endpoints are plain HTTP, so the functions themselves never draw here.

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    run(service_fn(|event: LambdaEvent<Value>| async move {
        let mut nonce = [0u8; 32];
        aws_lc_rs::rand::fill(&mut nonce).map_err(|_| "aws-lc RNG failed")?;
        Ok::<_, Error>(event.payload)
    }))
    .await
}
