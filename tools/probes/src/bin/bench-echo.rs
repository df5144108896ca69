//! The floor for `make bench`: the smallest useful `lambda_runtime` function (it returns its
//! event), built with the workspace's release profile, so the functions' figures can be read
//! as a ratio to what the runtime alone costs.

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    run(service_fn(|event: LambdaEvent<Value>| async move {
        Ok::<_, Error>(event.payload)
    }))
    .await
}
