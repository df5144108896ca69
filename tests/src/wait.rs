//! Bounded waits that fail with a clear message: no timing assertions, only "this must
//! happen, and if it has not after a long while, say what is missing".

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

/// Polls `check` every 200 ms until it returns `Ok`, for at most `timeout`; then panics with
/// `what` and the last state `check` described.
pub async fn until<F, Fut>(what: &str, timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        let state = match check().await {
            Ok(()) => return,
            Err(state) => state,
        };
        assert!(
            Instant::now() < deadline,
            "{what}: still not so after {timeout:?}: {state}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
